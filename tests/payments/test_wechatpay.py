"""WeChat Pay API v3 with locally generated keys: the merchant signs requests (checked here by an independent
verifier, openssl, and by a stand-in for WeChat Pay), WeChat Pay's answers and callbacks are verified with the platform
certificate, the callback's resource is decrypted with the APIv3 key; and the whole provider runs through the
payments services with the transport replaced (the real host is unreachable here)."""

from __future__ import annotations

import base64
import json
import re
import secrets
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from django.test import Client

from ihospital.core.errors import DomainError
from ihospital.payments.models import ChargeStatus, PaymentStatus, ProviderEvent, RefundStatus
from ihospital.payments.providers import base, wechatpay
from ihospital.payments.providers.base import BadNotification, BadSignature, ProviderError, StaleCallback

MCHID = "1900000109"
APPID = "wxd678efh567hg6787"
APIV3_KEY = b"0123456789abcdef0123456789ABCDEF"
MERCHANT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """A merchant key pair and a platform key pair with a self-signed platform certificate, as PEM files."""
    folder = tmp_path_factory.mktemp("wechatpay")
    merchant = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    platform = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(platform.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365)).sign(platform, hashes.SHA256()))
    paths = {
        "merchant_key": folder / "apiclient_key.pem",
        "merchant_pub": folder / "merchant_pub.pem",
        "platform_cert": folder / "wechatpay_cert.pem",
        "platform_pub": folder / "wechatpay_pub.pem",
    }
    paths["merchant_key"].write_bytes(merchant.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    paths["merchant_pub"].write_bytes(merchant.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    paths["platform_cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["platform_pub"].write_bytes(platform.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return {"merchant": merchant, "platform": platform, "serial": format(cert.serial_number, "X"), **paths}


def platform_headers(keys, body: str, *, timestamp: int | None = None, serial: str | None = None) -> dict[str, str]:
    """What WeChat Pay sends with an answer or a callback: its signature over timestamp, nonce and body."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = secrets.token_hex(16)
    signature = wechatpay.sign(f"{ts}\n{nonce}\n{body}\n", keys["platform"])
    return {"Wechatpay-Timestamp": ts, "Wechatpay-Nonce": nonce, "Wechatpay-Signature": signature,
            "Wechatpay-Serial": serial or keys["serial"]}


def config(keys) -> wechatpay.Config:
    platform_key, serial = wechatpay.load_public_key(keys["platform_cert"].read_bytes())
    return wechatpay.Config(mchid=MCHID, appid=APPID, serial_no=MERCHANT_SERIAL, private_key=keys["merchant"],
                            apiv3_key=APIV3_KEY, platform_key=platform_key, platform_serial=serial,
                            notify_url="https://hospital.example.cn/payments/notify/wechatpay/")


def encrypted(data: dict, *, key: bytes = APIV3_KEY, associated_data: str = "transaction") -> dict:
    """The resource as WeChat Pay encrypts it, built here with AES-GCM directly (not with the module under test)."""
    nonce = secrets.token_hex(6)
    ciphertext = AESGCM(key).encrypt(nonce.encode(), json.dumps(data).encode(), associated_data.encode())
    return {"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM", "ciphertext":
            base64.b64encode(ciphertext).decode(), "associated_data": associated_data, "nonce": nonce}


def transaction_event(out_trade_no: str, total: int, *, event_id: str = "EV-2018022511223320873",
                      trade_state: str = "SUCCESS", **resource_kw) -> str:
    resource = {"mchid": MCHID, "appid": APPID, "out_trade_no": out_trade_no, "transaction_id":
                "1217752501201407033233368018", "trade_type": "NATIVE", "trade_state": trade_state,
                "trade_state_desc": "支付成功", "bank_type": "CMC", "success_time": "2018-06-08T10:34:56+08:00",
                "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
                "amount": {"total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY"}}
    return json.dumps({"id": event_id, "create_time": "2015-05-20T13:29:35+08:00", "resource_type":
                       "encrypt-resource", "event_type": f"TRANSACTION.{trade_state}", "summary": "支付成功",
                       "resource": encrypted({**resource, **resource_kw})}, ensure_ascii=False)


def refund_event(out_trade_no: str, out_refund_no: str, refund: int, total: int, *, status: str = "SUCCESS") -> str:
    resource = {"mchid": MCHID, "out_trade_no": out_trade_no, "transaction_id": "1217752501201407033233368018",
                "out_refund_no": out_refund_no, "refund_id": "50000000382019052709732678859", "refund_status": status,
                "success_time": "2018-06-08T10:34:56+08:00", "user_received_account": "招商银行信用卡0403",
                "amount": {"total": total, "refund": refund, "payer_total": total, "payer_refund": refund}}
    return json.dumps({"id": f"EV-R-{secrets.token_hex(4)}", "create_time": "2018-06-08T10:34:56+08:00",
                       "resource_type": "encrypt-resource", "event_type": f"REFUND.{status}", "summary": "退款成功",
                       "resource": encrypted(resource, associated_data="refund")}, ensure_ascii=False)


# ---- signing requests -------------------------------------------------------------------------------------------


def test_the_authorization_header_signs_the_documented_message(keys):
    body = '{"appid":"wxd678efh567hg6787","mchid":"1900000109"}'
    header = wechatpay.authorization("POST", "/v3/pay/transactions/native", body, mchid=MCHID,
                                     serial_no=MERCHANT_SERIAL, private_key=keys["merchant"],
                                     timestamp="1554208460", nonce="593BEC0C930BF1AFEB40B4A08C8FB242")
    match = re.fullmatch(r'WECHATPAY2-SHA256-RSA2048 mchid="(\d+)",nonce_str="(\w+)",signature="([^"]+)",'
                         r'timestamp="(\d+)",serial_no="(\w+)"', header)
    assert match, header
    assert match.group(1, 2, 4, 5) == (MCHID, "593BEC0C930BF1AFEB40B4A08C8FB242", "1554208460", MERCHANT_SERIAL)
    message = f"POST\n/v3/pay/transactions/native\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n{body}\n"
    signature = base64.b64decode(match.group(3))
    keys["merchant"].public_key().verify(signature, message.encode(), padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_openssl_agrees_with_the_signature(keys, tmp_path):
    message = "GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n"
    (tmp_path / "message").write_bytes(message.encode())
    (tmp_path / "signature").write_bytes(base64.b64decode(wechatpay.sign(message, keys["merchant"])))
    result = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(keys["merchant_pub"]), "-signature",
                             str(tmp_path / "signature"), str(tmp_path / "message")], capture_output=True, text=True)
    assert result.returncode == 0 and "Verified OK" in result.stdout


def test_order_refund_and_close_requests_follow_the_api(keys):
    expire = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
    path, body = wechatpay.native_order_request(appid=APPID, mchid=MCHID, description="药" * 200, out_trade_no="P1",
                                                amount_fen=1, notify_url="https://h/n", time_expire=expire)
    assert path == "/v3/pay/transactions/native"
    assert body["amount"] == {"total": 1, "currency": "CNY"} and len(body["description"]) == 127
    assert body["time_expire"] == "2026-01-01T10:00:00+08:00"
    path, body = wechatpay.jsapi_order_request(appid=APPID, mchid=MCHID, description="d", out_trade_no="P1",
                                               amount_fen=1, notify_url="https://h/n", payer_openid="oUp")
    assert path == "/v3/pay/transactions/jsapi" and body["payer"] == {"openid": "oUp"}
    path, body = wechatpay.refund_request(out_trade_no="P1", out_refund_no="R1", reason="缺货", amount_fen=300,
                                          total_fen=1000, notify_url="https://h/n")
    assert path == "/v3/refund/domestic/refunds"
    assert body["amount"] == {"refund": 300, "total": 1000, "currency": "CNY"}
    assert wechatpay.close_request(out_trade_no="P1", mchid=MCHID) == (
        "/v3/pay/transactions/out-trade-no/P1/close", {"mchid": MCHID})


def test_jsapi_pay_parameters_are_signed_for_the_payers_wechat(keys):
    params = wechatpay.jsapi_pay_params(appid=APPID, prepay_id="wx201410272009395522657a690389285100",
                                        private_key=keys["merchant"], timestamp="1414561699", nonce="5K8264ILTKCH16CQ")
    assert params["package"] == "prepay_id=wx201410272009395522657a690389285100" and params["signType"] == "RSA"
    message = f"{APPID}\n1414561699\n5K8264ILTKCH16CQ\n{params['package']}\n"
    assert wechatpay.verify(message, params["paySign"], keys["merchant"].public_key())


# ---- verifying and decrypting callbacks ---------------------------------------------------------------------------


def test_a_signed_callback_is_verified_and_decrypted(keys):
    body = transaction_event("P2026ABC", 8800)
    notification = wechatpay.parse_callback(body=body.encode(), headers=platform_headers(keys, body),
                                            config=config(keys))
    assert (notification.event_id, notification.kind, notification.status) == (
        "EV-2018022511223320873", base.PAYMENT, base.SUCCEEDED)
    assert (notification.out_trade_no, notification.amount_fen) == ("P2026ABC", 8800)
    assert notification.provider_txn_id == "1217752501201407033233368018"
    # What is kept: the facts about the money, not who paid or with which bank.
    stored = json.dumps(notification.payload, ensure_ascii=False)
    assert "oUpF8uMuAJO" not in stored and "CMC" not in stored and "8800" in stored


def test_refund_callbacks_are_read(keys):
    body = refund_event("P1", "R1", 300, 1000)
    notification = wechatpay.parse_callback(body=body.encode(), headers=platform_headers(keys, body),
                                            config=config(keys))
    assert (notification.kind, notification.status, notification.amount_fen, notification.out_refund_no) == (
        base.REFUND, base.SUCCEEDED, 300, "R1")
    assert "招商银行" not in json.dumps(notification.payload, ensure_ascii=False)
    body = refund_event("P1", "R1", 300, 1000, status="ABNORMAL")
    assert wechatpay.parse_callback(body=body.encode(), headers=platform_headers(keys, body),
                                    config=config(keys)).status == base.FAILED


@pytest.mark.parametrize("tamper", ["body", "signature", "serial", "other_key", "missing"])
def test_a_tampered_callback_is_refused(keys, tamper):
    body = transaction_event("P2026ABC", 8800)
    headers = platform_headers(keys, body)
    if tamper == "body":
        body = body.replace("EV-2018022511223320873", "EV-2018022511223320874")
    elif tamper == "signature":
        headers["Wechatpay-Signature"] = wechatpay.sign("something else\n", keys["platform"])
    elif tamper == "serial":
        headers["Wechatpay-Serial"] = "0" * 40
    elif tamper == "other_key":
        headers["Wechatpay-Signature"] = wechatpay.sign(
            f"{headers['Wechatpay-Timestamp']}\n{headers['Wechatpay-Nonce']}\n{body}\n", keys["merchant"])
    else:
        del headers["Wechatpay-Signature"]
    with pytest.raises(BadSignature):
        wechatpay.parse_callback(body=body.encode(), headers=headers, config=config(keys))


def test_an_old_callback_is_refused(keys):
    body = transaction_event("P2026ABC", 8800)
    headers = platform_headers(keys, body, timestamp=int(time.time()) - 301)
    with pytest.raises(StaleCallback):
        wechatpay.parse_callback(body=body.encode(), headers=headers, config=config(keys))


def test_a_resource_that_does_not_decrypt_is_refused(keys):
    envelope = json.loads(transaction_event("P2026ABC", 8800))
    envelope["resource"] = encrypted({"out_trade_no": "P"}, key=b"X" * 32)  # another merchant's APIv3 key
    body = json.dumps(envelope)
    with pytest.raises(BadNotification):
        wechatpay.parse_callback(body=body.encode(), headers=platform_headers(keys, body), config=config(keys))
    envelope["resource"] = {**encrypted({"out_trade_no": "P"}), "associated_data": "refund"}  # AAD changed
    body = json.dumps(envelope)
    with pytest.raises(BadNotification):
        wechatpay.parse_callback(body=body.encode(), headers=platform_headers(keys, body), config=config(keys))


def test_a_callback_for_another_merchant_is_refused(keys):
    body = transaction_event("P2026ABC", 8800, mchid="1230000109")
    with pytest.raises(BadNotification):
        wechatpay.parse_callback(body=body.encode(), headers=platform_headers(keys, body), config=config(keys))


def test_the_module_encrypts_as_it_decrypts(keys):
    resource = wechatpay.encrypt_resource({"a": "支付"}, APIV3_KEY, associated_data="certificate")
    assert wechatpay.decrypt_resource(resource, APIV3_KEY) == {"a": "支付"}


# ---- the provider through the payments services ------------------------------------------------------------------


class FakeWeChatPay:
    """Stands in for api.mch.weixin.qq.com: checks each request's merchant signature and answers signed."""

    def __init__(self, keys):
        self.keys = keys
        self.requests: list[tuple[str, str, dict]] = []
        self.sign_answers = True

    def __call__(self, method, url, headers, body):
        parts = urlsplit(url)
        assert parts.scheme == "https" and parts.netloc == "api.mch.weixin.qq.com"
        auth = dict(re.findall(r'(\w+)="([^"]*)"', headers["Authorization"].removeprefix(wechatpay.SCHEMA)))
        assert headers["Authorization"].startswith(wechatpay.SCHEMA + " ")
        assert (auth["mchid"], auth["serial_no"]) == (MCHID, MERCHANT_SERIAL)
        message = f"{method}\n{parts.path}\n{auth['timestamp']}\n{auth['nonce_str']}\n{body.decode()}\n"
        assert wechatpay.verify(message, auth["signature"], self.keys["merchant"].public_key()), "bad merchant sig"
        payload = json.loads(body) if body else {}
        self.requests.append((method, parts.path, payload))
        if parts.path.endswith("/close"):
            status, answer = 204, ""
        elif parts.path == wechatpay.NATIVE_PATH:
            status, answer = 200, json.dumps({"code_url": f"weixin://wxpay/bizpayurl?pr={payload['out_trade_no']}"})
        elif parts.path == wechatpay.REFUND_PATH:
            status, answer = 200, json.dumps({"refund_id": "5000000038", "out_refund_no": payload["out_refund_no"],
                                              "status": "PROCESSING"})
        else:
            status, answer = 404, json.dumps({"code": "NOT_FOUND", "message": "no"})
        headers = platform_headers(self.keys, answer) if self.sign_answers else {}
        return status, headers, answer.encode()


@pytest.fixture
def wechat(keys, settings, monkeypatch):
    settings.PAYMENT_PROVIDER = "wechatpay"
    settings.PAYMENT_PROVIDERS = ["wechatpay", "sandbox"]
    settings.WECHATPAY_MCHID = MCHID
    settings.WECHATPAY_APPID = APPID
    settings.WECHATPAY_SERIAL_NO = MERCHANT_SERIAL
    settings.WECHATPAY_PRIVATE_KEY_PATH = str(keys["merchant_key"])
    settings.WECHATPAY_APIV3_KEY = APIV3_KEY.decode()
    settings.WECHATPAY_PLATFORM_CERT_PATH = str(keys["platform_cert"])
    settings.WECHATPAY_NOTIFY_URL = ""
    settings.WECHATPAY_API_BASE = "https://api.mch.weixin.qq.com"
    fake = FakeWeChatPay(keys)
    monkeypatch.setattr(wechatpay, "send", fake)
    return fake


def post_callback(keys, body: str, **kw):
    return Client().post("/payments/notify/wechatpay/", data=body.encode(), content_type="application/json",
                         headers=platform_headers(keys, body, **kw))


@pytest.mark.django_db
def test_paying_and_refunding_with_wechat_pay_by_settings(flow, payer, recorder, wechat, keys):
    charge = flow.charge(payer, amount_fen=8800)
    payment, url = flow.start(charge)

    assert payment.provider == "wechatpay" and url == f"weixin://wxpay/bizpayurl?pr={payment.out_trade_no}"
    ((method, path, order),) = wechat.requests
    assert (method, path) == ("POST", "/v3/pay/transactions/native")
    assert order["notify_url"] == "http://testserver/payments/notify/wechatpay/"
    assert order["amount"] == {"total": 8800, "currency": "CNY"} and order["out_trade_no"] == payment.out_trade_no

    with flow.capture(execute=True):
        response = post_callback(keys, transaction_event(payment.out_trade_no, 8800))
    assert response.status_code == 200, response.content
    charge.refresh_from_db()
    assert charge.status == ChargeStatus.PAID and recorder.paid == [charge.pk]
    with flow.capture(execute=True):
        again = post_callback(keys, transaction_event(payment.out_trade_no, 8800))
    assert again.json()["message"] == "already processed" and ProviderEvent.objects.count() == 1

    item = flow.refund(charge, 800, reason="缺一盒")
    flow.settle()
    method, path, asked = wechat.requests[-1]
    assert (method, path) == ("POST", "/v3/refund/domestic/refunds")
    assert asked["amount"] == {"refund": 800, "total": 8800, "currency": "CNY"}
    assert asked["out_refund_no"] == item.out_refund_no and asked["reason"] == "缺一盒"
    with flow.capture(execute=True):
        post_callback(keys, refund_event(payment.out_trade_no, item.out_refund_no, 800, 8800))
    item.refresh_from_db()
    charge.refresh_from_db()
    assert item.status == RefundStatus.SUCCEEDED and charge.refunded_fen == 800
    assert recorder.refunded == [(charge.pk, 800)]


@pytest.mark.django_db
def test_a_forged_wechat_callback_changes_nothing(flow, payer, wechat, keys):
    charge = flow.charge(payer, amount_fen=8800)
    payment, _ = flow.start(charge)
    body = transaction_event(payment.out_trade_no, 8800)
    headers = platform_headers(keys, body)
    headers["Wechatpay-Signature"] = wechatpay.sign("x", keys["merchant"])
    response = Client().post("/payments/notify/wechatpay/", data=body.encode(), content_type="application/json",
                             headers=headers)
    assert response.status_code == 403 and response.json()["error"]["code"] == "bad_signature"
    stale = post_callback(keys, body, timestamp=int(time.time()) - 600)
    assert stale.status_code == 403 and stale.json()["error"]["code"] == "stale_timestamp"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.PENDING and ProviderEvent.objects.count() == 0


@pytest.mark.django_db
def test_cancelling_closes_the_wechat_order(flow, payer, wechat):
    charge = flow.charge(payer)
    payment, _ = flow.start(charge)
    flow.cancel(charge)
    flow.settle()
    assert wechat.requests[-1] == ("POST", f"/v3/pay/transactions/out-trade-no/{payment.out_trade_no}/close",
                                   {"mchid": MCHID})


@pytest.mark.django_db
def test_an_unsigned_answer_is_not_believed(flow, payer, wechat):
    wechat.sign_answers = False
    charge = flow.charge(payer)
    with pytest.raises(DomainError) as refused:
        flow.start(charge)
    assert refused.value.code == "provider_unavailable"
    assert charge.payments.get().status == PaymentStatus.FAILED


@pytest.mark.django_db
def test_the_public_key_mode_uses_its_key_id(keys, settings):
    settings.WECHATPAY_MCHID, settings.WECHATPAY_APPID = MCHID, APPID
    settings.WECHATPAY_SERIAL_NO = MERCHANT_SERIAL
    settings.WECHATPAY_PRIVATE_KEY_PATH = str(keys["merchant_key"])
    settings.WECHATPAY_APIV3_KEY = APIV3_KEY.decode()
    settings.WECHATPAY_PLATFORM_CERT_PATH = ""
    settings.WECHATPAY_PLATFORM_PUBLIC_KEY_PATH = str(keys["platform_pub"])
    settings.WECHATPAY_PLATFORM_PUBLIC_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"
    loaded = wechatpay.Config.from_settings()
    assert loaded.platform_serial == "PUB_KEY_ID_0114232134912410000000000000"
    body = transaction_event("P1", 1)
    headers = platform_headers(keys, body, serial="PUB_KEY_ID_0114232134912410000000000000")
    assert wechatpay.parse_callback(body=body.encode(), headers=headers, config=loaded).amount_fen == 1


def test_missing_settings_are_named(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.WECHATPAY_MCHID = ""
    settings.WECHATPAY_PLATFORM_CERT_PATH = settings.WECHATPAY_PLATFORM_PUBLIC_KEY_PATH = ""
    with pytest.raises(ImproperlyConfigured, match="WECHATPAY_MCHID"):
        wechatpay.Config.from_settings()


def test_an_error_answer_is_a_provider_error(keys, monkeypatch):
    monkeypatch.setattr(wechatpay, "send", lambda *a: (400, {}, b'{"code":"PARAM_ERROR","message":"bad"}'))
    with pytest.raises(ProviderError, match="PARAM_ERROR"):
        wechatpay.Client(config(keys)).request("POST", "/v3/pay/transactions/native", {})
