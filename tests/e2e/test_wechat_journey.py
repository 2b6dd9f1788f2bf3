"""The WeChat channel in a real browser on a phone: the hospital publishes its Official Account menu, a 68-year-old
patient opens "home nursing" from the menu on his (simulated) WeChat, allows the web authorisation, binds WeChat to
his existing account with his mobile number and password, lands signed in on the home-nursing page, clears his quiet
hours on the notification settings page and books wound dressing. A home-care nurse accepts the request through the
server's API: the bell in the header counts it live, the WeChat template message reaches his phone (neutral text
and a link, no diagnosis) and opens the request, and the notifications list shows the WeChat delivery as sent.

The local WeChat (``ihospital.wechat.simulator``) runs in this process on the port the e2e server's
WECHAT_API_BASE / WECHAT_OAUTH_BASE name (tests/e2e/conftest.py); the notification deliveries are tasks, run by a
task worker beside the server. The people come from ``manage.py e2e_homecare_patient_fixture`` (through the
services). Waits are conditions with timeouts.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from urllib.parse import unquote

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import WECHAT_SIMULATOR_PORT
from tests.e2e.ui import assert_no_horizontal_scroll

LIVE = 20_000  # ms
SHOTS = "/tmp/ihospital-wechat-{}.png"
REQUEST_URL = re.compile(r"/homecare/requests/(\d+)/$")
SIM_USER = "zhang-jianguo"
# What a template message must never carry: the father's diagnosis, his wound, the service's clinical detail.
HEALTH_WORDS = ("截瘫", "压疮", "G82", "paraplegia", "渗液")


@pytest.fixture(scope="module")
def wechat(e2e_server):
    simulator_module = pytest.importorskip("ihospital.wechat.simulator")
    simulator = simulator_module.start_simulator(port=WECHAT_SIMULATOR_PORT, platform_url=e2e_server.url)
    try:
        yield simulator
    finally:
        simulator.stop()


def seed(server, key: str) -> dict:
    out = server.manage("e2e_homecare_patient_fixture", "--key", key).stdout
    return json.loads(out.strip().splitlines()[-1])


def api(server, token: str, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        server.url + "/api/homecare" + path, method=method, data=json.dumps(body or {}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (our own test server)
        return json.loads(response.read() or b"{}")



def wait_for(condition, what: str, timeout: float = 30.0):
    """Poll ``condition`` (a plain function) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_from_the_wechat_menu_to_a_booked_home_visit_and_its_template_message(
    e2e_server, wechat, task_worker, phone_page
):
    base = e2e_server.url
    s = seed(e2e_server, "wechat")
    patient, nurse = s["patient"], s["nurse"]
    page = phone_page
    page.set_default_timeout(LIVE)
    me = wechat.identity(SIM_USER)

    # The hospital publishes the Official Account's menu (the command an operator runs).
    out = e2e_server.manage("publish_wechat_menu").stdout
    assert "published" in out.lower()
    assert wechat.state.menu is not None

    # His phone: the Official Account with its menu. "Home nursing" is under the services button.
    page.goto(f"{wechat.phone_url}?sim_user={SIM_USER}")
    expect(page.locator("#sim-openid")).to_have_text(me["openid"])
    homecare = page.locator("a.mbtn[href*='homecare']")
    page.locator("details.menu", has=homecare).locator("summary").click()
    homecare.click()

    # WeChat asks him to allow the hospital's page to know who he is; he allows.
    expect(page.locator("#allow")).to_be_visible()
    expect(page.locator("#sim-openid")).to_have_text(me["openid"])
    page.locator("#allow").click()

    # The platform does not know this WeChat yet: bind it to his account with his mobile number and password.
    expect(page).to_have_url(base + "/wechat/bind/")
    expect(page.get_by_test_id("wechat-bind")).to_be_visible()
    assert_no_horizontal_scroll(page)
    page.screenshot(path=SHOTS.format("bind"), full_page=True)
    login = page.get_by_test_id("bind-login")
    login.locator("input[name='login-identifier']").fill(patient["login"].removeprefix("+86"))
    login.locator("input[name='login-password']").fill(s["password"])
    login.locator("button[type=submit]").click()

    # Bound and signed in, on the page the menu button named.
    expect(page).to_have_url(base + "/homecare/")
    expect(page.get_by_test_id("bell")).to_be_visible()
    expect(page.get_by_test_id("service-wound_dressing")).to_be_visible()

    # His notification settings: WeChat is bound now; no quiet hours (the accepted request must reach him now).
    page.get_by_test_id("bell").click()
    expect(page).to_have_url(base + "/notifications/")
    page.get_by_test_id("open-preferences").click()
    expect(page).to_have_url(base + "/notifications/preferences/")
    expect(page.get_by_test_id("missing-wechat")).to_have_count(0)
    expect(page.locator("input[name=wechat]")).to_be_checked()
    page.locator("input[name=quiet_start]").fill("")
    page.locator("input[name=quiet_end]").fill("")
    assert_no_horizontal_scroll(page)
    page.get_by_test_id("save-preferences").click()
    expect(page).to_have_url(base + "/notifications/preferences/")
    expect(page.locator(".message.success")).to_be_visible()
    expect(page.locator("input[name=quiet_start]")).to_have_value("")

    # He books wound dressing at home for himself.
    page.goto(base + "/homecare/")
    page.get_by_test_id("book-wound_dressing").click()
    expect(page).to_have_url(base + "/homecare/book/wound_dressing/")
    expect(page.get_by_test_id("booking-for")).to_contain_text(patient["name"])
    page.locator("input[name=address]").fill(s["address"])
    page.get_by_test_id("find-on-map").click()
    expect(page.get_by_test_id("located-label")).to_have_text(s["address_label"])
    page.locator("input[name=address_detail]").fill(s["address_detail"])
    page.locator("select[name=window_start]").select_option("09:00")
    page.locator("select[name=window_end]").select_option("12:00")
    page.locator("textarea[name=condition_note]").fill("截瘫，骶尾部 II 期压疮，渗液少。")
    page.locator("input[name=consent]").check()
    assert_no_horizontal_scroll(page)
    page.get_by_test_id("send-request").click()
    expect(page).to_have_url(REQUEST_URL)
    request_id = int(REQUEST_URL.search(page.url).group(1))
    expect(page.get_by_test_id("request-status")).to_have_attribute("data-status", "requested")

    # The bell listens (ws/notifications/); the hospital accepts the request through the server.
    page.wait_for_function("window.ihospitalNotify && window.ihospitalNotify.ready", timeout=LIVE)
    page.evaluate("window.__notReloaded = true")
    before = int(page.get_by_test_id("bell").get_attribute("data-unread"))
    api(e2e_server, nurse["token"], "POST", f"/requests/{request_id}/claim")
    api(e2e_server, nurse["token"], "POST", f"/requests/{request_id}/assessment", {
        "accept": True, "risk": "low", "home_suitable": True, "eligibility_confirmed": True,
        "notes": "出院小结已核对。"})
    expect(page.get_by_test_id("request-status")).to_have_attribute("data-status", "accepted")
    expect(page.get_by_test_id("bell")).to_have_attribute("data-unread", str(before + 1))
    expect(page.get_by_test_id("bell-count")).to_be_visible()
    expect(page.get_by_test_id("notify-toast")).to_be_visible()
    assert page.evaluate("window.__notReloaded") is True, "the bell was updated by a reload, not live"
    page.screenshot(path=SHOTS.format("bell"), full_page=False)

    # The WeChat template message reaches his phone: the event and a link, never his diagnosis or wound.
    def accepted_message():
        # The link may go through /wechat/oauth/start/?next=... (signed in by WeChat when opened): decode it.
        return [m for m in wechat.messages(me["openid"])
                if f"/homecare/requests/{request_id}/" in unquote(m.get("url", ""))]

    message = wait_for(accepted_message, "the template message of the accepted request")[0]
    text = json.dumps(message["data"], ensure_ascii=False)
    for word in HEALTH_WORDS:
        assert word not in text, f"{word!r} in the template message {text}"
    assert message["url"].startswith(base)

    page.goto(f"{wechat.phone_url}?sim_user={SIM_USER}")
    template = page.locator(f".template[data-msgid='{message['msgid']}']")
    expect(template).to_be_visible()
    page.screenshot(path=SHOTS.format("phone"), full_page=True)
    template.locator("a.detail").click()
    expect(page).to_have_url(f"{base}/homecare/requests/{request_id}/")
    expect(page.get_by_test_id("request-status")).to_have_attribute("data-status", "accepted")

    # The notifications list: the acceptance, its WeChat delivery sent; marked read, the bell goes down.
    page.goto(base + "/notifications/")
    item = page.locator("[data-testid^='notification-'][data-kind='homecare.accepted']").first
    expect(item).to_be_visible()
    delivery = item.locator("[data-testid$='-wechat']")

    def sent() -> bool:
        if delivery.count() and delivery.get_attribute("data-status") == "sent":
            return True
        page.reload()
        return False

    wait_for(sent, "the WeChat delivery shown as sent", timeout=20)
    unread = int(page.get_by_test_id("bell").get_attribute("data-unread"))
    item = page.locator("[data-testid^='notification-'][data-kind='homecare.accepted']").first
    item.locator("button[data-testid^='read-']").click()
    expect(page).to_have_url(base + "/notifications/")
    expect(page.get_by_test_id("bell")).to_have_attribute("data-unread", str(unread - 1))

    # Elder mode: the bell and the list still fit a phone.
    page.get_by_test_id("elder-toggle").click()
    expect(page.locator("html")).to_have_class(re.compile(r"\belder\b"))
    expect(page.get_by_test_id("bell")).to_be_visible()
    assert_no_horizontal_scroll(page)
    page.screenshot(path=SHOTS.format("notifications-elder"), full_page=True)
