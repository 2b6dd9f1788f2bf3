"""One helper performs every status change, so each workflow's rules live in one ``TRANSITIONS`` table.

A model declares::

    class Status(models.TextChoices): ...
    TRANSITIONS = {Status.PENDING: {Status.ACTIVE, Status.REVOKED}, Status.ACTIVE: {Status.REVOKED}}

and a service calls ``transition(obj, Status.ACTIVE, actor=user, reason="...")``. The update is
conditional on the status the caller saw, so two concurrent transitions cannot both win; the loser gets a
``Conflict`` and nothing changes. Each success appends a ``TimelineEvent``.
"""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from .errors import Conflict
from .models import TimelineEvent


def allowed(model_cls, from_status: str) -> set[str]:
    return set(model_cls.TRANSITIONS.get(from_status, set()))


def transition(obj, to_status: str, *, actor, reason: str = "", field: str = "status", **changes) -> None:
    model_cls = type(obj)
    from_status = getattr(obj, field)
    if to_status not in allowed(model_cls, from_status):
        raise Conflict(
            "invalid_transition",
            _("This cannot be done now: it is %(status)s.") % {"status": _status_label(obj, field)},
        )
    with transaction.atomic():
        updated = model_cls._base_manager.filter(pk=obj.pk, **{field: from_status}).update(
            **{field: to_status}, **changes
        )
        if updated != 1:
            raise Conflict("stale_status", _("Someone else changed this at the same time. Reload and retry."))
        setattr(obj, field, to_status)
        for key, value in changes.items():
            setattr(obj, key, value)
        TimelineEvent.objects.create(
            content_type=ContentType.objects.get_for_model(model_cls),
            object_id=str(obj.pk),
            from_status=from_status,
            to_status=to_status,
            actor=actor if getattr(actor, "is_authenticated", False) else None,
            reason=reason,
        )


def timeline(obj):
    return TimelineEvent.objects.filter(
        content_type=ContentType.objects.get_for_model(type(obj)), object_id=str(obj.pk)
    )


def _status_label(obj, field: str) -> str:
    display = getattr(obj, f"get_{field}_display", None)
    return str(display()) if display else str(getattr(obj, field))
