"""The medical-test part of the demo: Mr Li's released results spread over a year (the trend has a line), the
orders waiting to be booked, two weeks of slots — and loading the demo twice creates nothing new."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from ihospital.diagnostics.models import DiagnosticOrder, Observation, OrderStatus, Resource, ResourceSlot
from ihospital.records.models import Encounter
from ihospital.web.demo import story

pytestmark = pytest.mark.django_db


def counts() -> dict[str, int]:
    return {"orders": DiagnosticOrder.objects.count(), "observations": Observation.objects.count(),
            "slots": ResourceSlot.objects.count(), "encounters": Encounter.objects.count()}


def test_the_demo_has_a_year_of_results_and_loads_twice_without_duplicates():
    logins = story.load()
    first = counts()
    assert any(login.login == "lab.zhou" and "HL7" in login.note for login in logins)

    li = DiagnosticOrder.objects.filter(patient__user__real_name=story.HYPERTENSIVE.real_name)
    ldl = list(Observation.objects.filter(order__in=li, analyte__code="ldl_c").order_by("observed_at"))
    assert [o.value for o in ldl] == [Decimal("4.1"), Decimal("3.6"), Decimal("3.2"), Decimal("2.9")]
    assert ldl[-1].observed_at - ldl[0].observed_at > timedelta(days=300)
    assert all(o.order.status == OrderStatus.RELEASED and o.order.released_at < timezone.now() - timedelta(days=20)
               for o in ldl)
    hba1c = [o.value for o in Observation.objects.filter(order__in=li, analyte__code="hba1c")]
    assert len(hba1c) == 4 and all(Decimal("6.0") <= v <= Decimal("6.4") for v in hba1c)
    assert li.get(test__code="fpg").status == OrderStatus.ORDERED
    elder = DiagnosticOrder.objects.get(patient__user__real_name=story.PARAPLEGIC.real_name)
    assert (elder.test.code, elder.status, elder.doctor.user.username) == ("us_abdomen", OrderStatus.ORDERED,
                                                                           "dr.guo")
    soon = timezone.now() + timedelta(days=13)
    assert all(ResourceSlot.objects.filter(resource=r, starts_at__gte=soon).exists()
               for r in Resource.objects.filter(active=True) if r.hours)

    story.load()
    assert counts() == first
