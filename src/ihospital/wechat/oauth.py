"""WeChat's OAuth 2.0 web flow (网页授权) for pages opened inside WeChat.

    /wechat/oauth/start/?next=/homecare/        the page to land on: a path on this site, nothing else
        → WeChat's authorize page (…/connect/oauth2/authorize?appid&redirect_uri&response_type=code&scope&state)
        → /wechat/oauth/callback/?code=…&state=…
             state good → exchange the code for the openid (server to server)
             openid bound to a patient → signed in, redirected to next
             bound to staff            → refused: staff sign in with password and second factor only
             not bound                 → the bind page: sign in with mobile and password, or register, then bind

The ``state`` is single-use, valid for ``STATE_MAX_AGE`` seconds and bound to the browser session: it is a signed
random nonce (WeChat allows 128 characters), and the nonce with its ``next`` is kept in the session until the
callback takes it out. A state from another browser, a second use, an expired or forged one is refused, and
nothing changes. ``next`` is checked when the flow starts and again when it ends.
"""

from __future__ import annotations

import secrets
import time
from urllib.parse import urlsplit

from django.core import signing
from django.utils.translation import gettext_lazy as _

from ihospital.core.errors import DomainError

STATE_MAX_AGE = 10 * 60
STATE_SALT = "ihospital.wechat.oauth.state"
SESSION_STATES = "wechat_oauth_states"
SESSION_PENDING = "wechat_pending_identity"
PENDING_MAX_AGE = 15 * 60
MAX_OPEN_STATES = 5
SCOPES = {"base": "snsapi_base", "userinfo": "snsapi_userinfo"}


def clean_next(value: str | None, *, default: str = "/") -> str:
    """``value`` if it is a path on this site ("/homecare/…"); refuse anything else (other sites, schemes,
    "//host", backslashes, control characters)."""
    if value is None or value == "":
        return default
    if (
        len(value) > 500
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(c) < 32 or ord(c) == 127 for c in value)
    ):
        raise DomainError("invalid_next", _("This link leads outside the platform and cannot be opened."))
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        raise DomainError("invalid_next", _("This link leads outside the platform and cannot be opened."))
    if value.startswith("/wechat/oauth/"):
        return default  # never loop back into the flow
    return value


def new_state(session, *, next_url: str, scope: str) -> str:
    """A fresh state for this session; the session remembers where to go afterwards."""
    nonce = secrets.token_urlsafe(18)
    states = dict(session.get(SESSION_STATES) or {})
    now = int(time.time())
    # Keep only live states, and a few at most (several tabs may start the flow at once).
    states = {k: v for k, v in states.items() if now - int(v.get("at", 0)) <= STATE_MAX_AGE}
    while len(states) >= MAX_OPEN_STATES:
        states.pop(min(states, key=lambda k: states[k].get("at", 0)))
    states[nonce] = {"next": next_url, "scope": scope, "at": now}
    session[SESSION_STATES] = states
    return signing.TimestampSigner(salt=STATE_SALT).sign(nonce)


def take_state(session, state: str) -> dict:
    """Check ``state`` and use it up. Answers what ``new_state`` remembered; raises ``DomainError`` otherwise."""
    refused = DomainError(
        "invalid_state",
        _("This sign-in link is not valid any more (expired, used, or opened in another browser). Please try again."),
        status=400,
    )
    if not state or len(state) > 128:
        raise refused
    try:
        nonce = signing.TimestampSigner(salt=STATE_SALT).unsign(state, max_age=STATE_MAX_AGE)
    except signing.BadSignature:  # includes SignatureExpired
        raise refused from None
    states = dict(session.get(SESSION_STATES) or {})
    entry = states.pop(nonce, None)
    if entry is None:
        raise refused
    session[SESSION_STATES] = states
    return entry


def remember_identity(session, *, openid: str, unionid: str, nickname: str, next_url: str) -> None:
    session[SESSION_PENDING] = {
        "openid": openid, "unionid": unionid, "nickname": nickname, "next": next_url, "at": int(time.time()),
    }


def pending_identity(session) -> dict | None:
    """The WeChat identity proved in this session and waiting to be bound (for ``PENDING_MAX_AGE``)."""
    pending = session.get(SESSION_PENDING)
    if not pending or not pending.get("openid"):
        return None
    if time.time() - pending.get("at", 0) > PENDING_MAX_AGE:
        session.pop(SESSION_PENDING, None)
        return None
    return pending


def forget_identity(session) -> None:
    session.pop(SESSION_PENDING, None)
