"""The notifications socket ``ws/notifications/``: tells every open page of a user that a notification arrived, so
the bell in the header shows the new unread count without a reload.

On connect the socket joins ``user.<id>`` (``services.user_group``), the group ``services.notify`` pushes to after
the commit. Server → client: ``{"type": "hello", "groups": 1}``; ``{"type": "notification", "id", "kind",
"title", "link", "unread"}`` (the title the user sees in the app anyway; never the body); ``{"type": "pong"}`` for
``{"type": "ping"}``. Anonymous sockets, and staff without the second factor, are closed with 4401.
"""

from __future__ import annotations

from channels.db import database_sync_to_async

from ihospital.core.live import GroupsConsumer

from .models import Notification
from .services import user_group


class NotificationsConsumer(GroupsConsumer):
    def groups_for(self, user) -> list[str]:
        self.user_id = user.pk
        return [user_group(user.pk)]

    async def notification(self, event):
        unread = await database_sync_to_async(_unread_of)(self.user_id)
        await self.send_json(
            {
                "type": "notification",
                "id": event.get("id"),
                "kind": event.get("kind", ""),
                "title": event.get("title", ""),
                "link": event.get("link", ""),
                "unread": unread,
            }
        )

    async def notifications_read(self, event):
        """Another page of the same user marked notifications read: every bell follows."""
        unread = await database_sync_to_async(_unread_of)(self.user_id)
        await self.send_json({"type": "read", "unread": unread})


def _unread_of(user_id: int) -> int:
    return Notification.objects.filter(user_id=user_id, read_at__isnull=True).count()
