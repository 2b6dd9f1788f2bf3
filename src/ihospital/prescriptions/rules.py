"""The prescribing rules: hard refusals, each with its own code. (The softer findings a doctor may override with
a reason are in ``checks``.)

Sources: 处方管理办法 (2007) arts. 6 and 18 (five drugs per prescription, 3 days' validity), 互联网诊疗监管细则
（试行） (2022) art. 20 (no narcotic, psychotropic or other specially managed drugs online; children under 6 only
with a guardian present), 长期处方管理规范（试行） (2021) (up to 12 weeks for a stable chronic disease). The limits
are settings (``RX_*``).
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ihospital.core.errors import Conflict, DomainError, Forbidden
from ihospital.records.models import ClinicalStatus, Condition

from .models import (
    TIMES_PER_DAY,
    Adherence,
    Drug,
    Frequency,
    Prescription,
    Route,
    RxKind,
    RxStatus,
)

GUARDIAN_AGE = 6


def max_days(kind: str) -> int:
    return {
        RxKind.ACUTE: settings.RX_MAX_DAYS_ACUTE,
        RxKind.CHRONIC: settings.RX_MAX_DAYS_CHRONIC,
        RxKind.LONG_TERM: settings.RX_MAX_DAYS_LONG_TERM,
    }[kind]


def check_kind(kind: str, condition: Condition) -> str:
    if kind not in RxKind.values:
        raise DomainError("invalid_kind", _("Please choose acute, chronic or long-term."), fields={"kind": kind})
    if kind != RxKind.ACUTE and not condition.chronic:
        raise DomainError(
            "not_a_chronic_condition",
            _("Chronic and long-term prescriptions are only for a chronic condition on the chart."),
            fields={"kind": kind},
        )
    return kind


def check_condition(condition: Condition) -> None:
    if condition.entered_in_error or condition.clinical_status != ClinicalStatus.ACTIVE:
        raise Conflict(
            "condition_not_active",
            _("The diagnosis of this prescription is no longer active on the chart: an online visit is needed."),
        )


def check_refills_allowed(kind: str, refills: int) -> int:
    if refills < 0 or refills > settings.RX_MAX_REFILLS:
        raise DomainError(
            "invalid_refills",
            _("Refills must be between 0 and %(max)s.") % {"max": settings.RX_MAX_REFILLS},
            fields={"refills_allowed": refills},
        )
    if refills and kind == RxKind.ACUTE:
        raise DomainError(
            "refills_need_chronic",
            _("Only a chronic or long-term prescription may be refilled."),
            fields={"refills_allowed": refills},
        )
    return refills


def check_drug(drug: Drug) -> None:
    if not drug.active:
        raise DomainError("drug_not_in_formulary", _("This drug is no longer in the formulary."), status=422)
    if not drug.online_prescribable:
        raise Forbidden(
            "controlled_drug_online",
            _(
                "%(drug)s is a %(class)s: narcotic, psychotropic, toxic, radioactive and other specially managed "
                "drugs are never prescribed online. The patient needs an in-person visit."
            ) % {"drug": drug.name, "class": drug.get_control_class_display()},
        )


def _decimal(value, field: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        number = None
    if number is None or not number.is_finite() or number <= 0 or number > 100000:
        raise DomainError("invalid_dose", _("Please give a positive dose."), fields={field: str(value)})
    return number.quantize(Decimal("0.001"))


def packages_needed(drug: Drug, dose: Decimal, frequency: str, days: int) -> int:
    """Packages that cover ``days`` of treatment: doses are rounded up to whole dispensing units each day."""
    per_dose_units = dose / drug.unit_amount
    total_units = per_dose_units * TIMES_PER_DAY[frequency] * days
    return max(1, math.ceil(total_units / drug.package_size))


def check_item(
    *, drug: Drug, kind: str, dose, frequency: str, route: str, duration_days: int, quantity: int | None
) -> dict:
    """Validate one item; returns its clean values (with the quantity computed when none was given)."""
    check_drug(drug)
    dose = _decimal(dose, "dose")
    if frequency not in Frequency.values:
        raise DomainError("invalid_frequency", _("Please choose how often."), fields={"frequency": frequency})
    route = route or drug.default_route
    if route not in Route.values:
        raise DomainError("invalid_route", _("Please choose a route."), fields={"route": route})
    try:
        days = int(duration_days)
    except (TypeError, ValueError):
        days = 0
    if days < 1:
        raise DomainError("invalid_duration", _("Please give the number of days."), fields={"duration_days": days})
    limit = max_days(kind)
    if days > limit:
        raise DomainError(
            "days_supply_exceeded",
            _("A %(kind)s prescription covers at most %(max)s days.") % {"kind": RxKind(kind).label, "max": limit},
            fields={"duration_days": days, "max": limit},
        )
    needed = packages_needed(drug, dose, frequency, days)
    if quantity in (None, ""):
        quantity = needed
    try:
        quantity = int(quantity)
    except (TypeError, ValueError):
        quantity = 0
    if quantity < 1:
        raise DomainError("invalid_quantity", _("Please give the number of packages."), fields={"quantity": quantity})
    if quantity > needed:
        raise DomainError(
            "quantity_exceeds_supply",
            _("%(qty)s packages is more than %(days)s days need (%(needed)s).")
            % {"qty": quantity, "days": days, "needed": needed},
            fields={"quantity": quantity, "needed": needed},
        )
    return {"dose": dose, "frequency": frequency, "route": route, "duration_days": days, "quantity": quantity}


def check_ready_to_sign(prescription: Prescription) -> None:
    items = list(prescription.items.select_related("drug"))
    if not items:
        raise DomainError("no_items", _("Add at least one medicine before signing."))
    if len(items) > settings.RX_MAX_ITEMS:
        raise DomainError(
            "too_many_items",
            _("A prescription holds at most %(max)s medicines.") % {"max": settings.RX_MAX_ITEMS},
        )
    check_condition(prescription.condition)
    check_kind(prescription.kind, prescription.condition)
    check_refills_allowed(prescription.kind, prescription.refills_allowed)
    for item in items:
        # The formulary or the settings may have changed since the item was added.
        check_drug(item.drug)
        if item.duration_days > max_days(prescription.kind):
            raise DomainError(
                "days_supply_exceeded",
                _("A %(kind)s prescription covers at most %(max)s days.")
                % {"kind": prescription.get_kind_display(), "max": max_days(prescription.kind)},
                fields={"item": item.pk},
            )
    if prescription.patient.age() < GUARDIAN_AGE and not (
        prescription.guardian_name.strip() and prescription.guardian_relationship.strip()
    ):
        raise DomainError(
            "guardian_required",
            _("The patient is under 6: record the guardian who is present (name and relationship)."),
            fields={"guardian_name": "", "guardian_relationship": ""},
        )


# ---- refills -------------------------------------------------------------------------------------------------


def chain(root: Prescription):
    """The original prescription and its refills, newest first."""
    from django.db.models import Q

    return Prescription.objects.filter(Q(pk=root.pk) | Q(renewal_of=root.pk)).order_by("-created_at", "-pk")


def latest_in_chain(root: Prescription) -> Prescription:
    """The newest prescription of the chain that was not abandoned (rejected, cancelled, expired uncollected, or
    still a draft)."""
    return (
        chain(root).exclude(status__in=[RxStatus.DRAFT, RxStatus.CANCELLED, RxStatus.REJECTED, RxStatus.EXPIRED])
        .first() or root
    )


# A renewal in one of these uses up a refill. One rejected by the pharmacist, cancelled, or expired before it
# was dispensed gives nothing to the patient, so it does not count (its revision, once signed, does).
USED_STATUSES = (RxStatus.SIGNED, RxStatus.UNDER_REVIEW, RxStatus.APPROVED, RxStatus.DISPENSED)


def refills_used(root: Prescription) -> int:
    return Prescription.objects.filter(renewal_of=root.pk, status__in=USED_STATUSES).count()


def next_refill_date(root: Prescription) -> date:
    latest = latest_in_chain(root)
    started = timezone.localtime(latest.signed_at or latest.created_at).date()
    return started + timedelta(days=latest.days_supply() - settings.RX_REFILL_EARLY_DAYS)


def refill_refusal(root: Prescription, *, today: date | None = None) -> DomainError | None:
    """Why this prescription cannot be refilled now, or None."""
    today = today or timezone.localdate()
    if root.renewal_of_id:
        root = root.renewal_of
    if not root.is_chronic or root.refills_allowed == 0:
        return Conflict("not_refillable", _("This prescription has no refills. Ask for an online visit."))
    latest = latest_in_chain(root)
    # The original expired before it was dispensed: the patient has no supply, so no waiting for it to run out.
    never_supplied = latest.pk == root.pk and root.status == RxStatus.EXPIRED
    if latest.status not in (RxStatus.APPROVED, RxStatus.DISPENSED) and not never_supplied:
        return Conflict("refill_pending", _("The last prescription of this medicine is not settled yet."))
    if refills_used(root) >= root.refills_allowed:
        return Conflict(
            "refills_exhausted",
            _("All %(n)s refills were used. Ask for an online visit to renew the prescription.")
            % {"n": root.refills_allowed},
        )
    window_end = timezone.localtime(root.signed_at).date() + timedelta(days=settings.RX_REFILL_WINDOW_DAYS)
    if today > window_end:
        return Conflict("refill_window_closed", _("This prescription is too old to refill. Ask for an online visit."))
    if root.condition.entered_in_error or root.condition.clinical_status != ClinicalStatus.ACTIVE:
        return Conflict("condition_not_active", _("The diagnosis is no longer active on the chart: an online visit "
                                                  "is needed."))
    earliest = next_refill_date(root)
    if today < earliest and not never_supplied:
        return Conflict(
            "refill_too_early",
            _("Too early: you can ask for this refill from %(date)s.") % {"date": earliest.isoformat()},
        )
    return None


HYPERTENSION_CODES = ("I10", "I11", "I12", "I13", "I15")
DIABETES_CODES = ("E10", "E11", "E12", "E13", "E14")


YES = frozenset({"true", "yes", "y", "on", "1", "是"})
NO = frozenset({"false", "no", "n", "off", "0", "否"})


def _yes_or_no(value) -> bool | None:
    """True or False for an answer however it is written (a box, "Yes", "是", 1); None if it is neither."""
    if isinstance(value, (list, dict)):
        return None
    word = str(value).strip().lower()
    return True if word in YES else False if word in NO else None


def clean_answers(answers: dict, diagnosis_code: str) -> tuple[dict, list[str]]:
    """The refill questionnaire: validated answers and the red flags the doctor sees first."""
    if not isinstance(answers, dict):
        raise DomainError("invalid_answers", _("Please answer the questions."))
    errors: dict[str, str] = {}
    clean: dict = {}
    flags: list[str] = []
    for key in ("new_symptoms", "side_effects"):
        # Neither yes nor no is refused: read as "no", a "maybe" would hide a red flag from the doctor.
        answer = _yes_or_no(answers.get(key))
        if answer is None:
            errors[key] = str(_("Please answer yes or no."))
            continue
        clean[key] = answer
        detail = str(answers.get(f"{key}_detail") or "").strip()[:1000]
        if clean[key] and not detail:
            errors[f"{key}_detail"] = str(_("Please describe it."))
        clean[f"{key}_detail"] = detail
        if clean[key]:
            flags.append(key)
    adherence = answers.get("adherence") or ""
    if adherence not in Adherence.values:
        errors["adherence"] = str(_("Please choose one."))
    clean["adherence"] = adherence
    if adherence == Adherence.STOPPED:
        flags.append("stopped_medicine")
    if diagnosis_code.startswith(HYPERTENSION_CODES):
        try:
            systolic = int(answers.get("systolic"))
            diastolic = int(answers.get("diastolic"))
        except (TypeError, ValueError):
            systolic = diastolic = 0
        if not (60 <= systolic <= 260 and 30 <= diastolic <= 160 and diastolic < systolic):
            errors["systolic"] = str(_("Please give a recent blood pressure reading (e.g. 135/85)."))
        else:
            clean["systolic"], clean["diastolic"] = systolic, diastolic
            if systolic >= 180 or diastolic >= 110:
                flags.append("blood_pressure_very_high")
            elif systolic < 90:
                flags.append("blood_pressure_low")
    if diagnosis_code.startswith(DIABETES_CODES) and answers.get("fasting_glucose") not in (None, ""):
        try:
            glucose = Decimal(str(answers.get("fasting_glucose")))
        except InvalidOperation:
            glucose = Decimal(0)
        if not (Decimal("1") <= glucose <= Decimal("35")):
            errors["fasting_glucose"] = str(_("Please give a fasting glucose in mmol/L (e.g. 6.8)."))
        else:
            clean["fasting_glucose"] = str(glucose)
            if glucose < Decimal("3.9"):
                flags.append("hypoglycaemia")
            elif glucose >= Decimal("13.9"):
                flags.append("glucose_very_high")
    clean["comment"] = str(answers.get("comment") or "").strip()[:1000]
    if errors:
        raise DomainError("invalid_answers", _("Please complete the questionnaire."), fields=errors)
    return clean, flags
