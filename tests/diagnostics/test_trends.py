"""One analyte's released values over time: which values count, their order, the chart and the page."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from ihospital.diagnostics import results, trends
from ihospital.diagnostics.models import DiagnosticOrder, OrderStatus
from tests.diagnostics.factories import (
    AnalyteFactory,
    DiagnosticOrderFactory,
    DiagnosticTestFactory,
    ReferenceRangeFactory,
)
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def hba1c():
    test = DiagnosticTestFactory(code="hba1c", name_en="HbA1c")
    analyte = AnalyteFactory(test=test, code="hba1c", name_en="HbA1c", unit="%")
    ReferenceRangeFactory(analyte=analyte, low=D("4.0"), high=D("6.0"), critical_low=None, critical_high=D("15"))
    return test


def result(test, doctor, patient, encounter, lab_tech, value, days_ago, *, release=True, correct=None):
    order = DiagnosticOrderFactory(test=test, doctor=doctor, patient=patient, encounter=encounter)
    DiagnosticOrder.objects.filter(pk=order.pk).update(status=OrderStatus.COLLECTED)
    at = timezone.now() - timedelta(days=days_ago)
    results.record(actor=lab_tech, order_id=order.pk, values=[{"analyte": "hba1c", "value": value, "observed_at": at}])
    if correct is not None:
        results.record(actor=lab_tech, order_id=order.pk,
                       values=[{"analyte": "hba1c", "value": correct, "observed_at": at}])
    if release:
        results.sign_off(actor=doctor.user, order_id=order.pk)
    return order


def test_series_holds_released_values_in_date_order(hba1c, doctor, patient, encounter, lab_tech):
    result(hba1c, doctor, patient, encounter, lab_tech, "7.5", 30)
    result(hba1c, doctor, patient, encounter, lab_tech, "8.1", 200, correct="8.0")  # corrected before release
    result(hba1c, doctor, patient, encounter, lab_tech, "5.6", 10, release=False)  # not released: left out
    result(hba1c, doctor, patient, encounter, lab_tech, "6.4", 100)
    other = PatientFactory()
    result(hba1c, doctor, other, encounter, lab_tech, "9.9", 5)  # another patient's

    data = trends.series(patient, "hba1c")
    assert [p.value for p in data.points] == [D("8.0"), D("6.4"), D("7.5")]
    assert [p.flag for p in data.points] == ["H", "H", "H"]
    assert (data.low, data.high, data.unit) == (D("4.0"), D("6.0"), "%")
    assert trends.series(patient, "ldl") is None
    assert [a["code"] for a in trends.analytes(patient)] == ["hba1c"]


def test_svg_has_axes_band_and_points(hba1c, doctor, patient, encounter, lab_tech):
    result(hba1c, doctor, patient, encounter, lab_tech, "5.5", 60)
    result(hba1c, doctor, patient, encounter, lab_tech, "7.0", 20)
    svg = trends.svg(trends.series(patient, "hba1c"))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert 'data-testid="reference-band"' in svg
    assert svg.count('data-testid="trend-point"') == 2
    assert 'data-value="5.5" data-flag="N"' in svg and 'data-value="7" data-flag="H"' in svg
    assert svg.count('class="dx-axis"') == 2
    day = timezone.localtime(timezone.now() - timedelta(days=60)).date().isoformat()
    assert day[5:] in svg
    # The higher value is drawn higher (smaller y).
    ys = [float(y) for y in re.findall(r'cy="([\d.]+)"', svg)]
    diamond = re.search(r'd="M[\d.]+ ([\d.]+) ', svg)
    assert ys and diamond and float(diamond.group(1)) + 6 < ys[0]


def test_page_shows_the_chart_for_the_acting_patient(hba1c, doctor, patient, encounter, lab_tech):
    result(hba1c, doctor, patient, encounter, lab_tech, "6.5", 10)
    client = Client()
    client.force_login(patient.user)
    response = client.get(reverse("diagnostics:trends"), {"analyte": "hba1c"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "<svg class=\"dx-chart\"" in page and page.count('data-testid="trend-point"') == 1
    assert '<option value="hba1c" selected>' in page

    stranger = Client()
    stranger.force_login(PatientFactory().user)
    page = stranger.get(reverse("diagnostics:trends"), {"analyte": "hba1c"}).content.decode()
    assert "dx-chart" not in page and "trend-point" not in page


def test_a_proxy_sees_the_patients_trends(hba1c, doctor, patient, encounter, lab_tech, relative):
    result(hba1c, doctor, patient, encounter, lab_tech, "6.2", 10)
    result(hba1c, doctor, patient, encounter, lab_tech, "5.9", 40, release=False)
    client = Client()
    client.force_login(relative)
    client.post(reverse("accounts:act_for"), {"patient_id": patient.pk, "next": "/diagnostics/trends/"})
    page = client.get(reverse("diagnostics:trends")).content.decode()
    assert page.count('data-testid="trend-point"') == 1 and 'data-value="6.2" data-flag="H"' in page
    assert "5.9" not in page
