"""The automated checks (``checks.py``): allergy conflicts, duplicate therapy, interactions, maximum dose and age,
and the rule that no finding passes a signature without the doctor's reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from ihospital.prescriptions import checks, services
from ihospital.prescriptions.models import Prescription, RxStatus, Severity
from ihospital.records import services as records
from ihospital.records.models import MedicationStatement, MedicationStatus
from tests.factories import PatientFactory
from tests.prescriptions.factories import (
    DrugFactory,
    InteractionFactory,
    amlodipine,
    amoxicillin,
    clarithromycin,
    draft,
    item,
    metformin,
    nifedipine,
    refused,
    sign,
    signed,
    simvastatin,
    state,
    visit_in_progress,
)

pytestmark = pytest.mark.django_db


def findings(rx) -> dict[str, checks.Finding]:
    return {f.key: f for f in checks.run(rx)}


def codes(rx) -> list[str]:
    return sorted(f.code for f in checks.run(rx))


def allergy(patient, substance: str, **kw):
    return records.add_allergy(actor=patient.user, patient_id=patient.pk, substance=substance, **kw)


def chart_medication(patient, medication: str):
    return records.add_medication(actor=patient.user, patient_id=patient.pk, medication=medication)


# ---- allergies --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "substance", ["青霉素过敏", "青霉素", "对青霉素类过敏", "Penicillin allergy", "allergic to PENICILLIN"]
)
def test_a_free_text_penicillin_allergy_conflicts_with_amoxicillin(doc, visit, patient, substance):
    recorded = allergy(patient, substance, reaction="皮疹")
    rx = draft(doc, visit, item(amoxicillin(), dose="500", frequency="tid", duration_days=7), kind="acute")

    with translation.override("zh-hans"):
        found = findings(rx)

    key = f"allergy:AB-AMX-500:{recorded.pk}"
    assert list(found) == [key]
    assert (found[key].code, found[key].severity, found[key].sku) == ("allergy_conflict", "high", "AB-AMX-500")
    assert "青霉素类" in found[key].message and "皮疹" in found[key].message


def test_an_allergy_named_by_the_drug_itself_or_its_brand(doc, visit, patient):
    allergy(patient, "络活喜过敏")  # the brand of amlodipine
    rx = draft(doc, visit, item(amlodipine()))
    assert codes(rx) == ["allergy_conflict"]


def test_unrelated_and_withdrawn_allergies_do_not_conflict(doc, visit, patient):
    allergy(patient, "花粉", category="environment")
    allergy(patient, "海鲜过敏", category="food")
    mistaken = allergy(patient, "青霉素过敏")
    records.mark_entered_in_error(actor=patient.user, entry_type="allergy", entry_id=mistaken.pk,
                                  reason="recorded for the wrong person")
    rx = draft(doc, visit, item(amoxicillin(), dose="500", frequency="tid", duration_days=7), kind="acute")
    assert checks.run(rx) == []


# ---- duplicate therapy ------------------------------------------------------------------------------------------


def test_two_drugs_of_the_same_class_in_one_prescription(doc, visit):
    rx = draft(doc, visit, item(amlodipine()), item(nifedipine(), dose="30", duration_days=28))
    found = findings(rx)
    assert list(found) == ["duplicate:CV-AML-5:CV-NIF-30"]
    assert found["duplicate:CV-AML-5:CV-NIF-30"].severity == "moderate"


def test_a_drug_of_the_same_class_as_another_current_prescription(doc, patient, diagnosis, rx):
    second = draft(doc, visit_in_progress(patient, doc, diagnosis), item(nifedipine(), dose="30"))
    found = findings(second)
    assert list(found) == ["duplicate:CV-AML-5:CV-NIF-30"]
    assert rx.number in found["duplicate:CV-AML-5:CV-NIF-30"].message


def test_the_same_drug_again_while_the_first_supply_runs(doc, patient, diagnosis, rx):
    second = draft(doc, visit_in_progress(patient, doc, diagnosis), item(amlodipine()))
    assert list(findings(second)) == ["duplicate:CV-AML-5:CV-AML-5"]


def test_prescriptions_that_ended_or_never_counted_are_not_duplicates(doc, patient, diagnosis, rx):
    # The supply of the first ran out; a second was cancelled.
    Prescription.objects.filter(pk=rx.pk).update(signed_at=timezone.now() - timedelta(days=40))
    cancelled = signed(doc, patient, item(nifedipine(), dose="30"), condition=diagnosis)
    services.cancel_prescription(actor=doc.user, prescription_id=cancelled.pk, reason="开错了")

    third = draft(doc, visit_in_progress(patient, doc, diagnosis), item(amlodipine()))

    assert checks.run(third) == []


@pytest.mark.parametrize("medication", ["氨氯地平 5mg", "苯磺酸氨氯地平片", "Amlodipine 5 mg", "amlodipine besylate"])
def test_a_medication_on_the_chart_of_the_same_class(doc, visit, patient, medication):
    amlodipine()  # in the formulary
    chart_medication(patient, medication)
    rx = draft(doc, visit, item(nifedipine(), dose="30"))
    found = findings(rx)
    assert list(found) == ["duplicate:CV-AML-5:CV-NIF-30"]
    assert medication in found["duplicate:CV-AML-5:CV-NIF-30"].message


def test_the_chart_record_of_the_drug_being_prescribed_is_its_continuation(doc, visit, patient):
    chart_medication(patient, "氨氯地平片 Amlodipine")
    rx = draft(doc, visit, item(amlodipine()))
    assert checks.run(rx) == []


def test_a_stopped_chart_medication_is_not_a_duplicate(doc, visit, patient):
    statement = chart_medication(patient, "硝苯地平控释片 30mg")
    MedicationStatement.objects.filter(pk=statement.pk).update(status=MedicationStatus.STOPPED)
    rx = draft(doc, visit, item(amlodipine()))
    assert checks.run(rx) == []


def test_salt_and_form_words_are_not_needed_to_recognise_a_chart_medication():
    formulary = [amlodipine(), metformin(), nifedipine()]
    assert checks._formulary_match("二甲双胍 0.5g tid", formulary) == metformin()
    assert checks._formulary_match("Metformin 500mg", formulary) == metformin()
    assert checks._formulary_match("硝苯地平", formulary) == nifedipine()
    assert checks._formulary_match("维生素C", formulary) is None


# ---- interactions -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("table_order", [("C10AA01", "J01FA09"), ("J01FA09", "C10AA01"), ("C10AA", "J01FA")])
@pytest.mark.parametrize("item_order", ["statin first", "macrolide first"])
def test_an_interaction_from_the_table_in_either_order(doc, visit, table_order, item_order):
    InteractionFactory(atc_a=table_order[0], atc_b=table_order[1])
    lines = [item(simvastatin(), dose="20", frequency="qn"), item(clarithromycin(), dose="250", frequency="bid",
                                                                  duration_days=7)]
    if item_order == "macrolide first":
        lines.reverse()
    rx = draft(doc, visit, *lines)

    found = findings(rx)

    assert list(found) == ["interaction:AB-CLA-250:CV-SIM-20"]
    finding = found["interaction:AB-CLA-250:CV-SIM-20"]
    assert (finding.code, finding.severity) == ("interaction", "high")
    with translation.override("en"):
        assert "rhabdomyolysis" in checks.run(rx)[0].message


def test_a_moderate_interaction_with_another_current_prescription(doc, patient, diagnosis):
    InteractionFactory(severity=Severity.MODERATE)
    first = signed(doc, patient, item(clarithromycin(), dose="250", frequency="bid", duration_days=7),
                   condition=diagnosis)
    second = draft(doc, visit_in_progress(patient, doc, diagnosis), item(simvastatin(), dose="20", frequency="qn"))

    found = findings(second)

    assert list(found) == ["interaction:AB-CLA-250:CV-SIM-20"]
    assert found["interaction:AB-CLA-250:CV-SIM-20"].severity == "moderate"
    assert first.number in found["interaction:AB-CLA-250:CV-SIM-20"].message


def test_no_interaction_without_a_row_in_the_table(doc, visit):
    rx = draft(doc, visit, item(simvastatin(), dose="20", frequency="qn"),
               item(clarithromycin(), dose="250", frequency="bid", duration_days=7))
    assert checks.run(rx) == []


# ---- dose and age -------------------------------------------------------------------------------------------------


def test_a_daily_dose_above_the_label_maximum(doc, visit):
    rx = draft(doc, visit, item(amlodipine(), dose="10", frequency="bid"))  # 20 mg a day; the label says 10
    found = findings(rx)
    assert list(found) == ["dose:CV-AML-5"]
    with translation.override("en"):
        assert checks.run(rx)[0].message.endswith("20 mg a day is above the maximum of 10 mg.")


def test_the_maximum_itself_is_fine(doc, visit):
    rx = draft(doc, visit, item(DrugFactory(max_10_a_day=True), dose="5", frequency="bid"))
    assert checks.run(rx) == []


def test_an_adult_drug_for_a_teenager(doc):
    today = timezone.localdate()
    teenager = PatientFactory(birth_date=today.replace(year=today.year - 15))
    drug = DrugFactory(adults_only=True)
    rx = draft(doc, visit_in_progress(teenager, doc), item(drug))

    found = findings(rx)

    assert list(found) == [f"age:{drug.sku}"]
    assert found[f"age:{drug.sku}"].code == "age_limit"


def test_the_age_limit_does_not_touch_adults(doc, visit):
    rx = draft(doc, visit, item(DrugFactory(adults_only=True)))
    assert checks.run(rx) == []


# ---- findings stop the signature until the doctor gives a reason ------------------------------------------------


@pytest.fixture
def two_findings(doc, visit, patient):
    allergy(patient, "青霉素过敏")
    return draft(doc, visit, item(amoxicillin(), dose="500", frequency="tid", duration_days=7),
                 item(amlodipine(), dose="10", frequency="bid", duration_days=7), kind="acute")


def test_signing_is_refused_with_the_unresolved_findings(doc, two_findings):
    keys = set(findings(two_findings))
    assert len(keys) == 2
    before = state()

    error = refused("check_findings_unresolved", sign, doc, two_findings)

    assert error.status == 409
    assert set(error.fields) == keys
    assert state() == before


def test_every_finding_needs_its_own_non_blank_reason(doc, two_findings):
    allergy_key, dose_key = sorted(findings(two_findings))
    before = state()

    error = refused("check_findings_unresolved", sign, doc, two_findings, {allergy_key: "已确认皮试阴性"})
    assert set(error.fields) == {dose_key}
    error = refused("check_findings_unresolved", sign, doc, two_findings,
                    {allergy_key: "已确认皮试阴性", dose_key: "   "})
    assert set(error.fields) == {dose_key}

    assert state() == before


def test_override_reasons_are_stored_and_sealed_in_the_hash(doc, two_findings):
    allergy_key, dose_key = sorted(findings(two_findings))
    reasons = {allergy_key: "既往皮试阴性，患者确认可用", dose_key: "短期加量，三天后复查血压",
               "unknown:key": "ignored"}

    rx = sign(doc, two_findings, reasons)

    assert rx.status == RxStatus.SIGNED
    stored = {f["key"]: f["override"] for f in rx.checks}
    assert stored == {allergy_key: reasons[allergy_key], dose_key: reasons[dose_key]}
    rx.refresh_from_db()
    assert rx.content_hash == services.hash_content(rx)
    assert {"key": allergy_key, "override": reasons[allergy_key]} in services.content_of(rx)["checks"]
    # Another reason would be another hash: the reasons are part of what the doctor signed.
    rx.checks = [{**f, "override": "changed afterwards"} for f in rx.checks]
    assert services.hash_content(rx) != rx.content_hash


def test_the_doctor_and_the_pharmacist_see_the_findings_with_the_recorded_reasons(doc, two_findings, patient,
                                                                                    pharmacist):
    allergy_key, dose_key = sorted(findings(two_findings))
    shown = services.check_prescription(actor=doc.user, prescription_id=two_findings.pk)
    assert {f["key"]: f["override"] for f in shown} == {allergy_key: "", dose_key: ""}

    sign(doc, two_findings, {allergy_key: "皮试阴性", dose_key: "短期"})

    shown = services.check_prescription(actor=pharmacist, prescription_id=two_findings.pk)
    assert {f["key"]: f["override"] for f in shown} == {allergy_key: "皮试阴性", dose_key: "短期"}
    refused("not_found", services.check_prescription, actor=patient.user, prescription_id=two_findings.pk)
