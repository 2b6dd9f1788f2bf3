"""Dispatch (dispatch.set_shift, propose, accept_plan, assign, unassign, set_second_nurse): shifts, the optimiser's
proposal for a day respecting qualifications and windows, accepting it (or not, when the day changed meanwhile),
assigning by hand with each refusal, and that only dispatchers plan."""

from __future__ import annotations

from datetime import time

import pytest
from django.utils import timezone

from ihospital.accounts.models import User
from ihospital.core.errors import Conflict, DomainError, Forbidden, NotFound
from ihospital.directory.models import Title
from ihospital.homecare import assessing, booking, dispatch
from ihospital.homecare.models import DispatchPlan, NurseVisit, PlanStatus, RequestStatus, Shift
from ihospital.notifications.models import Notification
from ihospital.records.selectors import access_of
from tests.factories import NurseFactory
from tests.homecare import factories as f

pytestmark = pytest.mark.django_db

# Six visits around the hospital on one day: (address, service, window).
DAY_OF_SIX = [
    ("太原市迎泽区双塔寺社区5号楼", "picc_care", ("09:00", "11:00")),
    ("太原市迎泽区桃园社区2号楼", "wound_dressing", ("09:00", "12:00")),
    ("太原市迎泽区南华门社区8号楼", "wound_dressing", ("10:00", "12:00")),
    ("太原市迎泽区老军营小区1号楼", "ostomy_care", ("13:00", "15:00")),
    ("太原市小店区亲贤社区6号楼", "pressure_ulcer", ("14:00", "16:00")),
    ("太原市迎泽区五一路社区3号楼", "wound_dressing", ("15:00", "17:00")),
]


def refusal(call) -> str:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code


def accepted_request(assessor, *, address=f.ADDRESS, code="wound_dressing", window=("09:00", "12:00"), **kw):
    patient = f.eligible_patient()
    return f.accepted(f.booked(patient, code=code, window=window, address=address), assessor, **kw)


@pytest.fixture
def assessor(db):
    return f.home_nurse()


@pytest.fixture
def picc_nurse(db):
    """A supervisor nurse with the PICC and wound specialties, starting from the hospital."""
    return f.home_nurse(title=Title.SUPERVISOR_NURSE, skills=("picc", "wound_ostomy"))


@pytest.fixture
def ward_trained(db):
    """A nurse practitioner (护师) with wound care only: not qualified for PICC care (title and skill)."""
    return f.home_nurse(title=Title.NURSE_PRACTITIONER, skills=("wound_ostomy",), base=(37.8650, 112.5520))


def minutes(value: int | time) -> int:
    if isinstance(value, time):
        return value.hour * 60 + value.minute
    return value // 60


# ---- shifts -----------------------------------------------------------------------------------------------------


def test_a_dispatcher_sets_and_changes_a_shift(dispatcher, nurse):
    day = f.tomorrow()
    shift = dispatch.set_shift(actor=dispatcher, nurse_id=nurse.pk, day=day.isoformat(), starts="08:00", ends="16:00")
    assert (shift.starts, shift.ends, shift.created_by) == (time(8), time(16), dispatcher)
    dispatch.set_shift(actor=dispatcher, nurse_id=nurse.pk, day=day, starts="09:30", ends="18:00")
    assert Shift.objects.get(nurse=nurse, day=day).starts == time(9, 30)
    assert Shift.objects.count() == 1


@pytest.mark.parametrize(("kw", "code"), [
    ({"starts": "8am"}, "invalid_shift"),
    ({"ends": ""}, "invalid_shift"),
    ({"starts": "17:00", "ends": "08:00"}, "invalid_shift"),
    ({"starts": "08:00", "ends": "08:00"}, "invalid_shift"),
    ({"day": "tomorrow"}, "invalid_date"),
])
def test_a_shift_needs_a_day_and_a_start_before_its_end(dispatcher, nurse, kw, code):
    args = {"day": f.tomorrow(), "starts": "08:00", "ends": "16:00"} | kw
    assert refusal(lambda: dispatch.set_shift(actor=dispatcher, nurse_id=nurse.pk, **args)) == code
    assert not Shift.objects.exists()


def test_only_registered_home_care_nurses_get_shifts(dispatcher, elder):
    ward_nurse = NurseFactory(title=Title.SUPERVISOR_NURSE).user
    junior = f.home_nurse(years=2)
    for user in (ward_nurse, junior, elder.user, dispatcher):
        assert refusal(lambda u=user: dispatch.set_shift(actor=dispatcher, nurse_id=u.pk, day=f.tomorrow(),
                                                         starts="08:00", ends="16:00")) == "not_a_home_nurse"
    assert not Shift.objects.exists()


def test_a_shift_may_not_leave_out_visits_already_scheduled(dispatcher, nurse, assessor):
    req = accepted_request(assessor)
    f.scheduled(req, nurse, start="10:00", by=dispatcher)
    assert refusal(lambda: dispatch.set_shift(actor=dispatcher, nurse_id=nurse.pk, day=req.preferred_date,
                                              starts="10:30", ends="17:00")) == "shift_excludes_visits"
    assert Shift.objects.get(nurse=nurse).starts == time(8)


# ---- the proposal -----------------------------------------------------------------------------------------------


@pytest.fixture
def day_of_six(dispatcher, assessor, picc_nurse, ward_trained):
    requests = [accepted_request(assessor, address=address, code=code, window=window)
                for address, code, window in DAY_OF_SIX]
    day = requests[0].preferred_date
    for nurse in (picc_nurse, ward_trained):
        f.shift(nurse, day, "08:00", "17:30", by=dispatcher)
    return requests


def test_the_proposal_respects_qualifications_windows_and_shifts(dispatcher, day_of_six, picc_nurse, ward_trained):
    day = day_of_six[0].preferred_date
    plan = dispatch.propose(actor=dispatcher, day=day, time_limit=0.5)
    assert plan.status == PlanStatus.PROPOSED and plan.solver
    by_id = {r.pk: r for r in day_of_six}
    planned = {stop["request"]: (int(nurse), stop) for nurse, stops in plan.routes.items() for stop in stops}
    assert set(planned) | {int(k) for k in plan.unassigned} == set(by_id)
    assert plan.unassigned == {}
    picc = day_of_six[0]
    assert planned[picc.pk][0] == picc_nurse.pk  # the one nurse qualified for PICC care
    for nurse_key, stops in plan.routes.items():
        planned_nurse = User.objects.get(pk=nurse_key)
        previous_end = 8 * 60
        for stop in stops:
            req = by_id[stop["request"]]
            assert assessing.qualification_refusal(planned_nurse, req.service) is None
            start, end = minutes(stop["start"]), minutes(stop["end"])
            assert minutes(req.window_start) <= start <= minutes(req.window_end)
            assert end - start == req.service.duration_minutes
            # Visits follow each other with the travel between them, inside the shift.
            assert start - minutes(stop["travel"]) >= previous_end - 1
            previous_end = end
        assert previous_end <= 17 * 60 + 30
    assert plan.travel_seconds > 0 and plan.greedy_travel_seconds is not None
    assert plan.travel_seconds <= plan.greedy_travel_seconds


def test_a_newer_proposal_supersedes_the_older_one(dispatcher, day_of_six):
    day = day_of_six[0].preferred_date
    first = dispatch.propose(actor=dispatcher, day=day, time_limit=0.3)
    second = dispatch.propose(actor=dispatcher, day=day, time_limit=0.3)
    first.refresh_from_db()
    assert (first.status, second.status) == (PlanStatus.SUPERSEDED, PlanStatus.PROPOSED)
    assert refusal(lambda: dispatch.accept_plan(actor=dispatcher, plan_id=first.pk)) == "plan_not_proposed"


def test_nothing_to_plan_and_no_shifts_are_refused(dispatcher, assessor):
    day = f.tomorrow()
    assert refusal(lambda: dispatch.propose(actor=dispatcher, day=day)) == "nothing_to_plan"
    accepted_request(assessor)
    assert refusal(lambda: dispatch.propose(actor=dispatcher, day=day)) == "no_shifts"
    assert not DispatchPlan.objects.exists()


def test_a_request_nobody_on_shift_is_qualified_for_is_left_unassigned_with_the_reason(
        dispatcher, assessor, ward_trained):
    picc = accepted_request(assessor, code="picc_care")
    dressing = accepted_request(assessor)
    f.shift(ward_trained, picc.preferred_date, by=dispatcher)
    plan = dispatch.propose(actor=dispatcher, day=picc.preferred_date, time_limit=0.3)
    assert plan.unassigned == {str(picc.pk): "no_qualified_nurse"}
    assert [s["request"] for s in plan.routes[str(ward_trained.pk)]] == [dressing.pk]


def test_accepting_the_plan_schedules_notifies_and_opens_the_charts(dispatcher, day_of_six, picc_nurse):
    day = day_of_six[0].preferred_date
    plan = dispatch.propose(actor=dispatcher, day=day, time_limit=0.5)
    visits = dispatch.accept_plan(actor=dispatcher, plan_id=plan.pk)
    plan.refresh_from_db()
    assert plan.status == PlanStatus.ACCEPTED and len(visits) == 6
    for req in day_of_six:
        req.refresh_from_db()
        visit = req.visit
        assert req.status == RequestStatus.SCHEDULED and visit.plan == plan and visit.assigned_by == dispatcher
        stop = next(s for s in plan.routes[str(visit.nurse_id)] if s["request"] == req.pk)
        assert timezone.localtime(visit.planned_start).time() == time(stop["start"] // 3600, stop["start"] % 3600 // 60)
        assert access_of(visit.nurse, req.patient) == "clinician"
        assert Notification.objects.filter(user=req.patient.user, kind="homecare.scheduled").exists()
    assert day_of_six[0].visit.nurse == picc_nurse
    # Accepted once: again is refused.
    assert refusal(lambda: dispatch.accept_plan(actor=dispatcher, plan_id=plan.pk)) == "plan_not_proposed"


def test_accepting_after_a_request_changed_is_stale_and_applies_nothing(dispatcher, day_of_six, ward_trained):
    day = day_of_six[0].preferred_date
    plan = dispatch.propose(actor=dispatcher, day=day, time_limit=0.5)
    cancelled = day_of_six[-1]
    booking.cancel(actor=cancelled.patient.user, request_id=cancelled.pk, reason="改期")
    with pytest.raises(Conflict) as caught:
        dispatch.accept_plan(actor=dispatcher, plan_id=plan.pk)
    assert caught.value.code == "plan_stale"
    plan.refresh_from_db()
    assert plan.status == PlanStatus.PROPOSED
    assert not NurseVisit.objects.exists()
    assert not Notification.objects.filter(kind="homecare.scheduled").exists()
    assert all(access_of(n, r.patient) is None for r in day_of_six for n in (ward_trained,))
    assert {r.status for r in type(cancelled).objects.filter(pk__in=[r.pk for r in day_of_six[:-1]])} == {
        RequestStatus.ACCEPTED}


def test_accepting_after_a_visit_was_assigned_by_hand_in_its_place_is_stale(dispatcher, day_of_six, ward_trained):
    day = day_of_six[0].preferred_date
    plan = dispatch.propose(actor=dispatcher, day=day, time_limit=0.5)
    by_hand = day_of_six[1]
    dispatch.assign(actor=dispatcher, request_id=by_hand.pk, nurse_id=ward_trained.pk, start="11:00")
    assert refusal(lambda: dispatch.accept_plan(actor=dispatcher, plan_id=plan.pk)) == "plan_stale"
    assert list(NurseVisit.objects.values_list("request_id", flat=True)) == [by_hand.pk]


# ---- assigning by hand ------------------------------------------------------------------------------------------


def test_assigning_by_hand_schedules_the_visit(dispatcher, assessor, nurse):
    req = accepted_request(assessor)
    f.shift(nurse, req.preferred_date, by=dispatcher)
    visit = dispatch.assign(actor=dispatcher, request_id=req.pk, nurse_id=nurse.pk, start="09:30")
    req.refresh_from_db()
    assert req.status == RequestStatus.SCHEDULED and visit.nurse == nurse and visit.plan is None
    assert timezone.localtime(visit.planned_start).time() == time(9, 30)
    assert timezone.localtime(visit.planned_end).time() == time(10, 10)
    assert access_of(nurse, req.patient) == "clinician"


def test_each_manual_assignment_refusal(dispatcher, assessor, picc_nurse, ward_trained):
    picc = accepted_request(assessor, code="picc_care")
    day = picc.preferred_date
    dressing = accepted_request(assessor)
    other = accepted_request(assessor)

    def assign(req, nurse, start):
        return refusal(lambda: dispatch.assign(actor=dispatcher, request_id=req.pk, nurse_id=nurse.pk, start=start))

    f.shift(ward_trained, day, "08:00", "17:00", by=dispatcher)
    assert assign(picc, ward_trained, "09:30") == "nurse_not_qualified"
    assert assign(dressing, picc_nurse, "09:30") == "no_shift"
    f.shift(picc_nurse, day, "08:00", "10:00", by=dispatcher)
    assert assign(dressing, picc_nurse, "09:30") == "outside_shift"  # ends 10:10, and the way back
    assert assign(dressing, ward_trained, "12:30") == "outside_window"
    assert assign(dressing, ward_trained, "08:30") == "outside_window"
    assert assign(dressing, ward_trained, "9:3") == "invalid_time"
    dispatch.assign(actor=dispatcher, request_id=dressing.pk, nurse_id=ward_trained.pk, start="09:30")
    assert assign(other, ward_trained, "10:00") == "overlaps_visit"  # during the first visit
    assert assign(other, ward_trained, "09:00") == "overlaps_visit"  # would be late for the first visit
    assert {r.status for r in type(picc).objects.filter(pk__in=[picc.pk, other.pk])} == {RequestStatus.ACCEPTED}
    assert NurseVisit.objects.count() == 1
    with pytest.raises(NotFound):
        dispatch.assign(actor=dispatcher, request_id=picc.pk + 999, nurse_id=ward_trained.pk, start="09:30")
    assert assign(picc, f.dispatcher(), "09:30") == "not_a_home_nurse"


def test_the_way_between_two_visits_counts_as_busy(dispatcher, assessor, nurse):
    near = accepted_request(assessor)  # 双塔寺社区, a kilometre from the hospital
    far = accepted_request(assessor, address="太原市小店区长风小区9号楼")  # about 5 km on
    f.shift(nurse, near.preferred_date, by=dispatcher)
    dispatch.assign(actor=dispatcher, request_id=near.pk, nurse_id=nurse.pk, start="09:00")  # until 09:40
    # 09:45 leaves five minutes to cross town: refused; an hour later is fine.
    assert refusal(lambda: dispatch.assign(actor=dispatcher, request_id=far.pk, nurse_id=nurse.pk,
                                           start="09:45")) == "overlaps_visit"
    visit = dispatch.assign(actor=dispatcher, request_id=far.pk, nurse_id=nurse.pk, start="10:40")
    assert visit.travel_seconds > 5 * 60


def test_reassigning_moves_the_visit_and_its_chart_access(dispatcher, assessor, nurse, other_nurse):
    req = accepted_request(assessor)
    for n in (nurse, other_nurse):
        f.shift(n, req.preferred_date, by=dispatcher)
    first = dispatch.assign(actor=dispatcher, request_id=req.pk, nurse_id=nurse.pk, start="09:30")
    moved = dispatch.assign(actor=dispatcher, request_id=req.pk, nurse_id=other_nurse.pk, start="10:30")
    req.refresh_from_db()
    assert req.status == RequestStatus.SCHEDULED and NurseVisit.objects.count() == 1
    assert moved.nurse == other_nurse and moved.request_id == first.request_id
    assert timezone.localtime(moved.planned_start).time() == time(10, 30)
    assert access_of(other_nurse, req.patient) == "clinician"
    assert access_of(nurse, req.patient) is None


def test_unassigning_puts_the_request_back_and_closes_the_chart(dispatcher, assessor, nurse):
    req = accepted_request(assessor)
    f.scheduled(req, nurse, by=dispatcher)
    dispatch.unassign(actor=dispatcher, request_id=req.pk, reason="护士请假")
    req.refresh_from_db()
    assert req.status == RequestStatus.ACCEPTED and not NurseVisit.objects.exists()
    assert access_of(nurse, req.patient) is None
    assert refusal(lambda: dispatch.unassign(actor=dispatcher, request_id=req.pk)) == "not_scheduled"


def test_a_second_nurse_for_a_two_nurse_visit(dispatcher, assessor, nurse, other_nurse):
    req = accepted_request(assessor, risk="high", two_nurses=True)
    busy = accepted_request(assessor)
    for n in (nurse, other_nurse):
        f.shift(n, req.preferred_date, by=dispatcher)
    with pytest.raises(NotFound):  # not scheduled yet
        dispatch.set_second_nurse(actor=dispatcher, request_id=req.pk, nurse_id=other_nurse.pk)
    dispatch.assign(actor=dispatcher, request_id=req.pk, nurse_id=nurse.pk, start="09:30")
    dispatch.assign(actor=dispatcher, request_id=busy.pk, nurse_id=other_nurse.pk, start="09:00")
    assert refusal(lambda: dispatch.set_second_nurse(actor=dispatcher, request_id=req.pk,
                                                     nurse_id=nurse.pk)) == "not_a_home_nurse"
    assert refusal(lambda: dispatch.set_second_nurse(actor=dispatcher, request_id=req.pk,
                                                     nurse_id=other_nurse.pk)) == "overlaps_visit"
    dispatch.unassign(actor=dispatcher, request_id=busy.pk)
    visit = dispatch.set_second_nurse(actor=dispatcher, request_id=req.pk, nurse_id=other_nurse.pk)
    assert NurseVisit.objects.get(pk=visit.pk).second_nurse == other_nurse
    assert access_of(other_nurse, req.patient) == "clinician"
    # Taken off again: both nurses lose the chart.
    dispatch.unassign(actor=dispatcher, request_id=req.pk)
    assert access_of(other_nurse, req.patient) is None and access_of(nurse, req.patient) is None


def test_only_dispatchers_plan(dispatcher, assessor, nurse, elder, admin_user):
    req = accepted_request(assessor)
    f.shift(nurse, req.preferred_date, by=dispatcher)
    plan = dispatch.propose(actor=dispatcher, day=req.preferred_date, time_limit=0.3)
    for outsider in (nurse, elder.user, admin_user):
        calls = [
            lambda u=outsider: dispatch.set_shift(actor=u, nurse_id=nurse.pk, day=req.preferred_date,
                                                  starts="08:00", ends="12:00"),
            lambda u=outsider: dispatch.propose(actor=u, day=req.preferred_date),
            lambda u=outsider: dispatch.accept_plan(actor=u, plan_id=plan.pk),
            lambda u=outsider: dispatch.assign(actor=u, request_id=req.pk, nurse_id=nurse.pk, start="09:30"),
            lambda u=outsider: dispatch.unassign(actor=u, request_id=req.pk),
            lambda u=outsider: dispatch.set_second_nurse(actor=u, request_id=req.pk, nurse_id=nurse.pk),
        ]
        for call in calls:
            with pytest.raises(Forbidden) as caught:
                call()
            assert caught.value.code == "not_a_dispatcher"
    req.refresh_from_db()
    assert req.status == RequestStatus.ACCEPTED and not NurseVisit.objects.exists()
    assert Shift.objects.get(nurse=nurse).ends == time(17)
