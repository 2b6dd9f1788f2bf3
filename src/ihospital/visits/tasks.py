"""Reminders and timeouts, as tasks with ``run_after`` (sent after commit)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from ihospital.notifications.services import notify


@task()
def remind_upcoming_visit(visit_id: int) -> str:
    from .models import Visit, VisitStatus

    visit = (
        Visit.objects.select_related("patient__user", "appointment__slot", "doctor__user").filter(pk=visit_id).first()
    )
    if visit is None or visit.status not in (VisitStatus.REQUESTED, VisitStatus.ACCEPTED):
        return "skipped"
    from ihospital.accounts.selectors import patient_and_relatives

    starts = timezone.localtime(visit.appointment.slot.starts_at)
    people = patient_and_relatives(visit.patient)
    notify(
        users=people,
        kind="visit.reminder",
        title=_("Your online visit starts at %(time)s") % {"time": f"{starts:%H:%M}"},
        body=_("Open the visit a few minutes early to check your camera and microphone."),
        link=f"/visits/{visit.pk}/",
        dedupe_key=f"visit-reminder:{visit.pk}",
    )
    return "sent"


@task()
def alert_unanswered(visit_id: int, message_id: int) -> str:
    """The patient wrote and no doctor answered in time: alert the department's online doctors."""
    from ihospital.directory.models import Practitioner, Profession

    from .chat import unanswered_since
    from .models import ACTIVE_STATUSES, Visit

    visit = Visit.objects.select_related("doctor", "department").filter(pk=visit_id).first()
    if visit is None or visit.status not in ACTIVE_STATUSES or not unanswered_since(visit, message_id):
        return "answered"
    doctors = [
        p.user
        for p in Practitioner.objects.filter(departments=visit.department, profession=Profession.DOCTOR)
        .select_related("user")
        if p.can_practise_online()
    ]
    notify(
        users=doctors,
        kind="visit.unanswered",
        title=_("A patient has been waiting %(minutes)d minutes for an answer")
        % {"minutes": settings.UNANSWERED_ALERT_MINUTES},
        body=visit.department.name,
        link=f"/visits/{visit.pk}/",
        dedupe_key=f"unanswered:{visit.pk}:{message_id}",
    )
    Visit.objects.filter(pk=visit.pk).update(alerted_at=timezone.now())
    return "alerted"


def schedule_reminder(visit) -> None:
    starts = visit.appointment.slot.starts_at
    when = max(timezone.now(), starts - timedelta(minutes=settings.VISIT_REMINDER_MINUTES))
    transaction.on_commit(lambda: remind_upcoming_visit.using(run_after=when).enqueue(visit.pk))


def schedule_unanswered_check(message) -> None:
    when = timezone.now() + timedelta(minutes=settings.UNANSWERED_ALERT_MINUTES)
    transaction.on_commit(lambda: alert_unanswered.using(run_after=when).enqueue(message.visit_id, message.pk))
