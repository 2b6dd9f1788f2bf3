"""Two ways into a visit: a booked slot of a chosen doctor (``book_slot`` inside ``request_visit``), or a place in
a department's queue. Proxies request for their patient; anyone else's patient id is a 404."""

from __future__ import annotations

import pytest

from ihospital.core.errors import DomainError
from ihospital.core.models import AuditEvent, AuditOutcome
from ihospital.scheduling.models import Appointment, AppointmentStatus, VisitMode
from ihospital.visits import selectors, services
from ihospital.visits.models import Visit, VisitStatus
from tests.factories import DepartmentFactory, PatientFactory
from tests.helpers import error_of, token_headers
from tests.visits import flows
from tests.visits.factories import ConditionFactory, SlotFactory, online_doctor

pytestmark = pytest.mark.django_db


def code_of(fn, *args, **kwargs) -> tuple[str, int]:
    with pytest.raises(DomainError) as exc:
        fn(*args, **kwargs)
    return exc.value.code, exc.value.status


# ---- booking path ---------------------------------------------------------------------------------------------


def test_booking_a_slot_makes_the_slots_doctor_the_visits_doctor(patient, diagnosis, department):
    chosen = online_doctor(department)
    online_doctor(department)  # a colleague in the same department is not involved
    slot = SlotFactory(practitioner=chosen, department=department, mode=VisitMode.VIDEO)

    visit = flows.book(patient, slot, diagnosis)

    assert visit.doctor == chosen and visit.department == department and visit.mode == VisitMode.VIDEO
    assert visit.queued_at is None and not visit.in_queue
    appointment = visit.appointment
    assert appointment.slot == slot and appointment.patient == patient and appointment.booked_by == patient.user
    assert appointment.status == AppointmentStatus.BOOKED
    slot.refresh_from_db()
    assert slot.booked == 1
    assert selectors.queue_position(visit) is None
    assert list(selectors.doctor_worklist(chosen.user)) == [visit]


def test_a_full_slot_refuses_and_creates_no_visit(patient, diagnosis, doc, department):
    slot = SlotFactory(practitioner=doc, department=department, capacity=1)
    someone = PatientFactory()
    flows.book(someone, slot, ConditionFactory(patient=someone))  # someone else takes the only place
    before = flows.state()
    assert code_of(flows.book, patient, slot, diagnosis) == ("slot_full", 409)
    assert flows.state() == before


def test_booking_the_same_slot_twice_is_refused(patient, diagnosis, slot):
    flows.book(patient, slot, diagnosis)
    before = flows.state()
    assert code_of(flows.book, patient, slot, diagnosis) == ("already_booked", 409)
    assert flows.state() == before


# ---- queue path ------------------------------------------------------------------------------------------------


def test_queueing_waits_for_the_next_doctor(patient, diagnosis, department, doc):
    visit = flows.queue(patient, department, diagnosis, mode=VisitMode.VIDEO)

    assert visit.status == VisitStatus.REQUESTED and visit.doctor is None and visit.appointment is None
    assert visit.in_queue and visit.queued_at is not None and visit.mode == VisitMode.VIDEO
    assert selectors.queue_position(visit) == (1, 0)
    assert list(selectors.department_queue(doc.user, department.pk)) == [visit]
    assert Appointment.objects.count() == 0


def test_a_second_place_in_the_same_queue_is_refused(client, patient, diagnosis, department):
    flows.queue(patient, department, diagnosis)
    headers = token_headers(patient.user)
    before = flows.state()

    response = client.post(
        "/api/visits",
        {
            "online_care_consent": True,
            "patient_id": patient.pk,
            "complaint": "再排一次",
            "condition_id": diagnosis.pk,
            "department_id": department.pk,
        },
        content_type="application/json",
        headers=headers,
    )

    assert response.status_code == 409
    assert error_of(response)["code"] == "already_in_queue"
    assert flows.state() == before


def test_another_departments_queue_or_a_new_place_after_cancelling_is_fine(patient, diagnosis, department):
    first = flows.queue(patient, department, diagnosis)
    other = DepartmentFactory()
    assert flows.queue(patient, other, diagnosis).in_queue
    services.cancel_visit(actor=patient.user, visit_id=first.pk, reason="不用了")
    again = flows.queue(patient, department, diagnosis)
    assert again.pk != first.pk and again.in_queue


def test_a_department_without_online_visits_is_not_found(patient, diagnosis):
    offline = DepartmentFactory(offers_online_visits=False)
    before = flows.state()
    assert code_of(flows.queue, patient, offline, diagnosis) == ("department_not_found", 404)
    with pytest.raises(DomainError) as exc:
        services.request_visit(
            online_care_consent=True,
            actor=patient.user,
            patient_id=patient.pk,
            complaint="x",
            condition_id=diagnosis.pk,
            department_id=10**9,
        )
    assert exc.value.status == 404
    assert flows.state() == before


def test_the_queue_takes_text_or_video_only(patient, diagnosis, department):
    before = flows.state()
    assert code_of(flows.queue, patient, department, diagnosis, mode="telepathy") == ("invalid_mode", 400)
    assert flows.state() == before


@pytest.mark.parametrize("both", [True, False])
def test_a_slot_or_a_queue_but_not_both_nor_neither(client, patient, diagnosis, slot, department, both):
    headers = token_headers(patient.user)
    payload = {"patient_id": patient.pk, "complaint": "复诊", "condition_id": diagnosis.pk}
    if both:
        payload |= {"slot_id": slot.pk, "department_id": department.pk}
    before = flows.state()
    response = client.post(
        "/api/visits", {"online_care_consent": True, **payload}, content_type="application/json", headers=headers
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "choose_slot_or_queue"
    assert flows.state() == before


def test_a_complaint_is_required(patient, diagnosis, slot):
    before = flows.state()
    assert code_of(flows.book, patient, slot, diagnosis, complaint="   ") == ("complaint_required", 400)
    assert flows.state() == before


# ---- who may ask -----------------------------------------------------------------------------------------------


def test_a_proxy_requests_for_the_patient(patient, relative, diagnosis, slot, department):
    booked = flows.book(patient, slot, diagnosis, actor=relative)
    queued = flows.queue(patient, department, diagnosis, actor=relative)
    for visit in (booked, queued):
        assert visit.patient == patient and visit.requested_by == relative
    assert booked.appointment.booked_by == relative
    assert set(selectors.visits_of_patient(relative, patient.pk)) == {booked, queued}


def test_another_patients_id_is_not_found(client, patient, other_patient, relative, slot, department):
    theirs = ConditionFactory(patient=other_patient)
    headers = token_headers(patient.user)
    relative_headers = token_headers(relative)
    before = flows.state()
    for h in (headers, relative_headers):
        for where in ({"slot_id": slot.pk}, {"department_id": department.pk}):
            response = client.post(
                "/api/visits",
                {
                    "online_care_consent": True,
                    "patient_id": other_patient.pk,
                    "complaint": "x",
                    "condition_id": theirs.pk,
                    **where,
                },
                content_type="application/json",
                headers=h,
            )
            assert response.status_code == 404, response.content
            assert error_of(response)["code"] == "not_found"
    assert flows.state() == before
    assert not Visit.objects.exists()
    denied = AuditEvent.objects.filter(
        outcome=AuditOutcome.DENIED, object_type="accounts.patientprofile", object_id=str(other_patient.pk)
    )
    assert {e.actor for e in denied} == {patient.user, relative}
    assert {e.patient_id for e in denied} == {other_patient.pk}


def test_staff_cannot_request_visits(doc, patient, diagnosis, slot):
    before = flows.state()
    assert code_of(flows.book, patient, slot, diagnosis, actor=doc.user) == ("not_found", 404)
    assert flows.state() == before


def test_informed_consent_to_online_care_is_required_once(client, patient, diagnosis, department):
    from ihospital.accounts.models import Consent, ConsentKind

    headers = token_headers(patient.user)
    payload = {
        "patient_id": patient.pk,
        "complaint": "复诊",
        "condition_id": diagnosis.pk,
        "department_id": department.pk,
    }
    before = flows.state()
    response = client.post("/api/visits", payload, content_type="application/json", headers=headers)
    assert response.status_code == 403
    assert error_of(response)["code"] == "online_care_consent_required"
    assert flows.state() == before
    response = client.post(
        "/api/visits", {**payload, "online_care_consent": True}, content_type="application/json", headers=headers
    )
    assert response.status_code == 201
    assert Consent.objects.filter(patient=patient, kind=ConsentKind.ONLINE_CARE, withdrawn_at__isnull=True).count() == 1
