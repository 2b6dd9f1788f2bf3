from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "ihospital.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        # Each app declares its periodic jobs in its own periodic.py (core imports no app by name).
        from . import periodic

        periodic.autodiscover()
