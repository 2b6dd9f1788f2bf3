"""The whole home-nursing workflow through the services, once: booking → assessment → dispatch proposal →
accept → set out → check in → record → check out → payment → confirmation → rating."""

from __future__ import annotations

from datetime import time

import pytest
from django.utils import timezone

from ihospital.homecare import billing, dispatch, visiting
from ihospital.homecare.models import NurseVisit, NursingRequest, RequestStatus
from ihospital.payments.models import Charge
from tests.homecare import factories as f

pytestmark = pytest.mark.django_db


def test_whole_workflow(elder, nurse, dispatcher, flow, django_capture_on_commit_callbacks):
    req = f.booked(elder)
    assert req.status == RequestStatus.REQUESTED and req.number.startswith("HN")
    f.accepted(req, nurse)
    assert req.status == RequestStatus.ACCEPTED and req.consumables_fen == 1500

    f.shift(nurse, req.preferred_date, by=dispatcher)
    plan = dispatch.propose(actor=dispatcher, day=req.preferred_date, time_limit=0.3)
    assert plan.unassigned == {} and list(plan.routes) == [str(nurse.pk)]
    [visit] = dispatch.accept_plan(actor=dispatcher, plan_id=plan.pk)
    req.refresh_from_db()
    assert req.status == RequestStatus.SCHEDULED
    assert time(9) <= timezone.localtime(visit.planned_start).time() <= time(12)

    # The visit is today, so the nurse may set out.
    NurseVisit.objects.filter(pk=visit.pk).update(day=timezone.localdate())
    NursingRequest.objects.filter(pk=req.pk).update(preferred_date=timezone.localdate())
    f.completed(visit, nurse)
    req.refresh_from_db()
    visit.refresh_from_db()
    assert req.status == RequestStatus.COMPLETED and not visit.flagged
    assert visiting.evv(visit)["start"] and visiting.evv(visit)["end"]

    charge = Charge.objects.get(pk=req.charge_id)
    assert charge.amount_fen == 8000 + 1500
    with django_capture_on_commit_callbacks(execute=True):
        url = billing.checkout(actor=elder.user, request_id=req.pk)
    assert flow.checkout(url, elder.user).status_code == 302
    flow.settle()
    req.refresh_from_db()
    assert req.paid_at is not None

    visiting.confirm(actor=elder.user, visit_id=visit.pk)
    rating = billing.rate(actor=elder.user, request_id=req.pk, stars=5, comment="护士很细心")
    assert rating.stars == 5
