"""Bookable slots of the exam resources, made from each resource's weekly ``hours``.

``hours`` maps a weekday ("0" = Monday … "6") to windows ``[["08:00", "12:00"], ...]`` in local time
(``TIME_ZONE``); each window is cut into ``slot_minutes`` slots (a remainder shorter than a slot is dropped), each
with the resource's ``capacity``. Generation is idempotent: an existing slot at the same start is left as it is
(its bookings and ``closed`` flag untouched), so running it again only adds the missing days.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ihospital.core.errors import DomainError

from .models import Resource, ResourceSlot

DAYS_AHEAD = 14


def _clock(text: str) -> time:
    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except (AttributeError, TypeError, ValueError) as exc:
        raise DomainError("invalid_hours", _("Opening hours must be written as HH:MM.")) from exc


def windows(resource: Resource, day: date) -> list[tuple[time, time]]:
    """The opening windows of ``resource`` on ``day``."""
    result = []
    for window in (resource.hours or {}).get(str(day.weekday()), []):
        if not isinstance(window, (list, tuple)) or len(window) != 2:
            raise DomainError("invalid_hours", _("Each opening window is a [start, end] pair."))
        opens, closes = _clock(window[0]), _clock(window[1])
        if closes <= opens:
            raise DomainError("invalid_hours", _("An opening window must end after it starts."))
        result.append((opens, closes))
    return result


def candidates(resource: Resource, *, start: date, days: int) -> list[ResourceSlot]:
    """The slots the hours give from ``start`` for ``days`` days, in the future only (not saved)."""
    step = timedelta(minutes=resource.slot_minutes)
    now = timezone.now()
    slots = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        for opens, closes in windows(resource, day):
            at = timezone.make_aware(datetime.combine(day, opens))
            last = timezone.make_aware(datetime.combine(day, closes))
            while at + step <= last:
                if at > now:
                    slots.append(ResourceSlot(resource=resource, starts_at=at, ends_at=at + step,
                                              capacity=resource.capacity))
                at += step
    return slots


def generate(resource: Resource, *, start: date, days: int) -> int:
    """Create the missing slots of ``resource`` for ``days`` days from ``start``; returns how many were made."""
    wanted = candidates(resource, start=start, days=days)
    if not wanted:
        return 0
    existing = set(ResourceSlot.objects.filter(
        resource=resource, starts_at__gte=wanted[0].starts_at, starts_at__lte=wanted[-1].starts_at,
    ).values_list("starts_at", flat=True))
    missing = [slot for slot in wanted if slot.starts_at not in existing]
    # ignore_conflicts: a concurrent run that made the same slot first is fine (one slot per resource and time).
    ResourceSlot.objects.bulk_create(missing, ignore_conflicts=True, batch_size=500)
    return len(missing)


def keep_ahead(days: int = DAYS_AHEAD) -> int:
    """Slots for today and the next ``days`` days on every active resource."""
    today = timezone.localdate()
    return sum(generate(resource, start=today, days=days + 1) for resource in Resource.objects.filter(active=True))
