"""Online follow-up visits on a phone: booking a doctor's time, the first-visit refusal, and the live queue.

The demo story provides the hypertensive patient (I10 diagnosed in person), dr.wang in cardiology and his
published weekly times. Patients without a diagnosis are registered here. The queue journey runs three
browsers at once: two patients waiting and the doctor watching the department's queue, all updated live over
WebSockets (no reloads).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from ihospital.web.demo.story import DEMO_PASSWORD, HYPERTENSIVE

from .test_patient_journey import assert_no_horizontal_scroll, new_person, register, tiny_png

ROOM_URL = re.compile(r"/visits/\d+/$")
QUEUE_SCREENSHOT = "/tmp/ihospital-queue-doctor.png"


@pytest.fixture
def seeded(e2e_server):
    e2e_server.manage("seed_demo", "--quiet")
    return e2e_server


def phone(browser: Browser) -> Page:
    context = browser.new_context(
        viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True,
        locale="zh-CN",
    )
    return context.new_page()


def sign_in(page: Page, base: str, login: str, password: str = DEMO_PASSWORD, code: str = "") -> None:
    page.goto(base + "/accounts/login/")
    page.get_by_label("手机号或用户名").fill(login)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录", exact=True).click()
    if code:
        page.locator("input[name=code]").fill(code)
        page.get_by_role("button", name="登录", exact=True).click()
    expect(page).to_have_url(base + "/")


def describe_and_confirm(page: Page, complaint: str) -> None:
    """Step 3: the reason, the informed consent to online care (asked the first time only), confirm."""
    page.get_by_label("您想和医生谈些什么？").fill(complaint)
    consent = page.locator("input[name=online_care_consent]")
    if consent.count():
        expect(consent).not_to_be_checked()  # never pre-ticked
        consent.check()
    page.get_by_test_id("confirm-visit").click()


def join_queue(page: Page, *, condition: str | None = None) -> None:
    """From step 2 on (the basis already chosen, or chosen here): the cardiology queue, by text chat."""
    if condition:
        page.get_by_test_id(f"condition-{condition}").click()
    page.get_by_test_id("how-queue").click()
    page.get_by_test_id("department-cardiology").click()
    expect(page.get_by_test_id("queue-estimate")).to_be_visible()
    page.get_by_test_id("mode-text").click()


def queue_position(page: Page):
    return page.get_by_test_id("queue-position")


def test_a_hypertensive_patient_books_a_follow_up_with_his_cardiologist(seeded, phone_page):
    page, base = phone_page, seeded.url
    sign_in(page, base, HYPERTENSIVE.phone)

    page.get_by_test_id("online-visits").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("在线复诊")
    page.get_by_test_id("new-visit").click()

    # Step 1: the in-person diagnosis on his chart is the basis.
    expect(page.get_by_test_id("first-visit-refusal")).to_have_count(0)
    page.get_by_test_id("condition-I10").click()
    expect(page.get_by_test_id("chosen-basis")).to_contain_text("I10")

    # Step 2: a doctor and a time: cardiology, dr. Wang, his first free time.
    page.get_by_test_id("how-doctor").click()
    page.get_by_test_id("department-cardiology").click()
    page.get_by_test_id("doctor-dr.wang").click()
    assert_no_horizontal_scroll(page)
    first = page.get_by_test_id("slot").first
    expect(first).to_be_visible()
    time_text = first.locator("strong").inner_text()
    first.click()
    expect(page.get_by_test_id("chosen-time")).to_contain_text("王建国")
    expect(page.get_by_test_id("chosen-time")).to_contain_text(time_text)

    # Step 3: the reason; booking lands in the visit room.
    describe_and_confirm(page, "最近早上血压 150/95 左右，想请王医生调整一下药量。")
    expect(page).to_have_url(ROOM_URL)
    expect(page.get_by_role("heading", level=1)).to_contain_text("王建国")
    assert_no_horizontal_scroll(page)

    # The list of his visits shows it, with the doctor and the time, and offers to move or cancel it.
    page.goto(base + "/visits/")
    card = page.get_by_test_id("current-visits").locator("li", has_text="王建国").first
    expect(card).to_contain_text(time_text)
    expect(card.get_by_test_id("reschedule")).to_be_visible()
    expect(card.get_by_test_id("cancel-visit")).to_be_visible()
    assert_no_horizontal_scroll(page)


def test_a_first_visit_is_refused_with_the_way_to_an_in_person_appointment(seeded, phone_page):
    page, base = phone_page, seeded.url
    register(page, base, new_person("周新民"))

    page.goto(base + "/visits/new/")
    refusal = page.get_by_test_id("first-visit-refusal")
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text("复诊")
    assert_no_horizontal_scroll(page)
    refusal.get_by_test_id("in-person-link").click()

    expect(page).to_have_url(base + "/visits/in-person/")
    expect(page.get_by_role("heading", level=1)).to_have_text("预约线下就诊")
    expect(page.get_by_test_id("facility-demo-home")).to_contain_text("心血管内科")
    assert_no_horizontal_scroll(page)


def test_the_queue_updates_live_for_patients_and_the_doctor(seeded, browser):
    base = seeded.url
    first, second, doctor = phone(browser), phone(browser), phone(browser)
    try:
        # The hypertensive patient joins the cardiology queue: number 1.
        sign_in(first, base, HYPERTENSIVE.phone)
        first.goto(base + "/visits/new/")
        join_queue(first, condition="I10")
        describe_and_confirm(first, "血压控制得不好，想尽快咨询。")
        expect(first).to_have_url(ROOM_URL)
        expect(queue_position(first)).to_have_attribute("data-position", "1")
        expect(queue_position(first)).to_contain_text("1")

        # Dr. Wang signs in (password and code), confirms his code for the day, and watches the queue.
        sign_in(doctor, base, "dr.wang", code=seeded.manage("demo_otp", "dr.wang").stdout.strip())
        doctor.get_by_test_id("start-day-tile").click()
        # He typed his code to sign in a moment ago: that confirms the day, no second code is asked for.
        expect(doctor.get_by_test_id("fresh-second-factor")).to_be_visible()
        doctor.get_by_test_id("start-day").click()
        expect(doctor).to_have_url(base + "/visits/doctor/")
        queue = doctor.get_by_test_id("queue-cardiology")
        expect(queue.locator("[data-live]")).to_have_attribute("data-state", "open")
        expect(queue.get_by_test_id("queue-row")).to_have_count(1)
        expect(queue.get_by_test_id("queue-row").first).to_contain_text(HYPERTENSIVE.real_name)
        assert_no_horizontal_scroll(doctor)

        # A second patient, without a diagnosis here, uploads her discharge summary and joins: number 2.
        person = new_person("孙桂兰")
        register(second, base, person)
        second.goto(base + "/visits/new/")
        second.get_by_label("资料类型").select_option("discharge_summary")
        second.get_by_label("标题").fill("省人民医院出院小结")
        second.get_by_label("文件", exact=True).set_input_files(
            {"name": "discharge.png", "mimeType": "image/png", "buffer": tiny_png()}
        )
        second.get_by_test_id("upload-basis").click()
        expect(second.get_by_test_id("chosen-basis")).to_contain_text("省人民医院出院小结")
        join_queue(second)
        describe_and_confirm(second, "出院后血压仍偏高，带着出院小结来复诊。")
        expect(second).to_have_url(ROOM_URL)
        expect(queue_position(second)).to_have_attribute("data-position", "2")

        # The doctor's page shows both, live, without a reload.
        expect(queue.get_by_test_id("queue-row")).to_have_count(2)
        expect(queue.get_by_test_id("queue-row").nth(1)).to_contain_text(person.name)
        expect(queue.get_by_test_id("queue-count")).to_contain_text("2")
        assert_no_horizontal_scroll(doctor)
        doctor.screenshot(path=QUEUE_SCREENSHOT, full_page=True)

        # He takes the next patient (the first in line) and lands in that visit's room...
        queue.get_by_test_id("take-next").click()
        expect(doctor).to_have_url(ROOM_URL)
        expect(doctor.get_by_role("heading", level=1)).to_contain_text(HYPERTENSIVE.real_name)

        # ...and the second patient moves up to number 1 while she watches.
        expect(queue_position(second)).to_have_attribute("data-position", "1")
        expect(queue_position(second)).to_contain_text("1")
        # The first patient is out of the queue: his visit is accepted.
        expect(first.get_by_test_id("visit-status")).to_have_attribute("data-status", "accepted")
    finally:
        for page in (first, second, doctor):
            page.context.close()
