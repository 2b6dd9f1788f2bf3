"""The visit room in real browsers against the real ASGI server (WebSockets through the channel layer: in memory,
or Redis when REDIS_URL is set).

Each test seeds its own visit with ``manage.py e2e_visit_fixture --key <test>`` (through the services) and signs
people in with sessions the command creates, so no test waits on a TOTP step. Waits are conditions with
timeouts, never sleeps. Selectors are data-testid attributes and the Chinese the browser asks for.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from playwright.sync_api import Browser, Page, expect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from tests.e2e import ui
from tests.e2e.ui import assert_no_horizontal_scroll

LIVE = 15_000  # ms: anything that travels through the socket
CALL = 30_000  # ms: a WebRTC call on loopback
SHOTS = "/tmp/ihospital-room-{}.png"

PHONE = dict(viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True,
             locale="zh-CN")
DESKTOP = dict(viewport={"width": 1280, "height": 900}, locale="zh-CN")

FRAMES_DECODED = """async () => {
  const pc = window.ihospitalRoom && window.ihospitalRoom.pc;
  if (!pc) return 0;
  let frames = 0;
  (await pc.getStats()).forEach(s => {
    if (s.type === "inbound-rtp" && s.kind === "video") frames = Math.max(frames, s.framesDecoded || 0);
  });
  return frames;
}"""


# ---- helpers ------------------------------------------------------------------------------------------------


def seed(server, key: str, *extra: str) -> dict:
    out = server.manage("e2e_visit_fixture", "--key", key, "--sessions", *extra).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def people(browser: Browser, e2e_server):
    """Opens signed-in pages; every context is closed after the test."""
    contexts = []

    def open_page(session: str, *, phone: bool = True, context=None) -> Page:
        if context is None:
            context = browser.new_context(**(PHONE if phone else DESKTOP))
            context.add_cookies([{"name": "sessionid", "value": session, "url": e2e_server.url}])
            contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(LIVE)
        return page

    yield open_page
    for context in contexts:
        context.close()


def open_room(page: Page, base: str, visit_id: int) -> None:
    response = page.goto(f"{base}/visits/{visit_id}/")
    assert response is not None and response.status == 200, response and response.status
    wait_live(page)


def wait_live(page: Page) -> None:
    ui.wait_live(page, "ihospitalRoom", state_testid="connection")


def send(page: Page, text: str) -> None:
    page.get_by_test_id("composer-body").fill(text)
    page.get_by_test_id("composer-send").click()


def message(page: Page, text: str):
    return page.get_by_test_id("transcript").locator("li[data-id]", has_text=text)


def ids(page: Page) -> list[int]:
    return page.evaluate("window.ihospitalRoom.messageIds()")


def assert_no_duplicates(page: Page) -> list[int]:
    shown = ids(page)
    assert shown == sorted(set(shown)), f"duplicates or disorder: {shown}"
    return shown



def call_state(page: Page) -> str:
    return page.get_by_test_id("call").get_attribute("data-state") or ""


# ---- (a) chat ------------------------------------------------------------------------------------------------


def test_chat_reaches_every_tab_live_with_typing_receipts_and_catch_up(e2e_server, people):
    base = e2e_server.url
    v = seed(e2e_server, "chat", "--mode", "text", "--state", "in_progress")
    doctor = people(v["doctor"]["session"], phone=False)
    patient = people(v["patient"]["session"])
    patient_tab2 = people("", context=patient.context)  # a second tab of the same signed-in phone
    proxy = people(v["proxy"]["session"])
    for page in (doctor, patient, patient_tab2, proxy):
        open_room(page, base, v["visit_id"])

    # Typing: the doctor sees the patient typing.
    patient.get_by_test_id("composer-body").press_sequentially("医生", delay=30)
    expect(doctor.get_by_test_id("typing")).to_be_visible()
    expect(doctor.get_by_test_id("typing")).to_contain_text(v["patient"]["name"])

    # The patient's message reaches the doctor, the patient's other tab and the relative, once each.
    hello = f"医生您好，这周血压 148/92。{uuid.uuid4().hex[:6]}"
    send(patient, hello)
    for page in (doctor, patient, patient_tab2, proxy):
        expect(message(page, hello)).to_have_count(1)
    expect(message(patient, hello)).to_have_class(re.compile(r"\bmsg-mine\b"))
    expect(message(proxy, hello)).to_have_class(re.compile(r"\bmsg-theirs\b"))
    expect(doctor.get_by_test_id("typing")).to_be_hidden()

    # The doctor's page shows it, so it is read: "已读" appears under the patient's message in both tabs
    # (and not before: a message nobody on the other side has seen carries no receipt).
    for page in (patient, patient_tab2):
        expect(message(page, hello).get_by_test_id("receipt")).to_be_visible()
        expect(message(page, hello).get_by_test_id("receipt")).to_have_text("已读")

    # And the other way round.
    reply = f"好的，请把血压记录拍照发来。{uuid.uuid4().hex[:6]}"
    send(doctor, reply)
    for page in (patient, patient_tab2, proxy):
        expect(message(page, reply)).to_have_count(1)
        expect(message(page, reply)).to_have_class(re.compile(r"\bmsg-doctor\b"))
    expect(message(doctor, reply).get_by_test_id("receipt")).to_be_visible()
    expect(message(doctor, reply).get_by_test_id("receipt")).to_have_text("已读")

    # A photo sent through the attachment API appears as an image in every tab and can be opened.
    patient.get_by_test_id("composer-file").set_input_files(
        {"name": "bp.png", "mimeType": "image/png", "buffer": tiny_png()}
    )
    patient.get_by_test_id("composer-send").click()
    for page in (doctor, patient_tab2, proxy):
        expect(page.locator("li[data-id] img.msg-image")).to_have_count(1)
    src = doctor.locator("li[data-id] img.msg-image").get_attribute("src")
    assert src and re.fullmatch(rf"/visits/{v['visit_id']}/files/\d+/", src), src
    doctor.wait_for_function("() => document.querySelector('img.msg-image').naturalWidth > 0")

    # The second tab drops off the network for a while (its socket closes and it stays away 3 s), writes a
    # message meanwhile; the doctor and the first tab post too. Back online, it catches up after its last id
    # with nothing lost and nothing twice, and its own message is sent once.
    before = patient_tab2.evaluate("window.ihospitalRoom.lastId")
    patient_tab2.evaluate("window.ihospitalRoom.drop(3000)")
    expect(patient_tab2.get_by_test_id("connection")).not_to_have_attribute("data-state", "open")
    offline_note = f"离线时写的消息 {uuid.uuid4().hex[:6]}"
    send(patient_tab2, offline_note)
    missed = [f"第{n}条补发消息 {uuid.uuid4().hex[:6]}" for n in range(3)]
    for text in missed[:2]:
        send(doctor, text)
    send(patient, missed[2])
    for text in missed:
        expect(message(doctor, text)).to_have_count(1)
    expect(message(doctor, offline_note)).to_have_count(1, timeout=LIVE)  # sent from the outbox on reconnect
    wait_live(patient_tab2)
    for text in [*missed, offline_note]:
        expect(message(patient_tab2, text)).to_have_count(1)
    assert patient_tab2.evaluate("window.ihospitalRoom.lastId") > before
    doctor_ids = assert_no_duplicates(doctor)
    patient_tab2.wait_for_function(f"window.ihospitalRoom.messageIds().length === {len(doctor_ids)}")
    assert assert_no_duplicates(patient_tab2) == doctor_ids

    # Resending a message with the same client_id (a reply lost in a dropped connection) stores nothing new.
    client_id = message(patient_tab2, offline_note).get_attribute("data-client-id")
    assert client_id
    patient_tab2.evaluate(
        "([body, cid]) => window.ihospitalRoom.ws.send(JSON.stringify({type: 'message', body, client_id: cid}))",
        [offline_note, client_id],
    )
    marker = f"确认消息 {uuid.uuid4().hex[:6]}"
    send(patient_tab2, marker)  # sent after the resend on the same socket, so it arrives after it
    expect(message(doctor, marker)).to_have_count(1)
    for page in (doctor, patient, proxy):
        expect(message(page, offline_note)).to_have_count(1)

    # The tab is closed; messages arrive; a tab opened again shows everything once and resumes the socket
    # from the last id it rendered.
    patient_tab2.close()
    later = [f"关闭页面后的消息{n} {uuid.uuid4().hex[:6]}" for n in range(2)]
    for text in later:
        send(doctor, text)
    for text in later:
        expect(message(proxy, text)).to_have_count(1)
    reopened = people("", context=patient.context)
    sockets = []
    reopened.on("websocket", lambda ws: sockets.append(ws.url))
    open_room(reopened, base, v["visit_id"])
    rendered_last = int(reopened.get_by_test_id("room").get_attribute("data-last-id"))
    assert sockets and sockets[0].endswith(f"?after={rendered_last}"), sockets
    for text in later:
        expect(message(reopened, text)).to_have_count(1)
    assert assert_no_duplicates(reopened) == assert_no_duplicates(doctor)

    assert_no_horizontal_scroll(patient)
    patient.screenshot(path=SHOTS.format("patient-chat"), full_page=True)
    doctor.screenshot(path=SHOTS.format("doctor-chat"), full_page=True)


# ---- (b) someone else's visit ----------------------------------------------------------------------------------


def socket_close_code(server, visit_id: int, session: str | None) -> int:
    headers = {"Origin": server.url}
    if session:
        headers["Cookie"] = f"sessionid={session}"
    with ws_connect(f"{server.ws_url}/ws/visits/{visit_id}/", additional_headers=headers, open_timeout=10) as ws:
        try:
            first = ws.recv(timeout=10)
        except ConnectionClosed as exc:
            assert exc.rcvd is not None
            return exc.rcvd.code
    raise AssertionError(f"the socket stayed open and said {first!r}")


def test_someone_elses_visit_is_not_found_over_http_and_websocket(e2e_server, people):
    base = e2e_server.url
    v = seed(e2e_server, "scope", "--mode", "text", "--state", "accepted")
    stranger = people(v["stranger"]["session"])

    response = stranger.goto(f"{base}/visits/{v['visit_id']}/")
    assert response is not None and response.status == 404
    expect(stranger.get_by_role("heading", level=1)).to_have_text("未找到")
    expect(stranger.get_by_text(v["patient"]["name"])).to_have_count(0)
    missing = stranger.goto(f"{base}/visits/{v['visit_id'] + 10_000}/")
    assert missing is not None and missing.status == 404  # the same answer as a visit that does not exist
    files = stranger.goto(f"{base}/visits/{v['visit_id']}/files/1/")
    assert files is not None and files.status == 404

    # The socket: closed with 4404 (someone else's or a missing visit), 4401 without a session; the patient
    # is let in and greeted.
    assert socket_close_code(e2e_server, v["visit_id"], v["stranger"]["session"]) == 4404
    assert socket_close_code(e2e_server, v["visit_id"] + 10_000, v["stranger"]["session"]) == 4404
    assert socket_close_code(e2e_server, v["visit_id"], None) == 4401
    headers = {"Origin": base, "Cookie": f"sessionid={v['patient']['session']}"}
    with ws_connect(f"{e2e_server.ws_url}/ws/visits/{v['visit_id']}/", additional_headers=headers) as ws:
        hello = json.loads(ws.recv(timeout=10))
    assert hello["type"] == "hello" and hello["role"] == "patient" and hello["visit_id"] == v["visit_id"]

    # The same from the stranger's page, as a browser sees it.
    code = stranger.evaluate(
        """(url) => new Promise(resolve => {
             const ws = new WebSocket(url);
             ws.onclose = event => resolve(event.code);
           })""",
        f"{e2e_server.ws_url}/ws/visits/{v['visit_id']}/",
    )
    assert code == 4404


# ---- (c) video ------------------------------------------------------------------------------------------------


def wait_for_video(page: Page) -> None:
    page.wait_for_function(f"({FRAMES_DECODED})().then(frames => frames > 0)", timeout=CALL, polling=250)
    page.wait_for_function(
        "document.querySelector('[data-testid=remote-video]').videoWidth > 0", timeout=CALL, polling=250
    )


def test_video_call_between_patient_and_doctor(e2e_server, people):
    base = e2e_server.url
    v = seed(e2e_server, "video", "--mode", "video", "--state", "in_progress")
    doctor = people(v["doctor"]["session"], phone=False)
    patient = people(v["patient"]["session"])
    errors: list[str] = []
    for page in (doctor, patient):
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        open_room(page, base, v["visit_id"])

    # The patient checks the camera and microphone first: a preview and a moving level.
    expect(patient.get_by_test_id("call")).to_be_visible()
    patient.get_by_test_id("call-check").click()
    expect(patient.get_by_test_id("call")).to_have_attribute("data-state", "ready")
    patient.wait_for_function(
        "document.querySelector('[data-testid=local-video]').videoWidth > 0", timeout=LIVE, polling=250
    )
    patient.wait_for_function("document.querySelector('[data-testid=mic-level]').value > 0", timeout=LIVE)
    assert_no_horizontal_scroll(patient)
    patient.screenshot(path=SHOTS.format("patient-check"))

    # The patient joins and waits; the doctor's page shows the patient waiting; the doctor joins.
    patient.get_by_test_id("call-join").click()
    expect(patient.get_by_test_id("call")).to_have_attribute("data-state", "waiting")
    expect(doctor.get_by_test_id("call")).to_have_attribute("data-state", "incoming")
    doctor.get_by_test_id("call-join").click()

    # Both sides decode the other's video (fake camera frames, peer to peer over loopback).
    for page in (doctor, patient):
        wait_for_video(page)
        expect(page.get_by_test_id("call")).to_have_attribute("data-state", "connected")
    patient.screenshot(path=SHOTS.format("patient-call"))
    doctor.screenshot(path=SHOTS.format("doctor-call"))

    # The patient hangs up: the doctor's side ends too and says so; both can go on in the chat.
    patient.get_by_test_id("call-hangup").click()
    expect(patient.get_by_test_id("call")).to_have_attribute("data-state", "ended")
    expect(doctor.get_by_test_id("call")).to_have_attribute("data-state", "ended")
    expect(doctor.get_by_test_id("call-status")).to_contain_text("对方已挂断")
    assert doctor.evaluate("window.ihospitalRoom.pc") is None
    send(doctor, "通话结束，我们继续文字交流。")
    expect(message(patient, "通话结束，我们继续文字交流。")).to_have_count(1)

    # A second call, the doctor first this time (the patient's page learns of it and joins).
    doctor.get_by_test_id("call-join").click()
    expect(patient.get_by_test_id("call")).to_have_attribute("data-state", "incoming")
    expect(patient.get_by_test_id("call-status")).to_contain_text("医生发起了视频通话")
    patient.get_by_test_id("call-join").click()
    for page in (doctor, patient):
        wait_for_video(page)
    doctor.get_by_test_id("call-hangup").click()
    expect(patient.get_by_test_id("call")).to_have_attribute("data-state", "ended")
    assert errors == []


def test_video_call_falls_back_to_chat_when_the_camera_is_refused(e2e_server, people):
    base = e2e_server.url
    v = seed(e2e_server, "nocam", "--mode", "video", "--state", "in_progress")
    patient = people(v["patient"]["session"])
    patient.add_init_script(
        """navigator.mediaDevices.getUserMedia = () =>
             Promise.reject(new DOMException("Permission denied", "NotAllowedError"));"""
    )
    open_room(patient, base, v["visit_id"])
    patient.get_by_test_id("call-join").click()
    expect(patient.get_by_test_id("call")).to_have_attribute("data-state", "failed")
    expect(patient.get_by_test_id("call-status")).to_contain_text("权限被拒绝")
    expect(patient.get_by_test_id("call-fallback")).to_be_visible()
    expect(patient.get_by_test_id("call-fallback")).to_contain_text("文字交流")
    expect(patient.get_by_test_id("composer-body")).to_be_focused()


# ---- (d) closing with a note, the summary and the rating ---------------------------------------------------------


def test_doctor_closes_with_a_note_and_the_patient_reads_the_summary_and_rates(e2e_server, people):
    base = e2e_server.url
    v = seed(e2e_server, "close", "--mode", "text", "--state", "accepted", "--without-day")
    doctor = people(v["doctor"]["session"], phone=False)
    patient = people(v["patient"]["session"])
    open_room(doctor, base, v["visit_id"])
    open_room(patient, base, v["visit_id"])

    # Elder mode on the patient's phone: large type, the room still fits.
    patient.get_by_test_id("elder-toggle").click()
    expect(patient.locator("html")).to_have_class(re.compile(r"\belder\b"))
    wait_live(patient)
    assert patient.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") >= 20
    assert_no_horizontal_scroll(patient)

    # Without today's code, starting is refused with the way to confirm it.
    expect(doctor.get_by_test_id("start-day-banner")).to_be_visible()
    doctor.get_by_test_id("start").click()
    expect(doctor.get_by_test_id("room-error")).to_contain_text("6 位动态验证码")
    link = doctor.get_by_test_id("room-error-link")
    expect(link).to_have_attribute("href", re.compile(r"^/visits/doctor/start-day/\?next=%2Fvisits%2F\d+%2F$"))

    # With it (confirmed through the service again), the doctor starts; the patient's page follows live.
    seed(e2e_server, "close", "--mode", "text", "--state", "accepted")
    open_room(doctor, base, v["visit_id"])
    expect(doctor.get_by_test_id("patient-chart")).to_contain_text("I10")
    expect(doctor.get_by_test_id("chart-allergies")).to_contain_text("青霉素")
    doctor.get_by_test_id("start").click()
    expect(doctor.get_by_test_id("visit-status")).to_have_attribute("data-status", "in_progress")
    expect(patient.get_by_test_id("visit-status")).to_have_attribute("data-status", "in_progress")
    expect(patient.get_by_test_id("visit-status")).to_have_text("问诊中")

    # Closing without an assessment and a plan is refused, with the service's words.
    doctor.get_by_test_id("close-visit").click()
    expect(doctor.get_by_test_id("note")).to_contain_text("结束问诊前请填写评估和处理计划")

    # The note, with the diagnosis picked from the ICD-10 search.
    note = doctor.get_by_test_id("note")
    note.get_by_label("评估", exact=True).fill("原发性高血压，控制欠佳。")
    note.locator("#note-icd-search").fill("I10")
    note.locator("#note-icd-results [data-icd-code='I10']").click()
    expect(note.get_by_label("评估的 ICD-10 编码")).to_have_value("I10")
    note.get_by_label("处理计划").fill("氨氯地平加量至 10 mg 每日一次，两周后复诊。")
    summary = f"血压偏高，药量加到每天 10 毫克，两周后再来复诊。{uuid.uuid4().hex[:4]}"
    note.get_by_label("给患者的小结").fill(summary)
    doctor.get_by_test_id("close-visit").click()
    expect(doctor.get_by_test_id("visit-status")).to_have_attribute("data-status", "closed")
    expect(doctor.get_by_test_id("note")).to_contain_text("I10")

    # The patient's page turns to the ended visit by itself: no composer, the summary, the rating form.
    expect(patient.get_by_test_id("visit-status")).to_have_attribute("data-status", "closed")
    expect(patient.get_by_test_id("composer")).to_be_hidden()
    expect(patient.get_by_test_id("chat-closed")).to_be_visible()
    expect(patient.get_by_test_id("summary-text")).to_have_text(summary)
    expect(patient.get_by_test_id("visit-summary")).to_contain_text("I10")
    expect(patient.get_by_test_id("transcript")).to_contain_text("医生已结束本次问诊")
    assert_no_horizontal_scroll(patient)
    patient.screenshot(path=SHOTS.format("patient-closed-elder"), full_page=True)

    patient.get_by_test_id("star-4").click()
    patient.get_by_label("评价内容").fill("医生很耐心。")
    patient.get_by_test_id("rating-submit").click()
    expect(patient.get_by_test_id("rating-done")).to_contain_text("4")
    expect(patient.get_by_test_id("rating-submit")).to_have_count(0)
    doctor.screenshot(path=SHOTS.format("doctor-closed"), full_page=True)


# ---- the queue, the record to review, a referral ------------------------------------------------------------


def test_queue_position_updates_live_and_a_referral_reaches_the_patient(e2e_server, people):
    base = e2e_server.url
    first = seed(e2e_server, "queue", "--state", "requested")
    second = seed(e2e_server, "queue2", "--department", "queue", "--state", "requested")
    patient_a = people(first["patient"]["session"])
    patient_b = people(second["patient"]["session"])
    open_room(patient_a, base, first["visit_id"])
    open_room(patient_b, base, second["visit_id"])
    expect(patient_a.get_by_test_id("queue-position")).to_have_attribute("data-position", "1")
    expect(patient_b.get_by_test_id("queue-position")).to_have_attribute("data-position", "2")
    expect(patient_b.get_by_test_id("queue-position")).to_contain_text("第 2 位")
    expect(patient_a.get_by_test_id("call")).to_be_hidden()

    # The first visit's doctor takes the next patient (through the API, in the server: with the in-memory channel
    # layer only the server's own events reach the sockets): the second moves up, the first is accepted, live.
    doctor = people(first["doctor"]["session"], phone=False)
    doctor.goto(base + "/")
    csrf = next(c["value"] for c in doctor.context.cookies() if c["name"] == "csrftoken")
    taken = doctor.request.post(f"{base}/api/visits/queue/{first['department_id']}/take",
                                headers={"X-CSRFToken": csrf, "Referer": base + "/"})
    assert taken.status == 200, taken.text()
    assert taken.json()["id"] == first["visit_id"]
    expect(patient_b.get_by_test_id("queue-position")).to_have_attribute("data-position", "1")
    expect(patient_b.get_by_test_id("queue-position")).to_contain_text("第 1 位")
    expect(patient_a.get_by_test_id("visit-status")).to_have_attribute("data-status", "accepted")
    expect(patient_a.get_by_test_id("queue-position")).to_be_hidden()
    expect(patient_a.get_by_role("heading", level=1)).to_contain_text(first["doctor"]["name"])

    # The doctor decides the condition needs an examination: referred in person, with the reason.
    open_room(doctor, base, first["visit_id"])
    doctor.locator("summary", has_text="转线下就诊").click()
    reason = "血压控制不佳，需要来门诊做动态血压监测。"
    doctor.get_by_test_id("doctor-actions").get_by_label("原因（患者可见）").fill(reason)
    doctor.get_by_test_id("refer").click()
    expect(doctor.get_by_test_id("visit-status")).to_have_attribute("data-status", "referred")
    expect(patient_a.get_by_test_id("visit-status")).to_have_attribute("data-status", "referred")
    expect(patient_a.get_by_test_id("status-reason")).to_contain_text(reason)
    expect(patient_a.get_by_role("link", name="预约线下就诊")).to_be_visible()
    expect(patient_a.get_by_test_id("composer")).to_be_hidden()
    expect(message(patient_a, reason)).to_have_count(1)  # the reason is also written into the chat
    assert_no_horizontal_scroll(patient_a)


def test_doctor_reviews_an_uploaded_record_then_accepts(e2e_server, people):
    base = e2e_server.url
    v = seed(e2e_server, "basis", "--basis", "document", "--state", "accepted")
    assert v["status"] == "requested"  # taken from the queue, the record still to review
    doctor = people(v["doctor"]["session"], phone=False)
    patient = people(v["patient"]["session"])
    open_room(doctor, base, v["visit_id"])
    open_room(patient, base, v["visit_id"])
    expect(patient.get_by_test_id("visit-basis")).to_contain_text("上传的病历等待医生审核")

    review = doctor.get_by_test_id("basis-review")
    expect(review).to_be_visible()
    expect(doctor.get_by_test_id("accept")).to_be_disabled()
    href = doctor.get_by_test_id("basis-document").get_attribute("href")
    document = doctor.request.get(base + href)
    assert document.status == 200 and document.headers["content-type"] == "image/png"
    assert document.headers["x-content-type-options"] == "nosniff"

    review.locator("#icd-search").fill("I10")
    review.locator("#icd-results [data-icd-code='I10']").click()
    expect(review.get_by_label("诊断的 ICD-10 编码")).to_have_value("I10")
    review.get_by_test_id("basis-accept").click()
    expect(doctor.get_by_test_id("basis-review")).to_have_count(0)
    expect(doctor.get_by_test_id("visit-basis")).to_contain_text("I10")
    doctor.get_by_test_id("accept").click()
    expect(doctor.get_by_test_id("visit-status")).to_have_attribute("data-status", "accepted")
    expect(patient.get_by_test_id("visit-status")).to_have_attribute("data-status", "accepted")
    expect(patient.get_by_test_id("visit-basis")).to_contain_text("I10")
    expect(message(patient, "医生已接诊")).to_have_count(1)


def tiny_png() -> bytes:
    from tests.e2e.test_patient_journey import tiny_png as png

    return png()
