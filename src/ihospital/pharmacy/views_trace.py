"""Traceability, for pharmacists: from a package back to its source on one printable page.

prescription (number, doctor, signed at, content hash, seal) → the pharmacist's approval (who, when, seal) → the
charge, every payment attempt and refund → the lots that left the shelf (lot, expiry, packages, who) → the
shipment and all its tracking events (the courier's time and when each arrived) → the order's own history.
"""

from __future__ import annotations

from django.shortcuts import render
from django.views.decorators.http import require_GET

from ihospital.prescriptions.models import RxStatus
from ihospital.prescriptions.views import TIMELINE_REASONS as RX_REASONS

from . import selectors
from .display import order_timeline, tracking_rows
from .views_pharmacy import pharmacist_page


def _rx_rows(events) -> list[dict]:
    labels = dict(RxStatus.choices)
    return [{
        "at": e.at, "status": labels.get(e.to_status, e.to_status),
        "actor": e.actor.real_name if e.actor_id else "", "reason": RX_REASONS.get(e.reason, e.reason),
    } for e in events]


@require_GET
@pharmacist_page
def trace(request, order_id: int):
    found = selectors.trace(request.user, order_id)
    order = found.order
    context = {
        "trace": found, "order": order, "rx": order.prescription,
        "rx_events": _rx_rows(found.prescription_timeline),
        "events": tracking_rows(found.events), "history": order_timeline(order),
        "lines": list(order.lines.select_related("drug").order_by("pk")),
    }
    return render(request, "pharmacy/trace.html", context)
