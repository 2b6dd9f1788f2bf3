"""Reads of visits, always scoped: the patient, their active proxies, and the visit's doctor. Anyone else's
visit id answers 404 (over HTTP and over the WebSocket) and the refusal is audited."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Avg, F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import User
from ihospital.accounts.selectors import patients_acted_for
from ihospital.core import audit
from ihospital.core.errors import NotFound
from ihospital.core.models import AuditAction, AuditOutcome
from ihospital.directory.models import Department, Practitioner, Profession
from ihospital.records.models import ClinicalStatus, Condition, Document, EncounterMode, Verification

from .models import ACTIVE_STATUSES, BASIS_DOCUMENT_KINDS, Message, Visit, VisitStatus


def role_in_visit(user: User, visit: Visit) -> str | None:
    if not user.is_authenticated:
        return None
    if visit.patient.user_id == user.pk:
        return "patient"
    if visit.doctor_id and visit.doctor.user_id == user.pk:
        return "doctor"
    if patients_acted_for(user).filter(pk=visit.patient_id).exists():
        return "proxy"
    return None


def participant_visit(user: User, visit_id: int, *, audit_read: bool = True) -> tuple[Visit, str]:
    visit = (
        Visit.objects.select_related("patient__user", "doctor__user", "department__facility", "appointment__slot")
        .filter(pk=visit_id)
        .first()
    )
    role = role_in_visit(user, visit) if visit is not None else None
    if role is None:
        audit.record(
            actor=user,
            action=AuditAction.READ,
            object_type="visits.visit",
            object_id=visit_id,
            patient_id=visit.patient_id if visit else None,
            outcome=AuditOutcome.DENIED,
        )
        raise NotFound()
    if audit_read:
        audit.read(user, visit, patient_id=visit.patient_id, detail={"role": role})
    return visit, role


def visits_of_patient(user: User, patient_id: int) -> QuerySet[Visit]:
    if not patients_acted_for(user).filter(pk=patient_id).exists():
        raise NotFound()
    return Visit.objects.filter(patient_id=patient_id).select_related("department", "doctor__user", "appointment__slot")


def doctor_worklist(user: User) -> QuerySet[Visit]:
    """The doctor's own visits that still need them, oldest first."""
    return (
        Visit.objects.filter(doctor__user=user, status__in=ACTIVE_STATUSES)
        .select_related("patient__user", "department", "appointment__slot")
        .order_by("appointment__slot__starts_at", "created_at")
    )


def department_queue(user: User, department_id: int) -> QuerySet[Visit]:
    """Who waits in a department's queue. Visible to the department's online doctors only."""
    practitioner = Practitioner.objects.filter(user=user, departments__id=department_id).first()
    if practitioner is None or not practitioner.can_practise_online():
        raise NotFound()
    return queue_of(department_id).select_related("patient__user")


def queue_of(department_id: int) -> QuerySet[Visit]:
    return Visit.objects.filter(
        department_id=department_id, status=VisitStatus.REQUESTED, doctor__isnull=True
    ).order_by("queued_at", "id")


def average_consult_minutes(department_id: int) -> float:
    """Mean length of this department's recent closed visits, or the configured default when there are few."""
    since = timezone.now() - timedelta(days=30)
    recent = Visit.objects.filter(
        department_id=department_id, status=VisitStatus.CLOSED, started_at__isnull=False, ended_at__gte=since
    ).annotate(length=F("ended_at") - F("started_at"))
    if recent.count() < 5:
        return float(settings.VISIT_DEFAULT_MINUTES)
    mean = recent.aggregate(mean=Avg("length"))["mean"]
    return max(1.0, mean.total_seconds() / 60) if mean else float(settings.VISIT_DEFAULT_MINUTES)


def queue_position(visit: Visit) -> tuple[int, int] | None:
    """(1-based position, estimated wait in minutes) of a visit waiting in a queue, or None.

    The wait is the people ahead, times the mean consultation length, shared by the doctors consulting today.
    """
    if not visit.in_queue:
        return None
    ahead = (
        queue_of(visit.department_id).filter(queued_at__lt=visit.queued_at).count()
        + queue_of(visit.department_id).filter(queued_at=visit.queued_at, id__lt=visit.id).count()
    )
    return ahead + 1, _wait_minutes(visit.department_id, ahead)


def _wait_minutes(department_id: int, ahead: int) -> int:
    doctors = max(
        1,
        Practitioner.objects.filter(
            departments__id=department_id, consultation_days__date=timezone.localdate()
        ).count(),
    )
    return round(ahead * average_consult_minutes(department_id) / doctors)


def queue_estimate(department_id: int) -> tuple[int, int]:
    """(people waiting now, estimated wait in minutes) for someone who joins the department's queue now."""
    waiting = queue_of(department_id).count()
    return waiting, _wait_minutes(department_id, waiting)


# ---- what a new visit can be based on, and with whom ------------------------------------------------------------


def condition_basis_refusal(condition: Condition):
    """Why a diagnosis on the chart cannot be the basis of an online follow-up (a translated reason), or None.

    The basis is a confirmed, active diagnosis made in person at the home hospital, or one a doctor coded from
    an uploaded record they accepted."""
    if condition.entered_in_error:
        return _("entered in error")
    if condition.verification != Verification.CONFIRMED:
        return _("not a confirmed diagnosis (%(verification)s)") % {
            "verification": condition.get_verification_display()
        }
    if condition.clinical_status != ClinicalStatus.ACTIVE:
        return _("marked as resolved")
    encounter = condition.encounter
    if encounter is None:
        if condition.source_document_id is not None:
            return None  # accepted by a doctor from an uploaded record
        return _("not diagnosed at a visit in person")
    if encounter.mode != EncounterMode.IN_PERSON:
        return _("diagnosed online, not in person")
    if not encounter.at_home_hospital:
        return _("diagnosed at another facility: upload that record instead")
    return None


def follow_up_bases(user: User, patient_id: int) -> tuple[list[tuple[Condition, object]], list[Document]]:
    """The patient's diagnoses, each with the reason it cannot be a follow-up basis (None if it can), and the
    uploaded records that may serve as one. Scoped: the patient themself or an active proxy."""
    patient = patients_acted_for(user).filter(pk=patient_id).first()
    if patient is None:
        raise NotFound()
    conditions = list(
        Condition.objects.filter(patient=patient, entered_in_error=False)
        .select_related("encounter__facility", "encounter__department")
        .order_by("-recorded_at")
    )
    documents = list(
        Document.objects.filter(patient=patient, entered_in_error=False, kind__in=BASIS_DOCUMENT_KINDS).order_by(
            "-recorded_at"
        )
    )
    audit.read(user, patient, patient_id=patient.pk, detail={"view": "visit_basis"})
    return [(c, condition_basis_refusal(c)) for c in conditions], documents


def online_departments() -> QuerySet[Department]:
    return (
        Department.objects.filter(offers_online_visits=True)
        .select_related("facility")
        .order_by("facility__kind", "code")
    )


def online_doctors(department_id: int) -> list[Practitioner]:
    """The department's doctors who may hold online visits today."""
    candidates = (
        Practitioner.objects.filter(
            departments__id=department_id,
            departments__offers_online_visits=True,
            profession=Profession.DOCTOR,
            user__is_active=True,
        )
        .select_related("user")
        .order_by("user__real_name")
    )
    return [p for p in candidates if p.can_practise_online()]


def messages_after(visit: Visit, after_id: int = 0, limit: int = 500) -> list[Message]:
    return list(
        Message.objects.filter(visit=visit, pk__gt=after_id)
        .select_related("sender", "attachment")
        .order_by("pk")[:limit]
    )


def note_for(visit: Visit, role: str):
    """The doctor reads the whole note; the patient and proxies read the summary written for them, once closed."""
    from .models import VisitNote

    note = VisitNote.objects.filter(visit=visit).first()
    if note is None:
        raise NotFound("no_note", _("There is no note for this visit yet."))
    if role == "doctor":
        return {
            "visit_id": visit.pk,
            "subjective": note.subjective,
            "objective": note.objective,
            "assessment": note.assessment,
            "diagnosis_codes": note.diagnosis_codes,
            "plan": note.plan,
            "patient_summary": note.patient_summary,
        }
    if visit.status not in (VisitStatus.CLOSED, VisitStatus.REFERRED):
        raise NotFound("no_note", _("There is no note for this visit yet."))
    return {"visit_id": visit.pk, "patient_summary": note.patient_summary, "diagnosis_codes": note.diagnosis_codes}


def own_practitioner(user: User) -> Practitioner | None:
    if not user.is_authenticated:
        return None
    return Practitioner.objects.select_related("user").filter(user=user).first()


def consultation_day(practitioner: Practitioner):
    """Today's confirmation of the doctor's code, or None when it is still to be given."""
    from .models import ConsultationDay

    return ConsultationDay.objects.filter(practitioner=practitioner, date=timezone.localdate()).first()
