"""Model-based test of orders and stock with a hypothesis state machine.

Three patients, each with an approved prescription for four boxes of the same drug, and three lots of it: one that
expires soon (3 boxes), one that lasts (6 boxes) and one already expired (10 boxes). Random sequences of order / pay
/ cancel / the payment timeout / start / pick / hand over / collect run against the real services; a small model
predicts each outcome (the new status, or the refusal's code). Invariants after every step: each order's status is
the model's; on every lot ``0 ≤ reserved ≤ on_hand``, ``reserved`` is the sum of its live holds and ``on_hand`` the
shelf minus what was dispensed from it; the expired lot is never touched; the boxes held and dispensed add up to the
live orders' needs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from ihospital.core.errors import DomainError
from ihospital.payments import services as payments
from ihospital.payments.providers import base as providers
from ihospital.pharmacy import services
from ihospital.pharmacy.models import Dispense, Order, OrderStatus, Reservation, StockLot
from tests.factories import PatientFactory
from tests.pharmacy.factories import approved, stock
from tests.prescriptions.factories import item, nifedipine, pharmacist_user
from tests.visits.factories import online_doctor

pytestmark = pytest.mark.django_db

S = OrderStatus
PATIENTS = ("alice", "bob", "carol")
NEED = 4  # nifedipine 30 mg qd × 28 days: 4 boxes of 7
SHELF = {"SOON": (3, 60), "LASTS": (6, 400), "EXPIRED": (10, -1)}
USABLE = 3 + 6


@dataclass
class Expected:
    status: str
    pk: int
    holds: int = NEED  # boxes held (until picked or released)
    picked: bool = False


class OrdersAndStock(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.pharmacist = pharmacist_user()
        doctor = online_doctor()
        drug = nifedipine()
        self.lots = {name: stock(drug, packages, days=days, lot_no=name) for name, (packages, days) in SHELF.items()}
        self.patients = {name: PatientFactory() for name in PATIENTS}
        self.rx = {name: approved(doctor, p, self.pharmacist, item(drug), packages=None)
                   for name, p in self.patients.items()}
        self.orders: dict[str, list[Expected]] = {name: [] for name in PATIENTS}
        self.dispensed: set[str] = set()  # patients whose prescription was handed over

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # ---- the model -----------------------------------------------------------------------------------------------

    def live(self, name: str) -> Expected | None:
        open_ = [o for o in self.orders[name] if o.status not in (S.CANCELLED, S.REFUNDED)]
        return open_[0] if open_ else None

    def held(self) -> int:
        return sum(o.holds for orders in self.orders.values() for o in orders)

    def taken(self) -> int:
        return sum(NEED for orders in self.orders.values() for o in orders if o.picked)

    def attempt(self, expected: str | None, fn, /, **kwargs):
        if expected is None:
            return fn(**kwargs)
        try:
            fn(**kwargs)
        except DomainError as exc:
            assert exc.code == expected, (fn.__name__, exc.code, expected)
            return None
        raise AssertionError(f"{fn.__name__} should have been refused with {expected}")

    # ---- the patient ---------------------------------------------------------------------------------------------

    @rule(name=st.sampled_from(PATIENTS))
    def order(self, name):
        if name in self.dispensed:
            expected = "prescription_not_approved"
        elif self.live(name):
            expected = "order_exists"
        elif USABLE - self.held() - self.taken() < NEED:
            expected = "out_of_stock"
        else:
            expected = None
        created = self.attempt(expected, services.create_order, actor=self.patients[name].user,
                               prescription_id=self.rx[name].pk, fulfilment="pickup")
        if created is not None:
            self.orders[name].append(Expected(S.CREATED, created.pk))

    @precondition(lambda self: any(self.orders.values()))
    @rule(name=st.sampled_from(PATIENTS))
    def pay(self, name):
        order = self.live(name)
        if order is None or order.status != S.CREATED:
            return
        charge_id = Order.objects.get(pk=order.pk).charge_id
        payment, _url = payments.start_payment(actor=self.patients[name].user, charge_id=charge_id)
        payments.handle_notification(provider="sandbox", notification=providers.Notification(
            event_id=f"EVT-{uuid.uuid4().hex}", kind=providers.PAYMENT, status=providers.SUCCEEDED,
            amount_fen=payment.amount_fen, out_trade_no=payment.out_trade_no, provider_txn_id="SBX"))
        order.status = S.PAID

    @precondition(lambda self: any(self.orders.values()))
    @rule(name=st.sampled_from(PATIENTS))
    def cancel(self, name):
        order = self.live(name)
        if order is None:
            return
        started = order.status in (S.DISPENSING, S.READY_FOR_PICKUP, S.DELIVERED)
        expected = "too_late_to_cancel" if started else None
        if self.attempt(expected, services.cancel_order, actor=self.patients[name].user, order_id=order.pk,
                        reason="不要了"):
            order.status = S.CANCELLED if order.status == S.CREATED else S.REFUNDED
            order.holds = 0

    @precondition(lambda self: any(self.orders.values()))
    @rule(name=st.sampled_from(PATIENTS))
    def time_runs_out(self, name):
        order = self.live(name)
        if order is None:
            return
        Order.objects.filter(pk=order.pk).update(hold_until=timezone.now() - timedelta(seconds=1))
        cancelled = services.cancel_if_unpaid(order_id=order.pk)
        assert cancelled == (order.status == S.CREATED)
        if cancelled:
            order.status, order.holds = S.CANCELLED, 0

    # ---- the pharmacy --------------------------------------------------------------------------------------------

    @precondition(lambda self: any(self.orders.values()))
    @rule(name=st.sampled_from(PATIENTS))
    def start(self, name):
        order = self.live(name)
        if order is None:
            return
        expected = None if order.status == S.PAID else "invalid_transition"
        if self.attempt(expected, services.start_dispensing, actor=self.pharmacist, order_id=order.pk):
            order.status = S.DISPENSING

    @precondition(lambda self: any(self.orders.values()))
    @rule(name=st.sampled_from(PATIENTS))
    def pick(self, name):
        order = self.live(name)
        if order is None:
            return
        expected = {True: "already_picked", False: None}[order.picked]
        if order.status != S.DISPENSING:
            expected = "not_dispensing"
        if self.attempt(expected, services.pick, actor=self.pharmacist, order_id=order.pk):
            order.picked, order.holds = True, 0

    @precondition(lambda self: any(self.orders.values()))
    @rule(name=st.sampled_from(PATIENTS))
    def hand_over(self, name):
        order = self.live(name)
        if order is None:
            return
        expected = None if order.picked else "not_picked"
        if order.status != S.DISPENSING:
            expected = "not_dispensing"
        if self.attempt(expected, services.hand_over, actor=self.pharmacist, order_id=order.pk):
            order.status = S.READY_FOR_PICKUP
            self.dispensed.add(name)

    @precondition(lambda self: any(self.orders.values()))
    @rule(name=st.sampled_from(PATIENTS))
    def collect(self, name):
        order = self.live(name)
        if order is None:
            return
        expected = None if order.status == S.READY_FOR_PICKUP else "not_ready_for_pickup"
        if self.attempt(expected, services.collect, actor=self.pharmacist, order_id=order.pk):
            order.status = S.DELIVERED

    # ---- invariants ----------------------------------------------------------------------------------------------

    @invariant()
    def statuses_are_the_models(self):
        expected = {o.pk: o.status for orders in self.orders.values() for o in orders}
        assert dict(Order.objects.values_list("pk", "status")) == expected

    @invariant()
    def the_shelf_adds_up(self):
        for lot in StockLot.objects.all():
            packages, _days = SHELF[lot.lot_no]
            live_holds = Reservation.objects.filter(lot=lot, released=False).aggregate(n=Sum("quantity"))["n"] or 0
            dispensed = Dispense.objects.filter(lot=lot).aggregate(n=Sum("quantity"))["n"] or 0
            assert 0 <= lot.reserved <= lot.on_hand
            assert lot.reserved == live_holds
            assert lot.on_hand == packages - dispensed
            if lot.lot_no == "EXPIRED":
                assert (lot.on_hand, lot.reserved) == (packages, 0)
        held = StockLot.objects.aggregate(n=Sum("reserved"))["n"]
        gone = USABLE - StockLot.objects.exclude(lot_no="EXPIRED").aggregate(n=Sum("on_hand"))["n"]
        assert (held, gone) == (self.held(), self.taken())


def test_orders_and_stock_state_machine():
    run_state_machine_as_test(
        OrdersAndStock,
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            database=None,
        ),
    )
