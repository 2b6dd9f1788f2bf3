"""Local wall-clock time (``settings.TIME_ZONE``) to UTC instants, safe across daylight-saving changes.

Rules say "Monday 08:00" in the hospital's time zone. A wall time that does not exist (the hour skipped when
clocks go forward) yields no instant, so no slot is made for it; a wall time that happens twice (clocks go
back) means its first occurrence. Slot lengths are real durations, so slots never overlap either way.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from ihospital.core.errors import DomainError

# Dates this far from the ends of the calendar cannot be converted (a day later, or a time zone offset, would
# fall off it); nobody books a visit there, so such a date is bad input rather than a crash.
_FIRST = date.min + timedelta(days=2)
_LAST = date.max - timedelta(days=2)


def local_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def check_date(day: date) -> date:
    if not _FIRST <= day <= _LAST:
        raise DomainError("invalid_date", _("This date is out of range."), fields={"date": _("out of range")})
    return day


def to_utc(day: date, at: time | datetime) -> datetime | None:
    """The UTC instant of the local wall time ``at`` on ``day``; None if the clocks skip it that day."""
    zone = local_zone()
    check_date(day)
    wall = at if isinstance(at, datetime) else datetime.combine(day, at)
    aware = wall.replace(tzinfo=zone, fold=0)
    instant = aware.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall.replace(tzinfo=None, fold=0):
        return None
    return instant


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a local calendar day in UTC (23, 24 or 25 hours long)."""
    zone = local_zone()
    check_date(day)
    start = datetime.combine(day, time.min).replace(tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time.min).replace(tzinfo=zone).astimezone(UTC)
    return start, end


def window(day: date, start: time | None, end: time | None) -> tuple[datetime, datetime]:
    """A local time range on a day in UTC (the whole day when both times are None).

    An end in a skipped hour is moved to the instant the clocks jump, so a window never ends before it starts.
    """
    if start is None or end is None:
        return day_bounds(day)
    zone = local_zone()
    check_date(day)
    begin = datetime.combine(day, start).replace(tzinfo=zone).astimezone(UTC)
    finish = datetime.combine(day, end).replace(tzinfo=zone).astimezone(UTC)
    return begin, max(finish, begin)


def local_date(instant: datetime) -> date:
    try:
        return instant.astimezone(local_zone()).date()
    except OverflowError:
        raise DomainError("invalid_date", _("This date is out of range."), fields={"date": _("out of range")}) from None


def wall_times(day: date, start: time, end: time, minutes: int):
    """Yield (starts_at, ends_at) in UTC for consecutive slots of ``minutes`` from ``start`` to ``end`` on ``day``.

    A last partial slot is dropped; a slot whose wall start does not exist that day is skipped, and so is one
    that would run past the end in real time (clocks going forward inside it).
    """
    step = timedelta(minutes=minutes)
    check_date(day)
    wall = datetime.combine(day, start)
    limit = datetime.combine(day, end)
    limit_instant = limit.replace(tzinfo=local_zone()).astimezone(UTC)
    while wall + step <= limit:
        instant = to_utc(day, wall)
        if instant is not None and instant + step <= limit_instant:
            yield instant, instant + step
        wall += step
