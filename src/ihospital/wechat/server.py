"""The Official Account's server endpoint: what WeChat calls at ``/wechat/callback/``.

Protocol (WeChat's "接入指南" and "消息加解密说明"), implemented with wechatpy:

* Every request carries ``signature``, ``timestamp`` and ``nonce`` in the query: ``signature`` is
  SHA1(sorted(token, timestamp, nonce)). A GET with a good signature is the URL verification and is answered with
  ``echostr``. A missing or wrong signature, or a timestamp further than ``WECHAT_CALLBACK_MAX_AGE_SECONDS``
  (default 300) from now, is refused with 403 before the body is read, and nothing is stored.
* Plain mode: the POST body is the message XML. Safe mode (``encrypt_type=aes``): the body holds ``<Encrypt>``,
  AES-256-CBC with the EncodingAESKey, and ``msg_signature`` = SHA1(sorted(token, timestamp, nonce, Encrypt)),
  checked before decrypting; a tampered ciphertext fails that check (403), a ciphertext for another app id or one
  that does not decrypt is refused too (403). The reply is encrypted the same way.
* WeChat retries a push that got no answer within 5 seconds, and anyone who captured a request can send it again:
  each message is handled once, keyed by its MsgId (events: FromUserName + CreateTime as WeChat recommends,
  with the event and its key) in ``InboundMessage``; a repeat is answered ``success`` (nothing to show) and
  changes nothing.
* Replies: the subscribe event gets a welcome with the main links, a menu CLICK the link of its topic, a text
  message a keyword reply ("护理" → home nursing, "复诊" → follow-up visits, "续方" → refills, "检查" → tests,
  "订单" → my orders, "绑定" → binding) or the list of keywords. Links go through ``/wechat/oauth/start/`` so that
  the page opens signed in. Replies never contain health data: they are the same for everyone.

In plain mode the signature covers only token, timestamp and nonce, not the body (WeChat's design): production
should run in safe mode, where ``msg_signature`` covers the ciphertext.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from . import bindings
from .models import InboundKind, InboundMessage

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024


class CallbackRefused(Exception):
    """The request is not from WeChat (or not readable): answer ``status`` and change nothing."""

    def __init__(self, code: str, status: int = 403) -> None:
        super().__init__(code)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class Topic:
    key: str  # the menu CLICK EventKey, too
    keywords: tuple[str, ...]
    path: str
    label: object  # lazy translatable


# The keywords a patient may type, and where each leads. Matching is case-insensitive and by containment, so
# "我要续方" finds 续方. Order matters: the first topic whose keyword is in the text wins.
TOPICS: tuple[Topic, ...] = (
    Topic("homecare", ("护理", "上门", "nursing", "home care", "homecare"), "/homecare/",
          gettext_lazy("Home nursing: book a nurse to visit you at home")),
    Topic("visits", ("复诊", "问诊", "visit", "follow-up", "follow up"), "/visits/",
          gettext_lazy("Online follow-up visits")),
    Topic("refills", ("续方", "处方", "配药", "refill", "prescription"), "/prescriptions/",
          gettext_lazy("Prescription refills")),
    Topic("tests", ("检查", "检验", "化验", "test", "lab"), "/diagnostics/",
          gettext_lazy("Test appointments and results")),
    Topic("orders", ("订单", "快递", "物流", "order", "parcel"), "/pharmacy/orders/",
          gettext_lazy("My orders and deliveries")),
    Topic("binding", ("绑定", "解绑", "bind"), "/wechat/binding/",
          gettext_lazy("Bind or unbind your WeChat account")),
)
TOPICS_BY_KEY = {t.key: t for t in TOPICS}


def site_url() -> str:
    return (getattr(settings, "SITE_URL", "") or "http://127.0.0.1:8000").rstrip("/")


def oauth_link(path: str) -> str:
    """An absolute link that opens ``path`` on the platform signed in through WeChat's OAuth flow."""
    return f"{site_url()}/wechat/oauth/start/?{urlencode({'next': path})}"


def topic_for_text(text: str) -> Topic | None:
    folded = (text or "").strip().casefold()
    if not folded:
        return None
    for topic in TOPICS:
        if any(k.casefold() in folded for k in topic.keywords):
            return topic
    return None


def _link_line(topic: Topic) -> str:
    return f'<a href="{oauth_link(topic.path)}">{topic.label}</a>'


def reply_for_topic(topic: Topic) -> str:
    return _("%(label)s — tap to open: %(link)s") % {"label": topic.label, "link": _link_line(topic)}


def help_text() -> str:
    lines = [_("Reply with a keyword, or tap a link:")]
    lines += [f"· {t.keywords[0]} — {_link_line(t)}" for t in TOPICS]
    return "\n".join(lines)


def welcome_text() -> str:
    name = getattr(settings, "HOSPITAL_NAME", "") or _("our internet hospital")
    return "\n".join([_("Welcome to %(name)s! Without travelling you can:") % {"name": name}, help_text()])


# ---- the checks ---------------------------------------------------------------------------------------------


def _token() -> str:
    token = getattr(settings, "WECHAT_TOKEN", "")
    if not token:
        raise CallbackRefused("not_configured", status=503)
    return token


def verify_query(params) -> None:
    """Signature and freshness of the query WeChat adds to every callback. Raises ``CallbackRefused``."""
    signature = params.get("signature", "")
    timestamp = params.get("timestamp", "")
    nonce = params.get("nonce", "")
    if not (signature and timestamp and nonce):
        raise CallbackRefused("missing_signature")
    try:
        check_signature(_token(), signature, timestamp, nonce)
    except InvalidSignatureException:
        raise CallbackRefused("bad_signature") from None
    try:
        age = abs(time.time() - int(timestamp))
    except ValueError:
        raise CallbackRefused("bad_timestamp") from None
    if age > int(getattr(settings, "WECHAT_CALLBACK_MAX_AGE_SECONDS", 300)):
        raise CallbackRefused("stale_timestamp")


def _crypto() -> WeChatCrypto:
    key = getattr(settings, "WECHAT_ENCODING_AES_KEY", "")
    if not key or len(key) != 43:
        raise CallbackRefused("not_configured", status=503)
    return WeChatCrypto(_token(), key, settings.WECHAT_APPID)


def verify_url(params) -> str:
    """The GET WeChat sends when the server address is saved: answer ``echostr`` if the signature is right."""
    verify_query(params)
    echostr = params.get("echostr", "")
    if not echostr:
        raise CallbackRefused("missing_echostr", status=400)
    return echostr


def _is_safe_mode(params) -> bool:
    return params.get("encrypt_type", "raw").lower() == "aes"


def decode_body(params, body: bytes) -> tuple[str, bool]:
    """The message XML (decrypted in safe mode) and whether it was encrypted."""
    if len(body) > MAX_BODY_BYTES:
        raise CallbackRefused("too_large", status=413)
    if not _is_safe_mode(params):
        try:
            return body.decode("utf-8", errors="strict"), False
        except UnicodeDecodeError:
            raise CallbackRefused("unreadable", status=400) from None
    msg_signature = params.get("msg_signature", "")
    if not msg_signature:
        raise CallbackRefused("missing_signature")
    try:
        xml = _crypto().decrypt_message(body, msg_signature, params["timestamp"], params["nonce"])
    except InvalidSignatureException:
        raise CallbackRefused("bad_signature") from None
    except InvalidAppIdException:
        raise CallbackRefused("wrong_appid") from None
    except CallbackRefused:
        raise
    except Exception:  # noqa: BLE001 - unreadable XML, bad padding, not base64: all "not from WeChat"
        raise CallbackRefused("undecryptable") from None
    return xml, True


# ---- handling -----------------------------------------------------------------------------------------------


def dedupe_key(data: dict) -> str:
    msg_id = str(data.get("MsgId") or "").strip()
    if msg_id and msg_id != "0":
        return f"msg:{msg_id}"
    # WeChat recommends FromUserName + CreateTime; the event and its key are added so that two different taps
    # of the same follower within one second stay two events (a retry repeats all four).
    what = hashlib.sha256(f"{data.get('Event', '')}\n{data.get('EventKey', '')}".encode()).hexdigest()[:16]
    return f"event:{data.get('FromUserName', '')}:{data.get('CreateTime', '')}:{what}"


def _claim(message, *, encrypted: bool) -> bool:
    """Store the message once. False when it was seen before (a retry or a replay)."""
    data = message._data
    kind = data.get("MsgType", "")
    try:
        with transaction.atomic():
            InboundMessage.objects.create(
                dedupe_key=dedupe_key(data)[:200],
                msg_id=str(data.get("MsgId") or "")[:64] if str(data.get("MsgId") or "0") != "0" else "",
                kind=kind[:40] if kind in InboundKind.values else InboundKind.OTHER,
                event=str(data.get("Event") or "")[:40],
                openid=str(data.get("FromUserName") or "")[:128],
                encrypted=encrypted,
            )
    except IntegrityError:
        return False
    return True


def reply_text(message) -> str | None:
    """What to answer ``message`` with (None: nothing)."""
    msg_type = message.type
    if msg_type == "event":
        event = (message.event or "").lower()
        if event == "subscribe":
            return welcome_text()
        if event == "click":
            topic = TOPICS_BY_KEY.get(getattr(message, "key", "") or "")
            return reply_for_topic(topic) if topic else help_text()
        return None  # unsubscribe, VIEW, location…: nothing to say
    if msg_type == "text":
        topic = topic_for_text(message.content)
        return reply_for_topic(topic) if topic else help_text()
    return help_text()


def _language_for(openid: str) -> str:
    user = bindings.user_for_openid(openid)
    language = getattr(user, "language", "") if user else ""
    return language or settings.LANGUAGE_CODE


def _complete(data: dict) -> bool:
    """Every push names its sender, time and type; every message that is not an event has its MsgId."""
    if not all(str(data.get(k) or "").strip() for k in ("FromUserName", "CreateTime", "MsgType")):
        return False
    return data["MsgType"] == "event" or str(data.get("MsgId") or "0") != "0"


def handle_message(params, body: bytes) -> str:
    """Check, decode, store once, reply. Returns the response body (XML, or ``success``)."""
    verify_query(params)
    xml, encrypted = decode_body(params, body)
    try:
        message = parse_message(xml)
    except Exception:  # noqa: BLE001 - malformed XML
        raise CallbackRefused("unreadable", status=400) from None
    data = getattr(message, "_data", None)
    if not isinstance(data, dict) or not _complete(data):
        raise CallbackRefused("unreadable", status=400)
    if not _claim(message, encrypted=encrypted):
        logger.info("wechat: repeated message %s ignored", dedupe_key(message._data))
        return "success"
    with translation.override(_language_for(message.source)):
        text = reply_text(message)
    if text is None:
        return "success"
    reply = TextReply(message=message, content=text).render()
    if encrypted:
        return _crypto().encrypt_message(reply, params["nonce"], params["timestamp"])
    return reply
