"""Response times per request and the summary per specialty."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ihospital.teleconsult import metrics
from ihospital.teleconsult.models import ConsultRequest, Status
from tests.factories import DepartmentFactory
from tests.teleconsult.factories import draft_request, in_review_request, submitted_request

pytestmark = pytest.mark.django_db


def _set(req, **fields):
    ConsultRequest.objects.filter(pk=req.pk).update(**fields)
    req.refresh_from_db()
    return req


def test_response_times_of_one_request(patient, referrer, coordinator):
    req = in_review_request(patient=patient, referrer=referrer, coordinator=coordinator, urgency="urgent")
    t0 = req.submitted_at
    req = _set(req, first_response_at=t0 + timedelta(minutes=90))
    now = t0 + timedelta(hours=2)
    times = metrics.response_times(req, now=now)
    assert times["first_response_minutes"] == 90 and times["report_minutes"] is None
    assert times["overdue"] is False and times["late"] is False
    assert times["first_response_left_minutes"] is None
    assert times["report_left_minutes"] == 22 * 60
    # Past the report target while still open: overdue.
    times = metrics.response_times(req, now=t0 + timedelta(hours=25))
    assert times["overdue"] and times["late"] and times["report_left_minutes"] == -60
    # Reported late: no longer overdue, still late.
    req = _set(req, status=Status.REPORTED, reported_at=t0 + timedelta(hours=30))
    times = metrics.response_times(req, now=t0 + timedelta(hours=31))
    assert times["report_minutes"] == 30 * 60 and not times["overdue"] and times["late"]


def test_an_unanswered_request_is_overdue_at_its_first_response_target(patient, referrer):
    req = submitted_request(patient=patient, referrer=referrer, urgency="emergency")
    assert metrics.response_times(req, now=req.submitted_at + timedelta(minutes=29))["overdue"] is False
    times = metrics.response_times(req, now=req.submitted_at + timedelta(minutes=31))
    assert times["overdue"] and times["first_response_left_minutes"] == -1
    assert metrics.response_times(draft_request(patient=patient, referrer=referrer)) == {
        "first_response_minutes": None, "report_minutes": None, "overdue": False, "late": False,
        "first_response_left_minutes": None, "report_left_minutes": None,
    }


def test_percentiles():
    assert metrics.percentile([], 90) is None
    assert metrics.percentile([5], 90) == 5
    assert metrics.percentile(list(range(1, 11)), 90) == 9
    assert metrics.percentile(list(range(1, 11)), 50) == 5
    assert metrics.median([3, 1, 2]) == 2 and metrics.median([1, 2, 3, 4]) == 2.5 and metrics.median([]) is None


def test_summary_per_specialty(patient, referrer, coordinator):
    cardio = DepartmentFactory(name_en="Cardiology", name_zh="心内科")
    neuro = DepartmentFactory(name_en="Neurology", name_zh="神经内科")
    now = timezone.now()
    for minutes, report_hours, dept in ((30, 10, cardio), (60, 20, cardio), (120, None, cardio), (45, 5, neuro)):
        req = submitted_request(patient=patient, referrer=referrer, department=dept)
        t0 = now - timedelta(days=2)
        fields = dict(submitted_at=t0, first_response_due=t0 + timedelta(hours=24),
                      report_due=t0 + timedelta(hours=72), first_response_at=t0 + timedelta(minutes=minutes),
                      status=Status.IN_REVIEW)
        if report_hours:
            fields.update(status=Status.REPORTED, reported_at=t0 + timedelta(hours=report_hours))
        _set(req, **fields)
    overdue = submitted_request(patient=patient, referrer=referrer, department=neuro)
    _set(overdue, submitted_at=now - timedelta(days=3), first_response_due=now - timedelta(days=2))
    draft_request(patient=patient, referrer=referrer, department=cardio)  # never sent: not counted
    summary = {r["department"]: r for r in metrics.specialty_summary(ConsultRequest.objects.all(), now=now)}
    c = summary[cardio]
    assert (c["count"], c["reported"], c["overdue"], c["late"]) == (3, 2, 0, 0)
    assert c["first_response_median"] == 60 and c["first_response_p90"] == 120
    assert c["report_median"] == 15 * 60 and c["report_p90"] == 20 * 60
    n = summary[neuro]
    assert (n["count"], n["reported"], n["overdue"]) == (2, 1, 1)
    assert n["first_response_median"] == 45 and n["report_median"] == 300


def test_requests_without_a_specialty_are_grouped_last(patient, referrer, expert, cardiology):
    submitted_request(patient=patient, referrer=referrer, named_expert=expert)
    submitted_request(patient=patient, referrer=referrer, department=cardiology)
    rows = metrics.specialty_summary(ConsultRequest.objects.all())
    assert [r["department"] for r in rows] == [cardiology, None]
    assert rows[1]["count"] == 1 and rows[1]["name"]
    # Works on a plain list too.
    assert len(metrics.specialty_summary(list(ConsultRequest.objects.all()))) == 2
