"""Booking a home visit, for the acting patient (their own record, or a relative's they act for): the form, the
"find on map" check of the address (``booking.locate``, drawn on a small map of the places around it, with no
map tiles from outside), documents from the chart or uploaded with the request, and the informed consent.

A refused booking changes nothing: the files uploaded with it are stored in the same transaction as the request
and removed again when the booking service says no, and the page comes back with what was typed and the
service's message (its stable code in ``data-code``).
"""

from __future__ import annotations

import math
from datetime import timedelta

import phonenumbers
from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from ihospital.accounts.acting import patient_page
from ihospital.accounts.models import CONSENT_VERSIONS, ConsentKind
from ihospital.core import audit
from ihospital.core.errors import DomainError, NotFound
from ihospital.core.models import AuditAction
from ihospital.core.pages import apply_domain_error
from ihospital.records import services as records
from ihospital.records import storage
from ihospital.records.models import Document, DocumentKind
from ihospital.records.selectors import patient_for

from . import booking, eligibility, geocoding
from .forms import BookingForm, hhmm
from .models import EligibleGroup, NursingService
from .views_patient import live_strings, own_request, page_error, patients_of, request_url

# Refusals name the service's argument; the form's field may be called differently.
FIELD_MAP = {"phone": "contact_phone", "kind": "evidence_kind"}
# The little map around a found address: its half-width in km (the height is 0.8 of the width).
MAP_HALF_KM = 1.5
MAP_PLACES = 6


def _service(code: str) -> NursingService:
    service = NursingService.objects.filter(code=code).first()
    if service is None:
        raise NotFound("service_not_found", _("There is no such service."))
    return service


def _ids(values) -> list[int]:
    """Ids ticked on the form; anything that is not a number becomes an id that cannot exist (the service's 404)."""
    return [int(v) if str(v).isdigit() else 0 for v in values if str(v).strip()]


def chart_documents(user, patient) -> list[Document]:
    """The patient's documents to choose from, through the chart's scope (a read of health data: audited)."""
    patient_for(user, patient.pk)
    audit.record(actor=user, action=AuditAction.READ, object_type="records.document", patient_id=patient.pk,
                 detail={"list": "homecare booking"})
    return list(Document.objects.filter(patient=patient, entered_in_error=False).order_by("-recorded_at")[:30])


def suggested_group(patient, service: NursingService) -> str:
    """The group the hospital can already see for the patient (pre-chosen; the booking service checks it)."""
    groups = [g for g in service.eligible_groups if g in EligibleGroup.values]
    age = patient.age()
    if EligibleGroup.MOTHER_NEWBORN in groups and age < 1:
        return EligibleGroup.MOTHER_NEWBORN
    discharged = eligibility.last_discharge(patient)
    if EligibleGroup.CONVALESCENT in groups and discharged and (
            timezone.localdate() - discharged).days <= settings.HOMECARE_DISCHARGE_DAYS:
        return EligibleGroup.CONVALESCENT
    if EligibleGroup.ELDERLY in groups and age >= settings.HOMECARE_ELDERLY_AGE:
        return EligibleGroup.ELDERLY
    return groups[0] if len(groups) == 1 else ""


def _follow_up_initial(request, service: NursingService, follow_up: str) -> tuple[dict, object]:
    """A nurse suggested a next visit after ``follow_up``: the same address and contact, the suggested day."""
    if not follow_up.isdigit():
        return {}, None
    previous = own_request(request, int(follow_up))
    initial = {
        "address": previous.address, "address_detail": previous.address_detail,
        "contact_name": previous.contact_name, "contact_phone": national(previous.contact_phone),
        "window_start": hhmm(previous.window_start), "window_end": hhmm(previous.window_end),
    }
    if previous.group in service.eligible_groups:
        initial["group"] = previous.group
    try:
        booking.locate(previous.address)
    except DomainError:
        # The first visit was found by a pin (or the phone's location): the same point again.
        initial.update(latitude=previous.latitude, longitude=previous.longitude)
    visit = getattr(previous, "visit", None)
    record = getattr(visit, "care_record", None) if visit else None
    if record is not None and record.next_in_days and visit.checked_out_at:
        day = timezone.localdate(visit.checked_out_at) + timedelta(days=record.next_in_days)
        first, last = _date_range()
        if first <= day <= last:
            initial["preferred_date"] = day.isoformat()
    return initial, previous


def national(phone: str) -> str:
    """A stored mobile number (+8613912345678) as people type it (13912345678)."""
    try:
        number = phonenumbers.parse(phone or "", "CN")
    except phonenumbers.NumberParseException:
        return phone or ""
    return str(number.national_number) if number.country_code == 86 else phone


def _date_range():
    today = timezone.localdate()
    return today + timedelta(days=1), today + timedelta(days=settings.HOMECARE_BOOKING_DAYS)


def _initial(request, patient, service: NursingService) -> tuple[dict, object]:
    user = request.user
    first, _last = _date_range()
    initial = {"group": suggested_group(patient, service), "contact_name": user.real_name,
               "contact_phone": national(user.phone or patient.user.phone), "preferred_date": first.isoformat(),
               "window_start": "09:00", "window_end": "12:00", "evidence_kind": DocumentKind.DISCHARGE_SUMMARY}
    follow, previous = _follow_up_initial(request, service, request.GET.get("follow_up", ""))
    return initial | follow, previous


# ---- the map ------------------------------------------------------------------------------------------------------


def _offset_km(lat: float, lng: float, lat0: float, lng0: float) -> tuple[float, float]:
    """East and north of (lat0, lng0) in km: flat-earth, fine at a few km."""
    return (lng - lng0) * 111.320 * math.cos(math.radians(lat0)), (lat - lat0) * 110.574


def _place_name(names: tuple[str, ...]) -> str:
    if not (get_language() or "").startswith("zh"):
        for alias in names[1:]:
            if alias.isascii():
                return alias
    return names[0]


def place_map(lat: float, lng: float) -> dict:
    """Where a point is, drawn in a 100×80 box around it: known places nearby and the hospital when close."""
    half_w, half_h = MAP_HALF_KM, MAP_HALF_KM * 0.8

    def box(plat, plng):
        east, north = _offset_km(plat, plng, lat, lng)
        if abs(east) > half_w * 0.92 or abs(north) > half_h * 0.9:
            return None
        # SVG coordinates as text: a localised number could have a decimal comma.
        return f"{50 + east / half_w * 50:.2f}", f"{40 - north / half_h * 40:.2f}", math.hypot(east, north)

    base = (settings.HOMECARE_BASE_LATITUDE, settings.HOMECARE_BASE_LONGITUDE)
    places = []
    book = geocoding.geocoder()
    for entry in getattr(book, "entries", ()):
        # Districts are too coarse to show; a place under the pin or under the hospital's mark would hide it.
        if entry.level == "district" or math.hypot(*_offset_km(entry.latitude, entry.longitude, *base)) < 0.15:
            continue
        spot = box(entry.latitude, entry.longitude)
        if spot is not None and spot[2] > 0.05:
            places.append({"x": spot[0], "y": spot[1], "d": spot[2], "name": _place_name(entry.names),
                           "street": entry.level == "street"})
    places = sorted(places, key=lambda p: p["d"])[:MAP_PLACES]
    hospital = box(*base)
    east, north = _offset_km(lat, lng, *base)
    return {"places": places,
            "hospital": {"x": hospital[0], "y": hospital[1], "left": f"{float(hospital[0]) - 2.5:.2f}",
                         "top": f"{float(hospital[1]) - 2.5:.2f}"} if hospital else None,
            "km": f"{math.hypot(east, north):.1f}", "scale_km": 1, "scale_end": f"{4 + 50 / half_w:.2f}"}


def located_context(address: str, latitude, longitude) -> dict:
    try:
        where = booking.locate(address, latitude, longitude)
    except DomainError as exc:
        return {"locate_error": page_error(exc), "locate_status": exc.status}
    return {"located": {"label": where.label, "latitude": f"{where.latitude:.5f}",
                        "longitude": f"{where.longitude:.5f}", "map": place_map(where.latitude, where.longitude),
                        "pinned": where.precision == "pin"},
            "locate_status": 200}


def _places() -> list[dict]:
    """Suggestions for the address field from the built-in address book (none with another geocoder)."""
    book = geocoding.geocoder()
    return [{"value": f"太原市{e.district}{e.names[0]}" if e.level != "district" else f"太原市{e.names[0]}",
             "label": _place_name(e.names)} for e in getattr(book, "entries", ())]


# ---- the pages ----------------------------------------------------------------------------------------------------


def _book_page(request, patient, service, form, *, status: int = 200, previous=None, **extra):
    first, last = _date_range()
    form.fields["preferred_date"].widget.attrs.update(min=first.isoformat(), max=last.isoformat())
    chosen = set(_ids(request.POST.getlist("documents"))) if request.method == "POST" else set()
    context = {
        "service": service, "patient": patient, "patients": patients_of(request.user), "form": form,
        "groups": form.group_options(), "documents": chart_documents(request.user, patient), "chosen": chosen,
        "places": _places(), "consent_version": CONSENT_VERSIONS[ConsentKind.HOME_NURSING],
        "previous": previous, "follow_up": previous.pk if previous else request.POST.get("follow_up", ""),
        "first_day": first, "last_day": last, "live": live_strings(),
        "day_start": settings.HOMECARE_DAY_START, "day_end": settings.HOMECARE_DAY_END,
    }
    context.update(extra)
    return render(request, "homecare/patient_book.html", context, status=status)


@require_http_methods(["GET", "POST"])
@patient_page
def book(request, patient, code: str):
    service = _service(code)
    if request.method == "GET":
        initial, previous = _initial(request, patient, service)
        form = BookingForm(initial=initial, service=service)
        unavailable = None if service.active else {"code": "service_unavailable",
                                                   "message": _("This service is not offered at the moment.")}
        return _book_page(request, patient, service, form, previous=previous, page_error=unavailable)

    form = BookingForm(request.POST, request.FILES, service=service)
    attached = bool(request.FILES)
    if not form.is_valid():
        error = {"code": "invalid_form", "message": _("Please correct the marked fields.")}
        return _book_page(request, patient, service, form, status=400, page_error=error, files_lost=attached)
    data = form.cleaned_data
    follow_up = request.POST.get("follow_up", "")
    stored: list[Document] = []
    try:
        with transaction.atomic():
            uploads = (("evidence_file", data.get("evidence_kind") or DocumentKind.DISCHARGE_SUMMARY),
                       ("photo_file", DocumentKind.IMAGE))
            for name, kind in uploads:
                if data.get(name):
                    try:
                        stored.append(records.upload_document(actor=request.user, patient_id=patient.pk, kind=kind,
                                                              title="", file=data[name]))
                    except DomainError as exc:
                        if "file" in exc.fields:  # which of the two files it was
                            exc.fields = {name: exc.fields["file"]}
                        raise
            req = booking.request_visit(
                actor=request.user, patient_id=patient.pk, service_code=service.code, consent=data.get("consent"),
                document_ids=_ids(request.POST.getlist("documents")) + [d.pk for d in stored],
                follow_up_of=int(follow_up) if follow_up.isdigit() else None, **form.values())
    except DomainError as exc:
        for doc in stored:  # their rows were rolled back with the refusal; the files go too
            storage.discard(doc.storage_name)
        if isinstance(exc, NotFound):
            raise
        apply_domain_error(form, exc, FIELD_MAP)
        return _book_page(request, patient, service, form, status=exc.status, page_error=page_error(exc),
                          error_fields=set(exc.fields), files_lost=attached)
    messages.success(request, _("Request %(number)s is sent. A nurse of the hospital assesses it first, usually "
                                "within one working day; this page changes as soon as it is accepted.") % {
        "number": req.number})
    return redirect(request_url(req.pk))


@require_POST
@patient_page
def locate(request, patient, code: str):
    """"Find on map": where the address (or the phone's location) is, or why it cannot be used. htmx swaps the
    answer into the form; without JavaScript the whole form comes back with it."""
    service = _service(code)
    context = located_context(request.POST.get("address", ""), request.POST.get("latitude"),
                              request.POST.get("longitude"))
    status = context["locate_status"]
    if request.htmx:
        return render(request, "homecare/_patient_locate.html", context, status=status)
    form = BookingForm(request.POST, service=service)
    return _book_page(request, patient, service, form, status=status, **context)
