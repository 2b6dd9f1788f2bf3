"""Periodic jobs for a deployment with no scheduler: the task queue keeps exactly one future run of each job.

An app declares its jobs in a ``periodic.py`` module of its own (collected when Django starts, as the admin site
collects ``admin.py``; core imports no app)::

    from datetime import timedelta

    from ihospital.core import periodic

    from .tasks import release_due_results

    periodic.register("diagnostics.release_due_results", release_due_results, every=timedelta(hours=1))

The target is a django-tasks ``Task`` (its function is called directly, inside the run) or a plain callable.
Every job runs through one task, ``run_periodic(name)``: it calls the target and then, whatever the target did
(returned or raised), enqueues the job's next run ``every`` later with ``run_after``, unless one is already
pending. A failing run is recorded as failed (the exception is re-raised after the next run is queued), so one bad
night does not stop the job.

``ihospital ensure_periodic`` (run by ``ihospital serve`` after migrating) enqueues a run, due now, of each
registered job that has none pending (status READY); run twice, it enqueues nothing the second time. A job
removed from the registry is dropped at its next run (nothing is called, nothing re-enqueued).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.module_loading import autodiscover_modules
from django_tasks import task
from django_tasks.base import Task

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    target: Task | Callable[[], object]
    every: timedelta

    def call(self) -> object:
        return self.target.call() if isinstance(self.target, Task) else self.target()


_jobs: dict[str, Job] = {}


def register(name: str, target: Task | Callable[[], object], *, every: timedelta) -> Job:
    """Declare a periodic job (idempotent: registering the same name again replaces it)."""
    if not name or not isinstance(name, str):
        raise ValueError("a periodic job needs a name")
    if not isinstance(every, timedelta) or every <= timedelta(0):
        raise ValueError(f"periodic job {name!r}: 'every' must be a positive timedelta")
    if not (isinstance(target, Task) or callable(target)):
        raise TypeError(f"periodic job {name!r}: the target must be a task or a callable")
    job = Job(name=name, target=target, every=every)
    _jobs[name] = job
    return job


def unregister(name: str) -> None:
    _jobs.pop(name, None)


def jobs() -> dict[str, Job]:
    """The registered jobs by name."""
    return dict(_jobs)


def autodiscover() -> None:
    """Import every installed app's ``periodic`` module (CoreConfig.ready does it once)."""
    autodiscover_modules("periodic")


# ---- the queue ----------------------------------------------------------------------------------------------------


def _pending(name: str):
    from django_tasks_db.compat import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    return DBTaskResult.objects.filter(task_path=run_periodic.module_path, status=TaskResultStatus.READY,
                                       args_kwargs__args=[name])


def is_pending(name: str) -> bool:
    """Whether a run of the job is queued and not started yet."""
    return _pending(name).exists()


def schedule(name: str, *, at: datetime | None = None) -> bool:
    """Enqueue a run of ``name`` at ``at`` (now when None), unless one is already pending; True when enqueued."""
    if is_pending(name):
        return False
    queued = run_periodic.using(run_after=at) if at is not None else run_periodic
    queued.enqueue(name)
    return True


def ensure_all() -> list[str]:
    """Enqueue a run, due now, of every registered job with none pending; the names enqueued."""
    return [name for name in sorted(_jobs) if schedule(name)]


@task()
def run_periodic(name: str) -> object:
    """Run one periodic job, then queue its next run ``every`` later (also when the job raised)."""
    job = _jobs.get(name)
    if job is None:
        logger.warning("periodic job %r is not registered any more: not run, not rescheduled", name)
        return None
    try:
        return job.call()
    finally:
        try:
            schedule(name, at=timezone.now() + job.every)
        except Exception:  # the run's own outcome is what gets reported
            logger.exception("periodic job %r: the next run could not be enqueued", name)
