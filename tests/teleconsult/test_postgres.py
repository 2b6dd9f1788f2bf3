"""Races on a real database server, each thread on its own PostgreSQL connection (skipped on SQLite; the rules
are tested step by step in test_triage.py, test_requests.py and test_escalation.py): two coordinators naming a
lead at once, a double submit, two drafts numbered at once, two escalation sweeps at once."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from ihospital.core.audit import verify_chain
from ihospital.core.models import TimelineEvent
from ihospital.teleconsult import escalation, requests, triage
from ihospital.teleconsult.models import Assignment, ConsultRequest, Escalation, Status
from tests.factories import PatientFactory
from tests.helpers import run_in_threads
from tests.teleconsult.factories import (
    CoordinatorFactory,
    ExpertFactory,
    PartnerDoctorFactory,
    consented,
    draft_request,
    submitted_request,
    tariffs_for,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def kinds(results) -> Counter:
    return Counter(kind for kind, _value in results)


def codes(results) -> set:
    return {value for kind, value in results if kind == "domain"}


def test_two_coordinators_naming_a_lead_at_once_one_wins():
    req = submitted_request()
    coordinators = [CoordinatorFactory() for _ in range(2)]
    experts = [ExpertFactory().user for _ in range(2)]

    results = run_in_threads(2, lambda i: triage.assign(actor=coordinators[i], request_id=req.pk,
                                                        expert_id=experts[i].pk, role="lead").expert_id)

    assert kinds(results) == {"ok": 1, "domain": 1}, results
    assert codes(results) == {"lead_exists"}
    (winner,) = [value for kind, value in results if kind == "ok"]
    assert list(Assignment.objects.filter(request=req).values_list("expert_id", "role")) == [(winner, "lead")]
    req.refresh_from_db()
    assert req.status == Status.ASSIGNED
    assert TimelineEvent.objects.filter(object_id=str(req.pk), to_status=Status.ASSIGNED).count() == 1
    assert verify_chain().ok


def test_the_same_expert_assigned_twice_at_once_is_assigned_once():
    req = submitted_request()
    coordinators = [CoordinatorFactory() for _ in range(2)]
    expert = ExpertFactory().user

    results = run_in_threads(2, lambda i: triage.assign(actor=coordinators[i], request_id=req.pk,
                                                        expert_id=expert.pk, role="lead").pk)

    assert kinds(results) == {"ok": 1, "domain": 1}, results
    assert codes(results) <= {"already_assigned", "lead_exists"}
    assert Assignment.objects.filter(request=req).count() == 1


def test_a_double_submit_sends_once():
    req = consented(draft_request())
    tariffs_for(req.referring_facility)
    CoordinatorFactory()

    results = run_in_threads(2, lambda i: requests.submit(actor=req.referring_doctor, request_id=req.pk).status)

    assert kinds(results) == {"ok": 1, "domain": 1}, results
    assert codes(results) <= {"not_editable", "stale_status"}
    req.refresh_from_db()
    assert req.status == Status.SUBMITTED
    assert TimelineEvent.objects.filter(object_id=str(req.pk), to_status=Status.SUBMITTED).count() == 1
    from django_tasks_db.models import DBTaskResult

    assert DBTaskResult.objects.filter(task_path="ihospital.teleconsult.tasks.escalate_request",
                                       args_kwargs__args=[req.pk]).count() == 4
    assert verify_chain().ok


def test_drafts_created_at_once_get_distinct_numbers():
    patients = [PatientFactory() for _ in range(3)]
    doctors = [PartnerDoctorFactory(patients=[p]).user for p in patients]

    results = run_in_threads(3, lambda i: requests.create_request(
        actor=doctors[i], patient_id=patients[i].pk, question="q", summary="s", urgency="routine",
        mode="async").number)

    assert kinds(results) == {"ok": 3}, results
    numbers = sorted(value for _kind, value in results)
    prefix = f"TC{timezone.localdate():%Y%m%d}-"
    assert numbers == [f"{prefix}0001", f"{prefix}0002", f"{prefix}0003"]
    assert ConsultRequest.objects.count() == 3


def test_two_sweeps_at_once_escalate_once():
    req = submitted_request(urgency="emergency")
    CoordinatorFactory()
    later = req.submitted_at + timedelta(minutes=50)

    results = run_in_threads(2, lambda i: len(escalation.escalate_due(now=later)))

    assert kinds(results) == {"ok": 2}, results
    assert sorted(value for _kind, value in results) == [0, 2]
    assert sorted(Escalation.objects.filter(request=req).values_list("level", flat=True)) == [1, 2]
    assert ConsultRequest.objects.get(pk=req.pk).escalation_level == 2
