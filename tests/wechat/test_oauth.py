"""Signing in through WeChat's OAuth web flow against the local WeChat simulator (real HTTP for the authorize page
and the code exchange): validated next, single-use session-bound state, first-time binding (sign in or register),
password-less later visits, staff refused."""

from __future__ import annotations

import http.client
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client

from ihospital.accounts.models import PatientProfile, Role, User
from ihospital.core.models import AuditEvent
from ihospital.wechat import bindings, oauth
from ihospital.wechat.models import Binding
from tests.factories import PASSWORD, PatientFactory, StaffUserFactory, make_resident_id

pytestmark = pytest.mark.django_db


def _get(url: str) -> tuple[int, str, str]:
    """GET without following redirects: status, Location, body."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", parts.path + ("?" + parts.query if parts.query else ""))
        response = conn.getresponse()
        return response.status, response.getheader("Location") or "", response.read().decode()
    finally:
        conn.close()


def start(client: Client, sim, next_url: str = "/homecare/", scope: str = "") -> dict:
    query = {"next": next_url, **({"scope": scope} if scope else {})}
    response = client.get("/wechat/oauth/start/", query)
    assert response.status_code == 302, response.content
    location = response["Location"]
    assert location.startswith(f"{sim.url}/connect/oauth2/authorize?")
    assert location.endswith("#wechat_redirect")
    return {k: v[0] for k, v in parse_qs(urlsplit(location.split("#")[0]).query).items()}


def authorize(sim, params: dict, *, sim_user: str = "alice", decision: str = "allow") -> dict:
    """The simulated phone: open WeChat's authorize page, press Allow (or Deny): the redirect's query."""
    status, _, page = _get(f"{sim.url}/connect/oauth2/authorize?{urlencode({**params, 'sim_user': sim_user})}")
    assert status == 200 and "sim-openid" in page
    allow = {**params, "sim_user": sim_user, "decision": decision}
    status, location, _ = _get(f"{sim.url}/connect/oauth2/authorize/allow?{urlencode(allow)}")
    assert status in (302, 303), status
    assert location.startswith("http://testserver/wechat/oauth/callback/?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def wechat_visit(client: Client, sim, next_url: str = "/homecare/", *, sim_user: str = "alice", scope: str = ""):
    back = authorize(sim, start(client, sim, next_url, scope), sim_user=sim_user)
    return client.get("/wechat/oauth/callback/", back), back


def _signed_in(client: Client) -> User | None:
    response = client.get("/wechat/binding/")
    return response.wsgi_request.user if response.status_code == 200 else None


# ---- the start --------------------------------------------------------------------------------------------------


def test_start_sends_the_browser_to_wechat_with_a_short_state(client, wechat_simulator):
    params = start(client, wechat_simulator, "/homecare/")
    assert params["appid"] == wechat_simulator.state.appid
    assert params["redirect_uri"] == "http://testserver/wechat/oauth/callback/"
    assert params["response_type"] == "code" and params["scope"] == "snsapi_base"
    assert 0 < len(params["state"]) <= 128
    assert list(client.session[oauth.SESSION_STATES].values())[0]["next"] == "/homecare/"


@pytest.mark.parametrize("bad", [
    "https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "http:/evil",
    "homecare/", "/x\nSet-Cookie: a=b",
])
def test_start_refuses_a_next_outside_the_site(client, wechat_simulator, bad):
    response = client.get("/wechat/oauth/start/", {"next": bad})
    assert response.status_code == 400
    assert oauth.SESSION_STATES not in client.session


def test_start_refuses_an_unknown_scope(client, wechat_simulator):
    assert client.get("/wechat/oauth/start/", {"next": "/", "scope": "snsapi_everything"}).status_code == 400


# ---- first visit: bind --------------------------------------------------------------------------------------


def test_first_visit_binds_after_signing_in_then_later_visits_need_no_password(client, wechat_simulator):
    patient = PatientFactory()
    response, _ = wechat_visit(client, wechat_simulator, "/homecare/")
    assert response.status_code == 302 and response["Location"] == "/wechat/bind/"
    assert _signed_in(client) is None  # not signed in by WeChat alone
    page = client.get("/wechat/bind/")
    assert page.status_code == 200 and b'data-testid="bind-login"' in page.content

    response = client.post("/wechat/bind/", {"action": "login", "login-identifier": patient.user.phone,
                                             "login-password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/homecare/"
    who = wechat_simulator.identity("alice")
    binding = Binding.objects.get(user=patient.user, unbound_at__isnull=True)
    assert binding.openid == who["openid"] and binding.unionid == who["unionid"]
    assert _signed_in(client) == patient.user
    assert AuditEvent.objects.filter(action="create", object_type="wechat.binding", actor=patient.user).exists()

    # Another day, another browser inside WeChat: straight in.
    later = Client()
    response, _ = wechat_visit(later, wechat_simulator, "/visits/")
    assert response.status_code == 302 and response["Location"] == "/visits/"
    assert _signed_in(later) == patient.user
    assert AuditEvent.objects.filter(action="login", actor=patient.user, detail__via="wechat").count() == 1


def test_first_visit_can_register_and_bind(client, wechat_simulator):
    from datetime import date

    wechat_visit(client, wechat_simulator, "/homecare/", sim_user="newcomer")
    response = client.post("/wechat/bind/", {
        "action": "register", "register-real_name": "王小明",
        "register-resident_id": make_resident_id(date(1960, 5, 4), "M", 7),
        "register-phone": "13912345678", "register-password": "Another-Good-Pass-9",
        "register-health_data_consent": "on",
    })
    assert response.status_code == 302 and response["Location"] == "/homecare/", response.content.decode()[:2000]
    profile = PatientProfile.objects.get(user__phone="+8613912345678")
    assert bindings.openid_for(profile.user) == wechat_simulator.identity("newcomer")["openid"]
    assert _signed_in(client) == profile.user


def test_signed_in_patient_binds_with_one_tap(client, wechat_simulator):
    patient = PatientFactory()
    client.force_login(patient.user)
    wechat_visit(client, wechat_simulator, "/homecare/")
    page = client.get("/wechat/bind/")
    assert b'data-testid="bind-current"' in page.content
    response = client.post("/wechat/bind/", {"action": "bind"})
    assert response.status_code == 302 and response["Location"] == "/homecare/"
    assert bindings.openid_for(patient.user) == wechat_simulator.identity("alice")["openid"]


def test_wrong_password_on_the_bind_page_binds_nothing(client, wechat_simulator):
    patient = PatientFactory()
    wechat_visit(client, wechat_simulator)
    response = client.post("/wechat/bind/", {"action": "login", "login-identifier": patient.user.phone,
                                             "login-password": "wrong-password-1"})
    assert response.status_code == 401
    assert not Binding.objects.exists()
    assert _signed_in(client) is None


def test_staff_cannot_bind_by_password_on_the_bind_page(client, wechat_simulator):
    doctor = StaffUserFactory()
    wechat_visit(client, wechat_simulator)
    response = client.post("/wechat/bind/", {"action": "login", "login-identifier": doctor.username,
                                             "login-password": PASSWORD})
    assert response.status_code == 403
    assert not Binding.objects.exists()
    assert _signed_in(client) is None


def test_bind_page_without_a_wechat_identity_is_refused(client):
    assert client.get("/wechat/bind/").status_code == 400
    assert client.post("/wechat/bind/", {"action": "bind"}).status_code == 400


def test_userinfo_scope_keeps_the_nickname(client, wechat_simulator):
    patient = PatientFactory()
    client.force_login(patient.user)
    wechat_visit(client, wechat_simulator, "/homecare/", scope="userinfo", sim_user="carol")
    client.post("/wechat/bind/", {"action": "bind"})
    binding = Binding.objects.get(user=patient.user)
    assert binding.nickname == wechat_simulator.identity("carol")["nickname"]


# ---- state -----------------------------------------------------------------------------------------------------


def test_state_is_single_use(client, wechat_simulator):
    patient = PatientFactory()
    bindings.bind(user=patient.user, openid=wechat_simulator.identity("alice")["openid"])
    response, back = wechat_visit(client, wechat_simulator)
    assert response.status_code == 302
    client.logout()
    again = client.get("/wechat/oauth/callback/", back)
    assert again.status_code == 400
    assert _signed_in(client) is None


def test_state_from_another_browser_is_refused(client, wechat_simulator):
    patient = PatientFactory()
    bindings.bind(user=patient.user, openid=wechat_simulator.identity("alice")["openid"])
    back = authorize(wechat_simulator, start(client, wechat_simulator))
    attacker = Client()
    response = attacker.get("/wechat/oauth/callback/", back)
    assert response.status_code == 400
    assert _signed_in(attacker) is None


@pytest.mark.parametrize("state", ["", "forged", "x" * 200])
def test_forged_state_is_refused(client, wechat_simulator, state):
    start(client, wechat_simulator)
    response = client.get("/wechat/oauth/callback/", {"code": "abc", "state": state})
    assert response.status_code == 400
    assert _signed_in(client) is None


def test_expired_state_is_refused(client, wechat_simulator, monkeypatch):
    patient = PatientFactory()
    bindings.bind(user=patient.user, openid=wechat_simulator.identity("alice")["openid"])
    back = authorize(wechat_simulator, start(client, wechat_simulator))
    monkeypatch.setattr(oauth, "STATE_MAX_AGE", -1)
    assert client.get("/wechat/oauth/callback/", back).status_code == 400
    assert _signed_in(client) is None


def test_deny_on_wechat_signs_nobody_in(client, wechat_simulator):
    PatientFactory()
    back = authorize(wechat_simulator, start(client, wechat_simulator), decision="deny")
    assert "code" not in back
    assert client.get("/wechat/oauth/callback/", back).status_code == 400
    assert _signed_in(client) is None


def test_wechat_outage_during_the_exchange_changes_nothing(client, wechat_simulator):
    back = authorize(wechat_simulator, start(client, wechat_simulator))
    wechat_simulator.set_outage(True)
    response = client.get("/wechat/oauth/callback/", back)
    assert response.status_code == 502
    assert oauth.SESSION_PENDING not in client.session


def test_a_used_code_is_refused_by_wechat(client, wechat_simulator):
    patient = PatientFactory()
    bindings.bind(user=patient.user, openid=wechat_simulator.identity("alice")["openid"])
    response, back = wechat_visit(client, wechat_simulator)
    assert response.status_code == 302
    client.logout()
    # A fresh state of this browser, but the code used before: WeChat refuses it (40163), so do we.
    params = start(client, wechat_simulator)
    response = client.get("/wechat/oauth/callback/", {"code": back["code"], "state": params["state"]})
    assert response.status_code == 400
    assert _signed_in(client) is None


# ---- who may sign in -------------------------------------------------------------------------------------------


def test_staff_never_sign_in_by_wechat(client, wechat_simulator):
    doctor = StaffUserFactory(role=Role.DOCTOR)
    bindings.bind(user=doctor, openid=wechat_simulator.identity("alice")["openid"])
    response, _ = wechat_visit(client, wechat_simulator)
    assert response.status_code == 403
    assert _signed_in(client) is None
    assert AuditEvent.objects.filter(action="login", object_id=str(doctor.pk), outcome="denied").exists()


def test_an_inactive_patient_is_not_signed_in(client, wechat_simulator):
    patient = PatientFactory()
    bindings.bind(user=patient.user, openid=wechat_simulator.identity("alice")["openid"])
    User.objects.filter(pk=patient.user.pk).update(is_active=False)
    response, _ = wechat_visit(client, wechat_simulator)
    assert response["Location"] == "/wechat/bind/"
    assert _signed_in(client) is None


def test_bound_and_signed_in_goes_straight_to_next(client, wechat_simulator):
    patient = PatientFactory()
    bindings.bind(user=patient.user, openid=wechat_simulator.identity("alice")["openid"])
    client.force_login(patient.user)
    response = client.get("/wechat/oauth/start/", {"next": "/prescriptions/"})
    assert response.status_code == 302 and response["Location"] == "/prescriptions/"


# ---- over real HTTP: the simulated phone's menu, WeChat's authorize page, the platform ----------------------------


def test_menu_link_on_the_phone_binds_and_lands_on_home_nursing(live_server, wechat_simulator, settings):
    import html as html_lib
    import http.cookiejar
    import re
    import urllib.request

    from ihospital.wechat import menu

    settings.SITE_URL = live_server.url
    wechat_simulator.state.platform_url = live_server.url
    patient = PatientFactory()
    assert menu.publish(actor=None).ok
    jar = http.cookiejar.CookieJar()
    phone = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    page = phone.open(f"{wechat_simulator.phone_url}?sim_user=dave").read().decode()
    link = next(html_lib.unescape(h) for h, name in re.findall(r'<a class="mbtn" href="([^"]+)">([^<]+)</a>', page)
                if name == "上门护理")
    # Tap "home nursing": the platform sends the phone to WeChat's authorize page.
    response = phone.open(wechat_simulator.url + link)
    assert response.url.startswith(f"{wechat_simulator.url}/connect/oauth2/authorize?")
    allow_page = response.read().decode()
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', allow_page.split("</form>")[0]))
    form = {k: html_lib.unescape(v) for k, v in form.items()}
    response = phone.open(f"{wechat_simulator.url}/connect/oauth2/authorize/allow?"
                          + urlencode({**form, "decision": "allow"}))
    assert response.url == f"{live_server.url}/wechat/bind/"
    bind_page = response.read().decode()
    assert 'data-testid="bind-login"' in bind_page
    csrf = next(c.value for c in jar if c.name == "csrftoken")
    body = urlencode({"csrfmiddlewaretoken": csrf, "action": "login", "login-identifier": patient.user.phone,
                      "login-password": PASSWORD}).encode()
    request = urllib.request.Request(f"{live_server.url}/wechat/bind/", data=body,
                                     headers={"Referer": f"{live_server.url}/wechat/bind/"})
    response = phone.open(request)
    assert response.url == f"{live_server.url}/homecare/"
    assert bindings.openid_for(patient.user) == wechat_simulator.identity("dave")["openid"]
