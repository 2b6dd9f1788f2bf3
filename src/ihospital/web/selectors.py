"""Reads for the pages that belong to no single app (the audit log for auditors)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import Role, User
from ihospital.core.errors import Forbidden
from ihospital.core.models import AuditEvent

AUDIT_ROLES = frozenset({Role.AUDITOR, Role.ADMIN})


def require_auditor(user: User) -> None:
    if not user.is_authenticated or user.role not in AUDIT_ROLES:
        raise Forbidden("not_an_auditor", _("Only auditors and hospital administrators may see the audit log."))


def latest_audit_events(user: User, limit: int = 200) -> QuerySet[AuditEvent]:
    require_auditor(user)
    return AuditEvent.objects.select_related("actor").order_by("-seq")[:limit]
