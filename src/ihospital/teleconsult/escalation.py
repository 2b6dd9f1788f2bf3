"""Deadlines of sent requests, and escalation of overdue ones.

Two clocks start when a request is sent (``settings.TELECONSULT_TARGETS`` by urgency): the first response (an
expert accepts) and the report (the lead signs). Past a target the request is escalated to the coordinators
(level 1); half the target again later, also to the hospital's administrators (level 2). Each
(request, kind, level) is escalated once (a unique constraint, and the request's row lock), whether by the
request's own timed task or by the periodic sweep.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from ihospital.core import audit
from ihospital.core.models import AuditAction

from . import realtime
from .models import OPEN_STATUSES, ConsultRequest, Escalation, EscalationKind

LEVELS = (1, 2)


def due_times(request: ConsultRequest) -> list[tuple[str, int, datetime]]:
    """(kind, level, when) of each escalation of a sent request: level 1 at the target, level 2 at the target plus
    half of it."""
    if request.submitted_at is None:
        return []
    times = []
    for kind, due in ((EscalationKind.FIRST_RESPONSE, request.first_response_due),
                      (EscalationKind.REPORT, request.report_due)):
        if due is None:
            continue
        times.append((kind, 1, due))
        times.append((kind, 2, due + (due - request.submitted_at) / 2))
    return times


def _pending(request: ConsultRequest, kind: str) -> bool:
    """Whether the clock of ``kind`` is still running (the awaited act has not happened)."""
    if request.status not in OPEN_STATUSES:
        return False
    if kind == EscalationKind.FIRST_RESPONSE:
        return request.first_response_at is None
    return request.reported_at is None


def schedule_checks(request: ConsultRequest) -> None:
    """After the transaction commits, enqueue the request's check at each escalation time."""
    from .tasks import escalate_request

    times = sorted({when for _kind, _level, when in due_times(request)})
    pk = request.pk
    transaction.on_commit(lambda: [escalate_request.using(run_after=when).enqueue(pk) for when in times])


def escalate_due(*, now: datetime | None = None, request_id: int | None = None) -> list[Escalation]:
    """Escalate every overdue open request (or just ``request_id``) at each level reached; the new escalations."""
    now = now or timezone.now()
    qs = ConsultRequest.objects.filter(status__in=OPEN_STATUSES).filter(
        Q(first_response_at__isnull=True, first_response_due__lte=now) | Q(reported_at__isnull=True,
                                                                            report_due__lte=now))
    if request_id is not None:
        qs = qs.filter(pk=request_id)
    created = []
    for pk in qs.order_by("first_response_due").values_list("pk", flat=True):
        created.extend(_escalate_one(pk, now))
    return created


@transaction.atomic
def _escalate_one(pk: int, now: datetime) -> list[Escalation]:
    request = ConsultRequest.objects.select_for_update().filter(pk=pk).first()
    if request is None:
        return []
    done = set(request.escalations.values_list("kind", "level"))
    created = []
    for kind, level, when in due_times(request):
        if when > now or (kind, level) in done or not _pending(request, kind):
            continue
        people = list(realtime.coordinators())
        if level >= 2:
            people += list(realtime.admins())
        try:
            with transaction.atomic():
                escalation = Escalation.objects.create(request=request, kind=kind, level=level,
                                                       notified=sorted({u.pk for u in people}))
        except IntegrityError:
            continue  # escalated by another run at the same moment
        created.append(escalation)
        audit.record(actor=None, action=AuditAction.UPDATE, obj=escalation, patient_id=request.patient_id,
                     detail={"request": request.number, "kind": kind, "level": level, "due": when.isoformat(),
                             "notified": escalation.notified})
        title = (gettext("Overdue: no expert has responded to %(number)s") if kind == EscalationKind.FIRST_RESPONSE
                 else gettext("Overdue: no report yet for %(number)s")) % {"number": request.number}
        realtime.tell_users(request, people, f"escalation.{kind}.{level}", title,
                            gettext("Urgency: %(urgency)s. Escalation level %(level)s.")
                            % {"urgency": request.get_urgency_display(), "level": level})
    if created:
        level = max(e.level for e in created)
        if level > request.escalation_level:
            request.escalation_level = level
            ConsultRequest.objects.filter(pk=request.pk).update(escalation_level=level)
        realtime.request_changed(request, what="escalation")
    return created


def overdue_q(now: datetime | None = None) -> Q:
    """Open requests past a running deadline (for board filters)."""
    now = now or timezone.now()
    return Q(status__in=OPEN_STATUSES) & (
        Q(first_response_at__isnull=True, first_response_due__lte=now)
        | Q(reported_at__isnull=True, report_due__lte=now)
    )

