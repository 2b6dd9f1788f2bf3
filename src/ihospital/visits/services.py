"""Every act of an online follow-up visit: one function each, atomic, permission-checked, audited.

Real-time delivery and tasks are sent after commit (``realtime`` and ``tasks``), so nobody is told about a
message or a status that was then rolled back.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import ConsentKind, PatientProfile, User
from ihospital.accounts.selectors import patient_acted_for
from ihospital.accounts.services import (
    give_consent,
    has_consent,
    require_health_data_consent,
    second_factor_is_fresh,
    verify_second_factor,
)
from ihospital.core import audit
from ihospital.core.errors import Conflict, DomainError, Forbidden, NotFound
from ihospital.core.models import AuditAction, AuditOutcome
from ihospital.core.transitions import transition
from ihospital.directory.models import Department, Practitioner
from ihospital.records import icd10
from ihospital.records import services as records
from ihospital.records.models import (
    CareSource,
    Condition,
    Document,
    Encounter,
    EncounterMode,
    Verification,
)
from ihospital.scheduling import services as scheduling
from ihospital.scheduling.models import VisitMode

from . import chat, notices, realtime, tasks
from .models import (
    BASIS_DOCUMENT_KINDS,
    BasisStatus,
    ConsultationDay,
    Visit,
    VisitNote,
    VisitStatus,
)
from .selectors import condition_basis_refusal, participant_visit

IN_PERSON_BOOKING_LINK = "/visits/in-person/"


def _first_visit_refusal() -> DomainError:
    return DomainError(
        "first_visit_not_allowed",
        _(
            "Online visits are only for follow-ups of a condition already diagnosed in person. "
            "Please book an in-person appointment first, or upload your outpatient record, discharge summary "
            "or diagnosis certificate for the doctor to check."
        ),
        status=403,
        link=IN_PERSON_BOOKING_LINK,
    )


def first_visit_refusal() -> DomainError:
    """The refusal a first visit gets (pages show it before the patient even tries)."""
    return _first_visit_refusal()


# ---- the doctor's day --------------------------------------------------------------------------------------


def _online_doctor(actor: User) -> Practitioner:
    practitioner = Practitioner.objects.filter(user=actor).first()
    if practitioner is None or actor.role != "doctor":
        raise Forbidden("not_a_doctor", _("Only doctors can do this."))
    refusal = practitioner.online_practice_refusal()
    if refusal:
        raise Forbidden(
            "not_eligible_for_online_practice",
            _(
                "You may not consult online: at least 3 years of independent practice and a verified licence are "
                "required."
            ),
            fields={"reason": refusal},
        )
    return practitioner


def start_consultation_day(*, actor: User, code: str = "", session=None) -> ConsultationDay:
    """The doctor confirms their second factor before the first consultation of the day.

    A code typed at sign-in within the last ``CONSULT_REAUTH_MINUTES`` counts (the session remembers when):
    django-otp rightly refuses the same code twice, and asking for a second one seconds after the first
    would only make the doctor wait for the next 30-second window."""
    practitioner = _online_doctor(actor)
    if not (not code and second_factor_is_fresh(session, minutes=settings.CONSULT_REAUTH_MINUTES)):
        verify_second_factor(user=actor, code=code)
    day, _created = ConsultationDay.objects.update_or_create(
        practitioner=practitioner, date=timezone.localdate(), defaults={"verified_at": timezone.now()}
    )
    audit.record(actor=actor, action=AuditAction.LOGIN, obj=day, detail={"consultation_day": str(day.date)})
    return day


def _consulting_doctor(actor: User) -> Practitioner:
    practitioner = _online_doctor(actor)
    if not ConsultationDay.objects.filter(practitioner=practitioner, date=timezone.localdate()).exists():
        raise DomainError(
            "reauthentication_required",
            _("Confirm your 6-digit code to start today's online consultations."),
            status=401,
            link="/visits/doctor/start-day/",
        )
    return practitioner


# ---- requesting a visit --------------------------------------------------------------------------------------


def _audit_denied(actor: User, model, object_id) -> None:
    """Record a refused reach for an object by id (before any transaction that could roll the record back)."""
    owner = model.objects.filter(pk=object_id).values_list("pk" if model is PatientProfile else "patient_id",
                                                           flat=True).first()
    audit.record(actor=actor, action=AuditAction.READ, object_type=model._meta.label_lower, object_id=object_id,
                 patient_id=owner, outcome=AuditOutcome.DENIED)


def _basis(
    patient, *, condition_id: int | None, document_id: int | None
) -> tuple[Condition | None, Document | None, str]:
    if condition_id is not None:
        condition = (
            Condition.objects.select_related("encounter__facility")
            .filter(pk=condition_id, patient=patient)
            .first()
        )
        if condition is None:
            raise NotFound()
        if condition_basis_refusal(condition) is not None:
            raise _first_visit_refusal()
        return condition, None, BasisStatus.ACCEPTED
    if document_id is not None:
        document = Document.objects.filter(pk=document_id, patient=patient, entered_in_error=False).first()
        if document is None:
            raise NotFound()
        if document.kind not in BASIS_DOCUMENT_KINDS:
            raise DomainError(
                "document_not_a_diagnosis",
                _("Please choose an outpatient or inpatient record, a discharge summary or a diagnosis certificate."),
            )
        return None, document, BasisStatus.PENDING_REVIEW
    raise _first_visit_refusal()


def request_visit(
    *,
    actor: User,
    patient_id: int,
    complaint: str,
    condition_id: int | None = None,
    document_id: int | None = None,
    slot_id: int | None = None,
    department_id: int | None = None,
    mode: str = VisitMode.TEXT,
    online_care_consent: bool = False,
) -> Visit:
    """A patient (or proxy) asks for a follow-up: with a booked slot of a chosen doctor, or in a department's
    queue for the next available doctor. The follow-up basis is checked first: a first visit is refused."""
    try:
        patient = patient_acted_for(actor, patient_id)
    except NotFound:
        _audit_denied(actor, PatientProfile, patient_id)
        raise
    require_health_data_consent(patient)
    # Informed consent to online care: given once (with this request or before), kept, and withdrawable.
    if not online_care_consent and not has_consent(patient, ConsentKind.ONLINE_CARE):
        raise DomainError(
            "online_care_consent_required",
            _("Please read and agree to the informed consent for online care first."),
            status=403,
            fields={"online_care_consent": _("required")},
        )
    complaint = (complaint or "").strip()
    if not complaint:
        raise DomainError("complaint_required", _("Please describe why you need the visit."),
                          fields={"complaint": _("required")})
    if (slot_id is None) == (department_id is None):
        raise DomainError("choose_slot_or_queue", _("Choose a time with a doctor, or the queue of a department."))
    try:
        condition, document, basis_status = _basis(patient, condition_id=condition_id, document_id=document_id)
    except NotFound:
        # Someone else's (or no) condition or document: a 404 like a missing one, and recorded as refused.
        if condition_id is not None:
            _audit_denied(actor, Condition, condition_id)
        else:
            _audit_denied(actor, Document, document_id)
        raise
    with transaction.atomic():
        if slot_id is not None:
            appointment = scheduling.book_slot(actor=actor, patient_id=patient.pk, slot_id=slot_id)
            slot = appointment.slot
            fields = dict(
                appointment=appointment, doctor=slot.practitioner, department=slot.department, mode=slot.mode
            )
        else:
            department = Department.objects.filter(pk=department_id, offers_online_visits=True).first()
            if department is None:
                raise NotFound("department_not_found", _("This department does not offer online visits."))
            if mode not in VisitMode.values:
                raise DomainError("invalid_mode", _("Choose text or video."))
            fields = dict(department=department, queued_at=timezone.now(), mode=mode)
        try:
            with transaction.atomic():
                visit = Visit.objects.create(
                    patient=patient, requested_by=actor, condition=condition, basis_document=document,
                    basis_status=basis_status, complaint=complaint[:4000], **fields,
                )
        except IntegrityError:
            raise Conflict("already_in_queue", _("You are already waiting in this department's queue.")) from None
        if not has_consent(patient, ConsentKind.ONLINE_CARE):
            give_consent(actor=actor, patient=patient, kind=ConsentKind.ONLINE_CARE)
        audit.record(actor=actor, action=AuditAction.CREATE, obj=visit, patient_id=patient.pk,
                     detail={"queue": visit.in_queue, "basis": basis_status})
    if visit.appointment_id:
        tasks.schedule_reminder(visit)
    else:
        realtime.queue_changed(visit.department_id)
    return visit


def cancel_visit(*, actor: User, visit_id: int, reason: str = "") -> Visit:
    visit, role = participant_visit(actor, visit_id)
    if role not in ("patient", "proxy"):
        raise Forbidden("not_the_patient", _("Only the patient or their proxy can cancel."))
    with transaction.atomic():
        was_queued = visit.in_queue
        transition(visit, VisitStatus.CANCELLED, actor=actor, reason=reason, status_reason=reason,
                   ended_at=timezone.now())
        _release_appointment(visit, actor, reason="visit cancelled", by_patient=True)
        _end_visit_care(visit, actor)
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=visit, patient_id=visit.patient_id,
                     detail={"status": "cancelled"})
    realtime.visit_status(visit)
    if was_queued:
        realtime.queue_changed(visit.department_id)
    return visit


def reschedule_visit(*, actor: User, visit_id: int, slot_id: int) -> Visit:
    """The patient (or proxy) moves a booked visit to another open time of the same doctor.

    The booking moves with ``scheduling.reschedule_appointment`` (its hour and count limits apply); the visit
    follows it to the new appointment, all in one transaction."""
    visit, role = participant_visit(actor, visit_id)
    if role not in ("patient", "proxy"):
        raise Forbidden("not_the_patient", _("Only the patient or their proxy can move the visit."))
    movable = (VisitStatus.REQUESTED, VisitStatus.ACCEPTED)
    if visit.appointment_id is None or visit.status not in movable:
        raise Conflict("visit_not_movable", _("Only a booked visit that has not started can be moved."))
    with transaction.atomic():
        appointment = scheduling.reschedule_appointment(
            actor=actor, appointment_id=visit.appointment_id, new_slot_id=slot_id
        )
        slot = appointment.slot
        if slot.practitioner_id != visit.doctor_id:
            raise DomainError("other_doctor", _("Choose another time with the same doctor."))
        moved = Visit.objects.filter(pk=visit.pk, appointment_id=visit.appointment_id, status__in=movable).update(
            appointment=appointment, mode=slot.mode
        )
        if not moved:
            raise Conflict("visit_not_movable", _("Only a booked visit that has not started can be moved."))
        visit.refresh_from_db()
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=visit, patient_id=visit.patient_id,
                     detail={"appointment": appointment.pk, "slot": slot.pk})
        chat.system_message(visit, _("The visit was moved to %(time)s.")
                        % {"time": f"{timezone.localtime(slot.starts_at):%Y-%m-%d %H:%M}"})
    tasks.schedule_reminder(visit)
    realtime.visit_status(visit)
    return visit


# ---- the doctor's decisions ----------------------------------------------------------------------------------


def review_basis(*, actor: User, visit_id: int, accept: bool, code: str = "", note: str = "") -> Visit:
    """The doctor accepts an uploaded record as the diagnosis (coding it), or rejects it with a reason."""
    practitioner = _consulting_doctor(actor)
    visit, role = participant_visit(actor, visit_id)
    if role != "doctor":
        raise NotFound()
    if visit.basis_status != BasisStatus.PENDING_REVIEW:
        raise Conflict("basis_already_reviewed", _("The record of this visit was already reviewed."))
    if visit.status != VisitStatus.REQUESTED:
        # Cancelled or referred before the review: the doctor no longer writes a diagnosis into the chart for it.
        raise Conflict(
            "invalid_transition",
            _("This cannot be done now: it is %(status)s.") % {"status": visit.get_status_display()},
        )
    with transaction.atomic():
        if accept:
            icd = icd10.lookup(code)
            condition = Condition.objects.create(
                patient=visit.patient, recorded_by=actor, source_document=visit.basis_document, code=icd.code,
                display=icd.name_zh or icd.name_en, verification=Verification.CONFIRMED, chronic=True,
                note=note or f"accepted from document {visit.basis_document_id}",
            )
            Visit.objects.filter(pk=visit.pk).update(
                condition=condition, basis_status=BasisStatus.ACCEPTED, basis_review_note=note
            )
        else:
            if not note.strip():
                raise DomainError("reason_required", _("Please tell the patient why the record is not enough."))
            Visit.objects.filter(pk=visit.pk).update(basis_status=BasisStatus.REJECTED, basis_review_note=note)
            transition(visit, VisitStatus.REFUSED, actor=actor, reason=note, status_reason=note,
                       ended_at=timezone.now())
            _release_appointment(visit, actor, reason="refused")
            _end_visit_care(visit, actor)
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=visit, patient_id=visit.patient_id,
                     detail={"basis": "accepted" if accept else "rejected", "doctor": practitioner.pk})
    visit.refresh_from_db()
    realtime.visit_status(visit)
    return visit


def _release_appointment(visit: Visit, actor: User, *, reason: str, consulted: bool = False,
                         by_patient: bool = False) -> None:
    """Settle the booked slot of a visit that ends.

    A consultation that took place keeps its appointment (completed). One that did not frees the place while
    the slot is still ahead; once the slot's time has passed there is no place left to free, so the
    appointment is closed instead: a no-show when the patient withdraws late, completed when the doctor ends it.
    """
    if not visit.appointment_id:
        return
    appointment = visit.appointment
    if appointment.status != "booked":
        return
    if consulted:
        scheduling.complete_appointment(appointment_id=appointment.pk, actor=actor)
    elif appointment.slot.ends_at > timezone.now():
        scheduling.cancel_appointment(actor=actor, appointment_id=appointment.pk, reason=reason)
    elif by_patient:
        scheduling.mark_no_show(appointment_id=appointment.pk, actor=actor)
    else:
        scheduling.complete_appointment(appointment_id=appointment.pk, actor=actor)


def _grant_visit_care(visit: Visit, actor: User) -> None:
    records.grant_care(clinician=visit.doctor.user, patient=visit.patient, source=CareSource.VISIT,
                       source_id=str(visit.pk), granted_by=actor)


def _end_visit_care(visit: Visit, actor: User) -> None:
    """A visit that ends without a consultation (cancelled, refused) closes the chart to its doctor at once."""
    if visit.doctor_id:
        records.end_care(clinician=visit.doctor.user, patient=visit.patient, source=CareSource.VISIT,
                         source_id=str(visit.pk), actor=actor)


def accept_visit(*, actor: User, visit_id: int) -> Visit:
    practitioner = _consulting_doctor(actor)
    visit, role = participant_visit(actor, visit_id)
    if role != "doctor" or visit.doctor_id != practitioner.pk:
        raise NotFound()
    if visit.basis_status != BasisStatus.ACCEPTED:
        raise DomainError("basis_not_accepted", _("Review the patient's uploaded record before accepting."))
    with transaction.atomic():
        transition(visit, VisitStatus.ACCEPTED, actor=actor, accepted_at=timezone.now())
        _grant_visit_care(visit, actor)
        chat.system_message(visit, _("The doctor accepted the visit."))
        notices.visit_accepted(visit)
    realtime.visit_status(visit)
    return visit


def take_next_from_queue(*, actor: User, department_id: int) -> Visit:
    """The next waiting patient of the department goes to this doctor. Two doctors pressing at once get two
    different patients: the claim is a conditional UPDATE that only one of them can win per visit."""
    practitioner = _consulting_doctor(actor)
    if not practitioner.departments.filter(pk=department_id).exists():
        raise NotFound()
    for _attempt in range(5):
        candidate = (
            Visit.objects.filter(
                department_id=department_id, status=VisitStatus.REQUESTED, doctor__isnull=True,
                basis_status__in=[BasisStatus.ACCEPTED, BasisStatus.PENDING_REVIEW],
            )
            .order_by("queued_at", "id")
            .values_list("pk", flat=True)
            .first()
        )
        if candidate is None:
            raise NotFound("queue_empty", _("Nobody is waiting in this queue."))
        with transaction.atomic():
            claimed = Visit.objects.filter(pk=candidate, doctor__isnull=True, status=VisitStatus.REQUESTED).update(
                doctor=practitioner
            )
            if not claimed:
                continue
            visit = Visit.objects.select_related("patient").get(pk=candidate)
            if visit.basis_status == BasisStatus.ACCEPTED:
                transition(visit, VisitStatus.ACCEPTED, actor=actor, accepted_at=timezone.now())
                notices.visit_accepted(visit)
            _grant_visit_care(visit, actor)
            audit.record(actor=actor, action=AuditAction.UPDATE, obj=visit, patient_id=visit.patient_id,
                         detail={"taken_from_queue": department_id})
            chat.system_message(visit, _("A doctor took your visit from the queue."))
        realtime.queue_changed(department_id)
        realtime.visit_status(visit)
        return visit
    raise Conflict("queue_busy", _("The queue is busy; try again."))


def start_visit(*, actor: User, visit_id: int) -> Visit:
    practitioner = _consulting_doctor(actor)
    visit, role = participant_visit(actor, visit_id)
    if role != "doctor" or visit.doctor_id != practitioner.pk:
        raise NotFound()
    with transaction.atomic():
        transition(visit, VisitStatus.IN_PROGRESS, actor=actor, started_at=timezone.now())
        chat.system_message(visit, _("The consultation has started."))
    realtime.visit_status(visit)
    return visit


def refuse_visit(*, actor: User, visit_id: int, reason: str) -> Visit:
    return _doctor_ends(actor, visit_id, VisitStatus.REFUSED, reason)


def refer_in_person(*, actor: User, visit_id: int, reason: str) -> Visit:
    """The condition changed or needs an examination: the visit ends and the patient is sent to the clinic."""
    return _doctor_ends(actor, visit_id, VisitStatus.REFERRED, reason)


def _doctor_ends(actor: User, visit_id: int, status: str, reason: str) -> Visit:
    practitioner = _consulting_doctor(actor)
    visit, role = participant_visit(actor, visit_id)
    if role != "doctor" or visit.doctor_id != practitioner.pk:
        raise NotFound()
    if not (reason or "").strip():
        raise DomainError("reason_required", _("Please give the patient a reason."), fields={"reason": _("required")})
    with transaction.atomic():
        consulted = visit.status == VisitStatus.IN_PROGRESS
        transition(visit, status, actor=actor, reason=reason, status_reason=reason, ended_at=timezone.now())
        _release_appointment(visit, actor, reason=status, consulted=consulted)
        if status == VisitStatus.REFERRED:
            _record_encounter(visit, practitioner, actor, summary=reason)
        else:
            _end_visit_care(visit, actor)
        chat.system_message(visit, reason)
    realtime.visit_status(visit)
    return visit


# ---- the note and closing -------------------------------------------------------------------------------------


def save_note(
    *,
    actor: User,
    visit_id: int,
    subjective: str = "",
    objective: str = "",
    assessment: str = "",
    diagnosis_codes: list[str] | None = None,
    plan: str = "",
    patient_summary: str = "",
) -> VisitNote:
    practitioner = _consulting_doctor(actor)
    visit, role = participant_visit(actor, visit_id)
    if role != "doctor" or visit.doctor_id != practitioner.pk:
        raise NotFound()
    if visit.status not in (VisitStatus.ACCEPTED, VisitStatus.IN_PROGRESS):
        raise Conflict("note_frozen", _("The note can only be written while the visit is open."))
    codes = [icd10.lookup(c).code for c in (diagnosis_codes or []) if c.strip()]
    with transaction.atomic():
        note, _created = VisitNote.objects.update_or_create(
            visit=visit,
            defaults=dict(author=actor, subjective=subjective, objective=objective, assessment=assessment,
                          diagnosis_codes=codes, plan=plan, patient_summary=patient_summary),
        )
        audit.record(actor=actor, action=AuditAction.UPDATE, obj=note, patient_id=visit.patient_id)
    return note


def _record_encounter(visit: Visit, practitioner: Practitioner, actor: User, summary: str) -> Encounter:
    encounter = Encounter.objects.create(
        patient=visit.patient, recorded_by=actor, mode=EncounterMode.ONLINE, facility=visit.department.facility,
        department=visit.department, practitioner=practitioner,
        started_at=visit.started_at or visit.accepted_at or visit.created_at, ended_at=timezone.now(),
        reason=visit.complaint[:255], summary=summary,
    )
    Visit.objects.filter(pk=visit.pk).update(encounter=encounter)
    audit.record(actor=actor, action=AuditAction.CREATE, obj=encounter, patient_id=visit.patient_id)
    # The doctor keeps the chart for a while after the visit, for questions and refills that follow it.
    records.end_care(clinician=practitioner.user, patient=visit.patient, source=CareSource.VISIT,
                     source_id=str(visit.pk), actor=actor,
                     at=timezone.now() + timedelta(days=settings.VISIT_CARE_DAYS))
    return encounter


def close_visit(*, actor: User, visit_id: int) -> Visit:
    """Close with a written note: the visit becomes an online encounter in the chart."""
    practitioner = _consulting_doctor(actor)
    visit, role = participant_visit(actor, visit_id)
    if role != "doctor" or visit.doctor_id != practitioner.pk:
        raise NotFound()
    note = VisitNote.objects.filter(visit=visit).first()
    with transaction.atomic():
        # The status first: a visit that cannot be closed now says so (409), not "write the note".
        transition(visit, VisitStatus.CLOSED, actor=actor, ended_at=timezone.now())
        if note is None or not note.assessment.strip() or not note.plan.strip():
            raise DomainError("note_required", _("Write the assessment and the plan before closing the visit."))
        summary = "\n".join(part for part in (note.assessment, note.plan) if part)
        _record_encounter(visit, practitioner, actor, summary=summary)
        if visit.appointment_id:
            scheduling.complete_appointment(appointment_id=visit.appointment_id, actor=actor)
        chat.system_message(visit, _("The doctor closed the visit."))
    realtime.visit_status(visit)
    return visit


def rate_visit(*, actor: User, visit_id: int, rating: int, comment: str = "") -> Visit:
    visit, role = participant_visit(actor, visit_id)
    if role not in ("patient", "proxy"):
        raise NotFound()
    if visit.status != VisitStatus.CLOSED:
        raise Conflict("visit_not_closed", _("You can rate a visit after it is closed."))
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise DomainError("invalid_rating", _("Rate from 1 to 5 stars."), fields={"rating": "1-5"})
    updated = Visit.objects.filter(pk=visit.pk, rating__isnull=True).update(
        rating=rating, rating_comment=comment[:2000]
    )
    if not updated:
        raise Conflict("already_rated", _("You already rated this visit."))
    audit.record(actor=actor, action=AuditAction.UPDATE, obj=visit, patient_id=visit.patient_id,
                 detail={"rating": rating})
    visit.refresh_from_db()
    return visit
