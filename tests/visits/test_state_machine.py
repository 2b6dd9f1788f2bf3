"""Model-based test of the visit workflow with a hypothesis state machine.

Two patients (one with a proxy), a stranger and two consulting doctors of one department run random sequences of
book / queue / take next / accept / start / close (with its note) / cancel / refuse / refer / rate against the
real services, each act by the right actor or a wrong one. A small model predicts every outcome (the new status,
or the refusal's code). Invariants after every step: each visit's status is the model's and was reached through
``Visit.TRANSITIONS`` (its timeline walks the table from "requested"); closed and referred visits have exactly
one online encounter; a slot's places taken equal its appointments that were not cancelled; nothing is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from ihospital.accounts import services as accounts
from ihospital.core.errors import DomainError
from ihospital.core.models import TimelineEvent
from ihospital.core.transitions import timeline
from ihospital.records.models import Encounter, EncounterMode
from ihospital.scheduling.models import Appointment, AppointmentStatus, Slot
from ihospital.visits import services
from ihospital.visits.models import Message, Visit, VisitStatus
from tests.factories import DepartmentFactory, PatientFactory
from tests.visits import flows
from tests.visits.factories import ConditionFactory, SlotFactory, online_doctor

S = VisitStatus
PATIENTS = ("alice", "bob")
DOCTORS = ("dr_wang", "dr_li")
ACTORS = ("alice", "bob", "proxy", "stranger", *DOCTORS)
SLOT_CAPACITY = 2


@dataclass
class Expected:
    patient: str
    status: str = S.REQUESTED
    doctor: str | None = None
    slot: int | None = None
    appointment: str | None = None  # booked / cancelled / completed, for booked visits
    rated: bool = False


class VisitWorkflow(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        # Each example runs in a savepoint that teardown() rolls back, inside the test's own transaction.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        department = DepartmentFactory()
        self.department = department
        self.doctors = {name: online_doctor(department) for name in DOCTORS}
        people = {name: PatientFactory() for name in (*PATIENTS, "stranger")}
        self.patients = {name: people[name] for name in PATIENTS}
        self.conditions = {name: ConditionFactory(patient=people[name]) for name in PATIENTS}
        relative = PatientFactory()
        accounts.invite_proxy(patient_user=people["alice"].user, proxy_phone=relative.user.phone,
                              proxy_real_name=relative.user.real_name, relationship="child", consent=True)
        self.users = {name: p.user for name, p in people.items()}
        self.users["proxy"] = relative.user
        self.users.update({name: d.user for name, d in self.doctors.items()})
        self.slots = [SlotFactory(practitioner=self.doctors["dr_wang"], department=department,
                                  capacity=SLOT_CAPACITY) for _ in range(2)]
        self.model: dict[int, Expected] = {}
        self.seen = {"messages": 0, "timeline": 0, "encounters": Encounter.objects.count()}

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # ---- the model -----------------------------------------------------------------------------------------------

    def role(self, visit: Expected, actor: str) -> str | None:
        if actor == visit.patient:
            return "patient"
        if actor == "proxy" and visit.patient == "alice":
            return "proxy"
        if actor == visit.doctor:
            return "doctor"
        return None

    def doctor_refusal(self, visit: Expected, actor: str) -> str | None:
        if actor not in DOCTORS:
            return "not_a_doctor"
        if actor != visit.doctor:
            return "not_found"
        return None

    def pick(self, index: int) -> tuple[int, Expected]:
        pk = sorted(self.model)[index % len(self.model)]
        return pk, self.model[pk]

    def attempt(self, expected_error: str | None, fn, **kwargs):
        """Run one act; when the model expects a refusal, check its code and that the visit did not change."""
        if expected_error is None:
            return fn(**kwargs)
        before = list(Visit.objects.order_by("pk").values_list("pk", "status", "doctor_id", "rating"))
        with pytest.raises(DomainError) as exc:
            fn(**kwargs)
        assert exc.value.code == expected_error, (exc.value.code, expected_error, kwargs)
        assert list(Visit.objects.order_by("pk").values_list("pk", "status", "doctor_id", "rating")) == before
        return None

    def end_appointment(self, visit: Expected, consulted: bool) -> None:
        if visit.slot is not None and visit.appointment == AppointmentStatus.BOOKED:
            visit.appointment = AppointmentStatus.COMPLETED if consulted else AppointmentStatus.CANCELLED

    # ---- requesting ------------------------------------------------------------------------------------------------

    @rule(patient=st.sampled_from(PATIENTS), slot=st.sampled_from([0, 1]), by_proxy=st.booleans())
    def book(self, patient, slot, by_proxy):
        actor = "proxy" if by_proxy and patient == "alice" else patient
        in_slot = [v for v in self.model.values() if v.slot == slot]
        if any(v.patient == patient and v.appointment == AppointmentStatus.BOOKED for v in in_slot):
            expected = "already_booked"
        elif sum(v.appointment != AppointmentStatus.CANCELLED for v in in_slot) >= SLOT_CAPACITY:
            expected = "slot_full"
        else:
            expected = None
        visit = self.attempt(expected, flows.book, patient=self.patients[patient], slot=self.slots[slot],
                             condition=self.conditions[patient], actor=self.users[actor])
        if visit is not None:
            assert visit.pk not in self.model
            self.model[visit.pk] = Expected(patient, doctor="dr_wang", slot=slot,
                                            appointment=AppointmentStatus.BOOKED)

    @rule(patient=st.sampled_from(PATIENTS))
    def queue(self, patient):
        waiting = any(v.patient == patient and v.slot is None and v.doctor is None and v.status == S.REQUESTED
                      for v in self.model.values())
        visit = self.attempt("already_in_queue" if waiting else None, flows.queue, patient=self.patients[patient],
                             department=self.department, condition=self.conditions[patient])
        if visit is not None:
            self.model[visit.pk] = Expected(patient)

    # ---- the doctor -------------------------------------------------------------------------------------------------

    @rule(doctor=st.sampled_from(DOCTORS))
    def take_next(self, doctor):
        waiting = [pk for pk, v in sorted(self.model.items())
                   if v.slot is None and v.doctor is None and v.status == S.REQUESTED]
        visit = self.attempt(None if waiting else "queue_empty", services.take_next_from_queue,
                             actor=self.users[doctor], department_id=self.department.pk)
        if visit is not None:
            assert visit.pk == waiting[0]  # the oldest
            self.model[visit.pk].doctor = doctor
            self.model[visit.pk].status = S.ACCEPTED

    @precondition(lambda self: self.model)
    @rule(index=st.integers(min_value=0), actor=st.sampled_from(ACTORS))
    def accept(self, index, actor):
        pk, visit = self.pick(index)
        expected = self.doctor_refusal(visit, actor) or (None if visit.status == S.REQUESTED else "invalid_transition")
        if self.attempt(expected, services.accept_visit, actor=self.users[actor], visit_id=pk):
            visit.status = S.ACCEPTED

    @precondition(lambda self: self.model)
    @rule(index=st.integers(min_value=0), actor=st.sampled_from(ACTORS))
    def start(self, index, actor):
        pk, visit = self.pick(index)
        expected = self.doctor_refusal(visit, actor) or (None if visit.status == S.ACCEPTED else "invalid_transition")
        if self.attempt(expected, services.start_visit, actor=self.users[actor], visit_id=pk):
            visit.status = S.IN_PROGRESS

    @precondition(lambda self: self.model)
    @rule(index=st.integers(min_value=0), actor=st.sampled_from(ACTORS))
    def close_with_note(self, index, actor):
        pk, visit = self.pick(index)
        refusal = self.doctor_refusal(visit, actor)
        writable = visit.status in (S.ACCEPTED, S.IN_PROGRESS)
        self.attempt(refusal or (None if writable else "note_frozen"), services.save_note,
                     actor=self.users[actor], visit_id=pk, **flows.NOTE)
        expected = refusal or (None if visit.status == S.IN_PROGRESS else "invalid_transition")
        if self.attempt(expected, services.close_visit, actor=self.users[actor], visit_id=pk):
            visit.status = S.CLOSED
            self.end_appointment(visit, consulted=True)

    @precondition(lambda self: self.model)
    @rule(index=st.integers(min_value=0), actor=st.sampled_from(ACTORS))
    def refuse(self, index, actor):
        pk, visit = self.pick(index)
        expected = self.doctor_refusal(visit, actor) or (None if visit.status == S.REQUESTED else "invalid_transition")
        if self.attempt(expected, services.refuse_visit, actor=self.users[actor], visit_id=pk, reason="不适合线上"):
            visit.status = S.REFUSED
            self.end_appointment(visit, consulted=False)

    @precondition(lambda self: self.model)
    @rule(index=st.integers(min_value=0), actor=st.sampled_from(ACTORS))
    def refer(self, index, actor):
        pk, visit = self.pick(index)
        open_ = visit.status in (S.REQUESTED, S.ACCEPTED, S.IN_PROGRESS)
        expected = self.doctor_refusal(visit, actor) or (None if open_ else "invalid_transition")
        if self.attempt(expected, services.refer_in_person, actor=self.users[actor], visit_id=pk, reason="需要查体"):
            self.end_appointment(visit, consulted=visit.status == S.IN_PROGRESS)
            visit.status = S.REFERRED

    # ---- the patient -------------------------------------------------------------------------------------------------

    @precondition(lambda self: self.model)
    @rule(index=st.integers(min_value=0), actor=st.sampled_from(ACTORS))
    def cancel(self, index, actor):
        pk, visit = self.pick(index)
        role = self.role(visit, actor)
        if role is None:
            expected = "not_found"
        elif role == "doctor":
            expected = "not_the_patient"
        else:
            expected = None if visit.status in (S.REQUESTED, S.ACCEPTED) else "invalid_transition"
        if self.attempt(expected, services.cancel_visit, actor=self.users[actor], visit_id=pk, reason="有事"):
            visit.status = S.CANCELLED
            self.end_appointment(visit, consulted=False)

    @precondition(lambda self: self.model)
    @rule(index=st.integers(min_value=0), actor=st.sampled_from(ACTORS), rating=st.integers(0, 6))
    def rate(self, index, actor, rating):
        pk, visit = self.pick(index)
        if self.role(visit, actor) in (None, "doctor"):
            expected = "not_found"
        elif visit.status != S.CLOSED:
            expected = "visit_not_closed"
        elif not 1 <= rating <= 5:
            expected = "invalid_rating"
        elif visit.rated:
            expected = "already_rated"
        else:
            expected = None
        if self.attempt(expected, services.rate_visit, actor=self.users[actor], visit_id=pk, rating=rating):
            visit.rated = True

    # ---- invariants ----------------------------------------------------------------------------------------------

    @invariant()
    def statuses_are_the_models_and_reached_through_the_table(self):
        rows = {v.pk: v for v in Visit.objects.select_related("doctor")}
        assert set(rows) == set(self.model)  # nothing deleted, nothing extra
        for pk, expected in self.model.items():
            visit = rows[pk]
            assert visit.status == expected.status, (pk, visit.status, expected)
            doctor = self.doctors[expected.doctor].pk if expected.doctor else None
            assert visit.doctor_id == doctor
            assert (visit.rating is not None) == expected.rated
            status = S.REQUESTED
            for event in timeline(visit):
                assert event.from_status == status
                assert event.to_status in Visit.TRANSITIONS.get(status, set()), (status, event.to_status)
                status = event.to_status
            assert status == visit.status

    @invariant()
    def closed_and_referred_visits_have_one_online_encounter(self):
        ended = [pk for pk, v in self.model.items() if v.status in (S.CLOSED, S.REFERRED)]
        for visit in Visit.objects.filter(pk__in=self.model):
            if visit.pk in ended:
                assert visit.encounter is not None and visit.encounter.mode == EncounterMode.ONLINE
                assert visit.encounter.patient_id == visit.patient_id
            else:
                assert visit.encounter_id is None
        online = Encounter.objects.filter(mode=EncounterMode.ONLINE, patient__in=self.patients.values())
        assert online.count() == len(ended)

    @invariant()
    def a_slots_places_are_its_appointments_not_cancelled(self):
        for index, slot in enumerate(self.slots):
            slot = Slot.objects.get(pk=slot.pk)
            kept = Appointment.objects.filter(slot=slot).exclude(status=AppointmentStatus.CANCELLED)
            assert slot.booked == kept.count() <= slot.capacity
            assert slot.booked == sum(
                v.appointment != AppointmentStatus.CANCELLED for v in self.model.values() if v.slot == index
            )
            booked = Appointment.objects.filter(slot=slot, status=AppointmentStatus.BOOKED)
            assert booked.count() == sum(
                v.appointment == AppointmentStatus.BOOKED for v in self.model.values() if v.slot == index
            )
        for visit in Visit.objects.filter(pk__in=self.model, appointment__isnull=False).select_related("appointment"):
            assert visit.appointment.status == self.model[visit.pk].appointment

    @invariant()
    def nothing_is_deleted(self):
        now = {
            "messages": Message.objects.count(),
            "timeline": TimelineEvent.objects.count(),
            "encounters": Encounter.objects.count(),
        }
        for key, count in now.items():
            assert count >= self.seen[key], key
        self.seen = now


@pytest.mark.django_db
def test_visit_workflow_state_machine():
    run_state_machine_as_test(
        VisitWorkflow,
        settings=settings(
            max_examples=30,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            database=None,
        ),
    )
