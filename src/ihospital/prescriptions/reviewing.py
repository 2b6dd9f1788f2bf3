"""The pharmacist's review (审方): claim, release, approve or reject a signed prescription.

Two pharmacists deciding at once: the conditional status update and the one ``Review`` per prescription let the
database pick the winner; the other gets 409 and nothing changes.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import User
from ihospital.accounts.selectors import patient_and_relatives
from ihospital.core import audit
from ihospital.core.errors import Conflict, DomainError
from ihospital.core.models import AuditAction
from ihospital.core.transitions import transition
from ihospital.notifications.services import notify

from . import checks, realtime
from .models import Prescription, RejectionReason, Review, ReviewDecision, RxStatus
from .selectors import prescription_for
from .services import _pharmacist, seal_of_review


def claim_review(*, actor: User, prescription_id: int) -> Prescription:
    """A pharmacist opens a prescription for review; the others see it is taken."""
    _pharmacist(actor)
    rx, _role = prescription_for(actor, prescription_id)
    with transaction.atomic():
        transition(rx, RxStatus.UNDER_REVIEW, actor=actor, reason="review started", reviewer=actor)
        realtime.prescription_changed(rx)
    return rx


def release_review(*, actor: User, prescription_id: int) -> Prescription:
    _pharmacist(actor)
    rx, _role = prescription_for(actor, prescription_id, audit_read=False)
    if rx.status != RxStatus.UNDER_REVIEW or rx.reviewer_id != actor.pk:
        raise Conflict("not_your_review", _("This prescription is not under your review."))
    with transaction.atomic():
        transition(rx, RxStatus.SIGNED, actor=actor, reason="review released", reviewer=None)
        realtime.prescription_changed(rx)
    return rx


def review_prescription(
    *, actor: User, prescription_id: int, approve: bool, reasons: list[str] | None = None, comment: str = "",
    acknowledge: bool = False,
) -> Review:
    """Approve, or reject with reasons. Two pharmacists deciding at once: the first wins, the other gets 409."""
    _pharmacist(actor)
    rx, _role = prescription_for(actor, prescription_id, audit_read=False)
    reasons = [str(r) for r in (reasons or [])]
    if rx.status == RxStatus.UNDER_REVIEW and rx.reviewer_id not in (None, actor.pk):
        raise Conflict("review_taken", _("Another pharmacist is reviewing this prescription."))
    if rx.status not in (RxStatus.SIGNED, RxStatus.UNDER_REVIEW):
        raise Conflict("already_reviewed", _("This prescription was already decided: it is %(status)s.")
                       % {"status": rx.get_status_display()})
    if rx.valid_until and rx.valid_until < timezone.now():
        raise Conflict("prescription_expired", _("This prescription expired before it was reviewed."))
    if not approve:
        unknown = [r for r in reasons if r not in RejectionReason.values]
        if not reasons or unknown:
            raise DomainError("reasons_required", _("Choose at least one reason for rejecting."),
                              fields={"reasons": ", ".join(unknown)})
        if not comment.strip():
            raise DomainError("comment_required", _("Tell the doctor what to change."))
    # Findings the doctor did not see (the chart or other prescriptions changed since signing) need the
    # pharmacist's explicit acknowledgement before approval.
    signed_keys = {f["key"] for f in rx.checks}
    findings = checks.with_overrides(checks.run(rx), {f["key"]: f.get("override", "") for f in rx.checks})
    new = [f for f in findings if f["key"] not in signed_keys]
    if approve and new and not acknowledge:
        raise DomainError(
            "check_findings_unacknowledged",
            _("New check findings since the doctor signed: reject, or confirm you have assessed them."),
            status=409,
            fields={f["key"]: f["message"] for f in new},
        )
    decision = ReviewDecision.APPROVED if approve else ReviewDecision.REJECTED
    now = timezone.now()
    try:
        with transaction.atomic():
            review = Review.objects.create(
                prescription=rx, pharmacist=actor, decision=decision, reasons=reasons, comment=comment.strip(),
                findings=findings, seal="",
            )
            review.seal = seal_of_review(review, rx.content_hash)
            review.save(update_fields=["seal"])
            to = RxStatus.APPROVED if approve else RxStatus.REJECTED
            transition(rx, to, actor=actor, reason=comment.strip() or decision, reviewer=actor, reviewed_at=now,
                       status_reason=comment.strip())
            audit.record(actor=actor, action=AuditAction.UPDATE, obj=rx, patient_id=rx.patient_id,
                         detail={"review": decision, "reasons": reasons})
            realtime.prescription_changed(rx)
            _tell_review(rx, review)
    except IntegrityError:
        raise Conflict("already_reviewed", _("Another pharmacist decided this prescription first.")) from None
    return review


def _tell_review(rx: Prescription, review: Review) -> None:
    if review.decision == ReviewDecision.APPROVED:
        notify(users=patient_and_relatives(rx.patient), kind="prescription.approved",
               title=gettext("Prescription %(number)s is approved: you can order your medicines")
               % {"number": rx.number},
               link=f"/prescriptions/{rx.pk}/", dedupe_key=f"rx-approved:{rx.pk}")
    else:
        notify(users=[rx.doctor.user], kind="prescription.rejected",
               title=gettext("The pharmacist rejected prescription %(number)s") % {"number": rx.number},
               body=review.comment, link=f"/prescriptions/{rx.pk}/", dedupe_key=f"rx-rejected:{rx.pk}")
        notify(users=patient_and_relatives(rx.patient), kind="prescription.rejected",
               title=gettext("Prescription %(number)s needs a change by the doctor") % {"number": rx.number},
               link=f"/prescriptions/{rx.pk}/", dedupe_key=f"rx-rejected-patient:{rx.pk}")
