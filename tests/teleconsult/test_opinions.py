"""Opinions, the signed report and its acknowledgement: who may write and sign, the second factor, versions of a
submitted opinion, the digest, and what the referring doctor and the patient are told."""

from __future__ import annotations

import pytest
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from ihospital.accounts.models import User
from ihospital.core.errors import DomainError, NotFound
from ihospital.core.models import AuditAction, AuditEvent
from ihospital.core.transitions import timeline
from ihospital.notifications.models import Notification
from ihospital.teleconsult import opinions, realtime
from ihospital.teleconsult.models import ConsultRequest, Opinion, Report, Status
from tests.factories import PatientFactory
from tests.helpers import current_code, wrong_code
from tests.teleconsult.factories import (
    CoordinatorFactory,
    ExpertFactory,
    PartnerDoctorFactory,
    device_of,
    in_review_request,
)

pytestmark = pytest.mark.django_db


# ---- a request under review ---------------------------------------------------------------------------------


def under_review(*, members: int = 0, accepted: bool = True) -> ConsultRequest:
    """A request under review, through the real services (draft, consent, submit, assign, accept): an accepted
    lead and ``members`` team members (accepted when ``accepted``)."""
    return in_review_request(members=[ExpertFactory().user for _ in range(members)], accept_all=accepted)


def lead_of(request):
    return request.assignments.get(ended_at__isnull=True, role="lead").expert


def members_of(request):
    return [a.expert for a in request.assignments.filter(ended_at__isnull=True, role="member")]


def code_of(user) -> str:
    """The authenticator's current code, usable again within the same 30-second step."""
    TOTPDevice.objects.filter(user=user).update(last_t=-1, throttling_failure_count=0,
                                                throttling_failure_timestamp=None)
    return current_code(device_of(user))


def refused(code: str, fn, /, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as caught:
        fn(*args, **kwargs)
    assert caught.value.code == code, (caught.value.code, str(caught.value.message))
    return caught.value


def write(user, request, *, submit=True, diagnoses=("I25.1",), impression="稳定型冠心病", **kw):
    return opinions.save_opinion(actor=user, request_id=request.pk, findings=kw.get("findings", "ST段压低"),
                                 impression=impression, diagnoses=list(diagnoses),
                                 recommendations=kw.get("recommendations", "建议冠脉造影"), submit=submit)


def sign(user, request, *, otp_code=None, diagnoses=("I25.1", "I10"), **kw):
    values = {"findings": "心电图ST段压低", "impression": "冠心病，稳定型心绞痛",
              "recommendations": "建议择期冠脉造影，继续阿司匹林", **kw}
    return opinions.sign_report(actor=user, request_id=request.pk, diagnoses=list(diagnoses),
                                otp_code=code_of(user) if otp_code is None else otp_code, **values)


@pytest.fixture
def changes(monkeypatch):
    """The requests whose open pages were told to re-read."""
    seen = []
    original = realtime.request_changed

    def spy(request, *, what="request"):
        seen.append((request.pk, what, request.status))
        original(request, what=what)

    monkeypatch.setattr(realtime, "request_changed", spy)
    return seen


# ---- opinions -----------------------------------------------------------------------------------------------


def test_an_accepted_expert_saves_a_draft_then_submits_it(changes):
    request = under_review()
    lead = lead_of(request)

    draft = write(lead, request, submit=False, diagnoses=["i10", " E11.9 ", "I10", ""])

    assert draft.version == 1 and draft.submitted_at is None and draft.superseded_at is None
    assert [d["code"] for d in draft.diagnoses] == ["I10", "E11.9"]  # normalised, repeats once, blanks skipped
    assert all(d["display"] for d in draft.diagnoses)
    assert AuditEvent.objects.filter(action=AuditAction.CREATE, object_type="teleconsult.opinion",
                                     object_id=str(draft.pk), patient_id=request.patient_id).exists()

    submitted = write(lead, request, impression="高血压病", diagnoses=["I10"])

    assert submitted.pk == draft.pk and submitted.version == 1  # a draft is updated in place
    assert submitted.submitted_at is not None and submitted.impression == "高血压病"
    assert Opinion.objects.filter(request=request).count() == 1
    assert (request.pk, "opinion", Status.IN_REVIEW) in changes


def test_editing_a_submitted_opinion_makes_a_new_version(changes):
    request = under_review()
    lead = lead_of(request)
    first = write(lead, request)

    second = write(lead, request, submit=False, impression="修改后的印象")

    first.refresh_from_db()
    assert first.superseded_at is not None and first.submitted_at is not None
    assert first.impression == "稳定型冠心病"  # the submitted text is never changed
    assert (second.version, second.submitted_at, second.superseded_at) == (2, None, None)
    assert list(opinions.current_opinions(request)) == [second]
    # The new version must be submitted again before the lead can sign.
    assert opinions.missing_opinions(request) == [lead]
    third = write(lead, request, impression="再次提交")
    assert third.pk == second.pk and third.submitted_at is not None
    assert opinions.missing_opinions(request) == []


def test_a_member_submitting_tells_the_lead():
    request = under_review(members=1)
    member = members_of(request)[0]

    write(member, request)

    lead = lead_of(request)
    note = Notification.objects.get(user=lead, kind__startswith="teleconsult.opinion")
    assert note.link == f"/teleconsult/requests/{request.pk}/"
    assert request.number in note.body


def test_icd10_codes_are_checked():
    request = under_review()
    lead = lead_of(request)

    error = refused("invalid_icd10", write, lead, request, diagnoses=["I10", "XYZ"])

    assert "XYZ" in str(error.message) and list(error.fields) == ["diagnoses"]
    assert not Opinion.objects.exists()
    refused("invalid_icd10", write, lead, request, diagnoses=["I00-I99"])  # a block is not a diagnosis


def test_diagnoses_may_come_as_one_string():
    request = under_review()
    opinion = opinions.save_opinion(actor=lead_of(request), request_id=request.pk, findings="", impression="x",
                                    diagnoses="I10，E11.9; J45", recommendations="")
    assert [d["code"] for d in opinion.diagnoses] == ["I10", "E11.9", "J45"]


def test_submitting_needs_an_impression():
    request = under_review()
    refused("impression_required", write, lead_of(request), request, impression="  ")
    assert not Opinion.objects.exists()
    write(lead_of(request), request, impression="", submit=False)  # a draft may be incomplete


def test_an_expert_who_has_not_accepted_cannot_write():
    request = under_review(members=1, accepted=False)
    member = members_of(request)[0]

    refused("not_accepted", write, member, request)

    assert not Opinion.objects.exists()


def test_only_the_experts_on_the_case_write(changes):
    request = under_review()
    stranger = ExpertFactory(departments=[request.department]).user  # same department, not assigned
    changes.clear()
    for user in (stranger, request.referring_doctor, CoordinatorFactory(), request.patient.user):
        with pytest.raises(NotFound):
            write(user, request)
    with pytest.raises(NotFound):
        opinions.save_opinion(actor=lead_of(request), request_id=999999, findings="", impression="x",
                              diagnoses=[], recommendations="")
    assert not Opinion.objects.exists()
    assert changes == []
    assert AuditEvent.objects.filter(outcome="denied", object_id=str(request.pk)).count() == 4


def test_an_expert_whose_assignment_ended_no_longer_writes():
    request = under_review()
    lead = lead_of(request)
    request.assignments.update(ended_at=timezone.now(), end_reason="withdrawn")
    with pytest.raises(NotFound):
        write(lead, request)


def test_withdrawn_consent_closes_the_case_to_the_experts():
    request = under_review()
    request.consent.withdrawn_at = timezone.now()
    request.consent.save()
    with pytest.raises(NotFound):
        write(lead_of(request), request)


@pytest.mark.parametrize("status", [Status.ASSIGNED, Status.REPORTED, Status.CANCELLED])
def test_opinions_are_written_only_under_review(status):
    request = under_review()
    ConsultRequest.objects.filter(pk=request.pk).update(status=status)
    refused("not_in_review", write, lead_of(request), request)


# ---- signing the report -------------------------------------------------------------------------------------


def test_the_lead_signs_the_report_with_a_fresh_code(changes):
    patient_user_before = Notification.objects.count()
    request = under_review(members=1)
    lead, member = lead_of(request), members_of(request)[0]
    write(lead, request)
    write(member, request, diagnoses=["I10"])

    report = sign(lead, request)

    request.refresh_from_db()
    assert request.status == Status.REPORTED and request.reported_at == report.signed_at
    assert report.lead == lead and [d["code"] for d in report.diagnoses] == ["I25.1", "I10"]
    assert len(report.digest) == 64 and opinions.verify_digest(report)
    stored = Report.objects.get(pk=report.pk)
    assert opinions.verify_digest(stored)  # the digest holds after a round trip through the database
    event = timeline(request).last()
    assert (event.from_status, event.to_status, event.actor_id) == (Status.IN_REVIEW, Status.REPORTED, lead.pk)
    assert AuditEvent.objects.filter(action=AuditAction.CREATE, object_type="teleconsult.report",
                                     object_id=str(report.pk), detail__digest=report.digest).exists()
    # The referring doctor and the patient are told, with a link and no clinical detail.
    referrer_note = Notification.objects.get(user=request.referring_doctor, kind="teleconsult.reported")
    patient_note = Notification.objects.get(user=request.patient.user, kind="teleconsult.reported")
    for note in (referrer_note, patient_note):
        assert note.link == f"/teleconsult/requests/{request.pk}/"
        assert "冠心病" not in note.title + note.body
    assert Notification.objects.count() > patient_user_before
    assert (request.pk, "report", Status.REPORTED) in changes


def test_changing_a_signed_report_breaks_its_digest():
    request = under_review()
    lead = lead_of(request)
    write(lead, request)
    report = sign(lead, request)

    Report.objects.filter(pk=report.pk).update(recommendations="无需处理")

    assert not opinions.verify_digest(Report.objects.get(pk=report.pk))


def test_only_the_lead_signs():
    request = under_review(members=1)
    lead, member = lead_of(request), members_of(request)[0]
    write(lead, request)
    write(member, request)

    error = refused("not_lead", sign, member, request)

    assert error.status == 403
    assert not Report.objects.exists()
    for user in (request.referring_doctor, CoordinatorFactory(), ExpertFactory().user):
        with pytest.raises(NotFound):
            sign(user, request, otp_code="123456")


def test_every_accepted_expert_must_have_submitted(changes):
    request = under_review(members=1)
    lead, member = lead_of(request), members_of(request)[0]
    write(lead, request)
    write(member, request, submit=False)  # a draft does not count

    error = refused("opinions_missing", sign, lead, request)

    assert error.status == 409 and str(member.pk) in error.fields
    assert member.real_name in str(error.message)
    request.refresh_from_db()
    assert request.status == Status.IN_REVIEW and not Report.objects.exists()
    # The code was not spent: the refusal came before it.
    assert User.objects.get(pk=lead.pk).failed_logins == 0


def test_the_lead_must_have_written_an_opinion_too():
    request = under_review()
    refused("opinions_missing", sign, lead_of(request), request)


def test_a_member_who_has_not_accepted_does_not_hold_up_the_report():
    request = under_review(members=1, accepted=False)
    lead = lead_of(request)
    write(lead, request)
    assert sign(lead, request).pk


def test_signing_needs_the_second_factor():
    request = under_review()
    lead = lead_of(request)
    write(lead, request)

    assert refused("second_factor_required", sign, lead, request, otp_code="").status == 401
    error = refused("invalid_second_factor", sign, lead, request, otp_code=wrong_code(device_of(lead)))

    assert error.status == 401
    assert User.objects.get(pk=lead.pk).failed_logins == 1  # counted, though nothing was signed
    request.refresh_from_db()
    assert request.status == Status.IN_REVIEW and request.reported_at is None
    assert not Report.objects.exists()
    assert not Notification.objects.filter(kind="teleconsult.reported").exists()


def test_the_report_needs_an_impression_and_recommendations():
    request = under_review()
    lead = lead_of(request)
    write(lead, request)
    refused("impression_required", sign, lead, request, impression=" ")
    refused("recommendations_required", sign, lead, request, recommendations="")
    refused("invalid_icd10", sign, lead, request, diagnoses=["Q99.99"])
    assert not Report.objects.exists()
    assert User.objects.get(pk=lead.pk).failed_logins == 0


def test_a_report_is_signed_once():
    request = under_review()
    lead = lead_of(request)
    write(lead, request)
    sign(lead, request)

    refused("not_in_review", sign, lead, request)
    refused("not_in_review", write, lead, request)  # no more opinions once reported
    assert Report.objects.count() == 1


# ---- acknowledging ------------------------------------------------------------------------------------------


def reported() -> ConsultRequest:
    request = under_review()
    lead = lead_of(request)
    write(lead, request)
    sign(lead, request)
    request.refresh_from_db()
    return request


def test_the_referring_doctor_acknowledges_the_report(changes):
    request = reported()

    report = opinions.acknowledge(actor=request.referring_doctor, request_id=request.pk)

    request.refresh_from_db()
    assert request.status == Status.ACKNOWLEDGED and request.acknowledged_at is not None
    stored = Report.objects.get(pk=report.pk)
    assert stored.acknowledged_by == request.referring_doctor and stored.acknowledged_at == request.acknowledged_at
    assert opinions.verify_digest(stored)  # acknowledging is not part of what was signed
    assert Notification.objects.filter(user=report.lead, kind="teleconsult.acknowledged").exists()
    assert timeline(request).last().to_status == Status.ACKNOWLEDGED
    assert (request.pk, "report", Status.ACKNOWLEDGED) in changes

    refused("already_acknowledged", opinions.acknowledge, actor=request.referring_doctor, request_id=request.pk)


def test_nothing_to_acknowledge_before_the_report():
    request = under_review()
    refused("not_reported", opinions.acknowledge, actor=request.referring_doctor, request_id=request.pk)


def test_only_the_referring_doctor_acknowledges():
    request = reported()
    other_partner_doctor = PartnerDoctorFactory(patients=[request.patient]).user
    for user in (lead_of(request), request.patient.user, CoordinatorFactory(), other_partner_doctor,
                 PatientFactory().user):
        with pytest.raises(NotFound):
            opinions.acknowledge(actor=user, request_id=request.pk)
    request.refresh_from_db()
    assert request.status == Status.REPORTED


# ---- through the real workflow ------------------------------------------------------------------------------


def test_from_the_request_to_the_acknowledged_report_and_the_statement():
    from ihospital.teleconsult import accounting, triage
    from tests.teleconsult.factories import AdminFactory

    member = ExpertFactory().user
    request = in_review_request(members=[member], fee_fen=80000)
    lead = lead_of(request)
    assert request.status == Status.IN_REVIEW and request.fee_fen == 80000

    write(member, request, diagnoses=["I10"])
    refused("opinions_missing", sign, lead, request)
    write(lead, request)
    # A member withdrawn by the coordinator no longer counts, and no longer writes.
    late = ExpertFactory().user
    triage.assign(actor=CoordinatorFactory(), request_id=request.pk, expert_id=late.pk, role="member")
    triage.accept_assignment(actor=late, request_id=request.pk)
    refused("opinions_missing", sign, lead, request)
    assignment = request.assignments.get(expert=late, ended_at__isnull=True)
    triage.withdraw_assignment(actor=CoordinatorFactory(), assignment_id=assignment.pk, reason="不再需要")
    with pytest.raises(NotFound):
        write(late, request)

    report = sign(lead, request)
    opinions.acknowledge(actor=request.referring_doctor, request_id=request.pk)

    request.refresh_from_db()
    assert request.status == Status.ACKNOWLEDGED and opinions.verify_digest(Report.objects.get(pk=report.pk))
    month = timezone.localtime(request.reported_at).date().replace(day=1)
    result = accounting.statement(actor=AdminFactory(), facility_id=request.referring_facility_id, month=month)
    assert [(row.number, row.fee_fen) for row in result.rows] == [(request.number, 80000)]
    assert result.total_fen == 80000


# ---- races (PostgreSQL: each thread on its own connection) --------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_opinions_saved_at_once_leave_one_current_version():
    from tests.helpers import run_in_threads

    request = under_review()
    lead = lead_of(request)

    results = run_in_threads(6, lambda i: write(lead, request, impression=f"印象{i}").pk)

    assert {kind for kind, _ in results} == {"ok"}, results
    assert Opinion.objects.filter(request=request, superseded_at__isnull=True).count() == 1
    assert sorted(Opinion.objects.filter(request=request).values_list("version", flat=True)) == [1, 2, 3, 4, 5, 6]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_report_is_signed_once_from_two_devices_and_acknowledged_once():
    from ihospital.core.audit import verify_chain
    from tests.helpers import run_in_threads

    request = under_review()
    lead = lead_of(request)
    write(lead, request)
    otp = code_of(lead)

    results = run_in_threads(2, lambda i: sign(lead, request, otp_code=otp).pk)

    assert sorted(kind for kind, _ in results) == ["domain", "ok"], results
    assert {code for kind, code in results if kind == "domain"} <= {"not_in_review", "invalid_second_factor"}
    assert Report.objects.filter(request=request).count() == 1

    results = run_in_threads(4, lambda i: opinions.acknowledge(actor=request.referring_doctor,
                                                               request_id=request.pk).pk)
    assert sorted(kind for kind, _ in results) == ["domain", "domain", "domain", "ok"], results
    assert {code for kind, code in results if kind == "domain"} == {"already_acknowledged"}
    assert verify_chain().ok
