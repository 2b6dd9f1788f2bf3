"""Pages of prescriptions for patients (and the relatives acting for them), and the prescription page that every
role allowed to see a prescription shares.

The other pages live beside this one: ``views_doctor`` (prescribing in a visit, the editor, the doctor's list),
``views_refills`` (the doctors' refill worklist), ``views_review`` (the pharmacists' 审方) and ``views_slip`` (the
slip, its PDF and the public check of its QR code). Views parse, call one service or selector, and show a
refusal with the service's message. Lists marked ``data-live-refresh`` re-read themselves (``?part=...``) when
``static/prescriptions/live.js`` hears on ``ws/prescriptions/live/`` that something changed.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ihospital.accounts.acting import patient_page
from ihospital.accounts.models import Role
from ihospital.accounts.selectors import patients_acted_for
from ihospital.core.errors import DomainError, Forbidden, NotFound
from ihospital.core.pages import apply_domain_error
from ihospital.core.transitions import timeline

from . import refilling, rules, selectors
from .display import unit_label
from .forms import ReasonForm, RefillForm
from .models import Adherence, RefillRequest, RejectionReason, Review, RxStatus

HISTORY_LIMIT = 50

# Reasons the services record on the timeline for routine steps, in words for the reader.
TIMELINE_REASONS = {
    "signed": gettext_lazy("signed by the doctor"),
    "review started": gettext_lazy("a pharmacist started the review"),
    "review released": gettext_lazy("the pharmacist put it back in the worklist"),
    "approved": gettext_lazy("approved by the pharmacist"),
    "rejected": gettext_lazy("rejected by the pharmacist"),
    "dispensed": gettext_lazy("medicines handed over"),
    "validity passed": gettext_lazy("not dispensed in time"),
    "refill refused": gettext_lazy("the refill was refused"),
    "approving": gettext_lazy("the doctor is renewing it"),
    "modifying": gettext_lazy("the doctor is adjusting it"),
    "draft cancelled": gettext_lazy("the adjusted draft was dropped"),
    "cancelled by the patient": gettext_lazy("cancelled by the patient"),
}

RED_FLAGS = {
    "new_symptoms": gettext_lazy("new symptoms"),
    "side_effects": gettext_lazy("side effects"),
    "stopped_medicine": gettext_lazy("stopped a medicine"),
    "blood_pressure_very_high": gettext_lazy("blood pressure very high (≥180/110)"),
    "blood_pressure_low": gettext_lazy("low blood pressure (systolic below 90)"),
    "hypoglycaemia": gettext_lazy("low blood glucose (below 3.9 mmol/L)"),
    "glucose_very_high": gettext_lazy("very high blood glucose (13.9 mmol/L or more)"),
}


# ---- shared by the prescription pages -------------------------------------------------------------------------


def page_error(exc: DomainError) -> dict:
    return {"message": exc.message, "link": exc.link, "code": exc.code}


def live_strings() -> dict:
    """What live.js says, in the reader's language."""
    return {"open": _("live"), "closed": _("reconnecting…"), "connecting": _("connecting…")}


def attach_errors(form, exc: DomainError, field_map=None) -> None:
    """A refusal beside the fields it names. The questionnaire's refusal carries one message per field."""
    if exc.code != "invalid_answers":
        apply_domain_error(form, exc, field_map)
        return
    if not hasattr(form, "cleaned_data"):
        form.cleaned_data = {}
    for name, message in exc.fields.items():
        if name in form.fields:
            form.add_error(name, str(message))
    form.add_error(None, str(exc.message))




def pharmacist_page(view):
    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if request.user.role != Role.PHARMACIST:
            raise Forbidden("not_a_pharmacist", _("Only pharmacists review prescriptions."))
        return view(request, *args, **kwargs)

    return wrapper


def item_rows(rx) -> list:
    return list(rx.items.select_related("drug").order_by("position", "pk"))


def review_of(rx) -> Review | None:
    try:
        return rx.review
    except Review.DoesNotExist:  # not reviewed yet
        return None


def reason_labels(reasons) -> list[str]:
    labels = dict(RejectionReason.choices)
    return [str(labels.get(r, r)) for r in reasons or []]


def refill_answers(refill: RefillRequest) -> list[tuple[str, str, bool]]:
    """The questionnaire as the doctor reads it: (question, answer, worth a look)."""
    a = refill.answers or {}
    yes, no = _("Yes"), _("No")
    rows = []
    for key, question in (("new_symptoms", _("New symptoms")), ("side_effects", _("Side effects"))):
        if key in a:
            answer = (yes if a[key] else no) + (f": {a.get(key + '_detail')}" if a.get(key + "_detail") else "")
            rows.append((question, answer, bool(a[key])))
    if a.get("adherence"):
        rows.append((_("Taking the medicines"), str(Adherence(a["adherence"]).label)
                     if a["adherence"] in Adherence.values else a["adherence"], a["adherence"] != Adherence.ALL))
    if a.get("systolic"):
        rows.append((_("Blood pressure"), f"{a['systolic']}/{a['diastolic']} mmHg",
                     any(f.startswith("blood_pressure") for f in refill.red_flags)))
    if a.get("fasting_glucose"):
        rows.append((_("Fasting blood glucose"), f"{a['fasting_glucose']} mmol/L",
                     any(f in ("hypoglycaemia", "glucose_very_high") for f in refill.red_flags)))
    if a.get("comment"):
        rows.append((_("Anything else"), a["comment"], False))
    return rows


def flag_labels(flags) -> list[str]:
    return [str(RED_FLAGS.get(f, f)) for f in flags or []]


# ---- the patient's medicines ----------------------------------------------------------------------------------


def _patient_lists(request, patient) -> dict:
    refills = list(selectors.refills_of_patient(request.user, patient.pk).prefetch_related("items__drug")[:30])
    history = list(selectors.prescriptions_of_patient(request.user, patient.pk)[:HISTORY_LIMIT])
    return {
        "patient": patient,
        "current": selectors.current_medications(request.user, patient.pk),
        "refillable": selectors.refillable_prescriptions(request.user, patient.pk),
        "refills": refills,
        "history": history,
    }


@require_GET
@patient_page
def home(request, patient):
    context = _patient_lists(request, patient)
    if request.GET.get("part") == "lists":
        return render(request, "prescriptions/_patient_lists.html", context)
    context.update(
        patients=list(patients_acted_for(request.user).select_related("user").order_by("pk")),
        live=live_strings(),
    )
    return render(request, "prescriptions/home.html", context)


def _refill_items(source) -> list:
    return [(item, f"{item.drug.name} {item.drug.strength} · {item.dose.normalize():f} {unit_label(item.dose_unit)} · "
                   f"{item.get_frequency_display()}") for item in item_rows(source)]


def _refill_page(request, rx, *, form=None, error=None, status=200):
    root = rx.renewal_of or rx
    source = rules.latest_in_chain(root)
    code = root.diagnosis_code
    items = _refill_items(source)
    blood_pressure, glucose = code.startswith(rules.HYPERTENSION_CODES), code.startswith(rules.DIABETES_CODES)
    open_request = refilling.open_refill_of(root)
    refusal = None if open_request else rules.refill_refusal(root)
    context = {
        "rx": root, "source": source, "open_request": open_request,
        "refusal": page_error(refusal) if refusal else None,
        "form": form or RefillForm(items=items, blood_pressure=blood_pressure, glucose=glucose),
        "page_error": error, "used": rules.refills_used(root),
    }
    return render(request, "prescriptions/refill_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def refill(request, rx_id: int):
    rx, role = selectors.prescription_for(request.user, rx_id)
    if role != "patient":
        raise NotFound()
    if request.method == "GET":
        return _refill_page(request, rx)
    root = rx.renewal_of or rx
    code = root.diagnosis_code
    form = RefillForm(request.POST, items=_refill_items(rules.latest_in_chain(root)),
                      blood_pressure=code.startswith(rules.HYPERTENSION_CODES),
                      glucose=code.startswith(rules.DIABETES_CODES))
    if not form.is_valid():
        return _refill_page(request, rx, form=form, status=400)
    if not form.item_ids():
        form.add_error("items", _("Choose at least one medicine to renew."))
        return _refill_page(request, rx, form=form, status=400)
    try:
        refilling.request_refill(actor=request.user, prescription_id=root.pk, item_ids=form.item_ids(),
                                answers=form.answers())
    except NotFound:
        raise
    except DomainError as exc:
        if exc.fields and exc.code in ("invalid_answers", "invalid_items"):
            attach_errors(form, exc, {"item_ids": "items"})
            return _refill_page(request, rx, form=form, status=exc.status)
        return _refill_page(request, rx, form=form, error=page_error(exc), status=exc.status)
    messages.success(request, _("Your refill request was sent to the doctor. This page shows when it is decided."))
    return redirect(reverse("prescriptions:home") + "#refills")


@require_POST
@login_required
def cancel_refill(request, refill_id: int):
    try:
        refilling.cancel_refill(actor=request.user, refill_id=refill_id)
    except NotFound:
        raise
    except DomainError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Your refill request was withdrawn."))
    return redirect(reverse("prescriptions:home") + "#refills")


# ---- one prescription, for everyone allowed to see it -----------------------------------------------------------


def _timeline_rows(rx) -> list[dict]:
    rows = []
    for event in timeline(rx).select_related("actor"):
        reason = event.reason or ""
        rows.append({
            "at": event.at,
            "status": RxStatus(event.to_status).label if event.to_status in RxStatus.values else event.to_status,
            "actor": event.actor.real_name if event.actor_id else "",
            "reason": TIMELINE_REASONS.get(reason, reason),
        })
    return rows


def _detail_context(request, rx, role: str, *, cancel_form=None, error=None) -> dict:
    review = review_of(rx)
    context = {
        "rx": rx, "role": role, "items": item_rows(rx), "review": review,
        "review_reasons": reason_labels(review.reasons) if review else [],
        "events": _timeline_rows(rx), "page_error": error, "live": live_strings(),
    }
    root = rx.renewal_of or rx
    if role == "patient" and root.is_chronic and root.refills_allowed and rx.is_signed:
        open_request = refilling.open_refill_of(root)
        refusal = None if open_request else rules.refill_refusal(root)
        context.update(refill_root=root, refill_open=open_request, refill_refusal=refusal,
                       refills_used=rules.refills_used(root))
    if role == "doctor":
        context.update(
            from_refill=RefillRequest.objects.filter(result=rx).first(),
            revision=rx.revisions.exclude(status=RxStatus.CANCELLED).first(),
            can_cancel=rx.status in (RxStatus.DRAFT, RxStatus.SIGNED, RxStatus.UNDER_REVIEW, RxStatus.APPROVED),
            cancel_form=cancel_form or ReasonForm(),
        )
    return context


@require_GET
@login_required
def detail(request, rx_id: int):
    rx, role = selectors.prescription_for(request.user, rx_id)
    context = _detail_context(request, rx, role)
    if request.GET.get("part") == "status":
        return render(request, "prescriptions/_detail_status.html", context)
    return render(request, "prescriptions/detail.html", context)


def detail_with_error(request, rx_id: int, exc: DomainError, *, cancel_form=None):
    rx, role = selectors.prescription_for(request.user, rx_id, audit_read=False)
    context = _detail_context(request, rx, role, cancel_form=cancel_form, error=page_error(exc))
    return render(request, "prescriptions/detail.html", context, status=exc.status)

