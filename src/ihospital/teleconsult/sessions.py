"""Live video sessions of a consultation: scheduled by the coordinator or the lead expert, started by the first
participant who joins, ended by a participant (or the coordinator), and the attachment everyone looks at.

Participants are the referring doctor, the request's active experts and, when invited, the patient (and the
relatives acting for them): ``selectors.session_for``. The call itself is a peer-to-peer mesh signalled by
``consumers.SessionConsumer`` (at most ``settings.TELECONSULT_MAX_PARTICIPANTS`` at once); nothing of the audio or
video passes through or is kept by the server.

Refusals (``DomainError`` codes): ``not_lead`` (an expert who is not the active lead schedules or cancels),
``not_schedulable`` (the request is not assigned or under review), ``session_in_past``, ``invalid_minutes``,
``too_many_participants`` (more invited than a mesh carries), ``session_exists`` (one open session per request),
``reason_required``, ``session_closed`` (ended or cancelled), ``session_not_open`` (joined too early),
``invalid_attachment`` (not one of the request's current attachments); someone else's ids: 404, audited.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import User
from ihospital.accounts.selectors import patient_and_relatives
from ihospital.core import audit
from ihospital.core.errors import Conflict, DomainError, Forbidden
from ihospital.core.models import AuditAction
from ihospital.core.transitions import transition
from ihospital.notifications.services import notify

from . import realtime, selectors
from .models import (
    Assignment,
    AssignmentRole,
    Attachment,
    ConsultRequest,
    ConsultSession,
    SessionStatus,
    Status,
)

MIN_MINUTES = 10
MAX_MINUTES = 240
# A participant may open the call this long before the planned start (to check the camera, wait for the others).
OPEN_BEFORE = timedelta(minutes=30)
SCHEDULABLE = (Status.ASSIGNED, Status.IN_REVIEW)
OPEN_SESSION = (SessionStatus.SCHEDULED, SessionStatus.LIVE)
REASON_MAX = 500

# What the session's socket says when it refuses something (consumers.SessionConsumer).
END_REFUSED = _("Only the doctors end the session.")
UNKNOWN_TYPE = _("Unknown message type.")
INVALID_SIGNAL = _("Invalid signalling message.")
UNKNOWN_PEER = _("That participant has left the session.")
REPLACED = _("You opened this session in another window.")


def room_full_message(limit: int) -> str:
    return _("The session is full: a video session carries at most %(max)d participants.") % {"max": limit}


def session_url(session: ConsultSession) -> str:
    try:
        return reverse("teleconsult:session", args=[session.pk])
    except NoReverseMatch:
        return f"/teleconsult/sessions/{session.pk}/"


def participants(request: ConsultRequest, *, include_patient: bool) -> list[User]:
    """The users who may join: the referring doctor, the active experts and, when invited, the patient's side."""
    experts = User.objects.filter(
        consult_assignments__request=request, consult_assignments__ended_at__isnull=True
    ).distinct()
    people = [request.referring_doctor, *experts]
    if include_patient:
        people.extend(patient_and_relatives(request.patient))
    return people


def planned_seats(request: ConsultRequest, *, include_patient: bool) -> int:
    """How many windows the call needs: the referrer, each active expert, and one for the patient's side."""
    experts = request.assignments.filter(ended_at__isnull=True).count()
    return 1 + experts + (1 if include_patient else 0)


def _is_lead(user: User, request: ConsultRequest) -> bool:
    return Assignment.objects.filter(request=request, expert=user, role=AssignmentRole.LEAD,
                                     ended_at__isnull=True).exists()


def _organiser_request(actor: User, request_id) -> ConsultRequest:
    """The request, locked, for the coordinator or its active lead expert (404 for anyone else)."""
    request, role = selectors.request_for(actor, request_id, roles=("coordinator", "expert"), for_update=True,
                                          audit_read=False)
    if role == "expert" and not _is_lead(actor, request):
        raise Forbidden("not_lead", _("Only the coordinator or the lead expert can arrange the live session."))
    return request


def _locked_session(session_id) -> ConsultSession | None:
    try:
        return ConsultSession.objects.select_for_update().filter(pk=int(session_id)).first()
    except (TypeError, ValueError):
        return None


def _managed_session(actor: User, session_id) -> ConsultSession:
    """A session for the coordinator or the request's lead expert; 404 (audited) for anyone else."""
    session = _locked_session(session_id)
    if session is None:
        raise selectors.denied(actor, session_id, object_type="teleconsult.consultsession")
    try:
        session.request = _organiser_request(actor, session.request_id)
    except DomainError as exc:
        if exc.status == 404:
            raise selectors.denied(actor, session_id, object_type="teleconsult.consultsession") from None
        raise
    return session


def _participant_session(actor: User, session_id) -> tuple[ConsultSession, str]:
    """A session, locked, for one of its participants (``selectors.session_for`` rules)."""
    session, role = selectors.session_for(actor, session_id)
    locked = _locked_session(session.pk)
    locked.request = session.request
    return locked, role


def _closed() -> Conflict:
    return Conflict("session_closed", _("This session has ended or was cancelled."))


def _tell(session: ConsultSession, kind: str, title, users) -> None:
    notify(users=users, kind=f"teleconsult.{kind}", title=str(title), link=session_url(session),
           dedupe_key=f"teleconsult:session:{session.pk}:{kind}")


@selectors.atomic_denials_audited("request_id", "teleconsult.consultrequest")
def schedule_session(*, actor: User, request_id: int, starts_at: datetime, minutes: int = 30,
                     include_patient: bool = False) -> ConsultSession:
    """Plan a live session on an assigned or reviewed request; every participant is told."""
    request = _organiser_request(actor, request_id)
    if request.status not in SCHEDULABLE:
        raise Conflict("not_schedulable",
                       _("A live session can be arranged once experts are assigned, and until the report is signed."))
    if not isinstance(starts_at, datetime) or timezone.is_naive(starts_at):
        raise DomainError("invalid_start", _("Give the date and time the session starts."))
    if starts_at < timezone.now() - timedelta(minutes=1):
        raise DomainError("session_in_past", _("The session must start in the future."))
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise DomainError("invalid_minutes", _("A session lasts between %(min)d and %(max)d minutes.")
                          % {"min": MIN_MINUTES, "max": MAX_MINUTES})
    seats = planned_seats(request, include_patient=bool(include_patient))
    limit = settings.TELECONSULT_MAX_PARTICIPANTS
    if seats > limit:
        raise DomainError("too_many_participants",
                          _("A live session carries at most %(max)d participants; %(n)d would join.")
                          % {"max": limit, "n": seats})
    if request.sessions.filter(status__in=OPEN_SESSION).exists():
        raise Conflict("session_exists", _("This consultation already has a session planned or in progress."))
    session = ConsultSession.objects.create(request=request, starts_at=starts_at, minutes=minutes,
                                            include_patient=bool(include_patient), created_by=actor)
    audit.record(actor=actor, action=AuditAction.CREATE, obj=session, patient_id=request.patient_id,
                 detail={"request": request.number, "starts_at": starts_at.isoformat(), "minutes": minutes,
                         "include_patient": bool(include_patient)})
    local = timezone.localtime(starts_at)
    title = _("Live consultation %(number)s at %(when)s") % {"number": request.number,
                                                               "when": f"{local:%Y-%m-%d %H:%M}"}
    _tell(session, "session_scheduled", title,
          [u for u in participants(request, include_patient=bool(include_patient)) if u.pk != actor.pk])
    realtime.request_changed(request, what="session")
    return session


@selectors.atomic_denials_audited("session_id", "teleconsult.consultsession")
def cancel_session(*, actor: User, session_id: int, reason: str) -> ConsultSession:
    """Call off a planned session (not one in progress: that is ended)."""
    session = _managed_session(actor, session_id)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("reason_required", _("Say why the session is cancelled."))
    if session.status != SessionStatus.SCHEDULED:
        raise _closed() if session.status in (SessionStatus.ENDED, SessionStatus.CANCELLED) else Conflict(
            "session_live", _("The session is in progress: end it instead."))
    transition(session, SessionStatus.CANCELLED, actor=actor, reason=reason[:REASON_MAX])
    audit.record(actor=actor, action=AuditAction.UPDATE, obj=session, patient_id=session.request.patient_id,
                 detail={"status": SessionStatus.CANCELLED, "reason": reason[:REASON_MAX]})
    title = _("The live consultation %(number)s was cancelled") % {"number": session.request.number}
    _tell(session, "session_cancelled", title,
          [u for u in participants(session.request, include_patient=session.include_patient) if u.pk != actor.pk])
    realtime.request_changed(session.request, what="session")
    return session


@selectors.atomic_denials_audited("session_id", "teleconsult.consultsession")
def join_session(*, actor: User, session_id: int) -> tuple[ConsultSession, str]:
    """A participant enters the call: the first one starts the session. Returns the session and the role."""
    session, role = _participant_session(actor, session_id)
    if session.status in (SessionStatus.ENDED, SessionStatus.CANCELLED) or session.request.status == Status.CANCELLED:
        raise _closed()
    if session.status == SessionStatus.SCHEDULED:
        if timezone.now() < session.starts_at - OPEN_BEFORE:
            local = timezone.localtime(session.starts_at)
            raise Conflict("session_not_open", _("The session opens 30 minutes before it starts (%(when)s).")
                           % {"when": f"{local:%Y-%m-%d %H:%M}"})
        transition(session, SessionStatus.LIVE, actor=actor, started_at=timezone.now())
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=session, patient_id=session.request.patient_id,
                     detail={"status": SessionStatus.LIVE})
        realtime.request_changed(session.request, what="session")
    return session, role


@selectors.atomic_denials_audited("session_id", "teleconsult.consultsession")
def end_session(*, actor: User, session_id: int) -> ConsultSession:
    """End a session in progress for everyone: the referring doctor, an active expert, or the coordinator."""
    session = _locked_session(session_id)
    if session is None:
        raise selectors.denied(actor, session_id, object_type="teleconsult.consultsession")
    request, role = selectors.request_for(actor, session.request_id, audit_read=False)
    if role not in ("referrer", "expert", "coordinator"):
        raise selectors.denied(actor, session_id, request.patient_id, object_type="teleconsult.consultsession")
    session.request = request
    if session.status != SessionStatus.LIVE:
        raise _closed() if session.status != SessionStatus.SCHEDULED else Conflict(
            "session_not_started", _("The session has not started: cancel it instead."))
    transition(session, SessionStatus.ENDED, actor=actor, ended_at=timezone.now())
    audit.record(actor=actor, action=AuditAction.UPDATE, obj=session, patient_id=request.patient_id,
                 detail={"status": SessionStatus.ENDED})
    realtime.request_changed(request, what="session")
    return session


@selectors.atomic_denials_audited("session_id", "teleconsult.consultsession")
def share(*, actor: User, session_id: int, attachment_id: int) -> ConsultSession:
    """Show one of the request's attachments to everyone in the session (shared viewing)."""
    session, role = _participant_session(actor, session_id)
    if session.status not in OPEN_SESSION:
        raise _closed()
    try:
        attachment = Attachment.objects.filter(pk=int(attachment_id), request_id=session.request_id,
                                               removed_at__isnull=True).first()
    except (TypeError, ValueError):
        attachment = None
    if attachment is None:
        raise DomainError("invalid_attachment", _("Choose one of this consultation's attachments."))
    ConsultSession.objects.filter(pk=session.pk).update(shared_attachment=attachment)
    session.shared_attachment = attachment
    audit.record(actor=actor, action=AuditAction.UPDATE, obj=session, patient_id=session.request.patient_id,
                 detail={"shared_attachment": attachment.pk, "kind": attachment.kind, "role": role})
    return session
