"""Triage at the home hospital: the coordinator assigns experts (a lead, and members for a multi-disciplinary
team) or returns the request for more information; experts accept (the request's first response) or decline.

One active lead per request: the first expert assigned (and the first after the lead left) must be the lead.
If every expert declines or is withdrawn before anyone accepted, the request goes back to triage.
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import Role, User
from ihospital.core import audit
from ihospital.core.errors import Conflict, DomainError, NotFound
from ihospital.core.models import AuditAction
from ihospital.core.transitions import transition
from ihospital.directory.models import FacilityKind

from . import realtime
from .models import OPEN_STATUSES, Assignment, AssignmentRole, ConsultRequest, Status
from .selectors import atomic_denials_audited, denied, request_for

ASSIGNABLE = (Status.SUBMITTED, Status.ASSIGNED, Status.IN_REVIEW)


def experts(*, department_id: int | None = None) -> QuerySet[User]:
    """The home hospital's consultants: active, verified doctors of an expert title (optionally of a department)."""
    qs = User.objects.filter(
        role=Role.DOCTOR, is_active=True, practitioner__verified_at__isnull=False,
        practitioner__facility__kind=FacilityKind.HOME, practitioner__title__in=settings.TELECONSULT_EXPERT_TITLES,
    )
    if department_id not in (None, ""):
        try:
            qs = qs.filter(practitioner__departments=int(department_id))
        except (TypeError, ValueError):
            return User.objects.none()
    return qs.select_related("practitioner").distinct().order_by("real_name", "pk")


def is_expert(user: User) -> bool:
    if user is None or user.role != Role.DOCTOR or not user.is_active:
        return False
    p = getattr(user, "practitioner", None)
    return (p is not None and p.verified_at is not None and p.facility.kind == FacilityKind.HOME
            and p.title in settings.TELECONSULT_EXPERT_TITLES)


def _reason(reason) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("reason_required", _("Give a reason."), fields={"reason": _("Give a reason.")})
    return reason[:200]


def _active(request: ConsultRequest) -> QuerySet[Assignment]:
    return request.assignments.filter(ended_at__isnull=True)


@atomic_denials_audited("request_id")
def assign(*, actor: User, request_id: int, expert_id: int, role: str = AssignmentRole.LEAD) -> Assignment:
    """The coordinator puts an expert on the request (as its lead, or a member of the team)."""
    request, _r = request_for(actor, request_id, roles=("coordinator",), for_update=True, audit_read=False)
    if request.status not in ASSIGNABLE:
        raise Conflict("not_assignable", _("Experts cannot be assigned now: the request is %(status)s.")
                       % {"status": request.get_status_display()})
    if role not in AssignmentRole.values:
        raise DomainError("invalid_role", _("Choose lead expert or team member."))
    try:
        expert = User.objects.select_related("practitioner__facility").filter(pk=int(expert_id)).first()
    except (TypeError, ValueError):
        expert = None
    if expert is None or not is_expert(expert):
        raise DomainError("not_an_expert", _("Choose one of the hospital's consultants (associate chief "
                                             "physician or above)."))
    active = _active(request)
    if active.filter(expert=expert).exists():
        raise Conflict("already_assigned", _("This expert is already on the request."))
    has_lead = active.filter(role=AssignmentRole.LEAD).exists()
    if role == AssignmentRole.LEAD and has_lead:
        raise Conflict("lead_exists", _("The request already has a lead expert."))
    if role == AssignmentRole.MEMBER and not has_lead:
        raise DomainError("lead_first", _("Assign the lead expert first."))
    try:
        with transaction.atomic():
            assignment = Assignment.objects.create(request=request, expert=expert, role=role, assigned_by=actor)
    except IntegrityError:
        # Only without the row lock (which serialises coordinators): someone assigned at the same moment.
        raise Conflict("lead_exists" if role == AssignmentRole.LEAD else "already_assigned",
                       _("Someone else assigned an expert at the same time. Reload and retry.")) from None
    if request.status == Status.SUBMITTED:
        transition(request, Status.ASSIGNED, actor=actor, reason=f"assigned {expert.get_username()} ({role})")
    audit.record(actor=actor, action=AuditAction.CREATE, obj=assignment, patient_id=request.patient_id,
                 detail={"request": request.number, "expert": expert.pk, "role": role})
    realtime.tell_users(request, [expert], f"assigned.{assignment.pk}",
                        gettext("Consultation %(number)s assigned to you") % {"number": request.number},
                        gettext("Urgency: %(urgency)s. Please accept or decline.")
                        % {"urgency": request.get_urgency_display()})
    realtime.request_changed(request, what="assignments")
    return assignment


@atomic_denials_audited("request_id")
def return_request(*, actor: User, request_id: int, reason: str) -> ConsultRequest:
    """The coordinator sends the request back to the referring doctor for more information."""
    request, _r = request_for(actor, request_id, roles=("coordinator",), for_update=True, audit_read=False)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("reason_required", _("Say what information is missing."),
                          fields={"reason": _("Say what information is missing.")})
    if request.status != Status.SUBMITTED:
        raise Conflict("not_returnable", _("Only a request waiting for triage can be returned (it is "
                                           "%(status)s).") % {"status": request.get_status_display()})
    transition(request, Status.RETURNED, actor=actor, reason=reason[:500], return_reason=reason)
    audit.record(actor=actor, action=AuditAction.UPDATE, obj=request, patient_id=request.patient_id,
                 detail={"status": Status.RETURNED})
    realtime.tell_users(request, [request.referring_doctor], f"returned.{int(timezone.now().timestamp())}",
                        gettext("Consultation %(number)s needs more information") % {"number": request.number},
                        reason)
    realtime.request_changed(request)
    return request


def _my_assignment(actor: User, request: ConsultRequest) -> Assignment:
    assignment = _active(request).select_for_update().filter(expert=actor).first()
    if assignment is None:  # the selector let an expert through only with an active assignment
        raise NotFound()
    return assignment


@atomic_denials_audited("request_id")
def accept_assignment(*, actor: User, request_id: int) -> Assignment:
    """The expert takes the case: the request's first response, and its review starts."""
    request, _r = request_for(actor, request_id, roles=("expert",), for_update=True, audit_read=False)
    assignment = _my_assignment(actor, request)
    if assignment.accepted_at is not None:
        raise Conflict("already_accepted", _("You have already accepted this consultation."))
    if request.status not in (Status.ASSIGNED, Status.IN_REVIEW):
        raise Conflict("not_open", _("This consultation is %(status)s.") % {"status": request.get_status_display()})
    now = timezone.now()
    assignment.accepted_at = now
    assignment.save(update_fields=["accepted_at"])
    if request.status == Status.ASSIGNED:
        transition(request, Status.IN_REVIEW, actor=actor, reason="accepted",
                   first_response_at=request.first_response_at or now)
    elif request.first_response_at is None:
        request.first_response_at = now
        request.save(update_fields=["first_response_at"])
    audit.record(actor=actor, action=AuditAction.UPDATE, obj=assignment, patient_id=request.patient_id,
                 detail={"accepted": True, "request": request.number})
    realtime.tell_users(request, [request.referring_doctor], f"accepted.{assignment.pk}",
                        gettext("An expert took consultation %(number)s") % {"number": request.number})
    realtime.request_changed(request, what="assignments")
    return assignment


def _after_leaving(request: ConsultRequest, assignment: Assignment, actor: User, why: str) -> None:
    """What an expert's leaving changes: back to triage when nobody is left before anyone accepted; the
    coordinators are told (and asked for a new lead when the lead left)."""
    remaining = _active(request)
    if not remaining.exists() and request.status == Status.ASSIGNED:
        transition(request, Status.SUBMITTED, actor=actor, reason=f"no expert left ({why})")
    needs_lead = request.status in OPEN_STATUSES and not remaining.filter(role=AssignmentRole.LEAD).exists()
    title = (gettext("Consultation %(number)s needs a new lead expert") if needs_lead
             else gettext("An expert left consultation %(number)s")) % {"number": request.number}
    realtime.tell_users(request, realtime.coordinators(), f"left.{assignment.pk}", title, assignment.end_reason)
    realtime.request_changed(request, what="assignments")


def _end(assignment: Assignment, reason: str) -> None:
    assignment.ended_at = timezone.now()
    assignment.end_reason = reason
    assignment.save(update_fields=["ended_at", "end_reason"])


@atomic_denials_audited("request_id")
def decline_assignment(*, actor: User, request_id: int, reason: str) -> Assignment:
    """The expert declines (or gives the case back), with a reason."""
    request, _r = request_for(actor, request_id, roles=("expert",), for_update=True, audit_read=False)
    reason = _reason(reason)
    if request.status not in OPEN_STATUSES:
        raise Conflict("not_open", _("This consultation is %(status)s.") % {"status": request.get_status_display()})
    assignment = _my_assignment(actor, request)
    _end(assignment, reason)
    audit.record(actor=actor, action=AuditAction.UPDATE, obj=assignment, patient_id=request.patient_id,
                 detail={"declined": True, "request": request.number, "role": assignment.role})
    _after_leaving(request, assignment, actor, "declined")
    return assignment


@atomic_denials_audited("assignment_id", "teleconsult.assignment")
def withdraw_assignment(*, actor: User, assignment_id: int, reason: str) -> Assignment:
    """The coordinator takes an expert off the request."""
    try:
        found = Assignment.objects.filter(pk=int(assignment_id)).first()
    except (TypeError, ValueError):
        found = None
    if found is None:
        raise denied(actor, assignment_id, object_type="teleconsult.assignment")
    request, _r = request_for(actor, found.request_id, roles=("coordinator",), for_update=True, audit_read=False)
    reason = _reason(reason)
    assignment = Assignment.objects.select_for_update().get(pk=found.pk)
    if assignment.ended_at is not None:
        raise Conflict("already_ended", _("This expert is no longer on the request."))
    if request.status not in OPEN_STATUSES:
        raise Conflict("not_open", _("This consultation is %(status)s.") % {"status": request.get_status_display()})
    _end(assignment, reason)
    audit.record(actor=actor, action=AuditAction.UPDATE, obj=assignment, patient_id=request.patient_id,
                 detail={"withdrawn": True, "request": request.number, "expert": assignment.expert_id})
    realtime.tell_users(request, [assignment.expert], f"withdrawn.{assignment.pk}",
                        gettext("You were taken off consultation %(number)s") % {"number": request.number})
    _after_leaving(request, assignment, actor, "withdrawn")
    return assignment
