"""The JSON API of payments: a payer starts paying a charge and follows it; administrators may look too.

Charges are created, cancelled and refunded by the workflows that own them (the pharmacy's orders), never directly
by a client. Someone else's charge answers 404, exactly like a missing one.
"""

from __future__ import annotations

from datetime import datetime

from ninja import Router, Schema

from . import selectors, services
from .models import Charge, Payment, Refund, yuan

router = Router(tags=["payments"])


class PaymentOut(Schema):
    id: int
    provider: str
    out_trade_no: str
    status: str
    status_label: str
    amount_fen: int
    provider_txn_id: str
    refunded_fen: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_status_label(obj: Payment) -> str:
        return str(obj.get_status_display())


class RefundOut(Schema):
    id: int
    amount_fen: int
    amount_yuan: str
    reason: str
    cause: str
    status: str
    status_label: str
    created_at: datetime
    settled_at: datetime | None

    @staticmethod
    def resolve_amount_yuan(obj: Refund) -> str:
        return yuan(obj.amount_fen)

    @staticmethod
    def resolve_status_label(obj: Refund) -> str:
        return str(obj.get_status_display())


class ChargeOut(Schema):
    id: int
    reference: str
    kind: str
    subject: str
    amount_fen: int
    amount_yuan: str
    status: str
    status_label: str
    paid_at: datetime | None
    refunded_fen: int
    refund_pending_fen: int
    expires_at: datetime
    created_at: datetime
    payments: list[PaymentOut]
    refunds: list[RefundOut]

    @staticmethod
    def resolve_status_label(obj: Charge) -> str:
        return str(obj.get_status_display())

    @staticmethod
    def resolve_refund_pending_fen(obj: Charge) -> int:
        return obj.refund_reserved_fen

    @staticmethod
    def resolve_payments(obj: Charge):
        return list(obj.payments.all())

    @staticmethod
    def resolve_refunds(obj: Charge):
        return list(obj.refunds.all())


class StartOut(Schema):
    payment: PaymentOut
    checkout_url: str
    charge: ChargeOut


@router.post("/payments/charges/{charge_id}/start", response=StartOut)
def start_payment(request, charge_id: int, provider: str | None = None):
    """Open a payment attempt; go to ``checkout_url`` to pay (the sandbox's page, or WeChat Pay's code_url)."""
    payment, url = services.start_payment(actor=request.auth, charge_id=charge_id, provider=provider)
    return {"payment": payment, "checkout_url": url, "charge": selectors.charge_for(request.auth, charge_id)}


@router.get("/payments/charges/{charge_id}", response=ChargeOut)
def get_charge(request, charge_id: int):
    return selectors.charge_for(request.auth, charge_id)
