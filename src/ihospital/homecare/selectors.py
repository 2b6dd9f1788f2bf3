"""Reads of home-nursing requests and visits, scoped to the asking user and audited.

Who sees a request, and as what (``role``):

* ``patient``: the patient and their active proxies, always;
* ``assessor``: the nurse who claimed its assessment, until the decision plus ``HOMECARE_CARE_ACCESS_HOURS``;
* ``nurse``: the nurse (or second nurse) of its visit, from the day before the visit until
  ``HOMECARE_CARE_ACCESS_HOURS`` after check-out ("only around the visit");
* ``dispatcher``: dispatchers, for accepted and later requests (where and when, not the clinical notes);
* ``supervisor``: home-care nurses with the title 主管护师 or higher, who review flagged visits and corrections.

Anyone else asking by id gets 404, the same as for an id that does not exist, and the attempt is audited.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from ihospital.accounts.models import Role, User
from ihospital.accounts.selectors import patients_acted_for
from ihospital.core import audit
from ihospital.core.errors import NotFound
from ihospital.core.models import AuditAction, AuditOutcome
from ihospital.directory.models import NURSE_TITLE_RANK, Practitioner, Title

from .models import (
    Alarm,
    AlarmStatus,
    Block,
    Correction,
    CorrectionStatus,
    NurseVisit,
    NursingRequest,
    NursingService,
    RequestStatus,
)

REQUEST_RELATED = ("patient__user", "service", "requested_by")
DISPATCHABLE = (RequestStatus.ACCEPTED, RequestStatus.SCHEDULED, RequestStatus.EN_ROUTE, RequestStatus.IN_SERVICE,
                RequestStatus.COMPLETED)


def practitioner_of(user: User) -> Practitioner | None:
    if not user.is_authenticated or user.role != Role.NURSE:
        return None
    return Practitioner.objects.filter(user=user).first()


def is_home_nurse(user: User) -> bool:
    p = practitioner_of(user)
    return p is not None and p.can_nurse_at_home()


def is_supervisor(user: User) -> bool:
    p = practitioner_of(user)
    return (p is not None and p.can_nurse_at_home()
            and NURSE_TITLE_RANK.get(p.title, 0) >= NURSE_TITLE_RANK[Title.SUPERVISOR_NURSE])


def access_ends(visit: NurseVisit) -> datetime:
    hours = timedelta(hours=settings.HOMECARE_CARE_ACCESS_HOURS)
    if visit.checked_out_at:
        return visit.checked_out_at + hours
    end_of_day = timezone.make_aware(datetime.combine(visit.day, time.max))
    return max(end_of_day, visit.planned_end) + hours


def nurse_window_open(visit: NurseVisit, user: User, now: datetime | None = None) -> bool:
    if user.pk not in (visit.nurse_id, visit.second_nurse_id):
        return False
    now = now or timezone.now()
    opens = timezone.make_aware(datetime.combine(visit.day - timedelta(days=1), time.min))
    return opens <= now <= access_ends(visit)


def role_for_request(user: User, req: NursingRequest) -> str | None:
    if not user.is_authenticated:
        return None
    if user.role == Role.PATIENT:
        return "patient" if patients_acted_for(user).filter(pk=req.patient_id).exists() else None
    if user.role == Role.DISPATCHER:
        return "dispatcher" if req.status in DISPATCHABLE else None
    if user.role == Role.NURSE:
        visit = NurseVisit.objects.filter(request=req).first()
        if visit is not None and nurse_window_open(visit, user):
            return "nurse"
        assessment = getattr(req, "assessment", None)
        if assessment is not None and assessment.nurse_id == user.pk:
            decided = assessment.decided_at
            # Undecided: only while the claim holds (a released or cancelled request is no longer theirs).
            if (decided is None and req.status == RequestStatus.ASSESSING) or (
                decided is not None
                and timezone.now() <= decided + timedelta(hours=settings.HOMECARE_CARE_ACCESS_HOURS)
            ):
                return "assessor"
        if is_supervisor(user) and (
            (visit is not None and visit.flagged) or Correction.objects.filter(record__visit__request=req).exists()
        ):
            return "supervisor"
    return None


def _denied(user: User, object_type: str, object_id, patient_id=None) -> NotFound:
    audit.record(actor=user, action=AuditAction.READ, object_type=object_type, object_id=object_id,
                 patient_id=patient_id, outcome=AuditOutcome.DENIED)
    return NotFound()


def request_for(user: User, request_id: int, *, audit_read: bool = True, roles: tuple[str, ...] | None = None
                ) -> tuple[NursingRequest, str]:
    """The request and the user's role on it; 404 when they may not see it (or not in one of ``roles``)."""
    req = NursingRequest.objects.select_related(*REQUEST_RELATED).filter(pk=request_id).first()
    role = role_for_request(user, req) if req is not None else None
    if role is None or (roles is not None and role not in roles):
        raise _denied(user, "homecare.nursingrequest", request_id, req.patient_id if req else None)
    if audit_read:
        audit.read(user, req, patient_id=req.patient_id, detail={"role": role})
    return req, role


def visit_for(user: User, visit_id: int, *, audit_read: bool = True) -> tuple[NurseVisit, str]:
    visit = NurseVisit.objects.select_related("request__patient__user", "request__service", "nurse").filter(
        pk=visit_id).first()
    role = role_for_request(user, visit.request) if visit is not None else None
    if role is None:
        raise _denied(user, "homecare.nursevisit", visit_id, visit.request.patient_id if visit else None)
    if audit_read:
        audit.read(user, visit, patient_id=visit.request.patient_id, detail={"role": role})
    return visit, role


def requests_of_patient(user: User, patient_id: int) -> QuerySet[NursingRequest]:
    if not patients_acted_for(user).filter(pk=patient_id).exists():
        raise _denied(user, "accounts.patientprofile", patient_id, patient_id)
    audit.record(actor=user, action=AuditAction.READ, object_type="homecare.nursingrequest", patient_id=patient_id,
                 detail={"list": "patient"})
    return NursingRequest.objects.filter(patient_id=patient_id).select_related(*REQUEST_RELATED).select_related(
        "visit__nurse", "rating")


def assessment_worklist(user: User) -> tuple[QuerySet[NursingRequest], QuerySet[NursingRequest]]:
    """For a home-care nurse: requests waiting for an assessor (service, day and district only on the page), and
    the ones they are assessing."""
    if not is_home_nurse(user):
        return NursingRequest.objects.none(), NursingRequest.objects.none()
    audit.record(actor=user, action=AuditAction.READ, object_type="homecare.nursingrequest",
                 detail={"list": "assessment"})
    waiting = NursingRequest.objects.filter(status=RequestStatus.REQUESTED).select_related(*REQUEST_RELATED)
    mine = NursingRequest.objects.filter(status=RequestStatus.ASSESSING, assessment__nurse=user).select_related(
        *REQUEST_RELATED)
    return waiting.order_by("preferred_date", "created_at"), mine.order_by("preferred_date")


def day_board(user: User, day) -> dict:
    """The dispatcher's day: requests waiting to be scheduled for it, the visits scheduled, the nurses' shifts."""
    from .models import Shift

    if not user.is_authenticated or user.role != Role.DISPATCHER:
        raise NotFound()
    audit.record(actor=user, action=AuditAction.READ, object_type="homecare.nursevisit",
                 detail={"list": "day_board", "day": day.isoformat()})
    waiting = NursingRequest.objects.filter(status=RequestStatus.ACCEPTED, preferred_date=day).select_related(
        *REQUEST_RELATED).select_related("assessment").order_by("window_start")
    visits = NurseVisit.objects.filter(day=day).exclude(request__status=RequestStatus.CANCELLED).select_related(
        "request__patient__user", "request__service", "nurse", "second_nurse").order_by("nurse_id", "planned_start")
    shifts = Shift.objects.filter(day=day).select_related("nurse__home_nurse", "nurse__practitioner").order_by(
        "starts")
    return {"waiting": list(waiting), "visits": list(visits), "shifts": list(shifts)}


def nurse_day(user: User, day) -> list[NurseVisit]:
    """A nurse's own route for a day, in order."""
    if not user.is_authenticated or user.role != Role.NURSE:
        return []
    audit.record(actor=user, action=AuditAction.READ, object_type="homecare.nursevisit",
                 detail={"list": "route", "day": day.isoformat()})
    return list(NurseVisit.objects.filter(Q(nurse=user) | Q(second_nurse=user), day=day).exclude(
        request__status=RequestStatus.CANCELLED).select_related("request__patient__user", "request__service").order_by(
        "planned_start"))


def open_alarms(user: User) -> QuerySet[Alarm]:
    if not user.is_authenticated or user.role not in (Role.SECURITY, Role.ADMIN, Role.DISPATCHER):
        raise NotFound()
    audit.record(actor=user, action=AuditAction.READ, object_type="homecare.alarm", detail={"list": "console"})
    return Alarm.objects.exclude(status=AlarmStatus.RESOLVED).select_related(
        "nurse", "visit__request__patient__user", "visit__request__service").order_by("-raised_at")


def supervisor_queue(user: User) -> dict:
    if not is_supervisor(user):
        raise NotFound()
    audit.record(actor=user, action=AuditAction.READ, object_type="homecare.nursevisit", detail={"list": "review"})
    return {
        "flagged": list(NurseVisit.objects.filter(flagged=True, reviewed_at__isnull=True).select_related(
            "request__patient__user", "request__service", "nurse")),
        "corrections": list(Correction.objects.filter(status=CorrectionStatus.PENDING).exclude(
            requested_by=user).select_related("record__visit__request__patient__user", "requested_by")),
    }


def active_block(patient_id: int) -> Block | None:
    return Block.objects.filter(patient_id=patient_id, lifted_at__isnull=True).first()


def catalogue() -> QuerySet[NursingService]:
    return NursingService.objects.filter(active=True)
