"""What the patient's side hears of a visit outside its room: the doctor accepted it (once, with its time), and the
doctor replied (never quoting the message, and at most one unread notification per visit and person)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from ihospital.core.errors import Conflict
from ihospital.notifications import events
from ihospital.notifications.models import Notification
from ihospital.notifications.services import mark_read
from ihospital.visits import chat, services
from ihospital.visits.models import BasisStatus, VisitStatus
from tests.factories import PatientFactory
from tests.visits import flows
from tests.visits.factories import ConditionFactory, DocumentFactory, SlotFactory

pytestmark = pytest.mark.django_db


def told(kind: str):
    return Notification.objects.filter(kind=kind).order_by("pk")


def test_the_kinds_are_registered_with_the_visit_category():
    for kind in ("visit.accepted", "visit.replied"):
        assert events.is_registered(kind) and events.lookup(kind).category == "visit"
        assert events.lookup(kind).pattern == kind  # their own neutral text, not the catch-all's


# ---- accepted ------------------------------------------------------------------------------------------------------


def test_accepting_tells_the_patient_and_relatives_once_with_the_time(patient, relative, diagnosis, slot, doc):
    visit = flows.book(patient, slot, diagnosis)
    assert not told("visit.accepted").exists()  # requested: nobody told yet
    flows.accept(visit, doc)

    notes = told("visit.accepted")
    assert sorted(n.user_id for n in notes) == sorted([patient.user.pk, relative.pk])
    local = timezone.localtime(slot.starts_at)
    for n in notes:
        assert f"{local:%Y-%m-%d %H:%M}" in n.title
        assert n.link == f"/visits/{visit.pk}/"
        assert n.dedupe_key == f"visit:{visit.pk}:accepted"
    # Accepting again is refused by the state machine and tells nobody again.
    with pytest.raises(Conflict):
        flows.accept(visit, doc)
    assert told("visit.accepted").count() == 2


def test_a_visit_taken_from_the_queue_with_its_diagnosis_is_accepted_and_told(patient, relative, diagnosis,
                                                                              department, doc):
    visit = flows.queue(patient, department, diagnosis)
    services.take_next_from_queue(actor=doc.user, department_id=department.pk)
    visit.refresh_from_db()
    assert visit.status == VisitStatus.ACCEPTED
    notes = told("visit.accepted")
    assert sorted(n.user_id for n in notes) == sorted([patient.user.pk, relative.pk])
    assert all(n.link == f"/visits/{visit.pk}/" and n.title for n in notes)  # no slot: a title without a time


def test_a_queued_record_waiting_for_review_is_told_only_when_accepted(patient, department, doc):
    document = DocumentFactory(patient=patient)
    visit = services.request_visit(online_care_consent=True, actor=patient.user, patient_id=patient.pk,
                                   complaint="复诊", document_id=document.pk, department_id=department.pk)
    services.take_next_from_queue(actor=doc.user, department_id=department.pk)
    assert not told("visit.accepted").exists()  # taken, not accepted: the record is still to be reviewed
    services.review_basis(actor=doc.user, visit_id=visit.pk, accept=True, code="I10")
    services.accept_visit(actor=doc.user, visit_id=visit.pk)
    assert [n.user_id for n in told("visit.accepted")] == [patient.user.pk]
    visit.refresh_from_db()
    assert visit.basis_status == BasisStatus.ACCEPTED


def test_an_acceptance_rolled_back_leaves_no_notification(patient, diagnosis, slot, doc):
    visit = flows.book(patient, slot, diagnosis)
    with pytest.raises(RuntimeError), transaction.atomic():
        flows.accept(visit, doc)
        raise RuntimeError("the request failed after the service")
    assert not told("visit.accepted").exists()


# ---- replied -------------------------------------------------------------------------------------------------------


@pytest.fixture
def visit(patient, diagnosis, slot, doc):
    return flows.accept(flows.book(patient, slot, diagnosis), doc)


def test_a_doctor_reply_tells_the_patient_side_without_the_message(visit, patient, relative, doc):
    message = chat.post_message(actor=doc.user, visit_id=visit.pk, body="氨氯地平加到10mg，血压150/95")
    notes = told("visit.replied")
    assert sorted(n.user_id for n in notes) == sorted([patient.user.pk, relative.pk])
    for n in notes:
        assert doc.user.real_name in n.title
        assert "氨氯地平" not in n.title + n.body and "150" not in n.title + n.body
        assert n.link == f"/visits/{visit.pk}/"
        assert n.dedupe_key == f"visit:{visit.pk}:replied:{message.pk}"
    # The outside channels say only the registered neutral text.
    assert "氨氯地平" not in events.lookup("visit.replied").external_text()


def test_the_patient_sides_own_messages_tell_nobody_that_the_doctor_replied(visit, patient, relative):
    chat.post_message(actor=patient.user, visit_id=visit.pk, body="药吃完了")
    chat.post_message(actor=relative, visit_id=visit.pk, body="他昨晚头晕")
    chat.system_message(visit, "系统消息")
    assert not told("visit.replied").exists()


def test_more_replies_add_nothing_while_one_is_unread(visit, patient, relative, doc):
    chat.post_message(actor=doc.user, visit_id=visit.pk, body="请量血压")
    chat.post_message(actor=doc.user, visit_id=visit.pk, body="早晚各一次")
    chat.post_message(actor=doc.user, visit_id=visit.pk, body="记录下来")
    assert told("visit.replied").filter(user=patient.user).count() == 1
    assert told("visit.replied").filter(user=relative).count() == 1


def test_a_resent_reply_tells_once(visit, patient, doc):
    chat.post_message(actor=doc.user, visit_id=visit.pk, body="请量血压", client_id="c1")
    chat.post_message(actor=doc.user, visit_id=visit.pk, body="请量血压", client_id="c1")
    assert told("visit.replied").filter(user=patient.user).count() == 1


def test_reading_the_notification_lets_the_next_reply_tell_again(visit, patient, relative, doc):
    chat.post_message(actor=doc.user, visit_id=visit.pk, body="请量血压")
    (first,) = told("visit.replied").filter(user=patient.user)
    mark_read(user=patient.user, notification_id=first.pk)
    chat.post_message(actor=doc.user, visit_id=visit.pk, body="早晚各一次")
    assert told("visit.replied").filter(user=patient.user).count() == 2
    assert told("visit.replied").filter(user=relative).count() == 1  # the relative has not read theirs


def test_reading_the_chat_lets_the_next_reply_tell_again(visit, patient, relative, doc):
    first = chat.post_message(actor=doc.user, visit_id=visit.pk, body="请量血压")
    Notification.objects.filter(kind="visit.replied").update(created_at=timezone.now() - timedelta(seconds=5))
    chat.mark_read(actor=patient.user, visit_id=visit.pk, last_read_id=first.pk)  # read in the room
    chat.post_message(actor=doc.user, visit_id=visit.pk, body="早晚各一次")
    assert told("visit.replied").filter(user=patient.user).count() == 2
    assert told("visit.replied").filter(user=relative).count() == 1


def test_another_visits_unread_reply_does_not_silence_this_one(visit, patient, doc, diagnosis):
    chat.post_message(actor=doc.user, visit_id=visit.pk, body="请量血压")
    other = flows.queue(patient, visit.department, ConditionFactory(patient=patient))
    services.take_next_from_queue(actor=doc.user, department_id=visit.department_id)
    chat.post_message(actor=doc.user, visit_id=other.pk, body="您好")
    links = sorted(told("visit.replied").filter(user=patient.user).values_list("link", flat=True))
    assert links == sorted([f"/visits/{visit.pk}/", f"/visits/{other.pk}/"])


def test_only_the_visits_own_people_are_told(visit, doc):
    stranger = PatientFactory()
    chat.post_message(actor=doc.user, visit_id=visit.pk, body="请量血压")
    flows.accept(flows.book(stranger, SlotFactory(practitioner=doc, department=visit.department),
                            ConditionFactory(patient=stranger)), doc)
    assert told("visit.accepted").filter(user=stranger.user).count() == 1  # their own visit
    assert not Notification.objects.filter(user=stranger.user, link=f"/visits/{visit.pk}/").exists()
