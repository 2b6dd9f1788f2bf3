"""The pharmacists' review (审方): the live worklist of signed prescriptions and the review of one.

A pharmacist starts a review (the others see who has it), or decides straight away; approving past a check
finding the doctor never saw needs an explicit "I have assessed it"; rejecting needs the categories and a word
to the doctor. Two pharmacists deciding at once: the database keeps the first decision, the second sees why.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from ihospital.core.errors import DomainError, NotFound

from . import reviewing, selectors, services
from .forms import RejectForm
from .models import RxStatus
from .views import item_rows, live_strings, page_error, pharmacist_page, reason_labels, review_of


def _lists(request) -> dict:
    waiting = list(selectors.review_worklist(request.user))
    for rx in waiting:
        rx.mine = rx.reviewer_id == request.user.pk
    recent = list(selectors.recent_reviews(request.user)[:30])
    for rx in recent:
        rx.reason_labels = reason_labels(rx.review.reasons)
    return {"waiting": waiting, "recent": recent}


@require_GET
@pharmacist_page
def worklist(request):
    context = _lists(request)
    if request.GET.get("part") == "lists":
        return render(request, "prescriptions/_review_worklist.html", context)
    context["live"] = live_strings()
    return render(request, "prescriptions/review_worklist.html", context)


def _review(request, rx_id: int, *, audit_read: bool = True):
    rx, role = selectors.prescription_for(request.user, rx_id, audit_read=audit_read)
    if role != "pharmacist":
        raise NotFound()
    return rx


def _context(request, rx, *, reject_form=None, acknowledge_needed=False, open_form="", error=None) -> dict:
    signed_keys = {f["key"] for f in rx.checks}
    findings = services.check_prescription(actor=request.user, prescription_id=rx.pk)
    for finding in findings:
        finding["new"] = finding["key"] not in signed_keys
    review = review_of(rx)
    deciding = rx.status in (RxStatus.SIGNED, RxStatus.UNDER_REVIEW) and rx.reviewer_id in (None, request.user.pk)
    return {
        "rx": rx, "items": item_rows(rx), "overrides": rx.checks, "findings": findings,
        "new_findings": any(f["new"] for f in findings), "review": review,
        "review_reasons": reason_labels(review.reasons) if review else [],
        "deciding": deciding, "taken_by": rx.reviewer if rx.status == RxStatus.UNDER_REVIEW and
        rx.reviewer_id != request.user.pk else None,
        "reject_form": reject_form or RejectForm(), "acknowledge_needed": acknowledge_needed,
        "open_form": open_form, "page_error": error,
    }


@require_GET
@pharmacist_page
def review(request, rx_id: int):
    rx = _review(request, rx_id)
    return render(request, "prescriptions/review.html", _context(request, rx))


def _again(request, rx_id: int, exc: DomainError, **kwargs):
    rx = _review(request, rx_id, audit_read=False)
    return render(request, "prescriptions/review.html", _context(request, rx, **kwargs), status=exc.status)


@require_POST
@pharmacist_page
def claim(request, rx_id: int):
    try:
        reviewing.claim_review(actor=request.user, prescription_id=rx_id)
    except NotFound:
        raise
    except DomainError as exc:
        return _again(request, rx_id, exc, error=page_error(exc))
    return redirect("prescriptions:review", rx_id=rx_id)


@require_POST
@pharmacist_page
def release(request, rx_id: int):
    try:
        reviewing.release_review(actor=request.user, prescription_id=rx_id)
    except NotFound:
        raise
    except DomainError as exc:
        return _again(request, rx_id, exc, error=page_error(exc))
    messages.info(request, _("The prescription is back in the worklist."))
    return redirect("prescriptions:review_worklist")


@require_POST
@pharmacist_page
def decide(request, rx_id: int):
    approve = request.POST.get("decision") == "approve"
    form = RejectForm(request.POST)
    form.is_valid()
    try:
        review = reviewing.review_prescription(
            actor=request.user, prescription_id=rx_id, approve=approve,
            reasons=[] if approve else form.cleaned_data.get("reasons", []),
            comment="" if approve else form.cleaned_data.get("comment", ""),
            acknowledge=approve and request.POST.get("acknowledge") == "1",
        )
    except NotFound:
        raise
    except DomainError as exc:
        if exc.code == "check_findings_unacknowledged":
            return _again(request, rx_id, exc, acknowledge_needed=True, error=page_error(exc))
        if exc.code in ("reasons_required", "comment_required"):
            form.add_error("reasons" if exc.code == "reasons_required" else "comment", str(exc.message))
            return _again(request, rx_id, exc, reject_form=form, open_form="reject")
        return _again(request, rx_id, exc, error=page_error(exc))
    number = review.prescription.number
    if approve:
        messages.success(request, _("Prescription %(number)s approved.") % {"number": number})
    else:
        messages.success(request, _("Prescription %(number)s rejected; the doctor sees your reasons.")
                         % {"number": number})
    return redirect("prescriptions:review_worklist")
