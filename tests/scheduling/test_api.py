"""The scheduling API: thin handlers over the services, errors as {"error": {"code", "message"}}."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.utils import timezone

from ihospital.scheduling.models import Appointment, AvailabilityRule, Slot
from tests.factories import DoctorFactory, PatientFactory
from tests.helpers import error_of, token_headers
from tests.scheduling.factories import RuleFactory, SlotFactory
from tests.scheduling.support import next_weekday, state

pytestmark = pytest.mark.django_db

BASE = "/api/scheduling"


def post(client, path, body, user):
    return client.post(BASE + path, body, content_type="application/json", headers=token_headers(user))


def rule_body(doctor, **overrides):
    body = {
        "practitioner_id": doctor.pk,
        "department_id": doctor.departments.first().pk,
        "weekday": next_weekday(0).weekday(),
        "start_time": "08:00",
        "end_time": "10:00",
        "slot_minutes": 20,
        "capacity": 2,
        "mode": "video",
        "valid_from": timezone.localdate().isoformat(),
    }
    body.update(overrides)
    return body


def test_publish_list_and_retire_a_rule(client, doctor):
    response = post(client, "/rules", rule_body(doctor), doctor.user)
    assert response.status_code == 201, response.content
    rule = response.json()
    assert rule["active"] and rule["start_time"] == "08:00:00" and rule["mode"] == "video"
    listed = client.get(f"{BASE}/rules?practitioner_id={doctor.pk}", headers=token_headers(doctor.user))
    assert [r["id"] for r in listed.json()] == [rule["id"]]
    response = client.delete(f"{BASE}/rules/{rule['id']}", headers=token_headers(doctor.user))
    assert response.status_code == 200 and response.json()["active"] is False


def test_ineligible_doctor_gets_a_403_with_the_reason(client):
    junior = DoctorFactory(independent_practice_since=timezone.localdate() - timedelta(days=500))
    headers = token_headers(junior.user)
    before = state()
    response = client.post(BASE + "/rules", rule_body(junior), content_type="application/json", headers=headers)
    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "not_eligible_for_online_practice"
    assert error["fields"] == {"practitioner_id": "too_few_years"}
    assert state() == before


def test_invalid_rule_input_is_422_or_400(client, doctor):
    response = post(client, "/rules", rule_body(doctor, mode="phone"), doctor.user)
    assert response.status_code == 422 and error_of(response)["code"] == "invalid_input"
    response = post(client, "/rules", rule_body(doctor, slot_minutes=200), doctor.user)
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_slot_length"
    assert AvailabilityRule.objects.count() == 0


def test_messages_follow_the_language(client, doctor):
    junior = DoctorFactory(independent_practice_since=timezone.localdate() - timedelta(days=500))
    headers = {**token_headers(junior.user), "accept-language": "en"}
    response = client.post(BASE + "/rules", rule_body(junior), content_type="application/json", headers=headers)
    assert "independent practice" in error_of(response)["message"]
    headers["accept-language"] = "zh-hans"
    response = client.post(BASE + "/rules", rule_body(junior), content_type="application/json", headers=headers)
    assert "独立执业" in error_of(response)["message"]


def test_slots_book_list_cancel_reschedule(client, patient):
    rule = RuleFactory(weekday=next_weekday(2).weekday(), start_time=time(9), end_time=time(11), slot_minutes=30,
                       capacity=2)
    headers = token_headers(patient.user)
    day = next_weekday(2)
    response = client.get(f"{BASE}/slots?practitioner_id={rule.practitioner_id}&date_from={day}&days=1",
                          headers=headers)
    assert response.status_code == 200
    slots = response.json()
    assert len(slots) == 4
    first = slots[0]
    assert first["free"] == 2 and first["mode"] == "text" and first["practitioner_name"]
    assert first["department_id"] == rule.department_id

    response = post(client, "/appointments", {"patient_id": patient.pk, "slot_id": first["id"]}, patient.user)
    assert response.status_code == 201, response.content
    appointment = response.json()
    assert appointment["status"] == "booked" and appointment["slot"]["booked"] == 1

    response = post(client, f"/appointments/{appointment['id']}/reschedule", {"slot_id": slots[1]["id"]},
                    patient.user)
    assert response.status_code == 201, response.content
    moved = response.json()
    assert moved["rescheduled_from_id"] == appointment["id"] and moved["reschedule_count"] == 1

    listed = client.get(f"{BASE}/appointments?patient_id={patient.pk}", headers=headers).json()
    assert {(a["id"], a["status"]) for a in listed} == {(appointment["id"], "cancelled"), (moved["id"], "booked")}

    response = post(client, f"/appointments/{moved['id']}/cancel", {"reason": "feeling better"}, patient.user)
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled" and response.json()["slot"]["booked"] == 0
    assert client.get(f"{BASE}/appointments/{moved['id']}", headers=headers).json()["cancelled_reason"] == (
        "feeling better")


def test_full_slot_is_409_and_someone_elses_patient_is_404(client, patient, other_patient):
    slot = SlotFactory(capacity=1)
    response = post(client, "/appointments", {"patient_id": other_patient.pk, "slot_id": slot.pk}, patient.user)
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    response = post(client, "/appointments", {"patient_id": patient.pk, "slot_id": slot.pk}, patient.user)
    assert response.status_code == 201
    response = post(client, "/appointments", {"patient_id": other_patient.pk, "slot_id": slot.pk}, other_patient.user)
    assert response.status_code == 409 and error_of(response)["code"] == "slot_full"
    response = client.get(f"{BASE}/appointments?patient_id={other_patient.pk}", headers=token_headers(patient.user))
    assert response.status_code == 404
    assert Appointment.objects.count() == 1


def test_closures_and_doctor_day(client, doctor, patient):
    day = next_weekday(3)
    RuleFactory(practitioner=doctor, weekday=day.weekday(), start_time=time(9), end_time=time(10))
    slots = client.get(f"{BASE}/slots?practitioner_id={doctor.pk}&date_from={day}&days=1",
                       headers=token_headers(patient.user)).json()
    post(client, "/appointments", {"patient_id": patient.pk, "slot_id": slots[0]["id"]}, patient.user)

    response = client.get(f"{BASE}/doctor/day?date={day}", headers=token_headers(doctor.user))
    assert response.status_code == 200
    body = response.json()
    assert len(body["slots"]) == 2 and [a["patient_id"] for a in body["appointments"]] == [patient.pk]
    assert client.get(f"{BASE}/doctor/day?date={day}", headers=token_headers(patient.user)).status_code == 403

    response = post(client, "/closures", {"practitioner_id": doctor.pk, "date": day.isoformat(),
                                          "reason": "training"}, doctor.user)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["closed_slots"] == 2 and len(body["affected_appointment_ids"]) == 1
    assert not Slot.objects.filter(status="open").exists()
    response = post(client, "/closures", {"date": day.isoformat(), "reason": "holiday"}, doctor.user)
    assert response.status_code == 403 and error_of(response)["code"] == "not_allowed"


def test_slots_need_sign_in_and_clamp_the_range(client, patient, settings):
    assert client.get(f"{BASE}/slots").status_code == 401
    settings.BOOKING_HORIZON_DAYS = 2
    RuleFactory(weekday=(timezone.localdate() + timedelta(days=5)).weekday())
    response = client.get(f"{BASE}/slots?days=30", headers=token_headers(patient.user))
    assert response.status_code == 200 and response.json() == []
    assert client.get(f"{BASE}/slots?mode=fax", headers=token_headers(patient.user)).status_code == 422


def test_other_patient_cannot_cancel_through_the_api(client, patient, other_patient):
    start = timezone.now() + timedelta(days=2)
    slot = SlotFactory(starts_at=start, ends_at=start + timedelta(hours=1))
    appointment = post(client, "/appointments", {"patient_id": patient.pk, "slot_id": slot.pk}, patient.user).json()
    response = post(client, f"/appointments/{appointment['id']}/cancel", {}, other_patient.user)
    assert response.status_code == 404
    response = post(client, f"/appointments/{appointment['id']}/reschedule", {"slot_id": SlotFactory().pk},
                    PatientFactory().user)
    assert response.status_code == 404
    assert Appointment.objects.get().status == "booked"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/slots?date_from=9999-12-31&days=14", None),
        ("get", "/slots?date_from=0001-01-01&days=14", None),
        ("get", "/doctor/day?date=9999-12-31", None),
        ("get", "/doctor/day?date=0001-01-01", None),
        ("post", "/closures", {"practitioner_id": None, "date": "9999-12-31", "reason": "x"}),
        ("post", "/rules", {"practitioner_id": 1, "department_id": 1, "weekday": 0, "start_time": "08:00",
                            "end_time": "09:00", "slot_minutes": 30, "capacity": 1, "mode": "text",
                            "valid_from": "9999-12-31"}),
    ],
)
def test_dates_at_the_ends_of_the_calendar_are_not_a_500(client, doctor, hospital_admin, method, path, body):
    user = hospital_admin if "closures" in path else doctor.user
    if body and "practitioner_id" in body and body["practitioner_id"] == 1:
        body = {**body, "practitioner_id": doctor.pk, "department_id": doctor.departments.first().pk}
    headers = token_headers(user)
    if method == "get":
        response = client.get(BASE + path, headers=headers)
    else:
        response = client.post(BASE + path, body, content_type="application/json", headers=headers)
    assert response.status_code < 500, response.content
