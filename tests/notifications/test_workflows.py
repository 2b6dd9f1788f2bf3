"""Notifications from a real workflow (a nurse's one-touch alarm, homecare.safety): the alarm reaches the guard's
WeChat at once even in quiet hours, carries no patient detail, and a WeChat outage neither fails the alarm nor loses
the message."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from ihospital.homecare import safety
from ihospital.homecare.models import Alarm
from ihospital.notifications import events, preferences
from ihospital.notifications.models import Delivery, Notification
from tests.homecare.conftest import dispatcher, guard, nurse  # noqa: F401 - fixtures
from tests.notifications.conftest import bind

pytestmark = pytest.mark.django_db


def press(nurse, capture) -> Alarm:  # noqa: F811 - the fixture's name
    with capture(execute=True):
        return safety.raise_alarm(token=safety.alarm_token(nurse), latitude="37.8561", longitude="112.5702")


def test_an_alarm_in_quiet_hours_reaches_the_guards_wechat_at_once(guard, nurse, wechat_simulator,  # noqa: F811
                                                                    run_deliveries, settings,
                                                                    django_capture_on_commit_callbacks):
    openid = bind(guard, wechat_simulator, "guard-on-duty")
    now = timezone.localtime()
    preferences.set_preferences(user=guard, quiet_start=(now - timedelta(hours=1)).time(),
                                quiet_end=(now + timedelta(hours=1)).time())
    alarm = press(nurse, django_capture_on_commit_callbacks)
    note = Notification.objects.get(user=guard, kind="homecare.alarm.panic")
    wechat = Delivery.objects.get(notification=note, channel="wechat")
    assert wechat.next_attempt_at <= timezone.now()
    assert "sent" in {r.split(":")[1] for r in run_deliveries()}
    (message,) = wechat_simulator.messages(openid)
    with translation.override(guard.language):
        assert message["data"]["first"]["value"] == str(events.lookup("homecare.alarm.panic").text)
    assert nurse.real_name not in message["raw"] and "37.8561" not in message["raw"]
    assert alarm.pk and message["url"] == f"{settings.SITE_URL}/homecare/security/"  # staff: no WeChat sign-in


def test_a_wechat_outage_does_not_fail_the_alarm_and_the_message_follows(guard, nurse, wechat_simulator,  # noqa: F811
                                                                         run_deliveries, settings,
                                                                         django_capture_on_commit_callbacks):
    settings.NOTIFY_QUIET_HOURS = ""
    settings.NOTIFY_RETRY_SECONDS = [5]
    openid = bind(guard, wechat_simulator, "guard-2")
    wechat_simulator.set_outage(True)
    alarm = press(nurse, django_capture_on_commit_callbacks)
    assert Alarm.objects.filter(pk=alarm.pk).exists()
    assert Notification.objects.filter(user=guard, kind="homecare.alarm.panic").exists()
    run_deliveries()
    wechat = Delivery.objects.get(notification__user=guard, channel="wechat")
    assert (wechat.status, wechat.attempts) == ("queued", 1)
    wechat_simulator.set_outage(False)
    run_deliveries(until=timezone.now() + timedelta(seconds=6))
    wechat.refresh_from_db()
    assert wechat.status == "sent" and len(wechat_simulator.messages(openid)) == 1
