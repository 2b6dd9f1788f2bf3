"""Writing and verifying the hash-chained audit log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import context
from .models import AuditAction, AuditEvent, AuditHead, AuditOutcome

GENESIS = "0" * 64


def _label(user) -> str:
    if user is None or not getattr(user, "is_authenticated", False):
        return "anonymous"
    return f"{user.get_username()}"


def record(
    *,
    actor,
    action: str,
    obj: Any = None,
    object_type: str = "",
    object_id: Any = "",
    patient_id: int | None = None,
    outcome: str = AuditOutcome.OK,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. Runs in the caller's transaction, so a write and its audit row commit together."""
    if obj is not None:
        object_type = object_type or f"{obj._meta.app_label}.{obj._meta.model_name}"
        object_id = object_id or obj.pk
    ctx = context.current()
    with transaction.atomic():
        head, _ = AuditHead.objects.select_for_update().get_or_create(id=1)
        event = AuditEvent(
            seq=head.seq + 1,
            at=timezone.now(),
            actor=actor if getattr(actor, "is_authenticated", False) else None,
            actor_label=_label(actor),
            action=action,
            object_type=object_type,
            object_id=str(object_id or ""),
            patient_id=patient_id,
            outcome=outcome,
            request_id=ctx.request_id,
            ip=ctx.ip,
            detail=detail or {},
            prev_hash=head.last_hash,
        )
        event.hash = event.compute_hash()
        event.save()
        AuditHead.objects.filter(id=1).update(seq=event.seq, last_hash=event.hash)
    return event


def read(actor, obj, *, patient_id: int | None, **kw) -> AuditEvent:
    return record(actor=actor, action=AuditAction.READ, obj=obj, patient_id=patient_id, **kw)


@dataclass
class ChainReport:
    checked: int
    broken_seq: int | None = None
    broken_id: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_seq is None


def verify_chain(batch_size: int = 2000) -> ChainReport:
    """Walk the chain in order; report the first row whose content, link or position is wrong."""
    prev_hash = GENESIS
    expected_seq = 1
    checked = 0
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=batch_size):
        if event.seq != expected_seq:
            return ChainReport(checked, event.seq, event.id, f"row(s) missing before seq {event.seq}")
        if event.prev_hash != prev_hash:
            return ChainReport(checked, event.seq, event.id, "link to the previous row does not match")
        if event.compute_hash() != event.hash:
            return ChainReport(checked, event.seq, event.id, "content does not match its hash")
        prev_hash = event.hash
        expected_seq += 1
        checked += 1
    head = AuditHead.objects.filter(id=1).first()
    if head and (head.seq != checked or head.last_hash != prev_hash):
        return ChainReport(checked, checked + 1, None, "rows missing at the end of the chain")
    return ChainReport(checked)
