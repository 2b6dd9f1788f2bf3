"""A user's notification preferences: which outside channels, which categories, quiet hours.

In-app notifications always arrive. Without a saved ``Preference`` the defaults hold: every outside channel the user
has (a bound WeChat identity, a mobile number, an e-mail address), no category muted, and the quiet hours of
settings.NOTIFY_QUIET_HOURS ("22:00-07:00", local time; empty for none). Quiet hours postpone the outside
channels to their end; urgent events (security alarms, critical results) are never postponed nor muted.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ihospital.core import audit
from ihospital.core.errors import DomainError
from ihospital.core.models import AuditAction

from . import events
from .models import EXTERNAL_CHANNELS, Channel, Preference

logger = logging.getLogger(__name__)

UNSET = object()


def parse_time(value) -> time | None:
    if value is None or value == "":
        return None
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    try:
        hours, minutes = str(value).strip().split(":")[:2]
        return time(int(hours), int(minutes))
    except (ValueError, TypeError):
        raise DomainError("invalid_quiet_hours", _("Enter quiet hours as HH:MM, for example 22:00."),
                          fields={"quiet_hours": _("Enter a time as HH:MM.")}) from None


def default_quiet_hours() -> tuple[time | None, time | None]:
    value = (getattr(settings, "NOTIFY_QUIET_HOURS", "") or "").strip()
    if not value:
        return None, None
    try:
        start, end = value.split("-")
        return parse_time(start), parse_time(end)
    except (ValueError, DomainError):
        return None, None


def preferences_for(user) -> Preference:
    """The user's saved preferences, or the defaults (an unsaved row)."""
    pref = Preference.objects.filter(user=user).first()
    if pref is None:
        start, end = default_quiet_hours()
        pref = Preference(user=user, quiet_start=start, quiet_end=end)
    return pref


def preferences_of(user) -> Preference:
    """Alias of ``preferences_for`` (the name the preferences page uses)."""
    return preferences_for(user)


def channels_available(user) -> dict[str, bool]:
    """For each outside channel, whether the user has it (a bound WeChat, a mobile number, an e-mail address)."""
    have = set(available_channels(user))
    return {str(c): str(c) in have for c in EXTERNAL_CHANNELS}


def available_channels(user) -> list[str]:
    """The outside channels the user has: a bound WeChat identity, a mobile number, an e-mail address."""
    from . import channels

    found = []
    for channel in EXTERNAL_CHANNELS:
        try:
            if channels.get(channel).available(user):
                found.append(str(channel))
        except Exception:  # noqa: BLE001 - a channel that cannot tell is not available
            logger.warning("notifications: could not tell whether %s is available", channel, exc_info=True)
    return found


def channels_for(user, event: events.Event, pref: Preference | None = None) -> list[str]:
    """The outside channels a notification of ``event`` goes through for ``user``."""
    if not getattr(user, "is_active", True):
        return []
    pref = pref or preferences_for(user)
    muted = (event.category in (pref.muted_categories or []) and not event.urgent
             and event.category not in events.UNMUTABLE_CATEGORIES)
    if muted:
        return []
    return [c for c in available_channels(user) if pref.allows_channel(c)]


def quiet_until(pref: Preference, now: datetime | None = None) -> datetime | None:
    """The end of the quiet hours if ``now`` (default: now) falls in them, else None."""
    start, end = pref.quiet_start, pref.quiet_end
    if start is None or end is None or start == end:
        return None
    local = timezone.localtime(now or timezone.now())
    t = local.time().replace(tzinfo=None)
    day = local.date()
    if start < end:
        inside = start <= t < end
        end_day = day
    else:  # over midnight
        inside = t >= start or t < end
        end_day = day + timedelta(days=1) if t >= start else day
    if not inside:
        return None
    return timezone.make_aware(datetime.combine(end_day, end), local.tzinfo)


def set_preferences(*, user, wechat: bool | None = None, sms: bool | None = None, email: bool | None = None,
                    muted_categories: list[str] | None = None, quiet_start=UNSET, quiet_end=UNSET) -> Preference:
    """Change the user's own preferences (only what is given). Quiet hours: both times, or both empty for none."""
    if muted_categories is not None:
        muted = sorted({str(c) for c in muted_categories})
        unknown = [c for c in muted if c not in events.CATEGORIES]
        if unknown:
            raise DomainError("unknown_category", _("There is no notification category %(name)s.")
                              % {"name": ", ".join(unknown)})
        if any(c in events.UNMUTABLE_CATEGORIES for c in muted):
            raise DomainError("category_not_mutable", _("Security alarms cannot be switched off."))
    if (quiet_start is UNSET) != (quiet_end is UNSET):
        raise DomainError("quiet_hours_incomplete", _("Give both the start and the end of the quiet hours."))
    if quiet_start is not UNSET:
        quiet_start, quiet_end = parse_time(quiet_start), parse_time(quiet_end)
        if (quiet_start is None) != (quiet_end is None):
            raise DomainError("quiet_hours_incomplete", _("Give both the start and the end of the quiet hours."))
        if quiet_start is not None and quiet_start == quiet_end:
            raise DomainError("invalid_quiet_hours", _("Quiet hours must end at another time than they start."))
    with transaction.atomic():
        pref = preferences_for(user)
        if pref.pk:
            pref = Preference.objects.select_for_update().get(pk=pref.pk)
        before = snapshot(pref)
        for name, value in (("wechat", wechat), ("sms", sms), ("email", email)):
            if value is not None:
                setattr(pref, name, bool(value))
        if muted_categories is not None:
            pref.muted_categories = muted
        if quiet_start is not UNSET:
            pref.quiet_start, pref.quiet_end = quiet_start, quiet_end
        pref.save()
        after = snapshot(pref)
        audit.record(actor=user, action=AuditAction.UPDATE, obj=pref,
                     detail={k: after[k] for k in after if after[k] != before.get(k)})
    return pref


def snapshot(pref: Preference) -> dict:
    return {
        "wechat": pref.wechat, "sms": pref.sms, "email": pref.email,
        "muted_categories": list(pref.muted_categories or []),
        "quiet_start": pref.quiet_start.strftime("%H:%M") if pref.quiet_start else None,
        "quiet_end": pref.quiet_end.strftime("%H:%M") if pref.quiet_end else None,
    }


def describe(user) -> dict:
    """What a preferences page shows: the saved or default choices, the channels the user has, the categories."""
    pref = preferences_for(user)
    return {
        "preference": pref,
        "available": available_channels(user),
        "channels": [(c, Channel(c).label) for c in EXTERNAL_CHANNELS],
        "categories": [(k, v, k in events.UNMUTABLE_CATEGORIES) for k, v in events.CATEGORIES.items()],
        **snapshot(pref),
    }
