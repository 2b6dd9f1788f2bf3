"""The Official Account's menu: built from settings, checked against WeChat's limits, published to the simulator
(the request body WeChat receives), recorded and audited; the command and the administrators' page."""

from __future__ import annotations

import json
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import CommandError, call_command

from ihospital.accounts.models import Role
from ihospital.core.errors import DomainError, Forbidden
from ihospital.core.models import AuditEvent
from ihospital.wechat import menu
from ihospital.wechat.models import MenuPublication
from tests.factories import PatientFactory, StaffUserFactory

pytestmark = pytest.mark.django_db


def _leaves(body: dict) -> list[dict]:
    out = []
    for button in body["button"]:
        out.extend(button.get("sub_button") or [button])
    return out


def test_default_menu_has_the_services_each_through_oauth(settings):
    settings.SITE_URL = "https://hospital.example"
    body = menu.build_menu()
    assert 1 <= len(body["button"]) <= 3
    views = {urlsplit(b["url"]).path: parse_qs(urlsplit(b["url"]).query)["next"][0]
             for b in _leaves(body) if b["type"] == "view"}
    assert set(views) == {"/wechat/oauth/start/"}
    targets = {parse_qs(urlsplit(b["url"]).query)["next"][0] for b in _leaves(body) if b["type"] == "view"}
    assert {"/visits/", "/prescriptions/", "/diagnostics/", "/homecare/", "/pharmacy/orders/"} <= targets
    assert all(b["url"].startswith("https://hospital.example/wechat/oauth/start/?")
               for b in _leaves(body) if b["type"] == "view")
    # In the hospital's language (zh-Hans by default), whatever the language of whoever builds it.
    names = [b["name"] for b in _leaves(body)]
    assert "上门护理" in names and "在线复诊" in [b["name"] for b in body["button"]]


def test_wechat_menu_setting_replaces_the_default(settings):
    custom = {"button": [{"type": "view", "name": "预约", "url": "https://hospital.example/x"}]}
    settings.WECHAT_MENU = json.dumps(custom)
    assert menu.build_menu() == custom
    settings.WECHAT_MENU = custom
    assert menu.build_menu() == custom


@pytest.mark.parametrize("bad", [
    "not json",
    {"button": []},
    {"button": [{"type": "view", "name": "a", "url": "https://x"}] * 4},
    {"button": [{"type": "view", "name": "非常非常长的菜单名字", "url": "https://x"}]},
    {"button": [{"type": "view", "name": "a", "url": "javascript:alert(1)"}]},
    {"button": [{"type": "teleport", "name": "a"}]},
    {"button": [{"type": "click", "name": "a"}]},
    {"button": [{"name": "a", "sub_button": [{"type": "click", "name": "b", "key": "k"}] * 6}]},
])
def test_a_bad_configured_menu_is_refused_before_sending(settings, wechat_simulator, bad):
    settings.WECHAT_MENU = bad
    with pytest.raises(DomainError) as caught:
        menu.publish(actor=None)
    assert caught.value.code == "invalid_menu"
    assert wechat_simulator.state.menu is None
    assert not MenuPublication.objects.exists()


def test_publish_sends_the_menu_to_wechat(wechat_simulator):
    admin = StaffUserFactory(role=Role.ADMIN)
    publication = menu.publish(actor=admin)
    assert publication.ok and publication.error == "" and publication.by == admin
    expected = menu.build_menu()
    assert publication.body == expected
    # What WeChat received: the same JSON, Chinese sent as UTF-8 (not \\u escapes, which WeChat shows literally).
    assert wechat_simulator.state.menu == expected
    raw = wechat_simulator.state.menu_raw
    assert "上门护理" in raw and "\\u" not in raw
    event = AuditEvent.objects.get(object_type="wechat.menupublication")
    assert event.actor == admin and event.outcome == "ok"


def test_wechat_refusing_or_down_is_recorded_not_raised(wechat_simulator):
    wechat_simulator.set_outage(True)
    publication = menu.publish(actor=None)
    assert not publication.ok and publication.error
    assert wechat_simulator.state.menu is None
    assert AuditEvent.objects.get(object_type="wechat.menupublication").outcome == "failed"


def test_only_administrators_publish(wechat_simulator):
    for user in (PatientFactory().user, StaffUserFactory(role=Role.DOCTOR)):
        with pytest.raises(Forbidden):
            menu.publish(actor=user)
    assert wechat_simulator.state.menu is None
    assert not MenuPublication.objects.exists()


# ---- the command and the page -------------------------------------------------------------------------------


def test_command_publishes(wechat_simulator):
    out = StringIO()
    call_command("publish_wechat_menu", stdout=out)
    assert "published" in out.getvalue()
    assert wechat_simulator.state.menu == menu.build_menu()
    assert MenuPublication.objects.get().ok


def test_command_dry_run_sends_nothing(wechat_simulator):
    out = StringIO()
    call_command("publish_wechat_menu", "--dry-run", stdout=out)
    assert json.loads(out.getvalue()) == menu.build_menu()
    assert wechat_simulator.state.menu is None


def test_command_fails_loudly_when_wechat_is_down(wechat_simulator):
    wechat_simulator.set_outage(True)
    with pytest.raises(CommandError):
        call_command("publish_wechat_menu", stdout=StringIO())
    assert MenuPublication.objects.get().ok is False


def _admin_client(client):
    admin = StaffUserFactory(role=Role.ADMIN)
    client.force_login(admin)
    # Staff sessions need the second factor: mark this one verified, as the login would.
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=admin, name="t", confirmed=True)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return admin


def test_admin_page_previews_and_publishes(client, wechat_simulator):
    admin = _admin_client(client)
    page = client.get("/wechat/menu/")
    assert page.status_code == 200, page.content[:500]
    assert "上门护理" in page.content.decode() and b'data-testid="publish-menu"' in page.content
    response = client.post("/wechat/menu/")
    assert response.status_code == 302
    assert wechat_simulator.state.menu == menu.build_menu()
    assert MenuPublication.objects.get().by == admin
    page = client.get("/wechat/menu/")
    assert b'data-testid="publications"' in page.content


def test_admin_page_shows_wechat_refusing(client, wechat_simulator):
    _admin_client(client)
    wechat_simulator.set_outage(True)
    response = client.post("/wechat/menu/")
    assert response.status_code == 502
    assert MenuPublication.objects.get().ok is False


def test_menu_page_is_for_administrators_only(client, wechat_simulator):
    client.force_login(PatientFactory().user)
    assert client.get("/wechat/menu/").status_code == 403
    assert client.post("/wechat/menu/").status_code == 403
    assert wechat_simulator.state.menu is None


def test_django_admin_links_to_the_publish_page(client, wechat_simulator):
    admin = _admin_client(client)
    admin.is_staff = admin.is_superuser = True
    admin.save(update_fields=["is_staff", "is_superuser"])
    page = client.get("/admin/wechat/menupublication/")
    assert page.status_code == 200
    assert b'href="/wechat/menu/"' in page.content
