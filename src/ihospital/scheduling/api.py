from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone
from ninja import Router, Schema, Status

from . import clock, selectors, services
from .models import VisitMode

router = Router(tags=["scheduling"])


class SlotOut(Schema):
    id: int
    practitioner_id: int
    practitioner_name: str
    practitioner_title: str
    department_id: int
    department_name: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    mode: str
    capacity: int
    booked: int
    free: int
    status: str

    @staticmethod
    def resolve_practitioner_name(obj):
        return obj.practitioner.user.real_name

    @staticmethod
    def resolve_practitioner_title(obj):
        return str(obj.practitioner.get_title_display())

    @staticmethod
    def resolve_department_name(obj):
        return obj.department.name


class RuleIn(Schema):
    practitioner_id: int
    department_id: int
    weekday: int
    start_time: dt.time
    end_time: dt.time
    slot_minutes: int
    capacity: int
    mode: VisitMode
    valid_from: dt.date
    valid_until: dt.date | None = None


class RuleOut(Schema):
    id: int
    practitioner_id: int
    department_id: int
    weekday: int
    start_time: dt.time
    end_time: dt.time
    slot_minutes: int
    capacity: int
    mode: str
    valid_from: dt.date
    valid_until: dt.date | None
    active: bool


class ClosureIn(Schema):
    practitioner_id: int | None = None
    date: dt.date
    start_time: dt.time | None = None
    end_time: dt.time | None = None
    reason: str


class ClosureOut(Schema):
    id: int
    practitioner_id: int | None
    date: dt.date
    start_time: dt.time | None
    end_time: dt.time | None
    reason: str
    closed_slots: int
    affected_appointment_ids: list[int]


class BookIn(Schema):
    patient_id: int
    slot_id: int


class CancelIn(Schema):
    reason: str = ""


class RescheduleIn(Schema):
    slot_id: int


class AppointmentOut(Schema):
    id: int
    patient_id: int
    status: str
    slot: SlotOut
    created_at: dt.datetime
    cancelled_reason: str
    rescheduled_from_id: int | None
    reschedule_count: int


class DoctorDayOut(Schema):
    date: dt.date
    practitioner_id: int
    slots: list[SlotOut]
    appointments: list[AppointmentOut]


@router.get("/slots", response=list[SlotOut])
def list_slots(
    request,
    department_id: int | None = None,
    practitioner_id: int | None = None,
    date_from: dt.date | None = None,
    days: int | None = None,
    mode: VisitMode | None = None,
):
    today = timezone.localdate()
    horizon = settings.BOOKING_HORIZON_DAYS
    first = max(date_from or today, today)
    if first >= today + dt.timedelta(days=horizon):
        return []  # beyond the booking horizon nothing is offered yet
    days = min(max(days or horizon, 1), horizon)
    start, _end = clock.day_bounds(first)
    _start, end = clock.day_bounds(first + dt.timedelta(days=days - 1))
    return list(
        selectors.open_slots(
            department_id=department_id, practitioner_id=practitioner_id, start=start, end=end,
            mode=mode.value if mode else None,
        )
    )


@router.get("/rules", response=list[RuleOut])
def list_rules(request, practitioner_id: int):
    return list(selectors.rules_of(practitioner_id))


@router.post("/rules", response={201: RuleOut})
def publish_rule(request, payload: RuleIn):
    data = payload.dict()
    data["mode"] = payload.mode.value
    return Status(201, services.publish_rule(actor=request.auth, **data))


@router.delete("/rules/{rule_id}", response=RuleOut)
def retire_rule(request, rule_id: int):
    return services.retire_rule(actor=request.auth, rule_id=rule_id)


@router.post("/closures", response={201: ClosureOut})
def add_closure(request, payload: ClosureIn):
    result = services.add_closure(actor=request.auth, **payload.dict())
    closure = result.closure
    return Status(
        201,
        {
            "id": closure.pk,
            "practitioner_id": closure.practitioner_id,
            "date": closure.date,
            "start_time": closure.start_time,
            "end_time": closure.end_time,
            "reason": closure.reason,
            "closed_slots": result.closed_slots,
            "affected_appointment_ids": [a.pk for a in result.affected],
        },
    )


@router.get("/appointments", response=list[AppointmentOut])
def list_appointments(request, patient_id: int):
    return list(selectors.appointments_of_patient(request.auth, patient_id))


@router.post("/appointments", response={201: AppointmentOut})
def book(request, payload: BookIn):
    appointment = services.book_slot(actor=request.auth, patient_id=payload.patient_id, slot_id=payload.slot_id)
    appointment.slot.refresh_from_db(fields=["booked"])  # the count after this booking, for the answer
    return Status(201, appointment)


@router.get("/appointments/{appointment_id}", response=AppointmentOut)
def get_appointment(request, appointment_id: int):
    return selectors.appointment_for(request.auth, appointment_id)


@router.post("/appointments/{appointment_id}/cancel", response=AppointmentOut)
def cancel(request, appointment_id: int, payload: CancelIn):
    return services.cancel_appointment(actor=request.auth, appointment_id=appointment_id, reason=payload.reason)


@router.post("/appointments/{appointment_id}/reschedule", response={201: AppointmentOut})
def reschedule(request, appointment_id: int, payload: RescheduleIn):
    new = services.reschedule_appointment(actor=request.auth, appointment_id=appointment_id,
                                          new_slot_id=payload.slot_id)
    new.slot.refresh_from_db(fields=["booked"])
    return Status(201, new)


@router.get("/doctor/day", response=DoctorDayOut)
def doctor_day(request, date: dt.date | None = None):
    day = selectors.doctor_day(request.auth, date or timezone.localdate())
    return {
        "date": day.date,
        "practitioner_id": day.practitioner.pk,
        "slots": day.slots,
        "appointments": day.appointments,
    }
