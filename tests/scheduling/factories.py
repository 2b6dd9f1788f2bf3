"""factory-boy factories for scheduling. Appointments are made through ``services.book_slot`` in the tests, so
that a slot's ``booked`` count always matches its appointments."""

from __future__ import annotations

from datetime import time, timedelta

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from ihospital.accounts.models import Role
from ihospital.scheduling.models import AvailabilityRule, Closure, Slot, SlotStatus, VisitMode
from tests.factories import DoctorFactory, StaffUserFactory


def _first_department(o):
    return o.practitioner.departments.first()


class AdminUserFactory(StaffUserFactory):
    role = Role.ADMIN
    is_staff = True


class RuleFactory(DjangoModelFactory):
    """Mondays 08:00–12:00, 30-minute slots, one patient each, text; valid from today."""

    class Meta:
        model = AvailabilityRule

    practitioner = factory.SubFactory(DoctorFactory)
    department = factory.LazyAttribute(_first_department)
    weekday = 0
    start_time = time(8, 0)
    end_time = time(12, 0)
    slot_minutes = 30
    capacity = 1
    mode = VisitMode.TEXT
    valid_from = factory.LazyFunction(timezone.localdate)
    created_by = factory.LazyAttribute(lambda o: o.practitioner.user)


class ClosureFactory(DjangoModelFactory):
    class Meta:
        model = Closure

    practitioner = None
    date = factory.LazyFunction(lambda: timezone.localdate() + timedelta(days=1))
    reason = "public holiday"
    created_by = factory.SubFactory(AdminUserFactory)


class SlotFactory(DjangoModelFactory):
    """An open 30-minute text slot of a new doctor, tomorrow-ish (each one an hour after the previous, wrapping
    after 5 days so that a long run of tests never pushes slots past the booking horizon)."""

    class Meta:
        model = Slot

    rule = None
    practitioner = factory.SubFactory(DoctorFactory)
    department = factory.LazyAttribute(_first_department)
    starts_at = factory.Sequence(
        lambda n: timezone.now().replace(second=0, microsecond=0) + timedelta(days=1, hours=n % 120)
    )
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(minutes=30))
    mode = VisitMode.TEXT
    capacity = 1
    booked = 0
    status = SlotStatus.OPEN
