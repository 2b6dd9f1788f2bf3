"""Every act on a prescription: one function each, atomic, permission-checked, audited. The pharmacist's acts
are in ``reviewing``, the refill requests' in ``refilling``.

The doctor writes a draft during an online visit (or from a refill request), the checks run, the doctor signs
personally with the second factor (overriding each finding with a reason), the pharmacist approves or rejects,
and only an approved prescription can be paid and dispensed (``require_dispensable``, ``mark_dispensed``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import Role, User
from ihospital.accounts.selectors import patient_and_relatives
from ihospital.accounts.services import (
    require_health_data_consent,
    second_factor_is_fresh,
    verify_second_factor,
)
from ihospital.core import audit
from ihospital.core.errors import Conflict, DomainError, Forbidden, NotFound
from ihospital.core.models import AuditAction
from ihospital.core.transitions import transition
from ihospital.directory.models import Practitioner
from ihospital.notifications.services import notify
from ihospital.visits.models import BasisStatus, VisitStatus
from ihospital.visits.selectors import participant_visit

from . import checks, realtime, rules, tasks
from .models import (
    Drug,
    Prescription,
    PrescriptionItem,
    RefillRequest,
    RefillStatus,
    RxKind,
    RxStatus,
)
from .selectors import prescription_for

# ---- who may act ----------------------------------------------------------------------------------------------


def _prescriber(actor: User) -> Practitioner:
    practitioner = Practitioner.objects.filter(user=actor).first()
    if practitioner is None or actor.role != Role.DOCTOR:
        raise Forbidden("not_a_doctor", _("Only doctors can prescribe."))
    if not practitioner.can_practise_online():
        raise Forbidden(
            "not_eligible_for_online_practice",
            _("You may not prescribe online: at least 3 years of independent practice and a verified licence are "
              "required."),
        )
    return practitioner


def _pharmacist(actor: User) -> User:
    if not actor.is_authenticated or actor.role != Role.PHARMACIST:
        raise Forbidden("not_a_pharmacist", _("Only pharmacists review prescriptions."))
    return actor


def _draft(actor: User, prescription_id: int) -> Prescription:
    """A draft of the asking doctor, locked for the edit."""
    rx, role = prescription_for(actor, prescription_id, audit_read=False)
    if role != "doctor":
        raise NotFound()
    rx = Prescription.objects.select_for_update().select_related("patient__user", "condition", "doctor__user").get(
        pk=rx.pk
    )
    if rx.status != RxStatus.DRAFT:
        raise Conflict("prescription_signed", _("A signed prescription cannot be changed. Revise it instead."))
    return rx



def _number(rx: Prescription) -> str:
    return f"RX{timezone.localdate():%Y%m%d}{rx.pk:06d}"


# ---- writing a prescription -------------------------------------------------------------------------------------


def start_prescription(
    *, actor: User, visit_id: int, kind: str = RxKind.ACUTE, refills_allowed: int = 0, notes: str = ""
) -> Prescription:
    """A draft in an online visit, for the visit's accepted diagnosis only."""
    practitioner = _prescriber(actor)
    visit, role = participant_visit(actor, visit_id, audit_read=False)
    if role != "doctor":
        raise NotFound()
    if visit.status != VisitStatus.IN_PROGRESS:
        raise Conflict("visit_not_in_progress", _("Prescribe during the consultation, once the visit has started."))
    if visit.basis_status != BasisStatus.ACCEPTED or visit.condition_id is None:
        raise Conflict(
            "diagnosis_not_accepted",
            _("Accept the patient's diagnosis first: online prescriptions are only for the accepted diagnosis."),
        )
    require_health_data_consent(visit.patient)
    condition = visit.condition
    rules.check_condition(condition)
    rules.check_kind(kind, condition)
    rules.check_refills_allowed(kind, int(refills_allowed or 0))
    with transaction.atomic():
        rx = Prescription.objects.create(
            number=f"tmp-{uuid.uuid4().hex[:16]}", patient=visit.patient, doctor=practitioner,
            department=visit.department, visit=visit, condition=condition, diagnosis_code=condition.code,
            diagnosis_display=condition.display, kind=kind, refills_allowed=int(refills_allowed or 0),
            notes=notes.strip(),
        )
        rx.number = _number(rx)
        rx.save(update_fields=["number"])
        audit.record(actor=actor, action=AuditAction.CREATE, obj=rx, patient_id=rx.patient_id,
                     detail={"visit": visit.pk, "kind": kind})
    return rx


def update_prescription(
    *, actor: User, prescription_id: int, kind: str | None = None, refills_allowed: int | None = None,
    notes: str | None = None, guardian_name: str | None = None, guardian_relationship: str | None = None,
    guardian_phone: str | None = None,
) -> Prescription:
    with transaction.atomic():
        rx = _draft(actor, prescription_id)
        if kind is not None:
            rx.kind = rules.check_kind(kind, rx.condition)
            too_long = [i for i in rx.items.all() if i.duration_days > rules.max_days(rx.kind)]
            if too_long:
                raise DomainError(
                    "days_supply_exceeded",
                    _("A %(kind)s prescription covers at most %(max)s days.")
                    % {"kind": rx.get_kind_display(), "max": rules.max_days(rx.kind)},
                )
        if refills_allowed is not None:
            rx.refills_allowed = int(refills_allowed)
        rules.check_refills_allowed(rx.kind, rx.refills_allowed)
        if notes is not None:
            rx.notes = notes.strip()[:2000]
        if guardian_name is not None:
            rx.guardian_name = guardian_name.strip()[:64]
        if guardian_relationship is not None:
            rx.guardian_relationship = guardian_relationship.strip()[:32]
        if guardian_phone is not None:
            rx.guardian_phone = guardian_phone.strip()[:20]
        rx.save()
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=rx, patient_id=rx.patient_id,
                     detail={"kind": rx.kind, "refills_allowed": rx.refills_allowed})
    return rx


def add_item(
    *, actor: User, prescription_id: int, drug_id: int, dose, frequency: str, duration_days: int,
    route: str = "", quantity: int | None = None, instructions: str = "",
) -> PrescriptionItem:
    with transaction.atomic():
        rx = _draft(actor, prescription_id)
        drug = Drug.objects.filter(pk=drug_id).first()
        if drug is None:
            raise DomainError("unknown_drug", _("This drug is not in the formulary."), status=422)
        clean = rules.check_item(drug=drug, kind=rx.kind, dose=dose, frequency=frequency, route=route,
                                 duration_days=duration_days, quantity=quantity)
        if rx.items.count() >= settings.RX_MAX_ITEMS:
            raise DomainError("too_many_items",
                              _("A prescription holds at most %(max)s medicines.") % {"max": settings.RX_MAX_ITEMS})
        if rx.items.filter(drug=drug).exists():
            raise Conflict("duplicate_item", _("This drug is already on the prescription: change that line instead."))
        item = PrescriptionItem.objects.create(
            prescription=rx, position=rx.items.count() + 1, drug=drug, dose_unit=drug.dose_unit,
            instructions=instructions.strip()[:255], **clean,
        )
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=rx, patient_id=rx.patient_id,
                     detail={"added": drug.sku})
    return item


def remove_item(*, actor: User, prescription_id: int, item_id: int) -> None:
    with transaction.atomic():
        rx = _draft(actor, prescription_id)
        item = rx.items.filter(pk=item_id).first()
        if item is None:
            raise NotFound()
        sku = item.drug.sku
        item.delete()
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=rx, patient_id=rx.patient_id,
                     detail={"removed": sku})


def check_prescription(*, actor: User, prescription_id: int) -> list[dict]:
    """The findings as they stand, for the doctor (with the reasons already recorded) or the pharmacist."""
    rx, role = prescription_for(actor, prescription_id)
    if role not in ("doctor", "pharmacist"):
        raise NotFound()
    recorded = {f["key"]: f.get("override", "") for f in rx.checks}
    return checks.with_overrides(checks.run(rx), recorded)


# ---- signing ----------------------------------------------------------------------------------------------------


def content_of(rx: Prescription) -> dict:
    """What the doctor signs: everything the slip shows. Its hash is stored at signing and recomputed to verify."""
    return {
        "number": rx.number,
        "patient": {"mrn": rx.patient.mrn, "name": rx.patient.real_name, "sex": rx.patient.sex,
                    "birth_date": rx.patient.birth_date.isoformat()},
        "doctor": {"licence_no": rx.doctor.licence_no, "name": rx.doctor.user.real_name},
        "department": rx.department_id,
        "diagnosis": {"code": rx.diagnosis_code, "display": rx.diagnosis_display},
        "kind": rx.kind,
        "refills_allowed": rx.refills_allowed,
        "renewal_of": rx.renewal_of.number if rx.renewal_of_id else None,
        "revision_of": rx.revision_of.number if rx.revision_of_id else None,
        "guardian": [rx.guardian_name, rx.guardian_relationship, rx.guardian_phone],
        "notes": rx.notes,
        "signed_at": rx.signed_at.isoformat() if rx.signed_at else None,
        "valid_until": rx.valid_until.isoformat() if rx.valid_until else None,
        "items": [
            {"sku": i.drug.sku, "name": i.drug.generic_name_zh, "strength": i.drug.strength,
             "dose": f"{i.dose.normalize():f}", "dose_unit": i.dose_unit, "frequency": i.frequency,
             "route": i.route, "duration_days": i.duration_days, "quantity": i.quantity,
             "instructions": i.instructions}
            for i in rx.items.select_related("drug").order_by("position", "pk")
        ],
        "checks": [{"key": f["key"], "override": f.get("override", "")} for f in rx.checks],
    }


def hash_content(rx: Prescription) -> str:
    canonical = json.dumps(content_of(rx), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def seal(*parts) -> str:
    message = "|".join(str(p) for p in parts).encode()
    return hmac.new(settings.RX_SEAL_KEY.encode(), message, hashlib.sha256).hexdigest()


def seal_of_doctor(rx: Prescription, content_hash: str) -> str:
    """The doctor's seal: who signed (user and licence) and what (the content hash)."""
    return seal("doctor", rx.doctor.user_id, rx.doctor.licence_no, content_hash)


def seal_of_review(review, content_hash: str) -> str:
    """The pharmacist's seal: who decided, what, on which content, when."""
    return seal("pharmacist", review.pharmacist_id, review.decision, content_hash, review.created_at.isoformat())


def _confirm_second_factor(actor: User, code: str, session) -> None:
    """The doctor's signature is a personal act: a fresh 6-digit code, or one typed moments ago at sign-in."""
    if code or not second_factor_is_fresh(session, minutes=settings.CONSULT_REAUTH_MINUTES):
        verify_second_factor(user=actor, code=code)
        if session is not None:
            from ihospital.accounts.services import SECOND_FACTOR_AT

            session[SECOND_FACTOR_AT] = timezone.now().isoformat()


def sign_prescription(
    *, actor: User, prescription_id: int, code: str = "", session=None, overrides: dict[str, str] | None = None
) -> Prescription:
    """Check, seal and send to the pharmacists. Every finding needs the doctor's reason, or a change first."""
    _prescriber(actor)
    rx, role = prescription_for(actor, prescription_id, audit_read=False)
    if role != "doctor":
        raise NotFound()
    if rx.status != RxStatus.DRAFT:
        raise Conflict("prescription_signed", _("This prescription is already signed."))
    # What signing would refuse is refused before the code is spent: a code is good once (typed again it would
    # count as a wrong one), and a doctor asked for a reason retries at once. Checked again under the lock.
    _ready_findings(rx, overrides)
    # The second factor outside the signing transaction: a wrong code is counted even though nothing is signed.
    _confirm_second_factor(actor, code, session)
    with transaction.atomic():
        return _sign(actor, prescription_id, overrides, modified=True)


def _ready_findings(rx: Prescription, overrides: dict[str, str] | None) -> list[dict]:
    """The findings with the doctor's reasons, once the prescription is ready and every finding has one."""
    overrides = {str(k): str(v) for k, v in (overrides or {}).items()}
    rules.check_ready_to_sign(rx)
    findings = checks.with_overrides(checks.run(rx), overrides)
    unresolved = [f for f in findings if not f["override"]]
    if unresolved:
        raise DomainError(
            "check_findings_unresolved",
            _("Change the prescription or give a reason for each finding before signing."),
            status=409,
            fields={f["key"]: f["message"] for f in unresolved},
        )
    return findings


def _sign(actor: User, prescription_id: int, overrides: dict[str, str] | None, *, modified: bool) -> Prescription:
    rx = _draft(actor, prescription_id)
    findings = _ready_findings(rx, overrides)
    now = timezone.now()
    rx.checks = findings
    rx.signed_at = now
    rx.valid_until = now + timedelta(days=settings.RX_VALID_DAYS)
    rx.save(update_fields=["checks", "signed_at", "valid_until"])
    content_hash = hash_content(rx)
    transition(rx, RxStatus.SIGNED, actor=actor, reason="signed", content_hash=content_hash,
               doctor_seal=seal_of_doctor(rx, content_hash))
    audit.record(actor=actor, action=AuditAction.UPDATE, obj=rx, patient_id=rx.patient_id,
                 detail={"signed": content_hash, "overrides": len(findings)})
    refill = RefillRequest.objects.select_for_update().filter(result=rx).first()
    if refill is not None and refill.status == RefillStatus.DRAFTING:
        transition(refill, RefillStatus.APPROVED, actor=actor, reason="signed", modified=modified,
                   decided_by=actor, decided_at=now)
        realtime.refill_changed(refill)
        _tell_refill_decision(refill)
    tasks.schedule_expiry(rx)
    realtime.prescription_changed(rx)
    return rx


def cancel_prescription(*, actor: User, prescription_id: int, reason: str) -> Prescription:
    """The doctor withdraws a prescription not yet dispensed (a draft needs no reason)."""
    rx, role = prescription_for(actor, prescription_id, audit_read=False)
    if role != "doctor":
        raise NotFound()
    if rx.status != RxStatus.DRAFT and not reason.strip():
        raise DomainError("reason_required", _("Please give the reason for cancelling."))
    with transaction.atomic():
        transition(rx, RxStatus.CANCELLED, actor=actor, reason=reason, status_reason=reason.strip())
        refill = RefillRequest.objects.filter(result=rx, status=RefillStatus.DRAFTING).first()
        if refill is not None:
            # The doctor dropped the adjusted draft: the request goes back to the worklist.
            transition(refill, RefillStatus.REQUESTED, actor=actor, reason="draft cancelled", result=None)
            realtime.refill_changed(refill)
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=rx, patient_id=rx.patient_id,
                     detail={"cancelled": reason.strip()})
        realtime.prescription_changed(rx)
        if rx.signed_at:
            notify(users=patient_and_relatives(rx.patient), kind="prescription.cancelled",
                   title=gettext("Prescription %(number)s was cancelled by the doctor") % {"number": rx.number},
                   body=reason.strip(), link=f"/prescriptions/{rx.pk}/")
    return rx


def revise_prescription(*, actor: User, prescription_id: int) -> Prescription:
    """After a pharmacist's rejection the doctor writes a new draft from the rejected one (which stays as it was)."""
    _prescriber(actor)
    rx, role = prescription_for(actor, prescription_id, audit_read=False)
    if role != "doctor":
        raise NotFound()
    if rx.status != RxStatus.REJECTED:
        raise Conflict("not_rejected", _("Only a prescription the pharmacist rejected is revised."))
    try:
        with transaction.atomic():
            draft = _copy_as_draft(rx, actor=actor, revision_of=rx, renewal_of=rx.renewal_of, visit=rx.visit)
            refill = RefillRequest.objects.filter(result=rx).first()
            audit.record(actor=actor, action=AuditAction.CREATE, obj=draft, patient_id=draft.patient_id,
                         detail={"revision_of": rx.number, "refill": refill.pk if refill else None})
    except IntegrityError:
        raise Conflict("already_revised", _("This prescription already has a revision.")) from None
    return draft


def _copy_as_draft(rx: Prescription, *, actor: User, items=None, **links) -> Prescription:
    practitioner = Practitioner.objects.get(user=actor)
    draft = Prescription.objects.create(
        number=f"tmp-{uuid.uuid4().hex[:16]}", patient=rx.patient, doctor=practitioner, department=rx.department,
        condition=rx.condition, diagnosis_code=rx.diagnosis_code, diagnosis_display=rx.diagnosis_display,
        kind=rx.kind, refills_allowed=0 if links.get("renewal_of") else rx.refills_allowed, notes=rx.notes,
        guardian_name=rx.guardian_name, guardian_relationship=rx.guardian_relationship,
        guardian_phone=rx.guardian_phone, **links,
    )
    draft.number = _number(draft)
    draft.save(update_fields=["number"])
    for position, item in enumerate(items if items is not None else rx.items.all(), start=1):
        PrescriptionItem.objects.create(
            prescription=draft, position=position, drug=item.drug, dose=item.dose, dose_unit=item.dose_unit,
            frequency=item.frequency, route=item.route, duration_days=item.duration_days, quantity=item.quantity,
            instructions=item.instructions,
        )
    return draft


# ---- after approval (used by the pharmacy) ------------------------------------------------------------------


def require_dispensable(rx: Prescription, *, paid_order: bool = False) -> None:
    """Only an approved prescription, still valid, may be ordered or dispensed. Validity is checked when the
    patient orders and pays: an order paid in time is dispensed even if the pharmacy's work runs past it."""
    if rx.status != RxStatus.APPROVED:
        raise Conflict("prescription_not_approved",
                       _("Only a prescription approved by a pharmacist can be ordered or dispensed."))
    if not paid_order and rx.valid_until and rx.valid_until < timezone.now():
        raise Conflict("prescription_expired", _("This prescription has expired. Ask the doctor for a new one."))


def mark_dispensed(*, actor: User, prescription_id: int, paid_order: bool = False) -> Prescription:
    """Called by the pharmacy when the medicines are handed over. Once: a second call is a conflict."""
    _pharmacist(actor)
    with transaction.atomic():
        rx = Prescription.objects.select_for_update().select_related("doctor").filter(pk=prescription_id).first()
        if rx is None:
            raise NotFound()
        require_dispensable(rx, paid_order=paid_order)
        transition(rx, RxStatus.DISPENSED, actor=actor, reason="dispensed", dispensed_at=timezone.now())
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=rx, patient_id=rx.patient_id,
                     detail={"dispensed": True})
        realtime.prescription_changed(rx, pharmacy=False)
    return rx


def expire_prescription(*, prescription_id: int) -> bool:
    """The validity passed before the medicines were dispensed (a task, at ``valid_until``)."""
    with transaction.atomic():
        rx = Prescription.objects.select_for_update().select_related("doctor").filter(pk=prescription_id).first()
        if rx is None or rx.status not in (RxStatus.SIGNED, RxStatus.UNDER_REVIEW, RxStatus.APPROVED):
            return False
        if rx.valid_until is None or rx.valid_until > timezone.now():
            return False
        # Paid in time, in the pharmacy's hands: it is dispensed, not expired. (The pharmacy app's orders point
        # here; prescriptions does not import it, it only asks by the relation's name.)
        if Prescription.objects.filter(pk=rx.pk, orders__status__in=["paid", "dispensing"]).exists():
            return False
        transition(rx, RxStatus.EXPIRED, actor=None, reason="validity passed",
                   status_reason=gettext("not dispensed within %(days)s days") % {"days": settings.RX_VALID_DAYS})
        audit.record(actor=None, action=AuditAction.UPDATE, obj=rx, patient_id=rx.patient_id,
                     detail={"expired": True})
        realtime.prescription_changed(rx)
    return True


def _tell_refill_decision(refill: RefillRequest) -> None:
    titles = {
        RefillStatus.APPROVED: gettext("Your refill is approved; the pharmacist checks it next"),
        RefillStatus.VISIT_NEEDED: gettext("The doctor asks for an online visit before renewing your medicines"),
        RefillStatus.REFUSED: gettext("Your refill request was refused"),
    }
    link = "/visits/new/" if refill.status == RefillStatus.VISIT_NEEDED else "/prescriptions/"
    notify(users=patient_and_relatives(refill.patient), kind=f"refill.{refill.status}", title=titles[refill.status],
           body=refill.response, link=link, dedupe_key=f"refill:{refill.pk}:{refill.status}")


# ---- verifying a slip -----------------------------------------------------------------------------------------


FINGERPRINT_LENGTH = 16


def verify_slip(*, number: str, fingerprint: str) -> dict:
    """What anyone holding a slip may learn by scanning its QR code: whether it is genuine and its status.

    No health data: the patient's name is masked and no medicine is listed."""
    rx = Prescription.objects.select_related("patient__user", "doctor__user", "department__facility").filter(
        number=number
    ).first()
    fingerprint = (fingerprint or "").strip().lower()
    # At least the 16 characters the slip prints: numbers are sequential, so a short prefix could be guessed.
    if rx is None or not rx.content_hash or len(fingerprint) < FINGERPRINT_LENGTH:
        return {"genuine": False}
    if not rx.content_hash.startswith(fingerprint):
        return {"genuine": False}
    intact = hash_content(rx) == rx.content_hash
    name = rx.patient.real_name
    return {
        "genuine": intact,
        "tampered": not intact,
        "number": rx.number,
        "status": rx.status,
        "status_label": rx.get_status_display(),
        "patient": name[:1] + "*" * max(1, len(name) - 1),
        "doctor": rx.doctor.user.real_name,
        "facility": rx.department.facility.name,
        "signed_at": rx.signed_at,
        "valid_until": rx.valid_until,
        "content_hash": rx.content_hash,
    }
