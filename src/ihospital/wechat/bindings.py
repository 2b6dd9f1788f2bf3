"""Who is who on WeChat: the binding of a WeChat identity (openid of this Official Account, unionid) to an account.

A binding is made once, after the person proved who they are on the platform (password or registration) while
WeChat's OAuth flow proved which WeChat user they are; later visits from inside WeChat sign a patient in by it.
Unbinding keeps the row (``unbound_at``) so the history stays; the database allows one *active* binding per
openid and per user, so two requests racing to bind cannot both win.
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ihospital.core import audit
from ihospital.core.errors import Conflict, DomainError, NotFound
from ihospital.core.models import AuditAction

from .models import Binding


def _appid() -> str:
    return getattr(settings, "WECHAT_APPID", "") or ""


def active_binding(user) -> Binding | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return Binding.objects.filter(user=user, appid=_appid(), unbound_at__isnull=True).first()


def openid_for(user) -> str | None:
    """The openid a template message for ``user`` goes to, or None when the user has no active binding."""
    binding = active_binding(user)
    return binding.openid if binding else None


def user_for_openid(openid: str):
    """The active account bound to ``openid``, or None."""
    if not openid:
        return None
    binding = (
        Binding.objects.select_related("user")
        .filter(appid=_appid(), openid=openid, unbound_at__isnull=True, user__is_active=True)
        .first()
    )
    return binding.user if binding else None


def _check_openid(openid: str) -> str:
    openid = (openid or "").strip()
    # WeChat openids are 28 characters of [A-Za-z0-9_-]; accept that alphabet, refuse anything else.
    if not openid or len(openid) > 128 or not all(c.isascii() and (c.isalnum() or c in "-_") for c in openid):
        raise DomainError("invalid_openid", _("This WeChat identity is not valid."))
    return openid


@transaction.atomic
def bind(*, user, openid: str, unionid: str = "", nickname: str = "") -> Binding:
    """Bind ``openid`` to ``user``. Binding the same pair again changes nothing; an openid bound to someone else,
    or a user already bound to another WeChat identity, is refused (unbind first)."""
    openid = _check_openid(openid)
    if user is None or not user.is_active:
        raise DomainError("inactive_account", _("This account cannot be used."), status=403)
    appid = _appid()
    existing = Binding.objects.select_for_update().filter(appid=appid, openid=openid, unbound_at__isnull=True).first()
    if existing is not None:
        if existing.user_id == user.pk:
            return existing
        raise Conflict(
            "openid_bound",
            _("This WeChat account is already bound to another patient account. Unbind it there first."),
        )
    if Binding.objects.filter(user=user, appid=appid, unbound_at__isnull=True).exists():
        raise Conflict(
            "already_bound",
            _("Your account is already bound to another WeChat account. Unbind it first on the WeChat binding page."),
        )
    try:
        with transaction.atomic():
            binding = Binding.objects.create(
                user=user, appid=appid, openid=openid, unionid=(unionid or "")[:128], nickname=(nickname or "")[:100]
            )
    except IntegrityError:
        raise Conflict(
            "openid_bound", _("This WeChat account was bound at the same moment. Please try again.")
        ) from None
    audit.record(actor=user, action=AuditAction.CREATE, obj=binding, detail={"openid": openid})
    return binding


@transaction.atomic
def unbind(*, actor) -> Binding:
    """End the actor's active binding: WeChat no longer signs them in and template messages stop."""
    binding = (
        Binding.objects.select_for_update()
        .filter(user=actor, appid=_appid(), unbound_at__isnull=True)
        .first()
        if getattr(actor, "is_authenticated", False)
        else None
    )
    if binding is None:
        raise NotFound("not_bound", _("Your account is not bound to a WeChat account."))
    binding.unbound_at = timezone.now()
    binding.save(update_fields=["unbound_at"])
    audit.record(actor=actor, action=AuditAction.UPDATE, obj=binding, detail={"unbound": binding.openid})
    return binding
