"""Races on a real database server: doctors taking from one queue at the same moment, patients taking the last
places of a slot, and one message resent on two connections. Each thread has its own PostgreSQL connection; the
conftest hook skips these tests on SQLite."""

from __future__ import annotations

from collections import Counter

import pytest

from ihospital.core.audit import verify_chain
from ihospital.scheduling.models import Appointment, AppointmentStatus
from ihospital.visits import chat, services
from ihospital.visits.models import Message, Visit, VisitStatus
from tests.factories import PatientFactory
from tests.helpers import run_in_threads
from tests.visits import flows
from tests.visits.factories import ConditionFactory, SlotFactory, online_doctor

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def queue_of_patients(department, count: int) -> list[Visit]:
    visits = []
    for _ in range(count):
        person = PatientFactory()
        visits.append(flows.queue(person, department, ConditionFactory(patient=person)))
    return visits


def test_two_doctors_taking_at_once_get_two_different_patients(department):
    doctors = [online_doctor(department) for _ in range(2)]
    waiting = queue_of_patients(department, 2)

    results = run_in_threads(2, lambda i: services.take_next_from_queue(
        actor=doctors[i].user, department_id=department.pk).pk)

    assert [kind for kind, _ in results] == ["ok", "ok"], results
    assert sorted(pk for _, pk in results) == sorted(v.pk for v in waiting)
    for i, (_, pk) in enumerate(results):
        visit = Visit.objects.get(pk=pk)
        assert visit.doctor == doctors[i] and visit.status == VisitStatus.ACCEPTED


def test_more_doctors_than_patients_never_share_one(department):
    doctors = [online_doctor(department) for _ in range(8)]
    waiting = queue_of_patients(department, 5)

    results = run_in_threads(8, lambda i: services.take_next_from_queue(
        actor=doctors[i].user, department_id=department.pk).pk)

    taken = [pk for kind, pk in results if kind == "ok"]
    assert len(taken) == len(set(taken)) == 5, results
    assert set(taken) == {v.pk for v in waiting}
    assert {code for kind, code in results if kind != "ok"} <= {"queue_empty", "queue_busy"}, results
    assert not any(kind == "crash" for kind, _ in results), results
    assert Visit.objects.filter(status=VisitStatus.ACCEPTED, doctor__isnull=False).count() == 5
    # Each visit went requested -> accepted exactly once.
    from ihospital.core.transitions import timeline

    for visit in Visit.objects.all():
        assert [(e.from_status, e.to_status) for e in timeline(visit)] == [("requested", "accepted")]
    assert verify_chain().ok


def test_the_last_places_of_a_slot_go_to_as_many_patients_as_it_holds(department, doc):
    slot = SlotFactory(practitioner=doc, department=department, capacity=3)
    people = [PatientFactory() for _ in range(10)]
    conditions = [ConditionFactory(patient=p) for p in people]

    results = run_in_threads(10, lambda i: flows.book(people[i], slot, conditions[i]).pk)

    assert Counter(kind for kind, _ in results) == {"ok": 3, "domain": 7}, results
    assert {code for kind, code in results if kind == "domain"} == {"slot_full"}
    slot.refresh_from_db()
    assert slot.booked == 3
    assert Appointment.objects.filter(slot=slot, status=AppointmentStatus.BOOKED).count() == 3
    assert Visit.objects.count() == 3  # the losers' visits rolled back with their bookings


def test_one_message_resent_on_two_connections_is_stored_once(patient, diagnosis, slot, doc):
    visit = flows.accept(flows.book(patient, slot, diagnosis), doc)

    results = run_in_threads(6, lambda i: chat.post_message(
        actor=patient.user, visit_id=visit.pk, body="断线重发", client_id="same-client-id").pk)

    assert {kind for kind, _ in results} == {"ok"}, results
    assert len({pk for _, pk in results}) == 1
    assert Message.objects.filter(visit=visit, client_id="same-client-id").count() == 1


def test_one_patient_queueing_twice_at_once_gets_one_place(patient, diagnosis, department):
    results = run_in_threads(6, lambda i: flows.queue(patient, department, diagnosis).pk)

    assert Counter(kind for kind, _ in results) == {"ok": 1, "domain": 5}, results
    assert {code for kind, code in results if kind == "domain"} == {"already_in_queue"}
    assert Visit.objects.filter(patient=patient, department=department).count() == 1
