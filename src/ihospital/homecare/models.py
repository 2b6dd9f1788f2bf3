"""Home nursing (互联网+护理服务): the catalogue, requests and their assessment, nurses' shifts, dispatch plans,
visits with their EVV facts and care records, alarms, blocks and ratings.

A request's workflow is one ``TRANSITIONS`` table (``NursingRequest``); the visit (``NurseVisit``) holds what
happened at the home. Money is in fen. Nothing here is deleted: requests are cancelled or declined, blocks are
lifted, care records are corrected through an approved ``Correction``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import PatientProfile
from ihospital.core.i18n import bilingual
from ihospital.core.models import NeverDeletedQuerySet
from ihospital.directory.models import Title
from ihospital.records.models import Document


class Skill(models.TextChoices):
    """What a service needs beyond general nursing; nurses hold a set of these (``NurseProfile.skills``)."""

    GENERAL = "general", _("general nursing")
    WOUND_OSTOMY = "wound_ostomy", _("wound and ostomy care")
    PICC = "picc", _("PICC and venous access")
    MATERNAL_INFANT = "maternal_infant", _("maternal and infant care")
    PALLIATIVE = "palliative", _("palliative care")


class EligibleGroup(models.TextChoices):
    """Who home nursing is for (国家卫健委《"互联网+护理服务"试点工作方案》: 高龄或失能老年人、康复期患者、终末期患者、
    母婴等行动不便的人群)."""

    ELDERLY = "elderly", _("elderly")
    DISABLED = "disabled", _("disabled or with limited mobility")
    CONVALESCENT = "convalescent", _("recovering after discharge")
    TERMINAL = "terminal", _("terminally ill with limited mobility")
    MOTHER_NEWBORN = "mother_newborn", _("mother or newborn")



class NursingService(models.Model):
    """One service in the catalogue. ``consumables`` lists what the nurse brings:
    ``[{"code": "dressing_pack", "zh": "换药包", "en": "dressing pack", "qty": 1, "price_fen": 1500}]``."""

    code = models.SlugField(max_length=32, unique=True)
    name_zh = models.CharField(_("name (Chinese)"), max_length=64)
    name_en = models.CharField(_("name (English)"), max_length=96)
    description_zh = models.TextField(_("description (Chinese)"))
    description_en = models.TextField(_("description (English)"))
    duration_minutes = models.PositiveSmallIntegerField(_("duration (minutes)"))
    price_fen = models.PositiveIntegerField(_("price (fen)"))
    min_title = models.CharField(_("lowest nurse title"), max_length=32, choices=Title.choices,
                                 default=Title.NURSE_PRACTITIONER)
    min_years = models.PositiveSmallIntegerField(_("years of practice at least"), default=5)
    skill = models.CharField(_("specialty needed"), max_length=20, choices=Skill.choices, default=Skill.GENERAL)
    consumables = models.JSONField(_("consumables"), default=list, blank=True)
    eligible_groups = models.JSONField(_("who may book it"), default=list)
    # Some procedures need a doctor's order on file (infusion: the drug and dose come from a prescription).
    needs_doctor_order = models.BooleanField(_("needs a doctor's order"), default=False)
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "code"]
        verbose_name = _("nursing service")
        verbose_name_plural = _("nursing services")
        constraints = [models.CheckConstraint(condition=Q(duration_minutes__gt=0), name="service_duration_positive")]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return bilingual(self, "name")

    @property
    def description(self) -> str:
        return bilingual(self, "description")

    @property
    def skills(self) -> frozenset[str]:
        return frozenset({Skill.GENERAL, self.skill})


class NurseProfile(models.Model):
    """A nurse's home-care facts: skills beyond general nursing, and where their day starts."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="home_nurse")
    skills = models.JSONField(default=list, blank=True)
    base_label = models.CharField(_("starts from"), max_length=64, default="", blank=True)
    base_latitude = models.FloatField()
    base_longitude = models.FloatField()
    phone = models.CharField(_("work mobile"), max_length=20, blank=True)

    def __str__(self) -> str:
        return str(self.user)

    @property
    def skill_set(self) -> frozenset[str]:
        return frozenset({Skill.GENERAL, *self.skills})


class Shift(models.Model):
    """A nurse's home-care shift on one day; dispatch plans within it. Start and end are local times."""

    nurse = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="home_shifts")
    day = models.DateField()
    starts = models.TimeField()
    ends = models.TimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["day", "starts"]
        constraints = [
            models.UniqueConstraint(fields=["nurse", "day"], name="one_home_shift_per_nurse_day"),
            models.CheckConstraint(condition=Q(ends__gt=models.F("starts")), name="shift_ends_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.nurse} {self.day} {self.starts:%H:%M}-{self.ends:%H:%M}"


class Block(models.Model):
    """The hospital stopped home nursing for a patient (they endangered a nurse). Lifted, never deleted."""

    patient = models.ForeignKey(PatientProfile, on_delete=models.PROTECT, related_name="home_blocks")
    reason = models.TextField(_("reason"))
    blocked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    blocked_at = models.DateTimeField(default=timezone.now)
    lifted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+")
    lifted_at = models.DateTimeField(null=True, blank=True)
    lift_reason = models.TextField(blank=True)

    objects = NeverDeletedQuerySet.as_manager()

    class Meta:
        ordering = ["-blocked_at"]
        constraints = [
            models.UniqueConstraint(fields=["patient"], condition=Q(lifted_at__isnull=True),
                                    name="one_active_block_per_patient"),
        ]

    def __str__(self) -> str:
        return f"block of patient {self.patient_id} ({'lifted' if self.lifted_at else 'active'})"

    def delete(self, *args, **kwargs):
        raise TypeError("blocks are lifted, never deleted")


class RequestStatus(models.TextChoices):
    REQUESTED = "requested", _("waiting for assessment")
    ASSESSING = "assessing", _("being assessed by a nurse")
    ACCEPTED = "accepted", _("accepted, waiting for a nurse to be scheduled")
    SCHEDULED = "scheduled", _("scheduled")
    EN_ROUTE = "en_route", _("the nurse is on the way")
    IN_SERVICE = "in_service", _("the nurse is with the patient")
    COMPLETED = "completed", _("completed")
    DECLINED = "declined", _("declined")
    CANCELLED = "cancelled", _("cancelled")


OPEN_REQUEST_STATUSES = (
    RequestStatus.REQUESTED, RequestStatus.ASSESSING, RequestStatus.ACCEPTED, RequestStatus.SCHEDULED,
    RequestStatus.EN_ROUTE, RequestStatus.IN_SERVICE,
)
# The patient may cancel until the nurse sets out; after that the hospital cancels (and a call is made).
PATIENT_CANCELLABLE = (RequestStatus.REQUESTED, RequestStatus.ASSESSING, RequestStatus.ACCEPTED,
                       RequestStatus.SCHEDULED)


class NursingRequest(models.Model):
    Status = RequestStatus
    TRANSITIONS = {
        RequestStatus.REQUESTED: {RequestStatus.ASSESSING, RequestStatus.CANCELLED},
        # An assessor may hand the request back (released), decide, or the patient cancels meanwhile.
        RequestStatus.ASSESSING: {RequestStatus.REQUESTED, RequestStatus.ACCEPTED, RequestStatus.DECLINED,
                                  RequestStatus.CANCELLED},
        RequestStatus.ACCEPTED: {RequestStatus.SCHEDULED, RequestStatus.CANCELLED},
        # A dispatcher may take a scheduled visit off a nurse (back to accepted) to assign it again.
        RequestStatus.SCHEDULED: {RequestStatus.ACCEPTED, RequestStatus.EN_ROUTE, RequestStatus.CANCELLED},
        RequestStatus.EN_ROUTE: {RequestStatus.IN_SERVICE, RequestStatus.SCHEDULED, RequestStatus.CANCELLED},
        RequestStatus.IN_SERVICE: {RequestStatus.COMPLETED},
    }

    number = models.CharField(max_length=24, unique=True)
    patient = models.ForeignKey(PatientProfile, on_delete=models.PROTECT, related_name="nursing_requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    service = models.ForeignKey(NursingService, on_delete=models.PROTECT, related_name="requests")
    group = models.CharField(_("eligible as"), max_length=20, choices=EligibleGroup.choices)
    # Where: the address as typed, and where the geocoder put it.
    address = models.CharField(_("address"), max_length=200)
    address_detail = models.CharField(_("building, floor, door"), max_length=100, blank=True)
    latitude = models.FloatField()
    longitude = models.FloatField()
    geocoded_as = models.CharField(max_length=200, blank=True)
    contact_name = models.CharField(_("contact"), max_length=64)
    contact_phone = models.CharField(_("contact's mobile"), max_length=20)
    # When the patient would like the nurse: a day and a window in which the visit should start.
    preferred_date = models.DateField(_("preferred date"))
    window_start = models.TimeField(_("from"))
    window_end = models.TimeField(_("until"))
    condition_note = models.TextField(_("what the nurse should know"), blank=True)
    documents = models.ManyToManyField(Document, blank=True, related_name="+")
    # Informed consent to home nursing: the text's version the patient (or proxy) agreed to, and when.
    consent_version = models.CharField(max_length=16)
    consented_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=RequestStatus.choices, default=RequestStatus.REQUESTED)
    status_reason = models.TextField(blank=True)
    # The price: the service, plus the consumables the assessor chose. Charged after the visit.
    price_fen = models.PositiveIntegerField(default=0)
    consumables_fen = models.PositiveIntegerField(default=0)
    charge_id = models.BigIntegerField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    # The request a nurse suggested this one as a follow-up of.
    follow_up_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = NeverDeletedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "preferred_date"]), models.Index(fields=["patient", "status"])]
        constraints = [
            models.CheckConstraint(condition=Q(window_end__gt=models.F("window_start")),
                                   name="request_window_ends_after_start"),
            # A double tap (or the patient and a relative at once) books one visit of a service per day.
            models.UniqueConstraint(
                fields=["patient", "service", "preferred_date"],
                condition=Q(status__in=["requested", "assessing", "accepted", "scheduled", "en_route", "in_service"]),
                name="one_open_request_per_service_day",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} ({self.status})"

    def delete(self, *args, **kwargs):
        raise TypeError("nursing requests are never deleted; they are cancelled or declined")

    @property
    def total_fen(self) -> int:
        return self.price_fen + self.consumables_fen

    @property
    def charge_reference(self) -> str:
        return f"homecare:{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_REQUEST_STATUSES


class Risk(models.TextChoices):
    LOW = "low", _("low")
    MEDIUM = "medium", _("medium")
    HIGH = "high", _("high")


class Assessment(models.Model):
    """A qualified nurse's assessment before acceptance (the hospital decides, not the booking form)."""

    request = models.OneToOneField(NursingRequest, on_delete=models.PROTECT, related_name="assessment")
    nurse = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    claimed_at = models.DateTimeField(default=timezone.now)
    risk = models.CharField(max_length=8, choices=Risk.choices, blank=True)
    home_suitable = models.BooleanField(null=True)
    # What the assessor confirmed about the patient (e.g. the group's evidence was seen).
    eligibility_confirmed = models.BooleanField(default=False)
    consumables = models.JSONField(default=list, blank=True)
    two_nurses = models.BooleanField(_("first visit needs two nurses"), default=False)
    notes = models.TextField(blank=True)
    accepted = models.BooleanField(null=True)
    decline_reason = models.CharField(max_length=32, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"assessment of {self.request}"


class DeclineReason(models.TextChoices):
    NOT_ELIGIBLE = "not_eligible", _("the patient is not in a group home nursing is for")
    UNSTABLE = "unstable", _("the patient's condition needs a hospital, not a home visit")
    HOME_UNSAFE = "home_unsafe", _("the home is not a safe place for this procedure")
    NO_ORDER = "no_order", _("a doctor's order is needed first")
    OUT_OF_AREA = "out_of_area", _("outside the area we serve")
    OTHER = "other", _("other (see the note)")


class PlanStatus(models.TextChoices):
    PROPOSED = "proposed", _("proposed")
    ACCEPTED = "accepted", _("accepted")
    SUPERSEDED = "superseded", _("superseded")


class DispatchPlan(models.Model):
    """An optimiser's proposal for one day. ``routes`` is ``{nurse_user_id: [{"request": id, "start": "HH:MM",
    "end": "HH:MM", "travel": seconds}, ...]}``; ``unassigned`` is ``{request_id: reason_code}``."""

    Status = PlanStatus

    TRANSITIONS = {PlanStatus.PROPOSED: {PlanStatus.ACCEPTED, PlanStatus.SUPERSEDED}}

    day = models.DateField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=12, choices=PlanStatus.choices, default=PlanStatus.PROPOSED)
    solver = models.CharField(max_length=16)
    routes = models.JSONField(default=dict)
    unassigned = models.JSONField(default=dict)
    travel_seconds = models.PositiveIntegerField()
    greedy_travel_seconds = models.PositiveIntegerField(null=True, blank=True)
    elapsed_ms = models.PositiveIntegerField()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"plan {self.day} ({self.status})"


class NurseVisit(models.Model):
    """The visit at the home: who goes when (dispatch) and the EVV facts of what happened.

    The six EVV facts: service and recipient (the request), date and place (``day``, the request's coordinates),
    nurse (``nurse``), start and end (``checked_in_at``, ``checked_out_at``), each with where the phone was."""

    request = models.OneToOneField(NursingRequest, on_delete=models.PROTECT, related_name="visit")
    nurse = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="home_visits")
    second_nurse = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    day = models.DateField()
    planned_start = models.DateTimeField()
    planned_end = models.DateTimeField()
    travel_seconds = models.PositiveIntegerField(default=0)
    plan = models.ForeignKey(DispatchPlan, null=True, blank=True, on_delete=models.PROTECT, related_name="visits")
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    set_out_at = models.DateTimeField(null=True, blank=True)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    check_in_latitude = models.FloatField(null=True, blank=True)
    check_in_longitude = models.FloatField(null=True, blank=True)
    check_in_accuracy_m = models.FloatField(null=True, blank=True)
    check_in_distance_m = models.FloatField(null=True, blank=True)
    checked_out_at = models.DateTimeField(null=True, blank=True)
    check_out_latitude = models.FloatField(null=True, blank=True)
    check_out_longitude = models.FloatField(null=True, blank=True)
    check_out_accuracy_m = models.FloatField(null=True, blank=True)
    check_out_distance_m = models.FloatField(null=True, blank=True)
    # Far from the address, or no location at all: flagged for a supervisor's review, never refused.
    flagged = models.BooleanField(default=False)
    flag_reasons = models.JSONField(default=list, blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)
    # The patient (or a proxy) confirms the service was given, or disputes it.
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    disputed = models.BooleanField(default=False)
    dispute_note = models.TextField(blank=True)

    class Meta:
        ordering = ["day", "planned_start"]
        indexes = [models.Index(fields=["nurse", "day"])]
        constraints = [models.CheckConstraint(condition=Q(planned_end__gt=models.F("planned_start")),
                                              name="visit_ends_after_start")]

    def __str__(self) -> str:
        return f"{self.request.number} · {self.nurse} · {self.day}"


class CareRecord(models.Model):
    """What the nurse did and saw. Editable by the nurse until check-out; after that only by a ``Correction``.
    ``vitals``: ``{"systolic": 132, "diastolic": 84, "pulse": 76, "temperature": 36.6, "spo2": 97, "glucose": 6.1,
    "pain": 2}``; ``consumables_used``: ``[{"code": ..., "qty": 1}]``."""

    visit = models.OneToOneField(NurseVisit, on_delete=models.PROTECT, related_name="care_record")
    vitals = models.JSONField(default=dict, blank=True)
    procedure_notes = models.TextField()
    consumables_used = models.JSONField(default=list, blank=True)
    photos = models.ManyToManyField(Document, blank=True, related_name="+")
    # The nurse's suggestion of a next visit (e.g. dressing change in 3 days); the patient books it in one tap.
    next_service = models.ForeignKey(NursingService, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    next_in_days = models.PositiveSmallIntegerField(null=True, blank=True)
    next_note = models.CharField(max_length=200, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(auto_now=True)
    version = models.PositiveSmallIntegerField(default=1)

    def __str__(self) -> str:
        return f"care record of visit {self.visit_id} v{self.version}"


class CorrectionStatus(models.TextChoices):
    PENDING = "pending", _("waiting for approval")
    APPROVED = "approved", _("approved")
    REJECTED = "rejected", _("rejected")


class Correction(models.Model):
    """A change to a closed care record: the fields as proposed, a reason, and a supervisor's decision.
    ``before`` keeps what the record said, so the history is never lost."""

    Status = CorrectionStatus
    TRANSITIONS = {CorrectionStatus.PENDING: {CorrectionStatus.APPROVED, CorrectionStatus.REJECTED}}

    record = models.ForeignKey(CareRecord, on_delete=models.PROTECT, related_name="corrections")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    reason = models.TextField()
    changes = models.JSONField()
    before = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=CorrectionStatus.choices, default=CorrectionStatus.PENDING)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"correction {self.pk} ({self.status})"


class AlarmKind(models.TextChoices):
    PANIC = "panic", _("the nurse pressed the alarm")
    OVERRUN = "overrun", _("the visit is running far past its expected end")


class AlarmStatus(models.TextChoices):
    RAISED = "raised", _("raised")
    ACKNOWLEDGED = "acknowledged", _("acknowledged")
    RESOLVED = "resolved", _("resolved")


class Alarm(models.Model):
    Status = AlarmStatus

    TRANSITIONS = {
        AlarmStatus.RAISED: {AlarmStatus.ACKNOWLEDGED, AlarmStatus.RESOLVED},
        AlarmStatus.ACKNOWLEDGED: {AlarmStatus.RESOLVED},
    }

    kind = models.CharField(max_length=10, choices=AlarmKind.choices)
    nurse = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="home_alarms")
    visit = models.ForeignKey(NurseVisit, null=True, blank=True, on_delete=models.PROTECT, related_name="alarms")
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    accuracy_m = models.FloatField(null=True, blank=True)
    raised_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=14, choices=AlarmStatus.choices, default=AlarmStatus.RAISED)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="+")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)
    repeats = models.PositiveSmallIntegerField(default=0)

    objects = NeverDeletedQuerySet.as_manager()

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            # A check-on-nurse alert is raised once per visit, however often the task runs.
            models.UniqueConstraint(fields=["visit", "kind"], condition=Q(kind="overrun"),
                                    name="one_overrun_alarm_per_visit"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} alarm of {self.nurse_id} ({self.status})"

    def delete(self, *args, **kwargs):
        raise TypeError("alarms are never deleted")


class Rating(models.Model):
    request = models.OneToOneField(NursingRequest, on_delete=models.PROTECT, related_name="rating")
    stars = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    rated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    rated_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(stars__gte=1, stars__lte=5), name="rating_one_to_five")]

    def __str__(self) -> str:
        return f"{self.stars}★ for {self.request_id}"
