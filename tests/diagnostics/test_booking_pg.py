"""Races only a real database server shows: many patients booking the last places of an exam slot at once, one
patient booking one order from many devices, and a reschedule racing a booking for the last place.

Each thread has its own PostgreSQL connection; the conftest hook skips these tests on SQLite.
"""

from __future__ import annotations

from collections import Counter

import pytest

from ihospital.core.audit import verify_chain
from ihospital.diagnostics import booking
from ihospital.diagnostics.models import Booking, OrderStatus, ResourceSlot
from tests.diagnostics import factories as f
from tests.diagnostics.test_booking import slot
from tests.factories import PatientFactory
from tests.helpers import run_in_threads
from tests.visits.factories import EncounterFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 30


def orders_of_many_patients(count: int, test):
    encounter = EncounterFactory()
    return [f.DiagnosticOrderFactory(patient=PatientFactory(), doctor=encounter.practitioner, encounter=encounter,
                                     test=test) for _ in range(count)]


@pytest.mark.parametrize("capacity", [1, 3])
def test_thirty_patients_race_for_the_last_places(capacity):
    test = f.DiagnosticTestFactory(code="cbc")
    resource = f.ResourceFactory(tests=[test], capacity=capacity)
    contested = slot(resource)
    orders = orders_of_many_patients(THREADS, test)

    def book(i):
        return booking.book(actor=orders[i].patient.user, order_id=orders[i].pk, slot_id=contested.pk).pk

    results = run_in_threads(THREADS, book)
    kinds = Counter(kind for kind, _ in results)
    assert kinds == {"ok": capacity, "domain": THREADS - capacity}, results
    assert {code for kind, code in results if kind == "domain"} == {"slot_full"}
    contested.refresh_from_db()
    assert contested.booked == capacity == Booking.objects.count()
    booked = Counter(o.status for o in type(orders[0]).objects.all())
    assert booked == {OrderStatus.BOOKED: capacity, OrderStatus.ORDERED: THREADS - capacity}
    assert verify_chain().ok


def test_one_order_booked_from_many_devices():
    test = f.DiagnosticTestFactory(code="cbc")
    resource = f.ResourceFactory(tests=[test], capacity=5)
    [order] = orders_of_many_patients(1, test)
    places = [slot(resource, clock=clock) for clock in ("08:00", "08:15", "08:30", "08:45", "09:00")] * 2

    def book(i):
        return booking.book(actor=order.patient.user, order_id=order.pk, slot_id=places[i].pk).pk

    results = run_in_threads(10, book)
    assert Counter(kind for kind, _ in results) == {"ok": 1, "domain": 9}, results
    assert {code for kind, code in results if kind == "domain"} == {"already_booked"}
    assert sum(ResourceSlot.objects.values_list("booked", flat=True)) == 1 == Booking.objects.count()


def test_reschedules_and_bookings_race_for_one_place():
    test = f.DiagnosticTestFactory(code="cbc")
    resource = f.ResourceFactory(tests=[test], capacity=1)
    orders = orders_of_many_patients(THREADS, test)
    contested = slot(resource, clock="15:00")
    # Half the patients already hold other times and try to move to the contested one; the others book it.
    for i, order in enumerate(orders[: THREADS // 2]):
        booking.book(actor=order.patient.user, order_id=order.pk, slot_id=slot(resource, offset=3 + i).pk)

    def go(i):
        fn = booking.reschedule if i < THREADS // 2 else booking.book
        return fn(actor=orders[i].patient.user, order_id=orders[i].pk, slot_id=contested.pk).pk

    results = run_in_threads(THREADS, go)
    assert Counter(kind for kind, _ in results) == {"ok": 1, "domain": THREADS - 1}, results
    assert {code for kind, code in results if kind == "domain"} == {"slot_full"}
    contested.refresh_from_db()
    assert contested.booked == 1 == Booking.objects.filter(slot=contested).count()
    # Every slot's counter matches its bookings: nothing leaked by the losers.
    for s in ResourceSlot.objects.all():
        assert s.booked == s.bookings.count(), s


def test_one_test_ordered_twice_at_once_is_one_order():
    from datetime import timedelta

    from django.utils import timezone

    from ihospital.diagnostics import ordering
    from ihospital.diagnostics.models import DiagnosticOrder
    from tests.visits.factories import online_doctor

    test = f.DiagnosticTestFactory(code="cbc")
    doctor = online_doctor()
    encounter = EncounterFactory(practitioner=doctor, started_at=timezone.now() - timedelta(days=1))

    def order(i):
        return ordering.order(actor=doctor.user, patient_id=encounter.patient_id, test_code=test.code,
                              reason="复查", encounter_id=encounter.pk).pk

    results = run_in_threads(10, order)
    assert Counter(kind for kind, _ in results) == {"ok": 1, "domain": 9}, results
    assert {code for kind, code in results if kind == "domain"} == {"already_ordered"}
    assert DiagnosticOrder.objects.count() == 1
    assert verify_chain().ok
