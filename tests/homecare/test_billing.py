"""After the visit: the charge (opened at check-out for the service and the consumables the assessor planned,
payable by whoever booked), payment through the sandbox (declined and retried, paid once, the notification),
and the rating (one to five stars, once, after completion, by the patient or a proxy)."""

from __future__ import annotations

from datetime import time

import pytest
from django.utils import timezone

from ihospital.core.errors import DomainError
from ihospital.homecare import billing, visiting
from ihospital.homecare.models import NurseVisit, NursingRequest, Rating
from ihospital.notifications.models import Notification
from ihospital.payments.models import Charge, ChargeStatus, PaymentStatus
from tests.factories import PatientFactory
from tests.homecare import factories as f

pytestmark = pytest.mark.django_db


def refused(code: str, fn, **kw) -> DomainError:
    with pytest.raises(DomainError) as caught:
        fn(**kw)
    assert caught.value.code == code, caught.value.code
    return caught.value


def done(patient, nurse, *, by=None, **accept):
    """A completed visit booked by ``by`` (default the patient), assessed with ``accept``'s choices."""
    req = f.booked(patient, actor=by or patient.user)
    f.accepted(req, nurse, **accept)
    today = timezone.localdate()
    NursingRequest.objects.filter(pk=req.pk).update(preferred_date=today, window_start=time(0), window_end=time(23))
    f.shift(nurse, today, "00:00", "23:59")
    req.refresh_from_db()
    # The nurse's earlier visits today keep their times: each one gets its own two hours.
    earlier = NurseVisit.objects.filter(nurse=nurse, day=today).count()
    visit = f.scheduled(req, nurse, start=f"{1 + 2 * earlier:02d}:00")
    f.completed(visit, nurse)
    req.refresh_from_db()
    return req


def pay(flow, req, user, action: str = "pay"):
    with flow.capture(execute=True):
        url = billing.checkout(actor=user, request_id=req.pk)
    response = flow.checkout(url, user, action=action)
    assert response.status_code == 302
    flow.settle()
    req.refresh_from_db()
    return req


def test_the_charge_opens_at_check_out_for_the_price_and_the_planned_consumables(elder, nurse):
    visit = f.today_visit(elder, nurse)
    f.in_service(visit, nurse)
    req = NursingRequest.objects.get(pk=visit.request_id)
    assert req.charge_id is None and not Charge.objects.exists()

    visiting.save_record(actor=nurse, visit_id=visit.pk, procedure_notes="换药")
    visiting.check_out(actor=nurse, visit_id=visit.pk)
    req.refresh_from_db()
    charge = Charge.objects.get(pk=req.charge_id)
    assert (charge.amount_fen, charge.reference, charge.payer_id) == (8000 + 1500, f"homecare:{req.pk}",
                                                                      elder.user.pk)
    assert charge.status == ChargeStatus.OPEN and req.number in charge.subject


def test_the_assessors_quantities_make_the_price(elder, nurse):
    req = done(elder, nurse, consumables=[{"code": "dressing_pack", "qty": 3}])
    assert (req.price_fen, req.consumables_fen, req.total_fen) == (8000, 4500, 12500)
    assert Charge.objects.get(pk=req.charge_id).amount_fen == 12500


def test_no_consumables_planned_charges_the_service_alone(elder, nurse):
    req = done(elder, nurse, consumables=[])
    assert Charge.objects.get(pk=req.charge_id).amount_fen == 8000


def test_nothing_to_pay_before_completion(elder, nurse):
    visit = f.today_visit(elder, nurse)
    refused("nothing_to_pay", billing.checkout, actor=elder.user, request_id=visit.request_id)
    f.in_service(visit, nurse)
    refused("nothing_to_pay", billing.checkout, actor=elder.user, request_id=visit.request_id)


def test_only_the_one_who_booked_pays(elder, relative, nurse, flow):
    req = done(elder, nurse)
    error = refused("payer_only", billing.checkout, actor=relative, request_id=req.pk)
    assert elder.real_name in str(error.message)
    assert pay(flow, req, elder.user).paid_at is not None

    # Booked by the relative: the relative pays, the patient is told who does.
    other = done(elder, nurse, by=relative, consumables=[])
    assert Charge.objects.get(pk=other.charge_id).payer_id == relative.pk
    refused("payer_only", billing.checkout, actor=elder.user, request_id=other.pk)
    assert pay(flow, other, relative).paid_at is not None


def test_strangers_and_staff_cannot_pay_or_rate(elder, nurse, dispatcher):
    req = done(elder, nurse)
    for user in (PatientFactory().user, nurse, dispatcher):
        refused("not_found", billing.checkout, actor=user, request_id=req.pk)
        refused("not_found", billing.rate, actor=user, request_id=req.pk, stars=5)
    assert not Rating.objects.exists()


def test_paid_through_the_sandbox_sets_paid_at_and_tells_the_family(elder, relative, nurse, flow):
    req = done(elder, nurse)
    paid = pay(flow, req, elder.user)
    charge = Charge.objects.get(pk=req.charge_id)
    assert paid.paid_at is not None and charge.status == ChargeStatus.PAID
    for user in (elder.user, relative):
        [note] = Notification.objects.filter(user=user, kind="homecare.paid")
        assert req.number in note.title and note.link == f"/homecare/requests/{req.pk}/"
    refused("already_paid", billing.checkout, actor=elder.user, request_id=req.pk)
    # The provider's callback again (or payments telling us twice) changes nothing.
    assert billing.on_paid(charge) is False
    assert Notification.objects.filter(user=elder.user, kind="homecare.paid").count() == 1


def test_a_declined_payment_leaves_it_unpaid_and_a_retry_pays(elder, nurse, flow):
    req = done(elder, nurse)
    assert pay(flow, req, elder.user, action="decline").paid_at is None
    charge = Charge.objects.get(pk=req.charge_id)
    assert charge.status == ChargeStatus.OPEN
    assert [p.status for p in charge.payments.all()] == [PaymentStatus.FAILED]
    assert pay(flow, req, elder.user).paid_at is not None


def test_rating(elder, relative, nurse):
    waiting = f.booked(elder, code="injection")
    refused("not_completed", billing.rate, actor=elder.user, request_id=waiting.pk, stars=5)

    req = done(elder, nurse)
    for stars in (0, 6, "five", None):
        refused("invalid_rating", billing.rate, actor=elder.user, request_id=req.pk, stars=stars)
    rating = billing.rate(actor=relative, request_id=req.pk, stars="4", comment="  准时、耐心  ")
    assert (rating.stars, rating.comment, rating.rated_by_id) == (4, "准时、耐心", relative.pk)
    refused("already_rated", billing.rate, actor=elder.user, request_id=req.pk, stars=5)
    assert Rating.objects.count() == 1
    for stars in (1, 5):  # both ends of the scale are accepted
        other = done(elder, nurse, consumables=[]) if stars == 1 else done(elder, f.home_nurse())
        assert billing.rate(actor=elder.user, request_id=other.pk, stars=stars).stars == stars
