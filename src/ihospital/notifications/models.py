"""In-app notifications. Workflows call ``services.notify``; they never read this app's tables directly.

Each notification goes out through the in-app channel (every user has it) and, after the commit, through the
outside channels the user has and allows (WeChat, SMS, e-mail): one ``Delivery`` per channel records its status.
``Preference`` holds a user's channel switches, muted categories and quiet hours; ``OutboxMessage`` the SMS and
e-mails of the embedded deployment (docs/notifications.md).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Notification(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=48)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    link = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # Lets a workflow send "the same" notification twice (a retried task) without the user seeing it twice.
    dedupe_key = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "dedupe_key"], condition=~models.Q(dedupe_key=""), name="notification_once_per_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.user_id}: {self.title}"


# ---- the outside channels --------------------------------------------------------------------------------------


class Channel(models.TextChoices):
    INAPP = "inapp", _("in the app")
    WECHAT = "wechat", _("WeChat")
    SMS = "sms", _("SMS")
    EMAIL = "email", _("e-mail")


EXTERNAL_CHANNELS = (Channel.WECHAT, Channel.SMS, Channel.EMAIL)


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", _("waiting to be sent")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")
    SKIPPED = "skipped", _("not sent")


class Delivery(models.Model):
    """One notification through one channel: queued, then sent, failed (after the retries) or skipped."""

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    status = models.CharField(max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)
    provider_ref = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["notification_id", "channel"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        constraints = [
            models.UniqueConstraint(fields=["notification", "channel"], name="delivery_once_per_channel")
        ]

    def __str__(self) -> str:
        return f"{self.notification_id} via {self.channel}: {self.status}"


class Preference(models.Model):
    """A user's choices for the outside channels. In-app notifications always arrive.

    Without a row the defaults hold: every channel the user has, no category muted, quiet hours from
    settings.NOTIFY_QUIET_HOURS. A row with empty quiet hours means the user cleared them."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="notification_preference")
    wechat = models.BooleanField(_("WeChat messages"), default=True)
    sms = models.BooleanField(_("text messages (SMS)"), default=True)
    email = models.BooleanField(_("e-mails"), default=True)
    muted_categories = models.JSONField(_("muted categories"), default=list, blank=True)
    quiet_start = models.TimeField(_("quiet hours from"), null=True, blank=True)
    quiet_end = models.TimeField(_("quiet hours until"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"

    def allows_channel(self, channel: str) -> bool:
        return channel == Channel.INAPP or bool(getattr(self, channel, False))


class OutboxMessage(models.Model):
    """An SMS or e-mail the embedded deployment "sent": kept here and shown on the outbox page."""

    channel = models.CharField(max_length=8, choices=[(Channel.SMS, Channel.SMS.label),
                                                      (Channel.EMAIL, Channel.EMAIL.label)])
    to = models.CharField(max_length=255)
    subject = models.CharField(max_length=255, blank=True)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.channel} to {self.to}: {self.subject or self.body[:40]}"
