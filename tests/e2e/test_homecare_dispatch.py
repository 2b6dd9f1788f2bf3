"""The dispatcher's day board in a real browser against the real ASGI server (desktop).

In three days: three requests accepted and waiting (one PICC line care that only one of the two nurses on shift is
qualified for). The dispatcher opens the board: three grey pins on the map, no timeline blocks. "Propose" → the
proposal lists each nurse's stops and the travel against nearest-nurse; "Accept" → the timeline and the map show the
visits, the PICC visit with the qualified nurse. A second dispatcher, on another screen, takes a visit off its nurse:
the first board shows it waiting again without a reload (the live socket). A nurse presses the alarm (the signed
alarm token, as the nurse's page sends it): the alarm shows at the top of the board, live.

The data is seeded through the services with ``manage.py shell`` (the test factories); everything the browsers see
changes through the server, whose in-process channel layer carries the live events.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Page, expect

from tests.e2e import ui

LIVE = 15_000  # ms

SEED = r"""
import json
from django.contrib.auth.models import update_last_login
from ihospital.directory.models import Title
from ihospital.homecare import safety
from ihospital.prescriptions.management.commands.e2e_prescription_fixture import Command as RxFixture
from tests.factories import TOTPDeviceFactory
from tests.homecare import factories as f

from datetime import timedelta
from django.utils import timezone

from ihospital.homecare.management import e2e

f.load_catalogue()
# The home hospital as the demo and the other journeys name it (the factories reuse it).
e2e.department("e2e-hc-dispatch", "护理部", "Nursing")
# A day of this journey's own: other journeys on the same server book for today and tomorrow.
day = timezone.localdate() + timedelta(days=3)
assessor = f.home_nurse()
picc_nurse = f.home_nurse(title=Title.SUPERVISOR_NURSE, skills=("picc", "wound_ostomy"))
wound_nurse = f.home_nurse(title=Title.NURSE_PRACTITIONER, skills=("wound_ostomy",), base=(37.8650, 112.5520))
requests = [
    f.accepted(f.booked(f.eligible_patient(), code=code, window=window, address=address, day=day), assessor)
    for code, window, address in (
        ("picc_care", ("09:00", "11:00"), "太原市迎泽区双塔寺社区5号楼"),
        ("wound_dressing", ("09:00", "12:00"), "太原市迎泽区桃园社区2号楼"),
        ("ostomy_care", ("13:00", "15:00"), "太原市迎泽区老军营小区1号楼"),
    )
]
dispatchers = [f.dispatcher() for _ in range(2)]
for nurse in (picc_nurse, wound_nurse):
    f.shift(nurse, day, "08:00", "17:00", by=dispatchers[0])
for user in dispatchers:
    user.language = "en"
    user.save(update_fields=["language"])
sessions = [RxFixture._session(user, TOTPDeviceFactory(user=user)) for user in dispatchers]
print(json.dumps({
    "day": day.isoformat(), "sessions": sessions, "requests": [r.pk for r in requests],
    "picc_nurse": picc_nurse.pk, "wound_nurse": wound_nurse.pk, "wound_nurse_name": wound_nurse.real_name,
    "alarm_token": safety.alarm_token(wound_nurse),
}))
"""


@pytest.fixture
def seeded(e2e_server) -> dict:
    out = e2e_server.manage("shell", "-c", SEED).stdout
    return json.loads(out.strip().splitlines()[-1])



def wait_live(page: Page) -> None:
    ui.wait_live(page, "ihospitalHcLive", state_testid="live-state")


def test_the_dispatcher_plans_the_day_and_the_board_follows_it_live(e2e_server, seeded, desk):
    picc, dressing, ostomy = seeded["requests"]
    board_url = f"{e2e_server.url}/homecare/dispatch/{seeded['day']}/"
    page = desk(seeded["sessions"][0])
    page.goto(board_url)
    wait_live(page)
    expect(page.get_by_test_id("waiting-pin")).to_have_count(3)
    expect(page.get_by_test_id("stop-pin")).to_have_count(0)
    expect(page.get_by_test_id(f"lane-{seeded['picc_nurse']}")).to_be_visible()

    page.get_by_test_id("propose").click()
    expect(page.get_by_test_id("saving")).to_contain_text("nearest")
    expect(page.get_by_test_id(f"proposed-{seeded['picc_nurse']}")).to_contain_text("PICC")
    expect(page.get_by_test_id("proposed-route").first).to_be_attached()
    page.get_by_test_id("accept-plan").click()
    expect(page.get_by_test_id("stop-pin")).to_have_count(3)
    expect(page.get_by_test_id("waiting-pin")).to_have_count(0)
    expect(page.get_by_test_id(f"lane-{seeded['picc_nurse']}").get_by_test_id(f"block-{picc}")).to_be_visible()
    for request_id in (dressing, ostomy):
        expect(page.get_by_test_id(f"block-{request_id}")).to_be_visible()
    page.screenshot(path="/tmp/ihospital-homecare-dispatch-board.png", full_page=True)

    # A second dispatcher takes the wound dressing off its nurse: the first board shows it waiting, live.
    wait_live(page)
    other = desk(seeded["sessions"][1])
    other.goto(board_url)
    other.get_by_test_id(f"visit-{dressing}").get_by_text("Change").click()
    other.get_by_test_id(f"unassign-{dressing}").get_by_role("button").click()
    expect(other.get_by_test_id(f"waiting-{dressing}")).to_be_visible()
    expect(page.get_by_test_id(f"waiting-{dressing}")).to_be_visible()
    expect(page.get_by_test_id("waiting-pin")).to_have_count(1)
    assert page.evaluate("window.ihospitalHcLive.events") >= 1

    # A nurse presses the alarm: it shows at the top of the board, without a reload.
    response = page.request.post(f"{e2e_server.url}/homecare/alarm/", form={
        "token": seeded["alarm_token"], "latitude": "37.8651", "longitude": "112.5521", "accuracy": "12"})
    assert response.status == 201, response.text()
    alarm = page.get_by_test_id("alarm")
    expect(alarm).to_contain_text(seeded["wound_nurse_name"])
    expect(alarm.get_by_role("link")).to_have_attribute("href", "/homecare/security/")
