"""Sending notifications. Stored first; after the commit, pushed live to the user's open pages and handed to the
outside channels the user has and allows (one ``Delivery`` per channel, sent by the ``deliver`` task).

``notify`` never fails the workflow that calls it because of a channel: the deliveries are planned after the
workflow's transaction has committed, and everything a channel raises is caught, recorded on the delivery and
retried (docs/notifications.md).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ihospital.core.errors import NotFound

from . import events
from .models import Channel, Delivery, DeliveryStatus, Notification

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def notify(
    *, users: Iterable, kind: str, title: str, body: str = "", link: str = "", dedupe_key: str = ""
) -> list[Notification]:
    """Store one notification per user (once per ``dedupe_key``); after commit, push it to their open pages and
    queue its outside deliveries."""
    created = []
    for user in users:
        try:
            with transaction.atomic():
                created.append(
                    Notification.objects.create(
                        user=user, kind=kind, title=str(title)[:200], body=str(body), link=link, dedupe_key=dedupe_key
                    )
                )
        except IntegrityError:
            continue  # already sent under this key
    if created:
        ids = [n.pk for n in created]
        transaction.on_commit(lambda: dispatch(ids), robust=True)
    return created


# ---- after the commit: live push and planning the deliveries ----------------------------------------------------


def dispatch(notification_ids: list[int]) -> None:
    """Push each notification live and queue its outside deliveries. Never raises."""
    for notification in Notification.objects.filter(pk__in=notification_ids).select_related("user"):
        try:
            _dispatch_one(notification)
        except Exception:  # noqa: BLE001 - a notification must never break what sent it
            logger.exception("notifications: could not dispatch notification %s", notification.pk)


def _dispatch_one(notification: Notification) -> None:
    from . import channels
    from .preferences import channels_for, preferences_for, quiet_until

    now = timezone.now()
    inapp, _created = Delivery.objects.get_or_create(notification=notification, channel=Channel.INAPP,
                                                     defaults={"attempts": 1})
    try:
        channels.get(Channel.INAPP).send(inapp)
        Delivery.objects.filter(pk=inapp.pk).update(status=DeliveryStatus.SENT, sent_at=now)
    except Exception as exc:  # noqa: BLE001 - the row is stored; the page shows it on its next load
        Delivery.objects.filter(pk=inapp.pk).update(status=DeliveryStatus.FAILED, last_error=_short(exc))

    user = notification.user
    event = events.lookup(notification.kind)
    pref = preferences_for(user)
    postpone = None if event.urgent else quiet_until(pref, now)
    for channel in channels_for(user, event, pref):
        delivery, created = Delivery.objects.get_or_create(
            notification=notification, channel=channel, defaults={"next_attempt_at": postpone or now})
        if created:
            enqueue(delivery.pk, run_after=postpone)


def enqueue(delivery_id: int, *, run_after: datetime | None = None) -> None:
    from .tasks import deliver

    try:
        if run_after is not None:
            deliver.using(run_after=run_after).enqueue(delivery_id)
        else:
            deliver.enqueue(delivery_id)
    except Exception:  # noqa: BLE001 - the delivery stays queued; requeue_stale picks it up
        logger.exception("notifications: could not enqueue delivery %s", delivery_id)


# ---- one attempt (the deliver task) -----------------------------------------------------------------------------


def retry_delays() -> list[int]:
    return [int(s) for s in getattr(settings, "NOTIFY_RETRY_SECONDS", [30, 120, 600, 1800, 7200])]


def _short(exc: BaseException | str) -> str:
    text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    return text[:255]


def attempt_delivery(*, delivery_id: int) -> str:
    """One attempt at a queued delivery. Answers "sent", "retry", "postponed", "failed" or "skipped"."""
    from . import channels
    from .preferences import channels_for, preferences_for, quiet_until

    delivery = Delivery.objects.select_related("notification__user").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.QUEUED:
        return "skipped"
    notification = delivery.notification
    user = notification.user
    event = events.lookup(notification.kind)
    now = timezone.now()
    if delivery.channel != Channel.INAPP:
        pref = preferences_for(user)
        if delivery.channel not in channels_for(user, event, pref):
            _finish(delivery, DeliveryStatus.SKIPPED, error="the user has turned this channel off or no longer has it")
            return "skipped"
        until = None if event.urgent else quiet_until(pref, now)
        if until is not None:
            Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.QUEUED).update(next_attempt_at=until)
            enqueue(delivery.pk, run_after=until)
            return "postponed"
    # Claim this attempt: two workers running the same task cannot both send.
    claimed = Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.QUEUED, attempts=delivery.attempts
                                      ).update(attempts=F("attempts") + 1, next_attempt_at=None)
    if not claimed:
        return "skipped"
    delivery.attempts += 1
    try:
        ref = channels.get(delivery.channel).send(delivery)
    except channels.PermanentFailure as exc:
        logger.warning("notifications: delivery %s via %s: %s", delivery.pk, delivery.channel, exc)
        _finish(delivery, exc.status, error=_short(str(exc)))
        return str(exc.status)
    except Exception as exc:  # noqa: BLE001 - temporary failures and anything unexpected: try again later
        delays = retry_delays()
        if delivery.attempts > len(delays):
            logger.error("notifications: gave up delivery %s via %s after %s attempts: %s", delivery.pk,
                         delivery.channel, delivery.attempts, exc)
            _finish(delivery, DeliveryStatus.FAILED, error=_short(exc))
            return "failed"
        when = timezone.now() + timedelta(seconds=delays[delivery.attempts - 1])
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=when, last_error=_short(exc))
        enqueue(delivery.pk, run_after=when)
        return "retry"
    _finish(delivery, DeliveryStatus.SENT, ref=str(ref or "")[:128])
    return "sent"


def _finish(delivery: Delivery, status: str, *, error: str = "", ref: str = "") -> None:
    fields = {"status": status, "next_attempt_at": None, "provider_ref": ref}
    if status == DeliveryStatus.SENT:
        fields["sent_at"] = timezone.now()
        fields["last_error"] = ""
    else:
        fields["last_error"] = error
    Delivery.objects.filter(pk=delivery.pk).update(**fields)


def requeue_stale(*, older_than: timedelta = timedelta(minutes=30)) -> int:
    """Queue again the deliveries whose task was lost (enqueueing failed, a worker died mid-attempt)."""
    cutoff = timezone.now() - older_than
    stale = list(Delivery.objects.filter(status=DeliveryStatus.QUEUED)
                 .exclude(channel=Channel.INAPP)
                 .filter(next_attempt_at__lt=cutoff).values_list("pk", flat=True)[:500])
    for pk in stale:
        Delivery.objects.filter(pk=pk).update(next_attempt_at=timezone.now())
        enqueue(pk)
    return len(stale)


# ---- reading and marking -----------------------------------------------------------------------------------------


def notifications_for(user, *, unread_only: bool = False):
    qs = Notification.objects.filter(user=user)
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs.prefetch_related("deliveries")


def notification_for(*, user, notification_id: int) -> Notification:
    found = Notification.objects.filter(user=user, pk=notification_id).prefetch_related("deliveries").first()
    if found is None:
        raise NotFound("notification_not_found", _("There is no such notification."))
    return found


def mark_read(*, user, notification_id: int | None = None) -> int:
    qs = Notification.objects.filter(user=user, read_at__isnull=True)
    if notification_id is not None:
        qs = qs.filter(pk=notification_id)
    return qs.update(read_at=timezone.now())


def mark_all_read(*, user) -> int:
    return mark_read(user=user)


def unread_count(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()

