"""Fixtures of the payments tests: sandbox settings, callbacks delivered through the test client, a recording
handler for the test workflow's kind, and ``flow`` (tests/payments/flows.py)."""

from __future__ import annotations

import pytest

from ihospital.payments import handlers
from ihospital.payments.providers import sandbox
from tests.factories import UserFactory
from tests.payments.flows import KIND, Flow, Recorder


@pytest.fixture(autouse=True)
def _payment_settings(settings):
    settings.PAYMENT_PROVIDER = "sandbox"
    settings.PAYMENT_PROVIDERS = ["sandbox"]
    settings.PAYMENTS_SANDBOX_DELAY_SECONDS = 0
    settings.PAYMENTS_SANDBOX_SECRET = "test-sandbox-secret"
    settings.SITE_URL = "http://testserver"


@pytest.fixture
def recorder():
    handler = Recorder()
    handlers.register(KIND, on_paid=handler.on_paid, on_refunded=handler.on_refunded)
    yield handler
    handlers.unregister(KIND)


@pytest.fixture
def flow(db, django_capture_on_commit_callbacks, monkeypatch, recorder):
    flow = Flow(django_capture_on_commit_callbacks)
    monkeypatch.setattr(sandbox, "post", flow.deliver)
    return flow


@pytest.fixture
def payer(db):
    return UserFactory()


@pytest.fixture
def stranger(db):
    return UserFactory()
