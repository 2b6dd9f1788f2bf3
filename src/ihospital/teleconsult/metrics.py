"""Response times of consultations: per request (time to first response, time to report, overdue), and a
summary per specialty (the department asked for) for the coordinators' board.

Times are minutes from when the request was (last) sent. "Overdue" is a request still open past a running
deadline; "late" one that missed a target at any time (answered or reported after it, or still overdue).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone
from django.utils.translation import gettext

from .models import OPEN_STATUSES, ConsultRequest


def _minutes(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds() / 60))


def _past(due: datetime | None, done: datetime | None, now: datetime) -> bool:
    return due is not None and (done or now) > due


def response_times(request: ConsultRequest, *, now: datetime | None = None) -> dict:
    """``first_response_minutes`` and ``report_minutes`` (None until they happen), ``overdue`` (open and past a
    running deadline), ``late`` (missed a target at any time), and the minutes left to each running deadline
    (negative when past; None when not running)."""
    now = now or timezone.now()
    running = request.status in OPEN_STATUSES
    first_running = running and request.first_response_at is None and request.first_response_due is not None
    report_running = running and request.reported_at is None and request.report_due is not None
    overdue = (first_running and now > request.first_response_due) or (report_running and now > request.report_due)
    late = overdue or (request.submitted_at is not None and (
        (request.first_response_at is not None and _past(request.first_response_due, request.first_response_at, now))
        or (request.reported_at is not None and _past(request.report_due, request.reported_at, now))))
    return {
        "first_response_minutes": _minutes(request.submitted_at, request.first_response_at),
        "report_minutes": _minutes(request.submitted_at, request.reported_at),
        "overdue": bool(overdue),
        "late": bool(late),
        "first_response_left_minutes": (round((request.first_response_due - now).total_seconds() / 60)
                                        if first_running else None),
        "report_left_minutes": round((request.report_due - now).total_seconds() / 60) if report_running else None,
    }


def percentile(values: list[int], pct: float) -> int | None:
    """Nearest-rank percentile (the median is ``percentile(v, 50)``); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: list[int]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def specialty_summary(qs: Iterable[ConsultRequest], *, now: datetime | None = None) -> list[dict]:
    """One row per department asked for (requests with none, e.g. only a named expert, under "no specialty"),
    sorted by name: ``department`` (the Department or None), ``name``, ``count``, ``reported`` (signed or
    acknowledged), ``first_response_median``/``first_response_p90`` and ``report_median``/``report_p90`` (minutes,
    None without data), ``overdue`` (open and past a deadline now) and ``late`` (missed a target)."""
    now = now or timezone.now()
    if hasattr(qs, "select_related"):
        qs = qs.exclude(submitted_at__isnull=True).select_related("department")
    groups: dict[int | None, dict] = {}
    for request in qs:
        if request.submitted_at is None:
            continue
        row = groups.setdefault(request.department_id, {
            "department": request.department,
            "name": str(request.department) if request.department_id else gettext("no specialty named"),
            "count": 0, "reported": 0, "overdue": 0, "late": 0, "_first": [], "_report": [],
        })
        times = response_times(request, now=now)
        row["count"] += 1
        row["reported"] += request.reported_at is not None
        row["overdue"] += times["overdue"]
        row["late"] += times["late"]
        if times["first_response_minutes"] is not None:
            row["_first"].append(times["first_response_minutes"])
        if times["report_minutes"] is not None:
            row["_report"].append(times["report_minutes"])
    rows = []
    for row in groups.values():
        first, report = row.pop("_first"), row.pop("_report")
        row.update(first_response_median=median(first), first_response_p90=percentile(first, 90),
                   report_median=median(report), report_p90=percentile(report, 90))
        rows.append(row)
    return sorted(rows, key=lambda r: (r["department"] is None, r["name"]))
