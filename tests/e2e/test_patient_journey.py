"""A patient's first visit to the site on a phone: register, sign out and in, switch language, turn on elder
mode, open the chart and upload a document. And the chart of someone else answers 404.

Selectors are roles, labels (in Chinese: the browser asks for zh-CN) and data-testid attributes.
"""

from __future__ import annotations

import itertools
import random
import re
import struct
import zlib
from dataclasses import dataclass

from playwright.sync_api import Page, expect
from stdnum.cn import ric

from tests.e2e.ui import assert_no_horizontal_scroll

PASSWORD = "Kang-fu-2025!"
SCREENSHOT = "/tmp/ihospital-chart-elder.png"
_serial = itertools.count(1)


@dataclass(frozen=True)
class Person:
    name: str
    resident_id: str
    mobile: str


def new_person(name: str) -> Person:
    """A valid resident ID and a mobile number. The ID: Taiyuan Xiaodian district (140105, a code in use since
    1997, so the birth year must be 1997 or later for the number to be real), a birth date, a serial number
    and the check digit."""
    n = next(_serial)
    body = f"140105{random.randint(1997, 2005)}0{random.randint(1, 9)}1{random.randint(0, 9)}{n:03d}"
    # calc_check_digit expects the number with a check digit in place and ignores it.
    resident_id = body + ric.calc_check_digit(body + "0")
    assert ric.is_valid(resident_id)
    mobile = f"139{random.randint(0, 9999):04d}{n:04d}"
    return Person(name, resident_id, mobile)


def tiny_png() -> bytes:
    """A real 1x1 PNG, built by hand so the test needs no imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")



def register(page: Page, base: str, person: Person) -> None:
    page.goto(base + "/")
    page.get_by_role("link", name="实名注册").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("实名注册")
    assert_no_horizontal_scroll(page)
    page.get_by_label("真实姓名").fill(person.name)
    page.get_by_label("居民身份证号").fill(person.resident_id)
    page.get_by_label("手机号").fill(person.mobile)
    page.get_by_label("密码").fill(PASSWORD)
    consent = page.get_by_label("单独同意处理我的健康信息")
    expect(consent).not_to_be_checked()  # a separate consent is never pre-ticked
    consent.check()
    page.get_by_role("button", name="注册", exact=True).click()
    expect(page).to_have_url(base + "/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(person.name)


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="菜单").click()  # the menu is folded on a phone
    page.get_by_role("button", name="退出登录").click()
    expect(page.get_by_role("link", name="实名注册")).to_be_visible()


def body_font_px(page: Page) -> float:
    return page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")


def test_patient_journey_on_a_phone(e2e_server, phone_page):
    page, base = phone_page, e2e_server.url
    person = new_person("李秀英")

    # Register: a new patient lands on their home page, signed in.
    register(page, base, person)
    assert_no_horizontal_scroll(page)
    sign_out(page)

    # Sign in again with the mobile number.
    page.get_by_role("link", name="登录", exact=True).click()
    page.get_by_label("手机号或用户名").fill(person.mobile)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page).to_have_url(base + "/")
    expect(page.get_by_test_id("my-chart")).to_contain_text("我的病历")

    # Language: English, then back to Chinese (remembered on the account, so the next page keeps it).
    page.get_by_test_id("lang-en").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_test_id("my-chart")).to_contain_text("My chart")
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hello")
    page.get_by_test_id("lang-zh").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.get_by_test_id("my-chart")).to_contain_text("我的病历")

    # Elder mode: larger type and big touch targets, remembered after a reload.
    normal_px = body_font_px(page)
    toggle = page.get_by_test_id("elder-toggle")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(page.locator("html")).to_have_class(re.compile(r"\belder\b"))
    elder_px = body_font_px(page)
    assert elder_px > normal_px and elder_px >= 20, (normal_px, elder_px)
    for button in (page.get_by_test_id("elder-toggle"), page.get_by_role("button", name="菜单")):
        box = button.bounding_box()
        assert box is not None and box["height"] >= 48, box
    page.reload()
    expect(page.locator("html")).to_have_class(re.compile(r"\belder\b"))
    expect(page.get_by_test_id("elder-toggle")).to_have_attribute("aria-pressed", "true")
    assert_no_horizontal_scroll(page)

    # My chart: name and medical record number.
    page.get_by_test_id("my-chart").click()
    expect(page).to_have_url(re.compile(r"/records/patients/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(person.name)
    expect(page.get_by_test_id("mrn")).to_have_text(re.compile(r"^P\d{8}$"))
    assert_no_horizontal_scroll(page)

    # Upload a small PNG and see it listed.
    page.locator("summary", has_text="上传资料").click()
    page.get_by_label("资料类型").select_option("outpatient_record")
    page.get_by_label("标题").fill("太原门诊病历")
    page.get_by_label("文件", exact=True).set_input_files(
        {"name": "outpatient.png", "mimeType": "image/png", "buffer": tiny_png()}
    )
    page.get_by_role("button", name="上传", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="资料已上传")).to_be_visible()
    expect(page.get_by_test_id("documents")).to_contain_text("太原门诊病历")
    expect(page.get_by_test_id("documents").get_by_role("link", name="下载")).to_have_count(1)
    assert_no_horizontal_scroll(page)
    page.screenshot(path=SCREENSHOT, full_page=True)


def test_someone_elses_chart_is_not_found(e2e_server, phone_page):
    page, base = phone_page, e2e_server.url

    first = new_person("王建国")
    register(page, base, first)
    page.get_by_test_id("my-chart").click()
    expect(page).to_have_url(re.compile(r"/records/patients/\d+/$"))
    first_chart = page.url
    sign_out(page)

    register(page, base, new_person("赵桂兰"))
    response = page.goto(first_chart)
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("未找到")
    expect(page.get_by_text(first.name)).to_have_count(0)
    assert_no_horizontal_scroll(page)
