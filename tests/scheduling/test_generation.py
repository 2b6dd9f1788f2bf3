"""Rules → slots: local time to UTC (Asia/Shanghai, and a DST zone), closures, idempotence, task and command."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from ihospital.core.errors import DomainError
from ihospital.scheduling import generation, selectors, services
from ihospital.scheduling.clock import day_bounds, to_utc, wall_times
from ihospital.scheduling.models import Slot, SlotStatus, VisitMode
from ihospital.scheduling.tasks import generate_upcoming_slots
from tests.factories import DepartmentFactory, DoctorFactory, PatientFactory
from tests.scheduling.factories import ClosureFactory, RuleFactory
from tests.scheduling.support import next_last_sunday, next_weekday, state

pytestmark = pytest.mark.django_db


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def starts(rule_or_qs, day=None):
    qs = Slot.objects.filter(rule=rule_or_qs) if not hasattr(rule_or_qs, "filter") else rule_or_qs
    if day is not None:
        begin, end = day_bounds(day)
        qs = qs.filter(starts_at__gte=begin, starts_at__lt=end)
    return list(qs.order_by("starts_at").values_list("starts_at", "ends_at"))


def test_shanghai_rule_becomes_utc_slots(settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    day = next_weekday(2)
    rule = RuleFactory(weekday=2, start_time=time(8), end_time=time(12), slot_minutes=30, capacity=3,
                       mode=VisitMode.VIDEO)
    created = generation.generate_slots(start=day, days=1)
    assert created == 8
    slots = starts(rule)
    # 08:00 in Shanghai (UTC+8, no daylight saving) is 00:00 UTC.
    assert slots[0] == (utc(day.year, day.month, day.day, 0, 0), utc(day.year, day.month, day.day, 0, 30))
    assert slots[-1] == (utc(day.year, day.month, day.day, 3, 30), utc(day.year, day.month, day.day, 4, 0))
    assert [s for s, _e in slots] == [utc(day.year, day.month, day.day) + timedelta(minutes=30 * i) for i in range(8)]
    slot = Slot.objects.filter(rule=rule).first()
    assert (slot.practitioner, slot.department, slot.mode, slot.capacity, slot.booked, slot.status) == (
        rule.practitioner, rule.department, "video", 3, 0, "open"
    )


def test_evening_rule_in_shanghai_starts_the_previous_utc_day(settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    day = next_weekday(4)
    rule = RuleFactory(weekday=4, start_time=time(6), end_time=time(9), slot_minutes=60)
    generation.generate_slots(start=day, days=1)
    previous = day - timedelta(days=1)
    assert [s for s, _e in starts(rule)] == [
        utc(previous.year, previous.month, previous.day, 22),
        utc(previous.year, previous.month, previous.day, 23),
        utc(day.year, day.month, day.day, 0),
    ]


def test_spring_forward_skips_the_missing_hour(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    day = next_last_sunday(3)  # clocks go 02:00 → 03:00
    rule = RuleFactory(weekday=6, start_time=time(1), end_time=time(4), slot_minutes=30, valid_from=day,
                       valid_until=day)
    assert generation.generate_slots(start=day, days=1) == 4
    d = (day.year, day.month, day.day)
    # 01:00 and 01:30 CET (UTC+1); 02:00 and 02:30 do not exist; 03:00 and 03:30 CEST (UTC+2).
    assert [s for s, _e in starts(rule)] == [utc(*d, 0), utc(*d, 0, 30), utc(*d, 1), utc(*d, 1, 30)]
    assert all(e - s == timedelta(minutes=30) for s, e in starts(rule))


def test_fall_back_does_not_overlap_in_the_repeated_hour(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    day = next_last_sunday(10)  # clocks go 03:00 → 02:00
    rule = RuleFactory(weekday=6, start_time=time(1), end_time=time(4), slot_minutes=60, valid_from=day,
                       valid_until=day)
    generation.generate_slots(start=day, days=1)
    slots = starts(rule)
    prev = day - timedelta(days=1)
    d = (day.year, day.month, day.day)
    # 01:00 CEST, 02:00 CEST (first occurrence), 03:00 CET: real hours, never overlapping.
    assert [s for s, _e in slots] == [utc(prev.year, prev.month, prev.day, 23), utc(*d, 0), utc(*d, 2)]
    assert all(a_end <= b_start for (_a, a_end), (b_start, _b) in zip(slots, slots[1:], strict=False))


def test_clock_helpers(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    day = next_last_sunday(3)
    assert to_utc(day, time(2, 30)) is None
    begin, end = day_bounds(day)
    assert end - begin == timedelta(hours=23)
    # A slot that the skipped hour would stretch past the rule's end is dropped.
    assert [s for s, _e in wall_times(day, time(1, 30), time(3), 60)] == []
    settings.TIME_ZONE = "Asia/Shanghai"
    begin, end = day_bounds(day)
    assert end - begin == timedelta(hours=24) and begin.hour == 16


def test_generation_is_idempotent_and_skips_the_past(settings):
    rule = RuleFactory(weekday=timezone.localdate().weekday(), start_time=time(0), end_time=time(23, 30),
                       slot_minutes=30)
    today = timezone.localdate()
    first = generation.generate_slots(start=today, days=14)
    now = timezone.now()
    assert first == Slot.objects.count() > 0
    assert not Slot.objects.filter(starts_at__lte=now).exists()
    # Today's remaining slots plus next week's full day (47 slots).
    assert Slot.objects.filter(starts_at__gte=day_bounds(today + timedelta(days=7))[0]).count() == 47
    assert generation.generate_slots(start=today, days=14) == 0
    assert generation.generate_slots(start=today + timedelta(days=2), days=3) == 0
    assert Slot.objects.count() == first
    rule.refresh_from_db()
    assert rule.generated_until == today + timedelta(days=13)


def test_generation_extends_the_horizon_and_respects_validity():
    today = timezone.localdate()
    day = next_weekday(1)
    rule = RuleFactory(weekday=1, valid_from=day + timedelta(days=7), valid_until=day + timedelta(days=14))
    assert generation.generate_slots(start=today, days=7) == 0
    assert generation.generate_slots(start=today, days=60) == 16  # two Tuesdays, then the rule ends
    assert {s.date() for s, _e in starts(rule)} <= {day + timedelta(days=7), day + timedelta(days=14)} | {
        day + timedelta(days=6), day + timedelta(days=13)}  # UTC dates of Shanghai mornings may be the day before


def test_retired_rule_generates_nothing(hospital_admin):
    rule = RuleFactory(weekday=next_weekday(3).weekday())
    services.retire_rule(actor=hospital_admin, rule_id=rule.pk)
    assert generation.generate_slots(start=timezone.localdate(), days=14) == 0


def test_ineligible_doctor_and_offline_department_generate_nothing():
    junior = DoctorFactory(independent_practice_since=timezone.localdate() - timedelta(days=400))
    RuleFactory(practitioner=junior, weekday=next_weekday(3).weekday())
    offline = RuleFactory(weekday=next_weekday(3).weekday())
    offline.department.offers_online_visits = False
    offline.department.save()
    assert generation.generate_slots(start=timezone.localdate(), days=14) == 0
    assert Slot.objects.count() == 0


def test_hospital_wide_closure_is_skipped():
    day = next_weekday(0)
    rule = RuleFactory(weekday=0)
    ClosureFactory(date=day, practitioner=None)
    generation.generate_slots(start=day, days=1)
    assert starts(rule, day) == []
    # The next Monday is not closed.
    generation.generate_slots(start=day, days=8)
    assert len(starts(rule, day + timedelta(days=7))) == 8


def test_practitioners_partial_closure_skips_only_their_overlapping_slots():
    day = next_weekday(0)
    rule = RuleFactory(weekday=0)
    colleague = RuleFactory(weekday=0)
    ClosureFactory(date=day, practitioner=rule.practitioner, start_time=time(9, 15), end_time=time(10, 30),
                   created_by=rule.practitioner.user)
    generation.generate_slots(start=day, days=1)
    local = [s.astimezone(timezone.get_current_timezone()).time() for s, _e in starts(rule)]
    # 09:00–09:30, 09:30–10:00 and 10:00–10:30 overlap the closure.
    assert local == [time(8), time(8, 30), time(10, 30), time(11), time(11, 30)]
    assert len(starts(colleague)) == 8


def test_add_closure_closes_open_slots_and_reports_booked_appointments(hospital_admin):
    day = next_weekday(0)
    rule = RuleFactory(weekday=0, capacity=2)
    other = RuleFactory(weekday=0)
    generation.generate_slots(start=day, days=1)
    patient = PatientFactory()
    first = Slot.objects.filter(rule=rule).order_by("starts_at").first()
    appointment = services.book_slot(actor=patient.user, patient_id=patient.pk, slot_id=first.pk)

    result = services.add_closure(actor=rule.practitioner.user, practitioner_id=rule.practitioner.pk, date=day,
                                  start_time=time(8), end_time=time(9), reason="conference")
    assert result.closed_slots == 2
    assert [a.pk for a in result.affected] == [appointment.pk]
    assert set(Slot.objects.filter(rule=rule, status=SlotStatus.CLOSED).values_list("pk", flat=True)) == {
        s.pk for s in Slot.objects.filter(rule=rule).order_by("starts_at")[:2]
    }
    appointment.refresh_from_db()
    assert appointment.status == "booked"  # told, not cancelled
    assert not Slot.objects.filter(rule=other, status=SlotStatus.CLOSED).exists()

    holiday = services.add_closure(actor=hospital_admin, practitioner_id=None, date=day, reason="National Day")
    assert holiday.closed_slots == 6 + 8
    assert not Slot.objects.filter(status=SlotStatus.OPEN).exists()
    assert [a.pk for a in holiday.affected] == [appointment.pk]
    assert selectors.open_slots(start=timezone.now(), end=timezone.now() + timedelta(days=8)).filter(
        starts_at__date__lte=day).count() == 0


@pytest.mark.parametrize(
    ("who", "kwargs", "code"),
    [
        ("doctor", {"practitioner_id": None}, "not_allowed"),
        ("patient", {}, "not_allowed"),
        ("colleague", {}, "not_allowed"),
        ("doctor", {"start_time": time(9)}, "invalid_time_range"),
        ("doctor", {"start_time": time(9), "end_time": time(8)}, "invalid_time_range"),
        ("doctor", {"date": "yesterday"}, "closure_in_past"),
        ("doctor", {"reason": "  "}, "reason_required"),
    ],
)
def test_closure_refusals_change_nothing(who, kwargs, code):
    rule = RuleFactory(weekday=0)
    generation.generate_slots(start=timezone.localdate(), days=14)
    actors = {"doctor": rule.practitioner.user, "patient": PatientFactory().user, "colleague": DoctorFactory().user}
    args = {"practitioner_id": rule.practitioner.pk, "date": next_weekday(0), "reason": "away", **kwargs}
    if args["date"] == "yesterday":
        args["date"] = timezone.localdate() - timedelta(days=1)
    before = state(with_audit=True)
    with pytest.raises(DomainError) as exc:
        services.add_closure(actor=actors[who], **args)
    assert exc.value.code == code
    assert state(with_audit=True) == before


def test_open_slots_generates_on_demand_and_filters():
    day = next_weekday(2)
    text = RuleFactory(weekday=2, mode=VisitMode.TEXT)
    video = RuleFactory(weekday=2, mode=VisitMode.VIDEO, start_time=time(14), end_time=time(15))
    assert Slot.objects.count() == 0
    begin, _ = day_bounds(day)
    _, end = day_bounds(day)
    everything = list(selectors.open_slots(start=begin, end=end))
    assert len(everything) == 8 + 2
    assert [s.starts_at for s in everything] == sorted(s.starts_at for s in everything)
    assert {s.pk for s in selectors.open_slots(start=begin, end=end, mode="video")} == set(
        Slot.objects.filter(rule=video).values_list("pk", flat=True))
    assert len(selectors.open_slots(practitioner_id=text.practitioner_id, start=begin, end=end)) == 8
    assert len(selectors.open_slots(department_id=video.department_id, start=begin, end=end)) == 2
    # Full and closed slots are not offered.
    first, second = Slot.objects.filter(rule=text).order_by("starts_at")[:2]
    Slot.objects.filter(pk=first.pk).update(booked=1)
    Slot.objects.filter(pk=second.pk).update(status=SlotStatus.CLOSED)
    assert len(selectors.open_slots(practitioner_id=text.practitioner_id, start=begin, end=end)) == 6


def test_open_slots_generates_only_within_the_horizon(settings):
    settings.BOOKING_HORIZON_DAYS = 3
    RuleFactory(weekday=next_weekday(0, after=timezone.localdate() + timedelta(days=5)).weekday())
    far = timezone.now() + timedelta(days=5)
    assert list(selectors.open_slots(start=far, end=far + timedelta(days=3))) == []
    assert Slot.objects.count() == 0


def test_open_slots_respect_the_booking_lead(settings):
    rule = RuleFactory(weekday=timezone.localdate().weekday(), start_time=time(0), end_time=time(23, 59),
                       slot_minutes=5)
    now = timezone.now()
    generation.generate_slots(start=timezone.localdate(), days=1)
    settings.BOOKING_MIN_LEAD_MINUTES = 60
    offered = list(selectors.open_slots(practitioner_id=rule.practitioner_id, start=now,
                                        end=now + timedelta(hours=3)))
    assert offered and all(s.starts_at > now + timedelta(minutes=60) for s in offered)


def test_task_and_command_generate_the_horizon(settings):
    settings.BOOKING_HORIZON_DAYS = 7
    rule = RuleFactory(weekday=next_weekday(5).weekday())
    assert generate_upcoming_slots.call() == 8
    assert generate_upcoming_slots.call() == 0
    other = RuleFactory(weekday=next_weekday(6).weekday(), practitioner=DoctorFactory(
        departments=[DepartmentFactory()]))
    out = StringIO()
    call_command("generate_slots", "--days", "7", "--practitioner", str(other.practitioner_id), stdout=out)
    assert "8 slot(s) generated" in out.getvalue()
    assert Slot.objects.filter(rule=other).count() == 8 and Slot.objects.filter(rule=rule).count() == 8
