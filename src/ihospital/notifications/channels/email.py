"""E-mail through Django's mail (settings.EMAIL_BACKEND): the SMTP backend in production, the outbox
(``ihospital.notifications.outbox.EmailBackend``) in the embedded default."""

from __future__ import annotations

import smtplib

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.message import make_msgid
from django.utils import translation
from django.utils.translation import gettext

from . import PermanentFailure, TemporaryFailure, render


def available(user) -> bool:
    return bool(getattr(user, "email", ""))


def send(delivery) -> str:
    user = delivery.notification.user
    if not user.email:
        raise PermanentFailure("no e-mail address", status="skipped")
    message = render(delivery)
    with translation.override(message.language):
        body = "\n\n".join([message.text, message.url,
                            gettext("This message was sent automatically; please do not reply.")])
    message_id = make_msgid(idstring=f"delivery{delivery.pk}")
    mail = EmailMessage(subject=message.subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[user.email],
                        headers={"Message-ID": message_id, "X-Ihospital-Delivery": str(delivery.pk)})
    try:
        sent = mail.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentFailure(f"recipient refused: {exc.recipients}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise TemporaryFailure(f"SMTP: {exc}") from exc
    if not sent:
        raise TemporaryFailure("the mail backend sent nothing")
    return message_id
