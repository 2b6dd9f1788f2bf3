"""The JSON API of medicine orders: one service or selector call per endpoint.

Patients (and proxies acting for them): saved addresses, ordering from an approved prescription, their orders,
paying (the provider's checkout address), cancelling and confirming receipt. Pharmacists: the dispensing worklist,
the orders dashboard, start / pick / hand over / collected, and the trace of an order back to its prescription.

Every read goes through a selector scoped to the caller (someone else's id answers 404 and is audited); every act
is a service. Refusals are ``{"error": {"code", "message", "fields"}}`` with a 4xx status (see ``ihospital.api``).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from ninja import Router, Schema, Status

from . import selectors, services

router = Router(tags=["pharmacy"])


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _coordinate(value) -> str | None:
    return None if value is None else f"{value:f}"


# ---- schemas ----------------------------------------------------------------------------------------------------


class AddressOut(Schema):
    id: int
    patient_id: int
    label: str
    recipient: str
    phone: str
    province: str
    city: str
    district: str
    detail: str
    postal_code: str
    latitude: str | None
    longitude: str | None
    one_line: str
    created_at: datetime

    @staticmethod
    def resolve_latitude(obj):
        return _coordinate(obj.latitude)

    @staticmethod
    def resolve_longitude(obj):
        return _coordinate(obj.longitude)


class AddressIn(Schema):
    recipient: str
    phone: str
    province: str
    city: str
    district: str
    detail: str
    label: str = ""
    postal_code: str = ""
    latitude: Decimal | None = None
    longitude: Decimal | None = None


class OrderLineOut(Schema):
    id: int
    item_id: int
    drug_id: int
    sku: str
    name: str
    strength: str
    package_unit: str
    cold_chain: bool
    quantity: int
    unit_price_fen: int
    line_fen: int

    @staticmethod
    def resolve_sku(obj):
        return obj.drug.sku

    @staticmethod
    def resolve_name(obj):
        return obj.drug.name

    @staticmethod
    def resolve_strength(obj):
        return obj.drug.strength

    @staticmethod
    def resolve_package_unit(obj):
        return obj.drug.package_unit

    @staticmethod
    def resolve_cold_chain(obj):
        return obj.drug.cold_chain


class ShipmentOut(Schema):
    id: int
    provider: str
    service: str
    tracking_no: str
    status: str
    status_label: str
    failure_reason: str
    created_at: datetime
    last_event_at: datetime | None

    @staticmethod
    def resolve_status_label(obj):
        return str(obj.get_status_display())


class TrackingEventOut(Schema):
    id: int
    event_id: str
    status: str
    status_label: str
    occurred_at: datetime
    received_at: datetime
    location: str
    description: str

    @staticmethod
    def resolve_status_label(obj):
        return str(obj.get_status_display())


def _shipments(order) -> list:
    # The list selectors prefetch the shipments; a single read loads them here.
    return list(order.shipments.all())


class OrderOut(Schema):
    id: int
    number: str
    patient_id: int
    patient_name: str
    placed_by_id: int
    prescription_id: int
    prescription_number: str
    fulfilment: str
    address_id: int | None
    recipient: str
    recipient_phone: str
    delivery_address: str
    cold_chain: bool
    items_fen: int
    delivery_fee_fen: int
    total_fen: int
    total_yuan: str
    status: str
    status_label: str
    status_reason: str
    hold_until: datetime
    charge_id: int | None
    created_at: datetime
    paid_at: datetime | None
    dispensed_at: datetime | None
    delivered_at: datetime | None
    received_confirmed_at: datetime | None
    lines: list[OrderLineOut]
    shipment: ShipmentOut | None

    @staticmethod
    def resolve_patient_name(obj):
        return obj.patient.user.real_name

    @staticmethod
    def resolve_prescription_number(obj):
        return obj.prescription.number

    @staticmethod
    def resolve_total_yuan(obj):
        return _yuan(obj.total_fen)

    @staticmethod
    def resolve_status_label(obj):
        return str(obj.get_status_display())

    @staticmethod
    def resolve_lines(obj):
        if "lines" in getattr(obj, "_prefetched_objects_cache", {}):
            return list(obj.lines.all())
        return list(obj.lines.select_related("drug"))

    @staticmethod
    def resolve_shipment(obj):
        live = [s for s in _shipments(obj) if s.status != "cancelled"]
        return live[0] if live else None


class OrderDetailOut(OrderOut):
    events: list[TrackingEventOut]

    @staticmethod
    def resolve_events(obj):
        return selectors.shipment_events(obj)


class OrderIn(Schema):
    fulfilment: str
    address_id: int | None = None


class ReasonIn(Schema):
    reason: str = ""


class CheckoutOut(Schema):
    checkout_url: str


class DispenseOut(Schema):
    id: int
    line_id: int
    drug_id: int
    sku: str
    lot_id: int
    lot_no: str
    expires_on: date
    quantity: int
    by_name: str
    at: datetime

    @staticmethod
    def resolve_drug_id(obj):
        return obj.lot.drug_id

    @staticmethod
    def resolve_sku(obj):
        return obj.lot.drug.sku

    @staticmethod
    def resolve_lot_no(obj):
        return obj.lot.lot_no

    @staticmethod
    def resolve_expires_on(obj):
        return obj.lot.expires_on

    @staticmethod
    def resolve_by_name(obj):
        return obj.by.real_name


class TimelineOut(Schema):
    from_status: str
    to_status: str
    actor_name: str | None
    reason: str
    at: datetime

    @staticmethod
    def resolve_actor_name(obj):
        return obj.actor.real_name if obj.actor_id else None


class TracePrescriptionOut(Schema):
    id: int
    number: str
    status: str
    doctor_name: str
    diagnosis_code: str
    diagnosis_display: str
    content_hash: str
    signed_at: datetime | None
    valid_until: datetime | None
    dispensed_at: datetime | None

    @staticmethod
    def resolve_doctor_name(obj):
        return obj.doctor.user.real_name


class TraceReviewOut(Schema):
    id: int
    pharmacist_name: str
    decision: str
    seal: str
    created_at: datetime

    @staticmethod
    def resolve_pharmacist_name(obj):
        return obj.pharmacist.real_name


class TraceChargeOut(Schema):
    id: int
    reference: str
    amount_fen: int
    status: str
    paid_at: datetime | None
    refunded_fen: int


class TracePaymentOut(Schema):
    id: int
    provider: str
    out_trade_no: str
    provider_txn_id: str
    status: str
    amount_fen: int
    created_at: datetime
    succeeded_at: datetime | None


class TraceRefundOut(Schema):
    id: int
    out_refund_no: str
    amount_fen: int
    reason: str
    cause: str
    status: str
    created_at: datetime
    settled_at: datetime | None


class TraceOut(Schema):
    order: OrderOut
    prescription: TracePrescriptionOut
    prescription_timeline: list[TimelineOut]
    review: TraceReviewOut | None
    charge: TraceChargeOut | None
    payments: list[TracePaymentOut]
    refunds: list[TraceRefundOut]
    dispenses: list[DispenseOut]
    shipments: list[ShipmentOut]
    events: list[TrackingEventOut]
    order_timeline: list[TimelineOut]

    @staticmethod
    def resolve_prescription(obj):
        return obj.order.prescription


# ---- addresses (the patient, or a proxy for them) ---------------------------------------------------------------


@router.get("/patients/{patient_id}/addresses", response=list[AddressOut])
def list_addresses(request, patient_id: int):
    return list(selectors.addresses_of_patient(request.auth, patient_id))


@router.post("/patients/{patient_id}/addresses", response={201: AddressOut})
def add_address(request, patient_id: int, payload: AddressIn):
    return Status(201, services.save_address(actor=request.auth, patient_id=patient_id, **payload.dict()))


@router.delete("/addresses/{address_id}", response=AddressOut)
def archive_address(request, address_id: int):
    """Archived, not deleted: orders that were sent there keep pointing at it."""
    return services.archive_address(actor=request.auth, address_id=address_id)


# ---- ordering and the patient's orders ---------------------------------------------------------------------------


@router.post("/prescriptions/{prescription_id}/orders", response={201: OrderOut})
def create_order(request, prescription_id: int, payload: OrderIn):
    return Status(201, services.create_order(actor=request.auth, prescription_id=prescription_id,
                                             fulfilment=payload.fulfilment, address_id=payload.address_id))


@router.get("/patients/{patient_id}/orders", response=list[OrderOut])
def patient_orders(request, patient_id: int):
    return list(selectors.orders_of_patient(request.auth, patient_id)[:200])


# ---- the pharmacy's lists (before /orders/{id}-style paths; no collision, but kept together) ----------------------


@router.get("/pharmacy/worklist", response=list[OrderOut])
def worklist(request):
    return list(selectors.dispensing_worklist(request.auth)[:200])


@router.get("/pharmacy/orders", response=list[OrderOut])
def dashboard(request, status: str = "", fulfilment: str = "", cold_chain: bool | None = None,
              since: date | None = None, until: date | None = None, q: str = ""):
    return list(selectors.orders_dashboard(request.auth, status=status, fulfilment=fulfilment, cold_chain=cold_chain,
                                           since=since, until=until, query=q)[:200])


# ---- one order -------------------------------------------------------------------------------------------------


@router.get("/orders/{order_id}", response=OrderDetailOut)
def get_order(request, order_id: int):
    return selectors.order_for(request.auth, order_id)[0]


@router.post("/orders/{order_id}/checkout", response=CheckoutOut)
def checkout(request, order_id: int):
    """Where the payer pays: the provider's page (the sandbox's), or a payment code."""
    return {"checkout_url": services.checkout(actor=request.auth, order_id=order_id)}


@router.post("/orders/{order_id}/cancel", response=OrderOut)
def cancel(request, order_id: int, payload: ReasonIn):
    return services.cancel_order(actor=request.auth, order_id=order_id, reason=payload.reason)


@router.post("/orders/{order_id}/confirm-receipt", response=OrderOut)
def confirm_receipt(request, order_id: int):
    return services.confirm_receipt(actor=request.auth, order_id=order_id)


# ---- dispensing (pharmacists) ---------------------------------------------------------------------------------------


@router.post("/orders/{order_id}/start", response=OrderOut)
def start_dispensing(request, order_id: int):
    return services.start_dispensing(actor=request.auth, order_id=order_id)


@router.post("/orders/{order_id}/pick", response=list[DispenseOut])
def pick(request, order_id: int):
    return services.pick(actor=request.auth, order_id=order_id)


@router.post("/orders/{order_id}/hand-over", response=OrderOut)
def hand_over(request, order_id: int):
    return services.hand_over(actor=request.auth, order_id=order_id)


@router.post("/orders/{order_id}/collect", response=OrderOut)
def collect(request, order_id: int):
    return services.collect(actor=request.auth, order_id=order_id)


@router.get("/orders/{order_id}/trace", response=TraceOut)
def trace(request, order_id: int):
    return selectors.trace(request.auth, order_id)
