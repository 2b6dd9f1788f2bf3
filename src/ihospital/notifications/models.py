"""In-app notifications. Workflows call ``services.notify``; they never read this app's tables directly.

(The WeChat, SMS and e-mail channels, preferences and quiet hours come with the notifications issue; the
in-app channel is the one every user has.)
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


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
