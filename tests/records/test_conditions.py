"""Diagnoses coded in ICD-10: validation, who may confirm them, and the definite in-person diagnosis rule."""

from __future__ import annotations

import csv
from datetime import timedelta

import pytest
from django.utils import timezone

from ihospital.accounts import services as accounts
from ihospital.core.errors import DomainError
from ihospital.records import icd10
from ihospital.records.models import CareSource, Condition, EncounterMode, Verification
from ihospital.records.services import add_condition, grant_care, record_in_person_encounter
from tests.factories import NurseFactory, PatientFactory
from tests.helpers import counts, error_of, token_headers

pytestmark = pytest.mark.django_db


@pytest.fixture
def encounter(patient, doctor):
    return record_in_person_encounter(
        actor=doctor.user,
        mrn=patient.mrn,
        department_id=doctor.departments.get().pk,
        started_at=timezone.now() - timedelta(hours=2),
    )


def post_condition(client, patient, headers, **data):
    return client.post(
        f"/api/patients/{patient.pk}/conditions", data, content_type="application/json", headers=headers
    )


# ---- ICD-10 codes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [("I10", "I10"), ("E11.9", "E11.9"), ("e119", "E11.9"), (" e11.9 ", "E11.9"), ("J45", "J45"), ("u071", "U07.1")],
)
def test_valid_codes_are_normalised(raw, code):
    found = icd10.lookup(raw)
    assert found.code == code
    assert found.name_en


@pytest.mark.parametrize("raw", ["XX", "I", "Z99.99", "I10-I15", "", "I10.", "ABC", "E11.99", "10"])
def test_invalid_codes_chapters_and_blocks_are_refused(raw):
    with pytest.raises(DomainError) as exc:
        icd10.lookup(raw)
    assert exc.value.code == "invalid_icd10"


def test_every_shipped_chinese_name_is_for_a_valid_code():
    path = icd10._ZH_FILE
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) > 50
    codes = [row["code"] for row in rows]
    assert len(codes) == len(set(codes)), "duplicate codes in icd10_zh.csv"
    for row in rows:
        found = icd10.lookup(row["code"])
        assert found.code == row["code"], row  # already in normal form
        assert found.name_zh == row["name_zh"] and row["name_zh"].strip()


def test_search_by_code_prefix_english_and_chinese_name():
    assert [c.code for c in icd10.search("E11")[:2]] == ["E11", "E11.0"]
    assert all(c.code.startswith("E11") for c in icd10.search("e11", limit=5))
    assert "I10" in [c.code for c in icd10.search("hypertension")]
    assert "I10" in [c.code for c in icd10.search("Essential (PRIMARY)")]
    assert "I10" in [c.code for c in icd10.search("高血压")]
    assert icd10.search("  ") == []
    assert len(icd10.search("a", limit=7)) == 7


def test_icd10_api(client, patient):
    headers = token_headers(patient.user)
    response = client.get("/api/icd10?q=e119", headers={**headers, "accept-language": "en"})
    assert response.status_code == 200
    assert response.json()[0] == {
        "code": "E11.9",
        "name": icd10.lookup("E11.9").name_en,
        "name_en": icd10.lookup("E11.9").name_en,
    }
    by_english = client.get("/api/icd10?q=hypertension&limit=50", headers={**headers, "accept-language": "en"})
    assert "I10" in [c["code"] for c in by_english.json()]
    by_chinese = client.get("/api/icd10?q=高血压", headers={**headers, "accept-language": "zh-hans"}).json()
    i10 = next(c for c in by_chinese if c["code"] == "I10")
    assert i10["name"] == "原发性高血压"
    assert len(client.get("/api/icd10?q=a&limit=500", headers=headers).json()) == 50  # capped
    assert client.get("/api/icd10?q=I10").status_code == 401


# ---- adding conditions -------------------------------------------------------------------------------------


def test_doctor_confirmed_diagnosis_from_an_in_person_encounter_is_definite(client, patient, doctor, encounter):
    response = post_condition(
        client, patient, token_headers(doctor.user), code="i10", encounter_id=encounter.pk, chronic=True
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["code"] == "I10" and body["verification"] == Verification.CONFIRMED
    assert body["definite_in_person"] is True
    condition = Condition.objects.get(pk=body["id"])
    assert condition.is_definite_in_person_diagnosis
    assert condition.display == "原发性高血压"
    assert condition.recorded_by == doctor.user and condition.encounter.mode == EncounterMode.IN_PERSON


def test_confirmed_without_an_in_person_encounter_is_not_definite(patient, doctor, encounter):
    without = add_condition(actor=doctor.user, patient_id=patient.pk, code="E11.9")
    assert without.verification == Verification.CONFIRMED
    assert not without.is_definite_in_person_diagnosis
    provisional = add_condition(
        actor=doctor.user, patient_id=patient.pk, code="E11.9", encounter_id=encounter.pk,
        verification=Verification.PROVISIONAL,
    )
    assert not provisional.is_definite_in_person_diagnosis
    online = add_condition(actor=doctor.user, patient_id=patient.pk, code="E11.9", encounter_id=encounter.pk)
    type(encounter).objects.filter(pk=encounter.pk).update(mode=EncounterMode.ONLINE)
    online.refresh_from_db()
    assert not online.is_definite_in_person_diagnosis


def test_entered_in_error_diagnosis_is_not_definite(patient, doctor, encounter):
    condition = add_condition(actor=doctor.user, patient_id=patient.pk, code="I10", encounter_id=encounter.pk)
    assert condition.is_definite_in_person_diagnosis
    from ihospital.records.services import mark_entered_in_error

    mark_entered_in_error(actor=doctor.user, entry_type="condition", entry_id=condition.pk, reason="wrong patient")
    condition.refresh_from_db()
    assert not condition.is_definite_in_person_diagnosis


def test_patient_added_condition_is_always_patient_reported(client, patient, other_patient, doctor):
    encounter = record_in_person_encounter(
        actor=doctor.user, mrn=patient.mrn, department_id=doctor.departments.get().pk,
        started_at=timezone.now() - timedelta(hours=1),
    )
    response = post_condition(
        client, patient, token_headers(patient.user), code="I10", verification="confirmed", encounter_id=encounter.pk
    )
    assert response.status_code == 201
    body = response.json()
    assert body["verification"] == Verification.PATIENT_REPORTED
    assert body["definite_in_person"] is False
    assert body["encounter_id"] is None
    # A relative acting for the patient is no different.
    relative = PatientFactory()
    accounts.invite_proxy(patient_user=patient.user, proxy_phone=relative.user.phone,
                          proxy_real_name=relative.user.real_name, relationship="child", consent=True)
    condition = add_condition(actor=relative.user, patient_id=patient.pk, code="E11.9", verification="confirmed")
    assert condition.verification == Verification.PATIENT_REPORTED
    assert not condition.is_definite_in_person_diagnosis


@pytest.mark.parametrize("code", ["XX", "I", "Z99.99", "hypertension"])
def test_invalid_code_is_refused_and_nothing_is_written(client, patient, code):
    headers = token_headers(patient.user)
    before = counts(with_audit=True)
    response = post_condition(client, patient, headers, code=code)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_icd10"
    assert set(error["fields"]) == {"code"}
    assert counts(with_audit=True) == before


def test_doctor_refusals(patient, other_patient, doctor, encounter):
    other_encounter = record_in_person_encounter(
        actor=doctor.user, mrn=other_patient.mrn, department_id=doctor.departments.get().pk,
        started_at=timezone.now() - timedelta(hours=1),
    )
    cases = [
        (dict(code="I10", encounter_id=other_encounter.pk), "invalid_encounter"),  # someone else's encounter
        (dict(code="I10", encounter_id=encounter.pk + 10_000), "invalid_encounter"),
        (dict(code="I10", verification="definitely"), "invalid_verification"),
        (dict(code="I10", onset_date=timezone.localdate() + timedelta(days=1)), "onset_in_future"),
    ]
    for kwargs, code in cases:
        before = counts(with_audit=True)
        with pytest.raises(DomainError) as exc:
            add_condition(actor=doctor.user, patient_id=patient.pk, **kwargs)
        assert exc.value.code == code
        assert counts(with_audit=True) == before


def test_a_nurse_in_care_cannot_diagnose(patient):
    nurse = NurseFactory()
    grant_care(clinician=nurse.user, patient=patient, source=CareSource.MANUAL)
    before = counts(with_audit=True)
    with pytest.raises(DomainError) as exc:
        add_condition(actor=nurse.user, patient_id=patient.pk, code="I10")
    assert exc.value.code == "not_a_clinician" and exc.value.status == 403
    assert counts(with_audit=True) == before


def test_doctor_without_care_cannot_add_a_condition(client, patient, doctor):
    headers = token_headers(doctor.user)
    before = counts()
    response = post_condition(client, patient, headers, code="I10")
    assert response.status_code == 404
    assert counts() == before


def test_allergies_and_medications_are_verified_only_when_a_clinician_records_them(patient, doctor, encounter):
    from ihospital.records.services import add_allergy, add_medication

    own = add_allergy(actor=patient.user, patient_id=patient.pk, substance="青霉素")
    clinical = add_allergy(actor=doctor.user, patient_id=patient.pk, substance="磺胺", severity="severe")
    assert (own.verified, clinical.verified) == (False, True)
    med = add_medication(actor=patient.user, patient_id=patient.pk, medication="二甲双胍", dose="0.5 g")
    assert med.verified is False
    for call, kwargs, code in [
        (add_allergy, {"substance": " "}, "substance_required"),
        (add_allergy, {"substance": "花粉", "category": "pollen"}, "invalid_category"),
        (add_allergy, {"substance": "花粉", "severity": "deadly"}, "invalid_severity"),
        (add_medication, {"medication": ""}, "medication_required"),
    ]:
        before = counts(with_audit=True)
        with pytest.raises(DomainError) as exc:
            call(actor=patient.user, patient_id=patient.pk, **kwargs)
        assert exc.value.code == code
        assert counts(with_audit=True) == before
