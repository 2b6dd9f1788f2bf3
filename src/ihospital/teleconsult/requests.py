"""The referring doctor's side of a consultation request, up to sending it.

A verified doctor at a partner facility, with the patient in their care, drafts a request (question, case
summary, urgency, the specialty or a named expert), attaches items of the chart (documents, lab results, imaging
studies) or uploads new ones, and sends it once the patient (or a proxy) has consented to share the record with
the home hospital. Sending copies the tariff in force, starts the clock (``settings.TELECONSULT_TARGETS``),
queues the escalation checks and tells the coordinators. The doctor may cancel until the report is signed.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from ihospital.accounts import services as accounts
from ihospital.accounts.models import Consent, ConsentKind, Role, User
from ihospital.core import audit
from ihospital.core.errors import Conflict, DomainError, Forbidden, NotFound
from ihospital.core.models import AuditAction
from ihospital.core.transitions import transition
from ihospital.diagnostics.models import DiagnosticKind, DiagnosticOrder, ImagingStudy, OrderStatus
from ihospital.directory.models import Department, FacilityKind
from ihospital.records.models import Document
from ihospital.records.selectors import patient_for

from . import realtime
from .models import (
    Attachment,
    AttachmentKind,
    ConsultRequest,
    ConsultSession,
    Mode,
    SessionStatus,
    Status,
    Tariff,
    Urgency,
)
from .selectors import atomic_denials_audited, consent_stands, request_for
from .triage import is_expert

EDITABLE = (Status.DRAFT, Status.RETURNED)
UNCHANGED = ...


# ---- checks ----------------------------------------------------------------------------------------------------


def is_partner_doctor(user: User) -> bool:
    """A verified doctor working at a partner facility (who may ask for a consultation)."""
    if not getattr(user, "is_authenticated", False) or user.role != Role.DOCTOR or not user.is_active:
        return False
    p = getattr(user, "practitioner", None)
    return p is not None and p.verified_at is not None and p.facility.kind == FacilityKind.PARTNER


def _require_partner_doctor(user: User) -> None:
    if not is_partner_doctor(user):
        raise Forbidden("not_partner_doctor", _("Only a verified doctor at a partner hospital can ask for a "
                                                "remote consultation."))


def _patient_in_care(actor: User, patient_id):
    try:
        patient, access = patient_for(actor, int(patient_id), purpose="write")
    except (NotFound, TypeError, ValueError):
        patient, access = None, None
    if access != "clinician":
        raise NotFound("patient_not_in_care", _("This patient is not in your care."))
    return patient


def _text(value, code: str, message) -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError(code, message, fields={code.removesuffix("_required"): message})
    return value


def _question(value) -> str:
    return _text(value, "question_required", _("Write the question for the experts."))


def _summary(value) -> str:
    return _text(value, "summary_required", _("Write a summary of the case."))


def _urgency(value) -> str:
    if value not in Urgency.values:
        raise DomainError("invalid_urgency", _("Choose routine, urgent or emergency."))
    return value


def _mode(value) -> str:
    if value not in Mode.values:
        raise DomainError("invalid_mode", _("Choose a case review or a live video session."))
    return value


def _department(department_id) -> Department | None:
    if department_id in (None, ""):
        return None
    try:
        dept = Department.objects.select_related("facility").filter(pk=int(department_id)).first()
    except (TypeError, ValueError):
        dept = None
    if dept is None or dept.facility.kind != FacilityKind.HOME:
        raise DomainError("invalid_department", _("Choose a department of the expert hospital."))
    return dept


def _named_expert(expert_id) -> User | None:
    if expert_id in (None, ""):
        return None
    try:
        expert = User.objects.select_related("practitioner__facility").filter(pk=int(expert_id)).first()
    except (TypeError, ValueError):
        expert = None
    if expert is None or not is_expert(expert):
        raise DomainError("invalid_expert", _("This doctor is not one of the expert hospital's consultants."))
    return expert


def _require_editable(request: ConsultRequest) -> None:
    if request.status not in EDITABLE:
        raise Conflict("not_editable", _("Only a draft or a returned request can be changed (it is %(status)s).")
                       % {"status": request.get_status_display()})


def _next_number() -> str:
    prefix = f"TC{timezone.localdate():%Y%m%d}-"
    last = (ConsultRequest.objects.filter(number__startswith=prefix).order_by("-number")
            .values_list("number", flat=True).first())
    n = int(last.removeprefix(prefix)) + 1 if last else 1
    return f"{prefix}{n:04d}"


# ---- the draft -------------------------------------------------------------------------------------------------


@atomic_denials_audited("patient_id", "accounts.patientprofile")
def create_request(*, actor: User, patient_id: int, question: str, summary: str, urgency: str, mode: str,
                   department_id: int | None = None, named_expert_id: int | None = None) -> ConsultRequest:
    """A draft request about a patient in the doctor's care; the patient is asked for consent."""
    _require_partner_doctor(actor)
    patient = _patient_in_care(actor, patient_id)
    fields = dict(question=_question(question), summary=_summary(summary), urgency=_urgency(urgency),
                  mode=_mode(mode), department=_department(department_id), named_expert=_named_expert(named_expert_id))
    for _attempt in range(5):
        try:
            with transaction.atomic():
                request = ConsultRequest.objects.create(
                    number=_next_number(), patient=patient, referring_doctor=actor,
                    referring_facility=actor.practitioner.facility, **fields)
                audit.record(actor=actor, action=AuditAction.CREATE, obj=request, patient_id=patient.pk,
                             detail={"number": request.number, "urgency": request.urgency, "mode": request.mode})
                realtime.tell_patient(request, "consent", gettext("A doctor asks to share your record"),
                                      gettext("%(doctor)s (%(facility)s) asks the experts of our hospital for an "
                                              "opinion. Your consent is needed.") % {
                                          "doctor": actor.real_name, "facility": request.referring_facility})
                realtime.request_changed(request)
                return request
        except IntegrityError:
            continue  # two drafts took the same number at once: take the next one
    raise Conflict("busy", _("Please try again."))


@atomic_denials_audited("request_id")
def update_request(*, actor: User, request_id: int, question: str | None = None, summary: str | None = None,
                   urgency: str | None = None, mode: str | None = None, department_id=UNCHANGED,
                   named_expert_id=UNCHANGED) -> ConsultRequest:
    """Change a draft or returned request. ``None`` leaves a text field as it is; for ``department_id`` and
    ``named_expert_id`` leave them out to keep them, or pass None to clear."""
    request, _role = request_for(actor, request_id, roles=("referrer",), for_update=True, audit_read=False)
    _require_editable(request)
    changed = {}
    if question is not None:
        changed["question"] = _question(question)
    if summary is not None:
        changed["summary"] = _summary(summary)
    if urgency is not None:
        changed["urgency"] = _urgency(urgency)
    if mode is not None:
        changed["mode"] = _mode(mode)
    if department_id is not UNCHANGED:
        changed["department"] = _department(department_id)
    if named_expert_id is not UNCHANGED:
        changed["named_expert"] = _named_expert(named_expert_id)
    for key, value in changed.items():
        setattr(request, key, value)
    if changed:
        request.save(update_fields=list(changed))
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=request, patient_id=request.patient_id,
                     detail={"changed": sorted(changed)})
        realtime.request_changed(request)
    return request


def _target(request: ConsultRequest, kind: str, target_id) -> dict:
    try:
        target_id = int(target_id)
    except (TypeError, ValueError):
        target_id = None
    target = None
    if kind == AttachmentKind.DOCUMENT:
        target = Document.objects.filter(pk=target_id, patient=request.patient, entered_in_error=False).first()
        return {"document": target} if target else {}
    if kind == AttachmentKind.LAB:
        target = (DiagnosticOrder.objects.filter(pk=target_id, patient=request.patient,
                                                 status__in=(OrderStatus.RESULTED, OrderStatus.RELEASED))
                  .exclude(test__kind=DiagnosticKind.IMAGING).first())
        return {"order": target} if target else {}
    if kind == AttachmentKind.IMAGING:
        target = ImagingStudy.objects.filter(pk=target_id, order__patient=request.patient).first()
        return {"study": target} if target else {}
    return {}


@atomic_denials_audited("request_id")
def attach(*, actor: User, request_id: int, kind: str, target_id: int, note: str = "") -> Attachment:
    """Share one item of the patient's chart with the experts."""
    request, _role = request_for(actor, request_id, roles=("referrer",), for_update=True, audit_read=False)
    _require_editable(request)
    _patient_in_care(actor, request.patient_id)
    target = _target(request, kind, target_id)
    if not target:
        raise DomainError("invalid_attachment", _("Choose a document, lab result or imaging study from this "
                                                  "patient's chart."))
    if request.attachments.filter(removed_at__isnull=True, **target).exists():
        raise Conflict("already_attached", _("This item is already attached."))
    attachment = Attachment.objects.create(request=request, kind=kind, note=(note or "").strip()[:200],
                                           added_by=actor, **target)
    audit.record(actor=actor, action=AuditAction.CREATE, obj=attachment, patient_id=request.patient_id,
                 detail={"request": request.number, "kind": kind, "target": next(iter(target.values())).pk})
    realtime.request_changed(request, what="attachments")
    return attachment


def upload_attachment(*, actor: User, request_id: int, file, title: str, doc_kind: str) -> Attachment:
    """Upload a file to the patient's chart (records' checks and storage) and attach it."""
    from ihospital.records.services import upload_document

    request, _role = request_for(actor, request_id, roles=("referrer",), audit_read=False)
    _require_editable(request)
    document = upload_document(actor=actor, patient_id=request.patient_id, kind=doc_kind, title=title, file=file)
    return attach(actor=actor, request_id=request.pk, kind=AttachmentKind.DOCUMENT, target_id=document.pk)


@atomic_denials_audited("attachment_id", "teleconsult.attachment")
def remove_attachment(*, actor: User, attachment_id: int) -> None:
    """Take an item off a draft or returned request (the row stays, marked removed)."""
    try:
        attachment = Attachment.objects.filter(pk=int(attachment_id), removed_at__isnull=True).first()
    except (TypeError, ValueError):
        attachment = None
    if attachment is None:
        raise NotFound()
    request, _role = request_for(actor, attachment.request_id, roles=("referrer",), for_update=True,
                                 audit_read=False)
    _require_editable(request)
    attachment.removed_at = timezone.now()
    attachment.save(update_fields=["removed_at"])
    audit.record(actor=actor, action=AuditAction.UPDATE, obj=attachment, patient_id=request.patient_id,
                 detail={"removed": True, "request": request.number})
    realtime.request_changed(request, what="attachments")


# ---- consent, sending, cancelling -----------------------------------------------------------------------------


@atomic_denials_audited("request_id")
def give_consent(*, actor: User, request_id: int) -> Consent:
    """The patient (or an active proxy) consents to share the record for this request with the home hospital."""
    request, _role = request_for(actor, request_id, roles=("patient",), for_update=True, audit_read=False)
    if consent_stands(request):
        raise Conflict("consent_already_given", _("Consent for this consultation was already given."))
    if request.status not in EDITABLE:
        raise Conflict("not_editable", _("This consultation no longer needs consent (it is %(status)s).")
                       % {"status": request.get_status_display()})
    consent = accounts.give_consent(actor=actor, patient=request.patient, kind=ConsentKind.RECORD_SHARING,
                                    subject=f"consult:{request.pk}")
    request.consent = consent
    request.save(update_fields=["consent"])
    audit.record(actor=actor, action=AuditAction.UPDATE, obj=request, patient_id=request.patient_id,
                 detail={"consent": consent.pk})
    realtime.tell_users(request, [request.referring_doctor], f"consented.{consent.pk}",
                        gettext("Consent given for %(number)s") % {"number": request.number})
    realtime.request_changed(request)
    return consent


def tariff_for(request: ConsultRequest) -> Tariff | None:
    """The newest tariff in force today for the referring facility, urgency and mode."""
    return (Tariff.objects.filter(facility=request.referring_facility, urgency=request.urgency, mode=request.mode,
                                  valid_from__lte=timezone.localdate()).order_by("-valid_from").first())


def deadlines(urgency: str, start) -> tuple:
    targets = settings.TELECONSULT_TARGETS[urgency]
    return (start + timedelta(minutes=targets["first_response"]), start + timedelta(minutes=targets["report"]))


@atomic_denials_audited("request_id")
def submit(*, actor: User, request_id: int) -> ConsultRequest:
    """Send a draft (or a returned request, again) to the home hospital's coordinators."""
    request, _role = request_for(actor, request_id, roles=("referrer",), for_update=True, audit_read=False)
    _require_partner_doctor(actor)
    if request.status not in EDITABLE:
        raise Conflict("not_editable", _("This request was already sent (it is %(status)s).")
                       % {"status": request.get_status_display()})
    _patient_in_care(actor, request.patient_id)
    _question(request.question)
    _summary(request.summary)
    if not consent_stands(request):
        raise DomainError("consent_required", _("The patient's consent to share the record is needed before "
                                                "the request can be sent."))
    tariff = tariff_for(request)
    if tariff is None:
        raise DomainError("no_tariff", _("There is no fee agreed with the expert hospital for this kind of "
                                         "consultation. Ask your hospital's administration."))
    now = timezone.now()
    first_due, report_due = deadlines(request.urgency, now)
    resent = request.status == Status.RETURNED
    transition(request, Status.SUBMITTED, actor=actor, reason="sent again" if resent else "sent",
               submitted_at=now, first_response_due=first_due, report_due=report_due, tariff=tariff,
               fee_fen=tariff.fee_fen)
    audit.record(actor=actor, action=AuditAction.UPDATE, obj=request, patient_id=request.patient_id,
                 detail={"status": Status.SUBMITTED, "fee_fen": tariff.fee_fen, "tariff": tariff.pk})
    from .escalation import schedule_checks

    schedule_checks(request)
    realtime.tell_users(request, realtime.coordinators(), f"submitted.{int(now.timestamp())}",
                        gettext("New consultation request %(number)s") % {"number": request.number},
                        gettext("Urgency: %(urgency)s.") % {"urgency": request.get_urgency_display()})
    realtime.request_changed(request)
    return request


@atomic_denials_audited("request_id")
def cancel(*, actor: User, request_id: int, reason: str) -> ConsultRequest:
    """The referring doctor withdraws the request (any time before the report is signed)."""
    request, _role = request_for(actor, request_id, roles=("referrer",), for_update=True, audit_read=False)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("reason_required", _("Give a reason."), fields={"reason": _("Give a reason.")})
    sent = request.status != Status.DRAFT
    transition(request, Status.CANCELLED, actor=actor, reason=reason[:500])
    audit.record(actor=actor, action=AuditAction.UPDATE, obj=request, patient_id=request.patient_id,
                 detail={"status": Status.CANCELLED, "reason": reason[:500]})
    for session in ConsultSession.objects.select_for_update().filter(request=request,
                                                                     status=SessionStatus.SCHEDULED):
        transition(session, SessionStatus.CANCELLED, actor=actor, reason="request cancelled")
    if sent:
        experts = User.objects.filter(consult_assignments__request=request, consult_assignments__ended_at__isnull=True)
        realtime.tell_users(request, [*realtime.coordinators(), *experts], "cancelled",
                            gettext("Consultation %(number)s was cancelled") % {"number": request.number})
    realtime.request_changed(request)
    return request
