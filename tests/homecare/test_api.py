"""The home-nursing API (``/api/homecare/...``): the whole workflow through it (book → assess → shifts, proposal,
acceptance → set out, check in, record, check out → pay through the sandbox, confirm, rate), what each role sees of
a request, each group of endpoints' refusals with their codes, error bodies in Chinese and English, the schema's
validation errors, and 401 without credentials."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone, translation
from django.utils.translation import gettext

from ihospital.core.models import AuditAction, AuditEvent
from ihospital.homecare import safety
from ihospital.homecare.models import (
    Alarm,
    AlarmStatus,
    Block,
    Correction,
    NurseVisit,
    NursingRequest,
    RequestStatus,
    Shift,
)
from ihospital.notifications.models import Notification
from tests.homecare import factories as f
from tests.homecare.apiclient import Api, ok, refusal

pytestmark = pytest.mark.django_db


def booking_body(patient, **kw) -> dict:
    return {"patient_id": patient.pk, "service_code": "wound_dressing", "group": "elderly", "address": f.ADDRESS,
            "address_detail": "3单元502", "preferred_date": f.tomorrow().isoformat(), "window_start": "09:00",
            "window_end": "12:00", "contact_name": patient.real_name, "contact_phone": patient.user.phone,
            "consent": True, "condition_note": "骶尾部压疮，每三天换药"} | kw


@pytest.fixture
def as_elder(client, elder):
    return Api(client, elder.user)


@pytest.fixture
def as_nurse(client, nurse):
    return Api(client, nurse)


@pytest.fixture
def as_dispatcher(client, dispatcher):
    return Api(client, dispatcher)


# ---- the whole workflow ------------------------------------------------------------------------------------------


def test_the_whole_workflow_through_the_api(client, elder, relative, nurse, dispatcher, flow, as_elder, as_nurse,
                                            as_dispatcher):
    # The patient books.
    body = ok(as_elder.post("/requests", booking_body(elder)), 201)
    rid = body["id"]
    assert (body["role"], body["status"], body["patient_id"]) == ("patient", "requested", elder.pk)
    assert body["number"].startswith("HN") and body["service"]["code"] == "wound_dressing"
    assert body["geocoded_as"] == "迎泽区双塔寺社区" and body["price_fen"] == 8000
    assert body["visit"] is None and [e["to_status"] for e in body["timeline"]] == []

    # A home-care nurse sees it waiting (service, day and district only), claims and accepts it.
    worklist = ok(as_nurse.get("/assessments"))
    [waiting] = [w for w in worklist["waiting"] if w["id"] == rid]
    assert (waiting["district"], waiting["patient_name"], waiting["can_claim"]) == ("迎泽区", None, True)
    claimed = ok(as_nurse.post(f"/requests/{rid}/claim"))
    assert (claimed["role"], claimed["status"]) == ("assessor", "assessing")
    assert [w["id"] for w in ok(as_nurse.get("/assessments"))["mine"]] == [rid]
    decided = ok(as_nurse.post(f"/requests/{rid}/assessment", {
        "accept": True, "risk": "low", "home_suitable": True, "eligibility_confirmed": True,
        "consumables": [{"code": "dressing_pack", "qty": 1}], "notes": "压疮二期，家中条件可"}))
    assert (decided["status"], decided["consumables_fen"], decided["total_fen"]) == ("accepted", 1500, 9500)
    assert decided["assessment"]["notes"] == "压疮二期，家中条件可"

    # The dispatcher sets the nurse's shift, asks for a proposal and accepts it.
    day = f.tomorrow().isoformat()
    shift = ok(as_dispatcher.put("/shifts", {"nurse_id": nurse.pk, "day": day, "starts": "08:00", "ends": "17:00"}),
               201)
    assert (shift["nurse_id"], shift["starts"]) == (nurse.pk, "08:00:00")
    ok(as_dispatcher.put("/shifts", {"nurse_id": nurse.pk, "day": day, "starts": "08:00", "ends": "18:00"}), 200)
    assert Shift.objects.get(nurse=nurse).ends.hour == 18
    board = ok(as_dispatcher.get("/board", day=day))
    assert [w["id"] for w in board["waiting"]] == [rid] and board["plan"] is None
    assert [s["nurse_id"] for s in board["shifts"]] == [nurse.pk]
    plan = ok(as_dispatcher.post("/plans", {"day": day}), 201)
    assert plan["status"] == "proposed" and plan["unassigned"] == {}
    assert [stop["request"] for stop in plan["routes"][str(nurse.pk)]] == [rid]
    accepted = ok(as_dispatcher.post(f"/plans/{plan['id']}/accept"))
    assert accepted["plan"]["status"] == "accepted"
    [stop] = accepted["visits"]
    assert (stop["request_id"], stop["nurse"]["id"], stop["status"]) == (rid, nurse.pk, "scheduled")
    assert ok(as_dispatcher.get("/board", day=day))["plan"]["id"] == plan["id"]

    # The patient sees who comes and when, never the nurse's phone.
    mine = ok(as_elder.get(f"/requests/{rid}"))
    assert mine["status"] == "scheduled"
    assert mine["visit"]["nurse"]["name"] == nurse.real_name and mine["visit"]["nurse"]["phone"] is None
    assert mine["visit"]["nurse"]["title_label"].startswith("Supervisor nurse")
    assert mine["visit"]["planned_start"] == stop["planned_start"]

    # The visit is today (booking is from tomorrow): the nurse's route, set out, check in, record, check out.
    vid = stop["visit_id"]
    today = timezone.localdate()
    NurseVisit.objects.filter(pk=vid).update(day=today)
    NursingRequest.objects.filter(pk=rid).update(preferred_date=today)
    route = ok(as_nurse.get("/route"))
    assert [s["visit_id"] for s in route] == [vid] and route[0]["contact_phone"] == elder.user.phone
    assert ok(as_nurse.post(f"/visits/{vid}/set-out"))["status"] == "en_route"
    lat, lng = f.ADDRESS_LATLNG
    checked_in = ok(as_nurse.post(f"/visits/{vid}/check-in", {"latitude": lat, "longitude": lng, "accuracy": 12}))
    assert checked_in["status"] == "in_service" and checked_in["flagged"] is False
    assert checked_in["check_in"]["distance_m"] < 1 and checked_in["check_in"]["accuracy_m"] == 12
    record = {"vitals": {"systolic": 128, "diastolic": 80, "pulse": 72}, "procedure_notes": "清创换药，创面缩小",
              "consumables_used": [{"code": "dressing_pack", "qty": 1}], "next_service_code": "wound_dressing",
              "next_in_days": 3, "next_note": "三天后再换药"}
    written = ok(as_nurse.post(f"/visits/{vid}/record", record), 201)
    assert written["vitals"] == {"systolic": 128, "diastolic": 80, "pulse": 72}
    assert written["consumables_used"] == [{"code": "dressing_pack", "name": "dressing pack", "qty": 1,
                                            "price_fen": 1500}]
    rewritten = ok(as_nurse.post(f"/visits/{vid}/record", record | {"procedure_notes": "清创换药，创面明显缩小"}))
    assert rewritten["id"] == written["id"] and rewritten["procedure_notes"] == "清创换药，创面明显缩小"
    done = ok(as_nurse.post(f"/visits/{vid}/check-out", {"latitude": lat, "longitude": lng, "accuracy": 10}))
    assert done["status"] == "completed" and done["evv"]["start"] and done["evv"]["end"]
    evv = ok(as_nurse.get(f"/visits/{vid}"))["evv"]
    assert (evv["service"], evv["recipient"], evv["nurse"], evv["date"]) == ("wound_dressing", elder.pk, nurse.pk,
                                                                              today.isoformat())
    assert evv["place"]["check_in"] == [lat, lng]

    # The patient pays through the sandbox, confirms and rates; the follow-up suggestion is on the request.
    with flow.capture(execute=True):
        url = ok(as_elder.post(f"/requests/{rid}/pay"))["url"]
    assert flow.checkout(url, elder.user).status_code == 302
    flow.settle()
    paid = ok(as_elder.get(f"/requests/{rid}"))
    assert paid["paid_at"] is not None and paid["care_record"]["next_service_code"] == "wound_dressing"
    confirmed = ok(as_elder.post(f"/requests/{rid}/confirm", {"disputed": False}))
    assert confirmed["confirmed_at"] is not None and confirmed["role"] == "patient"
    rating = ok(as_elder.post(f"/requests/{rid}/rating", {"stars": 5, "comment": "护士很细心"}), 201)
    assert (rating["stars"], rating["rated_by_name"]) == (5, elder.real_name)
    [summary] = ok(as_elder.get("/requests", patient_id=elder.pk))
    assert (summary["id"], summary["rated"], summary["nurse"]["phone"]) == (rid, True, None)

    statuses = [e["to_status"] for e in ok(as_elder.get(f"/requests/{rid}"))["timeline"]]
    assert statuses == ["assessing", "accepted", "scheduled", "en_route", "in_service", "completed"]


# ---- what each role sees -----------------------------------------------------------------------------------------


def test_each_role_sees_its_own_shape_of_a_request(client, elder, nurse, dispatcher):
    visit = f.today_visit(elder, nurse)
    f.in_service(visit, nurse)
    req = visit.request

    as_patient = ok(Api(client, elder.user).get(f"/requests/{req.pk}"))
    as_nurse = ok(Api(client, nurse).get(f"/requests/{req.pk}"))
    as_disp = ok(Api(client, dispatcher).get(f"/requests/{req.pk}"))

    assert [b["role"] for b in (as_patient, as_nurse, as_disp)] == ["patient", "nurse", "dispatcher"]
    # The nurse's phone: to staff only.
    assert as_patient["visit"]["nurse"]["phone"] is None
    assert as_nurse["visit"]["nurse"]["phone"] == as_disp["visit"]["nurse"]["phone"] == nurse.home_nurse.phone
    # Clinical notes: not to dispatchers.
    assert as_nurse["condition_note"] == as_patient["condition_note"] == req.condition_note
    assert as_disp["condition_note"] is None and as_disp["documents"] is None and as_disp["patient_age"] is None
    assert as_nurse["assessment"]["notes"] and as_disp["assessment"]["notes"] is None
    assert as_patient["assessment"]["notes"] is None and as_patient["assessment"]["risk"] is None
    assert as_disp["assessment"]["two_nurses"] is False
    # The timeline's reasons are the staff's.
    assert {e["reason"] for e in as_patient["timeline"]} == {""}
    assert "checked in" in {e["reason"] for e in as_nurse["timeline"]}

    visit_as_patient = ok(Api(client, elder.user).get(f"/visits/{visit.pk}"))
    visit_as_disp = ok(Api(client, dispatcher).get(f"/visits/{visit.pk}"))
    assert visit_as_patient["check_in"] is None and visit_as_patient["flagged"] is None
    assert visit_as_disp["check_in"]["latitude"] == f.ADDRESS_LATLNG[0]
    assert visit_as_patient["evv"]["start"] is not None


def test_reads_are_audited_with_the_role(client, elder, nurse):
    req = f.booked(elder)
    ok(Api(client, elder.user).get(f"/requests/{req.pk}"))
    event = AuditEvent.objects.filter(action=AuditAction.READ, object_type="homecare.nursingrequest",
                                      object_id=str(req.pk)).last()
    assert (event.actor_id, event.patient_id, event.detail["role"]) == (elder.user.pk, elder.pk, "patient")


# ---- the catalogue and the map -----------------------------------------------------------------------------------


def test_the_catalogue(client, elder):
    api = Api(client, elder.user)
    services = ok(api.get("/services"))
    assert len(services) == 12
    wound = ok(api.get("/services/wound_dressing"))
    assert (wound["price_fen"], wound["price_yuan"], wound["skill"]) == (8000, "80.00", "general")
    assert wound["consumables"][0]["code"] == "dressing_pack" and "elderly" in wound["eligible_groups"]
    assert ok(Api(client, elder.user, "zh-hans").get("/services/wound_dressing"))["name"] == wound["name_zh"]
    assert wound["name"] == wound["name_en"]
    refusal(api.get("/services/astrology"), 404, "service_not_found")
    type(f.service()).objects.filter(code="wound_dressing").update(active=False)
    refusal(api.get("/services/wound_dressing"), 404, "service_not_found")
    assert len(ok(api.get("/services"))) == 11


def test_geocode(client, elder):
    api = Api(client, elder.user)
    found = ok(api.post("/geocode", {"address": f.ADDRESS}))
    assert found == {"label": "迎泽区双塔寺社区", "latitude": 37.856, "longitude": 112.57, "precision": "community"}
    assert ok(api.post("/geocode", {"address": "迎泽区双塔寺街9号"}))["precision"] == "street"
    assert ok(api.post("/geocode", {"address": "某处", "latitude": 37.86, "longitude": 112.56}))["precision"] == "pin"
    refusal(api.post("/geocode", {"address": "小店区"}), 422, "address_not_found")
    refusal(api.post("/geocode", {"address": "火星基地"}), 422, "address_not_found")
    refusal(api.post("/geocode", {"address": ""}), 422, "address_required")
    refusal(api.post("/geocode", {"address": "北京", "latitude": 39.9, "longitude": 116.4}), 422,
            "outside_service_area")
    refusal(api.post("/geocode", {"address": "x", "latitude": 91, "longitude": 0}), 422, "invalid_coordinates")


# ---- refusals of the patient's endpoints -------------------------------------------------------------------------


def test_booking_refusals(client, elder, as_elder):
    f.load_catalogue()
    refusal(as_elder.post("/requests", booking_body(elder, consent=False)), 400, "consent_required")
    refusal(as_elder.post("/requests", booking_body(elder, service_code="nope")), 404, "service_not_found")
    refusal(as_elder.post("/requests", booking_body(elder, preferred_date=timezone.localdate().isoformat())), 400,
            "date_out_of_range")
    refusal(as_elder.post("/requests", booking_body(elder, address="小店区")), 400, "address_not_found")
    young = f.eligible_patient(age=40)
    refusal(Api(client, young.user).post("/requests", booking_body(young)), 400, "not_elderly")
    ok(as_elder.post("/requests", booking_body(elder)), 201)
    refusal(as_elder.post("/requests", booking_body(elder)), 409, "duplicate_request")
    assert NursingRequest.objects.count() == 1


def test_cancel_pay_confirm_and_rate_refusals(client, elder, nurse, as_elder):
    req = f.booked(elder)
    refusal(as_elder.post(f"/requests/{req.pk}/pay"), 409, "nothing_to_pay")
    refusal(as_elder.post(f"/requests/{req.pk}/confirm", {}), 409, "not_completed")
    refusal(as_elder.post(f"/requests/{req.pk}/rating", {"stars": 4}), 409, "not_completed")
    cancelled = ok(as_elder.post(f"/requests/{req.pk}/cancel", {"reason": "家人请假在家"}))
    assert (cancelled["status"], cancelled["status_label"]) == ("cancelled", "cancelled")
    refusal(as_elder.post(f"/requests/{req.pk}/cancel", {"reason": "again"}), 409, "invalid_transition")

    visit = f.today_visit(elder, nurse)
    f.in_service(visit, nurse)
    refusal(as_elder.post(f"/requests/{visit.request_id}/cancel", {}), 409, "too_late_to_cancel")


# ---- the nurse's endpoints ---------------------------------------------------------------------------------------


def test_visit_refusals_and_a_correction(client, elder, nurse, as_nurse):
    visit = f.today_visit(elder, nurse)
    refusal(as_nurse.post(f"/visits/{visit.pk}/check-in", {}), 409, "invalid_transition")
    refusal(as_nurse.post(f"/visits/{visit.pk}/check-out", {}), 409, "not_in_service")
    ok(as_nurse.post(f"/visits/{visit.pk}/set-out"))
    # Without a location: checked in, flagged for review.
    flagged = ok(as_nurse.post(f"/visits/{visit.pk}/check-in", {}))
    assert flagged["flagged"] is True and flagged["flag_reasons"] == ["check_in_without_location"]
    refusal(as_nurse.post(f"/visits/{visit.pk}/check-out", {}), 409, "care_record_required")
    refusal(as_nurse.post(f"/visits/{visit.pk}/record", {"procedure_notes": " "}), 400, "notes_required")
    refusal(as_nurse.post(f"/visits/{visit.pk}/record", {"procedure_notes": "x", "vitals": {"pulse": 400}}), 400,
            "invalid_vitals")
    refusal(as_nurse.post(f"/visits/{visit.pk}/record", {"procedure_notes": "x",
                                                         "consumables_used": [{"code": "gold", "qty": 1}]}),
            400, "invalid_consumables")
    ok(as_nurse.post(f"/visits/{visit.pk}/record", {"procedure_notes": "换药", "vitals": {"pulse": 70}}), 201)
    ok(as_nurse.post(f"/visits/{visit.pk}/check-out", {}))
    refusal(as_nurse.post(f"/visits/{visit.pk}/record", {"procedure_notes": "补记"}), 409, "record_closed")

    refusal(as_nurse.post(f"/visits/{visit.pk}/corrections", {"reason": "x", "vitals": {"pulse": 72}}), 400,
            "reason_required")
    refusal(as_nurse.post(f"/visits/{visit.pk}/corrections", {"reason": "脉搏记录有误"}), 400, "invalid_correction")
    row = ok(as_nurse.post(f"/visits/{visit.pk}/corrections", {"reason": "脉搏记录有误", "vitals": {"pulse": 72}}),
             201)
    assert (row["status"], row["changes"]["vitals"], row["before"]["vitals"]) == ("pending", {"pulse": 72},
                                                                                 {"pulse": 70})
    assert Correction.objects.get().changes["procedure_notes"] == "换药"


def test_the_route_of_another_day_and_of_a_non_nurse(client, elder, nurse, as_nurse, as_elder):
    visit = f.today_visit(elder, nurse)
    assert [s["visit_id"] for s in ok(as_nurse.get("/route", day=timezone.localdate().isoformat()))] == [visit.pk]
    assert ok(as_nurse.get("/route", day=(timezone.localdate() + timedelta(days=1)).isoformat())) == []
    assert ok(as_elder.get("/route")) == []


def test_turning_back_and_the_hospitals_cancel(client, elder, nurse, dispatcher, as_nurse, as_elder,
                                               as_dispatcher):
    visit = f.today_visit(elder, nurse)
    rid = visit.request_id
    refusal(as_nurse.post(f"/visits/{visit.pk}/turn-back", {"reason": "x"}), 409, "invalid_transition")
    ok(as_nurse.post(f"/visits/{visit.pk}/set-out"))
    refusal(as_nurse.post(f"/visits/{visit.pk}/turn-back", {}), 400, "reason_required")
    back = ok(as_nurse.post(f"/visits/{visit.pk}/turn-back", {"reason": "电动车坏在半路"}))
    assert (back["status"], back["set_out_at"]) == ("scheduled", None)
    ok(as_nurse.post(f"/visits/{visit.pk}/set-out"))
    refusal(as_elder.post(f"/requests/{rid}/cancel", {}), 409, "too_late_to_cancel")

    refusal(as_dispatcher.post(f"/requests/{rid}/hospital-cancel", {"reason": " "}), 400, "reason_required")
    refusal(as_elder.post(f"/requests/{rid}/hospital-cancel", {"reason": "x"}), 404, "not_found")
    cancelled = ok(as_dispatcher.post(f"/requests/{rid}/hospital-cancel", {"reason": "患者来电：已送医院急诊"}))
    assert (cancelled["status"], cancelled["visit"]) == ("cancelled", None)
    assert ok(as_elder.get(f"/requests/{rid}"))["status_reason"] == "患者来电：已送医院急诊"
    assert not NurseVisit.objects.filter(pk=visit.pk).exists()
    refusal(as_nurse.get(f"/visits/{visit.pk}"), 404, "not_found")

    started = f.today_visit(elder, nurse, code="injection", start="20:00")
    f.in_service(started, nurse)
    refusal(as_dispatcher.post(f"/requests/{started.request_id}/hospital-cancel", {"reason": "改期"}), 409,
            "invalid_transition")


# ---- assessment and dispatch refusals ----------------------------------------------------------------------------


def test_assessment_refusals(client, elder, nurse, as_nurse):
    req = f.booked(elder, code="picc_care")
    junior = f.home_nurse(skills=())
    refusal(Api(client, junior).post(f"/requests/{req.pk}/claim"), 403, "nurse_not_qualified")
    waiting = ok(Api(client, junior).get("/assessments"))["waiting"]
    assert [(w["can_claim"], w["refusal"]) for w in waiting] == [(False, "skill_missing")]
    refusal(as_nurse.post(f"/requests/{req.pk}/release", {}), 404, "not_found")
    ok(as_nurse.post(f"/requests/{req.pk}/claim"))
    refusal(Api(client, f.home_nurse()).post(f"/requests/{req.pk}/claim"), 409, "invalid_transition")
    refusal(as_nurse.post(f"/requests/{req.pk}/assessment", {"accept": True}), 400, "risk_required")
    refusal(as_nurse.post(f"/requests/{req.pk}/assessment", {"accept": True, "risk": "high", "home_suitable": True,
                                                             "eligibility_confirmed": True, "notes": "医嘱已核对"}),
            400, "two_nurses_for_high_risk")
    refusal(as_nurse.post(f"/requests/{req.pk}/assessment", {"accept": False}), 400, "decline_reason_required")
    released = ok(as_nurse.post(f"/requests/{req.pk}/release", {"reason": "下午无法评估"}))
    assert released["status"] == "requested"
    ok(as_nurse.post(f"/requests/{req.pk}/claim"))
    declined = ok(as_nurse.post(f"/requests/{req.pk}/assessment", {"accept": False, "decline_reason": "unstable",
                                                                   "notes": "血象异常，建议住院"}))
    assert declined["status"] == "declined" and declined["assessment"]["decline_reason"] == "unstable"
    patient_view = ok(Api(client, elder.user).get(f"/requests/{req.pk}"))
    assert patient_view["status_reason"] == "血象异常，建议住院"
    assert patient_view["assessment"]["decline_reason_label"] == "the patient's condition needs a hospital, not a " \
                                                                 "home visit"


def test_dispatch_refusals_and_assigning_by_hand(client, elder, nurse, other_nurse, dispatcher, as_dispatcher,
                                                 as_elder):
    req = f.accepted(f.booked(elder), nurse)
    day = req.preferred_date.isoformat()
    refusal(as_elder.put("/shifts", {"nurse_id": nurse.pk, "day": day, "starts": "08:00", "ends": "17:00"}), 403,
            "not_a_dispatcher")
    refusal(as_elder.post("/plans", {"day": day}), 403, "not_a_dispatcher")
    refusal(as_elder.get("/board"), 404, "not_found")
    refusal(as_dispatcher.put("/shifts", {"nurse_id": elder.user.pk, "day": day, "starts": "08:00",
                                          "ends": "17:00"}), 400, "not_a_home_nurse")
    refusal(as_dispatcher.put("/shifts", {"nurse_id": nurse.pk, "day": day, "starts": "17:00", "ends": "08:00"}),
            400, "invalid_shift")
    refusal(as_dispatcher.post("/plans", {"day": day}), 400, "no_shifts")
    refusal(as_dispatcher.post(f"/requests/{req.pk}/assign", {"nurse_id": nurse.pk, "start": "09:30"}), 400,
            "no_shift")
    ok(as_dispatcher.put("/shifts", {"nurse_id": nurse.pk, "day": day, "starts": "08:00", "ends": "17:00"}), 201)
    refusal(as_dispatcher.post(f"/requests/{req.pk}/assign", {"nurse_id": nurse.pk, "start": "13:00"}), 400,
            "outside_window")
    visit = ok(as_dispatcher.post(f"/requests/{req.pk}/assign", {"nurse_id": nurse.pk, "start": "09:30"}))
    assert (visit["status"], visit["nurse"]["id"], visit["care_record"]) == ("scheduled", nurse.pk, None)
    back = ok(as_dispatcher.post(f"/requests/{req.pk}/unassign", {"reason": "护士临时请假"}))
    assert back["status"] == "accepted" and back["visit"] is None
    refusal(as_dispatcher.post(f"/requests/{req.pk}/unassign", {}), 409, "not_scheduled")
    refusal(as_dispatcher.post("/plans/999999/accept"), 404, "not_found")


# ---- security and administration --------------------------------------------------------------------------------


def test_alarms_on_the_console(client, elder, nurse, guard, django_capture_on_commit_callbacks):
    visit = f.today_visit(elder, nurse)
    f.in_service(visit, nurse)
    alarm = safety.raise_alarm(token=safety.alarm_token(nurse), latitude=37.8561, longitude=112.5701, accuracy=8)
    console = Api(client, guard)
    [shown] = ok(console.get("/alarms"))
    assert (shown["id"], shown["kind"], shown["status"], shown["visit"]) == (alarm.pk, "panic", "raised",
                                                                             visit.request.number)
    assert shown["nurse"] == nurse.real_name and shown["latitude"] == 37.8561
    refusal(Api(client, elder.user).get("/alarms"), 404, "not_found")
    refusal(Api(client, elder.user).post(f"/alarms/{alarm.pk}/acknowledge"), 404, "not_found")

    acked = ok(console.post(f"/alarms/{alarm.pk}/acknowledge"))
    assert (acked["status"], acked["acknowledged_by"]) == ("acknowledged", guard.real_name)
    refusal(console.post(f"/alarms/{alarm.pk}/acknowledge"), 409, "already_acknowledged")
    refusal(console.post(f"/alarms/{alarm.pk}/resolve", {"resolution": " "}), 400, "resolution_required")
    resolved = ok(console.post(f"/alarms/{alarm.pk}/resolve", {"resolution": "已电话联系护士，安全"}))
    assert resolved["status"] == "resolved" and resolved["resolution"] == "已电话联系护士，安全"
    assert Alarm.objects.get().status == AlarmStatus.RESOLVED
    assert ok(console.get("/alarms")) == []
    refusal(console.post(f"/alarms/{alarm.pk}/resolve", {"resolution": "again"}), 409, "invalid_transition")


def test_blocks(client, elder, admin_user, as_elder):
    f.load_catalogue()
    req = f.booked(elder)
    admin = Api(client, admin_user)
    refusal(as_elder.post("/blocks", {"patient_id": elder.pk, "reason": "辱骂并推搡护士"}), 403, "not_an_admin")
    refusal(admin.post("/blocks", {"patient_id": elder.pk, "reason": "x"}), 400, "reason_required")
    refusal(admin.post("/blocks", {"patient_id": 999999, "reason": "辱骂并推搡护士"}), 404, "not_found")
    row = ok(admin.post("/blocks", {"patient_id": elder.pk, "reason": "辱骂并推搡护士"}), 201)
    assert (row["patient_id"], row["lifted_at"], row["blocked_by_name"]) == (elder.pk, None, admin_user.real_name)
    req.refresh_from_db()
    assert req.status == RequestStatus.CANCELLED
    refusal(admin.post("/blocks", {"patient_id": elder.pk, "reason": "辱骂并推搡护士"}), 409, "already_blocked")
    refusal(as_elder.post("/requests", booking_body(elder)), 403, "patient_blocked")

    refusal(admin.post(f"/blocks/{elder.pk}/lift", {"reason": ""}), 400, "reason_required")
    lifted = ok(admin.post(f"/blocks/{elder.pk}/lift", {"reason": "经沟通已道歉"}))
    assert lifted["lifted_at"] is not None and lifted["lift_reason"] == "经沟通已道歉"
    refusal(admin.post(f"/blocks/{elder.pk}/lift", {"reason": "again"}), 404, "not_blocked")
    assert Block.objects.count() == 1
    ok(as_elder.post("/requests", booking_body(elder)), 201)


# ---- error bodies, languages, validation, authentication --------------------------------------------------------


def _in(language: str, message: str) -> str:
    with translation.override(language):
        return gettext(message)


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_error_bodies_follow_the_language(client, elder, nurse, language):
    as_elder = Api(client, elder.user, language)
    visit = f.today_visit(elder, nurse)
    f.in_service(visit, nurse)

    too_late = refusal(as_elder.post(f"/requests/{visit.request_id}/cancel", {}), 409, "too_late_to_cancel")
    assert too_late["message"] == _in(language, "The nurse is already on the way; please call the home nursing "
                                                "office to cancel.")
    missing = refusal(as_elder.get("/requests/999999"), 404, "not_found")
    assert missing["message"] == {"zh-hans": "未找到。", "en": "Not found."}[language]
    invalid = refusal(as_elder.post("/requests", {"patient_id": "me"}), 422, "invalid_input")
    assert invalid["message"] == {"zh-hans": "有些内容未填写或格式不正确。",
                                  "en": "Some fields are missing or not valid."}[language]
    transition = refusal(Api(client, nurse, language).post(f"/visits/{visit.pk}/set-out"), 409,
                         "invalid_transition")
    assert transition["message"].startswith({"zh-hans": "目前无法办理", "en": "This cannot be done now"}[language])
    anonymous = refusal(client.get("/api/homecare/services", headers={"accept-language": language}), 401,
                        "not_authenticated")
    assert anonymous["message"] == {"zh-hans": "请先登录。", "en": "Please sign in."}[language]


def test_schema_validation_errors_are_422_with_the_fields(client, elder, nurse, as_elder):
    req = f.booked(elder)
    fields = refusal(as_elder.post("/requests", booking_body(elder, preferred_date="tomorrow",
                                                             window_start="nine")), 422, "invalid_input")["fields"]
    assert {"preferred_date", "window_start"} <= set(fields)
    assert "service_code" in refusal(as_elder.post("/requests", {"patient_id": elder.pk}), 422,
                                     "invalid_input")["fields"]
    refusal(as_elder.get("/requests"), 422, "invalid_input")
    refusal(as_elder.get("/requests/abc"), 422, "invalid_input")
    refusal(as_elder.post(f"/requests/{req.pk}/rating", {"stars": "five"}), 422, "invalid_input")
    refusal(Api(client, nurse).get("/route", day="someday"), 422, "invalid_input")
    refusal(Api(client, nurse).post("/visits/1/check-in", {"latitude": "north"}), 422, "invalid_input")
    assert NursingRequest.objects.count() == 1


PATHS = [
    ("get", "/services"), ("get", "/services/{code}"), ("post", "/geocode"),
    ("post", "/requests"), ("get", "/requests"), ("get", "/requests/{id}"), ("post", "/requests/{id}/cancel"),
    ("post", "/requests/{id}/confirm"), ("post", "/requests/{id}/pay"), ("post", "/requests/{id}/rating"),
    ("get", "/route"), ("get", "/visits/{id}"), ("post", "/visits/{id}/set-out"), ("post", "/visits/{id}/turn-back"),
    ("post", "/visits/{id}/check-in"), ("post", "/visits/{id}/record"), ("post", "/visits/{id}/check-out"),
    ("post", "/visits/{id}/corrections"),
    ("get", "/assessments"), ("post", "/requests/{id}/claim"), ("post", "/requests/{id}/release"),
    ("post", "/requests/{id}/assessment"),
    ("get", "/board"), ("put", "/shifts"), ("post", "/plans"), ("post", "/plans/{id}/accept"),
    ("post", "/requests/{id}/assign"), ("post", "/requests/{id}/unassign"), ("post", "/requests/{id}/hospital-cancel"),
    ("get", "/alarms"), ("post", "/alarms/{id}/acknowledge"), ("post", "/alarms/{id}/resolve"),
    ("post", "/blocks"), ("post", "/blocks/{id}/lift"),
]


@pytest.mark.parametrize(("method", "path"), PATHS)
def test_anonymous_requests_are_401(client, method, path):
    kwargs = {"content_type": "application/json", "data": "{}"} if method in ("post", "put") else {}
    url = f"/api/homecare{path}".replace("{id}", "1").replace("{code}", "wound_dressing")
    refusal(getattr(client, method)(url, **kwargs), 401, "not_authenticated")


def test_the_openapi_document_lists_every_endpoint(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    documented = {(method, re.sub(r"\{[a-z_]+\}", "{x}", path)) for path, ops in paths.items() for method in ops}
    for method, path in PATHS:
        assert (method, "/api/homecare" + path.replace("{id}", "{x}").replace("{code}", "{x}")) in documented, path
    # Every endpoint documents its refusals.
    for path, ops in paths.items():
        if path.startswith("/api/homecare/") and "post" in ops and "{" in path:
            assert ops["post"].get("description"), path


def test_notifications_follow_the_workflow(client, elder, nurse, flow):
    visit = f.today_visit(elder, nurse)
    f.completed(visit, nurse)
    with flow.capture(execute=True):
        url = ok(Api(client, elder.user).post(f"/requests/{visit.request_id}/pay"))["url"]
    flow.checkout(url, elder.user)
    flow.settle()
    kinds = set(Notification.objects.filter(user=elder.user).values_list("kind", flat=True))
    assert {"homecare.accepted", "homecare.scheduled", "homecare.en_route", "homecare.arrived",
            "homecare.completed", "homecare.paid"} <= kinds
