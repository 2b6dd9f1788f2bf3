"""The referring doctor's pages with Django's test client: the list, a new request, editing a draft, attaching
from the chart and uploading, sending (refused without consent, then sent), cancelling, reading and
acknowledging the report (and its PDF). Refusals show the service's message in place; other people's ids are 404.
The rules themselves are tested with the services."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from ihospital.records.models import Document
from ihospital.teleconsult.models import Attachment, ConsultRequest, Status
from tests.factories import PatientFactory
from tests.helpers import verify_session
from tests.teleconsult import factories as f
from tests.teleconsult.pages import client_for, page

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"




def test_the_referrer_creates_a_draft_from_the_form(referrer, patient, cardiology, expert):
    client = client_for(referrer)
    got = client.get(reverse("teleconsult:new"))
    assert got.status_code == 200
    assert patient.real_name in got.content.decode()
    response = client.post(reverse("teleconsult:new"), {
        "patient": patient.pk, "question": "Is PCI indicated?", "summary": "68 y, chest tightness 3 months.",
        "urgency": "urgent", "mode": "async", "department": cardiology.pk, "named_expert": ""})
    consult = ConsultRequest.objects.get()
    assert response.status_code == 302 and response.url == page(consult)
    assert consult.status == Status.DRAFT and consult.urgency == "urgent" and consult.department == cardiology
    shown = client.get(page(consult)).content.decode()
    assert "Is PCI indicated?" in shown and 'data-given="0"' in shown


def test_a_new_request_for_a_patient_not_in_care_is_refused(referrer, cardiology):
    stranger = PatientFactory()
    response = client_for(referrer).post(reverse("teleconsult:new"), {
        "patient": stranger.pk, "question": "q", "summary": "s", "urgency": "routine", "mode": "async",
        "department": cardiology.pk})
    assert response.status_code == 400  # not one of the form's choices
    assert not ConsultRequest.objects.exists()


def test_missing_question_shows_next_to_the_field(referrer, patient, cardiology):
    response = client_for(referrer).post(reverse("teleconsult:new"), {
        "patient": patient.pk, "question": "", "summary": "s", "urgency": "routine", "mode": "async",
        "department": cardiology.pk})
    assert response.status_code == 400
    assert "field-error" in response.content.decode()
    assert not ConsultRequest.objects.exists()


def test_editing_a_draft(referrer, patient, cardiology):
    consult = f.draft_request(patient=patient, referrer=referrer, department=cardiology)
    client = client_for(referrer)
    assert client.get(reverse("teleconsult:edit", args=[consult.pk])).status_code == 200
    response = client.post(reverse("teleconsult:edit", args=[consult.pk]), {
        "question": "New question", "summary": "New summary", "urgency": "emergency", "mode": "live",
        "department": cardiology.pk})
    assert response.status_code == 302
    consult.refresh_from_db()
    assert (consult.question, consult.urgency, consult.mode) == ("New question", "emergency", "live")


def test_attach_from_the_chart_upload_and_remove(referrer, patient, cardiology):
    consult = f.draft_request(patient=patient, referrer=referrer, department=cardiology)
    client = client_for(referrer)
    response = client.post(reverse("teleconsult:upload", args=[consult.pk]), {
        "file": SimpleUploadedFile("echo.pdf", PDF, content_type="application/pdf"), "title": "Echo report",
        "doc_kind": "other"})
    assert response.status_code == 302, response.content.decode()[:2000]
    doc = Document.objects.get(patient=patient, title="Echo report")
    uploaded = Attachment.objects.get(request=consult, document=doc)
    shown = client.get(page(consult)).content.decode()
    assert "Echo report" in shown and 'data-testid="attachment"' in shown
    # Removing it, then attaching the same chart document again from the picker.
    assert client.post(reverse("teleconsult:remove_attachment", args=[consult.pk, uploaded.pk])).status_code == 302
    uploaded.refresh_from_db()
    assert uploaded.removed_at is not None
    assert f'data-testid="attach-document" data-id="{doc.pk}"' in client.get(page(consult)).content.decode()
    response = client.post(reverse("teleconsult:attach", args=[consult.pk]),
                           {"kind": "document", "target_id": doc.pk})
    assert response.status_code == 302
    assert Attachment.objects.filter(request=consult, document=doc, removed_at__isnull=True).count() == 1


def test_attaching_another_patients_document_is_refused_in_place(referrer, patient, cardiology):
    consult = f.draft_request(patient=patient, referrer=referrer, department=cardiology)
    other = PatientFactory()
    f.put_in_care(referrer, other)
    from ihospital.records import services as records

    doc = records.upload_document(actor=referrer, patient_id=other.pk, kind="other", title="x",
                                  file=SimpleUploadedFile("x.pdf", PDF, content_type="application/pdf"))
    response = client_for(referrer).post(reverse("teleconsult:attach", args=[consult.pk]),
                                         {"kind": "document", "target_id": doc.pk})
    assert response.status_code in (400, 404)
    assert not Attachment.objects.filter(request=consult).exists()


def test_sending_needs_consent_then_goes(referrer, patient, cardiology, coordinator):
    consult = f.draft_request(patient=patient, referrer=referrer, department=cardiology)
    f.tariffs_for(consult.referring_facility)
    client = client_for(referrer)
    refused = client.post(reverse("teleconsult:submit", args=[consult.pk]))
    assert refused.status_code == 400
    assert 'data-code="consent_required"' in refused.content.decode()
    consult.refresh_from_db()
    assert consult.status == Status.DRAFT
    f.consented(consult)
    assert 'data-given="1"' in client.get(page(consult)).content.decode()
    sent = client.post(reverse("teleconsult:submit", args=[consult.pk]))
    assert sent.status_code == 302
    consult.refresh_from_db()
    assert consult.status == Status.SUBMITTED and consult.fee_fen == 50000
    shown = client.get(page(consult)).content.decode()
    assert 'data-testid="times"' in shown and 'data-testid="submit"' not in shown


def test_cancel_needs_a_reason(referrer, patient, cardiology):
    consult = f.draft_request(patient=patient, referrer=referrer, department=cardiology)
    client = client_for(referrer)
    refused = client.post(reverse("teleconsult:cancel", args=[consult.pk]), {"reason": ""})
    assert refused.status_code == 400 and 'data-code="reason_required"' in refused.content.decode()
    assert client.post(reverse("teleconsult:cancel", args=[consult.pk]), {"reason": "Transferred"}).status_code == 302
    consult.refresh_from_db()
    assert consult.status == Status.CANCELLED


def _reported(patient, referrer, cardiology, expert):
    from ihospital.teleconsult import opinions
    from tests.helpers import current_code

    consult = f.in_review_request(patient=patient, referrer=referrer, department=cardiology, lead=expert)
    opinions.save_opinion(actor=expert, request_id=consult.pk, findings="ST depression", impression="Stable angina",
                          diagnoses=["I20.9"], recommendations="Coronary CTA", submit=True)
    opinions.sign_report(actor=expert, request_id=consult.pk, findings="ST depression", impression="Stable angina",
                         diagnoses=["I20.9"], recommendations="Coronary CTA",
                         otp_code=current_code(f.device_of(expert)))
    consult.refresh_from_db()
    return consult


def test_the_referrer_reads_acknowledges_and_downloads_the_report(referrer, patient, cardiology, expert):
    consult = _reported(patient, referrer, cardiology, expert)
    client = client_for(referrer)
    shown = client.get(page(consult)).content.decode()
    assert "This report is expert advice. The treating hospital and its doctors keep the decision." in shown
    assert "Coronary CTA" in shown and 'data-testid="acknowledge"' in shown
    pdf = client.get(reverse("teleconsult:report_pdf", args=[consult.pk]))
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert client.post(reverse("teleconsult:acknowledge", args=[consult.pk])).status_code == 302
    consult.refresh_from_db()
    assert consult.status == Status.ACKNOWLEDGED
    again = client.post(reverse("teleconsult:acknowledge", args=[consult.pk]))
    assert again.status_code in (400, 409)


def test_the_list_and_other_doctors_requests(referrer, patient, cardiology):
    mine = f.draft_request(patient=patient, referrer=referrer, department=cardiology)
    theirs = f.draft_request(department=cardiology)
    client = client_for(referrer)
    listed = client.get(reverse("teleconsult:mine")).content.decode()
    assert mine.number in listed and theirs.number not in listed
    assert client.get(page(theirs)).status_code == 404
    assert client.post(reverse("teleconsult:submit", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("teleconsult:report_pdf", args=[mine.pk])).status_code == 404


def test_referrer_pages_are_for_partner_doctors(expert, coordinator):
    assert client_for(expert).get(reverse("teleconsult:new")).status_code == 403
    assert client_for(coordinator).get(reverse("teleconsult:mine")).status_code == 403
    assert Client().get(reverse("teleconsult:mine")).status_code == 302  # to sign in


def test_home_sends_each_role_to_its_page(referrer, expert, coordinator, patient):
    assert client_for(referrer).get(reverse("teleconsult:home")).url == reverse("teleconsult:mine")
    assert client_for(expert).get(reverse("teleconsult:home")).url == reverse("teleconsult:cases")
    assert client_for(coordinator).get(reverse("teleconsult:home")).url == reverse("teleconsult:board")
    assert client_for(patient.user).get(reverse("teleconsult:home")).url == reverse("teleconsult:patient_home")


def test_elder_mode_and_chinese_render(referrer, patient, cardiology):
    consult = f.draft_request(patient=patient, referrer=referrer, department=cardiology)
    referrer.elder_mode = True
    referrer.language = "zh-hans"
    referrer.save()
    client = Client()
    client.force_login(referrer)
    verify_session(client, f.device_of(referrer))
    shown = client.get(page(consult)).content.decode()
    assert 'class="no-js elder"' in shown and consult.number in shown
