"""Every change to the chart: one function per act, atomic, permission-checked and audited."""

from __future__ import annotations

from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import PatientProfile, User
from ihospital.accounts.services import require_health_data_consent
from ihospital.core import audit
from ihospital.core.errors import DomainError, Forbidden, NotFound
from ihospital.core.models import AuditAction
from ihospital.directory.models import Department, Practitioner, Profession

from . import icd10, storage
from .models import (
    Allergy,
    AllergyCategory,
    CareRelationship,
    CareSource,
    ClinicalStatus,
    Condition,
    Document,
    DocumentKind,
    Encounter,
    EncounterMode,
    MedicationStatement,
    Severity,
    Verification,
)
from .selectors import patient_for

ENTRY_MODELS = {
    "encounter": Encounter,
    "condition": Condition,
    "allergy": Allergy,
    "medication": MedicationStatement,
    "document": Document,
}


def _writable_patient(actor: User, patient_id: int) -> tuple[PatientProfile, str]:
    patient, access = patient_for(actor, patient_id, purpose="write")
    require_health_data_consent(patient)
    return patient, access


def _practitioner(actor: User, *professions: str) -> Practitioner:
    practitioner = Practitioner.objects.filter(user=actor).select_related("facility").first()
    if practitioner is None or (professions and practitioner.profession not in professions):
        raise Forbidden("not_a_clinician", _("Only a registered clinician can do this."))
    return practitioner


def _choice(value: str, choices, code: str, field: str) -> str:
    if value not in choices.values:
        raise DomainError(code, _("Please choose a valid value."), fields={field: _("not a valid choice")})
    return value


# ---- care relationships ------------------------------------------------------------------------------------


def grant_care(
    *,
    clinician: User,
    patient: PatientProfile,
    source: str,
    source_id: str = "",
    granted_by: User | None = None,
    ends_at: datetime | None = None,
) -> CareRelationship:
    """Open the chart to a clinician for a reason (called by the workflows that create care)."""
    if not clinician.is_clinical_staff:
        raise DomainError("not_a_clinician", _("Only clinicians can be given access to a chart."))
    try:
        with transaction.atomic():
            rel, created = CareRelationship.objects.get_or_create(
                patient=patient,
                clinician=clinician,
                source=source,
                source_id=str(source_id),
                defaults={"starts_at": timezone.now(), "ends_at": ends_at, "granted_by": granted_by},
            )
    except IntegrityError:
        rel, created = CareRelationship.objects.get(
            patient=patient, clinician=clinician, source=source, source_id=str(source_id)
        ), False
    if created:
        audit.record(actor=granted_by or clinician, action=AuditAction.CREATE, obj=rel, patient_id=patient.pk,
                     detail={"clinician": clinician.pk, "source": source})
    return rel


def end_care(
    *, clinician: User, patient: PatientProfile, source: str, source_id: str = "", actor=None,
    at: datetime | None = None,
) -> None:
    """End a care relationship now, or at ``at`` (a visit keeps the chart open to its doctor for follow-up)."""
    ends_at = at or timezone.now()
    CareRelationship.objects.filter(
        patient=patient, clinician=clinician, source=source, source_id=str(source_id), ends_at__isnull=True
    ).update(ends_at=ends_at)
    audit.record(actor=actor or clinician, action=AuditAction.UPDATE, object_type="records.carerelationship",
                 patient_id=patient.pk, detail={"ended": source, "clinician": clinician.pk, "at": ends_at.isoformat()})


# ---- encounters and diagnoses ------------------------------------------------------------------------------


@transaction.atomic
def record_in_person_encounter(
    *,
    actor: User,
    mrn: str,
    department_id: int,
    started_at: datetime,
    reason: str = "",
    summary: str = "",
) -> Encounter:
    """A doctor records a clinic visit. The patient is identified by the medical record number on their card,
    which is how a clinic finds them; this also opens the chart to that doctor."""
    practitioner = _practitioner(actor, Profession.DOCTOR)
    patient = PatientProfile.objects.filter(mrn=(mrn or "").strip().upper()).first()
    if patient is None:
        raise NotFound("patient_not_found", _("No patient with this medical record number."))
    require_health_data_consent(patient)
    department = Department.objects.filter(pk=department_id, practitioners=practitioner).first()
    if department is None:
        raise DomainError("invalid_department", _("You do not work in this department."))
    if started_at > timezone.now():
        raise DomainError("encounter_in_future", _("An encounter cannot be recorded before it happened."))
    encounter = Encounter.objects.create(
        patient=patient,
        recorded_by=actor,
        mode=EncounterMode.IN_PERSON,
        facility=department.facility,
        department=department,
        practitioner=practitioner,
        started_at=started_at,
        ended_at=started_at,
        reason=reason[:255],
        summary=summary,
    )
    grant_care(clinician=actor, patient=patient, source=CareSource.ENCOUNTER, source_id=str(encounter.pk),
               granted_by=actor)
    audit.record(actor=actor, action=AuditAction.CREATE, obj=encounter, patient_id=patient.pk)
    return encounter


def add_condition(
    *,
    actor: User,
    patient_id: int,
    code: str,
    encounter_id: int | None = None,
    verification: str = Verification.CONFIRMED,
    chronic: bool = False,
    onset_date: date | None = None,
    note: str = "",
) -> Condition:
    patient, access = _writable_patient(actor, patient_id)
    icd = icd10.lookup(code)
    encounter = None
    if access == "clinician":
        _practitioner(actor, Profession.DOCTOR)
        _choice(verification, Verification, "invalid_verification", "verification")
        if encounter_id is not None:
            encounter = Encounter.objects.filter(pk=encounter_id, patient=patient, entered_in_error=False).first()
            if encounter is None:
                raise DomainError("invalid_encounter", _("This encounter does not belong to this patient."))
    else:
        # What a patient or relative tells us is kept, but never counts as a diagnosis.
        verification = Verification.PATIENT_REPORTED
    if onset_date and onset_date > timezone.localdate():
        raise DomainError("onset_in_future", _("The onset date cannot be in the future."))
    with transaction.atomic():
        condition = Condition.objects.create(
            patient=patient,
            recorded_by=actor,
            encounter=encounter,
            code=icd.code,
            display=icd.name_zh or icd.name_en,
            verification=verification,
            clinical_status=ClinicalStatus.ACTIVE,
            chronic=chronic,
            onset_date=onset_date,
            note=note,
        )
        audit.record(actor=actor, action=AuditAction.CREATE, obj=condition, patient_id=patient.pk,
                     detail={"code": icd.code})
    return condition


def add_allergy(
    *, actor: User, patient_id: int, substance: str, category: str = AllergyCategory.DRUG,
    reaction: str = "", severity: str = Severity.MODERATE,
) -> Allergy:
    patient, access = _writable_patient(actor, patient_id)
    substance = (substance or "").strip()
    if not substance:
        raise DomainError("substance_required", _("Please name what causes the allergy."),
                          fields={"substance": _("required")})
    _choice(category, AllergyCategory, "invalid_category", "category")
    _choice(severity, Severity, "invalid_severity", "severity")
    with transaction.atomic():
        allergy = Allergy.objects.create(
            patient=patient, recorded_by=actor, substance=substance[:128], category=category,
            reaction=reaction[:255], severity=severity, verified=access == "clinician",
        )
        audit.record(actor=actor, action=AuditAction.CREATE, obj=allergy, patient_id=patient.pk)
    return allergy


def add_medication(
    *, actor: User, patient_id: int, medication: str, dose: str = "", frequency: str = "", route: str = "",
    started_on: date | None = None,
) -> MedicationStatement:
    patient, access = _writable_patient(actor, patient_id)
    medication = (medication or "").strip()
    if not medication:
        raise DomainError("medication_required", _("Please name the medicine."), fields={"medication": _("required")})
    with transaction.atomic():
        statement = MedicationStatement.objects.create(
            patient=patient, recorded_by=actor, medication=medication[:128], dose=dose[:64], frequency=frequency[:64],
            route=route[:32], started_on=started_on, verified=access == "clinician",
        )
        audit.record(actor=actor, action=AuditAction.CREATE, obj=statement, patient_id=patient.pk)
    return statement


def upload_document(*, actor: User, patient_id: int, kind: str, title: str, file) -> Document:
    """Check and store the file first, then commit its row; a failure in between removes the file again."""
    _writable_patient(actor, patient_id)
    _choice(kind, DocumentKind, "invalid_document_kind", "kind")
    title = (title or "").strip() or DocumentKind(kind).label
    stored = storage.store(file)
    try:
        with transaction.atomic():
            patient, _access = _writable_patient(actor, patient_id)
            doc = Document.objects.create(
                patient=patient, recorded_by=actor, kind=kind, title=str(title)[:128],
                original_name=(getattr(file, "name", "") or "upload")[-255:], storage_name=stored.storage_name,
                content_type=stored.content_type, size=stored.size, sha256=stored.sha256,
            )
            audit.record(actor=actor, action=AuditAction.CREATE, obj=doc, patient_id=patient.pk,
                         detail={"sha256": stored.sha256, "size": stored.size})
    except BaseException:
        storage.discard(stored.storage_name)
        raise
    return doc


def mark_entered_in_error(*, actor: User, entry_type: str, entry_id: int, reason: str):
    """Withdraw a wrong entry without deleting it. The author, or a clinician caring for the patient, may."""
    model = ENTRY_MODELS.get(entry_type)
    entry = model.objects.filter(pk=entry_id).first() if model else None
    if entry is None:
        raise NotFound()
    # Scope check before the transaction, so a refused attempt stays in the audit log.
    _patient, access = patient_for(actor, entry.patient_id, purpose="write")
    if entry.recorded_by_id != actor.pk and access != "clinician":
        raise Forbidden("not_author", _("Only the author or a clinician caring for the patient can withdraw this."))
    if not (reason or "").strip():
        raise DomainError("reason_required", _("Please say why this entry is wrong."), fields={"reason": _("required")})
    with transaction.atomic():
        entry = model.objects.select_for_update().get(pk=entry_id)
        if entry.entered_in_error:
            raise DomainError("already_withdrawn", _("This entry was already marked as entered in error."), status=409)
        entry.entered_in_error = True
        entry.error_reason = reason.strip()
        entry.save(update_fields=["entered_in_error", "error_reason"])
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=entry, patient_id=entry.patient_id,
                     detail={"entered_in_error": reason.strip()[:200]})
    return entry
