"""Consent to health-data processing (PIPL art. 29): recorded at registration, withdrawal stops processing."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from ihospital.accounts import services
from ihospital.accounts.models import Consent, ConsentKind
from ihospital.records.models import CareSource
from ihospital.records.services import grant_care
from tests.factories import PatientFactory
from tests.helpers import counts, error_of, token_headers

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def health_consent(patient) -> Consent:
    return Consent.objects.get(patient=patient, kind=ConsentKind.HEALTH_DATA)


def test_consents_are_listed_for_their_owner_only(client, patient, other_patient):
    headers = token_headers(patient.user)
    body = client.get("/api/consents", headers=headers).json()
    assert [(c["id"], c["kind"], c["withdrawn_at"]) for c in body] == [
        (health_consent(patient).pk, ConsentKind.HEALTH_DATA, None)
    ]
    assert body[0]["version"]


def test_withdrawal_refuses_new_chart_writes_but_not_reading(client, patient, doctor, settings):
    headers = token_headers(patient.user)
    consent = health_consent(patient)
    response = client.post(f"/api/consents/{consent.pk}/withdraw", headers=headers)
    assert response.status_code == 200
    consent.refresh_from_db()
    assert consent.withdrawn_at is not None
    assert Consent.objects.filter(pk=consent.pk).exists()  # recorded, never deleted

    before = counts()
    url = f"/api/patients/{patient.pk}"
    writes = [
        client.post(f"{url}/allergies", {"substance": "青霉素"}, content_type="application/json", headers=headers),
        client.post(f"{url}/conditions", {"code": "I10"}, content_type="application/json", headers=headers),
        client.post(f"{url}/medications", {"medication": "氨氯地平"}, content_type="application/json", headers=headers),
        client.post(
            f"{url}/documents",
            {"kind": "lab_report", "file": SimpleUploadedFile("scan.png", PNG, content_type="image/png")},
            headers=headers,
        ),
    ]
    for response in writes:
        assert response.status_code == 403, response.content
        assert error_of(response)["code"] == "consent_withdrawn"
    assert counts() == before

    # A clinician caring for the patient is refused too, including a new in-person encounter.
    grant_care(clinician=doctor.user, patient=patient, source=CareSource.MANUAL)
    doctor_headers = token_headers(doctor.user)
    before = counts()
    response = client.post(f"{url}/conditions", {"code": "I10"}, content_type="application/json",
                           headers=doctor_headers)
    assert error_of(response)["code"] == "consent_withdrawn"
    response = client.post(
        "/api/encounters",
        {"mrn": patient.mrn, "department_id": doctor.departments.get().pk, "started_at": timezone.now().isoformat()},
        content_type="application/json",
        headers=doctor_headers,
    )
    assert response.status_code == 403
    assert error_of(response)["code"] == "consent_withdrawn"
    assert counts() == before
    assert not list(settings.PRIVATE_STORAGE_ROOT.rglob("*.*"))  # no uploaded file was kept either

    # Reading one's own chart is still allowed.
    response = client.get(f"{url}/chart", headers=headers)
    assert response.status_code == 200
    assert response.json()["patient"]["id"] == patient.pk

    # Consenting again resumes processing.
    services.give_consent(actor=patient.user, patient=patient, kind=ConsentKind.HEALTH_DATA)
    response = client.post(f"{url}/allergies", {"substance": "青霉素"}, content_type="application/json",
                           headers=headers)
    assert response.status_code == 201


def test_withdrawing_twice_or_someone_elses_consent_is_refused(client, patient, other_patient):
    headers = token_headers(patient.user)
    consent = health_consent(patient)
    assert client.post(f"/api/consents/{consent.pk}/withdraw", headers=headers).status_code == 200
    before = counts(with_audit=True)
    response = client.post(f"/api/consents/{consent.pk}/withdraw", headers=headers)
    assert response.status_code == 400
    assert error_of(response)["code"] == "already_withdrawn"

    theirs = health_consent(other_patient)
    response = client.post(f"/api/consents/{theirs.pk}/withdraw", headers=headers)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert counts(with_audit=True) == before
    assert Consent.objects.get(pk=theirs.pk).active


def test_has_consent_is_per_kind_and_subject():
    patient = PatientFactory()
    assert services.has_consent(patient, ConsentKind.HEALTH_DATA)
    assert not services.has_consent(patient, ConsentKind.ONLINE_CARE)
    services.give_consent(actor=patient.user, patient=patient, kind=ConsentKind.PROXY, subject="proxy:1")
    assert services.has_consent(patient, ConsentKind.PROXY, subject="proxy:1")
    assert not services.has_consent(patient, ConsentKind.PROXY, subject="proxy:2")
