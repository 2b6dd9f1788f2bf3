"""Every change to charges, payments and refunds: what workflows call, and what providers' callbacks do.

The contract workflows use (keyword-only; docs/payments.md):

* ``create_charge(reference=, amount_fen=, subject=, payer=, expires_at=) -> Charge``
* ``start_payment(actor=, charge_id=, provider=None) -> (Payment, checkout_url)``
* ``cancel_charge(charge_id=, reason=) -> Charge``
* ``refund(actor=, charge_id=, amount_fen=None, reason=) -> Refund``

and ``handlers.register(kind, on_paid=, on_refunded=)``. Callbacks arrive through ``handle_notification`` once a
provider has verified them. Locks are always taken charge first, then its payments and refunds, so a callback and
a cancellation of the same charge queue instead of deadlocking.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import User
from ihospital.core import audit
from ihospital.core.errors import Conflict, DomainError, NotFound
from ihospital.core.models import AuditAction, AuditOutcome
from ihospital.core.transitions import transition

from . import handlers
from .models import (
    CHARGE_REFUND_CAUSES,
    Charge,
    ChargeStatus,
    EventOutcome,
    Payment,
    PaymentStatus,
    ProviderEvent,
    Refund,
    RefundCause,
    RefundStatus,
)
from .providers import base as providers

logger = logging.getLogger(__name__)

MAX_REFERENCE = 64
MAX_SUBJECT = 128
# Larger than any medicine order, small enough that a typo in fen (not yuan) is caught: ¥1,000,000.
MAX_AMOUNT_FEN = 100_000_000


def _number(prefix: str) -> str:
    """A merchant number the provider will know: letters and digits, 25 characters (WeChat Pay allows 6–32)."""
    return f"{prefix}{timezone.now():%Y%m%d}{secrets.token_hex(8).upper()}"


def _is_fen(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _record(obj, detail: dict, *, actor=None, action=AuditAction.UPDATE, outcome=AuditOutcome.OK) -> None:
    audit.record(actor=actor, action=action, obj=obj, outcome=outcome, detail=detail)


def _charge_detail(charge: Charge, event: str, **extra) -> dict:
    return {"event": event, "reference": charge.reference, "amount_fen": charge.amount_fen, "status": charge.status,
            "payer_id": charge.payer_id, **extra}


# ---- charges ---------------------------------------------------------------------------------------------------


def create_charge(*, reference: str, amount_fen: int, subject: str, payer: User, expires_at: datetime) -> Charge:
    """What ``payer`` owes for ``reference`` ("order:12"), payable until ``expires_at``."""
    reference = (reference or "").strip()
    kind, _sep, key = reference.partition(":")
    if not kind or not key or len(reference) > MAX_REFERENCE:
        raise DomainError("invalid_reference", _("A charge needs a reference like order:12."), status=422,
                          fields={"reference": _("Write the kind, a colon and the key, e.g. order:12.")})
    if not _is_fen(amount_fen) or not 0 < amount_fen <= MAX_AMOUNT_FEN:
        raise DomainError("invalid_amount", _("The amount must be a whole number of fen above zero."), status=422,
                          fields={"amount_fen": _("A whole number of fen above zero.")})
    subject = (subject or "").strip()
    if not subject:
        raise DomainError("subject_required", _("Say what the payment is for."), status=422,
                          fields={"subject": _("Say what the payment is for.")})
    if timezone.is_naive(expires_at) or expires_at <= timezone.now():
        raise DomainError("invalid_expiry", _("A charge must expire in the future."), status=422,
                          fields={"expires_at": _("A moment in the future, with its time zone.")})
    if not getattr(payer, "is_authenticated", False) or payer.pk is None:
        raise DomainError("payer_required", _("A charge needs someone to pay it."), status=422)
    try:
        with transaction.atomic():
            charge = Charge.objects.create(
                reference=reference, kind=kind[:32], amount_fen=amount_fen, subject=subject[:MAX_SUBJECT],
                payer=payer, expires_at=expires_at,
            )
            _record(charge, _charge_detail(charge, "charge_created", expires_at=expires_at.isoformat()),
                    action=AuditAction.CREATE)
    except IntegrityError:
        raise Conflict("charge_exists", _("This is already waiting for payment or paid.")) from None
    from . import tasks

    transaction.on_commit(lambda: tasks.expire_charge.using(run_after=expires_at).enqueue(charge.pk))
    return charge


def lock_charge(*, charge_id: int) -> Charge:
    """Lock a charge for the rest of the caller's transaction (``NotFound`` if it does not exist).

    A callback locks the charge and then, in ``on_paid``, the workflow's own row (the order). A workflow that locks
    its row and then calls ``cancel_charge`` or ``refund`` takes the same two locks the other way round, and on
    PostgreSQL the two can deadlock. Calling this first, inside the workflow's transaction and before locking its
    own row, keeps one order: charge, then the workflow's row.
    """
    charge = Charge.objects.select_for_update().filter(pk=charge_id).first()
    if charge is None:
        raise NotFound()
    return charge


def cancel_charge(*, charge_id: int, reason: str) -> Charge:
    """The workflow gives up on an open charge. Cancelled or expired already: answered as is. Paid: refund instead."""
    with transaction.atomic():
        charge = Charge.objects.select_for_update().filter(pk=charge_id).first()
        if charge is None:
            raise NotFound()
        if charge.status in (ChargeStatus.CANCELLED, ChargeStatus.EXPIRED):
            return charge
        if charge.status == ChargeStatus.PAID:
            raise Conflict("charge_paid", _("This has been paid already: refund it instead."))
        reason = (reason or "").strip()[:255] or "cancelled"
        transition(charge, ChargeStatus.CANCELLED, actor=None, reason=reason, status_reason=reason)
        closed = _close_pending(charge, reason="charge cancelled")
        _record(charge, _charge_detail(charge, "charge_cancelled", reason=reason, closed_payments=closed))
    return charge


def expire_charge(*, charge_id: int) -> bool:
    """At ``expires_at`` a charge still open expires (the task re-checks: it was usually paid or cancelled)."""
    with transaction.atomic():
        charge = Charge.objects.select_for_update().filter(pk=charge_id).first()
        if charge is None or charge.status != ChargeStatus.OPEN or charge.expires_at > timezone.now():
            return False
        transition(charge, ChargeStatus.EXPIRED, actor=None, reason="expired", status_reason="expired")
        closed = _close_pending(charge, reason="charge expired")
        _record(charge, _charge_detail(charge, "charge_expired", closed_payments=closed))
    return True


def _close_pending(charge: Charge, *, reason: str, keep: Payment | None = None) -> list[str]:
    """Close the charge's pending attempts here and, after commit, at their providers."""
    from . import tasks

    closed = []
    for payment in charge.payments.select_for_update().filter(status=PaymentStatus.PENDING):
        if keep is not None and payment.pk == keep.pk:
            continue
        transition(payment, PaymentStatus.CLOSED, actor=None, reason=reason)
        closed.append(payment.out_trade_no)
        payment_id = payment.pk
        transaction.on_commit(lambda payment_id=payment_id: tasks.close_payment.enqueue(payment_id))
    return closed


def _require_open(charge: Charge) -> None:
    if charge.status != ChargeStatus.OPEN:
        raise Conflict("charge_not_open", _("This can no longer be paid: it is %(status)s.")
                       % {"status": charge.get_status_display()})
    if charge.expires_at <= timezone.now():
        raise Conflict("charge_expired", _("The time to pay has run out."))


# ---- paying ----------------------------------------------------------------------------------------------------


def start_payment(*, actor: User, charge_id: int, provider: str | None = None) -> tuple[Payment, str]:
    """Open an attempt for the charge's payer; answer it and the address where they pay."""
    name = provider or providers.default_name()
    try:
        impl = providers.get(name)
    except KeyError:
        raise DomainError("unknown_provider", _("This payment method is not available."), status=422,
                          fields={"provider": _("Choose one of: %(names)s.")
                                  % {"names": ", ".join(providers.enabled())}}) from None
    if not getattr(actor, "is_authenticated", False):
        raise NotFound()
    with transaction.atomic():
        charge = Charge.objects.select_for_update().filter(pk=charge_id, payer=actor).first()
        if charge is None:
            raise NotFound()
        _require_open(charge)
        # A new attempt replaces any earlier one still pending (a second tap, another method): those are closed,
        # and money they still collect is refunded as paid twice.
        replaced = _close_pending(charge, reason="replaced by a new attempt")
        payment = Payment.objects.create(charge=charge, provider=name, out_trade_no=_number("P"),
                                         amount_fen=charge.amount_fen)
        _record(payment, _charge_detail(charge, "payment_started", provider=name,
                                        out_trade_no=payment.out_trade_no, replaced=replaced),
                actor=actor, action=AuditAction.CREATE)
    try:
        with transaction.atomic():
            url = impl.start(payment)
            Payment.objects.filter(pk=payment.pk).update(checkout_url=url, updated_at=timezone.now())
    except Exception as exc:
        logger.warning("payments: %s could not start %s: %s", name, payment.out_trade_no, exc)
        with transaction.atomic():
            transition(payment, PaymentStatus.FAILED, actor=actor, reason="the provider could not be reached")
            _record(payment, _charge_detail(charge, "payment_start_failed", provider=name,
                                            out_trade_no=payment.out_trade_no),
                    actor=actor, outcome=AuditOutcome.FAILED)
        raise DomainError("provider_unavailable", _("The payment service cannot be reached. Try again shortly."),
                          status=503) from exc
    payment.checkout_url = url
    return payment, url


# ---- refunds ---------------------------------------------------------------------------------------------------


def refund(*, actor: User | None, charge_id: int, amount_fen: int | None = None, reason: str) -> Refund:
    """Give back part (``amount_fen``) or all (``None``: what is left) of a paid charge; confirmed later by callback."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("reason_required", _("Please give the reason for the refund."), status=422,
                          fields={"reason": _("Please give the reason for the refund.")})
    if amount_fen is not None and (not _is_fen(amount_fen) or amount_fen <= 0):
        raise DomainError("invalid_amount", _("The amount must be a whole number of fen above zero."), status=422,
                          fields={"amount_fen": _("A whole number of fen above zero.")})
    with transaction.atomic():
        charge = Charge.objects.select_for_update().filter(pk=charge_id).first()
        if charge is None:
            raise NotFound()
        if charge.status != ChargeStatus.PAID:
            raise Conflict("charge_not_paid", _("Only a paid charge can be refunded."))
        amount = charge.refundable_fen if amount_fen is None else amount_fen
        if amount <= 0:
            raise _exceeds()
        payment = Payment.objects.get(pk=charge.payment_id)
        return _open_refund(charge, payment, amount=amount, cause=RefundCause.REQUESTED, reason=reason, actor=actor)


def _exceeds() -> Conflict:
    return Conflict("refund_exceeds_payment", _("That is more than what was paid and not yet refunded."))


def _open_refund(charge: Charge, payment: Payment, *, amount: int, cause: str, reason: str, actor=None) -> Refund:
    """Reserve ``amount`` with conditional UPDATEs (never more than paid minus refunded and pending), then ask."""
    room = F("amount_fen") - F("refund_reserved_fen") - amount
    if not Payment.objects.filter(pk=payment.pk, refunded_fen__lte=room).update(
            refund_reserved_fen=F("refund_reserved_fen") + amount, updated_at=timezone.now()):
        raise _exceeds()
    if cause in CHARGE_REFUND_CAUSES and not Charge.objects.filter(
            pk=charge.pk, status=ChargeStatus.PAID, refunded_fen__lte=room).update(
            refund_reserved_fen=F("refund_reserved_fen") + amount, updated_at=timezone.now()):
        raise _exceeds()
    item = Refund.objects.create(charge=charge, payment=payment, out_refund_no=_number("R"), amount_fen=amount,
                                 reason=reason[:255], cause=cause, requested_by=actor if actor and actor.pk else None)
    _record(item, _charge_detail(charge, "refund_requested", refund_fen=amount, cause=cause, reason=reason[:255],
                                 out_trade_no=payment.out_trade_no, out_refund_no=item.out_refund_no),
            actor=actor, action=AuditAction.CREATE)
    from . import tasks

    transaction.on_commit(lambda: tasks.submit_refund.enqueue(item.pk))
    return item


def submit_refund(*, refund_id: int) -> str:
    """Ask the provider for a pending refund (a task; the provider treats the same out_refund_no once)."""
    item = Refund.objects.select_related("payment__charge").filter(pk=refund_id).first()
    if item is None or item.status != RefundStatus.PENDING:
        return "skipped"
    providers.get(item.payment.provider, require_enabled=False).request_refund(item)
    Refund.objects.filter(pk=item.pk, submitted_at__isnull=True).update(submitted_at=timezone.now())
    return "submitted"


def refund_not_submitted(*, refund_id: int, error: str) -> None:
    """The provider could not be asked after every retry: the refund stays pending (its money reserved) and the
    audit log says so, for the hospital's finance staff to settle it by hand."""
    item = Refund.objects.select_related("charge", "payment").filter(pk=refund_id).first()
    if item is not None:
        _record(item, _charge_detail(item.charge, "refund_not_submitted", out_refund_no=item.out_refund_no,
                                     provider=item.payment.provider, error=error[:200]),
                outcome=AuditOutcome.FAILED)


def close_at_provider(*, payment_id: int) -> str:
    payment = Payment.objects.select_related("charge").filter(pk=payment_id).first()
    if payment is None or payment.status != PaymentStatus.CLOSED:
        return "skipped"
    providers.get(payment.provider, require_enabled=False).close(payment)
    return "closed"


# ---- callbacks -------------------------------------------------------------------------------------------------


def handle_notification(*, provider: str, notification: providers.Notification) -> tuple[ProviderEvent, bool]:
    """Apply one verified callback, once: answer its stored event and whether it was new.

    The event row is written in the same transaction as what it changes: a callback that fails half-way leaves
    nothing, and the provider's next delivery tries again. Two deliveries at once meet on the unique event id.
    """
    n = notification
    with transaction.atomic():
        try:
            with transaction.atomic():
                event = ProviderEvent.objects.create(provider=provider, event_id=n.event_id, kind=n.event_kind,
                                                     payload=n.payload)
        except IntegrityError:
            return ProviderEvent.objects.get(provider=provider, event_id=n.event_id), False
        apply = _on_payment if n.kind == providers.PAYMENT else _on_refund
        event.outcome = apply(provider, n, event)
        event.save(update_fields=["outcome", "payment", "refund"])
    return event, True


def _on_payment(provider: str, n: providers.Notification, event: ProviderEvent) -> str:
    found = Payment.objects.filter(provider=provider, out_trade_no=n.out_trade_no).values_list("pk", "charge_id")
    if not found:
        logger.warning("payments: %s event %s for unknown order %s", provider, n.event_id, n.out_trade_no[:32])
        return EventOutcome.UNKNOWN
    ((payment_id, charge_id),) = found
    charge = Charge.objects.select_for_update().get(pk=charge_id)
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    event.payment = payment
    if n.amount_fen != payment.amount_fen or n.currency.upper() != "CNY":
        _record(payment, _charge_detail(charge, "callback_amount_mismatch", provider=provider, event_id=n.event_id,
                                        out_trade_no=payment.out_trade_no, expected_fen=payment.amount_fen,
                                        notified_fen=n.amount_fen, currency=n.currency[:8]),
                outcome=AuditOutcome.FAILED)
        return EventOutcome.AMOUNT_MISMATCH
    if n.status != providers.SUCCEEDED:
        if payment.status != PaymentStatus.PENDING:
            # e.g. "failed" after "succeeded": the later word cannot undo money already taken.
            _record(payment, _charge_detail(charge, "callback_ignored", provider=provider, event_id=n.event_id,
                                            notified=n.status, payment_status=payment.status))
            return EventOutcome.IGNORED
        to = PaymentStatus.FAILED if n.status == providers.FAILED else PaymentStatus.CLOSED
        transition(payment, to, actor=None, reason=f"{provider} {n.status}")
        _record(payment, _charge_detail(charge, f"payment_{to}", provider=provider, out_trade_no=payment.out_trade_no))
        return EventOutcome.FAILED if to == PaymentStatus.FAILED else EventOutcome.CLOSED

    if payment.status == PaymentStatus.SUCCEEDED:
        return EventOutcome.ALREADY_SUCCEEDED
    now = timezone.now()
    transition(payment, PaymentStatus.SUCCEEDED, actor=None, reason=f"{provider} succeeded",
               provider_txn_id=n.provider_txn_id[:64], succeeded_at=now)
    detail = {"provider": provider, "out_trade_no": payment.out_trade_no, "provider_txn_id": n.provider_txn_id[:64]}
    if charge.status == ChargeStatus.OPEN:
        transition(charge, ChargeStatus.PAID, actor=None, reason="paid", paid_at=now, payment=payment)
        _close_pending(charge, reason="the charge was paid by another attempt")
        _record(charge, _charge_detail(charge, "charge_paid", **detail))
        handler = handlers.get(charge.kind)
        wanted = True if handler is None else handler.on_paid(charge)
        if wanted is False:
            _open_refund(charge, payment, amount=payment.amount_fen, cause=RefundCause.NOT_WANTED,
                         reason=f"{charge.kind} no longer wanted the payment")
            return EventOutcome.NOT_WANTED
        return EventOutcome.PAID
    if charge.status == ChargeStatus.PAID:
        _record(payment, _charge_detail(charge, "payment_duplicate", **detail), outcome=AuditOutcome.FAILED)
        _open_refund(charge, payment, amount=payment.amount_fen, cause=RefundCause.DUPLICATE,
                     reason="paid twice: the charge was already paid")
        return EventOutcome.DUPLICATE_PAYMENT
    _record(payment, _charge_detail(charge, "payment_late", **detail), outcome=AuditOutcome.FAILED)
    _open_refund(charge, payment, amount=payment.amount_fen, cause=RefundCause.CHARGE_CLOSED,
                 reason=f"paid after the charge was {charge.status}")
    return EventOutcome.LATE_PAYMENT


def _on_refund(provider: str, n: providers.Notification, event: ProviderEvent) -> str:
    found = Refund.objects.filter(payment__provider=provider, out_refund_no=n.out_refund_no).values_list(
        "pk", "charge_id")
    if not found:
        logger.warning("payments: %s event %s for unknown refund %s", provider, n.event_id, n.out_refund_no[:64])
        return EventOutcome.UNKNOWN
    ((refund_id, charge_id),) = found
    charge = Charge.objects.select_for_update().get(pk=charge_id)
    item = Refund.objects.select_for_update().select_related("payment").get(pk=refund_id)
    event.refund = item
    event.payment = item.payment
    detail = {"provider": provider, "event_id": n.event_id, "out_refund_no": item.out_refund_no,
              "refund_fen": item.amount_fen, "cause": item.cause}
    if n.amount_fen != item.amount_fen:
        _record(item, _charge_detail(charge, "callback_amount_mismatch", notified_fen=n.amount_fen, **detail),
                outcome=AuditOutcome.FAILED)
        return EventOutcome.AMOUNT_MISMATCH
    if item.status != RefundStatus.PENDING:
        _record(item, _charge_detail(charge, "callback_ignored", notified=n.status, refund_status=item.status,
                                     **detail))
        return EventOutcome.IGNORED
    amount = item.amount_fen
    counted = item.counts_for_charge
    if n.status == providers.SUCCEEDED:
        transition(item, RefundStatus.SUCCEEDED, actor=None, reason=f"{provider} confirmed",
                   provider_refund_id=n.provider_refund_id[:64], settled_at=timezone.now())
        moved = {"refunded_fen": F("refunded_fen") + amount, "refund_reserved_fen": F("refund_reserved_fen") - amount}
    else:
        transition(item, RefundStatus.FAILED, actor=None, reason=f"{provider} refused", settled_at=timezone.now())
        moved = {"refund_reserved_fen": F("refund_reserved_fen") - amount}
    Payment.objects.filter(pk=item.payment_id).update(**moved, updated_at=timezone.now())
    if counted:
        Charge.objects.filter(pk=charge.pk).update(**moved, updated_at=timezone.now())
        charge.refresh_from_db()
    if n.status != providers.SUCCEEDED:
        _record(item, _charge_detail(charge, "refund_failed", **detail), outcome=AuditOutcome.FAILED)
        return EventOutcome.REFUND_FAILED
    _record(item, _charge_detail(charge, "refund_succeeded", **detail))
    handler = handlers.get(charge.kind)
    if counted and handler is not None and handler.on_refunded is not None:
        item.charge = charge
        handler.on_refunded(item)
    return EventOutcome.REFUNDED
