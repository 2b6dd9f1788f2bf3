"""Callbacks as they really arrive: repeated, forged, replayed, late, out of order, for money already paid, and for
a different amount. Nothing a callback says is believed without the signature; nothing is applied twice; and money
the platform does not want is refunded, never kept."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from ihospital.core.audit import verify_chain
from ihospital.core.models import AuditEvent, AuditOutcome
from ihospital.payments import handlers
from ihospital.payments.models import (
    Charge,
    ChargeStatus,
    EventOutcome,
    Payment,
    PaymentStatus,
    ProviderEvent,
    Refund,
    RefundCause,
    RefundStatus,
    SandboxTransaction,
)
from ihospital.payments.providers import sandbox
from tests.payments.flows import KIND, NOTIFY_PATH

pytestmark = pytest.mark.django_db


def state() -> dict:
    return {
        "charges": list(Charge.objects.values_list("pk", "status", "refunded_fen", "refund_reserved_fen")),
        "payments": list(Payment.objects.values_list("pk", "status", "refunded_fen")),
        "refunds": list(Refund.objects.values_list("pk", "status")),
        "events": ProviderEvent.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def paid_data(payment, **changes) -> dict:
    txn = SandboxTransaction.objects.filter(out_trade_no=payment.out_trade_no).first()
    data = {"out_trade_no": payment.out_trade_no, "transaction_id": txn.transaction_id if txn else "SBX-T",
            "amount_fen": payment.amount_fen, "currency": "CNY", "status": "paid"}
    return {**data, **changes}


def test_the_same_callback_100_times_is_one_payment_and_one_event(flow, payer, recorder):
    charge = flow.charge(payer)
    flow.pay(charge)
    (first,) = flow.deliveries
    before = state()

    answers = []
    for _ in range(99):
        # A provider retrying re-signs the same body (same event id) with a fresh timestamp and nonce.
        with flow.capture(execute=True):
            flow.post_notification(first.body, sandbox.signed_headers(first.body))
        answers.append((flow.last_response.status_code, flow.last_response.json()["message"]))

    assert set(answers) == {(200, "already processed")}
    assert state() == before
    assert ProviderEvent.objects.count() == 1
    assert Payment.objects.filter(status=PaymentStatus.SUCCEEDED).count() == 1
    assert recorder.paid == [charge.pk]


def test_the_same_success_under_another_event_id_changes_nothing(flow, payer, recorder):
    charge = flow.charge(payer)
    payment = flow.pay(charge)
    before = state()

    response = flow.notify("payment.succeeded", paid_data(payment))

    assert response.status_code == 200 and response.json()["outcome"] == EventOutcome.ALREADY_SUCCEEDED
    after = state()
    assert after["events"] == before["events"] + 1  # recorded, once
    assert {k: v for k, v in after.items() if k != "events"} == {k: v for k, v in before.items() if k != "events"}
    assert recorder.paid == [charge.pk]


@pytest.mark.parametrize("tamper", ["signature", "body", "key", "missing"])
def test_a_forged_callback_is_refused_with_403_and_changes_nothing(flow, payer, recorder, tamper):
    charge = flow.charge(payer)
    payment, _ = flow.start(charge)
    body = json.dumps({"id": "EVT-FORGED", "event_type": "payment.succeeded", "data": paid_data(payment)}).encode()
    headers = sandbox.signed_headers(body)
    if tamper == "signature":
        headers["X-Sandbox-Signature"] = headers["X-Sandbox-Signature"][:-4] + "0000"
    elif tamper == "body":
        body = body.replace(b'"amount_fen": 10000', b'"amount_fen": 1')
        assert b'"amount_fen": 1,' in body
    elif tamper == "key":
        headers = sandbox.signed_headers(body, key=b"someone else's key")
    else:
        del headers["X-Sandbox-Signature"]
    before = state()

    with flow.capture(execute=True):
        status = flow.post_notification(body, headers)

    assert status == 403
    assert flow.last_response.json()["error"]["code"] == "bad_signature"
    assert state() == before
    assert recorder.paid == []


def test_a_stale_timestamp_is_refused(flow, payer, recorder):
    charge = flow.charge(payer)
    payment, _ = flow.start(charge)
    before = state()

    response = flow.notify("payment.succeeded", paid_data(payment), timestamp=int(time.time()) - 301)

    assert response.status_code == 403 and response.json()["error"]["code"] == "stale_timestamp"
    assert state() == before
    # Within five minutes it is taken.
    response = flow.notify("payment.succeeded", paid_data(payment), timestamp=int(time.time()) - 240)
    assert response.json()["outcome"] == EventOutcome.PAID


def test_an_unreadable_signed_body_is_400_and_changes_nothing(flow):
    before = state()
    for body in [b"not json", b'{"id": "E1", "event_type": "payment.exploded", "data": {}}',
                 b'{"id": "E2", "event_type": "payment.succeeded", "data": {"amount_fen": "100"}}']:
        with flow.capture(execute=True):
            assert flow.post_notification(body, sandbox.signed_headers(body)) == 400
    assert state() == before


def test_the_notify_endpoint_takes_only_post_and_known_providers():
    client = Client()
    assert client.get(NOTIFY_PATH).status_code == 405
    response = client.post("/payments/notify/alipay/", data=b"{}", content_type="application/json")
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_provider"


def test_a_failure_after_the_success_is_ignored_and_recorded(flow, payer, recorder):
    charge = flow.charge(payer)
    payment = flow.pay(charge)

    response = flow.notify("payment.failed", paid_data(payment, status="declined"))

    assert response.status_code == 200 and response.json()["outcome"] == EventOutcome.IGNORED
    payment.refresh_from_db()
    charge.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED and charge.status == ChargeStatus.PAID
    assert ProviderEvent.objects.filter(outcome=EventOutcome.IGNORED, kind="payment.failed").count() == 1


def test_a_success_after_a_failure_is_believed(flow, payer, recorder):
    charge = flow.charge(payer)
    payment, url = flow.start(charge)
    flow.notify("payment.failed", paid_data(payment, status="declined"))
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED

    assert flow.notify("payment.succeeded", paid_data(payment)).json()["outcome"] == EventOutcome.PAID
    charge.refresh_from_db()
    assert charge.status == ChargeStatus.PAID and recorder.paid == [charge.pk]


def test_a_success_after_the_charge_was_cancelled_is_refunded_automatically(flow, payer, recorder):
    charge = flow.charge(payer, amount_fen=5000)
    payment, url = flow.start(charge)
    flow.checkout(url, payer)  # the payer pays just before...
    flow.cancel(charge)        # ...the order times out; the callback is still on its way
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CLOSED

    flow.settle()

    payment.refresh_from_db()
    charge.refresh_from_db()
    assert charge.status == ChargeStatus.CANCELLED and recorder.paid == []
    assert payment.status == PaymentStatus.SUCCEEDED
    (refund,) = Refund.objects.all()
    assert (refund.cause, refund.amount_fen, refund.status) == (RefundCause.CHARGE_CLOSED, 5000, RefundStatus.SUCCEEDED)
    assert payment.refunded_fen == 5000 and charge.refunded_fen == 0  # never counted as the charge's money
    assert SandboxTransaction.objects.get(out_trade_no=payment.out_trade_no).refunded_fen == 5000
    outcomes = list(ProviderEvent.objects.order_by("id").values_list("kind", "outcome"))
    assert outcomes == [("payment.succeeded", EventOutcome.LATE_PAYMENT), ("refund.succeeded", EventOutcome.REFUNDED)]
    assert recorder.refunded == []  # the workflow never counted this money
    assert AuditEvent.objects.filter(outcome=AuditOutcome.FAILED, detail__event="payment_late").count() == 1
    assert verify_chain().ok


def test_paying_twice_refunds_the_second_payment(flow, payer, recorder):
    charge = flow.charge(payer, amount_fen=3000)
    first, first_url = flow.start(charge)
    flow.checkout(first_url, payer)  # paid in one tab...
    second, second_url = flow.start(charge)  # ...and again in another before the first callback arrived
    flow.checkout(second_url, payer)

    flow.settle()

    charge.refresh_from_db()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == PaymentStatus.SUCCEEDED
    assert charge.status == ChargeStatus.PAID and charge.payment_id in {first.pk, second.pk}
    assert recorder.paid == [charge.pk]
    extra = second if charge.payment_id == first.pk else first
    (refund,) = Refund.objects.all()
    assert (refund.payment_id, refund.cause, refund.status) == (extra.pk, RefundCause.DUPLICATE, RefundStatus.SUCCEEDED)
    assert charge.refunded_fen == 0 and charge.refundable_fen == 3000
    assert recorder.refunded == []


def test_a_callback_for_another_amount_is_rejected_and_recorded(flow, payer, recorder):
    charge = flow.charge(payer, amount_fen=9900)
    payment, _ = flow.start(charge)

    response = flow.notify("payment.succeeded", paid_data(payment, amount_fen=1))

    assert response.status_code == 200 and response.json()["outcome"] == EventOutcome.AMOUNT_MISMATCH
    payment.refresh_from_db()
    charge.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING and charge.status == ChargeStatus.OPEN and recorder.paid == []
    event = ProviderEvent.objects.get()
    assert event.outcome == EventOutcome.AMOUNT_MISMATCH and event.payment_id == payment.pk
    audit = AuditEvent.objects.get(detail__event="callback_amount_mismatch")
    assert audit.outcome == AuditOutcome.FAILED and audit.detail["notified_fen"] == 1

    # Another currency is the same refusal.
    response = flow.notify("payment.succeeded", paid_data(payment, currency="USD"))
    assert response.json()["outcome"] == EventOutcome.AMOUNT_MISMATCH


def test_a_callback_for_an_unknown_order_is_recorded_and_answered(flow):
    response = flow.notify("payment.succeeded", {"out_trade_no": "P-NOPE", "transaction_id": "X", "amount_fen": 1,
                                                 "currency": "CNY", "status": "paid"})
    assert response.status_code == 200 and response.json()["outcome"] == EventOutcome.UNKNOWN
    assert Payment.objects.count() == 0


def test_a_handler_that_no_longer_wants_the_payment_gets_it_refunded(flow, payer, recorder):
    recorder.wanted = False
    charge = flow.charge(payer, amount_fen=4200)
    payment = flow.pay(charge)

    assert recorder.paid == [charge.pk]
    assert charge.status == ChargeStatus.PAID
    (refund,) = Refund.objects.all()
    assert (refund.cause, refund.amount_fen, refund.status) == (RefundCause.NOT_WANTED, 4200, RefundStatus.SUCCEEDED)
    assert charge.refunded_fen == 4200 and charge.refund_reserved_fen == 0 and charge.refundable_fen == 0
    assert recorder.refunded == [(charge.pk, 4200)]
    assert ProviderEvent.objects.get(kind="payment.succeeded").outcome == EventOutcome.NOT_WANTED
    assert payment.refunded_fen == 4200


def test_a_handler_that_fails_leaves_nothing_and_the_provider_retries(flow, payer, recorder):
    def broken(charge):
        raise RuntimeError("the pharmacy's database said no")

    handlers.register(KIND, on_paid=broken)
    charge = flow.charge(payer)
    payment, url = flow.start(charge)
    flow.checkout(url, payer)

    assert flow.settle() == ["deliver_sandbox_notification:retry"]
    assert flow.deliveries[0].status == 500
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING and ProviderEvent.objects.count() == 0

    handlers.register(KIND, on_paid=recorder.on_paid, on_refunded=recorder.on_refunded)
    assert flow.settle(until=timezone.now() + timedelta(minutes=1)) == ["deliver_sandbox_notification:delivered"]
    charge.refresh_from_db()
    assert charge.status == ChargeStatus.PAID
