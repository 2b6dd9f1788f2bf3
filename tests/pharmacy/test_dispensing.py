"""Dispensing a paid order: only pharmacists; start → pick (holds become Dispense rows, first-expiring lots, a held
lot that came too close to expiry replaced) → hand over (the prescription is dispensed, the courier booked, the
cold-chain service for insulin) or the counter for pickup → collected. The worklist and the dashboard."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from ihospital.core.models import AuditAction, AuditEvent
from ihospital.core.transitions import timeline
from ihospital.notifications.models import Notification
from ihospital.pharmacy import selectors, services
from ihospital.pharmacy.couriers import base as couriers
from ihospital.pharmacy.couriers.models import SimulatedParcel
from ihospital.pharmacy.models import Dispense, Order, OrderStatus, Reservation, Shipment, StockLot
from ihospital.prescriptions.models import Prescription, RxStatus
from tests.factories import PatientFactory
from tests.pharmacy.factories import approved, lots, state, stock
from tests.prescriptions.factories import DrugFactory, amlodipine, item, nifedipine, refused

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid(pharmacy, rx):
    """The patient's order (delivery), paid."""
    return pharmacy.pay(pharmacy.order(rx))


def told(order: Order, kind: str) -> set[int]:
    return set(Notification.objects.filter(kind=f"order.{kind}", link=f"/pharmacy/orders/{order.pk}/")
               .values_list("user_id", flat=True))


# ---- who -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("act", ["start_dispensing", "pick", "hand_over", "collect"])
def test_only_pharmacists_dispense(paid, patient, doc, relative, act):
    before = state()
    for actor in (patient.user, relative, doc.user):
        error = refused("not_a_pharmacist", getattr(services, act), actor=actor, order_id=paid.pk)
        assert error.status == 403
    assert state() == before


def test_an_unpaid_order_cannot_be_started(pharmacy, rx, pharmacist):
    order = pharmacy.order(rx)
    before = state()

    refused("invalid_transition", services.start_dispensing, actor=pharmacist, order_id=order.pk)
    assert state() == before


# ---- start, pick, hand over ------------------------------------------------------------------------------------------


def test_start_pick_and_hand_over_to_the_courier(pharmacy, paid, pharmacist, patient, relative, rx):
    drug = rx.items.get().drug
    (lot_no, *_counts) = lots(drug)[0]

    with pharmacy.capture(execute=True):
        started = services.start_dispensing(actor=pharmacist, order_id=paid.pk)
    assert (started.status, started.dispensed_by_id) == (OrderStatus.DISPENSING, pharmacist.pk)
    assert told(paid, "dispensing") == {patient.user.pk, relative.pk}

    with pharmacy.capture(execute=True):
        (dispense,) = services.pick(actor=pharmacist, order_id=paid.pk)
    assert (dispense.lot.lot_no, dispense.quantity, dispense.by_id, dispense.line.order_id) == (
        lot_no, 1, pharmacist.pk, paid.pk)
    # Off the shelf: on hand and held both go down; the hold is spent.
    assert lots(drug) == [(lot_no, 19, 0)]
    assert Reservation.objects.get(line__order=paid).released
    assert AuditEvent.objects.filter(action=AuditAction.UPDATE, object_type="pharmacy.order", object_id=str(paid.pk),
                                     detail__picked=[[lot_no, 1]]).exists()

    with pharmacy.capture(execute=True):
        order = services.hand_over(actor=pharmacist, order_id=paid.pk)
    assert (order.status, order.checked_by_id) == (OrderStatus.SHIPPED, pharmacist.pk)
    assert order.dispensed_at is not None
    rx.refresh_from_db()
    assert rx.status == RxStatus.DISPENSED and rx.dispensed_at is not None
    shipment = Shipment.objects.get(order=order)
    assert (shipment.provider, shipment.service, shipment.status, shipment.handed_over_by_id) == (
        "simulator", "standard", "created", pharmacist.pk)
    parcel = SimulatedParcel.objects.get(tracking_no=shipment.tracking_no)
    assert (parcel.reference, parcel.receiver_address) == (order.number, order.delivery_address)
    assert told(order, "shipped") == {patient.user.pk, relative.pk}
    assert [(e.from_status, e.to_status) for e in timeline(order)] == [
        ("created", "paid"), ("paid", "dispensing"), ("dispensing", "shipped")]


def test_picking_takes_the_held_lots_first_expiring_first(pharmacy, doc, patient, pharmacist, diagnosis):
    drug = nifedipine()  # 4 boxes
    stock(drug, 3, days=60, lot_no="SOON")
    stock(drug, 10, days=300, lot_no="LATER")
    rx = approved(doc, patient, pharmacist, item(drug), condition=diagnosis, packages=None)
    order = pharmacy.pay(pharmacy.order(rx, fulfilment="pickup"))
    services.start_dispensing(actor=pharmacist, order_id=order.pk)

    picked = services.pick(actor=pharmacist, order_id=order.pk)

    assert [(d.lot.lot_no, d.quantity) for d in picked] == [("SOON", 3), ("LATER", 1)]
    assert lots(drug) == [("SOON", 0, 0), ("LATER", 9, 0)]


def test_a_held_lot_that_came_too_close_to_expiry_is_replaced_when_picking(pharmacy, doc, patient, pharmacist,
                                                                         diagnosis):
    drug = amlodipine()
    stock(drug, 5, days=60, lot_no="HELD")
    stock(drug, 5, days=400, lot_no="FRESH")
    rx = approved(doc, patient, pharmacist, condition=diagnosis, packages=None)
    order = pharmacy.pay(pharmacy.order(rx, fulfilment="pickup"))
    assert lots(drug) == [("HELD", 5, 1), ("FRESH", 5, 0)]
    # The lot turns out to expire sooner (a recall notice, a corrected label): it would not last the 28 days.
    StockLot.objects.filter(lot_no="HELD").update(expires_on=timezone.localdate() + timedelta(days=10))
    services.start_dispensing(actor=pharmacist, order_id=order.pk)

    (dispense,) = services.pick(actor=pharmacist, order_id=order.pk)

    assert (dispense.lot.lot_no, dispense.quantity) == ("FRESH", 1)
    assert lots(drug) == [("HELD", 5, 0), ("FRESH", 4, 0)]
    assert not Reservation.objects.filter(line__order=order, released=False).exists()


def test_a_held_lot_that_expired_with_nothing_to_replace_it_stops_the_pick(pharmacy, doc, patient, pharmacist,
                                                                         diagnosis):
    drug = amlodipine()
    stock(drug, 1, days=60, lot_no="ONLY")
    rx = approved(doc, patient, pharmacist, condition=diagnosis, packages=None)
    order = pharmacy.pay(pharmacy.order(rx, fulfilment="pickup"))
    services.start_dispensing(actor=pharmacist, order_id=order.pk)
    StockLot.objects.filter(lot_no="ONLY").update(expires_on=timezone.localdate() - timedelta(days=1))
    before = state()

    refused("out_of_stock", services.pick, actor=pharmacist, order_id=order.pk)

    assert state() == before
    assert lots(drug) == [("ONLY", 1, 1)]


def test_picking_twice_is_refused(paid, pharmacist):
    services.start_dispensing(actor=pharmacist, order_id=paid.pk)
    services.pick(actor=pharmacist, order_id=paid.pk)
    before = state()

    error = refused("already_picked", services.pick, actor=pharmacist, order_id=paid.pk)

    assert error.status == 409
    assert state() == before
    assert Dispense.objects.count() == 1


def test_picking_before_starting_is_refused(paid, pharmacist):
    before = state()
    refused("not_dispensing", services.pick, actor=pharmacist, order_id=paid.pk)
    refused("not_dispensing", services.hand_over, actor=pharmacist, order_id=paid.pk)
    assert state() == before


def test_handing_over_before_picking_is_refused(paid, pharmacist, rx):
    services.start_dispensing(actor=pharmacist, order_id=paid.pk)
    before = state()

    error = refused("not_picked", services.hand_over, actor=pharmacist, order_id=paid.pk)

    assert error.status == 409
    assert state() == before
    rx.refresh_from_db()
    assert rx.status == RxStatus.APPROVED


def test_handing_over_twice_is_refused(pharmacy, paid, pharmacist):
    pharmacy.dispense(paid, pharmacist)
    before = state()

    refused("not_dispensing", services.hand_over, actor=pharmacist, order_id=paid.pk)
    assert state() == before
    assert Shipment.objects.count() == 1


def test_an_order_paid_in_time_is_dispensed_after_the_prescription_validity(pharmacy, paid, pharmacist, rx):
    Prescription.objects.filter(pk=rx.pk).update(valid_until=timezone.now() - timedelta(hours=1))

    order = pharmacy.dispense(paid, pharmacist)

    assert order.status == OrderStatus.SHIPPED
    rx.refresh_from_db()
    assert rx.status == RxStatus.DISPENSED


# ---- the cold chain and the courier ----------------------------------------------------------------------------------


@pytest.fixture
def insulin_rx(doc, patient, pharmacist, diagnosis):
    insulin = DrugFactory(cold_chain_pen=True, price_fen=8900)
    return approved(doc, patient, pharmacist, item(insulin, dose=Decimal(10)), item(amlodipine()),
                    condition=diagnosis)


def test_a_cold_chain_order_ships_with_the_cold_chain_service(pharmacy, insulin_rx, pharmacist):
    order = pharmacy.pay(pharmacy.order(insulin_rx))
    assert order.cold_chain

    order = pharmacy.dispense(order, pharmacist)

    shipment = Shipment.objects.get(order=order)
    assert (order.status, shipment.service) == (OrderStatus.SHIPPED, "cold_chain")
    assert SimulatedParcel.objects.get(tracking_no=shipment.tracking_no).service == "cold_chain"


class StandardOnlyCourier(couriers.Courier):
    """A courier without the cold chain (and one that refuses everything: ``RefusingCourier``)."""

    name = "standard-only"
    services = frozenset({"standard"})

    def create_shipment(self, shipment) -> str:
        return f"STD{shipment.pk:08d}"


class RefusingCourier(StandardOnlyCourier):
    name = "refusing"
    services = frozenset({"standard", "cold_chain"})

    def create_shipment(self, shipment) -> str:
        raise couriers.CourierError("no pickups in this district today")


@pytest.fixture
def courier(monkeypatch, settings):
    def use(name: str, cls: type):
        monkeypatch.setitem(couriers.COURIERS, name, f"{cls.__module__}.{cls.__qualname__}")
        settings.COURIER_PROVIDER = name
    return use


def test_a_cold_chain_order_is_refused_by_a_courier_without_the_cold_chain(pharmacy, insulin_rx, pharmacist,
                                                                          courier, doc):
    courier("standard-only", StandardOnlyCourier)
    order = pharmacy.pay(pharmacy.order(insulin_rx))
    services.start_dispensing(actor=pharmacist, order_id=order.pk)
    services.pick(actor=pharmacist, order_id=order.pk)
    before = state()

    error = refused("cold_chain_unavailable", services.hand_over, actor=pharmacist, order_id=order.pk)

    assert error.status == 409
    assert state() == before  # no shipment, the prescription still approved, the order still being prepared
    # The same courier takes an ordinary parcel.
    plain = pharmacy.dispense(pharmacy.pay(pharmacy.order(approved(doc, PatientFactory(), pharmacist))), pharmacist)
    assert Shipment.objects.get(order=plain).tracking_no.startswith("STD")


def test_a_courier_that_refuses_the_parcel_leaves_the_order_being_prepared(pharmacy, paid, pharmacist, courier):
    courier("refusing", RefusingCourier)
    services.start_dispensing(actor=pharmacist, order_id=paid.pk)
    services.pick(actor=pharmacist, order_id=paid.pk)
    before = state()

    error = refused("courier_refused", services.hand_over, actor=pharmacist, order_id=paid.pk)

    assert "no pickups" in str(error.message)
    assert state() == before


# ---- pickup at the counter -------------------------------------------------------------------------------------------


def test_a_pickup_order_waits_at_the_counter_until_collected(pharmacy, rx, pharmacist, patient, relative):
    order = pharmacy.pay(pharmacy.order(rx, fulfilment="pickup"))

    order = pharmacy.dispense(order, pharmacist)

    assert order.status == OrderStatus.READY_FOR_PICKUP and order.checked_by_id == pharmacist.pk
    assert not Shipment.objects.exists()
    assert told(order, "ready") == {patient.user.pk, relative.pk}
    rx.refresh_from_db()
    assert rx.status == RxStatus.DISPENSED

    order = services.collect(actor=pharmacist, order_id=order.pk)

    assert order.status == OrderStatus.DELIVERED and order.delivered_at is not None
    assert timeline(order).last().reason == "collected at the counter"


def test_only_an_order_waiting_at_the_counter_can_be_collected(pharmacy, paid, pharmacist):
    before = state()
    refused("not_ready_for_pickup", services.collect, actor=pharmacist, order_id=paid.pk)
    assert state() == before
    # A parcel on its way is not collected at the counter either.
    shipped = pharmacy.dispense(paid, pharmacist)
    before = state()
    refused("not_ready_for_pickup", services.collect, actor=pharmacist, order_id=shipped.pk)
    assert state() == before


# ---- the worklist and the dashboard ----------------------------------------------------------------------------------


def test_the_worklist_shows_paid_orders_oldest_payment_first_and_flags_the_cold_chain(
        pharmacy, doc, pharmacist, insulin_rx, patient):
    others = [PatientFactory() for _ in range(3)]
    unpaid = pharmacy.order(approved(doc, others[0], pharmacist))
    first = pharmacy.pay(pharmacy.order(approved(doc, others[1], pharmacist)))
    cold = pharmacy.pay(pharmacy.order(insulin_rx))
    done = pharmacy.dispense(pharmacy.pay(pharmacy.order(approved(doc, others[2], pharmacist))), pharmacist)
    Order.objects.filter(pk=first.pk).update(paid_at=timezone.now() - timedelta(hours=1))

    worklist = list(selectors.dispensing_worklist(pharmacist))

    assert [o.pk for o in worklist] == [first.pk, cold.pk]
    assert [o.cold_chain for o in worklist] == [False, True]
    assert unpaid.pk not in {o.pk for o in worklist} and done.pk not in {o.pk for o in worklist}
    # Being prepared stays on the list until handed over.
    services.start_dispensing(actor=pharmacist, order_id=cold.pk)
    assert [o.pk for o in selectors.dispensing_worklist(pharmacist)] == [first.pk, cold.pk]
    assert AuditEvent.objects.filter(actor=pharmacist, action=AuditAction.READ, object_type="pharmacy.order",
                                     detail__list="worklist").exists()


def test_the_worklist_and_dashboard_are_the_pharmacys(paid, patient, doc):
    for user in (patient.user, doc.user):
        refused("not_found", selectors.dispensing_worklist, user)
        refused("not_found", selectors.orders_dashboard, user)


def test_the_dashboard_filters(pharmacy, doc, pharmacist, insulin_rx, patient):
    other = PatientFactory()
    cold = pharmacy.pay(pharmacy.order(insulin_rx))
    pickup = pharmacy.order(approved(doc, other, pharmacist), fulfilment="pickup")
    shipped = pharmacy.dispense(pharmacy.pay(pharmacy.order(approved(doc, PatientFactory(), pharmacist))), pharmacist)
    tracking_no = Shipment.objects.get(order=shipped).tracking_no

    def ids(**filters):
        return {o.pk for o in selectors.orders_dashboard(pharmacist, **filters)}

    assert ids() == {cold.pk, pickup.pk, shipped.pk}
    assert ids(status="paid") == {cold.pk}
    assert ids(status="shipped") == {shipped.pk}
    assert ids(fulfilment="pickup") == {pickup.pk}
    assert ids(cold_chain=True) == {cold.pk}
    assert ids(cold_chain=False) == {pickup.pk, shipped.pk}
    today = timezone.localdate()
    assert ids(since=today, until=today) == {cold.pk, pickup.pk, shipped.pk}
    assert ids(since=today + timedelta(days=1)) == set()
    assert ids(until=today - timedelta(days=1)) == set()
    assert ids(query=cold.number) == {cold.pk}
    assert ids(query=pickup.prescription.number) == {pickup.pk}
    assert ids(query=tracking_no[-6:]) == {shipped.pk}
    assert ids(query=other.mrn) == {pickup.pk}
    assert ids(status="shipped", query=cold.number) == set()
