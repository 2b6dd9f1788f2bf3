"""Charges, payment attempts, refunds and the providers' callbacks; and the sandbox provider's own books.

A charge is what someone owes for something a workflow sells (``reference`` "order:12"; its kind, "order", picks
the workflow's handler). The payer pays it through an attempt (``Payment``) at a provider, which confirms by a
signed callback (``ProviderEvent``, stored once per provider event id)::

    Charge     open ──(a payment succeeds)──▶ paid
                 ├──cancel_charge──▶ cancelled       a success that arrives later is refunded at once
                 └──expires_at passes──▶ expired      likewise

    Payment    pending ──▶ succeeded / failed / closed
               failed, closed ──▶ succeeded           the provider took the money after all: never lost, and
                                                       refunded when the charge no longer wants it
    Refund     pending ──▶ succeeded / failed         asynchronous: the provider confirms by callback

Money is integer fen (CNY) everywhere. A pending refund reserves its amount on the charge and on the payment
(``refund_reserved_fen``), so that two refunds can never add up to more than was paid; the database holds the
sums with CHECK constraints and the services move them with conditional UPDATEs.

The sandbox models at the end belong to the built-in sandbox provider (``providers/sandbox.py``), a local
stand-in for a payment company: the platform never reads them, it only hears from them through signed HTTP
callbacks, exactly as from WeChat Pay.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

# ---- the platform's side ------------------------------------------------------------------------------------


class ChargeStatus(models.TextChoices):
    OPEN = "open", _("awaiting payment")
    PAID = "paid", _("paid")
    CANCELLED = "cancelled", _("cancelled")
    EXPIRED = "expired", _("expired")


class PaymentStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed")
    CLOSED = "closed", _("closed")


class RefundStatus(models.TextChoices):
    PENDING = "pending", _("refund pending")
    SUCCEEDED = "succeeded", _("refunded")
    FAILED = "failed", _("refund failed")


class RefundCause(models.TextChoices):
    REQUESTED = "requested", _("on request")
    NOT_WANTED = "not_wanted", _("no longer wanted when the payment arrived")
    DUPLICATE = "duplicate", _("paid twice")
    CHARGE_CLOSED = "charge_closed", _("paid after the charge was closed")


# Refunds of the charge's own payment: they count in ``Charge.refunded_fen`` and the workflow hears of them.
CHARGE_REFUND_CAUSES = frozenset({RefundCause.REQUESTED, RefundCause.NOT_WANTED})


class Charge(models.Model):
    reference = models.CharField(_("reference"), max_length=64, db_index=True)
    kind = models.CharField(_("kind of charge"), max_length=32, db_index=True)
    amount_fen = models.PositiveIntegerField(_("amount (fen)"))
    subject = models.CharField(_("subject"), max_length=128)
    payer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="charges", verbose_name=_("payer")
    )
    status = models.CharField(_("status"), max_length=16, choices=ChargeStatus.choices, default=ChargeStatus.OPEN)
    status_reason = models.CharField(_("reason"), max_length=255, blank=True)
    # The attempt whose money paid this charge (a second successful attempt is refunded, never counted here).
    payment = models.ForeignKey(
        "Payment", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("payment")
    )
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    refunded_fen = models.PositiveIntegerField(_("refunded (fen)"), default=0)
    refund_reserved_fen = models.PositiveIntegerField(_("refunds pending (fen)"), default=0)
    expires_at = models.DateTimeField(_("expires at"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    TRANSITIONS = {
        ChargeStatus.OPEN: {ChargeStatus.PAID, ChargeStatus.CANCELLED, ChargeStatus.EXPIRED},
    }

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("charge")
        verbose_name_plural = _("charges")
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="payments_charge_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded_fen__lte=F("amount_fen") - F("refund_reserved_fen")),
                name="payments_charge_refunds_within_amount",
            ),
            models.CheckConstraint(
                condition=~Q(status=ChargeStatus.PAID) | Q(paid_at__isnull=False, payment__isnull=False),
                name="payments_charge_paid_has_payment",
            ),
            # One live charge per thing sold: an order cannot be asked to pay twice at once.
            models.UniqueConstraint(
                fields=["reference"],
                condition=Q(status__in=[ChargeStatus.OPEN, ChargeStatus.PAID]),
                name="payments_one_live_charge_per_reference",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} ¥{yuan(self.amount_fen)} {self.status}"

    @property
    def reference_key(self) -> str:
        """What follows the kind in the reference: "12" for "order:12"."""
        return self.reference.partition(":")[2]

    @property
    def amount_yuan(self) -> str:
        return yuan(self.amount_fen)

    @property
    def refundable_fen(self) -> int:
        return self.amount_fen - self.refunded_fen - self.refund_reserved_fen if self.status == ChargeStatus.PAID else 0


class Payment(models.Model):
    """One attempt to pay a charge at one provider. ``out_trade_no`` is the name the provider knows it by."""

    charge = models.ForeignKey(Charge, on_delete=models.PROTECT, related_name="payments", verbose_name=_("charge"))
    provider = models.CharField(_("provider"), max_length=32)
    out_trade_no = models.CharField(_("merchant order number"), max_length=32, unique=True)
    status = models.CharField(_("status"), max_length=16, choices=PaymentStatus.choices,
                              default=PaymentStatus.PENDING)
    amount_fen = models.PositiveIntegerField(_("amount (fen)"))
    provider_txn_id = models.CharField(_("provider transaction id"), max_length=64, blank=True)
    checkout_url = models.TextField(_("checkout address"), blank=True)
    succeeded_at = models.DateTimeField(_("succeeded at"), null=True, blank=True)
    refunded_fen = models.PositiveIntegerField(_("refunded (fen)"), default=0)
    refund_reserved_fen = models.PositiveIntegerField(_("refunds pending (fen)"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    TRANSITIONS = {
        PaymentStatus.PENDING: {PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.CLOSED},
        # A success reported after a decline or a close: the provider holds the money, so it is recorded (and
        # refunded when the charge does not want it) rather than ignored.
        PaymentStatus.FAILED: {PaymentStatus.SUCCEEDED},
        PaymentStatus.CLOSED: {PaymentStatus.SUCCEEDED},
    }

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="payments_payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(refunded_fen__lte=F("amount_fen") - F("refund_reserved_fen")),
                name="payments_payment_refunds_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.out_trade_no} {self.status}"


class Refund(models.Model):
    charge = models.ForeignKey(Charge, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("charge"))
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("payment"))
    out_refund_no = models.CharField(_("merchant refund number"), max_length=64, unique=True)
    amount_fen = models.PositiveIntegerField(_("amount (fen)"))
    reason = models.CharField(_("reason"), max_length=255)
    cause = models.CharField(_("cause"), max_length=16, choices=RefundCause.choices, default=RefundCause.REQUESTED)
    status = models.CharField(_("status"), max_length=16, choices=RefundStatus.choices, default=RefundStatus.PENDING)
    provider_refund_id = models.CharField(_("provider refund id"), max_length=64, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("requested by"),
    )
    # Sent to the provider (the request is a task after commit, retried while the provider cannot be reached).
    submitted_at = models.DateTimeField(_("sent to the provider at"), null=True, blank=True)
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    TRANSITIONS = {RefundStatus.PENDING: {RefundStatus.SUCCEEDED, RefundStatus.FAILED}}

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="payments_refund_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.out_refund_no} ¥{yuan(self.amount_fen)} {self.status}"

    @property
    def counts_for_charge(self) -> bool:
        return self.cause in CHARGE_REFUND_CAUSES


class EventOutcome(models.TextChoices):
    RECEIVED = "received", _("received")
    PAID = "paid", _("charge paid")
    NOT_WANTED = "not_wanted", _("paid, not wanted: refunded")
    DUPLICATE_PAYMENT = "duplicate_payment", _("paid twice: refunded")
    LATE_PAYMENT = "late_payment", _("paid after the charge closed: refunded")
    ALREADY_SUCCEEDED = "already_succeeded", _("payment already recorded")
    FAILED = "failed", _("payment failed")
    CLOSED = "closed", _("payment closed")
    REFUNDED = "refunded", _("refund confirmed")
    REFUND_FAILED = "refund_failed", _("refund failed")
    IGNORED = "ignored", _("ignored: out of order")
    AMOUNT_MISMATCH = "amount_mismatch", _("rejected: amount differs")
    UNKNOWN = "unknown", _("unknown payment or refund")


class ProviderEvent(models.Model):
    """Every callback a provider sent, once per (provider, event id): a repeated one is answered, not replayed."""

    provider = models.CharField(_("provider"), max_length=32)
    event_id = models.CharField(_("event id"), max_length=128)
    kind = models.CharField(_("kind of event"), max_length=32)
    payload = models.JSONField(_("payload"), default=dict)
    outcome = models.CharField(_("outcome"), max_length=24, choices=EventOutcome.choices,
                               default=EventOutcome.RECEIVED)
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="events")
    refund = models.ForeignKey(Refund, null=True, blank=True, on_delete=models.PROTECT, related_name="events")
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = _("provider event")
        verbose_name_plural = _("provider events")
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="payments_event_once_per_provider"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.event_id} {self.kind} {self.outcome}"


def yuan(fen: int) -> str:
    """Integer fen as yuan with two decimals: 1230 → "12.30"."""
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}{fen // 100}.{fen % 100:02d}"


# ---- the sandbox provider's own books -------------------------------------------------------------------------


class SandboxStatus(models.TextChoices):
    PENDING = "pending", _("awaiting the payer")
    PAID = "paid", _("paid")
    DECLINED = "declined", _("declined")
    CLOSED = "closed", _("closed")


class SandboxTransaction(models.Model):
    """The sandbox payment company's record of one order the merchant (the hospital) asked it to collect."""

    out_trade_no = models.CharField(max_length=32, unique=True)
    transaction_id = models.CharField(max_length=40, unique=True)
    merchant = models.CharField(max_length=128, blank=True)
    subject = models.CharField(max_length=128)
    amount_fen = models.PositiveIntegerField()
    payer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    notify_url = models.URLField(max_length=500)
    status = models.CharField(max_length=16, choices=SandboxStatus.choices, default=SandboxStatus.PENDING)
    refunded_fen = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("sandbox transaction")
        verbose_name_plural = _("sandbox transactions")
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="payments_sandbox_amount_positive"),
            models.CheckConstraint(condition=Q(refunded_fen__lte=F("amount_fen")),
                                   name="payments_sandbox_refunds_within_amount"),
        ]

    def __str__(self) -> str:
        return f"sandbox {self.out_trade_no} {self.status}"


class SandboxRefund(models.Model):
    transaction = models.ForeignKey(SandboxTransaction, on_delete=models.PROTECT, related_name="refunds")
    out_refund_no = models.CharField(max_length=64, unique=True)
    refund_id = models.CharField(max_length=40, unique=True)
    amount_fen = models.PositiveIntegerField()
    succeeded = models.BooleanField(default=False)
    notify_url = models.URLField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("sandbox refund")
        verbose_name_plural = _("sandbox refunds")

    def __str__(self) -> str:
        return f"sandbox refund {self.out_refund_no}"


class SandboxNotification(models.Model):
    """One callback the sandbox owes the merchant; delivered by a task, retried with backoff until answered 2xx."""

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        DELIVERED = "delivered", _("delivered")
        GAVE_UP = "gave_up", _("gave up")

    event_id = models.CharField(max_length=64, unique=True)
    url = models.URLField(max_length=500)
    body = models.TextField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status = models.IntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("sandbox notification")
        verbose_name_plural = _("sandbox notifications")

    def __str__(self) -> str:
        return f"sandbox notification {self.event_id} {self.state}"
