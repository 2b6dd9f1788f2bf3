"""The patient's side: cancelling (which frees the slot), rating once a visit is closed, and reading the note
written for them, never the doctor's working notes."""

from __future__ import annotations

import pytest

from ihospital.core.errors import DomainError, NotFound
from ihospital.core.transitions import timeline
from ihospital.records import selectors as records
from ihospital.scheduling.models import AppointmentStatus
from ihospital.visits import services
from ihospital.visits.models import Visit, VisitStatus
from tests.helpers import error_of, token_headers
from tests.visits import flows

pytestmark = pytest.mark.django_db


def refused_without_change(expected: str, fn, **kwargs) -> DomainError:
    before = flows.state()
    with pytest.raises(DomainError) as exc:
        fn(**kwargs)
    assert exc.value.code == expected, (exc.value.code, exc.value.message)
    assert flows.state() == before
    return exc.value


# ---- cancelling ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["patient", "proxy"])
def test_cancelling_frees_the_slot(patient, relative, diagnosis, slot, who):
    actor = patient.user if who == "patient" else relative
    visit = flows.book(patient, slot, diagnosis)
    slot.refresh_from_db()
    assert slot.booked == 1

    visit = services.cancel_visit(actor=actor, visit_id=visit.pk, reason="临时有事")

    assert visit.status == VisitStatus.CANCELLED and visit.status_reason == "临时有事" and visit.ended_at
    slot.refresh_from_db()
    assert slot.booked == 0
    visit.appointment.refresh_from_db()
    assert visit.appointment.status == AppointmentStatus.CANCELLED
    event = timeline(visit).get()
    assert (event.from_status, event.to_status, event.actor, event.reason) == (
        "requested", "cancelled", actor, "临时有事",
    )


def test_cancelling_an_accepted_visit_closes_the_chart_to_the_doctor(patient, diagnosis, slot, doc):
    visit = flows.accept(flows.book(patient, slot, diagnosis), doc)
    records.chart(doc.user, patient.pk)
    services.cancel_visit(actor=patient.user, visit_id=visit.pk)
    with pytest.raises(NotFound):
        records.chart(doc.user, patient.pk)


def test_cancelling_leaves_the_queue(patient, diagnosis, department, doc):
    visit = flows.queue(patient, department, diagnosis)
    services.cancel_visit(actor=patient.user, visit_id=visit.pk)
    with pytest.raises(DomainError) as exc:
        services.take_next_from_queue(actor=doc.user, department_id=department.pk)
    assert exc.value.code == "queue_empty"


def test_the_doctor_does_not_cancel_and_nobody_cancels_a_started_visit(patient, diagnosis, slot, doc):
    visit = flows.book(patient, slot, diagnosis)
    error = refused_without_change("not_the_patient", services.cancel_visit, actor=doc.user, visit_id=visit.pk)
    assert error.status == 403
    flows.start(visit, doc)
    error = refused_without_change("invalid_transition", services.cancel_visit, actor=patient.user, visit_id=visit.pk)
    assert error.status == 409


def test_a_late_cancellation_is_refused_as_a_whole(patient, diagnosis, doc, department, settings):
    """The booking's cancel limit applies: the visit stays requested and the slot stays taken."""
    from datetime import timedelta

    from django.utils import timezone

    from tests.visits.factories import SlotFactory

    starts = timezone.now() + timedelta(hours=1)
    slot = SlotFactory(practitioner=doc, department=department, starts_at=starts,
                       ends_at=starts + timedelta(minutes=15))
    visit = flows.book(patient, slot, diagnosis)
    refused_without_change("too_late_to_cancel", services.cancel_visit, actor=patient.user, visit_id=visit.pk)
    assert Visit.objects.get(pk=visit.pk).status == VisitStatus.REQUESTED


# ---- rating ------------------------------------------------------------------------------------------------------


def test_rating_only_after_closing_from_one_to_five_and_once(client, patient, diagnosis, slot, doc):
    visit = flows.book(patient, slot, diagnosis)
    headers = token_headers(patient.user)

    def rate(rating, comment=""):
        return client.post(f"/api/visits/{visit.pk}/rating", {"rating": rating, "comment": comment},
                           content_type="application/json", headers=headers)

    response = rate(5)
    assert response.status_code == 409 and error_of(response)["code"] == "visit_not_closed"
    flows.close(visit, doc)
    for bad in (0, 6, -1):
        before = flows.state()
        response = rate(bad)
        assert response.status_code == 400 and error_of(response)["code"] == "invalid_rating"
        assert flows.state() == before

    response = rate(4, "医生很耐心")
    assert response.status_code == 200, response.content
    assert response.json()["rating"] == 4
    visit.refresh_from_db()
    assert (visit.rating, visit.rating_comment) == (4, "医生很耐心")

    before = flows.state()
    response = rate(1, "改主意了")
    assert response.status_code == 409 and error_of(response)["code"] == "already_rated"
    assert flows.state() == before


def test_a_proxy_may_rate_and_the_doctor_may_not(patient, relative, diagnosis, slot, doc):
    visit = flows.close(flows.book(patient, slot, diagnosis), doc)
    error = refused_without_change("not_found", services.rate_visit, actor=doc.user, visit_id=visit.pk, rating=5)
    assert error.status == 404
    assert services.rate_visit(actor=relative, visit_id=visit.pk, rating=5).rating == 5
    refused_without_change("already_rated", services.rate_visit, actor=patient.user, visit_id=visit.pk, rating=3)


# ---- the note --------------------------------------------------------------------------------------------------------


def test_the_patient_reads_the_summary_only_and_only_after_closing(client, patient, relative, diagnosis, slot, doc):
    visit = flows.start(flows.book(patient, slot, diagnosis), doc)
    flows.write_note(visit, doc)
    patient_headers = token_headers(patient.user)
    relative_headers = token_headers(relative)
    doctor_headers = token_headers(doc.user)

    response = client.get(f"/api/visits/{visit.pk}/note", headers=patient_headers)
    assert response.status_code == 404 and error_of(response)["code"] == "no_note"

    full = client.get(f"/api/visits/{visit.pk}/note", headers=doctor_headers)
    assert full.status_code == 200
    assert full.json() == {"visit_id": visit.pk, **flows.NOTE}

    services.close_visit(actor=doc.user, visit_id=visit.pk)

    for headers in (patient_headers, relative_headers):
        response = client.get(f"/api/visits/{visit.pk}/note", headers=headers)
        assert response.status_code == 200, response.content
        assert response.json() == {
            "visit_id": visit.pk,
            "patient_summary": flows.NOTE["patient_summary"],
            "diagnosis_codes": ["I10"],
        }
    assert client.get(f"/api/visits/{visit.pk}/note", headers=doctor_headers).json() == {
        "visit_id": visit.pk, **flows.NOTE,
    }


def test_the_patient_sees_the_visit_and_its_queue_place(client, patient, diagnosis, department):
    visit = flows.queue(patient, department, diagnosis)
    response = client.get(f"/api/visits/{visit.pk}", headers=token_headers(patient.user))
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == visit.pk and body["status"] == "requested"
    assert body["queue_position"] == 1 and body["wait_minutes"] == 0 and body["doctor_id"] is None
    listed = client.get(f"/api/visits?patient_id={patient.pk}", headers=token_headers(patient.user))
    assert [v["id"] for v in listed.json()] == [visit.pk]


def test_a_visit_whose_slot_has_passed_can_still_end(patient, diagnosis, doc, department):
    """Booked, never started, and the slot is over: the doctor can still refuse it (the appointment is closed as
    completed), and a late patient withdrawal closes it as a no-show; no place is freed in the past."""
    from datetime import timedelta

    from django.utils import timezone

    from ihospital.scheduling.models import Appointment
    from tests.visits.factories import SlotFactory

    def past_booking():
        starts = timezone.now() + timedelta(hours=3)
        slot = SlotFactory(practitioner=doc, department=department, starts_at=starts,
                           ends_at=starts + timedelta(minutes=15))
        visit = flows.book(patient, slot, diagnosis)
        # Time passes: move the slot into the past behind the services' back.
        type(slot).objects.filter(pk=slot.pk).update(
            starts_at=timezone.now() - timedelta(hours=2), ends_at=timezone.now() - timedelta(hours=1)
        )
        return visit

    refused = services.refuse_visit(actor=doc.user, visit_id=past_booking().pk, reason="已超过预约时间")
    assert refused.status == VisitStatus.REFUSED
    assert Appointment.objects.get(visit=refused).status == AppointmentStatus.COMPLETED

    late = past_booking()
    services.cancel_visit(actor=patient.user, visit_id=late.pk, reason="忘记了")
    assert Appointment.objects.get(visit=late).status == AppointmentStatus.NO_SHOW
