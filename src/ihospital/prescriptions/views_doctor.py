"""The doctor's pages: prescribing in an online visit, the editor of a draft (search the formulary, add items,
run the checks, sign with the second factor), cancelling and revising, and the doctor's own prescriptions.

The visit room loads the visit's prescribing panel from here (``visit_panel``, through htmx, or as a page of its
own without JavaScript), so the visits app needs to know nothing about prescriptions.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from ihospital.accounts.services import second_factor_is_fresh
from ihospital.core.errors import DomainError, NotFound
from ihospital.core.pages import apply_domain_error
from ihospital.directory.pages import doctor_page
from ihospital.visits.models import BasisStatus, VisitStatus
from ihospital.visits.selectors import participant_visit

from . import rules, selectors, services
from .forms import DetailsForm, ItemForm, ReasonForm, SignForm, StartForm, overrides_from
from .models import Drug, RefillRequest, RefillStatus, RxStatus
from .views import detail_with_error, item_rows, live_strings, page_error, reason_labels, review_of

SECOND_FACTOR_CODES = ("second_factor_required", "invalid_second_factor", "second_factor_not_enrolled",
                       "account_locked")
DETAIL_FIELDS = ("kind", "refills_allowed", "guardian_name", "guardian_relationship", "guardian_phone")


def editor_url(rx_id: int, anchor: str = "") -> str:
    return reverse("prescriptions:edit", args=[rx_id]) + (f"#{anchor}" if anchor else "")


def _own_draft(request, rx_id: int):
    rx, role = selectors.prescription_for(request.user, rx_id, audit_read=False)
    if role != "doctor":
        raise NotFound()
    return rx


# ---- in the visit room -------------------------------------------------------------------------------------------


def _panel_context(request, visit, *, form=None, error=None) -> dict:
    can_start = visit.status == VisitStatus.IN_PROGRESS and visit.basis_status == BasisStatus.ACCEPTED \
        and visit.condition_id is not None
    return {
        "visit": visit, "prescriptions": list(selectors.visit_prescriptions(visit)), "can_start": can_start,
        "form": form or StartForm(), "page_error": error,
        "condition_chronic": bool(visit.condition_id and visit.condition.chronic),
    }


@require_GET
@doctor_page
def visit_panel(request, practitioner, visit_id: int):
    visit, role = participant_visit(request.user, visit_id, audit_read=False)
    if role != "doctor":
        raise NotFound()
    context = _panel_context(request, visit)
    if request.htmx:
        return render(request, "prescriptions/_visit_panel.html", context)
    return render(request, "prescriptions/visit_panel.html", context)


@require_POST
@doctor_page
def start(request, practitioner, visit_id: int):
    visit, role = participant_visit(request.user, visit_id, audit_read=False)
    if role != "doctor":
        raise NotFound()
    form = StartForm(request.POST)
    if not form.is_valid():
        return render(request, "prescriptions/visit_panel.html", _panel_context(request, visit, form=form),
                      status=400)
    try:
        rx = services.start_prescription(actor=request.user, visit_id=visit.pk, kind=form.cleaned_data["kind"],
                                         refills_allowed=form.cleaned_data.get("refills_allowed") or 0)
    except NotFound:
        raise
    except DomainError as exc:
        if exc.fields:
            apply_domain_error(form, exc)
            error = None
        else:
            error = page_error(exc)
        return render(request, "prescriptions/visit_panel.html",
                      _panel_context(request, visit, form=form, error=error), status=exc.status)
    return redirect(editor_url(rx.pk))


# ---- the editor -------------------------------------------------------------------------------------------------


def _active_drug(drug_id) -> Drug | None:
    """A formulary entry (reference data, the same for everyone) for the add-item form."""
    try:
        return Drug.objects.filter(pk=int(drug_id), active=True).first()
    except (TypeError, ValueError):
        return None


def _item_form_for(drug: Drug | None) -> ItemForm:
    if drug is None:
        return ItemForm()
    return ItemForm(initial={"drug": drug.pk, "route": drug.default_route, "frequency": "qd"})


def _editor_context(request, rx, *, item_form=None, details_form=None, chosen=None, overrides=None,
                    unresolved=(), code_error="", error=None) -> dict:
    findings = services.check_prescription(actor=request.user, prescription_id=rx.pk)
    overrides = overrides if overrides is not None else {}
    for finding in findings:
        finding["override"] = overrides.get(finding["key"], finding["override"])
        finding["unresolved"] = finding["key"] in unresolved
    child = rx.patient.age() < rules.GUARDIAN_AGE
    if chosen is None and item_form is None:
        chosen = _active_drug(request.GET.get("drug"))
    query = request.GET.get("q", "").strip()[:64]
    return {
        "rx": rx, "items": item_rows(rx), "findings": findings,
        "query": query, "drugs": _drug_results(query), "rx_id": rx.pk,
        "item_form": item_form or _item_form_for(chosen), "chosen": chosen,
        "details_form": details_form or DetailsForm.of(rx, child=child), "child": child,
        "sign_form": SignForm.with_error(code_error) if code_error else SignForm(),
        "fresh": second_factor_is_fresh(request.session, minutes=settings.CONSULT_REAUTH_MINUTES),
        "refill": RefillRequest.objects.filter(result=rx, status=RefillStatus.DRAFTING).select_related(
            "patient__user").first(),
        "max_days": rules.max_days(rx.kind), "page_error": error, "unresolved": bool(unresolved),
    }


def _render_editor(request, rx, *, status=200, **kwargs):
    return render(request, "prescriptions/editor.html", _editor_context(request, rx, **kwargs), status=status)


@require_GET
@doctor_page
def edit(request, practitioner, rx_id: int):
    rx = _own_draft(request, rx_id)
    if rx.status != RxStatus.DRAFT:
        return redirect("prescriptions:detail", rx_id=rx.pk)
    return _render_editor(request, rx)


@require_GET
@doctor_page
def item_form(request, practitioner, rx_id: int):
    """The add-item form for the drug just chosen in the search (htmx)."""
    rx = _own_draft(request, rx_id)
    chosen = _active_drug(request.GET.get("drug"))
    context = {"rx": rx, "chosen": chosen, "item_form": _item_form_for(chosen), "max_days": rules.max_days(rx.kind)}
    return render(request, "prescriptions/_item_form.html", context)


def _drug_results(query: str) -> list:
    return list(selectors.search_drugs(query, limit=15)) if query else []


@require_GET
@doctor_page
def drug_search(request, practitioner):
    """The htmx fragment behind the editor's search box."""
    query = request.GET.get("q", "").strip()[:64]
    try:
        rx_id = int(request.GET.get("rx", ""))
    except ValueError:
        rx_id = 0
    return render(request, "prescriptions/_drug_results.html",
                  {"drugs": _drug_results(query), "query": query, "rx_id": rx_id})


def _editor_error(request, rx_id: int, exc: DomainError, **kwargs):
    rx = _own_draft(request, rx_id)
    if rx.status != RxStatus.DRAFT:
        return detail_with_error(request, rx_id, exc)
    return _render_editor(request, rx, status=exc.status, **kwargs)


@require_POST
@doctor_page
def add_item(request, practitioner, rx_id: int):
    form = ItemForm(request.POST)
    chosen = _active_drug(request.POST.get("drug"))
    if not form.is_valid():
        rx = _own_draft(request, rx_id)
        return _render_editor(request, rx, item_form=form, chosen=chosen, status=400)
    try:
        services.add_item(actor=request.user, prescription_id=rx_id, **form.service_kwargs())
    except NotFound:
        raise
    except DomainError as exc:
        apply_domain_error(form, exc)
        return _editor_error(request, rx_id, exc, item_form=form, chosen=chosen)
    return redirect(editor_url(rx_id, "items"))


@require_POST
@doctor_page
def remove_item(request, practitioner, rx_id: int, item_id: int):
    try:
        services.remove_item(actor=request.user, prescription_id=rx_id, item_id=item_id)
    except NotFound:
        raise
    except DomainError as exc:
        return _editor_error(request, rx_id, exc, error=page_error(exc))
    return redirect(editor_url(rx_id, "items"))


@require_POST
@doctor_page
def update_details(request, practitioner, rx_id: int):
    rx = _own_draft(request, rx_id)
    form = DetailsForm(request.POST, child=rx.patient.age() < rules.GUARDIAN_AGE)
    if not form.is_valid():
        return _render_editor(request, rx, details_form=form, status=400)
    try:
        services.update_prescription(actor=request.user, prescription_id=rx_id, **form.service_kwargs())
    except NotFound:
        raise
    except DomainError as exc:
        apply_domain_error(form, exc)
        return _editor_error(request, rx_id, exc, details_form=form)
    messages.success(request, _("Saved."))
    return redirect(editor_url(rx_id, "details"))


@require_POST
@doctor_page
def sign(request, practitioner, rx_id: int):
    """Sign (or, with ``action=check``, only run the checks again, keeping the reasons typed so far)."""
    overrides = overrides_from(request.POST)
    if request.POST.get("action") == "check":
        rx = _own_draft(request, rx_id)
        if rx.status != RxStatus.DRAFT:
            return redirect("prescriptions:detail", rx_id=rx.pk)
        return _render_editor(request, rx, overrides=overrides)
    try:
        rx = services.sign_prescription(actor=request.user, prescription_id=rx_id,
                                        code=request.POST.get("code", ""), session=request.session,
                                        overrides=overrides)
    except NotFound:
        raise
    except DomainError as exc:
        kwargs = {"overrides": overrides}
        if exc.code == "check_findings_unresolved":
            kwargs.update(unresolved=set(exc.fields), error=page_error(exc))
        elif exc.code in SECOND_FACTOR_CODES:
            kwargs["code_error"] = exc.message
        elif exc.code == "guardian_required":
            rx = _own_draft(request, rx_id)
            form = DetailsForm.of(rx, child=True)
            apply_domain_error(form, exc)
            kwargs.update(details_form=form, error=page_error(exc))
        else:
            kwargs["error"] = page_error(exc)
        return _editor_error(request, rx_id, exc, **kwargs)
    if RefillRequest.objects.filter(result=rx, status=RefillStatus.APPROVED).exists():
        messages.success(request, _("Signed: the refill is approved and the prescription goes to the pharmacists."))
    else:
        messages.success(request, _("Signed and sent to the pharmacists for review."))
    return redirect("prescriptions:detail", rx_id=rx.pk)


@require_POST
@doctor_page
def cancel(request, practitioner, rx_id: int):
    form = ReasonForm(request.POST)
    form.is_valid()
    reason = form.cleaned_data.get("reason", "")
    try:
        rx = services.cancel_prescription(actor=request.user, prescription_id=rx_id, reason=reason)
    except NotFound:
        raise
    except DomainError as exc:
        apply_domain_error(form, exc, {"reason": "reason"})
        if exc.code == "reason_required":
            form.add_error("reason", str(exc.message))
        return detail_with_error(request, rx_id, exc, cancel_form=form)
    messages.success(request, _("The prescription was cancelled."))
    if rx.visit_id:
        return redirect("visits:room", visit_id=rx.visit_id)
    if rx.renewal_of_id:  # a renewal dropped: its refill request is back in the worklist
        return redirect("prescriptions:refills")
    return redirect("prescriptions:doctor")


@require_POST
@doctor_page
def revise(request, practitioner, rx_id: int):
    try:
        draft = services.revise_prescription(actor=request.user, prescription_id=rx_id)
    except NotFound:
        raise
    except DomainError as exc:
        return detail_with_error(request, rx_id, exc)
    messages.info(request, _("A new draft from the rejected prescription: change it as the pharmacist asked, "
                             "then sign it."))
    return redirect(editor_url(draft.pk))


# ---- the doctor's own prescriptions ---------------------------------------------------------------------------


def _doctor_lists(request) -> dict:
    rows = list(selectors.doctor_prescriptions(request.user).select_related("review")[:100])
    rejected, drafts, others = [], [], []
    for rx in rows:
        if rx.status == RxStatus.REJECTED:
            rx.revision = rx.revisions.exclude(status=RxStatus.CANCELLED).first()
            review = review_of(rx)
            rx.rejection = {"reasons": reason_labels(review.reasons), "comment": review.comment} if review else None
            rejected.append(rx)
        elif rx.status == RxStatus.DRAFT:
            drafts.append(rx)
        else:
            others.append(rx)
    return {"rejected": rejected, "drafts": drafts, "others": others[:50]}


@require_GET
@doctor_page
def doctor_list(request, practitioner):
    context = _doctor_lists(request)
    if request.GET.get("part") == "lists":
        return render(request, "prescriptions/_doctor_lists.html", context)
    context["live"] = live_strings()
    return render(request, "prescriptions/doctor_list.html", context)
