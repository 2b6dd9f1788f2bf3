"""Fixtures of the pharmacy tests: the prescription tests' doctor, diagnosis, pharmacist and proxy; the payments
sandbox with its callbacks delivered through Django's test client (``pharmacy``: tests/pharmacy/factories.Pharmacy),
and settings that make prices and timelines predictable."""

from __future__ import annotations

import pytest

from tests.prescriptions import conftest as prescriptions

_own_channel_layer = prescriptions._own_channel_layer
department = prescriptions.department
doc = prescriptions.doc
diagnosis = prescriptions.diagnosis
relative = prescriptions.relative
pharmacist = prescriptions.pharmacist


@pytest.fixture(autouse=True)
def _pharmacy_settings(settings):
    settings.PAYMENT_PROVIDER = "sandbox"
    settings.PAYMENT_PROVIDERS = ["sandbox"]
    settings.PAYMENTS_SANDBOX_DELAY_SECONDS = 0
    settings.PAYMENTS_SANDBOX_SECRET = "test-sandbox-secret"
    settings.SITE_URL = "http://testserver"
    settings.ORDER_PAYMENT_MINUTES = 30
    settings.DELIVERY_FEE_FEN = 1000
    settings.DELIVERY_FEE_BANDS = []
    settings.COLD_CHAIN_SURCHARGE_FEN = 1500
    settings.COURIER_PROVIDER = "simulator"
    settings.COURIER_SIM_SECRET = "test-courier-secret"


@pytest.fixture
def flow(db, django_capture_on_commit_callbacks, monkeypatch):
    """The payments sandbox's flow (tests/payments/flows.py): its callbacks reach the platform through the test
    client, and ``settle()`` runs the payments tasks."""
    from ihospital.payments.providers import sandbox
    from tests.payments.flows import Flow

    f = Flow(django_capture_on_commit_callbacks)
    monkeypatch.setattr(sandbox, "post", f.deliver)
    return f


@pytest.fixture
def pharmacy(flow):
    from tests.pharmacy.factories import Pharmacy

    return Pharmacy(flow)


@pytest.fixture
def rx(doc, patient, pharmacist, diagnosis):
    """The patient's approved monthly prescription (amlodipine 5 mg qd × 28 days: one box at ¥15.00), with a lot of
    20 boxes on the shelf."""
    from tests.pharmacy.factories import approved

    return approved(doc, patient, pharmacist, condition=diagnosis)
