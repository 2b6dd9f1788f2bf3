"""Timed jobs of consultations: each sent request's own deadline checks (enqueued with ``run_after`` at the first
response and report targets and 50% past them), and a sweep every few minutes that escalates whatever is overdue
(registered with ``ihospital.core.periodic`` in ``TeleconsultConfig.ready``)."""

from __future__ import annotations

from django_tasks import task


@task()
def escalate_request(request_id: int) -> int:
    """Runs at one of a request's deadlines: escalates it if it is overdue (nothing when answered in time)."""
    from .escalation import escalate_due

    return len(escalate_due(request_id=request_id))


@task()
def escalate_overdue() -> int:
    """The sweep: escalates every overdue request not escalated at its level yet."""
    from .escalation import escalate_due

    return len(escalate_due())
