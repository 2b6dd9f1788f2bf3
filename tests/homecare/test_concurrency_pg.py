"""Races on a real database server, each thread on its own PostgreSQL connection (the conftest hook skips these on
SQLite; test_assessment.py and test_dispatch.py have the same rules step by step): two nurses claiming one
request, two dispatchers giving one nurse two visits at the same time, and two dispatchers accepting one plan."""

from __future__ import annotations

from collections import Counter

import pytest

from ihospital.core.audit import verify_chain
from ihospital.homecare import assessing, dispatch
from ihospital.homecare.models import Assessment, DispatchPlan, NurseVisit, PlanStatus, RequestStatus
from ihospital.records.models import CareRelationship
from tests.helpers import run_in_threads
from tests.homecare import factories as f

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def kinds(results) -> Counter:
    return Counter(kind for kind, _value in results)


def codes(results) -> set:
    return {value for kind, value in results if kind == "domain"}


def test_two_nurses_claiming_one_request_at_once_one_wins():
    elder = f.eligible_patient()
    req = f.booked(elder)
    nurses = [f.home_nurse() for _ in range(2)]

    results = run_in_threads(2, lambda i: assessing.claim(actor=nurses[i], request_id=req.pk).nurse_id)

    assert kinds(results) == {"ok": 1, "domain": 1}, results
    assert codes(results) <= {"stale_status", "invalid_transition"}
    (winner,) = [value for kind, value in results if kind == "ok"]
    req.refresh_from_db()
    assert req.status == RequestStatus.ASSESSING and Assessment.objects.get().nurse_id == winner
    # Only the winner reached the chart.
    assert list(CareRelationship.objects.filter(patient=elder).values_list("clinician_id", flat=True)) == [winner]
    assert verify_chain().ok


def test_two_dispatchers_giving_one_nurse_two_visits_at_the_same_time_one_succeeds():
    assessor, nurse = f.home_nurse(), f.home_nurse()
    requests = [f.accepted(f.booked(f.eligible_patient()), assessor) for _ in range(2)]
    dispatchers = [f.dispatcher() for _ in range(2)]
    f.shift(nurse, requests[0].preferred_date, by=dispatchers[0])

    # 09:30 and 09:45, forty minutes each: either alone fits; both would overlap. The shift row's lock
    # serialises the two checks, so the second sees the first visit.
    starts = ["09:30", "09:45"]
    results = run_in_threads(2, lambda i: dispatch.assign(
        actor=dispatchers[i], request_id=requests[i].pk, nurse_id=nurse.pk, start=starts[i]).request_id)

    assert kinds(results) == {"ok": 1, "domain": 1}, results
    assert codes(results) == {"overlaps_visit"}
    (winner,) = [value for kind, value in results if kind == "ok"]
    assert list(NurseVisit.objects.values_list("request_id", flat=True)) == [winner]
    statuses = {r.pk: r.status for r in type(requests[0]).objects.filter(pk__in=[r.pk for r in requests])}
    assert sorted(statuses.values()) == [RequestStatus.ACCEPTED, RequestStatus.SCHEDULED]
    assert statuses[winner] == RequestStatus.SCHEDULED


def test_two_dispatchers_accepting_one_plan_at_once_one_wins():
    assessor, nurse = f.home_nurse(), f.home_nurse()
    requests = [f.accepted(f.booked(f.eligible_patient(), window=window), assessor)
                for window in (("09:00", "11:00"), ("13:00", "15:00"))]
    dispatchers = [f.dispatcher() for _ in range(2)]
    f.shift(nurse, requests[0].preferred_date, by=dispatchers[0])
    plan = dispatch.propose(actor=dispatchers[0], day=requests[0].preferred_date, time_limit=0.3)
    assert plan.unassigned == {}

    results = run_in_threads(2, lambda i: len(dispatch.accept_plan(actor=dispatchers[i], plan_id=plan.pk)))

    assert kinds(results) == {"ok": 1, "domain": 1}, results
    assert codes(results) <= {"plan_stale", "plan_not_proposed"}
    assert [value for kind, value in results if kind == "ok"] == [2]
    assert DispatchPlan.objects.get().status == PlanStatus.ACCEPTED
    assert NurseVisit.objects.count() == 2 and set(NurseVisit.objects.values_list("plan_id", flat=True)) == {plan.pk}
    assert verify_chain().ok
