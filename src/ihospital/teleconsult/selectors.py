"""Reads of consultation requests, scoped to the asking user and audited.

Who sees a request, and as what (``role``):

* ``referrer``: the referring doctor who created it (every status);
* ``expert``: a doctor with an active (not declined, not withdrawn) assignment on it, and only while the
  patient's consent to share the record stands and the request has been sent;
* ``coordinator``: consultation coordinators, once it has been sent (drafts are the referrer's own);
* ``patient``: the patient and their active proxies (every status: they are asked for consent on the draft,
  and read the report);
* ``admin``: hospital administrators, once sent (escalations reach them; statements are theirs).

Anyone else asking by id gets 404, the same as for an id that does not exist, and the attempt is audited.
An expert whose assignment ended, or another expert of the same department, is "anyone else".
"""

from __future__ import annotations

import functools

from django.db import transaction
from django.db.models import Q, QuerySet

from ihospital.accounts.models import ConsentKind, Role, User
from ihospital.accounts.selectors import patients_acted_for
from ihospital.core import audit
from ihospital.core.errors import NotFound
from ihospital.core.models import AuditAction, AuditOutcome

from .models import Attachment, ConsultRequest, ConsultSession, Status

REQUEST_RELATED = ("patient__user", "referring_doctor", "referring_facility", "department", "named_expert")
OBJECT_TYPE = "teleconsult.consultrequest"


def consent_stands(request: ConsultRequest) -> bool:
    consent = request.consent
    return consent is not None and consent.withdrawn_at is None and consent.kind == ConsentKind.RECORD_SHARING


def role_for(user: User, request: ConsultRequest) -> str | None:
    if not getattr(user, "is_authenticated", False):
        return None
    sent = request.status != Status.DRAFT
    if user.role == Role.DOCTOR:
        if request.referring_doctor_id == user.pk:
            return "referrer"
        if sent and consent_stands(request) and request.assignments.filter(
            expert=user, ended_at__isnull=True
        ).exists():
            return "expert"
        return None
    if user.role == Role.COORDINATOR:
        return "coordinator" if sent else None
    if user.role == Role.ADMIN:
        return "admin" if sent else None
    if user.role == Role.PATIENT:
        return "patient" if patients_acted_for(user).filter(pk=request.patient_id).exists() else None
    return None


def denied(user: User, object_id, patient_id=None, object_type: str = OBJECT_TYPE) -> NotFound:
    audit.record(actor=user, action=AuditAction.READ, object_type=object_type, object_id=object_id,
                 patient_id=patient_id, outcome=AuditOutcome.DENIED)
    return NotFound()


def atomic_denials_audited(id_arg: str, object_type: str = OBJECT_TYPE):
    """Run a service in its own transaction. A refusal by id (404) rolls that transaction back, and with it the
    denied read ``denied`` wrote inside it; so the denial is recorded again here, after, outside."""

    def wrap(fn):
        atomic = transaction.atomic(fn)

        @functools.wraps(fn)
        def act(*, actor, **kwargs):
            try:
                return atomic(actor=actor, **kwargs)
            except NotFound:
                audit.record(actor=actor, action=AuditAction.READ, object_type=object_type,
                             object_id=kwargs.get(id_arg), outcome=AuditOutcome.DENIED)
                raise

        return act

    return wrap


def request_for(user: User, request_id, *, roles: tuple[str, ...] | None = None, audit_read: bool = True,
                for_update: bool = False) -> tuple[ConsultRequest, str]:
    """The request and the user's role on it; 404 (audited) when they may not see it or are not in ``roles``.
    ``for_update`` locks the request's row (inside the caller's transaction)."""
    qs = ConsultRequest.objects.select_related(*REQUEST_RELATED, "consent")
    if for_update:
        qs = qs.select_for_update(of=("self",))
    try:
        request = qs.filter(pk=int(request_id)).first()
    except (TypeError, ValueError):
        request = None
    role = role_for(user, request) if request is not None else None
    if role is None or (roles is not None and role not in roles):
        raise denied(user, request_id, request.patient_id if request else None)
    if audit_read:
        audit.read(user, request, patient_id=request.patient_id, detail={"role": role})
    return request, role


def attachment_for(user: User, attachment_id) -> tuple[Attachment, str]:
    """One shared item, for someone who may see its request (and it was not removed)."""
    try:
        attachment = (Attachment.objects.select_related("request", "document", "order", "study")
                      .filter(pk=int(attachment_id), removed_at__isnull=True).first())
    except (TypeError, ValueError):
        attachment = None
    if attachment is None:
        raise denied(user, attachment_id, object_type="teleconsult.attachment")
    request, role = request_for(user, attachment.request_id, audit_read=False)
    audit.read(user, attachment, patient_id=request.patient_id, detail={"role": role, "kind": attachment.kind})
    return attachment, role


def session_for(user: User, session_id) -> tuple[ConsultSession, str]:
    """A live session, for its participants: the referrer, active experts, and the patient (and proxies) only
    when invited. Coordinators and admins see the request but do not join its calls."""
    try:
        session = ConsultSession.objects.select_related("request").filter(pk=int(session_id)).first()
    except (TypeError, ValueError):
        session = None
    if session is None:
        raise denied(user, session_id, object_type="teleconsult.consultsession")
    request, role = request_for(user, session.request_id, audit_read=False)
    if role not in ("referrer", "expert", "patient") or (role == "patient" and not session.include_patient):
        raise denied(user, session_id, request.patient_id, object_type="teleconsult.consultsession")
    session.request = request
    audit.read(user, session, patient_id=request.patient_id, detail={"role": role})
    return session, role


# ---- lists ---------------------------------------------------------------------------------------------------


def _listed(user: User, qs: QuerySet[ConsultRequest], what: str) -> QuerySet[ConsultRequest]:
    audit.record(actor=user, action=AuditAction.READ, object_type=OBJECT_TYPE, detail={"list": what})
    return qs.select_related(*REQUEST_RELATED)


def referred_by(user: User) -> QuerySet[ConsultRequest]:
    """The referring doctor's own requests."""
    if user.role != Role.DOCTOR:
        return ConsultRequest.objects.none()
    return _listed(user, ConsultRequest.objects.filter(referring_doctor=user), "referred")


def assigned_to(user: User) -> QuerySet[ConsultRequest]:
    """Requests the expert is actively assigned to (consent standing)."""
    if user.role != Role.DOCTOR:
        return ConsultRequest.objects.none()
    qs = ConsultRequest.objects.filter(
        assignments__expert=user, assignments__ended_at__isnull=True, consent__withdrawn_at__isnull=True,
    ).exclude(status=Status.DRAFT).distinct()
    return _listed(user, qs, "assigned")


def board(user: User) -> QuerySet[ConsultRequest]:
    """Every sent request, for coordinators and admins."""
    if user.role not in (Role.COORDINATOR, Role.ADMIN):
        return ConsultRequest.objects.none()
    return _listed(user, ConsultRequest.objects.exclude(status=Status.DRAFT), "board")


def of_patients(user: User) -> QuerySet[ConsultRequest]:
    """The requests about the patients this user acts for."""
    if user.role != Role.PATIENT:
        return ConsultRequest.objects.none()
    return _listed(user, ConsultRequest.objects.filter(patient__in=patients_acted_for(user)), "patient")


def visible(user: User) -> QuerySet[ConsultRequest]:
    """Every request the user may see in any role (for search and the API's list)."""
    if user.role == Role.DOCTOR:
        q = Q(referring_doctor=user) | Q(
            ~Q(status=Status.DRAFT), assignments__expert=user, assignments__ended_at__isnull=True,
            consent__withdrawn_at__isnull=True,
        )
        return ConsultRequest.objects.filter(q).distinct()
    if user.role in (Role.COORDINATOR, Role.ADMIN):
        return ConsultRequest.objects.exclude(status=Status.DRAFT)
    if user.role == Role.PATIENT:
        return ConsultRequest.objects.filter(patient__in=patients_acted_for(user))
    return ConsultRequest.objects.none()
