"""Races on a real database server: refunds asked for at the same moment, the same callback delivered several times
at once, two attempts paid at once, and a cancellation meeting a success. Each thread has its own PostgreSQL
connection; the conftest hook skips these tests on SQLite (the other tests check the same rules one at a time)."""

from __future__ import annotations

from collections import Counter

import pytest

from ihospital.core.audit import verify_chain
from ihospital.payments import services
from ihospital.payments.models import (
    Charge,
    ChargeStatus,
    EventOutcome,
    Payment,
    PaymentStatus,
    ProviderEvent,
    Refund,
    RefundCause,
)
from ihospital.payments.providers import base
from tests.helpers import run_in_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def success(payment: Payment, event_id: str) -> base.Notification:
    return base.Notification(event_id=event_id, kind=base.PAYMENT, status=base.SUCCEEDED,
                             amount_fen=payment.amount_fen, out_trade_no=payment.out_trade_no,
                             provider_txn_id=f"SBX-{event_id}")


def test_two_refunds_at_once_cannot_exceed_the_payment(flow, payer):
    charge = flow.charge(payer, amount_fen=10000)
    flow.pay(charge)

    results = run_in_threads(2, lambda i: services.refund(actor=None, charge_id=charge.pk, amount_fen=6000,
                                                          reason=f"refund {i}").amount_fen)

    assert Counter(kind for kind, _ in results) == {"ok": 1, "domain": 1}, results
    assert {code for kind, code in results if kind == "domain"} == {"refund_exceeds_payment"}
    charge.refresh_from_db()
    assert (charge.refunded_fen, charge.refund_reserved_fen) == (0, 6000)
    assert Refund.objects.count() == 1


def test_many_refunds_at_once_add_up_to_at_most_the_payment(flow, payer):
    charge = flow.charge(payer, amount_fen=10000)
    flow.pay(charge)

    results = run_in_threads(8, lambda i: services.refund(actor=None, charge_id=charge.pk, amount_fen=3000,
                                                          reason="part").amount_fen)

    assert Counter(kind for kind, _ in results) == {"ok": 3, "domain": 5}, results
    charge.refresh_from_db()
    payment = Payment.objects.get(pk=charge.payment_id)
    assert charge.refund_reserved_fen == payment.refund_reserved_fen == 9000
    flow.settle()
    charge.refresh_from_db()
    assert (charge.refunded_fen, charge.refund_reserved_fen) == (9000, 0)


def test_the_same_callback_delivered_at_once_is_applied_once(flow, payer, recorder):
    charge = flow.charge(payer)
    payment, _ = flow.start(charge)

    results = run_in_threads(8, lambda i: services.handle_notification(
        provider="sandbox", notification=success(payment, "EVT-SAME"))[1])

    assert Counter(results) == {("ok", True): 1, ("ok", False): 7}, results
    assert ProviderEvent.objects.count() == 1 and ProviderEvent.objects.get().outcome == EventOutcome.PAID
    charge.refresh_from_db()
    assert charge.status == ChargeStatus.PAID and recorder.paid == [charge.pk]
    assert Payment.objects.filter(status=PaymentStatus.SUCCEEDED).count() == 1
    assert verify_chain().ok


def test_the_same_success_under_several_event_ids_at_once_pays_once(flow, payer, recorder):
    charge = flow.charge(payer)
    payment, _ = flow.start(charge)

    results = run_in_threads(6, lambda i: services.handle_notification(
        provider="sandbox", notification=success(payment, f"EVT-{i}"))[0].outcome)

    assert Counter(results) == {("ok", EventOutcome.PAID): 1, ("ok", EventOutcome.ALREADY_SUCCEEDED): 5}, results
    assert recorder.paid == [charge.pk] and Refund.objects.count() == 0


def test_two_attempts_succeeding_at_once_pay_once_and_refund_the_other(flow, payer, recorder):
    charge = flow.charge(payer, amount_fen=5000)
    first, _ = flow.start(charge)
    second = Payment.objects.create(charge=charge, provider="sandbox", out_trade_no="P-SECOND", amount_fen=5000)
    payments = [first, second]

    results = run_in_threads(2, lambda i: services.handle_notification(
        provider="sandbox", notification=success(payments[i], f"EVT-{i}"))[0].outcome)

    assert Counter(results) == {("ok", EventOutcome.PAID): 1, ("ok", EventOutcome.DUPLICATE_PAYMENT): 1}, results
    charge.refresh_from_db()
    (refund,) = Refund.objects.all()
    assert refund.cause == RefundCause.DUPLICATE and refund.payment_id != charge.payment_id
    assert recorder.paid == [charge.pk]


def test_a_workflow_that_locks_the_charge_first_does_not_deadlock_with_a_callback(flow, payer, recorder):
    """on_paid locks the workflow's row (here: the payer's user row stands in for an order) inside the callback's
    transaction; the workflow's own cancellation locks the charge first (lock_charge), then its row."""
    from django.db import transaction

    from ihospital.accounts.models import User
    from ihospital.payments import handlers
    from tests.payments.flows import KIND

    def on_paid(charge):
        User.objects.select_for_update().get(pk=charge.payer_id)
        return True

    handlers.register(KIND, on_paid=on_paid)
    for _ in range(5):
        charge = flow.charge(payer, amount_fen=1500)
        payment, _ = flow.start(charge)

        def act(i, charge=charge, payment=payment):
            if i == 0:
                with transaction.atomic():
                    services.lock_charge(charge_id=charge.pk)
                    User.objects.select_for_update().get(pk=payer.pk)
                    return services.cancel_charge(charge_id=charge.pk, reason="cancelled by the patient").status
            return services.handle_notification(provider="sandbox",
                                                notification=success(payment, f"EVT-L-{payment.pk}"))[0].outcome

        results = run_in_threads(2, act)
        assert all(kind in ("ok", "domain") for kind, _ in results), results


def test_a_cancellation_meeting_a_success_never_keeps_the_money(flow, payer, recorder):
    for _ in range(4):
        charge = flow.charge(payer, amount_fen=2000)
        payment, _ = flow.start(charge)

        def act(i, charge=charge, payment=payment):
            if i == 0:
                return services.cancel_charge(charge_id=charge.pk, reason="timed out").status
            return services.handle_notification(provider="sandbox",
                                                notification=success(payment, f"EVT-{payment.pk}"))[0].outcome

        results = dict(enumerate(run_in_threads(2, act)))
        charge = Charge.objects.get(pk=charge.pk)
        if charge.status == ChargeStatus.PAID:
            assert results[0] == ("domain", "charge_paid") and results[1] == ("ok", EventOutcome.PAID)
            assert not Refund.objects.filter(charge=charge).exists()
        else:
            assert charge.status == ChargeStatus.CANCELLED and results[1] == ("ok", EventOutcome.LATE_PAYMENT)
            assert Refund.objects.get(charge=charge).cause == RefundCause.CHARGE_CLOSED
