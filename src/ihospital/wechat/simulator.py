"""A local WeChat: the Official Account platform's side, for the embedded deployment, the tests and the journey.

A standalone WSGI application (standard library only; no Django, no database; all state in memory) that answers
on WeChat's own paths, so the platform's ``WeChatClient`` talks to it exactly as to ``api.weixin.qq.com`` and
``open.weixin.qq.com`` once ``WECHAT_API_BASE`` / ``WECHAT_OAUTH_BASE`` point here:

* ``GET /cgi-bin/token`` issues access tokens (``expires_in`` 7200 unless changed through ``/_sim/expire``);
  an unknown token answers errcode 40001, an expired one 42001.
* ``POST /cgi-bin/message/template/send`` receives template messages (kept, shown on the phone and at
  ``/_sim/messages``); ``POST /cgi-bin/menu/create`` / ``GET /cgi-bin/menu/get`` keep the Official Account menu.
* ``GET /connect/oauth2/authorize`` is the phone's "Allow <app> to ..." page for the web authorisation: the
  simulated WeChat user (``sim_user``: a name chosen by query or cookie; its openid and unionid derive from it)
  allows, and the browser goes to ``redirect_uri?code=...&state=...``; ``GET /sns/oauth2/access_token`` exchanges
  the code (once, within 5 minutes) and ``GET /sns/userinfo`` answers the profile for ``snsapi_userinfo``.
* ``POST /_sim/push`` makes WeChat's server call the platform's callback (``/wechat/callback/``) with a signed
  message or event, in plain or safe (AES) mode, and reports the platform's (decrypted) reply;
  ``POST /_sim/verify`` makes the URL verification call (``echostr``).
* ``GET /_sim/phone`` is a phone: the published menu as buttons (view links open the platform's pages, click
  buttons push CLICK events), a text box that sends text messages, and the conversation with the Official
  Account, template messages included.
* Controls: ``POST /_sim/outage {"on": true}`` (API answers HTTP 503, or errcode -1 with ``"mode": "busy"``,
  until turned off), ``POST /_sim/expire`` (``{"now": true}`` expires every issued token, ``{"revoke": true}``
  forgets them, ``{"expires_in": N}`` for tokens issued later), ``GET /_sim/messages``, ``GET /_sim/menu``,
  ``GET /_sim/state``, ``GET /_sim/identity?name=...``, ``POST /_sim/reset``.

Run it alone with ``python -m ihospital.wechat.simulator --port 8001 --platform http://127.0.0.1:8000``
(``ihospital serve`` does that in the embedded deployment) or in-process with :func:`start_simulator`.
The safe mode uses wechatpy's implementation of WeChat's documented AES scheme (imported only when needed).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import html
import json
import os
import re
import secrets
import socketserver
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET  # noqa: S405 - parses only the replies of the platform this simulator serves
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

# The embedded deployment's defaults (the same as settings.py's when nothing is configured).
DEFAULT_APPID = "wx00simulator0001"
DEFAULT_SECRET = "simulator-app-secret"
DEFAULT_TOKEN = "simulatortoken"
DEFAULT_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
DEFAULT_ORIGINAL_ID = "gh_0simulator01"
DEFAULT_APP_NAME = "iHospital 互联网医院"
DEFAULT_USER = "wechat-user"
CALLBACK_PATH = "/wechat/callback/"
TOKEN_LIFETIME = 7200
CODE_LIFETIME = 300
PUSH_TIMEOUT = 10.0

SCOPES = {
    "snsapi_base": "获取你的身份标识（openid） / know who you are (your openid)",
    "snsapi_userinfo": "获取你的昵称、头像 / get your nickname and profile photo",
}


def identity(name: str, appid: str = DEFAULT_APPID) -> dict[str, str]:
    """The simulated WeChat user called ``name``: openid (per Official Account), unionid (per WeChat user)."""
    name = (name or DEFAULT_USER).strip()[:64] or DEFAULT_USER
    openid = "o" + hashlib.sha256(f"{appid}:{name}".encode()).hexdigest()[:27]
    unionid = "u" + hashlib.sha256(f"union:{name}".encode()).hexdigest()[:27]
    return {"name": name, "openid": openid, "unionid": unionid, "nickname": name}


def signature(token: str, *parts: str) -> str:
    """WeChat's callback signature: SHA-1 of the sorted, concatenated token/timestamp/nonce(/ciphertext)."""
    return hashlib.sha1("".join(sorted([token, *parts])).encode()).hexdigest()  # noqa: S324 - WeChat's scheme


def _cdata(value: Any) -> str:
    return "<![CDATA[" + str(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"


@dataclass
class State:
    """Everything the simulator remembers (in memory), behind one lock."""

    appid: str = DEFAULT_APPID
    secret: str = DEFAULT_SECRET
    token: str = DEFAULT_TOKEN
    aes_key: str = DEFAULT_AES_KEY
    original_id: str = DEFAULT_ORIGINAL_ID
    app_name: str = DEFAULT_APP_NAME
    platform_url: str = ""
    callback_path: str = CALLBACK_PATH
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    # access token -> expiry (time.time()); OAuth codes and web tokens -> their record
    tokens: dict[str, float] = field(default_factory=dict)
    token_lifetime: int = TOKEN_LIFETIME
    token_requests: int = 0
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    web_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    menu: dict[str, Any] | None = None
    menu_raw: str = ""
    outage: str = ""  # "" (none), "http" (503) or "busy" (errcode -1)
    pushes: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    next_msgid: int = 1000

    def reset(self) -> None:
        with self.lock:
            self.tokens.clear()
            self.token_lifetime = TOKEN_LIFETIME
            self.token_requests = 0
            self.codes.clear()
            self.web_tokens.clear()
            self.messages.clear()
            self.menu = None
            self.menu_raw = ""
            self.outage = ""
            self.pushes.clear()
            self.requests.clear()

    def identity(self, name: str) -> dict[str, str]:
        return identity(name, self.appid)

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {
                "appid": self.appid,
                "platform_url": self.platform_url,
                "outage": self.outage,
                "token_lifetime": self.token_lifetime,
                "token_requests": self.token_requests,
                "tokens_live": sum(1 for expiry in self.tokens.values() if expiry > time.time()),
                "messages": len(self.messages),
                "menu": self.menu is not None,
                "pushes": len(self.pushes),
                "requests": [list(r) for r in self.requests[-50:]],
            }


class Simulator:
    """A running simulator (see :func:`start_simulator`): ``url``, ``state``, ``stop()`` and test helpers."""

    def __init__(self, server: WSGIServer, app: SimulatorApp, thread: threading.Thread | None = None):
        self.server = server
        self.app = app
        self.state = app.state
        self.thread = thread
        host, port = server.server_address[:2]
        self.port = port
        self.url = f"http://{host}:{port}"

    @property
    def phone_url(self) -> str:
        return f"{self.url}/_sim/phone"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)

    # Helpers for in-process tests (the same as the /_sim/ endpoints).
    def reset(self) -> None:
        self.state.reset()

    def messages(self, openid: str | None = None) -> list[dict[str, Any]]:
        with self.state.lock:
            return [dict(m) for m in self.state.messages if openid is None or m["touser"] == openid]

    def identity(self, name: str = DEFAULT_USER) -> dict[str, str]:
        return self.state.identity(name)

    def set_outage(self, on: bool = True, mode: str = "http") -> None:
        with self.state.lock:
            self.state.outage = mode if on else ""

    def expire_tokens(self, *, revoke: bool = False) -> None:
        self.app.expire({"revoke": revoke, "now": not revoke})

    def push(self, **kwargs: Any) -> dict[str, Any]:
        """Send a signed message/event to the platform's callback; see :meth:`SimulatorApp.push`."""
        return self.app.push(**kwargs)

    def signed_request(self, **kwargs: Any) -> tuple[dict[str, str], bytes]:
        """The query and body WeChat would send, without sending them (for Django's test client)."""
        return self.app.build_push(**kwargs)

    def verify(self, platform_url: str | None = None) -> dict[str, Any]:
        return self.app.verify(platform_url)


class _Response(Exception):
    """Raised inside a handler to answer at once."""

    def __init__(self, status: str, body: bytes | str, content_type: str = "application/json",
                 headers: list[tuple[str, str]] | None = None):
        super().__init__(status)
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.content_type = content_type
        self.headers = headers or []


def _json(data: Any, status: str = "200 OK") -> _Response:
    return _Response(status, json.dumps(data, ensure_ascii=False), "application/json; charset=utf-8")


def _html(body: str, status: str = "200 OK", headers: list[tuple[str, str]] | None = None) -> _Response:
    return _Response(status, body, "text/html; charset=utf-8", headers)


def _redirect(location: str, headers: list[tuple[str, str]] | None = None) -> _Response:
    return _Response("302 Found", b"", "text/plain", [("Location", location), *(headers or [])])


def _err(errcode: int, errmsg: str) -> _Response:
    return _json({"errcode": errcode, "errmsg": errmsg})


class Request:
    def __init__(self, environ: dict[str, Any]):
        self.environ = environ
        self.method = environ.get("REQUEST_METHOD", "GET").upper()
        self.path = environ.get("PATH_INFO", "/") or "/"
        self.query = {k: v[0] for k, v in urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).items()}
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        self.body = environ["wsgi.input"].read(length) if length > 0 else b""
        cookie = SimpleCookie()
        with contextlib.suppress(Exception):  # a malformed cookie header is ignored
            cookie.load(environ.get("HTTP_COOKIE", ""))
        self.cookies = {k: m.value for k, m in cookie.items()}

    def json(self) -> dict[str, Any]:
        if not self.body.strip():
            return {}
        try:
            data = json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _err(47001, "data format error: body is not JSON") from exc
        if not isinstance(data, dict):
            raise _err(47001, "data format error: body is not a JSON object")
        return data

    def form(self) -> dict[str, str]:
        ctype = self.environ.get("CONTENT_TYPE", "")
        if "json" in ctype:
            return {k: str(v) for k, v in self.json().items()}
        return {k: v[0] for k, v in urllib.parse.parse_qs(self.body.decode("utf-8", "replace")).items()}

    def sim_user(self) -> str:
        cookie = urllib.parse.unquote(self.cookies.get("sim_user", ""))
        return (self.query.get("sim_user") or cookie or DEFAULT_USER).strip()[:64] or DEFAULT_USER


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class SimulatorApp:
    """The WSGI application."""

    def __init__(self, state: State):
        self.state = state
        self.routes = {
            ("GET", "/cgi-bin/token"): self.get_token,
            ("POST", "/cgi-bin/message/template/send"): self.template_send,
            ("POST", "/cgi-bin/menu/create"): self.menu_create,
            ("GET", "/cgi-bin/menu/get"): self.menu_get,
            ("GET", "/cgi-bin/get_current_selfmenu_info"): self.menu_get,
            ("GET", "/connect/oauth2/authorize"): self.authorize_page,
            ("GET", "/connect/oauth2/authorize/allow"): self.authorize_allow,
            ("GET", "/sns/oauth2/access_token"): self.sns_access_token,
            ("GET", "/sns/userinfo"): self.sns_userinfo,
            ("GET", "/_sim/messages"): self.sim_messages,
            ("GET", "/_sim/menu"): self.sim_menu,
            ("GET", "/_sim/state"): lambda r: _json(self.state.summary()),
            ("GET", "/_sim/identity"): lambda r: _json(self.state.identity(r.query.get("name", DEFAULT_USER))),
            ("POST", "/_sim/outage"): self.sim_outage,
            ("POST", "/_sim/expire"): self.sim_expire,
            ("POST", "/_sim/reset"): self.sim_reset,
            ("POST", "/_sim/push"): self.sim_push,
            ("POST", "/_sim/verify"): self.sim_verify,
            ("GET", "/_sim/phone"): self.phone,
            ("GET", "/_sim/phone/open"): self.phone_open,
            ("POST", "/_sim/phone/click"): self.phone_click,
            ("POST", "/_sim/phone/send"): self.phone_send,
            ("POST", "/_sim/phone/subscribe"): self.phone_subscribe,
            ("GET", "/"): lambda r: _redirect("/_sim/phone"),
        }

    def __call__(self, environ: dict[str, Any], start_response):
        request = Request(environ)
        with self.state.lock:
            self.state.requests.append((request.method, request.path))
            del self.state.requests[:-500]
        try:
            response = self._dispatch(request)
        except _Response as answer:
            response = answer
        except Exception as exc:  # noqa: BLE001 - a bug in the simulator answers 500, as a server would
            response = _json({"errcode": -1, "errmsg": f"simulator error: {type(exc).__name__}: {exc}"},
                             "500 Internal Server Error")
        headers = [("Content-Type", response.content_type), ("Content-Length", str(len(response.body))),
                   ("Cache-Control", "no-store"), *response.headers]
        start_response(response.status, headers)
        return [response.body]

    def _dispatch(self, request: Request) -> _Response:
        path = request.path.rstrip("/") or "/"
        handler = self.routes.get((request.method, path))
        if handler is None:
            if any(known == path for _, known in self.routes):
                return _Response("405 Method Not Allowed", "method not allowed", "text/plain")
            return _Response("404 Not Found", "not found", "text/plain")
        if request.path.startswith(("/cgi-bin/", "/sns/")):
            self._outage_check()
        return handler(request)

    # ---- the API ---------------------------------------------------------------------------------------

    def _outage_check(self) -> None:
        mode = self.state.outage
        if mode == "busy":
            raise _err(-1, "system error")
        if mode:
            raise _Response("503 Service Unavailable", "<html><body>503 Service Unavailable</body></html>",
                            "text/html")

    def _check_token(self, request: Request) -> None:
        token = request.query.get("access_token", "")
        if not token:
            raise _err(41001, "access_token missing")
        with self.state.lock:
            expiry = self.state.tokens.get(token)
        if expiry is None:
            raise _err(40001, "invalid credential, access_token is invalid or not latest")
        if expiry <= time.time():
            raise _err(42001, "access_token expired")

    def get_token(self, request: Request) -> _Response:
        q = request.query
        if q.get("grant_type") != "client_credential":
            return _err(40002, "invalid grant_type")
        if q.get("appid") != self.state.appid:
            return _err(40013, "invalid appid")
        if q.get("secret") != self.state.secret:
            return _err(40125, "invalid appsecret")
        token = "SIM" + secrets.token_urlsafe(48)
        with self.state.lock:
            self.state.token_requests += 1
            lifetime = self.state.token_lifetime
            self.state.tokens[token] = time.time() + lifetime
        return _json({"access_token": token, "expires_in": lifetime})

    def template_send(self, request: Request) -> _Response:
        self._check_token(request)
        body = request.json()
        touser, template_id, data = body.get("touser"), body.get("template_id"), body.get("data")
        if not isinstance(touser, str) or not touser:
            return _err(40003, "invalid openid")
        if not isinstance(template_id, str) or not template_id:
            return _err(40037, "invalid template_id")
        if not isinstance(data, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("value"), str) for v in data.values()
        ):
            return _err(47001, 'data format error: data must be {"key": {"value": "..."}}')
        url = body.get("url", "")
        if url and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
            return _err(40039, "invalid url")
        with self.state.lock:
            self.state.next_msgid += 1
            msgid = self.state.next_msgid
            self.state.messages.append({
                "msgid": msgid, "touser": touser, "template_id": template_id, "url": url, "data": data,
                "miniprogram": body.get("miniprogram"), "client_msg_id": body.get("client_msg_id", ""),
                "received_at": time.time(), "raw": request.body.decode("utf-8", "replace"),
            })
        return _json({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    def menu_create(self, request: Request) -> _Response:
        self._check_token(request)
        body = request.json()
        problem = _menu_problem(body)
        if problem:
            return _err(*problem)
        with self.state.lock:
            self.state.menu = body
            self.state.menu_raw = request.body.decode("utf-8", "replace")
        return _err(0, "ok")

    def menu_get(self, request: Request) -> _Response:
        self._check_token(request)
        with self.state.lock:
            menu = self.state.menu
        if menu is None:
            return _err(46003, "menu no exist")
        return _json({"menu": menu})

    # ---- web authorisation (OAuth 2.0) -----------------------------------------------------------------

    def _authorize_params(self, request: Request) -> tuple[dict[str, str], str | None]:
        q = request.query
        params = {k: q.get(k, "") for k in ("appid", "redirect_uri", "response_type", "scope", "state")}
        if params["appid"] != self.state.appid:
            return params, "appid 参数错误 / invalid appid (10016)"
        redirect = urllib.parse.urlsplit(params["redirect_uri"])
        if redirect.scheme not in {"http", "https"} or not redirect.netloc:
            return params, "redirect_uri 参数错误 / invalid redirect_uri (10003)"
        if params["response_type"] != "code":
            return params, "response_type 参数错误 / invalid response_type (10004)"
        if params["scope"] not in SCOPES:
            return params, "scope 参数错误或没有 scope 权限 / invalid scope (10005)"
        if len(params["state"].encode()) > 128:
            return params, "state 参数过长 / state longer than 128 bytes"
        return params, None

    def authorize_page(self, request: Request) -> _Response:
        params, problem = self._authorize_params(request)
        if problem:
            return _html(_page("授权错误 / Authorisation error", f'<p class="error">{html.escape(problem)}</p>'),
                         "400 Bad Request")
        who = self.state.identity(request.sim_user())
        hidden = "".join(f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in params.items())
        app = html.escape(self.state.app_name)
        body = f"""
<div class="card">
  <p class="app">{app}</p>
  <h1>申请使用 / requests to</h1>
  <p class="scope">{html.escape(SCOPES[params['scope']])}</p>
  <p class="who">微信用户 / WeChat user: <strong id="sim-user">{html.escape(who['name'])}</strong><br>
     <small>openid <code id="sim-openid">{who['openid']}</code></small></p>
  <form method="get" action="/connect/oauth2/authorize/allow">
    {hidden}<input type="hidden" name="sim_user" value="{html.escape(who['name'])}">
    <button type="submit" name="decision" value="allow" class="primary" id="allow">允许 / Allow</button>
    <button type="submit" name="decision" value="deny" id="deny">拒绝 / Deny</button>
  </form>
  <details><summary>换一个微信用户 / another WeChat user</summary>
    <form method="get" action="/connect/oauth2/authorize">
      {''.join(f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in params.items())}
      <input name="sim_user" value="{html.escape(who['name'])}" aria-label="sim_user">
      <button type="submit">切换 / switch</button>
    </form></details>
</div>"""
        return _html(_page(f"{app} — 授权 / Allow", body), headers=[_user_cookie(who["name"])])

    def authorize_allow(self, request: Request) -> _Response:
        params, problem = self._authorize_params(request)
        if problem:
            return _html(_page("授权错误 / Authorisation error", f'<p class="error">{html.escape(problem)}</p>'),
                         "400 Bad Request")
        who = self.state.identity(request.sim_user())
        if request.query.get("decision") == "deny":
            # WeChat's documented behaviour: back to redirect_uri with the state only, no code.
            return _redirect(_add_query(params["redirect_uri"], {"state": params["state"]}))
        code = secrets.token_hex(16)
        with self.state.lock:
            now = time.time()
            self.state.codes = {c: r for c, r in self.state.codes.items() if r["expires"] > now}
            self.state.codes[code] = {**who, "scope": params["scope"], "expires": now + CODE_LIFETIME, "used": False}
        location = _add_query(params["redirect_uri"], {"code": code, "state": params["state"]})
        return _redirect(location, [_user_cookie(who["name"])])

    def sns_access_token(self, request: Request) -> _Response:
        q = request.query
        if q.get("appid") != self.state.appid:
            return _err(40013, "invalid appid")
        if q.get("secret") != self.state.secret:
            return _err(40125, "invalid appsecret")
        if q.get("grant_type") != "authorization_code":
            return _err(40002, "invalid grant_type")
        with self.state.lock:
            record = self.state.codes.get(q.get("code", ""))
            if record is None or record["expires"] <= time.time():
                return _err(40029, "invalid code")
            if record["used"]:
                return _err(40163, "code been used")
            record["used"] = True
            token = "SNS" + secrets.token_urlsafe(32)
            self.state.web_tokens[token] = {**record, "expires": time.time() + TOKEN_LIFETIME}
        return _json({
            "access_token": token, "expires_in": TOKEN_LIFETIME, "refresh_token": "R" + secrets.token_urlsafe(32),
            "openid": record["openid"], "scope": record["scope"], "unionid": record["unionid"],
        })

    def sns_userinfo(self, request: Request) -> _Response:
        with self.state.lock:
            record = self.state.web_tokens.get(request.query.get("access_token", ""))
        if record is None or record["expires"] <= time.time():
            return _err(40001, "invalid credential, access_token is invalid or not latest")
        if request.query.get("openid") != record["openid"]:
            return _err(40003, "invalid openid")
        if record["scope"] != "snsapi_userinfo":
            return _err(48001, "api unauthorized")
        return _json({
            "openid": record["openid"], "nickname": record["nickname"], "sex": 0, "province": "", "city": "",
            "country": "", "headimgurl": "", "privilege": [], "unionid": record["unionid"],
        })

    # ---- calling the platform ------------------------------------------------------------------------

    def _crypto(self):
        from wechatpy.crypto import WeChatCrypto

        return WeChatCrypto(self.state.token, self.state.aes_key, self.state.appid)

    def build_push(self, *, kind: str = "text", openid: str = "", sim_user: str = "", content: str = "",
                   event: str = "", event_key: str = "", msg_id: int | str | None = None, safe: bool = False,
                   forge: bool | str = False, create_time: int | None = None, **_ignored: Any
                   ) -> tuple[dict[str, str], bytes]:
        """The query parameters and XML body of one callback, signed as WeChat signs it.

        ``kind`` "text" (``content``) or "event" (``event`` subscribe/unsubscribe/CLICK/VIEW/SCAN, ``event_key``);
        the sender is ``openid`` or the simulated user ``sim_user``; ``safe`` encrypts (AES, safe mode);
        ``forge`` ("signature" / "msg_signature" / True = both) signs with the wrong token.
        """
        if not openid:
            openid = self.state.identity(sim_user or DEFAULT_USER)["openid"]
        now = int(create_time or time.time())
        fields = [("ToUserName", _cdata(self.state.original_id)), ("FromUserName", _cdata(openid)),
                  ("CreateTime", str(now))]
        if kind == "event":
            fields += [("MsgType", _cdata("event")), ("Event", _cdata(event or "subscribe"))]
            if event_key or event in {"CLICK", "VIEW", "SCAN"}:
                fields.append(("EventKey", _cdata(event_key)))
        elif kind == "text":
            if msg_id is None:
                msg_id = int(time.time() * 1000) * 1000 + secrets.randbelow(1000)
            fields += [("MsgType", _cdata("text")), ("Content", _cdata(content)), ("MsgId", str(msg_id))]
        else:
            raise ValueError(f"unknown kind {kind!r}: text or event")
        plain = "<xml>" + "".join(f"<{k}>{v}</{k}>" for k, v in fields) + "</xml>"
        timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
        token = self.state.token
        bad = "forged-" + secrets.token_hex(4)
        sign_token = bad if forge in {True, "signature"} else token
        query = {"signature": signature(sign_token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
                 "openid": openid}
        if not safe:
            return query, plain.encode()
        encrypted = ET.fromstring(self._crypto().encrypt_message(plain, nonce, timestamp))  # noqa: S314
        ciphertext = encrypted.findtext("Encrypt") or ""
        if forge == "ciphertext":
            # Tampered in transit: one base64 character changed, the signature still the original's.
            msg_sig = signature(token, timestamp, nonce, ciphertext)
            ciphertext = ("A" if ciphertext[10] != "A" else "B").join([ciphertext[:10], ciphertext[11:]])
        else:
            msg_sig = signature(bad if forge in {True, "msg_signature"} else token, timestamp, nonce, ciphertext)
        query.update(encrypt_type="aes", msg_signature=msg_sig)
        body = (f"<xml><ToUserName>{_cdata(self.state.original_id)}</ToUserName>"
                f"<Encrypt>{_cdata(ciphertext)}</Encrypt></xml>")
        return query, body.encode()

    def push(self, *, platform_url: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Send one signed callback (see :meth:`build_push`) and report what the platform answered."""
        query, body = self.build_push(**kwargs)
        base = (platform_url or self.state.platform_url or "").rstrip("/")
        if not base:
            raise ValueError("no platform url: start the simulator with platform_url or pass platform_url")
        url = base + self.state.callback_path + "?" + urllib.parse.urlencode(query)
        status, raw, error = _http("POST", url, body, "text/xml; charset=utf-8")
        result: dict[str, Any] = {"status": status, "raw": raw.decode("utf-8", "replace"), "error": error,
                                  "openid": query["openid"], "safe": bool(kwargs.get("safe")),
                                  "sent": body.decode(), "query": query, "reply": "", "reply_fields": {},
                                  "reply_error": ""}
        text = result["raw"].strip()
        if status == 200 and text and text != "success":
            try:
                reply = text
                if kwargs.get("safe"):
                    doc = ET.fromstring(text)  # noqa: S314
                    reply = self._crypto().decrypt_message(
                        text, doc.findtext("MsgSignature") or "", doc.findtext("TimeStamp") or "",
                        doc.findtext("Nonce") or "")
                result["reply"] = reply
                result["reply_fields"] = _xml_fields(reply)
            except Exception as exc:  # noqa: BLE001 - any unreadable reply is reported, not raised
                result["reply_error"] = f"{type(exc).__name__}: {exc}"
        entry = {"at": time.time(), "openid": query["openid"], "kind": kwargs.get("kind", "text"),
                 "content": kwargs.get("content", ""), "event": kwargs.get("event", ""),
                 "event_key": kwargs.get("event_key", ""), "status": status, "error": error,
                 "reply_fields": result["reply_fields"], "reply_error": result["reply_error"]}
        with self.state.lock:
            self.state.pushes.append(entry)
            del self.state.pushes[:-200]
        return result

    def verify(self, platform_url: str | None = None) -> dict[str, Any]:
        """WeChat's server URL verification: GET with signature/timestamp/nonce/echostr; the echo must match."""
        base = (platform_url or self.state.platform_url or "").rstrip("/")
        if not base:
            raise ValueError("no platform url")
        timestamp, nonce, echostr = str(int(time.time())), secrets.token_hex(5), secrets.token_hex(8)
        query = {"signature": signature(self.state.token, timestamp, nonce), "timestamp": timestamp,
                 "nonce": nonce, "echostr": echostr}
        status, raw, error = _http("GET", base + self.state.callback_path + "?" + urllib.parse.urlencode(query))
        return {"status": status, "ok": status == 200 and raw.decode("utf-8", "replace") == echostr,
                "error": error}

    def expire(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.state.lock:
            if "expires_in" in body:
                self.state.token_lifetime = max(1, int(body["expires_in"]))
            if body.get("revoke"):
                self.state.tokens.clear()
            elif body.get("now"):
                past = time.time() - 1
                self.state.tokens = dict.fromkeys(self.state.tokens, past)
            return {"token_lifetime": self.state.token_lifetime, "tokens": len(self.state.tokens)}

    # ---- controls ------------------------------------------------------------------------------------

    def sim_messages(self, request: Request) -> _Response:
        openid = request.query.get("touser") or (
            self.state.identity(request.query["sim_user"])["openid"] if request.query.get("sim_user") else None)
        with self.state.lock:
            messages = [{k: v for k, v in m.items() if k != "raw"} for m in self.state.messages
                        if openid is None or m["touser"] == openid]
        return _json({"messages": messages})

    def sim_menu(self, request: Request) -> _Response:
        with self.state.lock:
            return _json({"menu": self.state.menu, "raw": self.state.menu_raw})

    def sim_outage(self, request: Request) -> _Response:
        body = request.json()
        mode = str(body.get("mode") or "http")
        if mode not in {"http", "busy"}:
            return _json({"error": "mode: http or busy"}, "400 Bad Request")
        with self.state.lock:
            self.state.outage = mode if body.get("on", True) else ""
            return _json({"outage": self.state.outage})

    def sim_expire(self, request: Request) -> _Response:
        try:
            return _json(self.expire(request.json()))
        except (TypeError, ValueError):
            return _json({"error": "expires_in: a number of seconds"}, "400 Bad Request")

    def sim_reset(self, request: Request) -> _Response:
        self.state.reset()
        return _json({"ok": True})

    def sim_push(self, request: Request) -> _Response:
        body = request.json()
        allowed = {"kind", "openid", "sim_user", "content", "event", "event_key", "msg_id", "safe", "forge",
                   "platform_url", "create_time"}
        try:
            return _json(self.push(**{k: v for k, v in body.items() if k in allowed}))
        except (TypeError, ValueError) as exc:
            return _json({"error": str(exc)}, "400 Bad Request")

    def sim_verify(self, request: Request) -> _Response:
        try:
            return _json(self.verify(request.json().get("platform_url")))
        except ValueError as exc:
            return _json({"error": str(exc)}, "400 Bad Request")

    # ---- the phone -----------------------------------------------------------------------------------

    def phone(self, request: Request) -> _Response:
        who = self.state.identity(request.sim_user())
        with self.state.lock:
            menu = self.state.menu
            pushes = [p for p in self.state.pushes if p["openid"] == who["openid"]]
            templates = [m for m in self.state.messages if m["touser"] == who["openid"]]
        timeline: list[tuple[float, str]] = []
        for p in pushes:
            if p["kind"] == "text":
                timeline.append((p["at"], f'<div class="bubble me">{html.escape(p["content"])}</div>'))
            elif p["event"] == "subscribe":
                timeline.append((p["at"], '<div class="sys">已关注 / followed</div>'))
            if p["error"] or p["status"] not in (200, 0) or p["reply_error"]:
                problem = p["error"] or p["reply_error"] or f"HTTP {p['status']}"
                timeline.append((p["at"], f'<div class="sys error">{html.escape(problem)}</div>'))
            elif p["reply_fields"]:
                timeline.append((p["at"], _render_reply(p["reply_fields"])))
        for m in templates:
            rows = "".join(f"<div><span>{html.escape(k)}</span> {html.escape(v.get('value', ''))}</div>"
                           for k, v in m["data"].items())
            link = (f'<a class="detail" href="{html.escape(m["url"])}">详情 / Details</a>' if m["url"] else "")
            timeline.append((m["received_at"], f'<div class="template" data-msgid="{m["msgid"]}">'
                                               f'<div class="tt">模板消息 / template message</div>{rows}{link}</div>'))
        timeline.sort(key=lambda item: item[0])
        chat = "".join(item for _, item in timeline) or '<div class="sys">—</div>'
        buttons = ""
        for button in (menu or {}).get("button", []):
            subs = button.get("sub_button") or []
            if isinstance(subs, dict):  # menu/get's shape
                subs = subs.get("list", [])
            if subs:
                items = "".join(_menu_item(s) for s in subs)
                buttons += (f'<details class="menu"><summary>{html.escape(button.get("name", ""))}</summary>'
                            f'<div class="subs">{items}</div></details>')
            else:
                buttons += _menu_item(button)
        if not buttons:
            buttons = '<span class="sys">尚未发布菜单 / no menu published</span>'
        body = f"""
<header><strong>{html.escape(self.state.app_name)}</strong>
  <form method="get" action="/_sim/phone" class="who">
    <input name="sim_user" value="{html.escape(who['name'])}" aria-label="sim_user" size="10">
    <button type="submit">👤</button></form>
  <small>openid <code id="sim-openid">{who['openid']}</code></small></header>
<main class="chat" id="chat">{chat}</main>
<form method="post" action="/_sim/phone/subscribe" class="follow"><button type="submit">关注 / Follow</button></form>
<form method="post" action="/_sim/phone/send" class="send">
  <input name="content" aria-label="message" placeholder="消息 / message" required>
  <button type="submit">发送 / Send</button></form>
<nav class="menubar" id="menubar">{buttons}</nav>"""
        return _html(_page(f"{self.state.app_name} — WeChat", body, phone=True), headers=[_user_cookie(who["name"])])

    def _phone_push(self, request: Request, **kwargs: Any) -> _Response:
        who = self.state.identity(request.sim_user())
        with contextlib.suppress(ValueError):  # no platform url: the phone shows no answer
            self.push(openid=who["openid"], **kwargs)
        return _redirect("/_sim/phone", [_user_cookie(who["name"])])

    def phone_click(self, request: Request) -> _Response:
        return self._phone_push(request, kind="event", event="CLICK", event_key=request.form().get("key", ""))

    def phone_send(self, request: Request) -> _Response:
        content = request.form().get("content", "").strip()
        if not content:
            return _redirect("/_sim/phone")
        return self._phone_push(request, kind="text", content=content[:2000])

    def phone_subscribe(self, request: Request) -> _Response:
        return self._phone_push(request, kind="event", event="subscribe")

    def phone_open(self, request: Request) -> _Response:
        """A view button: WeChat tells the platform (VIEW event, in the background) and opens the page."""
        url = request.query.get("url", "")
        if not url.startswith(("http://", "https://")):
            return _html(_page("Error", '<p class="error">invalid url</p>'), "400 Bad Request")
        # A real Official Account's OAuth link names open.weixin.qq.com: the simulated phone opens it here.
        parts = urllib.parse.urlsplit(url)
        if parts.path == "/connect/oauth2/authorize":
            url = urllib.parse.urlunsplit(("", "", parts.path, parts.query, ""))
        if self.state.platform_url:
            openid = self.state.identity(request.sim_user())["openid"]
            threading.Thread(target=self._quiet_push, daemon=True,
                             kwargs={"openid": openid, "kind": "event", "event": "VIEW",
                                     "event_key": request.query.get("url", "")}).start()
        return _redirect(url, [_user_cookie(request.sim_user())])

    def _quiet_push(self, **kwargs: Any) -> None:
        with contextlib.suppress(Exception):  # the VIEW event is informational
            self.push(**kwargs)


# ---- helpers -------------------------------------------------------------------------------------------


def _http(method: str, url: str, body: bytes | None = None, content_type: str = "") -> tuple[int, bytes, str]:
    req = urllib.request.Request(url, data=body, method=method)  # noqa: S310 - http(s) urls built above
    if content_type:
        req.add_header("Content-Type", content_type)
    req.add_header("User-Agent", "Mozilla/5.0 (ihospital WeChat simulator)")
    try:
        with urllib.request.urlopen(req, timeout=PUSH_TIMEOUT) as response:  # noqa: S310
            return response.status, response.read(), ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), ""
    except (urllib.error.URLError, OSError) as exc:
        return 0, b"", f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"


def _add_query(url: str, params: dict[str, str]) -> str:
    parts = urllib.parse.urlsplit(url)
    query = parts.query + ("&" if parts.query else "") + urllib.parse.urlencode(params)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _user_cookie(name: str) -> tuple[str, str]:
    return ("Set-Cookie", f"sim_user={urllib.parse.quote(name)}; Path=/; SameSite=Lax")


def _xml_fields(text: str) -> dict[str, Any]:
    root = ET.fromstring(text)  # noqa: S314
    fields: dict[str, Any] = {}
    for child in root:
        if child.tag == "Articles":
            fields["Articles"] = [{c.tag: (c.text or "") for c in item} for item in child]
        elif len(child):
            fields[child.tag] = {c.tag: (c.text or "") for c in child}
        else:
            fields[child.tag] = child.text or ""
    return fields


_LINK = re.compile(r'<a\s+href=(["\'])(?P<href>[^"\']*)\1\s*>(?P<text>.*?)</a>', re.S)


def _render_text(content: str) -> str:
    """A text reply: WeChat shows <a href> links; everything else is text."""
    out, pos = [], 0
    for m in _LINK.finditer(content):
        out.append(html.escape(content[pos:m.start()]))
        href = m.group("href")
        if href.startswith(("http://", "https://", "/")):
            out.append(f'<a href="{html.escape(href)}">{html.escape(m.group("text"))}</a>')
        else:
            out.append(html.escape(m.group(0)))
        pos = m.end()
    out.append(html.escape(content[pos:]))
    return "".join(out).replace("\n", "<br>")


def _render_reply(fields: dict[str, Any]) -> str:
    kind = fields.get("MsgType", "")
    if kind == "text":
        return f'<div class="bubble them">{_render_text(fields.get("Content", ""))}</div>'
    if kind == "news":
        items = "".join(
            f'<a class="article" href="{html.escape(a.get("Url", ""))}"><strong>{html.escape(a.get("Title", ""))}'
            f'</strong><br><small>{html.escape(a.get("Description", ""))}</small></a>'
            for a in fields.get("Articles", []))
        return f'<div class="bubble them news">{items}</div>'
    return f'<div class="bubble them">[{html.escape(kind or "reply")}]</div>'


def _menu_item(button: dict[str, Any]) -> str:
    name = html.escape(str(button.get("name", "")))
    kind = button.get("type")
    if kind == "view":
        href = "/_sim/phone/open?" + urllib.parse.urlencode({"url": button.get("url", "")})
        return f'<a class="mbtn" href="{html.escape(href)}">{name}</a>'
    if kind == "click":
        return (f'<form method="post" action="/_sim/phone/click" class="mform"><input type="hidden" name="key" '
                f'value="{html.escape(str(button.get("key", "")))}"><button class="mbtn" type="submit">{name}'
                f"</button></form>")
    return f'<span class="mbtn disabled" title="{html.escape(str(kind))}">{name}</span>'


_MENU_TYPES = {"click", "view", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album",
               "pic_weixin", "location_select", "media_id", "view_limited", "article_id", "article_view_limited",
               "miniprogram"}


def _menu_problem(body: dict[str, Any]) -> tuple[int, str] | None:
    """WeChat's menu rules: 1-3 buttons, each a leaf or 1-5 sub buttons; names ≤16/60 bytes; typed leaves."""
    buttons = body.get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return 40016, "invalid button size"

    def leaf(button: dict[str, Any], max_name: int) -> tuple[int, str] | None:
        name = button.get("name")
        if not isinstance(name, str) or not name or len(name.encode()) > max_name:
            return 40018, "invalid button name size"
        kind = button.get("type")
        if kind not in _MENU_TYPES:
            return 40017, "invalid button type"
        if kind == "click" and not (isinstance(button.get("key"), str) and 0 < len(button["key"].encode()) <= 128):
            return 40019, "invalid button key size"
        if kind == "view":
            url = button.get("url")
            if not (isinstance(url, str) and url.startswith(("http://", "https://")) and len(url.encode()) <= 1024):
                return 40055, "invalid button url domain"
        return None

    for button in buttons:
        if not isinstance(button, dict):
            return 40016, "invalid button size"
        subs = button.get("sub_button")
        if subs:
            if not isinstance(subs, list) or not 1 <= len(subs) <= 5:
                return 40023, "invalid sub button size"
            name = button.get("name")
            if not isinstance(name, str) or not name or len(name.encode()) > 16:
                return 40018, "invalid button name size"
            for sub in subs:
                problem = leaf(sub, 60) if isinstance(sub, dict) else (40023, "invalid sub button size")
                if problem:
                    return problem
        else:
            problem = leaf(button, 16)
            if problem:
                return problem
    return None


_STYLE = """
*{box-sizing:border-box}body{margin:0;font:15px/1.45 -apple-system,"PingFang SC","Microsoft YaHei",sans-serif;
background:#ededed;color:#111}.phone{max-width:420px;margin:0 auto;min-height:100vh;background:#ededed;
display:flex;flex-direction:column}header{background:#f7f7f7;padding:.6em .8em;border-bottom:1px solid #ddd}
header small{display:block;color:#888;font-size:11px;word-break:break-all}.who{display:inline;float:right}
.chat{flex:1;padding:.8em;overflow:auto}.bubble{max-width:85%;padding:.5em .7em;border-radius:6px;margin:.4em 0;
word-break:break-word}.me{background:#95ec69;margin-left:auto}.them{background:#fff}.sys{text-align:center;
color:#888;font-size:12px;margin:.4em}.error{color:#c00}.template{background:#fff;border-radius:6px;padding:.6em;
margin:.6em 0}.template .tt{font-weight:600;margin-bottom:.3em}.template span{color:#888}.detail{display:block;
border-top:1px solid #eee;margin-top:.4em;padding-top:.3em}.article{display:block;color:inherit;margin:.2em 0}
.send,.follow{display:flex;gap:.4em;padding:.4em .8em}.send input{flex:1;padding:.4em}.menubar{display:flex;
background:#f7f7f7;border-top:1px solid #ddd}.menubar>*{flex:1;text-align:center;position:relative}
.mbtn{display:block;width:100%;padding:.8em .2em;background:none;border:0;font:inherit;color:#111;
text-decoration:none;cursor:pointer}.disabled{color:#aaa}details.menu summary{padding:.8em .2em;
list-style:none;cursor:pointer}.subs{position:absolute;bottom:100%;left:0;right:0;background:#fff;
border:1px solid #ddd}.mform{margin:0}.card{background:#fff;margin:2em auto;max-width:380px;padding:1.5em;
border-radius:8px}.card h1{font-size:17px}.scope{color:#555}button.primary{background:#07c160;color:#fff;
border:0;padding:.7em 1.5em;border-radius:4px;font-size:16px;width:100%;margin:.3em 0}
.card button#deny{width:100%;padding:.6em;margin:.3em 0}code{font-size:11px}
"""


def _page(title: str, body: str, phone: bool = False) -> str:
    inner = f'<div class="phone">{body}</div>' if phone else body
    return (f'<!doctype html><html lang="zh-Hans"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body>{inner}</body></html>")


# ---- running it -----------------------------------------------------------------------------------------


def make_simulator(*, host: str = "127.0.0.1", port: int = 0, platform_url: str = "", appid: str = DEFAULT_APPID,
                   secret: str = DEFAULT_SECRET, token: str = DEFAULT_TOKEN, aes_key: str = DEFAULT_AES_KEY,
                   app_name: str = DEFAULT_APP_NAME, original_id: str = DEFAULT_ORIGINAL_ID,
                   callback_path: str = CALLBACK_PATH) -> Simulator:
    """Bind the server (not yet serving)."""
    state = State(appid=appid, secret=secret, token=token, aes_key=aes_key, app_name=app_name,
                  original_id=original_id, platform_url=platform_url.rstrip("/"), callback_path=callback_path)
    app = SimulatorApp(state)
    server = make_server(host, port, app, server_class=_ThreadingServer, handler_class=_Quiet)
    return Simulator(server, app)


def start_simulator(port: int = 0, platform_url: str = "", **kwargs: Any) -> Simulator:
    """Start the simulator in a daemon thread on ``port`` (0: a free one); ``.url``, ``.state``, ``.stop()``."""
    simulator = make_simulator(port=port, platform_url=platform_url, **kwargs)
    simulator.thread = threading.Thread(target=simulator.server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="wechat-simulator", daemon=True)
    simulator.thread.start()
    return simulator


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m ihospital.wechat.simulator",
                                     description="A local WeChat (Official Account API, OAuth pages, a phone).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(env("WECHAT_SIMULATOR_PORT", "8001")))
    parser.add_argument("--platform", default=env("SITE_URL", "http://127.0.0.1:8000"),
                        help="the platform's address; callbacks go to <platform>/wechat/callback/")
    parser.add_argument("--callback-path", default=CALLBACK_PATH)
    parser.add_argument("--app-name", default=env("WECHAT_SIMULATOR_APP_NAME", DEFAULT_APP_NAME))
    options = parser.parse_args(argv)
    # The account's credentials come from the environment (never the command line, which others can read).
    try:
        simulator = make_simulator(
            host=options.host, port=options.port, platform_url=options.platform,
            appid=env("WECHAT_APPID") or DEFAULT_APPID, secret=env("WECHAT_SECRET") or DEFAULT_SECRET,
            token=env("WECHAT_TOKEN") or DEFAULT_TOKEN, aes_key=env("WECHAT_ENCODING_AES_KEY") or DEFAULT_AES_KEY,
            app_name=options.app_name, callback_path=options.callback_path)
    except OSError as exc:
        print(f"wechat simulator: cannot listen on {options.host}:{options.port}: {exc}", file=sys.stderr)
        return 1
    print(f"wechat simulator: {simulator.url} (phone: {simulator.phone_url}; platform: {options.platform})",
          flush=True)
    try:
        simulator.server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        simulator.server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
