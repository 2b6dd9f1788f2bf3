"""Factories of the medical-test tests: catalogue rows, a resource with slots, and an order in a visit."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from ihospital.diagnostics.models import (
    Analyte,
    DiagnosticKind,
    DiagnosticOrder,
    DiagnosticTest,
    ReferenceRange,
    Resource,
    ResourceSlot,
    Specimen,
)


class DiagnosticTestFactory(DjangoModelFactory):
    """A lab test (fasting glucose by default)."""

    class Meta:
        model = DiagnosticTest
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"test-{n}")
    kind = DiagnosticKind.LAB
    name_zh = factory.Sequence(lambda n: f"检验{n}")
    name_en = factory.Sequence(lambda n: f"Test {n}")
    specimen = Specimen.VENOUS_BLOOD
    price_fen = 2000


class AnalyteFactory(DjangoModelFactory):
    class Meta:
        model = Analyte

    test = factory.SubFactory(DiagnosticTestFactory)
    code = factory.Sequence(lambda n: f"an-{n}")
    name_zh = factory.Sequence(lambda n: f"项目{n}")
    name_en = factory.Sequence(lambda n: f"Analyte {n}")
    unit = "mmol/L"


class ReferenceRangeFactory(DjangoModelFactory):
    class Meta:
        model = ReferenceRange

    analyte = factory.SubFactory(AnalyteFactory)
    low = Decimal("3.9")
    high = Decimal("6.1")
    critical_low = Decimal("2.8")
    critical_high = Decimal("22.2")


class ResourceFactory(DjangoModelFactory):
    class Meta:
        model = Resource
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"res-{n}")
    name_zh = factory.Sequence(lambda n: f"检查室{n}")
    name_en = factory.Sequence(lambda n: f"Room {n}")
    slot_minutes = 15
    capacity = 1
    hours = factory.LazyFunction(lambda: {str(d): [["08:00", "12:00"], ["14:00", "17:00"]] for d in range(7)})

    @factory.post_generation
    def tests(self, create, extracted, **kwargs):
        if create and extracted:
            self.tests.set(extracted)


class ResourceSlotFactory(DjangoModelFactory):
    """Tomorrow at 09:00 local time, 15 minutes, one place."""

    class Meta:
        model = ResourceSlot

    resource = factory.SubFactory(ResourceFactory)
    starts_at = factory.LazyFunction(lambda: timezone.make_aware(
        timezone.datetime.combine(timezone.localdate() + timedelta(days=1), timezone.datetime.min.time()))
        + timedelta(hours=9))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(minutes=15))
    capacity = 1


class DiagnosticOrderFactory(DjangoModelFactory):
    """An order written at an in-person encounter (set ``encounter``), without going through the services."""

    class Meta:
        model = DiagnosticOrder

    number = factory.Sequence(lambda n: f"DX{n:08d}")
    test = factory.SubFactory(DiagnosticTestFactory)
    reason = "复查"
    price_fen = factory.LazyAttribute(lambda o: o.test.price_fen)
