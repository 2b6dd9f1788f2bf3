"""Fixtures of the consultation tests: a patient in the care of a partner hospital's doctor (the referrer), a
relative acting for the patient, the home hospital's cardiology with two experts, a coordinator and an admin.
Every test gets a channel layer of its own."""

from __future__ import annotations

import pytest

from tests.visits import conftest as visits

_own_channel_layer = visits._own_channel_layer


@pytest.fixture
def cardiology(db):
    from tests.factories import DepartmentFactory, HomeFacilityFactory

    return DepartmentFactory(facility=HomeFacilityFactory(), name_zh="心内科", name_en="Cardiology")


@pytest.fixture
def referrer(patient):
    """A verified doctor at a partner (county) hospital with ``patient`` in their care."""
    from tests.teleconsult.factories import PartnerDoctorFactory

    return PartnerDoctorFactory(patients=[patient]).user


@pytest.fixture
def expert(cardiology):
    from tests.teleconsult.factories import ExpertFactory

    return ExpertFactory(departments=[cardiology]).user


@pytest.fixture
def expert2(cardiology):
    from ihospital.directory.models import Title
    from tests.teleconsult.factories import ExpertFactory

    return ExpertFactory(departments=[cardiology], title=Title.ASSOC_CHIEF).user


@pytest.fixture
def coordinator(db):
    from tests.teleconsult.factories import CoordinatorFactory

    return CoordinatorFactory()


@pytest.fixture
def admin_user(db):
    from tests.teleconsult.factories import AdminFactory

    return AdminFactory()


@pytest.fixture
def relative(patient):
    """A registered relative who is the patient's active proxy."""
    from ihospital.accounts import services as accounts
    from tests.factories import PatientFactory

    person = PatientFactory()
    accounts.invite_proxy(patient_user=patient.user, proxy_phone=person.user.phone,
                          proxy_real_name=person.user.real_name, relationship="child", consent=True)
    return person.user
