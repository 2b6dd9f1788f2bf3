"""Background work of payments, as tasks sent after commit.

* ``expire_charge`` at a charge's ``expires_at`` (the workflow has usually cancelled or been paid by then);
* ``close_payment`` and ``submit_refund``: requests to a provider, retried with backoff
  (``PAYMENTS_PROVIDER_RETRY_SECONDS``) while the provider cannot be reached;
* ``deliver_sandbox_notification``: the sandbox provider POSTing its signed callback to the platform, retried by the
  sandbox itself (``providers/sandbox.py``) as WeChat Pay retries.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_tasks import task

logger = logging.getLogger(__name__)


def retry_delays() -> list[int]:
    return [int(s) for s in settings.PAYMENTS_PROVIDER_RETRY_SECONDS]


@task()
def expire_charge(charge_id: int) -> str:
    from .services import expire_charge as expire

    return "expired" if expire(charge_id=charge_id) else "skipped"


def _with_retries(task_fn, call, object_id: int, attempt: int, what: str, give_up=None) -> str:
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - unreachable, refused, misconfigured: try again later, then say so
        delays = retry_delays()
        if attempt > len(delays):
            logger.error("payments: gave up %s %s after %s attempts: %s", what, object_id, attempt, exc)
            if give_up is not None:
                give_up(f"{type(exc).__name__}: {exc}")
            return "gave_up"
        run_after = timezone.now() + timedelta(seconds=delays[attempt - 1])
        logger.warning("payments: %s %s failed (attempt %s), retrying: %s", what, object_id, attempt, exc)
        task_fn.using(run_after=run_after).enqueue(object_id, attempt + 1)
        return "retry"


@task()
def close_payment(payment_id: int, attempt: int = 1) -> str:
    from .services import close_at_provider

    return _with_retries(close_payment, lambda: close_at_provider(payment_id=payment_id), payment_id, attempt,
                         "closing payment")


@task()
def submit_refund(refund_id: int, attempt: int = 1) -> str:
    from .services import refund_not_submitted
    from .services import submit_refund as submit

    return _with_retries(submit_refund, lambda: submit(refund_id=refund_id), refund_id, attempt,
                         "submitting refund", give_up=lambda error: refund_not_submitted(refund_id=refund_id,
                                                                                          error=error))


@task()
def deliver_sandbox_notification(notification_id: int) -> str:
    from .providers import sandbox

    return sandbox.deliver(notification_id)
