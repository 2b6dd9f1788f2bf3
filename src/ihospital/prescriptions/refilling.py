"""Refill requests: the patient (or a proxy) asks, the doctor approves, modifies, asks for a visit or refuses.

Approving signs the renewal at once (a new prescription linked to the original, ``renewal_of``); modifying
opens a draft whose signature approves the request (``services._sign``).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import User
from ihospital.accounts.services import require_health_data_consent
from ihospital.core import audit
from ihospital.core.errors import Conflict, DomainError, NotFound
from ihospital.core.models import AuditAction
from ihospital.core.transitions import transition
from ihospital.directory.models import Practitioner
from ihospital.notifications.services import notify
from ihospital.records import services as records
from ihospital.records.models import CareSource

from . import realtime, rules
from .models import OPEN_REFILL_STATUSES, Prescription, RefillRequest, RefillStatus, RxStatus
from .selectors import prescription_for, refill_for
from .services import (
    _confirm_second_factor,
    _copy_as_draft,
    _prescriber,
    _ready_findings,
    _sign,
    _tell_refill_decision,
)


def request_refill(
    *, actor: User, prescription_id: int, item_ids: list[int] | None = None, answers: dict
) -> RefillRequest:
    """The patient (or a proxy) asks to renew some or all medicines of a chronic prescription."""
    rx, role = prescription_for(actor, prescription_id, audit_read=False)
    if role != "patient":
        raise NotFound()
    root = rx.renewal_of or rx
    require_health_data_consent(root.patient)
    refusal = rules.refill_refusal(root)
    if refusal is not None:
        raise refusal
    source = rules.latest_in_chain(root)
    items = list(source.items.select_related("drug"))
    if item_ids:
        try:
            wanted = {int(i) for i in item_ids}
        except (TypeError, ValueError):
            raise DomainError("invalid_items", _("Choose medicines of this prescription.")) from None
        chosen = [i for i in items if i.pk in wanted]
        if len(chosen) != len(wanted):
            raise DomainError("invalid_items", _("Choose medicines of this prescription."),
                              fields={"item_ids": ", ".join(str(i) for i in sorted(wanted))})
        items = chosen
    answers, flags = rules.clean_answers(answers, root.diagnosis_code)
    try:
        with transaction.atomic():
            refill = RefillRequest.objects.create(
                patient=root.patient, requested_by=actor, prescription=root, source=source, doctor=root.doctor,
                department=root.department, answers=answers, red_flags=flags,
            )
            refill.items.set(items)
            records.grant_care(clinician=root.doctor.user, patient=root.patient, source=CareSource.PRESCRIPTION,
                               source_id=f"refill:{refill.pk}",
                               ends_at=timezone.now() + timedelta(days=settings.VISIT_CARE_DAYS))
            audit.record(actor=actor, action=AuditAction.CREATE, obj=refill, patient_id=root.patient_id,
                         detail={"prescription": root.number, "items": [i.drug.sku for i in items], "flags": flags})
            realtime.refill_changed(refill)
            notify(users=[root.doctor.user], kind="refill.requested",
                   title=gettext("Refill request from %(patient)s") % {"patient": root.patient.real_name},
                   link=f"/prescriptions/refills/{refill.pk}/")
    except IntegrityError:
        raise Conflict("refill_already_requested", _("A refill of this prescription is already waiting.")) from None
    return refill


def cancel_refill(*, actor: User, refill_id: int) -> RefillRequest:
    refill, role = refill_for(actor, refill_id, audit_read=False)
    if role != "patient":
        raise NotFound()
    with transaction.atomic():
        transition(refill, RefillStatus.CANCELLED, actor=actor, reason="cancelled by the patient")
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=refill, patient_id=refill.patient_id,
                     detail={"cancelled": True})
        realtime.refill_changed(refill)
    return refill


def _deciding_doctor(actor: User, refill_id: int) -> tuple[RefillRequest, Practitioner]:
    practitioner = _prescriber(actor)
    refill, role = refill_for(actor, refill_id, audit_read=False)
    if role != "doctor":
        raise NotFound()
    return refill, practitioner


def _refill_draft(refill: RefillRequest, actor: User) -> Prescription:
    return _copy_as_draft(refill.source, actor=actor, items=list(refill.items.order_by("position", "pk")),
                          renewal_of=refill.prescription)


def _open_chart(refill: RefillRequest, actor: User) -> None:
    records.grant_care(clinician=actor, patient=refill.patient, source=CareSource.PRESCRIPTION,
                       source_id=f"refill:{refill.pk}",
                       ends_at=timezone.now() + timedelta(days=settings.VISIT_CARE_DAYS))


def approve_refill(
    *, actor: User, refill_id: int, code: str = "", session=None, overrides: dict[str, str] | None = None
) -> Prescription:
    """Renew as asked: a new prescription linked to the original, checked and signed by this doctor now."""
    refill, _practitioner = _deciding_doctor(actor, refill_id)
    if refill.status != RefillStatus.REQUESTED:
        raise Conflict("refill_decided", _("This refill request was already handled: it is %(status)s.")
                       % {"status": refill.get_status_display()})
    refusal = _refusal_at_decision(refill)
    if refusal is not None:
        raise refusal
    # As when signing a draft: the renewal is checked before the code is spent (a dry run, rolled back).
    with transaction.atomic():
        _ready_findings(_refill_draft(refill, actor), overrides)
        transaction.set_rollback(True)
    _confirm_second_factor(actor, code, session)
    with transaction.atomic():
        _open_chart(refill, actor)
        draft = _refill_draft(refill, actor)
        transition(refill, RefillStatus.DRAFTING, actor=actor, reason="approving", result=draft)
        return _sign(actor, draft.pk, overrides, modified=False)


def _refusal_at_decision(refill: RefillRequest) -> DomainError | None:
    """The same rules as when the patient asked, except the open request itself (and its early date)."""
    root = refill.prescription
    if rules.refills_used(root) >= root.refills_allowed:
        return Conflict("refills_exhausted", _("All refills of this prescription were used."))
    if root.condition.entered_in_error or root.condition.clinical_status != "active":
        return Conflict("condition_not_active", _("The diagnosis is no longer active on the chart: an online visit "
                                                  "is needed."))
    return None


def modify_refill(*, actor: User, refill_id: int) -> Prescription:
    """Renew with changes: a draft the doctor edits; signing it approves the request."""
    refill, _practitioner = _deciding_doctor(actor, refill_id)
    if refill.status != RefillStatus.REQUESTED:
        raise Conflict("refill_decided", _("This refill request was already handled: it is %(status)s.")
                       % {"status": refill.get_status_display()})
    refusal = _refusal_at_decision(refill)
    if refusal is not None:
        raise refusal
    with transaction.atomic():
        _open_chart(refill, actor)
        draft = _refill_draft(refill, actor)
        transition(refill, RefillStatus.DRAFTING, actor=actor, reason="modifying", result=draft)
        audit.record(actor=actor, action=AuditAction.CREATE, obj=draft, patient_id=draft.patient_id,
                     detail={"refill": refill.pk})
        realtime.refill_changed(refill)
    return draft


def ask_visit_for_refill(*, actor: User, refill_id: int, reason: str) -> RefillRequest:
    return _close_refill(actor, refill_id, RefillStatus.VISIT_NEEDED, reason)


def refuse_refill(*, actor: User, refill_id: int, reason: str) -> RefillRequest:
    return _close_refill(actor, refill_id, RefillStatus.REFUSED, reason)


def _close_refill(actor: User, refill_id: int, to: str, reason: str) -> RefillRequest:
    refill, _practitioner = _deciding_doctor(actor, refill_id)
    if not reason.strip():
        raise DomainError("reason_required", _("Please tell the patient why."))
    with transaction.atomic():
        draft = refill.result if refill.status == RefillStatus.DRAFTING else None
        transition(refill, to, actor=actor, reason=reason, response=reason.strip(), decided_by=actor,
                   decided_at=timezone.now())
        if draft is not None and draft.status == RxStatus.DRAFT:
            transition(draft, RxStatus.CANCELLED, actor=actor, reason="refill refused")
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=refill, patient_id=refill.patient_id,
                     detail={"decision": to})
        realtime.refill_changed(refill)
        _tell_refill_decision(refill)
    return refill




def open_refill_of(root: Prescription) -> RefillRequest | None:
    return root.refill_requests.filter(status__in=OPEN_REFILL_STATUSES).first()
