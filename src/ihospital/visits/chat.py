"""The chat of a visit: messages (text, images, files), read receipts, and system notes of the workflow.

A message is stored (and audited) first and broadcast after the transaction commits; a resend with the same
``client_id`` returns the stored message. Nothing here is ever deleted.
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import User
from ihospital.core import audit
from ihospital.core.errors import Conflict, DomainError
from ihospital.core.models import AuditAction
from ihospital.records import services as records
from ihospital.records.models import DocumentKind

from . import notices, realtime, tasks
from .models import CHAT_STATUSES, Message, MessageKind, ReadMark, Visit
from .selectors import participant_visit


def system_message(visit: Visit, text) -> Message:
    message = Message.objects.create(visit=visit, sender=None, kind=MessageKind.SYSTEM, body=str(text))
    realtime.message(message)
    return message


def post_message(
    *, actor: User, visit_id: int, body: str = "", file=None, client_id: str = ""
) -> Message:
    """Store a chat message (text, or an image/file kept as a chart document), then broadcast it after commit.

    Resending with the same ``client_id`` returns the stored message instead of a duplicate."""
    visit, role = participant_visit(actor, visit_id)
    if visit.status not in CHAT_STATUSES:
        raise Conflict("visit_closed", _("This visit is closed; start a new follow-up visit to write again."))
    body = (body or "").strip()
    client_id = (client_id or "")[:64]
    if not body and file is None:
        raise DomainError("empty_message", _("Type a message or attach a file."))
    if len(body) > settings.CHAT_MAX_CHARS:
        raise DomainError("message_too_long", _("The message is too long."))
    if client_id:
        existing = Message.objects.filter(visit=visit, sender=actor, client_id=client_id).first()
        if existing:
            return existing
    kind = MessageKind.TEXT
    attachment = None
    if file is not None:
        attachment = records.upload_document(
            actor=actor, patient_id=visit.patient_id,
            kind=DocumentKind.IMAGE, title=getattr(file, "name", "") or "chat", file=file,
        )
        kind = MessageKind.IMAGE if attachment.content_type.startswith("image/") else MessageKind.FILE
    try:
        with transaction.atomic():
            message = Message.objects.create(
                visit=visit, sender=actor, kind=kind, body=body, attachment=attachment, client_id=client_id
            )
            audit.record(actor=actor, action=AuditAction.CREATE, obj=message, patient_id=visit.patient_id)
            realtime.message(message)
    except IntegrityError:
        return Message.objects.get(visit=visit, sender=actor, client_id=client_id)
    if role in ("patient", "proxy"):
        tasks.schedule_unanswered_check(message)
    elif role == "doctor":
        notices.doctor_replied(message)
    return message


def mark_read(*, actor: User, visit_id: int, last_read_id: int) -> ReadMark:
    visit, _role = participant_visit(actor, visit_id, audit_read=False)
    last = (
        Message.objects.filter(visit=visit, pk__lte=last_read_id).order_by("-pk").values_list("pk", flat=True).first()
    )
    if last is None:
        raise DomainError("invalid_message_id", _("No such message in this visit."))
    mark, _created = ReadMark.objects.get_or_create(visit=visit, user=actor)
    # Only forward: a late, older receipt must not move the mark back.
    ReadMark.objects.filter(pk=mark.pk, last_read_id__lt=last).update(last_read_id=last, updated_at=timezone.now())
    mark.refresh_from_db()
    realtime.read(visit.pk, actor.pk, mark.last_read_id)
    return mark


def unanswered_since(visit: Visit, message_id: int) -> bool:
    """True when no doctor message came after ``message_id`` (the patient is still waiting)."""
    doctor_user = visit.doctor.user_id if visit.doctor_id else None
    later = Message.objects.filter(visit=visit, pk__gt=message_id)
    return not later.filter(Q(sender_id=doctor_user) & Q(sender__isnull=False)).exists()


