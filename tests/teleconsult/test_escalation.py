"""Overdue requests are escalated: level 1 to coordinators at the target, level 2 also to admins at 150%."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ihospital.core.models import AuditEvent
from ihospital.core.periodic import jobs
from ihospital.notifications.models import Notification
from ihospital.teleconsult import escalation, requests, tasks, triage
from ihospital.teleconsult.models import ConsultRequest, Escalation, EscalationKind
from tests.teleconsult.factories import assigned_request, draft_request, in_review_request, submitted_request

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _targets(settings):
    settings.TELECONSULT_TARGETS = {
        "routine": {"first_response": 24 * 60, "report": 72 * 60},
        "urgent": {"first_response": 4 * 60, "report": 24 * 60},
        "emergency": {"first_response": 30, "report": 4 * 60},
    }


def _kinds(req):
    return sorted(req.escalations.values_list("kind", "level"))


def test_nothing_before_the_target(patient, referrer, coordinator):
    req = submitted_request(patient=patient, referrer=referrer, urgency="emergency")
    assert escalation.escalate_due(now=req.submitted_at + timedelta(minutes=29)) == []
    assert not Escalation.objects.exists()


def test_level_1_to_coordinators_then_level_2_also_to_admins(patient, referrer, coordinator, admin_user):
    req = submitted_request(patient=patient, referrer=referrer, urgency="emergency")
    t0 = req.submitted_at
    [first] = escalation.escalate_due(now=t0 + timedelta(minutes=31))
    assert (first.kind, first.level) == (EscalationKind.FIRST_RESPONSE, 1)
    assert first.notified == [coordinator.pk]
    assert Notification.objects.filter(user=coordinator, kind="teleconsult.escalation.first_response.1").exists()
    assert not Notification.objects.filter(user=admin_user).exists()
    assert ConsultRequest.objects.get(pk=req.pk).escalation_level == 1
    assert AuditEvent.objects.filter(object_type="teleconsult.escalation", object_id=str(first.pk)).exists()
    # Once per level: the sweep running again changes nothing.
    assert escalation.escalate_due(now=t0 + timedelta(minutes=40)) == []
    [second] = escalation.escalate_due(now=t0 + timedelta(minutes=46))
    assert second.level == 2 and sorted(second.notified) == sorted([coordinator.pk, admin_user.pk])
    assert Notification.objects.filter(user=admin_user, kind="teleconsult.escalation.first_response.2").exists()
    assert ConsultRequest.objects.get(pk=req.pk).escalation_level == 2
    # Past the report target too (4 h, then 6 h).
    made = escalation.escalate_due(now=t0 + timedelta(hours=7))
    assert sorted((e.kind, e.level) for e in made) == [("report", 1), ("report", 2)]
    assert escalation.escalate_due(now=t0 + timedelta(hours=8)) == []


def test_a_missed_sweep_raises_both_levels_at_once(patient, referrer, coordinator):
    req = submitted_request(patient=patient, referrer=referrer, urgency="urgent")
    made = escalation.escalate_due(now=req.submitted_at + timedelta(hours=7))
    assert sorted((e.kind, e.level) for e in made) == [("first_response", 1), ("first_response", 2)]


def test_an_accepted_request_is_not_escalated_for_the_first_response(patient, referrer, coordinator):
    req = in_review_request(patient=patient, referrer=referrer, coordinator=coordinator, urgency="emergency")
    assert escalation.escalate_due(now=req.submitted_at + timedelta(minutes=50)) == []
    made = escalation.escalate_due(now=req.submitted_at + timedelta(hours=5))
    assert _kinds(req) == [("report", 1)] and len(made) == 1


def test_assigned_but_not_accepted_is_still_overdue(patient, referrer, coordinator):
    req = assigned_request(patient=patient, referrer=referrer, coordinator=coordinator, urgency="emergency")
    assert len(escalation.escalate_due(now=req.submitted_at + timedelta(minutes=31))) == 1


def test_closed_and_unsent_requests_are_never_escalated(patient, referrer, coordinator):
    draft = draft_request(patient=patient, referrer=referrer, urgency="emergency")
    cancelled = submitted_request(patient=patient, referrer=referrer, urgency="emergency")
    requests.cancel(actor=referrer, request_id=cancelled.pk, reason="x")
    returned = submitted_request(patient=patient, referrer=referrer, urgency="emergency")
    triage.return_request(actor=coordinator, request_id=returned.pk, reason="more")
    assert escalation.escalate_due(now=timezone.now() + timedelta(days=10)) == []
    assert not Escalation.objects.filter(request__in=[draft, cancelled, returned]).exists()


def test_one_request_only(patient, referrer, coordinator):
    a = submitted_request(patient=patient, referrer=referrer, urgency="emergency")
    b = submitted_request(patient=patient, referrer=referrer, urgency="emergency")
    made = escalation.escalate_due(now=timezone.now() + timedelta(minutes=31), request_id=a.pk)
    assert {e.request_id for e in made} == {a.pk}
    assert not b.escalations.exists()


def test_the_timed_task_and_the_sweep(patient, referrer, coordinator):
    req = submitted_request(patient=patient, referrer=referrer, urgency="emergency")
    ConsultRequest.objects.filter(pk=req.pk).update(first_response_due=timezone.now() - timedelta(minutes=1),
                                                    submitted_at=timezone.now() - timedelta(minutes=31))
    assert tasks.escalate_request.call(req.pk) == 1
    assert tasks.escalate_request.call(req.pk) == 0
    ConsultRequest.objects.filter(pk=req.pk).update(submitted_at=timezone.now() - timedelta(minutes=100),
                                                    first_response_due=timezone.now() - timedelta(minutes=70))
    assert tasks.escalate_overdue.call() == 1
    assert "teleconsult.escalate_overdue" in jobs()
    assert jobs()["teleconsult.escalate_overdue"].every == timedelta(minutes=5)


def test_due_times(patient, referrer):
    req = submitted_request(patient=patient, referrer=referrer, urgency="urgent")
    t0 = req.submitted_at
    assert escalation.due_times(req) == [
        ("first_response", 1, t0 + timedelta(hours=4)), ("first_response", 2, t0 + timedelta(hours=6)),
        ("report", 1, t0 + timedelta(hours=24)), ("report", 2, t0 + timedelta(hours=36)),
    ]
    assert escalation.due_times(draft_request(patient=patient, referrer=referrer)) == []


def test_overdue_q(patient, referrer):
    req = submitted_request(patient=patient, referrer=referrer, urgency="emergency")
    later = req.submitted_at + timedelta(minutes=31)
    assert list(ConsultRequest.objects.filter(escalation.overdue_q(later))) == [req]
    assert not ConsultRequest.objects.filter(escalation.overdue_q(req.submitted_at)).exists()
