"""WeChat Pay API v3 (微信支付 APIv3), written from its published algorithm with ``cryptography``.

* **Requests** carry ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",
  timestamp="…",serial_no="…"``, where ``signature`` is base64 SHA256withRSA (PKCS#1 v1.5) with the merchant's
  private key over ``METHOD\\nURL_PATH\\nTIMESTAMP\\nNONCE\\nBODY\\n`` and ``serial_no`` is the serial of the
  merchant's API certificate.
* **Answers and callbacks** are signed by WeChat Pay: headers ``Wechatpay-Timestamp``, ``Wechatpay-Nonce``,
  ``Wechatpay-Signature`` and ``Wechatpay-Serial``; the signature is verified over ``TIMESTAMP\\nNONCE\\nBODY\\n``
  with the public key of the platform certificate (or of the "WeChat Pay public key") named by the serial.
* A callback's ``resource`` is encrypted with AEAD_AES_256_GCM under the merchant's APIv3 key, with the resource's
  ``nonce`` and ``associated_data``.

The ``wechatpayv3`` package implements the same, but its client fetches platform certificates over the network when
it is constructed and sends through ``requests`` with no way to substitute the transport; here every request goes
through ``send`` (a module-level function that tests replace), because the real host is unreachable from the
hospital's test machines.

Settings (docs/payments.md): ``WECHATPAY_MCHID``, ``WECHATPAY_APPID``, ``WECHATPAY_SERIAL_NO``,
``WECHATPAY_PRIVATE_KEY_PATH``, ``WECHATPAY_APIV3_KEY``, ``WECHATPAY_PLATFORM_CERT_PATH`` (or
``WECHATPAY_PLATFORM_PUBLIC_KEY_PATH`` with ``WECHATPAY_PLATFORM_PUBLIC_KEY_ID``), ``WECHATPAY_NOTIFY_URL``,
``WECHATPAY_API_BASE``.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from .base import (
    CLOSED,
    FAILED,
    MAX_CALLBACK_AGE_SECONDS,
    PAYMENT,
    REFUND,
    SUCCEEDED,
    BadNotification,
    BadSignature,
    Notification,
    Provider,
    ProviderError,
    StaleCallback,
)

NAME = "wechatpay"
SCHEMA = "WECHATPAY2-SHA256-RSA2048"
API_BASE = "https://api.mch.weixin.qq.com"
CHINA = ZoneInfo("Asia/Shanghai")
TIMEOUT_SECONDS = 10

NATIVE_PATH = "/v3/pay/transactions/native"
JSAPI_PATH = "/v3/pay/transactions/jsapi"
REFUND_PATH = "/v3/refund/domestic/refunds"

# What a callback's decrypted resource may leave in ``ProviderEvent.payload``: facts about the money only, never the
# payer's identifiers (openid) or bank.
KEPT_RESOURCE_FIELDS = (
    "mchid", "appid", "out_trade_no", "transaction_id", "trade_type", "trade_state", "trade_state_desc",
    "success_time", "out_refund_no", "refund_id", "refund_status", "amount",
)
TRADE_STATES = {"SUCCESS": SUCCEEDED, "PAYERROR": FAILED, "CLOSED": CLOSED, "REVOKED": CLOSED}
REFUND_STATES = {"SUCCESS": SUCCEEDED, "ABNORMAL": FAILED, "CLOSED": FAILED}


# ---- keys ------------------------------------------------------------------------------------------------------


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ImproperlyConfigured("the WeChat Pay merchant key must be an RSA private key")
    return key


def load_public_key(pem: bytes) -> tuple[rsa.RSAPublicKey, str]:
    """A platform certificate or a bare public key (PEM) → (key, serial); the serial is "" for a bare key."""
    if b"BEGIN CERTIFICATE" in pem:
        cert = x509.load_pem_x509_certificate(pem)
        key, serial = cert.public_key(), certificate_serial(cert)
    else:
        key, serial = serialization.load_pem_public_key(pem), ""
    if not isinstance(key, rsa.RSAPublicKey):
        raise ImproperlyConfigured("the WeChat Pay platform key must be an RSA public key")
    return key, serial


def certificate_serial(cert: x509.Certificate) -> str:
    """The serial number as WeChat Pay writes it: upper-case hexadecimal."""
    return format(cert.serial_number, "X")


# ---- signatures ------------------------------------------------------------------------------------------------


def sign(message: str, private_key: rsa.RSAPrivateKey) -> str:
    """Base64 SHA256withRSA (PKCS#1 v1.5)."""
    return base64.b64encode(private_key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def verify(message: str, signature_b64: str, public_key: rsa.RSAPublicKey) -> bool:
    try:
        public_key.verify(base64.b64decode(signature_b64, validate=True), message.encode(), padding.PKCS1v15(),
                          hashes.SHA256())
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def request_message(method: str, url_path: str, timestamp: str, nonce: str, body: str) -> str:
    return f"{method.upper()}\n{url_path}\n{timestamp}\n{nonce}\n{body}\n"


def response_message(timestamp: str, nonce: str, body: str) -> str:
    return f"{timestamp}\n{nonce}\n{body}\n"


def authorization(method: str, url_path: str, body: str, *, mchid: str, serial_no: str,
                  private_key: rsa.RSAPrivateKey, timestamp: str | None = None, nonce: str | None = None) -> str:
    """The ``Authorization`` header of one request (``url_path`` includes the query string, if any)."""
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or secrets.token_hex(16).upper()
    signature = sign(request_message(method, url_path, timestamp, nonce, body), private_key)
    return (f'{SCHEMA} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
            f'timestamp="{timestamp}",serial_no="{serial_no}"')


def verify_signed(headers, body: bytes, *, public_key: rsa.RSAPublicKey, serial: str,
                  max_age: int | None = MAX_CALLBACK_AGE_SECONDS, now: float | None = None) -> None:
    """Check WeChat Pay's signature on an answer or a callback; raise ``BadSignature`` or ``StaleCallback``."""
    timestamp = headers.get("Wechatpay-Timestamp", "")
    nonce = headers.get("Wechatpay-Nonce", "")
    signature = headers.get("Wechatpay-Signature", "")
    given_serial = headers.get("Wechatpay-Serial", "")
    if not (timestamp and nonce and signature and given_serial):
        raise BadSignature("Wechatpay-* headers missing")
    if serial and given_serial != serial:
        # Signed with another key than the one configured (or a rotation the hospital has not installed yet).
        raise BadSignature(f"unknown platform serial {given_serial[:64]}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadSignature("body is not UTF-8") from None
    if not verify(response_message(timestamp, nonce, text), signature, public_key):
        raise BadSignature("signature does not match")
    try:
        signed_at = int(timestamp)
    except ValueError:
        raise BadSignature("timestamp is not a number") from None
    if max_age is not None and abs((time.time() if now is None else now) - signed_at) > max_age:
        raise StaleCallback("timestamp too old")


# ---- the encrypted resource of a callback ---------------------------------------------------------------------


def decrypt_resource(resource: dict[str, Any], apiv3_key: bytes) -> dict[str, Any]:
    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise BadNotification("unsupported algorithm")
    try:
        plaintext = AESGCM(apiv3_key).decrypt(
            resource["nonce"].encode(),
            base64.b64decode(resource["ciphertext"]),
            (resource.get("associated_data") or "").encode() or None,
        )
        return json.loads(plaintext)
    except (InvalidTag, KeyError, ValueError, TypeError, AttributeError):
        raise BadNotification("the resource does not decrypt") from None


def encrypt_resource(data: dict[str, Any], apiv3_key: bytes, *, associated_data: str = "transaction",
                     nonce: str | None = None, original_type: str = "transaction") -> dict[str, Any]:
    """What WeChat Pay does to a callback's resource (for a local simulation of the platform, e.g. in tests)."""
    nonce = nonce or secrets.token_hex(6)
    ciphertext = AESGCM(apiv3_key).encrypt(nonce.encode(), json.dumps(data, ensure_ascii=False).encode(),
                                           associated_data.encode() or None)
    return {"algorithm": "AEAD_AES_256_GCM", "ciphertext": base64.b64encode(ciphertext).decode(),
            "associated_data": associated_data, "original_type": original_type, "nonce": nonce}


# ---- request bodies --------------------------------------------------------------------------------------------


def rfc3339(moment) -> str:
    return moment.astimezone(CHINA).isoformat(timespec="seconds")


def native_order_request(*, appid: str, mchid: str, description: str, out_trade_no: str, amount_fen: int,
                         notify_url: str, time_expire=None) -> tuple[str, dict[str, Any]]:
    """Native payment (the payer scans a QR code): the answer carries ``code_url``."""
    body: dict[str, Any] = {
        "appid": appid, "mchid": mchid, "description": description[:127], "out_trade_no": out_trade_no,
        "notify_url": notify_url, "amount": {"total": amount_fen, "currency": "CNY"},
    }
    if time_expire is not None:
        body["time_expire"] = rfc3339(time_expire)
    return NATIVE_PATH, body


def jsapi_order_request(*, appid: str, mchid: str, description: str, out_trade_no: str, amount_fen: int,
                        notify_url: str, payer_openid: str, time_expire=None) -> tuple[str, dict[str, Any]]:
    """JSAPI payment (inside WeChat, for a payer known by ``openid``): the answer carries ``prepay_id``."""
    _, body = native_order_request(appid=appid, mchid=mchid, description=description, out_trade_no=out_trade_no,
                                   amount_fen=amount_fen, notify_url=notify_url, time_expire=time_expire)
    body["payer"] = {"openid": payer_openid}
    return JSAPI_PATH, body


def jsapi_pay_params(*, appid: str, prepay_id: str, private_key: rsa.RSAPrivateKey,
                     timestamp: str | None = None, nonce: str | None = None) -> dict[str, str]:
    """The arguments of ``wx.requestPayment`` / ``WeixinJSBridge.invoke('getBrandWCPayRequest')``."""
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or secrets.token_hex(16)
    package = f"prepay_id={prepay_id}"
    return {"appId": appid, "timeStamp": timestamp, "nonceStr": nonce, "package": package, "signType": "RSA",
            "paySign": sign(f"{appid}\n{timestamp}\n{nonce}\n{package}\n", private_key)}


def refund_request(*, out_trade_no: str, out_refund_no: str, reason: str, amount_fen: int, total_fen: int,
                   notify_url: str) -> tuple[str, dict[str, Any]]:
    return REFUND_PATH, {
        "out_trade_no": out_trade_no, "out_refund_no": out_refund_no, "reason": reason[:80],
        "notify_url": notify_url, "amount": {"refund": amount_fen, "total": total_fen, "currency": "CNY"},
    }


def close_request(*, out_trade_no: str, mchid: str) -> tuple[str, dict[str, Any]]:
    return f"/v3/pay/transactions/out-trade-no/{out_trade_no}/close", {"mchid": mchid}


# ---- the network -----------------------------------------------------------------------------------------------


def send(method: str, url: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
    """One HTTPS exchange: (status, headers, body). Tests replace this function."""
    if not url.startswith("https://"):
        raise ProviderError("WeChat Pay is only reached over HTTPS")
    request = urllib.request.Request(url, data=body or None, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - https checked
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()
    except OSError as exc:
        raise ProviderError(f"WeChat Pay unreachable: {exc}") from exc


@dataclass
class Config:
    mchid: str
    appid: str
    serial_no: str
    private_key: rsa.RSAPrivateKey
    apiv3_key: bytes
    platform_key: rsa.RSAPublicKey
    platform_serial: str
    notify_url: str
    api_base: str = API_BASE

    @classmethod
    def from_settings(cls) -> Config:
        missing = [name for name in ("WECHATPAY_MCHID", "WECHATPAY_APPID", "WECHATPAY_SERIAL_NO",
                                     "WECHATPAY_PRIVATE_KEY_PATH", "WECHATPAY_APIV3_KEY")
                   if not getattr(settings, name, "")]
        cert_path = getattr(settings, "WECHATPAY_PLATFORM_CERT_PATH", "")
        key_path = getattr(settings, "WECHATPAY_PLATFORM_PUBLIC_KEY_PATH", "")
        if not (cert_path or key_path):
            missing.append("WECHATPAY_PLATFORM_CERT_PATH or WECHATPAY_PLATFORM_PUBLIC_KEY_PATH")
        if missing:
            raise ImproperlyConfigured(f"WeChat Pay needs {', '.join(missing)}")
        apiv3_key = settings.WECHATPAY_APIV3_KEY.encode()
        if len(apiv3_key) != 32:
            raise ImproperlyConfigured("WECHATPAY_APIV3_KEY must be the 32-character APIv3 key")
        platform_key, serial = load_public_key(Path(cert_path or key_path).read_bytes())
        if not cert_path:
            serial = getattr(settings, "WECHATPAY_PLATFORM_PUBLIC_KEY_ID", "")
            if not serial:
                raise ImproperlyConfigured("WECHATPAY_PLATFORM_PUBLIC_KEY_ID goes with the public key")
        notify_url = getattr(settings, "WECHATPAY_NOTIFY_URL", "") or (
            settings.SITE_URL.rstrip("/") + reverse("payments:notify", args=[NAME]))
        return cls(
            mchid=settings.WECHATPAY_MCHID, appid=settings.WECHATPAY_APPID, serial_no=settings.WECHATPAY_SERIAL_NO,
            private_key=load_private_key(Path(settings.WECHATPAY_PRIVATE_KEY_PATH).read_bytes()),
            apiv3_key=apiv3_key, platform_key=platform_key, platform_serial=serial, notify_url=notify_url,
            api_base=getattr(settings, "WECHATPAY_API_BASE", "") or API_BASE,
        )


class Client:
    """Signed requests to the API; answers are checked against the platform's signature before they are believed."""

    def __init__(self, config: Config):
        self.config = config

    def request(self, method: str, path: str, payload: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        body = "" if payload is None else json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        headers = {
            "Authorization": authorization(method, path, body, mchid=self.config.mchid,
                                           serial_no=self.config.serial_no, private_key=self.config.private_key),
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": "ihospital-payments/1",
        }
        status, answer_headers, answer = send(method, self.config.api_base.rstrip("/") + path, headers,
                                              body.encode())
        answer_headers = {key.title(): value for key, value in answer_headers.items()}
        if not 200 <= status < 300:
            try:
                error = json.loads(answer or b"{}")
            except ValueError:
                error = {}
            raise ProviderError(f"WeChat Pay answered {status}: {error.get('code', '')} {error.get('message', '')}")
        try:
            verify_signed(answer_headers, answer, public_key=self.config.platform_key,
                          serial=self.config.platform_serial, max_age=None)
        except (BadSignature, StaleCallback) as exc:
            raise ProviderError(f"WeChat Pay's answer is not signed by the platform: {exc}") from exc
        try:
            return status, json.loads(answer) if answer else {}
        except ValueError:
            raise ProviderError("WeChat Pay's answer is not JSON") from None


class WeChatPayProvider(Provider):
    name = NAME

    @cached_property
    def config(self) -> Config:
        return Config.from_settings()

    @property
    def client(self) -> Client:
        return Client(self.config)

    def start(self, payment) -> str:
        path, body = native_order_request(
            appid=self.config.appid, mchid=self.config.mchid, description=payment.charge.subject,
            out_trade_no=payment.out_trade_no, amount_fen=payment.amount_fen, notify_url=self.config.notify_url,
            time_expire=payment.charge.expires_at,
        )
        _, answer = self.client.request("POST", path, body)
        code_url = answer.get("code_url")
        if not code_url:
            raise ProviderError("WeChat Pay gave no code_url")
        return code_url

    def close(self, payment) -> None:
        path, body = close_request(out_trade_no=payment.out_trade_no, mchid=self.config.mchid)
        self.client.request("POST", path, body)

    def request_refund(self, refund) -> None:
        path, body = refund_request(
            out_trade_no=refund.payment.out_trade_no, out_refund_no=refund.out_refund_no, reason=refund.reason,
            amount_fen=refund.amount_fen, total_fen=refund.payment.amount_fen, notify_url=self.config.notify_url,
        )
        self.client.request("POST", path, body)

    def parse_callback(self, request) -> Notification:
        return parse_callback(body=request.body, headers=request.headers, config=self.config)


def parse_callback(*, body: bytes, headers, config: Config, now: float | None = None) -> Notification:
    verify_signed(headers, body, public_key=config.platform_key, serial=config.platform_serial, now=now)
    try:
        envelope = json.loads(body)
        event_id = envelope["id"]
        event_type = envelope["event_type"]
        resource = envelope["resource"]
    except (ValueError, KeyError, TypeError):
        raise BadNotification("not a WeChat Pay notification") from None
    data = decrypt_resource(resource, config.apiv3_key)
    if not isinstance(event_id, str) or not event_id or len(event_id) > 128 or not isinstance(data, dict):
        raise BadNotification("bad event")
    amount = data.get("amount") or {}
    kept = {key: data[key] for key in KEPT_RESOURCE_FIELDS if key in data}
    payload = {"event_type": event_type, "create_time": envelope.get("create_time", ""),
               "summary": envelope.get("summary", ""), "resource": kept}
    if data.get("mchid") not in (None, config.mchid):
        raise BadNotification("notification for another merchant")
    if event_type.startswith("TRANSACTION."):
        status = TRADE_STATES.get(data.get("trade_state", ""))
        total = amount.get("total")
        if status is None or not isinstance(total, int):
            raise BadNotification("unknown trade state or amount")
        return Notification(event_id=event_id, kind=PAYMENT, status=status, amount_fen=total,
                            out_trade_no=str(data.get("out_trade_no", "")),
                            provider_txn_id=str(data.get("transaction_id", "")),
                            currency=str(amount.get("currency", "CNY")), payload=payload)
    if event_type.startswith("REFUND."):
        status = REFUND_STATES.get(data.get("refund_status", ""))
        refunded = amount.get("refund")
        if status is None or not isinstance(refunded, int):
            raise BadNotification("unknown refund state or amount")
        return Notification(event_id=event_id, kind=REFUND, status=status, amount_fen=refunded,
                            out_trade_no=str(data.get("out_trade_no", "")),
                            out_refund_no=str(data.get("out_refund_no", "")),
                            provider_txn_id=str(data.get("transaction_id", "")),
                            provider_refund_id=str(data.get("refund_id", "")), payload=payload)
    raise BadNotification(f"unknown event type {event_type[:40]}")
