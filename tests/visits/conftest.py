"""Fixtures for the online-visit tests: a department with a consulting doctor, a patient with a definite diagnosis,
a bookable slot, and a relative acting as the patient's proxy.

Every test gets a channel layer of its own: a fresh in-memory layer, or (with ``REDIS_URL``) a Redis layer
under a random prefix, so concurrent suites on the same Redis never see each other's groups.
"""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture(autouse=True)
def _own_channel_layer(settings):
    layers = {}
    for alias, config in settings.CHANNEL_LAYERS.items():
        config = {**config, "CONFIG": {**config.get("CONFIG", {})}}
        if "redis" in config["BACKEND"]:
            config["CONFIG"]["prefix"] = f"test-{uuid.uuid4().hex[:12]}"
        layers[alias] = config
    # Channels drops its cached layers when this setting changes.
    settings.CHANNEL_LAYERS = layers
    yield


@pytest.fixture
def department(db):
    from tests.factories import DepartmentFactory

    return DepartmentFactory()


@pytest.fixture
def doc(department):
    """A doctor of ``department`` who may consult online and has started today's consultations."""
    from tests.visits.factories import online_doctor

    return online_doctor(department)


@pytest.fixture
def diagnosis(patient):
    """The patient's confirmed, active hypertension, diagnosed in person at the home hospital."""
    from tests.visits.factories import ConditionFactory

    return ConditionFactory(patient=patient)


@pytest.fixture
def slot(doc, department):
    from tests.visits.factories import SlotFactory

    return SlotFactory(practitioner=doc, department=department)


@pytest.fixture
def relative(patient):
    """A registered relative who is the patient's active proxy (invited by the patient, with consent)."""
    from ihospital.accounts import services as accounts
    from tests.factories import PatientFactory

    person = PatientFactory()
    accounts.invite_proxy(
        patient_user=patient.user, proxy_phone=person.user.phone, proxy_real_name=person.user.real_name,
        relationship="child", consent=True,
    )
    return person.user
