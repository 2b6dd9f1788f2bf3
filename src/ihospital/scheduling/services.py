"""Every change to schedules and bookings: one function per act, atomic, permission-checked and audited.

Capacity is the database's business: a booking takes a place with one conditional ``UPDATE`` (``booked <
capacity``), so concurrent bookings can never overbook, and the ``CheckConstraint`` on ``Slot`` would refuse it
anyway. Locks are always taken in the same order — patient, slots (by id), appointment, audit chain head last —
so a cancel, a booking and a reschedule running together cannot deadlock.

``book_slot``, ``cancel_appointment`` and ``reschedule_appointment`` may run inside a caller's transaction (the
visits workflow wraps them): each uses a savepoint, so a refusal undoes exactly its own changes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import PatientProfile, Role, User
from ihospital.accounts.selectors import patients_acted_for
from ihospital.accounts.services import require_health_data_consent
from ihospital.core import audit
from ihospital.core.errors import Conflict, DomainError, Forbidden, NotFound
from ihospital.core.models import AuditAction, AuditOutcome
from ihospital.core.transitions import allowed, transition
from ihospital.directory.models import Department, Practitioner

from . import clock, generation
from .models import (
    MAX_CAPACITY,
    MAX_SLOT_MINUTES,
    MIN_CAPACITY,
    MIN_SLOT_MINUTES,
    Appointment,
    AppointmentStatus,
    AvailabilityRule,
    Closure,
    Slot,
    SlotStatus,
    VisitMode,
)

# Why a practitioner may not offer online visits (codes from ``Practitioner.online_practice_refusal``).
REFUSAL_REASONS = {
    "not_a_doctor": _("only doctors can hold online visits"),
    "licence_not_verified": _("the practising licence has not been verified yet"),
    "too_few_years": _("at least %(years)d years of independent practice are required"),
}

# Who is asking to change an appointment; patients (and their proxies) are held to the hour limits.
PATIENT, DOCTOR, ADMIN = "patient", "doctor", "admin"


# ---- helpers ----------------------------------------------------------------------------------------------------


def _is_admin(user) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and user.role == Role.ADMIN


def _manageable_practitioner(actor: User, practitioner_id: int) -> Practitioner:
    """The practitioner whose schedule ``actor`` may change: their own, or anyone's for an administrator."""
    practitioner = Practitioner.objects.select_related("user").filter(pk=practitioner_id).first()
    if practitioner is None:
        raise NotFound("practitioner_not_found", _("No such practitioner."))
    if not (_is_admin(actor) or (getattr(actor, "pk", None) and practitioner.user_id == actor.pk)):
        raise Forbidden(
            "not_allowed", _("Only the doctor themself or a hospital administrator can change this schedule.")
        )
    return practitioner


def check_online_eligibility(practitioner: Practitioner, on: dt.date | None = None) -> None:
    """Refuse a practitioner who may not practise online (a doctor with a verified licence and 3+ years)."""
    reason = practitioner.online_practice_refusal(on)
    if reason is None:
        return
    explanation = REFUSAL_REASONS.get(reason, reason)
    if reason == "too_few_years":
        explanation = explanation % {"years": settings.ONLINE_DOCTOR_MIN_YEARS}
    raise Forbidden(
        "not_eligible_for_online_practice",
        _("This practitioner may not offer online visits: %(reason)s.") % {"reason": explanation},
        fields={"practitioner_id": reason},
    )


def _lock_practitioner(practitioner_id: int) -> None:
    # Serialises changes to one doctor's rules, so two overlapping rules cannot both pass the overlap check.
    list(Practitioner.objects.select_for_update(no_key=True).filter(pk=practitioner_id).values_list("pk"))


def _lock_patient(patient_id: int) -> None:
    # Serialises one patient's bookings, so two overlapping bookings cannot both pass the overlap check.
    # NO KEY UPDATE: rows elsewhere that merely reference the patient are not held up.
    list(PatientProfile.objects.select_for_update(no_key=True).filter(pk=patient_id).values_list("pk"))


def _patient_for(actor: User, patient_id: int) -> PatientProfile:
    """The patient ``actor`` acts for (self or as proxy). Anyone else's id is a 404, recorded as denied."""
    patient = patients_acted_for(actor).filter(pk=patient_id).first()
    if patient is None:
        audit.record(
            actor=actor,
            action=AuditAction.CREATE,
            object_type="scheduling.appointment",
            patient_id=patient_id if PatientProfile.objects.filter(pk=patient_id).exists() else None,
            outcome=AuditOutcome.DENIED,
            detail={"patient_id": patient_id},
        )
        raise NotFound()
    require_health_data_consent(patient)
    return patient


def _appointment_for_change(actor: User, appointment_id: int) -> tuple[Appointment, str]:
    """The appointment and the capacity in which ``actor`` may change it: patient/proxy, its doctor, an admin."""
    appointment = (
        Appointment.objects.select_related("slot__practitioner", "patient").filter(pk=appointment_id).first()
    )
    role = None
    if appointment is not None and getattr(actor, "is_authenticated", False):
        if patients_acted_for(actor).filter(pk=appointment.patient_id).exists():
            role = PATIENT
        elif appointment.slot.practitioner.user_id == actor.pk:
            role = DOCTOR
        elif _is_admin(actor):
            role = ADMIN
    if role is None:
        audit.record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type="scheduling.appointment",
            object_id=appointment_id,
            patient_id=appointment.patient_id if appointment else None,
            outcome=AuditOutcome.DENIED,
        )
        raise NotFound()
    return appointment, role


def _hours(value: float) -> str:
    return f"{value:g}"


# ---- rules --------------------------------------------------------------------------------------------------------


def _validate_rule(
    *,
    weekday: int,
    start_time: dt.time,
    end_time: dt.time,
    slot_minutes: int,
    capacity: int,
    mode: str,
    valid_from: dt.date,
    valid_until: dt.date | None,
) -> None:
    if not isinstance(weekday, int) or not 0 <= weekday <= 6:
        raise DomainError("invalid_weekday", _("Please choose a weekday."), fields={"weekday": _("0 (Monday) to 6")})
    if mode not in VisitMode.values:
        raise DomainError("invalid_mode", _("Please choose text or video."), fields={"mode": _("text or video")})
    if end_time <= start_time:
        raise DomainError(
            "invalid_time_range", _("The end time must be after the start time."), fields={"end_time": _("too early")}
        )
    if not MIN_SLOT_MINUTES <= slot_minutes <= MAX_SLOT_MINUTES:
        raise DomainError(
            "invalid_slot_length",
            _("A slot lasts %(min)d to %(max)d minutes.") % {"min": MIN_SLOT_MINUTES, "max": MAX_SLOT_MINUTES},
            fields={"slot_minutes": f"{MIN_SLOT_MINUTES}–{MAX_SLOT_MINUTES}"},
        )
    span = dt.datetime.combine(dt.date.min, end_time) - dt.datetime.combine(dt.date.min, start_time)
    if span < dt.timedelta(minutes=slot_minutes):
        raise DomainError(
            "rule_too_short",
            _("The hours are shorter than one slot."),
            fields={"slot_minutes": _("longer than the hours")},
        )
    if not MIN_CAPACITY <= capacity <= MAX_CAPACITY:
        raise DomainError(
            "invalid_capacity",
            _("A slot takes %(min)d to %(max)d patients.") % {"min": MIN_CAPACITY, "max": MAX_CAPACITY},
            fields={"capacity": f"{MIN_CAPACITY}–{MAX_CAPACITY}"},
        )
    if valid_until is not None and (valid_until < valid_from or valid_until < timezone.localdate()):
        raise DomainError(
            "invalid_validity",
            _("The rule must end on or after the day it starts, and not in the past."),
            fields={"valid_until": _("too early")},
        )


def publish_rule(
    *,
    actor: User,
    practitioner_id: int,
    department_id: int,
    weekday: int,
    start_time: dt.time,
    end_time: dt.time,
    slot_minutes: int,
    capacity: int,
    mode: str,
    valid_from: dt.date,
    valid_until: dt.date | None = None,
) -> AvailabilityRule:
    """A doctor (or an administrator for them) publishes a weekly block of online-visit availability."""
    practitioner = _manageable_practitioner(actor, practitioner_id)
    _validate_rule(
        weekday=weekday, start_time=start_time, end_time=end_time, slot_minutes=slot_minutes, capacity=capacity,
        mode=mode, valid_from=valid_from, valid_until=valid_until,
    )
    department = Department.objects.filter(pk=department_id).first()
    if department is None:
        raise DomainError("invalid_department", _("No such department."), fields={"department_id": _("unknown")})
    if not practitioner.departments.filter(pk=department.pk).exists():
        raise DomainError(
            "not_in_department",
            _("This doctor does not work in this department."),
            fields={"department_id": _("not the doctor's department")},
        )
    if not department.offers_online_visits:
        raise DomainError(
            "department_not_online",
            _("This department does not offer online visits."),
            fields={"department_id": _("no online visits")},
        )
    check_online_eligibility(practitioner)
    with transaction.atomic():
        _lock_practitioner(practitioner.pk)
        clash = AvailabilityRule.objects.filter(
            practitioner=practitioner,
            weekday=weekday,
            active=True,
            start_time__lt=end_time,
            end_time__gt=start_time,
        ).filter(Q(valid_until__isnull=True) | Q(valid_until__gte=valid_from))
        if valid_until is not None:
            clash = clash.filter(valid_from__lte=valid_until)
        clash = clash.first()
        if clash is not None:
            raise Conflict(
                "rule_overlaps",
                _("This overlaps another active rule of the doctor (%(from)s–%(until)s).")
                % {"from": f"{clash.start_time:%H:%M}", "until": f"{clash.end_time:%H:%M}"},
                fields={"rule_id": clash.pk},
            )
        rule = AvailabilityRule.objects.create(
            practitioner=practitioner,
            department=department,
            weekday=weekday,
            start_time=start_time,
            end_time=end_time,
            slot_minutes=slot_minutes,
            capacity=capacity,
            mode=mode,
            valid_from=valid_from,
            valid_until=valid_until,
            created_by=actor,
        )
        audit.record(
            actor=actor,
            action=AuditAction.CREATE,
            obj=rule,
            detail={"practitioner": practitioner.pk, "weekday": weekday, "mode": mode, "capacity": capacity},
        )
    # Bookable at once, without waiting for the daily task.
    generation.generate_slots(
        practitioner_id=practitioner.pk, start=timezone.localdate(), days=settings.BOOKING_HORIZON_DAYS
    )
    return rule


def retire_rule(*, actor: User, rule_id: int) -> AvailabilityRule:
    """Stop offering a rule's times. Booked appointments stay valid; its unbooked future slots disappear."""
    rule = AvailabilityRule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise NotFound("rule_not_found", _("No such availability rule."))
    _manageable_practitioner(actor, rule.practitioner_id)
    now = timezone.now()
    with transaction.atomic():
        _lock_practitioner(rule.practitioner_id)
        if not AvailabilityRule.objects.filter(pk=rule.pk, active=True).update(
            active=False, retired_at=now, retired_by=actor
        ):
            raise Conflict("already_retired", _("This rule was already retired."))
        future = Slot.objects.filter(rule=rule, ends_at__gt=now)
        # Close first: that waits for bookings in flight and stops new ones, so the delete below sees them all.
        closed = _close(future)
        removed, _by_model = (
            future.filter(booked=0)
            .exclude(Exists(Appointment.objects.filter(slot=OuterRef("pk"))))
            .delete()
        )
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=rule,
                     detail={"active": False, "closed_slots": closed, "removed_slots": removed})
    rule.refresh_from_db()
    return rule


def _close(slots) -> int:
    """Close the open slots among ``slots``, locking them in id order first (as bookings and moves do)."""
    open_slots = slots.filter(status=SlotStatus.OPEN)
    ids = list(open_slots.select_for_update(no_key=True).order_by("pk").values_list("pk", flat=True))
    return Slot.objects.filter(pk__in=ids, status=SlotStatus.OPEN).update(status=SlotStatus.CLOSED) if ids else 0


# ---- closures ---------------------------------------------------------------------------------------------------


@dataclass
class ClosureResult:
    closure: Closure
    closed_slots: int
    # Appointments still booked in the closed time: somebody has to tell these patients (notifications, later).
    affected: list[Appointment] = field(default_factory=list)


def add_closure(
    *,
    actor: User,
    practitioner_id: int | None,
    date: dt.date,
    start_time: dt.time | None = None,
    end_time: dt.time | None = None,
    reason: str,
) -> ClosureResult:
    """A holiday (no practitioner: the whole hospital, administrators only) or a doctor's one-off absence.

    Closes the open slots in that time and returns the booked appointments it affects; they are not cancelled.
    """
    practitioner = None
    if practitioner_id is None:
        if not _is_admin(actor):
            raise Forbidden("not_allowed", _("Only a hospital administrator can close the whole hospital."))
    else:
        practitioner = _manageable_practitioner(actor, practitioner_id)
    if (start_time is None) != (end_time is None):
        raise DomainError(
            "invalid_time_range",
            _("Give both a start and an end time, or neither for the whole day."),
            fields={"end_time" if end_time is None else "start_time": _("required")},
        )
    if start_time is not None and end_time <= start_time:
        raise DomainError(
            "invalid_time_range", _("The end time must be after the start time."), fields={"end_time": _("too early")}
        )
    if date < timezone.localdate():
        raise DomainError("closure_in_past", _("A closure cannot be in the past."), fields={"date": _("in the past")})
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("reason_required", _("Please give a reason."), fields={"reason": _("required")})
    begin, end = clock.window(date, start_time, end_time)
    with transaction.atomic():
        # Rules first (as generate_slots does), so no generation running now adds slots inside the closure.
        rules = AvailabilityRule.objects.filter(active=True)
        if practitioner is not None:
            rules = rules.filter(practitioner=practitioner)
        list(rules.select_for_update(no_key=True).order_by("pk").values_list("pk"))
        closure = Closure.objects.create(
            practitioner=practitioner, date=date, start_time=start_time, end_time=end_time, reason=reason[:255],
            created_by=actor,
        )
        slots = Slot.objects.filter(starts_at__lt=end, ends_at__gt=begin)
        if practitioner is not None:
            slots = slots.filter(practitioner=practitioner)
        closed = _close(slots)
        affected = list(
            Appointment.objects.filter(slot__in=slots, status=AppointmentStatus.BOOKED)
            .select_related("slot", "patient__user")
            .order_by("slot__starts_at", "pk")
        )
        audit.record(
            actor=actor,
            action=AuditAction.CREATE,
            obj=closure,
            detail={"closed_slots": closed, "affected_appointments": [a.pk for a in affected]},
        )
    return ClosureResult(closure=closure, closed_slots=closed, affected=affected)


# ---- booking --------------------------------------------------------------------------------------------------------


def _book(
    *,
    actor: User,
    patient: PatientProfile,
    slot_id: int,
    rescheduled_from: Appointment | None = None,
    reschedule_count: int = 0,
) -> Appointment:
    """Take a place in a slot for a patient whose row the caller has locked. Runs inside the caller's atomic."""
    slot = Slot.objects.select_related("practitioner").filter(pk=slot_id).first()
    if slot is None:
        raise NotFound("slot_not_found", _("This time is not offered."))
    now = timezone.now()
    lead = dt.timedelta(minutes=settings.BOOKING_MIN_LEAD_MINUTES)
    if slot.status != SlotStatus.OPEN:
        raise Conflict("slot_closed", _("This time is no longer offered. Please choose another."))
    if slot.starts_at <= now:
        raise Conflict("slot_in_past", _("This time has already begun. Please choose a later one."))
    if slot.starts_at <= now + lead:
        raise Conflict(
            "too_late_to_book",
            _("This time starts too soon: please book at least %(minutes)d minutes ahead.")
            % {"minutes": settings.BOOKING_MIN_LEAD_MINUTES},
        )
    if slot.practitioner.online_practice_refusal() is not None:
        raise Conflict("practitioner_unavailable", _("This doctor cannot hold online visits at the moment."))
    # One query for both: a live booking of this very slot, or of any slot overlapping it in time.
    clash = (
        Appointment.objects.filter(patient=patient, status=AppointmentStatus.BOOKED,
                                   slot__starts_at__lt=slot.ends_at, slot__ends_at__gt=slot.starts_at)
        .order_by(Case(When(slot_id=slot.pk, then=0), default=1))
        .values_list("slot_id", flat=True)
        .first()
    )
    if clash == slot.pk:
        raise Conflict("already_booked", _("You have already booked this time."))
    if clash is not None:
        raise Conflict("overlapping_appointment", _("The patient already has an appointment at this time."))
    # The one statement that decides: the database takes a place only while one is free.
    taken = Slot.objects.filter(
        pk=slot.pk, status=SlotStatus.OPEN, booked__lt=F("capacity"), starts_at__gt=now + lead
    ).update(booked=F("booked") + 1)
    if not taken:
        if not Slot.objects.filter(pk=slot.pk, status=SlotStatus.OPEN).exists():
            raise Conflict("slot_closed", _("This time is no longer offered. Please choose another."))
        raise Conflict("slot_full", _("This time was just fully booked. Please choose another."))
    try:
        with transaction.atomic():
            appointment = Appointment.objects.create(
                slot=slot,
                patient=patient,
                booked_by=actor,
                rescheduled_from=rescheduled_from,
                reschedule_count=reschedule_count,
            )
    except IntegrityError:
        raise Conflict("already_booked", _("You have already booked this time.")) from None
    return appointment


def book_slot(*, actor: User, patient_id: int, slot_id: int) -> Appointment:
    """A patient, or their proxy, books a place in an open slot."""
    patient = _patient_for(actor, patient_id)
    with transaction.atomic():
        _lock_patient(patient.pk)
        appointment = _book(actor=actor, patient=patient, slot_id=slot_id)
        audit.record(actor=actor, action=AuditAction.CREATE, obj=appointment, patient_id=patient.pk,
                     detail={"slot": slot_id})
    return appointment


def _cancel(*, actor: User, appointment: Appointment, slot: Slot, role: str, reason: str,
            limit_hours: float | None, code: str) -> None:
    if AppointmentStatus.CANCELLED not in allowed(Appointment, appointment.status):
        raise Conflict(
            "invalid_transition",
            _("This cannot be done now: it is %(status)s.") % {"status": appointment.get_status_display()},
        )
    now = timezone.now()
    # Patients are held to the limit (which also refuses once the time has begun); the doctor and the hospital
    # may cancel a booking at any time, e.g. when a visit ends in a referral after its slot.
    if role == PATIENT and limit_hours is not None and slot.starts_at - now < dt.timedelta(hours=limit_hours):
        message = (
            _("Appointments can only be cancelled up to %(hours)s hours before they start.")
            if code == "too_late_to_cancel"
            else _("Appointments can only be moved up to %(hours)s hours before they start.")
        )
        raise Conflict(code, message % {"hours": _hours(limit_hours)})
    reason = (reason or "").strip()
    transition(appointment, AppointmentStatus.CANCELLED, actor=actor, reason=reason,
               cancelled_at=now, cancelled_by=actor, cancelled_reason=reason[:255])
    if Slot.objects.filter(pk=slot.pk, booked__gt=0).update(booked=F("booked") - 1):
        slot.booked -= 1


def cancel_appointment(*, actor: User, appointment_id: int, reason: str = "") -> Appointment:
    """The patient or proxy (up to CANCEL_LIMIT_HOURS before), the slot's doctor or an administrator cancels."""
    appointment, role = _appointment_for_change(actor, appointment_id)
    with transaction.atomic():
        _lock_patient(appointment.patient_id)
        slot = Slot.objects.select_for_update(no_key=True).get(pk=appointment.slot_id)
        appointment = Appointment.objects.select_related("patient").get(pk=appointment.pk)
        _cancel(actor=actor, appointment=appointment, slot=slot, role=role, reason=reason,
                limit_hours=settings.CANCEL_LIMIT_HOURS, code="too_late_to_cancel")
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=appointment, patient_id=appointment.patient_id,
                     detail={"status": AppointmentStatus.CANCELLED, "by": role})
    appointment.slot = slot
    return appointment


def reschedule_appointment(*, actor: User, appointment_id: int, new_slot_id: int) -> Appointment:
    """Move a booking to another slot in one step: book the new one, cancel the old one, link them.

    Patients and proxies may do so up to RESCHEDULE_LIMIT_HOURS before the old time, and MAX_RESCHEDULES times
    per original booking; the doctor and administrators are not limited (and do not use up the patient's moves).
    """
    old, role = _appointment_for_change(actor, appointment_id)
    if new_slot_id == old.slot_id:
        raise Conflict("same_slot", _("This is already the appointment's time."))
    require_health_data_consent(old.patient)
    with transaction.atomic():
        _lock_patient(old.patient_id)
        slots = {s.pk: s for s in Slot.objects.select_for_update(no_key=True).filter(
            pk__in=[old.slot_id, new_slot_id]).order_by("pk")}
        old = Appointment.objects.select_related("patient").get(pk=old.pk)
        if new_slot_id not in slots:
            raise NotFound("slot_not_found", _("This time is not offered."))
        limited = role == PATIENT and old.status == AppointmentStatus.BOOKED
        if limited and old.reschedule_count >= settings.MAX_RESCHEDULES:
            raise Conflict(
                "too_many_reschedules",
                _("This appointment has already been moved %(count)d times, the most allowed.")
                % {"count": settings.MAX_RESCHEDULES},
            )
        _cancel(actor=actor, appointment=old, slot=slots[old.slot_id], role=role, reason="rescheduled",
                limit_hours=settings.RESCHEDULE_LIMIT_HOURS, code="too_late_to_reschedule")
        new = _book(
            actor=actor,
            patient=old.patient,
            slot_id=new_slot_id,
            rescheduled_from=old,
            reschedule_count=old.reschedule_count + (1 if role == PATIENT else 0),
        )
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=old, patient_id=old.patient_id,
                     detail={"status": AppointmentStatus.CANCELLED, "rescheduled_to": new.pk, "by": role})
        audit.record(actor=actor, action=AuditAction.CREATE, obj=new, patient_id=new.patient_id,
                     detail={"slot": new_slot_id, "rescheduled_from": old.pk})
    return new


# ---- outcomes (called by the visits workflow, which checks who may) ------------------------------------------------


def _finish(appointment_id: int, status: str, actor) -> Appointment:
    with transaction.atomic():
        appointment = Appointment.objects.filter(pk=appointment_id).first()
        if appointment is None:
            raise NotFound()
        transition(appointment, status, actor=actor)
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=appointment, patient_id=appointment.patient_id,
                     detail={"status": status})
    return appointment


def complete_appointment(*, appointment_id: int, actor: User | None = None) -> Appointment:
    return _finish(appointment_id, AppointmentStatus.COMPLETED, actor)


def mark_no_show(*, appointment_id: int, actor: User | None = None) -> Appointment:
    return _finish(appointment_id, AppointmentStatus.NO_SHOW, actor)
