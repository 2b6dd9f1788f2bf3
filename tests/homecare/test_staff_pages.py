"""The staff's home-nursing pages with Django's test client: assessment (home-care nurses), the day board
(dispatchers), the review queue (supervisor nurses), blocks (the administration), and the role home pages. Each
page renders for its role and is refused to the others; someone else's id answers 404; forms post to the service
and a refusal shows in place with the service's status. The rules themselves are tested in test_assessment.py,
test_dispatch.py and test_blocks.py."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from ihospital.accounts.models import Role
from ihospital.core.models import AuditEvent
from ihospital.directory.models import Title
from ihospital.homecare import assessing, dispatch, visiting
from ihospital.homecare.models import (
    Block,
    CareRecord,
    Correction,
    CorrectionStatus,
    DispatchPlan,
    NurseVisit,
    NursingRequest,
    PlanStatus,
    RequestStatus,
    Shift,
)
from ihospital.records.models import Allergy
from tests.factories import NurseFactory, StaffUserFactory, TOTPDeviceFactory
from tests.helpers import verify_session
from tests.homecare import factories as f
from tests.visits.factories import DocumentFactory

pytestmark = pytest.mark.django_db

FAR = (37.8700, 112.5900)  # about 2.5 km from the address


def client_for(user, *, language: str = "en", elder_mode: bool = False) -> Client:
    """Signed in (staff with the second factor); English unless told, so the assertions read the msgids."""
    user.language, user.elder_mode = language, elder_mode
    user.save(update_fields=["language", "elder_mode"])
    client = Client()
    client.force_login(user)
    if user.role != Role.PATIENT:
        verify_session(client, user.totpdevice_set.first() or TOTPDeviceFactory(user=user))
    return client


def page(response) -> str:
    return response.content.decode()


@pytest.fixture
def ward_nurse(db):
    return NurseFactory(title=Title.SUPERVISOR_NURSE).user


@pytest.fixture
def practitioner_nurse(db):
    """A home-care nurse practitioner (护师): assesses general services, reviews nothing."""
    return f.home_nurse(title=Title.NURSE_PRACTITIONER, skills=("wound_ostomy",))


# ---- assessment -------------------------------------------------------------------------------------------------


def test_the_worklist_shows_waiting_requests_without_names_and_claims_them(elder, nurse):
    req = f.booked(elder, condition_note="右小腿溃疡，渗液多")
    client = client_for(nurse)
    html = page(client.get("/homecare/assess/"))
    assert f'data-testid="waiting-{req.pk}"' in html and req.service.name_en in html
    assert "迎泽区" in html and "km" in html
    # Before a claim: no name, no street address, nothing of the condition.
    assert elder.real_name not in html and "双塔寺" not in html and "溃疡" not in html
    assert "data-hc-refresh" in html and "homecare/live.js" in html
    part = client.get("/homecare/assess/?part=lists")
    assert part.status_code == 200 and "<html" not in page(part)

    response = client.post(f"/homecare/assess/{req.pk}/claim/")
    assert response.status_code == 302 and response["Location"] == f"/homecare/assess/{req.pk}/"
    html = page(client.get(response["Location"]))
    assert elder.real_name in html and elder.mrn in html and "溃疡" in html
    assert 'data-testid="accept-form"' in html and 'data-testid="decline-form"' in html
    assert 'name="qty_dressing_pack" value="1"' in html
    assert f'data-testid="open-{req.pk}"' in page(client.get("/homecare/assess/"))


def test_the_assessment_page_shows_the_chart_and_the_requests_documents(elder, nurse, doctor):
    Allergy.objects.create(patient=elder, recorded_by=doctor.user, substance="青霉素", reaction="皮疹")
    doc = DocumentFactory(patient=elder, title="出院小结")
    req = f.booked(elder, document_ids=[doc.pk])
    assessing.claim(actor=nurse, request_id=req.pk)
    html = page(client_for(nurse).get(f"/homecare/assess/{req.pk}/"))
    assert "青霉素" in html and "出院小结" in html
    assert f'href="/records/documents/{doc.pk}/"' in html
    assert AuditEvent.objects.filter(actor=nurse, action="read", patient_id=elder.pk).exists()


def test_the_worklist_is_refused_to_everyone_but_home_care_nurses(elder, dispatcher, admin_user, ward_nurse):
    for user in (dispatcher, admin_user, ward_nurse, elder.user, f.home_nurse(years=3)):
        assert client_for(user).get("/homecare/assess/").status_code == 403
    assert Client().get("/homecare/assess/").status_code == 302


def test_an_unqualified_claim_is_refused_in_place(elder, practitioner_nurse):
    req = f.booked(elder, code="picc_care")
    client = client_for(practitioner_nurse)
    assert f'data-testid="refusal-{req.pk}"' in page(client.get("/homecare/assess/"))
    response = client.post(f"/homecare/assess/{req.pk}/claim/")
    assert response.status_code == 403
    assert f'data-testid="claim-error-{req.pk}"' in page(response) and "PICC" in page(response)
    req.refresh_from_db()
    assert req.status == RequestStatus.REQUESTED


def test_a_request_someone_else_claimed_is_a_conflict_in_place_and_their_page_a_404(elder, nurse, other_nurse):
    req = f.booked(elder)
    assessing.claim(actor=nurse, request_id=req.pk)
    client = client_for(other_nurse)
    assert client.post(f"/homecare/assess/{req.pk}/claim/").status_code == 409
    assert client.get(f"/homecare/assess/{req.pk}/").status_code == 404
    assert client.post(f"/homecare/assess/{req.pk}/decide/", {"decision": "decline",
                                                               "decline_reason": "unstable"}).status_code == 404
    assert client.post(f"/homecare/assess/{req.pk}/release/").status_code == 404
    assert client.get(f"/homecare/assess/{req.pk + 999}/").status_code == 404
    assert client.post(f"/homecare/assess/{req.pk + 999}/claim/").status_code == 404


def test_accepting_shows_each_missing_answer_beside_its_field(elder, nurse):
    req = f.booked(elder, code="infusion")
    assessing.claim(actor=nurse, request_id=req.pk)
    client = client_for(nurse)
    url = f"/homecare/assess/{req.pk}/decide/"
    response = client.post(url, {"decision": "accept", "home_suitable": "on", "eligibility_confirmed": "on"})
    assert response.status_code == 400 and "Please assess the risk." in page(response)
    response = client.post(url, {"decision": "accept", "risk": "low", "eligibility_confirmed": "on"})
    assert response.status_code == 400 and 'id="id_home_suitable_error"' in page(response)
    response = client.post(url, {"decision": "accept", "risk": "low", "home_suitable": "on",
                                 "eligibility_confirmed": "on"})
    assert response.status_code == 400 and 'id="id_notes_error"' in page(response)
    response = client.post(url, {"decision": "accept", "risk": "high", "home_suitable": "on",
                                 "eligibility_confirmed": "on", "notes": "输液医嘱：张医生 11-20"})
    assert response.status_code == 400 and 'id="id_two_nurses_error"' in page(response)
    response = client.post(url, {"decision": "accept", "risk": "low", "home_suitable": "on",
                                 "eligibility_confirmed": "on", "notes": "x", "qty_infusion_set": "25"})
    assert response.status_code == 400 and 'id="id_qty_infusion_set_error"' in page(response)
    req.refresh_from_db()
    assert req.status == RequestStatus.ASSESSING

    response = client.post(url, {"decision": "accept", "risk": "high", "home_suitable": "on",
                                 "eligibility_confirmed": "on", "two_nurses": "on", "notes": "输液医嘱：张医生 11-20",
                                 "qty_infusion_set": "2", "qty_iv_cannula": "0"})
    assert response.status_code == 302 and response["Location"] == "/homecare/assess/"
    req.refresh_from_db()
    assert req.status == RequestStatus.ACCEPTED and req.assessment.two_nurses
    assert [(c["code"], c["qty"]) for c in req.assessment.consumables] == [("infusion_set", 2)]
    # Decided: the page shows the decision, no longer the forms.
    html = page(client.get(f"/homecare/assess/{req.pk}/"))
    assert 'data-testid="decision"' in html and 'data-testid="accept-form"' not in html


def test_declining_needs_a_reason_shown_in_place(elder, nurse):
    req = f.booked(elder)
    assessing.claim(actor=nurse, request_id=req.pk)
    client = client_for(nurse)
    url = f"/homecare/assess/{req.pk}/decide/"
    response = client.post(url, {"decision": "decline"})
    assert response.status_code == 400 and 'id="id_decline_reason_error"' in page(response)
    response = client.post(url, {"decision": "decline", "decline_reason": "other"})
    assert response.status_code == 400 and 'id="id_note_error"' in page(response)
    assert client.post(url, {"decision": "decline", "decline_reason": "home_unsafe",
                             "note": "楼道堆放杂物，无法安全操作"}).status_code == 302
    req.refresh_from_db()
    assert req.status == RequestStatus.DECLINED and req.status_reason.startswith("楼道")


def test_handing_a_request_back(elder, nurse):
    req = f.booked(elder)
    assessing.claim(actor=nurse, request_id=req.pk)
    client = client_for(nurse)
    assert client.post(f"/homecare/assess/{req.pk}/release/", {"reason": "需要造口专科"}).status_code == 302
    req.refresh_from_db()
    assert req.status == RequestStatus.REQUESTED
    assert client.get(f"/homecare/assess/{req.pk}/").status_code == 404


# ---- the day board ----------------------------------------------------------------------------------------------


@pytest.fixture
def day_with_requests(dispatcher, nurse, other_nurse):
    """Tomorrow: two accepted requests (one needing two nurses), both nurses on shift."""
    assessor = f.home_nurse()
    first = f.accepted(f.booked(f.eligible_patient()), assessor)
    second = f.accepted(f.booked(f.eligible_patient(), window=("13:00", "15:00"), address="太原市迎泽区桃园社区2号楼"),
                        assessor, risk="high", two_nurses=True)
    for n in (nurse, other_nurse):
        f.shift(n, first.preferred_date, by=dispatcher)
    return first, second


def test_the_board_shows_the_day(dispatcher, nurse, day_with_requests):
    first, second = day_with_requests
    day = first.preferred_date.isoformat()
    client = client_for(dispatcher)
    redirect = client.get("/homecare/dispatch/")
    assert redirect.status_code == 302 and redirect["Location"] == f"/homecare/dispatch/{timezone.localdate()}/"
    assert client.get(f"/homecare/dispatch/?day={day}")["Location"] == f"/homecare/dispatch/{day}/"
    html = page(client.get(f"/homecare/dispatch/{day}/"))
    for testid in (f"waiting-{first.pk}", f"waiting-{second.pk}", f"nurse-{nurse.pk}", "map", "timeline",
                   "hospital-pin", "shift-form", "propose", "alarms"):
        assert f'data-testid="{testid}"' in html, testid
    assert html.count('data-testid="waiting-pin"') == 2
    assert 'data-testid="two-nurses"' in html and "双塔寺社区" in html
    assert "homecare/dispatch.js" in html and "homecare/live.js" in html and "data-hc-refresh" in html
    part = client.get(f"/homecare/dispatch/{day}/?part=board")
    assert part.status_code == 200 and "<html" not in page(part) and 'data-testid="map"' in page(part)
    assert client.get("/homecare/dispatch/2025-02-30/").status_code == 404


def test_the_board_is_for_dispatchers_only(elder, nurse, admin_user, guard, day_with_requests):
    first, _second = day_with_requests
    day = first.preferred_date.isoformat()
    for user in (nurse, admin_user, guard, elder.user):
        client = client_for(user)
        assert client.get(f"/homecare/dispatch/{day}/").status_code == 403
        assert client.post(f"/homecare/dispatch/{day}/propose/").status_code == 403
        assert client.post(f"/homecare/dispatch/requests/{first.pk}/assign/",
                           {"nurse": nurse.pk, "start": "09:30"}).status_code == 403
    assert not DispatchPlan.objects.exists() and not NurseVisit.objects.exists()


def test_setting_a_shift_from_the_board(dispatcher, practitioner_nurse):
    day = f.tomorrow().isoformat()
    client = client_for(dispatcher)
    url = f"/homecare/dispatch/{day}/shift/"
    response = client.post(url, {"nurse": practitioner_nurse.pk, "starts": "17:00", "ends": "09:00"})
    assert response.status_code == 400 and "The shift must end after it starts." in page(response)
    response = client.post(url, {"nurse": "", "starts": "08:00", "ends": "12:00"})
    assert response.status_code == 400
    assert not Shift.objects.exists()
    response = client.post(url, {"nurse": practitioner_nurse.pk, "starts": "08:30", "ends": "16:30"})
    assert response.status_code == 302 and response["Location"].endswith("#nurses")
    assert Shift.objects.get().starts == time(8, 30)
    assert f'data-testid="lane-{practitioner_nurse.pk}"' in page(client.get(f"/homecare/dispatch/{day}/"))


def test_propose_and_accept_from_the_board(dispatcher, nurse, day_with_requests):
    first, second = day_with_requests
    day = first.preferred_date.isoformat()
    client = client_for(dispatcher)
    response = client.post(f"/homecare/dispatch/{day}/propose/")
    assert response.status_code == 302 and response["Location"].endswith("#proposal")
    plan = DispatchPlan.objects.get()
    html = page(client.get(f"/homecare/dispatch/{day}/"))
    assert 'data-testid="saving"' in html and 'data-testid="accept-plan"' in html
    assert html.count('data-testid="proposed-route"') == len(plan.routes)
    assert client.post(f"/homecare/dispatch/plans/{plan.pk}/accept/").status_code == 302
    for req in (first, second):
        req.refresh_from_db()
        assert req.status == RequestStatus.SCHEDULED
    html = page(client.get(f"/homecare/dispatch/{day}/"))
    assert f'data-testid="block-{first.pk}"' in html and html.count('data-testid="stop-pin"') == 2
    assert f'data-testid="needs-second-{second.pk}"' in html
    # Accepted once: again is refused in place.
    response = client.post(f"/homecare/dispatch/plans/{plan.pk}/accept/")
    assert response.status_code == 409 and 'data-testid="plan-error"' not in page(response)


def test_a_stale_proposal_is_refused_in_place(dispatcher, nurse, day_with_requests):
    first, _second = day_with_requests
    day = first.preferred_date.isoformat()
    client = client_for(dispatcher)
    client.post(f"/homecare/dispatch/{day}/propose/")
    plan = DispatchPlan.objects.get()
    dispatch.assign(actor=dispatcher, request_id=first.pk, nurse_id=nurse.pk, start="11:00")
    response = client.post(f"/homecare/dispatch/plans/{plan.pk}/accept/")
    assert response.status_code == 409 and 'data-testid="plan-error"' in page(response)
    plan.refresh_from_db()
    assert plan.status == PlanStatus.PROPOSED and NurseVisit.objects.count() == 1


def test_nothing_to_propose_is_said_in_place(dispatcher):
    response = client_for(dispatcher).post(f"/homecare/dispatch/{f.tomorrow()}/propose/")
    assert response.status_code == 400 and 'data-testid="propose-error"' in page(response)


def test_assigning_by_hand_with_each_refusal_in_place(dispatcher, nurse, other_nurse, day_with_requests):
    first, second = day_with_requests
    day = first.preferred_date.isoformat()
    client = client_for(dispatcher)
    url = f"/homecare/dispatch/requests/{first.pk}/assign/"
    response = client.post(url, {"nurse": nurse.pk, "start": "13:00"})
    assert response.status_code == 400 and f'data-testid="error-{first.pk}"' in page(response)
    assert "window" in page(response)
    assert f'<option value="{nurse.pk}" selected>' in page(response)
    response = client.post(url, {"nurse": "", "start": "09:30"})
    assert response.status_code == 400 and f'data-testid="error-{first.pk}"' in page(response)
    response = client.post(url, {"nurse": nurse.pk, "start": "09:30"})
    assert response.status_code == 302 and response["Location"] == f"/homecare/dispatch/{day}/#req-{first.pk}"
    # Overlapping the visit just scheduled: refused beside the second request.
    response = client.post(f"/homecare/dispatch/requests/{second.pk}/assign/", {"nurse": nurse.pk, "start": "13:00"})
    assert response.status_code == 302
    response = client.post(url, {"nurse": nurse.pk, "start": "13:10"})
    assert response.status_code == 400 or response.status_code == 409
    assert f'data-testid="error-{first.pk}"' in page(response)
    # The second nurse for the two-nurse visit; then moving it and taking it off.
    response = client.post(f"/homecare/dispatch/requests/{second.pk}/second-nurse/", {"nurse": nurse.pk})
    assert response.status_code == 400 and f'data-testid="error-{second.pk}"' in page(response)
    assert client.post(f"/homecare/dispatch/requests/{second.pk}/second-nurse/",
                       {"nurse": other_nurse.pk}).status_code == 302
    assert NurseVisit.objects.get(request=second).second_nurse == other_nurse
    assert client.post(url, {"nurse": other_nurse.pk, "start": "10:00"}).status_code == 302
    assert NurseVisit.objects.get(request=first).nurse == other_nurse
    assert client.post(f"/homecare/dispatch/requests/{first.pk}/unassign/", {"reason": "改派"}).status_code == 302
    first.refresh_from_db()
    assert first.status == RequestStatus.ACCEPTED
    response = client.post(f"/homecare/dispatch/requests/{first.pk}/unassign/")
    assert response.status_code == 409 and f'data-testid="error-{first.pk}"' in page(response)


def test_a_request_not_yet_accepted_is_not_on_the_board(dispatcher, nurse, elder):
    req = f.booked(elder)
    client = client_for(dispatcher)
    assert client.post(f"/homecare/dispatch/requests/{req.pk}/assign/",
                       {"nurse": nurse.pk, "start": "09:30"}).status_code == 404
    assert client.post(f"/homecare/dispatch/requests/{req.pk + 999}/unassign/").status_code == 404
    assert client.post("/homecare/dispatch/plans/999999/accept/").status_code == 404
    assert f'data-testid="waiting-{req.pk}"' not in page(client.get(f"/homecare/dispatch/{req.preferred_date}/"))


def test_an_open_alarm_shows_on_the_board(dispatcher, nurse, elder):
    from ihospital.homecare import safety

    visit = f.today_visit(elder, nurse)
    safety.raise_alarm(token=safety.alarm_token(nurse), latitude=37.856, longitude=112.57, visit_id=visit.pk)
    html = page(client_for(dispatcher).get(f"/homecare/dispatch/{timezone.localdate()}/"))
    assert 'data-testid="alarm"' in html and nurse.real_name in html and 'id="hc-alarm-strings"' in html


# ---- the review queue -------------------------------------------------------------------------------------------


@pytest.fixture
def flagged_visit(elder, practitioner_nurse):
    """A visit checked in and out 2.5 km from the address by a nurse practitioner."""
    visit = f.today_visit(elder, practitioner_nurse)
    f.completed(visit, practitioner_nurse, where=FAR)
    visit.refresh_from_db()
    assert visit.flagged
    return visit


def test_a_supervisor_reviews_a_flagged_visit(flagged_visit, nurse):
    client = client_for(nurse)
    html = page(client.get("/homecare/review/"))
    visit = flagged_visit
    assert f'data-testid="flagged-{visit.pk}"' in html and 'data-testid="pin-map"' in html
    assert 'data-testid="pin-in"' in html and 'data-testid="pin-out"' in html
    assert "m from the address" in html and visit.request.patient.mrn in html
    assert 'data-hc-refresh' in html
    response = client.post(f"/homecare/review/visits/{visit.pk}/", {f"v{visit.pk}-note": " "})
    assert response.status_code == 400 and f'data-testid="review-error-{visit.pk}"' in page(response)
    response = client.post(f"/homecare/review/visits/{visit.pk}/",
                           {f"v{visit.pk}-note": "电话核实：患者临时在女儿家接受服务"})
    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.reviewed_by == nurse and visit.review_note.startswith("电话核实")
    assert f'data-testid="flagged-{visit.pk}"' not in page(client.get("/homecare/review/"))
    assert client.post(f"/homecare/review/visits/{visit.pk}/", {f"v{visit.pk}-note": "again"}).status_code == 409


def test_a_visit_without_location_shows_no_phone_pins(elder, practitioner_nurse, nurse):
    visit = f.today_visit(elder, practitioner_nurse)
    f.completed(visit, practitioner_nurse, where=None)
    html = page(client_for(nurse).get("/homecare/review/"))
    assert "checked in without a location" in html and 'data-testid="pin-in"' not in html


def test_nobody_reviews_their_own_visit(elder, nurse, other_nurse):
    visit = f.today_visit(elder, nurse)
    f.completed(visit, nurse, where=FAR)
    client = client_for(nurse)
    html = page(client.get("/homecare/review/"))
    assert f'data-testid="flagged-{visit.pk}"' in html and f'data-testid="review-form-{visit.pk}"' not in html
    assert client.post(f"/homecare/review/visits/{visit.pk}/", {f"v{visit.pk}-note": "自己看过了"}).status_code == 404


def test_the_review_queue_is_for_supervisors_only(flagged_visit, practitioner_nurse, dispatcher, admin_user, elder,
                                                  ward_nurse):
    for user in (practitioner_nurse, dispatcher, admin_user, elder.user, ward_nurse):
        client = client_for(user)
        assert client.get("/homecare/review/").status_code == 403
        assert client.post(f"/homecare/review/visits/{flagged_visit.pk}/",
                           {f"v{flagged_visit.pk}-note": "看过"}).status_code == 403
    flagged_visit.refresh_from_db()
    assert flagged_visit.reviewed_at is None


def test_a_supervisor_decides_a_correction_with_the_diff(elder, practitioner_nurse, nurse, other_nurse):
    visit = f.today_visit(elder, practitioner_nurse)
    f.completed(visit, practitioner_nurse)
    correction = visiting.request_correction(actor=practitioner_nurse, visit_id=visit.pk, reason="血压记录笔误",
                                             vitals={"systolic": 128, "diastolic": 84, "pulse": 76})
    client = client_for(nurse)
    html = page(client.get("/homecare/review/"))
    assert f'data-testid="diff-{correction.pk}"' in html and "132" in html and "128" in html
    assert 'data-field="vitals"' in html and 'data-field="procedure_notes"' not in html
    url = f"/homecare/review/corrections/{correction.pk}/"
    response = client.post(url, {f"c{correction.pk}-decision": "reject"})
    assert response.status_code == 400 and f'data-testid="correction-error-{correction.pk}"' in page(response)
    assert client.post(url, {f"c{correction.pk}-decision": "maybe"}).status_code == 400
    assert client.post(url, {f"c{correction.pk}-decision": "approve"}).status_code == 302
    correction.refresh_from_db()
    record = CareRecord.objects.get(visit=visit)
    assert correction.status == CorrectionStatus.APPROVED and record.vitals["systolic"] == 128 and record.version == 2
    assert client_for(other_nurse).post(url, {f"c{correction.pk}-decision": "approve"}).status_code == 409
    assert client.post(f"/homecare/review/corrections/{correction.pk + 99}/",
                       {f"c{correction.pk + 99}-decision": "approve"}).status_code == 404
    assert Correction.objects.count() == 1


# ---- blocks -----------------------------------------------------------------------------------------------------


def test_an_admin_finds_blocks_and_unblocks_a_patient(elder, admin_user):
    req = f.booked(elder)
    client = client_for(admin_user)
    html = page(client.get("/homecare/blocks/"))
    assert 'data-testid="mrn-search"' in html and 'data-testid="found"' not in html
    assert 'data-testid="not-found"' in page(client.get("/homecare/blocks/?mrn=NOPE"))
    html = page(client.get(f"/homecare/blocks/?mrn={elder.mrn.lower()}"))
    assert 'data-testid="found"' in html and elder.real_name in html and 'data-testid="block-form"' in html
    assert AuditEvent.objects.filter(actor=admin_user, action="read", patient_id=elder.pk).exists()

    response = client.post("/homecare/blocks/", {"patient_id": elder.pk, "mrn": elder.mrn, "reason": "吵"})
    assert response.status_code == 400 and 'id="id_reason_error"' in page(response)
    assert not Block.objects.exists()
    response = client.post("/homecare/blocks/", {"patient_id": elder.pk, "mrn": elder.mrn,
                                                 "reason": "11月20日家属持刀威胁上门护士"})
    assert response.status_code == 302
    req.refresh_from_db()
    assert req.status == RequestStatus.CANCELLED
    html = page(client.get(response["Location"]))
    assert f'data-testid="block-{elder.pk}"' in html and 'data-testid="already-blocked"' in html
    response = client.post("/homecare/blocks/", {"patient_id": elder.pk, "mrn": elder.mrn,
                                                 "reason": "再次威胁护士，报警处理"})
    assert response.status_code == 409 and "already blocked" in page(response)

    response = client.post(f"/homecare/blocks/{elder.pk}/lift/", {f"lift{elder.pk}-reason": ""})
    assert response.status_code == 400 and f'data-testid="lift-error-{elder.pk}"' in page(response)
    assert client.post(f"/homecare/blocks/{elder.pk}/lift/",
                       {f"lift{elder.pk}-reason": "家属书面道歉，恢复服务"}).status_code == 302
    assert Block.objects.get().lifted_by == admin_user
    assert client.post(f"/homecare/blocks/{elder.pk}/lift/", {f"lift{elder.pk}-reason": "x"}).status_code == 404
    assert client.post("/homecare/blocks/", {"patient_id": elder.pk + 999, "reason": "no such patient at all"}
                       ).status_code == 404


def test_blocks_are_for_the_administration_only(elder, nurse, dispatcher, guard):
    for user in (nurse, dispatcher, guard, elder.user):
        client = client_for(user)
        assert client.get("/homecare/blocks/").status_code == 403
        assert client.post("/homecare/blocks/", {"patient_id": elder.pk,
                                                 "reason": "11月20日家属持刀威胁上门护士"}).status_code == 403
    assert not Block.objects.exists()


# ---- the role home pages ----------------------------------------------------------------------------------------


def test_the_dispatchers_home_counts_the_day_and_links_the_board(dispatcher, nurse, elder):
    visit = f.today_visit(elder, nurse)
    html = page(client_for(dispatcher).get("/"))
    assert f'href="/homecare/dispatch/{timezone.localdate()}/"' in html and 'data-testid="board-counts"' in html
    assert "1 visit scheduled or under way" in html and "1 nurse on shift" in html
    assert "Coming soon" not in html
    assert visit.nurse == nurse


def test_the_security_home_links_the_console(guard):
    html = page(client_for(guard).get("/"))
    assert 'data-testid="console-tile"' in html and 'href="/homecare/security/"' in html


def test_a_home_care_nurses_home_links_assessment_route_and_for_supervisors_reviews(
        elder, nurse, practitioner_nurse, ward_nurse):
    f.booked(elder)
    html = page(client_for(nurse).get("/"))
    assert 'data-testid="assess-tile"' in html and 'data-testid="route-tile"' in html
    assert 'href="/homecare/assess/"' in html and 'href="/homecare/route/"' in html
    assert "1 request waiting for assessment" in html
    assert 'data-testid="review-visits-tile"' in html and 'href="/homecare/review/"' in html
    html = page(client_for(practitioner_nurse).get("/"))
    assert 'data-testid="assess-tile"' in html and 'data-testid="review-visits-tile"' not in html
    # A ward nurse (no home-care profile) gets no home-nursing tiles.
    html = page(client_for(ward_nurse).get("/"))
    assert 'data-testid="assess-tile"' not in html and 'data-testid="route-tile"' not in html


def test_the_admins_home_links_the_blocks(admin_user):
    assert 'href="/homecare/blocks/"' in page(client_for(admin_user).get("/"))


def test_the_pages_render_in_chinese_and_elder_mode(elder, nurse, dispatcher, admin_user, day_with_requests):
    first, _second = day_with_requests
    req = f.booked(elder, code="ostomy_care")
    assessing.claim(actor=nurse, request_id=req.pk)
    pages = [(nurse, "/homecare/assess/"), (nurse, f"/homecare/assess/{req.pk}/"), (nurse, "/homecare/review/"),
             (dispatcher, f"/homecare/dispatch/{first.preferred_date}/"), (admin_user, "/homecare/blocks/"),
             (dispatcher, "/"), (nurse, "/")]
    for user, url in pages:
        response = client_for(user, language="zh-hans", elder_mode=True).get(url)
        assert response.status_code == 200, url
        assert '<html lang="zh-hans" class="no-js elder">' in page(response), url


def test_a_staff_member_of_another_role_is_not_a_dispatcher(db):
    auditor = StaffUserFactory(role=Role.AUDITOR)
    assert client_for(auditor).get(f"/homecare/dispatch/{timezone.localdate() + timedelta(days=1)}/").status_code == 403
    assert NursingRequest.objects.count() == 0
