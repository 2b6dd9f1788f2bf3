"""Consultation's WebSockets.

``ws/teleconsult/live/`` (``LiveConsumer``): tells open pages that a request changed. Groups (``realtime``):
``tc.board`` for coordinators and admins, ``tc.user.<id>`` for doctors (referring and experts), ``tc.patient.<pid>``
for patients and the relatives acting for them. Server → client ``{"type": "changed", "what", "id", "status"}``
(no clinical detail: the page re-reads through its scoped view), ``hello`` and ``pong``.

``ws/teleconsult/session/<id>/`` (``SessionConsumer``): the signalling of a live session's peer-to-peer mesh.
Only the session's participants (``selectors.session_for``); the first to join starts the session
(``sessions.join_session``). Every socket is a *peer* with a random id the server gives it.

Client → server::

    {"type": "signal", "to": "<peer id>", "data": {...}}   SDP description or ICE candidate, to that peer only
    {"type": "share", "attachment_id": 12}                  show an attachment to everyone
    {"type": "end"}                                          end the session for everyone (not the patient)
    {"type": "ping"}

Server → client: ``hello`` (own ``peer_id``, the ``peers`` already there with name and role, ICE servers, the
session's status, the shared attachment), ``peer_joined`` / ``peer_left``, ``signal`` (``from`` a peer id),
``shared`` (attachment id, kind, title, who), ``ended``, ``error`` (code, message), ``pong``.

Refusals: anonymous or staff without the second factor 4401; not a participant 4404; the room already holds
``TELECONSULT_MAX_PARTICIPANTS`` peers: an ``error`` ``room_full`` then close 4409; the session ended or was
cancelled (``session_closed``) or is not open yet (``session_not_open``): an ``error`` then close 4410.
A user opening the session in a second window replaces their first one (closed with 4000).

Who is in the room (the roster) is kept in the cache the channel layer shares (Redis in production), so every
server process sees the same roster; entries not refreshed by a ping for ``STALE_SECONDS`` are dropped.
"""

from __future__ import annotations

import secrets
import time

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.cache import cache

from ihospital.accounts.models import Role
from ihospital.accounts.selectors import patients_acted_for
from ihospital.core.errors import DomainError
from ihospital.core.live import CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED, GroupsConsumer, refuse, socket_user_ok

from . import realtime, sessions
from .models import Attachment, SessionStatus

CLOSE_REPLACED = 4000
CLOSE_ROOM_FULL = 4409
CLOSE_CLOSED = 4410
SIGNAL_MAX_CHARS = 100_000
STALE_SECONDS = 90
ROSTER_TTL = 24 * 3600
LOCK_TIMEOUT = 5


# ---- the live socket of the pages ------------------------------------------------------------------------------


def live_groups(user) -> list[str]:
    if user.role in (Role.COORDINATOR, Role.ADMIN):
        return [realtime.BOARD]
    if user.role == Role.DOCTOR:
        return [realtime.user_group(user.pk)]
    if user.role == Role.PATIENT:
        return [realtime.patient_group(pk) for pk in patients_acted_for(user).values_list("pk", flat=True)]
    return []


class LiveConsumer(GroupsConsumer):
    def groups_for(self, user) -> list[str]:
        return live_groups(user)

    async def tc_changed(self, event):
        await self.send_json({"type": "changed", "what": event["what"], "id": event["id"], "status": event["status"]})


# ---- who is in a session's room ----------------------------------------------------------------------------------


def session_group(session_id: int) -> str:
    return f"tc.session.{session_id}"


class Roster:
    """The peers of one session's room, in the shared cache, changed under a short cache lock."""

    def __init__(self, session_id: int):
        self.key = f"tc:session:{session_id}:peers"
        self.lock_key = f"{self.key}:lock"

    def _lock(self) -> str:
        token = secrets.token_hex(8)
        deadline = time.monotonic() + LOCK_TIMEOUT
        while not cache.add(self.lock_key, token, timeout=LOCK_TIMEOUT):
            if time.monotonic() > deadline:
                cache.delete(self.lock_key)  # a holder that died; its lock would expire anyway
            time.sleep(0.01)
        return token

    def _unlock(self, token: str) -> None:
        if cache.get(self.lock_key) == token:
            cache.delete(self.lock_key)

    def _fresh(self) -> dict[str, dict]:
        now = time.time()
        peers = cache.get(self.key) or {}
        return {pid: p for pid, p in peers.items() if now - p["seen"] < STALE_SECONDS}

    def peers(self) -> dict[str, dict]:
        return self._fresh()

    def enter(self, peer: dict, limit: int) -> tuple[bool, list[dict]]:
        """Add ``peer`` unless the room is full. A user's earlier window is taken out (and returned, to be closed).
        Returns (entered, replaced peers)."""
        token = self._lock()
        try:
            peers = self._fresh()
            replaced = [p for p in peers.values() if p["user_id"] == peer["user_id"]]
            for p in replaced:
                peers.pop(p["peer_id"], None)
            if len(peers) >= limit:
                return False, []
            peers[peer["peer_id"]] = {**peer, "seen": time.time()}
            cache.set(self.key, peers, timeout=ROSTER_TTL)
            return True, replaced
        finally:
            self._unlock(token)

    def touch(self, peer_id: str) -> None:
        token = self._lock()
        try:
            peers = self._fresh()
            if peer_id in peers:
                peers[peer_id]["seen"] = time.time()
                cache.set(self.key, peers, timeout=ROSTER_TTL)
        finally:
            self._unlock(token)

    def leave(self, peer_id: str) -> bool:
        token = self._lock()
        try:
            peers = self._fresh()
            gone = peers.pop(peer_id, None) is not None
            cache.set(self.key, peers, timeout=ROSTER_TTL)
            return gone
        finally:
            self._unlock(token)

    def clear(self) -> None:
        cache.delete(self.key)


def public(peer: dict) -> dict:
    """What other participants learn of a peer (never its channel)."""
    return {"peer_id": peer["peer_id"], "user_id": peer["user_id"], "name": peer["name"], "role": peer["role"]}


def attachment_payload(attachment: Attachment | None) -> dict | None:
    if attachment is None:
        return None
    return {"id": attachment.pk, "kind": attachment.kind, "title": attachment_title(attachment)}


def attachment_title(attachment: Attachment) -> str:
    if attachment.document_id:
        return attachment.document.title
    if attachment.order_id:
        test = attachment.order.test
        return f"{attachment.order.number} {getattr(test, 'name', '') or test}".strip()
    if attachment.study_id:
        study = attachment.study
        return f"{study.modality} {study.study_date or ''}".strip()
    return str(attachment)


def _join(user, session_id: int):
    session, role = sessions.join_session(actor=user, session_id=session_id)
    shared = None
    if session.shared_attachment_id:
        shared = attachment_payload(
            Attachment.objects.select_related("document", "order__test", "study").get(pk=session.shared_attachment_id)
        )
    return session.status, role, shared


def _share(user, session_id: int, attachment_id) -> dict:
    session = sessions.share(actor=user, session_id=session_id, attachment_id=attachment_id)
    attachment = Attachment.objects.select_related("document", "order__test", "study").get(
        pk=session.shared_attachment_id)
    return attachment_payload(attachment)


class SessionConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.user = self.scope["user"]
        self.session_id = int(self.scope["url_route"]["kwargs"]["session_id"])
        self.peer_id = ""
        if not socket_user_ok(self.scope):
            await refuse(self, CLOSE_UNAUTHENTICATED)
            return
        try:
            status, self.role, shared = await database_sync_to_async(_join)(self.user, self.session_id)
        except DomainError as exc:
            if exc.status == 404:
                await refuse(self, CLOSE_NOT_FOUND)
                return
            await self._refuse_with(exc.code, str(exc.message), CLOSE_CLOSED)
            return
        self.roster = Roster(self.session_id)
        self.group = session_group(self.session_id)
        peer = {"peer_id": secrets.token_hex(8), "user_id": self.user.pk, "name": self.user.real_name,
                "role": self.role, "channel": self.channel_name}
        limit = settings.TELECONSULT_MAX_PARTICIPANTS
        entered, replaced = await sync_to_async(self.roster.enter)(peer, limit)
        if not entered:
            await self._refuse_with(
                "room_full", str(sessions.room_full_message(limit)), CLOSE_ROOM_FULL)
            return
        self.peer_id = peer["peer_id"]
        for old in replaced:
            await self.channel_layer.send(old["channel"], {"type": "tc.replaced"})
            await self.channel_layer.group_send(self.group, {"type": "tc.peer_left", "peer_id": old["peer_id"]})
        others = [public(p) for pid, p in (await sync_to_async(self.roster.peers)()).items() if pid != self.peer_id]
        await self.channel_layer.group_send(self.group, {"type": "tc.peer_joined", "peer": public(peer)})
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({
            "type": "hello",
            "session_id": self.session_id,
            "peer_id": self.peer_id,
            "role": self.role,
            "user_id": self.user.pk,
            "status": status,
            "peers": others,
            "ice_servers": settings.ICE_SERVERS,
            "shared": shared,
            "max_participants": limit,
        })

    async def _refuse_with(self, code: str, message: str, close_code: int) -> None:
        await self.accept()
        await self.send_json({"type": "error", "code": code, "message": message})
        await self.close(code=close_code)

    async def disconnect(self, code):
        if not self.peer_id:
            return
        await self.channel_layer.group_discard(self.group, self.channel_name)
        if await sync_to_async(self.roster.leave)(self.peer_id):
            await self.channel_layer.group_send(self.group, {"type": "tc.peer_left", "peer_id": self.peer_id})
        self.peer_id = ""

    async def receive_json(self, content, **kwargs):
        if not self.peer_id:
            return
        kind = content.get("type") if isinstance(content, dict) else None
        try:
            if kind == "signal":
                await self._relay(content)
            elif kind == "share":
                payload = await database_sync_to_async(_share)(self.user, self.session_id,
                                                               content.get("attachment_id"))
                await self.channel_layer.group_send(self.group, {
                    "type": "tc.shared", "attachment": payload,
                    "by": {"peer_id": self.peer_id, "name": self.user.real_name, "role": self.role},
                })
            elif kind == "end":
                if self.role == "patient":
                    raise DomainError("not_allowed", sessions.END_REFUSED)
                await database_sync_to_async(sessions.end_session)(actor=self.user, session_id=self.session_id)
                await self.channel_layer.group_send(self.group, {"type": "tc.ended", "by": self.user.real_name})
            elif kind == "ping":
                await sync_to_async(self.roster.touch)(self.peer_id)
                await self.send_json({"type": "pong"})
            else:
                raise DomainError("unknown_type", sessions.UNKNOWN_TYPE)
        except DomainError as exc:
            await self.send_json({"type": "error", "code": exc.code, "message": str(exc.message)})

    async def _relay(self, content: dict) -> None:
        data, to = content.get("data"), content.get("to")
        if not isinstance(data, dict) or not isinstance(to, str) or len(str(data)) > SIGNAL_MAX_CHARS:
            raise DomainError("invalid_signal", sessions.INVALID_SIGNAL)
        target = (await sync_to_async(self.roster.peers)()).get(to)
        if target is None or to == self.peer_id:
            raise DomainError("unknown_peer", sessions.UNKNOWN_PEER)
        await self.channel_layer.send(target["channel"], {"type": "tc.signal", "from": self.peer_id, "data": data})

    # ---- events from the channel layer ------------------------------------------------------------------------

    async def tc_signal(self, event):
        await self.send_json({"type": "signal", "from": event["from"], "data": event["data"]})

    async def tc_peer_joined(self, event):
        if event["peer"]["peer_id"] != self.peer_id:
            await self.send_json({"type": "peer_joined", "peer": event["peer"]})

    async def tc_peer_left(self, event):
        if event["peer_id"] != self.peer_id:
            await self.send_json({"type": "peer_left", "peer_id": event["peer_id"]})

    async def tc_shared(self, event):
        await self.send_json({"type": "shared", "attachment": event["attachment"], "by": event["by"]})

    async def tc_ended(self, event):
        await self.send_json({"type": "ended", "by": event["by"], "status": SessionStatus.ENDED})
        await self.disconnect(1000)
        await self.close(code=1000)

    async def tc_replaced(self, event):
        await self.send_json({"type": "error", "code": "replaced",
                              "message": str(sessions.REPLACED)})
        self.peer_id = ""  # already out of the roster
        await self.channel_layer.group_discard(self.group, self.channel_name)
        await self.close(code=CLOSE_REPLACED)

    # The request-level events are not joined here; kept total in case one arrives.
    async def tc_changed(self, event):
        pass
