"""The PDF report of an order: who may download it, and what it holds."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from ihospital.diagnostics import report_pdf, results
from ihospital.diagnostics.models import DiagnosticOrder, OrderStatus
from tests.diagnostics.factories import (
    AnalyteFactory,
    DiagnosticOrderFactory,
    DiagnosticTestFactory,
    ReferenceRangeFactory,
)
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(doctor, patient, encounter, lab_tech):
    test = DiagnosticTestFactory(code="glu", name_en="Fasting glucose", name_zh="空腹血糖")
    analyte = AnalyteFactory(test=test, code="glu", name_en="Glucose", name_zh="葡萄糖")
    ReferenceRangeFactory(analyte=analyte)
    order = DiagnosticOrderFactory(test=test, doctor=doctor, patient=patient, encounter=encounter)
    DiagnosticOrder.objects.filter(pk=order.pk).update(status=OrderStatus.COLLECTED)
    results.record(actor=lab_tech, order_id=order.pk, values=[{"analyte": "glu", "value": Decimal("7.2")}])
    order.refresh_from_db()
    return order


def ucs2(text: str) -> bytes:
    """How reportlab writes ASCII text in the CID font (and in the document title): two bytes a character."""
    return "".join(f"\\000{c}" for c in text).encode()


def test_render_holds_the_order_number_and_values(order, doctor):
    results.sign_off(actor=doctor.user, order_id=order.pk)
    order.refresh_from_db()
    pdf = report_pdf.render(order)
    assert pdf.startswith(b"%PDF") and b"/STSong-Light" in pdf
    assert order.number.encode() in pdf or ucs2(order.number) in pdf  # the title (UTF-16 when it has Chinese)
    plain = report_pdf.render(order, compress=False)
    assert plain.count(ucs2(order.number)) >= 2  # the header line and the footer
    assert ucs2("7.2") in plain
    assert ucs2(order.patient.masked_resident_id[-4:]) in plain
    assert ucs2(order.patient.resident_id[4:14]) not in plain  # masked


def test_patient_downloads_only_after_release(order, doctor, patient):
    client = Client()
    client.force_login(patient.user)
    url = reverse("diagnostics:report_pdf", args=[order.pk])
    assert client.get(url).status_code == 404
    results.sign_off(actor=doctor.user, order_id=order.pk)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "no-store, private"
    assert response.content.startswith(b"%PDF") and len(response.content) > 1000

    stranger = Client()
    stranger.force_login(PatientFactory().user)
    assert stranger.get(url).status_code == 404
