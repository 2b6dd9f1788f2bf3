"""Booking a home visit: the patient (or a proxy) chooses a service, an address on the map, a day and a window,
attaches documents and agrees to the informed consent. Nothing is created unless every check passes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from uuid import uuid4

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import CONSENT_VERSIONS, ConsentKind, User
from ihospital.accounts.selectors import patients_acted_for
from ihospital.accounts.services import give_consent
from ihospital.accounts.validation import normalise_mobile
from ihospital.core import audit
from ihospital.core.errors import Conflict, DomainError, NotFound
from ihospital.core.models import AuditAction
from ihospital.core.transitions import transition
from ihospital.records.models import Document

from . import eligibility, geocoding, realtime
from .assessing import end_claim
from .dispatch import release_visit
from .models import PATIENT_CANCELLABLE, NursingRequest, NursingService, RequestStatus
from .selectors import _denied, request_for
from .travel import metres


@dataclass(frozen=True)
class Located:
    latitude: float
    longitude: float
    label: str
    precision: str = ""  # the geocoder's (``geocoding.Place.precision``), or "pin"


def _parse_time(value, field: str) -> time:
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(str(value or "").strip())
    except ValueError:
        raise DomainError("invalid_window", _("Please give the time as HH:MM."), fields={field: value}) from None


def _parse_date(value) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value or "").strip())
    except ValueError:
        raise DomainError("invalid_date", _("Please choose a date."), fields={"preferred_date": value}) from None


def day_hours() -> tuple[time, time]:
    return time.fromisoformat(settings.HOMECARE_DAY_START), time.fromisoformat(settings.HOMECARE_DAY_END)


def check_when(service: NursingService, day, window_start, window_end, *, today: date | None = None
               ) -> tuple[date, time, time]:
    today = today or timezone.localdate()
    day = _parse_date(day)
    start, end = _parse_time(window_start, "window_start"), _parse_time(window_end, "window_end")
    # Tomorrow at the earliest: every request is assessed by a nurse before anyone is sent.
    if not (today < day <= today + timedelta(days=settings.HOMECARE_BOOKING_DAYS)):
        raise DomainError("date_out_of_range", _("Please choose a day from tomorrow to %(days)s days ahead.") % {
            "days": settings.HOMECARE_BOOKING_DAYS}, fields={"preferred_date": day.isoformat()})
    opens, closes = day_hours()
    if end <= start:
        raise DomainError("invalid_window", _("The window must end after it starts."),
                          fields={"window_end": end.isoformat("minutes")})
    finish = datetime.combine(day, start) + timedelta(minutes=service.duration_minutes)
    if start < opens or end > closes or finish.time() > closes or finish.date() != day:
        raise DomainError("invalid_window", _("Home visits are made between %(opens)s and %(closes)s.") % {
            "opens": opens.isoformat("minutes"), "closes": closes.isoformat("minutes")})
    if (datetime.combine(day, end) - datetime.combine(day, start)) < timedelta(hours=1):
        raise DomainError("window_too_short", _("Please give a window of at least one hour, so that a nurse can "
                                                "be planned for it."))
    return day, start, end


def locate(address: str, latitude=None, longitude=None) -> Located:
    """Map coordinates for an address: the phone's location or a pin when given, else the geocoder; inside the
    service area either way."""
    address = (address or "").strip()
    if not address:
        raise DomainError("address_required", _("Please give the address where the nurse should come."),
                          fields={"address": _("required")})
    if len(address) > 200:
        raise DomainError("invalid_address", _("The address is too long."), fields={"address": _("too long")})
    if latitude not in (None, "") and longitude not in (None, ""):
        try:
            lat, lng = float(latitude), float(longitude)
        except (TypeError, ValueError):
            lat = lng = 999.0
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise DomainError("invalid_coordinates", _("These map coordinates are not valid."))
        located = Located(lat, lng, gettext("map pin"), "pin")
    else:
        try:
            place = geocoding.geocoder().geocode(address)
        except geocoding.GeocoderUnavailable:
            place = None
        if place is None or not place.precise_enough:
            raise DomainError("address_not_found", _(
                "We could not find this address on the map precisely enough to send a nurse. Add the street or "
                "the residential estate, or put a pin on the map."), fields={"address": address})
        located = Located(place.latitude, place.longitude, place.label, place.precision)
    distance_km = metres(located.latitude, located.longitude, settings.HOMECARE_BASE_LATITUDE,
                         settings.HOMECARE_BASE_LONGITUDE) / 1000
    if distance_km > settings.HOMECARE_SERVICE_RADIUS_KM:
        raise DomainError("outside_service_area", _(
            "This address is %(km).0f km from the hospital; our nurses go up to %(limit).0f km.") % {
            "km": distance_km, "limit": settings.HOMECARE_SERVICE_RADIUS_KM})
    return located


def request_visit(
    *, actor: User, patient_id: int, service_code: str, group: str, address: str, preferred_date,
    window_start, window_end, contact_name: str, contact_phone: str, consent: bool, address_detail: str = "",
    latitude=None, longitude=None, condition_note: str = "", document_ids: list[int] | None = None,
    follow_up_of: int | None = None,
) -> NursingRequest:
    patient = patients_acted_for(actor).filter(pk=patient_id).first()
    if patient is None:
        # Booking for someone the actor may not act for: the same 404 as a made-up id, and audited.
        raise _denied(actor, "accounts.patientprofile", patient_id, patient_id)
    service = NursingService.objects.filter(code=service_code or "").first()
    if service is None:
        raise NotFound("service_not_found", _("There is no such service."))
    documents = list(Document.objects.filter(pk__in=document_ids or [], patient=patient, entered_in_error=False))
    if len(documents) != len(set(document_ids or [])):
        # Someone else's document id, or a made-up one: the same answer as "not there".
        raise NotFound("document_not_found", _("A chosen document was not found."))
    eligibility.check(patient=patient, service=service, group=group, documents=documents)
    day, start, end = check_when(service, preferred_date, window_start, window_end)
    where = locate(address, latitude, longitude)
    contact_name = (contact_name or "").strip() or patient.real_name
    phone = normalise_mobile(contact_phone or patient.user.phone or "")
    if not consent:
        raise DomainError("consent_required", _("Please read and agree to the informed consent to home nursing."),
                          fields={"consent": _("required")})
    previous = None
    if follow_up_of:
        previous = NursingRequest.objects.filter(pk=follow_up_of, patient=patient).first()
        if previous is None:
            raise NotFound()
    try:
        with transaction.atomic():
            req = NursingRequest.objects.create(
                # A unique placeholder that fits the column (24) until the row's id gives the real number.
                number=f"tmp-{uuid4().hex[:20]}", patient=patient, requested_by=actor,
                service=service, group=group, address=address.strip(), address_detail=(address_detail or "")[:100],
                latitude=where.latitude, longitude=where.longitude, geocoded_as=where.label[:200],
                contact_name=contact_name[:64], contact_phone=phone, preferred_date=day, window_start=start,
                window_end=end, condition_note=(condition_note or "").strip()[:2000],
                consent_version=CONSENT_VERSIONS[ConsentKind.HOME_NURSING], consented_at=timezone.now(),
                price_fen=service.price_fen, follow_up_of=previous,
            )
            req.number = f"HN{day:%Y%m%d}{req.pk:05d}"
            req.save(update_fields=["number"])
            req.documents.set(documents)
            give_consent(actor=actor, patient=patient, kind=ConsentKind.HOME_NURSING, subject=f"homecare:{req.pk}")
            audit.record(actor=actor, action=AuditAction.CREATE, obj=req, patient_id=patient.pk,
                         detail={"service": service.code, "group": group, "day": day.isoformat(),
                                 "documents": [d.pk for d in documents]})
            realtime.request_changed(req, assessors=True)
    except IntegrityError:
        raise Conflict("duplicate_request", _("%(service)s is already requested for this day.") % {
            "service": service.name}) from None
    return req


def cancel(*, actor: User, request_id: int, reason: str) -> NursingRequest:
    """The patient or a proxy cancels until the nurse sets out (after that, the office is called)."""
    req, role = request_for(actor, request_id, audit_read=False, roles=("patient",))
    # Too late while the nurse is on the way or in the home; a request already over is refused by the transition
    # ("it is completed"), not told that a nurse is coming.
    if req.status not in PATIENT_CANCELLABLE and req.is_open:
        raise Conflict("too_late_to_cancel", _("The nurse is already on the way; please call the home nursing "
                                               "office to cancel."))
    was_assessing = req.status == RequestStatus.ASSESSING
    with transaction.atomic():
        transition(req, RequestStatus.CANCELLED, actor=actor, reason=(reason or "")[:500],
                   status_reason=(reason or "")[:500])
        release_visit(req, actor=actor)
        if was_assessing:
            end_claim(req, actor=actor)
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=req, patient_id=req.patient_id,
                     detail={"cancelled": True})
        realtime.request_changed(req, assessors=True, dispatch=True)
    return req
