"""What every payment provider offers the platform, and the registry that picks one by settings.

A provider is a payment company seen from the merchant's side:

* ``start(payment) -> str``: open the attempt at the provider; answer the address where the payer pays (the sandbox's
  checkout page, WeChat Pay's ``code_url`` for a QR code).
* ``close(payment)``: the platform gave up on the attempt; the provider must no longer take money for it.
* ``request_refund(refund)``: ask for money back; the answer arrives later, by callback.
* ``parse_callback(request) -> Notification``: verify a callback's signature and freshness and translate it. It
  raises ``BadSignature`` for anything forged or tampered with and ``StaleCallback`` for a replay of an old one,
  and ``BadNotification`` for a signed body it cannot read.

The platform never trusts a provider's word without a verified signature, and never asks a provider whether something
happened except through these four calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

# Callbacks signed longer ago than this are refused (a replay of a captured one); providers re-sign each retry.
MAX_CALLBACK_AGE_SECONDS = 300

PAYMENT = "payment"
REFUND = "refund"

SUCCEEDED = "succeeded"
FAILED = "failed"
CLOSED = "closed"


class CallbackRejected(Exception):
    code = "bad_notification"
    status = 400


class BadSignature(CallbackRejected):
    code = "bad_signature"
    status = 403


class StaleCallback(CallbackRejected):
    code = "stale_timestamp"
    status = 403


class BadNotification(CallbackRejected):
    code = "bad_notification"
    status = 400


class ProviderError(Exception):
    """The provider could not be reached or refused a request (the caller retries or gives up)."""


@dataclass(frozen=True)
class Notification:
    """A verified callback, in the platform's words.

    ``kind`` is ``PAYMENT`` (about ``out_trade_no``) or ``REFUND`` (about ``out_refund_no``); ``status`` is
    ``SUCCEEDED``, ``FAILED`` or (payments only) ``CLOSED``. ``payload`` is what is kept in ``ProviderEvent``: the
    provider's facts about the money, never the payer's account details.
    """

    event_id: str
    kind: str
    status: str
    amount_fen: int
    out_trade_no: str = ""
    out_refund_no: str = ""
    provider_txn_id: str = ""
    provider_refund_id: str = ""
    currency: str = "CNY"
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def event_kind(self) -> str:
        return f"{self.kind}.{self.status}"


class Provider:
    name: ClassVar[str] = ""

    def start(self, payment) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self, payment) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def request_refund(self, refund) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def parse_callback(self, request) -> Notification:  # pragma: no cover - interface
        raise NotImplementedError


BUILT_IN = {
    "sandbox": "ihospital.payments.providers.sandbox.SandboxProvider",
    "wechatpay": "ihospital.payments.providers.wechatpay.WeChatPayProvider",
}


def provider_paths() -> dict[str, str]:
    return {**BUILT_IN, **getattr(settings, "PAYMENT_PROVIDER_CLASSES", {})}


def enabled() -> list[str]:
    """The providers this deployment takes payments and callbacks with: ``PAYMENT_PROVIDERS``, else the default."""
    names = list(getattr(settings, "PAYMENT_PROVIDERS", None) or [])
    default = default_name()
    return names if default in names else [default, *names]


def default_name() -> str:
    return getattr(settings, "PAYMENT_PROVIDER", "sandbox") or "sandbox"


def get(name: str | None = None, *, require_enabled: bool = True) -> Provider:
    """The provider called ``name`` (default ``PAYMENT_PROVIDER``); ``KeyError`` when it is not enabled.

    New payments and callbacks need an enabled provider; closing an attempt or refunding money taken earlier
    (``require_enabled=False``) still reaches a provider the hospital has since switched away from.
    """
    name = name or default_name()
    if require_enabled and name not in enabled():
        raise KeyError(name)
    path = provider_paths().get(name)
    if path is None:
        raise ImproperlyConfigured(f"unknown payment provider {name!r} (known: {', '.join(provider_paths())})")
    return import_string(path)()
