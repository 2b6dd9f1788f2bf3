"""Supervisor nurses' review queue: ``/homecare/review/``.

Flagged visits (checked in or out far from the address or without a location, or disputed by the patient) with
their EVV facts and a small map of the address against where the phone was; the supervisor records what they
found (``visiting.review``). Corrections of closed care records, before and after side by side, approved or
rejected with a note (``visiting.decide_correction``). Nobody reviews their own visit or their own correction.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from ihospital.core.errors import DomainError, NotFound

from . import selectors, visiting
from .board import Projection
from .forms_staff import CorrectionDecisionForm, ReviewForm
from .models import NursingService
from .views_staff import live_strings, supervisor_page

FIELD_LABELS = {
    "vitals": gettext_lazy("Vital signs"), "procedure_notes": gettext_lazy("Procedure notes"),
    "consumables_used": gettext_lazy("Consumables used"), "next_service": gettext_lazy("Next visit suggested"),
    "next_in_days": gettext_lazy("In (days)"), "next_note": gettext_lazy("Note on the next visit"),
}
VITAL_LABELS = {
    "systolic": gettext_lazy("systolic"), "diastolic": gettext_lazy("diastolic"), "pulse": gettext_lazy("pulse"),
    "temperature": gettext_lazy("temperature"), "spo2": gettext_lazy("SpO₂"),
    "respiration": gettext_lazy("respiration"), "glucose": gettext_lazy("glucose"), "pain": gettext_lazy("pain"),
    "weight_kg": gettext_lazy("weight (kg)"),
}


def flag_label(code: str) -> str:
    moment, _sep, detail = code.partition(":")
    if moment.endswith("_without_location"):
        return (_("checked in without a location") if moment.startswith("check_in")
                else _("checked out without a location"))
    if moment.endswith("_far"):
        where = detail.removesuffix("m")
        return (_("checked in %(m)s m from the address") if moment.startswith("check_in")
                else _("checked out %(m)s m from the address")) % {"m": where}
    return code


def pin_map(visit) -> dict:
    """The address, the allowed radius around it, and where the phone checked in and out."""
    req = visit.request
    address = (req.latitude, req.longitude)
    points = [address] + [p for p in ((visit.check_in_latitude, visit.check_in_longitude),
                                      (visit.check_out_latitude, visit.check_out_longitude)) if p[0] is not None]
    proj = Projection.around(points, width=320, height=220, pad=36, min_span_km=0.8)
    marks = []
    for kind, lat, lng, distance in (
            ("in", visit.check_in_latitude, visit.check_in_longitude, visit.check_in_distance_m),
            ("out", visit.check_out_latitude, visit.check_out_longitude, visit.check_out_distance_m)):
        if lat is not None:
            x, y = proj.xy(lat, lng)
            marks.append({"kind": kind, "x": x, "y": y, "distance": round(distance) if distance is not None else None,
                          "label": _("check-in") if kind == "in" else _("check-out")})
    ax, ay = proj.xy(*address)
    radius = settings.HOMECARE_CHECKIN_RADIUS_M / 1000 * proj.scale / 111.32
    return {"width": proj.width, "height": proj.height, "address": {"x": ax, "y": ay},
            "radius": round(radius, 1), "radius_m": settings.HOMECARE_CHECKIN_RADIUS_M, "marks": marks,
            "scale": proj.scale_bar()}


def _show(field: str, value) -> str:
    if value in (None, "", [], {}):
        return "—"
    if field == "vitals":
        return " · ".join(f"{VITAL_LABELS.get(k, k)} {v}" for k, v in value.items())
    if field == "consumables_used":
        return " · ".join(f"{item.get('code')} × {item.get('qty')}" for item in value)
    if field == "next_service":
        service = NursingService.objects.filter(code=value).first()
        return service.name if service else str(value)
    return str(value)


def diff(correction) -> list[dict]:
    """The fields the correction changes: what the record says, and what it would say."""
    before = dict(correction.before)
    before["next_service"] = before.pop("next_service_code", before.get("next_service", ""))
    rows = []
    for field, label in FIELD_LABELS.items():
        old, new = before.get(field), correction.changes.get(field)
        if (old or None) != (new or None):
            rows.append({"field": field, "label": label, "before": _show(field, old), "after": _show(field, new)})
    return rows


def _context(user, *, errors: dict | None = None, forms: dict | None = None) -> dict:
    errors, forms = errors or {}, forms or {}
    queue = selectors.supervisor_queue(user)
    flagged = [{
        "visit": v, "evv": visiting.evv(v), "flags": [flag_label(c) for c in v.flag_reasons],
        "own": user.pk in (v.nurse_id, v.second_nurse_id), "map": pin_map(v),
        "form": forms.get(f"visit:{v.pk}") or ReviewForm(prefix=f"v{v.pk}"), "error": errors.get(f"visit:{v.pk}"),
    } for v in queue["flagged"]]
    corrections = [{
        "correction": c, "visit": c.record.visit, "diff": diff(c),
        "form": forms.get(f"correction:{c.pk}") or CorrectionDecisionForm(prefix=f"c{c.pk}"),
        "error": errors.get(f"correction:{c.pk}"),
    } for c in queue["corrections"]]
    return {"flagged": flagged, "corrections": corrections, "live": live_strings()}


@require_GET
@supervisor_page
def queue(request):
    context = _context(request.user)
    if request.GET.get("part") == "lists":
        return render(request, "homecare/_staff_review_lists.html", context)
    return render(request, "homecare/review_queue.html", context)


@require_POST
@supervisor_page
def review_visit(request, visit_id: int):
    form = ReviewForm(request.POST, prefix=f"v{visit_id}")
    form.is_valid()
    try:
        visit = visiting.review(actor=request.user, visit_id=visit_id, note=form.cleaned_data.get("note", ""))
    except NotFound:
        raise
    except DomainError as exc:
        if exc.code == "note_required":
            form.add_error("note", str(exc.message))
        context = _context(request.user, errors={f"visit:{visit_id}": exc.message},
                           forms={f"visit:{visit_id}": form})
        return render(request, "homecare/review_queue.html", context, status=exc.status)
    messages.success(request, _("Visit %(number)s reviewed.") % {"number": visit.request.number})
    return redirect("homecare:review")


@require_POST
@supervisor_page
def decide_correction(request, correction_id: int):
    form = CorrectionDecisionForm(request.POST, prefix=f"c{correction_id}")
    if not form.is_valid():
        context = _context(request.user, forms={f"correction:{correction_id}": form})
        return render(request, "homecare/review_queue.html", context, status=400)
    approve = form.cleaned_data["decision"] == "approve"
    try:
        visiting.decide_correction(actor=request.user, correction_id=correction_id, approve=approve,
                                   note=form.cleaned_data["note"])
    except NotFound:
        raise
    except DomainError as exc:
        if exc.code == "note_required":
            form.add_error("note", str(exc.message))
        context = _context(request.user, errors={f"correction:{correction_id}": exc.message},
                           forms={f"correction:{correction_id}": form})
        return render(request, "homecare/review_queue.html", context, status=exc.status)
    messages.success(request, _("Correction approved: the care record was updated.") if approve
                     else _("Correction rejected; the care record stays as it was."))
    return redirect("homecare:review")
