"""Nurses' safety through ``safety`` and the alarm endpoint: the one-touch alarm (by token, never by session),
merged presses, the responders it reaches, the repeat until acknowledged, acknowledging and resolving, and the
check-on-nurse alert of a visit that runs far too long."""

from __future__ import annotations

import time as clock
from datetime import timedelta

import pytest
from django.core import signing
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from ihospital.accounts.models import User
from ihospital.core.errors import Conflict, DomainError, Forbidden, NotFound
from ihospital.core.models import AuditEvent
from ihospital.homecare import safety, tasks, visiting
from ihospital.homecare.models import Alarm, AlarmKind, AlarmStatus, NurseVisit
from ihospital.notifications.models import Notification
from tests.homecare import factories as f

pytestmark = pytest.mark.django_db

REPEAT = "ihospital.homecare.tasks.repeat_alarm"


@pytest.fixture
def visit(elder, nurse):
    """Today's visit, the nurse with the patient."""
    return f.in_service(f.today_visit(elder, nurse), nurse)


def press(nurse, **kw) -> Alarm:
    return safety.raise_alarm(token=safety.alarm_token(nurse), **kw)


def repeats_queued(alarm) -> list[DBTaskResult]:
    return [row for row in DBTaskResult.objects.filter(task_path=REPEAT).order_by("enqueued_at")
            if row.args_kwargs["args"] == [alarm.pk]]


# ---- raising -----------------------------------------------------------------------------------------------------


def test_a_press_raises_one_alarm_with_the_current_visit_audited_and_announced(
        visit, nurse, guard, dispatcher, admin_user, settings, django_capture_on_commit_callbacks):
    settings.HOMECARE_ALARM_REPEAT_SECONDS = 60
    other_guard = f.dispatcher()
    other_guard.role = "security"
    other_guard.save(update_fields=["role"])
    with django_capture_on_commit_callbacks(execute=True):
        alarm = press(nurse, latitude="37.8561", longitude="112.5702", accuracy="18")
    assert (alarm.kind, alarm.status, alarm.nurse, alarm.visit) == (AlarmKind.PANIC, AlarmStatus.RAISED, nurse, visit)
    assert (alarm.latitude, alarm.longitude, alarm.accuracy_m) == (37.8561, 112.5702, 18.0)
    event = AuditEvent.objects.get(object_type="homecare.alarm", object_id=str(alarm.pk))
    assert event.actor == nurse and event.patient_id == visit.request.patient_id and event.detail["visit"] == visit.pk
    # Every security officer and dispatcher is told (not the admin, who sees the console, nor the patient).
    told = set(Notification.objects.filter(kind="homecare.alarm.panic").values_list("user_id", flat=True))
    responders = set(User.objects.filter(role__in=["security", "dispatcher"]).values_list("pk", flat=True))
    assert {guard.pk, other_guard.pk, dispatcher.pk} <= told == responders
    assert admin_user.pk not in told and nurse.pk not in told
    assert nurse.real_name in Notification.objects.filter(user=guard).first().title
    [repeat] = repeats_queued(alarm)
    assert abs((repeat.run_after - alarm.raised_at).total_seconds() - 60) < 5
    # The console's view of it: who, where, and the visit.
    data = safety.payload(alarm)
    assert data["nurse"] == nurse.real_name and data["visit"] == visit.request.number
    assert data["patient"] == visit.request.patient.real_name and data["address"].startswith("太原市")


def test_presses_within_two_minutes_are_one_alarm_and_a_later_location_is_kept(visit, nurse, guard):
    first = press(nurse)
    assert first.latitude is None
    again = press(nurse, latitude=37.857, longitude=112.571, accuracy=25)
    assert again.pk == first.pk and Alarm.objects.count() == 1
    assert Alarm.objects.get(pk=first.pk).latitude == 37.857
    assert press(nurse).latitude == 37.857  # a press without a location keeps the one known
    Alarm.objects.filter(pk=first.pk).update(raised_at=timezone.now() - timedelta(minutes=3))
    assert press(nurse).pk != first.pk and Alarm.objects.count() == 2
    # Presses were notified once: merged presses announce live, they do not spam the notifications.
    assert Notification.objects.filter(user=guard, kind="homecare.alarm.panic").count() == 2


def test_a_press_after_an_acknowledgement_is_a_new_alarm(visit, nurse, guard):
    first = press(nurse)
    safety.acknowledge(actor=guard, alarm_id=first.pk)
    assert press(nurse).pk != first.pk


def test_a_press_between_visits_has_no_visit(nurse):
    alarm = press(nurse, latitude=37.86, longitude=112.56)
    assert alarm.visit is None and safety.payload(alarm)["visit"] == ""


def test_a_visit_id_of_another_nurse_is_ignored(visit, nurse, other_nurse, elder):
    alarm = press(other_nurse, visit_id=visit.pk)
    assert alarm.visit is None  # never someone else's patient on the console under this nurse's name


@pytest.mark.parametrize("latitude, longitude", [("abc", "112.5"), ("95", "112.5"), ("37.8", None), ([], {})])
def test_a_garbage_location_never_stops_an_alarm(visit, nurse, latitude, longitude):
    alarm = press(nurse, latitude=latitude, longitude=longitude, accuracy="?")
    assert alarm.pk and alarm.latitude is None and alarm.visit == visit


def test_a_bad_token_raises_nothing(nurse, guard, elder):
    for token in ("", "garbage", signing.dumps({"nurse": nurse.pk}, salt="another.salt"),
                  safety.alarm_token(guard), safety.alarm_token(elder.user)):
        with pytest.raises(Forbidden) as excinfo:
            safety.raise_alarm(token=token)
        assert excinfo.value.code == "invalid_alarm_token"
    assert not Alarm.objects.exists()


def test_an_expired_token_or_an_inactive_nurse_is_refused(nurse, monkeypatch):
    issued = clock.time() - (safety.ALARM_TOKEN_HOURS + 1) * 3600
    monkeypatch.setattr(signing.time, "time", lambda: issued)
    old = safety.alarm_token(nurse)
    monkeypatch.undo()
    with pytest.raises(Forbidden):
        safety.raise_alarm(token=old)
    token = safety.alarm_token(nurse)
    type(nurse).objects.filter(pk=nurse.pk).update(is_active=False)
    with pytest.raises(Forbidden) as excinfo:
        safety.raise_alarm(token=token)
    assert excinfo.value.code == "invalid_alarm_token" and not Alarm.objects.exists()


# ---- until someone acknowledges -----------------------------------------------------------------------------------


def run_repeat(row: DBTaskResult, capture) -> str:
    row.claim("tests")
    with capture(execute=True):
        value = row.task.call(*row.task_result.args, **row.task_result.kwargs)
    row.set_successful(value)
    return value


def test_the_alarm_is_announced_again_until_acknowledged(visit, nurse, guard, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        alarm = press(nurse)
    [first] = repeats_queued(alarm)
    assert run_repeat(first, django_capture_on_commit_callbacks) == "repeated"
    assert Alarm.objects.get(pk=alarm.pk).repeats == 1
    assert Notification.objects.filter(user=guard, kind="homecare.alarm.panic").count() == 2
    second = [row for row in repeats_queued(alarm) if row.pk != first.pk]
    assert len(second) == 1

    safety.acknowledge(actor=guard, alarm_id=alarm.pk)
    assert run_repeat(second[0], django_capture_on_commit_callbacks) == "done"
    assert len(repeats_queued(alarm)) == 2  # nothing more queued
    assert Alarm.objects.get(pk=alarm.pk).repeats == 1
    assert Notification.objects.filter(user=guard, kind="homecare.alarm.panic").count() == 2


# ---- acknowledging and resolving ----------------------------------------------------------------------------------


def test_acknowledge_and_resolve_are_for_responders(visit, nurse, other_nurse, elder, guard, admin_user,
                                                    dispatcher):
    alarm = press(nurse)
    for who in (nurse, other_nurse, elder.user):
        with pytest.raises(NotFound):
            safety.acknowledge(actor=who, alarm_id=alarm.pk)
        with pytest.raises(NotFound):
            safety.resolve(actor=who, alarm_id=alarm.pk, resolution="ok")
    with pytest.raises(NotFound):
        safety.acknowledge(actor=guard, alarm_id=999999)
    acknowledged = safety.acknowledge(actor=dispatcher, alarm_id=alarm.pk)
    assert acknowledged.status == AlarmStatus.ACKNOWLEDGED and acknowledged.acknowledged_by == dispatcher
    # The nurse is told who is responding.
    assert dispatcher.real_name in Notification.objects.get(user=nurse, kind="homecare.alarm.acknowledged").title
    with pytest.raises(Conflict) as excinfo:
        safety.acknowledge(actor=guard, alarm_id=alarm.pk)
    assert excinfo.value.code == "already_acknowledged" and dispatcher.real_name in str(excinfo.value.message)
    with pytest.raises(DomainError) as excinfo:
        safety.resolve(actor=admin_user, alarm_id=alarm.pk, resolution="  ")
    assert excinfo.value.code == "resolution_required"
    resolved = safety.resolve(actor=admin_user, alarm_id=alarm.pk, resolution="保安到场，患者家属情绪激动，已劝离")
    assert resolved.status == AlarmStatus.RESOLVED and resolved.resolved_by == admin_user
    assert resolved.acknowledged_by == dispatcher  # who answered first stays on record
    with pytest.raises(Conflict):
        safety.resolve(actor=guard, alarm_id=alarm.pk, resolution="again")


def test_resolving_an_unacknowledged_alarm_acknowledges_it_too(visit, nurse, guard):
    alarm = press(nurse)
    resolved = safety.resolve(actor=guard, alarm_id=alarm.pk, resolution="误触，电话确认安全")
    assert resolved.acknowledged_by == guard and resolved.acknowledged_at is not None


# ---- the check-on-nurse alert ---------------------------------------------------------------------------------------


def test_a_visit_still_in_service_raises_one_overrun_alert(visit, nurse, guard, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.check_overrun.call(visit.pk) == "raised"
    alarm = Alarm.objects.get(kind=AlarmKind.OVERRUN)
    assert alarm.visit == visit and alarm.nurse == nurse and alarm.status == AlarmStatus.RAISED
    assert Notification.objects.filter(user=guard, kind="homecare.alarm.overrun").count() == 1
    assert safety.raise_overrun(visit_id=visit.pk) is None  # once per visit, however often the task runs
    assert tasks.check_overrun.call(visit.pk) == "fine"
    assert Alarm.objects.filter(kind=AlarmKind.OVERRUN).count() == 1


def test_no_overrun_alert_after_check_out(visit, nurse):
    visiting.save_record(actor=nurse, visit_id=visit.pk, procedure_notes="已换药")
    visiting.check_out(actor=nurse, visit_id=visit.pk)
    assert tasks.check_overrun.call(visit.pk) == "fine"
    assert safety.raise_overrun(visit_id=999999) is None
    assert not Alarm.objects.exists()


def test_no_overrun_alert_before_check_in(elder, nurse):
    scheduled = f.today_visit(elder, nurse)
    assert safety.raise_overrun(visit_id=scheduled.pk) is None
    assert NurseVisit.objects.get(pk=scheduled.pk).request.status == "scheduled"


# ---- the endpoint: no session, no CSRF ----------------------------------------------------------------------------


def test_the_endpoint_works_without_a_session_and_with_a_garbage_location(visit, nurse):
    browser = Client(enforce_csrf_checks=True)  # no login, no cookies at all
    response = browser.post("/homecare/alarm/", {"token": safety.alarm_token(nurse), "latitude": "here",
                                                 "longitude": "there", "visit": "not-a-number"},
                            HTTP_ACCEPT="application/json")
    assert response.status_code == 201, response.content
    alarm = Alarm.objects.get(pk=response.json()["alarm"]["id"])
    assert alarm.latitude is None and alarm.visit == visit and response.json()["alarm"]["located"] is False
    assert "sessionid" not in response.cookies


def test_the_endpoint_refuses_a_bad_token_with_403_json(nurse):
    response = Client().post("/homecare/alarm/", {"token": "nope"}, HTTP_ACCEPT="application/json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_alarm_token"
    response = Client().post("/homecare/alarm/", b"{not json", content_type="application/json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "invalid_alarm_token"
    assert not Alarm.objects.exists()


def test_the_second_nurses_alarm_carries_the_visit(elder, nurse, other_nurse):
    from ihospital.homecare import dispatch
    from tests.homecare.test_visiting import two_nurse_visit

    visit, by = two_nurse_visit(elder, nurse)
    f.shift(other_nurse, visit.day, "00:00", "23:59", by=by)
    dispatch.set_second_nurse(actor=by, request_id=visit.request_id, nurse_id=other_nurse.pk)
    f.in_service(visit, nurse)
    assert press(other_nurse).visit == visit  # found as the live visit
    Alarm.objects.update(status=AlarmStatus.RESOLVED)
    assert press(other_nurse, visit_id=visit.pk).visit == visit
