"""The home-nursing state machines against the services that drive them.

Requests: every act (claim, release, accept, decline, the patient's and the hospital's cancel, assign, unassign,
set out, turn back, check in, check out) is tried from every status. Where ``NursingRequest.TRANSITIONS`` lists
the change the act makes, it happens, and the timeline gains the change with the act's actor; anywhere else the
service refuses with its code (mostly ``invalid_transition``; e.g. check-in before setting out, check-out
without check-in, the patient's cancel after the nurse set out) and nothing changes. Every listed transition is
made by some service. A hypothesis state machine then plays random sequences of the acts against the same table.

Corrections (pending → approved / rejected), alarms (raised → acknowledged → resolved, or raised → resolved) and
dispatch plans (proposed → accepted) likewise, each change on the timeline with its actor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from ihospital.accounts.models import Role
from ihospital.core.errors import DomainError
from ihospital.core.models import TimelineEvent
from ihospital.core.transitions import timeline
from ihospital.homecare import assessing, billing, booking, dispatch, safety, visiting
from ihospital.homecare.models import (
    Alarm,
    AlarmStatus,
    CorrectionStatus,
    DispatchPlan,
    NurseVisit,
    NursingRequest,
    PlanStatus,
    RequestStatus,
)
from tests.factories import StaffUserFactory
from tests.homecare import factories as f

pytestmark = pytest.mark.django_db

S = RequestStatus
WITH_VISIT = (S.SCHEDULED, S.EN_ROUTE, S.IN_SERVICE, S.COMPLETED)


@dataclass
class World:
    patient: object
    nurse: object
    dispatcher: object
    start: str = "10:00"  # where ``assign`` puts the visit


def _record(w: World, visit: NurseVisit) -> None:
    visiting.save_record(actor=w.nurse, visit_id=visit.pk, procedure_notes="换药", vitals={"pulse": 72})


# Each act: (who acts, what they do). ``visit`` is None for requests without one.
def _claim(w, req, visit):
    assessing.claim(actor=w.nurse, request_id=req.pk)


def _release(w, req, visit):
    assessing.release(actor=w.nurse, request_id=req.pk, reason="改由他人评估")


def _accept(w, req, visit):
    assessing.decide(actor=w.nurse, request_id=req.pk, accept=True, risk="low", home_suitable=True,
                     eligibility_confirmed=True, notes="医嘱已核对：王医生")


def _decline(w, req, visit):
    assessing.decide(actor=w.nurse, request_id=req.pk, accept=False, decline_reason="unstable", notes="需住院")


def _patient_cancel(w, req, visit):
    booking.cancel(actor=w.patient.user, request_id=req.pk, reason="不需要了")


def _hospital_cancel(w, req, visit):
    dispatch.cancel_by_hospital(actor=w.dispatcher, request_id=req.pk, reason="护士生病，改日再约")


def _assign(w, req, visit):
    if not dispatch.Shift.objects.filter(nurse=w.nurse, day=req.preferred_date).exists():
        f.shift(w.nurse, req.preferred_date, "00:00", "23:59", by=w.dispatcher)
    dispatch.assign(actor=w.dispatcher, request_id=req.pk, nurse_id=w.nurse.pk, start=w.start)


def _unassign(w, req, visit):
    dispatch.unassign(actor=w.dispatcher, request_id=req.pk, reason="改派")


def _set_out(w, req, visit):
    visiting.set_out(actor=w.nurse, visit_id=visit.pk)


def _turn_back(w, req, visit):
    visiting.turn_back(actor=w.nurse, visit_id=visit.pk, reason="路上遇到急事")


def _check_in(w, req, visit):
    visiting.check_in(actor=w.nurse, visit_id=visit.pk, latitude=f.ADDRESS_LATLNG[0],
                      longitude=f.ADDRESS_LATLNG[1], accuracy=10)


def _check_out(w, req, visit):
    if req.status == S.IN_SERVICE:
        _record(w, visit)  # the record is written first; the act measured is the check-out
    visiting.check_out(actor=w.nurse, visit_id=visit.pk)


REQUEST_ACTS = {"claim": _claim, "release": _release, "accept": _accept, "decline": _decline,
                "patient_cancel": _patient_cancel, "hospital_cancel": _hospital_cancel, "assign": _assign,
                "unassign": _unassign}
VISIT_ACTS = {"set_out": _set_out, "turn_back": _turn_back, "check_in": _check_in, "check_out": _check_out}
ACTOR = {"claim": "nurse", "release": "nurse", "accept": "nurse", "decline": "nurse", "patient_cancel": "patient",
         "hospital_cancel": "dispatcher", "assign": "dispatcher", "unassign": "dispatcher", "set_out": "nurse",
         "turn_back": "nurse", "check_in": "nurse", "check_out": "nurse"}

# (status, act) → the status it leads to. Everything else is refused.
MOVES = {
    (S.REQUESTED, "claim"): S.ASSESSING, (S.REQUESTED, "patient_cancel"): S.CANCELLED,
    (S.ASSESSING, "release"): S.REQUESTED, (S.ASSESSING, "accept"): S.ACCEPTED,
    (S.ASSESSING, "decline"): S.DECLINED, (S.ASSESSING, "patient_cancel"): S.CANCELLED,
    (S.ACCEPTED, "assign"): S.SCHEDULED, (S.ACCEPTED, "patient_cancel"): S.CANCELLED,
    (S.ACCEPTED, "hospital_cancel"): S.CANCELLED,
    (S.SCHEDULED, "unassign"): S.ACCEPTED, (S.SCHEDULED, "set_out"): S.EN_ROUTE,
    (S.SCHEDULED, "patient_cancel"): S.CANCELLED, (S.SCHEDULED, "hospital_cancel"): S.CANCELLED,
    # Moving a visit to another time: off the nurse (accepted) and on again (scheduled).
    (S.SCHEDULED, "assign"): S.SCHEDULED,
    (S.EN_ROUTE, "check_in"): S.IN_SERVICE, (S.EN_ROUTE, "turn_back"): S.SCHEDULED,
    (S.EN_ROUTE, "hospital_cancel"): S.CANCELLED,
    (S.IN_SERVICE, "check_out"): S.COMPLETED,
}
# The codes a refusal may carry, per act: the service's own checks come before the transition's.
REFUSALS = {
    "claim": {"invalid_transition"},
    # The assessor's role ends with the assessment (and a stranger to the request gets 404).
    "release": {"not_assessing", "not_found"}, "accept": {"not_assessing", "not_found"},
    "decline": {"not_assessing", "not_found"},
    "patient_cancel": {"too_late_to_cancel", "invalid_transition"},
    "hospital_cancel": {"not_found", "invalid_transition"},
    "assign": {"not_schedulable"}, "unassign": {"not_scheduled"},
    "set_out": {"invalid_transition"}, "turn_back": {"invalid_transition"}, "check_in": {"invalid_transition"},
    "check_out": {"not_in_service"},
}


@pytest.fixture
def world(elder, nurse, dispatcher):
    return World(elder, nurse, dispatcher)


def in_status(w: World, status: str) -> tuple[NursingRequest, NurseVisit | None]:
    """A request of the world's patient in ``status``, walked there through the services (visits are today)."""
    if status in WITH_VISIT:
        visit = f.today_visit(w.patient, w.nurse)
        if status == S.EN_ROUTE:
            visiting.set_out(actor=w.nurse, visit_id=visit.pk)
        elif status == S.IN_SERVICE:
            f.in_service(visit, w.nurse)
        elif status == S.COMPLETED:
            f.completed(visit, w.nurse)
        visit.refresh_from_db()
        return NursingRequest.objects.get(pk=visit.request_id), visit
    req = f.booked(w.patient)
    if status == S.ASSESSING:
        assessing.claim(actor=w.nurse, request_id=req.pk)
    elif status == S.ACCEPTED:
        f.accepted(req, w.nurse)
    elif status == S.DECLINED:
        assessing.claim(actor=w.nurse, request_id=req.pk)
        _decline(w, req, None)
    elif status == S.CANCELLED:
        booking.cancel(actor=w.patient.user, request_id=req.pk, reason="改期")
    req.refresh_from_db()
    assert req.status == status
    return req, None


def actor_of(w: World, act: str):
    return {"nurse": w.nurse, "patient": w.patient.user, "dispatcher": w.dispatcher}[ACTOR[act]]


CASES = [(status, act) for status in S.values for act in REQUEST_ACTS] + [
    (status, act) for status in WITH_VISIT for act in VISIT_ACTS]


@pytest.mark.parametrize(("status", "act"), CASES)
def test_each_act_from_each_status(world, status, act):
    req, visit = in_status(world, status)
    events_before = list(timeline(req).order_by("pk").values_list("pk", flat=True))
    target = MOVES.get((status, act))
    run = (REQUEST_ACTS | VISIT_ACTS)[act]

    if target is None:
        with pytest.raises(DomainError) as refused:
            run(world, req, visit)
        assert refused.value.code in REFUSALS[act], (status, act, refused.value.code)
        req.refresh_from_db()
        assert req.status == status
        assert list(timeline(req).order_by("pk").values_list("pk", flat=True)) == events_before
        return

    run(world, req, visit)
    req.refresh_from_db()
    assert req.status == target
    new = list(timeline(req).exclude(pk__in=events_before).order_by("pk"))
    if status == S.IN_SERVICE and act == "check_out":
        new = [e for e in new if e.to_status == target]
    assert new and new[0].from_status == status and new[-1].to_status == target
    assert all(e.actor_id == actor_of(world, act).pk for e in new)
    # A visit exists exactly while the request is planned or under way.
    assert NurseVisit.objects.filter(request=req).exists() == (target in WITH_VISIT)


def test_every_listed_transition_is_made_by_a_service():
    listed = {(a, b) for a, targets in NursingRequest.TRANSITIONS.items() for b in targets}
    made = {(a, b) for (a, _act), b in MOVES.items() if a != b}
    assert made == listed
    # …and no move the table does not list.
    assert all(b in NursingRequest.TRANSITIONS.get(a, ()) for (a, _act), b in MOVES.items() if a != b)


def test_a_block_cancels_what_is_not_under_way(world, admin_user, other_nurse):
    waiting = f.booked(world.patient)
    assessing_ = f.booked(world.patient, code="injection")
    assessing.claim(actor=world.nurse, request_id=assessing_.pk)
    accepted = f.accepted(f.booked(world.patient, code="blood_draw"), world.nurse)
    on_the_way = f.today_visit(world.patient, other_nurse, code="ostomy_care")
    visiting.set_out(actor=other_nurse, visit_id=on_the_way.pk)

    assessing.block(actor=admin_user, patient_id=world.patient.pk, reason="推搡护士，出言威胁")

    statuses = dict(NursingRequest.objects.values_list("pk", "status"))
    assert [statuses[r.pk] for r in (waiting, assessing_, accepted)] == [S.CANCELLED] * 3
    assert statuses[on_the_way.request_id] == S.EN_ROUTE  # the nurse decides on the spot; security is there
    for req in (waiting, assessing_, accepted):
        last = timeline(req).order_by("pk").last()
        assert (last.to_status, last.actor_id, last.reason) == (S.CANCELLED, admin_user.pk, "patient blocked")


def test_the_timeline_tells_the_whole_story_with_its_actors(world, flow):
    req = f.booked(world.patient)
    f.accepted(req, world.nurse)
    visit = f.scheduled(req, world.nurse, by=world.dispatcher)
    NurseVisit.objects.filter(pk=visit.pk).update(day=timezone.localdate())
    NursingRequest.objects.filter(pk=req.pk).update(preferred_date=timezone.localdate(), window_start=time(0),
                                                    window_end=time(23))
    visiting.set_out(actor=world.nurse, visit_id=visit.pk)
    visiting.turn_back(actor=world.nurse, visit_id=visit.pk, reason="电动车爆胎")
    f.completed(visit, world.nurse)
    story = [(e.from_status, e.to_status, e.actor_id, e.reason) for e in timeline(req).order_by("pk")]
    n, d = world.nurse.pk, world.dispatcher.pk
    assert story == [
        ("requested", "assessing", n, "claimed for assessment"), ("assessing", "accepted", n, "accepted"),
        ("accepted", "scheduled", d, "scheduled"), ("scheduled", "en_route", n, "set out"),
        ("en_route", "scheduled", n, "电动车爆胎"), ("scheduled", "en_route", n, "set out"),
        ("en_route", "in_service", n, "checked in"), ("in_service", "completed", n, "checked out"),
    ]
    assert NurseVisit.objects.get(pk=visit.pk).set_out_at is not None
    # After the visit: payment and rating change no status (they are facts on the request).
    with flow.capture(execute=True):
        url = billing.checkout(actor=world.patient.user, request_id=req.pk)
    flow.checkout(url, world.patient.user)
    flow.settle()
    billing.rate(actor=world.patient.user, request_id=req.pk, stars=4)
    assert timeline(req).count() == len(story)


# ---- corrections, alarms, plans ----------------------------------------------------------------------------------


def test_correction_transitions(world, other_nurse):
    visit = f.today_visit(world.patient, world.nurse)
    f.completed(visit, world.nurse)
    first = visiting.request_correction(actor=world.nurse, visit_id=visit.pk, reason="血压记错了",
                                        vitals={"systolic": 128, "diastolic": 80, "pulse": 76})
    second = visiting.request_correction(actor=world.nurse, visit_id=visit.pk, reason="补充操作说明",
                                         procedure_notes="伤口清洁干燥，已换药，指导家属翻身")
    with pytest.raises(DomainError) as own:
        visiting.decide_correction(actor=world.nurse, correction_id=first.pk, approve=True)
    assert own.value.code == "not_found"  # nobody approves their own correction

    visiting.decide_correction(actor=other_nurse, correction_id=first.pk, approve=True, note="核对原始记录无误")
    with pytest.raises(DomainError) as again:
        visiting.decide_correction(actor=other_nurse, correction_id=first.pk, approve=False, note="改主意")
    assert again.value.code == "invalid_transition"
    with pytest.raises(DomainError) as no_note:
        visiting.decide_correction(actor=other_nurse, correction_id=second.pk, approve=False)
    assert no_note.value.code == "note_required"
    visiting.decide_correction(actor=other_nurse, correction_id=second.pk, approve=False, note="原记录已足够")
    with pytest.raises(DomainError) as after:
        visiting.decide_correction(actor=other_nurse, correction_id=second.pk, approve=True)
    assert after.value.code == "invalid_transition"

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (CorrectionStatus.APPROVED, CorrectionStatus.REJECTED)
    record = visit.care_record
    record.refresh_from_db()
    assert (record.version, record.vitals["systolic"]) == (2, 128)
    assert record.procedure_notes == "伤口清洁干燥，已换药"  # the rejected change left it alone
    for row, to in ((first, "approved"), (second, "rejected")):
        [event] = timeline(row)
        assert (event.from_status, event.to_status, event.actor_id) == ("pending", to, other_nurse.pk)


def test_alarm_transitions(world, guard, django_capture_on_commit_callbacks):
    acknowledged_first = safety.raise_alarm(token=safety.alarm_token(world.nurse))
    safety.acknowledge(actor=guard, alarm_id=acknowledged_first.pk)
    with pytest.raises(DomainError) as twice:
        safety.acknowledge(actor=guard, alarm_id=acknowledged_first.pk)
    assert twice.value.code == "already_acknowledged"
    safety.resolve(actor=guard, alarm_id=acknowledged_first.pk, resolution="护士安全，误触")

    other = f.home_nurse()
    resolved_at_once = safety.raise_alarm(token=safety.alarm_token(other))
    responder = StaffUserFactory(role=Role.DISPATCHER)
    safety.resolve(actor=responder, alarm_id=resolved_at_once.pk, resolution="已到场处理")
    for act, code in ((lambda: safety.acknowledge(actor=guard, alarm_id=resolved_at_once.pk),
                       "already_acknowledged"),
                      (lambda: safety.resolve(actor=guard, alarm_id=resolved_at_once.pk, resolution="again"),
                       "invalid_transition")):
        with pytest.raises(DomainError) as refused:
            act()
        assert refused.value.code == code

    first, second = (Alarm.objects.get(pk=a.pk) for a in (acknowledged_first, resolved_at_once))
    assert (first.status, first.acknowledged_by_id, first.resolved_by_id) == (AlarmStatus.RESOLVED, guard.pk,
                                                                              guard.pk)
    # Resolved without an acknowledgement: the resolver acknowledged it too.
    assert (second.status, second.acknowledged_by_id, second.resolved_by_id) == (AlarmStatus.RESOLVED,
                                                                                 responder.pk, responder.pk)
    assert [(e.from_status, e.to_status, e.actor_id) for e in timeline(first).order_by("pk")] == [
        ("raised", "acknowledged", guard.pk), ("acknowledged", "resolved", guard.pk)]
    assert [(e.from_status, e.to_status, e.actor_id) for e in timeline(second)] == [
        ("raised", "resolved", responder.pk)]
    with pytest.raises(DomainError) as not_a_responder:
        safety.acknowledge(actor=world.patient.user, alarm_id=first.pk)
    assert not_a_responder.value.code == "not_found"


def test_plan_transitions(world):
    req = f.accepted(f.booked(world.patient), world.nurse)
    f.shift(world.nurse, req.preferred_date, by=world.dispatcher)
    old = dispatch.propose(actor=world.dispatcher, day=req.preferred_date, time_limit=0.2)
    new = dispatch.propose(actor=world.dispatcher, day=req.preferred_date, time_limit=0.2)
    old.refresh_from_db()
    assert (old.status, new.status) == (PlanStatus.SUPERSEDED, PlanStatus.PROPOSED)
    with pytest.raises(DomainError) as superseded:
        dispatch.accept_plan(actor=world.dispatcher, plan_id=old.pk)
    assert superseded.value.code == "plan_not_proposed"
    dispatch.accept_plan(actor=world.dispatcher, plan_id=new.pk)
    with pytest.raises(DomainError) as twice:
        dispatch.accept_plan(actor=world.dispatcher, plan_id=new.pk)
    assert twice.value.code == "plan_not_proposed"
    assert [(e.from_status, e.to_status, e.actor_id) for e in timeline(DispatchPlan.objects.get(pk=new.pk))] == [
        ("proposed", "accepted", world.dispatcher.pk)]


# ---- random walks ------------------------------------------------------------------------------------------------


class RequestWalk(RuleBasedStateMachine):
    """One patient's request at a time, driven by random acts; the model is ``MOVES``."""

    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        f.load_catalogue()
        self.w = World(f.eligible_patient(age=75), f.home_nurse(), f.dispatcher())
        f.shift(self.w.nurse, timezone.localdate(), "00:00", "23:59", by=self.w.dispatcher)
        self.req: NursingRequest | None = None
        self.expected: str | None = None
        self.moves = 0
        self.bookings = 0

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    @precondition(lambda self: self.expected is None or self.expected in (S.COMPLETED, S.DECLINED, S.CANCELLED))
    @rule()
    def book(self):
        req = f.booked(self.w.patient, code="injection", window=("09:00", "12:00"))
        # Booking is from tomorrow; the walk plays today so that the nurse may set out.
        NursingRequest.objects.filter(pk=req.pk).update(preferred_date=timezone.localdate(), window_start=time(0),
                                                        window_end=time(23))
        self.req, self.expected, self.moves = req, S.REQUESTED, 0
        # Earlier requests' completed visits keep their time: each request gets its own hour.
        self.bookings += 1
        self.w.start = f"{(2 * self.bookings) % 22 + 1:02d}:00"

    @precondition(lambda self: self.req is not None)
    @rule(act=st.sampled_from(sorted(REQUEST_ACTS | VISIT_ACTS)))
    def act(self, act):
        self.req.refresh_from_db()
        visit = NurseVisit.objects.filter(request=self.req).first()
        if act in VISIT_ACTS and visit is None:
            return  # nothing to address the act to
        target = MOVES.get((self.expected, act))
        try:
            (REQUEST_ACTS | VISIT_ACTS)[act](self.w, self.req, visit)
        except DomainError as error:
            assert target is None, (self.expected, act, error.code)
            assert error.code in REFUSALS[act], (self.expected, act, error.code)
            return
        assert target is not None, (self.expected, act)
        self.expected = target
        self.moves += 1

    @invariant()
    def matches_the_model(self):
        if self.req is None:
            return
        self.req.refresh_from_db()
        assert self.req.status == self.expected
        assert NurseVisit.objects.filter(request=self.req).exists() == (self.expected in WITH_VISIT)
        last = TimelineEvent.objects.filter(object_id=str(self.req.pk), content_type__model="nursingrequest").order_by(
            "pk").last()
        assert (last.to_status if last else S.REQUESTED) == self.expected


def test_random_walks_follow_the_table(db, settings):
    settings.HOMECARE_DISPATCH_SECONDS = 0.2
    run_state_machine_as_test(RequestWalk, settings=hsettings(
        max_examples=15, stateful_step_count=14, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]))
