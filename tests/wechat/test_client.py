"""The WeChat API client against the local simulator over real HTTP: the access token cached in the database and
refreshed before expiry or when WeChat refuses it, template message and menu bodies as WeChat documents them, the
OAuth code exchange, and outages reported as retryable ``WeChatUnavailable``."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta

import pytest
from django.utils import timezone

from ihospital.wechat.client import WeChatClient, WeChatError, WeChatNotConfigured, WeChatUnavailable, get_client
from ihospital.wechat.models import AccessToken

pytestmark = pytest.mark.django_db

MENU = {
    "button": [
        {"type": "view", "name": "复诊", "url": "http://127.0.0.1:8000/wechat/oauth/start/?next=/visits/"},
        {"name": "服务", "sub_button": [
            {"type": "view", "name": "上门护理", "url": "http://127.0.0.1:8000/wechat/oauth/start/?next=/homecare/"},
            {"type": "click", "name": "帮助", "key": "HELP"},
        ]},
    ]
}


def row() -> AccessToken:
    return AccessToken.objects.get(appid=get_client().appid)


def test_the_token_is_fetched_once_and_cached_in_the_database(wechat_simulator):
    client = get_client()
    first = client.access_token()
    assert get_client().access_token() == first  # another client (another process) reads the same row
    assert wechat_simulator.state.token_requests == 1
    cached = row()
    assert cached.token == first
    assert timedelta(seconds=7100) < cached.expires_at - timezone.now() <= timedelta(seconds=7200)
    client.send_template(openid="o1", template_id="T", data={"first": "x"}, url="")
    assert wechat_simulator.state.token_requests == 1


def test_a_token_about_to_expire_is_replaced(wechat_simulator):
    client = get_client()
    old = client.access_token()
    AccessToken.objects.filter(pk=row().pk).update(expires_at=timezone.now() + timedelta(minutes=4))
    new = client.access_token()
    assert new != old and row().token == new and wechat_simulator.state.token_requests == 2
    assert client.access_token(force_refresh=True) not in {old, new}
    assert wechat_simulator.state.token_requests == 3


@pytest.mark.parametrize("how", ["revoke", "expire"])
def test_a_refused_token_is_refreshed_once_and_the_call_retried(wechat_simulator, how):
    client = get_client()
    old = client.access_token()
    # WeChat refuses the cached token (40001: not the latest / 42001: expired) although our row says it is good.
    wechat_simulator.expire_tokens(revoke=how == "revoke")
    msgid = client.send_template(openid="o1", template_id="T", data={"first": "hello"}, url="http://p/n/1/")
    assert msgid and [m["msgid"] for m in wechat_simulator.messages()] == [int(msgid)]
    assert row().token != old and wechat_simulator.state.token_requests == 2


def test_a_token_refreshed_meanwhile_by_another_process_is_used(wechat_simulator):
    client = get_client()
    stale = client.access_token()
    fresh = client.access_token(force_refresh=True)  # "another process" refreshed the row
    assert client._refresh(stale=stale) == fresh
    assert wechat_simulator.state.token_requests == 2


def test_a_token_refused_again_after_the_refresh_is_an_error(wechat_simulator, monkeypatch):
    client = get_client()
    client.access_token()
    wechat_simulator.state.tokens.clear()
    real = client._refresh

    def refresh_then_revoke(**kwargs):
        token = real(**kwargs)
        wechat_simulator.state.tokens.clear()
        return token

    monkeypatch.setattr(client, "_refresh", refresh_then_revoke)
    with pytest.raises(WeChatError) as caught:
        client.create_menu(menu=MENU)
    assert caught.value.errcode == 40001 and not isinstance(caught.value, WeChatUnavailable)
    assert wechat_simulator.state.menu is None


def test_the_template_message_body(wechat_simulator):
    msgid = get_client().send_template(
        openid="oPatient", template_id="TPL-visit", url="http://127.0.0.1:8000/notifications/7/",
        data={"first": "您有一条问诊消息，请点击查看", "keyword1": {"value": "2026-11-26 10:00", "color": "#173177"}},
    )
    [message] = wechat_simulator.messages()
    assert str(message["msgid"]) == msgid
    body = json.loads(message["raw"])
    assert body == {
        "touser": "oPatient",
        "template_id": "TPL-visit",
        "url": "http://127.0.0.1:8000/notifications/7/",
        "data": {"first": {"value": "您有一条问诊消息，请点击查看"},
                 "keyword1": {"value": "2026-11-26 10:00", "color": "#173177"}},
    }
    assert "您有一条" in message["raw"]  # UTF-8, not \u escapes
    with pytest.raises(WeChatError) as caught:
        get_client().send_template(openid="", template_id="T", data={}, url="")
    assert caught.value.errcode == 40003 and len(wechat_simulator.messages()) == 1


def test_the_menu_body_as_wechat_documents_it(wechat_simulator):
    get_client().create_menu(menu=MENU)
    assert wechat_simulator.state.menu == MENU
    raw = wechat_simulator.state.menu_raw
    assert json.loads(raw) == MENU and "上门护理" in raw and "\\u" not in raw
    with pytest.raises(WeChatError) as caught:
        get_client().create_menu(menu={"button": [{"type": "view", "name": "太长的菜单名字超过", "url": "http://p/"}]})
    assert caught.value.errcode == 40018
    assert wechat_simulator.state.menu == MENU


def test_the_authorize_url(wechat_simulator):
    url = get_client().oauth_authorize_url(
        redirect_uri="http://127.0.0.1:8000/wechat/oauth/callback/", scope="snsapi_userinfo", state="abc123")
    assert url == (
        f"{wechat_simulator.url}/connect/oauth2/authorize?appid={wechat_simulator.state.appid}"
        "&redirect_uri=http%3A%2F%2F127.0.0.1%3A8000%2Fwechat%2Foauth%2Fcallback%2F&response_type=code"
        "&scope=snsapi_userinfo&state=abc123#wechat_redirect"
    )
    with pytest.raises(ValueError):
        get_client().oauth_authorize_url(redirect_uri="http://x/", scope="snsapi_login", state="s")


def authorize(url: str, sim_user: str) -> dict[str, str]:
    """The phone taps "Allow": answers the query of the redirect back to the platform."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    parts = urllib.parse.urlsplit(url.split("#")[0])
    allow = f"{parts.scheme}://{parts.netloc}{parts.path}/allow?{parts.query}&decision=allow&sim_user={sim_user}"
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.build_opener(NoRedirect).open(allow)
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(caught.value.headers["Location"]).query))


def test_the_oauth_code_exchange_and_user_info(wechat_simulator):
    client = get_client()
    url = client.oauth_authorize_url(redirect_uri="http://127.0.0.1:8000/cb/", scope="snsapi_userinfo", state="s9")
    back = authorize(url, "zhang-san")
    assert back["state"] == "s9"
    answer = client.oauth_exchange(code=back["code"])
    who = wechat_simulator.identity("zhang-san")
    assert answer["openid"] == who["openid"] and answer["unionid"] == who["unionid"]
    assert answer["scope"] == "snsapi_userinfo" and answer["access_token"]
    info = client.user_info(access_token=answer["access_token"], openid=answer["openid"])
    assert info["nickname"] == "zhang-san" and info["unionid"] == who["unionid"]
    for code in (back["code"], "forged"):  # used once; unknown
        with pytest.raises(WeChatError) as caught:
            client.oauth_exchange(code=code)
        assert caught.value.errcode in {40163, 40029} and not isinstance(caught.value, WeChatUnavailable)
    base = authorize(client.oauth_authorize_url(redirect_uri="http://127.0.0.1:8000/cb/", scope="snsapi_base",
                                                state="s"), "li-si")
    with pytest.raises(WeChatError) as caught:  # snsapi_base: no profile
        answer = client.oauth_exchange(code=base["code"])
        client.user_info(access_token=answer["access_token"], openid=answer["openid"])
    assert caught.value.errcode == 48001
    assert wechat_simulator.state.token_requests == 0  # the web flow needs no access token of the account


@pytest.mark.parametrize("mode", ["http", "busy"])
def test_an_outage_is_unavailable_and_passes(wechat_simulator, mode):
    client = get_client()
    client.access_token()
    wechat_simulator.set_outage(True, mode)
    for call in (lambda: client.send_template(openid="o1", template_id="T", data={}, url=""),
                 lambda: client.create_menu(menu=MENU), lambda: client.oauth_exchange(code="c"),
                 lambda: client.access_token(force_refresh=True)):
        with pytest.raises(WeChatUnavailable) as caught:
            call()
        assert caught.value.errcode == -1
    assert wechat_simulator.messages() == []
    wechat_simulator.set_outage(False)
    assert client.send_template(openid="o1", template_id="T", data={}, url="")
    assert len(wechat_simulator.messages()) == 1


def test_an_unreachable_wechat_is_unavailable_and_tells_no_secret(wechat_simulator, settings):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.WECHAT_API_BASE = f"http://127.0.0.1:{port}"
    with pytest.raises(WeChatUnavailable) as caught:
        get_client().access_token()
    assert settings.WECHAT_SECRET not in str(caught.value)
    assert not AccessToken.objects.exclude(token="").exists()  # nothing cached


def test_a_token_never_appears_in_an_error(wechat_simulator):
    client = get_client()
    token = client.access_token()
    wechat_simulator.set_outage(True)
    with pytest.raises(WeChatUnavailable) as caught:
        client.create_menu(menu=MENU)
    assert token not in str(caught.value) and token not in repr(caught.value.__cause__)


def test_not_configured(settings):
    settings.WECHAT_APPID = ""
    with pytest.raises(WeChatNotConfigured):
        get_client().access_token()
    with pytest.raises(WeChatNotConfigured):
        WeChatClient(appid="wx1", secret="").oauth_exchange(code="c")
