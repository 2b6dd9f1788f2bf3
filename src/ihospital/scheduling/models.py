"""Online-visit availability and bookings: recurring rules, closures, the slots generated from them, appointments.

A doctor's availability is kept as *rules* (every Monday 08:00–12:00, 15-minute slots, 2 patients per slot,
video), never as hand-made copies. Slots are materialised from the active rules for the booking horizon
(``generation.generate_slots``), skipping closures. Rules are in the hospital's local time (``TIME_ZONE``);
slots are stored in UTC.

The database holds the invariants that concurrency could break: a slot's ``booked`` count stays between 0 and
its capacity (a ``CheckConstraint``; bookings take capacity with one conditional ``UPDATE``), a practitioner
has one slot per start time, and a patient holds at most one live booking of a slot.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import PatientProfile
from ihospital.directory.models import Department, Practitioner

MIN_SLOT_MINUTES = 5
MAX_SLOT_MINUTES = 120
MIN_CAPACITY = 1
MAX_CAPACITY = 50


class VisitMode(models.TextChoices):
    TEXT = "text", _("text")
    VIDEO = "video", _("video")


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class AvailabilityRule(models.Model):
    """A recurring block of online-visit availability, in the hospital's local time.

    Retired, never deleted: slots and appointments made from it keep pointing at it.
    """

    practitioner = models.ForeignKey(Practitioner, on_delete=models.PROTECT, related_name="availability_rules")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    start_time = models.TimeField(_("from"))
    end_time = models.TimeField(_("until"))
    slot_minutes = models.PositiveSmallIntegerField(_("slot length (minutes)"))
    capacity = models.PositiveSmallIntegerField(_("patients per slot"))
    mode = models.CharField(_("visit mode"), max_length=8, choices=VisitMode.choices)
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # The last local day whose slots have been generated from this rule (generation.generate_slots).
    generated_until = models.DateField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("availability rule")
        verbose_name_plural = _("availability rules")
        ordering = ["practitioner_id", "weekday", "start_time"]
        indexes = [models.Index(fields=["practitioner", "weekday", "active"])]
        constraints = [
            models.CheckConstraint(condition=Q(weekday__gte=0, weekday__lte=6), name="rule_weekday_0_6"),
            models.CheckConstraint(condition=Q(end_time__gt=F("start_time")), name="rule_ends_after_start"),
            models.CheckConstraint(
                condition=Q(slot_minutes__gte=MIN_SLOT_MINUTES, slot_minutes__lte=MAX_SLOT_MINUTES),
                name="rule_slot_minutes_5_120",
            ),
            models.CheckConstraint(
                condition=Q(capacity__gte=MIN_CAPACITY, capacity__lte=MAX_CAPACITY), name="rule_capacity_1_50"
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=F("valid_from")),
                name="rule_valid_until_after_from",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.practitioner_id} {self.get_weekday_display()} {self.start_time:%H:%M}–{self.end_time:%H:%M} "
            f"/{self.slot_minutes}min ×{self.capacity} {self.mode}"
        )


class Closure(models.Model):
    """A holiday or one-off closure. No practitioner: the whole hospital (a public holiday). No times: all day."""

    practitioner = models.ForeignKey(
        Practitioner, null=True, blank=True, on_delete=models.PROTECT, related_name="closures"
    )
    date = models.DateField(_("date"))
    start_time = models.TimeField(_("from"), null=True, blank=True)
    end_time = models.TimeField(_("until"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=255)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("closure")
        verbose_name_plural = _("closures")
        ordering = ["date", "start_time"]
        indexes = [models.Index(fields=["date"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(start_time__isnull=True, end_time__isnull=True)
                | Q(start_time__isnull=False, end_time__isnull=False, end_time__gt=F("start_time")),
                name="closure_whole_day_or_time_range",
            ),
        ]

    def __str__(self) -> str:
        who = self.practitioner_id or "hospital"
        when = f"{self.start_time:%H:%M}–{self.end_time:%H:%M}" if self.start_time else "all day"
        return f"{self.date} {when} ({who}): {self.reason}"

    @property
    def whole_day(self) -> bool:
        return self.start_time is None


class SlotStatus(models.TextChoices):
    OPEN = "open", _("open")
    CLOSED = "closed", _("closed")


class Slot(models.Model):
    """One bookable time with a capacity. ``booked`` only moves through conditional updates in the services."""

    rule = models.ForeignKey(AvailabilityRule, null=True, blank=True, on_delete=models.PROTECT, related_name="slots")
    practitioner = models.ForeignKey(Practitioner, on_delete=models.PROTECT, related_name="slots")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    mode = models.CharField(max_length=8, choices=VisitMode.choices)
    capacity = models.PositiveSmallIntegerField()
    booked = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=8, choices=SlotStatus.choices, default=SlotStatus.OPEN)

    class Meta:
        verbose_name = _("slot")
        verbose_name_plural = _("slots")
        ordering = ["starts_at", "practitioner_id"]
        indexes = [
            models.Index(fields=["starts_at", "status"]),
            models.Index(fields=["department", "starts_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(booked__gte=0, booked__lte=F("capacity")), name="slot_booked_within_capacity"
            ),
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="slot_ends_after_start"),
            models.UniqueConstraint(fields=["practitioner", "starts_at"], name="slot_one_per_practitioner_start"),
        ]

    def __str__(self) -> str:
        return f"{self.practitioner_id} {self.starts_at:%Y-%m-%d %H:%M}Z {self.mode} {self.booked}/{self.capacity}"

    @property
    def free(self) -> int:
        return max(self.capacity - self.booked, 0)


class AppointmentStatus(models.TextChoices):
    BOOKED = "booked", _("booked")
    CANCELLED = "cancelled", _("cancelled")
    COMPLETED = "completed", _("completed")
    NO_SHOW = "no_show", _("no-show")


class Appointment(models.Model):
    """A patient's place in a slot, booked by the patient or their proxy. Cancelled, never deleted."""

    Status = AppointmentStatus
    TRANSITIONS = {
        AppointmentStatus.BOOKED: {
            AppointmentStatus.CANCELLED,
            AppointmentStatus.COMPLETED,
            AppointmentStatus.NO_SHOW,
        },
    }

    slot = models.ForeignKey(Slot, on_delete=models.PROTECT, related_name="appointments")
    patient = models.ForeignKey(PatientProfile, on_delete=models.PROTECT, related_name="appointments")
    booked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=AppointmentStatus.choices, default=AppointmentStatus.BOOKED)
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cancelled_reason = models.CharField(max_length=255, blank=True)
    rescheduled_from = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="rescheduled_to"
    )
    # How many times the patient moved this booking (counted along the chain from the original booking).
    reschedule_count = models.PositiveSmallIntegerField(default=0)

    class Meta:
        verbose_name = _("appointment")
        verbose_name_plural = _("appointments")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["patient", "status"])]
        constraints = [
            models.UniqueConstraint(
                fields=["slot", "patient"],
                condition=Q(status="booked"),
                name="appointment_one_booked_per_slot_patient",
            ),
        ]

    def __str__(self) -> str:
        return f"appointment {self.pk} of patient {self.patient_id} in slot {self.slot_id} ({self.status})"
