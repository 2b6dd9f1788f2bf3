"""Stock held by orders: first-expiring-first-out among the lots that outlast the supply (never an expired one),
``out_of_stock`` with nothing held, the last package going to one order only, and holds given back when an order is
cancelled or not paid in time. (The same race on PostgreSQL with threads: test_concurrency_pg.py.)"""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.db.models import F

from ihospital.payments.models import ChargeStatus
from ihospital.pharmacy import services
from ihospital.pharmacy.models import Order, OrderStatus, Reservation, StockLot
from tests.factories import PatientFactory
from tests.pharmacy.factories import address, approved, lots, ordered, state, stock
from tests.prescriptions.factories import DrugFactory, amlodipine, item, nifedipine, refused

pytestmark = pytest.mark.django_db


def held(order: Order) -> list[tuple[str, int, bool]]:
    return list(Reservation.objects.filter(line__order=order).order_by("pk").values_list(
        "lot__lot_no", "quantity", "released"))


def test_holds_go_to_the_first_expiring_lots_that_outlast_the_supply(doc, patient, pharmacist, diagnosis):
    drug = nifedipine()  # 30 mg qd × 28 days: 4 boxes of 7
    stock(drug, 10, days=-1, lot_no="EXPIRED")
    stock(drug, 10, days=10, lot_no="SHORT")  # expires before the 28 days of supply are over
    stock(drug, 10, days=28, lot_no="LAST-DAY")  # expires on the supply's last day: not usable either
    stock(drug, 3, days=60, lot_no="SOON")
    stock(drug, 10, days=400, lot_no="LATER")
    stock(drug, 10, days=90, lot_no="NEXT")
    rx = approved(doc, patient, pharmacist, item(drug), condition=diagnosis, packages=None)

    order = ordered(rx, fulfilment="pickup")

    assert held(order) == [("SOON", 3, False), ("NEXT", 1, False)]
    assert lots(drug) == [("EXPIRED", 10, 0), ("SHORT", 10, 0), ("LAST-DAY", 10, 0), ("SOON", 3, 3),
                          ("NEXT", 10, 1), ("LATER", 10, 0)]


def test_a_lot_held_in_full_by_other_orders_is_skipped(doc, patient, pharmacist, diagnosis):
    drug = amlodipine()
    stock(drug, 2, days=60, lot_no="FIRST")
    stock(drug, 5, days=300, lot_no="SECOND")
    StockLot.objects.filter(lot_no="FIRST").update(reserved=2)
    rx = approved(doc, patient, pharmacist, condition=diagnosis, packages=None)

    order = ordered(rx, fulfilment="pickup")

    assert held(order) == [("SECOND", 1, False)]
    assert lots(drug) == [("FIRST", 2, 2), ("SECOND", 5, 1)]


def test_not_enough_usable_stock_is_out_of_stock_with_nothing_held_and_nothing_created(
        doc, patient, pharmacist, diagnosis):
    drug = nifedipine()
    stock(drug, 50, days=-3, lot_no="EXPIRED")
    stock(drug, 50, days=20, lot_no="SHORT")
    stock(drug, 2, days=90, lot_no="A")
    stock(drug, 1, days=120, lot_no="B")  # 3 usable boxes, 4 needed
    rx = approved(doc, patient, pharmacist, item(drug), condition=diagnosis, packages=None)
    home = address(patient)
    before = state()

    error = refused("out_of_stock", services.create_order, actor=patient.user, prescription_id=rx.pk,
                    fulfilment="delivery", address_id=home.pk)

    assert error.status == 409 and error.fields == {"drug": "CV-NIF-30"}
    assert state() == before
    assert lots(drug) == [("EXPIRED", 50, 0), ("SHORT", 50, 0), ("A", 2, 0), ("B", 1, 0)]


def test_one_drug_out_of_stock_releases_the_holds_already_taken_for_the_others(doc, patient, pharmacist, diagnosis):
    plenty, missing = amlodipine(), DrugFactory()
    stock(plenty, 10, lot_no="PLENTY")
    rx = approved(doc, patient, pharmacist, item(plenty), item(missing), condition=diagnosis, packages=None)
    before = state()

    refused("out_of_stock", services.create_order, actor=patient.user, prescription_id=rx.pk, fulfilment="pickup")

    assert state() == before
    assert lots(plenty) == [("PLENTY", 10, 0)]


def test_the_last_package_goes_to_one_order_only(doc, pharmacist, pharmacy):
    drug = amlodipine()
    stock(drug, 1, lot_no="LAST")
    first, second = PatientFactory(), PatientFactory()
    rx1 = approved(doc, first, pharmacist, packages=None)
    rx2 = approved(doc, second, pharmacist, packages=None)

    winner = pharmacy.order(rx1, fulfilment="pickup")
    before = state()
    refused("out_of_stock", ordered, rx2, fulfilment="pickup")

    assert state() == before
    assert lots(drug) == [("LAST", 1, 1)]
    assert list(Order.objects.values_list("pk", flat=True)) == [winner.pk]
    # Once the first order is cancelled, the package is free again.
    services.cancel_order(actor=first.user, order_id=winner.pk, reason="不要了")
    assert lots(drug) == [("LAST", 1, 0)]
    assert pharmacy.order(rx2, fulfilment="pickup").status == OrderStatus.CREATED
    assert lots(drug) == [("LAST", 1, 1)]


def test_stock_can_never_go_negative_nor_be_held_beyond_the_shelf():
    lot = stock(amlodipine(), 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        StockLot.objects.filter(pk=lot.pk).update(reserved=F("reserved") + 2)
    with pytest.raises(IntegrityError), transaction.atomic():
        StockLot.objects.filter(pk=lot.pk).update(on_hand=F("on_hand") - 2)
    with pytest.raises(IntegrityError), transaction.atomic():
        StockLot.objects.filter(pk=lot.pk).update(reserved=-1)
    lot.refresh_from_db()
    assert (lot.on_hand, lot.reserved) == (1, 0)


def test_cancelling_releases_the_holds(pharmacy, rx, patient):
    drug = rx.items.get().drug
    order = pharmacy.order(rx)
    assert lots(drug)[0][1:] == (20, 1)

    with pharmacy.capture(execute=True):
        services.cancel_order(actor=patient.user, order_id=order.pk, reason="买重了")

    assert lots(drug)[0][1:] == (20, 0)
    assert all(released for *_rest, released in held(order))
    # Released once: a second cancel is refused and changes nothing.
    before = state()
    refused("invalid_transition", services.cancel_order, actor=patient.user, order_id=order.pk, reason="again")
    assert state() == before


def test_the_payment_timeout_cancels_the_order_and_releases_its_holds(pharmacy, rx):
    drug = rx.items.get().drug
    order = pharmacy.order(rx)

    ran = pharmacy.time_runs_out(order)

    assert "cancel_unpaid_order:cancelled" in ran
    assert order.status == OrderStatus.CANCELLED
    assert lots(drug)[0][1:] == (20, 0)
    # The charge closed with it (its own expiry task may have come first): it can no longer be paid.
    assert pharmacy.charge(order).status in (ChargeStatus.EXPIRED, ChargeStatus.CANCELLED)


def test_the_timeout_before_its_time_does_nothing(pharmacy, rx):
    order = pharmacy.order(rx)
    before = state()

    assert services.cancel_if_unpaid(order_id=order.pk) is False
    assert state() == before


def test_a_held_lot_is_kept_out_of_the_next_orders_reach(doc, pharmacist, pharmacy):
    """Holds count against a lot until they are released: two orders, four packages, then the shelf is bare."""
    drug = amlodipine()
    stock(drug, 2, days=200, lot_no="TWO")
    patients = [PatientFactory() for _ in range(3)]
    prescriptions = [approved(doc, p, pharmacist, packages=None) for p in patients]

    for rx in prescriptions[:2]:
        pharmacy.order(rx, fulfilment="pickup")
    refused("out_of_stock", ordered, prescriptions[2], fulfilment="pickup")

    assert lots(drug) == [("TWO", 2, 2)]


def test_expired_lots_are_never_held_even_when_nothing_else_is_left(doc, patient, pharmacist, diagnosis):
    drug = amlodipine()
    stock(drug, 100, days=0, lot_no="TODAY")
    stock(drug, 100, days=-30, lot_no="OLD")
    rx = approved(doc, patient, pharmacist, condition=diagnosis, packages=None)

    refused("out_of_stock", ordered, rx, fulfilment="pickup")
    assert not Reservation.objects.exists()
    assert lots(drug) == [("OLD", 100, 0), ("TODAY", 100, 0)]
