"""The plumbing itself: the real ASGI server answers, and chromium reaches it on a phone-sized page."""

import json


def test_healthz_in_the_browser(e2e_server, phone_page):
    response = phone_page.goto(e2e_server.url + "/healthz")
    assert response is not None and response.status == 200
    body = json.loads(phone_page.inner_text("body"))
    assert body["status"] == "ok"
    # screen, not innerWidth: a page without a viewport meta tag gets the 980px mobile layout viewport.
    assert phone_page.evaluate("() => [screen.width, navigator.language]") == [375, "zh-CN"]


def test_manage_runs_against_the_server_database(e2e_server):
    result = e2e_server.manage("showmigrations", "--plan")
    assert "[X]" in result.stdout and "[ ]" not in result.stdout
