"""The nurse's pages, the alarm endpoints and the security console with Django's test client: each page reaches
its selector or service, shows a refusal in place with the service's message and status, and answers 404 for a
visit that is not the nurse's (or outside the access window). The rules themselves are tested in
``test_visiting.py`` and ``test_safety.py``; the browser journeys in ``tests/e2e/test_homecare_nurse.py``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from ihospital.homecare import safety, visiting
from ihospital.homecare.models import Alarm, AlarmStatus, Assessment, CareRecord, Correction, NurseVisit, RequestStatus
from tests.factories import TOTPDeviceFactory
from tests.helpers import verify_session
from tests.homecare import factories as f

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    """A browser signed in as ``user`` (reading English); staff with their second factor verified."""
    type(user).objects.filter(pk=user.pk).update(language="en")
    client = Client()
    client.force_login(user)
    if user.needs_second_factor:
        device = user.totpdevice_set.first() or TOTPDeviceFactory(user=user)
        verify_session(client, device)
    return client


def page(response) -> str:
    return response.content.decode()


@pytest.fixture
def visit(elder, nurse):
    return f.today_visit(elder, nurse)


@pytest.fixture
def browser(nurse):
    return signed_in(nurse)


def test_the_route_lists_today_and_tomorrow_in_order_with_the_sos_button(elder, nurse, browser):
    later = f.today_visit(elder, nurse, code="blood_draw", start="20:00")
    first = f.today_visit(f.eligible_patient(), nurse, start="08:00")
    tomorrow = f.scheduled(f.accepted(f.booked(f.eligible_patient()), nurse), nurse, start="10:00")
    html = page(browser.get("/homecare/route/"))
    assert html.index(f'data-testid="stop-{first.pk}"') < html.index(f'data-testid="stop-{later.pk}"')
    assert f'data-testid="stop-{tomorrow.pk}"' in html.split('id="tomorrow-title"')[1]
    assert f'href="/homecare/visits/{first.pk}/"' in html
    assert "太原市迎泽区双塔寺社区" in html and first.request.service.name in html
    # The alarm: its token (the page may outlive the session), the endpoint, the security phone.
    assert 'data-testid="sos-button"' in html and 'id="sos-config"' in html
    assert 'homecare/alarm.js' in html and 'homecare/live.js' in html
    token = html.split('name="token" value="')[1].split('"')[0]
    assert safety.nurse_of_token(token) == nurse
    part = browser.get("/homecare/route/?part=list")
    assert part.status_code == 200 and "<html" not in page(part)


def test_the_route_is_for_nurses(elder, guard):
    response = signed_in(elder.user).get("/homecare/route/")
    assert response.status_code == 403
    assert Client().get("/homecare/route/").status_code == 302  # to the sign-in page


def test_the_visit_page_shows_what_the_nurse_needs(visit, browser, elder):
    html = page(browser.get(f"/homecare/visits/{visit.pk}/"))
    req = visit.request
    assert elder.real_name in html and f'href="tel:{req.contact_phone}"' in html
    assert f"geo:{req.latitude},{req.longitude}" in html
    assert f"https://uri.amap.com/marker?position={req.longitude}%2C{req.latitude}&amp;name=" in html
    assert "医嘱已核对" in html  # the assessment's notes
    assert "换药包" in html or "dressing pack" in html  # consumables to bring
    assert 'data-testid="set-out"' in html and 'data-testid="check-in"' not in html
    assert f'name="visit" value="{visit.pk}"' in html  # the alarm knows the visit
    assert 'data-testid="evv"' in html


def test_another_nurse_and_the_window(visit, other_nurse, nurse, browser):
    assert signed_in(other_nurse).get(f"/homecare/visits/{visit.pk}/").status_code == 404
    assert signed_in(other_nurse).post(f"/homecare/visits/{visit.pk}/set-out/").status_code == 404
    assert browser.get("/homecare/visits/999999/").status_code == 404
    # Three days ago (and assessed before that): out of the nurse's window.
    Assessment.objects.filter(request_id=visit.request_id).update(decided_at=timezone.now() - timedelta(days=4))
    NurseVisit.objects.filter(pk=visit.pk).update(day=timezone.localdate() - timedelta(days=3),
                                                  planned_start=visit.planned_start - timedelta(days=3),
                                                  planned_end=visit.planned_end - timedelta(days=3))
    assert browser.get(f"/homecare/visits/{visit.pk}/").status_code == 404


def test_set_out_check_in_record_and_check_out_through_the_pages(visit, browser, django_capture_on_commit_callbacks):
    url = f"/homecare/visits/{visit.pk}/"
    with django_capture_on_commit_callbacks(execute=True):
        assert browser.post(url + "set-out/").status_code == 302
    assert 'data-testid="check-in"' in page(browser.get(url))
    lat, lng = f.ADDRESS_LATLNG
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(url + "check-in/", {"latitude": lat, "longitude": lng, "accuracy": "12"}, follow=True)
    html = page(response)
    assert 'data-testid="record-form"' in html and 'data-testid="check-out"' not in html
    # Checking out before the record: refused in place.
    response = browser.post(url + "check-out/", {"latitude": lat, "longitude": lng})
    assert response.status_code == 409 and "Please write the care record" in page(response)
    # A vital sign out of range: refused beside the field, what was typed kept.
    response = browser.post(url + "record/", {"vital_systolic": "400", "procedure_notes": "换药"})
    assert response.status_code == 400
    html = page(response)
    assert "Between 50 and 260." in html and 'value="400"' in html and "换药" in html
    assert not CareRecord.objects.filter(visit=visit).exists()
    response = browser.post(url + "record/", {"vital_systolic": "130"})
    assert response.status_code == 400 and "Please describe what was done." in page(response)
    response = browser.post(url + "record/", {"procedure_notes": "x", "next_service": "wound_dressing",
                                              "next_in_days": "200"})
    assert response.status_code == 400 and "1 to 90 days" in page(response)
    response = browser.post(url + "record/", {
        "vital_systolic": "132", "vital_temperature": "36.6", "procedure_notes": "伤口清洁，已换药",
        "qty_dressing_pack": "1", "next_service": "wound_dressing", "next_in_days": "3", "next_note": "三天后换药"})
    assert response.status_code == 302
    record = CareRecord.objects.get(visit=visit)
    assert record.vitals == {"systolic": 132, "temperature": 36.6}
    assert record.consumables_used == [{"code": "dressing_pack", "qty": 1}]
    assert (record.next_service.code, record.next_in_days, record.next_note) == ("wound_dressing", 3, "三天后换药")
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(url + "check-out/", {"latitude": lat, "longitude": lng}, follow=True)
    html = page(response)
    assert "Checked out. Thank you." in html and 'data-testid="correction-form"' in html
    visit.refresh_from_db()
    assert visit.request.status == RequestStatus.COMPLETED and not visit.flagged


def test_turning_back_needs_a_reason(visit, nurse, browser, django_capture_on_commit_callbacks):
    visiting.set_out(actor=nurse, visit_id=visit.pk)
    html = page(browser.get(f"/homecare/visits/{visit.pk}/"))
    assert 'data-testid="turn-back"' in html
    response = browser.post(f"/homecare/visits/{visit.pk}/turn-back/", {"reason": " "})
    assert response.status_code == 400 and "Please say why you are turning back." in page(response)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(f"/homecare/visits/{visit.pk}/turn-back/", {"reason": "路上遇到交通事故，需协助伤员"},
                                follow=True)
    assert "You turned back" in page(response) and 'data-testid="set-out"' in page(response)
    visit.refresh_from_db()
    assert visit.request.status == RequestStatus.SCHEDULED and visit.set_out_at is None


def test_check_in_without_location_is_flagged_and_said(visit, nurse, browser):
    visiting.set_out(actor=nurse, visit_id=visit.pk)
    response = browser.post(f"/homecare/visits/{visit.pk}/check-in/", {"latitude": "", "longitude": ""},
                            follow=True)
    assert "Checked in without location — flagged for review." in page(response)
    visit.refresh_from_db()
    assert visit.flagged and visit.request.status == RequestStatus.IN_SERVICE


def test_check_in_far_away_is_flagged_with_the_distance(visit, nurse, browser):
    visiting.set_out(actor=nurse, visit_id=visit.pk)
    response = browser.post(f"/homecare/visits/{visit.pk}/check-in/", {"latitude": "37.90", "longitude": "112.50"},
                            follow=True)
    assert "m from the address — flagged for review." in page(response)
    # Rubbish coordinates are a refusal in place, not a 500.
    visiting_page = browser.post(f"/homecare/visits/{visit.pk}/check-out/", {"latitude": "north", "longitude": "1"})
    assert visiting_page.status_code == 400 and "These map coordinates are not valid." in page(visiting_page)


def test_photos_go_to_the_chart_and_onto_the_record(visit, nurse, browser):
    from django.core.files.uploadedfile import SimpleUploadedFile

    f.in_service(visit, nurse)
    png = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
           b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
    response = browser.post(f"/homecare/visits/{visit.pk}/record/", {
        "procedure_notes": "伤口照片", "photos": [SimpleUploadedFile("wound.png", png, "image/png")]})
    assert response.status_code == 302
    record = CareRecord.objects.get(visit=visit)
    [photo] = record.photos.all()
    assert photo.kind == "image" and photo.patient_id == visit.request.patient_id
    html = page(browser.get(f"/homecare/visits/{visit.pk}/"))
    assert "1 photo saved" in html
    # Not an image: the record stays saved, the photo is refused and said.
    response = browser.post(f"/homecare/visits/{visit.pk}/record/", {
        "procedure_notes": "再次记录", "photos": [SimpleUploadedFile("notes.txt", b"hello", "text/plain")]},
        follow=True)
    assert "a photo was refused" in page(response)
    record.refresh_from_db()
    assert record.procedure_notes == "再次记录" and record.photos.count() == 1


def test_a_correction_needs_a_reason_and_a_change_and_is_listed(visit, nurse, browser):
    f.completed(visit, nurse)
    url = f"/homecare/visits/{visit.pk}/correction/"
    response = browser.post(url, {"reason": "", "procedure_notes": "伤口清洁干燥，已换药，渗液少量"})
    assert response.status_code == 400 and "Please give the reason for the correction." in page(response)
    response = browser.post(url, {"reason": "漏记渗液情况", "procedure_notes": "伤口清洁干燥，已换药",
                                  "vital_systolic": "132", "vital_diastolic": "84", "vital_pulse": "76",
                                  "qty_dressing_pack": "1"})
    assert response.status_code == 400 and "Say what should change in the record." in page(response)
    response = browser.post(url, {"reason": "漏记渗液情况", "procedure_notes": "伤口清洁干燥，已换药，渗液少量",
                                  "vital_systolic": "132", "vital_diastolic": "84", "vital_pulse": "76",
                                  "qty_dressing_pack": "1"}, follow=True)
    html = page(response)
    correction = Correction.objects.get()
    assert correction.changes["procedure_notes"].endswith("渗液少量") and correction.reason == "漏记渗液情况"
    assert f'data-testid="correction-{correction.pk}"' in html and "waiting for approval" in html


# ---- the alarm endpoints ----------------------------------------------------------------------------------------


def test_the_alarm_needs_no_session_and_answers_json(visit, nurse, guard, django_capture_on_commit_callbacks):
    token = safety.alarm_token(nurse)
    anonymous = Client(enforce_csrf_checks=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = anonymous.post("/homecare/alarm/", {"token": token, "visit": visit.pk, "latitude": "37.856",
                                                       "longitude": "112.57", "accuracy": "20"},
                                  HTTP_ACCEPT="application/json")
    assert response.status_code == 201, page(response)
    alarm = Alarm.objects.get()
    assert response.json()["alarm"]["id"] == alarm.pk and alarm.visit_id == visit.pk and alarm.latitude == 37.856
    # JSON bodies too; a second press merges.
    response = anonymous.post("/homecare/alarm/", {"token": token}, content_type="application/json")
    assert response.status_code == 201 and Alarm.objects.count() == 1
    status = anonymous.get("/homecare/alarm/status/", {"token": token, "id": alarm.pk}).json()
    assert status == {"id": alarm.pk, "status": "raised", "acknowledged_by": "", "acknowledged_at": "",
                      "resolved": False}
    safety.acknowledge(actor=guard, alarm_id=alarm.pk)
    status = anonymous.get("/homecare/alarm/status/", {"token": token, "id": alarm.pk}).json()
    assert status["status"] == "acknowledged" and status["acknowledged_by"] == guard.real_name


def test_a_bad_token_is_403_and_the_status_is_only_the_nurses_own(visit, nurse, other_nurse):
    client = Client()
    response = client.post("/homecare/alarm/", {"token": "forged"}, HTTP_ACCEPT="application/json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "invalid_alarm_token"
    assert not Alarm.objects.exists()
    alarm = safety.raise_alarm(token=safety.alarm_token(nurse))
    theirs = client.get("/homecare/alarm/status/", {"token": safety.alarm_token(other_nurse), "id": alarm.pk})
    assert theirs.status_code == 404
    assert client.get("/homecare/alarm/status/", {"token": "x", "id": alarm.pk}).status_code == 403
    assert client.get("/homecare/alarm/status/", {"token": safety.alarm_token(nurse), "id": "x"}).status_code == 404
    assert client.get("/homecare/alarm/").status_code == 405


def test_without_javascript_the_alarm_form_answers_with_a_page(nurse):
    response = Client().post("/homecare/alarm/", {"token": safety.alarm_token(nurse)},
                             HTTP_ACCEPT="text/html,application/xhtml+xml")
    assert response.status_code == 201 and 'data-testid="alarm-sent"' in page(response)
    response = Client().post("/homecare/alarm/", {"token": "stale"}, HTTP_ACCEPT="text/html")
    assert response.status_code == 403 and 'href="tel:' in page(response)


# ---- the security console ---------------------------------------------------------------------------------------


def test_the_console_shows_open_alarms_with_the_map_and_acknowledges_and_resolves(visit, nurse, guard):
    old = safety.raise_alarm(token=safety.alarm_token(nurse), visit_id=visit.pk, latitude=37.8561, longitude=112.571)
    Alarm.objects.filter(pk=old.pk).update(raised_at=timezone.now() - timedelta(minutes=10))
    new = safety.raise_alarm(token=safety.alarm_token(nurse), visit_id=visit.pk, latitude=37.857, longitude=112.572)
    console = signed_in(guard)
    html = page(console.get("/homecare/security/"))
    assert html.index(f'data-testid="alarm-{new.pk}"') < html.index(f'data-testid="alarm-{old.pk}"')
    card = html.split(f'<li class="hc-alarm" id="alarm-{new.pk}"', 1)[1].split("</li>")[0]
    assert nurse.real_name in card and "37.85700, 112.57200" in card and 'data-testid="minimap"' in card
    assert visit.request.number in card and visit.request.patient.real_name in card
    assert "https://uri.amap.com/marker?position=112.572%2C37.857&amp;" in card and 'data-status="raised"' in card
    assert 'id="alarm-card-template"' in html and 'homecare/console.js' in html
    part = console.get("/homecare/security/?part=list")
    assert part.status_code == 200 and "<html" not in page(part)

    assert console.post(f"/homecare/security/alarms/{new.pk}/acknowledge/").status_code == 302
    again = console.post(f"/homecare/security/alarms/{new.pk}/acknowledge/")
    assert again.status_code == 409 and "already acknowledged this alarm" in page(again)
    refused = console.post(f"/homecare/security/alarms/{new.pk}/resolve/", {f"a{new.pk}-resolution": " "})
    assert refused.status_code == 400 and "Please record how the alarm was resolved." in page(refused)
    done = console.post(f"/homecare/security/alarms/{new.pk}/resolve/", {f"a{new.pk}-resolution": "误触，已电话确认"})
    assert done.status_code == 302
    html = page(console.get("/homecare/security/"))
    assert f'data-testid="alarm-{new.pk}"' not in html and f'data-testid="alarm-{old.pk}"' in html
    history = page(console.get("/homecare/security/history/"))
    assert f'data-testid="alarm-{new.pk}"' in history and "误触，已电话确认" in history
    assert Alarm.objects.get(pk=new.pk).status == AlarmStatus.RESOLVED


def test_the_console_is_for_security_admins_and_dispatchers(visit, nurse, elder, dispatcher, admin_user):
    alarm = safety.raise_alarm(token=safety.alarm_token(nurse))
    for user in (dispatcher, admin_user):
        assert f'data-testid="alarm-{alarm.pk}"' in page(signed_in(user).get("/homecare/security/"))
    for user in (nurse, elder.user):
        client = signed_in(user)
        assert client.get("/homecare/security/").status_code == 404
        assert client.get("/homecare/security/history/").status_code == 404
        assert client.post(f"/homecare/security/alarms/{alarm.pk}/acknowledge/").status_code == 404
    assert Alarm.objects.get(pk=alarm.pk).status == AlarmStatus.RAISED
