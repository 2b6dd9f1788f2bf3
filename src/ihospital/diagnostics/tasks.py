"""Timed jobs of lab results: each resulted order's own release check (enqueued with ``run_after`` when results
are recorded), and a sweep that releases whatever is due, run hourly as a periodic job (``periodic.py``)."""

from __future__ import annotations

from django_tasks import task


@task()
def release_due_results() -> int:
    """Releases the lab results left unsigned past ``DIAGNOSTICS_AUTO_RELEASE_HOURS`` (never critical ones)."""
    from .results import release_due

    return len(release_due())


@task()
def release_result(order_id: int) -> str:
    """Runs when one order's results fall due: released unless signed off, corrected since, or critical."""
    from .results import release_due

    return "released" if release_due(order_id=order_id) else "kept"
