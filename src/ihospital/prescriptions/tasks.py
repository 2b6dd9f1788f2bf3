"""Timeouts of prescriptions, as tasks with ``run_after`` (sent after commit)."""

from __future__ import annotations

from django.db import transaction
from django_tasks import task


@task()
def expire_prescription(prescription_id: int) -> str:
    from .services import expire_prescription as expire

    return "expired" if expire(prescription_id=prescription_id) else "skipped"


def schedule_expiry(rx) -> None:
    """At ``valid_until`` a prescription not yet dispensed expires (the task re-checks; it may have been)."""
    run_after = rx.valid_until
    transaction.on_commit(lambda: expire_prescription.using(run_after=run_after).enqueue(rx.pk))
