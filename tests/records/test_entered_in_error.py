"""Nothing in a chart is hard-deleted: a wrong entry is marked "entered in error" with who and why."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ihospital.accounts import services as accounts
from ihospital.core.models import AuditAction, AuditEvent
from ihospital.records.models import Allergy, CareSource, Condition, Document, Encounter, MedicationStatement
from ihospital.records.services import add_allergy, add_condition, add_medication, grant_care, upload_document
from tests.factories import PatientFactory
from tests.helpers import counts, error_of, token_headers

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def mark(client, headers, entry_type, entry_id, reason="wrong patient"):
    return client.post(
        f"/api/chart/{entry_type}/{entry_id}/entered-in-error",
        {"reason": reason},
        content_type="application/json",
        headers=headers,
    )


def test_author_marks_an_entry_and_it_stays(client, patient):
    headers = token_headers(patient.user)
    allergy = add_allergy(actor=patient.user, patient_id=patient.pk, substance="青霉素")
    response = mark(client, headers, "allergy", allergy.pk, reason="  记错了  ")
    assert response.status_code == 200
    assert response.json() == {"id": allergy.pk, "entered_in_error": True}
    allergy.refresh_from_db()
    assert allergy.entered_in_error and allergy.error_reason == "记错了"
    assert Allergy.objects.filter(pk=allergy.pk).exists()
    event = AuditEvent.objects.filter(action=AuditAction.UPDATE, object_id=str(allergy.pk)).get()
    assert event.detail == {"entered_in_error": "记错了"} and event.patient_id == patient.pk
    # The chart no longer shows it.
    chart = client.get(f"/api/patients/{patient.pk}/chart", headers=headers).json()
    assert chart["allergies"] == []


def test_reason_is_required(client, patient):
    headers = token_headers(patient.user)
    allergy = add_allergy(actor=patient.user, patient_id=patient.pk, substance="青霉素")
    before = counts(with_audit=True)
    response = mark(client, headers, "allergy", allergy.pk, reason="   ")
    assert response.status_code == 400
    assert error_of(response)["code"] == "reason_required"
    assert counts(with_audit=True) == before
    allergy.refresh_from_db()
    assert not allergy.entered_in_error


def test_marking_twice_is_a_conflict(client, patient):
    headers = token_headers(patient.user)
    med = add_medication(actor=patient.user, patient_id=patient.pk, medication="阿司匹林")
    assert mark(client, headers, "medication", med.pk, reason="first").status_code == 200
    before = counts(with_audit=True)
    response = mark(client, headers, "medication", med.pk, reason="second")
    assert response.status_code == 409
    assert error_of(response)["code"] == "already_withdrawn"
    assert counts(with_audit=True) == before
    med.refresh_from_db()
    assert med.error_reason == "first"


def test_other_people_get_404(client, patient, other_patient, doctor):
    condition = add_condition(actor=patient.user, patient_id=patient.pk, code="I10")
    for user in (other_patient.user, doctor.user):  # a doctor with no care relationship is "other people" too
        headers = token_headers(user)
        before = counts()
        response = mark(client, headers, "condition", condition.pk)
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"
        assert counts() == before
    condition.refresh_from_db()
    assert not condition.entered_in_error


def test_unknown_entry_type_or_id_is_404(client, patient):
    headers = token_headers(patient.user)
    allergy = add_allergy(actor=patient.user, patient_id=patient.pk, substance="青霉素")
    assert mark(client, headers, "patient", allergy.pk).status_code == 404
    assert mark(client, headers, "allergy", allergy.pk + 1000).status_code == 404


def test_a_proxy_cannot_withdraw_what_the_patient_wrote(client, patient):
    relative = PatientFactory()
    accounts.invite_proxy(patient_user=patient.user, proxy_phone=relative.user.phone,
                          proxy_real_name=relative.user.real_name, relationship="child", consent=True)
    allergy = add_allergy(actor=patient.user, patient_id=patient.pk, substance="青霉素")
    response = mark(client, token_headers(relative.user), "allergy", allergy.pk)
    assert response.status_code == 403
    assert error_of(response)["code"] == "not_author"
    allergy.refresh_from_db()
    assert not allergy.entered_in_error
    # What the proxy wrote, the proxy may withdraw.
    own = add_allergy(actor=relative.user, patient_id=patient.pk, substance="花生", category="food")
    assert mark(client, token_headers(relative.user), "allergy", own.pk).status_code == 200


def test_a_clinician_in_care_may_withdraw_a_patients_entry(client, patient, doctor):
    grant_care(clinician=doctor.user, patient=patient, source=CareSource.MANUAL)
    condition = add_condition(actor=patient.user, patient_id=patient.pk, code="E11.9")
    assert mark(client, token_headers(doctor.user), "condition", condition.pk).status_code == 200
    assert Condition.objects.get(pk=condition.pk).entered_in_error


def test_a_withdrawn_document_can_no_longer_be_downloaded(client, patient, settings):
    headers = token_headers(patient.user)
    doc = upload_document(actor=patient.user, patient_id=patient.pk, kind="image", title="",
                          file=SimpleUploadedFile("a.png", PNG, content_type="image/png"))
    assert mark(client, headers, "document", doc.pk).status_code == 200
    assert client.get(f"/api/documents/{doc.pk}/download", headers=headers).status_code == 404
    assert Document.objects.filter(pk=doc.pk).exists()


@pytest.mark.parametrize("model", [Encounter, Condition, Allergy, MedicationStatement, Document])
def test_chart_entries_refuse_delete(model, patient):
    add_allergy(actor=patient.user, patient_id=patient.pk, substance="青霉素")
    with pytest.raises(TypeError):
        model.objects.all().delete()
    with pytest.raises(TypeError):
        model.objects.filter(patient=patient).delete()


def test_instances_refuse_delete(patient, doctor):
    allergy = add_allergy(actor=patient.user, patient_id=patient.pk, substance="青霉素")
    condition = add_condition(actor=patient.user, patient_id=patient.pk, code="I10")
    for entry in (allergy, condition):
        with pytest.raises(TypeError):
            entry.delete()
    assert Allergy.objects.filter(pk=allergy.pk).exists()
    assert Condition.objects.filter(pk=condition.pk).exists()


def test_patient_with_chart_entries_cannot_be_deleted(patient):
    from django.db.models import ProtectedError

    add_allergy(actor=patient.user, patient_id=patient.pk, substance="青霉素")
    with pytest.raises(ProtectedError):
        patient.delete()
    assert Allergy.objects.filter(patient=patient).exists()
