"""What the staff's home pages say about home nursing: counts only (no patient is named, so these are not chart
reads), and which of the staff pages the user may open."""

from __future__ import annotations

from datetime import date

from django.db.models import Q

from ihospital.accounts.models import User

from .models import (
    Alarm,
    AlarmStatus,
    Correction,
    CorrectionStatus,
    NurseProfile,
    NurseVisit,
    NursingRequest,
    RequestStatus,
    Shift,
)
from .selectors import is_home_nurse, is_supervisor

UNDER_WAY = (RequestStatus.SCHEDULED, RequestStatus.EN_ROUTE, RequestStatus.IN_SERVICE)


def nurse_summary(user: User, day: date) -> dict:
    home = is_home_nurse(user) and NurseProfile.objects.filter(user=user).exists()
    if not home:
        return {"home_nurse": False}
    supervisor = is_supervisor(user)
    summary = {
        "home_nurse": True,
        "supervisor": supervisor,
        "to_assess": NursingRequest.objects.filter(status=RequestStatus.REQUESTED).count(),
        "assessing": NursingRequest.objects.filter(status=RequestStatus.ASSESSING, assessment__nurse=user).count(),
        "visits_today": NurseVisit.objects.filter(Q(nurse=user) | Q(second_nurse=user), day=day,
                                                  request__status__in=UNDER_WAY).count(),
    }
    if supervisor:
        summary["to_review"] = (
            NurseVisit.objects.filter(flagged=True, reviewed_at__isnull=True).exclude(nurse=user).count()
            + Correction.objects.filter(status=CorrectionStatus.PENDING).exclude(requested_by=user).count())
    return summary


def dispatcher_summary(day: date) -> dict:
    of_day = NursingRequest.objects.filter(preferred_date=day)
    return {
        "day": day,
        "waiting": of_day.filter(status=RequestStatus.ACCEPTED).count(),
        "scheduled": of_day.filter(status__in=UNDER_WAY).count(),
        "completed": of_day.filter(status=RequestStatus.COMPLETED).count(),
        "upcoming": NursingRequest.objects.filter(status=RequestStatus.ACCEPTED, preferred_date__gt=day).count(),
        "nurses": Shift.objects.filter(day=day).count(),
        "open_alarms": open_alarm_count(),
    }


def open_alarm_count() -> int:
    return Alarm.objects.exclude(status=AlarmStatus.RESOLVED).count()
