"""Online visits are for follow-ups only: the basis a patient offers decides whether a visit may be requested.

A definite in-person diagnosis on the chart is enough; anything weaker is a first visit, refused with a link to
the in-person booking page; an uploaded record waits for the doctor, who accepts it (coding the diagnosis) or
rejects it with a reason. A refusal leaves every table as it was.
"""

from __future__ import annotations

import pytest

from ihospital.core.errors import DomainError
from ihospital.core.models import AuditAction, AuditEvent, AuditOutcome
from ihospital.core.transitions import timeline
from ihospital.records.models import Condition, DocumentKind, Verification
from ihospital.scheduling.models import AppointmentStatus
from ihospital.visits import services
from ihospital.visits.models import BasisStatus, Visit, VisitStatus
from tests.helpers import error_of, token_headers
from tests.visits import flows
from tests.visits.factories import ConditionFactory, DocumentFactory

pytestmark = pytest.mark.django_db

FIRST_VISIT_LINK = "/visits/in-person/"


def post_visit(client, headers, **payload):
    return client.post(
        "/api/visits", {"online_care_consent": True, **payload}, content_type="application/json", headers=headers
    )


def test_a_definite_in_person_diagnosis_makes_a_follow_up(client, patient, diagnosis, slot, doc):
    headers = token_headers(patient.user)
    response = post_visit(
        client, headers, patient_id=patient.pk, complaint="血压控制不佳", condition_id=diagnosis.pk, slot_id=slot.pk
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "requested" and body["basis_status"] == "accepted"
    assert body["condition_id"] == diagnosis.pk and body["doctor_id"] == doc.pk
    visit = Visit.objects.get(pk=body["id"])
    assert visit.condition == diagnosis and visit.basis_document is None
    assert visit.patient == patient and visit.requested_by == patient.user
    assert AuditEvent.objects.filter(
        action=AuditAction.CREATE, object_type="visits.visit", object_id=str(visit.pk), patient_id=patient.pk
    ).exists()


@pytest.mark.parametrize(
    "trait",
    ["patient_reported", "provisional", "resolved", "at_partner", "withdrawn", "from_online_encounter"],
)
def test_anything_short_of_a_definite_diagnosis_is_a_first_visit(client, patient, slot, trait):
    condition = ConditionFactory(patient=patient, **{trait: True})
    headers = token_headers(patient.user)
    before = flows.state()

    response = post_visit(
        client, headers, patient_id=patient.pk, complaint="想开药", condition_id=condition.pk, slot_id=slot.pk
    )

    assert response.status_code == 403, response.content
    error = error_of(response)
    assert error["code"] == "first_visit_not_allowed"
    assert error["link"] == FIRST_VISIT_LINK
    assert flows.state() == before


def test_the_same_diagnosis_made_at_a_partner_facility_is_not_enough(patient, department):
    condition = ConditionFactory(patient=patient, at_partner=True)
    assert condition.verification == Verification.CONFIRMED and condition.encounter.mode == "in_person"
    assert not condition.encounter.at_home_hospital
    with pytest.raises(DomainError) as exc:
        flows.queue(patient, department, condition)
    assert exc.value.code == "first_visit_not_allowed" and exc.value.status == 403


def test_no_basis_at_all_is_a_first_visit(client, patient, department, diagnosis):
    headers = token_headers(patient.user)
    before = flows.state()
    response = post_visit(
        client, headers, patient_id=patient.pk, complaint="第一次看这个病", department_id=department.pk
    )
    assert response.status_code == 403
    assert error_of(response) | {"message": ""} == {
        "code": "first_visit_not_allowed",
        "message": "",
        "link": FIRST_VISIT_LINK,
    }
    assert flows.state() == before


def test_the_refusal_is_translated(client, patient, department):
    headers = token_headers(patient.user) | {"accept-language": "en"}
    response = client.post(
        "/api/visits",
        {"online_care_consent": True, "patient_id": patient.pk, "complaint": "x", "department_id": department.pk},
        content_type="application/json",
        headers=headers,
    )
    assert "in-person appointment" in error_of(response)["message"]


@pytest.mark.parametrize(
    "kind",
    [
        DocumentKind.OUTPATIENT_RECORD,
        DocumentKind.INPATIENT_RECORD,
        DocumentKind.DISCHARGE_SUMMARY,
        DocumentKind.DIAGNOSIS_CERTIFICATE,
    ],
)
def test_an_uploaded_record_waits_for_the_doctor(client, patient, slot, kind):
    document = DocumentFactory(patient=patient, kind=kind)
    headers = token_headers(patient.user)
    response = post_visit(
        client, headers, patient_id=patient.pk, complaint="外院诊断的高血压", document_id=document.pk, slot_id=slot.pk
    )
    assert response.status_code == 201, response.content
    visit = Visit.objects.get(pk=response.json()["id"])
    assert visit.basis_status == BasisStatus.PENDING_REVIEW
    assert visit.basis_document == document and visit.condition is None


@pytest.mark.parametrize("kind", [DocumentKind.LAB_REPORT, DocumentKind.IMAGE, DocumentKind.OTHER])
def test_a_document_that_is_not_a_diagnosis_is_refused(client, patient, slot, kind):
    document = DocumentFactory(patient=patient, kind=kind)
    headers = token_headers(patient.user)
    before = flows.state()
    response = post_visit(
        client, headers, patient_id=patient.pk, complaint="看化验单", document_id=document.pk, slot_id=slot.pk
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "document_not_a_diagnosis"
    assert flows.state() == before


def test_a_record_marked_entered_in_error_is_not_found(patient, slot):
    document = DocumentFactory(patient=patient, entered_in_error=True, error_reason="wrong file")
    with pytest.raises(DomainError) as exc:
        services.request_visit(
            online_care_consent=True,
            actor=patient.user,
            patient_id=patient.pk,
            complaint="x",
            document_id=document.pk,
            slot_id=slot.pk,
        )
    assert exc.value.status == 404


def test_someone_elses_condition_or_document_is_not_found(client, patient, other_patient, slot):
    theirs = ConditionFactory(patient=other_patient)
    their_document = DocumentFactory(patient=other_patient)
    headers = token_headers(patient.user)
    before = flows.state()
    for basis in (
        {"condition_id": theirs.pk},
        {"document_id": their_document.pk},
        {"condition_id": 10**9},
        {"document_id": 10**9},
    ):
        response = post_visit(client, headers, patient_id=patient.pk, complaint="x", slot_id=slot.pk, **basis)
        assert response.status_code == 404, (basis, response.content)
        assert error_of(response)["code"] == "not_found"
    assert flows.state() == before
    denied = AuditEvent.objects.filter(outcome=AuditOutcome.DENIED, actor=patient.user)
    assert {(e.object_type, e.object_id, e.patient_id) for e in denied} == {
        ("records.condition", str(theirs.pk), other_patient.pk),
        ("records.document", str(their_document.pk), other_patient.pk),
        ("records.condition", str(10**9), None),
        ("records.document", str(10**9), None),
    }


def test_withdrawn_health_data_consent_stops_the_request(patient, diagnosis, slot):
    from ihospital.accounts import services as accounts
    from ihospital.accounts.models import Consent, ConsentKind

    consent = Consent.objects.get(patient=patient, kind=ConsentKind.HEALTH_DATA)
    accounts.withdraw_consent(actor=patient.user, consent_id=consent.pk)
    before = flows.state()
    with pytest.raises(DomainError) as exc:
        flows.book(patient, slot, diagnosis)
    assert exc.value.code == "consent_withdrawn"
    assert flows.state() == before


# ---- the doctor reviews an uploaded record ------------------------------------------------------------------


@pytest.fixture
def pending_visit(patient, slot):
    document = DocumentFactory(patient=patient, kind=DocumentKind.DIAGNOSIS_CERTIFICATE)
    return services.request_visit(
        online_care_consent=True,
        actor=patient.user,
        patient_id=patient.pk,
        complaint="外院确诊糖尿病",
        document_id=document.pk,
        slot_id=slot.pk,
    )


def test_the_doctor_accepts_the_record_with_an_icd10_code(client, pending_visit, doc, patient):
    with pytest.raises(DomainError) as exc:
        flows.accept(pending_visit, doc)
    assert exc.value.code == "basis_not_accepted"

    response = client.post(
        f"/api/visits/{pending_visit.pk}/basis-review",
        {"accept": True, "code": "e11.9", "note": "外院诊断证明书，诊断明确"},
        content_type="application/json",
        headers=token_headers(doc.user),
    )

    assert response.status_code == 200, response.content
    visit = Visit.objects.get(pk=pending_visit.pk)
    assert visit.basis_status == BasisStatus.ACCEPTED and visit.basis_review_note == "外院诊断证明书，诊断明确"
    condition = visit.condition
    assert condition.code == "E11.9" and condition.verification == Verification.CONFIRMED
    assert condition.source_document == visit.basis_document and condition.patient == patient
    assert condition.recorded_by == doc.user
    assert visit.status == VisitStatus.REQUESTED  # accepted as a basis; the visit itself is accepted next
    assert flows.accept(visit, doc).status == VisitStatus.ACCEPTED

    with pytest.raises(DomainError) as exc:
        services.review_basis(actor=doc.user, visit_id=visit.pk, accept=False, note="again")
    assert exc.value.code == "basis_already_reviewed"


def test_accepting_with_a_code_that_is_not_icd10_changes_nothing(pending_visit, doc):
    before = flows.state()
    with pytest.raises(DomainError) as exc:
        services.review_basis(actor=doc.user, visit_id=pending_visit.pk, accept=True, code="XYZ.9")
    assert exc.value.code == "invalid_icd10"
    assert flows.state() == before


def test_the_doctor_rejects_the_record_with_a_reason(pending_visit, doc, slot):
    slot.refresh_from_db()
    assert slot.booked == 1
    before = flows.state()
    with pytest.raises(DomainError) as exc:
        services.review_basis(actor=doc.user, visit_id=pending_visit.pk, accept=False, note="  ")
    assert exc.value.code == "reason_required"
    assert flows.state() == before

    visit = services.review_basis(
        actor=doc.user, visit_id=pending_visit.pk, accept=False, note="照片模糊，无法确认诊断，请到门诊就诊"
    )

    assert visit.status == VisitStatus.REFUSED and visit.basis_status == BasisStatus.REJECTED
    assert visit.status_reason == visit.basis_review_note == "照片模糊，无法确认诊断，请到门诊就诊"
    assert visit.ended_at is not None
    assert visit.appointment.status == AppointmentStatus.CANCELLED
    slot.refresh_from_db()
    assert slot.booked == 0  # the place is free for someone else
    assert not Condition.objects.filter(source_document=visit.basis_document).exists()
    event = timeline(visit).get()
    assert (event.from_status, event.to_status, event.actor, event.reason) == (
        "requested",
        "refused",
        doc.user,
        "照片模糊，无法确认诊断，请到门诊就诊",
    )


def test_only_the_visits_doctor_reviews_the_record(pending_visit, department):
    from tests.visits.factories import online_doctor

    colleague = online_doctor(department)
    before = flows.state()
    with pytest.raises(DomainError) as exc:
        services.review_basis(actor=colleague.user, visit_id=pending_visit.pk, accept=True, code="E11.9")
    assert exc.value.status == 404
    assert flows.state() == before


def test_a_diagnosis_accepted_from_a_record_is_the_basis_of_the_next_visit(pending_visit, doc, patient, department):
    visit = services.review_basis(actor=doc.user, visit_id=pending_visit.pk, accept=True, code="I10")
    condition = visit.condition
    assert condition.encounter is None and condition.source_document is not None
    follow_up = flows.queue(patient, department, condition)
    assert follow_up.basis_status == BasisStatus.ACCEPTED and follow_up.condition == condition


def test_a_record_is_not_reviewed_once_the_visit_has_ended(pending_visit, doc, patient):
    services.cancel_visit(actor=patient.user, visit_id=pending_visit.pk, reason="不看了")
    before = flows.state()
    for accept, note in ((True, ""), (False, "不清楚")):
        with pytest.raises(DomainError) as exc:
            services.review_basis(actor=doc.user, visit_id=pending_visit.pk, accept=accept, code="I10", note=note)
        assert (exc.value.code, exc.value.status) == ("invalid_transition", 409)
    assert flows.state() == before
    assert not Condition.objects.filter(source_document=pending_visit.basis_document).exists()
