"""What the home-nursing browser fixtures share: the home hospital's department, clinicians with their licence,
a home-care nurse's profile, the fixture key's check. Idempotent: the same key gives the same rows."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.core.management.base import CommandError
from django.utils import timezone

from ihospital.accounts.models import User
from ihospital.directory import services as directory
from ihospital.directory.models import Department, Facility, FacilityKind, Practitioner
from ihospital.prescriptions.management.commands.e2e_prescription_fixture import _digits, _staff

from .. import catalogue
from ..models import NurseProfile, NursingService


def start(key: str) -> None:
    """Refuse in production and odd keys; make sure the catalogue is there."""
    if not settings.DEMO_ENABLED:
        raise CommandError("Demo and test fixtures are disabled in production (IHOSPITAL_DEPLOYMENT=production).")
    if not key.replace("-", "").replace("_", "").isalnum() or len(key) > 16:
        raise CommandError("--key: letters, digits, - and _ only, at most 16 characters")
    if not NursingService.objects.exists():
        catalogue.load()


def years_ago(years: int, month: int = 1, day: int = 1) -> date:
    today = timezone.localdate()
    return date(today.year - years, month, day)


def department(code: str, name_zh: str, name_en: str) -> Department:
    facility = (
        Facility.objects.filter(kind=FacilityKind.HOME).first()
        or Facility.objects.create(code="demo-home", name_zh="汾河医科大学第一医院（演示）",
                                   name_en="First Hospital of Fenhe Medical University (demo)",
                                   kind=FacilityKind.HOME, city="太原")
    )
    row, _created = Department.objects.get_or_create(facility=facility, code=code[:32],
                                                     defaults={"name_zh": name_zh, "name_en": name_en})
    return row


def clinician(key: str, *, scope: str, prefix: str, name: str, role: str, profession: str, title: str, years: int,
              dept: Department):
    """(user, TOTP device) of a verified clinician ``e2e.<scope>.<prefix>.<key>`` in ``dept``."""
    user, device = _staff(f"e2e.{scope}.{prefix}.{key}", name, role, f"E2E-{scope.upper()}{prefix.upper()}-{key}")
    if not Practitioner.objects.filter(user=user).exists():
        directory.register_practitioner(
            user=user, facility=dept.facility, profession=profession,
            licence_no=f"{scope.upper()}{prefix.upper()}{_digits(key, prefix, 10)}"[:32], title=title,
            independent_practice_since=years_ago(years), departments=[dept])
    return user, device


def nurse_profile(key: str, nurse: User, *, skills: list[str]) -> NurseProfile:
    """Starts from the hospital, with a work mobile of its own."""
    profile, _created = NurseProfile.objects.get_or_create(user=nurse, defaults={
        "skills": skills, "base_label": "医院护理部",
        "base_latitude": settings.HOMECARE_BASE_LATITUDE, "base_longitude": settings.HOMECARE_BASE_LONGITUDE,
        "phone": "139" + _digits(key, f"nurse-phone-{nurse.pk}", 8)})
    return profile
