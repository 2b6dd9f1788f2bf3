"""Shared kernel models: the audit log and the timeline of status changes.

``core`` imports no app: the user is referenced through ``settings.AUTH_USER_MODEL`` and the objects
through content types, so every domain app can use these without a dependency cycle.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError(f"{self.model.__name__} is append-only")

    def delete(self):
        raise TypeError(f"{self.model.__name__} is append-only")


class NeverDeletedQuerySet(models.QuerySet):
    """For records the law says to keep (charts 15 years, visit chat 3 years): no bulk delete either.

    A model using it also refuses ``delete()`` on an instance; what was wrong is marked, not removed."""

    def delete(self):
        raise TypeError(f"{self.model.__name__} records are never deleted")


class AuditAction(models.TextChoices):
    READ = "read", _("read")
    CREATE = "create", _("create")
    UPDATE = "update", _("update")
    DELETE = "delete", _("delete")
    LOGIN = "login", _("login")
    LOGOUT = "logout", _("logout")
    EXPORT = "export", _("export")


class AuditOutcome(models.TextChoices):
    OK = "ok", _("allowed")
    DENIED = "denied", _("denied")
    FAILED = "failed", _("failed")


class AuditHead(models.Model):
    """A single row that holds the end of the chain. Locking it serialises writers so the chain stays linear."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="audit_head_singleton")]

    def __str__(self) -> str:
        return f"audit head at seq {self.seq}"


class AuditEvent(models.Model):
    """One row per read or write of health data (and per login). Never updated, never deleted.

    ``hash`` = HMAC-SHA256(AUDIT_CHAIN_KEY, prev_hash + canonical form of this row), so an edit, a deletion or
    an insertion made behind the application's back breaks the chain at that row; ``ihospital audit verify``
    finds it.
    """

    seq = models.BigIntegerField(unique=True)
    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True)
    # The patient whose data this is, so a patient (and the auditor) can list every access to one chart.
    patient_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    outcome = models.CharField(max_length=8, choices=AuditOutcome.choices, default=AuditOutcome.OK)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.CharField(max_length=45, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"#{self.seq} {self.actor_label} {self.action} {self.object_type}:{self.object_id} {self.outcome}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("AuditEvent is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("AuditEvent is append-only")

    def canonical(self) -> str:
        payload = {
            "seq": self.seq,
            "at": self.at.isoformat(timespec="microseconds"),
            "actor": self.actor_id,
            "actor_label": self.actor_label,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "patient_id": self.patient_id,
            "outcome": self.outcome,
            "request_id": self.request_id,
            "ip": self.ip,
            "detail": self.detail,
        }
        return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    def compute_hash(self) -> str:
        # Keyed (HMAC) rather than a bare hash: someone with write access to the database alone cannot
        # recompute the chain after editing a row, because the key lives in the environment, not the database.
        message = (self.prev_hash + self.canonical()).encode()
        return hmac.new(settings.AUDIT_CHAIN_KEY.encode(), message, hashlib.sha256).hexdigest()

class TimelineEvent(models.Model):
    """The history of one object's status: who moved it from which status to which, when and why."""

    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT)
    object_id = models.CharField(max_length=64)
    from_status = models.CharField(max_length=32, blank=True)
    to_status = models.CharField(max_length=32)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["content_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.content_type_id}:{self.object_id} {self.from_status}→{self.to_status}"
