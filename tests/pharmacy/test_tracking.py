"""Tracking a parcel: the courier's events through ``services.record_tracking``, stored once each and applied in the
courier's own time order (a late event never moves a parcel back), a notification at each step, a failed delivery
refunded in full, and the patient confirming receipt. (The simulator's own callbacks over HTTP, end to end through the
API: test_api.py; the simulator itself: test_couriers.py.)"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ihospital.core.errors import NotFound
from ihospital.core.models import AuditEvent
from ihospital.core.transitions import timeline
from ihospital.notifications.models import Notification
from ihospital.payments.models import Refund, RefundCause, RefundStatus
from ihospital.pharmacy import selectors, services
from ihospital.pharmacy.couriers.base import TrackingUpdate
from ihospital.pharmacy.models import OrderStatus, Shipment, ShipmentStatus, TrackingEvent
from tests.factories import PatientFactory
from tests.pharmacy.factories import lots, state
from tests.prescriptions.factories import refused

pytestmark = pytest.mark.django_db


@pytest.fixture
def shipment(pharmacy, rx, pharmacist) -> Shipment:
    order = pharmacy.dispense(pharmacy.pay(pharmacy.order(rx)), pharmacist)
    return Shipment.objects.select_related("order").get(order=order)


def update(shipment: Shipment, n: int, status: str, minutes: int, **kw) -> TrackingUpdate:
    return TrackingUpdate(event_id=f"{shipment.tracking_no}-{n}", tracking_no=shipment.tracking_no, status=status,
                          occurred_at=shipment.created_at + timedelta(minutes=minutes), **kw)


def record(pharmacy, shipment: Shipment, *updates: TrackingUpdate) -> int:
    with pharmacy.capture(execute=True):
        new = services.record_tracking(provider=shipment.provider, updates=list(updates))
    shipment.refresh_from_db()
    shipment.order.refresh_from_db()
    return new


def kinds(order) -> list[str]:
    return list(Notification.objects.filter(link=f"/pharmacy/orders/{order.pk}/", user=order.patient.user)
                .order_by("pk").values_list("kind", flat=True))


def test_the_full_timeline_delivers_the_order_with_a_notification_at_each_step(pharmacy, shipment, relative):
    steps = [(1, "picked_up", 10), (2, "in_transit", 60), (3, "out_for_delivery", 600), (4, "delivered", 700)]

    seen = []
    for n, status, minutes in steps:
        assert record(pharmacy, shipment, update(shipment, n, status, minutes, location="太原市小店区")) == 1
        seen.append((shipment.status, shipment.order.status))

    assert seen == [("picked_up", "shipped"), ("in_transit", "shipped"), ("out_for_delivery", "shipped"),
                    ("delivered", "delivered")]
    order = shipment.order
    assert order.delivered_at == shipment.created_at + timedelta(minutes=700)
    assert shipment.last_event_at == order.delivered_at
    assert kinds(order)[-4:] == ["order.tracking-picked_up", "order.tracking-in_transit",
                                 "order.tracking-out_for_delivery", "order.delivered"]
    # The relative acting for the patient hears every step too.
    assert Notification.objects.filter(user=relative, kind__startswith="order.tracking-").count() == 3
    assert [e.status for e in selectors.shipment_events(order)] == [s for _n, s, _m in steps]
    assert timeline(order).last().to_status == "delivered"
    assert AuditEvent.objects.filter(object_type="pharmacy.shipment", object_id=str(shipment.pk)).count() == 4


def test_events_arriving_out_of_order_are_applied_by_the_couriers_clock(pharmacy, shipment):
    # The delivery is reported before the in-transit scan that happened earlier.
    assert record(pharmacy, shipment, update(shipment, 4, "delivered", 700)) == 1
    assert (shipment.status, shipment.order.status) == ("delivered", "delivered")

    assert record(pharmacy, shipment, update(shipment, 2, "in_transit", 60), update(shipment, 1, "picked_up", 10)) == 2

    assert (shipment.status, shipment.order.status) == ("delivered", "delivered")
    events = selectors.shipment_events(shipment.order)
    assert [e.status for e in events] == ["picked_up", "in_transit", "delivered"]
    assert [e.status for e in TrackingEvent.objects.order_by("pk")] == ["delivered", "in_transit", "picked_up"]
    assert shipment.last_event_at == shipment.created_at + timedelta(minutes=700)
    # No late "in transit" message after "delivered".
    assert "order.tracking-in_transit" not in kinds(shipment.order)


def test_an_earlier_stage_arriving_late_does_not_move_the_parcel_back(pharmacy, shipment):
    record(pharmacy, shipment, update(shipment, 3, "out_for_delivery", 600))
    record(pharmacy, shipment, update(shipment, 1, "picked_up", 10))

    assert shipment.status == "out_for_delivery"


def test_the_same_event_twice_is_stored_once(pharmacy, shipment):
    event = update(shipment, 1, "picked_up", 10, location="太原市")
    assert record(pharmacy, shipment, event) == 1
    before = state()

    assert record(pharmacy, shipment, event, event) == 0

    assert state() == before
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 1
    assert kinds(shipment.order).count("order.tracking-picked_up") == 1


def test_a_failed_delivery_refunds_the_order_in_full(pharmacy, shipment, patient, relative):
    order = shipment.order
    drug = order.lines.get().drug
    shelf = lots(drug)
    record(pharmacy, shipment, update(shipment, 1, "picked_up", 10))

    record(pharmacy, shipment, update(shipment, 2, "failed", 900, description="收件人拒收"))

    order = shipment.order
    assert (shipment.status, shipment.failure_reason) == (ShipmentStatus.FAILED, "收件人拒收")
    assert (order.status, order.status_reason) == (OrderStatus.REFUNDED, "收件人拒收")
    (refund,) = Refund.objects.filter(charge_id=order.charge_id)
    assert (refund.amount_fen, refund.cause, refund.status) == (order.total_fen, RefundCause.REQUESTED,
                                                                  RefundStatus.PENDING)
    assert "收件人拒收" in refund.reason
    assert "order.failed" in kinds(order)

    pharmacy.settle()  # the provider refunds and confirms

    refund.refresh_from_db()
    assert refund.status == RefundStatus.SUCCEEDED
    assert pharmacy.charge(order).refunded_fen == order.total_fen
    assert f"order.refunded-{refund.pk}" in kinds(order)
    assert Notification.objects.filter(user=relative, kind=f"order.refunded-{refund.pk}").exists()
    # The parcel comes back but not onto the shelf: its storage is unknown.
    assert lots(drug) == shelf
    # A "delivered" that arrives afterwards changes nothing.
    record(pharmacy, shipment, update(shipment, 3, "delivered", 1000))
    assert (shipment.status, shipment.order.status) == (ShipmentStatus.FAILED, OrderStatus.REFUNDED)
    assert Refund.objects.filter(charge_id=order.charge_id).count() == 1


def test_an_unknown_tracking_number_is_refused(pharmacy, shipment):
    stray = TrackingUpdate(event_id="X-1", tracking_no="SIM-NOT-OURS", status="picked_up", occurred_at=timezone.now())
    before = state()

    with pytest.raises(NotFound):
        services.record_tracking(provider=shipment.provider, updates=[stray])
    # Another courier's number is not ours either.
    with pytest.raises(NotFound):
        services.record_tracking(provider="sf", updates=[update(shipment, 1, "picked_up", 1)])
    assert state() == before


def test_an_unknown_status_is_refused(pharmacy, shipment):
    before = state()
    refused("invalid_tracking_status", services.record_tracking, provider=shipment.provider,
            updates=[update(shipment, 1, "teleported", 1)])
    assert state() == before


# ---- confirming receipt ----------------------------------------------------------------------------------------------


def test_the_patient_confirms_receipt_of_a_parcel_on_its_way(pharmacy, shipment, patient):
    order = services.confirm_receipt(actor=patient.user, order_id=shipment.order_id)

    assert order.status == OrderStatus.DELIVERED
    assert order.delivered_at is not None and order.received_confirmed_at is not None
    assert timeline(order).last().reason == "receipt confirmed by the patient"
    # The courier's "delivered" that follows is stored and changes nothing more.
    record(pharmacy, shipment, update(shipment, 5, "delivered", 700))
    assert shipment.order.status == OrderStatus.DELIVERED and shipment.status == "delivered"


def test_confirming_receipt_after_the_courier_delivered_it_records_the_confirmation(pharmacy, shipment, relative):
    record(pharmacy, shipment, update(shipment, 5, "delivered", 700))

    order = services.confirm_receipt(actor=relative, order_id=shipment.order_id)

    assert order.status == OrderStatus.DELIVERED and order.received_confirmed_at is not None
    assert len([e for e in timeline(order) if e.to_status == "delivered"]) == 1


def test_receipt_cannot_be_confirmed_before_the_parcel_leaves(pharmacy, rx, patient, pharmacist):
    order = pharmacy.pay(pharmacy.order(rx))
    before = state()

    error = refused("not_delivered", services.confirm_receipt, actor=patient.user, order_id=order.pk)

    assert error.status == 409
    assert state() == before


def test_only_the_patients_side_confirms_receipt(pharmacy, shipment, pharmacist):
    stranger = PatientFactory()
    before = state()
    refused("not_found", services.confirm_receipt, actor=pharmacist, order_id=shipment.order_id)
    refused("not_found", services.confirm_receipt, actor=stranger.user, order_id=shipment.order_id)
    assert state() == before
