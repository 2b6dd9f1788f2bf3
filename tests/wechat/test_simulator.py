"""The local WeChat simulator plays WeChat's side over real HTTP: tokens, template messages, menu, OAuth pages,
signed callbacks (plain and safe mode) to a receiver standing in for the platform, outages and token expiry."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest
import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import check_signature

from ihospital.wechat.simulator import identity, signature


class Receiver:
    """A WSGI-free HTTP server on a free port standing in for the platform's /wechat/callback/."""

    def __init__(self, reply: bytes | None = None):
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.reply = reply
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, body: bytes):
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parts = urllib.parse.urlsplit(self.path)
                query = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query).items()}
                receiver.requests.append((parts.path, query, body))
                reply = receiver.reply(query, body) if callable(receiver.reply) else receiver.reply
                self._answer(reply if reply is not None else b"success")

            def do_GET(self):  # noqa: N802
                query = {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).items()}
                receiver.requests.append((self.path, query, b""))
                self._answer(query.get("echostr", "").encode())

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def get(url: str) -> tuple[int, dict | str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body, status = response.read(), response.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode()


def post(url: str, data: dict) -> tuple[int, dict | str]:
    request = urllib.request.Request(url, data=json.dumps(data, ensure_ascii=False).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            body, status = response.read(), response.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode()


def token(sim) -> str:
    state = sim.state
    url = f"{sim.url}/cgi-bin/token?grant_type=client_credential&appid={state.appid}&secret={state.secret}"
    status, body = get(url)
    assert status == 200 and body["expires_in"] == 7200
    return body["access_token"]


def test_a_signed_plain_push_arrives_with_a_valid_signature(wechat_simulator, receiver):
    result = wechat_simulator.push(platform_url=receiver.url, kind="text", sim_user="alice", content="护理",
                                   msg_id=42)
    assert result["status"] == 200
    [(path, query, body)] = receiver.requests
    assert path == "/wechat/callback/"
    check_signature(wechat_simulator.state.token, query["signature"], query["timestamp"], query["nonce"])
    message = xmltodict.parse(body)["xml"]
    alice = identity("alice", wechat_simulator.state.appid)
    assert query["openid"] == message["FromUserName"] == alice["openid"]
    assert message["MsgType"] == "text" and message["Content"] == "护理" and message["MsgId"] == "42"
    assert "encrypt_type" not in query
    with pytest.raises(InvalidSignatureException):
        check_signature("another-token", query["signature"], query["timestamp"], query["nonce"])


def test_a_safe_mode_push_decrypts_with_wechatpy(wechat_simulator, receiver):
    state = wechat_simulator.state
    result = wechat_simulator.push(platform_url=receiver.url, kind="event", event="CLICK", event_key="HELP",
                                   sim_user="bob", safe=True)
    assert result["status"] == 200
    [(_, query, body)] = receiver.requests
    assert query["encrypt_type"] == "aes"
    check_signature(state.token, query["signature"], query["timestamp"], query["nonce"])
    assert b"HELP" not in body and b"<Encrypt>" in body
    crypto = WeChatCrypto(state.token, state.aes_key, state.appid)
    plain = xmltodict.parse(crypto.decrypt_message(body, query["msg_signature"], query["timestamp"],
                                                   query["nonce"]))["xml"]
    assert plain["MsgType"] == "event" and plain["Event"] == "CLICK" and plain["EventKey"] == "HELP"
    assert plain["FromUserName"] == identity("bob", state.appid)["openid"]


def test_forged_and_tampered_pushes_fail_verification(wechat_simulator, receiver):
    state = wechat_simulator.state
    crypto = WeChatCrypto(state.token, state.aes_key, state.appid)
    wechat_simulator.push(platform_url=receiver.url, content="hi", forge=True)
    wechat_simulator.push(platform_url=receiver.url, content="hi", safe=True, forge="msg_signature")
    wechat_simulator.push(platform_url=receiver.url, content="hi", safe=True, forge="ciphertext")
    (_, forged, _), (_, forged_safe, body_safe), (_, tampered, body_tampered) = receiver.requests
    with pytest.raises(InvalidSignatureException):
        check_signature(state.token, forged["signature"], forged["timestamp"], forged["nonce"])
    with pytest.raises(InvalidSignatureException):
        crypto.decrypt_message(body_safe, forged_safe["msg_signature"], forged_safe["timestamp"],
                               forged_safe["nonce"])
    with pytest.raises(InvalidSignatureException):
        crypto.decrypt_message(body_tampered, tampered["msg_signature"], tampered["timestamp"], tampered["nonce"])


def test_the_platforms_encrypted_reply_is_decrypted_and_shown_on_the_phone(wechat_simulator):
    state = wechat_simulator.state
    crypto = WeChatCrypto(state.token, state.aes_key, state.appid)

    def reply(query, body):
        incoming = xmltodict.parse(crypto.decrypt_message(body, query["msg_signature"], query["timestamp"],
                                                          query["nonce"]))["xml"]
        xml = (f"<xml><ToUserName><![CDATA[{incoming['FromUserName']}]]></ToUserName><FromUserName><![CDATA["
               f"{incoming['ToUserName']}]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]>"
               f"</MsgType><Content><![CDATA[预约护理 <a href=\"http://platform/homecare/\">点击</a>]]></Content></xml>")
        return crypto.encrypt_message(xml, "nonce1", "1700000000").encode()

    server = Receiver(reply)
    try:
        wechat_simulator.state.platform_url = server.url
        result = wechat_simulator.push(kind="text", sim_user="carol", content="护理", safe=True)
    finally:
        server.close()
    assert result["reply_fields"]["Content"].startswith("预约护理")
    status, page = get(f"{wechat_simulator.url}/_sim/phone?sim_user=carol")
    assert status == 200 and '<a href="http://platform/homecare/">点击</a>' in page and "护理" in page


def test_url_verification_echoes(wechat_simulator, receiver):
    assert wechat_simulator.verify(receiver.url)["ok"] is True
    [(_, query, _)] = receiver.requests
    assert query["signature"] == signature(wechat_simulator.state.token, query["timestamp"], query["nonce"])


def test_token_template_and_menu_over_http(wechat_simulator):
    sim = wechat_simulator
    access = token(sim)
    message = {"touser": "oX", "template_id": "T1", "url": "http://p/x", "data": {"first": {"value": "您好"}}}
    _, answer = post(f"{sim.url}/cgi-bin/message/template/send?access_token={access}", message)
    assert answer["errcode"] == 0 and answer["msgid"]
    assert get(f"{sim.url}/_sim/messages")[1]["messages"][0]["data"] == {"first": {"value": "您好"}}
    # Wrong shapes are refused with WeChat's codes and nothing is kept.
    assert post(f"{sim.url}/cgi-bin/message/template/send?access_token={access}",
                {"touser": "oX", "template_id": "T1", "data": {"first": "x"}})[1]["errcode"] == 47001
    assert post(f"{sim.url}/cgi-bin/message/template/send?access_token=nope",
                {"touser": "oX", "template_id": "T1", "data": {}})[1]["errcode"] == 40001
    assert len(sim.messages()) == 1
    assert post(f"{sim.url}/cgi-bin/menu/create?access_token={access}",
                {"button": [{"type": "view", "name": "x" * 17, "url": "http://p/"}]})[1]["errcode"] == 40018
    assert post(f"{sim.url}/cgi-bin/menu/create?access_token={access}", {"button": []})[1]["errcode"] == 40016
    assert get(f"{sim.url}/_sim/menu")[1]["menu"] is None
    menu = {"button": [{"name": "服务", "sub_button": [{"type": "view", "name": "护理", "url": "http://p/h"},
                                                      {"type": "click", "name": "帮助", "key": "HELP"}]}]}
    assert post(f"{sim.url}/cgi-bin/menu/create?access_token={access}", menu)[1] == {"errcode": 0, "errmsg": "ok"}
    assert get(f"{sim.url}/_sim/menu")[1]["menu"] == menu
    page = get(f"{sim.url}/_sim/phone")[1]
    assert "护理" in page and "/_sim/phone/open?url=http%3A%2F%2Fp%2Fh" in page


def test_expiry_and_outage_controls(wechat_simulator):
    sim = wechat_simulator
    access = token(sim)
    url = f"{sim.url}/cgi-bin/menu/get?access_token={access}"
    assert get(url)[1]["errcode"] == 46003  # valid token, no menu yet
    assert post(f"{sim.url}/_sim/expire", {"now": True})[0] == 200
    assert get(url)[1]["errcode"] == 42001
    post(f"{sim.url}/_sim/expire", {"revoke": True})
    assert get(url)[1]["errcode"] == 40001
    post(f"{sim.url}/_sim/expire", {"expires_in": 60})
    _, body = get(f"{sim.url}/cgi-bin/token?grant_type=client_credential&appid={sim.state.appid}"
                  f"&secret={sim.state.secret}")
    assert body["expires_in"] == 60
    post(f"{sim.url}/_sim/outage", {"on": True})
    assert get(url)[0] == 503
    post(f"{sim.url}/_sim/outage", {"on": True, "mode": "busy"})
    assert get(url)[1]["errcode"] == -1
    post(f"{sim.url}/_sim/outage", {"on": False})
    assert get(f"{sim.url}/cgi-bin/menu/get?access_token={body['access_token']}")[1]["errcode"] == 46003


def test_oauth_authorize_page_code_exchange_and_userinfo(wechat_simulator):
    sim = wechat_simulator
    state = sim.state
    redirect = "http://platform.test/wechat/oauth/callback/"
    query = urllib.parse.urlencode({"appid": state.appid, "redirect_uri": redirect, "response_type": "code",
                                    "scope": "snsapi_userinfo", "state": "s1"})
    status, page = get(f"{sim.url}/connect/oauth2/authorize?{query}&sim_user=dora")
    dora = identity("dora", state.appid)
    assert status == 200 and "Allow" in page and dora["openid"] in page

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as caught:
        opener.open(f"{sim.url}/connect/oauth2/authorize/allow?{query}&sim_user=dora&decision=allow")
    location = urllib.parse.urlsplit(caught.value.headers["Location"])
    assert location.netloc == "platform.test" and location.path == "/wechat/oauth/callback/"
    params = dict(urllib.parse.parse_qsl(location.query))
    assert params["state"] == "s1"
    exchange = f"{sim.url}/sns/oauth2/access_token?appid={state.appid}&secret={state.secret}&code={params['code']}" \
               "&grant_type=authorization_code"
    answer = get(exchange)[1]
    assert answer["openid"] == dora["openid"] and answer["unionid"] == dora["unionid"]
    assert answer["scope"] == "snsapi_userinfo"
    assert get(exchange)[1]["errcode"] == 40163  # a code is used once
    info = get(f"{sim.url}/sns/userinfo?access_token={answer['access_token']}&openid={dora['openid']}")[1]
    assert info["nickname"] == "dora" and info["unionid"] == dora["unionid"]
    # Denied: back with the state only; an unknown appid or a non-URL redirect gets WeChat's error page.
    with pytest.raises(urllib.error.HTTPError) as caught:
        opener.open(f"{sim.url}/connect/oauth2/authorize/allow?{query}&decision=deny")
    assert "code=" not in caught.value.headers["Location"] and "state=s1" in caught.value.headers["Location"]
    assert get(f"{sim.url}/connect/oauth2/authorize?{query.replace(state.appid, 'wxother')}")[0] == 400
    bad = query.replace(urllib.parse.quote(redirect, safe=""), "javascript%3Aalert(1)")
    assert get(f"{sim.url}/connect/oauth2/authorize?{bad}")[0] == 400
    assert get(f"{sim.url}/sns/oauth2/access_token?appid={state.appid}&secret={state.secret}&code=nope"
               "&grant_type=authorization_code")[1]["errcode"] == 40029


def test_the_phone_opens_a_view_button_as_the_chosen_user(wechat_simulator):
    sim = wechat_simulator

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    target = "http://platform.test/wechat/oauth/start/?next=%2Fhomecare%2F"
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as caught:
        opener.open(f"{sim.url}/_sim/phone/open?" + urllib.parse.urlencode({"url": target, "sim_user": "erin li"}))
    assert caught.value.code == 302 and caught.value.headers["Location"] == target
    cookie = caught.value.headers["Set-Cookie"].split(";")[0]
    query = urllib.parse.urlencode({"appid": sim.state.appid, "redirect_uri": "http://platform.test/cb/",
                                    "response_type": "code", "scope": "snsapi_base", "state": "s"})
    request = urllib.request.Request(f"{sim.url}/connect/oauth2/authorize?{query}", headers={"Cookie": cookie})
    page = urllib.request.urlopen(request).read().decode()
    assert identity("erin li", sim.state.appid)["openid"] in page
    assert get(f"{sim.url}/_sim/phone/open?url=javascript:alert(1)")[0] == 400


def test_serve_starts_the_simulator_only_for_the_embedded_wechat(settings):
    from ihospital import cli

    settings.WECHAT_SIMULATOR_PORT = 18001
    settings.WECHAT_API_BASE = settings.WECHAT_OAUTH_BASE = "http://127.0.0.1:18001"
    assert cli._simulator_port(settings) == 18001
    settings.PRODUCTION = True
    assert cli._simulator_port(settings) is None
    settings.PRODUCTION = False
    settings.WECHAT_OAUTH_BASE = "https://open.weixin.qq.com"
    assert cli._simulator_port(settings) is None
    settings.WECHAT_API_BASE = "https://api.weixin.qq.com"
    assert cli._simulator_port(settings) is None
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert cli._port_free(busy.getsockname()[1]) is False


def test_the_command_line_simulator_runs_and_answers(tmp_path):
    import os
    import subprocess
    import sys
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "WECHAT_APPID": "wxcli", "WECHAT_SECRET": "cli-secret"}
    proc = subprocess.Popen([sys.executable, "-m", "ihospital.wechat.simulator", "--port", str(port),
                             "--platform", "http://127.0.0.1:9"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                status, body = get(f"http://127.0.0.1:{port}/cgi-bin/token?grant_type=client_credential"
                                   "&appid=wxcli&secret=cli-secret")
                break
            except urllib.error.URLError:
                time.sleep(0.1)
        assert status == 200 and body["access_token"]
        assert get(f"http://127.0.0.1:{port}/_sim/state")[1]["platform_url"] == "http://127.0.0.1:9"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_phone_sends_text_and_menu_clicks_through_the_push_endpoint(wechat_simulator):
    sim = wechat_simulator

    def reply(query, body):
        incoming = xmltodict.parse(body)["xml"]
        said = incoming.get("Content") or incoming.get("EventKey")
        return (f"<xml><ToUserName><![CDATA[{incoming['FromUserName']}]]></ToUserName><FromUserName><![CDATA["
                f"{incoming['ToUserName']}]]></FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[text]]>"
                f"</MsgType><Content><![CDATA[you said {said}]]></Content></xml>").encode()

    server = Receiver(reply)
    try:
        sim.state.platform_url = server.url
        status, answer = post(f"{sim.url}/_sim/push", {"kind": "text", "content": "复诊", "sim_user": "fay"})
        assert status == 200 and answer["reply_fields"]["Content"] == "you said 复诊"
        for path, data in (("/_sim/phone/send", {"content": "续方"}), ("/_sim/phone/click", {"key": "HELP"})):
            request = urllib.request.Request(sim.url + path, data=urllib.parse.urlencode(data).encode(),
                                             headers={"Cookie": "sim_user=fay"}, method="POST")
            urllib.request.urlopen(request).read()  # redirected back to the phone
    finally:
        server.close()
    kinds = [xmltodict.parse(body)["xml"]["MsgType"] for _, _, body in server.requests]
    assert kinds == ["text", "text", "event"]
    page = get(f"{sim.url}/_sim/phone?sim_user=fay")[1]
    assert "you said 续方" in page and "you said HELP" in page
    assert post(f"{sim.url}/_sim/push", {"kind": "image"})[0] == 400
