"""Publishing and retiring availability rules: who may, what is valid, and that a refusal changes nothing."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.utils import timezone

from ihospital.core.errors import DomainError
from ihospital.core.models import AuditEvent
from ihospital.scheduling import services
from ihospital.scheduling.models import Appointment, AvailabilityRule, Slot, SlotStatus, VisitMode
from tests.factories import DepartmentFactory, DoctorFactory, NurseFactory, PatientFactory
from tests.scheduling.support import next_weekday, state

pytestmark = pytest.mark.django_db


def rule_args(practitioner, **overrides):
    args = dict(
        practitioner_id=practitioner.pk,
        department_id=practitioner.departments.first().pk,
        weekday=next_weekday(0).weekday(),
        start_time=time(8, 0),
        end_time=time(12, 0),
        slot_minutes=30,
        capacity=2,
        mode=VisitMode.VIDEO,
        valid_from=timezone.localdate(),
        valid_until=None,
    )
    args.update(overrides)
    return args


def refused(code, actor, practitioner, **overrides) -> DomainError:
    before = state(with_audit=True)
    with pytest.raises(DomainError) as exc:
        services.publish_rule(actor=actor, **rule_args(practitioner, **overrides))
    assert exc.value.code == code, exc.value
    assert state(with_audit=True) == before
    return exc.value


def test_doctor_publishes_own_rule_and_slots_appear(doctor):
    rule = services.publish_rule(actor=doctor.user, **rule_args(doctor))
    assert rule.active and rule.created_by == doctor.user and rule.mode == VisitMode.VIDEO
    # Two weeks of horizon: the weekday occurs twice, 8 half-hour slots each.
    slots = Slot.objects.filter(rule=rule)
    assert slots.count() == 16
    assert set(slots.values_list("capacity", "booked", "status", "mode")) == {(2, 0, "open", "video")}
    event = AuditEvent.objects.get(object_type="scheduling.availabilityrule")
    assert event.actor == doctor.user and event.action == "create" and event.object_id == str(rule.pk)


def test_admin_publishes_for_a_doctor(doctor, hospital_admin):
    rule = services.publish_rule(actor=hospital_admin, **rule_args(doctor))
    assert rule.practitioner == doctor and rule.created_by == hospital_admin


def test_another_doctor_may_not_publish_for_a_colleague(doctor):
    colleague = DoctorFactory()
    error = refused("not_allowed", colleague.user, doctor)
    assert error.status == 403


def test_a_patient_may_not_publish(doctor, patient):
    refused("not_allowed", patient.user, doctor)


def test_doctor_with_fewer_than_three_years_is_refused():
    junior = DoctorFactory(independent_practice_since=timezone.localdate() - timedelta(days=2 * 365 + 100))
    error = refused("not_eligible_for_online_practice", junior.user, junior)
    assert error.status == 403
    assert error.fields == {"practitioner_id": "too_few_years"}
    assert "3" in str(error.message)


def test_admin_cannot_publish_for_an_ineligible_doctor(hospital_admin):
    junior = DoctorFactory(independent_practice_since=timezone.localdate() - timedelta(days=365))
    refused("not_eligible_for_online_practice", hospital_admin, junior)


def test_unverified_licence_and_nurses_are_refused(hospital_admin):
    unverified = DoctorFactory(verified_at=None)
    assert refused("not_eligible_for_online_practice", hospital_admin, unverified).fields == {
        "practitioner_id": "licence_not_verified"
    }
    nurse = NurseFactory()
    assert refused("not_eligible_for_online_practice", hospital_admin, nurse).fields == {
        "practitioner_id": "not_a_doctor"
    }


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"weekday": 7}, "invalid_weekday"),
        ({"weekday": -1}, "invalid_weekday"),
        ({"mode": "phone"}, "invalid_mode"),
        ({"start_time": time(12), "end_time": time(8)}, "invalid_time_range"),
        ({"start_time": time(8), "end_time": time(8)}, "invalid_time_range"),
        ({"slot_minutes": 4}, "invalid_slot_length"),
        ({"slot_minutes": 121}, "invalid_slot_length"),
        ({"start_time": time(8), "end_time": time(8, 20), "slot_minutes": 30}, "rule_too_short"),
        ({"capacity": 0}, "invalid_capacity"),
        ({"capacity": 51}, "invalid_capacity"),
        ({"valid_until": timezone.localdate() - timedelta(days=1)}, "invalid_validity"),
    ],
)
def test_invalid_rules_are_refused(doctor, overrides, code):
    if "valid_until" in overrides:
        overrides["valid_from"] = timezone.localdate() - timedelta(days=10)
    error = refused(code, doctor.user, doctor, **overrides)
    assert error.status == 400 and error.fields


def test_limits_are_inclusive(doctor):
    services.publish_rule(actor=doctor.user, **rule_args(doctor, slot_minutes=5, capacity=50,
                                                         end_time=time(8, 5)))
    services.publish_rule(actor=doctor.user, **rule_args(doctor, slot_minutes=120, capacity=1,
                                                         start_time=time(9), end_time=time(11)))


def test_last_partial_slot_is_dropped(doctor):
    rule = services.publish_rule(actor=doctor.user, **rule_args(doctor, end_time=time(9, 45), slot_minutes=30))
    day = next_weekday(rule.weekday, after=timezone.localdate() - timedelta(days=1))
    local = [s.starts_at.astimezone(timezone.get_current_timezone()) for s in Slot.objects.filter(rule=rule)]
    assert sorted({(s.hour, s.minute) for s in local}) == [(8, 0), (8, 30), (9, 0)]
    assert all(s.date() >= day for s in local)


def test_department_must_be_the_doctors_and_offer_online_visits(doctor):
    elsewhere = DepartmentFactory()
    refused("not_in_department", doctor.user, doctor, department_id=elsewhere.pk)
    offline = DepartmentFactory(offers_online_visits=False)
    doctor.departments.add(offline)
    refused("department_not_online", doctor.user, doctor, department_id=offline.pk)
    refused("invalid_department", doctor.user, doctor, department_id=999_999)


def test_unknown_practitioner_is_404(hospital_admin, doctor):
    with pytest.raises(DomainError) as exc:
        services.publish_rule(actor=hospital_admin, **rule_args(doctor, practitioner_id=999_999))
    assert exc.value.status == 404


def test_overlapping_active_rule_is_refused(doctor):
    first = services.publish_rule(actor=doctor.user, **rule_args(doctor))
    error = refused("rule_overlaps", doctor.user, doctor, start_time=time(11, 30), end_time=time(13))
    assert error.status == 409 and error.fields == {"rule_id": first.pk}
    # Even in another department or mode: a doctor cannot be in two places at once.
    second = DepartmentFactory(facility=doctor.facility)
    doctor.departments.add(second)
    refused("rule_overlaps", doctor.user, doctor, department_id=second.pk, mode=VisitMode.TEXT)


def test_adjacent_rules_other_weekdays_and_disjoint_periods_do_not_overlap(doctor):
    base = services.publish_rule(actor=doctor.user, **rule_args(doctor))
    services.publish_rule(actor=doctor.user, **rule_args(doctor, start_time=time(12), end_time=time(13)))
    services.publish_rule(actor=doctor.user, **rule_args(doctor, weekday=(base.weekday + 1) % 7))
    # The same hours in a later period, after the first rule ends.
    later = timezone.localdate() + timedelta(days=60)
    services.publish_rule(actor=doctor.user, **rule_args(doctor, start_time=time(14), end_time=time(16),
                                                         valid_until=later))
    services.publish_rule(actor=doctor.user, **rule_args(doctor, start_time=time(15), end_time=time(17),
                                                         valid_from=later + timedelta(days=1)))
    refused("rule_overlaps", doctor.user, doctor, start_time=time(15), end_time=time(16),
            valid_from=later, valid_until=later + timedelta(days=7))


def test_retired_rule_no_longer_blocks_and_its_unbooked_slots_go(doctor):
    rule = services.publish_rule(actor=doctor.user, **rule_args(doctor, capacity=1))
    booked_slot = Slot.objects.filter(rule=rule).order_by("starts_at").first()
    patient = PatientFactory()
    appointment = services.book_slot(actor=patient.user, patient_id=patient.pk, slot_id=booked_slot.pk)

    retired = services.retire_rule(actor=doctor.user, rule_id=rule.pk)
    assert not retired.active and retired.retired_by == doctor.user and retired.retired_at
    # The booked slot stays (closed: no new bookings); the booking is honoured; the others are gone.
    assert list(Slot.objects.filter(rule=rule)) == [booked_slot]
    booked_slot.refresh_from_db()
    assert booked_slot.status == SlotStatus.CLOSED and booked_slot.booked == 1
    appointment.refresh_from_db()
    assert appointment.status == "booked"

    again = services.publish_rule(actor=doctor.user, **rule_args(doctor, capacity=3))
    # The new rule takes over the kept slot at the same time (capacity 3, reopened) and makes the rest.
    booked_slot.refresh_from_db()
    assert booked_slot.rule == again and booked_slot.status == SlotStatus.OPEN and booked_slot.capacity == 3
    assert Slot.objects.filter(rule=again).count() == 16
    with pytest.raises(DomainError) as exc:
        services.retire_rule(actor=doctor.user, rule_id=rule.pk)
    assert exc.value.code == "already_retired"


def test_retire_is_for_the_doctor_or_an_admin(doctor, hospital_admin):
    rule = services.publish_rule(actor=doctor.user, **rule_args(doctor))
    outsiders = (DoctorFactory().user, PatientFactory().user)
    before = state(with_audit=True)
    for outsider in outsiders:
        with pytest.raises(DomainError) as exc:
            services.retire_rule(actor=outsider, rule_id=rule.pk)
        assert exc.value.code == "not_allowed"
    assert state(with_audit=True) == before
    with pytest.raises(DomainError) as exc:
        services.retire_rule(actor=doctor.user, rule_id=999_999)
    assert exc.value.status == 404
    assert not services.retire_rule(actor=hospital_admin, rule_id=rule.pk).active
    assert Appointment.objects.count() == 0
    assert not AvailabilityRule.objects.filter(active=True).exists()
