"""The nurse reaches the patient's chart only around the visit: from scheduling until
HOMECARE_CARE_ACCESS_HOURS after check-out (not until the end of the visit's day plus that)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ihospital.records.models import CareRelationship, CareSource
from ihospital.records.selectors import access_of
from tests.homecare import factories as f

pytestmark = pytest.mark.django_db


def _relation(visit, nurse):
    return CareRelationship.objects.get(clinician=nurse, source=CareSource.HOME_VISIT,
                                        source_id=f"visit:{visit.request_id}")


def test_check_out_ends_access_the_window_after_check_out(elder, nurse, settings):
    settings.HOMECARE_CARE_ACCESS_HOURS = 2
    visit = f.today_visit(elder, nurse)
    assert access_of(nurse, elder) == "clinician"
    f.completed(visit, nurse)
    visit.refresh_from_db()
    ends = _relation(visit, nurse).ends_at
    assert abs(ends - (visit.checked_out_at + timedelta(hours=2))) < timedelta(seconds=1)
    assert access_of(nurse, elder) == "clinician"  # still within the two hours


def test_after_the_window_the_chart_is_closed(elder, nurse, settings):
    settings.HOMECARE_CARE_ACCESS_HOURS = 0
    visit = f.today_visit(elder, nurse)
    f.completed(visit, nurse)
    assert _relation(visit, nurse).ends_at <= timezone.now()
    assert access_of(nurse, elder) is None
