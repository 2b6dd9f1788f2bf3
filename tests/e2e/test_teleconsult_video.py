"""A three-party live consultation in real browsers against the real ASGI server: the referring doctor and two
experts, each in their own browser context with Chromium's fake camera and microphone, join the session's mesh.
Each page must end up with two peer connections "connected" and two remote videos actually playing, every tile
named; an attachment shared by one shows on the others' viewers; the lead ends the session for everyone.

The consultation is seeded with ``manage.py e2e_teleconsult_session_fixture`` (signed-in sessions, second factor
included for the doctors). Waits are conditions with timeouts, never sleeps.
"""

from __future__ import annotations

import json

from playwright.sync_api import Browser, Page, expect

LIVE = 15_000  # ms: anything that travels through the socket
CALL = 45_000  # ms: three WebRTC connections per page on loopback
SHOT = "/tmp/ihospital-teleconsult-session-{}.png"
DESKTOP = dict(viewport={"width": 1280, "height": 900}, locale="zh-CN")

REMOTE_PLAYING = """() => {
  const videos = Array.from(document.querySelectorAll("[data-testid='remote-tile'] video"));
  return videos.filter(v => v.readyState >= 2 && v.videoWidth > 0 && !v.paused).length;
}"""

CONNECTED = """() => {
  const mesh = window.ihospitalMesh;
  if (!mesh) return 0;
  return mesh.connections().filter(pc => pc && pc.connectionState === "connected").length;
}"""

FRAMES_DECODED = """async () => {
  const out = [];
  for (const pc of window.ihospitalMesh.connections()) {
    let frames = 0;
    (await pc.getStats()).forEach(s => {
      if (s.type === "inbound-rtp" && s.kind === "video") frames = Math.max(frames, s.framesDecoded || 0);
    });
    out.push(frames);
  }
  return out;
}"""


def seed(server, key: str) -> dict:
    out = server.manage("e2e_teleconsult_session_fixture", "--key", key, "--sessions").stdout
    return json.loads(out.strip().splitlines()[-1])


def open_session(browser: Browser, server, session_key: str, session_id: int, contexts: list) -> Page:
    context = browser.new_context(**DESKTOP)
    contexts.append(context)
    context.add_cookies([{"name": "sessionid", "value": session_key, "url": server.url}])
    page = context.new_page()
    page.set_default_timeout(LIVE)
    page.console_lines = []  # type: ignore[attr-defined]
    page.on("console", lambda m: page.console_lines.append(f"{m.type}: {m.text}"))  # type: ignore[attr-defined]
    response = page.goto(f"{server.url}/teleconsult/sessions/{session_id}/")
    assert response is not None and response.status == 200, response and response.status
    expect(page.get_by_test_id("join")).to_be_visible()
    return page


def until(pages: dict, page: Page, condition: str, name: str) -> None:
    """Wait for ``condition``; on a timeout, fail with what every page's mesh and console say."""
    try:
        page.wait_for_function(condition, timeout=CALL)
    except Exception as exc:  # noqa: BLE001 - re-raised with the pages' state
        report = [f"{name}: {condition} not met"]
        for who, other in pages.items():
            state = other.evaluate("window.ihospitalMesh ? window.ihospitalMesh.peers() : null")
            report.append(f"--- {who} ({other.evaluate('window.ihospitalMesh.peerId')}): peers={state} "
                          f"playing={other.evaluate(REMOTE_PLAYING)} "
                          f"error={other.get_by_test_id('live-error').inner_text()!r}")
            report.extend(getattr(other, "console_lines", [])[-15:])
        raise AssertionError("\n".join(report)) from exc


def join(page: Page) -> None:
    page.get_by_test_id("join").click()
    page.wait_for_function("window.ihospitalMesh && window.ihospitalMesh.ready", timeout=LIVE)
    expect(page.get_by_test_id("call")).to_have_attribute("data-state", "in-call")


def test_three_doctors_see_and_hear_each_other_and_share_an_attachment(browser: Browser, e2e_server):
    v = seed(e2e_server, "video3")
    contexts: list = []
    try:
        who = ("referrer", "lead", "member")
        pages = {name: open_session(browser, e2e_server, v[name]["session"], v["session_id"], contexts)
                 for name in who}
        for name in who:
            join(pages[name])

        # Each page: two peers, both connections connected, two remote videos playing real frames.
        for name, page in pages.items():
            until(pages, page, f"({CONNECTED})() === 2", name)
            until(pages, page, f"({REMOTE_PLAYING})() === 2", name)
            expect(page.get_by_test_id("remote-tile")).to_have_count(2)
            others = [v[o]["name"] for o in who if o != name]
            names = page.get_by_test_id("remote-name").all_inner_texts()
            assert sorted(names) == sorted(others), (name, names)
            # The tiles say who is who: the referring doctor, and the experts.
            roles = page.get_by_test_id("remote-role").all_inner_texts()
            assert len(roles) == 2 and all(roles), roles
        pages["referrer"].screenshot(path=SHOT.format("referrer"))
        for page in pages.values():
            page.wait_for_function(f"(async () => (await ({FRAMES_DECODED})()).every(f => f > 0))()", timeout=CALL)
            assert page.evaluate("window.ihospitalMesh.peers().length") == 2

        # The referring doctor shows the CTA report: both experts' viewers show the same attachment.
        cta = next(a for a in v["attachments"] if a["title"] == "冠脉CTA报告")
        pages["referrer"].get_by_test_id(f"share-{cta['id']}").click()
        for page in pages.values():
            expect(page.get_by_test_id("viewer")).to_have_attribute("data-attachment-id", str(cta["id"]))
            expect(page.get_by_test_id("viewer-title")).to_have_text("冠脉CTA报告")
            expect(page.get_by_test_id(f"share-{cta['id']}")).to_have_attribute("aria-pressed", "true")
        for name in ("lead", "member"):
            expect(pages[name].get_by_test_id("shared-by")).to_contain_text(v["referrer"]["name"])

        # An expert shows the other one: it moves on every page.
        other = next(a for a in v["attachments"] if a["id"] != cta["id"])
        pages["member"].get_by_test_id(f"share-{other['id']}").click()
        for page in pages.values():
            expect(page.get_by_test_id("viewer")).to_have_attribute("data-attachment-id", str(other["id"]))

        # Mute and camera toggles change the local tracks.
        lead = pages["lead"]
        lead.get_by_test_id("mute").click()
        expect(lead.get_by_test_id("mute")).to_have_attribute("aria-pressed", "true")
        lead.get_by_test_id("camera").click()
        expect(lead.get_by_test_id("camera")).to_have_attribute("aria-pressed", "true")

        # The member hangs up: the two others drop to one remote tile each.
        pages["member"].get_by_test_id("hangup").click()
        expect(pages["member"].get_by_test_id("call")).to_have_attribute("data-state", "idle")
        for name in ("referrer", "lead"):
            expect(pages[name].get_by_test_id("remote-tile")).to_have_count(1)

        # The lead ends the session for everyone.
        lead.once("dialog", lambda dialog: dialog.accept())
        lead.get_by_test_id("end").click()
        for page in (pages["referrer"], lead):
            expect(page.get_by_test_id("call")).to_have_attribute("data-state", "ended")
            expect(page.get_by_test_id("remote-tile")).to_have_count(0)
        reloaded = pages["member"]
        reloaded.reload()
        expect(reloaded.get_by_test_id("session")).to_have_attribute("data-status", "ended")
        expect(reloaded.get_by_test_id("join")).to_have_count(0)
    finally:
        for context in contexts:
            context.close()


def test_the_session_page_fits_a_phone_and_a_patient_not_invited_is_kept_out(browser: Browser, e2e_server):
    v = seed(e2e_server, "videophone")
    context = browser.new_context(viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True,
                                  has_touch=True, locale="zh-CN")
    patient_context = browser.new_context(viewport={"width": 375, "height": 740}, locale="zh-CN")
    try:
        context.add_cookies([{"name": "sessionid", "value": v["member"]["session"], "url": e2e_server.url}])
        page = context.new_page()
        page.set_default_timeout(LIVE)
        page.goto(f"{e2e_server.url}/teleconsult/sessions/{v['session_id']}/")
        join(page)
        expect(page.get_by_test_id("local-tile")).to_be_visible()
        page.wait_for_function("document.getElementById('tc-local-video').videoWidth > 0", timeout=LIVE)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"the session page is {width}px wide on a 375px phone"
        page.screenshot(path=SHOT.format("phone"), full_page=True)
        page.get_by_test_id(f"share-{v['attachments'][0]['id']}").click()
        expect(page.get_by_test_id("viewer")).to_have_attribute("data-attachment-id", str(v["attachments"][0]["id"]))

        # The session did not invite the patient: the page is the 404 page for them.
        patient_context.add_cookies([{"name": "sessionid", "value": v["patient"]["session"], "url": e2e_server.url}])
        response = patient_context.new_page().goto(f"{e2e_server.url}/teleconsult/sessions/{v['session_id']}/")
        assert response is not None and response.status == 404
    finally:
        context.close()
        patient_context.close()
