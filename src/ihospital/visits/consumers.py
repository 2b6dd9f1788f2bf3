"""The visit's WebSocket: chat, typing, read receipts, queue position and WebRTC call signalling.

Protocol (JSON both ways). Client → server::

    {"type": "message", "body": "...", "client_id": "uuid"}     store, then everyone in the visit gets it
    {"type": "typing"}                                            others see "typing..."
    {"type": "read", "last_read_id": 42}                         read receipt
    {"type": "signal", "data": {...}}                             SDP offer/answer or ICE candidate, relayed
    {"type": "ping"}

Server → client: ``hello`` (role, status, ICE servers, read marks), ``message``, ``typing``, ``read``,
``status``, ``queue`` (position and estimated wait while waiting in a queue), ``signal``, ``error``, ``pong``.

Connect with ``?after=<last seen message id>`` to catch up: every stored message after that id is sent
before live ones, so a client that was offline loses nothing. Someone who is not in the visit is closed with
code 4404 (the WebSocket form of "not found"); an anonymous or unverified staff socket with 4401.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from ihospital.core.errors import DomainError
from ihospital.core.live import CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED, refuse, socket_user_ok

from . import chat, realtime, selectors
from .models import ReadMark, Visit


class VisitConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.user = self.scope["user"]
        self.visit_id = int(self.scope["url_route"]["kwargs"]["visit_id"])
        if not socket_user_ok(self.scope):
            await refuse(self, CLOSE_UNAUTHENTICATED)
            return
        try:
            self.visit, self.role = await database_sync_to_async(selectors.participant_visit)(self.user, self.visit_id)
        except DomainError:
            await refuse(self, CLOSE_NOT_FOUND)
            return
        self.groups_joined = [realtime.visit_group(self.visit_id), realtime.queue_group(self.visit.department_id)]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        query = parse_qs(self.scope.get("query_string", b"").decode())
        after = _int(query.get("after", ["0"])[0])
        await self.send_json(await self._hello())
        for message in await database_sync_to_async(selectors.messages_after)(self.visit, after):
            await self.send_json({"type": "message", "message": await _payload(message)})
        await self._send_queue_position()

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        kind = content.get("type") if isinstance(content, dict) else None
        try:
            if kind == "message":
                await database_sync_to_async(chat.post_message)(
                    actor=self.user,
                    visit_id=self.visit_id,
                    body=str(content.get("body", "")),
                    client_id=str(content.get("client_id", "")),
                )
            elif kind == "typing":
                await self.channel_layer.group_send(
                    realtime.visit_group(self.visit_id),
                    {
                        "type": "chat.typing",
                        "user_id": self.user.pk,
                        "name": self.user.real_name,
                        "sender": self.channel_name,
                    },
                )
            elif kind == "read":
                await database_sync_to_async(chat.mark_read)(
                    actor=self.user, visit_id=self.visit_id, last_read_id=_int(content.get("last_read_id"))
                )
            elif kind == "signal":
                data = content.get("data")
                if not isinstance(data, dict) or len(str(data)) > 100_000:
                    raise DomainError("invalid_signal", "invalid signalling message")
                await self.channel_layer.group_send(
                    realtime.visit_group(self.visit_id),
                    {"type": "call.signal", "data": data, "role": self.role, "user_id": self.user.pk},
                )
            elif kind == "ping":
                await self.send_json({"type": "pong"})
            else:
                raise DomainError("unknown_type", "unknown message type")
        except DomainError as exc:
            await self.send_json({"type": "error", **exc.as_dict()["error"]})

    # ---- events from the channel layer -------------------------------------------------------------------

    async def chat_message(self, event):
        await self.send_json({"type": "message", "message": event["message"]})

    async def chat_read(self, event):
        await self.send_json({"type": "read", "user_id": event["user_id"], "last_read_id": event["last_read_id"]})

    async def chat_typing(self, event):
        if event["sender"] != self.channel_name:
            await self.send_json({"type": "typing", "user_id": event["user_id"], "name": event["name"]})

    async def call_signal(self, event):
        # To the other participants only: not back to the sender, nor to the sender's other tabs, which would
        # otherwise take their own offer for the other side's.
        if event["user_id"] != self.user.pk:
            await self.send_json({"type": "signal", "from": event["role"], "data": event["data"]})

    async def visit_status(self, event):
        self.visit = await database_sync_to_async(_reload)(self.visit_id)
        await self.send_json({"type": "status", "status": event["status"], "reason": event.get("reason", "")})
        await self._send_queue_position()

    async def queue_changed(self, event):
        await self._send_queue_position()

    # ---- helpers ---------------------------------------------------------------------------------------------

    async def _hello(self) -> dict:
        marks = await database_sync_to_async(_read_marks)(self.visit_id)
        return {
            "type": "hello",
            "visit_id": self.visit_id,
            "role": self.role,
            "user_id": self.user.pk,
            "status": self.visit.status,
            "mode": self.visit.mode,
            "ice_servers": settings.ICE_SERVERS,
            "read_marks": marks,
        }

    async def _send_queue_position(self):
        if self.role == "doctor":
            return
        self.visit = await database_sync_to_async(_reload)(self.visit_id)
        position = await database_sync_to_async(selectors.queue_position)(self.visit)
        if position is not None:
            await self.send_json({"type": "queue", "position": position[0], "wait_minutes": position[1]})


class QueueConsumer(AsyncJsonWebsocketConsumer):
    """A department's queue for its online doctors: the waiting list, re-sent whenever it changes."""

    async def connect(self):
        self.user = self.scope["user"]
        self.department_id = int(self.scope["url_route"]["kwargs"]["department_id"])
        if not socket_user_ok(self.scope):
            await refuse(self, CLOSE_UNAUTHENTICATED)
            return
        try:
            await database_sync_to_async(_queue_rows)(self.user, self.department_id)
        except DomainError:
            await refuse(self, CLOSE_NOT_FOUND)
            return
        self.group = realtime.queue_group(self.department_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.queue_changed({})

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def queue_changed(self, event):
        rows = await database_sync_to_async(_queue_rows)(self.user, self.department_id)
        await self.send_json({"type": "queue", "department_id": self.department_id, "waiting": rows})

    # The visit group events are not joined here; these keep the consumer total if one arrives.
    async def visit_status(self, event):
        pass


def _queue_rows(user, department_id: int) -> list[dict]:
    return [
        {
            "visit_id": v.pk,
            "patient": v.patient.user.real_name,
            "age": v.patient.age(),
            "sex": v.patient.sex,
            "complaint": v.complaint[:200],
            "queued_at": v.queued_at.isoformat(),
            "mode": v.mode,
            "basis": v.basis_status,
        }
        for v in selectors.department_queue(user, department_id)
    ]


def _reload(visit_id: int):
    return Visit.objects.select_related("patient__user", "doctor__user").get(pk=visit_id)


def _read_marks(visit_id: int) -> dict[str, int]:
    return {str(m.user_id): m.last_read_id for m in ReadMark.objects.filter(visit_id=visit_id)}


@database_sync_to_async
def _payload(message) -> dict:
    return realtime.message_payload(message)


def _int(value) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0
