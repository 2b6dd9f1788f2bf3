"""Paying for an order through payments' sandbox provider: the checkout page, the signed callback (delivered through
Django's test client by the sandbox's task), declines and retries, the payment timeout, a payment that arrives after
the order was cancelled (refunded automatically), forged and repeated callbacks (rejected, or applied once)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from ihospital.core.models import AuditAction, AuditEvent, AuditOutcome
from ihospital.core.transitions import timeline
from ihospital.notifications.models import Notification
from ihospital.payments.models import (
    ChargeStatus,
    EventOutcome,
    PaymentStatus,
    ProviderEvent,
    Refund,
    RefundCause,
    RefundStatus,
    SandboxStatus,
    SandboxTransaction,
)
from ihospital.payments.providers import sandbox
from ihospital.pharmacy import services
from ihospital.pharmacy.models import Order, OrderStatus
from tests.factories import PatientFactory
from tests.pharmacy.factories import lots, state
from tests.prescriptions.factories import refused

pytestmark = pytest.mark.django_db


def told(order: Order, kind: str) -> set[int]:
    """The users who were told ``order.<kind>`` about this order."""
    return set(Notification.objects.filter(kind=f"order.{kind}", link=f"/pharmacy/orders/{order.pk}/")
               .values_list("user_id", flat=True))


def test_checkout_confirm_callback_and_the_order_is_paid(pharmacy, rx, patient, relative):
    order = pharmacy.order(rx)

    url = pharmacy.checkout_url(order)
    (payment,) = pharmacy.charge(order).payments.all()
    assert url == f"/payments/sandbox/checkout/{payment.out_trade_no}/"
    assert SandboxTransaction.objects.get(out_trade_no=payment.out_trade_no).amount_fen == order.total_fen

    # The payer confirms on the provider's page; nothing changes for the order until the callback arrives.
    assert pharmacy.flow.checkout(url, patient.user).status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.CREATED

    assert pharmacy.settle() == ["deliver_sandbox_notification:delivered"]
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID and order.paid_at is not None
    assert pharmacy.charge(order).status == ChargeStatus.PAID
    assert [(e.from_status, e.to_status, e.reason) for e in timeline(order)] == [
        ("created", "paid", "payment received")]
    # The patient and the relative acting for them both hear of it, once.
    assert told(order, "paid") == {patient.user.pk, relative.pk}
    assert AuditEvent.objects.filter(action=AuditAction.UPDATE, object_type="pharmacy.order", object_id=str(order.pk),
                                     detail__paid_fen=order.total_fen).count() == 1
    # Stock stays held until the pharmacy picks it.
    assert lots(rx.items.get().drug)[0][1:] == (20, 1)


def test_a_proxy_pays_the_order_they_placed(pharmacy, rx, relative):
    order = pharmacy.pay(pharmacy.order(rx, actor=relative))

    assert order.status == OrderStatus.PAID
    assert pharmacy.charge(order).payment.status == PaymentStatus.SUCCEEDED


def test_a_declined_payment_leaves_the_order_waiting_and_a_retry_pays_it(pharmacy, rx, patient):
    order = pharmacy.order(rx)

    order = pharmacy.pay(order, action="decline")

    assert order.status == OrderStatus.CREATED
    (declined,) = pharmacy.charge(order).payments.all()
    assert declined.status == PaymentStatus.FAILED
    assert told(order, "paid") == set()

    order = pharmacy.pay(order)

    assert order.status == OrderStatus.PAID
    statuses = sorted(pharmacy.charge(order).payments.values_list("status", flat=True))
    assert statuses == [PaymentStatus.FAILED, PaymentStatus.SUCCEEDED]
    assert len(timeline(order)) == 1


def test_checkout_is_refused_once_paid_and_after_the_time_to_pay(pharmacy, rx, patient):
    order = pharmacy.pay(pharmacy.order(rx))

    error = refused("order_not_payable", services.checkout, actor=patient.user, order_id=order.pk)
    assert error.status == 409

    services.cancel_order(actor=patient.user, order_id=order.pk, reason="不要了")
    refused("order_not_payable", services.checkout, actor=patient.user, order_id=order.pk)


def test_checkout_after_hold_until_is_refused(pharmacy, rx, patient):
    order = pharmacy.order(rx)
    Order.objects.filter(pk=order.pk).update(hold_until=timezone.now() - timedelta(seconds=1))
    before = state()

    refused("order_expired", services.checkout, actor=patient.user, order_id=order.pk)
    assert state() == before


def test_only_the_patients_side_may_pay(pharmacy, rx, pharmacist, patient):
    order = pharmacy.order(rx)
    stranger = PatientFactory()
    before = state()

    refused("not_found", services.checkout, actor=stranger.user, order_id=order.pk)
    refused("not_found", services.checkout, actor=pharmacist, order_id=order.pk)

    assert state() == before
    assert AuditEvent.objects.filter(actor=stranger.user, outcome=AuditOutcome.DENIED, object_type="pharmacy.order",
                                     object_id=str(order.pk), patient_id=patient.pk).exists()


# ---- the payment timeout ---------------------------------------------------------------------------------------------


def test_the_timeout_cancels_the_unpaid_order_releases_the_stock_and_closes_the_payment(pharmacy, rx, patient):
    order = pharmacy.order(rx)
    url = pharmacy.checkout_url(order)

    ran = pharmacy.time_runs_out(order)

    assert "cancel_unpaid_order:cancelled" in ran
    assert order.status == OrderStatus.CANCELLED and order.status_reason
    assert lots(rx.items.get().drug)[0][1:] == (20, 0)
    charge = pharmacy.charge(order)
    assert charge.status in (ChargeStatus.EXPIRED, ChargeStatus.CANCELLED)
    (payment,) = charge.payments.all()
    assert payment.status == PaymentStatus.CLOSED
    # The provider closed it too: the old page can no longer take the money.
    assert SandboxTransaction.objects.get(out_trade_no=payment.out_trade_no).status == SandboxStatus.CLOSED
    pharmacy.flow.checkout(url, patient.user)
    assert pharmacy.settle() == []
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert told(order, "cancelled") == {patient.user.pk}
    assert [(e.from_status, e.to_status, e.actor_id) for e in timeline(order)] == [("created", "cancelled", None)]


def test_the_timeout_task_leaves_a_paid_order_alone(pharmacy, rx):
    order = pharmacy.pay(pharmacy.order(rx))
    before = state()

    ran = pharmacy.time_runs_out(order, prefix="ihospital.pharmacy.")

    assert ran == ["cancel_unpaid_order:skipped"]
    assert order.status == OrderStatus.PAID
    assert state() == before


def test_the_system_never_refunds_an_order_paid_at_the_last_moment(pharmacy, rx):
    """The timeout looks at the order before it takes its lock: if the payment arrived in between, it gives up
    instead of cancelling a paid order."""
    order = pharmacy.pay(pharmacy.order(rx))
    before = state()

    refused("order_paid", services.cancel_order, actor=None, order_id=order.pk, reason="not paid in time")

    assert state() == before
    assert not Refund.objects.exists()


def test_a_payment_that_arrives_after_the_timeout_is_refunded_automatically(pharmacy, rx, patient):
    order = pharmacy.order(rx)
    url = pharmacy.checkout_url(order)
    # The payer pays at the last second; the provider's callback is still on its way when the time runs out.
    pharmacy.flow.checkout(url, patient.user)
    assert pharmacy.time_runs_out(order, prefix="ihospital.pharmacy.") == ["cancel_unpaid_order:cancelled"]
    assert order.status == OrderStatus.CANCELLED

    ran = pharmacy.settle()

    assert "deliver_sandbox_notification:delivered" in ran
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert lots(rx.items.get().drug)[0][1:] == (20, 0)
    (refund,) = Refund.objects.filter(charge_id=order.charge_id)
    assert (refund.amount_fen, refund.cause, refund.status) == (order.total_fen, RefundCause.CHARGE_CLOSED,
                                                                  RefundStatus.SUCCEEDED)
    assert ProviderEvent.objects.filter(outcome=EventOutcome.LATE_PAYMENT).count() == 1
    txn = SandboxTransaction.objects.get(out_trade_no=refund.payment.out_trade_no)
    assert txn.refunded_fen == order.total_fen


def test_a_payment_for_an_order_no_longer_waiting_is_not_wanted_and_refunded(pharmacy, rx, patient, relative):
    """payments asks ``on_paid``; an order that is no longer waiting for payment answers False, and payments gives
    the money back in full (and the patient hears of the refund)."""
    order = pharmacy.order(rx)
    url = pharmacy.checkout_url(order)
    pharmacy.flow.checkout(url, patient.user)
    # Cancelled behind payments' back (the charge is still open when the callback arrives).
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.CANCELLED)

    pharmacy.settle()

    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED and order.paid_at is None
    (refund,) = Refund.objects.filter(charge_id=order.charge_id)
    assert (refund.cause, refund.status, refund.amount_fen) == (RefundCause.NOT_WANTED, RefundStatus.SUCCEEDED,
                                                                  order.total_fen)
    assert ProviderEvent.objects.filter(outcome=EventOutcome.NOT_WANTED).count() == 1
    assert told(order, f"refunded-{refund.pk}") == {patient.user.pk, relative.pk}


# ---- forged and repeated callbacks ---------------------------------------------------------------------------------


def paid_body(order: Order, event_id: str = "EVT-FORGED") -> tuple[dict, str]:
    payment = pharmacy_payment(order)
    return {"out_trade_no": payment.out_trade_no, "transaction_id": "SBXFORGED", "amount_fen": order.total_fen,
            "currency": "CNY", "status": "paid"}, event_id


def pharmacy_payment(order: Order):
    from ihospital.payments.models import Payment

    return Payment.objects.filter(charge_id=order.charge_id).latest("pk")


@pytest.mark.parametrize("how", ["wrong key", "tampered", "unsigned", "stale"])
def test_a_forged_callback_is_refused_and_nothing_changes(pharmacy, rx, how):
    order = pharmacy.order(rx)
    pharmacy.checkout_url(order)
    data, event_id = paid_body(order)
    before = state()

    if how == "wrong key":
        response = pharmacy.flow.notify("payment.succeeded", data, event_id=event_id, key=b"not-the-secret")
    elif how == "stale":
        response = pharmacy.flow.notify("payment.succeeded", data, event_id=event_id,
                                        timestamp=int(timezone.now().timestamp()) - 3600)
    else:
        body = json.dumps({"id": event_id, "event_type": "payment.succeeded", "created_at": "2026-01-01T00:00:00Z",
                           "data": data}).encode()
        headers = sandbox.signed_headers(body)
        if how == "tampered":
            body = body.replace(b'"paid"', b'"PAID"')
        else:
            headers = {"Content-Type": "application/json"}
        pharmacy.flow.post_notification(body, headers)
        response = pharmacy.flow.last_response

    assert response.status_code == 403
    assert state() == before
    assert not ProviderEvent.objects.exists()
    order.refresh_from_db()
    assert order.status == OrderStatus.CREATED


def test_a_callback_for_another_amount_is_rejected(pharmacy, rx):
    order = pharmacy.order(rx)
    pharmacy.checkout_url(order)
    data, event_id = paid_body(order)
    before = state()

    response = pharmacy.flow.notify("payment.succeeded", {**data, "amount_fen": 1}, event_id=event_id)

    assert response.status_code == 200
    assert ProviderEvent.objects.get().outcome == EventOutcome.AMOUNT_MISMATCH
    assert state() == before


def test_the_same_callback_delivered_many_times_pays_the_order_once(pharmacy, rx, patient, relative):
    order = pharmacy.pay(pharmacy.order(rx))
    (delivery,) = pharmacy.flow.deliveries
    before = state()

    for _ in range(20):
        status = pharmacy.flow.post_notification(delivery.body, sandbox.signed_headers(delivery.body))
        assert status == 200
        assert pharmacy.flow.last_response.json()["message"] == "already processed"

    assert state() == before
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    assert ProviderEvent.objects.count() == 1
    assert len(timeline(order)) == 1
    assert Notification.objects.filter(kind="order.paid").count() == 2  # the patient and the relative, once each


def test_another_success_event_for_the_same_payment_changes_nothing(pharmacy, rx):
    """The provider reports the same payment again under a new event id: already succeeded, nothing changes."""
    order = pharmacy.pay(pharmacy.order(rx))
    data, _event = paid_body(order)
    before = state()
    response = pharmacy.flow.notify("payment.succeeded", data, event_id="EVT-ANOTHER-ID")
    assert response.status_code == 200
    assert ProviderEvent.objects.get(event_id="EVT-ANOTHER-ID").outcome == EventOutcome.ALREADY_SUCCEEDED
    assert state() == before
