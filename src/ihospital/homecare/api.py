"""The JSON API of home nursing under ``/api/homecare/``: one selector or service call per endpoint.

* Everyone signed in: the catalogue (``services``), where an address is on the map (``geocode``).
* Patients and their proxies: book (``requests``), their requests, one request, cancel, confirm the visit, pay,
  rate.
* Home-care nurses: the day's route, one visit (with its EVV facts), set out (or turn back), check in, the care
  record, check out, corrections of a closed record; as assessors: the worklist, claim, release, the assessment.
* Dispatchers: the day board, shifts, the optimiser's proposal and accepting it, assigning and unassigning by
  hand, cancelling for the hospital.
* Security: the open alarms, acknowledge, resolve. (The nurse's alarm button is a page with its own token.)
* Administrators: block a patient who endangered a nurse, lift the block.

Reads go through the scoped selectors (``selectors.request_for`` and friends): an id the caller may not see
answers 404 exactly like one that does not exist, and the attempt is audited. What a request looks like depends
on the caller's role on it (``role`` in the answer): patients see their nurse's name, title and planned time but
never the nurse's phone; dispatchers see where and when but no clinical notes, documents or care record.
Refusals are ``{"error": {"code", "message", "fields"?}}`` with a 4xx status, in the Accept-Language's language
(see ``ihospital.api``); each endpoint's docstring lists its codes beyond ``not_found`` (404), ``invalid_input``
(422, the schema) and ``not_authenticated`` (401).
"""

from __future__ import annotations

from datetime import date, datetime, time

from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from ninja import Router, Schema, Status

from ihospital.core.errors import Conflict, DomainError, NotFound
from ihospital.core.transitions import timeline

from . import assessing, billing, booking, dispatch, geocoding, safety, selectors, visiting
from .models import (
    Alarm,
    CareRecord,
    DeclineReason,
    DispatchPlan,
    EligibleGroup,
    NurseVisit,
    NursingRequest,
    NursingService,
    Shift,
)

router = Router(tags=["homecare"])

# What each role on a request may see beyond where and when (selectors.role_for_request names the roles).
CLINICAL_ROLES = ("nurse", "assessor", "supervisor")


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _chinese() -> bool:
    return (get_language() or "").startswith("zh")


# ---- schemas: the catalogue and the map --------------------------------------------------------------------------


class ConsumableOut(Schema):
    code: str
    name: str
    qty: int
    price_fen: int


class ServiceOut(Schema):
    code: str
    name: str
    name_zh: str
    name_en: str
    description: str
    duration_minutes: int
    price_fen: int
    price_yuan: str
    skill: str
    skill_label: str
    min_title: str
    min_title_label: str
    min_years: int
    needs_doctor_order: bool
    eligible_groups: list[str]
    eligible_group_labels: list[str]
    consumables: list[ConsumableOut]

    @staticmethod
    def resolve_price_yuan(obj: NursingService) -> str:
        return _yuan(obj.price_fen)

    @staticmethod
    def resolve_skill_label(obj: NursingService) -> str:
        return str(obj.get_skill_display())

    @staticmethod
    def resolve_min_title_label(obj: NursingService) -> str:
        return str(obj.get_min_title_display())

    @staticmethod
    def resolve_eligible_group_labels(obj: NursingService) -> list[str]:
        return [str(EligibleGroup(g).label) for g in obj.eligible_groups if g in EligibleGroup.values]

    @staticmethod
    def resolve_consumables(obj: NursingService) -> list[dict]:
        return [_consumable(c) for c in obj.consumables]


class ServiceBriefOut(Schema):
    code: str
    name: str
    duration_minutes: int
    skill: str


def _consumable(item: dict) -> dict:
    return {"code": item["code"], "name": item["zh"] if _chinese() else (item.get("en") or item["zh"]),
            "qty": item["qty"], "price_fen": item.get("price_fen", 0)}


def _service(service: NursingService) -> dict:
    return {"code": service.code, "name": service.name, "duration_minutes": service.duration_minutes,
            "skill": service.skill}


class GeocodeIn(Schema):
    address: str
    latitude: float | None = None
    longitude: float | None = None


class GeocodeOut(Schema):
    label: str
    latitude: float
    longitude: float
    precision: str


# ---- schemas: requests -------------------------------------------------------------------------------------------


class RequestIn(Schema):
    patient_id: int
    service_code: str
    group: str
    address: str
    address_detail: str = ""
    latitude: float | None = None
    longitude: float | None = None
    preferred_date: date
    window_start: time
    window_end: time
    contact_name: str = ""
    contact_phone: str = ""
    consent: bool = False
    condition_note: str = ""
    document_ids: list[int] = []
    follow_up_of: int | None = None


class NurseOut(Schema):
    id: int
    name: str
    title: str
    title_label: str
    # Only for staff: a patient reaches the hospital's office, never a nurse's own phone.
    phone: str | None = None


class DocumentOut(Schema):
    id: int
    kind: str
    title: str


class AssessmentOut(Schema):
    accepted: bool | None
    decided_at: datetime | None
    decline_reason: str
    decline_reason_label: str
    consumables: list[ConsumableOut] | None = None
    two_nurses: bool | None = None
    risk: str | None = None
    home_suitable: bool | None = None
    notes: str | None = None
    nurse_name: str | None = None


class VisitBriefOut(Schema):
    id: int
    nurse: NurseOut
    second_nurse: NurseOut | None
    day: date
    planned_start: datetime
    planned_end: datetime
    set_out_at: datetime | None
    checked_in_at: datetime | None
    checked_out_at: datetime | None
    confirmed_at: datetime | None
    disputed: bool
    flagged: bool | None = None


class CareRecordOut(Schema):
    id: int
    vitals: dict[str, float]
    procedure_notes: str
    consumables_used: list[ConsumableOut]
    photo_ids: list[int]
    next_service_code: str | None
    next_service_name: str | None
    next_in_days: int | None
    next_note: str
    recorded_by_name: str
    recorded_at: datetime
    version: int


class RatingOut(Schema):
    stars: int
    comment: str
    rated_at: datetime
    rated_by_name: str


class TimelineOut(Schema):
    from_status: str
    to_status: str
    actor_name: str | None
    reason: str
    at: datetime


class RequestOut(Schema):
    id: int
    number: str
    role: str
    status: str
    status_label: str
    status_reason: str
    patient_id: int
    patient_name: str
    patient_age: int | None
    patient_sex: str | None
    requested_by_name: str
    service: ServiceBriefOut
    group: str
    group_label: str
    preferred_date: date
    window_start: time
    window_end: time
    address: str
    address_detail: str
    latitude: float
    longitude: float
    geocoded_as: str
    contact_name: str
    contact_phone: str
    condition_note: str | None
    documents: list[DocumentOut] | None
    price_fen: int
    consumables_fen: int
    total_fen: int
    total_yuan: str
    paid_at: datetime | None
    follow_up_of: int | None
    created_at: datetime
    assessment: AssessmentOut | None
    visit: VisitBriefOut | None
    care_record: CareRecordOut | None
    rating: RatingOut | None
    timeline: list[TimelineOut]


class RequestSummaryOut(Schema):
    id: int
    number: str
    status: str
    status_label: str
    service: ServiceBriefOut
    preferred_date: date
    window_start: time
    window_end: time
    address: str
    nurse: NurseOut | None
    planned_start: datetime | None
    planned_end: datetime | None
    total_fen: int
    paid_at: datetime | None
    rated: bool
    created_at: datetime


class ReasonIn(Schema):
    reason: str = ""


class ConfirmIn(Schema):
    disputed: bool = False
    note: str = ""


class PayOut(Schema):
    url: str


class RatingIn(Schema):
    stars: int
    comment: str = ""


# ---- schemas: the visit ------------------------------------------------------------------------------------------


class LocationIn(Schema):
    latitude: float | None = None
    longitude: float | None = None
    accuracy: float | None = None


class LocationOut(Schema):
    latitude: float | None
    longitude: float | None
    accuracy_m: float | None
    distance_m: float | None


class ConsumableIn(Schema):
    code: str
    qty: int


class RecordIn(Schema):
    vitals: dict[str, float | None] = {}
    procedure_notes: str = ""
    consumables_used: list[ConsumableIn] = []
    photo_ids: list[int] = []
    next_service_code: str = ""
    next_in_days: int | None = None
    next_note: str = ""


class CorrectionIn(Schema):
    """The reason and only the fields that change (as in ``RecordIn``)."""

    reason: str
    vitals: dict[str, float | None] | None = None
    procedure_notes: str | None = None
    consumables_used: list[ConsumableIn] | None = None
    next_service_code: str | None = None
    next_in_days: int | None = None
    next_note: str | None = None


class CorrectionOut(Schema):
    id: int
    status: str
    status_label: str
    reason: str
    changes: dict
    before: dict
    requested_at: datetime
    decided_at: datetime | None


class EvvPlaceOut(Schema):
    latitude: float
    longitude: float
    check_in: list[float | None]
    check_out: list[float | None]


class EvvOut(Schema):
    """The six facts of electronic visit verification: service, recipient, date, place, nurse, start and end."""

    service: str
    recipient: int
    date: date
    place: EvvPlaceOut
    nurse: int
    second_nurse: int | None
    start: datetime | None
    end: datetime | None


class VisitOut(Schema):
    id: int
    request_id: int
    number: str
    role: str
    status: str
    status_label: str
    service: ServiceBriefOut
    patient_name: str
    address: str
    address_detail: str
    latitude: float
    longitude: float
    contact_name: str
    contact_phone: str
    two_nurses: bool
    nurse: NurseOut
    second_nurse: NurseOut | None
    day: date
    planned_start: datetime
    planned_end: datetime
    travel_seconds: int
    set_out_at: datetime | None
    checked_in_at: datetime | None
    checked_out_at: datetime | None
    check_in: LocationOut | None
    check_out: LocationOut | None
    flagged: bool | None
    flag_reasons: list[str] | None
    confirmed_at: datetime | None
    disputed: bool
    dispute_note: str
    evv: EvvOut
    care_record: CareRecordOut | None


class RouteStopOut(Schema):
    visit_id: int
    request_id: int
    number: str
    status: str
    status_label: str
    service: ServiceBriefOut
    patient_name: str
    address: str
    address_detail: str
    latitude: float
    longitude: float
    contact_name: str
    contact_phone: str
    nurse: NurseOut
    second_nurse: NurseOut | None
    two_nurses: bool
    planned_start: datetime
    planned_end: datetime
    travel_seconds: int
    set_out_at: datetime | None
    checked_in_at: datetime | None
    checked_out_at: datetime | None


# ---- schemas: assessment -----------------------------------------------------------------------------------------


class WorklistItemOut(Schema):
    id: int
    number: str
    status: str
    service: ServiceBriefOut
    group: str
    group_label: str
    preferred_date: date
    window_start: time
    window_end: time
    district: str
    # Only on the requests the nurse is assessing: who it is for (the waiting ones show no one's name).
    patient_name: str | None
    can_claim: bool
    refusal: str | None


class WorklistOut(Schema):
    waiting: list[WorklistItemOut]
    mine: list[WorklistItemOut]


class AssessmentIn(Schema):
    accept: bool
    risk: str = ""
    home_suitable: bool | None = None
    eligibility_confirmed: bool = False
    consumables: list[ConsumableIn] | None = None
    two_nurses: bool = False
    notes: str = ""
    decline_reason: str = ""


# ---- schemas: dispatch -------------------------------------------------------------------------------------------


class ShiftIn(Schema):
    nurse_id: int
    day: date
    starts: time
    ends: time


class ShiftOut(Schema):
    id: int
    nurse_id: int
    nurse_name: str
    day: date
    starts: time
    ends: time
    base_latitude: float | None
    base_longitude: float | None

    @staticmethod
    def resolve_nurse_name(obj: Shift) -> str:
        return obj.nurse.real_name

    @staticmethod
    def resolve_base_latitude(obj: Shift) -> float | None:
        profile = getattr(obj.nurse, "home_nurse", None)
        return profile.base_latitude if profile else None

    @staticmethod
    def resolve_base_longitude(obj: Shift) -> float | None:
        profile = getattr(obj.nurse, "home_nurse", None)
        return profile.base_longitude if profile else None


class PlanIn(Schema):
    day: date


class PlanStopOut(Schema):
    request: int
    start: int
    end: int
    travel: int
    pinned: bool


class PlanOut(Schema):
    """A proposal: per nurse (user id) the stops in order, start and end in seconds after local midnight."""

    id: int
    day: date
    status: str
    solver: str
    routes: dict[str, list[PlanStopOut]]
    unassigned: dict[str, str]
    travel_seconds: int
    greedy_travel_seconds: int | None
    elapsed_ms: int
    created_at: datetime


class AcceptedPlanOut(Schema):
    plan: PlanOut
    visits: list[RouteStopOut]


class BoardRequestOut(Schema):
    id: int
    number: str
    service: ServiceBriefOut
    patient_name: str
    address: str
    latitude: float
    longitude: float
    window_start: time
    window_end: time
    two_nurses: bool


class BoardOut(Schema):
    day: date
    waiting: list[BoardRequestOut]
    visits: list[RouteStopOut]
    shifts: list[ShiftOut]
    plan: PlanOut | None


class AssignIn(Schema):
    nurse_id: int
    start: time
    second_nurse_id: int | None = None


# ---- schemas: security and administration ------------------------------------------------------------------------


class AlarmOut(Schema):
    id: int
    kind: str
    kind_label: str
    status: str
    raised_at: str
    nurse: str
    nurse_phone: str
    latitude: float | None
    longitude: float | None
    accuracy_m: float | None
    visit: str
    address: str
    visit_latitude: float | None
    visit_longitude: float | None
    patient: str
    contact_phone: str
    service: str
    repeats: int
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    resolution: str


class ResolveIn(Schema):
    resolution: str


class BlockIn(Schema):
    patient_id: int
    reason: str


class BlockOut(Schema):
    id: int
    patient_id: int
    reason: str
    blocked_by_name: str
    blocked_at: datetime
    lifted_at: datetime | None
    lifted_by_name: str | None
    lift_reason: str


# ---- how objects look to each role -------------------------------------------------------------------------------


def _nurse(user, *, staff: bool) -> dict | None:
    if user is None:
        return None
    practitioner = getattr(user, "practitioner", None)
    profile = getattr(user, "home_nurse", None)
    return {
        "id": user.pk, "name": user.real_name,
        "title": practitioner.title if practitioner else "",
        "title_label": str(practitioner.get_title_display()) if practitioner else "",
        "phone": ((profile.phone if profile else "") or user.phone or "") if staff else None,
    }


def _two_nurses(req: NursingRequest) -> bool:
    assessment = getattr(req, "assessment", None)
    return bool(assessment and assessment.two_nurses)


def _visit_of(req: NursingRequest) -> NurseVisit | None:
    return NurseVisit.objects.select_related("nurse__practitioner", "nurse__home_nurse", "second_nurse__practitioner",
                                             "second_nurse__home_nurse").filter(request=req).first()


def _assessment(req: NursingRequest, role: str) -> dict | None:
    a = getattr(req, "assessment", None)
    if a is None:
        return None
    label = str(DeclineReason(a.decline_reason).label) if a.decline_reason in DeclineReason.values else ""
    view = {"accepted": a.accepted, "decided_at": a.decided_at, "decline_reason": a.decline_reason,
            "decline_reason_label": label}
    if role == "patient":
        # What they will pay for, and the decision; the assessor's notes are the hospital's.
        view["consumables"] = [_consumable(c) for c in a.consumables]
    elif role == "dispatcher":
        view |= {"two_nurses": a.two_nurses, "risk": a.risk}
    else:
        view |= {"consumables": [_consumable(c) for c in a.consumables], "two_nurses": a.two_nurses,
                 "risk": a.risk, "home_suitable": a.home_suitable, "notes": a.notes, "nurse_name": a.nurse.real_name}
    return view


def _record(visit: NurseVisit | None) -> dict | None:
    record = CareRecord.objects.select_related("next_service", "recorded_by").filter(visit=visit).first() if visit \
        else None
    if record is None:
        return None
    assessment = getattr(visit.request, "assessment", None)
    planned = {c["code"]: c for c in visit.request.service.consumables} | {
        c["code"]: c for c in (assessment.consumables if assessment else [])}
    used = [_consumable({**planned.get(u["code"], {"zh": u["code"], "en": u["code"]}), "code": u["code"],
                         "qty": u["qty"]}) for u in record.consumables_used]
    return {
        "id": record.pk, "vitals": record.vitals, "procedure_notes": record.procedure_notes,
        "consumables_used": used, "photo_ids": sorted(p.pk for p in record.photos.all()),
        "next_service_code": record.next_service.code if record.next_service else None,
        "next_service_name": record.next_service.name if record.next_service else None,
        "next_in_days": record.next_in_days, "next_note": record.next_note,
        "recorded_by_name": record.recorded_by.real_name, "recorded_at": record.recorded_at,
        "version": record.version,
    }


def _brief_visit(visit: NurseVisit | None, role: str) -> dict | None:
    if visit is None:
        return None
    staff = role != "patient"
    return {
        "id": visit.pk, "nurse": _nurse(visit.nurse, staff=staff),
        "second_nurse": _nurse(visit.second_nurse, staff=staff), "day": visit.day,
        "planned_start": visit.planned_start, "planned_end": visit.planned_end, "set_out_at": visit.set_out_at,
        "checked_in_at": visit.checked_in_at, "checked_out_at": visit.checked_out_at,
        "confirmed_at": visit.confirmed_at, "disputed": visit.disputed, "flagged": visit.flagged if staff else None,
    }


def _rating(req: NursingRequest) -> dict | None:
    rating = getattr(req, "rating", None)
    if rating is None:
        return None
    return {"stars": rating.stars, "comment": rating.comment, "rated_at": rating.rated_at,
            "rated_by_name": rating.rated_by.real_name}


def _timeline(obj, role: str) -> list[dict]:
    # The reasons are the staff's notes ("claimed for assessment", "patient blocked"); patients read
    # ``status_reason``, which is written for them.
    return [{"from_status": e.from_status, "to_status": e.to_status,
             "actor_name": e.actor.real_name if e.actor_id else None,
             "reason": "" if role == "patient" else e.reason, "at": e.at}
            for e in timeline(obj).select_related("actor").order_by("at", "pk")]


def _request_view(req: NursingRequest, role: str) -> dict:
    req.refresh_from_db()
    visit = _visit_of(req)
    clinical = role == "patient" or role in CLINICAL_ROLES
    patient = req.patient
    return {
        "id": req.pk, "number": req.number, "role": role, "status": req.status,
        "status_label": str(req.get_status_display()), "status_reason": req.status_reason,
        "patient_id": req.patient_id, "patient_name": patient.real_name,
        "patient_age": patient.age() if clinical else None, "patient_sex": patient.sex if clinical else None,
        "requested_by_name": req.requested_by.real_name, "service": _service(req.service), "group": req.group,
        "group_label": str(req.get_group_display()), "preferred_date": req.preferred_date,
        "window_start": req.window_start, "window_end": req.window_end, "address": req.address,
        "address_detail": req.address_detail, "latitude": req.latitude, "longitude": req.longitude,
        "geocoded_as": req.geocoded_as, "contact_name": req.contact_name, "contact_phone": req.contact_phone,
        "condition_note": req.condition_note if clinical else None,
        "documents": [{"id": d.pk, "kind": d.kind, "title": d.title} for d in req.documents.all()] if clinical
        else None,
        "price_fen": req.price_fen, "consumables_fen": req.consumables_fen, "total_fen": req.total_fen,
        "total_yuan": _yuan(req.total_fen), "paid_at": req.paid_at, "follow_up_of": req.follow_up_of_id,
        "created_at": req.created_at, "assessment": _assessment(req, role), "visit": _brief_visit(visit, role),
        "care_record": _record(visit) if clinical else None, "rating": _rating(req),
        "timeline": _timeline(req, role),
    }


def _summary(req: NursingRequest) -> dict:
    visit = getattr(req, "visit", None)
    return {
        "id": req.pk, "number": req.number, "status": req.status, "status_label": str(req.get_status_display()),
        "service": _service(req.service), "preferred_date": req.preferred_date, "window_start": req.window_start,
        "window_end": req.window_end, "address": req.address,
        "nurse": _nurse(visit.nurse, staff=False) if visit else None,
        "planned_start": visit.planned_start if visit else None, "planned_end": visit.planned_end if visit else None,
        "total_fen": req.total_fen, "paid_at": req.paid_at, "rated": hasattr(req, "rating"),
        "created_at": req.created_at,
    }


def _location(lat, lng, acc, distance) -> dict | None:
    if lat is None and distance is None:
        return None
    return {"latitude": lat, "longitude": lng, "accuracy_m": acc, "distance_m": distance}


def _visit_view(visit: NurseVisit, role: str) -> dict:
    visit.refresh_from_db()
    req = visit.request
    req.refresh_from_db()
    staff = role != "patient"
    checked = visit.checked_in_at is not None
    return {
        "id": visit.pk, "request_id": req.pk, "number": req.number, "role": role, "status": req.status,
        "status_label": str(req.get_status_display()), "service": _service(req.service),
        "patient_name": req.patient.real_name, "address": req.address, "address_detail": req.address_detail,
        "latitude": req.latitude, "longitude": req.longitude, "contact_name": req.contact_name,
        "contact_phone": req.contact_phone, "two_nurses": _two_nurses(req),
        "nurse": _nurse(visit.nurse, staff=staff), "second_nurse": _nurse(visit.second_nurse, staff=staff),
        "day": visit.day, "planned_start": visit.planned_start, "planned_end": visit.planned_end,
        "travel_seconds": visit.travel_seconds, "set_out_at": visit.set_out_at,
        "checked_in_at": visit.checked_in_at, "checked_out_at": visit.checked_out_at,
        "check_in": _location(visit.check_in_latitude, visit.check_in_longitude, visit.check_in_accuracy_m,
                              visit.check_in_distance_m) if staff and checked else None,
        "check_out": _location(visit.check_out_latitude, visit.check_out_longitude, visit.check_out_accuracy_m,
                               visit.check_out_distance_m) if staff and visit.checked_out_at else None,
        "flagged": visit.flagged if staff else None, "flag_reasons": list(visit.flag_reasons) if staff else None,
        "confirmed_at": visit.confirmed_at, "disputed": visit.disputed, "dispute_note": visit.dispute_note,
        "evv": visiting.evv(visit),
        "care_record": _record(visit) if role != "dispatcher" else None,
    }


def _stop(visit: NurseVisit) -> dict:
    """A visit on a route or the day board: where, when, who; no clinical detail."""
    req = visit.request
    return {
        "visit_id": visit.pk, "request_id": req.pk, "number": req.number, "status": req.status,
        "status_label": str(req.get_status_display()), "service": _service(req.service),
        "patient_name": req.patient.real_name, "address": req.address, "address_detail": req.address_detail,
        "latitude": req.latitude, "longitude": req.longitude, "contact_name": req.contact_name,
        "contact_phone": req.contact_phone, "nurse": _nurse(visit.nurse, staff=True),
        "second_nurse": _nurse(visit.second_nurse, staff=True),
        "two_nurses": _two_nurses(req),
        "planned_start": visit.planned_start, "planned_end": visit.planned_end,
        "travel_seconds": visit.travel_seconds, "set_out_at": visit.set_out_at,
        "checked_in_at": visit.checked_in_at, "checked_out_at": visit.checked_out_at,
    }


def _district(req: NursingRequest) -> str:
    """The district of the address, for lists any home-care nurse may read (never the street or the estate)."""
    text = f"{req.geocoded_as} {req.address}"
    for entry in geocoding.AddressBook().entries:
        if entry.level == "district" and entry.names[0] in text:
            return entry.names[0]
    return ""


def _worklist_item(req: NursingRequest, user, *, mine: bool) -> dict:
    refusal = None if mine else assessing.qualification_refusal(user, req.service)
    return {
        "id": req.pk, "number": req.number, "status": req.status, "service": _service(req.service),
        "group": req.group, "group_label": str(req.get_group_display()), "preferred_date": req.preferred_date,
        "window_start": req.window_start, "window_end": req.window_end, "district": _district(req),
        "patient_name": req.patient.real_name if mine else None, "can_claim": not mine and refusal is None,
        "refusal": refusal,
    }


def _alarm(alarm: Alarm) -> dict:
    return {**safety.payload(alarm),
            "acknowledged_by": alarm.acknowledged_by.real_name if alarm.acknowledged_by_id else None,
            "acknowledged_at": alarm.acknowledged_at, "resolved_at": alarm.resolved_at,
            "resolution": alarm.resolution}


def _block(row) -> dict:
    return {"id": row.pk, "patient_id": row.patient_id, "reason": row.reason,
            "blocked_by_name": row.blocked_by.real_name, "blocked_at": row.blocked_at, "lifted_at": row.lifted_at,
            "lifted_by_name": row.lifted_by.real_name if row.lifted_by_id else None, "lift_reason": row.lift_reason}


def _correction(row) -> dict:
    return {"id": row.pk, "status": row.status, "status_label": str(row.get_status_display()),
            "reason": row.reason, "changes": row.changes, "before": row.before, "requested_at": row.requested_at,
            "decided_at": row.decided_at}


def _own_request(user, request_id: int, *roles: str) -> NursingRequest:
    """The request when the caller has one of ``roles`` on it; else the selectors' audited 404."""
    return selectors.request_for(user, request_id, audit_read=False, roles=roles)[0]


# ---- the catalogue and the map -----------------------------------------------------------------------------------


@router.get("/services", response=list[ServiceOut])
def services(request):
    """The services on offer (active ones), in the catalogue's order."""
    return list(selectors.catalogue())


@router.get("/services/{code}", response=ServiceOut)
def service(request, code: str):
    """One service. ``service_not_found`` (404) for an unknown or retired code."""
    found = selectors.catalogue().filter(code=code).first()
    if found is None:
        raise NotFound("service_not_found", _("There is no such service."))
    return found


@router.post("/geocode", response=GeocodeOut)
def geocode(request, payload: GeocodeIn):
    """Where a nurse would be sent for this address (or this pin), as booking decides it.

    422: ``address_required``, ``invalid_address``, ``address_not_found`` (unknown, or only a district),
    ``invalid_coordinates``, ``outside_service_area``."""
    try:
        where = booking.locate(payload.address, payload.latitude, payload.longitude)
    except DomainError as error:
        # The text was well formed but cannot be placed: unprocessable, whatever booking's own status.
        error.status = 422
        raise
    return {"label": where.label, "latitude": where.latitude, "longitude": where.longitude,
            "precision": where.precision}


# ---- the patient and their proxies -------------------------------------------------------------------------------


@router.post("/requests", response={201: RequestOut})
def request_visit(request, payload: RequestIn):
    """Book a home visit for ``patient_id`` (the caller or someone they act for).

    404: ``not_found`` (a patient the caller does not act for), ``service_not_found``, ``document_not_found``.
    403: ``patient_blocked``, ``no_hospital_record``. 409: ``duplicate_request``. 400: ``service_unavailable``,
    ``invalid_group``, ``service_not_for_group``, ``not_elderly``, ``not_recently_discharged``,
    ``evidence_required``, ``not_mother_or_newborn``, ``date_out_of_range``, ``invalid_window``,
    ``window_too_short``, ``address_required``, ``invalid_address``, ``address_not_found``,
    ``invalid_coordinates``, ``outside_service_area``, ``invalid_phone``, ``consent_required``."""
    req = booking.request_visit(actor=request.auth, **payload.dict())
    return Status(201, _request_view(req, "patient"))


@router.get("/requests", response=list[RequestSummaryOut])
def requests_of_patient(request, patient_id: int):
    """The patient's requests, newest first. 404 for a patient the caller does not act for."""
    return [_summary(r) for r in selectors.requests_of_patient(request.auth, patient_id)[:200]]


@router.get("/requests/{request_id}", response=RequestOut)
def get_request(request, request_id: int):
    """One request, as the caller's role on it sees it (``role``: patient, assessor, nurse, dispatcher,
    supervisor). 404 for anyone else."""
    req, role = selectors.request_for(request.auth, request_id)
    return _request_view(req, role)


@router.post("/requests/{request_id}/cancel", response=RequestOut)
def cancel(request, request_id: int, payload: ReasonIn):
    """The patient or a proxy cancels. 409: ``too_late_to_cancel`` (the nurse has set out), ``invalid_transition``,
    ``stale_status``."""
    req = booking.cancel(actor=request.auth, request_id=request_id, reason=payload.reason)
    return _request_view(req, "patient")


@router.post("/requests/{request_id}/confirm", response=VisitOut)
def confirm(request, request_id: int, payload: ConfirmIn):
    """The patient or a proxy confirms the service was given, or disputes it (``disputed`` with a ``note``).
    409: ``not_completed``, ``already_confirmed``. 400: ``dispute_note_required``."""
    req = _own_request(request.auth, request_id, "patient")
    visit = NurseVisit.objects.filter(request=req).first()
    if visit is None:
        raise Conflict("not_completed", _("The visit is not finished yet."))
    visit = visiting.confirm(actor=request.auth, visit_id=visit.pk, disputed=payload.disputed, note=payload.note)
    return _visit_view(visit, "patient")


@router.post("/requests/{request_id}/pay", response=PayOut)
def pay(request, request_id: int):
    """Where the payer pays (the provider's page). 409: ``nothing_to_pay`` (before completion), ``already_paid``,
    ``payer_only`` (a proxy who did not book); payments' own refusals (e.g. ``charge_expired``)."""
    return {"url": billing.checkout(actor=request.auth, request_id=request_id)}


@router.post("/requests/{request_id}/rating", response={201: RatingOut})
def rate(request, request_id: int, payload: RatingIn):
    """One to five stars, once, after completion, by the patient or a proxy. 409: ``not_completed``,
    ``already_rated``. 400: ``invalid_rating``."""
    rating = billing.rate(actor=request.auth, request_id=request_id, stars=payload.stars, comment=payload.comment)
    return Status(201, _rating(rating.request))


# ---- the nurse's visits -----------------------------------------------------------------------------------------


@router.get("/route", response=list[RouteStopOut])
def route(request, day: date | None = None):
    """The caller's own visits of ``day`` (default today), in order. Empty for anyone who is not a nurse."""
    return [_stop(v) for v in selectors.nurse_day(request.auth, day or timezone.localdate())]


@router.get("/visits/{visit_id}", response=VisitOut)
def get_visit(request, visit_id: int):
    """One visit with its EVV facts, as the caller's role sees it (the record is not shown to dispatchers)."""
    visit, role = selectors.visit_for(request.auth, visit_id)
    return _visit_view(visit, role)


@router.post("/visits/{visit_id}/set-out", response=VisitOut)
def set_out(request, visit_id: int):
    """The nurse leaves for the visit. 409: ``not_today``, ``second_nurse_required``, ``invalid_transition``."""
    return _visit_view(visiting.set_out(actor=request.auth, visit_id=visit_id), "nurse")


@router.post("/visits/{visit_id}/turn-back", response=VisitOut)
def turn_back(request, visit_id: int, payload: ReasonIn):
    """The nurse set out but cannot come now: the visit is scheduled again for the dispatcher to rearrange.
    400: ``reason_required``. 409: ``invalid_transition`` (not on the way)."""
    return _visit_view(visiting.turn_back(actor=request.auth, visit_id=visit_id, reason=payload.reason), "nurse")


@router.post("/visits/{visit_id}/check-in", response=VisitOut)
def check_in(request, visit_id: int, payload: LocationIn):
    """At the door: the time and, when the phone has it, the location. Far or without a location is flagged,
    never refused. 409: ``invalid_transition`` (set out first). 400: ``invalid_coordinates``."""
    visit = visiting.check_in(actor=request.auth, visit_id=visit_id, **payload.dict())
    return _visit_view(visit, "nurse")


@router.post("/visits/{visit_id}/record", response={200: CareRecordOut, 201: CareRecordOut})
def save_record(request, visit_id: int, payload: RecordIn):
    """Write (201) or rewrite (200) the care record during the visit. 409: ``record_closed``.
    400: ``notes_required``, ``invalid_vitals``, ``invalid_consumables``, ``service_not_found``,
    ``invalid_follow_up``. 404: ``document_not_found`` (a photo not of this patient)."""
    # Read before the service checks the caller, used only once it has succeeded.
    existed = CareRecord.objects.filter(visit_id=visit_id).exists()
    data = payload.dict()
    data["consumables_used"] = [dict(c) for c in data["consumables_used"]]
    record = visiting.save_record(actor=request.auth, visit_id=visit_id, **data)
    return Status(200 if existed else 201, _record(record.visit))


@router.post("/visits/{visit_id}/check-out", response=VisitOut)
def check_out(request, visit_id: int, payload: LocationIn):
    """Done: the time and location; opens the charge. 409: ``not_in_service``, ``care_record_required``.
    400: ``invalid_coordinates``."""
    visit = visiting.check_out(actor=request.auth, visit_id=visit_id, **payload.dict())
    return _visit_view(visit, "nurse")


@router.post("/visits/{visit_id}/corrections", response={201: CorrectionOut})
def request_correction(request, visit_id: int, payload: CorrectionIn):
    """A change to a closed record, with a reason, for a supervisor to approve. 409: ``record_open``.
    400: ``reason_required``, ``invalid_correction`` and the record's own checks."""
    changes = payload.dict(exclude_unset=True)
    reason = changes.pop("reason")
    if "consumables_used" in changes and changes["consumables_used"] is not None:
        changes["consumables_used"] = [dict(c) for c in changes["consumables_used"]]
    row = visiting.request_correction(actor=request.auth, visit_id=visit_id, reason=reason, **changes)
    return Status(201, _correction(row))


# ---- assessment --------------------------------------------------------------------------------------------------


@router.get("/assessments", response=WorklistOut)
def assessments(request):
    """Requests waiting for an assessor (service, group, day and district only) and the caller's own. Empty for
    anyone who is not a home-care nurse."""
    waiting, mine = selectors.assessment_worklist(request.auth)
    return {"waiting": [_worklist_item(r, request.auth, mine=False) for r in waiting[:200]],
            "mine": [_worklist_item(r, request.auth, mine=True) for r in mine[:200]]}


@router.post("/requests/{request_id}/claim", response=RequestOut)
def claim(request, request_id: int):
    """A qualified home-care nurse takes the request to assess it. 403: ``nurse_not_qualified``.
    409: ``invalid_transition``, ``stale_status`` (someone else claimed it)."""
    assessment = assessing.claim(actor=request.auth, request_id=request_id)
    return _request_view(assessment.request, "assessor")


@router.post("/requests/{request_id}/release", response=RequestOut)
def release(request, request_id: int, payload: ReasonIn):
    """The assessor hands the request back to the worklist. 409: ``not_assessing``."""
    req = assessing.release(actor=request.auth, request_id=request_id, reason=payload.reason)
    return _request_view(req, "assessor")


@router.post("/requests/{request_id}/assessment", response=RequestOut)
def decide(request, request_id: int, payload: AssessmentIn):
    """Accept (``risk``, ``home_suitable``, ``eligibility_confirmed``, ``consumables``, ``two_nurses``, ``notes``)
    or decline (``decline_reason``, ``notes``). 409: ``not_assessing``. 400: ``risk_required``,
    ``home_not_suitable``, ``eligibility_unconfirmed``, ``order_reference_required``, ``two_nurses_for_high_risk``,
    ``invalid_consumables``, ``decline_reason_required``, ``decline_note_required``."""
    data = payload.dict()
    if data["consumables"] is not None:
        data["consumables"] = [dict(c) for c in data["consumables"]]
    assessment = assessing.decide(actor=request.auth, request_id=request_id, **data)
    return _request_view(assessment.request, "assessor")


# ---- dispatch ----------------------------------------------------------------------------------------------------


def _latest_plan(day: date) -> DispatchPlan | None:
    return DispatchPlan.objects.filter(day=day).order_by("-created_at", "-pk").first()


@router.get("/board", response=BoardOut)
def board(request, day: date | None = None):
    """The dispatcher's day (default today): accepted requests waiting for a nurse, the visits, the shifts and the
    latest proposal. 404 for anyone who is not a dispatcher."""
    day = day or timezone.localdate()
    found = selectors.day_board(request.auth, day)
    waiting = [{"id": r.pk, "number": r.number, "service": _service(r.service), "patient_name": r.patient.real_name,
                "address": r.address, "latitude": r.latitude, "longitude": r.longitude,
                "window_start": r.window_start, "window_end": r.window_end,
                "two_nurses": _two_nurses(r)} for r in found["waiting"]]
    return {"day": day, "waiting": waiting, "visits": [_stop(v) for v in found["visits"]], "shifts": found["shifts"],
            "plan": _latest_plan(day)}


@router.put("/shifts", response={200: ShiftOut, 201: ShiftOut})
def set_shift(request, payload: ShiftIn):
    """A nurse's shift on a day: created (201) or changed (200). 403: ``not_a_dispatcher``.
    400: ``not_a_home_nurse``, ``invalid_shift``. 409: ``shift_excludes_visits``."""
    existed = Shift.objects.filter(nurse_id=payload.nurse_id, day=payload.day).exists()
    shift = dispatch.set_shift(actor=request.auth, **payload.dict())
    return Status(200 if existed else 201, Shift.objects.select_related("nurse__home_nurse").get(pk=shift.pk))


@router.post("/plans", response={201: PlanOut})
def propose(request, payload: PlanIn):
    """The optimiser's proposal for the day (replaces an earlier proposal; changes nothing until accepted).
    403: ``not_a_dispatcher``. 400: ``nothing_to_plan``, ``no_shifts``."""
    return Status(201, dispatch.propose(actor=request.auth, day=payload.day))


@router.post("/plans/{plan_id}/accept", response=AcceptedPlanOut)
def accept_plan(request, plan_id: int):
    """Schedule every visit of the proposal, or none. 403: ``not_a_dispatcher``. 409: ``plan_not_proposed``,
    ``plan_stale`` (the day changed since)."""
    scheduled = [v.pk for v in dispatch.accept_plan(actor=request.auth, plan_id=plan_id)]
    # Read back, so that times come out as stored (UTC) like everywhere else in the API.
    visits = NurseVisit.objects.filter(pk__in=scheduled).select_related(
        "request__patient__user", "request__service", "nurse").order_by("nurse_id", "planned_start")
    return {"plan": DispatchPlan.objects.get(pk=plan_id), "visits": [_stop(v) for v in visits]}


@router.post("/requests/{request_id}/assign", response=VisitOut)
def assign(request, request_id: int, payload: AssignIn):
    """Assign by hand (or move a scheduled visit). 404 for a request not yet accepted. 409: ``not_schedulable``,
    ``overlaps_visit``. 400: ``not_a_home_nurse``, ``nurse_not_qualified``, ``no_shift``, ``outside_window``,
    ``outside_shift``, ``invalid_time``."""
    _own_request(request.auth, request_id, "dispatcher")
    visit = dispatch.assign(actor=request.auth, request_id=request_id, nurse_id=payload.nurse_id,
                            start=payload.start.isoformat("minutes"), second_nurse_id=payload.second_nurse_id)
    return _visit_view(visit, "dispatcher")


@router.post("/requests/{request_id}/unassign", response=RequestOut)
def unassign(request, request_id: int, payload: ReasonIn):
    """Take a scheduled visit off its nurse (back to accepted). 409: ``not_scheduled``."""
    _own_request(request.auth, request_id, "dispatcher")
    req = dispatch.unassign(actor=request.auth, request_id=request_id, reason=payload.reason)
    return _request_view(req, "dispatcher")


@router.post("/requests/{request_id}/hospital-cancel", response=RequestOut)
def cancel_by_hospital(request, request_id: int, payload: ReasonIn):
    """The office cancels (also after the nurse set out, until check-in); the reason is told to the patient.
    400: ``reason_required``. 409: ``invalid_transition`` (the nurse is in the home, or it is over)."""
    _own_request(request.auth, request_id, "dispatcher")
    req = dispatch.cancel_by_hospital(actor=request.auth, request_id=request_id, reason=payload.reason)
    return _request_view(req, "dispatcher")


# ---- security ----------------------------------------------------------------------------------------------------


@router.get("/alarms", response=list[AlarmOut])
def alarms(request):
    """Alarms not yet resolved, newest first (security, dispatchers, administrators; 404 for anyone else)."""
    return [_alarm(a) for a in selectors.open_alarms(request.auth).select_related("acknowledged_by")[:200]]


@router.post("/alarms/{alarm_id}/acknowledge", response=AlarmOut)
def acknowledge(request, alarm_id: int):
    """Someone is responding. 409: ``already_acknowledged``."""
    return _alarm(safety.acknowledge(actor=request.auth, alarm_id=alarm_id))


@router.post("/alarms/{alarm_id}/resolve", response=AlarmOut)
def resolve(request, alarm_id: int, payload: ResolveIn):
    """How it ended. 400: ``resolution_required``. 409: ``invalid_transition`` (already resolved)."""
    alarm = safety.resolve(actor=request.auth, alarm_id=alarm_id, resolution=payload.resolution)
    return _alarm(Alarm.objects.select_related("nurse", "acknowledged_by", "visit__request").get(pk=alarm.pk))


# ---- administration ----------------------------------------------------------------------------------------------


@router.post("/blocks", response={201: BlockOut})
def block(request, payload: BlockIn):
    """Stop home nursing for a patient who endangered a nurse (their open requests not under way are cancelled).
    403: ``not_an_admin``. 400: ``reason_required``. 409: ``already_blocked``."""
    return Status(201, _block(assessing.block(actor=request.auth, patient_id=payload.patient_id,
                                              reason=payload.reason)))


@router.post("/blocks/{patient_id}/lift", response=BlockOut)
def lift_block(request, patient_id: int, payload: ReasonIn):
    """Lift the patient's block. 403: ``not_an_admin``. 404: ``not_blocked``. 400: ``reason_required``."""
    return _block(assessing.unblock(actor=request.auth, patient_id=patient_id, reason=payload.reason))

