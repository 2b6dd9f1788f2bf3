"""Identities: users and their role, real-name patient profiles, staff, proxies (relatives) and consents."""

from __future__ import annotations

import hashlib
import secrets
from datetime import date

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    PATIENT = "patient", _("Patient or relative")
    DOCTOR = "doctor", _("Doctor")
    NURSE = "nurse", _("Nurse")
    PHARMACIST = "pharmacist", _("Pharmacist")
    LAB_TECH = "lab_tech", _("Lab or imaging technician")
    DISPATCHER = "dispatcher", _("Dispatcher")
    SECURITY = "security", _("Hospital security")
    COORDINATOR = "coordinator", _("Consultation coordinator")
    ADMIN = "admin", _("Hospital administrator")
    AUDITOR = "auditor", _("Auditor")


STAFF_ROLES = frozenset(r for r in Role.values if r != Role.PATIENT)
CLINICAL_ROLES = frozenset({Role.DOCTOR, Role.NURSE, Role.PHARMACIST, Role.LAB_TECH})


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, username: str, password: str | None = None, **extra):
        user = self.model(username=username, **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, username: str, password: str | None = None, **extra):
        extra.setdefault("role", Role.ADMIN)
        extra.setdefault("real_name", username)
        return self.create_user(username, password, is_staff=True, is_superuser=True, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """Everyone who signs in. Patients and relatives sign in with their mobile number, staff with a username."""

    username = models.CharField(_("username"), max_length=64, unique=True)
    real_name = models.CharField(_("real name"), max_length=64)
    phone = models.CharField(_("mobile number"), max_length=20, unique=True, null=True, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.PATIENT)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text=_("May use the admin site."))
    date_joined = models.DateTimeField(default=timezone.now)
    # Preferences remembered across devices.
    language = models.CharField(max_length=10, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE)
    elder_mode = models.BooleanField(_("elder mode"), default=False)
    # Lockout after repeated wrong passwords.
    failed_logins = models.PositiveSmallIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "username"
    REQUIRED_FIELDS = ["real_name"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return f"{self.real_name} ({self.username})"

    @property
    def is_clinical_staff(self) -> bool:
        return self.role in CLINICAL_ROLES

    @property
    def needs_second_factor(self) -> bool:
        return self.role in STAFF_ROLES

    def get_full_name(self) -> str:
        return self.real_name

    def get_short_name(self) -> str:
        return self.real_name


class Sex(models.TextChoices):
    FEMALE = "F", _("female")
    MALE = "M", _("male")


class PatientProfile(models.Model):
    """The real-name identity of a patient. Birth date and sex come from the resident ID, never typed twice."""

    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="patient")
    resident_id = models.CharField(_("resident ID number"), max_length=18, unique=True)
    birth_date = models.DateField(_("date of birth"))
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices)
    mrn = models.CharField(_("medical record number"), max_length=20, unique=True)
    verified_at = models.DateTimeField(_("real name verified at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("patient")
        verbose_name_plural = _("patients")

    def __str__(self) -> str:
        return f"{self.user.real_name} [{self.mrn}]"

    @property
    def real_name(self) -> str:
        return self.user.real_name

    def age(self, on: date | None = None) -> int:
        on = on or timezone.localdate()
        b = self.birth_date
        return on.year - b.year - ((on.month, on.day) < (b.month, b.day))

    @property
    def masked_resident_id(self) -> str:
        return f"{self.resident_id[:4]}{'*' * 10}{self.resident_id[-4:]}"


class StaffProfile(models.Model):
    """Employment facts of a staff member; clinical qualifications live in ``directory.Practitioner``."""

    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="staff_profile")
    employee_no = models.CharField(_("employee number"), max_length=32, unique=True)
    verified_at = models.DateTimeField(_("identity verified at"), null=True, blank=True)
    verified_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    def __str__(self) -> str:
        return f"{self.user.real_name} ({self.employee_no})"


class ConsentKind(models.TextChoices):
    HEALTH_DATA = "health_data", _("Processing of my health data (PIPL art. 29)")
    ONLINE_CARE = "online_care", _("Informed consent to online care")
    HOME_NURSING = "home_nursing", _("Informed consent to home nursing")
    PROXY = "proxy", _("Authorising a relative to act for me")
    RECORD_SHARING = "record_sharing", _("Sharing my record with another hospital")


# Bumped when a consent text changes; a consent records the version the person agreed to.
CONSENT_VERSIONS = {kind: "2026-11" for kind in ConsentKind.values}


class Consent(models.Model):
    """A separate, explicit consent with its text version. Withdrawal is recorded, never deleted."""

    patient = models.ForeignKey(PatientProfile, on_delete=models.PROTECT, related_name="consents")
    kind = models.CharField(max_length=20, choices=ConsentKind.choices)
    version = models.CharField(max_length=16)
    given_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    granted_at = models.DateTimeField(default=timezone.now)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    subject = models.CharField(max_length=64, blank=True, help_text="What the consent is about, e.g. proxy:12")
    ip = models.CharField(max_length=45, blank=True)

    class Meta:
        ordering = ["-granted_at"]
        indexes = [models.Index(fields=["patient", "kind"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.version})"

    @property
    def active(self) -> bool:
        return self.withdrawn_at is None


class Relationship(models.TextChoices):
    SPOUSE = "spouse", _("spouse")
    CHILD = "child", _("son or daughter")
    PARENT = "parent", _("parent")
    GUARDIAN = "guardian", _("legal guardian")
    SIBLING = "sibling", _("brother or sister")
    OTHER = "other", _("other relative")


class ProxyStatus(models.TextChoices):
    PENDING = "pending", _("waiting for the patient's consent")
    ACTIVE = "active", _("active")
    DECLINED = "declined", _("declined")
    REVOKED = "revoked", _("revoked")


class Proxy(models.Model):
    """A relative who may act for a patient. Only ``active`` grants anything, and only with a live consent."""

    Status = ProxyStatus
    TRANSITIONS = {
        ProxyStatus.PENDING: {ProxyStatus.ACTIVE, ProxyStatus.DECLINED, ProxyStatus.REVOKED},
        ProxyStatus.ACTIVE: {ProxyStatus.REVOKED},
    }

    patient = models.ForeignKey(PatientProfile, on_delete=models.PROTECT, related_name="proxies")
    proxy_user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="proxy_for")
    relationship = models.CharField(max_length=16, choices=Relationship.choices)
    status = models.CharField(max_length=16, choices=ProxyStatus.choices, default=ProxyStatus.PENDING)
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    consent = models.ForeignKey(Consent, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("proxy")
        verbose_name_plural = _("proxies")
        constraints = [
            # One live link per pair; a revoked one may be followed by a new request.
            models.UniqueConstraint(
                fields=["patient", "proxy_user"],
                condition=models.Q(status__in=["pending", "active"]),
                name="proxy_one_live_link",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.proxy_user} → {self.patient} ({self.status})"


class ApiToken(models.Model):
    """A bearer token for API clients (the mobile app). Only its hash is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=64, blank=True)
    # Staff tokens are only issued after the second factor, so the token carries that verification.
    otp_verified = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"token of {self.user} ({self.name or self.pk})"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @staticmethod
    def new_key() -> str:
        return secrets.token_urlsafe(32)
