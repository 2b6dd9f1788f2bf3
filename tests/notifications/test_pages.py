"""The notifications pages with Django's test client: the bell in the base layout (count, elder mode, nothing for
visitors), the list (own notifications only, delivery status per channel, mark one or all read, open the link,
someone else's notification answers 404), the unread count, the administrators' outbox (others get 403), and
the live socket ws/notifications/ (the bell's count arrives with each notification; anonymous sockets closed 4401).
The preferences page is tested in ``test_pages_preferences.py``."""

from __future__ import annotations

import re

import pytest
from asgiref.sync import async_to_sync
from django.test import Client
from django.utils import timezone

from ihospital.accounts.models import Role
from ihospital.core.models import AuditEvent
from ihospital.notifications import models
from ihospital.notifications.models import Notification
from ihospital.notifications.services import notify
from tests.factories import PatientFactory, StaffUserFactory, TOTPDeviceFactory
from tests.helpers import verify_session
from tests.prescriptions.test_consumers import committed, headers_of
from tests.visits import conftest as visits
from tests.visits.ws import WebsocketCommunicator

pytestmark = pytest.mark.django_db

_own_channel_layer = visits._own_channel_layer
TIMEOUT = 5


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    device = user.totpdevice_set.first()
    if device is not None:
        verify_session(client, device)
    return client


def page(response) -> str:
    return response.content.decode()


def bell_count(html: str) -> int:
    found = re.search(r'data-testid="bell" data-unread="(\d+)"', html)
    assert found, "no bell on the page"
    return int(found.group(1))


@pytest.fixture
def patient(db):
    return PatientFactory().user


@pytest.fixture
def other(db):
    return PatientFactory().user


@pytest.fixture
def admin(db):
    user = StaffUserFactory(role=Role.ADMIN)
    TOTPDeviceFactory(user=user)
    return user


def tell(user, title="您的复诊申请已被接诊", link="/visits/", kind="visit.accepted", **kw) -> Notification:
    return notify(users=[user], kind=kind, title=title, link=link, **kw)[0]


# ---- the bell ---------------------------------------------------------------------------------------------------


def test_the_bell_shows_the_unread_count_on_every_page(patient):
    client = signed_in(patient)
    assert bell_count(page(client.get("/"))) == 0
    assert 'data-testid="bell-count" hidden' in page(client.get("/"))
    tell(patient)
    tell(patient, title="处方审核结果", kind="prescription.reviewed")
    read = tell(patient, title="已读的一条")
    read.read_at = timezone.now()
    read.save()
    html = page(client.get("/homecare/"))
    assert bell_count(html) == 2
    assert 'href="/notifications/"' in html
    assert "notifications/bell.js" in html and "notifications/notifications.css" in html
    assert re.search(r"data-bell-words>2 (unread|条未读)<", html)  # for screen readers


def test_the_bell_caps_at_99_plus_and_follows_elder_mode(patient):
    for i in range(101):
        tell(patient, title=f"通知 {i}")
    client = signed_in(patient)
    client.post("/accounts/preferences/elder-mode/", {"elder_mode": "1", "next": "/"})
    html = page(client.get("/"))
    assert 'class="no-js elder"' in html
    assert bell_count(html) == 101
    assert "99+" in html


def test_no_bell_for_a_visitor():
    html = page(Client().get("/"))
    assert 'data-testid="bell"' not in html and "notifications/bell.js" not in html


def test_the_count_as_json(patient, other):
    tell(patient)
    tell(other)
    tell(other)
    assert signed_in(patient).get("/notifications/count/").json() == {"unread": 1}
    assert Client().get("/notifications/count/").status_code == 302  # to sign-in


# ---- the list ---------------------------------------------------------------------------------------------------


def test_the_list_shows_only_my_notifications_newest_first(patient, other):
    first = tell(patient, title="第一条")
    second = tell(patient, title="第二条")
    theirs = tell(other, title="别人的通知")
    html = page(signed_in(patient).get("/notifications/"))
    assert html.index(f'data-testid="notification-{second.pk}"') < html.index(f'data-testid="notification-{first.pk}"')
    assert "别人的通知" not in html and f"notification-{theirs.pk}" not in html
    assert 'data-unread="2"' in html


def test_mark_one_read_and_the_unread_filter(patient):
    a, b = tell(patient, title="甲"), tell(patient, title="乙")
    client = signed_in(patient)
    response = client.post(f"/notifications/{a.pk}/read/")
    assert response.status_code == 302 and response["Location"] == "/notifications/"
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.read_at is not None and b.read_at is None
    html = page(client.get("/notifications/?show=unread"))
    assert f"notification-{b.pk}" in html and f"notification-{a.pk}" not in html
    assert re.search(rf'data-testid="notification-{a.pk}"\s+data-kind="visit.accepted" data-read="true"',
                     page(client.get("/notifications/")))


def test_open_marks_read_and_follows_only_a_path_of_this_site(patient):
    inside = tell(patient, link="/homecare/requests/12/")
    outside = tell(patient, title="外链", link="https://evil.example/phish")
    client = signed_in(patient)
    response = client.post(f"/notifications/{inside.pk}/read/", {"open": "1"})
    assert response.status_code == 302 and response["Location"] == "/homecare/requests/12/"
    response = client.post(f"/notifications/{outside.pk}/read/", {"open": "1"})
    assert response["Location"] == "/notifications/"
    html = page(client.get("/notifications/"))
    assert f'data-testid="open-{outside.pk}"' not in html  # no "open" button for an outside link
    assert f'data-testid="open-{inside.pk}"' in html
    inside.refresh_from_db()
    outside.refresh_from_db()
    assert inside.read_at and outside.read_at


def test_mark_all_read(patient, other):
    for _ in range(3):
        tell(patient)
    theirs = tell(other)
    client = signed_in(patient)
    response = client.post("/notifications/read-all/", follow=True)
    assert response.status_code == 200
    assert Notification.objects.filter(user=patient, read_at__isnull=True).count() == 0
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert bell_count(page(response)) == 0
    assert 'data-testid="read-all"' not in page(response)


def test_someone_elses_notification_answers_404_and_stays_unread(patient, other):
    theirs = tell(other)
    client = signed_in(patient)
    assert client.post(f"/notifications/{theirs.pk}/read/").status_code == 404
    assert client.post(f"/notifications/{theirs.pk}/read/", {"open": "1"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_reading_needs_sign_in_and_post(patient):
    n = tell(patient)
    assert Client().post(f"/notifications/{n.pk}/read/").status_code == 302
    assert signed_in(patient).get(f"/notifications/{n.pk}/read/").status_code == 405
    n.refresh_from_db()
    assert n.read_at is None


def test_an_empty_list_says_so_in_english(patient):
    patient.language = "en"
    patient.save(update_fields=["language"])
    html = page(signed_in(patient).get("/notifications/"))
    assert 'data-testid="no-notifications"' in html and "No notifications yet." in html


@pytest.mark.skipif(not hasattr(models, "Delivery"), reason="the Delivery model is not there yet")
def test_delivery_status_per_channel(patient):
    n = tell(patient)
    models.Delivery.objects.filter(notification=n).delete()  # whatever notify() queued: the rows below decide
    models.Delivery.objects.create(notification=n, channel="wechat", status="sent", sent_at=timezone.now(),
                                   attempts=1, provider_ref="msg-1")
    models.Delivery.objects.create(notification=n, channel="sms", status="failed", attempts=5,
                                   last_error="HTTP 503")
    models.Delivery.objects.create(notification=n, channel="email", status="queued", attempts=1,
                                   next_attempt_at=timezone.now())
    html = page(signed_in(patient).get("/notifications/"))
    assert f'data-testid="delivery-{n.pk}-wechat" data-status="sent"' in html
    assert f'data-testid="delivery-{n.pk}-sms" data-status="failed"' in html
    assert f'data-testid="delivery-{n.pk}-email" data-status="queued"' in html
    assert re.search(r"(WeChat|微信): (sent|已发送)", html)


# ---- the outbox -------------------------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(models, "OutboxMessage"), reason="the OutboxMessage model is not there yet")
def test_the_outbox_for_administrators(admin):
    sms = models.OutboxMessage.objects.create(channel="sms", to="+8613800000001", body="【医院】您有一条处方审核结果")
    mail = models.OutboxMessage.objects.create(channel="email", to="a@example.com", subject="通知", body="请登录查看")
    client = signed_in(admin)
    html = page(client.get("/"))
    assert 'data-testid="nav-outbox"' in html
    html = page(client.get("/notifications/outbox/"))
    assert f'data-testid="outbox-{sms.pk}"' in html and f'data-testid="outbox-{mail.pk}"' in html
    html = page(client.get("/notifications/outbox/?channel=sms"))
    assert f'data-testid="outbox-{sms.pk}"' in html and f'data-testid="outbox-{mail.pk}"' not in html
    assert AuditEvent.objects.filter(actor=admin, object_type="notifications.outboxmessage").exists()


def test_the_outbox_is_refused_to_everyone_else(patient, admin):
    assert signed_in(patient).get("/notifications/outbox/").status_code == 403
    doctor = StaffUserFactory(role=Role.DOCTOR)
    TOTPDeviceFactory(user=doctor)
    assert signed_in(doctor).get("/notifications/outbox/").status_code == 403
    assert Client().get("/notifications/outbox/").status_code == 302
    # An administrator without the second factor is signed out by the middleware, never shown the outbox.
    client = Client()
    client.force_login(admin)
    assert client.get("/notifications/outbox/").status_code == 302


# ---- the live socket --------------------------------------------------------------------------------------------


def test_the_socket_brings_each_notification_with_the_unread_count(patient, other):
    from ihospital.asgi import application

    tell(patient, title="旧的一条")
    headers = headers_of(patient)

    async def scenario():
        socket = WebsocketCommunicator(application, "/ws/notifications/", headers=headers)
        connected, _code = await socket.connect(timeout=TIMEOUT)
        assert connected
        assert (await socket.receive_json_from(timeout=TIMEOUT)) == {"type": "hello", "groups": 1}
        await committed(lambda: tell(patient, title="您的药品已发货", link="/pharmacy/orders/", kind="order.shipped"))
        frame = await socket.receive_json_from(timeout=TIMEOUT)
        assert frame["type"] == "notification" and frame["unread"] == 2
        assert frame["title"] == "您的药品已发货" and frame["kind"] == "order.shipped"
        assert "body" not in frame
        # Someone else's notification never reaches this socket.
        await committed(lambda: tell(other, title="别人的"))
        assert await socket.receive_nothing(timeout=0.3)
        await socket.send_json_to({"type": "ping"})
        assert (await socket.receive_json_from(timeout=TIMEOUT)) == {"type": "pong"}
        await socket.disconnect()

    async_to_sync(scenario)()


def test_marking_read_on_one_page_updates_the_bell_on_the_others(patient):
    from ihospital.asgi import application

    n = tell(patient)
    headers = headers_of(patient)
    client = signed_in(patient)

    async def scenario():
        socket = WebsocketCommunicator(application, "/ws/notifications/", headers=headers)
        connected, _code = await socket.connect(timeout=TIMEOUT)
        assert connected
        await socket.receive_json_from(timeout=TIMEOUT)
        await committed(lambda: client.post(f"/notifications/{n.pk}/read/"))
        assert (await socket.receive_json_from(timeout=TIMEOUT)) == {"type": "read", "unread": 0}
        await socket.disconnect()

    async_to_sync(scenario)()


def test_anonymous_sockets_are_closed_4401():
    from ihospital.asgi import application

    async def scenario():
        code = await WebsocketCommunicator(application, "/ws/notifications/", headers=headers_of(None)).close_code(
            timeout=TIMEOUT
        )
        assert code == 4401

    async_to_sync(scenario)()


def test_an_error_page_still_renders_when_the_count_cannot_be_read(patient, monkeypatch, rf):
    from django.db import DatabaseError
    from django.template.loader import render_to_string

    from ihospital.notifications.templatetags import notification_bell

    class Broken:
        def filter(self, **kwargs):
            raise DatabaseError("the database is gone")

    monkeypatch.setattr(notification_bell.Notification, "objects", Broken())
    request = rf.get("/")
    request.user = patient
    html = render_to_string("notifications/_bell.html", notification_bell.notification_bell({"request": request}))
    assert 'data-testid="bell" data-unread="0"' in html
