"""What the order pages show of an order that a scoped selector already opened for the reader: its lines, its
shipment and tracking events, its history in words, the last payment attempt, the lots held and dispensed.

Nothing here fetches an order by id: every function takes the order the view got from ``selectors.order_for``.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from ihospital.core.transitions import timeline

from .models import Dispense, Order, OrderStatus, Reservation, Shipment, ShipmentStatus

# Reasons the services record on the order's timeline for routine steps, in words for the reader.
TIMELINE_REASONS = {
    "payment received": _("payment received"),
    "dispensing": _("the pharmacy started preparing it"),
    "ready": _("ready at the pharmacy counter"),
    "handed to the courier": _("checked, packed and handed to the courier"),
    "delivered": _("delivered by the courier"),
    "collected at the counter": _("collected at the pharmacy counter"),
    "receipt confirmed by the patient": _("the patient confirmed receipt"),
    "order cancelled": _("cancelled"),
}


def order_lines(order: Order) -> list:
    return list(order.lines.select_related("drug").order_by("pk"))


def shipment_of(order: Order) -> Shipment | None:
    """The parcel that is (or was last) on its way."""
    shipments = list(order.shipments.all())
    live = [s for s in shipments if s.status != ShipmentStatus.CANCELLED]
    return (live or shipments or [None])[0]


def tracking_rows(events) -> list[dict]:
    """Tracking events in the courier's time order, with what each means in the reader's words."""
    labels = dict(ShipmentStatus.choices)
    return [{
        "at": e.occurred_at, "received_at": e.received_at, "status": e.status,
        "label": labels.get(e.status, e.status), "location": e.location, "description": e.description,
        "event_id": e.event_id, "tracking_no": e.shipment.tracking_no,
    } for e in events]


def order_timeline(order: Order) -> list[dict]:
    labels = dict(OrderStatus.choices)
    rows = []
    for event in timeline(order).select_related("actor").order_by("at", "pk"):
        reason = event.reason or ""
        rows.append({
            "at": event.at, "from": labels.get(event.from_status, event.from_status),
            "status": labels.get(event.to_status, event.to_status), "to_status": event.to_status,
            "actor": event.actor.real_name if event.actor_id else "",
            "reason": TIMELINE_REASONS.get(reason, reason),
        })
    return rows


def last_payment(order: Order):
    """The payer's latest attempt at the provider (None before the first)."""
    if not order.charge_id:
        return None
    from ihospital.payments.models import Payment

    return Payment.objects.filter(charge_id=order.charge_id).order_by("-created_at", "-pk").first()


def pick_list(order: Order) -> list[dict]:
    """Per line: the lots held for it (first-expiring first) and what was already taken off the shelf."""
    held = Reservation.objects.filter(line__order=order, released=False).select_related("lot").order_by(
        "lot__expires_on", "pk")
    taken = Dispense.objects.filter(line__order=order).select_related("lot", "by").order_by("lot__expires_on", "pk")
    rows = []
    for line in order_lines(order):
        rows.append({
            "line": line,
            "held": [r for r in held if r.line_id == line.pk],
            "dispensed": [d for d in taken if d.line_id == line.pk],
        })
    return rows
