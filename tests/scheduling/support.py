"""Helpers for the scheduling tests."""

from __future__ import annotations

from datetime import date, timedelta

from django.apps import apps
from django.utils import timezone

from tests.helpers import counts

SCHEDULING_MODELS = ["scheduling.AvailabilityRule", "scheduling.Closure", "scheduling.Slot", "scheduling.Appointment"]


def state(*, with_audit: bool = False) -> dict:
    """Row counts of every model a refusal must leave alone, plus every slot's booked count and status."""
    result = counts(with_audit=with_audit)
    result.update({label: apps.get_model(label).objects.count() for label in SCHEDULING_MODELS})
    slot = apps.get_model("scheduling.Slot")
    appointment = apps.get_model("scheduling.Appointment")
    result["slots"] = sorted(slot.objects.values_list("pk", "booked", "status", "capacity"))
    result["appointments"] = sorted(appointment.objects.values_list("pk", "status", "slot_id"))
    return result


def next_weekday(weekday: int, *, after: date | None = None) -> date:
    """The first date strictly after ``after`` (default today) that falls on ``weekday``."""
    day = (after or timezone.localdate()) + timedelta(days=1)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return day


def last_sunday(year: int, month: int) -> date:
    day = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    while day.weekday() != 6:
        day -= timedelta(days=1)
    return day


def next_last_sunday(month: int) -> date:
    """The next last-Sunday-of-``month`` after tomorrow (the EU changes its clocks then in March and October)."""
    today = timezone.localdate()
    for year in (today.year, today.year + 1):
        day = last_sunday(year, month)
        if day > today + timedelta(days=1):
            return day
    raise AssertionError("unreachable")
