"""Refunds: partial and full, confirmed by the provider's callback; never more than was paid, pending ones counted;
only for a paid charge; and the charge's own lifecycle (create, cancel, expire) around them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ihospital.core.errors import DomainError
from ihospital.core.models import AuditEvent, AuditOutcome
from ihospital.payments import services
from ihospital.payments.models import (
    Charge,
    ChargeStatus,
    EventOutcome,
    PaymentStatus,
    ProviderEvent,
    Refund,
    RefundCause,
    RefundStatus,
    SandboxRefund,
    SandboxStatus,
    SandboxTransaction,
)
from ihospital.payments.providers import sandbox
from tests.payments.flows import KIND, task_rows

pytestmark = pytest.mark.django_db


def code_of(call) -> str:
    with pytest.raises(DomainError) as refused:
        call()
    return refused.value.code


def test_a_partial_then_a_full_refund(flow, payer, recorder):
    charge = flow.charge(payer, amount_fen=10000)
    payment = flow.pay(charge)

    part = flow.refund(charge, 3000, reason="one item out of stock")
    charge.refresh_from_db()
    assert (part.status, part.cause, part.amount_fen) == (RefundStatus.PENDING, RefundCause.REQUESTED, 3000)
    assert (charge.refunded_fen, charge.refund_reserved_fen, charge.refundable_fen) == (0, 3000, 7000)

    flow.settle()
    part.refresh_from_db()
    charge.refresh_from_db()
    assert part.status == RefundStatus.SUCCEEDED and part.provider_refund_id.startswith("SBR")
    assert (charge.refunded_fen, charge.refund_reserved_fen, charge.refundable_fen) == (3000, 0, 7000)
    assert recorder.refunded == [(charge.pk, 3000)]

    rest = flow.refund(charge, None, reason="delivery failed")
    assert rest.amount_fen == 7000
    flow.settle()
    charge.refresh_from_db()
    payment.refresh_from_db()
    assert (charge.status, charge.refunded_fen, charge.refundable_fen) == (ChargeStatus.PAID, 10000, 0)
    assert payment.refunded_fen == 10000
    assert recorder.refunded == [(charge.pk, 3000), (charge.pk, 7000)]
    assert SandboxTransaction.objects.get(out_trade_no=payment.out_trade_no).refunded_fen == 10000
    kinds = list(ProviderEvent.objects.order_by("id").values_list("kind", "outcome"))
    assert kinds == [("payment.succeeded", EventOutcome.PAID), ("refund.succeeded", EventOutcome.REFUNDED),
                     ("refund.succeeded", EventOutcome.REFUNDED)]

    assert code_of(lambda: flow.refund(charge, 1)) == "refund_exceeds_payment"
    assert code_of(lambda: flow.refund(charge, None)) == "refund_exceeds_payment"


def test_pending_refunds_count_against_what_is_left(flow, payer):
    charge = flow.charge(payer, amount_fen=10000)
    flow.pay(charge)
    flow.refund(charge, 6000)  # not yet confirmed

    assert code_of(lambda: flow.refund(charge, 5000)) == "refund_exceeds_payment"
    assert flow.refund(charge, 4000).amount_fen == 4000
    assert code_of(lambda: flow.refund(charge, 1)) == "refund_exceeds_payment"
    charge.refresh_from_db()
    assert (charge.refunded_fen, charge.refund_reserved_fen) == (0, 10000)


def test_the_database_refuses_refunds_beyond_the_amount():
    from django.db import IntegrityError, transaction

    from tests.factories import UserFactory

    charge = Charge.objects.create(reference="x:1", kind="x", amount_fen=100, subject="s", payer=UserFactory(),
                                   expires_at=timezone.now() + timedelta(hours=1))
    with pytest.raises(IntegrityError), transaction.atomic():
        Charge.objects.filter(pk=charge.pk).update(refunded_fen=60, refund_reserved_fen=41)
    with pytest.raises(IntegrityError), transaction.atomic():
        Charge.objects.filter(pk=charge.pk).update(amount_fen=0)


def test_refunds_need_a_paid_charge_a_reason_and_a_sensible_amount(flow, payer):
    charge = flow.charge(payer)
    assert code_of(lambda: flow.refund(charge, 100)) == "charge_not_paid"
    flow.pay(charge)
    assert code_of(lambda: flow.refund(charge, 100, reason="  ")) == "reason_required"
    for bad in (0, -5, 1.5, True, "100"):
        assert code_of(lambda bad=bad: flow.refund(charge, bad)) == "invalid_amount"
    assert code_of(lambda: services.refund(actor=None, charge_id=999999, reason="x")) == "not_found"
    assert Refund.objects.count() == 0


def test_a_refund_the_provider_refuses_gives_its_reservation_back(flow, payer, recorder):
    charge = flow.charge(payer, amount_fen=10000)
    payment = flow.pay(charge)
    # The provider's books disagree (say, refunded at the counter already): it answers with a failure callback.
    SandboxTransaction.objects.filter(out_trade_no=payment.out_trade_no).update(refunded_fen=9000)
    item = flow.refund(charge, 2000)
    flow.settle()
    item.refresh_from_db()
    charge.refresh_from_db()
    assert item.status == RefundStatus.FAILED
    assert (charge.refunded_fen, charge.refund_reserved_fen, charge.refundable_fen) == (0, 0, 10000)
    assert ProviderEvent.objects.filter(outcome=EventOutcome.REFUND_FAILED).count() == 1
    assert recorder.refunded == []


def test_a_refund_callback_for_another_amount_is_rejected(flow, payer):
    charge = flow.charge(payer, amount_fen=10000)
    payment = flow.pay(charge)
    item = flow.refund(charge, 2000)
    response = flow.notify("refund.succeeded", {"out_trade_no": payment.out_trade_no, "out_refund_no":
                                                item.out_refund_no, "refund_id": "R1", "amount_fen": 9999})
    assert response.json()["outcome"] == EventOutcome.AMOUNT_MISMATCH
    item.refresh_from_db()
    assert item.status == RefundStatus.PENDING


def test_a_refund_request_is_retried_while_the_provider_is_down(flow, payer, monkeypatch, settings):
    settings.PAYMENTS_PROVIDER_RETRY_SECONDS = ["30", "60"]
    charge = flow.charge(payer, amount_fen=10000)
    flow.pay(charge)
    real = sandbox.SandboxProvider.request_refund
    calls = []

    def down(self, refund):
        calls.append(refund.pk)
        raise OSError("connection reset")

    monkeypatch.setattr(sandbox.SandboxProvider, "request_refund", down)
    item = flow.refund(charge, 500)
    assert flow.settle() == ["submit_refund:retry"]
    (row,) = task_rows(task_path__endswith="submit_refund", status="READY")
    assert row.args_kwargs["args"] == [item.pk, 2]
    assert timedelta(seconds=25) < row.run_after - timezone.now() <= timedelta(seconds=30)

    monkeypatch.setattr(sandbox.SandboxProvider, "request_refund", real)
    assert flow.settle(until=timezone.now() + timedelta(seconds=31))[:1] == ["submit_refund:submitted"]
    flow.settle(until=timezone.now() + timedelta(seconds=31))
    item.refresh_from_db()
    assert item.status == RefundStatus.SUCCEEDED and item.submitted_at and len(calls) == 1
    assert SandboxRefund.objects.count() == 1


def test_a_refund_the_provider_never_takes_stays_pending_and_is_flagged(flow, payer, monkeypatch, settings):
    settings.PAYMENTS_PROVIDER_RETRY_SECONDS = ["1"]
    charge = flow.charge(payer, amount_fen=10000)
    flow.pay(charge)

    def down(self, refund):
        raise OSError("connection reset")

    monkeypatch.setattr(sandbox.SandboxProvider, "request_refund", down)
    item = flow.refund(charge, 500)
    ran = flow.settle(until=timezone.now() + timedelta(seconds=5))
    assert ran == ["submit_refund:retry", "submit_refund:gave_up"]
    item.refresh_from_db()
    charge.refresh_from_db()
    assert item.status == RefundStatus.PENDING and charge.refund_reserved_fen == 500
    flagged = AuditEvent.objects.get(detail__event="refund_not_submitted")
    assert flagged.outcome == AuditOutcome.FAILED and "connection reset" in flagged.detail["error"]


# ---- the charge's life -----------------------------------------------------------------------------------------


def test_creating_a_charge_checks_what_it_is_given(flow, payer):
    later = timezone.now() + timedelta(minutes=5)

    def create(**kw):
        args = {"reference": f"{KIND}:1", "amount_fen": 100, "subject": "药", "payer": payer, "expires_at": later}
        return lambda: services.create_charge(**{**args, **kw})

    assert code_of(create(reference="order")) == "invalid_reference"
    assert code_of(create(reference=":12")) == "invalid_reference"
    assert code_of(create(reference="order:")) == "invalid_reference"
    for bad in (0, -1, 1.0, True, "100", 10**9):
        assert code_of(create(amount_fen=bad)) == "invalid_amount"
    assert code_of(create(subject=" ")) == "subject_required"
    assert code_of(create(expires_at=timezone.now() - timedelta(seconds=1))) == "invalid_expiry"
    assert code_of(create(expires_at=later.replace(tzinfo=None))) == "invalid_expiry"
    assert Charge.objects.count() == 0

    charge = flow.charge(payer, reference="order:77", amount_fen=100)
    assert (charge.kind, charge.reference_key, charge.amount_yuan) == ("order", "77", "1.00")
    assert code_of(create(reference="order:77")) == "charge_exists"
    (row,) = task_rows(task_path__endswith="expire_charge")
    assert row.args_kwargs["args"] == [charge.pk] and row.run_after == charge.expires_at

    flow.cancel(charge)
    assert flow.charge(payer, reference="order:77").status == ChargeStatus.OPEN  # a new charge after a cancelled one


def test_cancelling_closes_pending_attempts_and_is_idempotent(flow, payer):
    charge = flow.charge(payer)
    payment, _ = flow.start(charge)
    cancelled = flow.cancel(charge, reason="unpaid order timed out")
    assert (cancelled.status, cancelled.status_reason) == (ChargeStatus.CANCELLED, "unpaid order timed out")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CLOSED
    flow.settle()
    assert SandboxTransaction.objects.get(out_trade_no=payment.out_trade_no).status == SandboxStatus.CLOSED
    assert flow.cancel(charge).status == ChargeStatus.CANCELLED
    assert code_of(lambda: flow.start(charge)) == "charge_not_open"


def test_a_paid_charge_is_refunded_not_cancelled(flow, payer):
    charge = flow.charge(payer)
    flow.pay(charge)
    assert code_of(lambda: flow.cancel(charge)) == "charge_paid"
    assert code_of(lambda: services.cancel_charge(charge_id=999999, reason="x")) == "not_found"


def test_an_open_charge_expires_at_its_time_and_a_later_payment_is_refunded(flow, payer, recorder):
    charge = flow.charge(payer, amount_fen=2500, expires_at=timezone.now() + timedelta(minutes=15))
    payment, url = flow.start(charge)
    flow.checkout(url, payer)  # paid at the provider; the callback will be late

    # Fifteen minutes pass and the callback is still held up: the expiry runs first.
    task_rows(task_path__endswith="deliver_sandbox_notification").update(run_after=timezone.now() + timedelta(hours=1))
    Charge.objects.filter(pk=charge.pk).update(expires_at=timezone.now())
    task_rows(task_path__endswith="expire_charge").update(run_after=timezone.now())
    assert flow.settle() == ["expire_charge:expired", "close_payment:closed"]
    charge.refresh_from_db()
    payment.refresh_from_db()
    assert charge.status == ChargeStatus.EXPIRED and payment.status == PaymentStatus.CLOSED
    assert code_of(lambda: flow.start(charge)) == "charge_not_open"

    flow.settle(until=timezone.now() + timedelta(hours=2))
    charge.refresh_from_db()
    (refund,) = Refund.objects.all()
    assert (refund.cause, refund.status) == (RefundCause.CHARGE_CLOSED, RefundStatus.SUCCEEDED)
    assert charge.status == ChargeStatus.EXPIRED and recorder.paid == []


def test_expiry_skips_a_charge_that_was_paid_or_is_not_due(flow, payer):
    charge = flow.charge(payer)
    assert services.expire_charge(charge_id=charge.pk) is False  # not due yet
    flow.pay(charge)
    Charge.objects.filter(pk=charge.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.expire_charge(charge_id=charge.pk) is False
    charge.refresh_from_db()
    assert charge.status == ChargeStatus.PAID


def test_starting_a_charge_past_its_time_is_refused_even_before_the_task_ran(flow, payer):
    charge = flow.charge(payer)
    Charge.objects.filter(pk=charge.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert code_of(lambda: flow.start(charge)) == "charge_expired"
