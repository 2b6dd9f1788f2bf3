"""Facilities, departments and practitioners, with the qualification rules for online and home practice."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _


class BilingualName(models.Model):
    name_zh = models.CharField(_("name (Chinese)"), max_length=128)
    name_en = models.CharField(_("name (English)"), max_length=128)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return self.name_en if (get_language() or "").startswith("en") else self.name_zh


class FacilityKind(models.TextChoices):
    HOME = "home", _("home hospital")
    PARTNER = "partner", _("partner facility")


class Facility(BilingualName):
    code = models.SlugField(max_length=32, unique=True)
    kind = models.CharField(max_length=16, choices=FacilityKind.choices)
    level = models.CharField(_("grade"), max_length=32, blank=True, help_text="e.g. 三级甲等")
    city = models.CharField(max_length=64, blank=True)
    address = models.CharField(max_length=255, blank=True)
    phone = models.CharField(max_length=32, blank=True)

    class Meta:
        verbose_name = _("facility")
        verbose_name_plural = _("facilities")
        constraints = [
            # One deployment serves one hospital group: exactly one home hospital.
            models.UniqueConstraint(fields=["kind"], condition=models.Q(kind="home"), name="one_home_facility"),
        ]


class Department(BilingualName):
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="departments")
    code = models.SlugField(max_length=32)
    offers_online_visits = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        constraints = [models.UniqueConstraint(fields=["facility", "code"], name="department_code_per_facility")]


class Profession(models.TextChoices):
    DOCTOR = "doctor", _("doctor")
    NURSE = "nurse", _("nurse")
    PHARMACIST = "pharmacist", _("pharmacist")
    TECHNICIAN = "technician", _("technician")


class Title(models.TextChoices):
    """Professional titles (职称) in ascending rank within each profession."""

    # doctors
    RESIDENT = "resident", _("Resident physician (住院医师)")
    ATTENDING = "attending", _("Attending physician (主治医师)")
    ASSOC_CHIEF = "assoc_chief", _("Associate chief physician (副主任医师)")
    CHIEF = "chief", _("Chief physician (主任医师)")
    # nurses
    NURSE = "nurse", _("Nurse (护士)")
    NURSE_PRACTITIONER = "nurse_practitioner", _("Nurse practitioner (护师)")
    SUPERVISOR_NURSE = "supervisor_nurse", _("Supervisor nurse (主管护师)")
    ASSOC_CHIEF_NURSE = "assoc_chief_nurse", _("Associate chief nurse (副主任护师)")
    CHIEF_NURSE = "chief_nurse", _("Chief nurse (主任护师)")
    # pharmacists and technicians
    PHARMACIST = "pharmacist", _("Pharmacist (药师)")
    SUPERVISOR_PHARMACIST = "supervisor_pharmacist", _("Supervisor pharmacist (主管药师)")
    TECHNICIAN = "technician", _("Technician (技师)")
    SUPERVISOR_TECHNICIAN = "supervisor_technician", _("Supervisor technician (主管技师)")


NURSE_TITLE_RANK = {
    Title.NURSE: 1,
    Title.NURSE_PRACTITIONER: 2,
    Title.SUPERVISOR_NURSE: 3,
    Title.ASSOC_CHIEF_NURSE: 4,
    Title.CHIEF_NURSE: 5,
}
TITLES_BY_PROFESSION = {
    Profession.DOCTOR: {Title.RESIDENT, Title.ATTENDING, Title.ASSOC_CHIEF, Title.CHIEF},
    Profession.NURSE: set(NURSE_TITLE_RANK),
    Profession.PHARMACIST: {Title.PHARMACIST, Title.SUPERVISOR_PHARMACIST},
    Profession.TECHNICIAN: {Title.TECHNICIAN, Title.SUPERVISOR_TECHNICIAN},
}


class Practitioner(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="practitioner")
    facility = models.ForeignKey(Facility, on_delete=models.PROTECT, related_name="practitioners")
    departments = models.ManyToManyField(Department, related_name="practitioners", blank=True)
    profession = models.CharField(max_length=16, choices=Profession.choices)
    licence_no = models.CharField(_("practising licence number"), max_length=32, unique=True)
    title = models.CharField(_("professional title"), max_length=32, choices=Title.choices)
    specialties = models.JSONField(default=list, blank=True)
    independent_practice_since = models.DateField(_("independent practice since"))
    bio = models.TextField(blank=True)
    verified_at = models.DateTimeField(_("licence verified at"), null=True, blank=True)

    class Meta:
        verbose_name = _("practitioner")
        verbose_name_plural = _("practitioners")

    def __str__(self) -> str:
        return f"{self.user.real_name} · {self.get_title_display()}"

    def years_of_practice(self, on: date | None = None) -> int:
        on = on or timezone.localdate()
        start = self.independent_practice_since
        return on.year - start.year - ((on.month, on.day) < (start.month, start.day))

    def online_practice_refusal(self, on: date | None = None) -> str | None:
        """Why this practitioner may not hold online visits, or None. (3+ years of independent practice.)"""
        if self.profession != Profession.DOCTOR:
            return "not_a_doctor"
        if self.verified_at is None:
            return "licence_not_verified"
        if self.years_of_practice(on) < settings.ONLINE_DOCTOR_MIN_YEARS:
            return "too_few_years"
        return None

    def can_practise_online(self, on: date | None = None) -> bool:
        return self.online_practice_refusal(on) is None

    def home_nursing_refusal(self, on: date | None = None) -> str | None:
        """Why this practitioner may not nurse at homes, or None. (5+ years and the title 护师 or higher.)"""
        if self.profession != Profession.NURSE:
            return "not_a_nurse"
        if self.verified_at is None:
            return "licence_not_verified"
        if self.years_of_practice(on) < settings.HOME_NURSE_MIN_YEARS:
            return "too_few_years"
        if NURSE_TITLE_RANK.get(self.title, 0) < NURSE_TITLE_RANK[Title.NURSE_PRACTITIONER]:
            return "title_too_low"
        return None

    def can_nurse_at_home(self, on: date | None = None) -> bool:
        return self.home_nursing_refusal(on) is None


class Qualification(models.Model):
    """A certificate on file (practice certificate, specialty training), checked by the hospital."""

    practitioner = models.ForeignKey(Practitioner, on_delete=models.CASCADE, related_name="qualifications")
    kind = models.CharField(max_length=64)
    number = models.CharField(max_length=64, blank=True)
    issued_on = models.DateField(null=True, blank=True)
    expires_on = models.DateField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.number}".strip()

    def is_valid(self, on: date | None = None) -> bool:
        on = on or timezone.localdate()
        return self.verified_at is not None and (self.expires_on is None or self.expires_on >= on)
