"""Traceability: from a delivered package back to its source on one read, for pharmacists only: the prescription and
its timeline, the pharmacist's approval and seal, the charge with its payment attempts and refunds, the lots that
left the shelf (who picked them), the shipment and every tracking event, and the order's own timeline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ihospital.core.models import AuditAction, AuditEvent
from ihospital.payments.models import ChargeStatus, PaymentStatus, RefundStatus
from ihospital.pharmacy import selectors, services
from ihospital.pharmacy.couriers.base import TrackingUpdate
from ihospital.pharmacy.models import Shipment
from ihospital.prescriptions.models import ReviewDecision
from tests.pharmacy.factories import approved, stock
from tests.prescriptions.factories import item, nifedipine, refused

pytestmark = pytest.mark.django_db


STEP = {"picked_up": 1, "in_transit": 2, "out_for_delivery": 3, "delivered": 4, "failed": 4}


def deliver(pharmacy, shipment: Shipment, *statuses: str) -> None:
    """The courier's events for ``statuses``, each at its stage's time (10 minutes a stage)."""
    with pharmacy.capture(execute=True):
        services.record_tracking(provider=shipment.provider, updates=[
            TrackingUpdate(event_id=f"{shipment.tracking_no}-{STEP[status]}", tracking_no=shipment.tracking_no,
                           status=status, occurred_at=shipment.created_at + timedelta(minutes=10 * STEP[status]),
                           location="太原市")
            for status in statuses
        ])


def test_a_delivered_package_traces_back_to_its_prescription(pharmacy, doc, patient, pharmacist, diagnosis):
    drug = nifedipine()
    stock(drug, 3, days=60, lot_no="N-SOON")
    stock(drug, 10, days=400, lot_no="N-LATER")
    rx = approved(doc, patient, pharmacist, item(drug), condition=diagnosis, packages=None)
    order = pharmacy.order(rx)
    pharmacy.pay(order, action="decline")
    order = pharmacy.dispense(pharmacy.pay(order), pharmacist)
    shipment = Shipment.objects.get(order=order)
    # Delivered; the in-transit scan arrives last but takes its place by the courier's clock.
    deliver(pharmacy, shipment, "picked_up", "out_for_delivery", "delivered")
    deliver(pharmacy, shipment, "in_transit")

    trace = selectors.trace(pharmacist, order.pk)

    assert trace.order.pk == order.pk and trace.order.status == "delivered"
    assert [(e.from_status, e.to_status) for e in trace.prescription_timeline] == [
        ("draft", "signed"), ("signed", "approved"), ("approved", "dispensed")]
    assert (trace.review.decision, trace.review.pharmacist_id) == (ReviewDecision.APPROVED, pharmacist.pk)
    assert trace.review.seal
    assert (trace.charge.pk, trace.charge.status, trace.charge.amount_fen) == (order.charge_id, ChargeStatus.PAID,
                                                                               order.total_fen)
    assert sorted(p.status for p in trace.payments) == [PaymentStatus.FAILED, PaymentStatus.SUCCEEDED]
    assert trace.refunds == []
    today = timezone.localdate()
    assert [(d.lot.lot_no, d.lot.expires_on, d.quantity, d.by_id) for d in trace.dispenses] == [
        ("N-SOON", today + timedelta(days=60), 3, pharmacist.pk),
        ("N-LATER", today + timedelta(days=400), 1, pharmacist.pk)]
    assert [s.tracking_no for s in trace.shipments] == [shipment.tracking_no]
    # Events in the courier's order, wherever they arrived.
    assert [e.status for e in trace.events] == ["picked_up", "in_transit", "out_for_delivery", "delivered"]
    assert [e.to_status for e in trace.order_timeline] == ["paid", "dispensing", "shipped", "delivered"]
    # Reading it is a read of the order, audited.
    assert AuditEvent.objects.filter(actor=pharmacist, action=AuditAction.READ, object_type="pharmacy.order",
                                     object_id=str(order.pk)).exists()


def test_a_failed_delivery_shows_its_refund(pharmacy, rx, pharmacist):
    order = pharmacy.dispense(pharmacy.pay(pharmacy.order(rx)), pharmacist)
    deliver(pharmacy, Shipment.objects.get(order=order), "picked_up", "failed")
    pharmacy.settle()

    trace = selectors.trace(pharmacist, order.pk)

    assert [(r.amount_fen, r.status) for r in trace.refunds] == [(order.total_fen, RefundStatus.SUCCEEDED)]
    assert trace.order_timeline[-1].to_status == "refunded"
    assert trace.shipments[0].status == "failed"


def test_only_pharmacists_trace(pharmacy, rx, patient, relative, doc, pharmacist):
    order = pharmacy.dispense(pharmacy.pay(pharmacy.order(rx)), pharmacist)

    for user in (patient.user, relative, doc.user):
        error = refused("not_found", selectors.trace, user, order.pk)
        assert error.status == 404
    refused("not_found", selectors.trace, pharmacist, 999999)
