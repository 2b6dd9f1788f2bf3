"""Live worklists: ``ws/prescriptions/live/`` tells an open page that its list changed.

The socket joins the groups of what the user may see (see ``realtime``): a pharmacist the review worklist, a
doctor their own prescriptions and their departments' refill requests, a patient or proxy the medicines of the
patients they act for. Server → client: ``{"type": "changed", "what": "prescription"|"refill", "id", "status"}``;
the page then re-reads its list over HTTP through its scoped selector, so no health data travels on the socket.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from ihospital.accounts.models import Role
from ihospital.accounts.selectors import patients_acted_for
from ihospital.visits.consumers import CLOSE_UNAUTHENTICATED, refuse, socket_user_ok

from . import realtime
from .selectors import practitioner_of


def groups_for(user) -> list[str]:
    if user.role == Role.PHARMACIST:
        return [realtime.PHARMACY]
    if user.role == Role.DOCTOR:
        practitioner = practitioner_of(user)
        departments = [d.pk for d in practitioner.departments.all()] if practitioner else []
        return [realtime.doctor_group(user.pk)] + [realtime.department_group(d) for d in departments]
    if user.role == Role.PATIENT:
        return [realtime.patient_group(pk) for pk in patients_acted_for(user).values_list("pk", flat=True)]
    return []


class LiveConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        if not socket_user_ok(self.scope):
            await refuse(self, CLOSE_UNAUTHENTICATED)
            return
        self.joined = await database_sync_to_async(groups_for)(self.scope["user"])
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

    async def rx_changed(self, event):
        await self.send_json({"type": "changed", "what": event["what"], "id": event["id"], "status": event["status"]})
