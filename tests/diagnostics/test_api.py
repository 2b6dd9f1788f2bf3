"""The medical-test API (``/api/diagnostics/...``): the whole workflow through it (a doctor orders → the patient
lists and books a slot → the lab checks in, collects and posts results → the doctor signs off → the patient sees the
values), another patient's order answering 404, error bodies with their codes, and the HL7 endpoint."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from ihospital.accounts.models import Role
from ihospital.core.models import AuditAction, AuditEvent, AuditOutcome
from ihospital.diagnostics import imaging
from ihospital.diagnostics.models import DiagnosticOrder, Observation, OrderStatus, ResourceSlot
from tests.diagnostics import dicomgen
from tests.diagnostics import factories as f
from tests.diagnostics.test_hl7import import ANALYTES, CBC, dec
from tests.factories import PatientFactory, PractitionerFactory, StaffUserFactory
from tests.helpers import error_of, token_headers
from tests.visits.factories import EncounterFactory

pytestmark = pytest.mark.django_db


class Api:
    def __init__(self, client, user, language: str = "en"):
        self.client = client
        self.headers = {**token_headers(user), "accept-language": language}

    def get(self, path, **query):
        return self.client.get(f"/api/diagnostics{path}", query, headers=self.headers)

    def post(self, path, body=None, content_type="application/json"):
        return self.client.post(f"/api/diagnostics{path}", body if body is not None else {},
                                content_type=content_type, headers=self.headers)

    def put(self, path, body):
        return self.client.put(f"/api/diagnostics{path}", body, content_type="application/json",
                               headers=self.headers)


def ok(response, status: int = 200):
    assert response.status_code == status, (response.status_code, response.content)
    return response.json()


def refusal(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.content)
    error = error_of(response)
    assert error["code"] == code, error
    return error


@pytest.fixture
def glucose():
    test = f.DiagnosticTestFactory(code="glu", name_en="Fasting glucose", preparation={"fasting_hours": 8})
    analyte = f.AnalyteFactory(test=test, code="glu", unit="mmol/L", decimals=1)
    f.ReferenceRangeFactory(analyte=analyte)
    return test


@pytest.fixture
def slots(glucose):
    """Two places later today (the lab checks in on the booking's day) and one tomorrow."""
    room = f.ResourceFactory(tests=[glucose], capacity=1)
    soon = timezone.now() + timedelta(minutes=2)
    return [ResourceSlot.objects.create(resource=room, starts_at=soon + timedelta(minutes=15 * i),
                                        ends_at=soon + timedelta(minutes=15 * (i + 1)), capacity=1)
            for i in range(2)]


@pytest.fixture
def lab_tech():
    return StaffUserFactory(role=Role.LAB_TECH)


def test_the_whole_workflow_through_the_api(client, doctor, patient, encounter, glucose, slots, lab_tech):
    as_doctor, as_patient, as_lab = Api(client, doctor.user), Api(client, patient.user), Api(client, lab_tech)

    catalogue = ok(as_patient.get("/tests"))
    assert {"code": "glu", "preparation": {"fasting_hours": 8}}.items() <= next(
        t for t in catalogue if t["code"] == "glu").items()

    placed = ok(as_doctor.post("/orders", {"patient_id": patient.pk, "test_code": "glu", "reason": "高血压随访",
                                           "encounter_id": encounter.pk}), 201)
    assert placed["status"] == "ordered" and placed["role"] == "doctor"
    order_id = placed["id"]

    listed = ok(as_patient.get("/orders", patient_id=patient.pk))
    assert [o["id"] for o in listed] == [order_id]
    free = ok(as_patient.get(f"/orders/{order_id}/slots", day=timezone.localdate(slots[0].starts_at).isoformat()))
    assert [s["id"] for s in free] == [s.pk for s in slots]
    booked = ok(as_patient.post(f"/orders/{order_id}/booking", {"slot_id": slots[0].pk}), 201)
    assert booked["status"] == "booked" and booked["booking"]["slot"]["id"] == slots[0].pk
    # Within two hours of its time a booking stays where it is.
    refusal(as_patient.put(f"/orders/{order_id}/booking", {"slot_id": slots[1].pk}), 409, "too_late_to_reschedule")

    ok(as_lab.post(f"/orders/{order_id}/check-in"))
    ok(as_lab.post(f"/orders/{order_id}/collected"))
    resulted = ok(as_lab.post(f"/orders/{order_id}/results",
                              {"values": [{"analyte": "glu", "value": "7.2", "unit": "mmol/L"}]}), 201)
    assert resulted["status"] == "resulted" and resulted["values"][0]["flag"] == "H"

    before = ok(as_patient.get(f"/orders/{order_id}"))
    assert before["status"] == "resulted" and before["values"] is None  # not released yet

    released = ok(as_doctor.post(f"/orders/{order_id}/sign-off"))
    assert released["status"] == "released"
    seen = ok(as_patient.get(f"/orders/{order_id}"))
    assert seen["role"] == "patient"
    assert [(v["analyte"], Decimal(str(v["value"])), v["flag"]) for v in seen["values"]] == [
        ("glu", Decimal("7.2"), "H")]
    assert AuditEvent.objects.filter(action=AuditAction.READ, object_type="diagnostics.diagnosticorder",
                                     object_id=str(order_id), actor=patient.user).exists()


def test_rescheduling_and_cancelling_a_booking(client, doctor, patient, encounter, glucose, slots):
    order = f.DiagnosticOrderFactory(patient=patient, doctor=doctor, encounter=encounter, test=glucose)
    tomorrow = [f.ResourceSlotFactory(resource=slots[0].resource, starts_at=timezone.make_aware(
        timezone.datetime.combine(timezone.localdate() + timedelta(days=1), timezone.datetime.min.time()))
        + timedelta(hours=8, minutes=15 * i)) for i in range(2)]
    as_patient = Api(client, patient.user)
    ok(as_patient.post(f"/orders/{order.pk}/booking", {"slot_id": tomorrow[0].pk}), 201)
    moved = ok(as_patient.put(f"/orders/{order.pk}/booking", {"slot_id": tomorrow[1].pk}))
    assert moved["booking"]["slot"]["id"] == tomorrow[1].pk and moved["booking"]["reschedules"] == 1
    refusal(as_patient.put(f"/orders/{order.pk}/booking", {"slot_id": tomorrow[1].pk}), 409, "same_slot")
    cancelled = ok(as_patient.post(f"/orders/{order.pk}/booking/cancel", {"reason": "出差"}))
    assert cancelled["status"] == "ordered" and cancelled["booking"] is None
    assert [ResourceSlot.objects.get(pk=s.pk).booked for s in tomorrow] == [0, 0]


def test_another_patients_order_answers_404_and_is_audited(client, doctor, patient, encounter, glucose, slots):
    order = f.DiagnosticOrderFactory(patient=patient, doctor=doctor, encounter=encounter, test=glucose)
    stranger = PatientFactory()
    as_stranger = Api(client, stranger.user)
    refusal(as_stranger.get(f"/orders/{order.pk}"), 404, "not_found")
    refusal(as_stranger.get(f"/orders/{order.pk + 1000}"), 404, "not_found")  # the same as one that does not exist
    refusal(as_stranger.get("/orders", patient_id=patient.pk), 404, "not_found")
    refusal(as_stranger.post(f"/orders/{order.pk}/booking", {"slot_id": slots[0].pk}), 404, "not_found")
    other_doctor = PractitionerFactory()
    refusal(Api(client, other_doctor.user).get(f"/orders/{order.pk}"), 404, "not_found")
    assert AuditEvent.objects.filter(actor=stranger.user, outcome=AuditOutcome.DENIED,
                                     object_id=str(order.pk)).exists()
    assert DiagnosticOrder.objects.get(pk=order.pk).status == OrderStatus.ORDERED


def test_error_bodies_carry_codes_in_the_callers_language(client, doctor, patient, encounter, glucose, slots,
                                                          lab_tech):
    as_doctor = Api(client, doctor.user)
    body = {"patient_id": patient.pk, "test_code": "glu", "reason": " ", "encounter_id": encounter.pk}
    error = refusal(as_doctor.post("/orders", body), 400, "reason_required")
    assert "reason" in error["fields"]
    refusal(as_doctor.post("/orders", body | {"reason": "x", "test_code": "nope"}), 404, "test_not_found")
    refusal(Api(client, patient.user).post("/orders", body | {"reason": "x"}), 403, "not_a_doctor")
    placed = ok(as_doctor.post("/orders", body | {"reason": "复查"}), 201)
    refusal(as_doctor.post("/orders", body | {"reason": "复查"}), 409, "already_ordered")
    zh = refusal(Api(client, doctor.user, "zh-hans").get("/orders/999999"), 404, "not_found")
    assert zh["message"] != refusal(as_doctor.get("/orders/999999"), 404, "not_found")["message"]

    as_patient, as_lab = Api(client, patient.user), Api(client, lab_tech)
    refusal(as_patient.post(f"/orders/{placed['id']}/booking", {"slot_id": 10**6}), 404, "slot_not_found")
    refusal(as_patient.put(f"/orders/{placed['id']}/booking", {"slot_id": slots[0].pk}), 409, "not_booked")
    refusal(as_lab.post(f"/orders/{placed['id']}/check-in"), 409, "not_booked")
    refusal(as_lab.post(f"/orders/{placed['id']}/results", {"values": [{"analyte": "glu", "value": "5"}]}), 409,
            "order_not_collected")
    refusal(as_doctor.post(f"/orders/{placed['id']}/sign-off"), 409, "not_resulted")
    refusal(as_doctor.post(f"/orders/{placed['id']}/check-in"), 403, "not_lab_staff")
    invalid = refusal(as_patient.post(f"/orders/{placed['id']}/booking", {}), 422, "invalid_input")
    assert "slot_id" in invalid["fields"]

    ok(as_patient.post(f"/orders/{placed['id']}/booking", {"slot_id": slots[0].pk}), 201)
    ok(as_lab.post(f"/orders/{placed['id']}/check-in"))
    ok(as_lab.post(f"/orders/{placed['id']}/collected"))
    bad = refusal(as_lab.post(f"/orders/{placed['id']}/results",
                              {"values": [{"analyte": "glu", "value": "5.0", "unit": "mg/dL"}]}), 400,
                  "unit_mismatch")
    assert "values.0" in bad["fields"]
    assert not Observation.objects.filter(order_id=placed["id"]).exists()


@pytest.fixture
def cbc_order():
    test = f.DiagnosticTestFactory(code="cbc", loinc="58410-2")
    for i, (code, loinc, unit, low, high, cl, ch) in enumerate(ANALYTES):
        analyte = f.AnalyteFactory(test=test, code=code, loinc=loinc, unit=unit, position=i)
        f.ReferenceRangeFactory(analyte=analyte, low=dec(low), high=dec(high), critical_low=dec(cl),
                                critical_high=dec(ch))
    patient = PatientFactory(user__real_name="张伟", mrn="P9123456", birth_date=date(1980, 3, 7), sex_="M")
    doctor = PractitionerFactory()
    order = f.DiagnosticOrderFactory(number="DX20260310001", test=test, patient=patient, doctor=doctor,
                                     encounter=EncounterFactory(patient=patient, practitioner=doctor))
    DiagnosticOrder.objects.filter(pk=order.pk).update(status=OrderStatus.COLLECTED)
    return order


def test_hl7_as_text_is_imported_and_acknowledged(client, cbc_order, lab_tech):
    done = ok(Api(client, lab_tech).post("/hl7", CBC, content_type="text/plain"))
    assert done["ok"] and done["ack_code"] == "AA" and done["orders"] == ["DX20260310001"]
    assert done["observations"] == len(ANALYTES) and done["ack"].startswith("MSH|")
    assert DiagnosticOrder.objects.get(pk=cbc_order.pk).status == OrderStatus.RESULTED

    again = ok(Api(client, lab_tech).post("/hl7", {"message": CBC}))  # JSON, and a replay: nothing more
    assert not again["ok"] and again["ack_code"] == "AA" and again["observations"] == 0
    assert Observation.objects.filter(order=cbc_order).count() == len(ANALYTES)


def test_hl7_refusals_answer_the_ack_and_the_code(client, cbc_order, lab_tech, patient):
    as_lab = Api(client, lab_tech)
    bad = as_lab.post("/hl7", "this is not HL7", content_type="text/plain")
    assert bad.status_code == 400
    body = bad.json()
    assert body["error"]["code"] == "malformed_hl7" and body["ack_code"] == "AR" and "MSA|AR" in body["ack"]

    DiagnosticOrder.objects.filter(pk=cbc_order.pk).update(status=OrderStatus.CHECKED_IN)
    early = as_lab.post("/hl7", {"message": CBC})
    assert early.status_code == 409
    assert early.json()["error"]["code"] == "order_not_collected" and early.json()["ack_code"] == "AE"
    assert not Observation.objects.exists()

    refusal(as_lab.post("/hl7", {"text": CBC}), 422, "invalid_input")
    refusal(Api(client, patient.user).post("/hl7", CBC, content_type="text/plain"), 403, "not_lab_tech")


def test_without_credentials_it_is_401(client):
    response = client.get("/api/diagnostics/tests")
    assert response.status_code == 401 and error_of(response)["code"] == "not_authenticated"


def test_an_imaging_report_is_shown_to_the_patient_only_once_released(client, lab_tech):
    patient = PatientFactory(user__real_name="李建华", birth_date=date(1970, 1, 2), sex_="M")
    doctor = PractitionerFactory()
    test = f.DiagnosticTestFactory(kind="imaging", modality="CT", specimen="")
    order = f.DiagnosticOrderFactory(patient=patient, doctor=doctor, test=test,
                                     encounter=EncounterFactory(patient=patient))
    DiagnosticOrder.objects.filter(pk=order.pk).update(status=OrderStatus.CHECKED_IN)
    ct = dicomgen.ct(patient_id=patient.mrn, patient_name="LI^JIANHUA=李建华", birth_date=patient.birth_date)
    as_doctor, as_patient = Api(client, doctor.user), Api(client, patient.user)
    written = {"findings": "双肺纹理清晰。", "impression": "未见异常。"}
    refusal(as_doctor.post(f"/orders/{order.pk}/report", written), 409, "no_images")
    imaging.upload(actor=lab_tech, order_id=order.pk,
                   file=SimpleUploadedFile("ct.dcm", dicomgen.to_bytes(ct), content_type="application/dicom"))

    refusal(as_doctor.post(f"/orders/{order.pk}/report", {"findings": " ", "impression": "未见异常。"}), 400,
            "invalid_report")
    reported = ok(as_doctor.post(f"/orders/{order.pk}/report", written))
    assert reported["status"] == "resulted" and reported["study"]["impression"] == "未见异常。"
    assert ok(as_patient.get(f"/orders/{order.pk}"))["study"] is None
    ok(as_doctor.post(f"/orders/{order.pk}/sign-off"))
    assert ok(as_patient.get(f"/orders/{order.pk}"))["study"]["findings"] == "双肺纹理清晰。"
