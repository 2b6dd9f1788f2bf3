"""Reads of the chart, always scoped to the asking user; someone else's id answers 404 (and is audited)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone

from ihospital.accounts.models import PatientProfile, User
from ihospital.accounts.selectors import patients_acted_for
from ihospital.core import audit
from ihospital.core.errors import NotFound
from ihospital.core.models import AuditAction, AuditOutcome

from .models import Allergy, CareRelationship, Condition, Document, Encounter, MedicationStatement


def active_care(user: User) -> QuerySet[CareRelationship]:
    now = timezone.now()
    return CareRelationship.objects.filter(clinician=user, starts_at__lte=now).filter(
        Q(ends_at__isnull=True) | Q(ends_at__gt=now)
    )


def patients_in_care(user: User) -> QuerySet[PatientProfile]:
    if not user.is_authenticated or not user.is_clinical_staff:
        return PatientProfile.objects.none()
    return PatientProfile.objects.filter(pk__in=active_care(user).values("patient_id")).select_related("user")


def visible_patients(user: User) -> QuerySet[PatientProfile]:
    """Own record, records of patients one is an active proxy for, and patients in one's care."""
    if not user.is_authenticated:
        return PatientProfile.objects.none()
    ids = patients_acted_for(user).values("pk")
    if user.is_clinical_staff:
        return PatientProfile.objects.filter(
            Q(pk__in=ids) | Q(pk__in=active_care(user).values("patient_id"))
        ).select_related("user")
    return PatientProfile.objects.filter(pk__in=ids).select_related("user")


def access_of(user: User, patient: PatientProfile) -> str | None:
    """How ``user`` may reach ``patient``'s chart: 'self', 'proxy', 'clinician', or None."""
    if patient.user_id == user.pk:
        return "self"
    if patients_acted_for(user).filter(pk=patient.pk).exists():
        return "proxy"
    if user.is_clinical_staff and active_care(user).filter(patient=patient).exists():
        return "clinician"
    return None


def patient_for(user: User, patient_id: int, *, purpose: str = "read") -> tuple[PatientProfile, str]:
    """Fetch a patient the user may reach, with the kind of access; otherwise audit the denial and 404."""
    patient = PatientProfile.objects.select_related("user").filter(pk=patient_id).first()
    access = access_of(user, patient) if patient is not None else None
    if access is None:
        audit.record(
            actor=user,
            action=AuditAction.READ if purpose == "read" else AuditAction.UPDATE,
            object_type="accounts.patientprofile",
            object_id=patient_id,
            patient_id=patient.pk if patient else None,
            outcome=AuditOutcome.DENIED,
        )
        raise NotFound()
    return patient, access


@dataclass
class Chart:
    patient: PatientProfile
    access: str
    encounters: list[Encounter]
    conditions: list[Condition]
    allergies: list[Allergy]
    medications: list[MedicationStatement]
    documents: list[Document]


def chart(user: User, patient_id: int, *, include_errors: bool = False) -> Chart:
    patient, access = patient_for(user, patient_id)

    def rows(model, *related):
        qs = model.objects.filter(patient=patient).select_related("recorded_by", *related)
        return list(qs if include_errors else qs.filter(entered_in_error=False))

    result = Chart(
        patient=patient,
        access=access,
        encounters=rows(Encounter, "facility", "department", "practitioner__user"),
        conditions=rows(Condition, "encounter"),
        allergies=rows(Allergy),
        medications=rows(MedicationStatement),
        documents=rows(Document),
    )
    audit.read(user, patient, patient_id=patient.pk, detail={"view": "chart", "access": access})
    return result


def document_for(user: User, document_id: int) -> Document:
    doc = Document.objects.filter(pk=document_id, entered_in_error=False).first()
    if doc is None:
        raise NotFound()
    patient_for(user, doc.patient_id)
    audit.read(user, doc, patient_id=doc.patient_id, detail={"view": "download"})
    return doc
