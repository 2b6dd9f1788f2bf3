"""Changes to the directory: registering practitioners with their licence and title."""

from __future__ import annotations

from datetime import date

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ihospital.core import audit
from ihospital.core.errors import DomainError
from ihospital.core.models import AuditAction

from .models import TITLES_BY_PROFESSION, Department, Facility, Practitioner


@transaction.atomic
def register_practitioner(
    *,
    user,
    facility: Facility,
    profession: str,
    licence_no: str,
    title: str,
    independent_practice_since: date,
    departments: list[Department] | None = None,
    specialties: list[str] | None = None,
    verified: bool = True,
    actor=None,
) -> Practitioner:
    if title not in TITLES_BY_PROFESSION.get(profession, set()):
        raise DomainError("invalid_title", _("This title does not belong to this profession."))
    if independent_practice_since > timezone.localdate():
        raise DomainError("invalid_date", _("Independent practice cannot start in the future."))
    if not licence_no.strip():
        raise DomainError("licence_required", _("A practising licence number is required."))
    try:
        with transaction.atomic():
            practitioner = Practitioner.objects.create(
                user=user,
                facility=facility,
                profession=profession,
                licence_no=licence_no.strip(),
                title=title,
                independent_practice_since=independent_practice_since,
                specialties=specialties or [],
                verified_at=timezone.now() if verified else None,
            )
    except IntegrityError:
        raise DomainError("licence_taken", _("This licence number is already registered.")) from None
    if departments:
        practitioner.departments.set(departments)
    audit.record(actor=actor, action=AuditAction.CREATE, obj=practitioner)
    return practitioner
