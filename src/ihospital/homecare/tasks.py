"""Timed checks on nurses' safety, as tasks with ``run_after`` (enqueued after commit)."""

from __future__ import annotations

from django_tasks import task


@task()
def check_overrun(visit_id: int) -> str:
    """Runs when a visit should long be over: still in service → a check-on-nurse alert."""
    from .safety import raise_overrun

    return "raised" if raise_overrun(visit_id=visit_id) else "fine"


@task()
def repeat_alarm(alarm_id: int) -> str:
    """Sends an unacknowledged alarm again (and again) until someone acknowledges it."""
    from .safety import repeat

    return "repeated" if repeat(alarm_id=alarm_id) else "done"
