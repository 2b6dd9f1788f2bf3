"""The experts' pages with Django's test client: my cases (only those assigned to me), accepting and declining,
the case material (documents through the consultation, lab values, image previews), the opinion form with
ICD-10 refusals in place, and the lead's consolidated report prefilled from the team's opinions and signed with
the authenticator code. Another expert (even of the same department) gets 404."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from ihospital.teleconsult import opinions
from ihospital.teleconsult import requests as consult_requests
from ihospital.teleconsult.models import Opinion, Report, Status
from tests.helpers import current_code, wrong_code
from tests.teleconsult import factories as f
from tests.teleconsult.pages import client_for, page

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"




def test_my_cases_and_accepting(cardiology, expert, expert2):
    consult = f.assigned_request(department=cardiology, lead=expert)
    client = client_for(expert)
    listed = client.get(reverse("teleconsult:cases")).content.decode()
    assert consult.number in listed
    assert consult.number not in client_for(expert2).get(reverse("teleconsult:cases")).content.decode()
    assert client_for(expert2).get(page(consult)).status_code == 404
    shown = client.get(page(consult)).content.decode()
    assert 'data-testid="accept"' in shown and consult.question in shown
    assert client.post(reverse("teleconsult:accept", args=[consult.pk])).status_code == 302
    consult.refresh_from_db()
    assert consult.status == Status.IN_REVIEW and consult.first_response_at is not None
    assert 'data-testid="opinion-form"' in client.get(page(consult)).content.decode()


def test_declining_needs_a_reason_and_ends_the_assignment(cardiology, expert):
    consult = f.assigned_request(department=cardiology, lead=expert)
    client = client_for(expert)
    refused = client.post(reverse("teleconsult:decline", args=[consult.pk]), {"reason": ""})
    assert refused.status_code == 400
    assert client.post(reverse("teleconsult:decline", args=[consult.pk]), {"reason": "On leave"}).status_code == 302
    consult.refresh_from_db()
    assert consult.status == Status.SUBMITTED
    assert client.get(page(consult)).status_code == 404  # no longer theirs


def test_the_expert_reads_a_shared_document(cardiology, expert, patient, referrer):
    consult = f.draft_request(patient=patient, referrer=referrer, department=cardiology)
    att = consult_requests.upload_attachment(
        actor=referrer, request_id=consult.pk, title="ECG",
        file=SimpleUploadedFile("ecg.pdf", PDF, content_type="application/pdf"), doc_kind="other")
    f.consented(consult)
    f.tariffs_for(consult.referring_facility)
    consult_requests.submit(actor=referrer, request_id=consult.pk)
    from ihospital.teleconsult import triage

    triage.assign(actor=f.CoordinatorFactory(), request_id=consult.pk, expert_id=expert.pk, role="lead")
    client = client_for(expert)
    shown = client.get(page(consult)).content.decode()
    assert "ECG" in shown
    got = client.get(reverse("teleconsult:attachment", args=[att.pk]))
    assert got.status_code == 200 and b"".join(got.streaming_content).startswith(b"%PDF")
    # Not through the chart itself: the expert has no care relationship.
    assert client.get(reverse("records:download_document", args=[att.document_id])).status_code == 404
    other = f.ExpertFactory(departments=[cardiology]).user
    assert client_for(other).get(reverse("teleconsult:attachment", args=[att.pk])).status_code == 404


def test_opinion_draft_submit_and_bad_icd10(cardiology, expert):
    consult = f.in_review_request(department=cardiology, lead=expert)
    client = client_for(expert)
    url = reverse("teleconsult:opinion", args=[consult.pk])
    data = {"findings": "ST depression V4-V6", "impression": "Stable angina", "diagnoses": "I20.9, I10",
            "recommendations": "Coronary CTA"}
    bad = client.post(url, {**data, "diagnoses": "XYZ.99", "action": "submit"})
    assert bad.status_code == 400 and 'data-code="invalid_icd10"' in bad.content.decode()
    assert not Opinion.objects.exists()
    assert client.post(url, {**data, "action": "draft"}).status_code == 302
    opinion = Opinion.objects.get()
    assert opinion.submitted_at is None and [d["code"] for d in opinion.diagnoses] == ["I20.9", "I10"]
    assert client.post(url, {**data, "action": "submit"}).status_code == 302
    assert Opinion.objects.get(superseded_at__isnull=True).submitted_at is not None


def test_the_lead_signs_the_consolidated_report(cardiology, expert, expert2):
    consult = f.in_review_request(department=cardiology, lead=expert, members=[expert2])
    opinions.save_opinion(actor=expert2, request_id=consult.pk, findings="Member findings",
                          impression="Member impression", diagnoses=["I25.1"], recommendations="Member advice",
                          submit=True)
    client = client_for(expert)
    shown = client.get(page(consult)).content.decode()
    assert "Member findings" in shown and 'data-testid="sign-form"' in shown  # prefilled from the opinions
    assert 'data-testid="waiting-opinions"' in shown  # the lead's own opinion is still missing
    data = {"findings": "F", "impression": "I", "diagnoses": "I25.1", "recommendations": "R"}
    refused = client.post(reverse("teleconsult:sign", args=[consult.pk]),
                          {**data, "otp_code": current_code(f.device_of(expert))})
    assert refused.status_code == 409 and 'data-code="opinions_missing"' in refused.content.decode()
    opinions.save_opinion(actor=expert, request_id=consult.pk, findings="Lead", impression="Lead",
                          diagnoses=["I25.1"], recommendations="Lead", submit=True)
    assert not Report.objects.exists()
    signed = client.post(reverse("teleconsult:sign", args=[consult.pk]),
                         {**data, "otp_code": current_code(f.device_of(expert))})
    assert signed.status_code == 302
    consult.refresh_from_db()
    assert consult.status == Status.REPORTED
    shown = client.get(page(consult)).content.decode()
    assert "This report is expert advice. The treating hospital and its doctors keep the decision." in shown
    # A member cannot sign.
    assert 'data-testid="sign-form"' not in client_for(expert2).get(page(consult)).content.decode()


def test_expert_pages_are_for_experts(referrer, coordinator):
    assert client_for(referrer).get(reverse("teleconsult:cases")).status_code == 403
    assert client_for(coordinator).post(reverse("teleconsult:accept", args=[1])).status_code == 403


def test_a_wrong_code_signs_nothing(cardiology, expert):
    consult = f.in_review_request(department=cardiology, lead=expert)
    opinions.save_opinion(actor=expert, request_id=consult.pk, findings="F", impression="I", diagnoses=["I10"],
                          recommendations="R", submit=True)
    wrong = client_for(expert).post(reverse("teleconsult:sign", args=[consult.pk]), {
        "findings": "F", "impression": "I", "diagnoses": "I10", "recommendations": "R",
        "otp_code": wrong_code(f.device_of(expert))})
    assert wrong.status_code in (400, 401) and 'data-testid="page-error"' in wrong.content.decode()
    assert not Report.objects.exists()
