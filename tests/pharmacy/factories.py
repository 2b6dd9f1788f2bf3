"""factory-boy factories for stock and addresses, and short ways through the order workflow (through the services,
like ``tests/prescriptions/factories.py``).

* ``StockLotFactory``: a lot of a drug on the shelf (20 packages, expiring in two years unless told otherwise);
  ``AddressFactory``: a saved delivery address (``address()`` saves one through the service instead).
* ``approved(...)``: an approved prescription with stock for each of its drugs; ``ordered(...)``: an order from it.
* ``Pharmacy``: pays an order through the payments sandbox (``tests/payments/flows.Flow``: the checkout page, the
  signed callback through Django's test client) and plays the task worker for every app's tasks (``run_tasks``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import factory
from django.db.models import Q
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult, get_date_max
from factory.django import DjangoModelFactory

from ihospital.payments.models import Charge
from ihospital.pharmacy import services
from ihospital.pharmacy.models import Address, Order, StockLot
from ihospital.prescriptions.models import Drug, Prescription
from tests.factories import PatientFactory
from tests.payments.flows import Flow
from tests.prescriptions.factories import monthly
from tests.visits.factories import ConditionFactory


class StockLotFactory(DjangoModelFactory):
    class Meta:
        model = StockLot

    drug = factory.SubFactory("tests.prescriptions.factories.DrugFactory")
    lot_no = factory.Sequence(lambda n: f"LOT{n:06d}")
    expires_on = factory.LazyFunction(lambda: timezone.localdate() + timedelta(days=720))
    received_on = factory.LazyFunction(lambda: timezone.localdate() - timedelta(days=30))
    on_hand = 20
    reserved = 0


class AddressFactory(DjangoModelFactory):
    """A saved address (written straight to the table: ``address()`` goes through the service)."""

    class Meta:
        model = Address

    patient = factory.SubFactory(PatientFactory)
    created_by = factory.LazyAttribute(lambda o: o.patient.user)
    label = "家"
    recipient = "李秀英"
    phone = "+8613912345678"
    province = "山西省"
    city = "太原市"
    district = "小店区"
    detail = factory.Sequence(lambda n: f"长风街 {n + 1} 号")
    postal_code = "030006"


ADDRESS = {"recipient": "李秀英", "phone": "13912345678", "province": "山西省", "city": "太原市",
           "district": "小店区", "detail": "长风街 18 号 3 单元 502 室", "postal_code": "030006"}


def address(patient, actor=None, **changes) -> Address:
    """A delivery address saved by the patient (or ``actor``, a proxy) through the service."""
    return services.save_address(actor=actor or patient.user, patient_id=patient.pk, **{**ADDRESS, **changes})


def stock(drug: Drug, packages: int = 20, *, days: int = 720, **kw) -> StockLot:
    return StockLotFactory(drug=drug, on_hand=packages, expires_on=timezone.localdate() + timedelta(days=days), **kw)


def approved(doc, patient, pharmacist, *items: dict, condition=None, packages: int | None = 20) -> Prescription:
    """An approved chronic prescription of ``patient`` (amlodipine × 28 days unless items are given) and, unless
    ``packages`` is None, a lot of ``packages`` for each of its drugs."""
    if condition is None:
        condition = ConditionFactory(patient=patient)
    rx = monthly(doc, patient, pharmacist, *items, condition=condition)
    if packages is not None:
        for line in rx.items.select_related("drug"):
            if not StockLot.objects.filter(drug=line.drug).exists():
                stock(line.drug, packages)
    return rx


def ordered(rx: Prescription, *, actor=None, fulfilment: str = "delivery", to: Address | None = None) -> Order:
    """An order from ``rx`` by its patient (or ``actor``): delivery to ``to`` (a new address unless given), or
    pickup."""
    actor = actor or rx.patient.user
    if fulfilment == "delivery" and to is None:
        to = address(rx.patient, actor)
    return services.create_order(actor=actor, prescription_id=rx.pk, fulfilment=fulfilment,
                                 address_id=to.pk if to else None)


def lots(drug: Drug) -> list[tuple[str, int, int]]:
    """Each lot of ``drug`` as (lot number, on hand, reserved), first-expiring first."""
    return list(StockLot.objects.filter(drug=drug).order_by("expires_on", "pk").values_list(
        "lot_no", "on_hand", "reserved"))


# ---- the task worker -------------------------------------------------------------------------------------------------


def due_rows(until: datetime | None = None, prefix: str = "ihospital."):
    due = until or timezone.now()
    return (DBTaskResult.objects.filter(status=TaskResultStatus.READY, task_path__startswith=prefix)
            .filter(Q(run_after__lte=due) | Q(run_after=get_date_max())).order_by("run_after", "enqueued_at"))


def run_tasks(capture, *, until: datetime | None = None, prefix: str = "ihospital.", limit: int = 200) -> list[str]:
    """Play the task worker: run the tasks due by ``until`` (default now) whose path starts with ``prefix``, one by
    one in ``run_after`` order, with their on-commit callbacks, until none is left. Answers "<task>:<result>"."""
    ran = []
    for _ in range(limit):
        row = due_rows(until, prefix).first()
        if row is None:
            return ran
        row.claim("tests")
        with capture(execute=True):
            value = row.task.call(*row.task_result.args, **row.task_result.kwargs)
        row.set_successful(value)
        ran.append(f"{row.task_path.rsplit('.', 1)[-1]}:{value}")
    raise AssertionError(f"tasks keep coming: {ran[-10:]}")


@dataclass
class Pharmacy:
    """The payments sandbox and the task worker, for orders (``flow`` fixture of tests/pharmacy/conftest.py)."""

    flow: Flow

    @property
    def capture(self):
        return self.flow.capture

    def order(self, rx: Prescription, **kw) -> Order:
        with self.capture(execute=True):
            return ordered(rx, **kw)

    def checkout_url(self, order: Order, actor=None) -> str:
        with self.capture(execute=True):
            return services.checkout(actor=actor or order.placed_by, order_id=order.pk)

    def pay(self, order: Order, actor=None, action: str = "pay") -> Order:
        """The payer opens the provider's page and pays (or declines); the signed callback arrives."""
        payer = actor or order.placed_by
        url = self.checkout_url(order, payer)
        assert self.flow.checkout(url, payer, action=action).status_code == 302
        self.flow.settle()
        order.refresh_from_db()
        return order

    def charge(self, order: Order) -> Charge:
        return Charge.objects.get(pk=order.charge_id)

    def settle(self) -> list[str]:
        """The payments worker: callbacks, refunds at the provider and their callbacks."""
        return self.flow.settle()

    def run(self, *, until: datetime | None = None, prefix: str = "ihospital.") -> list[str]:
        return run_tasks(self.capture, until=until, prefix=prefix)

    def time_runs_out(self, order: Order, prefix: str = "ihospital.") -> list[str]:
        """The time to pay has passed: ``hold_until`` (and the charge's expiry) moved into the past, then the
        due tasks whose path starts with ``prefix`` are run (by default every app's: the order's timeout, the
        charge's expiry, the provider's requests; "ihospital.pharmacy." for the order's timeout alone)."""
        past = timezone.now() - timedelta(seconds=1)
        Order.objects.filter(pk=order.pk).update(hold_until=past)
        Charge.objects.filter(pk=order.charge_id).update(expires_at=past)
        DBTaskResult.objects.filter(status=TaskResultStatus.READY, run_after__lte=order.hold_until
                                    + timedelta(seconds=1)).update(run_after=past)
        ran = self.run(prefix=prefix)
        order.refresh_from_db()
        return ran

    def dispense(self, order: Order, pharmacist) -> Order:
        """Start, pick, hand over (to the courier or the counter)."""
        with self.capture(execute=True):
            services.start_dispensing(actor=pharmacist, order_id=order.pk)
            services.pick(actor=pharmacist, order_id=order.pk)
            services.hand_over(actor=pharmacist, order_id=order.pk)
        order.refresh_from_db()
        return order


def other_patient_rx(doc, pharmacist, **kw) -> Prescription:
    """Another patient's approved prescription (with its own diagnosis)."""
    other = PatientFactory()
    return approved(doc, other, pharmacist, condition=ConditionFactory(patient=other), **kw)


# ---- asserting refusals -----------------------------------------------------------------------------------------

PHARMACY_MODELS = [
    "pharmacy.Address",
    "pharmacy.Order",
    "pharmacy.OrderLine",
    "pharmacy.Reservation",
    "pharmacy.Dispense",
    "pharmacy.Shipment",
    "pharmacy.TrackingEvent",
    "payments.Charge",
    "payments.Payment",
    "payments.Refund",
    "notifications.Notification",
    "core.TimelineEvent",
]


def state() -> dict:
    """What a refused act must leave alone: row counts, every order's status and money, every lot's counts, every
    address's archived flag, every prescription's status (the audit log is left out: a refused read is recorded)."""
    from django.apps import apps

    from tests.helpers import counts

    snapshot: dict = counts()
    snapshot.update({label: apps.get_model(label).objects.count() for label in PHARMACY_MODELS})
    snapshot["orders"] = sorted(Order.objects.values_list(
        "pk", "status", "items_fen", "delivery_fee_fen", "total_fen", "paid_at", "dispensed_at", "delivered_at",
        "received_confirmed_at", "status_reason"))
    snapshot["lots"] = sorted(StockLot.objects.values_list("pk", "on_hand", "reserved"))
    snapshot["addresses"] = sorted(Address.objects.values_list("pk", "archived"))
    snapshot["charges"] = sorted(Charge.objects.values_list("pk", "status", "refunded_fen"))
    snapshot["prescriptions"] = sorted(Prescription.objects.values_list("pk", "status"))
    return snapshot
