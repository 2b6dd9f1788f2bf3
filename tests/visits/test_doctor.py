"""The doctor's side: the day's second-factor check, accepting and taking from the queue (which opens the chart),
refusing and referring with a reason, the note and closing (which writes an online encounter into the chart).
Every status change follows ``Visit.TRANSITIONS`` and leaves a timeline event."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from ihospital.core.errors import DomainError, NotFound
from ihospital.core.transitions import timeline
from ihospital.records import selectors as records
from ihospital.records.models import CareRelationship, CareSource, Encounter, EncounterMode
from ihospital.scheduling.models import AppointmentStatus
from ihospital.visits import selectors, services
from ihospital.visits.models import ConsultationDay, Message, MessageKind, Visit, VisitNote, VisitStatus
from tests.factories import DepartmentFactory, NurseFactory, PatientFactory, TOTPDeviceFactory
from tests.helpers import current_code, error_of, token_headers, wrong_code
from tests.visits import flows
from tests.visits.factories import ConditionFactory, SlotFactory, online_doctor

pytestmark = pytest.mark.django_db


def code_of(fn, **kwargs) -> tuple[str, int]:
    with pytest.raises(DomainError) as exc:
        fn(**kwargs)
    return exc.value.code, exc.value.status


def refused_without_change(expected: str, fn, **kwargs) -> DomainError:
    before = flows.state()
    with pytest.raises(DomainError) as exc:
        fn(**kwargs)
    assert exc.value.code == expected, (exc.value.code, exc.value.message)
    assert flows.state() == before
    return exc.value


def chart_readable(user, patient) -> bool:
    try:
        records.chart(user, patient.pk)
    except NotFound:
        return False
    return True


# ---- the consultation day -------------------------------------------------------------------------------------


@pytest.fixture
def resting_doc(department):
    """A doctor who may consult online but has not confirmed today's second factor yet."""
    return online_doctor(department, consulting=False)


@pytest.fixture
def resting_visit(patient, diagnosis, resting_doc, department):
    return flows.book(patient, SlotFactory(practitioner=resting_doc, department=department), diagnosis)


ACTIONS = {
    "accept": lambda v, u: services.accept_visit(actor=u, visit_id=v.pk),
    "start": lambda v, u: services.start_visit(actor=u, visit_id=v.pk),
    "refuse": lambda v, u: services.refuse_visit(actor=u, visit_id=v.pk, reason="不适合线上"),
    "refer": lambda v, u: services.refer_in_person(actor=u, visit_id=v.pk, reason="需要查体"),
    "save_note": lambda v, u: services.save_note(actor=u, visit_id=v.pk, **flows.NOTE),
    "close": lambda v, u: services.close_visit(actor=u, visit_id=v.pk),
    "review_basis": lambda v, u: services.review_basis(actor=u, visit_id=v.pk, accept=True, code="I10"),
    "take_next": lambda v, u: services.take_next_from_queue(actor=u, department_id=v.department_id),
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_every_doctor_action_needs_todays_second_factor(resting_visit, resting_doc, action):
    error = refused_without_change("reauthentication_required", ACTIONS[action], v=resting_visit, u=resting_doc.user)
    assert error.status == 401
    assert error.link == "/visits/doctor/start-day/"


def test_yesterdays_confirmation_does_not_count(resting_visit, resting_doc):
    ConsultationDay.objects.create(
        practitioner=resting_doc,
        date=timezone.localdate() - timedelta(days=1),
        verified_at=timezone.now() - timedelta(days=1),
    )
    refused_without_change(
        "reauthentication_required", services.accept_visit, actor=resting_doc.user, visit_id=resting_visit.pk
    )


def test_reauthentication_over_the_api_carries_the_link(client, resting_visit, resting_doc):
    headers = token_headers(resting_doc.user)
    response = client.post(f"/api/visits/{resting_visit.pk}/accept", headers=headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == "reauthentication_required"
    assert error_of(response)["link"] == "/visits/doctor/start-day/"


def test_starting_the_day_with_the_code_unlocks_the_actions(client, resting_visit, resting_doc, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # the device's own back-off after a wrong code is not under test
    device = resting_doc.user.totpdevice_set.get()
    headers = token_headers(resting_doc.user)

    wrong = client.post(
        "/api/visits/consultation-day", {"code": wrong_code(device)}, content_type="application/json", headers=headers
    )
    assert wrong.status_code == 401
    assert error_of(wrong)["code"] == "invalid_second_factor"
    assert not ConsultationDay.objects.exists()

    response = client.post(
        "/api/visits/consultation-day", {"code": current_code(device)}, content_type="application/json", headers=headers
    )
    assert response.status_code == 201, response.content
    assert response.json() == {"date": timezone.localdate().isoformat()}
    day = ConsultationDay.objects.get()
    assert day.practitioner == resting_doc and day.date == timezone.localdate()

    assert flows.accept(resting_visit, resting_doc).status == VisitStatus.ACCEPTED


def test_a_doctor_with_less_than_three_years_may_not_consult_online(department):
    junior = online_doctor(
        department, consulting=False, independent_practice_since=timezone.localdate() - timedelta(days=2 * 365)
    )
    device = junior.user.totpdevice_set.get()
    error = refused_without_change(
        "not_eligible_for_online_practice",
        services.start_consultation_day,
        actor=junior.user,
        code=current_code(device),
    )
    assert error.status == 403


def test_only_doctors_start_a_consultation_day(patient):
    nurse = NurseFactory()
    device = TOTPDeviceFactory(user=nurse.user)
    assert code_of(services.start_consultation_day, actor=nurse.user, code=current_code(device)) == (
        "not_a_doctor",
        403,
    )
    assert code_of(services.start_consultation_day, actor=patient.user, code="123456") == ("not_a_doctor", 403)
    assert not ConsultationDay.objects.exists()


# ---- accepting ----------------------------------------------------------------------------------------------------


def test_accepting_opens_the_chart_to_the_doctor(patient, diagnosis, slot, doc):
    visit = flows.book(patient, slot, diagnosis)
    assert not chart_readable(doc.user, patient)

    visit = flows.accept(visit, doc)

    assert visit.status == VisitStatus.ACCEPTED and visit.accepted_at is not None
    chart = records.chart(doc.user, patient.pk)
    assert chart.access == "clinician" and diagnosis in chart.conditions
    care = CareRelationship.objects.get(clinician=doc.user, patient=patient)
    assert (care.source, care.source_id, care.ends_at) == (CareSource.VISIT, str(visit.pk), None)
    assert Message.objects.filter(visit=visit, kind=MessageKind.SYSTEM, sender=None).count() == 1


def test_another_doctor_cannot_act_on_the_visit(patient, diagnosis, slot, department):
    visit = flows.book(patient, slot, diagnosis)
    colleague = online_doctor(department)
    for action in ("accept", "start", "refuse", "refer", "save_note", "close", "review_basis"):
        error = refused_without_change("not_found", ACTIONS[action], v=visit, u=colleague.user)
        assert error.status == 404
    assert not chart_readable(colleague.user, patient)


# ---- the queue -------------------------------------------------------------------------------------------------------


def test_take_next_takes_the_oldest_waiting_patient(department, doc):
    waiting = []
    for _ in range(3):
        person = PatientFactory()
        waiting.append(flows.queue(person, department, ConditionFactory(patient=person)))
    # Queued in this order (queued_at, then id, decides).
    assert [v.pk for v in selectors.queue_of(department.pk)] == [v.pk for v in waiting]
    assert [selectors.queue_position(v)[0] for v in waiting] == [1, 2, 3]

    taken = services.take_next_from_queue(actor=doc.user, department_id=department.pk)

    assert taken.pk == waiting[0].pk
    assert taken.doctor == doc and taken.status == VisitStatus.ACCEPTED and not taken.in_queue
    assert chart_readable(doc.user, taken.patient)
    assert not chart_readable(doc.user, waiting[1].patient)
    assert [selectors.queue_position(Visit.objects.get(pk=v.pk))[0] for v in waiting[1:]] == [1, 2]
    assert services.take_next_from_queue(actor=doc.user, department_id=department.pk).pk == waiting[1].pk


def test_take_next_from_an_empty_queue_or_another_department(department, doc):
    refused_without_change("queue_empty", services.take_next_from_queue, actor=doc.user, department_id=department.pk)
    person = PatientFactory()
    elsewhere = DepartmentFactory()
    flows.queue(person, elsewhere, ConditionFactory(patient=person))
    error = refused_without_change(
        "not_found", services.take_next_from_queue, actor=doc.user, department_id=elsewhere.pk
    )
    assert error.status == 404


def test_a_queued_record_waiting_for_review_is_taken_without_accepting(department, doc, patient):
    from ihospital.records.models import DocumentKind
    from tests.visits.factories import DocumentFactory

    document = DocumentFactory(patient=patient, kind=DocumentKind.OUTPATIENT_RECORD)
    visit = services.request_visit(
        online_care_consent=True,
        actor=patient.user,
        patient_id=patient.pk,
        complaint="外院门诊病历",
        document_id=document.pk,
        department_id=department.pk,
    )
    taken = services.take_next_from_queue(actor=doc.user, department_id=department.pk)
    assert taken.pk == visit.pk and taken.doctor == doc
    assert taken.status == VisitStatus.REQUESTED  # the record is reviewed first
    assert chart_readable(doc.user, patient)  # to read the uploaded record
    services.review_basis(actor=doc.user, visit_id=visit.pk, accept=True, code="I10")
    assert flows.accept(visit, doc).status == VisitStatus.ACCEPTED


# ---- refusing and referring -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("act", ["refuse", "refer"])
def test_refusing_and_referring_need_a_reason(patient, diagnosis, slot, doc, act):
    visit = flows.book(patient, slot, diagnosis)
    fn = services.refuse_visit if act == "refuse" else services.refer_in_person
    error = refused_without_change("reason_required", fn, actor=doc.user, visit_id=visit.pk, reason=" \n ")
    assert "reason" in error.fields


def test_refusing_frees_the_slot_and_ends_the_doctors_access(patient, diagnosis, slot, doc):
    visit = flows.book(patient, slot, diagnosis)
    visit = services.refuse_visit(actor=doc.user, visit_id=visit.pk, reason="此病情不适合线上复诊")
    assert visit.status == VisitStatus.REFUSED and visit.status_reason == "此病情不适合线上复诊"
    slot.refresh_from_db()
    visit.appointment.refresh_from_db()
    assert slot.booked == 0 and visit.appointment.status == AppointmentStatus.CANCELLED
    assert not Encounter.objects.filter(mode=EncounterMode.ONLINE).exists()
    assert not chart_readable(doc.user, patient)


def test_a_refused_queue_visit_does_not_leave_the_chart_open(department, doc, patient):
    from ihospital.records.models import DocumentKind
    from tests.visits.factories import DocumentFactory

    document = DocumentFactory(patient=patient, kind=DocumentKind.OUTPATIENT_RECORD)
    services.request_visit(
        online_care_consent=True,
        actor=patient.user,
        patient_id=patient.pk,
        complaint="x",
        document_id=document.pk,
        department_id=department.pk,
    )
    visit = services.take_next_from_queue(actor=doc.user, department_id=department.pk)
    assert chart_readable(doc.user, patient)
    services.review_basis(actor=doc.user, visit_id=visit.pk, accept=False, note="病历与本次问题无关")
    assert not chart_readable(doc.user, patient)


def test_an_accepted_visit_cannot_be_refused_any_more(patient, diagnosis, slot, doc):
    visit = flows.accept(flows.book(patient, slot, diagnosis), doc)
    error = refused_without_change(
        "invalid_transition", services.refuse_visit, actor=doc.user, visit_id=visit.pk, reason="太忙"
    )
    assert error.status == 409


@pytest.mark.parametrize("stage", ["requested", "accepted", "in_progress"])
def test_referring_ends_the_visit_with_an_online_encounter(patient, diagnosis, slot, doc, stage):
    visit = flows.book(patient, slot, diagnosis)
    if stage != "requested":
        flows.accept(visit, doc)
    if stage == "in_progress":
        flows.start(visit, doc)

    visit = services.refer_in_person(actor=doc.user, visit_id=visit.pk, reason="血压持续升高，请门诊就诊")

    assert visit.status == VisitStatus.REFERRED
    encounter = Visit.objects.get(pk=visit.pk).encounter
    assert encounter.mode == EncounterMode.ONLINE and encounter.summary == "血压持续升高，请门诊就诊"
    assert encounter.practitioner == doc and encounter.patient == patient
    assert encounter in records.chart(patient.user, patient.pk).encounters
    visit.appointment.refresh_from_db()
    # Referred before the consultation: the place is given back; during it: the appointment was kept.
    expected = AppointmentStatus.COMPLETED if stage == "in_progress" else AppointmentStatus.CANCELLED
    assert visit.appointment.status == expected
    event = timeline(visit).last()
    assert (event.to_status, event.actor, event.reason) == ("referred", doc.user, "血压持续升高，请门诊就诊")


def test_referring_after_the_slot_has_ended(patient, diagnosis, slot, doc):
    """A consultation that runs past its slot can still be referred (the appointment is completed, not cancelled)."""
    visit = flows.start(flows.book(patient, slot, diagnosis), doc)
    now = timezone.now()
    type(slot).objects.filter(pk=slot.pk).update(
        starts_at=now - timedelta(minutes=20), ends_at=now - timedelta(minutes=5)
    )
    visit = services.refer_in_person(actor=doc.user, visit_id=visit.pk, reason="需要心电图检查")
    assert visit.status == VisitStatus.REFERRED
    visit.appointment.refresh_from_db()
    assert visit.appointment.status == AppointmentStatus.COMPLETED


# ---- the note and closing -------------------------------------------------------------------------------------------


def test_the_note_takes_icd10_codes_only(patient, diagnosis, slot, doc):
    visit = flows.start(flows.book(patient, slot, diagnosis), doc)
    error = refused_without_change(
        "invalid_icd10",
        services.save_note,
        actor=doc.user,
        visit_id=visit.pk,
        **{**flows.NOTE, "diagnosis_codes": ["I10", "NOT-A-CODE"]},
    )
    assert error.status == 400

    note = flows.write_note(visit, doc, diagnosis_codes=["i10", "e119", " "])
    assert note.diagnosis_codes == ["I10", "E11.9"] and note.author == doc.user
    # Saving again edits the same note.
    flows.write_note(visit, doc, plan="继续原方案")
    assert VisitNote.objects.get(visit=visit).plan == "继续原方案"
    assert VisitNote.objects.count() == 1


def test_no_note_before_accepting_and_none_after_closing(patient, diagnosis, slot, doc):
    visit = flows.book(patient, slot, diagnosis)
    refused_without_change("note_frozen", services.save_note, actor=doc.user, visit_id=visit.pk, **flows.NOTE)
    flows.close(visit, doc)
    error = refused_without_change(
        "note_frozen", services.save_note, actor=doc.user, visit_id=visit.pk, **{**flows.NOTE, "plan": "改一下"}
    )
    assert error.status == 409
    assert VisitNote.objects.get(visit=visit).plan == flows.NOTE["plan"]


@pytest.mark.parametrize("missing", [None, "assessment", "plan"])
def test_closing_needs_the_assessment_and_the_plan(patient, diagnosis, slot, doc, missing):
    visit = flows.start(flows.book(patient, slot, diagnosis), doc)
    if missing:
        flows.write_note(visit, doc, **{missing: "  "})
    refused_without_change("note_required", services.close_visit, actor=doc.user, visit_id=visit.pk)


def test_closing_writes_the_visit_into_the_chart(patient, diagnosis, slot, doc, settings):
    visit = flows.close(flows.book(patient, slot, diagnosis), doc)

    assert visit.status == VisitStatus.CLOSED and visit.ended_at is not None
    encounter = Visit.objects.get(pk=visit.pk).encounter
    assert encounter.mode == EncounterMode.ONLINE and encounter.practitioner == doc
    assert encounter.department == visit.department and encounter.facility == visit.department.facility
    assert encounter.summary == f"{flows.NOTE['assessment']}\n{flows.NOTE['plan']}"
    assert encounter.reason == visit.complaint and encounter.started_at == visit.started_at
    assert encounter in records.chart(patient.user, patient.pk).encounters
    appointment = visit.appointment
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.COMPLETED
    assert timeline(appointment).get().actor == doc.user

    # The doctor keeps the chart for VISIT_CARE_DAYS, for the questions and refills that follow, then loses it.
    care = CareRelationship.objects.get(clinician=doc.user, patient=patient, source=CareSource.VISIT)
    expected_end = timezone.now() + timedelta(days=settings.VISIT_CARE_DAYS)
    assert abs(care.ends_at - expected_end) < timedelta(minutes=1)
    assert chart_readable(doc.user, patient)
    later = timezone.now() + timedelta(days=settings.VISIT_CARE_DAYS, hours=1)
    with mock.patch("django.utils.timezone.now", return_value=later):
        assert not chart_readable(doc.user, patient)


def test_closing_a_requested_visit_is_an_invalid_transition(client, patient, diagnosis, slot, doc):
    visit = flows.book(patient, slot, diagnosis)
    headers = token_headers(doc.user)
    before = flows.state()
    response = client.post(f"/api/visits/{visit.pk}/close", headers=headers)
    assert response.status_code == 409
    assert error_of(response)["code"] == "invalid_transition"
    assert flows.state() == before


def test_statuses_follow_the_table_and_each_change_is_on_the_timeline(patient, diagnosis, slot, doc):
    visit = flows.book(patient, slot, diagnosis)
    # Skipping a step is refused.
    refused_without_change("invalid_transition", services.start_visit, actor=doc.user, visit_id=visit.pk)
    flows.close(visit, doc)
    for fn, kwargs in (
        (services.accept_visit, {}),
        (services.start_visit, {}),
        (services.refer_in_person, {"reason": "x"}),
        (services.close_visit, {}),
    ):
        refused_without_change("invalid_transition", fn, actor=doc.user, visit_id=visit.pk, **kwargs)

    steps = [(e.from_status, e.to_status, e.actor) for e in timeline(visit)]
    assert steps == [
        ("requested", "accepted", doc.user),
        ("accepted", "in_progress", doc.user),
        ("in_progress", "closed", doc.user),
    ]
    for a, b, _actor in steps:
        assert b in Visit.TRANSITIONS[a]


def test_a_code_typed_at_sign_in_moments_ago_starts_the_day(settings):
    """django-otp refuses the same code twice; a doctor who just signed in with one is not made to wait for the
    next 30-second window. An older sign-in does not count."""
    from datetime import timedelta

    from django.utils import timezone

    from ihospital.accounts.services import SECOND_FACTOR_AT
    from ihospital.visits.models import ConsultationDay
    from tests.visits.factories import online_doctor

    doctor = online_doctor(consulting=False)
    stale = {SECOND_FACTOR_AT: (timezone.now() - timedelta(minutes=settings.CONSULT_REAUTH_MINUTES + 1)).isoformat()}
    with pytest.raises(DomainError) as exc:
        services.start_consultation_day(actor=doctor.user, session=stale)
    assert exc.value.code == "second_factor_required"
    assert not ConsultationDay.objects.filter(practitioner=doctor).exists()

    fresh = {SECOND_FACTOR_AT: timezone.now().isoformat()}
    services.start_consultation_day(actor=doctor.user, session=fresh)
    assert ConsultationDay.objects.filter(practitioner=doctor, date=timezone.localdate()).exists()
