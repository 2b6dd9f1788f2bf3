"""Home nursing pages of the patient and of the relatives acting for them: the catalogue, my requests, and one
request with its live status, the nurse and the planned time, cancelling, and after the visit the care record,
confirming (or disputing) the service, paying and rating. Booking is in ``views_patient_booking``.

Every read goes through ``selectors.request_for`` / ``requests_of_patient`` (scoped and audited: someone else's id
answers 404). Parts marked ``data-hc-live`` re-read themselves from their ``data-hc-src`` when ``patient.js`` hears
on ``ws/homecare/live/`` that a request changed; without the socket a reload shows the same.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy, pgettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from ihospital.accounts.acting import acting_patient, patient_page
from ihospital.accounts.models import Role
from ihospital.accounts.selectors import patients_acted_for
from ihospital.core.errors import DomainError, NotFound
from ihospital.core.pages import apply_domain_error
from ihospital.core.transitions import timeline

from . import billing, booking, selectors, visiting
from .forms import DisputeForm, RatingForm, ReasonForm
from .models import (
    OPEN_REQUEST_STATUSES,
    PATIENT_CANCELLABLE,
    DeclineReason,
    EligibleGroup,
    NursingRequest,
    RequestStatus,
)

# What the timeline's internal reasons mean to a patient. A reason typed by staff that is not here stays off the
# patient's page (it may be an internal note); the patient's own cancellation reason is shown as typed.
# (The routine ones, "claimed for assessment", "accepted", "scheduled", "set out" and so on, only repeat the status.)
TIMELINE_REASONS = {
    "released": gettext_lazy("handed back so that another nurse can assess it"),
    "reassigned": gettext_lazy("moved to another nurse or time"),
    "unassigned": gettext_lazy("taken off the plan; a new time will be found"),
    "patient blocked": gettext_lazy("cancelled by the hospital"),
    **{code: label for code, label in DeclineReason.choices},
}
VITAL_LABELS = {
    "pulse": (gettext_lazy("Pulse"), "/min"), "temperature": (gettext_lazy("Temperature"), "°C"),
    "spo2": (gettext_lazy("Oxygen saturation"), "%"), "respiration": (gettext_lazy("Breathing"), "/min"),
    "glucose": (gettext_lazy("Blood sugar"), "mmol/L"), "pain": (gettext_lazy("Pain (0–10)"), ""),
    "weight_kg": (gettext_lazy("Weight"), "kg"),
}
STEPS = (RequestStatus.REQUESTED, RequestStatus.ACCEPTED, RequestStatus.SCHEDULED, RequestStatus.EN_ROUTE,
         RequestStatus.IN_SERVICE, RequestStatus.COMPLETED)


def request_url(request_id: int) -> str:
    return reverse("homecare:request", args=[request_id])


def page_error(exc: DomainError) -> dict:
    return {"message": exc.message, "link": exc.link, "code": exc.code}


def live_strings() -> dict:
    """What patient.js says, in the reader's language."""
    return {"open": _("live"), "closed": _("reconnecting…"), "connecting": _("connecting…"),
            "locating": _("Finding your location…"),
            "no_location": _("Your phone did not give a location. Please type the address and use “Find on map”.")}


def patients_of(user):
    return list(patients_acted_for(user).select_related("user").order_by("pk"))


def _consumable_names(service, items) -> list[dict]:
    """Consumables as ``{"name", "qty"}`` in the reader's language (a record keeps codes, the service the names)."""
    zh = (get_language() or "").startswith("zh")
    known = {c["code"]: c for c in service.consumables}
    rows = []
    for item in items or []:
        ref = {**known.get(item.get("code"), {}), **item}
        rows.append({"name": ref.get("zh" if zh else "en") or ref.get("zh") or item.get("code"),
                     "qty": item.get("qty", 1), "price_fen": ref.get("price_fen")})
    return rows


# ---- the catalogue ----------------------------------------------------------------------------------------------


@require_GET
def home(request):
    """Open to everyone (what the hospital offers is public); a patient or relative also sees their requests."""
    user = request.user
    patient = acting_patient(request) if user.is_authenticated and user.role == Role.PATIENT else None
    services = []
    for service in selectors.catalogue():
        services.append({
            "service": service, "groups": [EligibleGroup(g).label for g in service.eligible_groups
                                           if g in EligibleGroup.values],
            "consumables": _consumable_names(service, service.consumables),
        })
    context = {"services": services, "patient": patient, "can_book": patient is not None}
    if patient is not None:
        mine = selectors.requests_of_patient(user, patient.pk)
        open_requests = list(mine.filter(status__in=OPEN_REQUEST_STATUSES).order_by("preferred_date", "pk")[:20])
        context.update(open_requests=open_requests, past_count=mine.exclude(status__in=OPEN_REQUEST_STATUSES).count(),
                       patients=patients_of(user), live=live_strings())
    return render(request, "homecare/patient_home.html", context)


# ---- my requests ------------------------------------------------------------------------------------------------


@require_GET
@patient_page
def requests(request, patient):
    rows = list(selectors.requests_of_patient(request.user, patient.pk).order_by("-preferred_date", "-pk")[:200])
    context = {
        "patient": patient,
        "open_requests": [r for r in rows if r.status in OPEN_REQUEST_STATUSES],
        "past_requests": [r for r in rows if r.status not in OPEN_REQUEST_STATUSES],
    }
    if request.GET.get("part") == "list":
        return render(request, "homecare/_patient_requests_list.html", context)
    context.update(patients=patients_of(request.user), live=live_strings())
    return render(request, "homecare/patient_requests.html", context)


# ---- one request ------------------------------------------------------------------------------------------------


def own_request(request, request_id: int, *, audit_read: bool = True) -> NursingRequest:
    """The request as its patient or a relative sees it; a nurse's or a dispatcher's view is elsewhere (404 here)."""
    req, role = selectors.request_for(request.user, request_id, audit_read=audit_read)
    if role != "patient":
        raise NotFound()
    return req


def timeline_rows(req: NursingRequest) -> list[dict]:
    labels = dict(RequestStatus.choices)
    family = {req.patient.user_id, req.requested_by_id}
    rows = []
    for event in timeline(req).select_related("actor").order_by("at", "pk"):
        actor = event.actor
        by_family = actor is not None and (actor.pk in family or actor.role == Role.PATIENT)
        reason = event.reason or ""
        shown = reason if by_family else TIMELINE_REASONS.get(reason, "")
        rows.append({"at": event.at, "status": labels.get(event.to_status, event.to_status),
                     "to_status": event.to_status, "by": actor.real_name if by_family else "",
                     "reason": shown})
    return rows


def _steps(req: NursingRequest) -> list[dict]:
    """The way a request goes, with where it is now (a declined or cancelled request shows no steps)."""
    if req.status in (RequestStatus.DECLINED, RequestStatus.CANCELLED):
        return []
    current = RequestStatus.REQUESTED if req.status == RequestStatus.ASSESSING else req.status
    reached = STEPS.index(current) if current in STEPS else 0
    names = {
        RequestStatus.REQUESTED: pgettext("home nursing step", "Assessment"),
        RequestStatus.ACCEPTED: pgettext("home nursing step", "Accepted"),
        RequestStatus.SCHEDULED: pgettext("home nursing step", "Nurse planned"),
        RequestStatus.EN_ROUTE: pgettext("home nursing step", "On the way"),
        RequestStatus.IN_SERVICE: pgettext("home nursing step", "At your home"),
        RequestStatus.COMPLETED: pgettext("home nursing step", "Done"),
    }
    return [{"name": names[s], "done": i < reached, "current": i == reached} for i, s in enumerate(STEPS)]


def _nurse(user) -> dict | None:
    if user is None:
        return None
    practitioner = getattr(user, "practitioner", None)
    return {"name": user.real_name, "title": practitioner.get_title_display() if practitioner else ""}


def _follow_up(req: NursingRequest, visit, record) -> dict | None:
    """The nurse's suggestion of a next visit, with the day it falls on and where to book it."""
    if record is None or record.next_service_id is None or not record.next_service.active:
        return None
    done = timezone.localdate(visit.checked_out_at) if visit.checked_out_at else timezone.localdate()
    day = done + timedelta(days=record.next_in_days or 0)
    today = timezone.localdate()
    opens = day - timedelta(days=settings.HOMECARE_BOOKING_DAYS)
    url = reverse("homecare:book", args=[record.next_service.code]) + "?" + urlencode({"follow_up": req.pk})
    return {"service": record.next_service, "day": day, "note": record.next_note, "url": url,
            "bookable": today < day, "opens": opens if opens > today else None}


def _vitals(vitals: dict) -> list[dict]:
    rows = []
    if vitals.get("systolic") and vitals.get("diastolic"):
        rows.append({"label": _("Blood pressure"), "value": f"{vitals['systolic']}/{vitals['diastolic']}",
                     "unit": "mmHg"})
    for key, (label, unit) in VITAL_LABELS.items():
        if vitals.get(key) not in (None, ""):
            rows.append({"label": label, "value": vitals[key], "unit": unit})
    return rows


def detail_context(request, req: NursingRequest, **extra) -> dict:
    user = request.user
    visit = getattr(req, "visit", None) if req.status not in (RequestStatus.CANCELLED, RequestStatus.DECLINED) \
        else None
    assessment = getattr(req, "assessment", None)
    record = getattr(visit, "care_record", None) if visit is not None else None
    completed = req.status == RequestStatus.COMPLETED
    rating = getattr(req, "rating", None)
    declined = req.status == RequestStatus.DECLINED
    context = {
        "req": req, "service": req.service, "steps": _steps(req), "history": timeline_rows(req),
        "visit": visit, "nurse": _nurse(visit.nurse) if visit else None,
        "second_nurse": _nurse(visit.second_nurse) if visit and visit.second_nurse_id else None,
        "assessment": assessment if assessment and assessment.decided_at else None,
        "decline_reason": DeclineReason(assessment.decline_reason).label
        if declined and assessment and assessment.decline_reason in DeclineReason.values else "",
        "planned_consumables": _consumable_names(req.service, assessment.consumables)
        if assessment and assessment.accepted else [],
        "can_cancel": req.status in PATIENT_CANCELLABLE,
        "record": record if completed else None,
        "vitals": _vitals(record.vitals) if completed and record else [],
        "used": _consumable_names(req.service, record.consumables_used) if completed and record else [],
        "photos": list(record.photos.filter(entered_in_error=False)) if completed and record else [],
        "follow_up": _follow_up(req, visit, record) if completed and record else None,
        "can_confirm": completed and visit is not None and visit.confirmed_at is None,
        "payer": req.requested_by, "is_payer": req.requested_by_id == user.pk,
        "can_pay": bool(req.charge_id) and req.paid_at is None,
        "rating": rating, "can_rate": completed and rating is None,
        "cancel_form": ReasonForm(), "dispute_form": DisputeForm(), "rating_form": RatingForm(),
        "documents": list(req.documents.filter(entered_in_error=False)),
        "live": live_strings(),
    }
    context.update(extra)
    return context


@require_GET
@login_required
def request_detail(request, request_id: int):
    req = own_request(request, request_id)
    return render(request, "homecare/patient_request.html", detail_context(request, req))


@require_GET
@login_required
def request_status(request, request_id: int):
    """The live part of a request's page (status, nurse, actions), drawn again when the socket says it changed."""
    req = own_request(request, request_id)
    return render(request, "homecare/_patient_request_status.html", detail_context(request, req))


def _detail_again(request, request_id: int, exc: DomainError, **forms):
    req = own_request(request, request_id, audit_read=False)
    context = detail_context(request, req, page_error=page_error(exc), **forms)
    return render(request, "homecare/patient_request.html", context, status=exc.status)


@require_POST
@login_required
def cancel(request, request_id: int):
    form = ReasonForm(request.POST)
    form.is_valid()
    reason = (form.cleaned_data.get("reason") or "").strip() or _("cancelled by the patient or family")
    try:
        booking.cancel(actor=request.user, request_id=request_id, reason=reason)
    except NotFound:
        raise
    except DomainError as exc:
        apply_domain_error(form, exc)
        return _detail_again(request, request_id, exc, cancel_form=form)
    messages.success(request, _("The request was cancelled. Nothing is charged."))
    return redirect(request_url(request_id))


@require_POST
@login_required
def confirm(request, request_id: int):
    """The service was given (or, with ``disputed``, something was not right: a supervisor looks at it)."""
    req = own_request(request, request_id, audit_read=False)
    visit = getattr(req, "visit", None)
    if visit is None:
        raise NotFound()
    disputed = request.POST.get("disputed") == "1"
    form = DisputeForm(request.POST)
    form.is_valid()
    try:
        visiting.confirm(actor=request.user, visit_id=visit.pk, disputed=disputed,
                         note=form.cleaned_data.get("note", "") if disputed else "")
    except NotFound:
        raise
    except DomainError as exc:
        if disputed:
            form.add_error("note", str(exc.message))
        return _detail_again(request, request_id, exc, dispute_form=form, dispute_open=disputed)
    if disputed:
        messages.success(request, _("Thank you for telling us. The home nursing office will look into it and call "
                                    "you."))
    else:
        messages.success(request, _("Thank you: you confirmed the visit."))
    return redirect(request_url(request_id))


def to_provider(url: str, request_id: int):
    """To the payment provider's page; a page of this site (the sandbox) is told to come back to the request."""
    if url.startswith("/") and not url.startswith("//"):
        url += ("&" if "?" in url else "?") + urlencode({"next": request_url(request_id)})
    return redirect(url)


@require_POST
@login_required
def pay(request, request_id: int):
    try:
        url = billing.checkout(actor=request.user, request_id=request_id)
    except NotFound:
        raise
    except DomainError as exc:
        return _detail_again(request, request_id, exc)
    return to_provider(url, request_id)


@require_POST
@login_required
def rate(request, request_id: int):
    form = RatingForm(request.POST)
    form.is_valid()
    try:
        billing.rate(actor=request.user, request_id=request_id, stars=form.cleaned_data.get("stars"),
                     comment=form.cleaned_data.get("comment", ""))
    except NotFound:
        raise
    except DomainError as exc:
        apply_domain_error(form, exc)
        return _detail_again(request, request_id, exc, rating_form=form)
    messages.success(request, _("Thank you for your rating."))
    return redirect(request_url(request_id))
