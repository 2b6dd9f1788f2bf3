"""Importing an HL7 v2.5 ORU^R01 message: a realistic blood count, and every refusal importing nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from ihospital.accounts.models import Role
from ihospital.core.errors import Forbidden
from ihospital.diagnostics.hl7import import import_oru
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
CBC = (Path(__file__).parent / "data" / "cbc_oru_r01.hl7").read_bytes().decode("utf-8")  # segments end with \r

ANALYTES = [  # code, loinc, unit, low, high, critical low, critical high
    ("wbc", "6690-2", "10*9/L", "3.5", "9.5", "1.0", "30"),
    ("rbc", "789-8", "10*12/L", "4.3", "5.8", None, None),
    ("hgb", "718-7", "g/L", "130", "175", "60", "200"),
    ("hct", "4544-3", "L/L", "0.40", "0.50", None, None),
    ("plt", "777-3", "10*9/L", "125", "350", "20", "1000"),
    ("neut", "770-8", "%", "40", "75", None, None),
    ("mcv", "787-2", "fL", "82", "100", None, None),
]


def dec(text):
    return D(text) if text is not None else None


@pytest.fixture
def order():
    test = DiagnosticTestFactory(code="cbc", loinc="58410-2")
    for i, (code, loinc, unit, low, high, cl, ch) in enumerate(ANALYTES):
        analyte = AnalyteFactory(test=test, code=code, loinc=loinc, unit=unit, position=i)
        ReferenceRangeFactory(analyte=analyte, low=dec(low), high=dec(high), critical_low=dec(cl),
                              critical_high=dec(ch))
    patient = PatientFactory(user__real_name="张伟", mrn="P9123456", birth_date=date(1980, 3, 7), sex_="M")
    doctor = PractitionerFactory()
    o = DiagnosticOrderFactory(number="DX20260310001", test=test, patient=patient, doctor=doctor,
                               encounter=EncounterFactory(patient=patient, practitioner=doctor))
    DiagnosticOrder.objects.filter(pk=o.pk).update(status=OrderStatus.COLLECTED)
    o.refresh_from_db()
    return o


@pytest.fixture
def tech():
    return StaffUserFactory(role=Role.LAB_TECH)


def ack_of(report):
    msg = parse_message(report.ack, validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=False)
    return msg


def test_a_blood_count_is_imported_and_flagged_against_our_ranges(order, tech):
    report = import_oru(actor=tech, message=CBC)

    assert report.ok, report.message
    assert report.orders == ["DX20260310001"]
    got = {o.analyte.code: (o.value, o.flag, o.source, o.version) for o in report.observations}
    assert got == {
        "wbc": (D("6.5"), Flag.NORMAL, "hl7", 1), "rbc": (D("4.1"), Flag.LOW, "hl7", 1),
        "hgb": (D("55"), Flag.CRITICAL_LOW, "hl7", 1), "hct": (D("0.4"), Flag.NORMAL, "hl7", 1),
        "plt": (D("420"), Flag.HIGH, "hl7", 1), "neut": (D("62"), Flag.NORMAL, "hl7", 1),
        "mcv": (D("88"), Flag.NORMAL, "hl7", 1),
    }
    hgb = next(o for o in report.observations if o.analyte.code == "hgb")
    assert hgb.reference == "130–175 g/L"
    assert hgb.observed_at == datetime(2026, 3, 10, 1, 20, tzinfo=UTC)
    order.refresh_from_db()
    assert order.status == OrderStatus.RESULTED
    assert Notification.objects.filter(user=order.doctor.user, kind="diagnostics.critical").count() == 1
    assert report.notes == []
    ack = ack_of(report)
    assert ack.msh.msh_9.to_er7() == "ACK^R01^ACK"
    assert ack.msh.msh_5.to_er7() == "MINDRAY-LIS" and ack.msh.msh_6.to_er7() == "CENTRAL-LAB"
    assert ack.msa.msa_1.to_er7() == "AA" and ack.msa.msa_2.to_er7() == "LAB20260310-0001"


def test_mllp_framing_and_newline_separators_are_accepted(order, tech):
    framed = b"\x0b" + CBC.replace("\r", "\n").encode("utf-8") + b"\x1c\r"

    report = import_oru(actor=tech, message=framed)

    assert report.ok, report.message
    assert len(report.observations) == 7


def test_the_same_control_id_is_not_imported_twice(order, tech):
    assert import_oru(actor=tech, message=CBC).ok

    again = import_oru(actor=tech, message=CBC)

    assert (again.ok, again.code) == (False, "duplicate_message")
    assert Observation.objects.count() == 7
    assert ack_of(again).msa.msa_1.to_er7() == "AA"


def test_a_correction_becomes_a_new_version_and_a_flag_difference_is_noted(order, tech):
    assert import_oru(actor=tech, message=CBC).ok
    correction = (CBC.replace("LAB20260310-0001", "LAB20260310-0002")
                  .split("\rOBX|1|")[0] + "\rOBX|1|NM|718-7^Hemoglobin^LN||135|g/L|130-175|L|||C|||20260310100000\r")

    report = import_oru(actor=tech, message=correction)

    assert report.ok, report.message
    (obs,) = report.observations
    assert (obs.analyte.code, obs.value, obs.version, obs.flag) == ("hgb", D("135"), 2, Flag.NORMAL)
    assert report.notes == ["DX20260310001/hgb: sender L, ours N"]
    assert Observation.objects.filter(order=order, analyte__code="hgb").count() == 2


def refused(report, code, msa="AE"):
    assert (report.ok, report.code) == (False, code), report.message
    assert report.observations == []
    assert not Observation.objects.exists()
    ack = ack_of(report)
    assert ack.msa.msa_1.to_er7() == msa
    assert code in ack.err.to_er7()
    return report


def test_a_malformed_obx_in_the_middle_imports_nothing(order, tech):
    bad = CBC.replace("^Hematocrit^LN||0.40|", "^Hematocrit^LN||0,4O|")

    report = refused(import_oru(actor=tech, message=bad), "malformed_hl7", "AR")

    assert "OBX-5" in report.location and "segment 9" in report.location
    order.refresh_from_db()
    assert order.status == OrderStatus.COLLECTED
    assert not Notification.objects.exists()


@pytest.mark.parametrize(("broken", "where"), [
    (("OBX|6|NM|neut", "OB|6|NM|neut"), "segment 11"),
    (("|F|||20260310092000+0800\rOBX|6", "|X|||20260310092000+0800\rOBX|6"), "OBX-11"),
    (("|N|||F|||20260310092000+0800\rOBX|5", "|N|||F|||2026-03-10\rOBX|5"), "OBX-14"),
    (("OBX|2|NM|", "OBX|2|XYZ|"), "OBX-2"),
    (("MSH|^~\\&|", "MSH|^^\\&|"), "MSH"),
])
def test_broken_segments_are_named_and_nothing_is_imported(order, tech, broken, where):
    report = refused(import_oru(actor=tech, message=CBC.replace(*broken, 1)), "malformed_hl7", "AR")
    assert where in report.location


def test_a_message_that_is_not_a_result_is_refused(order, tech):
    refused(import_oru(actor=tech, message=CBC.replace("ORU^R01^ORU_R01", "ADT^A01^ADT_A01")), "not_oru", "AR")


@pytest.mark.parametrize("change", [
    ("P9123456^^^IHOSPITAL^MR", "P9999999^^^IHOSPITAL^MR"),
    ("张^伟", "王^伟"),
    ("||19800307|M|", "||19800308|M|"),
    ("||19800307|M|", "||19800307|F|"),
])
def test_a_different_patient_imports_nothing(order, tech, change):
    refused(import_oru(actor=tech, message=CBC.replace(*change)), "patient_mismatch")


def test_an_unknown_order_or_analyte_imports_nothing(order, tech):
    refused(import_oru(actor=tech, message=CBC.replace("DX20260310001", "DX20260310999")), "order_not_found")
    report = refused(import_oru(actor=tech, message=CBC.replace("mcv^平均红细胞体积^L^787-2", "esr^血沉^L^4537-7")),
                     "unknown_analyte")
    assert "segment 12" in report.location


def test_a_unit_other_than_ours_imports_nothing(order, tech):
    refused(import_oru(actor=tech, message=CBC.replace("|55|g/L|", "|5.5|g/dL|")), "unit_mismatch")


def test_an_order_not_yet_collected_imports_nothing(order, tech):
    DiagnosticOrder.objects.filter(pk=order.pk).update(status=OrderStatus.BOOKED)
    refused(import_oru(actor=tech, message=CBC), "order_not_collected")


def test_only_a_lab_technician_imports(order):
    with pytest.raises(Forbidden):
        import_oru(actor=StaffUserFactory(role=Role.NURSE), message=CBC)


def test_two_orders_in_one_message_with_a_text_result_import_together_or_not_at_all(order, tech):
    urine = DiagnosticTestFactory(code="ua", loinc="24356-8", specimen="urine")
    AnalyteFactory(test=urine, code="pro", loinc="2888-6", unit="")
    second = DiagnosticOrderFactory(number="DX20260310002", test=urine, patient=order.patient, doctor=order.doctor,
                                    encounter=order.encounter)
    DiagnosticOrder.objects.filter(pk=second.pk).update(status=OrderStatus.COLLECTED)
    message = CBC + "OBR|2|DX20260310002||24356-8^尿常规^LN\rOBX|1|ST|2888-6^尿蛋白^LN||2+||阴性|A|||F\r"

    broken = import_oru(actor=tech, message=message.replace("|ST|2888-6", "|ST|9999-9"))
    report = import_oru(actor=tech, message=message)

    assert broken.code == "unknown_analyte"
    assert report.ok, report.message
    assert report.orders == ["DX20260310001", "DX20260310002"]
    assert Observation.objects.filter(order=second).get().text == "2+"
    assert Observation.objects.filter(order=second).get().flag == Flag.ABNORMAL
    assert Observation.objects.count() == 8


def test_a_western_name_given_family_first_matches(order, tech):
    order.patient.user.real_name = "John Smith"
    order.patient.user.save()

    report = import_oru(actor=tech, message=CBC.replace("张^伟", "Smith^John"))

    assert report.ok, report.message


def test_a_message_without_pid_or_obr_is_malformed(order, tech):
    no_pid = "\r".join(s for s in CBC.split("\r") if not s.startswith("PID"))
    no_obr = "\r".join(s for s in CBC.split("\r") if not s.startswith(("OBR", "OBX")))

    assert refused(import_oru(actor=tech, message=no_pid), "malformed_hl7", "AR").location == "PID"
    assert refused(import_oru(actor=tech, message=no_obr), "malformed_hl7", "AR").location == "OBR"
    assert refused(import_oru(actor=tech, message=b"\xff\xfeMSH"), "malformed_hl7", "AR").location == "MSH"


@pytest.mark.parametrize("garbage", [
    "", "hello", "MSH|", "MSH|^~\\&", "\x0b\x1c\r", "MSH|^~\\&|A|B|C|D|x||ORU^R01|1|P|2.5\rPID|" + "^" * 5000,
    CBC.replace("\rOBX|", "\rOBX|\x00", 1), CBC[: CBC.index("|10*12/L")],  # cut off inside an OBX
])
def test_garbage_is_answered_not_crashed_on(order, tech, garbage):
    report = import_oru(actor=tech, message=garbage)

    assert not report.ok and report.code in {"malformed_hl7", "not_oru", "unknown_analyte", "order_not_found"}
    assert not Observation.objects.exists()
    assert ack_of(report).msa.msa_1.to_er7() in {"AR", "AE"}
