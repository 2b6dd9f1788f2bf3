"""The visit at the home, on the nurse's phone: set out, check in, the care record, check out; then the
patient's confirmation, corrections with a reason and a supervisor's approval, and the review of flagged visits.

Check-in and check-out record the time and, when the phone gives it, the location (EVV). A check far from the
address, or without a location, is flagged for review and never refused: a nurse standing at the door with no
GPS fix must still be able to start.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import User
from ihospital.core import audit
from ihospital.core.errors import Conflict, DomainError, NotFound
from ihospital.core.models import AuditAction
from ihospital.core.transitions import transition
from ihospital.records.models import Document

from . import realtime, tasks
from .dispatch import close_chart
from .models import CareRecord, Correction, CorrectionStatus, NurseVisit, NursingService, RequestStatus
from .selectors import is_supervisor, visit_for
from .travel import metres

# Vital signs a record may hold, with the plausible range (outside it is a typing error, not a finding).
VITALS = {
    "systolic": (50, 260), "diastolic": (30, 160), "pulse": (20, 220), "temperature": (33.0, 43.0),
    "spo2": (50, 100), "respiration": (4, 60), "glucose": (1.0, 35.0), "pain": (0, 10), "weight_kg": (0.5, 300),
}
RECORD_FIELDS = ("vitals", "procedure_notes", "consumables_used", "next_service", "next_in_days", "next_note")


def _own_visit(actor: User, visit_id: int) -> NurseVisit:
    visit, role = visit_for(actor, visit_id, audit_read=False)
    if role != "nurse":
        raise NotFound()
    return visit


def _where(latitude, longitude, accuracy) -> tuple[float | None, float | None, float | None]:
    if latitude in (None, "") or longitude in (None, ""):
        return None, None, None
    try:
        lat, lng = float(latitude), float(longitude)
        acc = float(accuracy) if accuracy not in (None, "") else None
    except (TypeError, ValueError):
        raise DomainError("invalid_coordinates", _("These map coordinates are not valid.")) from None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180) or (acc is not None and acc < 0):
        raise DomainError("invalid_coordinates", _("These map coordinates are not valid."))
    return lat, lng, acc


def _flag(visit: NurseVisit, moment: str, lat, lng) -> float | None:
    """Distance from the address, and the flag when it is too far or unknown."""
    if lat is None:
        visit.flagged = True
        visit.flag_reasons = [*visit.flag_reasons, f"{moment}_without_location"]
        return None
    distance = metres(lat, lng, visit.request.latitude, visit.request.longitude)
    if distance > settings.HOMECARE_CHECKIN_RADIUS_M:
        visit.flagged = True
        visit.flag_reasons = [*visit.flag_reasons, f"{moment}_far:{int(distance)}m"]
    return distance


def set_out(*, actor: User, visit_id: int) -> NurseVisit:
    visit = _own_visit(actor, visit_id)
    if visit.day != timezone.localdate():
        raise Conflict("not_today", _("This visit is on %(day)s.") % {"day": visit.day.isoformat()})
    req = visit.request
    if req.assessment.two_nurses and visit.second_nurse_id is None:
        raise Conflict("second_nurse_required", _("This first visit needs two nurses; the dispatcher has not "
                                                  "assigned the second one yet."))
    with transaction.atomic():
        transition(req, RequestStatus.EN_ROUTE, actor=actor, reason="set out")
        NurseVisit.objects.filter(pk=visit.pk).update(set_out_at=timezone.now())
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=visit, patient_id=req.patient_id,
                     detail={"set_out": True})
        realtime.request_changed(req, dispatch=True, nurses=(visit.nurse_id,))
        realtime.tell(req, "en_route", gettext("Your nurse is on the way"), gettext(
            "%(nurse)s has set out for visit %(number)s.") % {"nurse": visit.nurse.real_name, "number": req.number})
    visit.refresh_from_db()
    return visit


def check_in(*, actor: User, visit_id: int, latitude=None, longitude=None, accuracy=None) -> NurseVisit:
    visit = _own_visit(actor, visit_id)
    lat, lng, acc = _where(latitude, longitude, accuracy)
    req = visit.request
    now = timezone.now()
    with transaction.atomic():
        transition(req, RequestStatus.IN_SERVICE, actor=actor, reason="checked in")
        distance = _flag(visit, "check_in", lat, lng)
        visit.checked_in_at, visit.check_in_latitude, visit.check_in_longitude = now, lat, lng
        visit.check_in_accuracy_m, visit.check_in_distance_m = acc, distance
        visit.save(update_fields=["checked_in_at", "check_in_latitude", "check_in_longitude", "check_in_accuracy_m",
                                  "check_in_distance_m", "flagged", "flag_reasons"])
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=visit, patient_id=req.patient_id,
                     detail={"check_in": now.isoformat(), "distance_m": distance, "flagged": visit.flagged})
        realtime.request_changed(req, dispatch=True, nurses=(visit.nurse_id,))
        realtime.tell(req, "arrived", gettext("Your nurse has arrived"), gettext("Visit %(number)s has started.") % {
            "number": req.number})
        expected_end = now + timedelta(minutes=req.service.duration_minutes + settings.HOMECARE_OVERRUN_MINUTES)
        transaction.on_commit(lambda: tasks.check_overrun.using(run_after=expected_end).enqueue(visit.pk))
    return visit


def _vitals(raw: dict | None) -> dict:
    result = {}
    for key, value in (raw or {}).items():
        if value in (None, ""):
            continue
        if key not in VITALS:
            raise DomainError("invalid_vitals", _("Unknown measurement: %(name)s.") % {"name": key},
                              fields={key: _("unknown")})
        low, high = VITALS[key]
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if not low <= number <= high:
            raise DomainError("invalid_vitals", _("%(name)s must be between %(low)s and %(high)s.") % {
                "name": key, "low": low, "high": high}, fields={key: value})
        result[key] = int(number) if float(number).is_integer() and isinstance(low, int) else number
    return result


def _record_values(visit: NurseVisit, *, vitals, procedure_notes, consumables_used, next_service_code,
                   next_in_days, next_note) -> dict:
    notes = (procedure_notes or "").strip()
    if not notes:
        raise DomainError("notes_required", _("Please describe what was done."),
                          fields={"procedure_notes": _("required")})
    planned = {c["code"]: c for c in visit.request.assessment.consumables} | {
        c["code"]: c for c in visit.request.service.consumables}
    used = []
    for item in consumables_used or []:
        code = str(item.get("code", ""))
        try:
            qty = int(item.get("qty", 0))
        except (TypeError, ValueError):
            qty = -1
        if code not in planned or not 0 <= qty <= 20:
            raise DomainError("invalid_consumables", _("Record consumables from the service's list, 0 to 20 each."))
        if qty:
            used.append({"code": code, "qty": qty})
    service = None
    if next_service_code:
        service = NursingService.objects.filter(code=next_service_code, active=True).first()
        if service is None:
            raise DomainError("service_not_found", _("There is no such service."))
        try:
            next_in_days = int(next_in_days)
        except (TypeError, ValueError):
            next_in_days = 0
        if not 1 <= next_in_days <= 90:
            raise DomainError("invalid_follow_up", _("Suggest the next visit 1 to 90 days ahead."))
    return {"vitals": _vitals(vitals), "procedure_notes": notes[:8000], "consumables_used": used,
            "next_service": service, "next_in_days": next_in_days if service else None,
            "next_note": (next_note or "").strip()[:200] if service else ""}


def save_record(*, actor: User, visit_id: int, vitals: dict | None = None, procedure_notes: str = "",
                consumables_used: list[dict] | None = None, photo_ids: list[int] | None = None,
                next_service_code: str = "", next_in_days=None, next_note: str = "") -> CareRecord:
    """The nurse writes (and rewrites) the record while in service. After check-out: ``request_correction``."""
    visit = _own_visit(actor, visit_id)
    if visit.request.status != RequestStatus.IN_SERVICE:
        raise Conflict("record_closed", _("The care record is written during the visit; after check-out, "
                                          "request a correction."))
    values = _record_values(visit, vitals=vitals, procedure_notes=procedure_notes, consumables_used=consumables_used,
                            next_service_code=next_service_code, next_in_days=next_in_days, next_note=next_note)
    photos = list(Document.objects.filter(pk__in=photo_ids or [], patient_id=visit.request.patient_id,
                                          entered_in_error=False))
    if len(photos) != len(set(photo_ids or [])):
        raise NotFound("document_not_found", _("A chosen photo was not found."))
    with transaction.atomic():
        record, created = CareRecord.objects.update_or_create(visit=visit, defaults={**values, "recorded_by": actor})
        if photos:
            record.photos.add(*photos)
        audit.record(actor=actor, action=AuditAction.CREATE if created else AuditAction.UPDATE, obj=record,
                     patient_id=visit.request.patient_id, detail={"vitals": sorted(values["vitals"])})
    return record


def check_out(*, actor: User, visit_id: int, latitude=None, longitude=None, accuracy=None) -> NurseVisit:
    from . import billing

    visit = _own_visit(actor, visit_id)
    lat, lng, acc = _where(latitude, longitude, accuracy)
    req = visit.request
    if req.status != RequestStatus.IN_SERVICE:
        raise Conflict("not_in_service", _("Check in first."))
    if not CareRecord.objects.filter(visit=visit).exists():
        raise Conflict("care_record_required", _("Please write the care record before checking out."))
    now = timezone.now()
    with transaction.atomic():
        transition(req, RequestStatus.COMPLETED, actor=actor, reason="checked out")
        distance = _flag(visit, "check_out", lat, lng)
        visit.checked_out_at, visit.check_out_latitude, visit.check_out_longitude = now, lat, lng
        visit.check_out_accuracy_m, visit.check_out_distance_m = acc, distance
        visit.save(update_fields=["checked_out_at", "check_out_latitude", "check_out_longitude",
                                  "check_out_accuracy_m", "check_out_distance_m", "flagged", "flag_reasons"])
        # The nurses keep the chart for the access window after check-out, no longer.
        close_chart(visit, at=now + timedelta(hours=settings.HOMECARE_CARE_ACCESS_HOURS), actor=actor)
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=visit, patient_id=req.patient_id,
                     detail={"check_out": now.isoformat(), "distance_m": distance, "flagged": visit.flagged,
                             "evv": evv(visit)})
        billing.open_charge(req)
        realtime.request_changed(req, dispatch=True, nurses=(visit.nurse_id,))
        realtime.tell(req, "completed", gettext("Home visit %(number)s completed") % {"number": req.number},
                      gettext("Please confirm the service, pay and rate it."))
    return visit


def evv(visit: NurseVisit) -> dict:
    """The six facts of electronic visit verification, as recorded."""
    req = visit.request
    return {
        "service": req.service.code, "recipient": req.patient_id, "date": visit.day.isoformat(),
        "place": {"latitude": req.latitude, "longitude": req.longitude,
                  "check_in": [visit.check_in_latitude, visit.check_in_longitude],
                  "check_out": [visit.check_out_latitude, visit.check_out_longitude]},
        "nurse": visit.nurse_id, "second_nurse": visit.second_nurse_id,
        "start": visit.checked_in_at.isoformat() if visit.checked_in_at else None,
        "end": visit.checked_out_at.isoformat() if visit.checked_out_at else None,
    }


def confirm(*, actor: User, visit_id: int, disputed: bool = False, note: str = "") -> NurseVisit:
    """The patient or a proxy confirms the service was given (or disputes it, with what went wrong)."""
    visit, role = visit_for(actor, visit_id, audit_read=False)
    if role != "patient":
        raise NotFound()
    if visit.request.status != RequestStatus.COMPLETED:
        raise Conflict("not_completed", _("The visit is not finished yet."))
    if disputed and not (note or "").strip():
        raise DomainError("dispute_note_required", _("Please tell us what was not right."))
    with transaction.atomic():
        updated = NurseVisit.objects.filter(pk=visit.pk, confirmed_at__isnull=True).update(
            confirmed_at=timezone.now(), confirmed_by=actor, disputed=disputed,
            dispute_note=(note or "").strip()[:2000])
        if not updated:
            raise Conflict("already_confirmed", _("This visit was already confirmed."))
        if disputed:
            NurseVisit.objects.filter(pk=visit.pk).update(flagged=True)
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=visit, patient_id=visit.request.patient_id,
                     detail={"confirmed": not disputed, "disputed": disputed})
    visit.refresh_from_db()
    return visit


def review(*, actor: User, visit_id: int, note: str) -> NurseVisit:
    """A supervisor reviews a flagged visit (far check-in, no location, a dispute) and records the outcome."""
    visit, role = visit_for(actor, visit_id, audit_read=False)
    if role != "supervisor" or visit.nurse_id == actor.pk:
        raise NotFound()
    if not (note or "").strip():
        raise DomainError("note_required", _("Please record what you found."))
    updated = NurseVisit.objects.filter(pk=visit.pk, flagged=True, reviewed_at__isnull=True).update(
        reviewed_at=timezone.now(), reviewed_by=actor, review_note=note.strip()[:2000])
    if not updated:
        raise Conflict("already_reviewed", _("This visit was already reviewed."))
    audit.record(actor=actor, action=AuditAction.UPDATE, obj=visit, patient_id=visit.request.patient_id,
                 detail={"reviewed": True})
    visit.refresh_from_db()
    return visit


def request_correction(*, actor: User, visit_id: int, reason: str, **changes) -> Correction:
    visit = _own_visit(actor, visit_id)
    record = CareRecord.objects.filter(visit=visit).first()
    if record is None or visit.request.status != RequestStatus.COMPLETED:
        raise Conflict("record_open", _("The record can still be edited directly until check-out."))
    if len((reason or "").strip()) < 2:
        raise DomainError("reason_required", _("Please give the reason for the correction."))
    unknown = set(changes) - {"vitals", "procedure_notes", "consumables_used", "next_service_code", "next_in_days",
                              "next_note"}
    if unknown or not changes:
        raise DomainError("invalid_correction", _("Say what should change in the record."))
    current = {"vitals": record.vitals, "procedure_notes": record.procedure_notes,
               "consumables_used": record.consumables_used,
               "next_service_code": record.next_service.code if record.next_service else "",
               "next_in_days": record.next_in_days, "next_note": record.next_note}
    proposed = _record_values(visit, **{**current, **changes})  # validates the corrected record as a whole
    proposed["next_service"] = proposed["next_service"].code if proposed["next_service"] else ""
    with transaction.atomic():
        row = Correction.objects.create(record=record, requested_by=actor, reason=reason.strip()[:2000],
                                        changes=proposed, before={k: current[k] for k in current})
        audit.record(actor=actor, action=AuditAction.CREATE, obj=row, patient_id=visit.request.patient_id,
                     detail={"fields": sorted(changes)})
    return row


def decide_correction(*, actor: User, correction_id: int, approve: bool, note: str = "") -> Correction:
    if not is_supervisor(actor):
        raise NotFound()
    row = Correction.objects.select_related("record__visit__request").filter(pk=correction_id).first()
    if row is None or row.requested_by_id == actor.pk:
        raise NotFound()
    if not approve and not (note or "").strip():
        raise DomainError("note_required", _("Please say why the correction is rejected."))
    record = row.record
    with transaction.atomic():
        transition(row, CorrectionStatus.APPROVED if approve else CorrectionStatus.REJECTED, actor=actor,
                   reason=note or "", decided_by=actor, decided_at=timezone.now(), decision_note=(note or "")[:2000])
        if approve:
            values = dict(row.changes)
            code = values.pop("next_service", "")
            values["next_service"] = NursingService.objects.filter(code=code).first() if code else None
            for key, value in values.items():
                setattr(record, key, value)
            record.version += 1
            record.save()
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=row,
                     patient_id=record.visit.request.patient_id, detail={"approved": approve,
                                                                         "version": record.version})
    return row


def turn_back(*, actor: User, visit_id: int, reason: str) -> NurseVisit:
    """The nurse set out but cannot reach the home now (an emergency on the way, set out by mistake): the visit is
    scheduled again, the dispatcher sees it on the board, and the patient is told."""
    visit = _own_visit(actor, visit_id)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("reason_required", _("Please say why you are turning back."),
                          fields={"reason": _("required")})
    req = visit.request
    with transaction.atomic():
        transition(req, RequestStatus.SCHEDULED, actor=actor, reason=reason[:500])
        NurseVisit.objects.filter(pk=visit.pk).update(set_out_at=None)
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=visit, patient_id=req.patient_id,
                     detail={"turned_back": True})
        realtime.request_changed(req, dispatch=True, nurses=(visit.nurse_id,))
        realtime.tell(req, "turned_back", gettext("Your nurse had to turn back"), gettext(
            "Visit %(number)s will be arranged again; we will tell you the new time.") % {"number": req.number})
    visit.refresh_from_db()
    return visit
