"""Races on a real database server, each thread on its own PostgreSQL connection (the conftest hook skips these on
SQLite; test_stock.py and test_ordering.py have the same rules step by step): the last package wanted by two orders,
one prescription ordered twice at once, two pharmacists picking the same order, and a payment arriving while the
patient cancels."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from ihospital.core.audit import verify_chain
from ihospital.payments import services as payments
from ihospital.payments.models import Charge, ChargeStatus, Payment, Refund
from ihospital.payments.providers import base as providers
from ihospital.pharmacy import services
from ihospital.pharmacy.models import Dispense, Order, OrderStatus, Reservation, StockLot
from tests.factories import PatientFactory
from tests.helpers import run_in_threads
from tests.pharmacy.factories import address, approved, lots, stock
from tests.prescriptions.factories import amlodipine, pharmacist_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def kinds(results) -> Counter:
    return Counter(kind for kind, _value in results)


def codes(results) -> set:
    return {value for kind, value in results if kind == "domain"}


def test_two_orders_for_the_last_package_one_wins(doc):
    pharmacist = pharmacist_user()
    drug = amlodipine()
    stock(drug, 1, lot_no="LAST")
    patients = [PatientFactory() for _ in range(2)]
    prescriptions = [approved(doc, p, pharmacist, packages=None) for p in patients]
    homes = [address(p) for p in patients]

    results = run_in_threads(2, lambda i: services.create_order(
        actor=patients[i].user, prescription_id=prescriptions[i].pk, fulfilment="delivery",
        address_id=homes[i].pk).pk)

    assert kinds(results) == {"ok": 1, "domain": 1}, results
    assert codes(results) == {"out_of_stock"}
    (winner,) = [value for kind, value in results if kind == "ok"]
    assert list(Order.objects.values_list("pk", flat=True)) == [winner]
    assert lots(drug) == [("LAST", 1, 1)]
    assert Reservation.objects.get().line.order_id == winner
    assert Charge.objects.count() == 1
    assert verify_chain().ok


def test_many_orders_for_a_few_packages_never_hold_more_than_the_shelf(doc):
    pharmacist = pharmacist_user()
    drug = amlodipine()
    stock(drug, 2, days=100, lot_no="A")
    stock(drug, 1, days=300, lot_no="B")
    patients = [PatientFactory() for _ in range(6)]
    prescriptions = [approved(doc, p, pharmacist, packages=None) for p in patients]

    results = run_in_threads(6, lambda i: services.create_order(
        actor=patients[i].user, prescription_id=prescriptions[i].pk, fulfilment="pickup").pk)

    assert kinds(results) == {"ok": 3, "domain": 3}, results
    assert codes(results) == {"out_of_stock"}
    assert lots(drug) == [("A", 2, 2), ("B", 1, 1)]
    assert Order.objects.count() == Charge.objects.count() == 3
    assert all(lot.reserved <= lot.on_hand for lot in StockLot.objects.all())


def test_one_prescription_ordered_several_times_at_once_is_one_order(doc, patient, relative, diagnosis):
    pharmacist = pharmacist_user()
    rx = approved(doc, patient, pharmacist, condition=diagnosis)
    askers = [patient.user, relative] * 3

    results = run_in_threads(6, lambda i: services.create_order(
        actor=askers[i], prescription_id=rx.pk, fulfilment="pickup").pk)

    assert kinds(results) == {"ok": 1, "domain": 5}, results
    assert codes(results) == {"order_exists"}
    assert Order.objects.count() == 1 and Charge.objects.count() == 1
    assert lots(rx.items.get().drug)[0][1:] == (20, 1)


def _paid_order(doc, patient, diagnosis, pharmacist) -> Order:
    rx = approved(doc, patient, pharmacist, condition=diagnosis)
    order = services.create_order(actor=patient.user, prescription_id=rx.pk, fulfilment="pickup")
    notification, _payment = _success(order)
    payments.handle_notification(provider="sandbox", notification=notification)
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    return order


def _success(order: Order):
    payment, _url = payments.start_payment(actor=order.placed_by, charge_id=order.charge_id)
    return providers.Notification(
        event_id=f"EVT-{uuid.uuid4().hex}", kind=providers.PAYMENT, status=providers.SUCCEEDED,
        amount_fen=payment.amount_fen, out_trade_no=payment.out_trade_no, provider_txn_id="SBX-RACE",
    ), payment


def test_two_pharmacists_picking_the_same_order_take_it_off_the_shelf_once(doc, patient, diagnosis):
    pharmacists = [pharmacist_user() for _ in range(2)]
    order = _paid_order(doc, patient, diagnosis, pharmacists[0])
    services.start_dispensing(actor=pharmacists[0], order_id=order.pk)
    # Another order holds packages of the same lot: a double pick must not eat into them.
    other = PatientFactory()
    services.create_order(actor=other.user, prescription_id=approved(doc, other, pharmacists[0]).pk,
                          fulfilment="pickup")
    drug = amlodipine()
    assert lots(drug)[0][1:] == (20, 2)

    results = run_in_threads(2, lambda i: len(services.pick(actor=pharmacists[i], order_id=order.pk)))

    assert kinds(results) == {"ok": 1, "domain": 1}, results
    assert codes(results) == {"already_picked"}
    assert Dispense.objects.count() == 1
    assert lots(drug)[0][1:] == (19, 1)


def test_a_payment_arriving_while_the_patient_cancels_ends_consistently(doc, patient, diagnosis):
    pharmacist = pharmacist_user()
    rx = approved(doc, patient, pharmacist, condition=diagnosis)
    order = services.create_order(actor=patient.user, prescription_id=rx.pk, fulfilment="pickup")
    notification, payment = _success(order)

    def act(i: int):
        if i == 0:
            return services.cancel_order(actor=patient.user, order_id=order.pk, reason="不要了").status
        return payments.handle_notification(provider="sandbox", notification=notification)[0].outcome

    results = run_in_threads(2, act)

    assert kinds(results) == {"ok": 2}, results
    order.refresh_from_db()
    charge = Charge.objects.get(pk=order.charge_id)
    refund = Refund.objects.get(charge=charge)
    assert refund.amount_fen == order.total_fen
    if order.status == OrderStatus.CANCELLED:
        # The cancel came first: the money that arrived afterwards goes back.
        assert charge.status == ChargeStatus.CANCELLED and refund.cause == "charge_closed"
    else:
        # The payment came first: the cancellation refunded it.
        assert order.status == OrderStatus.REFUNDED and charge.status == ChargeStatus.PAID
        assert refund.cause == "requested"
    assert Payment.objects.get(pk=payment.pk).status == "succeeded"
    assert lots(rx.items.get().drug)[0][1:] == (20, 0)
