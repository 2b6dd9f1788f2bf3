"""Reads of medical-test orders, scoped to the asking user and audited.

Who sees an order, and as what (``role``):

* ``patient``: the patient and their active proxies;
* ``doctor``: the doctor who ordered it;
* ``radiologist``: any other verified doctor of the ``radiology`` department, for imaging exams only (kind
  ``imaging``; not laboratory tests, not functional exams such as the ECG): they read the images and write the
  report;
* ``lab``: lab and imaging technicians (they draw, scan and enter results).

Anyone else asking by id gets 404, the same as for an id that does not exist, and the attempt is audited.
"""

from __future__ import annotations

from django.db.models import QuerySet

from ihospital.accounts.models import Role, User
from ihospital.accounts.selectors import patient_acted_for, patients_acted_for
from ihospital.core import audit
from ihospital.core.errors import NotFound
from ihospital.core.models import AuditAction, AuditOutcome
from ihospital.directory.models import Practitioner, Profession
from ihospital.visits.models import Visit

from .models import DiagnosticKind, DiagnosticOrder

ORDER_RELATED = ("patient__user", "test", "doctor__user")
RADIOLOGY_DEPARTMENT = "radiology"


def is_radiologist(user) -> bool:
    """A verified doctor of the radiology department."""
    if not getattr(user, "is_authenticated", False) or user.role != Role.DOCTOR:
        return False
    return Practitioner.objects.filter(user=user, profession=Profession.DOCTOR, verified_at__isnull=False,
                                       departments__code=RADIOLOGY_DEPARTMENT).exists()


def role_for_order(user: User, order: DiagnosticOrder) -> str | None:
    if not getattr(user, "is_authenticated", False):
        return None
    if user.role == Role.PATIENT:
        return "patient" if patients_acted_for(user).filter(pk=order.patient_id).exists() else None
    if user.role == Role.DOCTOR:
        if order.doctor.user_id == user.pk:
            return "doctor"
        if order.test.kind == DiagnosticKind.IMAGING and is_radiologist(user):
            return "radiologist"
        return None
    if user.role == Role.LAB_TECH:
        return "lab"
    return None


def _denied(user: User, object_type: str, object_id, patient_id=None) -> NotFound:
    audit.record(actor=user, action=AuditAction.READ, object_type=object_type, object_id=object_id,
                 patient_id=patient_id, outcome=AuditOutcome.DENIED)
    return NotFound()


def order_for(user: User, order_id: int, *, audit_read: bool = True, roles: tuple[str, ...] | None = None,
              for_update: bool = False) -> tuple[DiagnosticOrder, str]:
    """The order and the user's role on it; 404 (audited) when they may not see it, or not in one of ``roles``.

    ``for_update`` locks the order's row (inside the caller's transaction)."""
    qs = DiagnosticOrder.objects.select_related(*ORDER_RELATED)
    if for_update:
        qs = qs.select_for_update(of=("self",))
    try:
        order = qs.filter(pk=int(order_id)).first()
    except (TypeError, ValueError):
        order = None
    role = role_for_order(user, order) if order is not None else None
    if role is None or (roles is not None and role not in roles):
        raise _denied(user, "diagnostics.diagnosticorder", order_id, order.patient_id if order else None)
    if audit_read:
        audit.read(user, order, patient_id=order.patient_id, detail={"role": role})
    return order, role


def orders_of_patient(user: User, patient_id: int) -> QuerySet[DiagnosticOrder]:
    """A patient's orders, newest first, for the patient or a proxy (404, audited, for anyone else)."""
    try:
        patient = patient_acted_for(user, patient_id)
    except NotFound:
        raise _denied(user, "accounts.patientprofile", patient_id, None) from None
    audit.record(actor=user, action=AuditAction.READ, object_type="diagnostics.diagnosticorder",
                 patient_id=patient.pk, detail={"list": "orders"})
    return (DiagnosticOrder.objects.filter(patient=patient).select_related("test", "doctor__user")
            .order_by("-ordered_at"))


def orders_of_visit(user: User, visit_id: int) -> QuerySet[DiagnosticOrder]:
    """The tests the visit's doctor ordered during an online visit, newest first; 404 (audited) for anyone else."""
    visit = Visit.objects.select_related("doctor").filter(pk=visit_id).first() if isinstance(visit_id, int) else None
    if visit is None or visit.doctor.user_id != getattr(user, "pk", None):
        raise _denied(user, "visits.visit", visit_id, visit.patient_id if visit else None)
    audit.record(actor=user, action=AuditAction.READ, object_type="diagnostics.diagnosticorder",
                 patient_id=visit.patient_id, detail={"list": "visit", "visit": visit.pk})
    return (DiagnosticOrder.objects.filter(visit_id=visit.pk, doctor__user=user).select_related("test")
            .order_by("-ordered_at"))
