from functools import cache

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.acting import ACTING_FOR, acting_patient


def platform(request):
    @cache
    def acting_for_other():
        """The patient a relative is handling now, if not themself (evaluated only when a page asks)."""
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or ACTING_FOR not in request.session:
            return None
        patient = acting_patient(request)
        return patient if patient is not None and patient.user_id != user.pk else None

    return {
        "hospital_name": settings.HOSPITAL_NAME or _("Internet Hospital"),
        "elder_mode": getattr(request, "elder_mode", False),
        "demo_enabled": settings.DEMO_ENABLED,
        "acting_for_other": acting_for_other,
    }
