"""Booking, cancelling, rescheduling and finishing appointments, with every refusal leaving the state alone."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from ihospital.accounts import services as accounts
from ihospital.core.errors import DomainError
from ihospital.core.models import AuditEvent, AuditOutcome
from ihospital.core.transitions import timeline
from ihospital.scheduling import selectors, services
from ihospital.scheduling.clock import to_utc
from ihospital.scheduling.models import Appointment, AppointmentStatus, Slot, SlotStatus
from tests.factories import DoctorFactory, PatientFactory
from tests.scheduling.factories import SlotFactory
from tests.scheduling.support import state

pytestmark = pytest.mark.django_db


def book(patient, slot, actor=None) -> Appointment:
    return services.book_slot(actor=actor or patient.user, patient_id=patient.pk, slot_id=slot.pk)


def refused(code, fn, *, status=None, with_audit=True) -> DomainError:
    before = state(with_audit=with_audit)
    with pytest.raises(DomainError) as exc:
        fn()
    assert exc.value.code == code, exc.value
    if status is not None:
        assert exc.value.status == status
    assert state(with_audit=with_audit) == before
    return exc.value


def in_hours(hours: float):
    return timezone.now() + timedelta(hours=hours)


def make_proxy(patient):
    relative = PatientFactory()
    accounts.invite_proxy(patient_user=patient.user, proxy_phone=relative.user.phone,
                          proxy_real_name=relative.user.real_name, relationship="child", consent=True)
    return relative.user


# ---- booking ------------------------------------------------------------------------------------------------------


def test_patient_books_a_slot(patient):
    slot = SlotFactory(capacity=2)
    appointment = book(patient, slot)
    assert appointment.status == AppointmentStatus.BOOKED
    assert (appointment.slot, appointment.patient, appointment.booked_by) == (slot, patient, patient.user)
    slot.refresh_from_db()
    assert slot.booked == 1 and slot.status == SlotStatus.OPEN
    event = AuditEvent.objects.get(object_type="scheduling.appointment")
    assert (event.actor, event.action, event.patient_id, event.object_id) == (
        patient.user, "create", patient.pk, str(appointment.pk))


def test_proxy_books_for_the_patient(patient):
    relative = make_proxy(patient)
    appointment = book(patient, SlotFactory(), actor=relative)
    assert appointment.patient == patient and appointment.booked_by == relative


def test_someone_elses_patient_id_is_404_and_audited(patient, other_patient):
    slot = SlotFactory()
    error = refused("not_found", lambda: book(other_patient, slot, actor=patient.user), status=404, with_audit=False)
    assert str(error.message)
    denial = AuditEvent.objects.get(outcome=AuditOutcome.DENIED)
    assert denial.actor == patient.user and denial.patient_id == other_patient.pk
    refused("not_found", lambda: services.book_slot(actor=patient.user, patient_id=999_999, slot_id=slot.pk),
            status=404, with_audit=False)


def test_a_revoked_proxy_can_no_longer_book(patient):
    relative = make_proxy(patient)
    link = patient.proxies.get()
    accounts.revoke_proxy(actor=patient.user, proxy_id=link.pk)
    slot = SlotFactory()
    refused("not_found", lambda: book(patient, slot, actor=relative), status=404, with_audit=False)


def test_withdrawn_health_data_consent_stops_booking(patient):
    consent = patient.consents.get(kind="health_data")
    accounts.withdraw_consent(actor=patient.user, consent_id=consent.pk)
    slot = SlotFactory()
    refused("consent_withdrawn", lambda: book(patient, slot), status=403)


def test_full_slot_is_refused(patient, other_patient):
    slot = SlotFactory(capacity=1)
    book(other_patient, slot)
    error = refused("slot_full", lambda: book(patient, slot), status=409)
    assert str(error.message)


def test_capacity_is_taken_one_place_at_a_time():
    slot = SlotFactory(capacity=3)
    patients = PatientFactory.create_batch(4)
    for patient in patients[:3]:
        book(patient, slot)
    refused("slot_full", lambda: book(patients[3], slot))
    slot.refresh_from_db()
    assert slot.booked == 3 == slot.appointments.filter(status="booked").count()


def test_closed_past_started_and_missing_slots_are_refused(patient, settings):
    closed = SlotFactory(status=SlotStatus.CLOSED)
    refused("slot_closed", lambda: book(patient, closed), status=409)
    past = SlotFactory(starts_at=in_hours(-3), ends_at=in_hours(-2.5))
    refused("slot_in_past", lambda: book(patient, past), status=409)
    running = SlotFactory(starts_at=in_hours(-0.1), ends_at=in_hours(0.4))
    refused("slot_in_past", lambda: book(patient, running), status=409)
    refused("slot_not_found", lambda: services.book_slot(actor=patient.user, patient_id=patient.pk,
                                                         slot_id=999_999), status=404)


def test_minimum_lead_time(patient, settings):
    settings.BOOKING_MIN_LEAD_MINUTES = 60
    soon = SlotFactory(starts_at=in_hours(0.5), ends_at=in_hours(1))
    refused("too_late_to_book", lambda: book(patient, soon), status=409)
    later = SlotFactory(starts_at=in_hours(1.5), ends_at=in_hours(2))
    assert book(patient, later).status == "booked"


def test_doctor_no_longer_eligible_cannot_be_booked(patient):
    slot = SlotFactory()
    slot.practitioner.verified_at = None
    slot.practitioner.save()
    refused("practitioner_unavailable", lambda: book(patient, slot), status=409)


def test_same_slot_twice_is_already_booked(patient):
    slot = SlotFactory(capacity=5)
    book(patient, slot)
    refused("already_booked", lambda: book(patient, slot), status=409)
    # The proxy cannot book the same time for the patient again either.
    relative = make_proxy(patient)
    refused("already_booked", lambda: book(patient, slot, actor=relative), status=409)


def test_overlapping_appointments_are_refused_but_adjacent_are_fine(patient):
    first = SlotFactory(starts_at=in_hours(30), ends_at=in_hours(31))
    book(patient, first)
    overlapping = SlotFactory(starts_at=in_hours(30.5), ends_at=in_hours(31.5))
    refused("overlapping_appointment", lambda: book(patient, overlapping), status=409)
    adjacent = SlotFactory(starts_at=in_hours(31), ends_at=in_hours(31.5))
    book(patient, adjacent)
    # Someone else may take the overlapping slot.
    book(PatientFactory(), overlapping)


def test_database_refuses_overbooking_even_behind_the_services_back():
    from django.db import IntegrityError

    slot = SlotFactory(capacity=1, booked=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Slot.objects.filter(pk=slot.pk).update(booked=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        SlotFactory(practitioner=slot.practitioner, starts_at=slot.starts_at)


def test_one_booked_appointment_per_slot_and_patient_in_the_database(patient):
    from django.db import IntegrityError

    slot = SlotFactory(capacity=3)
    book(patient, slot)
    with pytest.raises(IntegrityError), transaction.atomic():
        Appointment.objects.create(slot=slot, patient=patient, booked_by=patient.user)


def test_booking_inside_a_callers_transaction_rolls_back_only_itself(patient, other_patient):
    full = SlotFactory(capacity=1)
    book(other_patient, full)
    free = SlotFactory(capacity=1)
    with transaction.atomic():
        with pytest.raises(DomainError):
            book(patient, full)
        appointment = book(patient, free)  # the caller carries on after a refusal
    assert Appointment.objects.filter(pk=appointment.pk, status="booked").exists()
    full.refresh_from_db()
    assert full.booked == 1

    later = SlotFactory(capacity=1)
    with pytest.raises(RuntimeError), transaction.atomic():
        book(patient, later)
        raise RuntimeError("the caller fails afterwards")
    later.refresh_from_db()
    assert later.booked == 0 and not later.appointments.exists()


# ---- cancelling ---------------------------------------------------------------------------------------------------


def test_patient_cancels_and_frees_the_place(patient, other_patient):
    slot = SlotFactory(capacity=1, starts_at=in_hours(5), ends_at=in_hours(5.5))
    appointment = book(patient, slot)
    cancelled = services.cancel_appointment(actor=patient.user, appointment_id=appointment.pk, reason="better")
    assert cancelled.status == "cancelled" and cancelled.cancelled_reason == "better"
    assert cancelled.cancelled_by == patient.user and cancelled.cancelled_at
    slot.refresh_from_db()
    assert slot.booked == 0
    assert [(e.from_status, e.to_status) for e in timeline(cancelled)] == [("booked", "cancelled")]
    # The place can be taken again, also by the same patient.
    book(other_patient, slot)
    refused("invalid_transition",
            lambda: services.cancel_appointment(actor=patient.user, appointment_id=appointment.pk), status=409)


def test_patient_cannot_cancel_within_the_limit(patient, settings):
    settings.CANCEL_LIMIT_HOURS = 2
    slot = SlotFactory(starts_at=in_hours(1.5), ends_at=in_hours(2))
    appointment = book(patient, slot)
    error = refused("too_late_to_cancel",
                    lambda: services.cancel_appointment(actor=patient.user, appointment_id=appointment.pk),
                    status=409)
    assert "2" in str(error.message)
    relative = make_proxy(patient)
    refused("too_late_to_cancel",
            lambda: services.cancel_appointment(actor=relative, appointment_id=appointment.pk))
    settings.CANCEL_LIMIT_HOURS = 1
    assert services.cancel_appointment(actor=relative, appointment_id=appointment.pk).status == "cancelled"


def test_doctor_and_admin_may_cancel_late(patient, hospital_admin):
    slot = SlotFactory(capacity=2, starts_at=in_hours(0.25), ends_at=in_hours(0.75))
    first = book(patient, slot)
    second = book(PatientFactory(), slot)
    doctor_user = slot.practitioner.user
    assert services.cancel_appointment(actor=doctor_user, appointment_id=first.pk, reason="ill").status == "cancelled"
    assert services.cancel_appointment(actor=hospital_admin, appointment_id=second.pk).status == "cancelled"
    slot.refresh_from_db()
    assert slot.booked == 0


def test_doctor_may_cancel_after_the_slot_ended(patient):
    # e.g. a visit that ran late and ended in a referral
    slot = SlotFactory(starts_at=in_hours(1), ends_at=in_hours(1.5))
    appointment = book(patient, slot)
    Slot.objects.filter(pk=slot.pk).update(starts_at=in_hours(-2), ends_at=in_hours(-1.5))
    services.cancel_appointment(actor=slot.practitioner.user, appointment_id=appointment.pk, reason="referred")
    refused("invalid_transition",
            lambda: services.cancel_appointment(actor=slot.practitioner.user, appointment_id=appointment.pk))


def test_strangers_cannot_cancel(patient, other_patient):
    appointment = book(patient, SlotFactory(starts_at=in_hours(10), ends_at=in_hours(10.5)))
    colleague = DoctorFactory().user
    for stranger in (other_patient.user, colleague):
        refused("not_found", lambda s=stranger: services.cancel_appointment(actor=s, appointment_id=appointment.pk),
                status=404, with_audit=False)
    refused("not_found", lambda: services.cancel_appointment(actor=patient.user, appointment_id=999_999),
            status=404, with_audit=False)
    assert AuditEvent.objects.filter(outcome=AuditOutcome.DENIED).count() == 3


# ---- rescheduling -------------------------------------------------------------------------------------------------


def test_patient_reschedules(patient):
    doctor = DoctorFactory()
    old_slot = SlotFactory(practitioner=doctor, starts_at=in_hours(24), ends_at=in_hours(24.5))
    new_slot = SlotFactory(practitioner=doctor, starts_at=in_hours(48), ends_at=in_hours(48.5))
    old = book(patient, old_slot)
    new = services.reschedule_appointment(actor=patient.user, appointment_id=old.pk, new_slot_id=new_slot.pk)
    old.refresh_from_db()
    assert old.status == "cancelled" and old.cancelled_reason == "rescheduled"
    assert new.status == "booked" and new.rescheduled_from == old and new.slot == new_slot
    assert new.reschedule_count == 1 and old.rescheduled_to == new
    old_slot.refresh_from_db()
    new_slot.refresh_from_db()
    assert (old_slot.booked, new_slot.booked) == (0, 1)


def test_reschedule_to_an_overlapping_time_of_the_same_booking_is_allowed(patient):
    old_slot = SlotFactory(starts_at=in_hours(24), ends_at=in_hours(25))
    overlapping = SlotFactory(starts_at=in_hours(24.5), ends_at=in_hours(25.5))
    old = book(patient, old_slot)
    assert services.reschedule_appointment(actor=patient.user, appointment_id=old.pk,
                                           new_slot_id=overlapping.pk).slot == overlapping


def test_reschedule_refusals_change_nothing(patient, other_patient, settings):
    settings.RESCHEDULE_LIMIT_HOURS = 2
    old_slot = SlotFactory(starts_at=in_hours(24), ends_at=in_hours(24.5))
    old = book(patient, old_slot)
    full = SlotFactory(capacity=1)
    book(other_patient, full)
    closed = SlotFactory(status=SlotStatus.CLOSED)

    def move(slot_id, actor=patient.user):
        return lambda: services.reschedule_appointment(actor=actor, appointment_id=old.pk, new_slot_id=slot_id)

    refused("slot_full", move(full.pk), status=409)
    refused("slot_closed", move(closed.pk), status=409)
    refused("same_slot", move(old_slot.pk), status=409)
    refused("slot_not_found", move(999_999), status=404)
    refused("not_found", move(SlotFactory().pk, actor=other_patient.user), status=404, with_audit=False)
    old.refresh_from_db()
    assert old.status == "booked"


def test_reschedule_time_limit_applies_to_patients_only(patient, settings):
    settings.RESCHEDULE_LIMIT_HOURS = 3
    old_slot = SlotFactory(starts_at=in_hours(2), ends_at=in_hours(2.5))
    old = book(patient, old_slot)
    target = SlotFactory(starts_at=in_hours(30), ends_at=in_hours(30.5))
    refused("too_late_to_reschedule", lambda: services.reschedule_appointment(
        actor=patient.user, appointment_id=old.pk, new_slot_id=target.pk), status=409)
    new = services.reschedule_appointment(actor=old_slot.practitioner.user, appointment_id=old.pk,
                                          new_slot_id=target.pk)
    assert new.reschedule_count == 0  # the doctor's move does not use up the patient's


def test_max_reschedules_per_original_booking(patient, settings):
    settings.MAX_RESCHEDULES = 2
    slots = [SlotFactory(starts_at=in_hours(24 * (i + 1)), ends_at=in_hours(24 * (i + 1) + 0.5)) for i in range(4)]
    current = book(patient, slots[0])
    for slot in slots[1:3]:
        current = services.reschedule_appointment(actor=patient.user, appointment_id=current.pk,
                                                  new_slot_id=slot.pk)
    assert current.reschedule_count == 2
    error = refused("too_many_reschedules", lambda: services.reschedule_appointment(
        actor=patient.user, appointment_id=current.pk, new_slot_id=slots[3].pk), status=409)
    assert "2" in str(error.message)
    # The chain leads back to the original booking.
    chain, node = [], current
    while node is not None:
        chain.append(node.slot_id)
        node = node.rescheduled_from
    assert chain == [slots[2].pk, slots[1].pk, slots[0].pk]
    # Cancelling is still possible.
    assert services.cancel_appointment(actor=patient.user, appointment_id=current.pk).status == "cancelled"


def test_cancelled_appointment_cannot_be_rescheduled(patient):
    old = book(patient, SlotFactory(starts_at=in_hours(24), ends_at=in_hours(24.5)))
    services.cancel_appointment(actor=patient.user, appointment_id=old.pk)
    target = SlotFactory()
    refused("invalid_transition", lambda: services.reschedule_appointment(
        actor=patient.user, appointment_id=old.pk, new_slot_id=target.pk), status=409)


# ---- outcomes -----------------------------------------------------------------------------------------------------


def test_complete_and_no_show(patient):
    done = book(patient, SlotFactory())
    missed = book(patient, SlotFactory())
    assert services.complete_appointment(appointment_id=done.pk).status == "completed"
    assert services.mark_no_show(appointment_id=missed.pk).status == "no_show"
    assert Appointment.objects.get(pk=done.pk).status == "completed"
    # Finished appointments are final.
    refused("invalid_transition", lambda: services.cancel_appointment(actor=patient.user, appointment_id=done.pk))
    refused("invalid_transition", lambda: services.mark_no_show(appointment_id=done.pk))
    refused("invalid_transition", lambda: services.complete_appointment(appointment_id=missed.pk))
    refused("not_found", lambda: services.complete_appointment(appointment_id=999_999), status=404)


# ---- reads --------------------------------------------------------------------------------------------------------


def test_appointments_of_patient_are_scoped(patient, other_patient):
    mine = book(patient, SlotFactory())
    book(other_patient, SlotFactory())
    assert list(selectors.appointments_of_patient(patient.user, patient.pk)) == [mine]
    relative = make_proxy(patient)
    assert list(selectors.appointments_of_patient(relative, patient.pk)) == [mine]
    with pytest.raises(DomainError) as exc:
        selectors.appointments_of_patient(patient.user, other_patient.pk)
    assert exc.value.status == 404


def test_appointment_for_is_scoped(patient, other_patient, hospital_admin):
    appointment = book(patient, SlotFactory())
    for reader in (patient.user, appointment.slot.practitioner.user, hospital_admin):
        assert selectors.appointment_for(reader, appointment.pk) == appointment
    for stranger in (other_patient.user, DoctorFactory().user):
        with pytest.raises(DomainError) as exc:
            selectors.appointment_for(stranger, appointment.pk)
        assert exc.value.status == 404


def test_doctor_day_shows_only_the_doctors_own_day(patient, other_patient):
    doctor = DoctorFactory()
    tomorrow = timezone.localdate() + timedelta(days=1)
    morning = SlotFactory(practitioner=doctor, starts_at=to_utc(tomorrow, time(9)),
                          ends_at=to_utc(tomorrow, time(9, 30)), capacity=2)
    SlotFactory(practitioner=doctor, starts_at=to_utc(tomorrow, time(10)), ends_at=to_utc(tomorrow, time(10, 30)))
    SlotFactory(practitioner=doctor, starts_at=to_utc(tomorrow + timedelta(days=1), time(9)),
                ends_at=to_utc(tomorrow + timedelta(days=1), time(9, 30)))
    SlotFactory(starts_at=to_utc(tomorrow, time(9)), ends_at=to_utc(tomorrow, time(9, 30)))  # a colleague's
    kept = book(patient, morning)
    dropped = book(other_patient, morning)
    services.cancel_appointment(actor=other_patient.user, appointment_id=dropped.pk)

    day = selectors.doctor_day(doctor.user, tomorrow)
    assert day.practitioner == doctor and len(day.slots) == 2
    assert day.appointments == [kept]
    with pytest.raises(DomainError) as exc:
        selectors.doctor_day(patient.user, tomorrow)
    assert exc.value.status == 403
