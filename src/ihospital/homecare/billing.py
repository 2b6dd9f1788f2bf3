"""After the visit: the charge for the service and the consumables used, payment, and the patient's rating.

The charge opens at check-out ("homecare:<request id>", payer: whoever booked), for the service's price plus
the consumables the assessor planned; payments tells us when it is paid (``on_paid``, registered in
``HomecareConfig.ready``). A rating is given once per visit, by the patient or a proxy, after completion.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import User
from ihospital.core import audit
from ihospital.core.errors import Conflict, DomainError
from ihospital.core.models import AuditAction
from ihospital.payments import services as payments

from . import realtime
from .models import NursingRequest, Rating, RequestStatus
from .selectors import request_for

PAY_WITHIN_DAYS = 30


def open_charge(req: NursingRequest) -> None:
    """Called inside check-out's transaction."""
    if req.total_fen <= 0 or req.charge_id:
        return
    charge = payments.create_charge(
        reference=req.charge_reference, amount_fen=req.total_fen, payer=req.requested_by,
        subject=gettext("Home nursing %(number)s: %(service)s") % {"number": req.number, "service": req.service.name},
        expires_at=timezone.now() + timedelta(days=PAY_WITHIN_DAYS))
    NursingRequest.objects.filter(pk=req.pk).update(charge_id=charge.pk)
    req.charge_id = charge.pk


def checkout(*, actor: User, request_id: int) -> str:
    """Where the payer pays (the provider's page). Only the one who booked pays (the charge is theirs)."""
    req, role = request_for(actor, request_id, audit_read=False, roles=("patient",))
    if req.charge_id is None:
        raise Conflict("nothing_to_pay", _("There is nothing to pay for this request yet."))
    if req.paid_at:
        raise Conflict("already_paid", _("This visit is paid."))
    if req.requested_by_id != actor.pk:
        raise Conflict("payer_only", _("%(name)s booked this visit and pays for it.") % {
            "name": req.requested_by.real_name})
    _payment, url = payments.start_payment(actor=actor, charge_id=req.charge_id)
    return url


def on_paid(charge) -> bool:
    req = NursingRequest.objects.select_for_update().filter(charge_id=charge.pk).first()
    if req is None or req.paid_at is not None:
        return False
    NursingRequest.objects.filter(pk=req.pk).update(paid_at=timezone.now())
    audit.record(actor=None, action=AuditAction.UPDATE, obj=req, patient_id=req.patient_id,
                 detail={"paid_fen": charge.amount_fen})
    realtime.request_changed(req)
    realtime.tell(req, "paid", gettext("Payment received for home visit %(number)s") % {"number": req.number})
    return True


def on_refunded(refund) -> None:
    req = NursingRequest.objects.filter(charge_id=refund.charge_id).first()
    if req is not None:
        realtime.tell(req, f"refunded-{refund.pk}", gettext("Refund of ¥%(amount)s for home visit %(number)s") % {
            "amount": f"{refund.amount_fen / 100:.2f}", "number": req.number})


def rate(*, actor: User, request_id: int, stars, comment: str = "") -> Rating:
    req, role = request_for(actor, request_id, audit_read=False, roles=("patient",))
    if req.status != RequestStatus.COMPLETED:
        raise Conflict("not_completed", _("You can rate the visit once it is completed."))
    try:
        stars = int(stars)
    except (TypeError, ValueError):
        stars = 0
    if not 1 <= stars <= 5:
        raise DomainError("invalid_rating", _("Choose one to five stars."), fields={"stars": stars})
    try:
        with transaction.atomic():
            rating = Rating.objects.create(request=req, stars=stars, comment=(comment or "").strip()[:2000],
                                           rated_by=actor)
            audit.record(actor=actor, action=AuditAction.CREATE, obj=rating, patient_id=req.patient_id,
                         detail={"stars": stars})
    except IntegrityError:
        raise Conflict("already_rated", _("This visit was already rated.")) from None
    return rating
