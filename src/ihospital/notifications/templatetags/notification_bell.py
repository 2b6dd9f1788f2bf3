"""``{% notification_bell %}``: the bell with the unread count in the base layout's header (signed-in users only).

A tag rather than a context processor: the count is read only by pages that show the header, once per page."""

from __future__ import annotations

from django import template
from django.db import DatabaseError

from ..models import Notification

register = template.Library()

# More than this shows as "99+": the badge stays one short word on a phone.
SHOWN_MAX = 99


@register.inclusion_tag("notifications/_bell.html", takes_context=True)
def notification_bell(context) -> dict:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"show": False}
    try:
        unread = Notification.objects.filter(user=user, read_at__isnull=True).count()
    except DatabaseError:  # an error page rendered after the database failed still renders (the script recounts)
        unread = 0
    return {"show": True, "unread": unread, "shown": badge(unread), "max": SHOWN_MAX}


@register.filter
def badge(count: int) -> str:
    return f"{SHOWN_MAX}+" if count > SHOWN_MAX else str(count)
