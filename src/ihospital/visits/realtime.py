"""What a visit tells the open pages, through the channel layer, always after the transaction commits.

Groups: ``visit.<id>`` (everyone in the visit: chat, receipts, status, call signalling) and
``queue.<department_id>`` (the department's queue page and the patients waiting in it).
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from .models import Message, Visit


def visit_group(visit_id: int) -> str:
    return f"visit.{visit_id}"


def queue_group(department_id: int) -> str:
    return f"queue.{department_id}"


def _send(group: str, event: dict) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, event)


def _after_commit(group: str, event: dict) -> None:
    transaction.on_commit(lambda: _send(group, event))


def message_payload(message: Message) -> dict:
    attachment = None
    if message.attachment_id:
        attachment = {
            "id": message.attachment_id,
            "content_type": message.attachment.content_type,
            "name": message.attachment.original_name,
            # Through the visit, so everyone in it can open it (the chart's own link needs a care relationship,
            # which the doctor of a visit not yet accepted does not have).
            "url": f"/visits/{message.visit_id}/files/{message.pk}/",
        }
    return {
        "id": message.pk,
        "visit_id": message.visit_id,
        "kind": message.kind,
        "body": message.body,
        "sender_id": message.sender_id,
        "sender_name": message.sender.real_name if message.sender_id else "",
        "client_id": message.client_id,
        "created_at": message.created_at.isoformat(),
        "attachment": attachment,
    }


def message(msg: Message) -> None:
    _after_commit(visit_group(msg.visit_id), {"type": "chat.message", "message": message_payload(msg)})


def read(visit_id: int, user_id: int, last_read_id: int) -> None:
    _after_commit(visit_group(visit_id), {"type": "chat.read", "user_id": user_id, "last_read_id": last_read_id})


def visit_status(visit: Visit) -> None:
    _after_commit(
        visit_group(visit.pk),
        {"type": "visit.status", "status": visit.status, "doctor_id": visit.doctor_id, "reason": visit.status_reason},
    )


def queue_changed(department_id: int) -> None:
    _after_commit(queue_group(department_id), {"type": "queue.changed", "department_id": department_id})
