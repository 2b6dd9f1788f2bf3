"""Importing results from a CSV file: a good file, and a bad row refusing the whole file."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal
from pathlib import Path

import pytest

from ihospital.accounts.models import Role
from ihospital.core.errors import DomainError, Forbidden
from ihospital.diagnostics.csvimport import import_csv
from ihospital.diagnostics.models import DiagnosticOrder, Flag, Observation, OrderStatus
from ihospital.notifications.models import Notification
from tests.diagnostics.factories import (
    AnalyteFactory,
    DiagnosticOrderFactory,
    DiagnosticTestFactory,
    ReferenceRangeFactory,
)
from tests.factories import PatientFactory, PractitionerFactory, StaffUserFactory
from tests.visits.factories import EncounterFactory

pytestmark = pytest.mark.django_db
D = Decimal
GOOD = (Path(__file__).parent / "data" / "results_good.csv").read_bytes()
HEADER = "order_number,analyte,value,unit,observed_at\n"


@pytest.fixture
def orders():
    test = DiagnosticTestFactory(code="bmp")
    glu = AnalyteFactory(test=test, code="glu", loinc="2345-7", unit="mmol/L", position=1)
    ReferenceRangeFactory(analyte=glu)
    k = AnalyteFactory(test=test, code="k", loinc="2823-3", unit="mmol/L", position=2)
    ReferenceRangeFactory(analyte=k, low=D("3.5"), high=D("5.3"), critical_low=D("2.5"), critical_high=D("6.5"))
    AnalyteFactory(test=test, code="pro", unit="", position=3)
    doctor = PractitionerFactory()
    made = []
    for number in ("DX20260401001", "DX20260401002"):
        patient = PatientFactory()
        o = DiagnosticOrderFactory(number=number, test=test, patient=patient, doctor=doctor,
                                   encounter=EncounterFactory(patient=patient, practitioner=doctor))
        DiagnosticOrder.objects.filter(pk=o.pk).update(status=OrderStatus.COLLECTED)
        made.append(o)
    return made


@pytest.fixture
def tech():
    return StaffUserFactory(role=Role.LAB_TECH)


def test_a_good_file_with_a_bom_is_imported_order_by_order(orders, tech):
    report = import_csv(actor=tech, data=GOOD)

    assert report.orders == ["DX20260401001", "DX20260401002"]
    got = [(o.order.number, o.analyte.code, o.value, o.text, o.flag, o.source) for o in report.observations]
    assert got == [
        ("DX20260401001", "glu", D("7.4"), "", Flag.HIGH, "csv"),
        ("DX20260401001", "k", D("4.2"), "", Flag.NORMAL, "csv"),
        ("DX20260401002", "glu", D("5.1"), "", Flag.NORMAL, "csv"),
        ("DX20260401002", "pro", None, "2+", Flag.ABNORMAL, "csv"),
        ("DX20260401002", "k", D("1.9"), "", Flag.CRITICAL_LOW, "csv"),
    ]
    assert set(DiagnosticOrder.objects.values_list("status", flat=True)) == {OrderStatus.RESULTED}
    assert report.observations[0].observed_at.astimezone(UTC).hour == 0  # 08:30 Beijing time
    assert Notification.objects.filter(kind="diagnostics.critical").count() == 1


def test_a_text_file_without_bom_is_read_too(orders, tech):
    report = import_csv(actor=tech, data=HEADER + "DX20260401001,pro,阴性,,\n")

    assert [(o.text, o.flag) for o in report.observations] == [("阴性", Flag.NORMAL)]


@pytest.mark.parametrize(("row", "code"), [
    ("DX20260401002,glu,abc,mmol/L,", "invalid_value"),
    ("DX20260401002,glu,NaN,mmol/L,", "invalid_value"),
    ("DX20260401002,glu,99,mg/dL,", "unit_mismatch"),
    ("DX20260401002,alt,30,U/L,", "unknown_analyte"),
    ("DX20260401002,glu,5,mmol/L,yesterday", "invalid_observed_at"),
    ("DX20260401002,glu,5", "invalid_csv"),
    ("DX20260409999,glu,5,mmol/L,", "order_not_found"),
])
def test_one_bad_row_refuses_the_whole_file(orders, tech, row, code):
    data = HEADER + "DX20260401001,glu,7.4,mmol/L,\nDX20260401002,k,4.0,mmol/L,\n" + row + "\n"

    with pytest.raises(DomainError) as err:
        import_csv(actor=tech, data=data)

    assert err.value.code == "invalid_csv"
    assert list(err.value.fields) == ["row 4"]
    assert err.value.fields["row 4"].startswith(code)
    assert not Observation.objects.exists()
    assert set(DiagnosticOrder.objects.values_list("status", flat=True)) == {OrderStatus.COLLECTED}


def test_every_bad_row_is_reported(orders, tech):
    data = HEADER + "DX20260401001,glu,x,,\nDX20260401001,k,4,,\nDX20260401001,k,5,,\n"

    with pytest.raises(DomainError) as err:
        import_csv(actor=tech, data=data)

    assert {k: v.split(":")[0] for k, v in err.value.fields.items()} == {"row 2": "invalid_value",
                                                                         "row 4": "duplicate_analyte"}


def test_an_order_not_collected_refuses_the_file(orders, tech):
    DiagnosticOrder.objects.filter(number="DX20260401002").update(status=OrderStatus.BOOKED)

    with pytest.raises(DomainError) as err:
        import_csv(actor=tech, data=GOOD)

    assert set(err.value.fields) == {"row 4", "row 5", "row 6"}
    assert not Observation.objects.exists()


@pytest.mark.parametrize(("data", "code"), [
    ("order,analyte,value\nDX20260401001,glu,5\n", "bad_header"),
    (HEADER, "no_values"),
    (b"\xff\xfe" + HEADER.encode("utf-16-le"), "invalid_csv"),
])
def test_a_file_that_is_not_ours_is_refused(orders, tech, data, code):
    with pytest.raises(DomainError) as err:
        import_csv(actor=tech, data=data)
    assert err.value.code == code


def test_only_a_lab_technician_imports(orders):
    with pytest.raises(Forbidden):
        import_csv(actor=StaffUserFactory(role=Role.DOCTOR), data=GOOD)
