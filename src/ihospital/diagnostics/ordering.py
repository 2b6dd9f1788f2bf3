"""Ordering a medical test: only a doctor, for a patient they are seeing, for a clinical reason.

The context is either an online visit in progress (the doctor's, with this patient) or an in-person encounter on
the patient's chart recorded by or for the doctor within the last ``CONTEXT_DAYS`` days.

Contrast exams (``preparation.contrast``) need the safety answers first::

    {"contrast_allergy": bool, "egfr": number | None, "creatinine_umol_l": number | None,
     "metformin": bool, "pregnant": bool}

A known contrast allergy, pregnancy, or an eGFR below 30 mL/min/1.73 m² refuses the order; so does giving no renal
value at all. When only the creatinine is given, the eGFR is estimated from it with CKD-EPI 2021 (the patient's age
and sex) and stored as ``egfr_estimated``. Metformin does not refuse the order: the order records a hold
instruction (``metformin_hold``: stop on the day of the exam and for 48 hours after, restart once renal function
is confirmed), which the booking reminder repeats.
"""

from __future__ import annotations

import math
import uuid
from datetime import timedelta
from numbers import Real

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import PatientProfile, Role
from ihospital.accounts.selectors import patient_and_relatives
from ihospital.core import audit
from ihospital.core.errors import Conflict, DomainError, Forbidden, NotFound
from ihospital.core.models import AuditAction
from ihospital.directory.models import Practitioner, Profession
from ihospital.notifications.services import notify
from ihospital.records.models import CareSource, Encounter, EncounterMode
from ihospital.records.services import grant_care
from ihospital.visits.models import Visit, VisitStatus

from .models import DiagnosticOrder, DiagnosticTest, OrderStatus

CONTEXT_DAYS = 30
EGFR_MIN = 30
METFORMIN_HOLD_HOURS = 48
# Ordered and not yet resulted: a second order of the same test is a duplicate.
OPEN_STATUSES = (OrderStatus.ORDERED, OrderStatus.BOOKED, OrderStatus.CHECKED_IN, OrderStatus.COLLECTED)
SAFETY_BOOLS = ("contrast_allergy", "metformin", "pregnant")
SAFETY_NUMBERS = ("egfr", "creatinine_umol_l")


def doctor_of(user) -> Practitioner | None:
    """The user's verified doctor record, or None."""
    if not getattr(user, "is_authenticated", False) or user.role != Role.DOCTOR:
        return None
    return Practitioner.objects.filter(user=user, profession=Profession.DOCTOR, verified_at__isnull=False).first()


def order_link(order: DiagnosticOrder) -> str:
    return f"/diagnostics/orders/{order.pk}/"


def ckd_epi_2021(creatinine_umol_l: float, *, age: int, female: bool) -> float:
    """eGFR (mL/min/1.73 m²) from serum creatinine, CKD-EPI 2021 (race-free)."""
    scr = creatinine_umol_l / 88.4
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)
    egfr = 142 * min(scr / kappa, 1) ** alpha * max(scr / kappa, 1) ** -1.200 * 0.9938 ** age
    return egfr * 1.012 if female else egfr


def _age(patient: PatientProfile) -> int:
    today = timezone.localdate()
    born = patient.birth_date
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def check_safety(test: DiagnosticTest, patient: PatientProfile, safety: dict | None) -> dict:
    """The answers to store on the order, or a DomainError refusing it."""
    if not test.needs_contrast:
        return {}
    if not isinstance(safety, dict):
        raise DomainError("safety_required", _("Answer the contrast safety questions before ordering this exam."))
    fields = {}
    for key in SAFETY_BOOLS:
        if not isinstance(safety.get(key), bool):
            fields[key] = _("Answer yes or no.")
    for key in SAFETY_NUMBERS:
        value = safety.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value)
                                  or value <= 0):
            fields[key] = _("Enter a positive number, or leave it empty.")
    if fields:
        raise DomainError("safety_required", _("Answer the contrast safety questions before ordering this exam."),
                          fields=fields)
    answers = {key: safety[key] for key in SAFETY_BOOLS}
    answers.update({key: safety.get(key) for key in SAFETY_NUMBERS})
    if answers["contrast_allergy"]:
        raise DomainError("contrast_allergy", _("The patient has a known contrast allergy: choose another exam."))
    if answers["pregnant"]:
        raise DomainError("pregnant", _("Contrast exams are not ordered during pregnancy: choose another exam."))
    egfr = answers["egfr"]
    if egfr is None and answers["creatinine_umol_l"] is None:
        raise DomainError("renal_function_required",
                          _("Give a recent eGFR or serum creatinine before ordering a contrast exam."))
    if egfr is None:
        egfr = round(ckd_epi_2021(float(answers["creatinine_umol_l"]), age=_age(patient), female=patient.sex == "F"))
        answers["egfr_estimated"] = egfr
    if egfr < EGFR_MIN:
        raise DomainError("renal_function_too_low",
                          _("Renal function is too low for contrast (eGFR below %(min)s).") % {"min": EGFR_MIN})
    if answers["metformin"]:
        answers["metformin_hold"] = {
            "hours_after": METFORMIN_HOLD_HOURS,
            "instruction": str(_("Stop metformin on the day of the exam and for 48 hours after it; restart once "
                                 "renal function is confirmed.")),
        }
    return answers


def _context(*, doctor: Practitioner, patient_id: int, visit_id, encounter_id) -> tuple[Visit | None, Encounter | None]:
    if visit_id is not None:
        visit = Visit.objects.filter(pk=visit_id, doctor=doctor, patient_id=patient_id,
                                     status=VisitStatus.IN_PROGRESS).first()
        if visit is not None:
            return visit, None
    if encounter_id is not None:
        since = timezone.now() - timedelta(days=CONTEXT_DAYS)
        encounter = (Encounter.objects.filter(pk=encounter_id, patient_id=patient_id, mode=EncounterMode.IN_PERSON,
                                              entered_in_error=False, started_at__gte=since)
                     .filter(Q(practitioner=doctor) | Q(recorded_by=doctor.user)).first())
        if encounter is not None:
            return None, encounter
    raise Forbidden("no_context", _("Order tests during an online visit in progress with this patient, or for an "
                                    "in-person encounter of the last 30 days."))


def order(*, actor, patient_id: int, test_code: str, reason: str, visit_id: int | None = None,
          encounter_id: int | None = None, safety: dict | None = None) -> DiagnosticOrder:
    doctor = doctor_of(actor)
    if doctor is None:
        raise Forbidden("not_a_doctor", _("Only a doctor can order tests."))
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("reason_required", _("Give the clinical reason for the test."),
                          fields={"reason": _("This field is required.")})
    test = DiagnosticTest.objects.filter(code=test_code, active=True).first()
    if test is None:
        raise NotFound("test_not_found", _("There is no such test."))
    with transaction.atomic():
        # The patient's row serialises two orders of the same test (the duplicate check below).
        patient = PatientProfile.objects.select_for_update().filter(pk=patient_id).first()
        if patient is None:
            raise Forbidden("no_context", _("Order tests during an online visit in progress with this patient, or "
                                            "for an in-person encounter of the last 30 days."))
        visit, encounter = _context(doctor=doctor, patient_id=patient.pk, visit_id=visit_id,
                                    encounter_id=encounter_id)
        answers = check_safety(test, patient, safety)
        if DiagnosticOrder.objects.filter(patient=patient, test=test, status__in=OPEN_STATUSES).exists():
            raise Conflict("already_ordered", _("This test is already ordered for the patient and not yet resulted."))
        placed = DiagnosticOrder.objects.create(
            number=f"tmp{uuid.uuid4().hex[:20]}", patient=patient, test=test, doctor=doctor, visit=visit,
            encounter=encounter, reason=reason, safety=answers, price_fen=test.price_fen,
        )
        placed.number = f"DX{timezone.localdate():%Y%m%d}{placed.pk:06d}"
        placed.save(update_fields=["number"])
        audit.record(actor=actor, action=AuditAction.CREATE, obj=placed, patient_id=patient.pk,
                     detail={"test": test.code, "number": placed.number,
                             "context": "visit" if visit else "encounter"})
        grant_care(clinician=actor, patient=patient, source=CareSource.ORDER, source_id=str(placed.pk),
                   granted_by=actor)
        notify(users=patient_and_relatives(patient), kind="diagnostics.ordered",
               title=_("Test ordered: %(test)s") % {"test": test.name},
               body=_("Book a time for it on the order's page."), link=order_link(placed),
               dedupe_key=f"diagnostics.ordered:{placed.pk}")
    return placed
