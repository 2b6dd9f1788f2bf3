"""Prescriptions in real browsers against the real ASGI server: a refill from the patient's phone through the doctor
and the pharmacist back to the patient's open page (live, no reload), and a doctor prescribing in a visit up to
the slip and its public check.

Each test seeds its own data with ``manage.py e2e_prescription_fixture --key <test>`` (through the services) and
signs people in with sessions the command creates. The doctor signs with a real TOTP code (``--code`` prints one
the device accepts now). Every action that must reach another page live is done in a browser, in the server
process: with the in-memory channel layer only the server's own events reach the sockets. Waits are conditions
with timeouts, never sleeps.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e import ui
from tests.e2e.ui import assert_no_horizontal_scroll

LIVE = 15_000  # ms
SHOTS = "/tmp/ihospital-rx-{}.png"
PHONE = dict(viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True,
             locale="zh-CN")
DESKTOP = dict(viewport={"width": 1280, "height": 900}, locale="zh-CN")


def seed(server, key: str) -> dict:
    out = server.manage("e2e_prescription_fixture", "--key", key, "--sessions").stdout
    return json.loads(out.strip().splitlines()[-1])


def totp(server, key: str) -> str:
    out = server.manage("e2e_prescription_fixture", "--key", key, "--code").stdout
    return json.loads(out.strip().splitlines()[-1])["code"]


@pytest.fixture
def people(browser: Browser, e2e_server):
    """Opens signed-in pages (an empty session: signed out); every context is closed after the test."""
    contexts = []

    def open_page(session: str = "", *, phone: bool = True) -> Page:
        context = browser.new_context(**(PHONE if phone else DESKTOP))
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
    ui.wait_live(page, "ihospitalRxLive", state_testid="live-state")



# ---- (a) the journey: a refill, live to the patient's open page -------------------------------------


def test_refill_from_request_to_ready_to_order_live(e2e_server, people):
    base = e2e_server.url
    s = seed(e2e_server, "refill")
    root = s["refill_rx"]["id"]

    # The doctor and the pharmacist have their worklists open before anything happens.
    doctor = people(s["doctor"]["session"], phone=False)
    doctor.goto(base + "/prescriptions/refills/")
    wait_live(doctor)
    pharmacist = people(s["pharmacist"]["session"], phone=False)
    pharmacist.goto(base + "/prescriptions/review/")
    wait_live(pharmacist)

    # The patient, on her phone in elder mode, opens her medicines: the prescription is due for a refill.
    patient = people(s["refill_patient"]["session"])
    patient.goto(base + "/")
    patient.get_by_test_id("elder-toggle").click()
    expect(patient.locator("html")).to_have_class(re.compile(r"\belder\b"))
    patient.get_by_test_id("my-medicines").click()
    expect(patient.get_by_role("heading", level=1)).to_have_text("我的用药")
    card = patient.get_by_test_id(f"refillable-{root}")
    expect(card.get_by_test_id("refills-used")).to_have_text("0 / 3")
    expect(card).to_contain_text("苯磺酸氨氯地平片")
    assert_no_horizontal_scroll(patient)
    card.get_by_test_id("request-refill").click()

    # The questionnaire: every medicine ticked, answers, a blood pressure (hypertension).
    expect(patient.get_by_role("heading", level=1)).to_have_text("申请续方")
    form = patient.get_by_test_id("refill-form")
    boxes = form.get_by_test_id("q-items").locator("input[type=checkbox]")
    expect(boxes).to_have_count(1)
    expect(boxes.first).to_be_checked()
    # Sent incomplete: the missing answers are marked beside their questions, nothing is sent.
    patient.get_by_test_id("send-refill").click()
    expect(form.get_by_test_id("q-new_symptoms").locator(".field-error")).to_be_visible()
    expect(form.get_by_test_id("q-adherence").locator(".field-error")).to_be_visible()
    form.get_by_test_id("q-new_symptoms").get_by_label("否").check()
    form.get_by_test_id("q-side_effects").get_by_label("否").check()
    form.get_by_test_id("q-adherence").get_by_label("每一次都按时服用").check()
    form.get_by_label("收缩压（高压）mmHg").fill("132")
    form.get_by_label("舒张压（低压）mmHg").fill("84")
    assert_no_horizontal_scroll(patient)
    patient.screenshot(path=SHOTS.format("refill-form-elder"), full_page=True)
    patient.get_by_test_id("send-refill").click()

    # Back on her medicines page, which stays open (and is never reloaded) from here on.
    expect(patient).to_have_url(re.compile(r"/prescriptions/(#refills)?$"))
    wait_live(patient)
    patient.evaluate("window.__notReloaded = true")
    request = patient.get_by_test_id("refill-requests").locator("li[data-status]").first
    expect(request).to_have_attribute("data-status", "requested")
    expect(request.get_by_test_id("refill-status")).to_have_text("等待医生处理")
    expect(patient.get_by_test_id(f"refillable-{root}").get_by_test_id("open-request")).to_be_visible()

    # The doctor's worklist shows the request live; he opens it, reads the answers and approves with his code.
    row = doctor.get_by_test_id("refill-worklist").locator("li", has_text=s["refill_patient"]["name"])
    expect(row).to_have_count(1)
    row.get_by_test_id("open-refill").click()
    expect(doctor.get_by_test_id("answers")).to_contain_text("132/84 mmHg")
    doctor.get_by_test_id("approve-form").get_by_label("6 位验证码").fill(totp(e2e_server, "refill"))
    doctor.get_by_test_id("approve-refill").click()
    expect(doctor).to_have_url(base + "/prescriptions/refills/")
    expect(doctor.locator(".message.success")).to_contain_text("续方已批准")

    # The patient sees it approved by the doctor, the new prescription waiting for the pharmacist.
    expect(request).to_have_attribute("data-status", "approved")
    result = request.get_by_test_id("refill-result")
    expect(result).to_have_attribute("data-status", "signed")

    # The pharmacist's worklist has it live; she starts the review and approves.
    number = result.locator("a").inner_text()
    review_row = pharmacist.get_by_test_id("review-worklist").locator("li", has_text=number)
    expect(review_row).to_have_count(1)
    review_row.get_by_test_id("open-review").click()
    expect(pharmacist.get_by_test_id("items")).to_contain_text("苯磺酸氨氯地平片")
    pharmacist.get_by_test_id("claim").click()
    expect(pharmacist.get_by_test_id("rx-status")).to_have_attribute("data-status", "under_review")
    pharmacist.get_by_test_id("approve").click()
    expect(pharmacist).to_have_url(base + "/prescriptions/review/")
    expect(pharmacist.get_by_test_id("recent-reviews")).to_contain_text(number)

    # The patient's open page says it: approved, ready to order. No reload happened.
    expect(result).to_have_attribute("data-status", "approved")
    expect(result.get_by_test_id("refill-result-status")).to_have_text("已通过，可下单")
    assert patient.evaluate("window.__notReloaded === true")
    assert patient.evaluate("window.ihospitalRxLive.refreshes") >= 2
    expect(patient.get_by_test_id(f"refillable-{root}").get_by_test_id("refills-used")).to_have_text("1 / 3")
    assert_no_horizontal_scroll(patient)
    patient.screenshot(path=SHOTS.format("medicines-approved"), full_page=True)


# ---- (b) prescribing in a visit, up to the slip and its check ------------------------------------------------


def test_doctor_prescribes_in_a_visit_and_the_slip_verifies(e2e_server, people):
    base = e2e_server.url
    s = seed(e2e_server, "prescribe")
    doctor = people(s["doctor"]["session"], phone=False)

    # In the visit room, the prescribing panel (loaded by htmx): a chronic prescription with 2 refills.
    doctor.goto(f"{base}/visits/{s['visit_id']}/")
    panel = doctor.get_by_test_id("prescribe-panel")
    expect(panel.get_by_test_id("start-prescription")).to_be_visible()
    panel.get_by_label("处方类型").select_option("chronic")
    panel.get_by_label("可续方次数").fill("2")
    panel.get_by_test_id("prescribe").click()
    expect(doctor).to_have_url(re.compile(r"/prescriptions/\d+/edit/$"))
    rx_id = int(re.search(r"/prescriptions/(\d+)/edit/", doctor.url).group(1))

    # Search the formulary, choose amlodipine, add it (the packages are counted).
    doctor.get_by_test_id("drug-search").fill(s["amlodipine"]["search"])
    result = doctor.get_by_test_id(f"drug-{s['amlodipine']['sku']}")
    expect(result).to_contain_text("¥")
    result.get_by_test_id("choose-drug").click()
    item_form = doctor.get_by_test_id("item-form")
    expect(doctor.get_by_test_id("dose-unit")).to_have_text("mg")
    item_form.get_by_test_id("dose").fill("5")
    item_form.get_by_label("天数").fill("28")
    item_form.get_by_test_id("add-item-submit").click()
    expect(doctor.get_by_test_id("items").get_by_test_id("item")).to_have_count(1)
    expect(doctor.get_by_test_id("items")).to_contain_text(s["amlodipine"]["zh"])

    # A controlled drug: marked in the search, and refused with its message when added.
    controlled = s["controlled"]
    doctor.get_by_test_id("drug-search").fill(controlled["zh"][:4])
    row = doctor.get_by_test_id(f"drug-{controlled['sku']}")
    expect(row.get_by_test_id("controlled")).to_have_text("不可在线开具")
    row.get_by_test_id("choose-drug").click()
    doctor.get_by_test_id("item-form").get_by_test_id("dose").fill("30")
    doctor.get_by_test_id("item-form").get_by_label("天数").fill("3")
    doctor.get_by_test_id("item-form").get_by_test_id("add-item-submit").click()
    expect(doctor.get_by_test_id("item-form")).to_contain_text("麻醉")
    expect(doctor.get_by_test_id("item-form")).to_contain_text("线下")
    expect(doctor.get_by_test_id("items").get_by_test_id("item")).to_have_count(1)

    # The checks: the chart says he takes nifedipine, of the same class. Signing without a reason is refused (before
    # the code is spent) and the finding marked; the reason goes in, and he signs with his code.
    doctor.get_by_test_id("run-checks").click()
    finding = doctor.get_by_test_id("findings").locator("[data-code=duplicate_therapy]")
    expect(finding).to_have_count(1)
    expect(finding).to_contain_text(s["on_chart"]["zh"])
    doctor.get_by_test_id("sign-form").get_by_label("6 位验证码").fill(totp(e2e_server, "prescribe"))
    doctor.get_by_test_id("sign").click()
    expect(doctor.get_by_test_id("page-error")).to_contain_text("理由")
    expect(finding).to_have_class(re.compile(r"\bunresolved\b"))
    finding.get_by_test_id("override").fill("改用氨氯地平，已嘱患者停用硝苯地平控释片。")
    doctor.get_by_test_id("sign-form").get_by_label("6 位验证码").fill(totp(e2e_server, "prescribe"))
    doctor.get_by_test_id("sign").click()

    expect(doctor).to_have_url(f"{base}/prescriptions/{rx_id}/")
    expect(doctor.get_by_test_id("rx-status")).to_have_attribute("data-status", "signed")
    doctor.get_by_test_id("slip-link").click()

    # The slip shows the content hash and a QR code; its PDF is a PDF.
    content_hash = doctor.get_by_test_id("content-hash").inner_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", content_hash), content_hash
    expect(doctor.get_by_test_id("slip").locator("svg")).to_have_count(1)
    expect(doctor.get_by_test_id("slip-warning")).to_contain_text("药师")
    pdf = doctor.request.get(f"{base}/prescriptions/{rx_id}/slip.pdf")
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")
    doctor.screenshot(path=SHOTS.format("slip"), full_page=True)

    # Anyone holding the slip (not signed in) checks it: genuine, with nothing of the medicines.
    verify_url = doctor.get_by_test_id("verify-link").get_attribute("href")
    assert verify_url.startswith(base + "/rx/verify/") and f"h={content_hash[:16]}" in verify_url
    stranger = people()
    response = stranger.goto(verify_url)
    assert response is not None and response.status == 200
    expect(stranger.get_by_test_id("verify-result")).to_have_attribute("data-result", "genuine")
    expect(stranger.get_by_test_id("verify-result")).to_contain_text("真实有效")
    expect(stranger.get_by_test_id("verify-patient")).to_contain_text("*")
    expect(stranger.locator("main")).not_to_contain_text(s["amlodipine"]["zh"])
    expect(stranger.locator("main")).not_to_contain_text(s["visit_patient"]["name"])
    assert_no_horizontal_scroll(stranger)

    # A changed fingerprint is not genuine.
    forged = stranger.goto(verify_url.replace(content_hash[:16], "0" * 16))
    assert forged is not None and forged.status == 404
    expect(stranger.get_by_test_id("verify-result")).to_have_attribute("data-result", "not_genuine")
