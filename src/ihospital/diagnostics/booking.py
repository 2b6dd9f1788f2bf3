"""Booking an ordered test into a slot of a resource that performs it, by the patient or a proxy.

Rules (each refusal has a stable code):

* the slot's resource performs the order's test (``wrong_resource``), is active, and the slot is open and in the
  future (``slot_unavailable``);
* ``preparation.morning_only`` tests only in slots starting before 10:00 local time (``fasting_morning_only``);
* same-day conflicts between the patient's exams (``same_day_conflict``), from either test's ``preparation``:
  ``not_same_day_as: [codes]`` forbids the two on one day in any order; ``not_same_day_after: [codes]`` forbids
  this exam later on the same day as one of those (an abdominal CT or ultrasound after a barium meal: the barium
  spoils the images), which is checked from both sides: booking the CT after a booked barium meal, or the barium
  meal before a booked CT;
* one live booking per order (``already_booked``); at most ``MAX_RESCHEDULES`` moves (``reschedule_limit``), not
  within ``RESCHEDULE_CUTOFF`` of the booked time (``too_late_to_reschedule``). Cancelling and booking again counts
  as a move, like a reschedule: otherwise the limit would be got round by cancelling first. Once the moves are used
  up, a cancelled order cannot be booked again by the patient (``reschedule_limit``).

Places are taken by one conditional update (``booked < capacity``), so a slot is never overbooked however many
book at once (``slot_full``); a reschedule takes the new place and frees the old one in the same transaction.
Cancelling a booking frees its place, once (a second cancel is ``not_booked``), and puts the order back to "ordered";
the booking row stays, marked ``cancelled_at``/``cancelled_by``, and the order can be booked again. A reminder
with the preparation instructions is sent at 18:00 local time the evening before.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import PatientProfile
from ihospital.accounts.selectors import patient_and_relatives
from ihospital.core import audit
from ihospital.core.errors import Conflict, DomainError, Forbidden, NotFound
from ihospital.core.models import AuditAction
from ihospital.core.transitions import transition
from ihospital.notifications.services import notify

from . import tasks_slots
from .models import Booking, DiagnosticOrder, OrderStatus, ResourceSlot
from .ordering import order_link
from .selectors import order_for

MAX_RESCHEDULES = 2
RESCHEDULE_CUTOFF = timedelta(hours=2)
MORNING_ENDS = time(10, 0)
REMINDER_AT = time(18, 0)
LIVE = (OrderStatus.BOOKED, OrderStatus.CHECKED_IN)


def _local(at: datetime) -> datetime:
    return timezone.localtime(at)


def day_bounds(day) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(day, time.min))
    return start, start + timedelta(days=1)


def available_slots(*, actor, order_id: int, day) -> list[ResourceSlot]:
    """The open slots with a free place on ``day`` where the order's test can be booked (morning only if it must)."""
    order, _role = order_for(actor, order_id, roles=("patient",))
    if order.status not in (OrderStatus.ORDERED, OrderStatus.BOOKED):
        return []
    start, end = day_bounds(day)
    start = max(start, timezone.now())
    qs = (ResourceSlot.objects.filter(resource__tests=order.test, resource__active=True, closed=False,
                                      starts_at__gt=start, starts_at__lt=end, booked__lt=F("capacity"))
          .select_related("resource").order_by("starts_at", "resource_id"))
    slots = list(qs)
    if order.test.preparation.get("morning_only"):
        slots = [s for s in slots if _local(s.starts_at).time() < MORNING_ENDS]
    return slots


def _conflicting(order: DiagnosticOrder, slot: ResourceSlot) -> DiagnosticOrder | None:
    """Another live booking of the patient on the slot's day that cannot share the day with this exam."""
    start, end = day_bounds(_local(slot.starts_at).date())
    mine = order.test.preparation or {}
    others = (Booking.objects.live().filter(order__patient_id=order.patient_id, order__status__in=LIVE,
                                     slot__starts_at__gte=start, slot__starts_at__lt=end)
              .exclude(order=order).select_related("order__test", "slot"))
    for other in others:
        theirs = other.order.test.preparation or {}
        code, their_code = order.test.code, other.order.test.code
        if their_code in mine.get("not_same_day_as", []) or code in theirs.get("not_same_day_as", []):
            return other.order
        # This exam after theirs, when theirs spoils it; or theirs after this one, when this one spoils theirs.
        if their_code in mine.get("not_same_day_after", []) and other.slot.starts_at <= slot.starts_at:
            return other.order
        if code in theirs.get("not_same_day_after", []) and slot.starts_at <= other.slot.starts_at:
            return other.order
    return None


def _check_slot(order: DiagnosticOrder, slot_id: int) -> ResourceSlot:
    slot = ResourceSlot.objects.select_related("resource").filter(pk=slot_id).first()
    if slot is None:
        raise NotFound("slot_not_found", _("There is no such time."))
    if not slot.resource.tests.filter(pk=order.test_id).exists():
        raise DomainError("wrong_resource", _("This test is not done at that place: choose another time."))
    if slot.closed or not slot.resource.active or slot.starts_at <= timezone.now():
        raise Conflict("slot_unavailable", _("This time can no longer be booked: choose another."))
    if order.test.preparation.get("morning_only") and _local(slot.starts_at).time() >= MORNING_ENDS:
        raise DomainError("fasting_morning_only",
                          _("This test needs fasting: book a time before 10:00 in the morning."))
    other = _conflicting(order, slot)
    if other is not None:
        raise Conflict("same_day_conflict",
                       _("This exam cannot be on the same day as your %(test)s: choose another day.")
                       % {"test": other.test.name})
    return slot


def _take(slot: ResourceSlot) -> None:
    taken = ResourceSlot.objects.filter(pk=slot.pk, booked__lt=F("capacity"), closed=False).update(
        booked=F("booked") + 1)
    if taken != 1:
        raise Conflict("slot_full", _("This time has just been taken: choose another."))


def _release(slot_id: int) -> None:
    ResourceSlot.objects.filter(pk=slot_id, booked__gt=0).update(booked=F("booked") - 1)


def reminder_time(slot: ResourceSlot) -> datetime:
    """18:00 local time on the day before the slot."""
    day = _local(slot.starts_at).date() - timedelta(days=1)
    return timezone.make_aware(datetime.combine(day, REMINDER_AT))


def _schedule_reminder(order: DiagnosticOrder, slot: ResourceSlot) -> None:
    at = reminder_time(slot)
    order_id, slot_id = order.pk, slot.pk
    if at <= timezone.now():
        transaction.on_commit(lambda: tasks_slots.send_reminder.enqueue(order_id, slot_id))
    else:
        transaction.on_commit(lambda: tasks_slots.send_reminder.using(run_after=at).enqueue(order_id, slot_id))


def _may_book(actor, order_id: int) -> None:
    """404 unless the actor is the order's patient or proxy; outside the write's transaction, so the audited
    denial stays."""
    order_for(actor, order_id, audit_read=False, roles=("patient",))


def _locked_order(order_id: int) -> DiagnosticOrder:
    order = DiagnosticOrder.objects.select_for_update().select_related("test").get(pk=order_id)
    # The patient's row serialises their bookings (the same-day rules look across their orders).
    PatientProfile.objects.select_for_update().filter(pk=order.patient_id).first()
    return order


def _limit() -> Conflict:
    return Conflict("reschedule_limit", _("A booking can be moved at most %(n)s times.") % {"n": MAX_RESCHEDULES})


def _moves_so_far(order: DiagnosticOrder) -> int:
    """The moves a new booking of the order starts from: none for the first booking; after a cancel, the cancelled
    booking's moves plus this one (cancelling and booking again is a move)."""
    last = Booking.objects.filter(order=order, cancelled_at__isnull=False).order_by("-cancelled_at", "-pk").first()
    return 0 if last is None else last.reschedules + 1


def can_book_again(order: DiagnosticOrder) -> bool:
    """Whether a booking of the order now would stay within the moves allowed."""
    return _moves_so_far(order) <= MAX_RESCHEDULES


def book(*, actor, order_id: int, slot_id: int) -> Booking:
    _may_book(actor, order_id)
    with transaction.atomic():
        order = _locked_order(order_id)
        if order.status != OrderStatus.ORDERED:
            if order.status == OrderStatus.BOOKED:
                raise Conflict("already_booked", _("This test is already booked: reschedule it instead."))
            raise Conflict("not_bookable", _("This test cannot be booked now."))
        moves = _moves_so_far(order)
        if moves > MAX_RESCHEDULES:
            raise _limit()
        slot = _check_slot(order, slot_id)
        _take(slot)
        booking = Booking.objects.create(order=order, slot=slot, booked_by=actor, reschedules=moves)
        transition(order, OrderStatus.BOOKED, actor=actor)
        audit.record(actor=actor, action=AuditAction.CREATE, obj=booking, patient_id=order.patient_id,
                     detail={"order": order.number, "slot": slot.pk, "starts_at": slot.starts_at.isoformat(),
                             "reschedules": moves})
        _schedule_reminder(order, slot)
        _tell_booked(order, booking)
    return booking


def reschedule(*, actor, order_id: int, slot_id: int) -> Booking:
    _may_book(actor, order_id)
    with transaction.atomic():
        order = _locked_order(order_id)
        booking = Booking.objects.live().select_related("slot").filter(order=order).first()
        if order.status != OrderStatus.BOOKED or booking is None:
            raise Conflict("not_booked", _("This test is not booked."))
        if booking.reschedules >= MAX_RESCHEDULES:
            raise _limit()
        if timezone.now() >= booking.slot.starts_at - RESCHEDULE_CUTOFF:
            raise Conflict("too_late_to_reschedule", _("A booking cannot be moved within 2 hours of its time."))
        if booking.slot_id == slot_id:
            raise Conflict("same_slot", _("This is already the booked time."))
        old = booking.slot
        slot = _check_slot(order, slot_id)
        _take(slot)
        _release(old.pk)
        booking.slot = slot
        booking.reschedules += 1
        booking.reminded_at = None
        booking.save(update_fields=["slot", "reschedules", "reminded_at", "booked_at"])
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=booking, patient_id=order.patient_id,
                     detail={"order": order.number, "from_slot": old.pk, "slot": slot.pk,
                             "starts_at": slot.starts_at.isoformat(), "reschedules": booking.reschedules})
        _schedule_reminder(order, slot)
        _tell_booked(order, booking, moved=True)
    return booking


def cancel_booking(*, actor, order_id: int, reason: str = "") -> DiagnosticOrder:
    """Free the place and put the order back to "ordered" (it can be booked again, as a move: see the module
    docstring). The booking stays, marked cancelled. Only a live booking of a booked order is cancelled, so the place
    is freed once: cancelling again is ``not_booked``."""
    _may_book(actor, order_id)
    reason = (reason or "").strip()
    with transaction.atomic():
        order = _locked_order(order_id)
        booking = Booking.objects.live().select_for_update().filter(order=order).first()
        if order.status != OrderStatus.BOOKED or booking is None:
            raise Conflict("not_booked", _("This test is not booked."))
        _release(booking.slot_id)
        booking.cancelled_at, booking.cancelled_by, booking.cancel_reason = timezone.now(), actor, reason
        booking.save(update_fields=["cancelled_at", "cancelled_by", "cancel_reason"])
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=booking, patient_id=order.patient_id,
                     detail={"order": order.number, "slot": booking.slot_id, "cancelled": True, "reason": reason,
                             "reschedules": booking.reschedules})
        transition(order, OrderStatus.ORDERED, actor=actor, reason=reason)
    return order


def check_in(*, actor, order_id: int) -> Booking:
    """The patient has arrived: a lab or imaging technician checks them in, on the day of the booking."""
    _order, role = order_for(actor, order_id, audit_read=False)
    if role != "lab":
        raise Forbidden("not_lab_staff", _("Only lab or imaging staff check patients in."))
    with transaction.atomic():
        order = DiagnosticOrder.objects.select_for_update().get(pk=order_id)
        booking = Booking.objects.live().select_related("slot").filter(order=order).first()
        if order.status != OrderStatus.BOOKED or booking is None:
            raise Conflict("not_booked", _("This test is not booked."))
        if _local(booking.slot.starts_at).date() != timezone.localdate():
            raise Conflict("not_today", _("The booking is for %(day)s, not today.")
                           % {"day": _local(booking.slot.starts_at).date().isoformat()})
        now = timezone.now()
        transition(order, OrderStatus.CHECKED_IN, actor=actor)
        booking.checked_in_at = now
        booking.save(update_fields=["checked_in_at"])
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=booking, patient_id=order.patient_id,
                     detail={"order": order.number, "checked_in": now.isoformat()})
    return booking


def preparation_lines(order: DiagnosticOrder) -> list[str]:
    """What the patient must do before the exam, for the reminder."""
    prep = order.test.preparation or {}
    lines = []
    if prep.get("fasting_hours"):
        lines.append(str(_("Do not eat for %(hours)s hours before the test (water is fine).")
                         % {"hours": prep["fasting_hours"]}))
    if prep.get("full_bladder"):
        lines.append(str(_("Come with a full bladder.")))
    hold = (order.safety or {}).get("metformin_hold")
    if hold:
        lines.append(str(_("Stop metformin on the day of the exam and for %(hours)s hours after it; restart once "
                           "renal function is confirmed.") % {"hours": hold.get("hours_after", 48)}))
    if order.test.preparation_text:
        lines.append(order.test.preparation_text)
    return lines


def _tell_booked(order: DiagnosticOrder, booking: Booking, *, moved: bool = False) -> None:
    """Tell the patient and relatives the booked (or moved) time and how to prepare, each in their own language.

    The title and body name the test and the preparation: they stay in the app. The outside channels carry only
    the neutral text of "diagnostics.booked". Once per booking and move (a retried request tells nobody twice)."""
    slot = booking.slot
    when = _local(slot.starts_at)
    for user in patient_and_relatives(order.patient):
        with translation.override(getattr(user, "language", None) or settings.LANGUAGE_CODE):
            values = {"test": order.test.name, "day": when.date().isoformat(), "time": when.strftime("%H:%M")}
            if moved:
                title = gettext("%(test)s moved to %(day)s at %(time)s") % values
            else:
                title = gettext("%(test)s booked for %(day)s at %(time)s") % values
            body = "\n".join([gettext("%(place)s, %(day)s at %(time)s.") % {**values, "place": slot.resource.name}]
                             + preparation_lines(order))
        notify(users=[user], kind="diagnostics.booked", title=title, body=body, link=order_link(order),
               dedupe_key=f"diagnostics.booked:{booking.pk}:{booking.reschedules}")


def remind(*, order_id: int, slot_id: int) -> bool:
    """Send the evening-before reminder, unless the booking moved, was cancelled or was already reminded."""
    with transaction.atomic():
        booking = (Booking.objects.live().select_for_update(of=("self",))
                   .select_related("order__test", "order__patient", "slot__resource")
                   .filter(order_id=order_id, slot_id=slot_id, order__status=OrderStatus.BOOKED,
                           reminded_at__isnull=True).first())
        if booking is None:
            return False
        order, slot = booking.order, booking.slot
        when = _local(slot.starts_at)
        body = "\n".join([str(_("%(place)s, %(day)s at %(time)s.") % {
            "place": slot.resource.name, "day": when.date().isoformat(), "time": when.strftime("%H:%M")})]
            + preparation_lines(order))
        notify(users=patient_and_relatives(order.patient), kind="diagnostics.reminder",
               title=_("Tomorrow: %(test)s at %(time)s") % {"test": order.test.name, "time": when.strftime("%H:%M")},
               body=body, link=order_link(order), dedupe_key=f"diagnostics.reminder:{booking.pk}:{slot.pk}")
        booking.reminded_at = timezone.now()
        booking.save(update_fields=["reminded_at"])
    return True
