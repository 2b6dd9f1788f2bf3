"""Flagging a lab value against the patient's reference range.

Which range applies: the analyte's ranges whose age band holds the patient's age (``age_min <= age < age_max``) and
whose sex is the patient's or blank (both sexes); a sex-specific range beats a both-sexes one, and among equals the
narrowest age band wins.

Numeric values: ``LL``/``HH`` strictly beyond a critical limit, ``L``/``H`` strictly outside the normal range, ``N``
otherwise (the bounds themselves are normal). A numeric value with no matching range is ``N`` with an empty
reference text: there is nothing to compare it with, and the page shows no range.

Text results (urinalysis "阴性", "+", "2+"): the model has no field for a normal text, so the convention is that a
text result is normal when it is one of ``NORMAL_TEXTS`` (negative / normal, in Chinese or English, any case), and
``A`` (abnormal) otherwise; its reference text is "阴性". This applies whenever the value is a text (``value`` is
``None``), which is how text analytes (no numeric range, empty unit) are reported.
"""

from __future__ import annotations

from decimal import Decimal

from .models import Analyte, Flag, ReferenceRange

NORMAL_TEXTS = frozenset({"阴性", "-", "negative", "neg", "normal", "正常", "阴性(-)", "阴性（-）"})
TEXT_REFERENCE = "阴性"


def fmt(number: Decimal) -> str:
    """``Decimal("3.900")`` → ``"3.9"``; ``Decimal("100.000")`` → ``"100"``."""
    text = format(number.normalize(), "f")
    return text


def matching_range(analyte: Analyte, *, sex: str, age: int) -> ReferenceRange | None:
    candidates = [r for r in analyte.ranges.all() if r.sex in ("", sex) and r.age_min <= age < r.age_max]
    if not candidates:
        return None
    candidates.sort(key=lambda r: (r.sex == "", r.age_max - r.age_min, r.pk or 0))
    return candidates[0]


def reference_text(rng: ReferenceRange, unit: str) -> str:
    if rng.low is not None and rng.high is not None:
        text = f"{fmt(rng.low)}–{fmt(rng.high)}"
    elif rng.high is not None:
        text = f"≤{fmt(rng.high)}"
    elif rng.low is not None:
        text = f"≥{fmt(rng.low)}"
    else:
        return ""
    return f"{text} {unit}".strip()


def is_normal_text(text: str) -> bool:
    return text.strip().lower() in NORMAL_TEXTS


def flag(analyte: Analyte, value: Decimal | None, text: str, *, sex: str, age: int) -> tuple[str, str]:
    """The flag code and the reference text shown next to the value."""
    if value is None:
        return (Flag.NORMAL if is_normal_text(text) else Flag.ABNORMAL), TEXT_REFERENCE
    rng = matching_range(analyte, sex=sex, age=age)
    if rng is None:
        return Flag.NORMAL, ""
    reference = reference_text(rng, analyte.unit)
    if rng.critical_low is not None and value < rng.critical_low:
        return Flag.CRITICAL_LOW, reference
    if rng.critical_high is not None and value > rng.critical_high:
        return Flag.CRITICAL_HIGH, reference
    if rng.low is not None and value < rng.low:
        return Flag.LOW, reference
    if rng.high is not None and value > rng.high:
        return Flag.HIGH, reference
    return Flag.NORMAL, reference


CRITICAL_FLAGS = frozenset({Flag.CRITICAL_LOW, Flag.CRITICAL_HIGH})
