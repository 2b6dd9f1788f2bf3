"""Short ways through the visit workflow for tests that start in the middle of it (all through the services)."""

from __future__ import annotations

from ihospital.visits import services
from ihospital.visits.models import Visit

NOTE = dict(
    subjective="头晕两周，晨起明显",
    objective="家庭自测血压 150/95 mmHg",
    assessment="原发性高血压，控制欠佳",
    diagnosis_codes=["I10"],
    plan="氨氯地平加量至 10 mg qd，两周后复诊",
    patient_summary="血压偏高，药量已调整，两周后复诊。",
)


def book(patient, slot, condition, *, actor=None, complaint="血压控制不佳，想调整用药") -> Visit:
    return services.request_visit(
        online_care_consent=True,
        actor=actor or patient.user,
        patient_id=patient.pk,
        complaint=complaint,
        condition_id=condition.pk,
        slot_id=slot.pk,
    )


def queue(patient, department, condition, *, actor=None, complaint="复诊开药", mode="text") -> Visit:
    return services.request_visit(
        online_care_consent=True,
        actor=actor or patient.user,
        patient_id=patient.pk,
        complaint=complaint,
        condition_id=condition.pk,
        department_id=department.pk,
        mode=mode,
    )


def accept(visit, doctor) -> Visit:
    return services.accept_visit(actor=doctor.user, visit_id=visit.pk)


def start(visit, doctor) -> Visit:
    visit.refresh_from_db()
    if visit.status == Visit.Status.REQUESTED:
        accept(visit, doctor)
    return services.start_visit(actor=doctor.user, visit_id=visit.pk)


def write_note(visit, doctor, **changes):
    return services.save_note(actor=doctor.user, visit_id=visit.pk, **{**NOTE, **changes})


def close(visit, doctor) -> Visit:
    visit.refresh_from_db()
    if visit.status != Visit.Status.IN_PROGRESS:
        start(visit, doctor)
    write_note(visit, doctor)
    return services.close_visit(actor=doctor.user, visit_id=visit.pk)


VISIT_MODELS = [
    "visits.Visit",
    "visits.Message",
    "visits.VisitNote",
    "visits.ReadMark",
    "visits.ConsultationDay",
    "scheduling.Appointment",
    "notifications.Notification",
    "django_tasks_database.DBTaskResult",
]


def state() -> dict:
    """Row counts of everything a refused request must leave alone, plus the places taken in slots and every
    visit's status, so "nothing changed" also covers updates."""
    from django.apps import apps
    from django.db.models import Sum

    from ihospital.scheduling.models import Slot
    from tests.helpers import counts

    snapshot: dict = counts()
    snapshot.update({label: apps.get_model(label).objects.count() for label in VISIT_MODELS})
    snapshot["slot places taken"] = Slot.objects.aggregate(n=Sum("booked"))["n"] or 0
    snapshot["visits"] = sorted(Visit.objects.values_list("pk", "status", "doctor_id", "basis_status"))
    return snapshot
