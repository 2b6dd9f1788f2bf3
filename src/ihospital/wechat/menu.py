"""The Official Account's menu: built from settings, published through WeChat's ``/cgi-bin/menu/create``.

``WECHAT_MENU`` (JSON, WeChat's own menu format) replaces the default when set. The default has the platform's
services, each a ``view`` button whose URL goes through ``/wechat/oauth/start/`` so that the page opens signed in:

    在线复诊 (visits)   医疗服务: 续方配药 (refills) · 检查预约 (tests) · 上门护理 (home nursing)
    我的: 我的订单 (orders) · 微信绑定 (binding) · 使用帮助 (a CLICK answered with the keyword list)

The menu is checked against WeChat's limits before it is sent (at most 3 buttons with at most 5 entries each,
names of at most 16/60 bytes, view URLs http(s)). Every publication is recorded (``MenuPublication``: body, who,
outcome) and audited, also when WeChat refuses it.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from ihospital.core import audit
from ihospital.core.errors import DomainError, Forbidden
from ihospital.core.models import AuditAction, AuditOutcome

from .models import MenuPublication
from .server import oauth_link

logger = logging.getLogger(__name__)

BUTTON_TYPES = {"click", "view", "miniprogram", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
                "pic_photo_or_album", "pic_weixin", "location_select", "media_id", "view_limited", "article_id",
                "article_view_limited"}


# The button names in the Official Account's language. WeChat shows one menu to every follower, and its names are
# short (top-level 16 bytes: four Chinese characters), so they are written here rather than translated.
NAMES = {
    "zh-hans": {"visits": "在线复诊", "services": "医疗服务", "refills": "续方配药", "tests": "检查预约",
                "homecare": "上门护理", "mine": "我的", "orders": "我的订单", "binding": "微信绑定",
                "help": "使用帮助"},
    "en": {"visits": "Visits", "services": "Services", "refills": "Refills", "tests": "Test appointments",
           "homecare": "Home nursing", "mine": "Mine", "orders": "My orders", "binding": "WeChat binding",
           "help": "Help"},
}


def default_menu(language: str | None = None) -> dict:
    names = NAMES.get((language or settings.LANGUAGE_CODE).lower(), NAMES["zh-hans"])

    def view(key: str, path: str) -> dict:
        return {"type": "view", "name": names[key], "url": oauth_link(path)}

    return {
        "button": [
            view("visits", "/visits/"),
            {
                "name": names["services"],
                "sub_button": [
                    view("refills", "/prescriptions/"),
                    view("tests", "/diagnostics/"),
                    view("homecare", "/homecare/"),
                ],
            },
            {
                "name": names["mine"],
                "sub_button": [
                    view("orders", "/pharmacy/orders/"),
                    view("binding", "/wechat/binding/"),
                    {"type": "click", "name": names["help"], "key": "help"},
                ],
            },
        ]
    }


def _invalid(reason: str) -> DomainError:
    return DomainError("invalid_menu", _("The menu is not valid: %(reason)s") % {"reason": reason})


def _check_entry(entry, *, top: bool) -> None:
    if not isinstance(entry, dict):
        raise _invalid("an entry is not an object")
    name = entry.get("name")
    limit = 16 if top else 60
    if not isinstance(name, str) or not name or len(name.encode()) > limit:
        raise _invalid(f"name {name!r} must be 1..{limit} bytes")
    if top and "sub_button" in entry:
        subs = entry["sub_button"]
        if not isinstance(subs, list) or not 1 <= len(subs) <= 5:
            raise _invalid(f"{name}: 1 to 5 entries")
        for sub in subs:
            _check_entry(sub, top=False)
        return
    kind = entry.get("type")
    if kind not in BUTTON_TYPES:
        raise _invalid(f"{name}: unknown type {kind!r}")
    if kind == "view":
        url = entry.get("url", "")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 1024:
            raise _invalid(f"{name}: the URL must be http(s) and at most 1024 characters")
    elif kind == "click" and not (isinstance(entry.get("key"), str) and 0 < len(entry["key"].encode()) <= 128):
        raise _invalid(f"{name}: a click needs a key of at most 128 bytes")


def validate(menu) -> dict:
    if not isinstance(menu, dict) or not isinstance(menu.get("button"), list) or not 1 <= len(menu["button"]) <= 3:
        raise _invalid("1 to 3 buttons")
    for entry in menu["button"]:
        _check_entry(entry, top=True)
    return menu


def build_menu() -> dict:
    """The menu to publish: ``WECHAT_MENU`` if set (a dict or its JSON), else the default, with the names in
    the hospital's language (``LANGUAGE_CODE``; the menu is the same for every follower)."""
    configured = getattr(settings, "WECHAT_MENU", None)
    if configured:
        if isinstance(configured, str):
            try:
                configured = json.loads(configured)
            except ValueError:
                raise _invalid("WECHAT_MENU is not JSON") from None
        return validate(configured)
    return validate(default_menu())


def _may_publish(actor) -> bool:
    if actor is None:  # the management command, run by whoever operates the deployment
        return True
    return bool(getattr(actor, "is_authenticated", False) and actor.is_active
                and (actor.is_superuser or getattr(actor, "role", "") == "admin"))


def publish(*, actor) -> MenuPublication:
    """Send the menu to WeChat and record the outcome. WeChat refusing it or being unreachable is recorded
    (``ok`` False, ``error``) and returned, not raised; a bad menu is refused before anything is sent."""
    if not _may_publish(actor):
        raise Forbidden("not_allowed", _("Only hospital administrators can publish the WeChat menu."))
    body = build_menu()
    from . import client  # the API adapter; imported here so that pages work without it being configured

    error = ""
    try:
        client.get_client().create_menu(menu=body)
    except client.WeChatError as exc:
        error = f"{getattr(exc, 'errcode', '')} {getattr(exc, 'errmsg', '') or exc}".strip()[:500]
        logger.warning("wechat: publishing the menu failed: %s", error)
    with transaction.atomic():
        publication = MenuPublication.objects.create(
            by=actor if getattr(actor, "is_authenticated", False) else None, body=body, ok=not error, error=error
        )
        audit.record(
            actor=actor, action=AuditAction.UPDATE, obj=publication,
            outcome=AuditOutcome.OK if not error else AuditOutcome.FAILED,
            detail={"menu": "published" if not error else "refused", "error": error},
        )
    return publication
