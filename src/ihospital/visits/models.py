"""Online follow-up visits: the visit and its workflow, the chat, the doctor's note, the doctor's day sign-in.

The workflow in one place::

    requested ──accept──▶ accepted ──start──▶ in_progress ──close──▶ closed
        │                     │                    │
        ├─refuse─▶ refused    ├─cancel─▶ cancelled  └─refer─▶ referred_in_person
        ├─cancel─▶ cancelled  └─refer─▶ referred_in_person
        └─refer──▶ referred_in_person

Nothing here is ever hard-deleted: messages and notes are kept (retention: chat 3 years, records 15 years;
see ``settings.RETENTION_*`` and docs/visits.md).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import PatientProfile
from ihospital.core.models import NeverDeletedQuerySet
from ihospital.directory.models import Department, Practitioner
from ihospital.records.models import Condition, Document, DocumentKind, Encounter
from ihospital.scheduling.models import Appointment, VisitMode


class VisitStatus(models.TextChoices):
    REQUESTED = "requested", _("waiting for the doctor")
    ACCEPTED = "accepted", _("accepted")
    IN_PROGRESS = "in_progress", _("in progress")
    CLOSED = "closed", _("closed")
    CANCELLED = "cancelled", _("cancelled")
    REFUSED = "refused", _("refused by the doctor")
    REFERRED = "referred", _("referred to an in-person visit")


ACTIVE_STATUSES = (VisitStatus.REQUESTED, VisitStatus.ACCEPTED, VisitStatus.IN_PROGRESS)
CHAT_STATUSES = ACTIVE_STATUSES

# Uploaded records that may stand for an in-person diagnosis, once the doctor accepts them.
BASIS_DOCUMENT_KINDS = frozenset(
    {
        DocumentKind.OUTPATIENT_RECORD,
        DocumentKind.INPATIENT_RECORD,
        DocumentKind.DISCHARGE_SUMMARY,
        DocumentKind.DIAGNOSIS_CERTIFICATE,
    }
)


class BasisStatus(models.TextChoices):
    """Why this visit counts as a follow-up."""

    ACCEPTED = "accepted", _("diagnosis on the chart")
    PENDING_REVIEW = "pending_review", _("uploaded record waiting for the doctor")
    REJECTED = "rejected", _("uploaded record not accepted")


class Visit(models.Model):
    Status = VisitStatus
    TRANSITIONS = {
        VisitStatus.REQUESTED: {VisitStatus.ACCEPTED, VisitStatus.REFUSED, VisitStatus.CANCELLED, VisitStatus.REFERRED},
        VisitStatus.ACCEPTED: {VisitStatus.IN_PROGRESS, VisitStatus.CANCELLED, VisitStatus.REFERRED},
        VisitStatus.IN_PROGRESS: {VisitStatus.CLOSED, VisitStatus.REFERRED},
    }

    patient = models.ForeignKey(PatientProfile, on_delete=models.PROTECT, related_name="visits")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="visits")
    # Empty while the visit waits in the department's queue for the next available doctor.
    doctor = models.ForeignKey(Practitioner, null=True, blank=True, on_delete=models.PROTECT, related_name="visits")
    appointment = models.OneToOneField(
        Appointment, null=True, blank=True, on_delete=models.PROTECT, related_name="visit"
    )
    mode = models.CharField(max_length=8, choices=VisitMode.choices, default=VisitMode.TEXT)
    condition = models.ForeignKey(Condition, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    basis_document = models.ForeignKey(Document, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    basis_status = models.CharField(max_length=16, choices=BasisStatus.choices)
    basis_review_note = models.TextField(blank=True)
    complaint = models.TextField(_("reason for the visit"))
    status = models.CharField(max_length=16, choices=VisitStatus.choices, default=VisitStatus.REQUESTED)
    status_reason = models.TextField(blank=True)
    queued_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    encounter = models.OneToOneField(Encounter, null=True, blank=True, on_delete=models.PROTECT, related_name="visit")
    alerted_at = models.DateTimeField(null=True, blank=True, help_text="department alerted: patient not answered")
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    rating_comment = models.TextField(blank=True)

    objects = NeverDeletedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["department", "status", "queued_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rating__isnull=True) | models.Q(rating__gte=1, rating__lte=5),
                name="visit_rating_1_5",
            ),
            models.CheckConstraint(
                condition=models.Q(condition__isnull=False) | models.Q(basis_document__isnull=False),
                name="visit_is_a_follow_up",
            ),
            # A patient waits in one department's queue at most once at a time.
            models.UniqueConstraint(
                fields=["patient", "department"],
                condition=models.Q(status="requested", doctor__isnull=True),
                name="visit_one_queue_place",
            ),
        ]

    def __str__(self) -> str:
        return f"visit {self.pk} {self.patient} ({self.status})"

    def delete(self, *args, **kwargs):
        raise TypeError("visit records are never deleted")

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def in_queue(self) -> bool:
        return self.status == VisitStatus.REQUESTED and self.doctor_id is None


class MessageKind(models.TextChoices):
    TEXT = "text", _("text")
    IMAGE = "image", _("image")
    FILE = "file", _("file")
    SYSTEM = "system", _("event")


class Message(models.Model):
    """One chat message. Stored before it is broadcast; ids only grow, so a client resumes after its last id."""

    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="messages")
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=8, choices=MessageKind.choices, default=MessageKind.TEXT)
    body = models.TextField(blank=True)
    attachment = models.ForeignKey(Document, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # A client-chosen id, so a message resent after a dropped connection is stored once.
    client_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = NeverDeletedQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["visit", "sender", "client_id"],
                condition=~models.Q(client_id=""),
                name="message_once_per_client_id",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} in visit {self.visit_id}"

    def delete(self, *args, **kwargs):
        raise TypeError("chat messages are never deleted")


class ReadMark(models.Model):
    """How far each participant has read: the read receipts."""

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="read_marks")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    last_read_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["visit", "user"], name="read_mark_once")]

    def __str__(self) -> str:
        return f"{self.user_id} read visit {self.visit_id} up to {self.last_read_id}"


class VisitNote(models.Model):
    """The doctor's SOAP note. Editable while the visit is open, frozen when it closes."""

    visit = models.OneToOneField(Visit, on_delete=models.PROTECT, related_name="note")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    subjective = models.TextField(blank=True)
    objective = models.TextField(blank=True)
    assessment = models.TextField(blank=True)
    diagnosis_codes = models.JSONField(default=list, blank=True, help_text="ICD-10 codes of the assessment")
    plan = models.TextField(blank=True)
    patient_summary = models.TextField(blank=True, help_text="what the patient reads")
    updated_at = models.DateTimeField(auto_now=True)

    objects = NeverDeletedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"note of visit {self.visit_id}"

    def delete(self, *args, **kwargs):
        raise TypeError("visit notes are never deleted")


class ConsultationDay(models.Model):
    """A doctor confirmed their second factor before consulting online on this (local) date."""

    practitioner = models.ForeignKey(Practitioner, on_delete=models.PROTECT, related_name="consultation_days")
    date = models.DateField()
    verified_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["practitioner", "date"], name="consultation_day_once")]

    def __str__(self) -> str:
        return f"{self.practitioner} on {self.date}"
