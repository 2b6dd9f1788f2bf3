"""The home-care nurse on a phone and the hospital's security console, in real browsers against the real ASGI server.

1. The nurse's visit: today's route → the visit (the patient, the address, the way there) → set out → check in (the
   browser context grants geolocation with a position a few metres from the address) → the care record → check out;
   the visit's EVV facts show both positions and nothing is flagged.
2. THE ALARM: a security officer has the console open (desktop). The nurse's visit page was loaded, then the nurse's
   cookies are cleared, as after hours idle when the session has expired. A short brush of the SOS button sends
   nothing; pressing and holding it raises the alarm anyway (the page's alarm token, no session), and the console
   shows the alarm card live, without a reload, with the nurse's name and position. Acknowledging it on the console
   turns the nurse's page to "acknowledged by <name>".

No task worker runs here: the alarm reaches the console on the transaction's commit, not through a task. Each test
seeds its own data with ``manage.py e2e_homecare_nurse_fixture --key <test> --sessions`` (through the services).
Waits are conditions with timeouts; the one fixed pause checks that a brush does NOT raise an alarm.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e import ui
from tests.e2e.ui import assert_no_horizontal_scroll

LIVE = 15_000  # ms
SHOTS = "/tmp/ihospital-homecare-nurse-{}.png"
PHONE = dict(viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True,
             locale="zh-CN")
DESKTOP = dict(viewport={"width": 1280, "height": 900}, locale="zh-CN")


def seed(server, key: str) -> dict:
    out = server.manage("e2e_homecare_nurse_fixture", "--key", key, "--sessions").stdout
    return json.loads(out.strip().splitlines()[-1])


def near(s: dict) -> dict:
    """A phone position about 20 m from the visit's address."""
    return {"latitude": s["visit"]["latitude"] + 0.0001, "longitude": s["visit"]["longitude"] + 0.0002,
            "accuracy": 15}


@pytest.fixture
def people(browser: Browser, e2e_server):
    """Opens pages in fresh contexts (signed in with a session, a phone or a desktop, with a position or not);
    every context is closed after the test."""
    contexts = []

    def open_page(session: str = "", *, phone: bool = True, position: dict | None = None) -> Page:
        options = dict(PHONE if phone else DESKTOP)
        if position is not None:
            options |= {"geolocation": position, "permissions": ["geolocation"]}
        context = browser.new_context(**options)
        if session:
            context.add_cookies([{"name": "sessionid", "value": session, "url": e2e_server.url}])
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(LIVE)
        return page

    yield open_page
    for context in contexts:
        context.close()


def wait_live(page: Page) -> None:
    ui.wait_live(page, "ihospitalHcLive", state_testid="live-state")



def touch(page: Page, locator, *, hold_until: str | None = None) -> None:
    """A finger on ``locator``'s centre (a real touch, through the DevTools protocol), lifted at once or when the
    page's condition ``hold_until`` holds."""
    box = locator.bounding_box()
    point = {"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}
    cdp = page.context.new_cdp_session(page)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [point]})
    if hold_until:
        page.wait_for_function(hold_until, timeout=LIVE)
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


# ---- the nurse's visit -------------------------------------------------------------------------------------------


def test_route_visit_set_out_check_in_record_check_out(e2e_server, people):
    base = e2e_server.url
    s = seed(e2e_server, "journey")
    visit = s["visit"]
    position = near(s)
    nurse = people(s["nurse"]["session"], position=position)

    # Today's route: the visit with its time, service and address; the SOS bar at the bottom of the screen.
    nurse.goto(base + "/homecare/route/")
    stop = nurse.get_by_test_id(f"stop-{visit['id']}")
    expect(stop).to_contain_text(visit["planned_start"])
    expect(stop).to_contain_text(visit["service"])
    expect(stop).to_contain_text(visit["address"])
    expect(nurse.get_by_test_id("sos-button")).to_be_in_viewport()
    wait_live(nurse)
    assert_no_horizontal_scroll(nurse)
    # Elder mode (large type, big targets): still one column, the SOS bar still on screen.
    nurse.get_by_test_id("elder-toggle").click()
    expect(nurse.locator("html")).to_have_class(re.compile(r"\belder\b"))
    expect(nurse.get_by_test_id("sos-button")).to_be_in_viewport()
    assert_no_horizontal_scroll(nurse)
    nurse.screenshot(path=SHOTS.format("route"), full_page=True)
    stop = nurse.get_by_test_id(f"stop-{visit['id']}")
    stop.click()
    expect(nurse).to_have_url(f"{base}/homecare/visits/{visit['id']}/")

    # The visit: who, where, how to get there; the alarm knows the visit.
    expect(nurse.get_by_test_id("patient")).to_contain_text(s["patient"]["name"])
    expect(nurse.get_by_test_id("contact-phone")).to_have_attribute("href", f"tel:{s['patient']['phone']}")
    expect(nurse.get_by_test_id("address")).to_contain_text(visit["address_detail"])
    expect(nurse.get_by_test_id("navigate-geo")).to_have_attribute(
        "href", re.compile(rf"^geo:{visit['latitude']},{visit['longitude']}"))
    expect(nurse.get_by_test_id("navigate-amap")).to_have_attribute(
        "href", re.compile(rf"^https://uri\.amap\.com/marker\?position={visit['longitude']}%2C{visit['latitude']}&"))
    expect(nurse.get_by_test_id("condition-note")).to_contain_text("小狗")
    expect(nurse.get_by_test_id("sos-button")).to_be_in_viewport()
    assert_no_horizontal_scroll(nurse)

    # Set out, then check in at the door: the phone's position goes with it, close enough not to be flagged.
    nurse.get_by_test_id("set-out").click()
    expect(nurse.get_by_test_id("visit-status")).to_have_attribute("data-status", "en_route")
    nurse.get_by_test_id("check-in").click()
    expect(nurse.get_by_test_id("visit-status")).to_have_attribute("data-status", "in_service")
    expect(nurse.get_by_test_id("evv")).to_contain_text(f"{position['latitude']:.5f}, {position['longitude']:.5f}")
    expect(nurse.get_by_test_id("flagged")).to_have_count(0)

    # The care record: vital signs, what was done, the consumable used, a follow-up in three days.
    form = nurse.get_by_test_id("record-form")
    expect(nurse.get_by_test_id("check-out")).to_have_count(0)
    form.locator("#id_vital_systolic").fill("300")  # a typing error: refused beside the field
    form.locator("#id_procedure_notes").fill("伤口 3×2 cm，少量渗液，无异味；生理盐水清洗后更换藻酸盐敷料。")
    form.get_by_test_id("save-record").click()
    expect(nurse.locator(".has-error #id_vital_systolic")).to_have_value("300")
    form = nurse.get_by_test_id("record-form")
    expect(form.locator("#id_procedure_notes")).to_have_value(re.compile("藻酸盐敷料"))
    form.locator("#id_vital_systolic").fill("132")
    form.locator("#id_vital_diastolic").fill("84")
    form.locator("#id_vital_pulse").fill("76")
    form.locator("#id_vital_temperature").fill("36.6")
    form.locator("#id_qty_dressing_pack").fill("1")
    form.locator("#id_next_service").select_option("wound_dressing")
    form.locator("#id_next_in_days").fill("3")
    form.locator("#id_next_note").fill("三天后再次换药")
    assert_no_horizontal_scroll(nurse)
    nurse.screenshot(path=SHOTS.format("record"), full_page=True)
    form.get_by_test_id("save-record").click()
    expect(nurse.locator("#id_vital_systolic")).to_have_value("132")

    # Check out: completed, both positions in the EVV facts, nothing flagged; a correction now needs approval.
    nurse.get_by_test_id("check-out").click()
    expect(nurse.get_by_test_id("visit-status")).to_have_attribute("data-status", "completed")
    evv = nurse.get_by_test_id("evv")
    assert evv.inner_text().count(f"{position['latitude']:.5f}, {position['longitude']:.5f}") == 2
    expect(nurse.get_by_test_id("flagged")).to_have_count(0)
    expect(nurse.get_by_test_id("record-notes")).to_contain_text("藻酸盐敷料")
    expect(nurse.get_by_test_id("corrections")).to_be_visible()
    nurse.screenshot(path=SHOTS.format("done"), full_page=True)


def test_without_location_the_check_in_goes_through_and_is_flagged(e2e_server, people):
    base = e2e_server.url
    s = seed(e2e_server, "noloc")
    nurse = people(s["nurse"]["session"])  # the phone gives no position (no permission)
    nurse.goto(f"{base}/homecare/visits/{s['visit']['id']}/")
    nurse.get_by_test_id("set-out").click()
    expect(nurse.get_by_test_id("visit-status")).to_have_attribute("data-status", "en_route")
    nurse.get_by_test_id("check-in").click()
    expect(nurse.get_by_test_id("visit-status")).to_have_attribute("data-status", "in_service")
    expect(nurse.get_by_test_id("flagged")).to_be_visible()
    expect(nurse.locator(".messages")).to_contain_text(re.compile("flagged for review|标记"))


# ---- the alarm ---------------------------------------------------------------------------------------------------


def test_the_alarm_works_after_the_session_expired_and_reaches_the_console_live(e2e_server, people):
    base = e2e_server.url
    s = seed(e2e_server, "alarm")
    visit = s["visit"]
    position = near(s)

    # Security keeps the console open; its socket is live.
    console = people(s["security"]["session"], phone=False)
    console.goto(base + "/homecare/security/")
    wait_live(console)
    # Other journeys on this server may have left alarms of their own nurses: this nurse has none yet.
    mine = console.locator("[data-alarm-id]").filter(has_text=s["nurse"]["name"])
    expect(mine).to_have_count(0)
    console.get_by_test_id("enable-sound").click()
    expect(console.get_by_test_id("enable-sound")).to_have_attribute("aria-pressed", "true")
    console.evaluate("window.__notReloaded = true")

    # The nurse's visit page was loaded... and then the session went away (hours idle).
    nurse = people(s["nurse"]["session"], position=position)
    nurse.goto(f"{base}/homecare/visits/{visit['id']}/")
    sos = nurse.get_by_test_id("sos-button")
    expect(sos).to_have_attribute("data-ready", "1")
    nurse.context.clear_cookies()
    signed_out = nurse.evaluate("fetch('/homecare/route/', {redirect: 'manual'}).then(r => r.type)")
    assert signed_out == "opaqueredirect"  # the session is really gone: pages now lead to the sign-in

    # A brush of the button (a quick touch) sends nothing.
    touch(nurse, sos)
    nurse.wait_for_timeout(1000)
    assert nurse.evaluate("window.ihospitalAlarm.sends") == 0
    expect(nurse.get_by_test_id("sos-status")).to_be_hidden()

    # Press and hold: the alarm goes, with the phone's position.
    touch(nurse, sos, hold_until="window.ihospitalAlarm.sends > 0")
    status = nurse.get_by_test_id("sos-status")
    expect(status).to_have_attribute("data-phase", "sent")
    expect(status.get_by_test_id("sos-phone")).to_have_attribute("href", f"tel:{s['security_phone']}")
    nurse.screenshot(path=SHOTS.format("alarm-sent"))

    # The console shows it within seconds, without a reload: the nurse, where, the visit; red until acknowledged.
    card = mine.first
    expect(card).to_be_visible(timeout=5_000)
    expect(card.get_by_test_id("alarm-nurse")).to_contain_text(s["nurse"]["name"])
    expect(card.get_by_test_id("alarm-location")).to_contain_text(
        f"{position['latitude']:.5f}, {position['longitude']:.5f}")
    expect(card).to_contain_text(visit["number"])
    expect(card).to_contain_text(s["patient"]["name"])
    expect(card.get_by_test_id("minimap")).to_be_visible()
    expect(card).to_have_attribute("data-status", "raised")
    assert console.evaluate("window.__notReloaded") is True
    assert console.evaluate("window.ihospitalConsole.alarms") >= 1
    assert console.evaluate("window.ihospitalConsole.beeps") >= 1
    console.screenshot(path=SHOTS.format("console"), full_page=True)

    # Security acknowledges; the nurse's page (polling with its token, still without a session) says who.
    card.get_by_test_id("acknowledge").click()
    expect(card).to_have_attribute("data-status", "acknowledged")
    expect(status).to_have_attribute("data-phase", "acknowledged", timeout=LIVE)
    expect(status.get_by_test_id("sos-ack")).to_contain_text(s["security"]["name"])
    nurse.screenshot(path=SHOTS.format("alarm-acknowledged"))


def test_without_network_the_alarm_keeps_trying_and_shows_the_security_phone(e2e_server, people):
    base = e2e_server.url
    s = seed(e2e_server, "offline")
    nurse = people(s["nurse"]["session"], position=near(s))
    nurse.goto(base + "/homecare/route/")
    sos = nurse.get_by_test_id("sos-button")
    expect(sos).to_have_attribute("data-ready", "1")
    nurse.context.set_offline(True)
    touch(nurse, sos, hold_until="window.ihospitalAlarm.sends > 0")
    status = nurse.get_by_test_id("sos-status")
    expect(status).to_have_attribute("data-phase", "retrying")
    expect(status.get_by_test_id("sos-phone")).to_be_visible()
    expect(status.get_by_test_id("sos-phone")).to_have_attribute("href", f"tel:{s['security_phone']}")
    nurse.wait_for_function("window.ihospitalAlarm.sends >= 2")  # tried again (every 3 s)
    nurse.context.set_offline(False)
    expect(status).to_have_attribute("data-phase", "sent")
    # One alarm, whatever the number of attempts: security's console lists exactly one card for this nurse.
    console = people(s["security"]["session"], phone=False)
    console.goto(base + "/homecare/security/")
    expect(console.locator("[data-alarm-id]").filter(has_text=s["nurse"]["name"])).to_have_count(1)
