"""Validation of real-name identity data: mainland resident ID numbers and mobile numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import phonenumbers
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from stdnum import exceptions as stdnum_errors
from stdnum import numdb
from stdnum.cn import ric

from ihospital.core.errors import DomainError


@dataclass(frozen=True)
class ResidentId:
    number: str
    birth_date: date
    sex: str  # "M" or "F"


def parse_resident_id(value: str) -> ResidentId:
    """Validate an 18-digit resident identity card number: format, checksum, birth date and region.

    The 17th digit is odd for men and even for women (GB 11643-1999).

    ``ric.validate`` also insists that the region code existed in the year of birth. Cards were first issued
    in 1985 with the codes of that day, and re-issued with new codes as districts were redrawn, so a woman
    born in 1958 in Taiyuan may well carry 140105 (Xiaodian, created 1997). Refusing her would lock out the
    elderly patients this platform is for, so we accept any region code that has ever existed.
    """
    raw = (value or "").strip().upper()
    try:
        if len(raw) != 18:
            raise stdnum_errors.InvalidLength()
        if not raw[:-1].isdigit():
            raise stdnum_errors.InvalidFormat()
        if raw[-1] != ric.calc_check_digit(raw):
            raise stdnum_errors.InvalidChecksum()
        number = raw
        birth = ric.get_birth_date(number)
        if not _region_ever_existed(number[:6]):
            raise stdnum_errors.InvalidComponent()
    except stdnum_errors.InvalidChecksum:
        raise DomainError(
            "invalid_resident_id_checksum",
            _("The resident ID number is not valid: its check digit does not match. Please check it."),
            fields={"resident_id": _("check digit does not match")},
        ) from None
    except stdnum_errors.InvalidComponent:
        raise DomainError(
            "invalid_resident_id_birth_date",
            _("The resident ID number is not valid: it does not contain a real date of birth or region."),
            fields={"resident_id": _("date of birth or region not valid")},
        ) from None
    except stdnum_errors.ValidationError:
        raise DomainError(
            "invalid_resident_id",
            _("The resident ID number must have 18 characters: 17 digits and a digit or X."),
            fields={"resident_id": _("wrong length or characters")},
        ) from None
    if birth > timezone.localdate():
        raise DomainError(
            "invalid_resident_id_birth_date",
            _("The resident ID number is not valid: its date of birth is in the future."),
            fields={"resident_id": _("date of birth in the future")},
        )
    sex = "M" if int(number[16]) % 2 == 1 else "F"
    return ResidentId(number=number, birth_date=birth, sex=sex)


def _region_ever_existed(code: str) -> bool:
    info = {k: v for _part, props in numdb.get("cn/loc").info(code) for k, v in props.items()}
    return bool(info.get("county"))


def normalise_mobile(value: str) -> str:
    """Return a mobile number in E.164 form (+86...), or raise. Landlines cannot receive SMS, so are refused."""
    try:
        parsed = phonenumbers.parse((value or "").strip(), "CN")
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise DomainError(
            "invalid_phone",
            _("Please enter a valid mobile phone number."),
            fields={"phone": _("not a valid phone number")},
        )
    if phonenumbers.number_type(parsed) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise DomainError(
            "invalid_phone",
            _("Please enter a mobile phone number: we send reminders by SMS."),
            fields={"phone": _("not a mobile number")},
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def try_normalise_mobile(value: str) -> str | None:
    try:
        return normalise_mobile(value)
    except DomainError:
        return None
