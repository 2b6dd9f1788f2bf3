"""Races that only a real database server shows: many connections booking, moving and generating at once.

Each thread has its own PostgreSQL connection; the conftest hook skips these tests on SQLite.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from ihospital.core.audit import verify_chain
from ihospital.scheduling import generation, services
from ihospital.scheduling.clock import day_bounds
from ihospital.scheduling.models import Appointment, Slot
from tests.factories import DoctorFactory, PatientFactory
from tests.helpers import run_in_threads
from tests.scheduling.factories import RuleFactory, SlotFactory
from tests.scheduling.support import next_weekday

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 50


def race_for_one_slot(capacity: int):
    slot = SlotFactory(capacity=capacity)
    patients = PatientFactory.create_batch(THREADS)

    def book(i):
        return services.book_slot(actor=patients[i].user, patient_id=patients[i].pk, slot_id=slot.pk).pk

    results = run_in_threads(THREADS, book)
    slot.refresh_from_db()
    return slot, results


@pytest.mark.parametrize("capacity", [1, 3])
def test_fifty_connections_race_for_a_slot(capacity):
    slot, results = race_for_one_slot(capacity)
    kinds = Counter(kind for kind, _ in results)
    assert kinds == {"ok": capacity, "domain": THREADS - capacity}, results
    assert {code for kind, code in results if kind == "domain"} == {"slot_full"}
    assert Appointment.objects.count() == capacity
    assert slot.booked == capacity
    winners = sorted(pk for kind, pk in results if kind == "ok")
    assert winners == sorted(Appointment.objects.values_list("pk", flat=True))
    assert verify_chain().ok


def test_one_patient_double_booking_from_many_devices():
    patient = PatientFactory()
    slot = SlotFactory(capacity=10)

    def book(i):
        return services.book_slot(actor=patient.user, patient_id=patient.pk, slot_id=slot.pk).pk

    results = run_in_threads(20, book)
    assert Counter(kind for kind, _ in results) == {"ok": 1, "domain": 19}, results
    assert {code for kind, code in results if kind == "domain"} == {"already_booked"}
    slot.refresh_from_db()
    assert slot.booked == 1 == Appointment.objects.count()


def test_one_patient_racing_for_overlapping_slots_of_different_doctors():
    patient = PatientFactory()
    start = timezone.now() + timedelta(days=3)
    slots = [SlotFactory(starts_at=start + timedelta(minutes=i), ends_at=start + timedelta(minutes=30 + i))
             for i in range(10)]

    def book(i):
        return services.book_slot(actor=patient.user, patient_id=patient.pk, slot_id=slots[i].pk).pk

    results = run_in_threads(10, book)
    assert Counter(kind for kind, _ in results) == {"ok": 1, "domain": 9}, results
    assert {code for kind, code in results if kind == "domain"} == {"overlapping_appointment"}
    assert Appointment.objects.count() == 1
    assert sum(Slot.objects.values_list("booked", flat=True)) == 1


def test_crossing_reschedules_cancels_and_bookings_do_not_deadlock_or_overbook():
    doctor = DoctorFactory()
    start = timezone.now() + timedelta(days=2)
    a = SlotFactory(practitioner=doctor, capacity=20, starts_at=start, ends_at=start + timedelta(minutes=30))
    b = SlotFactory(practitioner=doctor, capacity=20, starts_at=start + timedelta(hours=1),
                    ends_at=start + timedelta(hours=1, minutes=30))
    on_a = [services.book_slot(actor=p.user, patient_id=p.pk, slot_id=a.pk) for p in PatientFactory.create_batch(15)]
    on_b = [services.book_slot(actor=p.user, patient_id=p.pk, slot_id=b.pk) for p in PatientFactory.create_batch(15)]
    newcomers = PatientFactory.create_batch(10)
    # 15 move a→b and 15 move b→a at the same time (locks taken in opposite orders would deadlock), while 10
    # newcomers book.
    jobs = (
        [lambda x=x: services.reschedule_appointment(actor=x.patient.user, appointment_id=x.pk, new_slot_id=b.pk)
         for x in on_a]
        + [lambda x=x: services.reschedule_appointment(actor=x.patient.user, appointment_id=x.pk, new_slot_id=a.pk)
           for x in on_b]
        + [lambda p=p: services.book_slot(actor=p.user, patient_id=p.pk, slot_id=a.pk) for p in newcomers]
    )
    results = run_in_threads(len(jobs), lambda i: jobs[i]().pk)
    kinds = Counter(kind for kind, _ in results)
    assert "crash" not in kinds, results
    assert {code for kind, code in results if kind == "domain"} <= {"slot_full"}
    for slot in (a, b):
        slot.refresh_from_db()
        live = Appointment.objects.filter(slot=slot, status="booked").count()
        assert slot.booked == live <= slot.capacity
    # A move is one out, one in; only the newcomers add bookings.
    newcomers_in = sum(1 for kind, _ in results[30:] if kind == "ok")
    assert Appointment.objects.filter(status="booked").count() == 30 + newcomers_in
    assert verify_chain().ok


def test_concurrent_generation_makes_each_slot_once():
    day = next_weekday(2)
    rules = [RuleFactory(weekday=day.weekday()) for _ in range(3)]
    results = run_in_threads(10, lambda i: generation.generate_slots(start=timezone.localdate(), days=14))
    assert Counter(kind for kind, _ in results) == {"ok": 10}, results
    for rule in rules:
        assert Slot.objects.filter(rule=rule).count() == 16


def test_generation_racing_a_retire_and_a_closure_leaves_nothing_open_there(hospital_admin):
    day = next_weekday(4)
    retired = RuleFactory(weekday=day.weekday())
    closed = RuleFactory(weekday=day.weekday())

    def act(i):
        if i == 8:
            return services.retire_rule(actor=hospital_admin, rule_id=retired.pk).pk
        if i == 9:
            return services.add_closure(actor=hospital_admin, practitioner_id=closed.practitioner_id, date=day,
                                        reason="away").closed_slots
        return generation.generate_slots(start=timezone.localdate(), days=14)

    results = run_in_threads(10, act)
    assert Counter(kind for kind, _ in results) == {"ok": 10}, results
    assert not Slot.objects.filter(rule=retired, status="open").exists()
    begin, end = day_bounds(day)
    assert not Slot.objects.filter(rule=closed, status="open", starts_at__gte=begin, starts_at__lt=end).exists()
    # The closed rule's other week is untouched.
    assert Slot.objects.filter(rule=closed, status="open").count() == 8
