"""The prescribing rules (``rules.py``): each hard refusal with its code and trigger, and nothing written when it
refuses."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from ihospital.core.models import AuditAction, AuditEvent
from ihospital.prescriptions import rules, services
from ihospital.prescriptions.models import ONLINE_PROHIBITED, Drug, Prescription, PrescriptionItem, RxKind, RxStatus
from ihospital.records.models import ClinicalStatus, Condition
from ihospital.visits.models import BasisStatus, Visit
from tests.factories import PatientFactory
from tests.prescriptions.factories import (
    DrugFactory,
    amlodipine,
    draft,
    fresh_session,
    item,
    metformin,
    refused,
    sign,
    slot_of,
    state,
    visit_in_progress,
)
from tests.visits import flows
from tests.visits.factories import ConditionFactory, online_doctor

pytestmark = pytest.mark.django_db


def add(doc, rx, **arguments):
    return services.add_item(actor=doc.user, prescription_id=rx.pk, **arguments)


@pytest.fixture
def chronic(doc, visit):
    """An empty chronic draft of the visit."""
    return draft(doc, visit)


# ---- starting a prescription --------------------------------------------------------------------------------------


def test_a_draft_is_written_for_the_visits_accepted_diagnosis_and_audited(doc, visit, diagnosis, patient):
    rx = services.start_prescription(actor=doc.user, visit_id=visit.pk, kind=RxKind.CHRONIC, refills_allowed=2,
                                     notes="  低盐饮食  ")

    assert rx.status == RxStatus.DRAFT and rx.content_hash == "" and rx.signed_at is None
    assert (rx.patient, rx.doctor, rx.visit, rx.condition) == (patient, doc, visit, diagnosis)
    assert (rx.diagnosis_code, rx.kind, rx.refills_allowed, rx.notes) == ("I10", "chronic", 2, "低盐饮食")
    assert rx.department == visit.department
    assert rx.number == f"RX{timezone.localdate():%Y%m%d}{rx.pk:06d}"
    assert AuditEvent.objects.filter(action=AuditAction.CREATE, object_type="prescriptions.prescription",
                                     object_id=str(rx.pk), patient_id=patient.pk).exists()


def test_only_the_visits_doctor_prescribes_another_doctor_gets_404(doc, visit, department):
    colleague = online_doctor(department)
    before = state()

    error = refused("not_found", services.start_prescription, actor=colleague.user, visit_id=visit.pk)

    assert error.status == 404
    assert state() == before


def test_a_patient_or_pharmacist_cannot_prescribe(patient, visit, pharmacist):
    assert refused("not_a_doctor", services.start_prescription, actor=patient.user, visit_id=visit.pk).status == 403
    assert refused("not_a_doctor", services.start_prescription, actor=pharmacist, visit_id=visit.pk).status == 403
    assert Prescription.objects.count() == 0


def test_a_visit_not_yet_started_is_refused(doc, patient, diagnosis):
    visit = flows.accept(flows.book(patient, slot_of(doc), diagnosis), doc)
    before = state()

    error = refused("visit_not_in_progress", services.start_prescription, actor=doc.user, visit_id=visit.pk)

    assert error.status == 409
    assert state() == before


def test_a_diagnosis_not_accepted_is_refused(doc, visit):
    Visit.objects.filter(pk=visit.pk).update(basis_status=BasisStatus.PENDING_REVIEW)
    before = state()

    error = refused("diagnosis_not_accepted", services.start_prescription, actor=doc.user, visit_id=visit.pk)

    assert error.status == 409
    assert state() == before


def test_a_diagnosis_no_longer_active_is_refused(doc, visit, diagnosis):
    Condition.objects.filter(pk=diagnosis.pk).update(clinical_status=ClinicalStatus.RESOLVED)

    error = refused("condition_not_active", services.start_prescription, actor=doc.user, visit_id=visit.pk)

    assert error.status == 409
    assert Prescription.objects.count() == 0


def test_a_diagnosis_that_became_inactive_stops_the_signature(doc, visit, diagnosis):
    rx = draft(doc, visit, item(amlodipine()))
    Condition.objects.filter(pk=diagnosis.pk).update(entered_in_error=True, error_reason="wrong patient")
    before = state()

    refused("condition_not_active", sign, doc, rx)

    assert state() == before


def test_an_unknown_kind_is_refused(doc, visit):
    assert refused("invalid_kind", services.start_prescription, actor=doc.user, visit_id=visit.pk,
                   kind="forever").fields == {"kind": "forever"}


@pytest.mark.parametrize("kind", [RxKind.CHRONIC, RxKind.LONG_TERM])
def test_chronic_and_long_term_need_a_chronic_condition(doc, patient, kind):
    acute_condition = ConditionFactory(patient=patient, code="J06.9", display="急性上呼吸道感染", chronic=False)
    visit = visit_in_progress(patient, doc, acute_condition)

    refused("not_a_chronic_condition", services.start_prescription, actor=doc.user, visit_id=visit.pk, kind=kind)
    rx = services.start_prescription(actor=doc.user, visit_id=visit.pk, kind=RxKind.ACUTE)
    refused("not_a_chronic_condition", services.update_prescription, actor=doc.user, prescription_id=rx.pk,
            kind=kind)

    rx.refresh_from_db()
    assert rx.kind == RxKind.ACUTE
    assert Prescription.objects.count() == 1


@pytest.mark.parametrize("refills", [-1, 6])
def test_refills_are_between_0_and_the_setting(doc, visit, refills):
    error = refused("invalid_refills", services.start_prescription, actor=doc.user, visit_id=visit.pk,
                    kind=RxKind.CHRONIC, refills_allowed=refills)
    assert error.fields == {"refills_allowed": refills}
    assert Prescription.objects.count() == 0


def test_the_refill_maximum_is_a_setting(doc, visit, settings):
    settings.RX_MAX_REFILLS = 11
    rx = services.start_prescription(actor=doc.user, visit_id=visit.pk, kind=RxKind.CHRONIC, refills_allowed=11)
    assert rx.refills_allowed == 11


def test_an_acute_prescription_has_no_refills(doc, visit, chronic):
    refused("refills_need_chronic", services.start_prescription, actor=doc.user, visit_id=visit.pk,
            kind=RxKind.ACUTE, refills_allowed=1)
    services.update_prescription(actor=doc.user, prescription_id=chronic.pk, refills_allowed=3)
    before = state()

    refused("refills_need_chronic", services.update_prescription, actor=doc.user, prescription_id=chronic.pk,
            kind=RxKind.ACUTE)

    assert state() == before


# ---- items --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("control_class", sorted(ONLINE_PROHIBITED))
def test_controlled_drugs_are_never_prescribed_online(doc, chronic, control_class):
    drug = DrugFactory(control_class=control_class)
    assert not drug.online_prescribable
    before = state()

    error = refused("controlled_drug_online", add, doc, chronic, **item(drug))

    assert error.status == 403
    assert state() == before


@pytest.mark.parametrize("trait", ["narcotic", "psychotropic_1", "psychotropic_2", "toxic", "radioactive",
                                   "precursor", "special_antimicrobial"])
def test_every_control_class_trait_is_prohibited(trait):
    assert DrugFactory.build(**{trait: True}).control_class in ONLINE_PROHIBITED


def test_a_drug_reclassified_after_it_was_added_stops_the_signature(doc, chronic):
    drug = amlodipine()
    add(doc, chronic, **item(drug))
    Drug.objects.filter(pk=drug.pk).update(control_class="psychotropic_2")
    before = state()

    refused("controlled_drug_online", sign, doc, chronic)

    assert state() == before


def test_a_drug_no_longer_in_the_formulary_is_refused(doc, chronic):
    drug = DrugFactory(retired=True)
    assert refused("drug_not_in_formulary", add, doc, chronic, **item(drug)).status == 422
    assert refused("unknown_drug", add, doc, chronic, **item(drug, drug_id=999_999)).status == 422
    assert PrescriptionItem.objects.count() == 0


@pytest.mark.parametrize(("kind", "limit"), [(RxKind.ACUTE, 7), (RxKind.CHRONIC, 30), (RxKind.LONG_TERM, 84)])
def test_days_of_supply_are_capped_per_kind(doc, visit, kind, limit):
    rx = draft(doc, visit, kind=kind)
    drug = amlodipine()

    error = refused("days_supply_exceeded", add, doc, rx, **item(drug, duration_days=limit + 1))
    assert error.fields == {"duration_days": limit + 1, "max": limit}
    assert PrescriptionItem.objects.count() == 0

    line = add(doc, rx, **item(drug, duration_days=limit))
    assert line.duration_days == limit


def test_the_day_limits_are_settings(doc, chronic, settings):
    settings.RX_MAX_DAYS_CHRONIC = 60
    assert add(doc, chronic, **item(amlodipine(), duration_days=60)).duration_days == 60
    settings.RX_MAX_DAYS_CHRONIC = 14
    assert rules.max_days(RxKind.CHRONIC) == 14
    before = state()
    # The limit is checked again at signing: the setting may have changed since the item was added.
    refused("days_supply_exceeded", sign, doc, chronic)
    assert state() == before


def test_changing_the_kind_respects_the_items_days(doc, chronic):
    add(doc, chronic, **item(amlodipine(), duration_days=28))
    before = state()

    refused("days_supply_exceeded", services.update_prescription, actor=doc.user, prescription_id=chronic.pk,
            kind=RxKind.ACUTE)

    assert state() == before
    services.update_prescription(actor=doc.user, prescription_id=chronic.pk, kind=RxKind.LONG_TERM)
    chronic.refresh_from_db()
    assert chronic.kind == RxKind.LONG_TERM


def test_the_quantity_is_computed_from_dose_frequency_and_days(doc, chronic):
    # 10 mg twice a day of a 5 mg tablet = 4 tablets a day; 28 days = 112 tablets = 4 boxes of 28.
    line = add(doc, chronic, **item(amlodipine(), dose="10", frequency="bid", duration_days=28))
    assert line.quantity == 4
    assert rules.packages_needed(amlodipine(), Decimal(10), "bid", 28) == 4
    # A part of a box rounds up; PRN counts at its ceiling of four a day.
    assert rules.packages_needed(amlodipine(), Decimal(5), "qd", 29) == 2
    assert rules.packages_needed(amlodipine(), Decimal(5), "prn", 7) == 1


def test_a_quantity_above_what_the_days_need_is_refused(doc, chronic):
    error = refused("quantity_exceeds_supply", add, doc, chronic, **item(amlodipine(), quantity=2))
    assert error.fields == {"quantity": 2, "needed": 1}
    assert PrescriptionItem.objects.count() == 0
    # Less than needed is the doctor's choice.
    assert add(doc, chronic, **item(metformin(), dose="500", frequency="tid", duration_days=28,
                                     quantity=1)).quantity == 1


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"dose": "abc"}, "invalid_dose"),
        ({"dose": "0"}, "invalid_dose"),
        ({"dose": "-5"}, "invalid_dose"),
        ({"dose": "NaN"}, "invalid_dose"),
        ({"dose": "Infinity"}, "invalid_dose"),
        ({"dose": "1e9"}, "invalid_dose"),
        ({"frequency": "sometimes"}, "invalid_frequency"),
        ({"route": "ear"}, "invalid_route"),
        ({"duration_days": 0}, "invalid_duration"),
        ({"duration_days": "a week"}, "invalid_duration"),
        ({"quantity": 0}, "invalid_quantity"),
        ({"quantity": "lots"}, "invalid_quantity"),
    ],
)
def test_bad_item_values_are_refused_with_their_field(doc, chronic, changes, code):
    error = refused(code, add, doc, chronic, **item(amlodipine(), **changes))
    assert error.status == 400
    assert set(error.fields) <= {*changes, "dose"}
    assert PrescriptionItem.objects.count() == 0


def test_the_route_defaults_to_the_drugs(doc, chronic):
    assert add(doc, chronic, **item(amlodipine())).route == "oral"
    pen = DrugFactory(cold_chain_pen=True)
    line = add(doc, chronic, **item(pen, dose="10", duration_days=28))
    assert (line.route, line.dose_unit, line.quantity) == ("subcutaneous", "U", 1)


def test_at_most_five_medicines(doc, chronic):
    for _ in range(5):
        add(doc, chronic, **item(DrugFactory()))
    before = state()

    error = refused("too_many_items", add, doc, chronic, **item(DrugFactory()))

    assert error.status == 400
    assert state() == before


def test_too_many_items_is_checked_again_at_signing(doc, chronic, settings):
    for _ in range(3):
        add(doc, chronic, **item(DrugFactory()))
    settings.RX_MAX_ITEMS = 2
    before = state()

    refused("too_many_items", sign, doc, chronic)

    assert state() == before


def test_the_same_drug_twice_is_refused(doc, chronic):
    add(doc, chronic, **item(amlodipine()))
    before = state()

    error = refused("duplicate_item", add, doc, chronic, **item(amlodipine(), dose="10"))

    assert error.status == 409
    assert state() == before


def test_removing_an_item(doc, chronic):
    line = add(doc, chronic, **item(amlodipine()))
    refused("not_found", services.remove_item, actor=doc.user, prescription_id=chronic.pk, item_id=line.pk + 100)
    services.remove_item(actor=doc.user, prescription_id=chronic.pk, item_id=line.pk)
    assert not PrescriptionItem.objects.filter(pk=line.pk).exists()


def test_an_empty_prescription_is_not_signed(doc, chronic):
    before = state()
    assert refused("no_items", sign, doc, chronic).status == 400
    assert state() == before


# ---- children under 6 --------------------------------------------------------------------------------------------


@pytest.fixture
def child(db):
    today = timezone.localdate()
    return PatientFactory(birth_date=today.replace(year=today.year - 4) - timedelta(days=10))


def test_a_child_under_six_needs_the_guardian_recorded(doc, child):
    asthma = ConditionFactory(patient=child, code="J45.9", display="哮喘")
    rx = draft(doc, visit_in_progress(child, doc, asthma), item(amlodipine(), duration_days=14))
    before = state()

    error = refused("guardian_required", sign, doc, rx)
    assert set(error.fields) == {"guardian_name", "guardian_relationship"}
    assert state() == before

    # A name alone is not enough: the relationship too.
    services.update_prescription(actor=doc.user, prescription_id=rx.pk, guardian_name="王芳")
    refused("guardian_required", sign, doc, rx)

    services.update_prescription(actor=doc.user, prescription_id=rx.pk, guardian_relationship="母亲",
                                 guardian_phone="13800138000")
    rx = sign(doc, rx)
    assert rx.status == RxStatus.SIGNED
    assert (rx.guardian_name, rx.guardian_relationship) == ("王芳", "母亲")


def test_six_years_old_needs_no_guardian(doc, db):
    today = timezone.localdate()
    six = PatientFactory(birth_date=today.replace(year=today.year - 6) - timedelta(days=1))
    rx = draft(doc, visit_in_progress(six, doc), item(amlodipine()))
    assert services.sign_prescription(actor=doc.user, prescription_id=rx.pk, session=fresh_session()).is_signed
