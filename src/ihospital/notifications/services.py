"""Sending notifications. Stored first, then pushed live to the user's open pages after commit."""

from __future__ import annotations

from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import Notification


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def notify(
    *, users: Iterable, kind: str, title: str, body: str = "", link: str = "", dedupe_key: str = ""
) -> list[Notification]:
    """Store one notification per user (once per ``dedupe_key``) and push it to their open pages."""
    created = []
    for user in users:
        try:
            with transaction.atomic():
                created.append(
                    Notification.objects.create(
                        user=user, kind=kind, title=str(title)[:200], body=str(body), link=link, dedupe_key=dedupe_key
                    )
                )
        except IntegrityError:
            continue  # already sent under this key
    transaction.on_commit(lambda: _push(created))
    return created


def _push(notifications: list[Notification]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for n in notifications:
        async_to_sync(layer.group_send)(
            user_group(n.user_id),
            {"type": "notification", "id": n.pk, "kind": n.kind, "title": n.title, "body": n.body, "link": n.link},
        )


def mark_read(*, user, notification_id: int | None = None) -> int:
    qs = Notification.objects.filter(user=user, read_at__isnull=True)
    if notification_id is not None:
        qs = qs.filter(pk=notification_id)
    return qs.update(read_at=timezone.now())


def unread_count(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
