"""Reminders and unanswered-message alerts: enqueued after commit with the right ``run_after``, and, when they run,
telling the right people once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from ihospital.accounts.models import Proxy, ProxyStatus
from ihospital.notifications.models import Notification
from ihospital.visits import chat, services, tasks
from ihospital.visits.models import Visit
from tests.factories import DepartmentFactory, NurseFactory, PatientFactory
from tests.visits import flows
from tests.visits.factories import online_doctor

pytestmark = pytest.mark.django_db


def task_rows(fn) -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path=fn.module_path).order_by("enqueued_at"))


# ---- enqueueing -----------------------------------------------------------------------------------------------


def test_a_booked_visit_enqueues_its_reminder_after_commit(patient, diagnosis, slot, settings,
                                                          django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        visit = flows.book(patient, slot, diagnosis)
    assert task_rows(tasks.remind_upcoming_visit) == []  # nothing before the commit
    for callback in callbacks:
        callback()
    (row,) = task_rows(tasks.remind_upcoming_visit)
    assert row.args_kwargs == {"args": [visit.pk], "kwargs": {}}
    assert row.run_after == slot.starts_at - timedelta(minutes=settings.VISIT_REMINDER_MINUTES)


def test_a_visit_starting_sooner_than_the_reminder_is_reminded_at_once(patient, diagnosis, doc, department,
                                                                       django_capture_on_commit_callbacks):
    from tests.visits.factories import SlotFactory

    starts = timezone.now() + timedelta(minutes=10)
    slot = SlotFactory(practitioner=doc, department=department, starts_at=starts,
                       ends_at=starts + timedelta(minutes=15))
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        flows.book(patient, slot, diagnosis)
    (row,) = task_rows(tasks.remind_upcoming_visit)
    assert before <= row.run_after <= timezone.now()


def test_a_queued_visit_has_no_reminder(patient, diagnosis, department, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        flows.queue(patient, department, diagnosis)
    assert task_rows(tasks.remind_upcoming_visit) == []


def test_a_patient_message_enqueues_the_unanswered_check(patient, relative, diagnosis, slot, doc, settings,
                                                         django_capture_on_commit_callbacks):
    visit = flows.accept(flows.book(patient, slot, diagnosis), doc)
    with django_capture_on_commit_callbacks(execute=True):
        before = timezone.now()
        mine = chat.post_message(actor=patient.user, visit_id=visit.pk, body="吃药后头晕")
        theirs = chat.post_message(actor=relative, visit_id=visit.pk, body="他昨晚也头晕")
        chat.post_message(actor=doc.user, visit_id=visit.pk, body="量一下血压")  # the doctor's own: none
        after = timezone.now()
    rows = task_rows(tasks.alert_unanswered)
    assert [r.args_kwargs["args"] for r in rows] == [[visit.pk, mine.pk], [visit.pk, theirs.pk]]
    wait = timedelta(minutes=settings.UNANSWERED_ALERT_MINUTES)
    assert all(before + wait <= r.run_after <= after + wait for r in rows)


def test_a_resent_message_does_not_enqueue_twice(patient, diagnosis, slot, doc, django_capture_on_commit_callbacks):
    visit = flows.accept(flows.book(patient, slot, diagnosis), doc)
    with django_capture_on_commit_callbacks(execute=True):
        chat.post_message(actor=patient.user, visit_id=visit.pk, body="在吗", client_id="x")
        chat.post_message(actor=patient.user, visit_id=visit.pk, body="在吗", client_id="x")
    assert len(task_rows(tasks.alert_unanswered)) == 1


# ---- the reminder --------------------------------------------------------------------------------------------------


def test_the_reminder_reaches_the_patient_and_active_proxies_once(patient, relative, diagnosis, slot):
    former = PatientFactory()
    from ihospital.accounts import services as accounts

    link = accounts.invite_proxy(patient_user=patient.user, proxy_phone=former.user.phone,
                                 proxy_real_name=former.user.real_name, relationship="spouse", consent=True)
    accounts.revoke_proxy(actor=patient.user, proxy_id=link.pk)
    assert Proxy.objects.get(pk=link.pk).status == ProxyStatus.REVOKED
    visit = flows.book(patient, slot, diagnosis)

    assert tasks.remind_upcoming_visit.call(visit.pk) == "sent"
    assert tasks.remind_upcoming_visit.call(visit.pk) == "sent"  # a retried task

    reminders = Notification.objects.filter(kind="visit.reminder")
    assert sorted(n.user_id for n in reminders) == sorted([patient.user.pk, relative.pk])
    local = timezone.localtime(slot.starts_at)
    assert all(f"{local:%H:%M}" in n.title and n.link == f"/visits/{visit.pk}/" for n in reminders)


def test_no_reminder_for_a_cancelled_visit(patient, relative, diagnosis, slot):
    visit = flows.book(patient, slot, diagnosis)
    services.cancel_visit(actor=patient.user, visit_id=visit.pk)
    assert tasks.remind_upcoming_visit.call(visit.pk) == "skipped"
    assert tasks.remind_upcoming_visit.call(10**9) == "skipped"
    assert not Notification.objects.exists()


# ---- the unanswered alert --------------------------------------------------------------------------------------------


def test_an_unanswered_patient_alerts_the_departments_doctors(patient, diagnosis, slot, doc, department):
    colleague = online_doctor(department, consulting=False)
    NurseFactory(departments=[department])  # not a doctor: not alerted
    online_doctor(DepartmentFactory())  # another department: not alerted
    visit = flows.accept(flows.book(patient, slot, diagnosis), doc)
    message = chat.post_message(actor=patient.user, visit_id=visit.pk, body="药吃完了")
    chat.post_message(actor=patient.user, visit_id=visit.pk, body="还在吗")  # the patient again: still waiting

    assert tasks.alert_unanswered.call(visit.pk, message.pk) == "alerted"
    assert tasks.alert_unanswered.call(visit.pk, message.pk) == "alerted"  # retried: no second notification

    alerted = Notification.objects.filter(kind="visit.unanswered")
    assert sorted(n.user_id for n in alerted) == sorted([doc.user.pk, colleague.user.pk])
    assert Visit.objects.get(pk=visit.pk).alerted_at is not None


def test_an_answered_message_alerts_nobody(patient, diagnosis, slot, doc):
    visit = flows.accept(flows.book(patient, slot, diagnosis), doc)
    message = chat.post_message(actor=patient.user, visit_id=visit.pk, body="药吃完了")
    chat.post_message(actor=doc.user, visit_id=visit.pk, body="我给您续方")
    assert tasks.alert_unanswered.call(visit.pk, message.pk) == "answered"
    assert not Notification.objects.filter(kind="visit.unanswered").exists()
    assert Visit.objects.get(pk=visit.pk).alerted_at is None


def test_no_alert_once_the_visit_has_ended(patient, diagnosis, slot, doc):
    visit = flows.accept(flows.book(patient, slot, diagnosis), doc)
    message = chat.post_message(actor=patient.user, visit_id=visit.pk, body="谢谢")
    flows.close(visit, doc)
    assert tasks.alert_unanswered.call(visit.pk, message.pk) == "answered"
    assert not Notification.objects.filter(kind="visit.unanswered").exists()
