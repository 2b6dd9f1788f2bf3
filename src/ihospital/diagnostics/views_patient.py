"""Medical-test pages of the patient (or a relative acting for them), and the role-aware page of one order.

* ``home``: the acting patient's tests to book, upcoming exams with their place and preparation, and results;
* ``book``: a day picker, the free times of the day, booking, moving and cancelling (refusals shown in place);
* ``order``: one order for whoever ``selectors.order_for`` allows (patient or proxy, the ordering doctor, lab and
  imaging staff; 404 for anyone else): status, timeline, and the results (for the patient only once released);
* ``preview``: an image of a study as PNG (``imaging.preview`` decides who may see it), with a window/level;
* ``trends``: one analyte's released values as a server-drawn SVG chart;
* ``report_pdf``: the report as PDF (the patient only after release).
"""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from ihospital.accounts.acting import patient_page
from ihospital.accounts.models import Role
from ihospital.accounts.selectors import patients_acted_for
from ihospital.core import audit
from ihospital.core.errors import DomainError, NotFound
from ihospital.core.models import AuditAction
from ihospital.core.transitions import timeline

from . import booking, imaging, report_pdf, selectors, trends
from .models import Booking, DiagnosticKind, DicomInstance, Flag, ImagingStudy, Modality, OrderStatus, live_booking
from .results import current_observations

BOOK_DAYS = 14
UPCOMING = (OrderStatus.BOOKED, OrderStatus.CHECKED_IN)
IN_PROGRESS = (OrderStatus.COLLECTED, OrderStatus.RESULTED)
# CT window presets (centre, width) in Hounsfield units.
CT_PRESETS = (
    ("brain", gettext_lazy("Brain"), 40, 80),
    ("abdomen", gettext_lazy("Abdomen"), 40, 400),
    ("lung", gettext_lazy("Lung"), -600, 1500),
    ("bone", gettext_lazy("Bone"), 400, 1800),
)
FLAG_CLASSES = {Flag.HIGH: "high", Flag.LOW: "low", Flag.CRITICAL_HIGH: "critical", Flag.CRITICAL_LOW: "critical",
                Flag.ABNORMAL: "abnormal"}


def order_url(order_id: int) -> str:
    return reverse("diagnostics:order", args=[order_id])


def page_error(exc: DomainError) -> dict:
    return {"message": exc.message, "link": exc.link, "code": exc.code}


def patients_of(user):
    return list(patients_acted_for(user).select_related("user").order_by("pk"))


def preparation(order) -> list[str]:
    """What the patient must do before the exam: fasting, full bladder, contrast, the test's own text."""
    lines = booking.preparation_lines(order)
    if order.test.needs_contrast:
        lines.insert(0, _("This exam uses a contrast injection: tell the staff about allergies and kidney disease."))
    return lines


def _abnormal_count(order) -> int:
    return sum(1 for o in current_observations(order) if o.flag != Flag.NORMAL)


def _booking(order) -> Booking | None:
    return live_booking(order)


# ---- my tests -----------------------------------------------------------------------------------------------------


@require_GET
@patient_page
def home(request, patient):
    orders = list(selectors.orders_of_patient(request.user, patient.pk)[:200])
    to_book = [o for o in orders if o.status == OrderStatus.ORDERED]
    upcoming = []
    for o in sorted((o for o in orders if o.status in UPCOMING), key=lambda o: o.pk):
        upcoming.append({"order": o, "booking": _booking(o), "preparation": preparation(o)})
    upcoming.sort(key=lambda row: row["booking"].slot.starts_at if row["booking"] else timezone.now())
    waiting = [o for o in orders if o.status in IN_PROGRESS]
    released = [{"order": o, "abnormal": _abnormal_count(o) if o.test.kind == DiagnosticKind.LAB else 0}
                for o in orders if o.status == OrderStatus.RELEASED]
    context = {"patient": patient, "patients": patients_of(request.user), "to_book": to_book, "upcoming": upcoming,
               "waiting": waiting, "released": released, "has_trends": bool(trends.analytes(patient))}
    return render(request, "diagnostics/patient_home.html", context)


# ---- booking ------------------------------------------------------------------------------------------------------


def _day(raw: str | None, days: list[date]) -> date:
    try:
        day = date.fromisoformat(raw or "")
    except ValueError:
        return days[0]
    return day if day in days else days[0]


def _book_context(request, order_id: int, *, day_raw: str | None, audit_read: bool, **extra) -> dict:
    order, _role = selectors.order_for(request.user, order_id, roles=("patient",), audit_read=audit_read)
    today = timezone.localdate()
    days = [today + timedelta(days=i) for i in range(BOOK_DAYS)]
    day = _day(day_raw, days)
    slots = booking.available_slots(actor=request.user, order_id=order.pk, day=day)
    current = _booking(order)
    context = {"order": order, "days": days, "day": day, "slots": slots, "booking": current,
               "preparation": preparation(order),
               "bookable": order.status in (OrderStatus.ORDERED, OrderStatus.BOOKED)}
    context.update(extra)
    return context


@require_http_methods(["GET", "POST"])
@login_required
def book(request, order_id: int):
    if request.method == "GET":
        context = _book_context(request, order_id, day_raw=request.GET.get("day"), audit_read=True)
        return render(request, "diagnostics/patient_book.html", context)
    action = request.POST.get("action", "book")
    day_raw = request.POST.get("day") or request.GET.get("day")
    try:
        slot_id = int(request.POST.get("slot_id") or 0)
    except ValueError:
        slot_id = 0
    try:
        if action == "cancel":
            reason = (request.POST.get("reason") or "").strip()
            if not reason:
                raise DomainError("reason_required", _("Please say why you cancel the booking."),
                                  fields={"reason": _("required")})
            cancelled = booking.cancel_booking(actor=request.user, order_id=order_id, reason=reason)
            if booking.can_book_again(cancelled):
                messages.success(request, _("The booking was cancelled. You can book another time."))
            else:
                messages.success(request, _("The booking was cancelled. It has been moved too many times to be "
                                            "booked again online: please contact the hospital."))
        elif action == "reschedule":
            booking.reschedule(actor=request.user, order_id=order_id, slot_id=slot_id)
            messages.success(request, _("The booking was moved."))
        else:
            booking.book(actor=request.user, order_id=order_id, slot_id=slot_id)
            messages.success(request, _("Booked. Please read the preparation instructions."))
    except NotFound:
        raise
    except DomainError as exc:
        context = _book_context(request, order_id, day_raw=day_raw, audit_read=False, page_error=page_error(exc),
                                action=action, reason=request.POST.get("reason", ""))
        return render(request, "diagnostics/patient_book.html", context, status=exc.status)
    return redirect(order_url(order_id))


# ---- one order (role-aware) ---------------------------------------------------------------------------------------


def _timeline(order, role: str) -> list[dict]:
    labels = dict(OrderStatus.choices)
    rows = []
    for event in timeline(order).select_related("actor").order_by("at", "pk"):
        # Staff reasons may be internal notes: the patient sees the status only (and their own cancel reason).
        own = event.actor is not None and event.actor.role == Role.PATIENT
        rows.append({"at": event.at, "status": labels.get(event.to_status, event.to_status),
                     "reason": event.reason if (role != "patient" or own) else ""})
    return rows


def _lab_rows(order) -> list[dict]:
    labels = dict(Flag.choices)
    rows = []
    for obs in current_observations(order):
        rows.append({"name": obs.analyte.name, "code": obs.analyte.code,
                     "value": report_pdf._value(obs), "unit": obs.unit, "flag": obs.flag,
                     "flag_label": labels.get(obs.flag, obs.flag), "flag_class": FLAG_CLASSES.get(obs.flag, ""),
                     "abnormal": obs.flag != Flag.NORMAL, "reference": obs.reference,
                     "version": obs.version, "numeric": obs.value is not None})
    return rows


@require_GET
@login_required
def order(request, order_id: int):
    order, role = selectors.order_for(request.user, order_id)
    shown = role != "patient" or order.status == OrderStatus.RELEASED
    study = ImagingStudy.objects.filter(order=order).select_related("reported_by").first()
    instances = list(DicomInstance.objects.filter(study=study)) if study is not None and shown else []
    context = {
        "order": order, "role": role, "history": _timeline(order, role), "booking": _booking(order),
        "preparation": preparation(order) if order.status in (OrderStatus.ORDERED, *UPCOMING) else [],
        "results_shown": shown, "is_lab": order.test.kind == DiagnosticKind.LAB,
        "rows": _lab_rows(order) if shown and order.test.kind == DiagnosticKind.LAB else [],
        "study": study if shown else None, "instances": instances,
        "presets": CT_PRESETS if order.test.modality == Modality.CT else (),
        "waiting": order.status in IN_PROGRESS,
        "can_book": role == "patient" and order.status in (OrderStatus.ORDERED, OrderStatus.BOOKED),
        "pdf": shown and order.status in (OrderStatus.RESULTED, OrderStatus.RELEASED),
        "can_report": (role in ("doctor", "radiologist") and imaging.is_imaging(order)
                       and order.status == OrderStatus.COLLECTED),
    }
    return render(request, "diagnostics/order.html", context)


def _window(raw: str) -> tuple[float | None, float | None]:
    """``wl`` is a preset name (``lung``) or ``centre,width`` (``-600,1500``); empty: the image's own window."""
    raw = (raw or "").strip()
    if not raw:
        return None, None
    for code, _label, centre, width in CT_PRESETS:
        if raw == code:
            return float(centre), float(width)
    try:
        centre, width = (float(part) for part in raw.replace("/", ",").split(","))
    except ValueError:
        raise DomainError("invalid_window", _("The window is not valid."), fields={"wl": _("invalid")}) from None
    return centre, width


@require_GET
@login_required
def preview(request, instance_id: int):
    try:
        centre, width = _window(request.GET.get("wl", ""))
        png = imaging.preview(actor=request.user, instance_id=instance_id, center=centre, width=width)
    except NotFound:
        raise
    except DomainError as exc:
        return HttpResponse(str(exc.message), status=exc.status, content_type="text/plain; charset=utf-8")
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "no-store, private"
    return response


@require_GET
@login_required
def report(request, order_id: int):
    order, role = selectors.order_for(request.user, order_id)
    if role == "patient" and order.status != OrderStatus.RELEASED:
        raise NotFound()
    if order.status not in (OrderStatus.RESULTED, OrderStatus.RELEASED):
        raise NotFound()
    data = report_pdf.render(order)
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{order.number}.pdf"'
    response["Cache-Control"] = "no-store, private"
    return response


# ---- trends -------------------------------------------------------------------------------------------------------


@require_GET
@patient_page
def trends_page(request, patient):
    audit.record(actor=request.user, action=AuditAction.READ, object_type="diagnostics.observation",
                 patient_id=patient.pk, detail={"trends": request.GET.get("analyte", "")})
    choices = trends.analytes(patient)
    code = request.GET.get("analyte") or (choices[0]["code"] if choices else "")
    data = trends.series(patient, code) if code else None
    context = {"patient": patient, "patients": patients_of(request.user), "choices": choices, "code": code,
               "series": data, "chart": mark_safe(trends.svg(data)) if data else "",  # noqa: S308 (escaped inside)
               "points": list(reversed(data.points)) if data else []}
    return render(request, "diagnostics/patient_trends.html", context)
