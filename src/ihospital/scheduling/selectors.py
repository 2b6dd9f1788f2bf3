"""Reads of schedules and bookings. Open slots are public to signed-in users; appointments are scoped.

An appointment says who sees which doctor when, so it is health data: it is reached only by the patient, their
active proxy, the slot's doctor or an administrator, anyone else's id answers 404, and reads are audited.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import F, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import Role, User
from ihospital.accounts.selectors import patient_acted_for, patients_acted_for
from ihospital.core import audit
from ihospital.core.errors import Forbidden, NotFound
from ihospital.core.models import AuditAction, AuditOutcome
from ihospital.directory.models import Practitioner

from . import clock, generation
from .models import Appointment, AppointmentStatus, AvailabilityRule, Closure, Slot, SlotStatus


def open_slots(
    *,
    department_id: int | None = None,
    practitioner_id: int | None = None,
    start: dt.datetime,
    end: dt.datetime,
    mode: str | None = None,
) -> QuerySet[Slot]:
    """Slots that can be booked now (open, free places, in the future) starting in [start, end).

    Slots for the requested days within the booking horizon are generated first, so a fresh install shows
    availability without waiting for the daily task.
    """
    now = timezone.now()
    today = timezone.localdate()
    first = max(clock.local_date(start), today)
    last = min(clock.local_date(end - dt.timedelta(microseconds=1)),
               today + dt.timedelta(days=settings.BOOKING_HORIZON_DAYS - 1))
    if first <= last:
        generation.generate_slots(practitioner_id=practitioner_id, department_id=department_id, start=first,
                                days=(last - first).days + 1)
    qs = Slot.objects.filter(
        status=SlotStatus.OPEN,
        booked__lt=F("capacity"),
        starts_at__gte=start,
        starts_at__lt=end,
        starts_at__gt=now + dt.timedelta(minutes=settings.BOOKING_MIN_LEAD_MINUTES),
    )
    if department_id is not None:
        qs = qs.filter(department_id=department_id)
    if practitioner_id is not None:
        qs = qs.filter(practitioner_id=practitioner_id)
    if mode:
        qs = qs.filter(mode=mode)
    return qs.select_related("practitioner__user", "department").order_by("starts_at", "practitioner_id")


def rules_of(practitioner_id: int, *, include_retired: bool = False) -> QuerySet[AvailabilityRule]:
    """A practitioner's published availability (public, like the directory)."""
    qs = AvailabilityRule.objects.filter(practitioner_id=practitioner_id).select_related("department")
    if not include_retired:
        qs = qs.filter(active=True)
    return qs.order_by("weekday", "start_time")


def _appointments() -> QuerySet[Appointment]:
    return Appointment.objects.select_related(
        "slot__practitioner__user", "slot__department", "patient__user"
    )


def appointments_of_patient(user: User, patient_id: int) -> QuerySet[Appointment]:
    """A patient's appointments, for the patient or their proxy; anyone else's patient id answers 404."""
    try:
        patient = patient_acted_for(user, patient_id)
    except NotFound:
        audit.record(actor=user, action=AuditAction.READ, object_type="accounts.patientprofile",
                     object_id=patient_id, outcome=AuditOutcome.DENIED)
        raise
    audit.record(actor=user, action=AuditAction.READ, object_type="scheduling.appointment",
                 patient_id=patient.pk, detail={"list": "appointments"})
    return _appointments().filter(patient=patient).order_by("-slot__starts_at", "-pk")


def appointment_for(user: User, appointment_id: int) -> Appointment:
    """One appointment, for its patient or proxy, the slot's doctor or an administrator; otherwise 404."""
    appointment = _appointments().filter(pk=appointment_id).first()
    allowed = appointment is not None and getattr(user, "is_authenticated", False) and (
        appointment.slot.practitioner.user_id == user.pk
        or user.role == Role.ADMIN
        or patients_acted_for(user).filter(pk=appointment.patient_id).exists()
    )
    if not allowed:
        audit.record(actor=user, action=AuditAction.READ, object_type="scheduling.appointment",
                     object_id=appointment_id, patient_id=appointment.patient_id if appointment else None,
                     outcome=AuditOutcome.DENIED)
        raise NotFound()
    audit.read(user, appointment, patient_id=appointment.patient_id)
    return appointment


@dataclass
class DoctorDay:
    practitioner: Practitioner
    date: dt.date
    slots: list[Slot]
    appointments: list[Appointment]


def doctor_day(user: User, date: dt.date) -> DoctorDay:
    """The signed-in doctor's slots and booked, completed or missed appointments of one local day."""
    practitioner = Practitioner.objects.select_related("user").filter(user=user).first() if user.is_authenticated \
        else None
    if practitioner is None:
        raise Forbidden("not_a_clinician", _("Only a registered clinician can do this."))
    begin, end = clock.day_bounds(date)
    live = _appointments().exclude(status=AppointmentStatus.CANCELLED).order_by("created_at", "pk")
    slots = list(
        Slot.objects.filter(practitioner=practitioner, starts_at__gte=begin, starts_at__lt=end)
        .select_related("department")
        .prefetch_related(Prefetch("appointments", queryset=live, to_attr="live_appointments"))
        .order_by("starts_at")
    )
    appointments = [a for slot in slots for a in slot.live_appointments]
    for patient_id in sorted({a.patient_id for a in appointments}):
        audit.record(actor=user, action=AuditAction.READ, object_type="scheduling.appointment",
                     patient_id=patient_id, detail={"doctor_day": date.isoformat()})
    return DoctorDay(practitioner=practitioner, date=date, slots=slots, appointments=appointments)


def upcoming_closures(practitioner_id: int | None = None, *, since: dt.date | None = None) -> QuerySet[Closure]:
    """Closures from ``since`` (default today) on: the hospital's, and one practitioner's when given."""
    since = since or timezone.localdate()
    who = Q(practitioner__isnull=True)
    if practitioner_id is not None:
        who |= Q(practitioner_id=practitioner_id)
    return Closure.objects.filter(who, date__gte=since).select_related("practitioner__user").order_by(
        "date", "start_time"
    )
