"""Flagging a value against the patient's reference range: sex and age bands, critical limits, text results."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ihospital.diagnostics.flags import flag
from ihospital.diagnostics.models import Flag
from tests.diagnostics.factories import AnalyteFactory, ReferenceRangeFactory

pytestmark = pytest.mark.django_db

D = Decimal


@pytest.fixture
def glucose():
    analyte = AnalyteFactory(code="glu", unit="mmol/L")
    ReferenceRangeFactory(analyte=analyte)  # 3.9–6.1, critical 2.8 / 22.2, both sexes, all ages
    return analyte


@pytest.mark.parametrize(("value", "expected"), [
    ("5.0", Flag.NORMAL), ("3.9", Flag.NORMAL), ("6.1", Flag.NORMAL), ("3.8", Flag.LOW), ("6.2", Flag.HIGH),
    ("2.8", Flag.LOW), ("2.7", Flag.CRITICAL_LOW), ("22.2", Flag.HIGH), ("22.3", Flag.CRITICAL_HIGH),
])
def test_numeric_values_are_flagged_against_the_range_and_critical_limits(glucose, value, expected):
    assert flag(glucose, D(value), "", sex="M", age=40) == (expected, "3.9–6.1 mmol/L")


def test_a_sex_specific_range_beats_the_both_sexes_one():
    hgb = AnalyteFactory(code="hgb", unit="g/L")
    ReferenceRangeFactory(analyte=hgb, sex="", low=D("110"), high=D("170"), critical_low=D("60"), critical_high=None)
    ReferenceRangeFactory(analyte=hgb, sex="M", low=D("130"), high=D("175"), critical_low=D("60"), critical_high=None)
    ReferenceRangeFactory(analyte=hgb, sex="F", low=D("115"), high=D("150"), critical_low=D("60"), critical_high=None)

    assert flag(hgb, D("120"), "", sex="M", age=40) == (Flag.LOW, "130–175 g/L")
    assert flag(hgb, D("120"), "", sex="F", age=40) == (Flag.NORMAL, "115–150 g/L")
    assert flag(hgb, D("160"), "", sex="F", age=40) == (Flag.HIGH, "115–150 g/L")
    assert flag(hgb, D("50"), "", sex="F", age=40) == (Flag.CRITICAL_LOW, "115–150 g/L")


def test_the_age_band_holding_the_age_is_chosen_with_age_max_exclusive():
    alp = AnalyteFactory(code="alp", unit="U/L")
    ReferenceRangeFactory(analyte=alp, age_min=0, age_max=18, low=D("50"), high=D("400"), critical_low=None,
                          critical_high=None)
    ReferenceRangeFactory(analyte=alp, age_min=18, age_max=200, low=D("45"), high=D("125"), critical_low=None,
                          critical_high=None)

    assert flag(alp, D("300"), "", sex="M", age=12) == (Flag.NORMAL, "50–400 U/L")
    assert flag(alp, D("300"), "", sex="M", age=18) == (Flag.HIGH, "45–125 U/L")
    assert flag(alp, D("300"), "", sex="M", age=17) == (Flag.NORMAL, "50–400 U/L")


def test_one_sided_ranges_say_so():
    ldl = AnalyteFactory(code="ldl", unit="mmol/L")
    ReferenceRangeFactory(analyte=ldl, low=None, high=D("3.4"), critical_low=None, critical_high=None)

    assert flag(ldl, D("3.0"), "", sex="F", age=50) == (Flag.NORMAL, "≤3.4 mmol/L")
    assert flag(ldl, D("4.0"), "", sex="F", age=50) == (Flag.HIGH, "≤3.4 mmol/L")


def test_no_matching_range_is_normal_with_no_reference(glucose):
    psa = AnalyteFactory(code="psa", unit="ng/mL")
    ReferenceRangeFactory(analyte=psa, sex="M", low=None, high=D("4"))

    assert flag(psa, D("9"), "", sex="F", age=40) == (Flag.NORMAL, "")
    assert flag(AnalyteFactory(code="x"), D("9"), "", sex="M", age=40) == (Flag.NORMAL, "")


@pytest.mark.parametrize(("text", "expected"), [
    ("阴性", Flag.NORMAL), ("negative", Flag.NORMAL), ("NEG", Flag.NORMAL), ("-", Flag.NORMAL),
    ("+", Flag.ABNORMAL), ("2+", Flag.ABNORMAL), ("阳性", Flag.ABNORMAL), ("±", Flag.ABNORMAL),
])
def test_text_results_are_abnormal_unless_negative(text, expected):
    protein = AnalyteFactory(code="pro", unit="")

    assert flag(protein, None, text, sex="F", age=30) == (expected, "阴性")
