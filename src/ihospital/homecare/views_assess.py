"""Home-care nurses assess requests before they are accepted: ``/homecare/assess/``.

The worklist shows waiting requests with the least a nurse needs to choose one (service, day, window, district;
no name, no documents) and "claim"; the request page (for its assessor only) shows the request, the chart's
relevant parts and the attached documents, and the decision: accept (risk, home suitable, eligibility confirmed,
consumables, two nurses, notes) or decline with a reason; or hand it back.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from ihospital.core.errors import DomainError, NotFound
from ihospital.core.pages import apply_domain_error
from ihospital.records import selectors as records

from . import assessing, geocoding, selectors
from .forms_staff import AcceptForm, DeclineForm, ReleaseForm
from .models import Assessment, DeclineReason, RequestStatus
from .travel import metres
from .views_staff import QUALIFICATION_REFUSALS, home_nurse_page, live_strings, page_error

# A refusal of the decision that names no field, and the field it is about.
ACCEPT_FIELDS = {"home_not_suitable": "home_suitable", "eligibility_unconfirmed": "eligibility_confirmed",
                 "order_reference_required": "notes", "two_nurses_for_high_risk": "two_nurses",
                 "risk_required": "risk"}
DECLINE_FIELDS = {"decline_reason_required": "decline_reason", "decline_note_required": "note"}


def area_of(req) -> dict:
    """Where a waiting request is, no closer than its district: the district of the nearest place in the address
    book, and the distance from the hospital."""
    entries = [e for e in geocoding.AddressBook().entries if e.level != "district"]
    nearest = min(entries, key=lambda e: metres(e.latitude, e.longitude, req.latitude, req.longitude), default=None)
    km = metres(settings.HOMECARE_BASE_LATITUDE, settings.HOMECARE_BASE_LONGITUDE, req.latitude, req.longitude) / 1000
    return {"district": nearest.district if nearest else "", "km": round(km, 1)}


def _worklist_context(user, *, errors: dict | None = None) -> dict:
    waiting, mine = selectors.assessment_worklist(user)
    refusals: dict[int, str | None] = {}
    rows = []
    for req in waiting:
        if req.service_id not in refusals:
            refusals[req.service_id] = assessing.qualification_refusal(user, req.service)
        why = refusals[req.service_id]
        rows.append({"req": req, "area": area_of(req), "refusal": QUALIFICATION_REFUSALS.get(why, why) if why else "",
                     "error": (errors or {}).get(req.pk)})
    since = timezone.now() - timedelta(hours=settings.HOMECARE_CARE_ACCESS_HOURS)
    decided = Assessment.objects.filter(nurse=user, decided_at__gte=since).select_related(
        "request__service").order_by("-decided_at")
    return {"waiting": rows, "mine": list(mine), "decided": list(decided), "live": live_strings()}


@require_GET
@home_nurse_page
def worklist(request):
    context = _worklist_context(request.user)
    if request.GET.get("part") == "lists":
        return render(request, "homecare/_staff_assess_lists.html", context)
    return render(request, "homecare/assess_worklist.html", context)


@require_POST
@home_nurse_page
def claim(request, request_id: int):
    try:
        assessing.claim(actor=request.user, request_id=request_id)
    except NotFound:
        raise
    except DomainError as exc:
        context = _worklist_context(request.user, errors={request_id: exc.message})
        return render(request, "homecare/assess_worklist.html", context, status=exc.status)
    messages.success(request, _("You are assessing this request. The patient's chart is open to you."))
    return redirect("homecare:assessment", request_id=request_id)


# ---- one request ------------------------------------------------------------------------------------------------


def _own(request, request_id: int, *, audit_read: bool = True):
    req, _role = selectors.request_for(request.user, request_id, audit_read=audit_read, roles=("assessor",))
    return req


def _context(request, req, *, accept_form=None, decline_form=None, release_form=None, error=None) -> dict:
    assessment = req.assessment
    deciding = req.status == RequestStatus.ASSESSING and assessment.nurse_id == request.user.pk
    try:
        chart = records.chart(request.user, req.patient_id)  # audited; open to the assessor since the claim
    except NotFound:
        chart = None
    return {
        "req": req, "assessment": assessment, "deciding": deciding, "chart": chart,
        "documents": list(req.documents.filter(entered_in_error=False)),
        "discharges": [e for e in (chart.encounters if chart else []) if e.mode == "inpatient"][:3],
        "accept_form": accept_form or AcceptForm(service=req.service),
        "decline_form": decline_form or DeclineForm(), "release_form": release_form or ReleaseForm(),
        "page_error": page_error(error) if error else None, "live": live_strings(),
        "decline_label": DeclineReason(assessment.decline_reason).label
        if assessment.decline_reason in DeclineReason.values else "",
    }


@require_GET
@home_nurse_page
def assessment(request, request_id: int):
    req = _own(request, request_id)
    return render(request, "homecare/assess_request.html", _context(request, req))


@require_POST
@home_nurse_page
def decide(request, request_id: int):
    req = _own(request, request_id, audit_read=False)
    accept = request.POST.get("decision") == "accept"
    accept_form = AcceptForm(request.POST if accept else None, service=req.service)
    decline_form = DeclineForm(request.POST if not accept else None)
    form = accept_form if accept else decline_form
    if not form.is_valid():
        return render(request, "homecare/assess_request.html",
                      _context(request, req, accept_form=accept_form, decline_form=decline_form), status=400)
    data = form.cleaned_data
    try:
        if accept:
            assessing.decide(actor=request.user, request_id=req.pk, accept=True, risk=data["risk"],
                             home_suitable=data["home_suitable"] or None,
                             eligibility_confirmed=data["eligibility_confirmed"],
                             consumables=accept_form.consumables(), two_nurses=data["two_nurses"],
                             notes=data["notes"])
        else:
            assessing.decide(actor=request.user, request_id=req.pk, accept=False,
                             decline_reason=data["decline_reason"], notes=data["note"])
    except NotFound:
        raise
    except DomainError as exc:
        fields = ACCEPT_FIELDS if accept else DECLINE_FIELDS
        if exc.code == "invalid_consumables" and accept:
            field_map = {"consumables": f"qty_{exc.fields.get('consumables', '')}"}
            apply_domain_error(form, exc, field_map)
        elif exc.code in fields:
            form.cleaned_data = getattr(form, "cleaned_data", {})
            form.add_error(fields[exc.code], str(exc.message))
        else:
            apply_domain_error(form, exc)
        req.refresh_from_db()
        return render(request, "homecare/assess_request.html",
                      _context(request, req, accept_form=accept_form, decline_form=decline_form),
                      status=exc.status)
    if accept:
        messages.success(request, _("Request %(number)s accepted; it now waits for the dispatcher.") % {
            "number": req.number})
    else:
        messages.success(request, _("Request %(number)s declined; the patient was told the reason.") % {
            "number": req.number})
    return redirect(reverse("homecare:assess"))


@require_POST
@home_nurse_page
def release(request, request_id: int):
    req = _own(request, request_id, audit_read=False)
    form = ReleaseForm(request.POST)
    form.is_valid()
    try:
        assessing.release(actor=request.user, request_id=req.pk, reason=form.cleaned_data.get("reason", ""))
    except NotFound:
        raise
    except DomainError as exc:
        return render(request, "homecare/assess_request.html", _context(request, req, release_form=form, error=exc),
                      status=exc.status)
    messages.success(request, _("Request %(number)s is back on the worklist for another nurse.") % {
        "number": req.number})
    return redirect(reverse("homecare:assess"))
