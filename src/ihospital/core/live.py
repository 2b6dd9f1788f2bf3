"""What every live socket shares: who may open one, how it refuses, a socket that joins the groups of what its
user may see, and sending to groups once the transaction commits.

A workflow's live socket subclasses ``GroupsConsumer`` with ``groups_for(user)`` (sync; it may read the
database) and one handler per event type it forwards. Events carry as little as the page needs; the page
re-reads through its scoped view.
"""

from __future__ import annotations

from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.db import transaction

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404


def socket_user_ok(scope) -> bool:
    """Signed in, and for staff, signed in with the second factor (django-otp keeps the device in the session)."""
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return False
    if user.needs_second_factor:
        session = scope.get("session")
        return bool(session and session.get("otp_device_id"))
    return True


async def refuse(consumer, code: int) -> None:
    """Close with ``code`` where the browser can read it. A close sent before the handshake is accepted becomes an
    HTTP 403 answer (the client sees 1006 and would keep retrying), so accept first, then close at once."""
    await consumer.accept()
    await consumer.close(code=code)


def send(groups: Iterable[str], event: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for group in groups:
        async_to_sync(layer.group_send)(group, event)


def send_on_commit(groups: Iterable[str], event: dict) -> None:
    """Send after the transaction commits: a page told "changed" must find the change when it re-reads."""
    groups = list(groups)
    transaction.on_commit(lambda: send(groups, event))


class GroupsConsumer(AsyncJsonWebsocketConsumer):
    """Joins ``groups_for(user)`` on connect, answers ``ping`` with ``pong``, says ``hello`` with how many groups
    it joined. Anonymous sockets, and staff without the second factor, are closed with 4401."""

    def groups_for(self, user) -> list[str]:
        raise NotImplementedError

    async def connect(self):
        if not socket_user_ok(self.scope):
            await refuse(self, CLOSE_UNAUTHENTICATED)
            return
        self.joined = await database_sync_to_async(self.groups_for)(self.scope["user"])
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "groups": len(self.joined)})

    async def disconnect(self, code):
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})
