from django.conf import settings
from django.utils.translation import gettext_lazy as _


def platform(request):
    return {
        "hospital_name": settings.HOSPITAL_NAME or _("Internet Hospital"),
        "elder_mode": getattr(request, "elder_mode", False),
        "demo_enabled": settings.DEMO_ENABLED,
    }
