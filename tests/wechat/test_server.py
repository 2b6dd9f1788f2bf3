"""The Official Account's server endpoint: URL verification, plain and safe mode, forged and tampered requests,
replays, and the replies (subscribe, menu CLICK, keywords)."""

from __future__ import annotations

import hashlib
import time
from urllib.parse import urlencode

import pytest
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto

from ihospital.wechat import bindings
from ihospital.wechat.models import InboundMessage
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/wechat/callback/"


def _sign(token: str, *parts: str) -> str:
    return hashlib.sha1("".join(sorted([token, *parts])).encode()).hexdigest()  # noqa: S324 - WeChat's algorithm


def _post(client, query: dict, body: bytes):
    return client.post(f"{URL}?{urlencode(query)}", data=body, content_type="text/xml")


def _reply(sim, response, query: dict, *, safe: bool) -> dict:
    assert response.status_code == 200, response.content
    text = response.content.decode()
    if safe:
        crypto = WeChatCrypto(sim.state.token, sim.state.aes_key, sim.state.appid)
        from xml.etree import ElementTree as ET

        doc = ET.fromstring(text)  # noqa: S314 - our own reply
        assert doc.findtext("Encrypt")  # the reply is encrypted, not plain
        assert "<Content>" not in text
        text = crypto.decrypt_message(text, doc.findtext("MsgSignature"), doc.findtext("TimeStamp"),
                                      doc.findtext("Nonce"))
    message = parse_message(text)
    return message._data


# ---- URL verification ----------------------------------------------------------------------------------------


def test_url_verification_echoes_with_a_good_signature(client, wechat_simulator):
    ts, nonce = str(int(time.time())), "n0nce"
    sig = _sign(wechat_simulator.state.token, ts, nonce)
    response = client.get(URL, {"signature": sig, "timestamp": ts, "nonce": nonce, "echostr": "echo-123"})
    assert response.status_code == 200
    assert response.content == b"echo-123"


@pytest.mark.parametrize("query", [
    {"signature": "0" * 40, "echostr": "x"},
    {"echostr": "x"},  # no signature at all
])
def test_url_verification_refuses_a_bad_or_missing_signature(client, wechat_simulator, query):
    query = {"timestamp": str(int(time.time())), "nonce": "abc", **query}
    response = client.get(URL, query)
    assert response.status_code == 403
    assert b"x" not in response.content


def test_url_verification_over_http_from_the_simulator(live_server, wechat_simulator):
    assert wechat_simulator.verify(live_server.url)["ok"] is True


def test_a_stale_timestamp_is_refused(client, wechat_simulator):
    ts, nonce = str(int(time.time()) - 3600), "abc"
    sig = _sign(wechat_simulator.state.token, ts, nonce)
    assert client.get(URL, {"signature": sig, "timestamp": ts, "nonce": nonce, "echostr": "x"}).status_code == 403


# ---- messages in plain and safe mode --------------------------------------------------------------------------


@pytest.mark.parametrize("safe", [False, True], ids=["plain", "safe"])
@pytest.mark.parametrize(("keyword", "path"), [
    ("护理", "/homecare/"),
    ("我要复诊", "/visits/"),
    ("续方", "/prescriptions/"),
    ("检查", "/diagnostics/"),
    ("订单", "/pharmacy/orders/"),
])
def test_keyword_replies_link_to_the_booking_pages(client, wechat_simulator, safe, keyword, path):
    query, body = wechat_simulator.signed_request(kind="text", content=keyword, safe=safe)
    if safe:
        assert keyword.encode() not in body  # really encrypted on the way in
    data = _reply(wechat_simulator, _post(client, query, body), query, safe=safe)
    assert data["MsgType"] == "text"
    assert data["ToUserName"] == query["openid"]
    assert f"/wechat/oauth/start/?{urlencode({'next': path})}" in data["Content"]
    stored = InboundMessage.objects.get()
    assert stored.kind == "text" and stored.openid == query["openid"] and stored.encrypted is safe
    assert stored.dedupe_key.startswith("msg:")


def test_unknown_text_gets_the_keyword_list(client, wechat_simulator):
    query, body = wechat_simulator.signed_request(kind="text", content="你好")
    content = _reply(wechat_simulator, _post(client, query, body), query, safe=False)["Content"]
    for path in ("/homecare/", "/visits/", "/prescriptions/", "/diagnostics/", "/pharmacy/orders/"):
        assert urlencode({"next": path}) in content


@pytest.mark.parametrize("safe", [False, True], ids=["plain", "safe"])
def test_subscribe_gets_a_welcome_with_the_links(client, wechat_simulator, safe):
    query, body = wechat_simulator.signed_request(kind="event", event="subscribe", safe=safe)
    data = _reply(wechat_simulator, _post(client, query, body), query, safe=safe)
    assert urlencode({"next": "/homecare/"}) in data["Content"]
    stored = InboundMessage.objects.get()
    assert stored.kind == "event" and stored.event == "subscribe"
    assert stored.dedupe_key.startswith(f"event:{query['openid']}:")


def test_menu_click_replies_with_its_topic(client, wechat_simulator):
    query, body = wechat_simulator.signed_request(kind="event", event="CLICK", event_key="homecare")
    content = _reply(wechat_simulator, _post(client, query, body), query, safe=False)["Content"]
    assert urlencode({"next": "/homecare/"}) in content
    assert urlencode({"next": "/visits/"}) not in content


def test_menu_click_help_lists_everything(client, wechat_simulator):
    query, body = wechat_simulator.signed_request(kind="event", event="CLICK", event_key="help")
    content = _reply(wechat_simulator, _post(client, query, body), query, safe=False)["Content"]
    assert urlencode({"next": "/visits/"}) in content and urlencode({"next": "/homecare/"}) in content


def test_view_and_unsubscribe_events_are_acknowledged_without_reply(client, wechat_simulator):
    created = int(time.time())
    for event in ("VIEW", "unsubscribe"):  # in the same second: two events, not a replay
        query, body = wechat_simulator.signed_request(kind="event", event=event, event_key="http://x/",
                                                      create_time=created)
        response = _post(client, query, body)
        assert response.status_code == 200 and response.content == b"success"
    assert InboundMessage.objects.count() == 2


def test_a_bound_patient_gets_replies_in_their_language(client, wechat_simulator):
    user = UserFactory(language="en")
    who = wechat_simulator.identity("alice")
    bindings.bind(user=user, openid=who["openid"])
    query, body = wechat_simulator.signed_request(kind="text", openid=who["openid"], content="refill")
    content = _reply(wechat_simulator, _post(client, query, body), query, safe=False)["Content"]
    assert "Prescription refills" in content


def test_a_real_http_push_from_the_simulator(live_server, wechat_simulator):
    result = wechat_simulator.push(platform_url=live_server.url, kind="text", content="护理", safe=True)
    assert result["status"] == 200, result
    assert "/wechat/oauth/start/" in result["reply_fields"]["Content"]
    assert InboundMessage.objects.filter(encrypted=True).count() == 1


# ---- refusals: nothing is stored --------------------------------------------------------------------------------


@pytest.mark.parametrize(("safe", "forge"), [
    (False, "signature"),
    (True, "signature"),
    (True, "msg_signature"),
    (True, True),
    (True, "ciphertext"),
], ids=["plain-forged", "safe-forged-signature", "safe-forged-msg-signature", "safe-forged-both", "tampered"])
def test_forged_or_tampered_requests_get_403_and_change_nothing(client, wechat_simulator, safe, forge):
    query, body = wechat_simulator.signed_request(kind="text", content="护理", safe=safe, forge=forge)
    response = _post(client, query, body)
    assert response.status_code == 403
    assert b"homecare" not in response.content
    assert InboundMessage.objects.count() == 0


def test_missing_signature_is_refused(client, wechat_simulator):
    query, body = wechat_simulator.signed_request(kind="text", content="护理")
    del query["signature"]
    assert _post(client, query, body).status_code == 403
    query, body = wechat_simulator.signed_request(kind="text", content="护理", safe=True)
    del query["msg_signature"]
    assert _post(client, query, body).status_code == 403
    assert InboundMessage.objects.count() == 0


def test_a_ciphertext_for_another_app_is_refused(client, wechat_simulator):
    state = wechat_simulator.state
    plain = ("<xml><ToUserName>gh_x</ToUserName><FromUserName>oX</FromUserName><CreateTime>1</CreateTime>"
             "<MsgType>text</MsgType><Content>护理</Content><MsgId>42</MsgId></xml>")
    ts, nonce = str(int(time.time())), "abc"
    other = WeChatCrypto(state.token, state.aes_key, "wx-another-app").encrypt_message(plain, nonce, ts)
    from xml.etree import ElementTree as ET

    encrypt = ET.fromstring(other).findtext("Encrypt")  # noqa: S314
    query = {"signature": _sign(state.token, ts, nonce), "timestamp": ts, "nonce": nonce, "encrypt_type": "aes",
             "msg_signature": _sign(state.token, ts, nonce, encrypt)}
    body = f"<xml><ToUserName>gh_x</ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>".encode()
    assert _post(client, query, body).status_code == 403
    assert InboundMessage.objects.count() == 0


def test_unreadable_xml_is_a_400_and_changes_nothing(client, wechat_simulator):
    ts, nonce = str(int(time.time())), "abc"
    query = {"signature": _sign(wechat_simulator.state.token, ts, nonce), "timestamp": ts, "nonce": nonce}
    assert _post(client, query, b"<xml><unclosed>").status_code == 400
    assert InboundMessage.objects.count() == 0


# ---- replays ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("safe", [False, True], ids=["plain", "safe"])
def test_a_replayed_message_is_handled_once(client, wechat_simulator, safe):
    query, body = wechat_simulator.signed_request(kind="text", content="护理", msg_id=1234567890123, safe=safe)
    first = _post(client, query, body)
    assert first.status_code == 200 and first.content != b"success"
    again = _post(client, query, body)
    assert again.status_code == 200 and again.content == b"success"
    # The same MsgId in a freshly signed request (WeChat's retry) is a repeat too.
    query, body = wechat_simulator.signed_request(kind="text", content="护理", msg_id=1234567890123, safe=safe)
    assert _post(client, query, body).content == b"success"
    assert InboundMessage.objects.count() == 1


def test_a_replayed_event_is_handled_once(client, wechat_simulator):
    created = int(time.time())
    for _ in range(2):
        query, body = wechat_simulator.signed_request(kind="event", event="subscribe", create_time=created)
        _post(client, query, body)
    assert InboundMessage.objects.count() == 1
    # Another follower at the same second is another event.
    query, body = wechat_simulator.signed_request(kind="event", event="subscribe", sim_user="bob",
                                                  create_time=created)
    assert _post(client, query, body).content != b"success"
    assert InboundMessage.objects.count() == 2


@pytest.mark.parametrize("body", [
    b"",
    b"\xff\xfe not utf-8",
    b"<xml></xml>",
    b"<a>1</a>",
    b"<xml><MsgType>text</MsgType><Content>x</Content></xml>",  # no sender, no time, no MsgId
    b"<xml><FromUserName>o</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType></xml>",  # no MsgId
    b'<!DOCTYPE x [<!ENTITY a "aaaa">]><xml><MsgType>&a;</MsgType></xml>',
])
def test_signed_but_malformed_bodies_are_refused(client, wechat_simulator, body):
    ts, nonce = str(int(time.time())), "abc"
    query = {"signature": _sign(wechat_simulator.state.token, ts, nonce), "timestamp": ts, "nonce": nonce}
    assert _post(client, query, body).status_code == 400
    assert InboundMessage.objects.count() == 0
