"""Fixtures of the medical-test tests: a doctor, a patient with a recent in-person encounter with that doctor, a
relative acting as the patient's proxy, and a lab technician."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.visits import conftest as visits

_own_channel_layer = visits._own_channel_layer


@pytest.fixture
def doctor(db):
    """A verified doctor who may consult online and has started today's consultations."""
    from tests.visits.factories import online_doctor

    return online_doctor()


@pytest.fixture
def encounter(doctor, patient):
    """The patient seen in person by ``doctor`` two days ago (a context for ordering tests)."""
    from django.utils import timezone

    from tests.visits.factories import EncounterFactory

    return EncounterFactory(patient=patient, practitioner=doctor, started_at=timezone.now() - timedelta(days=2))


@pytest.fixture
def relative(patient):
    """A registered relative who is the patient's active proxy."""
    from ihospital.accounts import services as accounts
    from tests.factories import PatientFactory

    person = PatientFactory()
    accounts.invite_proxy(patient_user=patient.user, proxy_phone=person.user.phone,
                          proxy_real_name=person.user.real_name, relationship="child", consent=True)
    return person.user


@pytest.fixture
def lab_tech(db):
    from ihospital.accounts.models import Role
    from tests.factories import StaffUserFactory

    return StaffUserFactory(role=Role.LAB_TECH)
