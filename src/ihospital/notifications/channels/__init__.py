"""Channel adapters: one interface, ``send(delivery) -> provider_ref``.

A channel raises ``TemporaryFailure`` when trying again later may work (the provider is unreachable or busy) and
``PermanentFailure`` when it will not (no binding, no address, refused recipient); ``status`` says whether the
delivery then ends as "failed" or "skipped". The delivery task (``tasks.deliver``) catches everything: nothing a
channel raises reaches the workflow that sent the notification.

What an outside channel says is ``render(delivery)``: the event's neutral text in the recipient's language and a
link, never the workflow's title or body (those may name a drug, a test or a diagnosis).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext

from .. import events


class ChannelFailure(Exception):
    status = "failed"

    def __init__(self, message: str, *, status: str | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class TemporaryFailure(ChannelFailure):
    """Worth another attempt later (network error, HTTP 5xx, provider busy)."""


class PermanentFailure(ChannelFailure):
    """Another attempt would fail the same way. ``status="skipped"`` when there was nothing to send to."""


@dataclass(frozen=True)
class Message:
    language: str
    event: events.Event
    subject: str
    text: str
    url: str
    when: str

    @property
    def full_text(self) -> str:
        return f"{self.text} {self.url}"


def absolute(link: str) -> str:
    link = link or "/notifications/"
    if link.startswith(("http://", "https://")):
        return link
    return f"{settings.SITE_URL}{link if link.startswith('/') else '/' + link}"


def render(delivery) -> Message:
    notification = delivery.notification
    user = notification.user
    language = getattr(user, "language", "") or settings.LANGUAGE_CODE
    event = events.lookup(notification.kind)
    with translation.override(language):
        name = settings.HOSPITAL_NAME or gettext("Internet hospital")
        return Message(
            language=language,
            event=event,
            subject=f"{name}: {event.category_label()}",
            text=event.external_text(),
            url=absolute(notification.link),
            when=timezone.localtime(notification.created_at).strftime("%Y-%m-%d %H:%M"),
        )


_MODULES = {"inapp": "inapp", "wechat": "wechat", "sms": "sms", "email": "email"}


def get(channel: str):
    """The module of ``channel`` (it has ``available(user)`` and ``send(delivery)``)."""
    return import_module(f"{__name__}.{_MODULES[channel]}")
