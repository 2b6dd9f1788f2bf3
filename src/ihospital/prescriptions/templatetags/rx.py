"""Template filters of the prescription pages."""

from __future__ import annotations

from decimal import Decimal

from django import template

from ..display import package_label, unit_label

register = template.Library()


@register.filter
def amount(value) -> str:
    """A dose without trailing zeros or exponent: 10.000 → 10, 0.500 → 0.5."""
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    return "" if value is None else str(value)


@register.filter
def yuan(fen) -> str:
    """Integer fen as yuan with two decimals: 1230 → 12.30."""
    try:
        return f"{int(fen) / 100:.2f}"
    except (TypeError, ValueError):
        return ""


@register.filter
def unit(value) -> str:
    """A formulary unit (box, tablet, puff...) in the reader's language."""
    return unit_label(value or "")


@register.filter
def package(drug) -> str:
    return package_label(drug)
