"""Slots are materialised from the availability rules, on demand and by a daily task.

Rules stay the source of truth (stored as rules, not copies); a slot row exists so that the database can hold
its capacity and bookings. Generation is idempotent and safe to run concurrently.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from . import clock
from .models import AvailabilityRule, Closure, Slot, SlotStatus


def generate_slots(
    *,
    practitioner_id: int | None = None,
    start: dt.date,
    days: int,
    department_id: int | None = None,
) -> int:
    """Materialise the slots of the active rules up to ``start + days - 1``; returns how many were added.

    Idempotent and safe to run concurrently: the unique (practitioner, starts_at) constraint drops duplicates.
    Each rule remembers the last day generated for it, so a call that finds nothing new costs one query; a day
    not yet generated before ``start`` is filled in too, so that record stays exact. Past times, closures
    (hospital-wide and the practitioner's), practitioners no longer allowed to practise online and departments
    that stopped online visits are skipped; a closed slot left by a retired rule at the same time is reopened
    for the new rule.
    """
    if days <= 0:
        return 0
    today = timezone.localdate()
    last = start + dt.timedelta(days=days - 1)
    if last < today:
        return 0
    rules = AvailabilityRule.objects.filter(active=True, valid_from__lte=last).filter(
        Q(valid_until__isnull=True) | Q(valid_until__gte=today)
    )
    rules = rules.filter(
        Q(generated_until__isnull=True)
        | (Q(generated_until__lt=last) & (Q(valid_until__isnull=True) | Q(valid_until__gt=F("generated_until"))))
    )
    if practitioner_id is not None:
        rules = rules.filter(practitioner_id=practitioner_id)
    if department_id is not None:
        rules = rules.filter(department_id=department_id)
    if not rules.exists():  # the usual case, and without taking a lock
        return 0
    with transaction.atomic():
        # Lock the rules being generated: a retire or a closure running now waits for us, or we for it (and then
        # see its result), so no slot is made for a rule just retired or a time just closed.
        locked = list(
            rules.select_for_update(of=("self",), no_key=True).select_related("practitioner", "department")
            .order_by("pk")
        )
        return _generate(locked, today=today, last=last) if locked else 0


def _generate(rules: list[AvailabilityRule], *, today: dt.date, last: dt.date) -> int:
    plans: list[tuple[AvailabilityRule, dt.date, dt.date]] = []
    for rule in rules:
        first = max(today, rule.valid_from)
        if rule.generated_until is not None:
            first = max(first, rule.generated_until + dt.timedelta(days=1))
        until = min(last, rule.valid_until) if rule.valid_until else last
        if first > until or not rule.department.offers_online_visits:
            continue
        plans.append((rule, first, until))
    if not plans:
        return 0
    range_first = min(p[1] for p in plans)
    range_last = max(p[2] for p in plans)
    practitioner_ids = {rule.practitioner_id for rule, _f, _u in plans}

    closures: dict[dt.date, list[tuple[int | None, dt.datetime, dt.datetime]]] = defaultdict(list)
    for closure in Closure.objects.filter(date__gte=range_first, date__lte=range_last).filter(
        Q(practitioner__isnull=True) | Q(practitioner_id__in=practitioner_ids)
    ):
        closures[closure.date].append((closure.practitioner_id, *clock.window(closure.date, closure.start_time,
                                                                                closure.end_time)))

    window_begin, _e = clock.day_bounds(range_first)
    _b, window_end = clock.day_bounds(range_last)
    # Existing slots per (practitioner, local day): for duplicates, overlaps and slots to take over.
    existing: dict[tuple[int, dt.date], dict[dt.datetime, dict]] = defaultdict(dict)
    for row in Slot.objects.filter(
        practitioner_id__in=practitioner_ids, starts_at__gte=window_begin, starts_at__lt=window_end
    ).values("id", "practitioner_id", "starts_at", "ends_at", "status", "rule_id", "rule__active", "mode",
             "department_id", "booked"):
        existing[(row["practitioner_id"], clock.local_date(row["starts_at"]))][row["starts_at"]] = row

    now = timezone.now()
    eligible: dict[tuple[int, dt.date], bool] = {}
    candidates: list[Slot] = []
    adopted = 0
    done: dict[dt.date, list[int]] = defaultdict(list)
    for rule, first, until in plans:
        skipped_ineligible = False
        day = first
        while day <= until:
            if day.weekday() == rule.weekday:
                key = (rule.practitioner_id, day)
                if key not in eligible:
                    eligible[key] = rule.practitioner.can_practise_online(day)
                if not eligible[key]:
                    skipped_ineligible = True
                    break
                taken = existing[key]
                shut = [
                    (b, e) for pid, b, e in closures.get(day, ()) if pid is None or pid == rule.practitioner_id
                ]
                for starts_at, ends_at in clock.wall_times(day, rule.start_time, rule.end_time, rule.slot_minutes):
                    if starts_at <= now or any(b < ends_at and starts_at < e for b, e in shut):
                        continue
                    same = taken.get(starts_at)
                    if same is not None:
                        adopted += _adopt(same, rule, ends_at)
                        continue
                    if any(s["starts_at"] < ends_at and starts_at < s["ends_at"] for s in taken.values()):
                        continue
                    slot = Slot(
                        rule=rule, practitioner_id=rule.practitioner_id, department_id=rule.department_id,
                        starts_at=starts_at, ends_at=ends_at, mode=rule.mode, capacity=rule.capacity,
                    )
                    candidates.append(slot)
                    taken[starts_at] = {"starts_at": starts_at, "ends_at": ends_at}
            day += dt.timedelta(days=1)
        if not skipped_ineligible:
            done[until].append(rule.pk)
    if candidates:
        Slot.objects.bulk_create(candidates, ignore_conflicts=True, batch_size=500)
    for until, rule_ids in done.items():
        AvailabilityRule.objects.filter(pk__in=rule_ids).filter(
            Q(generated_until__isnull=True) | Q(generated_until__lt=until)
        ).update(generated_until=until)
    return len(candidates) + adopted


def _adopt(row: dict, rule: AvailabilityRule, ends_at: dt.datetime) -> int:
    """Reopen a closed slot of a retired rule for the rule that now offers the same time."""
    if (
        row.get("id") is None
        or row["status"] != SlotStatus.CLOSED
        or (row["rule_id"] is not None and row["rule__active"])
        or row["ends_at"] != ends_at
        or row["mode"] != rule.mode
        or row["department_id"] != rule.department_id
        or row["booked"] > rule.capacity
    ):
        return 0
    return Slot.objects.filter(pk=row["id"], status=SlotStatus.CLOSED, rule_id=row["rule_id"],
                               booked__lte=rule.capacity).update(rule=rule, status=SlotStatus.OPEN,
                                                                 capacity=rule.capacity)
