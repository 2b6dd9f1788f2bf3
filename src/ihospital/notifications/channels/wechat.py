"""WeChat template messages through the Official Account (``ihospital.wechat``).

The wechat app is imported inside the functions: this module loads whether or not it is there, and notifications
never depend on it at import time. The message is the event's neutral text, the category, the time and a link
(through the WeChat sign-in, so the page opens signed in inside WeChat) — never the workflow's title or body.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext

from . import PermanentFailure, TemporaryFailure, render

# A template id used when settings.WECHAT_TEMPLATE_IDS names neither the category nor "default" (the simulator
# accepts any id; a real Official Account needs WECHAT_TEMPLATE_IDS).
DEFAULT_TEMPLATE_ID = "ihospital-service-notice"

# Answers of the template API that another attempt would not change.
PERMANENT_ERRCODES = {
    40003,  # invalid openid
    40036,  # invalid template id size
    40037,  # invalid template id
    43004,  # the user has unsubscribed from the Official Account
    47001,  # data format error
    41002,  # the Official Account is not configured (no app id)
}


def openid_for(user) -> str | None:
    try:
        from ihospital.wechat import bindings
    except ImportError:
        return None
    return bindings.openid_for(user)


def available(user) -> bool:
    try:
        return bool(openid_for(user))
    except Exception:  # noqa: BLE001 - a missing table or app: no WeChat channel
        return False


def template_id(category: str) -> str:
    ids = getattr(settings, "WECHAT_TEMPLATE_IDS", {}) or {}
    return ids.get(category) or ids.get("default") or DEFAULT_TEMPLATE_ID


def link_through_oauth(url: str, user=None) -> str:
    """A link inside the platform goes through the WeChat sign-in (/wechat/oauth/start/?next=...). Not for staff:
    they never sign in by WeChat (password and second factor), so their link is the page itself."""
    prefix = settings.SITE_URL
    if getattr(user, "needs_second_factor", False):
        return url
    if url.startswith(prefix + "/"):
        return f"{prefix}/wechat/oauth/start/?{urlencode({'next': url[len(prefix):]})}"
    return url


def template_data(delivery) -> tuple[str, dict, str]:
    message = render(delivery)
    keys = message.event.data_keys
    with translation.override(message.language):
        values = [message.text, message.event.category_label(), message.when, gettext("Tap to see the details.")]
    data = {key: {"value": value} for key, value in zip(keys, values, strict=False)}
    return template_id(message.event.category), data, link_through_oauth(message.url, delivery.notification.user)


def send(delivery) -> str:
    try:
        from ihospital.wechat import client as wechat_client
    except ImportError as exc:
        raise PermanentFailure("the wechat app is not installed", status="skipped") from exc
    openid = openid_for(delivery.notification.user)
    if not openid:
        raise PermanentFailure("no WeChat binding", status="skipped")
    tid, data, url = template_data(delivery)
    try:
        return str(wechat_client.get_client().send_template(openid=openid, template_id=tid, data=data, url=url))
    except wechat_client.WeChatUnavailable as exc:
        raise TemporaryFailure(f"WeChat unavailable: {exc}") from exc
    except wechat_client.WeChatError as exc:
        code = getattr(exc, "errcode", None)
        text = f"WeChat error {code}: {getattr(exc, 'errmsg', exc)}"
        if code in PERMANENT_ERRCODES:
            raise PermanentFailure(text) from exc
        raise TemporaryFailure(text) from exc
    except OSError as exc:
        raise TemporaryFailure(f"WeChat unreachable: {exc}") from exc
