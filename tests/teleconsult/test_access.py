"""Who sees a consultation: an expert only the cases assigned to them (while consent stands), a referring doctor
only their own requests, the patient (and proxies) their own, coordinators and admins every sent request. Anyone
else gets 404, audited."""

from __future__ import annotations

import pytest

from ihospital.accounts import services as accounts
from ihospital.core.errors import NotFound
from ihospital.core.models import AuditEvent, AuditOutcome
from ihospital.teleconsult import requests, selectors, triage
from ihospital.teleconsult.models import Assignment, Attachment, ConsultSession
from tests.factories import PatientFactory, PractitionerFactory, StaffUserFactory
from tests.teleconsult.factories import (
    ExpertFactory,
    PartnerDoctorFactory,
    assigned_request,
    draft_request,
    in_review_request,
    submitted_request,
)

pytestmark = pytest.mark.django_db


def _role(user, req):
    try:
        return selectors.request_for(user, req.pk)[1]
    except NotFound:
        return None


def test_an_expert_sees_only_cases_assigned_to_them(patient, referrer, coordinator, expert, expert2, cardiology):
    mine = assigned_request(patient=patient, referrer=referrer, coordinator=coordinator, lead=expert)
    theirs = assigned_request(patient=patient, referrer=referrer, coordinator=coordinator, lead=expert2)
    colleague = ExpertFactory(departments=[cardiology]).user  # same department, not assigned
    assert _role(expert, mine) == "expert" and _role(expert, theirs) is None
    assert _role(colleague, mine) is None
    assert list(selectors.assigned_to(expert)) == [mine]
    assert set(selectors.visible(expert)) == {mine}
    assert list(selectors.assigned_to(colleague)) == []
    denied = AuditEvent.objects.filter(actor=colleague, outcome=AuditOutcome.DENIED,
                                       object_type="teleconsult.consultrequest", object_id=str(mine.pk))
    assert denied.exists()


def test_an_expert_loses_the_case_when_their_assignment_ends(patient, referrer, coordinator, expert, expert2):
    req = assigned_request(patient=patient, referrer=referrer, coordinator=coordinator, lead=expert,
                           members=[expert2])
    triage.decline_assignment(actor=expert2, request_id=req.pk, reason="忙")
    assert _role(expert2, req) is None
    triage.withdraw_assignment(actor=coordinator, assignment_id=Assignment.objects.get(expert=expert).pk,
                               reason="换人")
    assert _role(expert, req) is None
    assert list(selectors.assigned_to(expert)) == []


def test_experts_see_nothing_once_consent_is_withdrawn(patient, referrer, coordinator, expert):
    req = in_review_request(patient=patient, referrer=referrer, coordinator=coordinator, lead=expert)
    assert _role(expert, req) == "expert"
    accounts.withdraw_consent(actor=patient.user, consent_id=req.consent_id)
    assert _role(expert, req) is None
    assert list(selectors.assigned_to(expert)) == []
    assert _role(referrer, req) == "referrer"  # the referrer's own request stays theirs


def test_a_referring_doctor_sees_only_their_own_requests(patient, referrer, coordinator):
    mine = submitted_request(patient=patient, referrer=referrer)
    colleague = PartnerDoctorFactory(patients=[patient], facility=referrer.practitioner.facility).user
    theirs = submitted_request(patient=patient, referrer=colleague)
    assert _role(referrer, mine) == "referrer" and _role(referrer, theirs) is None
    assert list(selectors.referred_by(referrer)) == [mine]
    assert set(selectors.visible(referrer)) == {mine}


def test_the_patient_and_proxies_see_their_own_and_strangers_do_not(patient, referrer, relative):
    req = draft_request(patient=patient, referrer=referrer)
    other = PatientFactory()
    assert _role(patient.user, req) == "patient" and _role(relative, req) == "patient"
    assert _role(other.user, req) is None
    assert list(selectors.of_patients(patient.user)) == [req]
    assert list(selectors.of_patients(other.user)) == []


def test_coordinators_and_admins_see_sent_requests_not_drafts(patient, referrer, coordinator, admin_user):
    draft = draft_request(patient=patient, referrer=referrer)
    sent = submitted_request(patient=patient, referrer=referrer)
    assert _role(coordinator, draft) is None and _role(admin_user, draft) is None
    assert _role(coordinator, sent) == "coordinator" and _role(admin_user, sent) == "admin"
    assert list(selectors.board(coordinator)) == [sent]
    assert list(selectors.board(referrer)) == []


def test_other_staff_and_unknown_ids_get_404(patient, referrer):
    req = submitted_request(patient=patient, referrer=referrer)
    for user in (PractitionerFactory().user, StaffUserFactory(role="nurse"), StaffUserFactory(role="auditor")):
        assert _role(user, req) is None
    with pytest.raises(NotFound):
        selectors.request_for(referrer, 999999)
    with pytest.raises(NotFound):
        selectors.request_for(referrer, "abc")


def test_roles_restrict_what_a_visible_request_allows(patient, referrer, coordinator):
    req = submitted_request(patient=patient, referrer=referrer)
    with pytest.raises(NotFound):
        selectors.request_for(patient.user, req.pk, roles=("referrer",))
    # Services refuse the other roles the same way.
    with pytest.raises(NotFound):
        requests.cancel(actor=patient.user, request_id=req.pk, reason="x")
    with pytest.raises(NotFound):
        triage.return_request(actor=patient.user, request_id=req.pk, reason="x")


def test_attachments_follow_their_request(patient, referrer, coordinator, expert, expert2):
    from ihospital.records.models import Document

    req = draft_request(patient=patient, referrer=referrer)
    doc = Document.objects.create(patient=patient, recorded_by=referrer, kind="other", title="x", original_name="x",
                                  storage_name="acc-1", content_type="application/pdf", size=1, sha256="0" * 64)
    att = requests.attach(actor=referrer, request_id=req.pk, kind="document", target_id=doc.pk)
    req = assigned_request(patient=patient, referrer=referrer, coordinator=coordinator, lead=expert)
    Attachment.objects.filter(pk=att.pk).update(request=req)
    assert selectors.attachment_for(expert, att.pk)[1] == "expert"
    with pytest.raises(NotFound):
        selectors.attachment_for(expert2, att.pk)
    Attachment.objects.filter(pk=att.pk).update(removed_at="2026-01-01T00:00:00Z")
    with pytest.raises(NotFound):
        selectors.attachment_for(expert, att.pk)


def test_sessions_are_for_participants_and_the_patient_only_when_invited(patient, referrer, coordinator, expert,
                                                                          expert2):
    from django.utils import timezone

    req = in_review_request(patient=patient, referrer=referrer, coordinator=coordinator, lead=expert)
    session = ConsultSession.objects.create(request=req, starts_at=timezone.now(), created_by=coordinator)
    assert selectors.session_for(referrer, session.pk)[1] == "referrer"
    assert selectors.session_for(expert, session.pk)[1] == "expert"
    for user in (patient.user, coordinator, expert2):
        with pytest.raises(NotFound):
            selectors.session_for(user, session.pk)
    ConsultSession.objects.filter(pk=session.pk).update(include_patient=True)
    assert selectors.session_for(patient.user, session.pk)[1] == "patient"
