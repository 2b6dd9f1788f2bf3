"""The WeChat channel against the local WeChat simulator (real HTTP): every notification event reaches the in-app
channel and the simulator as a template message with the neutral text and a link only; an outage is retried."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from ihospital.notifications import events, preferences
from ihospital.notifications.models import Delivery, DeliveryStatus, Notification
from tests.factories import UserFactory
from tests.notifications.conftest import bind
from tests.notifications.test_events import DYNAMIC, ISSUE_EVENTS, emitted_kinds

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_quiet_hours")]

# What the workflows put in titles and bodies that must never leave the platform.
CLINICAL = ["Metformin", "二甲双胍", "500 mg", "diabetes", "糖尿病", "E11.9", "Potassium", "6.9 mmol/L", "HbA1c",
            "CT chest", "胸部CT", "张三丰"]
TITLE = "Metformin 500 mg (二甲双胍) for diabetes 糖尿病 E11.9; Potassium 6.9 mmol/L"
BODY = "HbA1c and CT chest (胸部CT) for 张三丰"


def sample(pattern: str) -> str:
    return pattern.replace(".*", ".sample").replace("*", "-1")


def all_kinds() -> list[str]:
    kinds = {sample(e.pattern) for e in events.REGISTRY}
    kinds |= {k.replace("x", "1") if k.endswith(".x") else k for k in emitted_kinds()}
    kinds |= set(DYNAMIC) | set(ISSUE_EVENTS)
    return sorted(k for k in kinds if len(k) <= 48)


@pytest.fixture
def bound(wechat_simulator):
    user = UserFactory(language="en", phone=None, username="bound-patient")
    openid = bind(user, wechat_simulator, "bound-patient")
    return user, openid


def test_every_event_kind_reaches_in_app_and_the_simulator_without_clinical_text(bound, wechat_simulator, send,
                                                                                run_deliveries, settings):
    settings.SITE_URL = "https://hospital.example"
    user, openid = bound
    kinds = all_kinds()
    assert len(kinds) >= 60
    for kind in kinds:
        (note,) = send([user], kind=kind, title=TITLE, body=BODY, link="/pharmacy/orders/1/")
        assert note.title.startswith("Metformin")  # in the app, the workflow's own words
    ran = run_deliveries()
    assert [r.split(":")[1] for r in ran] == ["sent"] * len(kinds)
    assert Notification.objects.filter(user=user).count() == len(kinds)
    assert Delivery.objects.filter(notification__user=user, channel="inapp", status="sent").count() == len(kinds)
    messages = wechat_simulator.messages(openid)
    assert len(messages) == len(kinds)
    by_id = {str(m["msgid"]): m for m in messages}
    for delivery in Delivery.objects.filter(notification__user=user, channel="wechat").select_related("notification"):
        assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 1
        message = by_id[delivery.provider_ref]
        event = events.lookup(delivery.notification.kind)
        assert message["touser"] == openid
        assert set(message["data"]) == set(event.data_keys)
        assert message["data"]["first"]["value"] == str(event.text)
        assert message["data"]["keyword1"]["value"] == event.category_label()
        for word in CLINICAL:
            assert word not in message["raw"], (delivery.notification.kind, word)
        url = urlsplit(message["url"])
        assert (url.scheme, url.netloc, url.path) == ("https", "hospital.example", "/wechat/oauth/start/")
        assert parse_qs(url.query)["next"] == ["/pharmacy/orders/1/"]


def test_the_template_follows_the_category_setting(bound, wechat_simulator, send, run_deliveries, settings):
    settings.WECHAT_TEMPLATE_IDS = {"order": "TPL-ORDER", "default": "TPL-DEFAULT"}
    user, openid = bound
    send([user], kind="order.shipped")
    send([user], kind="homecare.en_route")
    run_deliveries()
    assert [m["template_id"] for m in wechat_simulator.messages(openid)] == ["TPL-ORDER", "TPL-DEFAULT"]


def test_chinese_users_get_the_chinese_category(wechat_simulator, send, run_deliveries):
    user = UserFactory(language="zh-hans")
    openid = bind(user, wechat_simulator, "zh-user")
    send([user], kind="order.shipped")
    run_deliveries()
    (message,) = wechat_simulator.messages(openid)
    from django.utils import translation

    with translation.override("zh-hans"):
        assert message["data"]["keyword1"]["value"] == str(events.CATEGORIES["order"])


def test_retry_after_a_simulator_outage(bound, wechat_simulator, send, run_deliveries, settings):
    settings.NOTIFY_RETRY_SECONDS = [5, 60]
    user, openid = bound
    wechat_simulator.set_outage(True)
    (note,) = send([user], kind="homecare.en_route", title="Your nurse is on the way")
    start = timezone.now()
    assert [r.split(":")[1] for r in run_deliveries()] == ["retry"]
    delivery = Delivery.objects.get(notification=note, channel="wechat")
    assert delivery.status == "queued" and delivery.attempts == 1 and "unavailable" in delivery.last_error.lower()
    assert wechat_simulator.messages(openid) == []
    wechat_simulator.set_outage(False)
    assert [r.split(":")[1] for r in run_deliveries(until=start + timedelta(seconds=6))] == ["sent"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 2, "")
    (message,) = wechat_simulator.messages(openid)
    assert str(message["msgid"]) == delivery.provider_ref


def test_busy_answers_are_retried_then_the_delivery_fails(bound, wechat_simulator, send, run_deliveries, settings):
    settings.NOTIFY_RETRY_SECONDS = [1, 1]
    user, openid = bound
    wechat_simulator.set_outage(True, mode="busy")  # errcode -1
    (note,) = send([user])
    ran = run_deliveries(until=timezone.now() + timedelta(hours=1))
    assert [r.split(":")[1] for r in ran] == ["retry", "retry", "failed"]
    delivery = Delivery.objects.get(notification=note, channel="wechat")
    assert (delivery.status, delivery.attempts) == ("failed", 3) and "-1" in delivery.last_error
    assert wechat_simulator.messages(openid) == []
    assert Notification.objects.filter(pk=note.pk, user=user).exists()  # the in-app one is there all the same


def test_an_expired_access_token_is_refreshed_and_the_message_sent(bound, wechat_simulator, send, run_deliveries):
    user, openid = bound
    send([user])
    run_deliveries()
    wechat_simulator.expire_tokens()
    send([user], kind="order.delivered")
    assert [r.split(":")[1] for r in run_deliveries()] == ["sent"]
    assert len(wechat_simulator.messages(openid)) == 2


def test_an_unbound_user_gets_no_wechat_delivery_and_unbinding_later_skips(bound, wechat_simulator, send,
                                                                          run_deliveries):
    user, openid = bound
    (note,) = send([user])
    from ihospital.wechat.models import Binding

    Binding.objects.filter(user=user).update(unbound_at=timezone.now())
    run_deliveries()
    delivery = Delivery.objects.get(notification=note, channel="wechat")
    assert delivery.status == DeliveryStatus.SKIPPED
    (later,) = send([user])
    assert not Delivery.objects.filter(notification=later, channel="wechat").exists()
    assert wechat_simulator.messages(openid) == []


def test_a_user_who_switched_wechat_off_gets_none(bound, wechat_simulator, send, run_deliveries):
    user, openid = bound
    preferences.set_preferences(user=user, wechat=False)
    (note,) = send([user])
    run_deliveries()
    assert set(Delivery.objects.filter(notification=note).values_list("channel", flat=True)) == {"inapp"}
    assert wechat_simulator.messages(openid) == []


def test_the_request_body_is_what_wechat_documents(bound, wechat_simulator, send, run_deliveries):
    user, openid = bound
    send([user], kind="diagnostics.released", link="/diagnostics/orders/3/")
    run_deliveries()
    (message,) = wechat_simulator.messages(openid)
    body = json.loads(message["raw"])
    assert set(body) >= {"touser", "template_id", "url", "data"}
    assert all(set(v) >= {"value"} for v in body["data"].values())
