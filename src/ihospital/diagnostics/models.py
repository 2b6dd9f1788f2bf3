"""Medical tests: the catalogue (lab tests with analytes and reference ranges; imaging and functional exams with
their preparation), the resources exams run on and their bookable slots, orders, results and imaging studies.

An order's workflow is one ``TRANSITIONS`` table (``DiagnosticOrder``). Money is in fen. Nothing clinical is deleted:
orders are cancelled, results are corrected by a new version, studies are marked entered in error.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import PatientProfile
from ihospital.core.i18n import bilingual
from ihospital.core.models import NeverDeletedQuerySet
from ihospital.directory.models import Practitioner


class DiagnosticKind(models.TextChoices):
    LAB = "lab", _("laboratory test")
    IMAGING = "imaging", _("imaging")
    FUNCTIONAL = "functional", _("functional exam")


class Modality(models.TextChoices):
    """DICOM modality codes (PS3.3 C.7.3.1.1.1) of the exams we book; lab tests have none."""

    NONE = "", _("none")
    CR = "CR", _("X-ray (computed radiography)")
    DX = "DX", _("X-ray (digital radiography)")
    CT = "CT", _("CT")
    MR = "MR", _("MRI")
    US = "US", _("ultrasound")
    ECG = "ECG", _("electrocardiogram")
    RF = "RF", _("fluoroscopy (barium studies)")


class Specimen(models.TextChoices):
    NONE = "", _("none")
    VENOUS_BLOOD = "venous_blood", _("venous blood")
    URINE = "urine", _("urine")
    STOOL = "stool", _("stool")


class DiagnosticTest(models.Model):
    """One orderable test or exam. A lab panel lists its analytes; an exam has a modality and preparation.

    ``preparation`` holds the rules booking enforces: ``{"fasting_hours": 8, "morning_only": true,
    "full_bladder": true, "contrast": true, "not_same_day_after": ["barium_meal"]}``."""

    code = models.SlugField(max_length=32, unique=True)
    kind = models.CharField(max_length=12, choices=DiagnosticKind.choices)
    name_zh = models.CharField(_("name (Chinese)"), max_length=64)
    name_en = models.CharField(_("name (English)"), max_length=96)
    loinc = models.CharField(_("LOINC code"), max_length=16, blank=True)
    specimen = models.CharField(max_length=16, choices=Specimen.choices, blank=True)
    modality = models.CharField(max_length=4, choices=Modality.choices, blank=True)
    body_part = models.CharField(max_length=32, blank=True)
    preparation_zh = models.TextField(_("preparation (Chinese)"), blank=True)
    preparation_en = models.TextField(_("preparation (English)"), blank=True)
    preparation = models.JSONField(default=dict, blank=True)
    duration_minutes = models.PositiveSmallIntegerField(_("duration (minutes)"), default=10)
    turnaround_hours = models.PositiveSmallIntegerField(_("results within (hours)"), default=24)
    price_fen = models.PositiveIntegerField(_("price (fen)"))
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["kind", "position", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(kind="lab") | ~Q(modality=""), name="exam_has_modality"),
            models.CheckConstraint(condition=~Q(kind="lab") | ~Q(specimen=""), name="lab_test_has_specimen"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return bilingual(self, "name")

    @property
    def preparation_text(self) -> str:
        return bilingual(self, "preparation")

    @property
    def needs_contrast(self) -> bool:
        return bool(self.preparation.get("contrast"))


class Analyte(models.Model):
    """One value a lab test reports (haemoglobin in a blood count), with its unit (UCUM) and LOINC code."""

    test = models.ForeignKey(DiagnosticTest, on_delete=models.PROTECT, related_name="analytes")
    code = models.SlugField(max_length=32)
    loinc = models.CharField(max_length=16, blank=True)
    name_zh = models.CharField(max_length=64)
    name_en = models.CharField(max_length=96)
    unit = models.CharField(max_length=24, blank=True)
    decimals = models.PositiveSmallIntegerField(default=1)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["test", "position"]
        constraints = [models.UniqueConstraint(fields=["test", "code"], name="analyte_code_once_per_test")]

    def __str__(self) -> str:
        return f"{self.test.code}/{self.code}"

    @property
    def name(self) -> str:
        return bilingual(self, "name")


class ReferenceRange(models.Model):
    """The normal range of an analyte for a sex (blank: both) and an age band (years, ``age_max`` exclusive), and
    the critical limits beyond which the ordering doctor is alerted at once. Any bound may be absent."""

    analyte = models.ForeignKey(Analyte, on_delete=models.PROTECT, related_name="ranges")
    sex = models.CharField(max_length=1, blank=True, choices=[("", _("both")), ("F", _("female")), ("M", _("male"))])
    age_min = models.PositiveSmallIntegerField(default=0)
    age_max = models.PositiveSmallIntegerField(default=200)
    low = models.DecimalField(max_digits=10, decimal_places=3, null=True, blank=True)
    high = models.DecimalField(max_digits=10, decimal_places=3, null=True, blank=True)
    critical_low = models.DecimalField(max_digits=10, decimal_places=3, null=True, blank=True)
    critical_high = models.DecimalField(max_digits=10, decimal_places=3, null=True, blank=True)

    class Meta:
        ordering = ["analyte", "sex", "age_min"]
        constraints = [models.CheckConstraint(condition=Q(age_max__gt=F("age_min")), name="range_age_band")]

    def __str__(self) -> str:
        return f"{self.analyte} {self.sex or '*'} {self.age_min}-{self.age_max}: {self.low}-{self.high}"


class Resource(models.Model):
    """Where exams run, each with its own schedule and capacity: a CT scanner, an ultrasound room, the blood-draw
    station. ``hours`` is ``{"0": [["08:00", "12:00"], ["14:00", "17:00"]], ...}`` by weekday (0 = Monday)."""

    code = models.SlugField(max_length=32, unique=True)
    name_zh = models.CharField(max_length=64)
    name_en = models.CharField(max_length=96)
    location_zh = models.CharField(max_length=128, blank=True)
    location_en = models.CharField(max_length=128, blank=True)
    tests = models.ManyToManyField(DiagnosticTest, related_name="resources")
    slot_minutes = models.PositiveSmallIntegerField(default=15)
    capacity = models.PositiveSmallIntegerField(default=1, help_text=_("patients per slot"))
    hours = models.JSONField(default=dict)
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return bilingual(self, "name")


class ResourceSlot(models.Model):
    """One bookable time on a resource. ``booked`` only moves through conditional updates (never overbooked)."""

    resource = models.ForeignKey(Resource, on_delete=models.PROTECT, related_name="slots")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    capacity = models.PositiveSmallIntegerField()
    booked = models.PositiveSmallIntegerField(default=0)
    closed = models.BooleanField(default=False)

    class Meta:
        ordering = ["starts_at", "resource_id"]
        indexes = [models.Index(fields=["resource", "starts_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(booked__gte=0, booked__lte=F("capacity")),
                                   name="resource_slot_within_capacity"),
            models.CheckConstraint(condition=Q(ends_at__gt=F("starts_at")), name="resource_slot_ends_after_start"),
            models.UniqueConstraint(fields=["resource", "starts_at"], name="one_slot_per_resource_time"),
        ]

    def __str__(self) -> str:
        return f"{self.resource.code} {self.starts_at:%Y-%m-%d %H:%M}"


class OrderStatus(models.TextChoices):
    ORDERED = "ordered", _("ordered, to be booked")
    BOOKED = "booked", _("booked")
    CHECKED_IN = "checked_in", _("checked in")
    COLLECTED = "collected", _("specimen collected or exam done")
    RESULTED = "resulted", _("result waiting for the doctor's sign-off")
    RELEASED = "released", _("result released")
    CANCELLED = "cancelled", _("cancelled")


class DiagnosticOrder(models.Model):
    """One test ordered for a patient by a doctor, for a clinical reason, during an online visit or at an
    in-person encounter on the chart."""

    Status = OrderStatus
    TRANSITIONS = {
        OrderStatus.ORDERED: {OrderStatus.BOOKED, OrderStatus.CANCELLED},
        # Rescheduling keeps "booked" (the booking row changes); cancelling the booking goes back to "ordered".
        OrderStatus.BOOKED: {OrderStatus.ORDERED, OrderStatus.CHECKED_IN, OrderStatus.CANCELLED},
        OrderStatus.CHECKED_IN: {OrderStatus.COLLECTED, OrderStatus.CANCELLED},
        OrderStatus.COLLECTED: {OrderStatus.RESULTED},
        OrderStatus.RESULTED: {OrderStatus.RELEASED},
    }

    number = models.CharField(max_length=24, unique=True)
    patient = models.ForeignKey(PatientProfile, on_delete=models.PROTECT, related_name="test_orders")
    test = models.ForeignKey(DiagnosticTest, on_delete=models.PROTECT, related_name="orders")
    doctor = models.ForeignKey(Practitioner, on_delete=models.PROTECT, related_name="test_orders")
    visit = models.ForeignKey("visits.Visit", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    encounter = models.ForeignKey("records.Encounter", null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+")
    reason = models.TextField(_("clinical reason"))
    # Contrast exams: the answers to the safety questions, asked before ordering.
    safety = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=OrderStatus.choices, default=OrderStatus.ORDERED)
    status_reason = models.TextField(blank=True)
    price_fen = models.PositiveIntegerField()
    ordered_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")

    objects = NeverDeletedQuerySet.as_manager()

    class Meta:
        ordering = ["-ordered_at"]
        indexes = [models.Index(fields=["patient", "status"]), models.Index(fields=["status", "ordered_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(visit__isnull=False) | Q(encounter__isnull=False),
                                   name="test_order_has_a_context"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.test.code} ({self.status})"

    def delete(self, *args, **kwargs):
        raise TypeError("test orders are never deleted; they are cancelled")

    @property
    def live_booking(self) -> Booking | None:
        """The booking that is not cancelled, or None (``models.live_booking``)."""
        return live_booking(self)


class BookingQuerySet(NeverDeletedQuerySet):
    def live(self) -> BookingQuerySet:
        """Bookings not cancelled (at most one per order)."""
        return self.filter(cancelled_at__isnull=True)


class Booking(models.Model):
    """The slot an order is booked into. A reschedule moves the live booking (the slot counters change by
    conditional updates, in one transaction); a cancelled booking stays, with ``cancelled_at``, and the order may be
    booked again: a new row. At most one live (not cancelled) booking per order, held by the database.

    ``reschedules`` counts the order's moves so far, across its bookings: each reschedule, and each cancel followed
    by a new booking (a new booking starts from the cancelled one's count plus one), so cancelling and booking
    again cannot get round ``booking.MAX_RESCHEDULES``."""

    order = models.ForeignKey(DiagnosticOrder, on_delete=models.PROTECT, related_name="bookings")
    slot = models.ForeignKey(ResourceSlot, on_delete=models.PROTECT, related_name="bookings")
    booked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    booked_at = models.DateTimeField(auto_now=True)
    reschedules = models.PositiveSmallIntegerField(default=0)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    cancel_reason = models.TextField(blank=True)

    objects = BookingQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order"], condition=Q(cancelled_at__isnull=True),
                                    name="diagnostics_one_live_booking_per_order"),
        ]

    def __str__(self) -> str:
        return f"{self.order.number} @ {self.slot}" + (" (cancelled)" if self.cancelled_at else "")

    def delete(self, *args, **kwargs):
        raise TypeError("bookings are never deleted; they are cancelled")


def live_booking(order: DiagnosticOrder | int) -> Booking | None:
    """The order's booking that is not cancelled, with its slot and resource, or None."""
    order_id = order if isinstance(order, int) else order.pk
    return Booking.objects.live().select_related("slot__resource").filter(order_id=order_id).first()


class Flag(models.TextChoices):
    NORMAL = "N", _("normal")
    LOW = "L", _("low")
    HIGH = "H", _("high")
    CRITICAL_LOW = "LL", _("critically low")
    CRITICAL_HIGH = "HH", _("critically high")
    ABNORMAL = "A", _("abnormal")


class Observation(models.Model):
    """One reported value of an order's analyte, flagged against the patient's reference range. A correction is
    a new row with a higher ``version``; the earlier one stays."""

    order = models.ForeignKey(DiagnosticOrder, on_delete=models.PROTECT, related_name="observations")
    analyte = models.ForeignKey(Analyte, on_delete=models.PROTECT, related_name="+")
    value = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    text = models.CharField(max_length=200, blank=True)
    unit = models.CharField(max_length=24, blank=True)
    flag = models.CharField(max_length=2, choices=Flag.choices, default=Flag.NORMAL)
    reference = models.CharField(max_length=64, blank=True)
    observed_at = models.DateTimeField()
    version = models.PositiveSmallIntegerField(default=1)
    source = models.CharField(max_length=16, default="manual")  # manual | hl7 | csv
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    entered_at = models.DateTimeField(auto_now_add=True)

    objects = NeverDeletedQuerySet.as_manager()

    class Meta:
        ordering = ["order", "analyte__position", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["order", "analyte", "version"], name="observation_version_once"),
            models.CheckConstraint(condition=Q(value__isnull=False) | ~Q(text=""), name="observation_has_a_value"),
        ]

    def __str__(self) -> str:
        return f"{self.order.number} {self.analyte.code}={self.value if self.value is not None else self.text}"

    def delete(self, *args, **kwargs):
        raise TypeError("observations are never deleted; a correction is a new version")


class ImagingStudy(models.Model):
    """An imaging order's study: its DICOM Study Instance UID, the report and the images."""

    order = models.OneToOneField(DiagnosticOrder, on_delete=models.PROTECT, related_name="study")
    study_uid = models.CharField(max_length=64, unique=True)
    modality = models.CharField(max_length=4)
    study_date = models.DateField(null=True, blank=True)
    findings = models.TextField(blank=True)
    impression = models.TextField(blank=True)
    reported_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    reported_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.order.number} {self.study_uid}"


class DicomInstance(models.Model):
    """One DICOM file of a study, stored privately, with the facts the viewer needs and a rendered preview."""

    study = models.ForeignKey(ImagingStudy, on_delete=models.PROTECT, related_name="instances")
    sop_instance_uid = models.CharField(max_length=64, unique=True)
    series_uid = models.CharField(max_length=64)
    instance_number = models.IntegerField(default=0)
    storage_name = models.CharField(max_length=128, unique=True)
    sha256 = models.CharField(max_length=64)
    rows = models.PositiveIntegerField()
    columns = models.PositiveIntegerField()
    window_center = models.FloatField(null=True, blank=True)
    window_width = models.FloatField(null=True, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "series_uid", "instance_number"]

    def __str__(self) -> str:
        return self.sop_instance_uid
