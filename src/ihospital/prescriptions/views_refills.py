"""The doctors' refill worklist and one refill request: approve (sign the renewal now), modify (a draft to edit),
ask for an online visit, or refuse. The patient who asked sees the same request, without the doctor's actions.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from ihospital.accounts.services import second_factor_is_fresh
from ihospital.core.errors import DomainError, NotFound
from ihospital.directory.pages import doctor_page

from . import refilling, rules, selectors
from .forms import ReasonForm, SignForm, overrides_from
from .views import flag_labels, item_rows, live_strings, page_error, refill_answers
from .views_doctor import SECOND_FACTOR_CODES, editor_url


def _worklist(request) -> dict:
    refills = list(selectors.refill_worklist(request.user).prefetch_related("items__drug"))
    for refill in refills:
        refill.flags = flag_labels(refill.red_flags)
        refill.mine = refill.doctor.user_id == request.user.pk
    # Red flags first, then the doctor's own patients, then the oldest.
    refills.sort(key=lambda r: (not r.red_flags, not r.mine, r.created_at))
    return {"refills": refills}


@require_GET
@doctor_page
def worklist(request, practitioner):
    context = _worklist(request)
    if request.GET.get("part") == "lists":
        return render(request, "prescriptions/_refill_worklist.html", context)
    context["live"] = live_strings()
    return render(request, "prescriptions/refill_worklist.html", context)


def _chain_facts(rx) -> dict:
    return {"rx": rx, "items": item_rows(rx), "days": rx.days_supply()}


def _refill_context(request, refill, role: str, *, sign_form=None, findings=None, overrides=None, forms=None,
                    open_form: str = "", error=None) -> dict:
    root = refill.prescription
    forms = forms or {}
    context = {
        "refill": refill, "role": role, "answers": refill_answers(refill), "flags": flag_labels(refill.red_flags),
        "asked": list(refill.items.select_related("drug").order_by("position", "pk")),
        "original": _chain_facts(root), "page_error": error, "open_form": open_form,
        "used": rules.refills_used(root), "is_open": refill.is_open,
    }
    if refill.source_id != root.pk:
        context["latest"] = _chain_facts(refill.source)
    if role == "doctor":
        overrides = overrides or {}
        context.update(
            findings=[{"key": k, "message": m, "override": overrides.get(k, ""), "unresolved": True}
                      for k, m in (findings or {}).items()],
            sign_form=sign_form or SignForm(),
            fresh=second_factor_is_fresh(request.session, minutes=settings.CONSULT_REAUTH_MINUTES),
            visit_form=forms.get("visit") or ReasonForm(), refuse_form=forms.get("refuse") or ReasonForm(),
            next_date=rules.next_refill_date(root),
        )
    return context


@require_GET
@login_required
def detail(request, refill_id: int):
    refill, role = selectors.refill_for(request.user, refill_id)
    return render(request, "prescriptions/refill_detail.html", _refill_context(request, refill, role))


def _again(request, refill_id: int, exc: DomainError, status: int | None = None, **kwargs):
    refill, role = selectors.refill_for(request.user, refill_id, audit_read=False)
    context = _refill_context(request, refill, role, **kwargs)
    return render(request, "prescriptions/refill_detail.html", context, status=status or exc.status)


@require_POST
@doctor_page
def approve(request, practitioner, refill_id: int):
    overrides = overrides_from(request.POST)
    try:
        rx = refilling.approve_refill(actor=request.user, refill_id=refill_id, code=request.POST.get("code", ""),
                                     session=request.session, overrides=overrides)
    except NotFound:
        raise
    except DomainError as exc:
        if exc.code == "check_findings_unresolved":
            return _again(request, refill_id, exc, findings=exc.fields, overrides=overrides, error=page_error(exc))
        if exc.code in SECOND_FACTOR_CODES:
            return _again(request, refill_id, exc, sign_form=SignForm.with_error(exc.message), overrides=overrides)
        return _again(request, refill_id, exc, error=page_error(exc))
    messages.success(request, _("Refill approved: prescription %(number)s is signed and goes to the pharmacists.")
                     % {"number": rx.number})
    return redirect("prescriptions:refills")


@require_POST
@doctor_page
def modify(request, practitioner, refill_id: int):
    try:
        draft = refilling.modify_refill(actor=request.user, refill_id=refill_id)
    except NotFound:
        raise
    except DomainError as exc:
        return _again(request, refill_id, exc, error=page_error(exc))
    messages.info(request, _("Adjust the renewal, then sign it: signing approves the refill request."))
    return redirect(editor_url(draft.pk))


def _close(request, refill_id: int, act, key: str, done: str):
    form = ReasonForm(request.POST)
    form.is_valid()
    try:
        act(actor=request.user, refill_id=refill_id, reason=form.cleaned_data.get("reason", ""))
    except NotFound:
        raise
    except DomainError as exc:
        if exc.code == "reason_required":
            form.add_error("reason", str(exc.message))
            return _again(request, refill_id, exc, forms={key: form}, open_form=key)
        return _again(request, refill_id, exc, error=page_error(exc))
    messages.success(request, done)
    return redirect(reverse("prescriptions:refills"))


@require_POST
@doctor_page
def ask_visit(request, practitioner, refill_id: int):
    return _close(request, refill_id, refilling.ask_visit_for_refill, "visit",
                  _("The patient is asked to book an online visit."))


@require_POST
@doctor_page
def refuse(request, practitioner, refill_id: int):
    return _close(request, refill_id, refilling.refuse_refill, "refuse", _("The refill request was refused."))

