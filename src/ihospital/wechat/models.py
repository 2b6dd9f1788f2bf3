"""The WeChat Official Account's records: bindings, received messages, menu publications, the API access token.

``Binding``        a WeChat identity (openid of this Official Account, unionid when WeChat gives one) bound to a
                   platform account. At most one *active* binding (``unbound_at`` null) per openid and per user;
                   unbinding keeps the row (history) and sets ``unbound_at``.
``InboundMessage`` one row per message or event WeChat pushed to the callback, keyed by a dedupe key (the MsgId
                   for messages, FromUserName+CreateTime(+event) for events): WeChat retries a push it got no
                   answer for, and a replay of a captured request is refused the same way, so each is handled once.
``MenuPublication`` every attempt to publish the Official Account's menu: the body sent, by whom, and the outcome.
``AccessToken``    the cached API access token, one row per app id (``ihospital.wechat.client`` refreshes it under a
                   row lock shortly before it expires).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Binding(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="wechat_bindings", verbose_name=_("user")
    )
    appid = models.CharField(_("app id"), max_length=64)
    openid = models.CharField(_("openid"), max_length=128, db_index=True)
    unionid = models.CharField(_("unionid"), max_length=128, blank=True, default="")
    nickname = models.CharField(_("nickname"), max_length=100, blank=True, default="")
    bound_at = models.DateTimeField(_("bound at"), auto_now_add=True)
    unbound_at = models.DateTimeField(_("unbound at"), null=True, blank=True)

    class Meta:
        verbose_name = _("WeChat binding")
        verbose_name_plural = _("WeChat bindings")
        ordering = ["-bound_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["appid", "openid"], condition=Q(unbound_at__isnull=True), name="wechat_one_active_per_openid"
            ),
            models.UniqueConstraint(
                fields=["user"], condition=Q(unbound_at__isnull=True), name="wechat_one_active_per_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.openid} → {self.user_id}"

    @property
    def active(self) -> bool:
        return self.unbound_at is None


class InboundKind(models.TextChoices):
    TEXT = "text", _("text")
    EVENT = "event", _("event")
    OTHER = "other", _("other")


class InboundMessage(models.Model):
    dedupe_key = models.CharField(_("dedupe key"), max_length=200, unique=True)
    msg_id = models.CharField(_("message id"), max_length=64, blank=True, default="")
    kind = models.CharField(_("message type"), max_length=40)
    event = models.CharField(_("event"), max_length=40, blank=True, default="")
    openid = models.CharField(_("openid"), max_length=128, blank=True, default="")
    encrypted = models.BooleanField(_("safe mode"), default=False)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("WeChat inbound message")
        verbose_name_plural = _("WeChat inbound messages")
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return self.dedupe_key


class MenuPublication(models.Model):
    published_at = models.DateTimeField(_("published at"), auto_now_add=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    body = models.JSONField(_("menu"), default=dict)
    ok = models.BooleanField(_("published"), default=False)
    error = models.CharField(_("error"), max_length=500, blank=True, default="")

    class Meta:
        verbose_name = _("WeChat menu publication")
        verbose_name_plural = _("WeChat menu publications")
        ordering = ["-published_at", "-id"]

    def __str__(self) -> str:
        return f"{self.published_at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'failed'}"


class AccessToken(models.Model):
    appid = models.CharField(_("app id"), max_length=64, unique=True)
    token = models.CharField(_("access token"), max_length=512)
    expires_at = models.DateTimeField(_("expires at"))

    class Meta:
        verbose_name = _("WeChat access token")
        verbose_name_plural = _("WeChat access tokens")

    def __str__(self) -> str:
        return f"{self.appid} until {self.expires_at:%Y-%m-%d %H:%M}"
