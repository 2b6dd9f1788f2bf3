"""The in-app channel: the Notification row is the message; this pushes it live to the user's open pages (group
``user.<id>``, the notifications socket) with the user's unread count for the bell."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from . import TemporaryFailure


def available(user) -> bool:
    return True


def send(delivery) -> str:
    from ..services import unread_count, user_group

    n = delivery.notification
    layer = get_channel_layer()
    if layer is None:
        return ""
    try:
        async_to_sync(layer.group_send)(
            user_group(n.user_id),
            {"type": "notification", "id": n.pk, "kind": n.kind, "title": n.title, "body": n.body, "link": n.link,
             "unread": unread_count(n.user)},
        )
    except Exception as exc:  # noqa: BLE001 - a channel layer down (Redis) must not fail the workflow
        raise TemporaryFailure(f"channel layer: {exc}") from exc
    return ""
