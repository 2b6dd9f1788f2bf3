"""Qualification rules for online practice (doctors) and home nursing (nurses), and the directory's data rules."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from ihospital.accounts.models import Role
from ihospital.core.errors import DomainError
from ihospital.directory.models import Facility, FacilityKind, Profession, Title
from ihospital.directory.services import register_practitioner
from tests.factories import (
    DepartmentFactory,
    DoctorFactory,
    FacilityFactory,
    HomeFacilityFactory,
    NurseFactory,
    StaffUserFactory,
)
from tests.helpers import counts

pytestmark = pytest.mark.django_db

SINCE = date(2020, 3, 1)


# ---- online practice: a verified doctor with at least 3 years of independent practice --------------------


def test_doctor_with_three_years_and_verified_licence_may_practise_online():
    doctor = DoctorFactory(independent_practice_since=SINCE)
    assert doctor.years_of_practice(on=date(2023, 3, 1)) == 3
    assert doctor.can_practise_online(on=date(2023, 3, 1))
    assert doctor.online_practice_refusal(on=date(2023, 3, 1)) is None


def test_two_years_and_364_days_is_not_enough():
    doctor = DoctorFactory(independent_practice_since=SINCE)
    day_before = date(2023, 2, 28)  # 2 years and 364 days
    assert (day_before - SINCE).days == 3 * 365 - 1
    assert doctor.years_of_practice(on=day_before) == 2
    assert not doctor.can_practise_online(on=day_before)
    assert doctor.online_practice_refusal(on=day_before) == "too_few_years"


def test_the_rule_uses_today_by_default():
    today = timezone.localdate()
    just_enough = DoctorFactory(independent_practice_since=today - timedelta(days=3 * 366))
    not_yet = DoctorFactory(independent_practice_since=today - timedelta(days=3 * 365 - 1))
    assert just_enough.can_practise_online()
    assert not not_yet.can_practise_online()


def test_unverified_licence_is_refused():
    doctor = DoctorFactory(independent_practice_since=date(2000, 1, 1), verified_at=None)
    assert not doctor.can_practise_online()
    assert doctor.online_practice_refusal() == "licence_not_verified"


def test_a_nurse_cannot_practise_online():
    nurse = NurseFactory(independent_practice_since=date(2000, 1, 1), title=Title.CHIEF_NURSE)
    assert not nurse.can_practise_online()
    assert nurse.online_practice_refusal() == "not_a_doctor"


# ---- home nursing: 5+ years and the title 护师 (nurse practitioner) or higher ------------------------------


@pytest.mark.parametrize(
    "title",
    [Title.NURSE_PRACTITIONER, Title.SUPERVISOR_NURSE, Title.ASSOC_CHIEF_NURSE, Title.CHIEF_NURSE],
)
def test_nurse_practitioner_or_higher_with_five_years_may_nurse_at_home(title):
    nurse = NurseFactory(independent_practice_since=SINCE, title=title)
    assert nurse.can_nurse_at_home(on=date(2025, 3, 1))
    assert nurse.home_nursing_refusal(on=date(2025, 3, 1)) is None


def test_title_nurse_is_too_low_whatever_the_years():
    nurse = NurseFactory(independent_practice_since=date(1995, 1, 1), title=Title.NURSE)
    assert not nurse.can_nurse_at_home()
    assert nurse.home_nursing_refusal() == "title_too_low"


def test_four_years_is_not_enough():
    nurse = NurseFactory(independent_practice_since=SINCE, title=Title.SUPERVISOR_NURSE)
    assert nurse.years_of_practice(on=date(2025, 2, 28)) == 4
    assert not nurse.can_nurse_at_home(on=date(2025, 2, 28))
    assert nurse.home_nursing_refusal(on=date(2025, 2, 28)) == "too_few_years"


def test_unverified_nurse_and_doctors_cannot_nurse_at_home():
    assert NurseFactory(verified_at=None, independent_practice_since=date(2000, 1, 1)).home_nursing_refusal() == (
        "licence_not_verified"
    )
    assert DoctorFactory(independent_practice_since=date(2000, 1, 1)).home_nursing_refusal() == "not_a_nurse"


# ---- registering practitioners --------------------------------------------------------------------------


def _register(**overrides):
    kwargs = dict(
        profession=Profession.DOCTOR,
        licence_no="110000000001",
        title=Title.ATTENDING,
        independent_practice_since=date(2015, 7, 1),
    )
    kwargs.update(overrides)
    if "user" not in kwargs:
        kwargs["user"] = StaffUserFactory(role=Role.DOCTOR)
    if "facility" not in kwargs:
        kwargs["facility"] = HomeFacilityFactory()
    return register_practitioner(**kwargs)


def test_register_practitioner():
    department = DepartmentFactory()
    practitioner = _register(licence_no="  110000000001 ", departments=[department], specialties=["高血压"])
    assert practitioner.licence_no == "110000000001"
    assert list(practitioner.departments.all()) == [department]
    assert practitioner.verified_at is not None
    assert practitioner.can_practise_online()


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"title": Title.NURSE_PRACTITIONER}, "invalid_title"),  # a nurse's title for a doctor
        ({"profession": Profession.NURSE, "title": Title.CHIEF}, "invalid_title"),
        ({"profession": "surgeon"}, "invalid_title"),
        ({"independent_practice_since": timezone.localdate() + timedelta(days=1)}, "invalid_date"),
        ({"licence_no": "   "}, "licence_required"),
    ],
)
def test_register_practitioner_refusals(overrides, code):
    user = StaffUserFactory()
    facility = HomeFacilityFactory()
    before = counts(with_audit=True)
    with pytest.raises(DomainError) as exc:
        _register(user=user, facility=facility, **overrides)
    assert exc.value.code == code
    assert counts(with_audit=True) == before


def test_duplicate_licence_is_refused():
    _register(licence_no="110000000009")
    user = StaffUserFactory()
    before = counts(with_audit=True)
    with pytest.raises(DomainError) as exc:
        _register(user=user, licence_no="110000000009")
    assert exc.value.code == "licence_taken"
    assert counts(with_audit=True) == before


def test_unverified_registration():
    practitioner = _register(verified=False)
    assert practitioner.verified_at is None
    assert not practitioner.can_practise_online()


# ---- facilities ------------------------------------------------------------------------------------------


def test_only_one_home_facility():
    HomeFacilityFactory()
    FacilityFactory()
    FacilityFactory()  # any number of partners
    with pytest.raises(IntegrityError), transaction.atomic():
        Facility.objects.create(code="second-home", kind=FacilityKind.HOME, name_zh="另一家", name_en="Another")
    assert Facility.objects.filter(kind=FacilityKind.HOME).count() == 1


def test_department_codes_are_unique_per_facility():
    department = DepartmentFactory(code="cardio")
    DepartmentFactory(code="cardio", facility=FacilityFactory())  # same code elsewhere is fine
    with pytest.raises(IntegrityError), transaction.atomic():
        DepartmentFactory(code="cardio", facility=department.facility)


def test_bilingual_names_follow_the_language():
    from django.utils import translation

    facility = HomeFacilityFactory()
    with translation.override("en"):
        assert facility.name == "Home Hospital"
    with translation.override("zh-hans"):
        assert facility.name == "本院"


def test_directory_api_is_public(client):
    department = DepartmentFactory()
    doctor = DoctorFactory(departments=[department], independent_practice_since=date(2010, 1, 1))
    DoctorFactory(departments=[DepartmentFactory()])
    facilities = client.get("/api/directory/facilities", headers={"accept-language": "en"}).json()
    assert [f["code"] for f in facilities] == ["demo-home"]
    assert facilities[0]["name"] == "Home Hospital"
    departments = client.get("/api/directory/departments?facility=demo-home").json()
    assert department.pk in {d["id"] for d in departments}
    listed = client.get(f"/api/directory/practitioners?department_id={department.pk}").json()
    assert [p["id"] for p in listed] == [doctor.pk]
    assert listed[0]["can_practise_online"] is True
    assert listed[0]["years_of_practice"] >= 15
    assert "licence_no" not in listed[0]
