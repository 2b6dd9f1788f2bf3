"""The coordinators' board with Django's test client: incoming requests with deadlines (overdue first and
marked), assigning a lead and a member (picker of the requested specialty), refusals in place, returning with a
reason, withdrawing, response times and the summary per specialty, and the monthly statement (page and CSV).
Only coordinators act; admins read; drafts never show."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from ihospital.teleconsult.models import Assignment, ConsultRequest, Status
from tests.teleconsult import factories as f
from tests.teleconsult.pages import client_for, page

pytestmark = pytest.mark.django_db




def test_the_board_lists_sent_requests_overdue_first(coordinator, cardiology):
    late = f.submitted_request(department=cardiology)
    fresh = f.submitted_request(department=cardiology)
    draft = f.draft_request(department=cardiology)
    ConsultRequest.objects.filter(pk=late.pk).update(first_response_due=timezone.now() - timedelta(minutes=5))
    shown = client_for(coordinator).get(reverse("teleconsult:board")).content.decode()
    assert late.number in shown and fresh.number in shown and draft.number not in shown
    assert shown.index(late.number) < shown.index(fresh.number)
    assert f'data-number="{late.number}" data-status="submitted" data-overdue="1"' in shown
    assert 'data-testid="specialty-summary"' in shown and "Cardiology" in shown


def test_assign_a_lead_then_a_member(coordinator, cardiology, expert, expert2):
    consult = f.submitted_request(department=cardiology)
    client = client_for(coordinator)
    shown = client.get(page(consult)).content.decode()
    assert 'data-testid="assign-form"' in shown and expert.real_name in shown
    # A member first is refused in place (lead_first).
    refused = client.post(reverse("teleconsult:assign", args=[consult.pk]), {"expert": expert2.pk, "role": "member"})
    assert refused.status_code == 400 and 'data-code="lead_first"' in refused.content.decode()
    assert not Assignment.objects.exists()
    assert client.post(reverse("teleconsult:assign", args=[consult.pk]),
                       {"expert": expert.pk, "role": "lead"}).status_code == 302
    assert client.post(reverse("teleconsult:assign", args=[consult.pk]),
                       {"expert": expert2.pk, "role": "member"}).status_code == 302
    consult.refresh_from_db()
    assert consult.status == Status.ASSIGNED
    assert sorted(consult.assignments.values_list("role", flat=True)) == ["lead", "member"]
    shown = client.get(page(consult)).content.decode()
    assert shown.count('data-testid="assignment"') == 2


def test_assign_someone_not_an_expert_is_refused(coordinator, cardiology, referrer):
    consult = f.submitted_request(department=cardiology)
    response = client_for(coordinator).post(reverse("teleconsult:assign", args=[consult.pk]),
                                            {"expert": referrer.pk, "role": "lead"})
    assert response.status_code == 400
    assert not Assignment.objects.exists()


def test_return_with_a_reason(coordinator, cardiology):
    consult = f.submitted_request(department=cardiology)
    client = client_for(coordinator)
    refused = client.post(reverse("teleconsult:return", args=[consult.pk]), {"reason": ""})
    assert refused.status_code == 400
    assert client.post(reverse("teleconsult:return", args=[consult.pk]),
                       {"reason": "Please attach the ECG"}).status_code == 302
    consult.refresh_from_db()
    assert consult.status == Status.RETURNED and consult.return_reason == "Please attach the ECG"
    shown = client_for(consult.referring_doctor).get(page(consult)).content.decode()
    assert "Please attach the ECG" in shown


def test_withdraw_an_expert(coordinator, cardiology, expert, expert2):
    consult = f.assigned_request(department=cardiology, lead=expert, members=[expert2], coordinator=coordinator)
    member = consult.assignments.get(expert=expert2)
    client = client_for(coordinator)
    assert client.post(reverse("teleconsult:withdraw", args=[consult.pk, member.pk]),
                       {"reason": "Not needed"}).status_code == 302
    member.refresh_from_db()
    assert member.ended_at is not None
    other = f.submitted_request(department=cardiology)
    assert client.post(reverse("teleconsult:withdraw", args=[other.pk, member.pk]), {"reason": "x"}).status_code == 404


def test_response_times_show_on_the_board(coordinator, cardiology, expert):
    consult = f.in_review_request(department=cardiology, lead=expert)
    ConsultRequest.objects.filter(pk=consult.pk).update(
        submitted_at=timezone.now() - timedelta(minutes=45), first_response_at=timezone.now())
    shown = client_for(coordinator).get(reverse("teleconsult:board")).content.decode()
    assert "45 min" in shown


def test_admin_reads_but_does_not_triage(admin_user, cardiology, expert):
    consult = f.submitted_request(department=cardiology)
    client = client_for(admin_user)
    assert client.get(reverse("teleconsult:board")).status_code == 200
    shown = client.get(page(consult)).content.decode()
    assert 'data-testid="assign-form"' not in shown
    assert client.post(reverse("teleconsult:assign", args=[consult.pk]),
                       {"expert": expert.pk, "role": "lead"}).status_code == 403


def test_the_board_is_for_coordinators_and_admins(referrer, expert, patient):
    for user in (referrer, expert, patient.user):
        assert client_for(user).get(reverse("teleconsult:board")).status_code == 403
        assert client_for(user).get(reverse("teleconsult:statement")).status_code == 403


def test_the_monthly_statement_and_csv(coordinator, cardiology, expert):
    from ihospital.teleconsult import opinions
    from tests.helpers import current_code

    consult = f.in_review_request(department=cardiology, lead=expert, fee_fen=80000)
    opinions.save_opinion(actor=expert, request_id=consult.pk, findings="f", impression="i", diagnoses=["I10"],
                          recommendations="r", submit=True)
    opinions.sign_report(actor=expert, request_id=consult.pk, findings="f", impression="i", diagnoses=["I10"],
                         recommendations="r", otp_code=current_code(f.device_of(expert)))
    month = timezone.localdate().strftime("%Y-%m")
    client = client_for(coordinator)
    query = {"facility": consult.referring_facility_id, "month": month}
    shown = client.get(reverse("teleconsult:statement"), query).content.decode()
    assert consult.number in shown and "¥800.00" in shown
    csv = client.get(reverse("teleconsult:statement_csv"), query)
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    assert consult.number in csv.content.decode("utf-8-sig")
    bad = client.get(reverse("teleconsult:statement"), {"facility": consult.referring_facility_id, "month": "2026-13"})
    assert bad.status_code == 400


def test_schedule_a_live_session_from_the_request_page(coordinator, cardiology, expert):
    from ihospital.teleconsult.models import ConsultSession

    consult = f.assigned_request(department=cardiology, lead=expert, coordinator=coordinator)
    client = client_for(coordinator)
    starts = timezone.localtime(timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    past = timezone.localtime(timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    refused = client.post(reverse("teleconsult:schedule", args=[consult.pk]), {"starts_at": past, "minutes": 30})
    assert refused.status_code == 400 and 'data-testid="page-error"' in refused.content.decode()
    assert not ConsultSession.objects.exists()
    done = client.post(reverse("teleconsult:schedule", args=[consult.pk]),
                       {"starts_at": starts, "minutes": 45, "include_patient": "on"})
    assert done.status_code == 302
    session = ConsultSession.objects.get()
    assert session.minutes == 45 and session.include_patient
    # The participants see a link to join; the coordinator does not join calls.
    shown = client_for(expert).get(page(consult)).content.decode()
    assert reverse("teleconsult:session", args=[session.pk]) in shown
    assert 'data-testid="join-session"' not in client.get(page(consult)).content.decode()
    shown = client_for(consult.patient.user).get(page(consult)).content.decode()
    assert reverse("teleconsult:session", args=[session.pk]) in shown
