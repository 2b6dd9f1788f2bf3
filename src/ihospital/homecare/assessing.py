"""Assessment before acceptance, and blocking patients who endangered a nurse.

A home-care nurse qualified for the service claims a request (one assessor: the conditional transition picks
one winner), reads the chart for it, and decides: accept (risk, suitability of the home, consumables, whether
the first visit needs two nurses) or decline with a reason. The chart closes to the assessor
``HOMECARE_CARE_ACCESS_HOURS`` after the decision.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import PatientProfile, Role, User
from ihospital.core import audit
from ihospital.core.errors import Conflict, DomainError, Forbidden, NotFound
from ihospital.core.models import AuditAction
from ihospital.core.transitions import transition
from ihospital.directory.models import NURSE_TITLE_RANK
from ihospital.records.models import CareSource
from ihospital.records.services import end_care, grant_care

from . import realtime
from .models import (
    Assessment,
    Block,
    DeclineReason,
    NurseProfile,
    NursingRequest,
    NursingService,
    RequestStatus,
    Risk,
)
from .selectors import _denied, active_block, practitioner_of, request_for


def qualification_refusal(user: User, service: NursingService) -> str | None:
    """Why this nurse may not give (or assess) the service, or None: home-care licence, title, years, skill."""
    p = practitioner_of(user)
    if p is None:
        return "not_a_nurse"
    refusal = p.home_nursing_refusal()
    if refusal:
        return refusal
    if NURSE_TITLE_RANK.get(p.title, 0) < NURSE_TITLE_RANK.get(service.min_title, 0):
        return "title_too_low"
    if p.years_of_practice() < service.min_years:
        return "too_few_years"
    # Registered for home nursing: the hospital recorded the nurse's skills and start point (a ward nurse is not).
    profile = NurseProfile.objects.filter(user=user).first()
    if profile is None:
        return "not_home_care"
    if not service.skills <= profile.skill_set:
        return "skill_missing"
    return None


def _require_qualified(user: User, service: NursingService) -> None:
    refusal = qualification_refusal(user, service)
    if refusal:
        raise Forbidden("nurse_not_qualified", _("You are not qualified to assess or give %(service)s (%(why)s).") % {
            "service": service.name, "why": refusal})


def claim(*, actor: User, request_id: int) -> Assessment:
    req = NursingRequest.objects.select_related("service", "patient").filter(pk=request_id).first()
    if req is None or actor.role != Role.NURSE:
        # Only nurses claim; anyone else (or a made-up id) gets the audited 404 of the selectors.
        raise _denied(actor, "homecare.nursingrequest", request_id, req.patient_id if req else None)
    _require_qualified(actor, req.service)
    with transaction.atomic():
        transition(req, RequestStatus.ASSESSING, actor=actor, reason="claimed for assessment")
        # A claim released earlier leaves its row: it starts afresh (the timeline keeps who held it before).
        assessment, _created = Assessment.objects.update_or_create(request=req, defaults={
            "nurse": actor, "claimed_at": timezone.now(), "risk": "", "home_suitable": None,
            "eligibility_confirmed": False, "consumables": [], "two_nurses": False, "notes": "", "accepted": None,
            "decline_reason": "", "decided_at": None})
        relation = grant_care(clinician=actor, patient=req.patient, source=CareSource.HOME_VISIT,
                              source_id=f"assess:{req.pk}")
        if relation.ends_at is not None:
            # The same nurse claims again after releasing it: the relationship of the first claim was ended.
            type(relation).objects.filter(pk=relation.pk).update(ends_at=None)
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=req, patient_id=req.patient_id,
                     detail={"claimed": True})
        realtime.request_changed(req, assessors=True)
    return assessment


def release(*, actor: User, request_id: int, reason: str = "") -> NursingRequest:
    req, role = request_for(actor, request_id, audit_read=False, roles=("assessor",))
    if req.status != RequestStatus.ASSESSING:
        raise Conflict("not_assessing", _("This request is not being assessed."))
    with transaction.atomic():
        transition(req, RequestStatus.REQUESTED, actor=actor, reason=reason or "released")
        end_care(clinician=actor, patient=req.patient, source=CareSource.HOME_VISIT, source_id=f"assess:{req.pk}")
        realtime.request_changed(req, assessors=True)
    return req


def end_claim(req: NursingRequest, *, actor: User) -> None:
    """The request was cancelled while being assessed: the chart closes to its assessor now (a decided request's
    assessor keeps it until the decision window ends)."""
    assessment = Assessment.objects.filter(request=req, decided_at__isnull=True).first()
    if assessment is not None:
        end_care(clinician=assessment.nurse, patient=req.patient, source=CareSource.HOME_VISIT,
                 source_id=f"assess:{req.pk}", actor=actor)


def _consumables(service: NursingService, chosen: list[dict] | None) -> tuple[list[dict], int]:
    """The assessor's choice from the service's list (quantities may change; nothing outside the list)."""
    known = {c["code"]: c for c in service.consumables}
    if chosen is None:
        chosen = [{"code": c["code"], "qty": c["qty"]} for c in service.consumables]
    result, total = [], 0
    for item in chosen:
        code = str(item.get("code", ""))
        try:
            qty = int(item.get("qty", 0))
        except (TypeError, ValueError):
            qty = -1
        if code not in known or not 0 <= qty <= 20:
            raise DomainError("invalid_consumables", _("Choose consumables from the service's list, 0 to 20 each."),
                              fields={"consumables": code})
        if qty:
            result.append({"code": code, "zh": known[code]["zh"], "en": known[code]["en"], "qty": qty,
                           "price_fen": known[code]["price_fen"]})
            total += qty * known[code]["price_fen"]
    return result, total


def decide(
    *, actor: User, request_id: int, accept: bool, risk: str = "", home_suitable: bool | None = None,
    eligibility_confirmed: bool = False, consumables: list[dict] | None = None, two_nurses: bool = False,
    notes: str = "", decline_reason: str = "",
) -> Assessment:
    req, role = request_for(actor, request_id, audit_read=False, roles=("assessor",))
    if req.status != RequestStatus.ASSESSING:
        raise Conflict("not_assessing", _("This request is not being assessed."))
    assessment = req.assessment
    now = timezone.now()
    if accept:
        if risk not in Risk.values:
            raise DomainError("risk_required", _("Please assess the risk."), fields={"risk": risk})
        if home_suitable is not True:
            raise DomainError("home_not_suitable", _("A request can only be accepted if the home is suitable; "
                                                     "otherwise decline it."))
        if not eligibility_confirmed:
            raise DomainError("eligibility_unconfirmed", _("Please confirm that you checked the patient's "
                                                           "eligibility and documents."))
        if req.service.needs_doctor_order and not (notes or "").strip():
            raise DomainError("order_reference_required", _("This service needs a doctor's order: note which "
                                                            "order (prescriber and date) you checked."))
        if risk == Risk.HIGH and not two_nurses:
            raise DomainError("two_nurses_for_high_risk", _("A high-risk first visit needs two nurses."))
        items, consumables_fen = _consumables(req.service, consumables)
        new_status, reason = RequestStatus.ACCEPTED, "accepted"
        fields = {"risk": risk, "home_suitable": True, "eligibility_confirmed": True, "consumables": items,
                  "two_nurses": bool(two_nurses), "accepted": True}
    else:
        if decline_reason not in DeclineReason.values:
            raise DomainError("decline_reason_required", _("Please choose why the request is declined."),
                              fields={"decline_reason": decline_reason})
        if decline_reason == DeclineReason.OTHER and not (notes or "").strip():
            raise DomainError("decline_note_required", _("Please explain the reason for the patient."))
        new_status, reason, consumables_fen = RequestStatus.DECLINED, decline_reason, 0
        fields = {"accepted": False, "decline_reason": decline_reason, "risk": risk if risk in Risk.values else "",
                  "home_suitable": home_suitable}
    with transaction.atomic():
        transition(req, new_status, actor=actor, reason=reason, status_reason=(notes or "")[:2000] if not accept
                   else "", consumables_fen=consumables_fen)
        for key, value in fields.items():
            setattr(assessment, key, value)
        assessment.notes, assessment.decided_at = (notes or "").strip()[:4000], now
        assessment.save()
        end_care(clinician=actor, patient=req.patient, source=CareSource.HOME_VISIT, source_id=f"assess:{req.pk}",
                 at=now + timedelta(hours=settings.HOMECARE_CARE_ACCESS_HOURS))
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=assessment, patient_id=req.patient_id,
                     detail={"accepted": accept, "risk": assessment.risk, "two_nurses": assessment.two_nurses,
                             "decline_reason": assessment.decline_reason})
        realtime.request_changed(req, assessors=True, dispatch=accept)
        if accept:
            realtime.tell(req, "accepted", gettext("Home nursing request %(number)s accepted") % {
                "number": req.number}, gettext("We will tell you which nurse comes and when."))
        else:
            realtime.tell(req, "declined", gettext("Home nursing request %(number)s declined") % {
                "number": req.number}, str(DeclineReason(decline_reason).label))
    return assessment


# ---- blocking --------------------------------------------------------------------------------------------------


def _admin(actor: User) -> None:
    if not actor.is_authenticated or actor.role != Role.ADMIN:
        raise Forbidden("not_an_admin", _("Only the hospital's administration can block or unblock a patient."))


def block(*, actor: User, patient_id: int, reason: str) -> Block:
    """Stop home nursing for a patient who endangered a nurse. Open requests not yet under way are cancelled."""
    _admin(actor)
    patient = PatientProfile.objects.filter(pk=patient_id).first()
    if patient is None:
        raise NotFound()
    reason = (reason or "").strip()
    if len(reason) < 2:
        raise DomainError("reason_required", _("Please record what happened."), fields={"reason": _("required")})
    from .dispatch import release_visit

    try:
        with transaction.atomic():
            row = Block.objects.create(patient=patient, reason=reason[:4000], blocked_by=actor)
            audit.record(actor=actor, action=AuditAction.CREATE, obj=row, patient_id=patient.pk)
            pending = NursingRequest.objects.filter(patient=patient, status__in=[
                RequestStatus.REQUESTED, RequestStatus.ASSESSING, RequestStatus.ACCEPTED, RequestStatus.SCHEDULED])
            for req in pending:
                was_assessing = req.status == RequestStatus.ASSESSING
                transition(req, RequestStatus.CANCELLED, actor=actor, reason="patient blocked",
                           status_reason=gettext("Cancelled by the hospital."))
                release_visit(req, actor=actor)
                if was_assessing:
                    end_claim(req, actor=actor)
                realtime.request_changed(req, assessors=True, dispatch=True)
    except IntegrityError:
        raise Conflict("already_blocked", _("This patient is already blocked.")) from None
    return row


def unblock(*, actor: User, patient_id: int, reason: str) -> Block:
    _admin(actor)
    row = active_block(patient_id)
    if row is None:
        raise NotFound("not_blocked", _("This patient is not blocked."))
    if not (reason or "").strip():
        raise DomainError("reason_required", _("Please record why the block is lifted."))
    with transaction.atomic():
        updated = Block.objects.filter(pk=row.pk, lifted_at__isnull=True).update(
            lifted_at=timezone.now(), lifted_by=actor, lift_reason=reason.strip()[:2000])
        if not updated:
            raise Conflict("stale_status", _("Someone else changed this at the same time. Reload and retry."))
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=row, patient_id=patient_id, detail={"lifted": True})
    row.refresh_from_db()
    return row
