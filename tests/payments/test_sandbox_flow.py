"""The sandbox provider end to end: a charge, the checkout page, the signed callback delivered over "HTTP" (Django's
test client) after commit by a task, and the charge paid once, with the workflow told once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from ihospital.core.audit import verify_chain
from ihospital.core.models import AuditEvent
from ihospital.core.transitions import timeline
from ihospital.payments import services
from ihospital.payments.models import (
    ChargeStatus,
    EventOutcome,
    Payment,
    PaymentStatus,
    ProviderEvent,
    SandboxNotification,
    SandboxStatus,
    SandboxTransaction,
)
from ihospital.payments.providers import sandbox

pytestmark = pytest.mark.django_db


def test_pay_through_the_checkout_page(flow, payer, recorder):
    charge = flow.charge(payer, amount_fen=12345)
    payment, url = flow.start(charge)

    assert url == f"/payments/sandbox/checkout/{payment.out_trade_no}/"
    assert (payment.status, payment.amount_fen, payment.provider) == (PaymentStatus.PENDING, 12345, "sandbox")
    txn = SandboxTransaction.objects.get(out_trade_no=payment.out_trade_no)
    assert txn.notify_url == "http://testserver/payments/notify/sandbox/"
    assert (txn.amount_fen, txn.payer_id, txn.status) == (12345, payer.pk, SandboxStatus.PENDING)

    browser = Client()
    browser.force_login(payer)
    page = browser.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    text = page.content.decode()
    assert "123.45" in text and "药品订单" in text and 'data-testid="sandbox-pay"' in text

    response = flow.checkout(url, payer)
    assert response.status_code == 302
    # The sandbox decided on its own books; the platform knows nothing until the callback arrives.
    charge.refresh_from_db()
    assert charge.status == ChargeStatus.OPEN and recorder.paid == []

    assert flow.settle() == ["deliver_sandbox_notification:delivered"]
    (delivery,) = flow.deliveries
    assert delivery.status == 200 and delivery.url == "http://testserver/payments/notify/sandbox/"
    assert set(delivery.headers) >= {"X-Sandbox-Timestamp", "X-Sandbox-Nonce", "X-Sandbox-Signature"}

    charge.refresh_from_db()
    payment.refresh_from_db()
    assert charge.status == ChargeStatus.PAID and charge.payment_id == payment.pk and charge.paid_at
    assert payment.status == PaymentStatus.SUCCEEDED and payment.provider_txn_id == txn.transaction_id
    assert recorder.paid == [charge.pk]
    (event,) = ProviderEvent.objects.all()
    assert (event.kind, event.outcome, event.payment_id) == ("payment.succeeded", EventOutcome.PAID, payment.pk)
    assert [(e.from_status, e.to_status) for e in timeline(charge)] == [("open", "paid")]
    assert SandboxNotification.objects.get().state == SandboxNotification.State.DELIVERED

    # Every step is in the audit log, and the chain holds.
    events = [e.detail["event"] for e in AuditEvent.objects.filter(object_type__startswith="payments.")]
    assert events == ["charge_created", "payment_started", "charge_paid"]
    assert verify_chain().ok

    # The page now says it is paid and offers the way back.
    page = browser.get(url)
    assert 'data-state="paid"' in page.content.decode() and 'data-testid="sandbox-pay"' not in page.content.decode()


def test_a_declined_payment_leaves_the_charge_open_and_a_new_attempt_pays_it(flow, payer, recorder):
    charge = flow.charge(payer)
    first, url = flow.start(charge)
    flow.checkout(url, payer, action="decline")
    flow.settle()

    first.refresh_from_db()
    charge.refresh_from_db()
    assert first.status == PaymentStatus.FAILED
    assert charge.status == ChargeStatus.OPEN and recorder.paid == []
    assert ProviderEvent.objects.get().outcome == EventOutcome.FAILED

    second = flow.pay(charge)
    assert second.pk != first.pk and second.status == PaymentStatus.SUCCEEDED
    assert charge.status == ChargeStatus.PAID and charge.payment_id == second.pk
    assert recorder.paid == [charge.pk]


def test_a_new_attempt_closes_the_pending_one_here_and_at_the_sandbox(flow, payer):
    charge = flow.charge(payer)
    first, _ = flow.start(charge)
    second, url = flow.start(charge)
    first.refresh_from_db()
    assert first.status == PaymentStatus.CLOSED
    flow.settle()  # the close reaches the provider
    assert SandboxTransaction.objects.get(out_trade_no=first.out_trade_no).status == SandboxStatus.CLOSED
    assert SandboxTransaction.objects.get(out_trade_no=second.out_trade_no).status == SandboxStatus.PENDING

    # Paying the closed attempt's page is no longer possible.
    first_url = f"/payments/sandbox/checkout/{first.out_trade_no}/"
    flow.checkout(first_url, payer)
    assert SandboxTransaction.objects.get(out_trade_no=first.out_trade_no).status == SandboxStatus.CLOSED
    assert SandboxNotification.objects.count() == 0


def test_only_the_payer_sees_the_checkout_page(flow, payer, stranger):
    charge = flow.charge(payer)
    payment, url = flow.start(charge)

    anonymous = Client().get(url)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]

    other = Client()
    other.force_login(stranger)
    assert other.get(url).status_code == 404
    assert other.post(url, {"action": "pay"}).status_code == 404
    assert SandboxTransaction.objects.get(out_trade_no=payment.out_trade_no).status == SandboxStatus.PENDING
    assert SandboxNotification.objects.count() == 0


def test_the_checkout_page_speaks_chinese(flow, payer):
    charge = flow.charge(payer, amount_fen=800)
    _, url = flow.start(charge)
    browser = Client()
    browser.force_login(payer)
    text = browser.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "8.00" in text
    assert "支付" in text and "拒绝" in text and "沙箱" in text


def test_the_checkout_page_goes_back_to_a_safe_next_address(flow, payer):
    charge = flow.charge(payer)
    _, url = flow.start(charge)
    browser = Client()
    browser.force_login(payer)
    with flow.capture(execute=True):
        response = browser.post(url, {"action": "pay", "next": "/prescriptions/"})
    assert response["Location"] == url + "?next=%2Fprescriptions%2F"
    assert 'href="/prescriptions/"' in browser.get(response["Location"]).content.decode()
    evil = browser.get(url + "?next=https://evil.example/").content.decode()
    assert 'href="https://evil.example/"' not in evil and 'href="/" data-testid="sandbox-back"' in evil


def test_the_notify_address_follows_site_url(flow, payer, settings):
    settings.SITE_URL = "https://hospital.example.cn"
    charge = flow.charge(payer)
    payment, _ = flow.start(charge)
    assert SandboxTransaction.objects.get(out_trade_no=payment.out_trade_no).notify_url == (
        "https://hospital.example.cn/payments/notify/sandbox/")


def test_the_callback_waits_the_configured_delay(flow, payer, settings):
    settings.PAYMENTS_SANDBOX_DELAY_SECONDS = 1
    charge = flow.charge(payer)
    _, url = flow.start(charge)
    before = timezone.now()
    flow.checkout(url, payer)
    (row,) = [r for r in flow_rows() if r.task_path.endswith("deliver_sandbox_notification")]
    assert row.run_after >= before + timedelta(seconds=1)
    assert flow.settle() == []  # not due yet
    assert flow.settle(until=timezone.now() + timedelta(seconds=2)) == ["deliver_sandbox_notification:delivered"]


def flow_rows():
    from tests.payments.flows import task_rows

    return list(task_rows())


def test_paying_after_the_sandbox_order_expired_is_refused(flow, payer):
    charge = flow.charge(payer)
    payment, url = flow.start(charge)
    SandboxTransaction.objects.filter(out_trade_no=payment.out_trade_no).update(
        expires_at=timezone.now() - timedelta(seconds=1))
    flow.checkout(url, payer)
    assert SandboxTransaction.objects.get(out_trade_no=payment.out_trade_no).status == SandboxStatus.CLOSED
    assert SandboxNotification.objects.count() == 0


def test_the_sandbox_is_closed_when_it_is_not_enabled(flow, payer, settings):
    charge = flow.charge(payer)
    _, url = flow.start(charge)
    settings.PAYMENT_PROVIDER = "wechatpay"
    settings.PAYMENT_PROVIDERS = ["wechatpay"]
    browser = Client()
    browser.force_login(payer)
    assert browser.get(url).status_code == 404
    body = b"{}"
    assert flow.post_notification(body, sandbox.signed_headers(body)) == 404


def test_an_unreachable_provider_fails_the_attempt_and_says_so(flow, payer, monkeypatch):
    def down(self, payment):
        raise OSError("connection refused")

    monkeypatch.setattr(sandbox.SandboxProvider, "start", down)
    charge = flow.charge(payer)
    with pytest.raises(services.DomainError) as refused:
        flow.start(charge)
    assert (refused.value.code, refused.value.status) == ("provider_unavailable", 503)
    assert Payment.objects.get().status == PaymentStatus.FAILED
