"""The medicine order pages with Django's test client: each page reaches its selector or service, shows a refusal
with the service's message and status, answers 404 for someone else's order, and the live parts answer without the
layout. The workflow rules themselves are tested in ``tests/pharmacy``; the browser journeys in
``tests/e2e/test_pharmacy.py``.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from ihospital.pharmacy.models import Order, OrderStatus
from tests.pharmacy import conftest as pharmacy_fixtures
from tests.pharmacy.factories import address, approved, other_patient_rx, state
from tests.prescriptions.factories import DrugFactory, item
from tests.web.test_prescription_pages import page, signed_in

pytestmark = pytest.mark.django_db

# The pharmacy tests' fixtures: predictable prices and the payments sandbox through the test client (``pharmacy``),
# the prescription tests' doctor, diagnosis, pharmacist and relative, and the approved prescription ``rx``.
_own_channel_layer = pharmacy_fixtures._own_channel_layer
_pharmacy_settings = pharmacy_fixtures._pharmacy_settings
department = pharmacy_fixtures.department
doc = pharmacy_fixtures.doc
diagnosis = pharmacy_fixtures.diagnosis
relative = pharmacy_fixtures.relative
pharmacist = pharmacy_fixtures.pharmacist
flow = pharmacy_fixtures.flow
pharmacy = pharmacy_fixtures.pharmacy
rx = pharmacy_fixtures.rx


def order_of(rx) -> Order:
    return Order.objects.get(prescription=rx)


def post(pharmacy, client, url: str, data: dict | None = None):
    """A POST whose after-commit work (tasks, live events) runs, as it would in the server."""
    with pharmacy.capture(execute=True):
        return client.post(url, data or {})


def checkout(pharmacy, client, rx, destination: str) -> tuple[Order, str]:
    response = post(pharmacy, client, f"/pharmacy/order/{rx.pk}/", {"destination": destination})
    assert response.status_code == 302, page(response)
    return order_of(rx), response["Location"]


# ---- ordering ---------------------------------------------------------------------------------------------------


def test_the_order_page_prices_delivery_and_pickup_and_paying_leads_to_the_sandbox_and_back(pharmacy, rx, patient):
    home = address(patient)
    client = signed_in(patient.user)
    html = page(client.get(f"/pharmacy/order/{rx.pk}/"))
    # Delivery to the saved address is chosen; ¥15.00 of medicines + ¥10.00 delivery.
    assert f'value="address:{home.pk}" checked' in html
    assert 'data-testid="delivery-fee">¥10.00' in html and 'data-testid="total">¥25.00' in html
    pickup = client.get(f"/pharmacy/order/{rx.pk}/?part=summary&destination=pickup")
    assert pickup.status_code == 200 and "<html" not in page(pickup)
    assert "delivery-fee" not in page(pickup) and 'data-testid="total">¥15.00' in page(pickup)

    order, url = checkout(pharmacy, client, rx, f"address:{home.pk}")
    assert (order.status, order.total_fen, order.address_id) == (OrderStatus.CREATED, 2500, home.pk)
    parts = urlsplit(url)
    assert parts.path.startswith("/payments/sandbox/checkout/")
    assert parse_qs(parts.query)["next"] == [f"/pharmacy/orders/{order.pk}/"]
    # The sandbox page's way back is the order's page.
    assert f'name="next" value="/pharmacy/orders/{order.pk}/"' in page(client.get(url))
    # Ordering again (a double tap, or another tab) leads to the same order, and makes no second one.
    again = post(pharmacy, client, f"/pharmacy/order/{rx.pk}/", {"destination": "pickup"})
    assert again.status_code == 302 and again["Location"] == f"/pharmacy/orders/{order.pk}/"
    assert Order.objects.filter(prescription=rx).count() == 1


def test_a_cold_chain_surcharge_is_shown_apart(pharmacy, doc, patient, pharmacist, diagnosis):
    insulin = DrugFactory(sku="DM-GLA-T", cold_chain=True, price_fen=7200, dose_unit="IU", unit_amount=300,
                          dispensing_unit="pen", package_size=1, package_unit="pen")
    cold = approved(doc, patient, pharmacist, item(insulin, dose="10", frequency="qd", duration_days=28),
                    condition=diagnosis)
    address(patient)
    html = page(signed_in(patient.user).get(f"/pharmacy/order/{cold.pk}/"))
    assert 'data-testid="cold-chain"' in html
    assert 'data-testid="cold-surcharge">¥15.00' in html and 'data-testid="delivery-fee">¥10.00' in html


def test_an_unapproved_prescription_cannot_be_ordered_and_says_why(pharmacy, rx, patient):
    from ihospital.prescriptions.models import Prescription, RxStatus

    Prescription.objects.filter(pk=rx.pk).update(status=RxStatus.SIGNED)
    client = signed_in(patient.user)
    html = page(client.get(f"/pharmacy/order/{rx.pk}/"))
    assert 'data-testid="refusal"' in html and "药师审核通过的处方" in html and 'data-testid="pay"' not in html
    before = state()
    response = post(pharmacy, client, f"/pharmacy/order/{rx.pk}/", {"destination": "pickup"})
    assert response.status_code == 409 and 'data-testid="page-error"' in page(response)
    assert state() == before


def test_delivery_needs_an_address_and_a_new_one_is_checked_then_chosen(pharmacy, rx, patient):
    client = signed_in(patient.user)
    # No saved address: the form to add one is open; delivery without one is refused with the message.
    assert "new-address\" open" in page(client.get(f"/pharmacy/order/{rx.pk}/"))
    refused = post(pharmacy, client, f"/pharmacy/order/{rx.pk}/", {"destination": "address:999999"})
    assert refused.status_code == 400 and "请选择收货地址" in page(refused)
    bad = post(pharmacy, client, f"/pharmacy/order/{rx.pk}/address/",
               {"recipient": "李秀英", "phone": "12345", "province": "山西省", "city": "太原市", "district": "小店区",
                "detail": "长风街 18 号"})
    assert bad.status_code == 400 and "有效的手机号" in page(bad) and 'id="id_phone_error"' in page(bad)
    good = post(pharmacy, client, f"/pharmacy/order/{rx.pk}/address/",
                {"recipient": "李秀英", "phone": "13912345678", "province": "山西省", "city": "太原市",
                 "district": "小店区", "detail": "长风街 18 号", "label": "家"})
    saved = patient.addresses.get()
    assert good.status_code == 302 and good["Location"].endswith(f"?destination=address:{saved.pk}#destination")
    assert f'value="address:{saved.pk}" checked' in page(client.get(good["Location"]))


def test_someone_elses_prescription_and_order_are_not_found(pharmacy, rx, patient, doc, pharmacist):
    theirs = other_patient_rx(doc, pharmacist)
    order = pharmacy.order(theirs, fulfilment="pickup")
    client = signed_in(patient.user)
    assert client.get(f"/pharmacy/order/{theirs.pk}/").status_code == 404
    assert post(pharmacy, client, f"/pharmacy/order/{theirs.pk}/", {"destination": "pickup"}).status_code == 404
    for url in (f"/pharmacy/orders/{order.pk}/", f"/pharmacy/orders/{order.pk}/?part=live"):
        assert client.get(url).status_code == 404
    for url in ("pay", "cancel", "received"):
        assert post(pharmacy, client, f"/pharmacy/orders/{order.pk}/{url}/").status_code == 404
    assert client.get(f"/pharmacy/orders/{order.pk}/dispense/").status_code == 403
    assert client.get("/pharmacy/worklist/").status_code == 403


# ---- my orders ----------------------------------------------------------------------------------------------------


def test_my_orders_and_an_unpaid_order_with_its_deadline_pay_again_and_cancel(pharmacy, rx, patient):
    order = pharmacy.order(rx, fulfilment="pickup")
    client = signed_in(patient.user)
    html = page(client.get("/pharmacy/orders/"))
    assert f'data-testid="order-{order.pk}" data-status="created"' in html and "data-live-refresh" in html
    assert "<html" not in page(client.get("/pharmacy/orders/?part=list"))
    html = page(client.get(f"/pharmacy/orders/{order.pk}/"))
    assert 'data-testid="pay-deadline"' in html and 'data-testid="pickup-instructions"' in html
    assert f'data-live-id="{order.pk}"' in html
    # Declined at the provider: still waiting for payment, said so, with a retry.
    pharmacy.pay(order, action="decline")
    html = page(client.get(f"/pharmacy/orders/{order.pk}/?part=live"))
    assert 'data-testid="payment-failed"' in html and "再次支付" in html and "<html" not in html
    retry = post(pharmacy, client, f"/pharmacy/orders/{order.pk}/pay/")
    assert retry.status_code == 302 and retry["Location"].startswith("/payments/sandbox/checkout/")
    # Cancelled with a reason: nothing was paid.
    done = post(pharmacy, client, f"/pharmacy/orders/{order.pk}/cancel/", {"reason": "改为线下购买"})
    assert done.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.status_reason) == (OrderStatus.CANCELLED, "改为线下购买")
    refused = post(pharmacy, client, f"/pharmacy/orders/{order.pk}/pay/")
    assert refused.status_code == 409 and 'data-testid="page-error"' in page(refused)


def test_a_relative_orders_for_the_patient_and_sees_the_orders(pharmacy, rx, patient, relative):
    client = signed_in(relative)
    client.post("/accounts/act-for/", {"patient_id": patient.pk})
    order, _url = checkout(pharmacy, client, rx, "pickup")
    assert order.placed_by_id == relative.pk
    assert f'data-testid="order-{order.pk}"' in page(client.get("/pharmacy/orders/"))
    assert client.get(f"/pharmacy/orders/{order.pk}/").status_code == 200


def test_receipt_is_confirmed_once_shipped_and_refused_before(pharmacy, rx, patient, pharmacist):
    order = pharmacy.pay(pharmacy.order(rx))
    client = signed_in(patient.user)
    early = post(pharmacy, client, f"/pharmacy/orders/{order.pk}/received/")
    assert early.status_code == 409 and 'data-testid="page-error"' in page(early)
    shipped = pharmacy.dispense(order, pharmacist)
    html = page(client.get(f"/pharmacy/orders/{shipped.pk}/"))
    assert shipped.shipments.get().tracking_no in html and 'data-testid="confirm-receipt"' in html
    # Too late to cancel once it left the pharmacy: the service's message, nothing changes.
    before = state()
    late = post(pharmacy, client, f"/pharmacy/orders/{shipped.pk}/cancel/")
    assert late.status_code == 409 and 'data-testid="page-error"' in page(late)
    assert state() == before
    assert post(pharmacy, client, f"/pharmacy/orders/{shipped.pk}/received/").status_code == 302
    shipped.refresh_from_db()
    assert shipped.status == OrderStatus.DELIVERED and shipped.received_confirmed_at is not None
    assert 'data-testid="received"' in page(client.get(f"/pharmacy/orders/{shipped.pk}/?part=live"))


def test_a_paid_order_cancelled_by_the_patient_is_refunded(pharmacy, rx, patient):
    order = pharmacy.pay(pharmacy.order(rx))
    client = signed_in(patient.user)
    assert "全额退款" in page(client.get(f"/pharmacy/orders/{order.pk}/"))
    assert post(pharmacy, client, f"/pharmacy/orders/{order.pk}/cancel/").status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.REFUNDED


# ---- the pharmacy -------------------------------------------------------------------------------------------------


def test_the_pharmacist_dispenses_from_the_worklist_through_the_work_page(pharmacy, rx, patient, pharmacist):
    order = pharmacy.pay(pharmacy.order(rx))
    client = signed_in(pharmacist)
    html = page(client.get("/pharmacy/worklist/"))
    assert f'data-testid="work-row-{order.pk}" data-status="paid"' in html and "data-live-refresh" in html
    assert "<html" not in page(client.get("/pharmacy/worklist/?part=lists"))
    assert f'href="/pharmacy/orders/{order.pk}/dispense/"' in html
    # The patient's page of the order leads the pharmacist to the work page.
    assert client.get(f"/pharmacy/orders/{order.pk}/")["Location"] == f"/pharmacy/orders/{order.pk}/dispense/"

    work = f"/pharmacy/orders/{order.pk}/dispense/"
    assert 'data-testid="start"' in page(client.get(work))
    # Handing over before picking is refused with the service's message.
    assert post(pharmacy, client, work + "start/").status_code == 302
    refused = post(pharmacy, client, work + "hand-over/")
    assert refused.status_code == 409 and "请先拣药" in page(refused)
    html = page(client.get(work))
    assert 'data-testid="held-lots"' in html and 'data-testid="pick"' in html
    assert post(pharmacy, client, work + "pick/").status_code == 302
    assert 'data-testid="dispensed-lots"' in page(client.get(work + "?part=work"))
    assert post(pharmacy, client, work + "hand-over/").status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
    tracking_no = order.shipments.get().tracking_no
    assert tracking_no in page(client.get(work))


def test_a_pickup_order_is_put_on_the_counter_then_collected(pharmacy, rx, patient, pharmacist):
    order = pharmacy.dispense(pharmacy.pay(pharmacy.order(rx, fulfilment="pickup")), pharmacist)
    assert order.status == OrderStatus.READY_FOR_PICKUP
    client = signed_in(pharmacist)
    worklist = page(client.get("/pharmacy/worklist/"))
    assert f'data-testid="work-row-{order.pk}" data-status="ready_for_pickup"' in worklist
    assert post(pharmacy, client, f"/pharmacy/orders/{order.pk}/dispense/collected/").status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED


def test_the_pharmacy_cancels_only_with_a_reason(pharmacy, rx, patient, pharmacist):
    order = pharmacy.pay(pharmacy.order(rx))
    client = signed_in(pharmacist)
    before = state()
    refused = post(pharmacy, client, f"/pharmacy/orders/{order.pk}/dispense/cancel/", {"reason": " "})
    assert refused.status_code == 400 and 'id="id_reason_error"' in page(refused)
    assert state() == before
    done = post(pharmacy, client, f"/pharmacy/orders/{order.pk}/dispense/cancel/", {"reason": "药品外包装破损"})
    assert done.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.status_reason) == (OrderStatus.REFUNDED, "药品外包装破损")


def test_the_dashboard_filters_and_counts(pharmacy, rx, patient, pharmacist, doc):
    paid = pharmacy.pay(pharmacy.order(rx))
    other = pharmacy.order(other_patient_rx(doc, pharmacist), fulfilment="pickup")
    client = signed_in(pharmacist)
    html = page(client.get("/pharmacy/dashboard/"))
    assert f'data-testid="dashboard-row-{paid.pk}"' in html and f'data-testid="dashboard-row-{other.pk}"' in html
    assert 'data-testid="count-paid">' in html
    only_paid = page(client.get("/pharmacy/dashboard/?status=paid"))
    assert f"dashboard-row-{paid.pk}" in only_paid and f"dashboard-row-{other.pk}" not in only_paid
    pickups = page(client.get("/pharmacy/dashboard/?fulfilment=pickup"))
    assert f"dashboard-row-{other.pk}" in pickups and f"dashboard-row-{paid.pk}" not in pickups
    by_number = page(client.get(f"/pharmacy/dashboard/?q={rx.number}"))
    assert f"dashboard-row-{paid.pk}" in by_number and f"dashboard-row-{other.pk}" not in by_number
    by_mrn = page(client.get(f"/pharmacy/dashboard/?q={patient.mrn}"))
    assert f"dashboard-row-{paid.pk}" in by_mrn and f"dashboard-row-{other.pk}" not in by_mrn
    bad = client.get("/pharmacy/dashboard/?since=yesterday")
    assert bad.status_code == 400 and "field-error" in page(bad) and f"dashboard-row-{paid.pk}" in page(bad)
    assert signed_in(patient.user).get("/pharmacy/dashboard/").status_code == 403


def test_the_trace_page_follows_the_package_back_to_the_prescription(pharmacy, rx, patient, pharmacist):
    order = pharmacy.dispense(pharmacy.pay(pharmacy.order(rx)), pharmacist)
    html = page(signed_in(pharmacist).get(f"/pharmacy/orders/{order.pk}/trace/"))
    rx.refresh_from_db()
    for expected in (rx.number, rx.content_hash, rx.review.seal, pharmacist.real_name,
                     order.shipments.get().tracking_no, "¥25.00"):
        assert expected in html
    lot = order.lines.get().dispenses.get().lot
    assert lot.lot_no in html and 'data-print' in html
    assert 'tr data-status="succeeded"' in html
    assert signed_in(patient.user).get(f"/pharmacy/orders/{order.pk}/trace/").status_code == 403


# ---- the way in ---------------------------------------------------------------------------------------------------


def test_the_homes_and_my_medicines_lead_to_the_orders(pharmacy, rx, patient, pharmacist):
    patient_client = signed_in(patient.user)
    assert 'data-testid="my-orders"' in page(patient_client.get("/"))
    assert f'href="/pharmacy/order/{rx.pk}/"' in page(patient_client.get("/prescriptions/"))
    assert f'href="/pharmacy/order/{rx.pk}/"' in page(patient_client.get(f"/prescriptions/{rx.pk}/"))
    pharmacy.pay(pharmacy.order(rx))
    home = page(signed_in(pharmacist).get("/"))
    assert 'data-testid="dispensing-tile"' in home and 'data-testid="orders-dashboard-tile"' in home
