"""The medicine orders API (``/api/patients/{id}/addresses``, ``/api/prescriptions/{id}/orders``, ``/api/orders/...``,
``/api/pharmacy/...``): each endpoint's answer, its refusals with the exact code and status, bad types as 422 with
nothing changed, 401 without credentials; and the whole journey end to end: order → pay (the sandbox's page and its
signed callback) → start → pick → hand over → the courier simulator's signed callbacks → delivered."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from ihospital.core.models import AuditEvent, AuditOutcome
from ihospital.notifications.models import Notification
from ihospital.payments.models import ChargeStatus, RefundStatus
from ihospital.pharmacy.couriers import simulator
from ihospital.pharmacy.couriers.models import SimulatedParcel
from ihospital.pharmacy.models import Address, Order, Shipment, StockLot
from ihospital.prescriptions.models import Prescription, RxStatus
from tests.factories import PatientFactory
from tests.helpers import error_of, token_headers
from tests.pharmacy.factories import ADDRESS, address, approved, lots, state
from tests.prescriptions.factories import DrugFactory, amlodipine, item, signed

pytestmark = pytest.mark.django_db


class Api:
    def __init__(self, client, user, language: str = "en"):
        self.client = client
        self.user = user
        self.headers = {**token_headers(user), "accept-language": language} if user else {"accept-language": language}

    def get(self, path):
        return self.client.get(f"/api{path}", headers=self.headers)

    def post(self, path, body=None):
        return self.client.post(f"/api{path}", body if body is not None else {}, content_type="application/json",
                                headers=self.headers)

    def delete(self, path):
        return self.client.delete(f"/api{path}", headers=self.headers)


def refusal(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.content)
    error = error_of(response)
    assert error["code"] == code, error
    return error


def invalid(response) -> dict:
    return refusal(response, 422, "invalid_input")["fields"]


def ok(response, status: int = 200):
    assert response.status_code == status, (response.status_code, response.content)
    return response.json()


@pytest.fixture
def as_patient(client, patient):
    return Api(client, patient.user)


@pytest.fixture
def as_relative(client, relative):
    return Api(client, relative)


@pytest.fixture
def as_pharmacist(client, pharmacist):
    return Api(client, pharmacist)


@pytest.fixture
def as_stranger(client):
    return Api(client, PatientFactory().user)


@pytest.fixture
def home(patient):
    return address(patient)


@pytest.fixture
def placed(pharmacy, rx, home):
    return pharmacy.order(rx, to=home)


@pytest.fixture
def paid(pharmacy, placed):
    return pharmacy.pay(placed)


# ---- authentication ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [
    ("get", "/patients/1/addresses"),
    ("post", "/patients/1/addresses"),
    ("delete", "/addresses/1"),
    ("post", "/prescriptions/1/orders"),
    ("get", "/patients/1/orders"),
    ("get", "/orders/1"),
    ("post", "/orders/1/checkout"),
    ("post", "/orders/1/cancel"),
    ("post", "/orders/1/confirm-receipt"),
    ("get", "/pharmacy/worklist"),
    ("get", "/pharmacy/orders"),
    ("post", "/orders/1/start"),
    ("post", "/orders/1/pick"),
    ("post", "/orders/1/hand-over"),
    ("post", "/orders/1/collect"),
    ("get", "/orders/1/trace"),
])
def test_anonymous_requests_are_401(client, method, path):
    kwargs = {"content_type": "application/json", "data": "{}"} if method == "post" else {}
    response = getattr(client, method)(f"/api{path}", **kwargs)
    refusal(response, 401, "not_authenticated")


def test_the_openapi_document_lists_the_pharmacy_paths(client):
    paths = set(client.get("/api/openapi.json").json()["paths"])
    for path in ["/api/patients/{patient_id}/addresses", "/api/addresses/{address_id}",
                 "/api/prescriptions/{prescription_id}/orders", "/api/patients/{patient_id}/orders",
                 "/api/orders/{order_id}", "/api/orders/{order_id}/checkout", "/api/orders/{order_id}/cancel",
                 "/api/orders/{order_id}/confirm-receipt", "/api/pharmacy/worklist", "/api/pharmacy/orders",
                 "/api/orders/{order_id}/start", "/api/orders/{order_id}/pick", "/api/orders/{order_id}/hand-over",
                 "/api/orders/{order_id}/collect", "/api/orders/{order_id}/trace"]:
        assert path in paths, path


# ---- addresses ---------------------------------------------------------------------------------------------------


def test_addresses_are_saved_listed_and_archived(as_patient, as_relative, patient):
    body = ok(as_patient.post(f"/patients/{patient.pk}/addresses",
                              {**ADDRESS, "label": "家", "latitude": "37.8273", "longitude": 112.5614}), 201)
    assert body["patient_id"] == patient.pk and body["phone"] == "+8613912345678"
    assert (body["latitude"], body["longitude"]) == ("37.827300", "112.561400")
    assert body["one_line"] == "山西省太原市小店区长风街 18 号 3 单元 502 室"
    second = ok(as_relative.post(f"/patients/{patient.pk}/addresses", {**ADDRESS, "detail": "迎泽大街 1 号"}), 201)
    assert second["latitude"] is None

    listed = ok(as_relative.get(f"/patients/{patient.pk}/addresses"))
    assert {a["id"] for a in listed} == {body["id"], second["id"]}

    archived = ok(as_patient.delete(f"/addresses/{body['id']}"))
    assert archived["id"] == body["id"]
    assert [a["id"] for a in ok(as_patient.get(f"/patients/{patient.pk}/addresses"))] == [second["id"]]
    assert Address.objects.get(pk=body["id"]).archived
    refusal(as_patient.delete(f"/addresses/{body['id']}"), 404, "not_found")


def test_address_refusals(as_patient, as_stranger, patient):
    home = address(patient)
    before = state()

    error = refusal(as_patient.post(f"/patients/{patient.pk}/addresses", {**ADDRESS, "phone": "0351-4960000"}),
                    400, "invalid_phone")
    assert set(error["fields"]) == {"phone"}
    error = refusal(as_patient.post(f"/patients/{patient.pk}/addresses", {**ADDRESS, "district": " "}),
                    400, "invalid_address")
    assert set(error["fields"]) == {"district"}
    refusal(as_patient.post(f"/patients/{patient.pk}/addresses", {**ADDRESS, "postal_code": "12"}),
            400, "invalid_address")
    refusal(as_stranger.post(f"/patients/{patient.pk}/addresses", ADDRESS), 404, "not_found")
    refusal(as_stranger.get(f"/patients/{patient.pk}/addresses"), 404, "not_found")
    refusal(as_stranger.delete(f"/addresses/{home.pk}"), 404, "not_found")
    # Bad types: 422, and nothing changes.
    assert set(invalid(as_patient.post(f"/patients/{patient.pk}/addresses", {**ADDRESS, "latitude": "north"}))) == {
        "latitude"}
    assert "recipient" in invalid(as_patient.post(f"/patients/{patient.pk}/addresses",
                                                  {k: v for k, v in ADDRESS.items() if k != "recipient"}))
    invalid(as_patient.get("/patients/abc/addresses"))
    invalid(as_patient.delete("/addresses/abc"))

    assert state() == before
    assert AuditEvent.objects.filter(outcome=AuditOutcome.DENIED, object_type="pharmacy.address",
                                     object_id=str(home.pk)).exists()


# ---- ordering ------------------------------------------------------------------------------------------------------


def test_an_order_is_created_with_its_lines_fees_total_and_hold(flow, as_patient, rx, home, patient):
    with flow.capture(execute=True):
        body = ok(as_patient.post(f"/prescriptions/{rx.pk}/orders",
                                  {"fulfilment": "delivery", "address_id": home.pk}), 201)

    order = Order.objects.get()
    assert body["id"] == order.pk and body["number"] == order.number
    assert (body["status"], body["status_label"]) == ("created", "waiting for payment")
    assert (body["patient_id"], body["prescription_id"], body["prescription_number"]) == (patient.pk, rx.pk,
                                                                                          rx.number)
    assert (body["fulfilment"], body["address_id"], body["recipient"]) == ("delivery", home.pk, "李秀英")
    assert (body["items_fen"], body["delivery_fee_fen"], body["total_fen"], body["total_yuan"]) == (
        1500, 1000, 2500, "25.00")
    assert body["cold_chain"] is False and body["shipment"] is None
    (line,) = body["lines"]
    assert (line["sku"], line["quantity"], line["unit_price_fen"], line["line_fen"]) == ("CV-AML-5", 1, 1500, 1500)
    assert abs(datetime.fromisoformat(body["hold_until"]) - order.hold_until) < timedelta(milliseconds=1)
    assert body["charge_id"] == order.charge_id


def test_a_cold_chain_pickup_order(as_patient, doc, patient, pharmacist, diagnosis):
    insulin = DrugFactory(cold_chain_pen=True, price_fen=8900)
    rx = approved(doc, patient, pharmacist, item(insulin, dose=Decimal(10)), condition=diagnosis)

    body = ok(as_patient.post(f"/prescriptions/{rx.pk}/orders", {"fulfilment": "pickup"}), 201)

    assert (body["cold_chain"], body["delivery_fee_fen"], body["total_fen"]) == (True, 0, 8900)
    assert body["lines"][0]["cold_chain"] is True


def test_ordering_refusals(as_patient, as_pharmacist, as_stranger, rx, home, patient, doc, diagnosis, pharmacist):
    other_home = address(PatientFactory())
    unapproved = signed(doc, patient, item(DrugFactory()), condition=diagnosis)
    before = state()

    path = f"/prescriptions/{rx.pk}/orders"
    refusal(as_patient.post(f"/prescriptions/{unapproved.pk}/orders", {"fulfilment": "pickup"}), 409,
            "prescription_not_approved")
    refusal(as_stranger.post(path, {"fulfilment": "pickup"}), 404, "not_found")
    refusal(as_pharmacist.post(path, {"fulfilment": "pickup"}), 404, "not_found")
    refusal(as_patient.post("/prescriptions/999999/orders", {"fulfilment": "pickup"}), 404, "not_found")
    refusal(as_patient.post(path, {"fulfilment": "delivery"}), 400, "address_required")
    refusal(as_patient.post(path, {"fulfilment": "delivery", "address_id": other_home.pk}), 400, "address_required")
    refusal(as_patient.post(path, {"fulfilment": "by drone"}), 400, "invalid_fulfilment")
    # Bad types: 422, and nothing changes.
    assert set(invalid(as_patient.post(path, {"fulfilment": "delivery", "address_id": "home"}))) == {"address_id"}
    assert "fulfilment" in invalid(as_patient.post(path, {}))
    invalid(as_patient.post("/prescriptions/abc/orders", {"fulfilment": "pickup"}))
    assert state() == before

    Prescription.objects.filter(pk=rx.pk).update(valid_until=timezone.now() - timedelta(minutes=1))
    refusal(as_patient.post(path, {"fulfilment": "pickup"}), 409, "prescription_expired")
    assert state() == before


def test_one_live_order_per_prescription_and_out_of_stock(as_patient, as_relative, rx, home, doc, pharmacist):
    ok(as_patient.post(f"/prescriptions/{rx.pk}/orders", {"fulfilment": "pickup"}), 201)
    before = state()
    refusal(as_relative.post(f"/prescriptions/{rx.pk}/orders", {"fulfilment": "delivery", "address_id": home.pk}),
            409, "order_exists")
    assert state() == before

    other = PatientFactory()
    theirs = approved(doc, other, pharmacist)
    StockLot.objects.filter(drug=amlodipine()).update(on_hand=1)  # the last package is the patient's
    as_other = Api(Client(), other.user)
    before = state()
    error = refusal(as_other.post(f"/prescriptions/{theirs.pk}/orders", {"fulfilment": "pickup"}), 409,
                    "out_of_stock")
    assert error["fields"] == {"drug": "CV-AML-5"}
    assert state() == before


# ---- the patient's orders ------------------------------------------------------------------------------------------


def test_the_patients_orders_and_one_order(as_patient, as_relative, as_stranger, as_pharmacist, placed, patient):
    listed = ok(as_relative.get(f"/patients/{patient.pk}/orders"))
    assert [o["id"] for o in listed] == [placed.pk]
    assert listed[0]["lines"][0]["sku"] == "CV-AML-5"

    body = ok(as_patient.get(f"/orders/{placed.pk}"))
    assert (body["id"], body["events"], body["shipment"]) == (placed.pk, [], None)
    assert ok(as_pharmacist.get(f"/orders/{placed.pk}"))["id"] == placed.pk

    refusal(as_stranger.get(f"/orders/{placed.pk}"), 404, "not_found")
    refusal(as_stranger.get(f"/patients/{patient.pk}/orders"), 404, "not_found")
    refusal(as_patient.get("/orders/999999"), 404, "not_found")
    invalid(as_patient.get("/orders/abc"))
    invalid(as_patient.get("/patients/abc/orders"))


def test_checkout_gives_the_providers_page_and_paying_there_pays_the_order(flow, as_patient, placed, patient,
                                                                          as_stranger, as_pharmacist):
    before = state()
    refusal(as_stranger.post(f"/orders/{placed.pk}/checkout"), 404, "not_found")
    refusal(as_pharmacist.post(f"/orders/{placed.pk}/checkout"), 404, "not_found")
    assert state() == before

    body = ok(as_patient.post(f"/orders/{placed.pk}/checkout"))
    assert set(body) == {"checkout_url"}
    assert body["checkout_url"].startswith("/payments/sandbox/checkout/")

    assert flow.checkout(body["checkout_url"], patient.user).status_code == 302
    flow.settle()
    assert ok(as_patient.get(f"/orders/{placed.pk}"))["status"] == "paid"
    refusal(as_patient.post(f"/orders/{placed.pk}/checkout"), 409, "order_not_payable")


def test_cancel_an_unpaid_then_a_paid_order(flow, pharmacy, as_patient, as_relative, placed, rx, home):
    body = ok(as_relative.post(f"/orders/{placed.pk}/cancel", {"reason": "地址写错了"}))
    assert (body["status"], body["status_reason"]) == ("cancelled", "地址写错了")
    refusal(as_patient.post(f"/orders/{placed.pk}/cancel", {"reason": "again"}), 409, "invalid_transition")

    second = pharmacy.pay(pharmacy.order(rx, to=home))
    before = state()
    invalid(as_patient.post(f"/orders/{second.pk}/cancel", {"reason": ["不要了"]}))
    assert state() == before

    with flow.capture(execute=True):
        body = ok(as_patient.post(f"/orders/{second.pk}/cancel", {"reason": "不要了"}))
    assert body["status"] == "refunded"
    flow.settle()
    charge = pharmacy.charge(second)
    assert charge.refunded_fen == second.total_fen
    assert charge.refunds.get().status == RefundStatus.SUCCEEDED


def test_cancel_refusals(as_patient, as_pharmacist, as_stranger, paid, pharmacist):
    before = state()
    refusal(as_stranger.post(f"/orders/{paid.pk}/cancel", {"reason": "x"}), 404, "not_found")
    refusal(as_pharmacist.post(f"/orders/{paid.pk}/cancel", {}), 400, "reason_required")
    ok(as_pharmacist.post(f"/orders/{paid.pk}/start"))
    before = state()
    refusal(as_patient.post(f"/orders/{paid.pk}/cancel", {"reason": "x"}), 409, "too_late_to_cancel")
    assert state() == before

    body = ok(as_pharmacist.post(f"/orders/{paid.pk}/cancel", {"reason": "包装破损"}))
    assert (body["status"], body["status_reason"]) == ("refunded", "包装破损")


# ---- the pharmacy ----------------------------------------------------------------------------------------------------


def test_worklist_and_dashboard(as_pharmacist, as_patient, paid, placed):
    assert [o["id"] for o in ok(as_pharmacist.get("/pharmacy/worklist"))] == [paid.pk]
    assert [o["id"] for o in ok(as_pharmacist.get("/pharmacy/orders?status=paid&cold_chain=false"))] == [paid.pk]
    assert ok(as_pharmacist.get("/pharmacy/orders?cold_chain=true")) == []
    today = timezone.localdate()
    assert len(ok(as_pharmacist.get(f"/pharmacy/orders?since={today}&until={today}&fulfilment=delivery"))) == 1
    assert len(ok(as_pharmacist.get(f"/pharmacy/orders?q={paid.number}"))) == 1
    assert ok(as_pharmacist.get(f"/pharmacy/orders?since={today + timedelta(days=1)}")) == []

    refusal(as_patient.get("/pharmacy/worklist"), 404, "not_found")
    refusal(as_patient.get("/pharmacy/orders"), 404, "not_found")
    assert set(invalid(as_pharmacist.get("/pharmacy/orders?since=yesterday"))) == {"since"}
    assert set(invalid(as_pharmacist.get("/pharmacy/orders?cold_chain=maybe"))) == {"cold_chain"}


def test_start_pick_hand_over_and_trace(flow, as_pharmacist, as_patient, paid, rx, pharmacist):
    (lot_no, *_counts) = lots(amlodipine())[0]

    body = ok(as_pharmacist.post(f"/orders/{paid.pk}/start"))
    assert body["status"] == "dispensing"
    refusal(as_pharmacist.post(f"/orders/{paid.pk}/hand-over"), 409, "not_picked")

    picked = ok(as_pharmacist.post(f"/orders/{paid.pk}/pick"))
    assert [(d["sku"], d["lot_no"], d["quantity"], d["by_name"]) for d in picked] == [
        ("CV-AML-5", lot_no, 1, pharmacist.real_name)]
    before = state()
    refusal(as_pharmacist.post(f"/orders/{paid.pk}/pick"), 409, "already_picked")
    assert state() == before

    with flow.capture(execute=True):
        body = ok(as_pharmacist.post(f"/orders/{paid.pk}/hand-over"))
    assert body["status"] == "shipped"
    shipment = body["shipment"]
    assert (shipment["provider"], shipment["service"], shipment["status"]) == ("simulator", "standard", "created")
    assert shipment["tracking_no"] == Shipment.objects.get(order=paid).tracking_no
    rx.refresh_from_db()
    assert rx.status == RxStatus.DISPENSED

    trace = ok(as_pharmacist.get(f"/orders/{paid.pk}/trace"))
    assert trace["order"]["id"] == paid.pk
    assert (trace["prescription"]["number"], trace["prescription"]["status"]) == (rx.number, "dispensed")
    assert [(e["from_status"], e["to_status"]) for e in trace["prescription_timeline"]] == [
        ("draft", "signed"), ("signed", "approved"), ("approved", "dispensed")]
    assert trace["review"]["decision"] == "approved" and trace["review"]["seal"]
    assert (trace["charge"]["status"], trace["charge"]["amount_fen"]) == (ChargeStatus.PAID, paid.total_fen)
    assert [p["status"] for p in trace["payments"]] == ["succeeded"] and trace["refunds"] == []
    assert [(d["lot_no"], d["quantity"]) for d in trace["dispenses"]] == [(lot_no, 1)]
    assert [s["tracking_no"] for s in trace["shipments"]] == [shipment["tracking_no"]]
    assert [e["to_status"] for e in trace["order_timeline"]] == ["paid", "dispensing", "shipped"]
    refusal(as_patient.get(f"/orders/{paid.pk}/trace"), 404, "not_found")


def test_dispensing_refusals(as_pharmacist, as_patient, placed, paid):
    before = state()
    for act in ("start", "pick", "hand-over", "collect"):
        refusal(as_patient.post(f"/orders/{paid.pk}/{act}"), 403, "not_a_pharmacist")
        invalid(as_pharmacist.post(f"/orders/abc/{act}"))
        refusal(as_pharmacist.post(f"/orders/999999/{act}"), 404, "not_found")
    refusal(as_pharmacist.post(f"/orders/{paid.pk}/pick"), 409, "not_dispensing")
    refusal(as_pharmacist.post(f"/orders/{paid.pk}/collect"), 409, "not_ready_for_pickup")
    assert state() == before


def test_pickup_collected_at_the_counter_and_receipt(pharmacy, as_pharmacist, as_patient, rx, pharmacist):
    order = pharmacy.pay(pharmacy.order(rx, fulfilment="pickup"))
    ok(as_pharmacist.post(f"/orders/{order.pk}/start"))
    ok(as_pharmacist.post(f"/orders/{order.pk}/pick"))
    body = ok(as_pharmacist.post(f"/orders/{order.pk}/hand-over"))
    assert (body["status"], body["shipment"]) == ("ready_for_pickup", None)

    body = ok(as_pharmacist.post(f"/orders/{order.pk}/collect"))

    assert body["status"] == "delivered" and body["delivered_at"]
    body = ok(as_patient.post(f"/orders/{order.pk}/confirm-receipt"))
    assert body["received_confirmed_at"]


def test_confirm_receipt_refusals(as_patient, as_pharmacist, as_stranger, paid):
    before = state()
    refusal(as_patient.post(f"/orders/{paid.pk}/confirm-receipt"), 409, "not_delivered")
    refusal(as_pharmacist.post(f"/orders/{paid.pk}/confirm-receipt"), 404, "not_found")
    refusal(as_stranger.post(f"/orders/{paid.pk}/confirm-receipt"), 404, "not_found")
    invalid(as_patient.post("/orders/abc/confirm-receipt"))
    assert state() == before


# ---- end to end: the courier simulator's callbacks -----------------------------------------------------------------


def through_the_test_client(url: str, body: bytes, headers: dict[str, str]) -> int:
    """The simulator's ``post``: its signed callback reaches the notify view through Django's test client."""
    extra = {k: v for k, v in headers.items() if k != "Content-Type"}
    return Client().post(urlsplit(url).path, data=body, content_type="application/json", headers=extra).status_code


def test_order_pay_dispense_and_the_couriers_callbacks_deliver_it(flow, pharmacy, client, patient, relative,
                                                                  pharmacist, rx, monkeypatch, settings):
    settings.COURIER_SIM_STEP_SECONDS = 20
    sent = []

    def post(url, body, headers):
        sent.append(json.loads(body))
        return through_the_test_client(url, body, headers)

    monkeypatch.setattr(simulator, "post", post)
    as_patient, as_pharmacist = Api(client, patient.user), Api(Client(), pharmacist)

    # The patient saves an address, orders and pays on the provider's page.
    home = ok(as_patient.post(f"/patients/{patient.pk}/addresses", ADDRESS), 201)
    with flow.capture(execute=True):
        order = ok(as_patient.post(f"/prescriptions/{rx.pk}/orders",
                                   {"fulfilment": "delivery", "address_id": home["id"]}), 201)
    url = ok(as_patient.post(f"/orders/{order['id']}/checkout"))["checkout_url"]
    assert flow.checkout(url, patient.user).status_code == 302
    assert pharmacy.settle() == ["deliver_sandbox_notification:delivered"]
    assert ok(as_patient.get(f"/orders/{order['id']}"))["status"] == "paid"

    # The pharmacy prepares it and hands it to the courier.
    assert order["id"] in [o["id"] for o in ok(as_pharmacist.get("/pharmacy/worklist"))]
    ok(as_pharmacist.post(f"/orders/{order['id']}/start"))
    ok(as_pharmacist.post(f"/orders/{order['id']}/pick"))
    with flow.capture(execute=True):
        shipped = ok(as_pharmacist.post(f"/orders/{order['id']}/hand-over"))
    tracking_no = shipped["shipment"]["tracking_no"]
    assert SimulatedParcel.objects.get(tracking_no=tracking_no).status == "created"

    # The courier's day: its tasks run at their times and call back, signed, over "HTTP".
    ran = pharmacy.run(until=timezone.now() + timedelta(hours=1), prefix="ihospital.pharmacy.couriers.")

    assert ran == ["run_event:acknowledged"] * 5
    assert [e["events"][0]["status"] for e in sent] == [
        "picked_up", "in_transit", "in_transit", "out_for_delivery", "delivered"]
    body = ok(as_patient.get(f"/orders/{order['id']}"))
    assert body["status"] == "delivered" and body["delivered_at"]
    assert body["shipment"]["status"] == "delivered"
    assert [e["status"] for e in body["events"]] == [
        "picked_up", "in_transit", "in_transit", "out_for_delivery", "delivered"]
    occurred = [e["occurred_at"] for e in body["events"]]
    assert occurred == sorted(occurred)
    # A notification at each step, to the patient and the relative acting for them.
    for user in (patient.user, relative):
        kinds = set(Notification.objects.filter(user=user, link=f"/pharmacy/orders/{order['id']}/")
                    .values_list("kind", flat=True))
        assert {"order.paid", "order.dispensing", "order.shipped", "order.tracking-picked_up",
                "order.tracking-in_transit", "order.tracking-out_for_delivery", "order.delivered"} <= kinds
    # The patient confirms receipt; the pharmacist traces the package back to its prescription.
    assert ok(as_patient.post(f"/orders/{order['id']}/confirm-receipt"))["received_confirmed_at"]
    trace = ok(as_pharmacist.get(f"/orders/{order['id']}/trace"))
    assert [e["status"] for e in trace["events"]][-1] == "delivered"
    assert trace["prescription"]["id"] == rx.pk and trace["review"]["decision"] == "approved"
