"""Refills: when a patient (or proxy) may ask, the questionnaire and its red flags, and the doctor's four answers
(approve, modify, ask for a visit, refuse); who sees and decides a request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from ihospital.core.models import AuditEvent, AuditOutcome
from ihospital.notifications.models import Notification
from ihospital.prescriptions import realtime, refilling, reviewing, rules, selectors, services
from ihospital.prescriptions.models import Prescription, RefillStatus, RxKind, RxStatus
from ihospital.records import services as records
from ihospital.records.models import CareRelationship, ClinicalStatus, Condition
from tests.factories import DepartmentFactory
from tests.prescriptions.factories import (
    DrugFactory,
    amlodipine,
    answers,
    approve,
    approve_refill,
    fresh_session,
    item,
    make_due,
    metformin,
    monthly,
    refill,
    refused,
    sign,
    signed,
    state,
)
from tests.visits.factories import ConditionFactory, online_doctor

pytestmark = pytest.mark.django_db


@pytest.fixture
def chronic(doc, patient, pharmacist, diagnosis):
    """The seed's monthly prescription (amlodipine 28 days, two refills), approved, with a refill now due."""
    return make_due(monthly(doc, patient, pharmacist, condition=diagnosis))


@pytest.fixture
def request_(chronic):
    """A refill request waiting for the doctor."""
    return refill(chronic)


def listen(group: str):
    """A channel of the test's own in ``group``; returns a function that gives the next event (or None)."""
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)

    async def _next():
        import asyncio

        try:
            return await asyncio.wait_for(layer.receive(channel), timeout=2)
        except TimeoutError:
            return None

    return lambda: async_to_sync(_next)()


# ---- when a refill may be asked for -----------------------------------------------------------------------------


def test_a_due_chronic_prescription_is_refilled_on_request(chronic, patient, doc):
    request_ = refill(chronic)

    assert (request_.status, request_.prescription, request_.source) == (RefillStatus.REQUESTED, chronic, chronic)
    assert (request_.patient, request_.requested_by, request_.doctor) == (patient, patient.user, doc)
    assert request_.department == chronic.department
    assert list(request_.items.all()) == list(chronic.items.all())
    assert request_.answers["systolic"] == 132 and request_.red_flags == []
    assert Notification.objects.filter(user=doc.user, kind="refill.requested").count() == 1


@pytest.mark.parametrize(("kind", "refills"), [(RxKind.ACUTE, 0), (RxKind.CHRONIC, 0)])
def test_a_prescription_without_refills_is_not_refillable(doc, patient, pharmacist, kind, refills):
    rx = make_due(approve(pharmacist, signed(doc, patient, item(amlodipine(), duration_days=7), kind=kind,
                                             refills_allowed=refills)), days_ago=10)
    before = state()
    assert refused("not_refillable", refill, rx).status == 409
    assert state() == before


def test_too_early_is_refused_with_the_date_it_becomes_possible(doc, patient, pharmacist, diagnosis, settings):
    rx = monthly(doc, patient, pharmacist, condition=diagnosis)
    before = state()

    error = refused("refill_too_early", refill, rx)

    due = timezone.localtime(rx.signed_at).date() + timedelta(days=28 - settings.RX_REFILL_EARLY_DAYS)
    assert due.isoformat() in str(error.message)
    assert rules.next_refill_date(rx) == due
    assert state() == before
    # A day before that date it is still too early; from it, fine.
    make_due(rx, days_ago=28 - settings.RX_REFILL_EARLY_DAYS - 1)
    refused("refill_too_early", refill, rx)
    make_due(rx, days_ago=28 - settings.RX_REFILL_EARLY_DAYS)
    assert refill(rx).status == RefillStatus.REQUESTED


def test_a_prescription_not_yet_approved_by_the_pharmacist_is_pending(rx):
    make_due(rx)
    assert refused("refill_pending", refill, rx).status == 409


def test_the_window_for_refills_closes(chronic, settings):
    make_due(chronic, days_ago=settings.RX_REFILL_WINDOW_DAYS + 1)
    assert refused("refill_window_closed", refill, chronic).status == 409


def test_a_diagnosis_no_longer_active_needs_a_visit(chronic, diagnosis):
    Condition.objects.filter(pk=diagnosis.pk).update(clinical_status=ClinicalStatus.RESOLVED)
    assert refused("condition_not_active", refill, chronic).status == 409


def test_one_open_request_per_prescription(request_, chronic, relative):
    before = state()
    assert refused("refill_already_requested", refill, chronic).status == 409
    assert refused("refill_already_requested", refill, chronic, actor=relative).status == 409
    assert state() == before


def test_refills_count_until_they_are_used_up(doc, patient, pharmacist, diagnosis):
    root = make_due(monthly(doc, patient, pharmacist, refills=2, condition=diagnosis))

    first = approve_refill(doc, refill(root))
    assert rules.refills_used(root) == 1
    refused("refill_pending", refill, root)  # the pharmacist has not approved the first refill yet
    make_due(approve(pharmacist, first))
    # The patient may ask from any prescription of the chain: the original holds the count.
    second = approve_refill(doc, refill(first))
    assert second.renewal_of == root and rules.refills_used(root) == 2
    make_due(approve(pharmacist, second))
    before = state()

    error = refused("refills_exhausted", refill, second)

    assert "2" in str(error.message)
    assert state() == before


# ---- the questionnaire ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "fields"),
    [
        ({"new_symptoms": None}, {"new_symptoms"}),
        ({"side_effects": ""}, {"side_effects"}),
        ({"new_symptoms": True}, {"new_symptoms_detail"}),
        ({"side_effects": "yes", "side_effects_detail": "  "}, {"side_effects_detail"}),
        ({"adherence": "sometimes"}, {"adherence"}),
        ({"systolic": None, "diastolic": None}, {"systolic"}),
        ({"systolic": "high"}, {"systolic"}),
        ({"systolic": 80, "diastolic": 95}, {"systolic"}),
        ({"systolic": 300}, {"systolic"}),
    ],
)
def test_an_incomplete_questionnaire_is_refused_with_its_fields(chronic, given, fields):
    before = state()
    error = refused("invalid_answers", refill, chronic, answers=answers(**given))
    assert set(error.fields) == fields
    assert state() == before


def test_answers_must_be_a_mapping(chronic):
    refused("invalid_answers", refill, chronic, answers=["yes"])


def test_the_blood_pressure_is_required_for_hypertension_only(doc, patient, pharmacist):
    diabetes = ConditionFactory(patient=patient, code="E11.9", display="2型糖尿病")
    rx = make_due(monthly(doc, patient, pharmacist, item(metformin(), dose="500", frequency="bid"),
                          condition=diabetes))
    no_pressure = {"new_symptoms": "no", "side_effects": "no", "adherence": "missed_some"}

    refused("invalid_answers", refill, rx, answers={**no_pressure, "fasting_glucose": "40"})
    request_ = refill(rx, answers={**no_pressure, "fasting_glucose": "3.2", "comment": " 偶尔头晕 "})

    assert request_.answers == {"new_symptoms": False, "new_symptoms_detail": "", "side_effects": False,
                                "side_effects_detail": "", "adherence": "missed_some", "fasting_glucose": "3.2",
                                "comment": "偶尔头晕"}
    assert request_.red_flags == ["hypoglycaemia"]


@pytest.mark.parametrize(
    ("given", "flags"),
    [
        ({"systolic": 185, "diastolic": 100}, ["blood_pressure_very_high"]),
        ({"systolic": 150, "diastolic": 112}, ["blood_pressure_very_high"]),
        ({"systolic": 179, "diastolic": 109}, []),
        ({"systolic": 85, "diastolic": 55}, ["blood_pressure_low"]),
        ({"adherence": "stopped"}, ["stopped_medicine"]),
        ({"new_symptoms": True, "new_symptoms_detail": "胸闷"}, ["new_symptoms"]),
        ({"side_effects": "yes", "side_effects_detail": "脚踝水肿"}, ["side_effects"]),
    ],
)
def test_red_flags_for_the_doctor(chronic, given, flags):
    assert refill(chronic, answers=answers(**given)).red_flags == flags


# ---- choosing items ------------------------------------------------------------------------------------------------


@pytest.fixture
def two_medicines(doc, patient, pharmacist, diagnosis):
    other = DrugFactory(generic_name_zh="氢氯噻嗪片", generic_name_en="Hydrochlorothiazide tablets")
    return make_due(monthly(doc, patient, pharmacist, item(amlodipine()), item(other, dose="5"),
                            condition=diagnosis))


def test_some_of_the_items(two_medicines, doc):
    first, second = two_medicines.items.all()

    request_ = refill(two_medicines, item_ids=[second.pk])

    assert list(request_.items.all()) == [second]
    renewal = approve_refill(doc, request_)
    assert [i.drug_id for i in renewal.items.all()] == [second.drug_id]


def test_items_of_another_prescription_are_refused(two_medicines, doc, patient):
    stranger = signed(doc, patient, item(DrugFactory())).items.get()
    before = state()
    error = refused("invalid_items", refill, two_medicines, item_ids=[two_medicines.items.first().pk, stranger.pk])
    assert str(stranger.pk) in error.fields["item_ids"]
    assert state() == before


# ---- approving -----------------------------------------------------------------------------------------------------


def test_approving_signs_a_new_prescription_linked_to_the_original(request_, chronic, doc, patient, relative,
                                                                   pharmacist, django_capture_on_commit_callbacks):
    pharmacy = listen(realtime.PHARMACY)

    with django_capture_on_commit_callbacks(execute=True):
        renewal = approve_refill(doc, request_)

    assert (renewal.status, renewal.renewal_of, renewal.doctor, renewal.visit) == (RxStatus.SIGNED, chronic, doc, None)
    assert renewal.refills_allowed == 0 and renewal.content_hash == services.hash_content(renewal)
    assert services.content_of(renewal)["renewal_of"] == chronic.number
    assert [(i.drug_id, i.dose, i.duration_days) for i in renewal.items.all()] == [
        (i.drug_id, i.dose, i.duration_days) for i in chronic.items.all()]
    request_.refresh_from_db()
    assert (request_.status, request_.result, request_.modified, request_.decided_by) == (
        RefillStatus.APPROVED, renewal, False, doc.user)
    assert rules.refills_used(chronic) == 1
    assert renewal in selectors.review_worklist(pharmacist)
    assert pharmacy() == {"type": "rx.changed", "what": "prescription", "id": renewal.pk, "status": "signed"}
    told = Notification.objects.filter(kind="refill.approved")
    assert sorted(n.user_id for n in told) == sorted([patient.user.pk, relative.pk])


def test_approving_needs_the_second_factor(request_, doc):
    before = state()
    refused("second_factor_required", refilling.approve_refill, actor=doc.user, refill_id=request_.pk)
    assert state() == before


def test_approving_is_stopped_by_a_finding_until_the_doctor_gives_a_reason(request_, patient, doc):
    allergy = records.add_allergy(actor=patient.user, patient_id=patient.pk, substance="氨氯地平过敏")
    before = state()

    error = refused("check_findings_unresolved", approve_refill, doc, request_)

    assert set(error.fields) == {f"allergy:CV-AML-5:{allergy.pk}"}
    assert state() == before  # no draft left behind, the request still waits
    renewal = approve_refill(doc, request_, {f"allergy:CV-AML-5:{allergy.pk}": "既往服用无反应，过敏记录有误"})
    assert renewal.checks[0]["override"] == "既往服用无反应，过敏记录有误"


def test_a_decided_request_is_not_decided_again(request_, doc):
    approve_refill(doc, request_)
    before = state()
    for act in (approve_refill, lambda d, r: refilling.modify_refill(actor=d.user, refill_id=r.pk)):
        assert refused("refill_decided", act, doc, request_).status == 409
    refused("invalid_transition", refilling.refuse_refill, actor=doc.user, refill_id=request_.pk, reason="x")
    assert state() == before


def test_deciding_opens_the_chart_to_the_deciding_doctor(request_, department, patient):
    colleague = online_doctor(department)
    approve_refill(colleague, request_)
    assert CareRelationship.objects.filter(clinician=colleague.user, patient=patient).exists()


# ---- modifying -----------------------------------------------------------------------------------------------------


def test_modifying_opens_a_draft_whose_signature_approves_the_request(request_, chronic, doc):
    draft = refilling.modify_refill(actor=doc.user, refill_id=request_.pk)
    assert (draft.status, draft.renewal_of, draft.refills_allowed) == (RxStatus.DRAFT, chronic, 0)
    request_.refresh_from_db()
    assert (request_.status, request_.result) == (RefillStatus.DRAFTING, draft)

    line = draft.items.get()
    services.remove_item(actor=doc.user, prescription_id=draft.pk, item_id=line.pk)
    services.add_item(actor=doc.user, prescription_id=draft.pk, **item(amlodipine(), dose="10"))
    signed_draft = sign(doc, draft)

    request_.refresh_from_db()
    assert (request_.status, request_.result, request_.modified) == (RefillStatus.APPROVED, signed_draft, True)
    assert signed_draft.items.get().dose == 10
    assert rules.refills_used(chronic) == 1


def test_cancelling_the_modified_draft_puts_the_request_back(request_, doc):
    draft = refilling.modify_refill(actor=doc.user, refill_id=request_.pk)

    services.cancel_prescription(actor=doc.user, prescription_id=draft.pk, reason="")

    request_.refresh_from_db()
    assert (request_.status, request_.result) == (RefillStatus.REQUESTED, None)
    assert request_ in selectors.refill_worklist(doc.user)
    assert approve_refill(doc, request_).status == RxStatus.SIGNED


@pytest.mark.parametrize("close", ["refuse", "ask_visit"])
def test_closing_a_request_being_modified_cancels_its_draft(request_, doc, close):
    draft = refilling.modify_refill(actor=doc.user, refill_id=request_.pk)
    act = refilling.refuse_refill if close == "refuse" else refilling.ask_visit_for_refill
    act(actor=doc.user, refill_id=request_.pk, reason="血压控制不佳")
    draft.refresh_from_db()
    assert draft.status == RxStatus.CANCELLED


# ---- asking for a visit, refusing, cancelling ----------------------------------------------------------------------


def test_asking_for_a_visit(request_, doc, patient, relative):
    before = state()
    assert refused("reason_required", refilling.ask_visit_for_refill, actor=doc.user, refill_id=request_.pk,
                   reason=" ").status == 400
    assert state() == before

    closed = refilling.ask_visit_for_refill(actor=doc.user, refill_id=request_.pk,
                                            reason="血压偏高，需在线复诊调整用药")

    assert (closed.status, closed.response, closed.decided_by) == (
        RefillStatus.VISIT_NEEDED, "血压偏高，需在线复诊调整用药", doc.user)
    told = Notification.objects.filter(kind="refill.visit_needed")
    assert sorted(n.user_id for n in told) == sorted([patient.user.pk, relative.pk])
    assert {n.link for n in told} == {"/visits/new/"} and {n.body for n in told} == {closed.response}
    assert rules.refills_used(request_.prescription) == 0


def test_refusing_needs_a_reason_the_patient_reads(request_, doc, patient):
    refused("reason_required", refilling.refuse_refill, actor=doc.user, refill_id=request_.pk, reason="")
    closed = refilling.refuse_refill(actor=doc.user, refill_id=request_.pk, reason="请到门诊复查肾功能")
    assert closed.status == RefillStatus.REFUSED
    assert Notification.objects.get(user=patient.user, kind="refill.refused").body == "请到门诊复查肾功能"


def test_the_patient_may_cancel_and_ask_again(request_, chronic, doc):
    refused("not_found", refilling.cancel_refill, actor=doc.user, refill_id=request_.pk)
    cancelled = refilling.cancel_refill(actor=chronic.patient.user, refill_id=request_.pk)
    assert cancelled.status == RefillStatus.CANCELLED
    assert request_ not in selectors.refill_worklist(doc.user)
    assert refill(chronic).status == RefillStatus.REQUESTED


def test_a_request_the_doctor_is_adjusting_is_not_cancelled_by_the_patient(request_, doc, patient):
    refilling.modify_refill(actor=doc.user, refill_id=request_.pk)
    before = state()
    refused("invalid_transition", refilling.cancel_refill, actor=patient.user, refill_id=request_.pk)
    assert state() == before


# ---- who asks, who decides -----------------------------------------------------------------------------------


def test_a_proxy_asks_for_their_patient(chronic, relative, patient):
    request_ = refill(chronic, actor=relative)
    assert (request_.patient, request_.requested_by) == (patient, relative)
    assert refilling.cancel_refill(actor=relative, refill_id=request_.pk).status == RefillStatus.CANCELLED


def test_a_doctor_of_the_department_who_did_not_write_it_sees_and_decides(request_, department):
    colleague = online_doctor(department)
    assert request_ in selectors.refill_worklist(colleague.user)
    assert selectors.refill_for(colleague.user, request_.pk)[1] == "doctor"

    renewal = approve_refill(colleague, request_)

    assert renewal.doctor == colleague and renewal.department == department


def test_a_doctor_of_another_department_gets_404(request_):
    stranger = online_doctor(DepartmentFactory())
    before = state()

    assert list(selectors.refill_worklist(stranger.user)) == []
    for act in (
        lambda: selectors.refill_for(stranger.user, request_.pk),
        lambda: approve_refill(stranger, request_),
        lambda: refilling.modify_refill(actor=stranger.user, refill_id=request_.pk),
        lambda: refilling.refuse_refill(actor=stranger.user, refill_id=request_.pk, reason="no"),
        lambda: refilling.ask_visit_for_refill(actor=stranger.user, refill_id=request_.pk, reason="no"),
    ):
        assert refused("not_found", act).status == 404

    assert state() == before
    assert AuditEvent.objects.filter(actor=stranger.user, outcome=AuditOutcome.DENIED, object_id=str(request_.pk),
                                     object_type="prescriptions.refillrequest").count() == 5


def test_the_worklist_holds_open_requests_only(request_, doc, patient, pharmacist):
    other = make_due(monthly(doc, patient, pharmacist, item(DrugFactory())))
    second = refill(other)
    refilling.refuse_refill(actor=doc.user, refill_id=second.pk, reason="请复诊")
    drafting = refilling.modify_refill(actor=doc.user, refill_id=request_.pk)

    assert list(selectors.refill_worklist(doc.user)) == [request_]
    assert drafting.renewal_of == request_.prescription
    refused("not_found", selectors.refill_worklist, patient.user)


# ---- the patient's view ---------------------------------------------------------------------------------------------


def test_the_patient_sees_which_prescriptions_can_be_refilled(chronic, doc, patient, pharmacist):
    early = monthly(doc, patient, pharmacist, item(DrugFactory()))

    rows = {row.root.pk: row for row in selectors.refillable_prescriptions(patient.user, patient.pk)}

    assert set(rows) == {chronic.pk, early.pk}
    assert rows[chronic.pk].refusal is None and rows[chronic.pk].open_request is None
    assert rows[early.pk].refusal.code == "refill_too_early"
    request_ = refill(chronic)
    row = next(r for r in selectors.refillable_prescriptions(patient.user, patient.pk) if r.root == chronic)
    assert row.open_request == request_
    assert list(selectors.refills_of_patient(patient.user, patient.pk)) == [request_]


def test_current_medications_list_what_the_patient_takes(chronic, patient):
    records.add_medication(actor=patient.user, patient_id=patient.pk, medication="阿司匹林肠溶片", dose="100 mg")
    Prescription.objects.filter(pk=chronic.pk).update(signed_at=timezone.now() - timedelta(days=40))

    names = [m.name for m in selectors.current_medications(patient.user, patient.pk)]
    assert names == ["阿司匹林肠溶片"]  # the prescription's supply ran out

    Prescription.objects.filter(pk=chronic.pk).update(signed_at=timezone.now() - timedelta(days=3))
    (medicine, statement) = selectors.current_medications(patient.user, patient.pk)
    assert medicine.prescription == chronic and "5 mg" in medicine.name
    assert statement.prescription is None and statement.detail == "100 mg"


def test_the_refill_is_still_signed_with_a_fresh_session(request_, doc):
    renewal = refilling.approve_refill(actor=doc.user, refill_id=request_.pk, session=fresh_session())
    assert renewal.is_signed


@pytest.mark.parametrize(("said", "meant"), [("Yes", True), ("YES", True), ("是", True), (1, True), ("No", False),
                                             ("否", False), (0, False), ("false", False)])
def test_yes_and_no_however_they_are_written(chronic, said, meant):
    request_ = refill(chronic, answers=answers(new_symptoms=said, new_symptoms_detail="胸闷"))
    assert request_.answers["new_symptoms"] is meant
    assert ("new_symptoms" in request_.red_flags) is meant


@pytest.mark.parametrize("said", ["maybe", "sometimes", [], {"yes": 1}, 2])
def test_an_answer_that_is_neither_yes_nor_no_is_refused(chronic, said):
    # Read as "no", a "maybe" would hide a red flag from the doctor.
    before = state()
    error = refused("invalid_answers", refill, chronic, answers=answers(side_effects=said))
    assert set(error.fields) == {"side_effects"}
    assert state() == before


def test_item_ids_that_are_not_numbers_are_refused(chronic):
    error = refused("invalid_items", refill, chronic, item_ids=["first"])
    assert error.status == 400


def test_a_renewal_never_collected_does_not_block_the_next_refill(doc, patient, pharmacist, diagnosis):
    root = make_due(monthly(doc, patient, pharmacist, refills=2, condition=diagnosis), days_ago=30)
    renewal = approve(pharmacist, approve_refill(doc, refill(root)))
    # The patient never ordered it: it expired three days later.
    Prescription.objects.filter(pk=renewal.pk).update(valid_until=timezone.now() - timedelta(seconds=1))
    assert services.expire_prescription(prescription_id=renewal.pk)

    assert rules.latest_in_chain(root) == root
    request_ = refill(root)  # due again from the original's supply
    # The expired renewal gave the patient nothing, so it does not use up a refill.
    assert request_.source == root and rules.refills_used(root) == 0


def test_a_rejected_renewal_gives_its_refill_back_and_its_signed_revision_uses_it(doc, patient, pharmacist, diagnosis):
    root = make_due(monthly(doc, patient, pharmacist, refills=1, condition=diagnosis), days_ago=30)
    renewal = approve_refill(doc, refill(root))
    assert rules.refills_used(root) == 1
    reviewing.review_prescription(actor=pharmacist, prescription_id=renewal.pk, approve=False, reasons=["dose"],
                                 comment="剂量请复核")
    assert rules.refills_used(root) == 0
    revision = services.revise_prescription(actor=doc.user, prescription_id=renewal.pk)
    assert revision.renewal_of_id == root.pk and rules.refills_used(root) == 0
    sign(doc, revision)
    assert rules.refills_used(root) == 1


def test_an_original_that_expired_uncollected_can_be_refilled_at_once(doc, patient, pharmacist, diagnosis):
    root = monthly(doc, patient, pharmacist, refills=2, condition=diagnosis)
    Prescription.objects.filter(pk=root.pk).update(valid_until=timezone.now() - timedelta(seconds=1))
    assert services.expire_prescription(prescription_id=root.pk)
    root.refresh_from_db()
    # Signed today, so a dispensed one would be far too early; this one never supplied anything.
    request_ = refill(root)
    assert request_.source == root and request_.status == "requested"
