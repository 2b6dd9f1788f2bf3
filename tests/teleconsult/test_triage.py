"""Triage: the coordinator assigns a lead and team members or returns the request; experts accept or decline."""

from __future__ import annotations

import pytest
from django.utils import translation

from ihospital.core.errors import Conflict, DomainError, NotFound
from ihospital.core.models import TimelineEvent
from ihospital.directory.models import Title
from ihospital.notifications.models import Notification
from ihospital.teleconsult import requests, triage
from ihospital.teleconsult.models import Assignment, ConsultRequest, Status
from tests.factories import DepartmentFactory, PractitionerFactory
from tests.teleconsult.factories import (
    ExpertFactory,
    PartnerDoctorFactory,
    assigned_request,
    draft_request,
    in_review_request,
    submitted_request,
)

pytestmark = pytest.mark.django_db


def _status(req):
    return ConsultRequest.objects.get(pk=req.pk).status


def test_the_coordinator_assigns_a_lead_then_members(patient, referrer, coordinator, expert, expert2, cardiology):
    req = submitted_request(patient=patient, referrer=referrer, department=cardiology)
    lead = triage.assign(actor=coordinator, request_id=req.pk, expert_id=expert.pk, role="lead")
    assert lead.role == "lead" and lead.assigned_by == coordinator and lead.accepted_at is None
    assert _status(req) == Status.ASSIGNED
    neurologist = ExpertFactory(departments=[DepartmentFactory()]).user
    triage.assign(actor=coordinator, request_id=req.pk, expert_id=expert2.pk, role="member")
    triage.assign(actor=coordinator, request_id=req.pk, expert_id=neurologist.pk, role="member")
    assert Assignment.objects.filter(request=req, ended_at__isnull=True).count() == 3
    assert Notification.objects.filter(user=expert, kind=f"teleconsult.assigned.{lead.pk}").exists()
    assert TimelineEvent.objects.filter(object_id=str(req.pk), to_status=Status.ASSIGNED).count() == 1


def test_assignment_rules(patient, referrer, coordinator, expert, expert2):
    req = submitted_request(patient=patient, referrer=referrer)
    with pytest.raises(DomainError) as e:
        triage.assign(actor=coordinator, request_id=req.pk, expert_id=expert2.pk, role="member")
    assert e.value.code == "lead_first"
    with pytest.raises(DomainError) as e:
        triage.assign(actor=coordinator, request_id=req.pk, expert_id=expert.pk, role="boss")
    assert e.value.code == "invalid_role"
    for not_expert in (PractitionerFactory(title=Title.ATTENDING).user, referrer, coordinator,
                       PartnerDoctorFactory(title=Title.CHIEF).user):
        with pytest.raises(DomainError) as e:
            triage.assign(actor=coordinator, request_id=req.pk, expert_id=not_expert.pk)
        assert e.value.code == "not_an_expert"
    with pytest.raises(DomainError) as e:
        triage.assign(actor=coordinator, request_id=req.pk, expert_id="nope")
    assert e.value.code == "not_an_expert"
    triage.assign(actor=coordinator, request_id=req.pk, expert_id=expert.pk)
    with pytest.raises(Conflict) as e:
        triage.assign(actor=coordinator, request_id=req.pk, expert_id=expert2.pk, role="lead")
    assert e.value.code == "lead_exists"
    with pytest.raises(Conflict) as e:
        triage.assign(actor=coordinator, request_id=req.pk, expert_id=expert.pk, role="member")
    assert e.value.code == "already_assigned"
    assert Assignment.objects.filter(request=req).count() == 1


def test_only_coordinators_assign_and_only_sent_requests(patient, referrer, coordinator, expert, admin_user):
    draft = draft_request(patient=patient, referrer=referrer)
    with pytest.raises(NotFound):  # drafts are the referrer's own
        triage.assign(actor=coordinator, request_id=draft.pk, expert_id=expert.pk)
    req = submitted_request(patient=patient, referrer=referrer)
    for user in (referrer, expert, admin_user, patient.user):
        with pytest.raises(NotFound):
            triage.assign(actor=user, request_id=req.pk, expert_id=expert.pk)
    with pytest.raises(NotFound):
        triage.assign(actor=coordinator, request_id=999999, expert_id=expert.pk)
    requests.cancel(actor=referrer, request_id=req.pk, reason="x")
    with pytest.raises(Conflict) as e:
        triage.assign(actor=coordinator, request_id=req.pk, expert_id=expert.pk)
    assert e.value.code == "not_assignable"
    assert not Assignment.objects.exists()


def test_return_for_more_information(patient, referrer, coordinator):
    req = submitted_request(patient=patient, referrer=referrer)
    with pytest.raises(DomainError) as e:
        triage.return_request(actor=coordinator, request_id=req.pk, reason="")
    assert e.value.code == "reason_required"
    with pytest.raises(NotFound):
        triage.return_request(actor=referrer, request_id=req.pk, reason="x")
    triage.return_request(actor=coordinator, request_id=req.pk, reason="缺少心电图")
    req.refresh_from_db()
    assert req.status == Status.RETURNED and req.return_reason == "缺少心电图"
    assert Notification.objects.filter(user=referrer, kind__startswith="teleconsult.returned").exists()
    with pytest.raises(Conflict) as e:
        triage.return_request(actor=coordinator, request_id=req.pk, reason="again")
    assert e.value.code == "not_returnable"


def test_an_assigned_request_cannot_be_returned(patient, referrer, coordinator):
    req = assigned_request(patient=patient, referrer=referrer, coordinator=coordinator)
    with pytest.raises(Conflict):
        triage.return_request(actor=coordinator, request_id=req.pk, reason="x")


def test_accepting_is_the_first_response_and_starts_the_review(patient, referrer, coordinator, expert, expert2):
    req = assigned_request(patient=patient, referrer=referrer, coordinator=coordinator, lead=expert,
                           members=[expert2])
    a = triage.accept_assignment(actor=expert2, request_id=req.pk)
    req.refresh_from_db()
    assert a.accepted_at is not None and req.status == Status.IN_REVIEW
    assert req.first_response_at == a.accepted_at
    b = triage.accept_assignment(actor=expert, request_id=req.pk)
    req.refresh_from_db()
    assert req.first_response_at == a.accepted_at < b.accepted_at
    with pytest.raises(Conflict) as e:
        triage.accept_assignment(actor=expert, request_id=req.pk)
    assert e.value.code == "already_accepted"
    assert Notification.objects.filter(user=referrer, kind__startswith="teleconsult.accepted").exists()


def test_only_assigned_experts_accept(patient, referrer, coordinator, expert, expert2):
    req = assigned_request(patient=patient, referrer=referrer, coordinator=coordinator, lead=expert)
    for user in (expert2, referrer, coordinator):
        with pytest.raises(NotFound):
            triage.accept_assignment(actor=user, request_id=req.pk)
    assert _status(req) == Status.ASSIGNED


def test_when_every_expert_declines_the_request_goes_back_to_triage(patient, referrer, coordinator, expert, expert2):
    req = assigned_request(patient=patient, referrer=referrer, coordinator=coordinator, lead=expert,
                           members=[expert2])
    with pytest.raises(DomainError) as e:
        triage.decline_assignment(actor=expert, request_id=req.pk, reason=" ")
    assert e.value.code == "reason_required"
    with translation.override("en"):
        lead = triage.decline_assignment(actor=expert, request_id=req.pk, reason="出差")
    assert lead.ended_at is not None and lead.end_reason == "出差"
    assert _status(req) == Status.ASSIGNED
    assert Notification.objects.filter(user=coordinator, kind=f"teleconsult.left.{lead.pk}").exists()
    assert "lead" in Notification.objects.get(user=coordinator, kind=f"teleconsult.left.{lead.pk}").title
    # The coordinator must name a new lead before more members.
    third = ExpertFactory().user
    with pytest.raises(DomainError) as e:
        triage.assign(actor=coordinator, request_id=req.pk, expert_id=third.pk, role="member")
    assert e.value.code == "lead_first"
    triage.decline_assignment(actor=expert2, request_id=req.pk, reason="不是我的专业")
    assert _status(req) == Status.SUBMITTED
    # The declined expert no longer sees the case.
    with pytest.raises(NotFound):
        triage.accept_assignment(actor=expert, request_id=req.pk)
    # And can be assigned again.
    triage.assign(actor=coordinator, request_id=req.pk, expert_id=expert.pk)
    assert _status(req) == Status.ASSIGNED


def test_the_coordinator_withdraws_an_expert(patient, referrer, coordinator, expert, expert2):
    req = assigned_request(patient=patient, referrer=referrer, coordinator=coordinator, lead=expert,
                           members=[expert2])
    member = Assignment.objects.get(request=req, expert=expert2)
    with pytest.raises(NotFound):
        triage.withdraw_assignment(actor=expert, assignment_id=member.pk, reason="x")
    with pytest.raises(NotFound):
        triage.withdraw_assignment(actor=coordinator, assignment_id=999999, reason="x")
    with pytest.raises(DomainError):
        triage.withdraw_assignment(actor=coordinator, assignment_id=member.pk, reason="")
    triage.withdraw_assignment(actor=coordinator, assignment_id=member.pk, reason="换人")
    member.refresh_from_db()
    assert member.ended_at is not None and member.end_reason == "换人"
    assert Notification.objects.filter(user=expert2, kind=f"teleconsult.withdrawn.{member.pk}").exists()
    with pytest.raises(Conflict) as e:
        triage.withdraw_assignment(actor=coordinator, assignment_id=member.pk, reason="again")
    assert e.value.code == "already_ended"
    lead = Assignment.objects.get(request=req, expert=expert)
    triage.withdraw_assignment(actor=coordinator, assignment_id=lead.pk, reason="换人")
    assert _status(req) == Status.SUBMITTED


def test_an_expert_who_accepted_may_give_the_case_back(patient, referrer, coordinator, expert, expert2):
    req = in_review_request(patient=patient, referrer=referrer, coordinator=coordinator, lead=expert)
    triage.decline_assignment(actor=expert, request_id=req.pk, reason="病假")
    # The review stays open for a new lead.
    assert _status(req) == Status.IN_REVIEW
    triage.assign(actor=coordinator, request_id=req.pk, expert_id=expert2.pk, role="lead")
    triage.accept_assignment(actor=expert2, request_id=req.pk)


def test_the_expert_picker(cardiology, expert, expert2):
    other = ExpertFactory(departments=[DepartmentFactory()]).user
    PractitionerFactory(departments=[cardiology], title=Title.ATTENDING)  # not senior enough
    PartnerDoctorFactory(title=Title.CHIEF)  # not at the home hospital
    ExpertFactory(departments=[cardiology], verified_at=None)  # not verified
    assert set(triage.experts()) == {expert, expert2, other}
    assert set(triage.experts(department_id=cardiology.pk)) == {expert, expert2}
    assert list(triage.experts(department_id="x")) == []
