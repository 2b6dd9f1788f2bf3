"""The home-care nurse's phone pages: today's route (and tomorrow's), one visit (the patient, the address and the
way there, set out, check in, the care record, check out, corrections), and the one-touch alarm.

Every page reads the visit through ``selectors.visit_for`` (the assigned nurse only, and only around the visit:
anyone else, or the nurse after the access window, gets 404). Every act is one service call from ``visiting``;
a refusal is shown in place with the service's message and status.

The alarm endpoints (``alarm``, ``alarm_status``) are different on purpose: they are authenticated by the alarm
token the page carries (``safety.alarm_token``), never by the session, and need no CSRF cookie, because the page
may have sat idle for hours and its session be long gone when the nurse needs help. The page sends them without
cookies at all (``credentials: "omit"`` in alarm.js), so an expired session's redirect to the sign-in page can
never swallow an alarm.
"""

from __future__ import annotations

import json
from datetime import timedelta
from functools import wraps
from urllib.parse import quote, urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from ihospital.accounts.models import Role
from ihospital.core.errors import DomainError, Forbidden, NotFound
from ihospital.records.models import DocumentKind
from ihospital.records.services import upload_document

from . import safety, selectors, visiting
from .models import Alarm, CareRecord, CorrectionStatus, NurseVisit, RequestStatus

MAX_PHOTOS = 6

VITAL_LABELS = {
    "systolic": _("Systolic blood pressure (mmHg)"),
    "diastolic": _("Diastolic blood pressure (mmHg)"),
    "pulse": _("Pulse (beats/min)"),
    "temperature": _("Temperature (°C)"),
    "spo2": _("Oxygen saturation SpO₂ (%)"),
    "respiration": _("Respiration (breaths/min)"),
    "glucose": _("Blood glucose (mmol/L)"),
    "pain": _("Pain score (0–10)"),
    "weight_kg": _("Weight (kg)"),
}

FLAG_LABELS = {
    "check_in_without_location": _("checked in without location"),
    "check_out_without_location": _("checked out without location"),
    "check_in_far": _("checked in far from the address"),
    "check_out_far": _("checked out far from the address"),
}


def nurse_page(view):
    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if request.user.role != Role.NURSE:
            raise Forbidden("not_a_nurse", _("These pages are for home-care nurses."))
        return view(request, *args, **kwargs)

    return wrapper


def page_error(exc: DomainError) -> dict:
    return {"message": exc.message, "link": exc.link, "code": exc.code}


def _own(request, visit_id: int, *, audit_read: bool = True) -> NurseVisit:
    """The visit if the user is its nurse (or second nurse) within the access window; otherwise 404."""
    visit, role = selectors.visit_for(request.user, visit_id, audit_read=audit_read)
    if role != "nurse":
        raise NotFound()
    return visit


def visit_url(visit_id: int, anchor: str = "") -> str:
    return reverse("homecare:visit", args=[visit_id]) + (f"#{anchor}" if anchor else "")


# ---- forms --------------------------------------------------------------------------------------------------


def _name(item: dict) -> str:
    zh = (get_language() or "").startswith("zh")
    return item.get("zh" if zh else "en") or item.get("zh") or item.get("code", "")


def planned_consumables(visit: NurseVisit) -> list[dict]:
    """What the nurse brings: the assessor's choice, then the rest of the service's list (quantity 0)."""
    assessment = getattr(visit.request, "assessment", None)
    chosen = list(assessment.consumables) if assessment is not None else []
    codes = {c["code"] for c in chosen}
    rest = [{**c, "qty": 0} for c in visit.request.service.consumables if c["code"] not in codes]
    return [{"code": c["code"], "name": _name(c), "qty": int(c.get("qty", 0))} for c in chosen + rest]


class RecordForm(forms.Form):
    """The care record. Only parses what was typed: the ranges and the lists are checked by ``visiting``."""

    procedure_notes = forms.CharField(label=_("What was done and what you saw"), required=False, max_length=8000,
                                      widget=forms.Textarea(attrs={"rows": 5}))
    next_service = forms.ChoiceField(label=_("Suggest a next visit"), required=False)
    next_in_days = forms.CharField(label=_("In how many days"), required=False, max_length=3,
                                   widget=forms.NumberInput(attrs={"min": 1, "max": 90, "inputmode": "numeric"}))
    next_note = forms.CharField(label=_("Note for the patient"), required=False, max_length=200)

    def __init__(self, *args, visit: NurseVisit, record: CareRecord | None = None, **kwargs):
        self.visit = visit
        self.consumables = planned_consumables(visit)
        if record is not None and not kwargs.get("data") and not args:
            kwargs["initial"] = self.initial_of(record)
        elif not kwargs.get("data") and not args:
            kwargs["initial"] = {f"qty_{c['code']}": c["qty"] for c in self.consumables}
        super().__init__(*args, **kwargs)
        for key, (low, high) in visiting.VITALS.items():
            step = "1" if isinstance(low, int) else "0.1"
            self.fields[f"vital_{key}"] = forms.CharField(
                label=VITAL_LABELS.get(key, key), required=False, max_length=8,
                widget=forms.NumberInput(attrs={"min": low, "max": high, "step": step, "inputmode": "decimal"}))
        for item in self.consumables:
            self.fields[f"qty_{item['code']}"] = forms.CharField(
                label=item["name"], required=False, max_length=3,
                widget=forms.NumberInput(attrs={"min": 0, "max": 20, "inputmode": "numeric"}))
        self.fields["next_service"].choices = [("", _("no follow-up visit"))] + [
            (s.code, s.name) for s in selectors.catalogue()]

    @staticmethod
    def initial_of(record: CareRecord) -> dict:
        initial = {f"vital_{k}": v for k, v in (record.vitals or {}).items()}
        initial |= {f"qty_{c['code']}": c["qty"] for c in record.consumables_used or []}
        initial |= {"procedure_notes": record.procedure_notes, "next_in_days": record.next_in_days or "",
                    "next_service": record.next_service.code if record.next_service else "",
                    "next_note": record.next_note}
        return initial

    def vital_fields(self):
        return [self[f"vital_{key}"] for key in visiting.VITALS]

    def consumable_fields(self):
        return [self[f"qty_{item['code']}"] for item in self.consumables]

    def values(self) -> dict:
        """The service's arguments (``save_record`` and ``request_correction`` take the same names)."""
        data = self.cleaned_data
        consumables = []
        for item in self.consumables:
            raw = (data.get(f"qty_{item['code']}") or "").strip()
            if raw:
                consumables.append({"code": item["code"], "qty": raw})
        return {
            "vitals": {key: data.get(f"vital_{key}") for key in visiting.VITALS if data.get(f"vital_{key}")},
            "procedure_notes": data.get("procedure_notes", ""),
            "consumables_used": consumables,
            "next_service_code": data.get("next_service", ""),
            "next_in_days": data.get("next_in_days") or None,
            "next_note": data.get("next_note", ""),
        }

    def attach(self, exc: DomainError) -> None:
        """A refusal beside the field it is about (the vital sign out of range, the notes, the follow-up)."""
        target = None
        if exc.code == "invalid_vitals":
            key = next(iter(exc.fields), "")
            if key in visiting.VITALS:
                low, high = visiting.VITALS[key]
                self.add_error(f"vital_{key}", gettext("Between %(low)s and %(high)s.") % {"low": low, "high": high})
                target = key
        elif exc.code == "notes_required":
            self.add_error("procedure_notes", str(exc.message))
            target = "procedure_notes"
        elif exc.code in ("invalid_follow_up", "service_not_found"):
            self.add_error("next_in_days" if exc.code == "invalid_follow_up" else "next_service", str(exc.message))
            target = "next"
        if target is None:  # otherwise the page's error above says it, and the field is marked
            self.add_error(None, str(exc.message))


class CorrectionForm(RecordForm):
    reason = forms.CharField(label=_("Why the record must be corrected"), required=False, max_length=2000,
                             widget=forms.Textarea(attrs={"rows": 2}))
    field_order = ["reason"]

    def changes(self, record: CareRecord) -> dict:
        """Only what differs from the record as it stands (the service validates the corrected whole)."""
        values = self.values()
        current = visiting_current(record)
        proposed = {
            "vitals": {k: _number(v) for k, v in values["vitals"].items()},
            "procedure_notes": values["procedure_notes"].strip(),
            "consumables_used": [{"code": c["code"], "qty": _number(c["qty"])} for c in values["consumables_used"]
                                 if _number(c["qty"]) != 0],
            "next_service_code": values["next_service_code"],
            "next_in_days": _number(values["next_in_days"]) if values["next_service_code"] else None,
            "next_note": values["next_note"].strip() if values["next_service_code"] else "",
        }
        return {k: values[k] for k, v in proposed.items() if v != current[k]}


def _number(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return int(number) if number.is_integer() else number


def visiting_current(record: CareRecord) -> dict:
    return {
        "vitals": {k: _number(v) for k, v in (record.vitals or {}).items()},
        "procedure_notes": record.procedure_notes,
        "consumables_used": [{"code": c["code"], "qty": _number(c["qty"])} for c in record.consumables_used or []],
        "next_service_code": record.next_service.code if record.next_service else "",
        "next_in_days": record.next_in_days,
        "next_note": record.next_note,
    }


# ---- what the pages show ------------------------------------------------------------------------------------


def alarm_context(request, visit: NurseVisit | None = None) -> dict:
    """What the SOS button needs on every nurse page: its token (the page may outlive the session) and where."""
    config = {
        "token": safety.alarm_token(request.user),
        "url": reverse("homecare:alarm"),
        "status_url": reverse("homecare:alarm_status"),
        "visit": visit.pk if visit else None,
        "phone": settings.HOMECARE_SECURITY_PHONE,
        "strings": {
            "hold": gettext("Hold to call security"),
            "sending": gettext("Sending the alarm…"),
            "retrying": gettext("No connection — still trying. Call security now:"),
            "sent": gettext("Security alerted — help is coming"),
            "acknowledged": gettext("Acknowledged by %(name)s"),
            "resolved": gettext("Resolved by security"),
            "expired": gettext("This alarm page has expired: reload it, or call security."),
            "located": gettext("Your location was sent."),
            "no_location": gettext("Sent without your location."),
        },
    }
    return {"alarm_config": config, "security_phone": settings.HOMECARE_SECURITY_PHONE}


def live_strings() -> dict:
    return {"open": gettext("live"), "closed": gettext("reconnecting…"), "connecting": gettext("connecting…"),
            "refused": gettext("offline: reload the page")}


def navigation(visit: NurseVisit) -> dict:
    req = visit.request
    label = f"{req.address} {req.address_detail}".strip()
    return {
        "geo": f"geo:{req.latitude},{req.longitude}?q={req.latitude},{req.longitude}({quote(label)})",
        "amap": "https://uri.amap.com/marker?" + urlencode({"position": f"{req.longitude},{req.latitude}",
                                                            "name": label}),
    }


def evv_rows(visit: NurseVisit) -> list[tuple[str, str]]:
    """The six EVV facts as recorded, in words, for the summary block."""
    facts = visiting.evv(visit)
    req = visit.request

    def at(moment):
        return timezone.localtime(moment).strftime("%H:%M:%S") if moment else "—"

    def where(lat, lng, distance):
        if lat is None:
            return gettext("no location")
        text = f"{lat:.5f}, {lng:.5f}"
        if distance is not None:
            text += " · " + gettext("%(metres)s m from the address") % {"metres": int(distance)}
        return text

    nurses = visit.nurse.real_name + (f" + {visit.second_nurse.real_name}" if visit.second_nurse_id else "")
    return [
        (gettext("Service"), req.service.name),
        (gettext("Service recipient"), req.patient.real_name),
        (gettext("Date"), facts["date"]),
        (gettext("Place"), f"{req.address} ({req.latitude:.5f}, {req.longitude:.5f})"),
        (gettext("Nurse"), nurses),
        (gettext("Start"), at(visit.checked_in_at) + " · " + where(
            visit.check_in_latitude, visit.check_in_longitude, visit.check_in_distance_m)),
        (gettext("End"), at(visit.checked_out_at) + " · " + where(
            visit.check_out_latitude, visit.check_out_longitude, visit.check_out_distance_m)),
    ]


def flag_labels(visit: NurseVisit) -> list[str]:
    labels = []
    for reason in visit.flag_reasons or []:
        code, _sep, detail = reason.partition(":")
        text = str(FLAG_LABELS.get(code, code))
        labels.append(f"{text} ({detail})" if detail else text)
    if visit.disputed:
        labels.append(gettext("the patient disputed the service"))
    return labels


def _visit_context(request, visit: NurseVisit, *, record_form=None, correction_form=None, turn_back_form=None,
                   error=None) -> dict:
    req = visit.request
    record = CareRecord.objects.filter(visit=visit).select_related("next_service").first()
    status = req.status
    assessment = getattr(req, "assessment", None)
    names = {c["code"]: c["name"] for c in planned_consumables(visit)}
    context = {
        "visit": visit, "req": req, "patient": req.patient, "age": req.patient.age(),
        "assessment": assessment, "consumables": [c for c in planned_consumables(visit) if c["qty"]],
        "documents": list(req.documents.filter(entered_in_error=False)),
        "record": record, "photos": list(record.photos.filter(entered_in_error=False)) if record else [],
        "record_vitals": [(VITAL_LABELS.get(k, k), v) for k, v in (record.vitals or {}).items()] if record else [],
        "record_consumables": [(names.get(c["code"], c["code"]), c["qty"]) for c in record.consumables_used or []]
        if record else [],
        "nav": navigation(visit), "evv": evv_rows(visit), "flags": flag_labels(visit),
        "is_today": visit.day == timezone.localdate(),
        "can_set_out": status == RequestStatus.SCHEDULED and visit.day == timezone.localdate(),
        "can_check_in": status == RequestStatus.EN_ROUTE,
        "in_service": status == RequestStatus.IN_SERVICE,
        "can_check_out": status == RequestStatus.IN_SERVICE and record is not None,
        "done": status == RequestStatus.COMPLETED,
        "page_error": error, "live": live_strings(), "max_photos": MAX_PHOTOS,
        "record_form": record_form or RecordForm(visit=visit, record=record),
        "turn_back_form": turn_back_form or TurnBackForm(),
        "access_ends": selectors.access_ends(visit),
        **alarm_context(request, visit),
    }
    if context["done"] and record is not None:
        context["correction_form"] = correction_form or CorrectionForm(visit=visit, record=record)
        context["corrections"] = list(record.corrections.select_related("requested_by", "decided_by").order_by(
            "-requested_at"))
        context["pending"] = [c for c in context["corrections"] if c.status == CorrectionStatus.PENDING]
    return context


# ---- the route ----------------------------------------------------------------------------------------------


@require_GET
@nurse_page
def route(request):
    today = timezone.localdate()
    context = {
        "today": today, "tomorrow": today + timedelta(days=1),
        "today_visits": selectors.nurse_day(request.user, today),
        "tomorrow_visits": selectors.nurse_day(request.user, today + timedelta(days=1)),
    }
    if request.GET.get("part") == "list":
        return render(request, "homecare/_nurse_route_list.html", context)
    context |= {"live": live_strings(), **alarm_context(request)}
    return render(request, "homecare/nurse_route.html", context)


# ---- one visit ----------------------------------------------------------------------------------------------


@require_GET
@nurse_page
def visit(request, visit_id: int):
    visit = _own(request, visit_id)
    if request.GET.get("part") == "status":
        return render(request, "homecare/_nurse_visit_status.html", {"visit": visit, "req": visit.request})
    return render(request, "homecare/nurse_visit.html", _visit_context(request, visit))


def _again(request, visit_id: int, exc: DomainError, **kwargs):
    visit = _own(request, visit_id, audit_read=False)
    context = _visit_context(request, visit, error=page_error(exc), **kwargs)
    return render(request, "homecare/nurse_visit.html", context, status=exc.status)


def _where(request) -> dict:
    return {name: request.POST.get(name) or None for name in ("latitude", "longitude", "accuracy")}


def _located_message(visit: NurseVisit, moment: str) -> tuple[str, str]:
    """What the nurse is told after a check: fine, far (flagged) or without location (flagged)."""
    lat = getattr(visit, f"{moment}_latitude")
    distance = getattr(visit, f"{moment}_distance_m")
    checked_in = moment == "check_in"
    if lat is None:
        text = (gettext("Checked in without location — flagged for review.") if checked_in
                else gettext("Checked out without location — flagged for review."))
        return messages.WARNING, text
    if distance is not None and distance > settings.HOMECARE_CHECKIN_RADIUS_M:
        text = (gettext("Checked in %(metres)s m from the address — flagged for review.") if checked_in
                else gettext("Checked out %(metres)s m from the address — flagged for review."))
        return messages.WARNING, text % {"metres": int(distance)}
    return messages.SUCCESS, gettext("Checked in.") if checked_in else gettext("Checked out. Thank you.")


@require_POST
@nurse_page
def set_out(request, visit_id: int):
    try:
        visiting.set_out(actor=request.user, visit_id=visit_id)
    except NotFound:
        raise
    except DomainError as exc:
        return _again(request, visit_id, exc)
    messages.success(request, gettext("On your way: the patient was told."))
    return redirect(visit_url(visit_id))


class TurnBackForm(forms.Form):
    reason = forms.CharField(label=_("Why you are turning back"), required=False, max_length=500,
                             widget=forms.Textarea(attrs={"rows": 2}))


@require_POST
@nurse_page
def turn_back(request, visit_id: int):
    form = TurnBackForm(request.POST)
    form.is_valid()
    try:
        visiting.turn_back(actor=request.user, visit_id=visit_id, reason=form.cleaned_data.get("reason", ""))
    except NotFound:
        raise
    except DomainError as exc:
        if exc.code == "reason_required":
            form.add_error("reason", str(exc.message))
        return _again(request, visit_id, exc, turn_back_form=form)
    messages.success(request, gettext("You turned back: the dispatcher and the patient were told."))
    return redirect(visit_url(visit_id))


@require_POST
@nurse_page
def check_in(request, visit_id: int):
    try:
        visit = visiting.check_in(actor=request.user, visit_id=visit_id, **_where(request))
    except NotFound:
        raise
    except DomainError as exc:
        return _again(request, visit_id, exc)
    messages.add_message(request, *_located_message(visit, "check_in"))
    return redirect(visit_url(visit_id, "record"))


@require_POST
@nurse_page
def check_out(request, visit_id: int):
    try:
        visit = visiting.check_out(actor=request.user, visit_id=visit_id, **_where(request))
    except NotFound:
        raise
    except DomainError as exc:
        return _again(request, visit_id, exc)
    messages.add_message(request, *_located_message(visit, "check_out"))
    return redirect(visit_url(visit_id))


@require_POST
@nurse_page
def record(request, visit_id: int):
    visit = _own(request, visit_id, audit_read=False)
    form = RecordForm(request.POST, visit=visit)
    form.is_valid()
    photos = request.FILES.getlist("photos")
    try:
        if len(photos) > MAX_PHOTOS:
            raise DomainError("too_many_photos", _("At most %(n)s photos at a time.") % {"n": MAX_PHOTOS},
                              fields={"photos": ""})
        visiting.save_record(actor=request.user, visit_id=visit_id, **form.values())
    except NotFound:
        raise
    except DomainError as exc:
        form.attach(exc)
        return _again(request, visit_id, exc, record_form=form)
    # The record is saved before any photo is stored, so a refused record never leaves files behind. A refused
    # photo (not an image, too large) is reported; the record stays saved.
    try:
        ids = [upload_document(actor=request.user, patient_id=visit.request.patient_id, kind=DocumentKind.IMAGE,
                               title=gettext("Home visit %(number)s photo") % {"number": visit.request.number},
                               file=photo).pk for photo in photos]
        if ids:
            visiting.save_record(actor=request.user, visit_id=visit_id, photo_ids=ids, **form.values())
    except DomainError as exc:
        messages.error(request, gettext("The record was saved, but a photo was refused: %(why)s") % {
            "why": exc.message})
        return redirect(visit_url(visit_id, "record"))
    messages.success(request, gettext("Care record saved."))
    return redirect(visit_url(visit_id, "record"))


@require_POST
@nurse_page
def correction(request, visit_id: int):
    visit = _own(request, visit_id, audit_read=False)
    current = CareRecord.objects.filter(visit=visit).select_related("next_service").first()
    if current is None:
        return _again(request, visit_id, DomainError("record_open", _("There is no care record to correct yet."),
                                                     status=409))
    form = CorrectionForm(request.POST, visit=visit)
    form.is_valid()
    reason = form.cleaned_data.get("reason", "")
    try:
        visiting.request_correction(actor=request.user, visit_id=visit_id, reason=reason,
                                    **form.changes(current))
    except NotFound:
        raise
    except DomainError as exc:
        if exc.code == "reason_required":
            form.add_error("reason", str(exc.message))
        else:
            form.attach(exc)
        return _again(request, visit_id, exc, correction_form=form)
    messages.success(request, gettext("Correction requested: a supervisor will review it."))
    return redirect(visit_url(visit_id, "corrections"))


# ---- the alarm (token-authenticated, no session, no CSRF) ---------------------------------------------------


def _posted(request) -> dict:
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            data = {}
        return data if isinstance(data, dict) else {}
    return request.POST


def _json_error(exc: DomainError) -> JsonResponse:
    return JsonResponse(exc.as_dict(), status=exc.status)


@csrf_exempt
@never_cache
@require_POST
def alarm(request):
    data = _posted(request)
    try:
        raised = safety.raise_alarm(token=str(data.get("token") or ""), latitude=data.get("latitude"),
                                    longitude=data.get("longitude"), accuracy=data.get("accuracy"),
                                    visit_id=data.get("visit"))
    except DomainError as exc:
        if "text/html" in request.headers.get("Accept", ""):
            return render(request, "homecare/nurse_alarm_sent.html", {
                "error": exc.message, "security_phone": settings.HOMECARE_SECURITY_PHONE}, status=exc.status)
        return _json_error(exc)
    body = {"alarm": {"id": raised.pk, "status": raised.status,
                      "located": raised.latitude is not None,
                      "raised_at": timezone.localtime(raised.raised_at).strftime("%H:%M:%S")},
            "message": gettext("Security alerted — help is coming")}
    # Without JavaScript the SOS button is a plain form: answer with a page that says the same.
    if "text/html" in request.headers.get("Accept", ""):
        return render(request, "homecare/nurse_alarm_sent.html", {
            "alarm": raised, "security_phone": settings.HOMECARE_SECURITY_PHONE}, status=201)
    return JsonResponse(body, status=201)


@never_cache
@require_GET
def alarm_status(request):
    """Whether someone has the nurse's alarm yet. The token's nurse only sees their own alarms."""
    try:
        nurse = safety.nurse_of_token(request.GET.get("token", ""))
    except DomainError as exc:
        return _json_error(exc)
    alarm_id = request.GET.get("id", "")
    found = (Alarm.objects.select_related("acknowledged_by", "resolved_by").filter(pk=int(alarm_id), nurse=nurse)
             .first() if alarm_id.isdigit() else None)
    if found is None:
        return _json_error(NotFound())
    return JsonResponse({
        "id": found.pk, "status": found.status,
        "acknowledged_by": found.acknowledged_by.real_name if found.acknowledged_by else "",
        "acknowledged_at": (timezone.localtime(found.acknowledged_at).strftime("%H:%M:%S")
                            if found.acknowledged_at else ""),
        "resolved": found.status == Alarm.Status.RESOLVED,
    })

