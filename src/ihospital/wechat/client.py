"""The WeChat Official Account API, as the platform uses it: the access token, template messages, the menu and
the web authorisation (OAuth 2.0) — the same calls against ``api.weixin.qq.com`` / ``open.weixin.qq.com`` in
production and against the local simulator (``ihospital.wechat.simulator``) in the embedded deployment and the
tests; only ``WECHAT_API_BASE`` / ``WECHAT_OAUTH_BASE`` differ.

* The access token (``/cgi-bin/token``) is cached in the database (``AccessToken``, one row per app id), shared by
  the web processes and the task worker, and fetched again under the row's lock about five minutes before it
  expires: one process refreshes, the others use its token. WeChat invalidates a token when a newer one is issued,
  so a call answered 40001/40014/42001 (invalid/expired token) refreshes once — unless another process already
  has — and is tried again.
* Every answer with ``errcode`` other than 0 raises :class:`WeChatError`; a network failure, an HTTP 5xx or
  errcode -1 ("system busy") raises :class:`WeChatUnavailable`, which callers may retry later.
* The tokens and the app secret never appear in an exception or a log line.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

# A cached token is replaced this long before WeChat says it expires.
REFRESH_MARGIN = timedelta(minutes=5)
# The answers that mean "this access token is no good": invalid, not the latest, expired.
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
# Retryable answers: system busy, and the per-minute quota (WeChat's 45011).
BUSY_ERRORS = frozenset({-1, 45011})
SCOPES = ("snsapi_base", "snsapi_userinfo")
_LOCK = threading.Lock()


class WeChatError(Exception):
    """An API answer with ``errcode`` other than 0 (or a call that could not be made as asked)."""

    def __init__(self, errcode: int, errmsg: str):
        super().__init__(f"WeChat error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WeChatUnavailable(WeChatError):
    """WeChat could not be reached or was busy (network error, HTTP 5xx, errcode -1): try again later."""


class WeChatNotConfigured(WeChatError):
    """No app id or secret: the deployment has not configured the Official Account."""

    def __init__(self, what: str):
        super().__init__(41002, f"the Official Account is not configured ({what} missing)")


class WeChatClient:
    def __init__(self, *, appid: str | None = None, secret: str | None = None, api_base: str | None = None,
                 oauth_base: str | None = None, timeout: float | None = None):
        self.appid = settings.WECHAT_APPID if appid is None else appid
        self.secret = settings.WECHAT_SECRET if secret is None else secret
        self.api_base = (settings.WECHAT_API_BASE if api_base is None else api_base).rstrip("/")
        self.oauth_base = (settings.WECHAT_OAUTH_BASE if oauth_base is None else oauth_base).rstrip("/")
        self.timeout = float(getattr(settings, "WECHAT_TIMEOUT_SECONDS", 10) if timeout is None else timeout)

    # ---- the access token ----------------------------------------------------------------------------

    def access_token(self, *, force_refresh: bool = False) -> str:
        """The Official Account's access token, from the database cache or fetched (and cached) anew."""
        self._configured()
        if force_refresh:
            return self._refresh(force=True)
        from ihospital.wechat.models import AccessToken

        cached = AccessToken.objects.filter(appid=self.appid).first()
        if cached is not None and _fresh(cached):
            return cached.token
        return self._refresh()

    def _refresh(self, *, stale: str | None = None, force: bool = False) -> str:
        """Fetch a token under the row's lock, unless (not ``force``) the row already holds a fresh token other
        than ``stale`` (the one WeChat just refused): another process refreshed it meanwhile."""
        from ihospital.wechat.models import AccessToken

        # The row exists before it is locked, so that even the very first fetch happens once: a lock on a row
        # that does not exist yet would let every process fetch (each new token invalidating the last).
        if not AccessToken.objects.filter(appid=self.appid).exists():
            try:
                with transaction.atomic():
                    AccessToken.objects.create(appid=self.appid, token="", expires_at=timezone.now())
            except IntegrityError:
                pass  # created meanwhile by another process
        # Threads of this process wait here too (SQLite has no row locks).
        with _LOCK, transaction.atomic():
            row = AccessToken.objects.select_for_update().get(appid=self.appid)
            if not force and _fresh(row) and row.token != stale:
                return row.token
            answer = self._call("GET", self.api_base, "/cgi-bin/token", {
                "grant_type": "client_credential", "appid": self.appid, "secret": self.secret})
            token = answer.get("access_token")
            if not isinstance(token, str) or not token:
                raise WeChatError(-2, "the token answer carries no access_token")
            try:
                lifetime = int(answer.get("expires_in", 7200))
            except (TypeError, ValueError):
                lifetime = 7200
            row.token, row.expires_at = token, timezone.now() + timedelta(seconds=max(lifetime, 0))
            row.save(update_fields=["token", "expires_at"])
            logger.info("wechat: access token refreshed for %s (expires in %ss)", self.appid, lifetime)
            return token

    # ---- calls with the access token --------------------------------------------------------------

    def _with_token(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        token = self.access_token()
        try:
            return self._call(method, self.api_base, path, {"access_token": token}, body)
        except WeChatError as exc:
            if exc.errcode not in TOKEN_ERRORS or isinstance(exc, WeChatUnavailable):
                raise
            logger.info("wechat: %s answered %s; refreshing the access token once", path, exc.errcode)
        token = self._refresh(stale=token)
        return self._call(method, self.api_base, path, {"access_token": token}, body)

    def send_template(self, *, openid: str, template_id: str, data: dict, url: str) -> str:
        """Send a template message; answers WeChat's msgid. ``data``: {key: "text"} or {key: {"value": ...}}."""
        if not openid or not template_id:
            raise WeChatError(40003 if not openid else 40037, "an openid and a template id are required")
        payload = {
            "touser": openid,
            "template_id": template_id,
            "data": {k: (dict(v) if isinstance(v, dict) else {"value": str(v)}) for k, v in data.items()},
        }
        if url:
            payload["url"] = url
        answer = self._with_token("POST", "/cgi-bin/message/template/send", payload)
        return str(answer.get("msgid", ""))

    def create_menu(self, *, menu: dict) -> None:
        """Publish the custom menu: ``{"button": [...]}`` as WeChat documents it (names sent as UTF-8)."""
        self._with_token("POST", "/cgi-bin/menu/create", menu)

    # ---- web authorisation ------------------------------------------------------------------------

    def oauth_authorize_url(self, *, redirect_uri: str, scope: str, state: str) -> str:
        """Where to send the browser: WeChat's authorisation page, which returns to ``redirect_uri``."""
        self._configured(secret=False)
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}")
        # WeChat wants these parameters in this order, and the #wechat_redirect fragment.
        query = urllib.parse.urlencode(
            [("appid", self.appid), ("redirect_uri", redirect_uri), ("response_type", "code"), ("scope", scope),
             ("state", state)], quote_via=urllib.parse.quote)
        return f"{self.oauth_base}/connect/oauth2/authorize?{query}#wechat_redirect"

    def oauth_exchange(self, *, code: str) -> dict:
        """Exchange the code from the authorisation redirect: {"openid", "unionid"?, "scope", "access_token"...}."""
        self._configured()
        if not code:
            raise WeChatError(41008, "missing code")
        answer = self._call("GET", self.api_base, "/sns/oauth2/access_token", {
            "appid": self.appid, "secret": self.secret, "code": code, "grant_type": "authorization_code"})
        if not answer.get("openid"):
            raise WeChatError(-2, "the code exchange answered no openid")
        return answer

    def user_info(self, *, access_token: str, openid: str) -> dict:
        """The WeChat user's profile (snsapi_userinfo): nickname, headimgurl, unionid..."""
        return self._call("GET", self.api_base, "/sns/userinfo",
                          {"access_token": access_token, "openid": openid, "lang": "zh_CN"})

    # ---- HTTP ---------------------------------------------------------------------------------------

    def _configured(self, *, secret: bool = True) -> None:
        if not self.appid:
            raise WeChatNotConfigured("WECHAT_APPID")
        if secret and not self.secret:
            raise WeChatNotConfigured("WECHAT_SECRET")

    def _call(self, method: str, base: str, path: str, params: dict[str, str],
              body: dict[str, Any] | None = None) -> dict[str, Any]:
        url = f"{base}{path}?{urllib.parse.urlencode(params)}"
        data = None
        if body is not None:
            # UTF-8, not \\u escapes: WeChat shows escaped Chinese in menus and messages literally.
            data = json.dumps(body, ensure_ascii=False).encode()
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - configured https/http base
        if data is not None:
            request.add_header("Content-Type", "application/json; charset=utf-8")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code >= 500:
                raise WeChatUnavailable(-1, f"{path}: HTTP {exc.code}") from None
            raise WeChatError(-exc.code, f"{path}: HTTP {exc.code}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise WeChatUnavailable(-1, f"{path}: {type(reason).__name__}") from None
        try:
            answer = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise WeChatUnavailable(-1, f"{path}: the answer is not JSON") from None
        if not isinstance(answer, dict):
            raise WeChatUnavailable(-1, f"{path}: the answer is not a JSON object")
        errcode = answer.get("errcode", 0)
        try:
            errcode = int(errcode or 0)
        except (TypeError, ValueError):
            errcode = -2
        if errcode:
            errmsg = str(answer.get("errmsg", ""))[:200]
            if errcode in BUSY_ERRORS:
                raise WeChatUnavailable(errcode, f"{path}: {errmsg}")
            raise WeChatError(errcode, f"{path}: {errmsg}")
        return answer


def _fresh(row) -> bool:
    return bool(row.token) and row.expires_at - REFRESH_MARGIN > timezone.now()


def get_client() -> WeChatClient:
    """The client configured by the settings (WECHAT_APPID, WECHAT_SECRET, WECHAT_API_BASE, WECHAT_OAUTH_BASE)."""
    return WeChatClient()
