"""The prescriptions API (``/api/prescriptions``, ``/api/refills``, ``/api/patients/{id}/...``,
``/api/rx/verify``): each endpoint's answer, its refusals with the exact code and status, bad types as 422 with
nothing changed, 401 without credentials, and the public slip verification."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from ihospital.accounts.services import SECOND_FACTOR_AT
from ihospital.core.models import AuditAction, AuditEvent
from ihospital.prescriptions.models import Prescription, PrescriptionItem, RefillRequest, Review
from tests.factories import PatientFactory
from tests.helpers import error_of, token_headers, verify_session
from tests.prescriptions.factories import (
    DrugFactory,
    InteractionFactory,
    amlodipine,
    answers,
    approve,
    clarithromycin,
    code_of,
    draft,
    item,
    make_due,
    monthly,
    reject,
    simvastatin,
    state,
)

pytestmark = pytest.mark.django_db


class Api:
    """A signed-in API client: ``api.get(path)``, ``api.post(path, body)``... answering the response."""

    def __init__(self, client, user, language: str = "en"):
        self.client = client
        self.headers = {**token_headers(user), "accept-language": language} if user else {"accept-language": language}

    def get(self, path):
        return self.client.get(f"/api{path}", headers=self.headers)

    def post(self, path, body=None):
        return self.client.post(f"/api{path}", body if body is not None else {}, content_type="application/json",
                                headers=self.headers)

    def patch(self, path, body):
        return self.client.patch(f"/api{path}", body, content_type="application/json", headers=self.headers)

    def delete(self, path):
        return self.client.delete(f"/api{path}", headers=self.headers)


def refusal(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.content)
    error = error_of(response)
    assert error["code"] == code, error
    return error


def invalid(response) -> dict:
    return refusal(response, 422, "invalid_input")["fields"]


@pytest.fixture
def as_doctor(client, doc):
    return Api(client, doc.user)


@pytest.fixture
def as_patient(client, patient):
    return Api(client, patient.user)


@pytest.fixture
def as_pharmacist(client, pharmacist):
    return Api(client, pharmacist)


@pytest.fixture
def unsigned(doc, visit):
    return draft(doc, visit, item(amlodipine()), refills_allowed=2)


# ---- authentication ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/prescriptions/drugs?q=a"),
        ("get", "/prescriptions"),
        ("post", "/prescriptions"),
        ("get", "/prescriptions/1"),
        ("patch", "/prescriptions/1"),
        ("post", "/prescriptions/1/items"),
        ("delete", "/prescriptions/1/items/1"),
        ("get", "/prescriptions/1/checks"),
        ("post", "/prescriptions/1/sign"),
        ("post", "/prescriptions/1/cancel"),
        ("post", "/prescriptions/1/revise"),
        ("get", "/prescriptions/review/worklist"),
        ("post", "/prescriptions/1/claim"),
        ("post", "/prescriptions/1/release"),
        ("post", "/prescriptions/1/review"),
        ("get", "/patients/1/prescriptions"),
        ("get", "/patients/1/medicines"),
        ("get", "/patients/1/refills"),
        ("get", "/patients/1/refillable"),
        ("post", "/prescriptions/1/refills"),
        ("get", "/refills/worklist"),
        ("get", "/refills/1"),
        ("post", "/refills/1/cancel"),
        ("post", "/refills/1/approve"),
        ("post", "/refills/1/modify"),
        ("post", "/refills/1/ask-visit"),
        ("post", "/refills/1/refuse"),
    ],
)
def test_anonymous_is_401(client, method, path):
    api = Api(client, None)
    response = api.post(path) if method == "post" else api.patch(path, {}) if method == "patch" else getattr(
        api, method)(path)
    refusal(response, 401, "not_authenticated")


def test_a_staff_token_without_the_second_factor_is_401(client, doc):
    from datetime import timedelta

    from ihospital.accounts.models import ApiToken

    key = ApiToken.new_key()
    ApiToken.objects.create(user=doc.user, key_hash=ApiToken.hash_key(key), otp_verified=False,
                            expires_at=timezone.now() + timedelta(hours=1))
    response = client.get("/api/prescriptions", headers={"authorization": f"Bearer {key}"})
    refusal(response, 401, "not_authenticated")


# ---- the formulary -----------------------------------------------------------------------------------------------


def test_searching_the_formulary(as_doctor):
    amlodipine()
    DrugFactory(generic_name_zh="盐酸吗啡缓释片", generic_name_en="Morphine hydrochloride", narcotic=True)
    DrugFactory(generic_name_zh="旧药", generic_name_en="Old drug", retired=True)

    found = as_doctor.get("/prescriptions/drugs?q=氨氯").json()
    assert [(d["sku"], d["max_daily_dose"], d["online_prescribable"]) for d in found] == [("CV-AML-5", "10", True)]
    assert as_doctor.get("/prescriptions/drugs?q=norvasc").json()[0]["brand"] == "Norvasc"
    assert as_doctor.get("/prescriptions/drugs?q=C08").json()[0]["sku"] == "CV-AML-5"
    morphine = as_doctor.get("/prescriptions/drugs?q=morphine").json()
    assert [(d["control_class"], d["online_prescribable"]) for d in morphine] == [("narcotic", False)]
    assert as_doctor.get("/prescriptions/drugs?q=old").json() == []
    assert len(as_doctor.get("/prescriptions/drugs?limit=500").json()) == 2


# ---- writing --------------------------------------------------------------------------------------------------


def test_starting_a_prescription(as_doctor, visit, patient):
    response = as_doctor.post("/prescriptions", {"visit_id": visit.pk, "kind": "chronic", "refills_allowed": 2,
                                                 "notes": "低盐饮食"})

    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["kind"], body["refills_allowed"], body["patient_id"]) == (
        "draft", "chronic", 2, patient.pk)
    assert body["items"] == [] and body["content_hash"] == "" and body["review"] is None
    assert Prescription.objects.get(pk=body["id"]).visit == visit


def test_starting_refusals(as_doctor, visit, client, department):
    from tests.visits.factories import online_doctor

    before = state()
    refusal(as_doctor.post("/prescriptions", {"visit_id": visit.pk, "kind": "acute", "refills_allowed": 1}), 400,
            "refills_need_chronic")
    refusal(Api(client, online_doctor(department).user).post("/prescriptions", {"visit_id": visit.pk}), 404,
            "not_found")
    assert {"visit_id", "refills_allowed"} <= set(invalid(as_doctor.post(
        "/prescriptions", {"visit_id": "the usual", "refills_allowed": "two"})))
    assert "visit_id" in invalid(as_doctor.post("/prescriptions", {"kind": "acute"}))
    after = state()
    # (The colleague's token and account are new rows; nothing of the prescriptions changed.)
    assert {k: v for k, v in after.items() if not k.startswith(("accounts", "directory"))} == {
        k: v for k, v in before.items() if not k.startswith(("accounts", "directory"))}


def test_malformed_json_is_not_a_500(as_doctor, unsigned, client):
    before = state()
    for path in ("/api/prescriptions", f"/api/prescriptions/{unsigned.pk}/items",
                 f"/api/prescriptions/{unsigned.pk}/sign"):
        response = client.post(path, "{not json", content_type="application/json", headers=as_doctor.headers)
        assert 400 <= response.status_code < 500 and "error" in response.json()
    assert state() == before


def test_updating_a_draft(as_doctor, unsigned):
    response = as_doctor.patch(f"/prescriptions/{unsigned.pk}", {"notes": "饭后服", "guardian_name": "张三",
                                                                  "refills_allowed": 3})
    assert response.status_code == 200
    assert (response.json()["notes"], response.json()["guardian_name"], response.json()["refills_allowed"]) == (
        "饭后服", "张三", 3)
    before = state()
    refusal(as_doctor.patch(f"/prescriptions/{unsigned.pk}", {"kind": "acute"}), 400, "days_supply_exceeded")
    assert "kind" in invalid(as_doctor.patch(f"/prescriptions/{unsigned.pk}", {"kind": 5}))
    assert "refills_allowed" in invalid(as_doctor.patch(f"/prescriptions/{unsigned.pk}", {"refills_allowed": []}))
    assert state() == before


def test_adding_and_removing_items(as_doctor, unsigned):
    response = as_doctor.post(f"/prescriptions/{unsigned.pk}/items",
                              {"drug_id": simvastatin().pk, "dose": "20", "frequency": "qn", "duration_days": 28})
    assert response.status_code == 201
    line = response.json()
    assert (line["sku"], line["dose"], line["quantity"], line["route"], line["package_unit"]) == (
        "CV-SIM-20", "20", 1, "oral", "box")

    response = as_doctor.delete(f"/prescriptions/{unsigned.pk}/items/{line['id']}")
    assert response.status_code == 204 and response.content == b""
    assert not PrescriptionItem.objects.filter(pk=line["id"]).exists()
    refusal(as_doctor.delete(f"/prescriptions/{unsigned.pk}/items/{line['id']}"), 404, "not_found")


def test_item_refusals(as_doctor, unsigned):
    path = f"/prescriptions/{unsigned.pk}/items"
    narcotic = DrugFactory(narcotic=True)
    before = state()

    refusal(as_doctor.post(path, {"drug_id": narcotic.pk, "dose": "5", "frequency": "qd", "duration_days": 3}), 403,
            "controlled_drug_online")
    refusal(as_doctor.post(path, {"drug_id": amlodipine().pk, "dose": "5", "frequency": "qd", "duration_days": 3}),
            409, "duplicate_item")
    error = refusal(as_doctor.post(path, {"drug_id": DrugFactory().pk, "dose": "5", "frequency": "qd",
                                          "duration_days": 31}), 400, "days_supply_exceeded")
    assert error["fields"] == {"duration_days": "31", "max": "30"}
    refusal(as_doctor.post(path, {"drug_id": DrugFactory().pk, "dose": "-1", "frequency": "qd",
                                  "duration_days": 3}), 400, "invalid_dose")
    refusal(as_doctor.post(path, {"drug_id": 10**6, "dose": "5", "frequency": "qd", "duration_days": 3}), 422,
            "unknown_drug")
    fields = invalid(as_doctor.post(path, {"drug_id": "amlodipine", "dose": "five", "frequency": ["qd"],
                                           "duration_days": "a month"}))
    assert {"drug_id", "dose", "frequency", "duration_days"} <= set(fields)

    # (DrugFactory rows are new; no prescription or item changed.)
    assert {k: v for k, v in state().items() if k.startswith("prescriptions")} == {
        k: v for k, v in before.items() if k.startswith("prescriptions")}
    assert state()["items"] == before["items"]


def test_the_checks(as_doctor, as_patient, visit, doc):
    InteractionFactory()
    rx = draft(doc, visit, item(simvastatin(), dose="20", frequency="qn"),
               item(clarithromycin(), dose="250", frequency="bid", duration_days=7))

    findings = as_doctor.get(f"/prescriptions/{rx.pk}/checks").json()

    assert [(f["key"], f["code"], f["severity"], f["override"]) for f in findings] == [
        ("interaction:AB-CLA-250:CV-SIM-20", "interaction", "high", "")]
    assert "rhabdomyolysis" in findings[0]["message"]
    refusal(as_patient.get(f"/prescriptions/{rx.pk}/checks"), 404, "not_found")


# ---- signing --------------------------------------------------------------------------------------------------


def test_signing_with_a_token_needs_the_code(as_doctor, unsigned, doc):
    before = state()
    refusal(as_doctor.post(f"/prescriptions/{unsigned.pk}/sign"), 401, "second_factor_required")
    refusal(as_doctor.post(f"/prescriptions/{unsigned.pk}/sign", {"code": "000000"}), 401, "invalid_second_factor")
    assert "overrides" in invalid(as_doctor.post(f"/prescriptions/{unsigned.pk}/sign", {"overrides": ["a"]}))
    assert state() == before

    response = as_doctor.post(f"/prescriptions/{unsigned.pk}/sign", {"code": code_of(doc.user)})

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "signed" and len(body["content_hash"]) == 64 and body["doctor_seal"]
    assert body["signed_at"] and body["valid_until"] and body["total_fen"] == 1500
    refusal(as_doctor.post(f"/prescriptions/{unsigned.pk}/sign", {"code": code_of(doc.user)}), 409,
            "prescription_signed")
    refusal(as_doctor.patch(f"/prescriptions/{unsigned.pk}", {"notes": "x"}), 409, "prescription_signed")


def test_signing_in_the_browser_uses_the_sign_in_code_moments_ago(doc, unsigned):
    browser = Client()
    browser.force_login(doc.user)
    verify_session(browser, doc.user.totpdevice_set.get())
    session = browser.session
    session[SECOND_FACTOR_AT] = timezone.now().isoformat()
    session.save()

    response = browser.post(f"/api/prescriptions/{unsigned.pk}/sign", {}, content_type="application/json")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "signed"


def test_signing_lists_the_findings_to_resolve(as_doctor, visit, doc):
    rx = draft(doc, visit, item(amlodipine(), dose="10", frequency="bid", duration_days=7))
    path = f"/prescriptions/{rx.pk}/sign"
    before = state()

    error = refusal(as_doctor.post(path, {"code": code_of(doc.user)}), 409, "check_findings_unresolved")

    assert list(error["fields"]) == ["dose:CV-AML-5"]
    assert state() == before
    body = as_doctor.post(path, {"code": code_of(doc.user), "overrides": {"dose:CV-AML-5": "短期加量"}}).json()
    assert body["checks"][0]["override"] == "短期加量"


def test_cancelling_and_revising(as_doctor, as_pharmacist, unsigned, doc, pharmacist):
    refusal(as_doctor.post(f"/prescriptions/{unsigned.pk}/revise"), 409, "not_rejected")
    from tests.prescriptions.factories import sign

    rejected = reject(pharmacist, sign(doc, unsigned))
    response = as_doctor.post(f"/prescriptions/{rejected.pk}/revise")
    assert response.status_code == 201
    revision = response.json()
    assert (revision["status"], revision["revision_of_id"]) == ("draft", rejected.pk)
    refusal(as_doctor.post(f"/prescriptions/{rejected.pk}/revise"), 409, "already_revised")

    refusal(as_doctor.post(f"/prescriptions/{rejected.pk}/cancel", {"reason": ""}), 400, "reason_required")
    refusal(as_doctor.post(f"/prescriptions/{rejected.pk}/cancel", {"reason": "x"}), 409, "invalid_transition")
    response = as_doctor.post(f"/prescriptions/{revision['id']}/cancel")
    assert (response.status_code, response.json()["status"]) == (200, "cancelled")


def test_the_doctors_own_list(as_doctor, as_patient, unsigned, rx):
    assert {p["id"] for p in as_doctor.get("/prescriptions").json()} == {unsigned.pk, rx.pk}
    refusal(as_patient.get("/prescriptions"), 404, "not_found")


# ---- reading ----------------------------------------------------------------------------------------------------


def test_reading_a_prescription_is_scoped_and_audited(as_doctor, as_patient, as_pharmacist, rx, unsigned, patient,
                                                      client, other_patient):
    for api in (as_doctor, as_patient, as_pharmacist):
        body = api.get(f"/prescriptions/{rx.pk}").json()
        assert (body["id"], body["number"], body["items"][0]["sku"]) == (rx.pk, rx.number, "CV-AML-5")
    assert AuditEvent.objects.filter(action=AuditAction.READ, object_id=str(rx.pk), patient_id=patient.pk,
                                     object_type="prescriptions.prescription").count() == 3
    # The draft is the doctor's alone.
    assert as_doctor.get(f"/prescriptions/{unsigned.pk}").status_code == 200
    refusal(as_patient.get(f"/prescriptions/{unsigned.pk}"), 404, "not_found")
    refusal(as_pharmacist.get(f"/prescriptions/{unsigned.pk}"), 404, "not_found")
    refusal(Api(client, other_patient.user).get(f"/prescriptions/{rx.pk}"), 404, "not_found")
    refusal(as_patient.get("/prescriptions/99999999"), 404, "not_found")


def test_errors_speak_the_users_language(client, patient, visit):
    english = Api(client, patient.user, "en").post("/prescriptions", {"visit_id": visit.pk})
    chinese = Api(client, patient.user, "zh-hans").post("/prescriptions", {"visit_id": visit.pk})
    assert error_of(english)["message"] == "Only doctors can prescribe."
    assert error_of(chinese)["code"] == "not_a_doctor"


# ---- the pharmacist -----------------------------------------------------------------------------------------------


def test_the_worklist_route_is_not_taken_for_a_prescription_id(as_pharmacist, as_doctor, rx, unsigned):
    response = as_pharmacist.get("/prescriptions/review/worklist")
    assert response.status_code == 200
    assert [p["id"] for p in response.json()] == [rx.pk]  # never the draft
    refusal(as_doctor.get("/prescriptions/review/worklist"), 404, "not_found")


def test_claiming_releasing_and_approving(as_pharmacist, rx, client, pharmacist):
    from tests.prescriptions.factories import pharmacist_user

    claimed = as_pharmacist.post(f"/prescriptions/{rx.pk}/claim").json()
    assert (claimed["status"], claimed["reviewer_name"]) == ("under_review", pharmacist.real_name)
    other = Api(client, pharmacist_user())
    refusal(other.post(f"/prescriptions/{rx.pk}/claim"), 409, "invalid_transition")
    refusal(other.post(f"/prescriptions/{rx.pk}/review", {"approve": True}), 409, "review_taken")
    refusal(other.post(f"/prescriptions/{rx.pk}/release"), 409, "not_your_review")
    assert as_pharmacist.post(f"/prescriptions/{rx.pk}/release").json()["status"] == "signed"

    response = as_pharmacist.post(f"/prescriptions/{rx.pk}/review", {"approve": True, "comment": "合理"})

    assert response.status_code == 201
    review = response.json()
    assert (review["decision"], review["prescription_id"], review["pharmacist_name"], review["comment"]) == (
        "approved", rx.pk, pharmacist.real_name, "合理")
    body = as_pharmacist.get(f"/prescriptions/{rx.pk}").json()
    assert body["status"] == "approved" and body["review"]["seal"] == Review.objects.get().seal
    refusal(other.post(f"/prescriptions/{rx.pk}/review", {"approve": True}), 409, "already_reviewed")


def test_review_refusals(as_pharmacist, as_patient, rx):
    path = f"/prescriptions/{rx.pk}/review"
    before = state()
    refusal(as_pharmacist.post(path, {"approve": False, "comment": "x"}), 400, "reasons_required")
    refusal(as_pharmacist.post(path, {"approve": False, "reasons": ["dose"]}), 400, "comment_required")
    refusal(as_patient.post(path, {"approve": True}), 403, "not_a_pharmacist")
    assert {"approve"} <= set(invalid(as_pharmacist.post(path, {"approve": "perhaps"})))
    assert "reasons" in invalid(as_pharmacist.post(path, {"approve": False, "reasons": "dose", "comment": "x"}))
    assert "approve" in invalid(as_pharmacist.post(path, {}))
    assert state() == before


def test_rejecting(as_pharmacist, as_doctor, rx):
    response = as_pharmacist.post(f"/prescriptions/{rx.pk}/review",
                                  {"approve": False, "reasons": ["dose", "duplication"], "comment": "请减量"})
    assert response.status_code == 201
    body = as_doctor.get(f"/prescriptions/{rx.pk}").json()
    assert (body["status"], body["status_reason"], body["review"]["reasons"]) == (
        "rejected", "请减量", ["dose", "duplication"])


# ---- the patient ------------------------------------------------------------------------------------------------


@pytest.fixture
def chronic(doc, patient, pharmacist, diagnosis):
    return make_due(monthly(doc, patient, pharmacist, condition=diagnosis))


def test_the_patients_lists(as_patient, chronic, patient, client, other_patient, doc, visit):
    draft(doc, visit, item(DrugFactory()))  # never shown to the patient

    prescriptions = as_patient.get(f"/patients/{patient.pk}/prescriptions").json()
    assert [p["id"] for p in prescriptions] == [chronic.pk]
    medicines = as_patient.get(f"/patients/{patient.pk}/medicines").json()
    assert [(m["prescription_id"], m["name"]) for m in medicines] == [(chronic.pk, "Amlodipine besylate tablets 5 mg")]
    (row,) = as_patient.get(f"/patients/{patient.pk}/refillable").json()
    assert (row["prescription_id"], row["can_request"], row["refills_used"], row["refusal_code"]) == (
        chronic.pk, True, 0, None)
    assert as_patient.get(f"/patients/{patient.pk}/refills").json() == []

    stranger = Api(client, other_patient.user)
    for path in ("prescriptions", "medicines", "refills", "refillable"):
        refusal(stranger.get(f"/patients/{patient.pk}/{path}"), 404, "not_found")


def test_asking_for_a_refill(as_patient, chronic, patient, relative, client):
    path = f"/prescriptions/{chronic.pk}/refills"
    before = state()
    assert "answers" in invalid(as_patient.post(path, {"answers": "all fine"}))
    assert "item_ids.0" in invalid(as_patient.post(path, {"answers": answers(), "item_ids": ["first"]}))
    assert "answers" in invalid(as_patient.post(path, {}))
    error = refusal(as_patient.post(path, {"answers": answers(systolic=None)}), 400, "invalid_answers")
    assert set(error["fields"]) == {"systolic"}
    assert state() == before

    response = Api(client, relative).post(path, {"answers": answers(systolic=190, diastolic=100)})

    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["prescription_id"], body["red_flags"]) == (
        "requested", chronic.pk, ["blood_pressure_very_high"])
    assert [i["sku"] for i in body["items"]] == ["CV-AML-5"]
    refusal(as_patient.post(path, {"answers": answers()}), 409, "refill_already_requested")
    assert [r["id"] for r in as_patient.get(f"/patients/{patient.pk}/refills").json()] == [body["id"]]

    refusal(Api(client, PatientFactory().user).post(f"/refills/{body['id']}/cancel"), 404, "not_found")
    cancelled = as_patient.post(f"/refills/{body['id']}/cancel")
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")


def test_a_refill_too_early(as_patient, doc, patient, pharmacist, diagnosis):
    rx = monthly(doc, patient, pharmacist, condition=diagnosis)
    refusal(as_patient.post(f"/prescriptions/{rx.pk}/refills", {"answers": answers()}), 409, "refill_too_early")
    assert RefillRequest.objects.count() == 0


# ---- the doctor's refill worklist --------------------------------------------------------------------------------


@pytest.fixture
def request_(chronic):
    from tests.prescriptions.factories import refill

    return refill(chronic)


def test_the_refill_worklist_and_a_request(as_doctor, as_patient, request_):
    assert [r["id"] for r in as_doctor.get("/refills/worklist").json()] == [request_.pk]
    body = as_doctor.get(f"/refills/{request_.pk}").json()
    assert (body["answers"]["systolic"], body["diagnosis_code"]) == (132, "I10")
    refusal(as_patient.get("/refills/worklist"), 404, "not_found")
    assert as_patient.get(f"/refills/{request_.pk}").json()["id"] == request_.pk


def test_approving_a_refill(as_doctor, as_pharmacist, request_, doc, chronic):
    refusal(as_doctor.post(f"/refills/{request_.pk}/approve"), 401, "second_factor_required")
    assert RefillRequest.objects.get().status == "requested"

    response = as_doctor.post(f"/refills/{request_.pk}/approve", {"code": code_of(doc.user)})

    assert response.status_code == 201
    renewal = response.json()
    assert (renewal["status"], renewal["renewal_of_id"]) == ("signed", chronic.pk)
    assert [p["id"] for p in as_pharmacist.get("/prescriptions/review/worklist").json()] == [renewal["id"]]
    body = as_doctor.get(f"/refills/{request_.pk}").json()
    assert (body["status"], body["result_id"], body["modified"]) == ("approved", renewal["id"], False)
    refusal(as_doctor.post(f"/refills/{request_.pk}/approve", {"code": code_of(doc.user)}), 409, "refill_decided")


def test_modifying_a_refill(as_doctor, request_):
    response = as_doctor.post(f"/refills/{request_.pk}/modify")
    assert response.status_code == 201
    assert response.json()["status"] == "draft"
    assert as_doctor.get(f"/refills/{request_.pk}").json()["status"] == "drafting"
    refusal(as_doctor.post(f"/refills/{request_.pk}/modify"), 409, "refill_decided")


def test_asking_for_a_visit_and_refusing(as_doctor, request_, doc, patient, pharmacist):
    refusal(as_doctor.post(f"/refills/{request_.pk}/ask-visit", {"reason": ""}), 400, "reason_required")
    response = as_doctor.post(f"/refills/{request_.pk}/ask-visit", {"reason": "请在线复诊"})
    assert (response.status_code, response.json()["status"], response.json()["response"]) == (
        200, "visit_needed", "请在线复诊")

    other = make_due(monthly(doc, patient, pharmacist, item(DrugFactory())))
    from tests.prescriptions.factories import refill

    second = refill(other)
    refusal(as_doctor.post(f"/refills/{second.pk}/refuse", {}), 400, "reason_required")
    assert "reason" in invalid(as_doctor.post(f"/refills/{second.pk}/refuse", {"reason": {"text": "no"}}))
    assert as_doctor.post(f"/refills/{second.pk}/refuse", {"reason": "请门诊复查"}).json()["status"] == "refused"


def test_a_doctor_of_another_department_gets_404(client, request_):
    from tests.factories import DepartmentFactory
    from tests.visits.factories import online_doctor

    stranger = Api(client, online_doctor(DepartmentFactory()).user)
    refusal(stranger.get(f"/refills/{request_.pk}"), 404, "not_found")
    refusal(stranger.post(f"/refills/{request_.pk}/refuse", {"reason": "x"}), 404, "not_found")
    assert stranger.get("/refills/worklist").json() == []


# ---- verifying a slip --------------------------------------------------------------------------------------------


def test_verifying_a_slip_needs_no_sign_in(client, rx, pharmacist):
    approve(pharmacist, rx)
    response = client.get(f"/api/rx/verify/{rx.number}?h={rx.content_hash[:16]}")

    assert response.status_code == 200
    body = response.json()
    assert (body["genuine"], body["tampered"], body["status"], body["number"]) == (True, False, "approved",
                                                                                    rx.number)
    for word in ("CV-AML-5", "氨氯地平", "Amlodipine", rx.patient.user.real_name, "I10"):
        assert word not in response.content.decode()

    assert client.get(f"/api/rx/verify/{rx.number}?h=0000000000000000").json()["genuine"] is False
    assert client.get(f"/api/rx/verify/{rx.number}").json()["genuine"] is False
    assert client.get("/api/rx/verify/RX1?h=abc").json() == {
        "genuine": False, "tampered": None, "number": None, "status": None, "status_label": None, "patient": None,
        "doctor": None, "facility": None, "signed_at": None, "valid_until": None, "content_hash": None}
    PrescriptionItem.objects.filter(prescription=rx).update(quantity=3)
    body = client.get(f"/api/rx/verify/{rx.number}?h={rx.content_hash[:16]}").json()
    assert (body["genuine"], body["tampered"]) == (False, True)


def test_the_openapi_document_lists_the_endpoints(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in ("/api/prescriptions", "/api/prescriptions/{prescription_id}/sign", "/api/refills/{refill_id}/approve",
                 "/api/rx/verify/{number}", "/api/patients/{patient_id}/medicines"):
        assert path in paths, path
    assert paths["/api/rx/verify/{number}"]["get"].get("security") in (None, [])

