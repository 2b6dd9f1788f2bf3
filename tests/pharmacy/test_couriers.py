"""The courier side: the built-in simulator (its own books, tasks, signed callbacks over HTTP), the notify endpoint,
and SF Express's request signing, order creation, response parsing and route pushes.

Orders are made through ``pharmacy.services`` (ordered, paid through the payments sandbox's verified callback,
dispensed and handed over), so a tracking callback moves the real order. The simulator's tasks are run by hand, in
``run_after`` order, and its ``post`` goes through Django's test client, except in the test that serves a real
HTTP server.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from datetime import UTC, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from types import SimpleNamespace
from urllib.parse import urlencode, urlsplit

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone, translation
from django.utils.translation import gettext
from django_tasks_db.models import DBTaskResult

from ihospital.payments import services as payments
from ihospital.payments.providers import base as payment_providers
from ihospital.pharmacy import services
from ihospital.pharmacy.couriers import base as couriers
from ihospital.pharmacy.couriers import sf, simulator
from ihospital.pharmacy.couriers.models import SimulatedParcel
from ihospital.pharmacy.models import OrderStatus, Shipment, ShipmentStatus, StockLot, TrackingEvent
from ihospital.prescriptions.models import Drug
from tests.prescriptions.factories import monthly

pytestmark = pytest.mark.django_db

NOTIFY = "/pharmacy/courier/notify/simulator/"
SF_NOTIFY = "/pharmacy/courier/notify/sf/"


@pytest.fixture(autouse=True)
def _courier_settings(settings):
    settings.COURIER_PROVIDER = "simulator"
    settings.COURIER_SIM_STEP_SECONDS = 20
    settings.COURIER_SIM_SECRET = "sim-secret-for-tests"
    settings.SITE_URL = "http://testserver"
    settings.SF_PARTNER_ID = "IHOSP"
    settings.SF_CHECK_WORD = "check-word-for-tests"
    settings.SF_SENDER = {"contact": "药房", "tel": "0351-4960000", "province": "山西省", "city": "太原市",
                          "county": "迎泽区", "address": "双塔寺街29号 药剂科"}


# ---- the way to a shipped order -----------------------------------------------------------------------------------


def stock(drug: Drug, packages: int = 20) -> StockLot:
    today = timezone.localdate()
    return StockLot.objects.create(drug=drug, lot_no=f"L{uuid.uuid4().hex[:8]}", expires_on=today + timedelta(days=720),
                                   received_on=today, on_hand=packages)


def pay(order) -> None:
    """Pay the order's charge as the payments sandbox would confirm it (a verified callback)."""
    payment, _url = payments.start_payment(actor=order.placed_by, charge_id=order.charge_id, provider="sandbox")
    payments.handle_notification(provider="sandbox", notification=payment_providers.Notification(
        event_id=f"evt-{uuid.uuid4().hex}", kind=payment_providers.PAYMENT, status=payment_providers.SUCCEEDED,
        amount_fen=payment.amount_fen, out_trade_no=payment.out_trade_no, provider_txn_id="SBX-TEST",
    ))


def shipped(patient, doc, diagnosis, pharmacist, capture, *, detail="双塔寺街1号3单元201", items=()) -> Shipment:
    """A delivery order of ``patient`` for an approved prescription, paid, picked and handed to the courier."""
    rx = monthly(doc, patient, pharmacist, *items, condition=diagnosis)
    for line in rx.items.select_related("drug"):
        stock(line.drug)
    address = services.save_address(actor=patient.user, patient_id=patient.pk, recipient="李秀英",
                                     phone="13912345678", province="山西省", city="太原市", district="小店区",
                                     detail=detail)
    with capture(execute=True):
        order = services.create_order(actor=patient.user, prescription_id=rx.pk, fulfilment="delivery",
                                      address_id=address.pk)
        pay(order)
        services.start_dispensing(actor=pharmacist, order_id=order.pk)
        services.pick(actor=pharmacist, order_id=order.pk)
        services.hand_over(actor=pharmacist, order_id=order.pk)
    return Shipment.objects.select_related("order").get(order=order)


@pytest.fixture
def shipment(patient, doc, diagnosis, pharmacist, django_capture_on_commit_callbacks):
    return shipped(patient, doc, diagnosis, pharmacist, django_capture_on_commit_callbacks)


# ---- running the simulator -----------------------------------------------------------------------------------------


def via_test_client(url: str, body: bytes, headers: dict[str, str]) -> int:
    """The simulator's ``post``, through Django's test client instead of the network."""
    extra = {k: v for k, v in headers.items() if k != "Content-Type"}
    return Client().post(urlsplit(url).path, data=body, content_type="application/json", headers=extra).status_code


def sim_rows():
    return DBTaskResult.objects.filter(task_path=simulator.run_event.module_path, status="READY").order_by(
        "run_after", "enqueued_at")


def run_enqueued() -> list[str]:
    """Run the simulator tasks waiting now, in ``run_after`` order (time passes: what they enqueue waits for the
    next call)."""
    results = []
    for row in list(sim_rows()):
        row.claim("test")
        value = row.task.call(*row.args_kwargs["args"], **row.args_kwargs["kwargs"])
        row.set_successful(value)
        results.append(value)
    return results


@pytest.fixture
def client_post(monkeypatch):
    sent = []

    def post(url, body, headers):
        sent.append(json.loads(body))
        return via_test_client(url, body, headers)

    monkeypatch.setattr(simulator, "post", post)
    return sent


def signed_post(client, payload: dict, *, key: bytes | None = None, timestamp: int | None = None, nonce=None):
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = simulator.signed_headers(body, key=key or django_settings.COURIER_SIM_SECRET.encode(),
                                       timestamp=timestamp, nonce=nonce)
    del headers["Content-Type"]
    return client.post(NOTIFY, data=body, content_type="application/json", headers=headers)


def event(tracking_no: str, n: int, status: str, minutes: int, **kw) -> dict:
    occurred_at = (timezone.now() + timedelta(minutes=minutes)).isoformat()
    return {"event_id": f"{tracking_no}-{n}", "status": status, "occurred_at": occurred_at,
            "location": kw.get("location", ""), "description": kw.get("description", "")}


def state(shipment) -> tuple:
    shipment.refresh_from_db()
    shipment.order.refresh_from_db()
    return shipment.status, shipment.order.status, TrackingEvent.objects.filter(shipment=shipment).count()


# ---- the simulator, end to end ---------------------------------------------------------------------------------------


def test_handing_over_books_a_parcel_and_plans_its_timeline(shipment, settings):
    parcel = SimulatedParcel.objects.get(tracking_no=shipment.tracking_no)
    assert shipment.provider == "simulator" and shipment.tracking_no.startswith("SIM")
    assert len(shipment.tracking_no) == len("SIM") + 8 + 8
    assert (parcel.reference, parcel.receiver, parcel.status) == (shipment.order.number, "李秀英", "created")
    assert parcel.receiver_address == shipment.order.delivery_address
    assert parcel.callback_url == "http://testserver" + NOTIFY
    assert [e["status"] for e in parcel.plan] == [
        "picked_up", "in_transit", "in_transit", "out_for_delivery", "delivered"]
    assert len({e["event_id"] for e in parcel.plan}) == 5
    # One task per event, COURIER_SIM_STEP_SECONDS apart, enqueued after the hand-over committed.
    rows = list(sim_rows())
    assert [r.args_kwargs["args"] for r in rows] == [[shipment.tracking_no, n] for n in range(1, 6)]
    gaps = {(b.run_after - a.run_after).total_seconds() for a, b in zip(rows, rows[1:], strict=False)}
    assert gaps == {settings.COURIER_SIM_STEP_SECONDS}


def test_the_full_timeline_arrives_through_the_notify_endpoint_and_delivers_the_order(shipment, client_post):
    assert run_enqueued() == ["acknowledged"] * 5
    assert state(shipment) == (ShipmentStatus.DELIVERED, OrderStatus.DELIVERED, 5)
    events = list(TrackingEvent.objects.filter(shipment=shipment))
    assert [e.status for e in events] == ["picked_up", "in_transit", "in_transit", "out_for_delivery", "delivered"]
    assert events == sorted(events, key=lambda e: e.occurred_at)
    assert "太原市" in events[2].location and events[3].location == "太原市小店区"
    with translation.override(django_settings.LANGUAGE_CODE):
        assert events[-1].description == gettext("Delivered and signed for by the recipient")
    parcel = SimulatedParcel.objects.get(tracking_no=shipment.tracking_no)
    assert parcel.status == "delivered"
    assert all(e["happened"] and e["acknowledged"] and e["attempts"] == 1 for e in parcel.plan)
    # The courier's clock, not the arrival: occurred_at is the planned time of each event.
    assert [e.occurred_at.isoformat() for e in events] == [e["due"] for e in parcel.plan]
    assert shipment.order.delivered_at == events[-1].occurred_at


@pytest.mark.parametrize(("detail", "reason"), [
    ("迎泽大街1号（收件人拒收）", simulator.REFUSED),
    ("迎泽大街1号 无人在家", simulator.NOBODY_HOME),
])
def test_an_address_with_a_failure_word_fails_with_the_reason_and_is_refunded(
        patient, doc, diagnosis, pharmacist, django_capture_on_commit_callbacks, client_post, detail, reason):
    shipment = shipped(patient, doc, diagnosis, pharmacist, django_capture_on_commit_callbacks, detail=detail)
    with django_capture_on_commit_callbacks(execute=True):
        assert run_enqueued() == ["acknowledged"] * 5
    assert state(shipment) == (ShipmentStatus.FAILED, OrderStatus.REFUNDED, 5)
    with translation.override(django_settings.LANGUAGE_CODE):
        assert shipment.failure_reason == gettext(reason)
    assert shipment.order.status_reason == shipment.failure_reason
    assert [e.status for e in TrackingEvent.objects.filter(shipment=shipment)][-2:] == ["out_for_delivery", "failed"]
    assert SimulatedParcel.objects.get(tracking_no=shipment.tracking_no).status == "failed"


def test_failure_words_are_deterministic():
    assert simulator.failure_reason("太原市小店区 拒收") == simulator.REFUSED
    assert simulator.failure_reason("Flat 2, nobody in on weekdays") == simulator.NOBODY_HOME
    assert simulator.failure_reason("I REFUSE deliveries before 9") == simulator.REFUSED
    assert simulator.failure_reason("太原市小店区长治路1号") == ""


def test_cold_chain_parcels_say_so(settings):
    plan = simulator.plan_events(tracking_no="SIMX", start=timezone.now(), service="cold_chain", city="北京市",
                                 district="朝阳区", address="北京市朝阳区1号")
    with translation.override("en"):
        english = simulator.plan_events(tracking_no="SIMX", start=timezone.now(), service="standard", city="Beijing",
                                        district="", address="x")
    assert "2–8 °C" in plan[0]["description"]
    assert plan[2]["location"] == "北京市" and "北京市" in plan[2]["description"]
    # The courier speaks the deployment's language, whoever handed the parcel over.
    assert english[0]["description"] == plan_text("Picked up at the hospital pharmacy")


def plan_text(message: str) -> str:
    with translation.override(django_settings.LANGUAGE_CODE):
        return gettext(message)


def test_events_arriving_out_of_order_are_applied_in_the_couriers_time(shipment, monkeypatch):
    """The in-transit callbacks fail at first and are re-sent after the delivery arrived."""
    attempts: dict[str, int] = {}

    def flaky(url, body, headers):
        event_id = json.loads(body)["events"][0]["event_id"]
        attempts[event_id] = attempts.get(event_id, 0) + 1
        if json.loads(body)["events"][0]["status"] == "in_transit" and attempts[event_id] == 1:
            return 500
        return via_test_client(url, body, headers)

    monkeypatch.setattr(simulator, "post", flaky)
    first = run_enqueued()
    assert first == ["acknowledged", "retry 1 in 5s (HTTP 500)", "retry 1 in 5s (HTTP 500)", "acknowledged",
                     "acknowledged"]
    assert state(shipment) == (ShipmentStatus.DELIVERED, OrderStatus.DELIVERED, 3)
    retries = list(sim_rows())
    assert [r.args_kwargs["args"] for r in retries] == [[shipment.tracking_no, 2, 1], [shipment.tracking_no, 3, 1]]
    assert run_enqueued() == ["acknowledged", "acknowledged"]
    # Late in-transit events join the timeline in their place and do not move a delivered parcel back.
    assert state(shipment) == (ShipmentStatus.DELIVERED, OrderStatus.DELIVERED, 5)
    events = list(TrackingEvent.objects.filter(shipment=shipment))
    assert [e.status for e in events] == ["picked_up", "in_transit", "in_transit", "out_for_delivery", "delivered"]
    arrival = sorted(events, key=lambda e: e.pk)
    assert [e.status for e in arrival] == ["picked_up", "out_for_delivery", "delivered", "in_transit", "in_transit"]


def test_delivered_arriving_before_everything_else_still_ends_delivered(shipment, client):
    no = shipment.tracking_no
    assert signed_post(client, {"tracking_no": no, "events": [event(no, 5, "delivered", 50)]}).status_code == 200
    assert signed_post(client, {"tracking_no": no, "events": [
        event(no, 2, "in_transit", 20), event(no, 1, "picked_up", 10), event(no, 4, "out_for_delivery", 40)]}
    ).status_code == 200
    assert state(shipment) == (ShipmentStatus.DELIVERED, OrderStatus.DELIVERED, 4)
    assert [e.status for e in TrackingEvent.objects.filter(shipment=shipment)] == [
        "picked_up", "in_transit", "out_for_delivery", "delivered"]


def test_the_same_event_twice_is_stored_once(shipment, client):
    no = shipment.tracking_no
    payload = {"tracking_no": no, "events": [event(no, 1, "picked_up", 1, location="太原市")]}
    for _ in range(3):  # three deliveries of the same event, each signed afresh (as a retry is)
        response = signed_post(client, payload)
        assert (response.status_code, response.json()) == (200, {"ok": True})
    assert state(shipment) == (ShipmentStatus.PICKED_UP, OrderStatus.SHIPPED, 1)


def test_a_callback_replayed_byte_for_byte_is_refused(shipment, client):
    no = shipment.tracking_no
    payload = {"tracking_no": no, "events": [event(no, 1, "picked_up", 1)]}
    assert signed_post(client, payload, nonce="n-1").status_code == 200
    replay = signed_post(client, payload, nonce="n-1")
    assert replay.status_code == 403 and replay.json()["error"]["code"] == "bad_signature"


@pytest.mark.parametrize("forgery", ["wrong_key", "stale", "future", "tampered", "unsigned"])
def test_a_forged_or_stale_callback_is_refused_and_changes_nothing(shipment, client, forgery):
    no = shipment.tracking_no
    payload = {"tracking_no": no, "events": [event(no, 5, "delivered", 1)]}
    if forgery == "wrong_key":
        response = signed_post(client, payload, key=b"not-the-secret")
    elif forgery in ("stale", "future"):
        skew = 301 if forgery == "stale" else -301
        response = signed_post(client, payload, timestamp=int(time.time()) - skew)
    elif forgery == "tampered":
        body = json.dumps(payload).encode()
        headers = simulator.signed_headers(body)
        del headers["Content-Type"]
        forged = body.replace(b"delivered", b"failed")
        response = client.post(NOTIFY, data=forged, content_type="application/json", headers=headers)
    else:
        response = client.post(NOTIFY, data=json.dumps(payload), content_type="application/json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "bad_signature"
    assert state(shipment) == (ShipmentStatus.CREATED, OrderStatus.SHIPPED, 0)


def test_a_callback_signed_just_inside_the_window_is_accepted(shipment, client):
    no = shipment.tracking_no
    payload = {"tracking_no": no, "events": [event(no, 1, "picked_up", 1)]}
    assert signed_post(client, payload, timestamp=int(time.time()) - 290).status_code == 200


def test_an_unknown_tracking_number_is_404_and_a_bad_body_400(shipment, client):
    response = signed_post(client, {"tracking_no": "SIM0000", "events": [event("SIM0000", 1, "picked_up", 1)]})
    assert response.status_code == 404 and response.json()["error"]["code"] == "unknown_shipment"
    bad = signed_post(client, {"tracking_no": shipment.tracking_no, "events": [{"status": "teleported"}]})
    assert bad.status_code == 400
    assert client.post("/pharmacy/courier/notify/ups/", data="{}", content_type="application/json").status_code == 404
    assert client.get(NOTIFY).status_code == 405
    assert state(shipment) == (ShipmentStatus.CREATED, OrderStatus.SHIPPED, 0)


def test_cancel_before_pickup_stops_every_event(shipment, client_post):
    courier = couriers.get("simulator")
    courier.cancel(shipment)
    assert run_enqueued() == ["cancelled"] * 5
    assert client_post == []  # nothing was sent
    parcel = SimulatedParcel.objects.get(tracking_no=shipment.tracking_no)
    assert parcel.status == "cancelled" and parcel.cancelled_at is not None
    assert state(shipment) == (ShipmentStatus.CREATED, OrderStatus.SHIPPED, 0)
    courier.cancel(shipment)  # again: nothing more to do


def test_a_picked_up_parcel_cannot_be_cancelled(shipment, client_post):
    row = sim_rows().first()
    row.task.call(*row.args_kwargs["args"])
    with pytest.raises(couriers.CourierError, match="picked up"):
        couriers.get("simulator").cancel(shipment)
    assert SimulatedParcel.objects.get(tracking_no=shipment.tracking_no).status == "picked_up"


# ---- the simulator over a real socket -------------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    answers: list[int] = []
    received: list[tuple[dict, bytes]] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        self.send_response(type(self).answers.pop(0) if type(self).answers else 200)
        self.end_headers()
        self.wfile.write(b'{"ok": true}')

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.answers, _Receiver.received = [], []
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, _Receiver
    server.shutdown()
    server.server_close()


def parcel_at(url: str) -> SimulatedParcel:
    no = f"SIMTEST{uuid.uuid4().hex[:8]}"
    return SimulatedParcel.objects.create(
        tracking_no=no, reference="MO1", service="standard", receiver="李秀英", receiver_address="太原市小店区1号",
        callback_url=url, plan=simulator.plan_events(tracking_no=no, start=timezone.now(), service="standard",
                                                     city="太原市", district="小店区", address="太原市小店区1号"))


def test_the_task_posts_a_signed_callback_over_http_and_retries_a_500(receiver, settings):
    server, handler = receiver
    handler.answers = [500, 200]
    parcel = parcel_at(f"http://127.0.0.1:{server.server_port}/pharmacy/courier/notify/simulator/")
    before = timezone.now()
    assert simulator.run_event.call(parcel.tracking_no, 1) == "retry 1 in 5s (HTTP 500)"
    (retry,) = sim_rows()
    assert retry.args_kwargs["args"] == [parcel.tracking_no, 1, 1]
    assert before + timedelta(seconds=5) <= retry.run_after <= timezone.now() + timedelta(seconds=5)
    assert simulator.run_event.call(parcel.tracking_no, 1, 1) == "acknowledged"
    assert not sim_rows().filter(run_after__gt=retry.run_after).exists()
    (h1, body1), (h2, body2) = handler.received
    assert body1 == body2  # the same event, re-sent
    for headers, body in handler.received:
        assert headers["Content-Type"] == "application/json"
        assert headers["X-Courier-Signature"] == simulator.signature(
            timestamp=headers["X-Courier-Timestamp"], nonce=headers["X-Courier-Nonce"], body=body)
        assert abs(int(headers["X-Courier-Timestamp"]) - time.time()) < 60
    assert h1["X-Courier-Nonce"] != h2["X-Courier-Nonce"]
    sent = json.loads(body1)
    assert sent["tracking_no"] == parcel.tracking_no
    assert sent["events"][0]["event_id"] == f"{parcel.tracking_no}-1"
    assert sent["events"][0]["occurred_at"] == parcel.plan[0]["due"]
    parcel.refresh_from_db()
    assert parcel.status == "picked_up" and parcel.plan[0]["attempts"] == 2 and parcel.plan[0]["acknowledged"]


def test_no_answer_is_retried_with_backoff_then_given_up(settings):
    parcel = parcel_at("http://127.0.0.1:9/nothing-listens-here/")  # the discard port: refused
    results = [simulator.run_event.call(parcel.tracking_no, 2, attempt)
               for attempt in range(len(simulator.RETRY_DELAYS) + 1)]
    assert [r.split(" (")[0] for r in results] == [
        f"retry {n + 1} in {delay}s" for n, delay in enumerate(simulator.RETRY_DELAYS)] + ["gave up"]
    assert [r.args_kwargs["args"][2] for r in sim_rows()] == list(range(1, len(simulator.RETRY_DELAYS) + 1))
    parcel.refresh_from_db()
    assert parcel.status == "in_transit" and not parcel.plan[1]["acknowledged"]


# ---- SF Express -----------------------------------------------------------------------------------------------------


def test_sf_digest_matches_the_documented_example():
    # SF's signing guide (数字签名认证说明): this msgData, timestamp and check word give this digest.
    assert sf.msg_digest('{"language":"zh-CN","orderId":"QIAO-20200618-004"}', "12312334453453",
                         "fjcg5PGKaNpPSHFAZ4QsCOkV71R3zVci") == "IIKJtuLVzoFTu4kHI8M8vA=="


def test_sf_digest_url_encodes_like_java():
    # URLEncoder.encode(s, "UTF-8"), worked by hand: space → +, * . - _ kept, ~ + / and UTF-8 bytes as %XX.
    text = '{"name":"药 品*~+/.-_"}'
    by_hand = "%7B%22name%22%3A%22%E8%8D%AF+%E5%93%81*%7E%2B%2F.-_%22%7D"
    assert sf.java_urlencode(text) == by_hand
    expected = base64.b64encode(hashlib.md5((by_hand + "1700000000000" + "cw").encode()).digest()).decode()
    assert sf.msg_digest(text, "1700000000000", "cw") == expected


def sf_order(service: str = "standard"):
    """A stand-in shipment with what the SF adapter reads of it."""
    address = SimpleNamespace(province="山西省", city="太原市", district="小店区", detail="长治路1号2单元")
    order = SimpleNamespace(number="MO20250101000042", recipient="李秀英", recipient_phone="+8613912345678",
                            delivery_address="山西省太原市小店区长治路1号2单元", address_id=7, address=address)
    return SimpleNamespace(pk=9, order=order, service=service, tracking_no="SF1234567890123")


def sf_answer(msg_data: dict | None = None, *, success=True, code="A1000", error_code="S0000", error_msg=None) -> str:
    result = {"success": success, "errorCode": error_code, "errorMsg": error_msg, "msgData": msg_data}
    return json.dumps({"apiErrorMsg": "", "apiResponseID": uuid.uuid4().hex, "apiResultCode": code,
                       "apiResultData": json.dumps(result, ensure_ascii=False)}, ensure_ascii=False)


class FakeSF:
    """SF's gateway: checks each request's form and digest, answers in SF's documented shape."""

    def __init__(self, answer: str | None = None, *, check_word="check-word-for-tests"):
        self.answer, self.check_word, self.calls = answer, check_word, []

    def __call__(self, url: str, form: dict[str, str]) -> str:
        assert set(form) == {"partnerID", "requestID", "serviceCode", "timestamp", "msgData", "msgDigest"}
        assert form["msgDigest"] == sf.msg_digest(form["msgData"], form["timestamp"], self.check_word)
        assert form["timestamp"].isdigit() and abs(int(form["timestamp"]) / 1000 - time.time()) < 60
        self.calls.append((url, form, json.loads(form["msgData"])))
        if self.answer is not None:
            return self.answer
        data = json.loads(form["msgData"])
        return sf_answer({"orderId": data.get("orderId"), "waybillNoInfoList": [
            {"waybillType": 1, "waybillNo": "SF1401234567890"}]})


@pytest.mark.parametrize(("service", "express_type"), [("standard", 2), ("cold_chain", 201)])
def test_sf_create_order_request(service, express_type, settings):
    fake = FakeSF()
    courier = sf.SFExpressCourier(transport=fake)
    assert courier.create_shipment(sf_order(service)) == "SF1401234567890"
    ((url, form, data),) = fake.calls
    assert url == settings.SF_API_URL
    assert (form["partnerID"], form["serviceCode"]) == ("IHOSP", "EXP_RECE_CREATE_ORDER")
    assert data["orderId"] == "MO20250101000042-9" and data["language"] == "zh-CN"
    assert data["cargoDetails"] == [{"name": "药品", "count": 1, "unit": "件"}]
    assert data["expressTypeId"] == express_type and data["payMethod"] == 1
    sender, receiver = data["contactInfoList"]
    assert sender["contactType"] == 1 and sender["tel"] == "0351-4960000" and sender["city"] == "太原市"
    assert receiver == {"contactType": 2, "contact": "李秀英", "mobile": "13912345678", "country": "CN",
                        "province": "山西省", "city": "太原市", "county": "小店区", "address": "长治路1号2单元"}
    assert "药品" in form["msgData"]  # sent as UTF-8 text, not \\u escapes


def test_sf_cancel_request():
    fake = FakeSF(sf_answer({"orderId": "MO20250101000042-9", "resStatus": 2}))
    sf.SFExpressCourier(transport=fake).cancel(sf_order())
    ((_url, form, data),) = fake.calls
    assert form["serviceCode"] == "EXP_RECE_UPDATE_ORDER"
    assert data == {"orderId": "MO20250101000042-9", "dealType": 2}


@pytest.mark.parametrize(("answer", "message"), [
    (sf_answer(code="A1006", success=False), "A1006"),
    (sf_answer(success=False, error_code="8016", error_msg="重复下单"), "8016 重复下单"),
    (sf_answer({"orderId": "x", "waybillNoInfoList": []}), "no waybill number"),
    ("<html>502 Bad Gateway</html>", "not JSON"),
])
def test_sf_refusals_are_courier_errors(answer, message):
    with pytest.raises(couriers.CourierError, match=message):
        sf.SFExpressCourier(transport=FakeSF(answer)).create_shipment(sf_order())


def test_sf_unreachable_or_unconfigured_is_a_courier_error(settings):
    def down(url, form):
        raise OSError("connection refused")

    with pytest.raises(couriers.CourierError, match="could not be reached"):
        sf.SFExpressCourier(transport=down).create_shipment(sf_order())
    settings.SF_CHECK_WORD = ""
    with pytest.raises(couriers.CourierError, match="not configured"):
        sf.SFExpressCourier(transport=FakeSF()).create_shipment(sf_order())
    settings.SF_CHECK_WORD = "x"
    settings.SF_SENDER = {}
    with pytest.raises(couriers.CourierError, match="SF_SENDER"):
        sf.SFExpressCourier(transport=FakeSF()).create_shipment(sf_order())


def route(mailno: str, route_id: str, op_code: str, when: str, **kw) -> dict:
    return {"id": route_id, "mailno": mailno, "orderid": "MO1-1", "acceptTime": when,
            "acceptAddress": kw.get("address", "太原市"), "remark": kw.get("remark", ""), "opCode": op_code,
            **({"reasonName": kw["reason"]} if "reason" in kw else {})}


def sf_push(client, routes: list[dict], *, check_word="check-word-for-tests", body_wrapper=False):
    msg_data = json.dumps({"Body": {"WaybillRoute": routes}} if body_wrapper else {"WaybillRoute": routes},
                          ensure_ascii=False)
    timestamp = str(int(time.time() * 1000))
    form = {"partnerID": "IHOSP", "requestID": uuid.uuid4().hex, "serviceCode": "RoutePushService",
            "timestamp": timestamp, "msgData": msg_data, "msgDigest": sf.msg_digest(msg_data, timestamp, check_word)}
    return client.post(SF_NOTIFY, data=urlencode(form), content_type="application/x-www-form-urlencoded")


def test_sf_op_codes_map_to_our_statuses():
    assert {code: sf.OP_CODES[code] for code in ("50", "30", "31", "36", "44", "80", "70", "33")} == {
        "50": "picked_up", "30": "in_transit", "31": "in_transit", "36": "in_transit", "44": "out_for_delivery",
        "80": "delivered", "70": "failed", "33": "failed"}
    update = sf.route_update(route("SF1", "777", "70", "2025-03-01 18:30:00", remark="派送不成功",
                                   reason="收方客户拒收"))
    assert (update.event_id, update.tracking_no, update.status) == ("sf-777", "SF1", "failed")
    assert update.description == "派送不成功（收方客户拒收）"
    # SF's times are Beijing time: 18:30 in Shanghai is 10:30 UTC.
    assert update.occurred_at.astimezone(UTC).strftime("%H:%M") == "10:30"
    assert sf.route_update(route("SF1", "778", "607", "2025-03-01 18:30:00")) is None  # not tracked
    no_id = route("SF1", "", "50", "2025-03-01 09:00:00")
    assert sf.route_update(no_id).event_id == sf.route_update(dict(no_id)).event_id  # stable without an id


def sf_shipped(patient, doc, diagnosis, pharmacist, capture, monkeypatch, settings) -> Shipment:
    settings.COURIER_PROVIDER = "sf"
    monkeypatch.setattr(sf, "post_form", FakeSF())
    return shipped(patient, doc, diagnosis, pharmacist, capture)


def test_sf_hand_over_and_route_pushes_deliver_the_order(patient, doc, diagnosis, pharmacist, client, monkeypatch,
                                                         settings, django_capture_on_commit_callbacks):
    shipment = sf_shipped(patient, doc, diagnosis, pharmacist, django_capture_on_commit_callbacks, monkeypatch,
                          settings)
    assert (shipment.provider, shipment.tracking_no) == ("sf", "SF1401234567890")
    no = shipment.tracking_no
    response = sf_push(client, [route(no, "3", "80", "2025-03-02 10:00:00", remark="已签收"),
                                route(no, "1", "50", "2025-03-01 16:00:00", remark="顺丰速运 已收取快件")])
    assert response.status_code == 200
    assert response.json() == {"return_code": "0000", "return_msg": "成功"}
    response = sf_push(client, [route(no, "2", "44", "2025-03-02 08:00:00", remark="正在派送途中"),
                                route(no, "9", "607", "2025-03-02 08:10:00")], body_wrapper=True)
    assert response.status_code == 200
    assert sf_push(client, [route(no, "3", "80", "2025-03-02 10:00:00")]).status_code == 200  # again: once
    assert state(shipment) == (ShipmentStatus.DELIVERED, OrderStatus.DELIVERED, 3)
    assert [e.status for e in TrackingEvent.objects.filter(shipment=shipment)] == [
        "picked_up", "out_for_delivery", "delivered"]


def test_sf_forged_push_is_refused_in_sfs_format(patient, doc, diagnosis, pharmacist, client, monkeypatch, settings,
                                                 django_capture_on_commit_callbacks):
    shipment = sf_shipped(patient, doc, diagnosis, pharmacist, django_capture_on_commit_callbacks, monkeypatch,
                          settings)
    response = sf_push(client, [route(shipment.tracking_no, "3", "80", "2025-03-02 10:00:00")], check_word="guess")
    assert response.status_code == 403
    assert response.json()["return_code"] == "1000" and "bad_signature" in response.json()["return_msg"]
    unsigned = client.post(SF_NOTIFY, data=json.dumps({"Body": {"WaybillRoute": []}}),
                           content_type="application/json")
    assert unsigned.status_code == 403
    assert state(shipment) == (ShipmentStatus.CREATED, OrderStatus.SHIPPED, 0)
