"""The payments API: the payer starts paying and follows the charge; administrators may look; anyone else gets the
same 404 as for a missing charge; refusals carry their code."""

from __future__ import annotations

import pytest
from django.test import Client

from ihospital.accounts.models import Role
from ihospital.payments.models import Payment, PaymentStatus
from tests.factories import StaffUserFactory
from tests.helpers import error_of, token_headers

pytestmark = pytest.mark.django_db


def api(user, language="en"):
    client = Client()
    headers = {**token_headers(user), "accept-language": language}
    return client, headers


def post(user, path, language="en"):
    client, headers = api(user, language)
    return client.post(f"/api{path}", {}, content_type="application/json", headers=headers)


def get(user, path):
    client, headers = api(user)
    return client.get(f"/api{path}", headers=headers)


def test_the_payer_starts_a_payment_and_reads_the_charge(flow, payer):
    charge = flow.charge(payer, amount_fen=2590)
    with flow.capture(execute=True):
        response = post(payer, f"/payments/charges/{charge.pk}/start")
    assert response.status_code == 200, response.content
    body = response.json()
    payment = Payment.objects.get()
    assert body["checkout_url"] == f"/payments/sandbox/checkout/{payment.out_trade_no}/"
    assert body["payment"]["status"] == PaymentStatus.PENDING and body["payment"]["provider"] == "sandbox"
    assert body["charge"]["amount_yuan"] == "25.90" and body["charge"]["status"] == "open"

    flow.checkout(body["checkout_url"], payer)
    flow.settle()
    flow.refund(charge, 590)

    body = get(payer, f"/payments/charges/{charge.pk}").json()
    assert body["status"] == "paid" and body["status_label"] == "paid" and body["paid_at"]
    assert (body["refunded_fen"], body["refund_pending_fen"]) == (0, 590)
    assert [p["status"] for p in body["payments"]] == ["succeeded"]
    assert [(r["amount_fen"], r["status"]) for r in body["refunds"]] == [(590, "pending")]


def test_a_hospital_administrator_may_read_a_charge_but_not_pay_it(flow, payer):
    charge = flow.charge(payer)
    admin = StaffUserFactory(role=Role.ADMIN)
    assert get(admin, f"/payments/charges/{charge.pk}").json()["reference"] == charge.reference
    refused = post(admin, f"/payments/charges/{charge.pk}/start")
    assert refused.status_code == 404 and error_of(refused)["code"] == "not_found"


def test_someone_else_gets_404_exactly_like_a_missing_charge(flow, payer, stranger):
    charge = flow.charge(payer)
    for path in (f"/payments/charges/{charge.pk}", "/payments/charges/999999"):
        response = get(stranger, path)
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    doctor = StaffUserFactory(role=Role.DOCTOR)
    assert get(doctor, f"/payments/charges/{charge.pk}").status_code == 404
    response = post(stranger, f"/payments/charges/{charge.pk}/start")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    assert Payment.objects.count() == 0


def test_refusals_have_their_codes_in_the_users_language(flow, payer):
    charge = flow.charge(payer)
    response = post(payer, f"/payments/charges/{charge.pk}/start?provider=alipay")
    assert response.status_code == 422 and error_of(response)["code"] == "unknown_provider"

    flow.cancel(charge)
    response = post(payer, f"/payments/charges/{charge.pk}/start", language="zh-hans")
    error = error_of(response)
    assert response.status_code == 409 and error["code"] == "charge_not_open"
    assert "已无法支付" in error["message"] and "已取消" in error["message"]


def test_without_credentials_it_is_401():
    client = Client()
    assert client.get("/api/payments/charges/1").status_code == 401
    assert client.post("/api/payments/charges/1/start").status_code == 401


def test_the_openapi_document_lists_the_payment_endpoints():
    paths = Client().get("/api/openapi.json").json()["paths"]
    assert "/api/payments/charges/{charge_id}" in paths
    assert "/api/payments/charges/{charge_id}/start" in paths
