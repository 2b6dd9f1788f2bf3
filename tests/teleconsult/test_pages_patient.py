"""The patient's (and a relative's) consultation pages with Django's test client: the consent prompt on a draft
(who asks, which hospital, which items), giving consent, the report with the advice-only notice once signed,
and nothing of other patients."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from ihospital.teleconsult import opinions
from ihospital.teleconsult import requests as consult_requests
from ihospital.teleconsult.models import Status
from tests.factories import PatientFactory
from tests.helpers import current_code
from tests.teleconsult import factories as f
from tests.teleconsult.pages import client_for, page

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ADVICE = "This report is expert advice. The treating hospital and its doctors keep the decision."




def test_the_patient_is_asked_and_consents(patient, referrer, cardiology):
    consult = f.draft_request(patient=patient, referrer=referrer, department=cardiology)
    consult_requests.upload_attachment(actor=referrer, request_id=consult.pk, title="Discharge summary 2026",
                                       file=SimpleUploadedFile("d.pdf", PDF, content_type="application/pdf"),
                                       doc_kind="discharge_summary")
    client = client_for(patient.user)
    home = client.get(reverse("teleconsult:patient_home")).content.decode()
    assert 'data-testid="ask-row"' in home and referrer.real_name in home
    shown = client.get(page(consult)).content.decode()
    assert 'data-testid="consent-prompt"' in shown
    assert referrer.real_name in shown and consult.referring_facility.name_en in shown
    assert "Discharge summary 2026" in shown
    assert consult.question not in shown  # the patient's page lists the items, not the clinical text
    assert client.post(reverse("teleconsult:consent", args=[consult.pk])).status_code == 302
    consult.refresh_from_db()
    assert consult.consent is not None and consult.consent.withdrawn_at is None
    shown = client.get(page(consult)).content.decode()
    assert 'data-testid="consent-prompt"' not in shown and 'data-testid="consent-given"' in shown
    again = client.post(reverse("teleconsult:consent", args=[consult.pk]))
    assert again.status_code in (400, 409) and "consent_already_given" in again.content.decode()


def test_a_relative_consents_for_the_patient(patient, relative, referrer, cardiology):
    consult = f.draft_request(patient=patient, referrer=referrer, department=cardiology)
    client = client_for(relative)
    assert 'data-testid="consent-prompt"' in client.get(page(consult)).content.decode()
    assert client.post(reverse("teleconsult:consent", args=[consult.pk])).status_code == 302
    consult.refresh_from_db()
    assert consult.consent is not None


def test_the_patient_reads_the_report_with_the_notice(patient, referrer, cardiology, expert):
    consult = f.in_review_request(patient=patient, referrer=referrer, department=cardiology, lead=expert)
    client = client_for(patient.user)
    assert 'data-testid="waiting"' in client.get(page(consult)).content.decode()
    assert client.get(reverse("teleconsult:report_pdf", args=[consult.pk])).status_code == 404
    opinions.save_opinion(actor=expert, request_id=consult.pk, findings="F", impression="Stable angina",
                          diagnoses=["I20.9"], recommendations="Coronary CTA", submit=True)
    opinions.sign_report(actor=expert, request_id=consult.pk, findings="F", impression="Stable angina",
                         diagnoses=["I20.9"], recommendations="Coronary CTA",
                         otp_code=current_code(f.device_of(expert)))
    shown = client.get(page(consult)).content.decode()
    assert ADVICE in shown and "Coronary CTA" in shown
    listed = client.get(reverse("teleconsult:patient_home")).content.decode()
    assert consult.number in listed and f'data-status="{Status.REPORTED}"' in listed
    assert client.get(reverse("teleconsult:report_pdf", args=[consult.pk])).status_code == 200


def test_other_patients_see_nothing(patient, referrer, cardiology):
    consult = f.draft_request(patient=patient, referrer=referrer, department=cardiology)
    stranger = PatientFactory()
    client = client_for(stranger.user)
    assert client.get(page(consult)).status_code == 404
    assert client.post(reverse("teleconsult:consent", args=[consult.pk])).status_code == 404
    assert consult.number not in client.get(reverse("teleconsult:patient_home")).content.decode()
    consult.refresh_from_db()
    assert consult.consent is None


def test_staff_do_not_consent_for_the_patient(patient, referrer, cardiology):
    consult = f.draft_request(patient=patient, referrer=referrer, department=cardiology)
    from tests.helpers import verify_session

    client = client_for(referrer)
    verify_session(client, f.device_of(referrer))
    assert client.post(reverse("teleconsult:consent", args=[consult.pk])).status_code == 403
