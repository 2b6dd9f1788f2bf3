"""Template filters of the order pages."""

from __future__ import annotations

import phonenumbers
from django import template

register = template.Library()


@register.filter
def mobile(value) -> str:
    """A stored mobile number (+8613912345678) as people write it (139 1234 5678); anything else as it is."""
    try:
        number = phonenumbers.parse(str(value or ""), "CN")
    except phonenumbers.NumberParseException:
        return str(value or "")
    if number.country_code != 86:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
