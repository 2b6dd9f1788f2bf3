"""The built-in sandbox provider: a small payment company that runs inside the deployment.

It keeps its own books (``SandboxTransaction``, ``SandboxRefund``), shows the payer a checkout page
(``/payments/sandbox/checkout/<out_trade_no>/``) and, when the payer pays or declines, does *not* touch the
platform's tables: like a real provider it owes the merchant a callback, which a task POSTs over HTTP to the notify
address (``<SITE_URL>/payments/notify/sandbox/``) a moment later (``PAYMENTS_SANDBOX_DELAY_SECONDS``).

The protocol (docs/payments.md):

* body: JSON ``{"id": event id, "event_type": "payment.succeeded" | "payment.failed" | "refund.succeeded" |
  "refund.failed", "created_at": ISO 8601, "data": {...}}``; each notification has its own event id, and a retry
  re-sends the same body (same id), re-signed;
* headers ``X-Sandbox-Timestamp`` (Unix seconds), ``X-Sandbox-Nonce`` (random), ``X-Sandbox-Signature`` = hex
  HMAC-SHA256 with key ``PAYMENTS_SANDBOX_SECRET`` over ``timestamp + "\\n" + nonce + "\\n" + body + "\\n"``;
* the merchant answers 2xx once it has the notification; anything else (or no answer) is retried after
  ``PAYMENTS_SANDBOX_RETRY_SECONDS`` (as WeChat Pay retries), then given up;
* a timestamp more than five minutes away from the receiver's clock is refused (replay).

``post(url, body, headers)`` is the one function that touches the network; tests replace it.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from ihospital.core import callbacks

from ..models import (
    SandboxNotification,
    SandboxRefund,
    SandboxStatus,
    SandboxTransaction,
)
from .base import (
    FAILED,
    MAX_CALLBACK_AGE_SECONDS,
    PAYMENT,
    REFUND,
    SUCCEEDED,
    BadNotification,
    BadSignature,
    Notification,
    Provider,
    ProviderError,
    StaleCallback,
)

logger = logging.getLogger(__name__)

NAME = "sandbox"
TIMESTAMP_HEADER = "X-Sandbox-Timestamp"
NONCE_HEADER = "X-Sandbox-Nonce"
SIGNATURE_HEADER = "X-Sandbox-Signature"
POST_TIMEOUT_SECONDS = 10

PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_FAILED = "payment.failed"
REFUND_SUCCEEDED = "refund.succeeded"
REFUND_FAILED = "refund.failed"
EVENT_TYPES = {
    PAYMENT_SUCCEEDED: (PAYMENT, SUCCEEDED),
    PAYMENT_FAILED: (PAYMENT, FAILED),
    REFUND_SUCCEEDED: (REFUND, SUCCEEDED),
    REFUND_FAILED: (REFUND, FAILED),
}


# ---- signing ---------------------------------------------------------------------------------------------------


def secret() -> bytes:
    return settings.PAYMENTS_SANDBOX_SECRET.encode()


def signature(*, timestamp: str, nonce: str, body: bytes, key: bytes | None = None) -> str:
    return callbacks.signature(key=key if key is not None else secret(), timestamp=timestamp, nonce=nonce, body=body)


def signed_headers(body: bytes, *, timestamp: int | None = None, nonce: str | None = None,
                   key: bytes | None = None) -> dict[str, str]:
    return callbacks.signed_headers(body, key=key if key is not None else secret(), timestamp=timestamp,
                                    nonce=nonce, names=(TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER))


def notify_url() -> str:
    return settings.SITE_URL.rstrip("/") + reverse("payments:notify", args=[NAME])


# ---- the network -----------------------------------------------------------------------------------------------


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST ``body`` to ``url``; answer the HTTP status. A connection failure raises ``OSError``."""
    return callbacks.http_post(url, body, headers, timeout=POST_TIMEOUT_SECONDS)


# ---- the provider as the platform sees it ---------------------------------------------------------------------


class SandboxProvider(Provider):
    name = NAME

    def start(self, payment) -> str:
        charge = payment.charge
        SandboxTransaction.objects.get_or_create(
            out_trade_no=payment.out_trade_no,
            defaults={
                "transaction_id": "SBX" + secrets.token_hex(12).upper(),
                "merchant": settings.HOSPITAL_NAME,
                "subject": charge.subject,
                "amount_fen": payment.amount_fen,
                "payer_id": charge.payer_id,
                "notify_url": notify_url(),
                "expires_at": charge.expires_at,
            },
        )
        return reverse("payments:sandbox_checkout", args=[payment.out_trade_no])

    def close(self, payment) -> None:
        SandboxTransaction.objects.filter(out_trade_no=payment.out_trade_no, status=SandboxStatus.PENDING).update(
            status=SandboxStatus.CLOSED, updated_at=timezone.now()
        )

    def request_refund(self, refund) -> None:
        with transaction.atomic():
            txn = SandboxTransaction.objects.select_for_update().filter(
                out_trade_no=refund.payment.out_trade_no).first()
            if txn is None:
                raise ProviderError(f"no sandbox transaction {refund.payment.out_trade_no}")
            if SandboxRefund.objects.filter(out_refund_no=refund.out_refund_no).exists():
                return  # asked again (a retried task): the first answer stands
            # The sandbox checks what a real provider checks: only paid money, and never more than was paid.
            ok = txn.status == SandboxStatus.PAID and txn.refunded_fen + refund.amount_fen <= txn.amount_fen
            if ok:
                txn.refunded_fen += refund.amount_fen
                txn.save(update_fields=["refunded_fen", "updated_at"])
            sandbox_refund = SandboxRefund.objects.create(
                transaction=txn, out_refund_no=refund.out_refund_no, refund_id="SBR" + secrets.token_hex(12).upper(),
                amount_fen=refund.amount_fen, succeeded=ok, notify_url=txn.notify_url,
            )
            queue_notification(
                REFUND_SUCCEEDED if ok else REFUND_FAILED,
                {
                    "out_trade_no": txn.out_trade_no,
                    "out_refund_no": sandbox_refund.out_refund_no,
                    "refund_id": sandbox_refund.refund_id,
                    "amount_fen": sandbox_refund.amount_fen,
                    "currency": "CNY",
                    "status": "succeeded" if ok else "failed",
                },
                url=txn.notify_url,
            )

    def parse_callback(self, request) -> Notification:
        return parse(body=request.body, headers=request.headers)


def parse(*, body: bytes, headers) -> Notification:
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    nonce = headers.get(NONCE_HEADER, "")
    given = headers.get(SIGNATURE_HEADER, "")
    if not (timestamp and nonce and given):
        raise BadSignature("signature headers missing")
    if not hmac.compare_digest(signature(timestamp=timestamp, nonce=nonce, body=body), given.strip().lower()):
        raise BadSignature("signature does not match")
    try:
        signed_at = int(timestamp)
    except ValueError:
        raise BadSignature("timestamp is not a number") from None
    if abs(time.time() - signed_at) > MAX_CALLBACK_AGE_SECONDS:
        raise StaleCallback("timestamp too old")
    try:
        message = json.loads(body)
        event_id = message["id"]
        kind, status = EVENT_TYPES[message["event_type"]]
        data = message["data"]
        amount = data["amount_fen"]
    except (ValueError, KeyError, TypeError):
        raise BadNotification("not a sandbox notification") from None
    if not isinstance(event_id, str) or not event_id or len(event_id) > 64:
        raise BadNotification("bad event id")
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise BadNotification("bad amount")
    text = {key: str(data.get(key, ""))[:64] for key in ("out_trade_no", "out_refund_no", "transaction_id",
                                                          "refund_id", "currency", "status")}
    return Notification(
        event_id=event_id,
        kind=kind,
        status=status,
        amount_fen=amount,
        out_trade_no=text["out_trade_no"],
        out_refund_no=text["out_refund_no"],
        provider_txn_id=text["transaction_id"],
        provider_refund_id=text["refund_id"],
        currency=text["currency"] or "CNY",
        payload={"event_type": message["event_type"], "created_at": str(message.get("created_at", "")),
                 "data": {**{k: v for k, v in text.items() if v}, "amount_fen": amount}},
    )


# ---- the payer's side (the checkout page) ----------------------------------------------------------------------


class CheckoutRefused(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def transaction_for(*, out_trade_no: str, user) -> SandboxTransaction | None:
    """The sandbox order, only for its payer (anyone else learns nothing, not even that it exists)."""
    if not getattr(user, "is_authenticated", False):
        return None
    return SandboxTransaction.objects.filter(out_trade_no=out_trade_no, payer=user).first()


def pay(*, out_trade_no: str, user) -> SandboxTransaction:
    return _decide(out_trade_no=out_trade_no, user=user, paid=True)


def decline(*, out_trade_no: str, user) -> SandboxTransaction:
    return _decide(out_trade_no=out_trade_no, user=user, paid=False)


def _decide(*, out_trade_no: str, user, paid: bool) -> SandboxTransaction:
    with transaction.atomic():
        txn = SandboxTransaction.objects.select_for_update().filter(out_trade_no=out_trade_no, payer=user).first()
        if txn is None:
            raise CheckoutRefused("not_found")
        if txn.status != SandboxStatus.PENDING:
            raise CheckoutRefused(txn.status)
        if paid and txn.expires_at is not None and txn.expires_at <= timezone.now():
            txn.status = SandboxStatus.CLOSED
            txn.save(update_fields=["status", "updated_at"])
            return txn
        txn.status = SandboxStatus.PAID if paid else SandboxStatus.DECLINED
        txn.save(update_fields=["status", "updated_at"])
        queue_notification(
            PAYMENT_SUCCEEDED if paid else PAYMENT_FAILED,
            {
                "out_trade_no": txn.out_trade_no,
                "transaction_id": txn.transaction_id,
                "amount_fen": txn.amount_fen,
                "currency": "CNY",
                "status": "paid" if paid else "declined",
            },
            url=txn.notify_url,
        )
    return txn


# ---- delivering callbacks --------------------------------------------------------------------------------------


def queue_notification(event_type: str, data: dict, *, url: str) -> SandboxNotification:
    """Owe the merchant one callback; a task delivers it after ``PAYMENTS_SANDBOX_DELAY_SECONDS``, after commit."""
    event_id = "EVT" + secrets.token_hex(16).upper()
    body = json.dumps(
        {"id": event_id, "event_type": event_type, "created_at": timezone.now().isoformat(timespec="seconds"),
         "data": data},
        ensure_ascii=False, separators=(",", ":"),
    )
    run_after = timezone.now() + timedelta(seconds=settings.PAYMENTS_SANDBOX_DELAY_SECONDS)
    notification = SandboxNotification.objects.create(event_id=event_id, url=url, body=body,
                                                      next_attempt_at=run_after)
    from .. import tasks

    transaction.on_commit(lambda: tasks.deliver_sandbox_notification.using(run_after=run_after)
                          .enqueue(notification.pk))
    return notification


def retry_delays() -> list[int]:
    return [int(s) for s in settings.PAYMENTS_SANDBOX_RETRY_SECONDS]


def deliver(notification_id: int) -> str:
    """One delivery attempt (no transaction is held while the merchant is being called)."""
    notification = SandboxNotification.objects.filter(pk=notification_id).first()
    if notification is None or notification.state != SandboxNotification.State.PENDING:
        return "skipped"
    body = notification.body.encode()
    status, error = None, ""
    try:
        status = post(notification.url, body, signed_headers(body))
    except Exception as exc:  # noqa: BLE001 - a connection refused, a timeout, a bad address: retry all the same
        error = f"{type(exc).__name__}: {exc}"[:255]
    attempts = notification.attempts + 1
    now = timezone.now()
    if status is not None and 200 <= status < 300:
        SandboxNotification.objects.filter(pk=notification.pk).update(
            state=SandboxNotification.State.DELIVERED, attempts=attempts, last_status=status, last_error="",
            delivered_at=now, next_attempt_at=None,
        )
        return "delivered"
    delays = retry_delays()
    if attempts > len(delays):
        SandboxNotification.objects.filter(pk=notification.pk).update(
            state=SandboxNotification.State.GAVE_UP, attempts=attempts, last_status=status, last_error=error,
            next_attempt_at=None,
        )
        logger.warning("sandbox: gave up notifying %s after %s attempts", notification.event_id, attempts)
        return "gave_up"
    run_after = now + timedelta(seconds=delays[attempts - 1])
    SandboxNotification.objects.filter(pk=notification.pk).update(
        attempts=attempts, last_status=status, last_error=error, next_attempt_at=run_after
    )
    from .. import tasks

    tasks.deliver_sandbox_notification.using(run_after=run_after).enqueue(notification.pk)
    return "retry"
