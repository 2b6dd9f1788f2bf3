"""Timed jobs of medical tests, as django-tasks ``@task()`` functions (run by the scheduler/worker)."""

from __future__ import annotations

from django_tasks import task


@task()
def release_due_results() -> int:
    """Releases the lab results left unsigned past ``DIAGNOSTICS_AUTO_RELEASE_HOURS`` (never critical ones)."""
    from .results import release_due

    return len(release_due())
