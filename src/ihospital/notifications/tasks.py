"""Delivering notifications through the outside channels, as tasks sent after commit.

``deliver(delivery_id)`` makes one attempt; a temporary failure is retried after settings.NOTIFY_RETRY_SECONDS
(one delay per retry), then the delivery is failed; quiet hours postpone it to their end (not for urgent events).
"""

from __future__ import annotations

from django_tasks import task


@task()
def deliver(delivery_id: int) -> str:
    from .services import attempt_delivery

    return attempt_delivery(delivery_id=delivery_id)
