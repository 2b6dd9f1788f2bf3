"""The patient's side of home nursing in a real browser on a phone, against the real ASGI server: a daughter signs
in, acts for her 68-year-old father (paralysed from the waist down), turns elder mode on, and books wound dressing
for him: an address the address book knows, "find on map" showing where it is, a window, his discharge summary
from the chart and a photo of the wound, and the informed consent. The request is in her list. With its page open,
a home-care nurse assesses and accepts it and a dispatcher schedules it, through the API of the same server: the
page follows over the socket (ws/homecare/live/) to "scheduled", with the nurse and the time, without a reload.

The data comes from ``manage.py e2e_homecare_patient_fixture`` (through the services); the nurse's and the
dispatcher's acts go through HTTP so that their live events start in the server's process (the embedded channel
layer is in memory). Waits are conditions with timeouts, never sleeps.
"""

from __future__ import annotations

import json
import re
import urllib.request

from playwright.sync_api import Browser, Page, expect

from tests.e2e import ui
from tests.e2e.ui import assert_no_horizontal_scroll

LIVE = 15_000  # ms
SHOTS = "/tmp/ihospital-homecare-{}.png"
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
REQUEST_URL = re.compile(r"/homecare/requests/(\d+)/$")
PHONE = dict(viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True,
             locale="zh-CN")
# Where the phone says it is: 桃园社区, 1.3 km from the hospital.
HERE = {"latitude": 37.8650, "longitude": 112.5520, "accuracy": 20}


def seed(server, key: str, *options: str) -> dict:
    out = server.manage("e2e_homecare_patient_fixture", "--key", key, *options).stdout
    return json.loads(out.strip().splitlines()[-1])


def api(server, token: str, method: str, path: str, body: dict | None = None) -> dict:
    """A staff member's call to the server's API (their act and its live event happen in the server)."""
    request = urllib.request.Request(
        server.url + "/api/homecare" + path, method=method, data=json.dumps(body or {}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (our own test server)
        return json.loads(response.read() or b"{}")


def wait_live(page: Page) -> None:
    ui.wait_live(page, "ihospitalHcLive", state_testid="live-state")



def test_a_daughter_books_wound_dressing_for_her_father_and_sees_it_scheduled_live(e2e_server, phone_page):
    base = e2e_server.url
    s = seed(e2e_server, "journey")
    father, daughter, nurse = s["patient"], s["relative"], s["nurse"]
    page = phone_page
    page.set_default_timeout(LIVE)

    # The daughter signs in with her mobile number and acts for her father.
    page.goto(base + "/accounts/login/")
    page.get_by_label("手机号或用户名").fill(daughter["login"].removeprefix("+86"))
    page.get_by_label("密码").fill(s["password"])
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page).to_have_url(base + "/")
    page.locator("form[action='/accounts/act-for/']").filter(
        has=page.locator(f"input[name=patient_id][value='{father['id']}']")).locator("button").click()
    page.goto(base + "/")
    page.get_by_test_id("my-homecare").click()
    expect(page).to_have_url(base + "/homecare/")
    expect(page.get_by_test_id("service-wound_dressing")).to_contain_text("伤口换药")
    page.get_by_test_id("book-wound_dressing").click()
    expect(page).to_have_url(base + "/homecare/book/wound_dressing/")

    # Elder mode on: large type and big targets; the booking page comes back and still works.
    page.get_by_test_id("elder-toggle").click()
    expect(page.locator("html")).to_have_class(re.compile(r"\belder\b"))
    expect(page).to_have_url(base + "/homecare/book/wound_dressing/")
    expect(page.get_by_test_id("booking-for")).to_contain_text(father["name"])
    expect(page.get_by_test_id("group-elderly").locator("input")).to_be_checked()  # 68: the hospital sees it

    # The address from the address book, checked on the map before sending.
    page.locator("input[name=address]").fill(s["address"])
    page.get_by_test_id("find-on-map").click()
    expect(page.get_by_test_id("located-label")).to_have_text(s["address_label"])
    expect(page.get_by_test_id("map-pin")).to_be_visible()
    expect(page.get_by_test_id("located-coordinates")).to_have_text("37.85600, 112.57000")
    expect(page).to_have_url(base + "/homecare/book/wound_dressing/")  # in place, by htmx
    # An address the map cannot place is said in place, with its code.
    page.locator("input[name=address]").fill("太原市小店区")
    page.get_by_test_id("find-on-map").click()
    expect(page.get_by_test_id("locate-error")).to_have_attribute("data-code", "address_not_found")
    page.locator("input[name=address]").fill(s["address"])

    page.locator("input[name=address_detail]").fill(s["address_detail"])
    expect(page.locator("input[name=contact_name]")).to_have_value(daughter["name"])
    expect(page.locator("input[name=preferred_date]")).to_have_value(s["tomorrow"])
    page.locator("select[name=window_start]").select_option("14:00")
    page.locator("select[name=window_end]").select_option("17:00")
    page.locator("textarea[name=condition_note]").fill("骶尾部 II 期压疮约 3×2 cm，渗液少；卧床，家属每两小时翻身。")
    page.get_by_test_id(f"document-{s['document']['id']}").locator("input").check()
    page.locator("input[name=photo_file]").set_input_files(
        {"name": "wound.png", "mimeType": "image/png", "buffer": PNG})
    expect(page.get_by_test_id("consent-text")).to_contain_text("15")
    page.locator("input[name=consent]").check()
    assert_no_horizontal_scroll(page)
    page.screenshot(path=SHOTS.format("book-elder"), full_page=True)
    page.get_by_test_id("send-request").click()

    expect(page).to_have_url(REQUEST_URL)
    request_id = int(REQUEST_URL.search(page.url).group(1))
    expect(page.get_by_test_id("request-status")).to_have_attribute("data-status", "requested")
    expect(page.get_by_test_id("request-facts")).to_contain_text(s["address_detail"])
    expect(page.get_by_test_id("request-facts")).to_contain_text(s["document"]["title"])

    # In her list of his requests.
    page.goto(base + "/homecare/requests/")
    row = page.get_by_test_id(f"request-{request_id}")
    expect(row).to_have_attribute("data-status", "requested")
    expect(row).to_contain_text("伤口换药")
    assert_no_horizontal_scroll(page)
    row.get_by_test_id("open-request").click()
    expect(page).to_have_url(f"{base}/homecare/requests/{request_id}/")
    wait_live(page)
    page.evaluate("window.__notReloaded = true")
    status = page.get_by_test_id("request-status")

    # The hospital's side, through the server: a nurse assesses and accepts, a dispatcher schedules.
    api(e2e_server, nurse["token"], "POST", f"/requests/{request_id}/claim")
    expect(status).to_have_attribute("data-status", "assessing")
    api(e2e_server, nurse["token"], "POST", f"/requests/{request_id}/assessment", {
        "accept": True, "risk": "low", "home_suitable": True, "eligibility_confirmed": True,
        "notes": "出院小结与伤口照片已核对；家属在家。"})
    expect(status).to_have_attribute("data-status", "accepted")
    api(e2e_server, s["dispatcher"]["token"], "PUT", "/shifts", {
        "nurse_id": nurse["user_id"], "day": s["tomorrow"], "starts": "08:00", "ends": "17:00"})
    api(e2e_server, s["dispatcher"]["token"], "POST", f"/requests/{request_id}/assign", {
        "nurse_id": nurse["user_id"], "start": "14:30"})

    expect(status).to_have_attribute("data-status", "scheduled")
    expect(page.get_by_test_id("nurse-name")).to_have_text(nurse["name"])
    expect(page.get_by_test_id("nurse-title")).to_contain_text(nurse["title_zh"])
    expect(page.get_by_test_id("planned-time")).to_contain_text("14:30")
    assert page.evaluate("window.__notReloaded") is True, "the page was reloaded instead of updated live"
    assert page.evaluate("window.ihospitalHcLive.events") >= 3
    assert_no_horizontal_scroll(page)
    page.screenshot(path=SHOTS.format("scheduled-elder"), full_page=True)


def test_the_patient_books_at_his_phones_location_in_english(e2e_server, browser: Browser):
    """"Use my location": the phone's position is the pin the booking keeps (no address-book lookup)."""
    base = e2e_server.url
    s = seed(e2e_server, "location", "--sessions")
    context = browser.new_context(**PHONE, geolocation=HERE, permissions=["geolocation"])
    try:
        context.add_cookies([{"name": "sessionid", "value": s["patient"]["session"], "url": base}])
        page = context.new_page()
        page.set_default_timeout(LIVE)
        page.goto(base + "/homecare/book/blood_draw/")
        page.get_by_test_id("lang-en").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Book Blood draw at home")
        expect(page.get_by_test_id("booking-for")).to_contain_text(s["patient"]["name"])

        page.locator("input[name=address]").fill("太原市迎泽区某某巷 7 号")
        page.get_by_test_id("use-my-location").click()
        located = page.get_by_test_id("located")
        expect(located).to_have_attribute("data-latitude", "37.86500")
        expect(located).to_have_attribute("data-longitude", "112.55200")
        expect(page.get_by_test_id("located-map")).to_contain_text("Nanhuamen Community")  # a known place nearby
        # Typing another address drops the pin and its answer.
        page.locator("input[name=address]").press_sequentially("8")
        expect(page.locator("input[name=latitude]")).to_have_value("")
        expect(page.get_by_test_id("located")).to_have_count(0)
        page.get_by_test_id("use-my-location").click()
        expect(page.get_by_test_id("located")).to_have_attribute("data-latitude", "37.86500")

        page.locator("input[name=address_detail]").fill("1号楼1层")
        page.locator("input[name=consent]").check()
        assert_no_horizontal_scroll(page)
        page.get_by_test_id("send-request").click()
        expect(page).to_have_url(REQUEST_URL)
        facts = page.get_by_test_id("request-facts")
        expect(facts).to_contain_text("某某巷")
        expect(facts).to_contain_text("map pin")
        expect(page.get_by_test_id("request-status")).to_have_attribute("data-status", "requested")
        page.screenshot(path=SHOTS.format("pinned-en"), full_page=True)
    finally:
        context.close()
