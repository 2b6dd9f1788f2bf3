"""Slots made from a resource's hours, and booking an ordered test: who may, the slot rules, fasting tests in the
morning, same-day conflicts in both directions, capacity, rescheduling limits, cancelling, check-in, the
evening-before reminder, and another patient's order answering 404 (audited)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from ihospital.core.errors import DomainError, NotFound
from ihospital.core.models import AuditEvent, AuditOutcome
from ihospital.diagnostics import booking, slots, tasks_slots
from ihospital.diagnostics.models import Booking, DiagnosticKind, Modality, OrderStatus, ResourceSlot, Specimen
from ihospital.notifications.models import Notification
from tests.diagnostics import factories as f
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def local_day(offset: int) -> date:
    return timezone.localdate() + timedelta(days=offset)


def at(offset: int, clock: str) -> datetime:
    hours, minutes = map(int, clock.split(":"))
    return timezone.make_aware(datetime.combine(local_day(offset), time(hours, minutes)))


def slot(resource, offset: int = 2, clock: str = "09:00", **kw) -> ResourceSlot:
    starts = at(offset, clock)
    return ResourceSlot.objects.create(resource=resource, starts_at=starts, ends_at=starts + timedelta(minutes=15),
                                       capacity=kw.pop("capacity", resource.capacity), **kw)


def exam(code: str, **prep):
    return f.DiagnosticTestFactory(code=code, kind=DiagnosticKind.IMAGING, modality=Modality.US,
                                   specimen=Specimen.NONE, preparation=prep)


@pytest.fixture
def lab():
    return f.DiagnosticTestFactory(code="cbc")


@pytest.fixture
def room(lab):
    return f.ResourceFactory(tests=[lab])


def make_order(patient, encounter, test):
    return f.DiagnosticOrderFactory(patient=patient, doctor=encounter.practitioner, encounter=encounter, test=test)


@pytest.fixture
def order(patient, encounter, lab):
    return make_order(patient, encounter, lab)


def refused(code: str, fn, **kw) -> DomainError:
    with pytest.raises(DomainError) as e:
        fn(**kw)
    assert e.value.code == code
    return e.value


# --- slot generation ------------------------------------------------------------------------------------------


def next_monday() -> date:
    day = local_day(1)
    return day + timedelta(days=(7 - day.weekday()) % 7)


def test_generation_follows_the_hours_and_is_idempotent():
    resource = f.ResourceFactory(hours={"0": [["08:00", "09:00"], ["14:00", "14:40"]], "2": [["10:00", "10:30"]]},
                                 slot_minutes=20, capacity=3)
    monday = next_monday()
    assert slots.generate(resource, start=monday, days=7) == 3 + 2 + 1  # 14:40 leaves no third afternoon slot
    made = list(ResourceSlot.objects.filter(resource=resource))
    local = [(timezone.localtime(s.starts_at).date(), timezone.localtime(s.starts_at).strftime("%H:%M"))
             for s in made]
    wednesday = monday + timedelta(days=2)
    assert local == [(monday, "08:00"), (monday, "08:20"), (monday, "08:40"), (monday, "14:00"), (monday, "14:20"),
                     (wednesday, "10:00")]
    assert all(s.capacity == 3 and s.ends_at - s.starts_at == timedelta(minutes=20) for s in made)
    ResourceSlot.objects.filter(pk=made[0].pk).update(booked=2, closed=True)
    assert slots.generate(resource, start=monday, days=7) == 0
    assert slots.generate(resource, start=monday, days=10) == 6  # only the next Monday and Wednesday
    first = ResourceSlot.objects.get(pk=made[0].pk)
    assert (first.booked, first.closed) == (2, True)


def test_local_hours_do_not_move_with_the_seasons(settings):
    assert settings.TIME_ZONE == "Asia/Shanghai"
    resource = f.ResourceFactory(hours={str(d): [["08:00", "08:15"]] for d in range(7)})
    # Late March and early November: when DST zones shift, Beijing time stays UTC+8.
    for start in (date(timezone.localdate().year + 1, 3, 20), date(timezone.localdate().year + 1, 10, 25)):
        slots.generate(resource, start=start, days=14)
    made = ResourceSlot.objects.filter(resource=resource)
    assert made.count() == 28
    assert {s.starts_at.astimezone(UTC).strftime("%H:%M") for s in made} == {"00:00"}
    assert {timezone.localtime(s.starts_at).strftime("%H:%M") for s in made} == {"08:00"}


def test_past_times_are_not_generated_and_bad_hours_refused():
    resource = f.ResourceFactory(hours={str(d): [["00:00", "23:45"]] for d in range(7)})
    slots.generate(resource, start=local_day(-1), days=2)
    assert ResourceSlot.objects.filter(resource=resource, starts_at__lte=timezone.now()).count() == 0
    assert ResourceSlot.objects.filter(resource=resource).exists() or timezone.localtime().hour == 23
    bad = f.ResourceFactory(hours={"0": [["09:00", "08:00"]]})
    refused("invalid_hours", slots.generate, resource=bad, start=next_monday(), days=1)
    bad.hours = {"0": [["9am", "10:00"]]}
    refused("invalid_hours", slots.generate, resource=bad, start=next_monday(), days=1)


def test_task_and_command_keep_two_weeks_ahead_for_active_resources():
    active = f.ResourceFactory(hours={str(d): [["08:00", "08:30"]] for d in range(7)})
    idle = f.ResourceFactory(active=False)
    made = tasks_slots.keep_slots_ahead.call()
    last = timezone.localtime(ResourceSlot.objects.filter(resource=active).last().starts_at).date()
    assert last == local_day(14)
    assert made >= 28 and not ResourceSlot.objects.filter(resource=idle).exists()
    out = StringIO()
    call_command("generate_diagnostic_slots", "--days", "20", "--resource", active.code, stdout=out)
    assert f"{active.code}: 12 new slots" in out.getvalue()
    assert tasks_slots.keep_slots_ahead.call() == 0


# --- booking ----------------------------------------------------------------------------------------------------


def test_patient_books_and_a_place_is_taken(order, room, patient, django_capture_on_commit_callbacks):
    s = slot(room)
    with django_capture_on_commit_callbacks(execute=True):
        made = booking.book(actor=patient.user, order_id=order.pk, slot_id=s.pk)
    order.refresh_from_db()
    s.refresh_from_db()
    assert (order.status, s.booked, made.slot, made.booked_by) == (OrderStatus.BOOKED, 1, s, patient.user)
    assert AuditEvent.objects.filter(object_type="diagnostics.booking", action="create").exists()
    [task] = DBTaskResult.objects.filter(task_path="ihospital.diagnostics.tasks_slots.send_reminder")
    assert task.run_after == at(1, "18:00") == booking.reminder_time(s)
    assert task.args_kwargs["args"] == [order.pk, s.pk]


def test_a_proxy_books_but_not_another_patient(order, room, relative):
    s = slot(room)
    stranger = PatientFactory()
    with pytest.raises(NotFound):
        booking.book(actor=stranger.user, order_id=order.pk, slot_id=s.pk)
    assert AuditEvent.objects.filter(object_type="diagnostics.diagnosticorder", object_id=str(order.pk),
                                     outcome=AuditOutcome.DENIED, actor=stranger.user).exists()
    with pytest.raises(NotFound):
        booking.available_slots(actor=stranger.user, order_id=order.pk, day=local_day(2))
    s.refresh_from_db()
    assert s.booked == 0
    booking.book(actor=relative, order_id=order.pk, slot_id=s.pk)
    assert Booking.objects.get(order=order).booked_by == relative


def test_slot_rules(order, room, patient, lab):
    other_room = f.ResourceFactory()
    refused("wrong_resource", booking.book, actor=patient.user, order_id=order.pk, slot_id=slot(other_room).pk)
    refused("slot_unavailable", booking.book, actor=patient.user, order_id=order.pk,
            slot_id=slot(room, closed=True).pk)
    past = slot(room, offset=-1)
    refused("slot_unavailable", booking.book, actor=patient.user, order_id=order.pk, slot_id=past.pk)
    refused("slot_not_found", booking.book, actor=patient.user, order_id=order.pk, slot_id=999999)
    full = slot(room, clock="11:00")
    ResourceSlot.objects.filter(pk=full.pk).update(booked=1)
    refused("slot_full", booking.book, actor=patient.user, order_id=order.pk, slot_id=full.pk)
    order.refresh_from_db()
    assert order.status == OrderStatus.ORDERED and not Booking.objects.exists()
    booking.book(actor=patient.user, order_id=order.pk, slot_id=slot(room, clock="12:00").pk)
    refused("already_booked", booking.book, actor=patient.user, order_id=order.pk,
            slot_id=slot(room, clock="13:00").pk)


def test_fasting_tests_only_in_the_morning(patient, encounter):
    fasting = f.DiagnosticTestFactory(code="fpg", preparation={"fasting_hours": 8, "morning_only": True})
    draw = f.ResourceFactory(tests=[fasting], capacity=5)
    order = make_order(patient, encounter, fasting)
    early, late = slot(draw, clock="09:45"), slot(draw, clock="10:00")
    assert booking.available_slots(actor=patient.user, order_id=order.pk, day=local_day(2)) == [early]
    refused("fasting_morning_only", booking.book, actor=patient.user, order_id=order.pk, slot_id=late.pk)
    booking.book(actor=patient.user, order_id=order.pk, slot_id=early.pk)


def test_available_slots_leave_out_full_closed_and_other_resources(order, room, patient):
    free = slot(room, clock="08:00")
    ResourceSlot.objects.filter(pk=slot(room, clock="08:15").pk).update(booked=1)
    slot(room, clock="08:30", closed=True)
    slot(f.ResourceFactory(), clock="08:45")
    slot(room, offset=3)
    assert booking.available_slots(actor=patient.user, order_id=order.pk, day=local_day(2)) == [free]


@pytest.fixture
def barium_and_ct(patient, encounter):
    barium = exam("barium_meal", fasting_hours=8)
    ct = exam("ct_abdomen_contrast", not_same_day_after=["barium_meal"])
    resource = f.ResourceFactory(tests=[barium, ct], capacity=5)
    return make_order(patient, encounter, barium), make_order(patient, encounter, ct), resource


def test_no_abdominal_exam_after_barium_on_the_same_day(barium_and_ct, patient):
    barium, ct, resource = barium_and_ct
    booking.book(actor=patient.user, order_id=barium.pk, slot_id=slot(resource, clock="08:00").pk)
    err = refused("same_day_conflict", booking.book, actor=patient.user, order_id=ct.pk,
                  slot_id=slot(resource, clock="14:00").pk)
    assert err.status == 409
    booking.book(actor=patient.user, order_id=ct.pk, slot_id=slot(resource, offset=3, clock="14:00").pk)


def test_no_barium_before_a_booked_abdominal_exam_the_same_day(barium_and_ct, patient):
    barium, ct, resource = barium_and_ct
    booking.book(actor=patient.user, order_id=ct.pk, slot_id=slot(resource, clock="11:00").pk)
    refused("same_day_conflict", booking.book, actor=patient.user, order_id=barium.pk,
            slot_id=slot(resource, clock="08:00").pk)
    # After the CT the barium no longer matters to it.
    booking.book(actor=patient.user, order_id=barium.pk, slot_id=slot(resource, clock="15:00").pk)


@pytest.mark.parametrize("rule_on", ["first", "second"])
def test_not_same_day_as_is_checked_from_both_tests(patient, encounter, rule_on):
    first = exam("exam_a", **({"not_same_day_as": ["exam_b"]} if rule_on == "first" else {}))
    second = exam("exam_b", **({"not_same_day_as": ["exam_a"]} if rule_on == "second" else {}))
    resource = f.ResourceFactory(tests=[first, second], capacity=5)
    a, b = make_order(patient, encounter, first), make_order(patient, encounter, second)
    booking.book(actor=patient.user, order_id=a.pk, slot_id=slot(resource, clock="15:00").pk)
    refused("same_day_conflict", booking.book, actor=patient.user, order_id=b.pk,
            slot_id=slot(resource, clock="08:00").pk)
    booking.cancel_booking(actor=patient.user, order_id=a.pk, reason="")
    booking.book(actor=patient.user, order_id=b.pk, slot_id=slot(resource, clock="09:00").pk)
    refused("same_day_conflict", booking.book, actor=patient.user, order_id=a.pk,
            slot_id=slot(resource, clock="16:00").pk)


def test_another_patients_bookings_do_not_conflict(barium_and_ct, patient, encounter):
    barium, _ct, resource = barium_and_ct
    booking.book(actor=patient.user, order_id=barium.pk, slot_id=slot(resource, clock="08:00").pk)
    other = PatientFactory()
    ct_test = _ct.test
    theirs = f.DiagnosticOrderFactory(patient=other, doctor=encounter.practitioner, encounter=encounter, test=ct_test)
    booking.book(actor=other.user, order_id=theirs.pk, slot_id=slot(resource, clock="14:00").pk)


def test_reschedule_moves_the_place_at_most_twice(order, room, patient, django_capture_on_commit_callbacks):
    a, b, c, d = (slot(room, clock=clock) for clock in ("08:00", "09:00", "10:00", "11:00"))
    booking.book(actor=patient.user, order_id=order.pk, slot_id=a.pk)
    refused("same_slot", booking.reschedule, actor=patient.user, order_id=order.pk, slot_id=a.pk)
    with django_capture_on_commit_callbacks(execute=True):
        moved = booking.reschedule(actor=patient.user, order_id=order.pk, slot_id=b.pk)
    assert (moved.slot, moved.reschedules) == (b, 1)
    assert [s.booked for s in ResourceSlot.objects.filter(pk__in=[a.pk, b.pk]).order_by("starts_at")] == [0, 1]
    assert DBTaskResult.objects.filter(task_path="ihospital.diagnostics.tasks_slots.send_reminder").count() == 1
    ResourceSlot.objects.filter(pk=c.pk).update(booked=1)
    refused("slot_full", booking.reschedule, actor=patient.user, order_id=order.pk, slot_id=c.pk)
    assert ResourceSlot.objects.get(pk=b.pk).booked == 1 and Booking.objects.get().slot == b
    booking.reschedule(actor=patient.user, order_id=order.pk, slot_id=d.pk)
    refused("reschedule_limit", booking.reschedule, actor=patient.user, order_id=order.pk, slot_id=a.pk)
    assert AuditEvent.objects.filter(object_type="diagnostics.booking", action="update").count() == 2


def test_no_reschedule_within_two_hours(order, room, patient):
    s = slot(room)
    booking.book(actor=patient.user, order_id=order.pk, slot_id=s.pk)
    soon = timezone.now() + timedelta(hours=1, minutes=59)
    ResourceSlot.objects.filter(pk=s.pk).update(starts_at=soon, ends_at=soon + timedelta(minutes=15))
    refused("too_late_to_reschedule", booking.reschedule, actor=patient.user, order_id=order.pk,
            slot_id=slot(room, clock="11:00").pk)


def test_cancel_frees_the_place_and_the_order_can_be_booked_again(order, room, patient):
    s = slot(room)
    booking.book(actor=patient.user, order_id=order.pk, slot_id=s.pk)
    booking.cancel_booking(actor=patient.user, order_id=order.pk, reason="出差")
    order.refresh_from_db()
    s.refresh_from_db()
    assert (order.status, s.booked) == (OrderStatus.ORDERED, 0)
    [kept] = Booking.objects.filter(order=order)  # the row stays, marked cancelled
    assert kept.cancelled_at is not None and kept.cancelled_by == patient.user and kept.cancel_reason == "出差"
    assert order.live_booking is None and not Booking.objects.live().exists()
    assert AuditEvent.objects.filter(object_type="diagnostics.booking", action="update", detail__cancelled=True,
                                     detail__reason="出差").exists()
    other = PatientFactory()
    theirs = f.DiagnosticOrderFactory(patient=other, doctor=order.doctor, encounter=order.encounter, test=order.test)
    booking.book(actor=other.user, order_id=theirs.pk, slot_id=s.pk)  # the freed place
    assert ResourceSlot.objects.get(pk=s.pk).booked == 1


def test_a_second_cancel_is_refused_and_frees_the_place_only_once(order, room, patient):
    s = slot(room, capacity=3)
    other = PatientFactory()
    theirs = f.DiagnosticOrderFactory(patient=other, doctor=order.doctor, encounter=order.encounter, test=order.test)
    booking.book(actor=other.user, order_id=theirs.pk, slot_id=s.pk)
    booking.book(actor=patient.user, order_id=order.pk, slot_id=s.pk)
    assert ResourceSlot.objects.get(pk=s.pk).booked == 2

    booking.cancel_booking(actor=patient.user, order_id=order.pk, reason="出差")
    refused("not_booked", booking.cancel_booking, actor=patient.user, order_id=order.pk, reason="again")

    assert ResourceSlot.objects.get(pk=s.pk).booked == 1  # the other patient's place is still counted
    assert Booking.objects.get(order=order).cancel_reason == "出差"
    assert AuditEvent.objects.filter(object_type="diagnostics.booking", detail__cancelled=True).count() == 1


def test_booking_again_after_a_cancel_is_a_new_booking_counted_as_a_move(order, room, patient):
    a, b = slot(room, clock="08:00"), slot(room, clock="09:00")
    first = booking.book(actor=patient.user, order_id=order.pk, slot_id=a.pk)
    assert first.reschedules == 0
    booking.cancel_booking(actor=patient.user, order_id=order.pk, reason="改期")

    again = booking.book(actor=patient.user, order_id=order.pk, slot_id=b.pk)

    order.refresh_from_db()
    assert order.status == OrderStatus.BOOKED and again.pk != first.pk and again.reschedules == 1
    assert order.live_booking == again
    assert list(order.bookings.order_by("pk")) == [first, again]
    assert [s.booked for s in ResourceSlot.objects.filter(pk__in=[a.pk, b.pk]).order_by("starts_at")] == [0, 1]
    # The same slot as the cancelled booking is fine too: only one live booking per order.
    booking.cancel_booking(actor=patient.user, order_id=order.pk, reason="改期")
    third = booking.book(actor=patient.user, order_id=order.pk, slot_id=a.pk)
    assert third.reschedules == 2 and Booking.objects.live().get(order=order) == third


def test_cancelling_and_booking_again_does_not_get_round_the_reschedule_limit(order, room, patient):
    a, b, c, d = (slot(room, clock=clock) for clock in ("08:00", "09:00", "10:00", "11:00"))
    booking.book(actor=patient.user, order_id=order.pk, slot_id=a.pk)
    booking.reschedule(actor=patient.user, order_id=order.pk, slot_id=b.pk)
    booking.reschedule(actor=patient.user, order_id=order.pk, slot_id=c.pk)
    refused("reschedule_limit", booking.reschedule, actor=patient.user, order_id=order.pk, slot_id=d.pk)
    booking.cancel_booking(actor=patient.user, order_id=order.pk, reason="换个时间")
    order.refresh_from_db()
    assert not booking.can_book_again(order)

    refused("reschedule_limit", booking.book, actor=patient.user, order_id=order.pk, slot_id=d.pk)

    order.refresh_from_db()
    assert order.status == OrderStatus.ORDERED and not Booking.objects.live().exists()
    assert sum(ResourceSlot.objects.values_list("booked", flat=True)) == 0


def test_a_reschedule_after_booking_again_counts_the_earlier_move(order, room, patient):
    a, b, c, d = (slot(room, clock=clock) for clock in ("08:00", "09:00", "10:00", "11:00"))
    booking.book(actor=patient.user, order_id=order.pk, slot_id=a.pk)
    booking.cancel_booking(actor=patient.user, order_id=order.pk, reason="改期")
    booking.book(actor=patient.user, order_id=order.pk, slot_id=b.pk)  # move 1
    moved = booking.reschedule(actor=patient.user, order_id=order.pk, slot_id=c.pk)  # move 2
    assert moved.reschedules == 2

    refused("reschedule_limit", booking.reschedule, actor=patient.user, order_id=order.pk, slot_id=d.pk)


def test_the_database_holds_one_live_booking_per_order(order, room, patient):
    from django.db import IntegrityError, transaction

    a, b = slot(room, clock="08:00"), slot(room, clock="09:00")
    booking.book(actor=patient.user, order_id=order.pk, slot_id=a.pk)
    with pytest.raises(IntegrityError), transaction.atomic():
        Booking.objects.create(order=order, slot=b, booked_by=patient.user)
    Booking.objects.create(order=order, slot=b, booked_by=patient.user, cancelled_at=timezone.now())
    with pytest.raises(TypeError):
        Booking.objects.get(order=order, cancelled_at__isnull=True).delete()


def test_check_in_by_lab_staff_on_the_day(order, room, patient, lab_tech, doctor):
    s = slot(room)
    booking.book(actor=patient.user, order_id=order.pk, slot_id=s.pk)
    refused("not_today", booking.check_in, actor=lab_tech, order_id=order.pk)
    refused("not_lab_staff", booking.check_in, actor=patient.user, order_id=order.pk)
    with pytest.raises(NotFound):
        booking.check_in(actor=PatientFactory().user, order_id=order.pk)
    now = timezone.now()
    ResourceSlot.objects.filter(pk=s.pk).update(starts_at=now, ends_at=now + timedelta(minutes=15))
    done = booking.check_in(actor=lab_tech, order_id=order.pk)
    order.refresh_from_db()
    assert order.status == OrderStatus.CHECKED_IN and done.checked_in_at is not None
    refused("not_booked", booking.check_in, actor=lab_tech, order_id=order.pk)
    refused("not_booked", booking.cancel_booking, actor=patient.user, order_id=order.pk, reason="")


def test_reminder_carries_the_preparation(patient, encounter, relative):
    fasting = f.DiagnosticTestFactory(code="fpg", preparation={"fasting_hours": 8, "morning_only": True},
                                      preparation_en="Bring your glucose diary.", preparation_zh="请带血糖记录。")
    draw = f.ResourceFactory(tests=[fasting])
    order = make_order(patient, encounter, fasting)
    first, second = slot(draw, clock="08:00"), slot(draw, clock="08:30")
    booking.book(actor=patient.user, order_id=order.pk, slot_id=first.pk)
    booking.reschedule(actor=patient.user, order_id=order.pk, slot_id=second.pk)
    assert tasks_slots.send_reminder.call(order.pk, first.pk) == "skipped"  # moved: the old reminder is void
    assert tasks_slots.send_reminder.call(order.pk, second.pk) == "sent"
    assert tasks_slots.send_reminder.call(order.pk, second.pk) == "skipped"  # once
    sent = Notification.objects.filter(kind="diagnostics.reminder")
    assert {n.user for n in sent} == {patient.user, relative}
    body = sent.first().body
    assert "08:30" in body and "8" in body and ("请带血糖记录" in body or "glucose diary" in body)
    assert Booking.objects.get().reminded_at is not None


def test_booking_tells_the_patient_side_how_to_prepare_each_in_their_language(patient, encounter, relative):
    from ihospital.notifications import events

    relative.language = "en"
    relative.save(update_fields=["language"])
    fasting = f.DiagnosticTestFactory(code="fpg", name_zh="空腹血糖", name_en="Fasting glucose",
                                      preparation={"fasting_hours": 8}, preparation_en="Bring your glucose diary.",
                                      preparation_zh="请带血糖记录。")
    draw = f.ResourceFactory(tests=[fasting])
    order = make_order(patient, encounter, fasting)
    s = slot(draw, clock="08:00")
    made = booking.book(actor=relative, order_id=order.pk, slot_id=s.pk)

    sent = {n.user: n for n in Notification.objects.filter(kind="diagnostics.booked")}
    assert set(sent) == {patient.user, relative}
    mine, theirs = sent[patient.user], sent[relative]
    assert "空腹血糖" in mine.title and "请带血糖记录。" in mine.body and draw.name_zh in mine.body
    assert "Fasting glucose" in theirs.title and "Bring your glucose diary." in theirs.body
    for n in (mine, theirs):
        assert "08:00" in n.title and "08:00" in n.body and local_day(2).isoformat() in n.body
        assert "8" in n.body  # the fasting hours
        assert n.link == f"/diagnostics/orders/{order.pk}/"
        assert n.dedupe_key == f"diagnostics.booked:{made.pk}:0"
    # What leaves the platform is the registered neutral text: no test, no preparation.
    outside = events.lookup("diagnostics.booked")
    assert outside.pattern == "diagnostics.booked" and outside.category == "diagnostics"
    assert "glucose" not in outside.external_text().lower() and "血糖" not in outside.external_text()


def test_a_move_tells_again_and_a_refused_booking_or_a_cancel_tells_nobody(order, room, patient, relative):
    first, second = slot(room, clock="09:00"), slot(room, clock="10:00")
    other = make_order(patient, order.encounter, order.test)
    made = booking.book(actor=patient.user, order_id=order.pk, slot_id=first.pk)
    refused("slot_full", booking.book, actor=patient.user, order_id=other.pk, slot_id=first.pk)
    assert Notification.objects.filter(kind="diagnostics.booked").count() == 2  # the first booking only

    booking.reschedule(actor=patient.user, order_id=order.pk, slot_id=second.pk)
    moved = Notification.objects.filter(kind="diagnostics.booked", dedupe_key=f"diagnostics.booked:{made.pk}:1")
    assert {n.user for n in moved} == {patient.user, relative}
    assert all("10:00" in n.title and "10:00" in n.body for n in moved)

    booking.cancel_booking(actor=patient.user, order_id=order.pk, reason="有事")
    assert Notification.objects.filter(kind="diagnostics.booked").count() == 4


def test_reminder_right_away_when_booked_after_18_on_the_eve(order, room, patient, django_capture_on_commit_callbacks):
    s = slot(room, offset=1, clock="23:45") if timezone.localtime().hour >= 18 else slot(room, offset=0, clock="23:45")
    with django_capture_on_commit_callbacks(execute=True):
        booking.book(actor=patient.user, order_id=order.pk, slot_id=s.pk)
    [task] = DBTaskResult.objects.filter(task_path="ihospital.diagnostics.tasks_slots.send_reminder")
    # No run_after: due at once (the database backend stores that as the far future's opposite, a sentinel).
    assert task.run_after is None or task.run_after.year == 9999
