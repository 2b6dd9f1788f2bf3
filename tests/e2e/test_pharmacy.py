"""Medicine orders in real browsers against the real ASGI server, with a task worker beside it: the patient orders
on a phone and pays at the payment sandbox, whose signed callback (a task's HTTP POST) turns the open order page
"paid" live; the pharmacist (desktop, password and TOTP code) starts, picks the first-expiring lots and hands the
parcel to the courier simulator, whose signed tracking callbacks (tasks again) reach the patient's open page up to
"delivered" without a reload; the patient confirms receipt; the pharmacist's trace page shows the whole chain.
And a declined payment leaves the order waiting for payment, with a retry that succeeds.

Each test seeds its own data with ``manage.py e2e_pharmacy_fixture --key <test>`` (through the services).
``COURIER_SIM_STEP_SECONDS`` is 1 on the e2e server (conftest), so the courier's five events take seconds. Waits
are conditions with timeouts, never sleeps.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e import ui
from tests.e2e.ui import assert_no_horizontal_scroll

LIVE = 15_000  # ms
COURIER = 40_000  # ms: five tracking events one second apart, each a task and an HTTP callback
SHOTS = "/tmp/ihospital-pharmacy-{}.png"
PHONE = dict(viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True,
             locale="zh-CN")
DESKTOP = dict(viewport={"width": 1280, "height": 900}, locale="zh-CN")
ORDER_URL = re.compile(r"/pharmacy/orders/(\d+)/$")


def seed(server, key: str) -> dict:
    out = server.manage("e2e_pharmacy_fixture", "--key", key, "--sessions").stdout
    return json.loads(out.strip().splitlines()[-1])


def totp(server, key: str) -> str:
    out = server.manage("e2e_pharmacy_fixture", "--key", key, "--code").stdout
    return json.loads(out.strip().splitlines()[-1])["code"]


@pytest.fixture
def people(browser: Browser, e2e_server):
    """Opens pages (signed in with a session, or signed out); every context is closed after the test."""
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


def sign_in(page: Page, base: str, login: str, password: str, code: str) -> None:
    """Our login: password, then the 6-digit code of the staff member's authenticator."""
    page.goto(base + "/accounts/login/")
    page.get_by_label("手机号或用户名").fill(login)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录", exact=True).click()
    page.locator("input[name=code]").fill(code)
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page).to_have_url(base + "/")


def wait_live(page: Page) -> None:
    ui.wait_live(page, "ihospitalRxLive", state_testid="live-state")



def order_id_of_checkout(page: Page) -> int:
    """The sandbox's checkout page is told to come back to the order's page: its ``next``."""
    expect(page).to_have_url(re.compile(r"/payments/sandbox/checkout/[^/]+/\?next="))
    back = parse_qs(urlsplit(page.url).query)["next"][0]
    return int(ORDER_URL.search(back).group(1))


def yuan(text: str) -> int:
    """¥12.30 → 1230 (fen)."""
    return round(float(text.strip().lstrip("¥").replace(",", "")) * 100)


# ---- the journey -------------------------------------------------------------------------------------


def test_order_pay_dispense_deliver_live_and_trace(e2e_server, task_worker, people):
    base = e2e_server.url
    s = seed(e2e_server, "journey")
    rx = s["rx"]

    # The pharmacist signs in (password and code) and keeps the dispensing worklist open.
    pharmacist = people(phone=False)
    sign_in(pharmacist, base, s["pharmacist"]["login"], s["password"], totp(e2e_server, "journey"))
    pharmacist.get_by_test_id("dispensing-tile").click()
    expect(pharmacist).to_have_url(base + "/pharmacy/worklist/")
    wait_live(pharmacist)

    # The patient, on her phone in elder mode, orders from her approved prescription.
    patient = people(s["patient"]["session"])
    patient.goto(base + "/")
    patient.get_by_test_id("elder-toggle").click()
    expect(patient.locator("html")).to_have_class(re.compile(r"\belder\b"))
    patient.get_by_test_id("my-medicines").click()
    patient.get_by_test_id(f"history-{rx['id']}").get_by_test_id("order-medicines").click()
    expect(patient).to_have_url(f"{base}/pharmacy/order/{rx['id']}/")
    expect(patient.get_by_role("heading", level=1)).to_have_text("购买药品")

    # Delivery to her saved address is chosen; the lines, the fee, the cold-chain surcharge and the total add up.
    address = patient.get_by_test_id(f"destination-address-{s['address']['id']}")
    expect(address.locator("input")).to_be_checked()
    expect(address).to_contain_text("平阳路")
    quote = patient.get_by_test_id("quote")
    expect(quote.get_by_test_id("line")).to_have_count(2)
    expect(quote.get_by_test_id("cold-chain")).to_have_count(1)
    expect(quote.get_by_test_id("delivery-fee")).to_have_text("¥%.2f" % (s["fees"]["delivery_fen"] / 100))
    expect(quote.get_by_test_id("cold-surcharge")).to_have_text("¥%.2f" % (s["fees"]["cold_chain_fen"] / 100))
    items = yuan(quote.get_by_test_id("items-amount").inner_text())
    total = yuan(quote.get_by_test_id("total").inner_text())
    assert total == items + s["fees"]["delivery_fen"] + s["fees"]["cold_chain_fen"]
    # Pickup instead: no delivery fee (the price is drawn again by htmx); then back to delivery.
    patient.get_by_test_id("destination-pickup").click()
    expect(quote.get_by_test_id("delivery-fee")).to_have_count(0)
    expect(patient.get_by_test_id("quote").get_by_test_id("total")).to_have_text("¥%.2f" % (items / 100))
    address.click()
    expect(patient.get_by_test_id("quote").get_by_test_id("total")).to_have_text("¥%.2f" % (total / 100))
    assert_no_horizontal_scroll(patient)
    patient.screenshot(path=SHOTS.format("order-elder"), full_page=True)
    patient.get_by_test_id("quote").get_by_test_id("pay").click()

    # The sandbox's checkout page asks for the total. Before she pays, the order's page is open in another tab.
    order_id = order_id_of_checkout(patient)
    expect(patient.get_by_test_id("sandbox-amount")).to_have_text("¥%.2f" % (total / 100))
    tracker = patient.context.new_page()
    tracker.set_default_timeout(LIVE)
    tracker.goto(f"{base}/pharmacy/orders/{order_id}/")
    wait_live(tracker)
    status = tracker.get_by_test_id("order-status")
    expect(status).to_have_attribute("data-status", "created")
    expect(tracker.get_by_test_id("pay-deadline")).to_be_visible()
    tracker.evaluate("window.__notReloaded = true")

    # She pays. The sandbox calls the hospital back (a task's signed HTTP POST): the open page turns "paid".
    patient.get_by_test_id("sandbox-pay").click()
    expect(patient.get_by_test_id("sandbox-state")).to_have_attribute("data-state", "paid")
    expect(status).to_have_attribute("data-status", "paid")
    expect(status).to_have_text("已支付，等待药房配药")
    patient.get_by_test_id("sandbox-back").click()
    expect(patient).to_have_url(f"{base}/pharmacy/orders/{order_id}/")
    expect(patient.get_by_test_id("order-status")).to_have_attribute("data-status", "paid")

    # The pharmacist's worklist has it live, flagged cold chain; she starts it and sees the pick list (FEFO).
    row = pharmacist.get_by_test_id(f"work-row-{order_id}")
    expect(row).to_be_visible()
    expect(row.get_by_test_id("cold-chain")).to_be_visible()
    expect(row).to_contain_text(s["patient"]["name"])
    row.get_by_test_id("open-work").click()
    expect(pharmacist).to_have_url(f"{base}/pharmacy/orders/{order_id}/dispense/")
    wait_live(pharmacist)
    pharmacist.get_by_test_id("start").click()
    work = pharmacist.get_by_test_id("work")
    expect(work.get_by_test_id("order-status")).to_have_attribute("data-status", "dispensing")
    held = work.get_by_test_id("held-lots").get_by_test_id("lot-no")
    expect(held).to_have_count(2)
    held_lots = sorted(held.all_inner_texts())
    assert held_lots == sorted(s["expected_lots"].values()), held_lots
    for too_soon in s["too_soon_lots"]:
        expect(work).not_to_contain_text(too_soon)
    pharmacist.get_by_test_id("pick").click()
    expect(work.get_by_test_id("dispensed-lots")).to_have_count(2)
    pharmacist.get_by_test_id("hand-over").click()
    expect(pharmacist.locator(".message.success")).to_contain_text("快递")
    tracking_no = work.get_by_test_id("tracking-no").inner_text().strip()
    assert tracking_no.startswith("SIM"), tracking_no
    expect(work.get_by_test_id("order-status")).to_have_attribute("data-status", "shipped")
    pharmacist.screenshot(path=SHOTS.format("dispense"), full_page=True)

    # The patient's open page (never reloaded) follows the parcel: picked up … delivered, newest first.
    expect(status).to_have_attribute("data-status", "delivered", timeout=COURIER)
    events = tracker.get_by_test_id("tracking-event")
    expect(events).to_have_count(5)
    expect(events.first).to_have_attribute("data-status", "delivered")
    expect(events.last).to_have_attribute("data-status", "picked_up")
    expect(tracker.get_by_test_id("tracking-no")).to_have_text(tracking_no)
    assert tracker.evaluate("window.__notReloaded === true")
    assert tracker.evaluate("window.ihospitalRxLive.refreshes") >= 4
    assert_no_horizontal_scroll(tracker)
    tracker.screenshot(path=SHOTS.format("tracking"), full_page=True)

    # She confirms receipt.
    tracker.get_by_test_id("confirm-receipt").click()
    expect(tracker.get_by_test_id("received")).to_be_visible()

    # The pharmacist's trace: prescription → approval → payment → lots → shipment events → the order's history.
    pharmacist.get_by_test_id("trace-link").click()
    expect(pharmacist).to_have_url(f"{base}/pharmacy/orders/{order_id}/trace/")
    expect(pharmacist.get_by_test_id("rx-number")).to_have_text(rx["number"])
    assert re.fullmatch(r"[0-9a-f]{64}", pharmacist.get_by_test_id("content-hash").inner_text().strip())
    expect(pharmacist.get_by_test_id("reviewer")).to_have_text(s["pharmacist"]["name"])
    expect(pharmacist.get_by_test_id("charge-status")).to_have_text("已支付")
    expect(pharmacist.get_by_test_id("payments").locator("tr[data-status=succeeded]")).to_have_count(1)
    lots = pharmacist.get_by_test_id("trace-lots").get_by_test_id("lot-no")
    assert sorted(lots.all_inner_texts()) == held_lots
    expect(pharmacist.get_by_test_id("trace-shipment").get_by_test_id("tracking-no")).to_have_text(tracking_no)
    expect(pharmacist.get_by_test_id("trace-event")).to_have_count(5)
    expect(pharmacist.get_by_test_id("trace-order")).to_contain_text("已送达")
    expect(pharmacist.get_by_test_id("order-status")).to_have_text("已送达")
    pharmacist.screenshot(path=SHOTS.format("trace"), full_page=True)

    # The dashboard finds it by its tracking number, delivered, among the counts per status.
    pharmacist.goto(base + "/pharmacy/dashboard/")
    pharmacist.get_by_label("订单号、处方编号、快递单号或病历号").fill(tracking_no)
    pharmacist.get_by_test_id("apply-filters").click()
    row = pharmacist.get_by_test_id(f"dashboard-row-{order_id}")
    expect(row).to_have_attribute("data-status", "delivered")
    expect(pharmacist.get_by_test_id("dashboard-orders").locator("tbody tr")).to_have_count(1)
    expect(pharmacist.get_by_test_id("count-delivered").locator(".n")).to_have_text("1")
    pharmacist.screenshot(path=SHOTS.format("dashboard"), full_page=True)


# ---- a declined payment ----------------------------------------------------------------------------------------


def test_a_declined_payment_leaves_the_order_waiting_with_a_retry(e2e_server, task_worker, people):
    base = e2e_server.url
    s = seed(e2e_server, "declined")
    patient = people(s["patient"]["session"])

    # Pickup this time: no delivery fee, instructions for the counter.
    patient.goto(f"{base}/pharmacy/order/{s['rx']['id']}/")
    patient.get_by_test_id("destination-pickup").click()
    expect(patient.get_by_test_id("quote").get_by_test_id("delivery-fee")).to_have_count(0)
    patient.get_by_test_id("quote").get_by_test_id("pay").click()
    order_id = order_id_of_checkout(patient)

    # She declines at the provider and comes back: still waiting for payment, the decline said, a retry offered.
    patient.get_by_test_id("sandbox-decline").click()
    expect(patient.get_by_test_id("sandbox-state")).to_have_attribute("data-state", "declined")
    patient.get_by_test_id("sandbox-back").click()
    expect(patient).to_have_url(f"{base}/pharmacy/orders/{order_id}/")
    expect(patient.get_by_test_id("order-status")).to_have_attribute("data-status", "created")
    expect(patient.get_by_test_id("payment-failed")).to_be_visible()
    expect(patient.get_by_test_id("pickup-instructions")).to_be_visible()
    retry = patient.get_by_test_id("pay")
    expect(retry).to_contain_text("再次支付")
    assert_no_horizontal_scroll(patient)
    patient.screenshot(path=SHOTS.format("declined"), full_page=True)

    # The retry is a new attempt at the provider; this time she pays, and the order is paid.
    retry.click()
    assert order_id_of_checkout(patient) == order_id
    patient.get_by_test_id("sandbox-pay").click()
    expect(patient.get_by_test_id("sandbox-state")).to_have_attribute("data-state", "paid")
    patient.get_by_test_id("sandbox-back").click()
    expect(patient.get_by_test_id("order-status")).to_have_attribute("data-status", "paid")
    patient.goto(base + "/")
    patient.get_by_test_id("my-orders").click()
    expect(patient.get_by_test_id(f"order-{order_id}")).to_have_attribute("data-status", "paid")
