"""The embedded e-mail backend: messages are kept as OutboxMessage rows (shown on the admins' outbox page) instead
of leaving the machine. settings.EMAIL_BACKEND = "ihospital.notifications.outbox.EmailBackend"."""

from __future__ import annotations

from django.core.mail.backends.base import BaseEmailBackend


class EmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages) -> int:
        from .models import Channel, OutboxMessage

        count = 0
        for message in email_messages or []:
            recipients = message.recipients()
            if not recipients:
                continue
            OutboxMessage.objects.create(channel=Channel.EMAIL, to=", ".join(recipients),
                                         subject=str(message.subject)[:255], body=str(message.body))
            count += 1
        return count
