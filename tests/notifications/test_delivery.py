"""Deliveries: which channels a notification goes through (what the user has, their switches and muted categories),
quiet hours, retries with backoff, the final failure, and a failing channel never reaching the workflow."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from ihospital.core.errors import DomainError
from ihospital.core.models import AuditEvent
from ihospital.notifications import channels, preferences, services
from ihospital.notifications.models import Delivery, DeliveryStatus, Notification, OutboxMessage, Preference
from tests.factories import UserFactory
from tests.notifications.conftest import bind, deliver_rows

pytestmark = pytest.mark.django_db

CLINICAL_TITLE = "Metformin 500 mg for diabetes (E11.9) is approved"


def by_channel(notification: Notification) -> dict[str, Delivery]:
    return {d.channel: d for d in Delivery.objects.filter(notification=notification)}


@pytest.fixture
def person(db):
    """A patient with a mobile number, an e-mail address and a bound WeChat identity."""
    user = UserFactory(email="wang@example.com", language="en")
    bind(user)
    return user


# ---- which channels ----------------------------------------------------------------------------------------------


def test_a_notification_goes_in_app_and_through_every_channel_the_user_has(person, send, no_quiet_hours):
    (note,) = send([person], kind="order.shipped", title=CLINICAL_TITLE)
    deliveries = by_channel(note)
    assert set(deliveries) == {"inapp", "wechat", "sms", "email"}
    assert deliveries["inapp"].status == DeliveryStatus.SENT and deliveries["inapp"].sent_at
    assert all(deliveries[c].status == DeliveryStatus.QUEUED for c in ("wechat", "sms", "email"))
    assert deliver_rows().count() == 3


def test_only_the_channels_a_user_has(send, no_quiet_hours):
    phone_only = UserFactory(email="")
    nothing = UserFactory(phone=None, username="no-phone", email="")
    (a,) = send([phone_only])
    (b,) = send([nothing])
    assert set(by_channel(a)) == {"inapp", "sms"}
    assert set(by_channel(b)) == {"inapp"}


def test_an_inactive_user_gets_the_notification_in_app_only(send, no_quiet_hours):
    user = UserFactory(is_active=False, email="x@example.com")
    (note,) = send([user])
    assert set(by_channel(note)) == {"inapp"}


def test_switched_off_channels_and_muted_categories(person, send, no_quiet_hours):
    preferences.set_preferences(user=person, sms=False, muted_categories=["payment"])
    (shipped,) = send([person], kind="order.shipped")
    (paid,) = send([person], kind="order.paid", title="Payment received")
    assert set(by_channel(shipped)) == {"inapp", "wechat", "email"}
    assert set(by_channel(paid)) == {"inapp"}


def test_urgent_events_ignore_a_muted_category_but_not_the_channel_switches(person, send, no_quiet_hours):
    preferences.set_preferences(user=person, email=False, muted_categories=["diagnostics"])
    (note,) = send([person], kind="diagnostics.critical", title="Critical potassium for patient X")
    assert set(by_channel(note)) == {"inapp", "wechat", "sms"}


def test_a_dedupe_key_sends_once(person, send, no_quiet_hours):
    send([person], dedupe_key="order:1:shipped")
    assert send([person], dedupe_key="order:1:shipped") == []
    assert Delivery.objects.filter(notification__user=person).count() == 4


def test_nothing_is_queued_when_the_workflow_rolls_back(person, django_capture_on_commit_callbacks):
    from django.db import transaction

    with (django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError),
          transaction.atomic()):
            services.notify(users=[person], kind="order.shipped", title="x")
            raise RuntimeError("the workflow failed")
    assert callbacks == [] and not Notification.objects.exists() and not Delivery.objects.exists()


# ---- sending -----------------------------------------------------------------------------------------------------


def test_sms_and_email_reach_the_outbox_with_the_neutral_text_and_a_link(person, send, run_deliveries, settings,
                                                                        no_quiet_hours, monkeypatch):
    settings.EMAIL_BACKEND = "ihospital.notifications.outbox.EmailBackend"
    settings.SITE_URL = "https://hospital.example"
    monkeypatch.setattr("ihospital.notifications.channels.wechat.send", lambda d: "msg-1")
    (note,) = send([person], kind="prescription.approved", title=CLINICAL_TITLE, body="Take 2 tablets daily",
                   link="/prescriptions/7/")
    ran = run_deliveries()
    assert sorted(r.split(":")[1] for r in ran) == ["sent", "sent", "sent"]
    sms = OutboxMessage.objects.get(channel="sms")
    mail = OutboxMessage.objects.get(channel="email")
    assert sms.to == person.phone and mail.to == "wang@example.com"
    for message in (sms, mail):
        assert "There is a pharmacist review result for your prescription" in message.body
        assert "https://hospital.example/prescriptions/7/" in message.body
        for secret in ("Metformin", "diabetes", "E11", "500 mg", "tablets"):
            assert secret not in message.body and secret not in message.subject
    deliveries = by_channel(note)
    assert {c: d.status for c, d in deliveries.items()} == {c: "sent" for c in ("inapp", "wechat", "sms", "email")}
    assert deliveries["sms"].provider_ref == f"outbox:{sms.pk}" and deliveries["sms"].attempts == 1
    assert deliveries["wechat"].provider_ref == "msg-1"


def test_the_text_follows_the_recipients_language(send, run_deliveries, no_quiet_hours):
    zh = UserFactory(language="zh-hans")
    en = UserFactory(language="en")
    send([zh, en], kind="order.shipped")
    run_deliveries()
    texts = {m.to: m.body for m in OutboxMessage.objects.all()}
    assert texts[en.phone].startswith("Your order has been shipped.")
    assert zh.phone in texts  # in zh-Hans once the catalogue has the new strings (/tmp/wx_i18n/notify.json)


def test_a_channel_turned_off_after_queueing_is_skipped(person, send, run_deliveries, no_quiet_hours, monkeypatch):
    monkeypatch.setattr("ihospital.notifications.channels.wechat.send", lambda d: "msg-1")
    (note,) = send([person])
    preferences.set_preferences(user=person, sms=False)
    run_deliveries()
    sms = by_channel(note)["sms"]
    assert sms.status == DeliveryStatus.SKIPPED and "turned this channel off" in sms.last_error
    assert not OutboxMessage.objects.filter(channel="sms").exists()


def test_a_temporary_failure_is_retried_with_backoff_then_fails(person, send, run_deliveries, settings,
                                                               no_quiet_hours, monkeypatch):
    settings.NOTIFY_RETRY_SECONDS = [30, 120]
    calls = []

    def down(delivery):
        calls.append(timezone.now())
        raise channels.TemporaryFailure("provider busy")

    real_get = channels.get
    monkeypatch.setattr(channels, "get", lambda c: type("M", (), {"send": staticmethod(down),
                                                                  "available": staticmethod(lambda u: True)})
                        if c == "sms" else real_get(c))
    preferences.set_preferences(user=person, wechat=False, email=False)
    (note,) = send([person])
    start = timezone.now()
    assert [r.split(":")[1] for r in run_deliveries()] == ["retry"]
    sms = by_channel(note)["sms"]
    assert (sms.status, sms.attempts, sms.last_error) == ("queued", 1, "TemporaryFailure: provider busy")
    assert timedelta(seconds=29) < sms.next_attempt_at - start < timedelta(seconds=40)
    assert run_deliveries() == []  # not due yet
    assert [r.split(":")[1] for r in run_deliveries(until=start + timedelta(seconds=31))] == ["retry"]
    sms.refresh_from_db()
    assert sms.attempts == 2 and timedelta(seconds=110) < sms.next_attempt_at - timezone.now() <= timedelta(seconds=120)
    assert [r.split(":")[1] for r in run_deliveries(until=start + timedelta(hours=1))] == ["failed"]
    sms.refresh_from_db()
    assert (sms.status, sms.attempts, sms.next_attempt_at) == ("failed", 3, None)
    assert len(calls) == 3 and not deliver_rows(until=start + timedelta(days=1)).exists()


def test_a_permanent_failure_is_not_retried(person, send, run_deliveries, no_quiet_hours, monkeypatch):
    def refused(delivery):
        raise channels.PermanentFailure("recipient refused")

    monkeypatch.setattr("ihospital.notifications.channels.email.send", refused)
    monkeypatch.setattr("ihospital.notifications.channels.wechat.send", lambda d: "msg-1")
    (note,) = send([person])
    run_deliveries(until=timezone.now() + timedelta(days=1))
    email = by_channel(note)["email"]
    assert (email.status, email.attempts, email.last_error) == ("failed", 1, "recipient refused")


def test_an_unexpected_error_in_a_channel_is_retried_like_a_temporary_one(person, send, run_deliveries,
                                                                         no_quiet_hours, monkeypatch):
    def broken(delivery):
        raise KeyError("bug")

    monkeypatch.setattr("ihospital.notifications.channels.wechat.send", broken)
    (note,) = send([person])
    run_deliveries()
    wechat = by_channel(note)["wechat"]
    assert wechat.status == "queued" and wechat.attempts == 1 and "KeyError" in wechat.last_error


def test_no_failure_ever_reaches_the_workflow(person, monkeypatch, django_capture_on_commit_callbacks,
                                              no_quiet_hours):
    def boom(*args, **kwargs):
        raise RuntimeError("preferences table gone")

    monkeypatch.setattr("ihospital.notifications.preferences.channels_for", boom)
    monkeypatch.setattr("ihospital.notifications.channels.inapp.send", boom)
    with django_capture_on_commit_callbacks(execute=True):
        (note,) = services.notify(users=[person], kind="order.shipped", title="x")
    assert Notification.objects.filter(pk=note.pk).exists()
    assert by_channel(note)["inapp"].status == DeliveryStatus.FAILED


def test_the_wechat_channel_skips_a_user_without_binding(send, run_deliveries, no_quiet_hours):
    user = UserFactory()
    (note,) = send([user])
    delivery = Delivery.objects.create(notification=note, channel="wechat")
    services.enqueue(delivery.pk)
    run_deliveries()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SKIPPED


def test_lost_tasks_are_queued_again(person, send, no_quiet_hours):
    (note,) = send([person])
    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.all().delete()
    Delivery.objects.filter(notification=note).exclude(channel="inapp").update(
        next_attempt_at=timezone.now() - timedelta(hours=1))
    assert services.requeue_stale() == 3
    assert deliver_rows().count() == 3


# ---- quiet hours -------------------------------------------------------------------------------------------------


def local(hour: int, minute: int = 0, day: int = 10) -> datetime:
    return timezone.make_aware(datetime(2026, 3, day, hour, minute))


@pytest.mark.parametrize(("start", "end", "now", "until"), [
    (time(22), time(7), local(23, 30), local(7, day=11)),
    (time(22), time(7), local(3), local(7)),
    (time(22), time(7), local(7), None),
    (time(22), time(7), local(12), None),
    (time(22), time(7), local(22), local(7, day=11)),
    (time(12), time(14), local(13), local(14)),
    (time(12), time(14), local(14, 1), None),
    (None, None, local(3), None),
])
def test_quiet_until(start, end, now, until):
    pref = Preference(quiet_start=start, quiet_end=end)
    assert preferences.quiet_until(pref, now) == until


def test_quiet_hours_default_from_settings_and_a_user_may_clear_them(person, settings):
    settings.NOTIFY_QUIET_HOURS = "21:30-06:45"
    pref = preferences.preferences_for(person)
    assert (pref.pk, pref.quiet_start, pref.quiet_end) == (None, time(21, 30), time(6, 45))
    preferences.set_preferences(user=person, quiet_start=None, quiet_end=None)
    assert preferences.preferences_for(person).quiet_start is None


def _quiet_now(user, minutes_left: int = 60):
    now = timezone.localtime()
    start = (now - timedelta(minutes=30)).time().replace(second=0, microsecond=0)
    end = (now + timedelta(minutes=minutes_left)).time().replace(second=0, microsecond=0)
    preferences.set_preferences(user=user, quiet_start=start, quiet_end=end)
    return preferences.quiet_until(preferences.preferences_for(user))


def test_quiet_hours_postpone_the_outside_channels_to_their_end(person, send, run_deliveries, monkeypatch):
    monkeypatch.setattr("ihospital.notifications.channels.wechat.send", lambda d: "msg-1")
    until = _quiet_now(person)
    assert until is not None
    (note,) = send([person])
    deliveries = by_channel(note)
    assert deliveries["inapp"].status == "sent"  # in-app is never postponed
    for channel in ("wechat", "sms", "email"):
        assert deliveries[channel].status == "queued" and deliveries[channel].next_attempt_at == until
    assert run_deliveries() == []  # nothing due before the quiet hours end
    # the quiet hours are over (the clock has moved on): the queued attempts send
    monkeypatch.setattr("ihospital.notifications.preferences.quiet_until", lambda pref, now=None: None)
    assert [r.split(":")[1] for r in run_deliveries(until=until + timedelta(seconds=1))] == ["sent"] * 3
    assert {d.status for d in Delivery.objects.filter(notification=note)} == {"sent"}


def test_an_attempt_inside_quiet_hours_is_postponed(person, send, no_quiet_hours, monkeypatch):
    (note,) = send([person])
    until = _quiet_now(person, minutes_left=90)
    sms = by_channel(note)["sms"]
    assert services.attempt_delivery(delivery_id=sms.pk) == "postponed"
    sms.refresh_from_db()
    assert sms.status == "queued" and sms.attempts == 0 and sms.next_attempt_at == until
    assert deliver_rows(until=until).filter(args_kwargs__args=[sms.pk]).count() == 2  # the first run, the postponed


@pytest.mark.parametrize("kind", ["homecare.alarm.panic", "diagnostics.critical", "security.new_device"])
def test_security_alarms_and_critical_results_are_never_postponed(person, send, run_deliveries, kind, monkeypatch):
    monkeypatch.setattr("ihospital.notifications.channels.wechat.send", lambda d: "msg-1")
    assert _quiet_now(person) is not None
    (note,) = send([person], kind=kind, title="ALARM")
    assert all(d.next_attempt_at is None or d.next_attempt_at <= timezone.now()
               for d in Delivery.objects.filter(notification=note))
    run_deliveries()
    assert {d.status for d in Delivery.objects.filter(notification=note)} == {"sent"}


# ---- preferences service -----------------------------------------------------------------------------------------


def test_set_preferences_saves_audits_and_refuses_bad_input(person):
    pref = preferences.set_preferences(user=person, wechat=False, muted_categories=["order", "visit"],
                                       quiet_start="23:00", quiet_end="06:00")
    assert (pref.wechat, pref.sms, pref.email, pref.muted_categories) == (False, True, True, ["order", "visit"])
    assert (pref.quiet_start, pref.quiet_end) == (time(23), time(6))
    event = AuditEvent.objects.filter(object_type="notifications.preference").last()
    assert event.actor_id == person.pk and event.detail["wechat"] is False
    for kwargs, code in [
        ({"muted_categories": ["security"]}, "category_not_mutable"),
        ({"muted_categories": ["nope"]}, "unknown_category"),
        ({"quiet_start": "22:00"}, "quiet_hours_incomplete"),
        ({"quiet_start": "22:00", "quiet_end": None}, "quiet_hours_incomplete"),
        ({"quiet_start": "25:99", "quiet_end": "07:00"}, "invalid_quiet_hours"),
        ({"quiet_start": "07:00", "quiet_end": "07:00"}, "invalid_quiet_hours"),
    ]:
        with pytest.raises(DomainError) as refused:
            preferences.set_preferences(user=person, sms=False, **kwargs)
        assert refused.value.code == code
    pref.refresh_from_db()
    assert pref.sms is True and pref.muted_categories == ["order", "visit"]  # nothing changed


def test_channels_available(person):
    assert preferences.channels_available(person) == {"wechat": True, "sms": True, "email": True}
    nothing = UserFactory(phone=None, username="no-phone")
    assert preferences.channels_available(nothing) == {"wechat": False, "sms": False, "email": False}


def test_mark_read_and_unread_count(person, send, no_quiet_hours):
    a, = send([person])
    send([person], kind="order.paid")
    assert services.unread_count(person) == 2
    assert services.mark_read(user=person, notification_id=a.pk) == 1
    assert services.unread_count(person) == 1
    other = UserFactory()
    assert services.mark_read(user=other, notification_id=a.pk) == 0
    assert services.mark_all_read(user=person) == 1 and services.unread_count(person) == 0
    with pytest.raises(DomainError) as missing:
        services.notification_for(user=other, notification_id=a.pk)
    assert missing.value.code == "notification_not_found"
