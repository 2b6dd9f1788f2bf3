"""Timeouts of orders, as tasks with ``run_after`` (sent after commit)."""

from __future__ import annotations

from django.db import transaction
from django_tasks import task


@task()
def cancel_unpaid_order(order_id: int) -> str:
    from .services import cancel_if_unpaid

    return "cancelled" if cancel_if_unpaid(order_id=order_id) else "skipped"


def schedule_payment_timeout(order) -> None:
    run_after = order.hold_until
    transaction.on_commit(lambda: cancel_unpaid_order.using(run_after=run_after).enqueue(order.pk))
