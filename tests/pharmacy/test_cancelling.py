"""Cancelling an order: the patient (or a proxy) until the pharmacy starts, unpaid → cancelled, paid → refunded in
full (confirmed by the provider's refund callback, and the patient told); a pharmacist until the parcel leaves, with
a reason. Holds go back to the shelf."""

from __future__ import annotations

import pytest

from ihospital.core.models import AuditAction, AuditEvent, AuditOutcome
from ihospital.core.transitions import timeline
from ihospital.notifications.models import Notification
from ihospital.payments.models import ChargeStatus, Refund, RefundCause, RefundStatus, SandboxTransaction
from ihospital.pharmacy import services
from ihospital.pharmacy.models import OrderStatus
from tests.factories import PatientFactory
from tests.pharmacy.factories import lots, state
from tests.prescriptions.factories import refused

pytestmark = pytest.mark.django_db


def told(order, kind: str) -> set[int]:
    return set(Notification.objects.filter(kind=f"order.{kind}", link=f"/pharmacy/orders/{order.pk}/")
               .values_list("user_id", flat=True))


def test_the_patient_cancels_an_unpaid_order(pharmacy, rx, patient, relative):
    order = pharmacy.order(rx)

    with pharmacy.capture(execute=True):
        order = services.cancel_order(actor=patient.user, order_id=order.pk, reason="地址写错了")

    assert (order.status, order.status_reason) == (OrderStatus.CANCELLED, "地址写错了")
    assert pharmacy.charge(order).status == ChargeStatus.CANCELLED
    assert lots(rx.items.get().drug)[0][1:] == (20, 0)
    assert [(e.from_status, e.to_status, e.actor_id, e.reason) for e in timeline(order)] == [
        ("created", "cancelled", patient.user.pk, "地址写错了")]
    assert told(order, "cancelled") == {patient.user.pk, relative.pk}
    assert AuditEvent.objects.filter(actor=patient.user, action=AuditAction.UPDATE, object_type="pharmacy.order",
                                     object_id=str(order.pk), detail__cancelled="地址写错了").exists()
    assert not Refund.objects.exists()


def test_a_proxy_cancels_for_the_patient(pharmacy, rx, relative):
    order = pharmacy.order(rx)

    order = services.cancel_order(actor=relative, order_id=order.pk, reason="")

    assert order.status == OrderStatus.CANCELLED


def test_the_patient_cancels_a_paid_order_and_is_refunded_in_full(pharmacy, rx, patient, relative):
    order = pharmacy.pay(pharmacy.order(rx))

    with pharmacy.capture(execute=True):
        order = services.cancel_order(actor=patient.user, order_id=order.pk, reason="医生让换药")

    assert order.status == OrderStatus.REFUNDED
    assert lots(rx.items.get().drug)[0][1:] == (20, 0)
    (refund,) = Refund.objects.filter(charge_id=order.charge_id)
    assert (refund.amount_fen, refund.cause, refund.status, refund.requested_by_id) == (
        order.total_fen, RefundCause.REQUESTED, RefundStatus.PENDING, patient.user.pk)
    assert told(order, "refunded") == {patient.user.pk, relative.pk}
    assert told(order, f"refunded-{refund.pk}") == set()  # not yet: the provider has not confirmed it

    # The provider gets the request (a task), gives the money back and calls back.
    ran = pharmacy.settle()

    assert "submit_refund:submitted" in ran and "deliver_sandbox_notification:delivered" in ran
    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    charge = pharmacy.charge(order)
    assert (charge.refunded_fen, charge.refund_reserved_fen) == (order.total_fen, 0)
    assert SandboxTransaction.objects.get(out_trade_no=charge.payment.out_trade_no).refunded_fen == order.total_fen
    assert told(order, f"refunded-{refund.pk}") == {patient.user.pk, relative.pk}
    assert "¥25.00" in Notification.objects.filter(kind=f"order.refunded-{refund.pk}").first().title
    # A repeated refund callback changes nothing and tells nobody twice.
    before = state()
    delivery = pharmacy.flow.deliveries[-1]
    from ihospital.payments.providers import sandbox

    assert pharmacy.flow.post_notification(delivery.body, sandbox.signed_headers(delivery.body)) == 200
    assert state() == before


def test_the_patient_cannot_cancel_once_the_pharmacy_started(pharmacy, rx, patient, relative, pharmacist):
    order = pharmacy.pay(pharmacy.order(rx))
    services.start_dispensing(actor=pharmacist, order_id=order.pk)
    before = state()

    for actor in (patient.user, relative):
        error = refused("too_late_to_cancel", services.cancel_order, actor=actor, order_id=order.pk, reason="x")
        assert error.status == 409
    assert state() == before


def test_nobody_cancels_a_parcel_on_its_way(pharmacy, rx, patient, pharmacist):
    order = pharmacy.dispense(pharmacy.pay(pharmacy.order(rx)), pharmacist)
    before = state()

    refused("too_late_to_cancel", services.cancel_order, actor=patient.user, order_id=order.pk, reason="x")
    refused("too_late_to_cancel", services.cancel_order, actor=pharmacist, order_id=order.pk, reason="包装破损")

    assert state() == before


def test_a_pharmacist_cancels_an_order_being_prepared_with_a_reason(pharmacy, rx, patient, pharmacist):
    order = pharmacy.pay(pharmacy.order(rx))
    services.start_dispensing(actor=pharmacist, order_id=order.pk)
    before = state()
    refused("reason_required", services.cancel_order, actor=pharmacist, order_id=order.pk, reason="  ")
    assert state() == before

    with pharmacy.capture(execute=True):
        order = services.cancel_order(actor=pharmacist, order_id=order.pk, reason="药品包装破损，无法调配")

    assert (order.status, order.status_reason) == (OrderStatus.REFUNDED, "药品包装破损，无法调配")
    assert lots(rx.items.get().drug)[0][1:] == (20, 0)
    pharmacy.settle()
    assert Refund.objects.get(charge_id=order.charge_id).status == RefundStatus.SUCCEEDED
    assert timeline(order).last().actor_id == pharmacist.pk


def test_a_stranger_cannot_cancel_and_the_attempt_is_audited(pharmacy, rx, patient):
    order = pharmacy.order(rx)
    stranger = PatientFactory()
    before = state()

    refused("not_found", services.cancel_order, actor=stranger.user, order_id=order.pk, reason="x")

    assert state() == before
    assert AuditEvent.objects.filter(actor=stranger.user, outcome=AuditOutcome.DENIED, object_type="pharmacy.order",
                                     object_id=str(order.pk)).exists()


def test_cancelling_twice_is_refused(pharmacy, rx, patient):
    order = pharmacy.pay(pharmacy.order(rx))
    services.cancel_order(actor=patient.user, order_id=order.pk, reason="x")
    before = state()

    refused("invalid_transition", services.cancel_order, actor=patient.user, order_id=order.pk, reason="again")

    assert state() == before
    assert Refund.objects.count() == 1
