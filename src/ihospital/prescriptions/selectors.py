"""Reads of prescriptions and refill requests, always scoped to the asking user; reads of health data audited.

Who sees what:
- a patient, and a proxy acting for them: their signed prescriptions (never the doctor's drafts) and refills;
- the doctor who wrote a prescription; the doctors of the department a refill request went to;
- pharmacists: every signed prescription (reviewing them is their job).
Anyone else asking by id gets 404, and the attempt is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from ihospital.accounts.models import PatientProfile, Role, User
from ihospital.accounts.selectors import patients_acted_for
from ihospital.core import audit
from ihospital.core.errors import NotFound
from ihospital.core.models import AuditAction, AuditOutcome
from ihospital.directory.models import Practitioner
from ihospital.records.models import MedicationStatement, MedicationStatus

from . import rules
from .models import (
    CURRENT_STATUSES,
    OPEN_REFILL_STATUSES,
    REVIEW_STATUSES,
    SIGNED_STATUSES,
    Drug,
    Prescription,
    PrescriptionItem,
    RefillRequest,
    RxKind,
)

RX_RELATED = ("patient__user", "doctor__user", "department", "condition", "reviewer")


def _denied(user: User, object_type: str, object_id, patient_id) -> NotFound:
    audit.record(actor=user, action=AuditAction.READ, object_type=object_type, object_id=object_id,
                 patient_id=patient_id, outcome=AuditOutcome.DENIED)
    return NotFound()


def practitioner_of(user: User) -> Practitioner | None:
    if not user.is_authenticated:
        return None
    return Practitioner.objects.filter(user=user).prefetch_related("departments").first()


def role_for_prescription(user: User, rx: Prescription) -> str | None:
    if not user.is_authenticated:
        return None
    if user.role == Role.DOCTOR and rx.doctor.user_id == user.pk:
        return "doctor"
    if not rx.is_signed:
        return None  # a draft is the doctor's alone, also once cancelled
    if user.role == Role.PHARMACIST:
        return "pharmacist"
    if user.role == Role.PATIENT and patients_acted_for(user).filter(pk=rx.patient_id).exists():
        return "patient"
    return None


def prescription_for(user: User, prescription_id: int, *, audit_read: bool = True) -> tuple[Prescription, str]:
    rx = Prescription.objects.select_related(*RX_RELATED).filter(pk=prescription_id).first()
    role = role_for_prescription(user, rx) if rx is not None else None
    if role is None:
        raise _denied(user, "prescriptions.prescription", prescription_id, rx.patient_id if rx else None)
    if audit_read:
        audit.read(user, rx, patient_id=rx.patient_id, detail={"role": role})
    return rx, role


def prescriptions_of_patient(user: User, patient_id: int) -> QuerySet[Prescription]:
    if not patients_acted_for(user).filter(pk=patient_id).exists():
        raise _denied(user, "accounts.patientprofile", patient_id, patient_id)
    audit.record(actor=user, action=AuditAction.READ, object_type="prescriptions.prescription",
                 patient_id=patient_id, detail={"list": "patient"})
    return (
        Prescription.objects.filter(patient_id=patient_id, status__in=SIGNED_STATUSES)
        .exclude(signed_at__isnull=True)
        .select_related(*RX_RELATED)
        .prefetch_related("items__drug")
    )


def review_worklist(user: User) -> QuerySet[Prescription]:
    """Signed prescriptions waiting for a pharmacist, oldest first (pharmacists only)."""
    if not user.is_authenticated or user.role != Role.PHARMACIST:
        raise NotFound()
    return (
        Prescription.objects.filter(status__in=REVIEW_STATUSES)
        .select_related(*RX_RELATED)
        .prefetch_related("items__drug")
        .order_by("signed_at", "pk")
    )


def recent_reviews(user: User, *, days: int = 2) -> QuerySet[Prescription]:
    if not user.is_authenticated or user.role != Role.PHARMACIST:
        raise NotFound()
    return (
        Prescription.objects.filter(review__pharmacist=user, reviewed_at__gte=timezone.now() - timedelta(days=days))
        .select_related(*RX_RELATED, "review")
        .order_by("-reviewed_at")
    )


def doctor_prescriptions(user: User) -> QuerySet[Prescription]:
    """The doctor's own prescriptions (drafts included), newest first."""
    if not user.is_authenticated or user.role != Role.DOCTOR:
        raise NotFound()
    return (
        Prescription.objects.filter(doctor__user=user)
        .select_related(*RX_RELATED)
        .prefetch_related("items__drug")
        .order_by("-created_at")
    )


def visit_prescriptions(visit) -> QuerySet[Prescription]:
    """Prescriptions of a visit the caller already opened through ``participant_visit``."""
    return Prescription.objects.filter(visit=visit).select_related(*RX_RELATED).prefetch_related("items__drug")


# ---- refills --------------------------------------------------------------------------------------------------


def _doctor_refill_filter(user: User) -> Q | None:
    practitioner = practitioner_of(user)
    if practitioner is None or user.role != Role.DOCTOR:
        return None
    departments = [d.pk for d in practitioner.departments.all()]
    return Q(doctor=practitioner) | Q(department__in=departments)


def refill_worklist(user: User) -> QuerySet[RefillRequest]:
    """Open refill requests for this doctor: their own patients' first, then the department's."""
    scope = _doctor_refill_filter(user)
    if scope is None:
        raise NotFound()
    return (
        RefillRequest.objects.filter(scope, status__in=OPEN_REFILL_STATUSES)
        .select_related("patient__user", "prescription__condition", "doctor__user", "department", "requested_by")
        .order_by("created_at")
    )


def refill_for(user: User, refill_id: int, *, audit_read: bool = True) -> tuple[RefillRequest, str]:
    refill = (
        RefillRequest.objects.select_related(
            "patient__user", "prescription__condition", "source", "doctor__user", "department", "requested_by",
            "result",
        )
        .filter(pk=refill_id)
        .first()
    )
    role = None
    if refill is not None and user.is_authenticated:
        scope = _doctor_refill_filter(user)
        if scope is not None and RefillRequest.objects.filter(scope, pk=refill.pk).exists():
            role = "doctor"
        elif user.role == Role.PATIENT and patients_acted_for(user).filter(pk=refill.patient_id).exists():
            role = "patient"
    if role is None:
        raise _denied(user, "prescriptions.refillrequest", refill_id, refill.patient_id if refill else None)
    if audit_read:
        audit.read(user, refill, patient_id=refill.patient_id, detail={"role": role})
    return refill, role


def refills_of_patient(user: User, patient_id: int) -> QuerySet[RefillRequest]:
    if not patients_acted_for(user).filter(pk=patient_id).exists():
        raise _denied(user, "accounts.patientprofile", patient_id, patient_id)
    audit.record(actor=user, action=AuditAction.READ, object_type="prescriptions.refillrequest",
                 patient_id=patient_id, detail={"list": "patient"})
    return (
        RefillRequest.objects.filter(patient_id=patient_id)
        .select_related("prescription", "result", "doctor__user")
        .order_by("-created_at")
    )


@dataclass
class Refillable:
    """An original chronic prescription and whether a refill can be asked for now."""

    root: Prescription
    latest: Prescription
    used: int
    next_date: date
    refusal: object  # DomainError | None
    open_request: RefillRequest | None


def refillable_prescriptions(user: User, patient_id: int) -> list[Refillable]:
    if not patients_acted_for(user).filter(pk=patient_id).exists():
        raise _denied(user, "accounts.patientprofile", patient_id, patient_id)
    audit.record(actor=user, action=AuditAction.READ, object_type="prescriptions.prescription",
                 patient_id=patient_id, detail={"list": "refillable"})
    roots = (
        Prescription.objects.filter(
            patient_id=patient_id, renewal_of__isnull=True, kind__in=[RxKind.CHRONIC, RxKind.LONG_TERM],
            refills_allowed__gt=0, status__in=CURRENT_STATUSES,
        )
        .select_related(*RX_RELATED)
        .order_by("-signed_at")
    )
    result = []
    for root in roots:
        latest = rules.latest_in_chain(root)
        result.append(Refillable(
            root=root, latest=latest, used=rules.refills_used(root), next_date=rules.next_refill_date(root),
            refusal=rules.refill_refusal(root),
            open_request=root.refill_requests.filter(status__in=OPEN_REFILL_STATUSES).first(),
        ))
    return result


@dataclass
class CurrentMedicine:
    name: str
    detail: str
    until: date | None
    prescription: Prescription | None


def current_medications(user: User, patient_id: int) -> list[CurrentMedicine]:
    """What the patient takes now: items of approved or dispensed prescriptions whose supply runs, and the
    active medications recorded on the chart."""
    if not patients_acted_for(user).filter(pk=patient_id).exists():
        raise _denied(user, "accounts.patientprofile", patient_id, patient_id)
    audit.record(actor=user, action=AuditAction.READ, object_type="prescriptions.prescriptionitem",
                 patient_id=patient_id, detail={"list": "current medications"})
    today = timezone.localdate()
    result: list[CurrentMedicine] = []
    items = (
        PrescriptionItem.objects.filter(prescription__patient_id=patient_id, prescription__status__in=CURRENT_STATUSES)
        .select_related("drug", "prescription")
        .order_by("-prescription__signed_at")
    )
    seen: set[int] = set()
    for item in items:
        started = timezone.localtime(item.prescription.signed_at).date()
        until = started + timedelta(days=item.duration_days)
        if until < today or item.drug_id in seen:
            continue
        seen.add(item.drug_id)
        result.append(CurrentMedicine(
            name=f"{item.drug.name} {item.drug.strength}",
            detail=f"{item.dose.normalize():f} {item.dose_unit} · {item.get_frequency_display()}",
            until=until, prescription=item.prescription,
        ))
    for statement in MedicationStatement.objects.filter(
        patient_id=patient_id, status=MedicationStatus.ACTIVE, entered_in_error=False
    ):
        result.append(CurrentMedicine(
            name=statement.medication, detail=" ".join(x for x in (statement.dose, statement.frequency) if x),
            until=None, prescription=None,
        ))
    return result


# ---- the formulary --------------------------------------------------------------------------------------------


def search_drugs(query: str, *, limit: int = 20) -> QuerySet[Drug]:
    query = (query or "").strip()
    qs = Drug.objects.filter(active=True)
    if query:
        qs = qs.filter(
            Q(generic_name_zh__icontains=query) | Q(generic_name_en__icontains=query)
            | Q(brand_name_zh__icontains=query) | Q(brand_name_en__icontains=query)
            | Q(sku__iexact=query) | Q(atc_code__istartswith=query)
        )
    return qs.order_by("generic_name_en")[:limit]


def patient_for_prescribing(patient_id: int) -> PatientProfile:
    return PatientProfile.objects.select_related("user").get(pk=patient_id)
