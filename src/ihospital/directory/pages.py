"""Page decorators for clinicians: the view gets the signed-in doctor's practitioner record."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import Role
from ihospital.core.errors import Forbidden

from .models import Practitioner


def doctor_page(view):
    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        practitioner = None
        if request.user.role == Role.DOCTOR:
            practitioner = (
                Practitioner.objects.select_related("user").prefetch_related("departments")
                .filter(user=request.user).first()
            )
        if practitioner is None:
            raise Forbidden("not_a_doctor", _("Only doctors can do this."))
        return view(request, practitioner, *args, **kwargs)

    return wrapper
