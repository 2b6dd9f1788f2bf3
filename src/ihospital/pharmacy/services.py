"""Every act on a medicine order: one function each, atomic, permission-checked, audited.

Patient side: save an address, order from an approved prescription (prices, delivery fee, stock held), pay
(through ``payments``), cancel, confirm receipt. Pharmacy side: start dispensing, pick the held lots, check and
hand over to the courier (or the counter). Courier side: tracking events, stored once and applied in the
courier's own time order; a failed delivery is refunded.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import Role, User
from ihospital.accounts.selectors import (
    patient_acted_for,
    patient_and_relatives,
    patients_acted_for,
)
from ihospital.accounts.validation import normalise_mobile
from ihospital.core import audit
from ihospital.core.errors import Conflict, DomainError, Forbidden, NotFound
from ihospital.core.models import AuditAction, AuditOutcome
from ihospital.core.transitions import transition
from ihospital.notifications.services import notify
from ihospital.payments import services as payments
from ihospital.prescriptions import services as prescriptions
from ihospital.prescriptions.selectors import prescription_for

from . import realtime, tasks
from .couriers import base as couriers
from .models import (
    FINAL_SHIPMENT_STATUSES,
    Address,
    Dispense,
    Fulfilment,
    Order,
    OrderLine,
    OrderStatus,
    Reservation,
    Shipment,
    ShipmentService,
    ShipmentStatus,
    StockLot,
    TrackingEvent,
)
from .selectors import order_for

# ---- who may act ----------------------------------------------------------------------------------------------


def _pharmacist(actor: User) -> User:
    if not actor.is_authenticated or actor.role != Role.PHARMACIST:
        raise Forbidden("not_a_pharmacist", _("Only pharmacists dispense medicines."))
    return actor



def _tell(order: Order, kind: str, title: str, body: str = "") -> None:
    notify(users=patient_and_relatives(order.patient), kind=f"order.{kind}", title=title, body=body,
           link=f"/pharmacy/orders/{order.pk}/", dedupe_key=f"order:{order.pk}:{kind}")


# ---- addresses ------------------------------------------------------------------------------------------------


def _required(value: str, field: str, label, max_length: int) -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError("invalid_address", _("Please fill in %(field)s.") % {"field": label},
                          fields={field: _("required")})
    if len(value) > max_length:
        raise DomainError("invalid_address", _("%(field)s is too long.") % {"field": label},
                          fields={field: _("too long")})
    return value


def save_address(
    *, actor: User, patient_id: int, recipient: str, phone: str, province: str, city: str, district: str,
    detail: str, label: str = "", postal_code: str = "", latitude=None, longitude=None,
) -> Address:
    patient = patient_acted_for(actor, patient_id)
    fields = {
        "recipient": _required(recipient, "recipient", _("the recipient"), 64),
        "phone": normalise_mobile(phone),
        "province": _required(province, "province", _("the province"), 32),
        "city": _required(city, "city", _("the city"), 32),
        "district": _required(district, "district", _("the district"), 32),
        "detail": _required(detail, "detail", _("the street and number"), 200),
        "label": (label or "").strip()[:32],
    }
    postal_code = (postal_code or "").strip()
    if postal_code and not (len(postal_code) == 6 and postal_code.isdigit()):
        raise DomainError("invalid_address", _("A postal code has 6 digits."), fields={"postal_code": postal_code})
    coordinates = {}
    if latitude not in (None, "") and longitude not in (None, ""):
        try:
            lat, lng = Decimal(str(latitude)), Decimal(str(longitude))
        except ArithmeticError:
            lat = lng = Decimal(999)
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise DomainError("invalid_address", _("These map coordinates are not valid."))
        coordinates = {"latitude": lat.quantize(Decimal("0.000001")), "longitude": lng.quantize(Decimal("0.000001"))}
    with transaction.atomic():
        address = Address.objects.create(patient=patient, created_by=actor, postal_code=postal_code, **fields,
                                         **coordinates)
        audit.record(actor=actor, action=AuditAction.CREATE, obj=address, patient_id=patient.pk)
    return address


def archive_address(*, actor: User, address_id: int) -> Address:
    address = Address.objects.filter(pk=address_id, archived=False).first()
    if address is None or not patients_acted_for(actor).filter(pk=address.patient_id).exists():
        audit.record(actor=actor, action=AuditAction.UPDATE, object_type="pharmacy.address", object_id=address_id,
                     patient_id=address.patient_id if address else None, outcome=AuditOutcome.DENIED)
        raise NotFound()
    Address.objects.filter(pk=address.pk).update(archived=True)
    audit.record(actor=actor, action=AuditAction.UPDATE, obj=address, patient_id=address.patient_id,
                 detail={"archived": True})
    return address


# ---- pricing and stock ------------------------------------------------------------------------------------------


def _distance_km(lat1, lng1, lat2, lng2) -> float:
    r = 6371.0
    p1, p2 = math.radians(float(lat1)), math.radians(float(lat2))
    dp, dl = p2 - p1, math.radians(float(lng2) - float(lng1))
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def delivery_fee(address: Address | None, *, cold_chain: bool) -> int:
    """Flat fee, or by distance band from the pharmacy when bands are configured and the address is on the map;
    plus the cold-chain surcharge."""
    if address is None:
        return 0
    fee = settings.DELIVERY_FEE_FEN
    bands = settings.DELIVERY_FEE_BANDS
    if bands and address.latitude is not None and address.longitude is not None:
        km = _distance_km(settings.PHARMACY_LATITUDE, settings.PHARMACY_LONGITUDE, address.latitude,
                          address.longitude)
        fee = bands[-1][1]
        for limit_km, band_fee in bands:
            if km <= limit_km:
                fee = band_fee
                break
    if cold_chain:
        fee += settings.COLD_CHAIN_SURCHARGE_FEN
    return int(fee)


@dataclass
class Quote:
    """What an order from a prescription costs for one destination (pickup: no address, no fee)."""

    items: list  # the prescription's items, with their drugs
    items_fen: int
    delivery_fen: int
    surcharge_fen: int
    cold_chain: bool

    @property
    def lines(self) -> list[dict]:
        return [{"item": i, "drug": i.drug, "quantity": i.quantity, "unit_fen": i.drug.price_fen,
                 "line_fen": i.drug.price_fen * i.quantity} for i in self.items]

    @property
    def fee_fen(self) -> int:
        return self.delivery_fen + self.surcharge_fen

    @property
    def total_fen(self) -> int:
        return self.items_fen + self.fee_fen


def quote(rx, address: Address | None) -> Quote:
    """The prices an order would take now: what the order page shows and what ``create_order`` charges."""
    items = list(rx.items.select_related("drug").order_by("position", "pk"))
    cold_chain = any(i.drug.cold_chain for i in items)
    base = delivery_fee(address, cold_chain=False)
    surcharge = delivery_fee(address, cold_chain=True) - base if cold_chain else 0
    return Quote(items=items, items_fen=sum(i.drug.price_fen * i.quantity for i in items), delivery_fen=base,
                 surcharge_fen=surcharge, cold_chain=cold_chain)


def _usable_lots(drug, days: int):
    """Lots that will not expire before the patient finishes the supply, first-expiring first."""
    last_day = timezone.localdate() + timedelta(days=days)
    return StockLot.objects.filter(drug=drug, expires_on__gt=last_day, on_hand__gt=F("reserved")).order_by(
        "expires_on", "pk"
    )


def _reserve(line: OrderLine, days: int, quantity: int | None = None) -> None:
    """Hold ``quantity`` (default: the line's) packages, lot by lot (FEFO). Each hold is a conditional UPDATE:
    two orders racing for the last package cannot both get it."""
    needed = line.quantity if quantity is None else quantity
    for lot in _usable_lots(line.drug, days):
        while needed:
            available = lot.on_hand - lot.reserved
            take = min(needed, available)
            if take <= 0:
                break
            held = StockLot.objects.filter(pk=lot.pk, reserved__lte=F("on_hand") - take).update(
                reserved=F("reserved") + take
            )
            if held:
                Reservation.objects.create(line=line, lot=lot, quantity=take)
                needed -= take
                break
            lot.refresh_from_db()  # someone else took some: look again
        if not needed:
            return
    raise Conflict(
        "out_of_stock",
        _("%(drug)s is out of stock at the pharmacy. Please try again later or choose pickup later.")
        % {"drug": line.drug.name},
        fields={"drug": line.drug.sku},
    )


def _release(order: Order) -> None:
    for reservation in Reservation.objects.filter(line__order=order, released=False).select_related("lot"):
        StockLot.objects.filter(pk=reservation.lot_id).update(reserved=F("reserved") - reservation.quantity)
        Reservation.objects.filter(pk=reservation.pk).update(released=True)


# ---- ordering -------------------------------------------------------------------------------------------------


def create_order(*, actor: User, prescription_id: int, fulfilment: str, address_id: int | None = None) -> Order:
    """An order from an approved prescription: priced, stock held until ``hold_until``, a charge opened."""
    rx, role = prescription_for(actor, prescription_id, audit_read=False)
    if role != "patient":
        raise NotFound()
    prescriptions.require_dispensable(rx)
    if fulfilment not in Fulfilment.values:
        raise DomainError("invalid_fulfilment", _("Choose delivery or pickup."), fields={"fulfilment": fulfilment})
    address = None
    if fulfilment == Fulfilment.DELIVERY:
        address = Address.objects.filter(pk=address_id or 0, patient=rx.patient, archived=False).first()
        if address is None:
            raise DomainError("address_required", _("Choose a delivery address."), fields={"address_id": address_id})
    price = quote(rx, address)
    now = timezone.now()
    try:
        with transaction.atomic():
            order = Order.objects.create(
                number=f"tmp-{uuid.uuid4().hex[:16]}", patient=rx.patient, placed_by=actor, prescription=rx,
                fulfilment=fulfilment, address=address, cold_chain=price.cold_chain, items_fen=price.items_fen,
                delivery_fee_fen=price.fee_fen, total_fen=price.total_fen,
                recipient=address.recipient if address else "", recipient_phone=address.phone if address else "",
                delivery_address=address.one_line if address else "",
                hold_until=now + timedelta(minutes=settings.ORDER_PAYMENT_MINUTES),
            )
            order.number = f"MO{timezone.localdate():%Y%m%d}{order.pk:06d}"
            for item in price.items:
                line = OrderLine.objects.create(order=order, item=item, drug=item.drug, quantity=item.quantity,
                                                unit_price_fen=item.drug.price_fen,
                                                line_fen=item.drug.price_fen * item.quantity)
                _reserve(line, item.duration_days)
            charge = payments.create_charge(
                reference=order.charge_reference, amount_fen=order.total_fen, payer=actor,
                subject=gettext("Medicines, prescription %(number)s") % {"number": rx.number},
                expires_at=order.hold_until,
            )
            order.charge_id = charge.pk
            order.save(update_fields=["number", "charge_id"])
            audit.record(actor=actor, action=AuditAction.CREATE, obj=order, patient_id=order.patient_id,
                         detail={"prescription": rx.number, "total_fen": order.total_fen, "fulfilment": fulfilment})
            tasks.schedule_payment_timeout(order)
            realtime.order_changed(order)
    except IntegrityError:
        raise Conflict("order_exists", _("This prescription already has an order.")) from None
    return order


def checkout(*, actor: User, order_id: int) -> str:
    """Where the payer pays (the provider's page)."""
    order, role = order_for(actor, order_id, audit_read=False)
    if role != "patient":
        raise NotFound()
    if order.status != OrderStatus.CREATED:
        raise Conflict("order_not_payable", _("This order is %(status)s.") % {"status": order.get_status_display()})
    if order.hold_until < timezone.now():
        raise Conflict("order_expired", _("The time to pay has passed; the order is being cancelled."))
    _payment, url = payments.start_payment(actor=actor, charge_id=order.charge_id)
    return url


def on_paid(charge) -> bool:
    """Called by payments inside the transaction that marks the charge paid. False: we no longer want it (the
    order was cancelled meanwhile), and payments refunds it."""
    order = Order.objects.select_for_update().filter(charge_id=charge.pk).first()
    if order is None or order.status != OrderStatus.CREATED:
        return False
    transition(order, OrderStatus.PAID, actor=None, reason="payment received", paid_at=timezone.now())
    audit.record(actor=None, action=AuditAction.UPDATE, obj=order, patient_id=order.patient_id,
                 detail={"paid_fen": charge.amount_fen})
    realtime.order_changed(order)
    _tell(order, "paid", gettext("Payment received for order %(number)s") % {"number": order.number},
          gettext("The pharmacy will prepare your medicines."))
    return True


def on_refunded(refund) -> None:
    order = Order.objects.filter(charge_id=refund.charge_id).first()
    if order is not None:
        _tell(order, f"refunded-{refund.pk}",
              gettext("Refund of ¥%(amount)s for order %(number)s") % {"amount": f"{refund.amount_fen / 100:.2f}",
                                                                          "number": order.number})


def cancel_order(*, actor: User | None, order_id: int, reason: str) -> Order:
    """Cancel before dispensing: unpaid → cancelled; paid → refunded (full). Stock is released either way.

    The patient (or proxy) may cancel until the pharmacy starts; a pharmacist may cancel until handed over (for
    instance a damaged package), and the system cancels an unpaid order when its time runs out (actor None)."""
    role = None
    if actor is not None:
        _order, role = order_for(actor, order_id, audit_read=False)
        if role == "pharmacist" and not reason.strip():
            raise DomainError("reason_required", _("Please give the reason for cancelling."))
    with transaction.atomic():
        # Payments' lock order: the charge first, then what it pays for. A payment callback arriving now (charge →
        # on_paid → order) queues behind this cancellation, or this one behind it, instead of deadlocking.
        payments.lock_charge(charge_id=Order.objects.values_list("charge_id", flat=True).get(pk=order_id))
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED):
            raise Conflict("too_late_to_cancel", _("The order has left the pharmacy."))
        # Checked under the lock: the pharmacy may have started, or the payment arrived, a moment ago.
        if role == "patient" and order.status in (OrderStatus.DISPENSING, OrderStatus.READY_FOR_PICKUP):
            raise Conflict("too_late_to_cancel",
                           _("The pharmacy has started preparing this order; please contact the pharmacy."))
        if actor is None and order.status != OrderStatus.CREATED:
            raise Conflict("order_paid", _("This order has been paid."))
        if order.status == OrderStatus.CREATED:
            transition(order, OrderStatus.CANCELLED, actor=actor, reason=reason, status_reason=reason)
            payments.cancel_charge(charge_id=order.charge_id, reason=reason or "order cancelled")
        else:
            transition(order, OrderStatus.REFUNDED, actor=actor, reason=reason, status_reason=reason)
            payments.refund(actor=actor, charge_id=order.charge_id, reason=reason or "order cancelled")
        _release(order)
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=order, patient_id=order.patient_id,
                     detail={"cancelled": reason})
        realtime.order_changed(order)
        _tell(order, order.status, gettext("Order %(number)s was cancelled") % {"number": order.number}, reason)
    return order


def cancel_if_unpaid(*, order_id: int) -> bool:
    """The payment time ran out (a task at ``hold_until``)."""
    order = Order.objects.filter(pk=order_id).first()
    if order is None or order.status != OrderStatus.CREATED or order.hold_until > timezone.now():
        return False
    try:
        cancel_order(actor=None, order_id=order_id, reason=gettext("not paid in time"))
    except Conflict:
        return False  # paid at the last moment
    return True


def confirm_receipt(*, actor: User, order_id: int) -> Order:
    order, role = order_for(actor, order_id, audit_read=False)
    if role != "patient":
        raise NotFound()
    with transaction.atomic():
        if order.status == OrderStatus.SHIPPED:
            transition(order, OrderStatus.DELIVERED, actor=actor, reason="receipt confirmed by the patient",
                       delivered_at=timezone.now())
        elif order.status != OrderStatus.DELIVERED:
            raise Conflict("not_delivered", _("This order has not been sent yet."))
        Order.objects.filter(pk=order.pk).update(received_confirmed_at=timezone.now())
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=order, patient_id=order.patient_id,
                     detail={"receipt_confirmed": True})
        realtime.order_changed(order)
    order.refresh_from_db()
    return order


# ---- dispensing ------------------------------------------------------------------------------------------------


def start_dispensing(*, actor: User, order_id: int) -> Order:
    _pharmacist(actor)
    order, _role = order_for(actor, order_id)
    with transaction.atomic():
        transition(order, OrderStatus.DISPENSING, actor=actor, reason="dispensing", dispensed_by=actor)
        realtime.order_changed(order)
        _tell(order, "dispensing", gettext("The pharmacy is preparing order %(number)s") % {"number": order.number})
    return order


def pick(*, actor: User, order_id: int) -> list[Dispense]:
    """Take the held packages off the shelf: holds become dispenses, on-hand stock goes down. A held lot that
    expired in the meantime is replaced by the next usable one (never an expired lot)."""
    _pharmacist(actor)
    order, _role = order_for(actor, order_id, audit_read=False)
    if order.status != OrderStatus.DISPENSING:
        raise Conflict("not_dispensing", _("Start dispensing this order first."))
    today = timezone.localdate()
    picked = []
    with transaction.atomic():
        # Two pharmacists picking the same order at once: the second waits here, then finds it picked.
        Order.objects.select_for_update().filter(pk=order.pk).first()
        if Dispense.objects.filter(line__order=order).exists():
            raise Conflict("already_picked", _("This order was already picked."))
        for line in order.lines.select_related("drug", "item"):
            for reservation in line.reservations.filter(released=False).select_related("lot"):
                if reservation.lot.expires_on <= today + timedelta(days=line.item.duration_days):
                    StockLot.objects.filter(pk=reservation.lot_id).update(
                        reserved=F("reserved") - reservation.quantity
                    )
                    Reservation.objects.filter(pk=reservation.pk).update(released=True)
                    _reserve(line, line.item.duration_days, reservation.quantity)
            for reservation in line.reservations.filter(released=False).select_related("lot"):
                taken = StockLot.objects.filter(
                    pk=reservation.lot_id, on_hand__gte=reservation.quantity, reserved__gte=reservation.quantity
                ).update(on_hand=F("on_hand") - reservation.quantity, reserved=F("reserved") - reservation.quantity)
                if taken != 1:
                    raise Conflict("stock_mismatch", _("The shelf count does not match; recount this lot."))
                Reservation.objects.filter(pk=reservation.pk).update(released=True)
                picked.append(Dispense.objects.create(line=line, lot=reservation.lot, quantity=reservation.quantity,
                                                      by=actor))
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=order, patient_id=order.patient_id,
                     detail={"picked": [(d.lot.lot_no, d.quantity) for d in picked]})
    return picked


def hand_over(*, actor: User, order_id: int) -> Order:
    """Checked and packed: to the courier (delivery) or to the counter (pickup). The prescription is dispensed."""
    _pharmacist(actor)
    order, _role = order_for(actor, order_id, audit_read=False)
    if order.status != OrderStatus.DISPENSING:
        raise Conflict("not_dispensing", _("Start dispensing this order first."))
    if not Dispense.objects.filter(line__order=order).exists():
        raise Conflict("not_picked", _("Pick the medicines before handing them over."))
    with transaction.atomic():
        prescriptions.mark_dispensed(actor=actor, prescription_id=order.prescription_id, paid_order=True)
        now = timezone.now()
        if order.fulfilment == Fulfilment.PICKUP:
            transition(order, OrderStatus.READY_FOR_PICKUP, actor=actor, reason="ready", checked_by=actor,
                       dispensed_at=now)
            _tell(order, "ready",
                  gettext("Order %(number)s is ready at the pharmacy counter") % {"number": order.number})
        else:
            courier = couriers.get()
            service = ShipmentService.COLD_CHAIN if order.cold_chain else ShipmentService.STANDARD
            if service not in courier.services:
                raise Conflict("cold_chain_unavailable",
                               _("This order needs a cold-chain service, which the courier does not offer."))
            shipment = Shipment.objects.create(order=order, provider=courier.name, service=service,
                                               handed_over_by=actor)
            try:
                tracking_no = courier.create_shipment(shipment)
            except couriers.CourierError as exc:
                raise Conflict("courier_refused", _("The courier refused the shipment: %(reason)s")
                               % {"reason": str(exc)}) from None
            Shipment.objects.filter(pk=shipment.pk).update(tracking_no=tracking_no)
            transition(order, OrderStatus.SHIPPED, actor=actor, reason="handed to the courier", checked_by=actor,
                       dispensed_at=now)
            _tell(order, "shipped", gettext("Order %(number)s is on its way") % {"number": order.number},
                  gettext("Tracking number %(no)s") % {"no": tracking_no})
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=order, patient_id=order.patient_id,
                     detail={"handed_over": order.fulfilment})
        realtime.order_changed(order)
    return order


def collect(*, actor: User, order_id: int) -> Order:
    """The patient (or a relative) collected a pickup order at the counter."""
    _pharmacist(actor)
    order, _role = order_for(actor, order_id, audit_read=False)
    if order.status != OrderStatus.READY_FOR_PICKUP:
        # (shipped → delivered is the courier's word, or the patient's receipt, never the counter's)
        raise Conflict("not_ready_for_pickup", _("This order is not waiting at the pharmacy counter."))
    with transaction.atomic():
        transition(order, OrderStatus.DELIVERED, actor=actor, reason="collected at the counter",
                   delivered_at=timezone.now())
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=order, patient_id=order.patient_id,
                     detail={"collected": True})
        realtime.order_changed(order)
    return order


# ---- tracking --------------------------------------------------------------------------------------------------


def record_tracking(*, provider: str, updates: list[couriers.TrackingUpdate]) -> int:
    """Store each event once and move the shipment to the status of its latest event by the courier's clock.
    Returns how many events were new."""
    new = 0
    for update in updates:
        with transaction.atomic():
            shipment = Shipment.objects.select_for_update().filter(
                provider=provider, tracking_no=update.tracking_no
            ).first()
            if shipment is None:
                raise NotFound("unknown_shipment")
            if update.status not in ShipmentStatus.values:
                raise DomainError("invalid_tracking_status", f"unknown status {update.status!r}")
            try:
                with transaction.atomic():
                    TrackingEvent.objects.create(
                        shipment=shipment, event_id=update.event_id, status=update.status,
                        occurred_at=update.occurred_at, location=update.location[:128],
                        description=update.description[:255],
                    )
            except IntegrityError:
                continue  # the same event again
            new += 1
            _apply_latest(shipment)
    return new


def _apply_latest(shipment: Shipment) -> None:
    latest = shipment.events.order_by("-occurred_at", "-pk").first()
    if shipment.status in FINAL_SHIPMENT_STATUSES or latest.status == shipment.status:
        return
    if latest.status == ShipmentStatus.FAILED:
        # A failure refunds: payments' lock order, the charge before the order (as in cancel_order).
        payments.lock_charge(charge_id=Order.objects.values_list("charge_id", flat=True).get(pk=shipment.order_id))
    Shipment.objects.filter(pk=shipment.pk).update(
        status=latest.status, last_event_at=latest.occurred_at,
        failure_reason=latest.description if latest.status == ShipmentStatus.FAILED else "",
    )
    order = Order.objects.select_for_update().get(pk=shipment.order_id)
    audit.record(actor=None, action=AuditAction.UPDATE, obj=shipment, patient_id=order.patient_id,
                 detail={"tracking": latest.status, "event": latest.event_id})
    if latest.status == ShipmentStatus.DELIVERED and order.status == OrderStatus.SHIPPED:
        transition(order, OrderStatus.DELIVERED, actor=None, reason="delivered", delivered_at=latest.occurred_at)
        _tell(order, "delivered", gettext("Order %(number)s was delivered") % {"number": order.number})
    elif latest.status == ShipmentStatus.FAILED and order.status == OrderStatus.SHIPPED:
        reason = latest.description or gettext("delivery failed")
        transition(order, OrderStatus.REFUNDED, actor=None, reason=reason, status_reason=reason)
        payments.refund(actor=None, charge_id=order.charge_id, reason=f"delivery failed: {reason}")
        _tell(order, "failed", gettext("Delivery of order %(number)s failed; you will be refunded")
              % {"number": order.number}, reason)
    else:
        _tell(order, f"tracking-{latest.status}", gettext("Order %(number)s: %(status)s")
              % {"number": order.number, "status": latest.get_status_display()}, latest.location)
    realtime.order_changed(order)
