"""The consultation API (/api/teleconsult/) with bearer tokens: the whole flow from the draft to the acknowledged
report and the statement, each caller's view (the patient's leaves out the clinical text; only the referrer,
coordinators and admins see the fee), and refusals as ``{"error": {"code", "message"}}`` with 4xx."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from ihospital.teleconsult.models import ConsultRequest, Status
from tests.factories import PatientFactory
from tests.helpers import current_code, error_of, token_headers
from tests.teleconsult import factories as f

pytestmark = pytest.mark.django_db
BASE = "/api/teleconsult"
ADVICE = "This report is expert advice. The treating hospital and its doctors keep the decision."


def call(user, method: str, path: str, body=None):
    client = Client()
    headers = {**token_headers(user), "HTTP_ACCEPT_LANGUAGE": "en"}
    headers = {("HTTP_" + k.upper() if not k.startswith("HTTP_") else k): v for k, v in headers.items()}
    if method == "get":
        return client.get(BASE + path, body or {}, **headers)
    return client.post(BASE + path, body or {}, content_type="application/json", **headers)


def test_the_whole_flow_over_the_api(patient, referrer, cardiology, expert, coordinator, admin_user):
    created = call(referrer, "post", "/requests", {
        "patient_id": patient.pk, "question": "PCI?", "summary": "Chest pain", "urgency": "urgent",
        "department_id": cardiology.pk})
    assert created.status_code == 201, created.content
    rid = created.json()["id"]
    assert created.json()["status"] == "draft" and created.json()["role"] == "referrer"
    # Not sent without the patient's consent.
    f.tariffs_for(ConsultRequest.objects.get(pk=rid).referring_facility, fee_fen=60000)
    refused = call(referrer, "post", f"/requests/{rid}/submit")
    assert refused.status_code == 400 and error_of(refused)["code"] == "consent_required"
    given = call(patient.user, "post", f"/requests/{rid}/consent")
    assert given.status_code == 201 and given.json()["consent_id"]
    sent = call(referrer, "post", f"/requests/{rid}/submit")
    assert sent.status_code == 200 and sent.json()["status"] == "submitted" and sent.json()["fee_fen"] == 60000
    assigned = call(coordinator, "post", f"/requests/{rid}/assign", {"expert_id": expert.pk, "role": "lead"})
    assert assigned.status_code == 201 and assigned.json()["role"] == "lead"
    assert call(expert, "post", f"/requests/{rid}/accept").json()["status"] == "in_review"
    seen = call(expert, "get", f"/requests/{rid}").json()
    assert seen["role"] == "expert" and seen["question"] == "PCI?" and seen["fee_fen"] is None
    bad = call(expert, "post", f"/requests/{rid}/opinion", {"impression": "x", "diagnoses": ["NOPE"]})
    assert bad.status_code == 400 and error_of(bad)["code"] == "invalid_icd10"
    op = call(expert, "post", f"/requests/{rid}/opinion", {
        "findings": "ST depression", "impression": "Angina", "diagnoses": ["I20.9"],
        "recommendations": "CTA", "submit": True})
    assert op.status_code == 200 and op.json()["submitted"] and op.json()["diagnoses"][0]["code"] == "I20.9"
    signed = call(expert, "post", f"/requests/{rid}/sign", {
        "findings": "ST depression", "impression": "Angina", "diagnoses": ["I20.9"], "recommendations": "CTA",
        "otp_code": current_code(f.device_of(expert))})
    assert signed.status_code == 200 and signed.json()["status"] == "reported"
    assert signed.json()["report"]["advice"] == ADVICE
    mine = call(patient.user, "get", f"/requests/{rid}").json()
    assert mine["role"] == "patient" and mine["question"] is None and mine["summary"] is None
    assert mine["fee_fen"] is None and mine["report"]["impression"] == "Angina" and mine["report"]["findings"] is None
    done = call(referrer, "post", f"/requests/{rid}/acknowledge")
    assert done.status_code == 200 and done.json()["status"] == "acknowledged"
    facility_id = ConsultRequest.objects.get(pk=rid).referring_facility_id
    statement = call(admin_user, "get", "/statements",
                     {"facility_id": facility_id, "month": timezone.localdate().strftime("%Y-%m")})
    assert statement.status_code == 200
    assert statement.json()["count"] == 1 and statement.json()["total_fen"] == 60000


def test_lists_are_scoped(patient, referrer, cardiology, expert):
    mine = f.submitted_request(patient=patient, referrer=referrer, department=cardiology)
    other = f.submitted_request(department=cardiology)
    numbers = {r["number"] for r in call(referrer, "get", "/requests").json()}
    assert mine.number in numbers and other.number not in numbers
    assert call(expert, "get", "/requests").json() == []
    assert call(expert, "get", f"/requests/{mine.pk}").status_code == 404
    stranger = PatientFactory()
    assert call(stranger.user, "get", f"/requests/{mine.pk}").status_code == 404
    assert {r["number"] for r in call(patient.user, "get", "/requests").json()} == {mine.number}


def test_refusals(patient, referrer, cardiology, expert, coordinator):
    not_in_care = PatientFactory()
    r = call(referrer, "post", "/requests", {"patient_id": not_in_care.pk, "question": "q", "summary": "s",
                                             "department_id": cardiology.pk})
    assert r.status_code in (403, 404) and error_of(r)
    r = call(referrer, "post", "/requests", {"patient_id": patient.pk, "question": "q", "summary": "s",
                                             "urgency": "whenever", "department_id": cardiology.pk})
    assert r.status_code == 400 and error_of(r)["code"] == "invalid_urgency"
    r = call(expert, "post", "/requests", {"patient_id": patient.pk, "question": "q", "summary": "s"})
    assert r.status_code == 403 and error_of(r)["code"] == "not_partner_doctor"
    consult = f.submitted_request(department=cardiology)
    r = call(coordinator, "post", f"/requests/{consult.pk}/assign", {"expert_id": expert.pk, "role": "member"})
    assert error_of(r)["code"] == "lead_first"
    r = call(coordinator, "post", f"/requests/{consult.pk}/return", {"reason": ""})
    assert r.status_code == 400
    r = call(referrer, "post", f"/requests/{consult.pk}/cancel", {"reason": "x"})
    assert r.status_code == 404  # not theirs
    r = call(referrer, "get", "/statements", {"facility_id": consult.referring_facility_id, "month": "2026-01"})
    assert r.status_code == 403 and error_of(r)["code"] == "not_statement_reader"
    assert Client().get(BASE + "/requests").status_code == 401
    consult.refresh_from_db()
    assert consult.status == Status.SUBMITTED


def test_an_expert_declines_over_the_api(cardiology, expert):
    consult = f.assigned_request(department=cardiology, lead=expert)
    r = call(expert, "post", f"/requests/{consult.pk}/decline", {"reason": ""})
    assert r.status_code == 400
    assert call(expert, "post", f"/requests/{consult.pk}/decline", {"reason": "On leave"}).status_code == 204
    consult.refresh_from_db()
    assert consult.status == Status.SUBMITTED
    assert call(expert, "get", f"/requests/{consult.pk}").status_code == 404


def test_edit_withdraw_and_the_pdf_over_the_api(patient, referrer, cardiology, expert, expert2, coordinator):
    draft = f.draft_request(patient=patient, referrer=referrer, department=cardiology)
    client = Client()
    headers = {"HTTP_AUTHORIZATION": token_headers(referrer)["authorization"]}
    r = client.patch(f"{BASE}/requests/{draft.pk}", {"question": "Changed?", "named_expert_id": expert.pk},
                     content_type="application/json", **headers)
    assert r.status_code == 200 and r.json()["question"] == "Changed?" and r.json()["named_expert"]
    draft.refresh_from_db()
    assert draft.summary and draft.department == cardiology  # fields not sent are kept
    consult = f.in_review_request(department=cardiology, lead=expert, members=[expert2], coordinator=coordinator)
    member = consult.assignments.get(expert=expert2)
    r = call(coordinator, "post", f"/assignments/{member.pk}/withdraw", {"reason": "Not needed"})
    assert r.status_code == 200 and r.json()["ended_at"]
    assert call(expert, "get", f"/requests/{consult.pk}/report.pdf").status_code == 404  # not reported yet
    from ihospital.teleconsult import opinions

    opinions.save_opinion(actor=expert, request_id=consult.pk, findings="f", impression="i", diagnoses=["I10"],
                          recommendations="r", submit=True)
    opinions.sign_report(actor=expert, request_id=consult.pk, findings="f", impression="i", diagnoses=["I10"],
                         recommendations="r", otp_code=current_code(f.device_of(expert)))
    pdf = call(consult.referring_doctor, "get", f"/requests/{consult.pk}/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
