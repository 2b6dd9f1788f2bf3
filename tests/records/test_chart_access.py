"""Who may open a chart: the patient, an active proxy, a clinician with a live care relationship. Nobody else.

Someone else's patient id answers exactly like a missing one (404 ``not_found``) and is audited as denied.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ihospital.accounts import services as accounts
from ihospital.core.models import AuditAction, AuditEvent, AuditOutcome
from ihospital.records import selectors
from ihospital.records.models import CareRelationship, CareSource, Encounter, EncounterMode
from ihospital.records.services import end_care, grant_care
from tests.factories import DepartmentFactory, NurseFactory, PatientFactory
from tests.helpers import counts, error_of, token_headers

pytestmark = pytest.mark.django_db


def chart_url(patient_or_id) -> str:
    pk = getattr(patient_or_id, "pk", patient_or_id)
    return f"/api/patients/{pk}/chart"


def test_patient_sees_own_chart(client, patient):
    accounts_headers = token_headers(patient.user)
    response = client.get(chart_url(patient), headers=accounts_headers)
    assert response.status_code == 200
    body = response.json()
    assert body["access"] == "self"
    assert body["patient"]["id"] == patient.pk and body["patient"]["mrn"] == patient.mrn
    assert "resident_id" not in body["patient"]


def test_other_patients_chart_is_404_and_audited_as_denied(client, patient, other_patient):
    headers = token_headers(patient.user)
    before = counts()
    response = client.get(chart_url(other_patient), headers=headers)
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "not_found"
    assert other_patient.user.real_name not in response.content.decode()
    assert counts() == before
    denial = AuditEvent.objects.get(outcome=AuditOutcome.DENIED)
    assert denial.actor == patient.user
    assert denial.patient_id == other_patient.pk
    assert denial.object_type == "accounts.patientprofile" and denial.object_id == str(other_patient.pk)
    assert denial.action == AuditAction.READ
    assert denial.request_id == response["X-Request-ID"]

    # A missing id looks exactly the same.
    missing = client.get(chart_url(other_patient.pk + 1000), headers=headers)
    assert missing.status_code == 404
    assert missing.json() == response.json()


def test_proxy_sees_the_chart(client, patient):
    relative = PatientFactory()
    accounts.invite_proxy(
        patient_user=patient.user,
        proxy_phone=relative.user.phone,
        proxy_real_name=relative.user.real_name,
        relationship="spouse",
        consent=True,
    )
    response = client.get(chart_url(patient), headers=token_headers(relative.user))
    assert response.status_code == 200
    assert response.json()["access"] == "proxy"


def test_clinician_without_care_relationship_gets_404(client, patient, doctor):
    headers = token_headers(doctor.user)
    response = client.get(chart_url(patient), headers=headers)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert client.get("/api/patients", headers=headers).json() == []
    assert AuditEvent.objects.filter(actor=doctor.user, outcome=AuditOutcome.DENIED, patient_id=patient.pk).exists()


def test_in_person_encounter_opens_the_chart_to_the_doctor(client, patient, other_patient, doctor):
    headers = token_headers(doctor.user)
    department = doctor.departments.get()
    started = timezone.now() - timedelta(hours=1)
    before = counts()
    response = client.post(
        "/api/encounters",
        {"mrn": patient.mrn.lower(), "department_id": department.pk, "started_at": started.isoformat(),
         "reason": "头晕", "summary": "血压 160/100"},
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 201, response.content
    encounter = Encounter.objects.get(pk=response.json()["id"])
    assert encounter.mode == EncounterMode.IN_PERSON
    assert encounter.patient == patient and encounter.practitioner == doctor
    assert encounter.facility == department.facility and encounter.at_home_hospital
    after = counts()
    assert after["records.Encounter"] == before["records.Encounter"] + 1
    assert after["records.CareRelationship"] == before["records.CareRelationship"] + 1
    care = CareRelationship.objects.get()
    assert (care.clinician, care.patient, care.source, care.source_id) == (
        doctor.user, patient, CareSource.ENCOUNTER, str(encounter.pk)
    )

    response = client.get(chart_url(patient), headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["access"] == "clinician"
    assert [e["id"] for e in body["encounters"]] == [encounter.pk]
    assert [p["id"] for p in client.get("/api/patients", headers=headers).json()] == [patient.pk]
    # Care for one patient opens no other chart.
    assert client.get(chart_url(other_patient), headers=headers).status_code == 404


def test_encounter_refusals_change_nothing(client, patient, doctor):
    headers = token_headers(doctor.user)
    now = timezone.now()
    cases = [
        ({"mrn": "P0000000X"}, 404, "patient_not_found"),
        ({"department_id": DepartmentFactory().pk}, 400, "invalid_department"),  # not the doctor's department
        ({"started_at": (now + timedelta(hours=1)).isoformat()}, 400, "encounter_in_future"),
    ]
    for change, status, code in cases:
        data = {"mrn": patient.mrn, "department_id": doctor.departments.get().pk,
                "started_at": (now - timedelta(minutes=5)).isoformat(), **change}
        before = counts(with_audit=True)
        response = client.post("/api/encounters", data, content_type="application/json", headers=headers)
        assert response.status_code == status, (change, response.content)
        assert error_of(response)["code"] == code
        assert counts(with_audit=True) == before
    assert client.get(chart_url(patient), headers=headers).status_code == 404


@pytest.mark.parametrize("who", ["nurse", "patient"])
def test_only_doctors_record_encounters(client, patient, doctor, who):
    actor = NurseFactory(departments=list(doctor.departments.all())).user if who == "nurse" else patient.user
    headers = token_headers(actor)
    before = counts(with_audit=True)
    response = client.post(
        "/api/encounters",
        {"mrn": patient.mrn, "department_id": doctor.departments.get().pk, "started_at": timezone.now().isoformat()},
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 403
    assert error_of(response)["code"] == "not_a_clinician"
    assert counts(with_audit=True) == before


def test_ended_care_relationship_closes_the_chart(client, patient, doctor):
    headers = token_headers(doctor.user)
    grant_care(clinician=doctor.user, patient=patient, source=CareSource.MANUAL, source_id="x")
    assert client.get(chart_url(patient), headers=headers).status_code == 200
    end_care(clinician=doctor.user, patient=patient, source=CareSource.MANUAL, source_id="x")
    assert CareRelationship.objects.get().ends_at is not None
    assert client.get(chart_url(patient), headers=headers).status_code == 404


def test_care_relationship_with_an_end_date_in_the_past_or_a_start_in_the_future(patient, doctor):
    rel = grant_care(clinician=doctor.user, patient=patient, source=CareSource.VISIT, source_id="1")
    assert selectors.access_of(doctor.user, patient) == "clinician"
    CareRelationship.objects.filter(pk=rel.pk).update(ends_at=timezone.now() - timedelta(seconds=1))
    assert selectors.access_of(doctor.user, patient) is None
    CareRelationship.objects.filter(pk=rel.pk).update(
        starts_at=timezone.now() + timedelta(days=1), ends_at=None
    )
    assert selectors.access_of(doctor.user, patient) is None


def test_care_can_only_be_granted_to_clinicians(patient, other_patient):
    from ihospital.core.errors import DomainError

    with pytest.raises(DomainError) as exc:
        grant_care(clinician=other_patient.user, patient=patient, source=CareSource.MANUAL)
    assert exc.value.code == "not_a_clinician"
    assert not CareRelationship.objects.exists()


def test_grant_care_is_idempotent_per_source(patient, doctor):
    first = grant_care(clinician=doctor.user, patient=patient, source=CareSource.APPOINTMENT, source_id="7")
    again = grant_care(clinician=doctor.user, patient=patient, source=CareSource.APPOINTMENT, source_id="7")
    assert first.pk == again.pk
    assert CareRelationship.objects.count() == 1


def test_unauthenticated_chart_request(client, patient):
    response = client.get(chart_url(patient))
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"
