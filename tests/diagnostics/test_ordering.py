"""Ordering tests: only a doctor, in a visit in progress or a recent in-person encounter, for a reason, the contrast
safety questions, duplicates, and what an order leaves behind (number, price, audit, notification, care access);
and the scoped reads of orders (others get 404, audited)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ihospital.core.errors import DomainError, NotFound
from ihospital.core.models import AuditEvent, AuditOutcome
from ihospital.diagnostics import ordering, selectors
from ihospital.diagnostics.models import DiagnosticKind, DiagnosticOrder, Modality, OrderStatus, Specimen
from ihospital.notifications.models import Notification
from ihospital.records.models import CareRelationship, CareSource
from tests.diagnostics import factories as f
from tests.factories import PatientFactory
from tests.visits.factories import EncounterFactory

pytestmark = pytest.mark.django_db

SAFE = {"contrast_allergy": False, "egfr": 85, "creatinine_umol_l": None, "metformin": False, "pregnant": False}


@pytest.fixture
def glucose():
    return f.DiagnosticTestFactory(code="fpg", price_fen=1500,
                                   preparation={"fasting_hours": 8, "morning_only": True})


@pytest.fixture
def ct():
    return f.DiagnosticTestFactory(code="ct_abdomen_contrast", kind=DiagnosticKind.IMAGING, modality=Modality.CT,
                                   specimen=Specimen.NONE, price_fen=60000, preparation={"contrast": True})


def place(doctor, patient, encounter, test, **kw):
    return ordering.order(actor=doctor.user, patient_id=patient.pk, test_code=test.code,
                          reason=kw.pop("reason", "空腹血糖复查"), encounter_id=encounter.pk, **kw)


def code_of(exc_info) -> str:
    return exc_info.value.code


def test_a_doctor_orders_at_an_in_person_encounter(doctor, patient, encounter, glucose, relative):
    order = place(doctor, patient, encounter, glucose)
    order.refresh_from_db()
    assert order.status == OrderStatus.ORDERED
    assert order.number == f"DX{timezone.localdate():%Y%m%d}{order.pk:06d}"
    assert order.price_fen == 1500
    assert order.encounter == encounter and order.visit is None and order.doctor == doctor
    assert AuditEvent.objects.filter(object_type="diagnostics.diagnosticorder", object_id=str(order.pk),
                                     action="create", patient_id=patient.pk).exists()
    told = Notification.objects.filter(kind="diagnostics.ordered")
    assert {n.user for n in told} == {patient.user, relative}
    assert all(n.link == f"/diagnostics/orders/{order.pk}/" for n in told)
    assert CareRelationship.objects.filter(patient=patient, clinician=doctor.user, source=CareSource.ORDER,
                                           source_id=str(order.pk)).exists()


def test_a_doctor_orders_during_an_online_visit_in_progress(doctor, patient, glucose):
    from tests.prescriptions.factories import visit_in_progress

    visit = visit_in_progress(patient, doctor)
    order = ordering.order(actor=doctor.user, patient_id=patient.pk, test_code="fpg", reason="复查",
                           visit_id=visit.pk)
    assert order.visit == visit and order.encounter is None


def test_not_in_a_visit_of_another_doctor_or_after_it_closed(doctor, patient, glucose):
    from ihospital.visits.models import Visit, VisitStatus
    from tests.prescriptions.factories import visit_in_progress
    from tests.visits.factories import online_doctor

    other = online_doctor()
    visit = visit_in_progress(patient, other)
    with pytest.raises(DomainError) as e:
        ordering.order(actor=doctor.user, patient_id=patient.pk, test_code="fpg", reason="复查", visit_id=visit.pk)
    assert code_of(e) == "no_context"
    Visit.objects.filter(pk=visit.pk).update(status=VisitStatus.CLOSED)
    with pytest.raises(DomainError) as e:
        ordering.order(actor=other.user, patient_id=patient.pk, test_code="fpg", reason="复查", visit_id=visit.pk)
    assert code_of(e) == "no_context"


def test_a_patient_cannot_order_imaging_for_themselves(patient, encounter, ct):
    with pytest.raises(DomainError) as e:
        ordering.order(actor=patient.user, patient_id=patient.pk, test_code=ct.code, reason="想查一下",
                       encounter_id=encounter.pk, safety=SAFE)
    assert code_of(e) == "not_a_doctor" and e.value.status == 403
    assert not DiagnosticOrder.objects.exists()


def test_an_unverified_doctor_or_a_nurse_cannot_order(patient, encounter, glucose, lab_tech):
    from tests.factories import DoctorFactory, NurseFactory

    for user in (DoctorFactory(verified_at=None).user, NurseFactory().user, lab_tech):
        with pytest.raises(DomainError) as e:
            ordering.order(actor=user, patient_id=patient.pk, test_code="fpg", reason="复查",
                           encounter_id=encounter.pk)
        assert code_of(e) == "not_a_doctor"


def test_context_is_required(doctor, patient, glucose):
    cases = [
        {},  # none given
        {"encounter_id": EncounterFactory(patient=patient, practitioner=doctor).pk},  # 30 days + ago
        {"encounter_id": EncounterFactory(patient=patient, started_at=timezone.now() - timedelta(days=1)).pk},
        {"encounter_id": EncounterFactory(patient=patient, practitioner=doctor, online=True,
                                          started_at=timezone.now() - timedelta(days=1)).pk},
        {"encounter_id": EncounterFactory(practitioner=doctor, started_at=timezone.now() - timedelta(days=1)).pk},
    ]
    for kw in cases:
        with pytest.raises(DomainError) as e:
            ordering.order(actor=doctor.user, patient_id=patient.pk, test_code="fpg", reason="复查", **kw)
        assert code_of(e) == "no_context", kw
    assert not DiagnosticOrder.objects.exists()


def test_reason_required_and_test_must_be_active(doctor, patient, encounter, glucose):
    with pytest.raises(DomainError) as e:
        place(doctor, patient, encounter, glucose, reason="   ")
    assert code_of(e) == "reason_required"
    glucose.active = False
    glucose.save()
    with pytest.raises(DomainError) as e:
        place(doctor, patient, encounter, glucose)
    assert code_of(e) == "test_not_found" and e.value.status == 404


def test_duplicate_until_resulted(doctor, patient, encounter, glucose):
    first = place(doctor, patient, encounter, glucose)
    with pytest.raises(DomainError) as e:
        place(doctor, patient, encounter, glucose)
    assert code_of(e) == "already_ordered" and e.value.status == 409
    DiagnosticOrder.objects.filter(pk=first.pk).update(status=OrderStatus.RESULTED)
    assert place(doctor, patient, encounter, glucose).pk != first.pk


def test_contrast_needs_the_safety_answers(doctor, patient, encounter, ct):
    with pytest.raises(DomainError) as e:
        place(doctor, patient, encounter, ct)
    assert code_of(e) == "safety_required"
    with pytest.raises(DomainError) as e:
        place(doctor, patient, encounter, ct, safety={**SAFE, "pregnant": None, "egfr": "high"})
    assert code_of(e) == "safety_required" and set(e.value.fields) == {"pregnant", "egfr"}
    refusals = [
        ({"contrast_allergy": True}, "contrast_allergy"),
        ({"egfr": 29}, "renal_function_too_low"),
        ({"egfr": None, "creatinine_umol_l": None}, "renal_function_required"),
        ({"pregnant": True}, "pregnant"),
        # No eGFR given: estimated from creatinine (CKD-EPI 2021); 400 µmol/L is far below 30.
        ({"egfr": None, "creatinine_umol_l": 400}, "renal_function_too_low"),
    ]
    for change, code in refusals:
        with pytest.raises(DomainError) as e:
            place(doctor, patient, encounter, ct, safety={**SAFE, **change})
        assert code_of(e) == code, change
    assert not DiagnosticOrder.objects.exists()


def test_contrast_order_with_metformin_records_the_hold(doctor, patient, encounter, ct):
    order = place(doctor, patient, encounter, ct, safety={**SAFE, "egfr": None, "creatinine_umol_l": 70,
                                                          "metformin": True})
    order.refresh_from_db()
    assert order.safety["egfr_estimated"] >= 60
    assert order.safety["metformin_hold"]["hours_after"] == 48
    assert order.safety["contrast_allergy"] is False and order.price_fen == 60000


def test_ckd_epi_2021_matches_published_values():
    # 60-year-old man, creatinine 1.0 mg/dL (88.4 µmol/L): eGFR ≈ 86; 60-year-old woman, 0.7 mg/dL: ≈ 99.
    assert round(ordering.ckd_epi_2021(88.4, age=60, female=False)) == 86
    assert round(ordering.ckd_epi_2021(0.7 * 88.4, age=60, female=True)) == 99


def test_non_contrast_exam_ignores_safety(doctor, patient, encounter, glucose):
    assert place(doctor, patient, encounter, glucose).safety == {}


def test_scoped_reads(doctor, patient, encounter, glucose, relative, lab_tech):
    order = place(doctor, patient, encounter, glucose)
    for user, role in ((patient.user, "patient"), (relative, "patient"), (doctor.user, "doctor"), (lab_tech, "lab")):
        assert selectors.order_for(user, order.pk) == (order, role)
    assert list(selectors.orders_of_patient(relative, patient.pk)) == [order]
    stranger = PatientFactory()
    from tests.visits.factories import online_doctor

    for user in (stranger.user, online_doctor().user):
        with pytest.raises(NotFound):
            selectors.order_for(user, order.pk)
    with pytest.raises(NotFound):
        selectors.orders_of_patient(stranger.user, patient.pk)
    for bad in ("abc", None, 999999):
        with pytest.raises(NotFound):
            selectors.order_for(patient.user, bad)
    denied = AuditEvent.objects.filter(outcome=AuditOutcome.DENIED)
    assert denied.filter(object_type="diagnostics.diagnosticorder", object_id=str(order.pk)).count() == 2
    assert denied.filter(object_type="accounts.patientprofile").count() == 1
    assert denied.filter(actor=patient.user).count() == 3
    assert AuditEvent.objects.filter(action="read", outcome=AuditOutcome.OK, object_id=str(order.pk)).count() == 4
