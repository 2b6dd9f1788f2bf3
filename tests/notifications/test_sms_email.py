"""SMS and e-mail: Aliyun's SendSms signature (against the documented example) and a signed request to a local
stand-in of the endpoint; e-mail through Django's SMTP backend to a real local SMTP server (aiosmtpd), and the
embedded outbox backend."""

from __future__ import annotations

import json
import socket
import threading
from datetime import timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
from aiosmtpd.controller import Controller
from django.core import mail as django_mail
from django.utils import timezone

from ihospital.notifications.channels import aliyun
from ihospital.notifications.channels.sms import send_aliyun
from ihospital.notifications.models import Delivery, OutboxMessage
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_quiet_hours")]

# ---- Aliyun signature v1 ----------------------------------------------------------------------------------------

# Alibaba Cloud's documented SendSms signing example (AccessKeySecret "testSecret").
EXAMPLE = {
    "AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123", "PhoneNumbers": "15300000001",
    "RegionId": "cn-hangzhou", "SignName": "阿里云短信测试专用", "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466", "SignatureVersion": "1.0",
    "TemplateCode": "SMS_71390007", "TemplateParam": '{"customer":"test"}', "Timestamp": "2017-07-12T02:42:19Z",
    "Version": "2017-05-25",
}
EXAMPLE_STRING_TO_SIGN = (
    "GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML%26OutId%3D123%26PhoneNumbers%3D15300000001"
    "%26RegionId%3Dcn-hangzhou%26SignName%3D%25E9%2598%25BF%25E9%2587%258C%25E4%25BA%2591%25E7%259F%25AD%25E4%25BF"
    "%25A1%25E6%25B5%258B%25E8%25AF%2595%25E4%25B8%2593%25E7%2594%25A8%26SignatureMethod%3DHMAC-SHA1"
    "%26SignatureNonce%3D45e25e9b-0a6f-4070-8c85-2956eda1b466%26SignatureVersion%3D1.0%26TemplateCode%3DSMS_71390007"
    "%26TemplateParam%3D%257B%2522customer%2522%253A%2522test%2522%257D%26Timestamp%3D2017-07-12T02%253A42%253A19Z"
    "%26Version%3D2017-05-25"
)


def test_aliyun_signature_matches_the_documented_example():
    assert aliyun.string_to_sign(EXAMPLE) == EXAMPLE_STRING_TO_SIGN
    assert aliyun.signature(EXAMPLE, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    url = aliyun.signed_url("https://dysmsapi.aliyuncs.com/", EXAMPLE, "testSecret")
    assert url.startswith("https://dysmsapi.aliyuncs.com/?Signature=zJDF%2BLrzhj%2FThnlvIToysFRq6t4%3D&AccessKeyId=")


def test_aliyun_percent_encoding_rules():
    assert aliyun.percent("a b*c~d-e_f.g") == "a%20b%2Ac~d-e_f.g"
    assert aliyun.percent("+/=") == "%2B%2F%3D"
    assert aliyun.signature({**EXAMPLE, "OutId": "124"}, "testSecret") != "zJDF+Lrzhj/ThnlvIToysFRq6t4="


class FakeDysms:
    """A stand-in for dysmsapi.aliyuncs.com: checks the signature of each GET as Aliyun does and answers like it."""

    def __init__(self, secret: str):
        self.secret = secret
        self.requests: list[dict] = []
        self.answer = {"Code": "OK", "BizId": "900619746936498440^0", "RequestId": "F655A8D5", "Message": "OK"}
        self.status = 200
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the base class's name
                params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
                fake.requests.append(params)
                signed = params.pop("Signature", "")
                if signed != aliyun.signature(params, fake.secret):
                    status = 400
                    body = {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched"}
                else:
                    status, body = fake.status, fake.answer
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def dysms(settings):
    fake = FakeDysms("the-secret")
    settings.SMS_PROVIDER = "aliyun"
    settings.ALIYUN_SMS_ACCESS_KEY_ID = "LTAI-test"
    settings.ALIYUN_SMS_ACCESS_KEY_SECRET = "the-secret"
    settings.ALIYUN_SMS_SIGN_NAME = "互联网医院"
    settings.ALIYUN_SMS_TEMPLATE_CODE = "SMS_123456"
    settings.ALIYUN_SMS_ENDPOINT = fake.url
    yield fake
    fake.stop()


def test_an_sms_through_aliyun_is_a_signed_sendsms_request(dysms, send, run_deliveries, settings):
    settings.SITE_URL = "https://hospital.example"
    user = UserFactory(language="en")
    (note,) = send([user], kind="order.shipped", title="Order with Metformin shipped", link="/pharmacy/orders/4/")
    assert [r.split(":")[1] for r in run_deliveries()] == ["sent"]
    (params,) = dysms.requests
    assert params["Action"] == "SendSms" and params["Version"] == "2017-05-25"
    assert (params["PhoneNumbers"], params["SignName"], params["TemplateCode"]) == (user.phone, "互联网医院",
                                                                                     "SMS_123456")
    assert params["SignatureMethod"] == "HMAC-SHA1" and params["SignatureVersion"] == "1.0"
    assert json.loads(params["TemplateParam"]) == {
        "event": "Your order has been shipped. Open it to follow the parcel.",
        "link": "https://hospital.example/pharmacy/orders/4/"}
    delivery = Delivery.objects.get(notification=note, channel="sms")
    assert delivery.provider_ref == "900619746936498440^0" and params["OutId"] == f"delivery-{delivery.pk}"
    assert not OutboxMessage.objects.exists()


def test_aliyun_flow_control_is_retried_and_a_refusal_is_final(dysms, send, run_deliveries):
    user = UserFactory(language="en")
    dysms.answer = {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控"}
    (note,) = send([user])
    assert [r.split(":")[1] for r in run_deliveries()] == ["retry"]
    dysms.answer = {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "invalid number"}
    assert [r.split(":")[1] for r in run_deliveries(until=timezone.now() + timedelta(hours=1))] == ["failed"]
    delivery = Delivery.objects.get(notification=note, channel="sms")
    assert delivery.attempts == 2 and "isv.MOBILE_NUMBER_ILLEGAL" in delivery.last_error


def test_aliyun_unreachable_or_5xx_is_temporary(dysms, settings):
    from ihospital.notifications.channels import PermanentFailure, TemporaryFailure

    dysms.status = 503
    with pytest.raises(TemporaryFailure):
        send_aliyun(phone="13800000000", text="t", url="u")
    dysms.stop()
    with pytest.raises(TemporaryFailure):
        send_aliyun(phone="13800000000", text="t", url="u")
    settings.ALIYUN_SMS_ACCESS_KEY_SECRET = ""
    with pytest.raises(PermanentFailure):
        send_aliyun(phone="13800000000", text="t", url="u")


def test_a_wrong_secret_is_refused_by_the_signature_check(dysms, settings):
    from ihospital.notifications.channels import PermanentFailure

    settings.ALIYUN_SMS_ACCESS_KEY_SECRET = "not-the-secret"
    with pytest.raises(PermanentFailure, match="SignatureDoesNotMatch"):
        send_aliyun(phone="13800000000", text="t", url="u")


# ---- e-mail ------------------------------------------------------------------------------------------------------


class Inbox:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.endswith("@refused.example"):
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(settings):
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "ihospital <noreply@hospital.example>"
    yield inbox
    controller.stop()


def _text(header: str) -> str:
    return str(make_header(decode_header(header)))


def test_email_through_a_real_smtp_server(smtp, send, run_deliveries, settings):
    settings.SITE_URL = "https://hospital.example"
    settings.HOSPITAL_NAME = "Example Hospital"
    user = UserFactory(email="li@example.com", phone=None, username="li", language="en")
    (note,) = send([user], kind="diagnostics.released", title="Your HbA1c is 9.1%", body="diabetes poorly controlled",
                   link="/diagnostics/orders/9/")
    assert [r.split(":")[1] for r in run_deliveries()] == ["sent"]
    (envelope,) = smtp.envelopes
    assert envelope.mail_from == "noreply@hospital.example" and envelope.rcpt_tos == ["li@example.com"]
    message = message_from_bytes(envelope.content)
    assert _text(message["Subject"]) == "Example Hospital: Tests and results"
    body = message.get_payload(decode=True).decode(message.get_content_charset() or "utf-8")
    assert "Your test result is ready." in body and "https://hospital.example/diagnostics/orders/9/" in body
    for secret in ("HbA1c", "9.1", "diabetes"):
        assert secret not in body and secret not in _text(message["Subject"])
    delivery = Delivery.objects.get(notification=note, channel="email")
    assert delivery.status == "sent" and delivery.provider_ref == message["Message-ID"]
    assert message["X-Ihospital-Delivery"] == str(delivery.pk)


def test_email_in_chinese_for_a_chinese_user(smtp, send, run_deliveries):
    user = UserFactory(email="zhao@example.com", phone=None, username="zhao", language="zh-hans")
    send([user], kind="order.delivered")
    run_deliveries()
    (envelope,) = smtp.envelopes
    assert envelope.rcpt_tos == ["zhao@example.com"]


def test_a_refused_recipient_fails_without_retries(smtp, send, run_deliveries):
    user = UserFactory(email="nobody@refused.example", phone=None, username="nobody")
    (note,) = send([user])
    assert [r.split(":")[1] for r in run_deliveries(until=timezone.now() + timedelta(days=1))] == ["failed"]
    delivery = Delivery.objects.get(notification=note, channel="email")
    assert delivery.attempts == 1 and "refused" in delivery.last_error
    assert smtp.envelopes == []


def test_the_smtp_server_down_is_retried_and_sent_when_it_is_back(settings, send, run_deliveries):
    port = free_port()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    settings.EMAIL_TIMEOUT = 5
    settings.NOTIFY_RETRY_SECONDS = [10]
    user = UserFactory(email="wu@example.com", phone=None, username="wu")
    (note,) = send([user])
    assert [r.split(":")[1] for r in run_deliveries()] == ["retry"]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert [r.split(":")[1] for r in run_deliveries(until=timezone.now() + timedelta(seconds=11))] == ["sent"]
    finally:
        controller.stop()
    assert len(inbox.envelopes) == 1
    assert Delivery.objects.get(notification=note, channel="email").attempts == 2


def test_the_embedded_outbox_email_backend(settings):
    settings.EMAIL_BACKEND = "ihospital.notifications.outbox.EmailBackend"
    assert django_mail.send_mail("Subject", "Body text", "a@example.com", ["b@example.com", "c@example.com"]) == 1
    (row,) = OutboxMessage.objects.all()
    assert (row.channel, row.to, row.subject, row.body) == ("email", "b@example.com, c@example.com", "Subject",
                                                            "Body text")
