"""factory-boy factories for the foundation apps (accounts, directory, records).

Every generated person is valid for the rules the services enforce: patients have a checksummed resident ID
whose birth date and sex agree with the profile, a mobile number in E.164 form, and (unless told otherwise)
the separate health-data consent. Staff get a username instead of a phone and, for clinicians, a
``Practitioner`` record from ``DoctorFactory``/``NurseFactory``.
"""

from __future__ import annotations

from datetime import date, timedelta

import factory
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from factory.django import DjangoModelFactory
from stdnum.cn import ric

from ihospital.accounts.models import (
    CONSENT_VERSIONS,
    Consent,
    ConsentKind,
    PatientProfile,
    Role,
    StaffProfile,
    User,
)
from ihospital.directory.models import Department, Facility, FacilityKind, Practitioner, Profession, Title

PASSWORD = "Correct-Horse-Battery-42"
REGION = "110101"  # 北京市东城区, valid for every birth year


def make_resident_id(birth_date: date, sex: str, serial: int = 0) -> str:
    """A valid 18-character resident ID. The 3-digit order code is odd for men and even for women."""
    order = (serial % 499) * 2 + (1 if sex == "M" else 2)
    body = f"{REGION}{birth_date:%Y%m%d}{order:03d}"
    return body + ric.calc_check_digit(body + "0")


def birth_date_for(n: int) -> date:
    # Spread over ~50 years so (birth date, order code) never repeats within a session.
    return date(1950, 1, 1) + timedelta(days=(n * 37) % 18000)


def mobile(n: int) -> str:
    return f"+86139{n:08d}"


class UserFactory(DjangoModelFactory):
    """A patient (or relative) account: signs in with the mobile number."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    phone = factory.Sequence(mobile)
    username = factory.LazyAttribute(lambda o: o.phone)
    real_name = factory.Sequence(lambda n: f"患者{n}")
    role = Role.PATIENT
    language = "zh-hans"
    password = factory.django.Password(PASSWORD)


class PatientFactory(DjangoModelFactory):
    """A real-name patient profile with its user and (by default) the health-data consent."""

    class Meta:
        model = PatientProfile
        skip_postgeneration_save = True

    class Params:
        sex_ = "M"

    user = factory.SubFactory(UserFactory)
    birth_date = factory.Sequence(birth_date_for)
    sex = factory.LazyAttribute(lambda o: o.sex_)
    resident_id = factory.LazyAttributeSequence(lambda o, n: make_resident_id(o.birth_date, o.sex, n))
    mrn = factory.Sequence(lambda n: f"P9{n:07d}")
    verified_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def health_data_consent(self, create, extracted, **kwargs):
        if create and extracted is not False:
            ConsentFactory(patient=self, kind=ConsentKind.HEALTH_DATA, given_by=self.user)


class ConsentFactory(DjangoModelFactory):
    class Meta:
        model = Consent

    patient = factory.SubFactory(PatientFactory, health_data_consent=False)
    kind = ConsentKind.HEALTH_DATA
    version = factory.LazyAttribute(lambda o: CONSENT_VERSIONS[o.kind])
    given_by = factory.LazyAttribute(lambda o: o.patient.user)


class StaffUserFactory(DjangoModelFactory):
    """A staff account (username, no phone). Staff need a confirmed TOTP device to sign in."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    phone = None
    real_name = factory.Sequence(lambda n: f"医务{n}")
    role = Role.DOCTOR
    password = factory.django.Password(PASSWORD)
    staff_profile = factory.RelatedFactory(
        "tests.factories.StaffProfileFactory", factory_related_name="user"
    )


class StaffProfileFactory(DjangoModelFactory):
    class Meta:
        model = StaffProfile

    user = factory.SubFactory(StaffUserFactory, staff_profile=None)
    employee_no = factory.Sequence(lambda n: f"E{n:06d}")
    verified_at = factory.LazyFunction(timezone.now)


class TOTPDeviceFactory(DjangoModelFactory):
    class Meta:
        model = TOTPDevice

    user = factory.SubFactory(StaffUserFactory)
    name = "authenticator"
    confirmed = True


class FacilityFactory(DjangoModelFactory):
    """A partner facility. Use ``HomeFacilityFactory`` for the (single) home hospital."""

    class Meta:
        model = Facility

    code = factory.Sequence(lambda n: f"partner-{n}")
    kind = FacilityKind.PARTNER
    name_zh = factory.Sequence(lambda n: f"合作医院{n}")
    name_en = factory.Sequence(lambda n: f"Partner Hospital {n}")
    level = "二级甲等"


class HomeFacilityFactory(FacilityFactory):
    class Meta:
        model = Facility
        django_get_or_create = ("code",)

    # The demo's code: browser journeys seed with these factories and seed_demo on one database, and both must
    # find the same home hospital.
    code = "demo-home"
    kind = FacilityKind.HOME
    name_zh = "本院"
    name_en = "Home Hospital"
    level = "三级甲等"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # There is one home hospital (a unique index): reuse the one a fixture command or the demo made.
        existing = model_class.objects.filter(kind=FacilityKind.HOME).first()
        return existing or super()._create(model_class, *args, **kwargs)


class DepartmentFactory(DjangoModelFactory):
    class Meta:
        model = Department

    facility = factory.SubFactory(HomeFacilityFactory)
    code = factory.Sequence(lambda n: f"dept-{n}")
    name_zh = factory.Sequence(lambda n: f"科室{n}")
    name_en = factory.Sequence(lambda n: f"Department {n}")
    offers_online_visits = True


class PractitionerFactory(DjangoModelFactory):
    """A verified doctor with ten years of independent practice, working in one department."""

    class Meta:
        model = Practitioner
        skip_postgeneration_save = True

    user = factory.SubFactory(StaffUserFactory, role=Role.DOCTOR)
    facility = factory.SubFactory(HomeFacilityFactory)
    profession = Profession.DOCTOR
    licence_no = factory.Sequence(lambda n: f"LIC{n:08d}")
    title = Title.ATTENDING
    independent_practice_since = factory.LazyFunction(lambda: timezone.localdate() - timedelta(days=3660))
    verified_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def departments(self, create, extracted, **kwargs):
        if not create:
            return
        if extracted is None:
            extracted = [DepartmentFactory(facility=self.facility)]
        self.departments.set(extracted)


DoctorFactory = PractitionerFactory


class NurseFactory(PractitionerFactory):
    user = factory.SubFactory(StaffUserFactory, role=Role.NURSE)
    profession = Profession.NURSE
    title = Title.NURSE_PRACTITIONER
