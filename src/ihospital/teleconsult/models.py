"""Remote expert consultation (远程会诊): a doctor at a partner facility asks the home hospital's experts for an
opinion on a patient who stays where they are.

A request's workflow is one ``TRANSITIONS`` table (``ConsultRequest``). Around it: what the referring doctor
attached from the chart (``Attachment``), which experts the coordinator assigned (``Assignment``), each expert's
``Opinion``, the lead expert's signed ``Report``, live video ``ConsultSession``s, ``Escalation``s of overdue
requests, and the fee agreed between the facilities (``Tariff``, copied onto the request when it is sent).
Nothing here is deleted: requests are cancelled, assignments declined or withdrawn, opinions superseded.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import Consent, PatientProfile
from ihospital.core.models import NeverDeletedQuerySet
from ihospital.diagnostics.models import DiagnosticOrder, ImagingStudy
from ihospital.directory.models import Department, Facility
from ihospital.records.models import Document


class Urgency(models.TextChoices):
    """Each has a first-response and a report target (``settings.TELECONSULT_TARGETS``, in minutes)."""

    ROUTINE = "routine", _("routine")
    URGENT = "urgent", _("urgent")
    EMERGENCY = "emergency", _("emergency")


class Mode(models.TextChoices):
    ASYNC = "async", _("case review (asynchronous)")
    LIVE = "live", _("live video session")


class Tariff(models.Model):
    """The fee a partner facility pays the home hospital for one consultation, by urgency and mode, as agreed
    between the two from ``valid_from``. Managed in the admin; the newest row in force on the day a request is
    sent is copied onto it, so later changes never alter a sent request's fee."""

    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="consult_tariffs",
                                 limit_choices_to={"kind": "partner"})
    urgency = models.CharField(max_length=12, choices=Urgency.choices)
    mode = models.CharField(max_length=8, choices=Mode.choices)
    fee_fen = models.PositiveIntegerField(_("fee (fen)"))
    valid_from = models.DateField(_("valid from"))

    class Meta:
        ordering = ["facility", "urgency", "mode", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["facility", "urgency", "mode", "valid_from"], name="one_tariff_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.facility} {self.urgency}/{self.mode} {self.fee_fen / 100:.2f} from {self.valid_from}"


class Status(models.TextChoices):
    DRAFT = "draft", _("draft")
    SUBMITTED = "submitted", _("waiting for triage")
    RETURNED = "returned", _("returned for more information")
    ASSIGNED = "assigned", _("assigned to experts")
    IN_REVIEW = "in_review", _("under review")
    REPORTED = "reported", _("report ready")
    ACKNOWLEDGED = "acknowledged", _("report acknowledged")
    CANCELLED = "cancelled", _("cancelled")


OPEN_STATUSES = (Status.SUBMITTED, Status.ASSIGNED, Status.IN_REVIEW)


class ConsultRequest(models.Model):
    Status = Status
    TRANSITIONS = {
        # Sending needs the patient's recorded consent to share the record (services.submit).
        Status.DRAFT: {Status.SUBMITTED, Status.CANCELLED},
        # The coordinator triages: assigns experts, or asks the referring doctor for more.
        Status.SUBMITTED: {Status.ASSIGNED, Status.RETURNED, Status.CANCELLED},
        Status.RETURNED: {Status.SUBMITTED, Status.CANCELLED},
        # The first expert to accept starts the review; if every expert declines it goes back to triage.
        Status.ASSIGNED: {Status.IN_REVIEW, Status.SUBMITTED, Status.CANCELLED},
        Status.IN_REVIEW: {Status.REPORTED, Status.CANCELLED},
        # The referring doctor acknowledges the signed report; the treating hospital keeps the decision.
        Status.REPORTED: {Status.ACKNOWLEDGED},
    }

    number = models.CharField(max_length=24, unique=True)
    patient = models.ForeignKey(PatientProfile, on_delete=models.PROTECT, related_name="consult_requests")
    referring_doctor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    referring_facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="consult_requests")
    question = models.TextField(_("question for the experts"))
    summary = models.TextField(_("case summary"))
    urgency = models.CharField(_("urgency"), max_length=12, choices=Urgency.choices, default=Urgency.ROUTINE)
    mode = models.CharField(_("kind of consultation"), max_length=8, choices=Mode.choices, default=Mode.ASYNC)
    # The specialty wanted (a department of the home hospital) and/or a named expert.
    department = models.ForeignKey(Department, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    named_expert = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    # The patient's consent (ConsentKind.RECORD_SHARING, subject "consult:<pk>"); required to submit, and
    # experts see nothing once it is withdrawn.
    consent = models.ForeignKey(Consent, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    return_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The clock: set when first sent (a resubmission after a return restarts the deadlines from then).
    submitted_at = models.DateTimeField(null=True, blank=True)
    first_response_due = models.DateTimeField(null=True, blank=True)
    report_due = models.DateTimeField(null=True, blank=True)
    # Measured: the first expert's acceptance, and the lead's signature.
    first_response_at = models.DateTimeField(null=True, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    # The fee agreed between the facilities, copied from the tariff when sent.
    tariff = models.ForeignKey(Tariff, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    fee_fen = models.PositiveIntegerField(null=True, blank=True)

    objects = NeverDeletedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "first_response_due"]), models.Index(fields=["referring_doctor"])]

    def __str__(self) -> str:
        return self.number


class AttachmentKind(models.TextChoices):
    DOCUMENT = "document", _("record or document")
    LAB = "lab", _("lab results")
    IMAGING = "imaging", _("imaging study")


class Attachment(models.Model):
    """One item of the patient's chart shared with the experts. Exactly one of the three targets is set, and it
    belongs to the request's patient (services.attach checks). Uploads become chart ``Document``s first."""

    request = models.ForeignKey(ConsultRequest, on_delete=models.PROTECT, related_name="attachments")
    kind = models.CharField(max_length=12, choices=AttachmentKind.choices)
    document = models.ForeignKey(Document, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    order = models.ForeignKey(DiagnosticOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    study = models.ForeignKey(ImagingStudy, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    note = models.CharField(max_length=200, blank=True)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)
    # Removed from the request while it was a draft or returned; kept for the record.
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["added_at"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind="document", document__isnull=False, order__isnull=True, study__isnull=True)
                    | Q(kind="lab", document__isnull=True, order__isnull=False, study__isnull=True)
                    | Q(kind="imaging", document__isnull=True, order__isnull=True, study__isnull=False)
                ),
                name="attachment_one_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.request} {self.kind}"


class AssignmentRole(models.TextChoices):
    LEAD = "lead", _("lead expert")
    MEMBER = "member", _("team member")


class Assignment(models.Model):
    """An expert on a request. One active lead per request; a multi-disciplinary team adds members. An expert
    accepts (the request's first response) or declines with a reason; the coordinator may withdraw one."""

    request = models.ForeignKey(ConsultRequest, on_delete=models.PROTECT, related_name="assignments")
    expert = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consult_assignments")
    role = models.CharField(max_length=8, choices=AssignmentRole.choices)
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    assigned_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    # Ended: declined by the expert, or withdrawn by the coordinator.
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["assigned_at"]
        constraints = [
            models.UniqueConstraint(fields=["request", "expert"], condition=Q(ended_at__isnull=True),
                                    name="expert_once_per_request"),
            models.UniqueConstraint(fields=["request"], condition=Q(ended_at__isnull=True, role="lead"),
                                    name="one_lead_per_request"),
        ]

    def __str__(self) -> str:
        return f"{self.request} {self.expert} ({self.role})"

    @property
    def active(self) -> bool:
        return self.ended_at is None


class Opinion(models.Model):
    """One expert's opinion. Saved as a draft, then submitted; the submitted text is what the lead consolidates.
    Editing after submission makes a new version (the old row stays, ``superseded_at`` set)."""

    request = models.ForeignKey(ConsultRequest, on_delete=models.PROTECT, related_name="opinions")
    expert = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    findings = models.TextField(_("findings"), blank=True)
    impression = models.TextField(_("impression"), blank=True)
    # ICD-10 codes with their display, e.g. [{"code": "I10", "display": "Essential (primary) hypertension"}].
    diagnoses = models.JSONField(default=list, blank=True)
    recommendations = models.TextField(_("recommendations"), blank=True)
    version = models.PositiveSmallIntegerField(default=1)
    submitted_at = models.DateTimeField(null=True, blank=True)
    superseded_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["request", "expert", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["request", "expert"], condition=Q(superseded_at__isnull=True),
                                    name="one_current_opinion_per_expert"),
        ]

    def __str__(self) -> str:
        return f"{self.request} {self.expert} v{self.version}"


class Report(models.Model):
    """The consolidated report, signed by the lead expert with a fresh second factor. ``digest`` is the SHA-256
    of its canonical content, so any later change to the row is detectable. Advice only: the treating
    hospital keeps the decision."""

    request = models.OneToOneField(ConsultRequest, on_delete=models.PROTECT, related_name="report")
    lead = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    findings = models.TextField(_("findings"))
    impression = models.TextField(_("impression"))
    diagnoses = models.JSONField(default=list)
    recommendations = models.TextField(_("recommendations"))
    signed_at = models.DateTimeField()
    digest = models.CharField(max_length=64)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"report {self.request}"


class SessionStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("scheduled")
    LIVE = "live", _("in progress")
    ENDED = "ended", _("ended")
    CANCELLED = "cancelled", _("cancelled")


class ConsultSession(models.Model):
    """A scheduled live video session: the referring doctor, the assigned experts and, if invited, the patient
    (and their relatives acting for them). Peer-to-peer mesh, at most ``TELECONSULT_MAX_PARTICIPANTS``."""

    Status = SessionStatus
    TRANSITIONS = {
        SessionStatus.SCHEDULED: {SessionStatus.LIVE, SessionStatus.CANCELLED},
        SessionStatus.LIVE: {SessionStatus.ENDED},
    }

    request = models.ForeignKey(ConsultRequest, on_delete=models.PROTECT, related_name="sessions")
    starts_at = models.DateTimeField(_("starts at"))
    minutes = models.PositiveSmallIntegerField(_("planned length (minutes)"), default=30)
    include_patient = models.BooleanField(_("the patient joins"), default=False)
    status = models.CharField(max_length=12, choices=SessionStatus.choices, default=SessionStatus.SCHEDULED)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # The attachment everyone is looking at (shared viewing), set by any participant.
    shared_attachment = models.ForeignKey(Attachment, null=True, blank=True, on_delete=models.PROTECT,
                                          related_name="+")

    class Meta:
        ordering = ["starts_at"]

    def __str__(self) -> str:
        return f"{self.request} session {self.starts_at:%Y-%m-%d %H:%M}"


class EscalationKind(models.TextChoices):
    FIRST_RESPONSE = "first_response", _("no expert response in time")
    REPORT = "report", _("no report in time")


class Escalation(models.Model):
    """An overdue request raised to more people: level 1 the coordinators, level 2 also the hospital's admins
    (the medical affairs office). Once per (request, kind, level)."""

    request = models.ForeignKey(ConsultRequest, on_delete=models.PROTECT, related_name="escalations")
    kind = models.CharField(max_length=16, choices=EscalationKind.choices)
    level = models.PositiveSmallIntegerField()
    at = models.DateTimeField(auto_now_add=True)
    notified = models.JSONField(default=list)

    class Meta:
        ordering = ["at"]
        constraints = [
            models.UniqueConstraint(fields=["request", "kind", "level"], name="escalate_once_per_level"),
        ]

    def __str__(self) -> str:
        return f"{self.request} {self.kind} L{self.level}"
