"""Per-object privacy of orders and addresses: someone else's id answers 404 (like an id that does not exist) and
leaves a DENIED audit row; a proxy sees their patient's orders and nobody else's, until the link is revoked or its
consent withdrawn; pharmacists see every order; every read of an order is audited."""

from __future__ import annotations

import pytest

from ihospital.accounts import services as accounts
from ihospital.accounts.models import Consent, Proxy
from ihospital.core.audit import verify_chain
from ihospital.core.models import AuditAction, AuditEvent, AuditOutcome
from ihospital.pharmacy import selectors, services
from ihospital.pharmacy.models import Address
from tests.factories import PatientFactory
from tests.pharmacy.factories import address, state
from tests.prescriptions.factories import refused

pytestmark = pytest.mark.django_db


def denied(user, object_type: str, **kw) -> AuditEvent:
    """The (last) DENIED audit row of ``user`` on ``object_type``."""
    event = AuditEvent.objects.filter(actor=user, outcome=AuditOutcome.DENIED, object_type=object_type,
                                      **kw).last()
    assert event is not None, (user, object_type, kw)
    return event


@pytest.fixture
def order(pharmacy, rx):
    return pharmacy.order(rx)


@pytest.fixture
def stranger(db):
    return PatientFactory()


def test_another_patients_order_is_404_and_audited(order, stranger, patient):
    error = refused("not_found", selectors.order_for, stranger.user, order.pk)

    assert error.status == 404
    event = denied(stranger.user, "pharmacy.order", object_id=str(order.pk))
    assert (event.action, event.patient_id) == (AuditAction.READ, patient.pk)
    # An id that does not exist looks the same.
    missing = refused("not_found", selectors.order_for, stranger.user, order.pk + 1000)
    assert (missing.code, str(missing.message)) == (error.code, str(error.message))
    assert denied(stranger.user, "pharmacy.order", object_id=str(order.pk + 1000)).patient_id is None


@pytest.mark.parametrize("act", ["cancel_order", "confirm_receipt", "checkout"])
def test_another_patients_order_cannot_be_acted_on(order, stranger, act):
    kwargs = {"reason": "x"} if act == "cancel_order" else {}
    before = state()

    refused("not_found", getattr(services, act), actor=stranger.user, order_id=order.pk, **kwargs)

    assert state() == before
    assert denied(stranger.user, "pharmacy.order", object_id=str(order.pk))


def test_another_patients_order_list_is_404_and_audited(order, stranger, patient):
    refused("not_found", selectors.orders_of_patient, stranger.user, patient.pk)

    assert denied(stranger.user, "accounts.patientprofile", object_id=str(patient.pk)).patient_id == patient.pk
    assert list(selectors.orders_of_patient(stranger.user, stranger.pk)) == []


def test_another_patients_addresses_are_404_and_audited(patient, stranger):
    home = address(patient)
    before = state()

    refused("not_found", selectors.addresses_of_patient, stranger.user, patient.pk)
    refused("not_found", services.archive_address, actor=stranger.user, address_id=home.pk)
    refused("not_found", services.save_address, actor=stranger.user, patient_id=patient.pk, recipient="x",
            phone="13912345678", province="x", city="x", district="x", detail="x")

    assert state() == before
    assert denied(stranger.user, "pharmacy.address", action=AuditAction.READ).patient_id == patient.pk
    assert denied(stranger.user, "pharmacy.address", object_id=str(home.pk)).patient_id == patient.pk
    assert not Address.objects.get(pk=home.pk).archived


def test_a_proxy_sees_and_acts_for_their_patient(order, relative, patient):
    mine, role = selectors.order_for(relative, order.pk)
    assert (mine.pk, role) == (order.pk, "patient")
    assert [o.pk for o in selectors.orders_of_patient(relative, patient.pk)] == [order.pk]
    assert [a.pk for a in selectors.addresses_of_patient(relative, patient.pk)] == [order.address_id]
    # …but not the other patients they know nothing about.
    other = PatientFactory()
    refused("not_found", selectors.orders_of_patient, relative, other.pk)


def test_a_revoked_proxy_is_denied(order, relative, patient):
    link = Proxy.objects.get(patient=patient, proxy_user=relative)
    accounts.revoke_proxy(actor=patient.user, proxy_id=link.pk, reason="不再代办")

    refused("not_found", selectors.order_for, relative, order.pk)
    refused("not_found", selectors.orders_of_patient, relative, patient.pk)
    refused("not_found", services.cancel_order, actor=relative, order_id=order.pk, reason="x")
    assert denied(relative, "pharmacy.order", object_id=str(order.pk))


def test_a_proxy_whose_consent_was_withdrawn_is_denied(order, relative, patient):
    link = Proxy.objects.get(patient=patient, proxy_user=relative)
    accounts.withdraw_consent(actor=patient.user, consent_id=link.consent_id)
    assert Consent.objects.get(pk=link.consent_id).withdrawn_at is not None

    refused("not_found", selectors.order_for, relative, order.pk)


def test_pharmacists_see_every_order_doctors_none(order, pharmacist, doc):
    assert selectors.order_for(pharmacist, order.pk)[1] == "pharmacist"
    refused("not_found", selectors.order_for, doc.user, order.pk)
    assert denied(doc.user, "pharmacy.order", object_id=str(order.pk))


def test_every_read_of_an_order_is_audited(order, patient, relative, pharmacist):
    reads_before = AuditEvent.objects.filter(action=AuditAction.READ, outcome=AuditOutcome.OK).count()

    selectors.order_for(patient.user, order.pk)
    selectors.order_for(relative, order.pk)
    selectors.order_for(pharmacist, order.pk)
    list(selectors.orders_of_patient(patient.user, patient.pk))
    list(selectors.dispensing_worklist(pharmacist))
    list(selectors.orders_dashboard(pharmacist, status="created"))
    selectors.trace(pharmacist, order.pk)

    reads = AuditEvent.objects.filter(action=AuditAction.READ, outcome=AuditOutcome.OK).order_by("seq")
    assert reads.count() - reads_before == 7
    single = reads.filter(object_type="pharmacy.order", object_id=str(order.pk))
    assert [(e.actor_id, e.detail["role"]) for e in single] == [
        (patient.user.pk, "patient"), (relative.pk, "patient"), (pharmacist.pk, "pharmacist"),
        (pharmacist.pk, "pharmacist")]
    assert all(e.patient_id == patient.pk for e in single)
    assert {e.detail.get("list") for e in reads.filter(object_type="pharmacy.order", object_id="")} == {
        "patient", "worklist", "dashboard"}
    assert verify_chain().ok
