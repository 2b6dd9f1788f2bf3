"""Reads of payments, scoped to the asking user: a charge is seen by its payer and by hospital administrators."""

from __future__ import annotations

from django.db.models import QuerySet

from ihospital.accounts.models import Role
from ihospital.core.errors import NotFound

from .models import Charge


def visible_charges(user) -> QuerySet[Charge]:
    if not getattr(user, "is_authenticated", False):
        return Charge.objects.none()
    if user.role == Role.ADMIN:
        return Charge.objects.all()
    return Charge.objects.filter(payer=user)


def charge_for(user, charge_id: int) -> Charge:
    """The charge with its attempts and refunds, or ``NotFound`` (missing and someone else's look the same)."""
    charge = (
        visible_charges(user).filter(pk=charge_id).prefetch_related("payments", "refunds").first()
    )
    if charge is None:
        raise NotFound()
    return charge


def charges_for_reference(reference: str) -> QuerySet[Charge]:
    """Every charge of one thing sold, newest first. Unscoped: for a workflow that has already scoped ``reference``
    (the pharmacy showing an order it let the user see), e.g. on its traceability page."""
    return Charge.objects.filter(reference=reference).prefetch_related("payments", "refunds")


def live_charge(reference: str) -> Charge | None:
    """The open or paid charge of ``reference``, if any (there is at most one). Unscoped, like the above."""
    return Charge.objects.filter(reference=reference, status__in=["open", "paid"]).first()
