"""Whose record a signed-in person is handling right now: their own, or a relative's they act for.

The choice sits in the session under ``acting_for``, but it is only a wish: every read checks it again
through ``selectors.patients_acted_for``, so a revoked proxy link or withdrawn consent takes effect at once.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.utils.translation import gettext_lazy as _

from ihospital.core.errors import Forbidden

from .models import PatientProfile, Role
from .selectors import patient_acted_for, patients_acted_for

ACTING_FOR = "acting_for"


def acting_patient(request) -> PatientProfile | None:
    user = request.user
    if not user.is_authenticated:
        return None
    allowed = patients_acted_for(user)
    wanted = request.session.get(ACTING_FOR)
    if wanted is not None:
        patient = allowed.filter(pk=wanted).first()
        if patient is not None:
            return patient
        request.session.pop(ACTING_FOR, None)
    return allowed.filter(user=user).first()


def act_for(request, patient_id: int) -> PatientProfile:
    """Remember to act for ``patient_id`` (raises ``NotFound`` if the user may not)."""
    patient = patient_acted_for(request.user, patient_id)
    if patient.user_id == request.user.pk:
        request.session.pop(ACTING_FOR, None)
    else:
        request.session[ACTING_FOR] = patient.pk
    return patient


def patient_page(view):
    """A page of the patient whose record is being handled (their own or a relative's): the view gets it."""

    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        patient = acting_patient(request) if request.user.role == Role.PATIENT else None
        if patient is None:
            raise Forbidden("not_a_patient", _("Only a registered patient or their relative can do this."))
        return view(request, patient, *args, **kwargs)

    return wrapper
