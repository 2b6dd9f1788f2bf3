"""Nurses' safety: the one-touch alarm, the check-on-nurse alert, and the security console's answers.

The alarm must work from a phone whose page sat idle for hours: the session may have timed out and the socket
closed. So the page carries an alarm token (signed, bound to the nurse, valid ``ALARM_TOKEN_HOURS``) and the
alarm is a plain POST with it, no session or CSRF cookie needed; the page retries until the server answers and
shows the security phone number meanwhile. An alarm goes live to the security console and the dispatchers,
into their notifications, and again every ``HOMECARE_ALARM_REPEAT_SECONDS`` until someone acknowledges it.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import Role, User
from ihospital.core import audit
from ihospital.core.errors import Conflict, DomainError, Forbidden, NotFound
from ihospital.core.models import AuditAction
from ihospital.core.transitions import transition
from ihospital.notifications.services import notify

from . import realtime, tasks
from .models import Alarm, AlarmKind, AlarmStatus, NurseVisit, RequestStatus

ALARM_SALT = "homecare.alarm"
ALARM_TOKEN_HOURS = 36
# Presses within this many seconds of an open alarm update it (a frightened nurse presses more than once).
SAME_ALARM_SECONDS = 120
RESPONDERS = (Role.SECURITY, Role.DISPATCHER)


def alarm_token(nurse: User) -> str:
    return signing.dumps({"nurse": nurse.pk}, salt=ALARM_SALT, compress=True)


def nurse_of_token(token: str) -> User:
    try:
        data = signing.loads(token or "", salt=ALARM_SALT, max_age=timedelta(hours=ALARM_TOKEN_HOURS))
    except signing.BadSignature:
        raise Forbidden("invalid_alarm_token", _("This alarm page has expired: reload it, or call security.")) from None
    nurse = User.objects.filter(pk=data.get("nurse"), role=Role.NURSE, is_active=True).first()
    if nurse is None:
        raise Forbidden("invalid_alarm_token", _("This alarm page has expired: reload it, or call security."))
    return nurse


def _current_visit(nurse: User, visit_id) -> NurseVisit | None:
    # The second nurse of a two-nurse visit is at the same home: their alarm carries the visit too.
    visits = NurseVisit.objects.filter(Q(nurse=nurse) | Q(second_nurse=nurse)).select_related(
        "request__patient__user", "request__service")
    if visit_id not in (None, ""):
        try:
            visit = visits.filter(pk=int(visit_id)).first()
        except (TypeError, ValueError):
            visit = None
        if visit is not None:
            return visit
    live = visits.filter(day=timezone.localdate(), request__status__in=[RequestStatus.IN_SERVICE,
                                                                        RequestStatus.EN_ROUTE])
    return live.order_by("-checked_in_at", "-set_out_at").first()


def payload(alarm: Alarm) -> dict:
    """What the console shows: who, where, and the visit (patient's name, address and contact, the service)."""
    visit = alarm.visit
    req = visit.request if visit else None
    profile = getattr(alarm.nurse, "home_nurse", None)
    return {
        "id": alarm.pk, "kind": alarm.kind, "kind_label": str(AlarmKind(alarm.kind).label), "status": alarm.status,
        "raised_at": timezone.localtime(alarm.raised_at).strftime("%H:%M:%S"),
        "nurse": alarm.nurse.real_name, "nurse_phone": (profile.phone if profile else "") or alarm.nurse.phone or "",
        "latitude": alarm.latitude, "longitude": alarm.longitude, "accuracy_m": alarm.accuracy_m,
        "visit": req.number if req else "", "address": f"{req.address} {req.address_detail}".strip() if req else "",
        "visit_latitude": req.latitude if req else None, "visit_longitude": req.longitude if req else None,
        "patient": req.patient.real_name if req else "", "contact_phone": req.contact_phone if req else "",
        "service": req.service.name if req else "", "repeats": alarm.repeats,
    }


def _announce(alarm: Alarm) -> None:
    realtime.alarm_event(alarm, payload(alarm))
    responders = User.objects.filter(role__in=RESPONDERS, is_active=True)
    title = (gettext("ALARM: nurse %(nurse)s needs help") if alarm.kind == AlarmKind.PANIC
             else gettext("Check on nurse %(nurse)s: visit running late")) % {"nurse": alarm.nurse.real_name}
    notify(users=responders, kind=f"homecare.alarm.{alarm.kind}", title=title, link="/homecare/security/",
           dedupe_key=f"alarm:{alarm.pk}:{alarm.repeats}")
    repeat_after = timezone.now() + timedelta(seconds=settings.HOMECARE_ALARM_REPEAT_SECONDS)
    transaction.on_commit(lambda: tasks.repeat_alarm.using(run_after=repeat_after).enqueue(alarm.pk))


def raise_alarm(*, token: str, latitude=None, longitude=None, accuracy=None, visit_id=None) -> Alarm:
    nurse = nurse_of_token(token)
    lat = lng = acc = None
    try:
        if latitude not in (None, "") and longitude not in (None, ""):
            lat, lng = float(latitude), float(longitude)
            acc = float(accuracy) if accuracy not in (None, "") else None
            if not (-90 <= lat <= 90 and -180 <= lng <= 180):
                lat = lng = acc = None
    except (TypeError, ValueError):
        lat = lng = acc = None  # a broken location never stops an alarm
    visit = _current_visit(nurse, visit_id)
    since = timezone.now() - timedelta(seconds=SAME_ALARM_SECONDS)
    with transaction.atomic():
        alarm = Alarm.objects.select_for_update().filter(nurse=nurse, kind=AlarmKind.PANIC,
                                                         status=AlarmStatus.RAISED, raised_at__gte=since).first()
        first = alarm is None
        if first:
            alarm = Alarm.objects.create(kind=AlarmKind.PANIC, nurse=nurse, visit=visit, latitude=lat, longitude=lng,
                                         accuracy_m=acc)
        elif lat is not None:
            Alarm.objects.filter(pk=alarm.pk).update(latitude=lat, longitude=lng, accuracy_m=acc)
            alarm.latitude, alarm.longitude, alarm.accuracy_m = lat, lng, acc
        audit.record(actor=nurse, action=AuditAction.CREATE if first else AuditAction.UPDATE, obj=alarm,
                     patient_id=visit.request.patient_id if visit else None,
                     detail={"kind": "panic", "latitude": lat, "longitude": lng, "visit": visit.pk if visit else None})
        if first:
            _announce(alarm)
        else:
            realtime.alarm_event(alarm, payload(alarm))
    return alarm


def raise_overrun(*, visit_id: int) -> Alarm | None:
    visit = NurseVisit.objects.select_related("request__service", "request__patient__user", "nurse").filter(
        pk=visit_id).first()
    if visit is None or visit.request.status != RequestStatus.IN_SERVICE:
        return None
    try:
        with transaction.atomic():
            alarm = Alarm.objects.create(kind=AlarmKind.OVERRUN, nurse=visit.nurse, visit=visit)
            audit.record(actor=None, action=AuditAction.CREATE, obj=alarm, patient_id=visit.request.patient_id,
                         detail={"kind": "overrun", "checked_in_at": visit.checked_in_at.isoformat()})
            _announce(alarm)
    except IntegrityError:
        return None  # already raised for this visit
    return alarm


def repeat(*, alarm_id: int) -> bool:
    with transaction.atomic():
        # of=self: the visit is nullable (an outer join), and PostgreSQL cannot lock the nullable side of one.
        alarm = Alarm.objects.select_for_update(of=("self",)).select_related("nurse", "visit__request").filter(
            pk=alarm_id, status=AlarmStatus.RAISED).first()
        if alarm is None:
            return False
        Alarm.objects.filter(pk=alarm.pk).update(repeats=alarm.repeats + 1)
        alarm.repeats += 1
        _announce(alarm)
    return True


def _responder(actor: User) -> None:
    if not actor.is_authenticated or actor.role not in (*RESPONDERS, Role.ADMIN):
        raise NotFound()


def acknowledge(*, actor: User, alarm_id: int) -> Alarm:
    _responder(actor)
    alarm = Alarm.objects.select_related("nurse", "visit__request").filter(pk=alarm_id).first()
    if alarm is None:
        raise NotFound()
    if alarm.status != AlarmStatus.RAISED:
        raise Conflict("already_acknowledged", _("%(who)s already acknowledged this alarm.") % {
            "who": alarm.acknowledged_by.real_name if alarm.acknowledged_by else "—"})
    with transaction.atomic():
        transition(alarm, AlarmStatus.ACKNOWLEDGED, actor=actor, reason="acknowledged", acknowledged_by=actor,
                   acknowledged_at=timezone.now())
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=alarm,
                     patient_id=alarm.visit.request.patient_id if alarm.visit else None, detail={"acknowledged": True})
        realtime.alarm_event(alarm, payload(alarm))
        notify(users=[alarm.nurse], kind="homecare.alarm.acknowledged",
               title=gettext("Security has your alarm: %(who)s is responding") % {"who": actor.real_name},
               dedupe_key=f"alarm:{alarm.pk}:ack")
    return alarm


def resolve(*, actor: User, alarm_id: int, resolution: str) -> Alarm:
    _responder(actor)
    alarm = Alarm.objects.select_related("nurse", "visit__request").filter(pk=alarm_id).first()
    if alarm is None:
        raise NotFound()
    if not (resolution or "").strip():
        raise DomainError("resolution_required", _("Please record how the alarm was resolved."))
    with transaction.atomic():
        transition(alarm, AlarmStatus.RESOLVED, actor=actor, reason=resolution.strip()[:500], resolved_by=actor,
                   resolved_at=timezone.now(), resolution=resolution.strip()[:4000],
                   **({} if alarm.acknowledged_at else {"acknowledged_by": actor, "acknowledged_at": timezone.now()}))
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=alarm,
                     patient_id=alarm.visit.request.patient_id if alarm.visit else None, detail={"resolved": True})
        realtime.alarm_event(alarm, payload(alarm))
    return alarm
