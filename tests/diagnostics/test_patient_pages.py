"""The patient's medical-test pages (own and as a proxy), booking through the page, the role-aware order page and
the image previews."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from ihospital.diagnostics import booking, imaging, results
from ihospital.diagnostics.models import Booking, DiagnosticOrder, OrderStatus
from tests.diagnostics import dicomgen
from tests.diagnostics.factories import (
    AnalyteFactory,
    DiagnosticOrderFactory,
    DiagnosticTestFactory,
    ReferenceRangeFactory,
    ResourceFactory,
    ResourceSlotFactory,
)
from tests.factories import PatientFactory, TOTPDeviceFactory
from tests.helpers import verify_session

pytestmark = pytest.mark.django_db
D = Decimal


def signed_in(user) -> Client:
    type(user).objects.filter(pk=user.pk).update(language="en")
    client = Client()
    client.force_login(user)
    if user.needs_second_factor:
        device = user.totpdevice_set.first() or TOTPDeviceFactory(user=user)
        verify_session(client, device)
    return client


def text(response) -> str:
    return response.content.decode()


def make_order(test, doctor, patient, encounter, status=OrderStatus.ORDERED):
    order = DiagnosticOrderFactory(test=test, doctor=doctor, patient=patient, encounter=encounter)
    if status != OrderStatus.ORDERED:
        DiagnosticOrder.objects.filter(pk=order.pk).update(status=status)
        order.refresh_from_db()
    return order


@pytest.fixture
def panel():
    test = DiagnosticTestFactory(code="lipids", name_en="Lipid panel", preparation={"fasting_hours": 10})
    ldl = AnalyteFactory(test=test, code="ldl", name_en="LDL cholesterol", unit="mmol/L", position=1)
    ReferenceRangeFactory(analyte=ldl, low=None, high=D("3.4"), critical_low=None, critical_high=D("10"))
    glu = AnalyteFactory(test=test, code="glu", name_en="Fasting glucose", unit="mmol/L", position=2)
    ReferenceRangeFactory(analyte=glu)
    return test


@pytest.fixture
def resource(panel):
    return ResourceFactory(tests=[panel], name_en="Blood draw station")


@pytest.fixture
def slot(resource):
    return ResourceSlotFactory(resource=resource, capacity=1)


def resulted(panel, doctor, patient, encounter, lab_tech, values):
    order = make_order(panel, doctor, patient, encounter, status=OrderStatus.COLLECTED)
    results.record(actor=lab_tech, order_id=order.pk, values=values)
    order.refresh_from_db()
    return order


@pytest.fixture
def lab_result(panel, doctor, patient, encounter, lab_tech):
    return resulted(panel, doctor, patient, encounter, lab_tech,
                    [{"analyte": "ldl", "value": "4.2"}, {"analyte": "glu", "value": "5.0"}])


# ---- home --------------------------------------------------------------------------------------------------------


def test_home_lists_to_book_upcoming_and_results(panel, slot, doctor, patient, encounter, lab_tech, lab_result):
    to_book = make_order(panel, doctor, patient, encounter)
    upcoming = make_order(panel, doctor, patient, encounter)
    booking.book(actor=patient.user, order_id=upcoming.pk, slot_id=slot.pk)
    page = text(signed_in(patient.user).get(reverse("diagnostics:home")))
    assert f'data-testid="book-{to_book.pk}"' in page
    assert "Blood draw station" in page
    assert "Do not eat for 10 hours" in page
    assert timezone.localtime(slot.starts_at).strftime("%H:%M") in page
    assert f'data-testid="waiting-{lab_result.pk}"' in page and "waiting for the doctor" in page
    assert 'data-testid="abnormal-count"' not in page

    results.sign_off(actor=doctor.user, order_id=lab_result.pk)
    page = text(signed_in(patient.user).get(reverse("diagnostics:home")))
    assert f'data-testid="result-{lab_result.pk}"' in page
    assert "1 value outside the normal range" in page


def test_a_proxy_sees_the_patients_tests(panel, doctor, patient, encounter, relative):
    order = make_order(panel, doctor, patient, encounter)
    client = signed_in(relative)
    client.post(reverse("accounts:act_for"), {"patient_id": patient.pk, "next": "/diagnostics/"})
    page = text(client.get(reverse("diagnostics:home")))
    assert f'data-testid="book-{order.pk}"' in page
    assert client.get(reverse("diagnostics:order", args=[order.pk])).status_code == 200


def test_staff_get_no_patient_home(doctor):
    assert signed_in(doctor.user).get(reverse("diagnostics:home")).status_code == 403


# ---- the order page ----------------------------------------------------------------------------------------------


def test_another_patients_order_is_404(panel, doctor, patient, encounter, lab_result):
    stranger = PatientFactory()
    client = signed_in(stranger.user)
    for name in ("order", "book", "report_pdf"):
        assert client.get(reverse(f"diagnostics:{name}", args=[lab_result.pk])).status_code == 404


def test_results_hidden_until_released(doctor, patient, lab_tech, lab_result):
    url = reverse("diagnostics:order", args=[lab_result.pk])
    page = text(signed_in(patient.user).get(url))
    assert 'data-testid="waiting"' in page
    assert "4.2" not in page and 'data-testid="values"' not in page
    assert signed_in(patient.user).get(reverse("diagnostics:report_pdf", args=[lab_result.pk])).status_code == 404

    # The ordering doctor and the lab see the values before release.
    for user in (doctor.user, lab_tech):
        page = text(signed_in(user).get(url))
        assert 'data-testid="row-ldl"' in page and "4.2" in page

    results.sign_off(actor=doctor.user, order_id=lab_result.pk)
    page = text(signed_in(patient.user).get(url))
    assert 'data-testid="waiting"' not in page
    assert 'data-testid="row-ldl"' in page and "4.2" in page
    assert 'data-flag="H"' in page and "high" in page  # the flag has its text, not only a colour
    assert "≤3.4 mmol/L" in page
    assert 'data-testid="pdf-link"' in page
    assert f"Released by {doctor.user.real_name}" in page


# ---- booking through the page ------------------------------------------------------------------------------------


def test_book_reschedule_and_cancel(panel, resource, slot, doctor, patient, encounter):
    order = make_order(panel, doctor, patient, encounter)
    client = signed_in(patient.user)
    url = reverse("diagnostics:book", args=[order.pk])
    day = timezone.localtime(slot.starts_at).date().isoformat()
    page = text(client.get(url, {"day": day}))
    assert f'data-testid="slot-{slot.pk}"' in page
    response = client.post(url, {"action": "book", "slot_id": slot.pk, "day": day})
    assert response.status_code == 302 and response["Location"] == reverse("diagnostics:order", args=[order.pk])
    order.refresh_from_db()
    assert order.status == OrderStatus.BOOKED

    other = ResourceSlotFactory(resource=resource, starts_at=slot.starts_at + timedelta(minutes=30))
    response = client.post(url, {"action": "reschedule", "slot_id": other.pk, "day": day})
    assert response.status_code == 302
    assert Booking.objects.get(order=order).slot_id == other.pk

    # Cancelling needs a reason; the refusal is shown in place.
    response = client.post(url, {"action": "cancel", "reason": ""})
    assert response.status_code == 400 and 'data-code="reason_required"' in text(response)
    response = client.post(url, {"action": "cancel", "reason": "I am abroad"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.ORDERED
    assert 'data-testid="booking"' not in text(client.get(reverse("diagnostics:order", args=[order.pk])))

    # Booking again is the second move (after the reschedule); cancelling then leaves none, and the page says so.
    response = client.post(url, {"action": "book", "slot_id": slot.pk, "day": day})
    assert response.status_code == 302 and Booking.objects.live().get(order=order).reschedules == 2
    response = client.post(url, {"action": "cancel", "reason": "Still abroad"}, follow=True)
    assert "moved too many times to be booked again online" in text(response)
    assert Booking.objects.filter(order=order).count() == 2 and not Booking.objects.live().exists()


def test_a_refusal_is_shown_in_place(panel, resource, slot, doctor, patient, encounter):
    order = make_order(panel, doctor, patient, encounter)
    other = make_order(panel, doctor, patient, encounter)
    booking.book(actor=patient.user, order_id=other.pk, slot_id=slot.pk)  # the only place is taken
    response = signed_in(patient.user).post(reverse("diagnostics:book", args=[order.pk]),
                                            {"action": "book", "slot_id": slot.pk})
    assert response.status_code == 409
    assert 'data-code="slot_full"' in text(response)
    order.refresh_from_db()
    assert order.status == OrderStatus.ORDERED


def test_morning_only_refusal(doctor, patient, encounter):
    test = DiagnosticTestFactory(code="fbg", preparation={"fasting_hours": 8, "morning_only": True})
    afternoon = ResourceSlotFactory(resource=ResourceFactory(tests=[test]), starts_at=timezone.make_aware(
        timezone.datetime.combine(timezone.localdate() + timedelta(days=2), timezone.datetime.min.time()))
        + timedelta(hours=15))
    order = make_order(test, doctor, patient, encounter)
    response = signed_in(patient.user).post(reverse("diagnostics:book", args=[order.pk]),
                                            {"action": "book", "slot_id": afternoon.pk})
    assert response.status_code == 400 and 'data-code="fasting_morning_only"' in text(response)


# ---- imaging and previews ----------------------------------------------------------------------------------------


@pytest.fixture
def ct_order(doctor, patient, encounter):
    test = DiagnosticTestFactory(code="ct-abd", kind="imaging", modality="CT", specimen="",
                                 preparation={"contrast": True, "fasting_hours": 4})
    return make_order(test, doctor, patient, encounter, status=OrderStatus.CHECKED_IN)


@pytest.fixture
def instance(ct_order, patient, lab_tech):
    ds = dicomgen.ct(patient_id=patient.mrn, patient_name=patient.user.real_name, birth_date=patient.birth_date,
                     sex=patient.sex)
    data = dicomgen.to_bytes(ds)
    return imaging.upload(actor=lab_tech, order_id=ct_order.pk,
                          file=SimpleUploadedFile("a.dcm", data, content_type="application/dicom"))


def test_preview_scoping_and_presets(ct_order, instance, doctor, patient):
    url = reverse("diagnostics:preview", args=[instance.pk])
    client = signed_in(patient.user)
    assert client.get(url).status_code == 404
    assert 'data-testid="image"' not in text(client.get(reverse("diagnostics:order", args=[ct_order.pk])))
    assert signed_in(PatientFactory().user).get(url).status_code == 404

    imaging.report(actor=doctor.user, order_id=ct_order.pk, findings="No mass.", impression="Normal abdomen.")
    results.sign_off(actor=doctor.user, order_id=ct_order.pk)
    response = client.get(url, {"wl": "lung"})
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Cache-Control"] == "no-store, private"
    assert response.content.startswith(b"\x89PNG")
    assert client.get(url, {"wl": "-600,1500"}).status_code == 200
    assert client.get(url, {"wl": "nonsense"}).status_code == 400

    page = text(client.get(reverse("diagnostics:order", args=[ct_order.pk]), {"wl": "bone"}))
    assert "Normal abdomen." in page and "No mass." in page
    assert f'{url}?wl=bone' in page
    for preset in ("brain", "abdomen", "lung", "bone"):
        assert f'data-testid="preset-{preset}"' in page


def test_the_doctor_sees_images_before_release(ct_order, instance, doctor):
    client = signed_in(doctor.user)
    assert client.get(reverse("diagnostics:preview", args=[instance.pk])).status_code == 200
    assert 'data-testid="image"' in text(client.get(reverse("diagnostics:order", args=[ct_order.pk])))


def test_upcoming_exam_shows_contrast_preparation(ct_order, patient):
    DiagnosticOrder.objects.filter(pk=ct_order.pk).update(status=OrderStatus.ORDERED)
    page = text(signed_in(patient.user).get(reverse("diagnostics:order", args=[ct_order.pk])))
    assert 'data-testid="preparation"' in page and "contrast" in page
