"""Ordering medicines from a prescription: who may order, from which prescription, to which address, at what
price, and one live order per prescription. Every refusal carries its code and leaves the database as it was."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from ihospital.core.models import AuditAction, AuditEvent, AuditOutcome
from ihospital.core.transitions import timeline
from ihospital.payments.models import Charge, ChargeStatus
from ihospital.pharmacy import services, tasks
from ihospital.pharmacy.models import Address, Order, OrderLine, OrderStatus, Reservation
from ihospital.prescriptions.models import Prescription
from tests.factories import PatientFactory
from tests.pharmacy.factories import ADDRESS, address, approved, lots, ordered, other_patient_rx, state
from tests.prescriptions.factories import DrugFactory, item, nifedipine, refused, reject, signed

pytestmark = pytest.mark.django_db


# ---- the order itself ---------------------------------------------------------------------------------------------


def test_an_order_from_an_approved_prescription_is_priced_holds_stock_and_opens_a_charge(pharmacy, rx, patient):
    home = address(patient)
    with pharmacy.capture(execute=True):
        order = services.create_order(actor=patient.user, prescription_id=rx.pk, fulfilment="delivery",
                                      address_id=home.pk)

    assert order.status == OrderStatus.CREATED
    assert order.number == f"MO{timezone.localdate():%Y%m%d}{order.pk:06d}"
    assert (order.patient_id, order.placed_by_id, order.prescription_id) == (patient.pk, patient.user.pk, rx.pk)
    # The address as it was, copied onto the order.
    assert (order.recipient, order.recipient_phone) == ("李秀英", "+8613912345678")
    assert order.delivery_address == "山西省太原市小店区长风街 18 号 3 单元 502 室"
    (line,) = order.lines.all()
    assert (line.drug.sku, line.quantity, line.unit_price_fen, line.line_fen) == ("CV-AML-5", 1, 1500, 1500)
    assert (order.items_fen, order.delivery_fee_fen, order.total_fen, order.cold_chain) == (1500, 1000, 2500, False)
    # Held for 30 minutes: the charge expires then, and the order's timeout task runs then.
    assert abs(order.hold_until - (order.created_at + timedelta(minutes=30))) < timedelta(seconds=5)
    charge = Charge.objects.get(pk=order.charge_id)
    assert (charge.reference, charge.amount_fen, charge.payer_id, charge.status) == (
        f"order:{order.pk}", 2500, patient.user.pk, ChargeStatus.OPEN)
    assert charge.expires_at == order.hold_until
    (task,) = DBTaskResult.objects.filter(task_path=tasks.cancel_unpaid_order.module_path)
    assert task.args_kwargs["args"] == [order.pk] and task.run_after == order.hold_until
    # One package of the lot is held.
    assert lots(line.drug) == [(lots(line.drug)[0][0], 20, 1)]
    assert Reservation.objects.get(line=line).quantity == 1
    assert AuditEvent.objects.filter(action=AuditAction.CREATE, object_type="pharmacy.order",
                                     object_id=str(order.pk), patient_id=patient.pk).exists()


def test_a_proxy_orders_for_the_patient_and_pays_it(pharmacy, rx, patient, relative):
    order = pharmacy.order(rx, actor=relative)

    assert (order.patient_id, order.placed_by_id) == (patient.pk, relative.pk)
    assert Charge.objects.get(pk=order.charge_id).payer_id == relative.pk
    assert Address.objects.get(pk=order.address_id).created_by_id == relative.pk


def test_pickup_has_no_address_and_no_fee(pharmacy, rx):
    order = pharmacy.order(rx, fulfilment="pickup")

    assert (order.fulfilment, order.address_id, order.delivery_address) == ("pickup", None, "")
    assert (order.items_fen, order.delivery_fee_fen, order.total_fen) == (1500, 0, 1500)


# ---- which prescription ---------------------------------------------------------------------------------------------


def test_a_prescription_not_yet_approved_cannot_be_ordered(doc, patient, diagnosis):
    rx = signed(doc, patient, condition=diagnosis)
    home = address(patient)
    before = state()

    error = refused("prescription_not_approved", services.create_order, actor=patient.user, prescription_id=rx.pk,
                    fulfilment="delivery", address_id=home.pk)

    assert error.status == 409
    assert state() == before


def test_a_rejected_prescription_cannot_be_ordered(doc, patient, pharmacist, diagnosis):
    rx = reject(pharmacist, signed(doc, patient, condition=diagnosis))
    before = state()

    refused("prescription_not_approved", services.create_order, actor=patient.user, prescription_id=rx.pk,
            fulfilment="pickup")
    assert state() == before


def test_an_expired_prescription_cannot_be_ordered(rx, patient):
    Prescription.objects.filter(pk=rx.pk).update(valid_until=timezone.now() - timedelta(minutes=1))
    before = state()

    error = refused("prescription_expired", services.create_order, actor=patient.user, prescription_id=rx.pk,
                    fulfilment="pickup")

    assert error.status == 409
    assert state() == before


def test_a_dispensed_prescription_cannot_be_ordered_again(pharmacy, rx, pharmacist):
    order = pharmacy.pay(pharmacy.order(rx, fulfilment="pickup"))
    pharmacy.dispense(order, pharmacist)

    refused("prescription_not_approved", services.create_order, actor=rx.patient.user, prescription_id=rx.pk,
            fulfilment="pickup")


# ---- who may order ---------------------------------------------------------------------------------------------------


def test_another_patient_cannot_order_and_the_attempt_is_audited(rx, patient):
    stranger = PatientFactory()
    before = state()

    error = refused("not_found", services.create_order, actor=stranger.user, prescription_id=rx.pk,
                    fulfilment="pickup")

    assert error.status == 404
    assert state() == before
    event = AuditEvent.objects.get(actor=stranger.user, outcome=AuditOutcome.DENIED,
                                   object_type="prescriptions.prescription", object_id=str(rx.pk))
    assert event.patient_id == patient.pk


def test_a_revoked_proxy_cannot_order(rx, patient, relative):
    from ihospital.accounts import services as accounts
    from ihospital.accounts.models import Proxy

    link = Proxy.objects.get(patient=patient, proxy_user=relative)
    accounts.revoke_proxy(actor=patient.user, proxy_id=link.pk, reason="不再代办")
    before = state()

    refused("not_found", services.create_order, actor=relative, prescription_id=rx.pk, fulfilment="pickup")
    assert state() == before


@pytest.mark.parametrize("role", ["pharmacist", "doctor"])
def test_staff_cannot_order_for_a_patient(rx, pharmacist, doc, role):
    actor = pharmacist if role == "pharmacist" else doc.user
    before = state()

    refused("not_found", services.create_order, actor=actor, prescription_id=rx.pk, fulfilment="pickup")
    assert state() == before


def test_an_unknown_prescription_is_not_found(patient):
    refused("not_found", services.create_order, actor=patient.user, prescription_id=999999, fulfilment="pickup")


# ---- where to --------------------------------------------------------------------------------------------------------


def test_delivery_needs_an_address(rx, patient):
    before = state()

    error = refused("address_required", services.create_order, actor=patient.user, prescription_id=rx.pk,
                    fulfilment="delivery")

    assert error.fields == {"address_id": None}
    assert state() == before


def test_delivery_to_another_patients_address_is_refused(rx, patient):
    theirs = address(PatientFactory())
    before = state()

    refused("address_required", services.create_order, actor=patient.user, prescription_id=rx.pk,
            fulfilment="delivery", address_id=theirs.pk)
    assert state() == before


def test_delivery_to_an_archived_address_is_refused(rx, patient):
    home = address(patient)
    services.archive_address(actor=patient.user, address_id=home.pk)
    before = state()

    refused("address_required", services.create_order, actor=patient.user, prescription_id=rx.pk,
            fulfilment="delivery", address_id=home.pk)
    assert state() == before


def test_an_unknown_fulfilment_is_refused(rx, patient):
    before = state()

    error = refused("invalid_fulfilment", services.create_order, actor=patient.user, prescription_id=rx.pk,
                    fulfilment="drone")

    assert error.fields == {"fulfilment": "drone"}
    assert state() == before


# ---- addresses -------------------------------------------------------------------------------------------------------


def test_an_address_is_saved_with_the_mobile_in_e164_and_audited(patient, relative):
    saved = address(patient, relative, label=" 女儿家 ", latitude="37.8273", longitude=112.5614)

    assert (saved.patient_id, saved.created_by_id, saved.phone, saved.label) == (
        patient.pk, relative.pk, "+8613912345678", "女儿家")
    assert (saved.latitude, saved.longitude) == (Decimal("37.827300"), Decimal("112.561400"))
    assert saved.one_line == "山西省太原市小店区长风街 18 号 3 单元 502 室"
    assert AuditEvent.objects.filter(action=AuditAction.CREATE, object_type="pharmacy.address",
                                     object_id=str(saved.pk), actor=relative).exists()


@pytest.mark.parametrize("phone", ["12345", "0351-4960000", "", "电话"])
def test_an_address_needs_a_valid_mobile(patient, phone):
    before = state()

    error = refused("invalid_phone", services.save_address, actor=patient.user, patient_id=patient.pk,
                    **{**ADDRESS, "phone": phone})

    assert "phone" in error.fields
    assert state() == before


@pytest.mark.parametrize(("field", "value"), [
    ("recipient", ""), ("recipient", "   "), ("province", ""), ("city", ""), ("district", ""), ("detail", ""),
    ("recipient", "李" * 65), ("detail", "路" * 201), ("postal_code", "0300"), ("postal_code", "03000A"),
])
def test_an_address_with_a_missing_or_bad_field_is_refused(patient, field, value):
    before = state()

    error = refused("invalid_address", services.save_address, actor=patient.user, patient_id=patient.pk,
                    **{**ADDRESS, field: value})

    assert field in error.fields
    assert state() == before


@pytest.mark.parametrize(("latitude", "longitude"), [(91, 112), (37, 181), ("north", "east")])
def test_coordinates_off_the_map_are_refused(patient, latitude, longitude):
    before = state()

    refused("invalid_address", services.save_address, actor=patient.user, patient_id=patient.pk, **ADDRESS,
            latitude=latitude, longitude=longitude)
    assert state() == before


def test_an_address_for_someone_else_is_refused(patient):
    stranger = PatientFactory()
    before = state()

    refused("not_found", services.save_address, actor=stranger.user, patient_id=patient.pk, **ADDRESS)
    assert state() == before


def test_archiving_an_address_keeps_it_for_the_orders_sent_there(pharmacy, rx, patient):
    home = address(patient)
    order = pharmacy.order(rx, to=home)

    services.archive_address(actor=patient.user, address_id=home.pk)

    home.refresh_from_db()
    assert home.archived
    order.refresh_from_db()
    assert order.address_id == home.pk and order.delivery_address == home.one_line
    # Archived twice: it is gone for the patient.
    refused("not_found", services.archive_address, actor=patient.user, address_id=home.pk)


# ---- prices ----------------------------------------------------------------------------------------------------------


def test_each_line_is_the_package_price_times_the_packages_and_the_total_adds_up(doc, patient, pharmacist, diagnosis):
    cheap = DrugFactory(price_fen=350, package_size=7)  # 4 packages for 28 days
    rx = approved(doc, patient, pharmacist, item(nifedipine()), item(cheap), condition=diagnosis)

    order = ordered(rx)

    lines = {line.drug.sku: (line.quantity, line.unit_price_fen, line.line_fen)
             for line in OrderLine.objects.filter(order=order).select_related("drug")}
    assert lines == {"CV-NIF-30": (4, 1500, 6000), cheap.sku: (4, 350, 1400)}
    assert (order.items_fen, order.delivery_fee_fen, order.total_fen) == (7400, 1000, 8400)
    assert Charge.objects.get(pk=order.charge_id).amount_fen == 8400


@pytest.fixture
def bands(settings):
    settings.DELIVERY_FEE_BANDS = [[5, 600], [20, 1200], [100, 2000]]
    settings.PHARMACY_LATITUDE = 37.8570
    settings.PHARMACY_LONGITUDE = 112.5590


@pytest.mark.parametrize(("latitude", "longitude", "fee"), [
    ("37.8570", "112.5590", 600),   # at the pharmacy's door
    ("37.8800", "112.5590", 600),   # ~2.6 km north
    ("37.9500", "112.5590", 1200),  # ~10 km north
    ("38.3000", "112.5590", 2000),  # ~49 km north
    ("39.9042", "116.4074", 2000),  # Beijing, beyond the last band: the last band's fee
])
def test_the_delivery_fee_goes_by_distance_band_when_the_address_is_on_the_map(
        pharmacy, rx, patient, bands, latitude, longitude, fee):
    order = pharmacy.order(rx, to=address(patient, latitude=latitude, longitude=longitude))

    assert (order.delivery_fee_fen, order.total_fen) == (fee, 1500 + fee)


def test_an_address_without_coordinates_pays_the_flat_fee_even_with_bands(pharmacy, rx, patient, bands, settings):
    settings.DELIVERY_FEE_FEN = 800
    order = pharmacy.order(rx, to=address(patient))

    assert (order.delivery_fee_fen, order.total_fen) == (800, 2300)


def test_a_cold_chain_drug_flags_the_order_and_adds_the_surcharge(doc, patient, pharmacist, diagnosis, bands):
    insulin = DrugFactory(cold_chain_pen=True, price_fen=8900)
    rx = approved(doc, patient, pharmacist, item(insulin, dose=Decimal(10)), item(nifedipine()),
                  condition=diagnosis)

    order = ordered(rx, to=address(patient, latitude="37.8800", longitude="112.5590"))

    assert order.cold_chain
    assert (order.items_fen, order.delivery_fee_fen, order.total_fen) == (8900 + 6000, 600 + 1500, 17000)
    # Picked up at the counter: no delivery, so no fee and no surcharge (the flag stays for the pharmacy).
    services.cancel_order(actor=patient.user, order_id=order.pk, reason="改为自取")
    pickup = ordered(rx, fulfilment="pickup")
    assert pickup.cold_chain and (pickup.delivery_fee_fen, pickup.total_fen) == (0, 14900)


# ---- one live order per prescription ---------------------------------------------------------------------------


def test_a_second_order_for_the_same_prescription_is_refused(pharmacy, rx, patient, relative):
    first = pharmacy.order(rx)
    home = Address.objects.get(pk=first.address_id)
    before = state()

    error = refused("order_exists", ordered, rx, actor=relative, to=home)

    assert error.status == 409
    assert state() == before
    assert Order.objects.get().pk == first.pk


def test_after_cancelling_the_prescription_may_be_ordered_again(pharmacy, rx, patient):
    first = pharmacy.order(rx)
    services.cancel_order(actor=patient.user, order_id=first.pk, reason="地址写错了")

    second = pharmacy.order(rx, fulfilment="pickup")

    assert second.pk != first.pk and second.status == OrderStatus.CREATED
    assert [o.status for o in Order.objects.order_by("pk")] == [OrderStatus.CANCELLED, OrderStatus.CREATED]
    (drug_lot,) = lots(rx.items.get().drug)
    assert drug_lot[1:] == (20, 1)


def test_the_one_live_order_rule_is_the_databases(pharmacy, rx, patient):
    """Even past the service's checks (two requests at once), the partial unique index makes one live order."""
    first = pharmacy.order(rx)
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.create(number="DUP", patient=patient, placed_by=patient.user, prescription=rx,
                             fulfilment="pickup", items_fen=1500, delivery_fee_fen=0, total_fen=1500,
                             hold_until=first.hold_until)


def test_ordering_is_recorded_on_the_orders_timeline_only_when_it_moves(pharmacy, rx, patient):
    order = pharmacy.order(rx)
    assert list(timeline(order)) == []
    pharmacy.pay(order)
    assert [(e.from_status, e.to_status) for e in timeline(order)] == [("created", "paid")]


def test_stranger_prescriptions_stay_theirs(doc, pharmacist, patient):
    theirs = other_patient_rx(doc, pharmacist)

    refused("not_found", services.create_order, actor=patient.user, prescription_id=theirs.pk, fulfilment="pickup")
    assert not Order.objects.exists()

