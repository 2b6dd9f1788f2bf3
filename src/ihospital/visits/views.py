"""Pages of online follow-up visits (all but the visit room, which lives in ``views_room``).

Patients (or the relative acting for them) list their visits, start a new follow-up in three steps, move or
cancel a booking; doctors confirm their code for the day, see their worklist and their departments' queues
and take the next patient. Views parse, call one service or selector, and show a refusal with its message.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from ihospital.accounts.acting import patient_page
from ihospital.accounts.models import ConsentKind
from ihospital.accounts.services import has_consent, second_factor_is_fresh
from ihospital.core.errors import DomainError
from ihospital.core.pages import apply_domain_error, safe_next
from ihospital.directory import selectors as directory
from ihospital.directory.models import FacilityKind
from ihospital.directory.pages import doctor_page
from ihospital.records import services as records
from ihospital.scheduling import clock
from ihospital.scheduling import selectors as scheduling
from ihospital.scheduling import services as scheduling_services
from ihospital.scheduling.models import AppointmentStatus, VisitMode

from . import selectors, services
from .forms import BasisDocumentForm, RequestForm, StartDayForm
from .models import VisitStatus

SLOT_DAYS = 7  # how many days of a doctor's times the booking step offers at once


def room_url(visit_id: int) -> str:
    return reverse("visits:room", args=[visit_id])


def _error(exc: DomainError) -> dict:
    return {"message": exc.message, "link": exc.link, "code": exc.code}




# ---- the patient's visits ----------------------------------------------------------------------------------------


def _decorate(visit) -> None:
    """What the list shows of a visit: where it is, and what the patient may still do with it."""
    visit.room_url = room_url(visit.pk)
    visit.starts_at = visit.appointment.slot.starts_at if visit.appointment_id else None
    visit.queue = selectors.queue_position(visit) if visit.in_queue else None
    booked = visit.appointment_id and visit.appointment.status == AppointmentStatus.BOOKED
    visit.can_move = bool(booked and visit.status in (VisitStatus.REQUESTED, VisitStatus.ACCEPTED))
    visit.can_cancel = visit.status in (VisitStatus.REQUESTED, VisitStatus.ACCEPTED)


def _visits_page(request, patient, *, error=None, status=200):
    visits = list(selectors.visits_of_patient(request.user, patient.pk).select_related("condition"))
    for visit in visits:
        _decorate(visit)
    context = {
        "patient": patient,
        "current": [v for v in visits if v.is_active],
        "past": [v for v in visits if not v.is_active],
        "page_error": error,
    }
    return render(request, "visits/list.html", context, status=status)


@require_GET
@patient_page
def home(request, patient):
    return _visits_page(request, patient)


@require_POST
@patient_page
def cancel(request, patient, visit_id: int):
    try:
        visit = services.cancel_visit(actor=request.user, visit_id=visit_id)
    except DomainError as exc:
        if exc.code == "not_found":
            raise
        return _visits_page(request, patient, error=_error(exc), status=exc.status)
    messages.success(request, _("The visit was cancelled.") if visit.appointment_id else _("You left the queue."))
    return redirect("visits:home")


@require_http_methods(["GET", "POST"])
@patient_page
def reschedule(request, patient, visit_id: int):
    visit, _role = selectors.participant_visit(request.user, visit_id)
    error, status = None, 200
    if request.method == "POST":
        try:
            slot_id = _int(request.POST.get("slot")) or 0
            services.reschedule_visit(actor=request.user, visit_id=visit.pk, slot_id=slot_id)
        except DomainError as exc:
            if exc.code == "not_found":
                raise
            error, status = _error(exc), exc.status
            visit, _role = selectors.participant_visit(request.user, visit_id)
        else:
            messages.success(request, _("Your visit has a new time."))
            return redirect("visits:home")
    _decorate(visit)
    days: OrderedDict = OrderedDict()
    if visit.can_move:
        days = _slot_days(practitioner_id=visit.doctor_id, department_id=visit.department_id,
                          exclude=visit.appointment.slot_id)
    else:
        error = error or {"message": _("Only a booked visit that has not started can be moved.")}
    day = _pick_day(request.GET.get("day", ""), days)
    context = {
        "visit": visit, "page_error": error, "day": day, "slots": days.get(day, []) if day else [],
        "day_links": [{"day": d, "current": d == day, "url": "?" + urlencode({"day": d.isoformat()})} for d in days],
        "limits": {"hours": settings.RESCHEDULE_LIMIT_HOURS, "count": settings.MAX_RESCHEDULES},
    }
    return render(request, "visits/reschedule.html", context, status=status)


# ---- a new follow-up visit, in three steps -----------------------------------------------------------------------


def _slot_days(*, practitioner_id: int, department_id: int | None = None, exclude: int | None = None) -> OrderedDict:
    """The doctor's open times of the next days, grouped by local date."""
    now = timezone.now()
    slots = scheduling.open_slots(practitioner_id=practitioner_id, department_id=department_id, start=now,
                                  end=now + dt.timedelta(days=SLOT_DAYS))
    days: OrderedDict = OrderedDict()
    for slot in slots:
        if slot.pk != exclude:
            days.setdefault(clock.local_date(slot.starts_at), []).append(slot)
    return days


def _pick_day(wanted: str, days) -> dt.date | None:
    """The day asked for if it has open times, else the first day that has."""
    for day in days:
        if day.isoformat() == wanted:
            return day
    return next(iter(days), None)


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class Wizard:
    """The choices made so far, carried in the query string: every step is a plain link, so the browser's back
    button and a reload work, and nothing is stored until the patient confirms."""

    KEYS = ("condition", "document", "how", "department", "doctor", "day", "slot", "mode")

    def __init__(self, data):
        self.condition = _int(data.get("condition"))
        self.document = None if self.condition else _int(data.get("document"))
        self.how = data.get("how") if data.get("how") in ("doctor", "queue") else ""
        self.department = _int(data.get("department"))
        self.doctor = _int(data.get("doctor"))
        self.day = data.get("day", "")
        self.slot = _int(data.get("slot"))
        self.mode = data.get("mode") if data.get("mode") in VisitMode.values else ""

    def url(self, **changes) -> str:
        values = {key: getattr(self, key) for key in self.KEYS}
        values.update(changes)
        query = urlencode({k: v for k, v in values.items() if v not in (None, "")})
        return reverse("visits:new") + ("?" + query if query else "")


def _basis_context(request, patient, wizard: Wizard) -> dict:
    conditions, documents = selectors.follow_up_bases(request.user, patient.pk)
    fresh = Wizard({})
    basis = None
    if wizard.condition:
        basis = next((c for c, refusal in conditions if c.pk == wizard.condition and refusal is None), None)
    elif wizard.document:
        basis = next((d for d in documents if d.pk == wizard.document), None)
    return {
        "patient": patient, "wizard": wizard, "basis": basis, "basis_is_document": bool(wizard.document),
        "condition_rows": [{"condition": c, "refusal": r, "url": fresh.url(condition=c.pk)} for c, r in conditions],
        "document_rows": [{"document": d, "url": fresh.url(document=d.pk)} for d in documents],
        "any_basis": bool(documents) or any(r is None for _c, r in conditions),
        "basis_url": reverse("visits:new"), "page_error": None,
    }


@require_http_methods(["GET", "POST"])
@patient_page
def new(request, patient):
    # The choices ride in the query string, also when the last step posts the reason back to the same address.
    wizard = Wizard(request.GET)
    context = _basis_context(request, patient, wizard)
    if context["basis"] is None:
        status = 200
        if wizard.condition or wizard.document:  # an address with a basis the patient may not use
            context["page_error"] = _error(services.first_visit_refusal())
            status = 403
        return _step_basis(request, context, status=status)
    if request.method == "POST":
        return _submit(request, patient, wizard, context)
    return _step_choose(request, wizard, context)


def _step_basis(request, context, *, upload_form=None, status=200):
    if not context["any_basis"]:
        context["refusal"] = _error(services.first_visit_refusal())
    context["upload_form"] = upload_form or BasisDocumentForm()
    context["step"] = 1
    return render(request, "visits/new_basis.html", context, status=status)


def _step_choose(request, wizard: Wizard, context, *, form=None, status=200):
    """Step 2 (how, where, with whom, when) until a time or a queue is chosen; then step 3 (the reason)."""
    context["step"] = 2
    unchosen = dict(doctor=None, day=None, slot=None, mode=None)
    context["how_links"] = {
        "doctor": wizard.url(how="doctor", **unchosen), "queue": wizard.url(how="queue", **unchosen),
        "other": wizard.url(how=None, **unchosen),
    }
    if not wizard.how:
        return render(request, "visits/new_choose.html", context, status=status)

    departments = list(selectors.online_departments())
    department = next((d for d in departments if d.pk == wizard.department), None)
    basis = context["basis"]
    suggested = basis.encounter.department_id if getattr(basis, "encounter", None) else None
    departments.sort(key=lambda d: d.pk != suggested)
    context.update(
        department=department, change_department_url=wizard.url(department=None, **unchosen),
        department_rows=[{"department": d, "suggested": d.pk == suggested,
                          "url": wizard.url(department=d.pk, **unchosen)} for d in departments],
    )
    if department is None:
        return render(request, "visits/new_choose.html", context, status=status)

    if wizard.how == "queue":
        waiting, wait = selectors.queue_estimate(department.pk)
        context.update(waiting=waiting, wait_minutes=wait, mode_links=[
            {"mode": VisitMode.TEXT, "label": _("Chat (text and photos)"), "url": wizard.url(mode=VisitMode.TEXT)},
            {"mode": VisitMode.VIDEO, "label": _("Video call"), "url": wizard.url(mode=VisitMode.VIDEO)},
        ])
        if wizard.mode:
            context["chosen_mode_label"] = next(r["label"] for r in context["mode_links"] if r["mode"] == wizard.mode)
            return _step_reason(request, wizard, context, form=form, status=status)
        return render(request, "visits/new_choose.html", context, status=status)

    doctors = selectors.online_doctors(department.pk)
    doctor = next((d for d in doctors if d.pk == wizard.doctor), None)
    context.update(doctor=doctor, change_doctor_url=wizard.url(doctor=None, day=None, slot=None),
                   doctor_rows=[{"doctor": d, "url": wizard.url(doctor=d.pk, day=None, slot=None)} for d in doctors])
    if doctor is None:
        return render(request, "visits/new_choose.html", context, status=status)

    days = _slot_days(practitioner_id=doctor.pk, department_id=department.pk)
    slot = next((s for same_day in days.values() for s in same_day if s.pk == wizard.slot), None)
    if slot is not None:
        context["slot"] = slot
        return _step_reason(request, wizard, context, form=form, status=status)
    if wizard.slot and not context["page_error"]:
        context["page_error"] = {"message": _("This time is no longer offered. Please choose another.")}
    day = _pick_day(wizard.day, days)
    context.update(
        day=day,
        day_links=[{"day": d, "current": d == day, "url": wizard.url(day=d.isoformat(), slot=None)} for d in days],
        slot_links=[{"slot": s, "url": wizard.url(day=day.isoformat(), slot=s.pk)} for s in days.get(day, [])],
    )
    return render(request, "visits/new_choose.html", context, status=status)


def _needs_consent(patient) -> bool:
    return not has_consent(patient, ConsentKind.ONLINE_CARE)


def _step_reason(request, wizard: Wizard, context, *, form=None, status=200):
    context["step"] = 3
    needs_consent = _needs_consent(context["patient"])
    context["form"] = form or RequestForm(needs_consent=needs_consent)
    context["back_url"] = wizard.url(slot=None, mode=None)
    context["submit_url"] = wizard.url()
    return render(request, "visits/new_reason.html", context, status=status)


def _submit(request, patient, wizard: Wizard, context):
    needs_consent = _needs_consent(patient)
    form = RequestForm(request.POST, needs_consent=needs_consent)
    if not form.is_valid():
        return _step_choose(request, wizard, context, form=form, status=400)
    try:
        with transaction.atomic():
            visit = services.request_visit(
                # The form shows the consent text and requires the box ticked when it is still needed.
                online_care_consent=needs_consent,
                actor=request.user, patient_id=patient.pk, complaint=form.cleaned_data["complaint"],
                condition_id=wizard.condition, document_id=wizard.document,
                slot_id=wizard.slot if wizard.how == "doctor" else None,
                department_id=wizard.department if wizard.how == "queue" else None,
                mode=wizard.mode or VisitMode.TEXT,
            )
    except DomainError as exc:
        if exc.code == "not_found":
            raise
        if "complaint" in exc.fields:
            apply_domain_error(form, exc)
        else:
            context["page_error"] = _error(exc)
        return _step_choose(request, wizard, context, form=form, status=exc.status)
    messages.success(request, _("Your visit is booked.") if visit.appointment_id
                     else _("You are in the queue. Keep this page open: it shows your place."))
    return redirect(room_url(visit.pk))


@require_POST
@patient_page
def upload_basis(request, patient):
    """Step 1, the other way: upload a record to serve as the diagnosis, then go on with it as the basis."""
    form = BasisDocumentForm(request.POST, request.FILES)
    context = _basis_context(request, patient, Wizard({}))
    context["open_upload"] = True
    if not form.is_valid():
        return _step_basis(request, context, upload_form=form, status=400)
    try:
        document = records.upload_document(actor=request.user, patient_id=patient.pk, **form.cleaned_data)
    except DomainError as exc:
        if exc.code == "not_found":
            raise
        apply_domain_error(form, exc)
        return _step_basis(request, context, upload_form=form, status=exc.status)
    messages.success(request, _("Record uploaded. The doctor checks it before the visit goes ahead."))
    return redirect(Wizard({"document": document.pk}).url())


# ---- in-person booking (where a first visit is sent) ---------------------------------------------------------------


@require_GET
def in_person(request):
    facilities = list(directory.facilities())
    departments = list(directory.departments())
    for facility in facilities:
        facility.department_list = [d for d in departments if d.facility_id == facility.pk]
    home_first = sorted(facilities, key=lambda f: f.kind != FacilityKind.HOME)
    return render(request, "visits/in_person.html", {"facilities": home_first})


# ---- doctors -----------------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@doctor_page
def start_day(request, practitioner):
    form = StartDayForm(request.POST or None)
    status = 200
    refusal = _practice_refusal(practitioner)
    if request.method == "POST" and form.is_valid():
        try:
            services.start_consultation_day(
                actor=request.user, code=form.cleaned_data["code"], session=request.session
            )
        except DomainError as exc:
            apply_domain_error(form, exc)
            status = exc.status
        else:
            messages.success(request, _("Code confirmed: you can consult online today."))
            return redirect(safe_next(request, reverse("visits:worklist")))
    context = {
        "form": form, "refusal": refusal, "day": selectors.consultation_day(practitioner),
        # Signed in with the code moments ago: that counts, no second code is asked for.
        "fresh": second_factor_is_fresh(request.session, minutes=settings.CONSULT_REAUTH_MINUTES),
        "next": request.GET.get("next") or request.POST.get("next", ""),
    }
    return render(request, "visits/start_day.html", context, status=status)


def _practice_refusal(practitioner):
    """Why this doctor may not consult online (the message), or None."""
    try:
        scheduling_services.check_online_eligibility(practitioner)
    except DomainError as exc:
        return exc.message
    return None


def _worklist_page(request, practitioner, *, error=None, status=200):
    now = timezone.now()
    refusal = _practice_refusal(practitioner)
    visits = list(selectors.doctor_worklist(request.user))
    for visit in visits:
        visit.room_url = room_url(visit.pk)
        visit.starts_at = visit.appointment.slot.starts_at if visit.appointment_id else None
    queues = []
    if refusal is None:
        for department in practitioner.departments.filter(offers_online_visits=True).order_by("code"):
            waiting = list(selectors.department_queue(request.user, department.pk))
            queues.append({"department": department, "waiting": waiting})
    today = scheduling.doctor_day(request.user, timezone.localdate())
    context = {
        "practitioner": practitioner, "refusal": refusal, "visits": visits, "queues": queues,
        "day_started": selectors.consultation_day(practitioner), "today": today, "page_error": error,
        "booked_slots": [slot for slot in today.slots if slot.live_appointments],
        "free_places": sum(slot.free for slot in today.slots if slot.status == "open" and slot.starts_at > now),
        "queue_strings": {
            "age": _("%(age)s years"), "waiting": _("%(count)s waiting"), "since": _("since %(time)s"),
            "M": _("male"), "F": _("female"), "text": _("text chat"), "video": _("video"),
            "live": _("live"), "offline": _("reconnecting…"), "tz": settings.TIME_ZONE,
        },
    }
    return render(request, "visits/worklist.html", context, status=status)


@require_GET
@doctor_page
def worklist(request, practitioner):
    return _worklist_page(request, practitioner)


@require_POST
@doctor_page
def take_next(request, practitioner, department_id: int):
    try:
        visit = services.take_next_from_queue(actor=request.user, department_id=department_id)
    except DomainError as exc:
        if exc.code == "not_found":
            raise
        return _worklist_page(request, practitioner, error=_error(exc), status=exc.status)
    return redirect(room_url(visit.pk))
