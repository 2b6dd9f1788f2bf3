from datetime import timedelta

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TeleconsultConfig(AppConfig):
    name = "ihospital.teleconsult"
    label = "teleconsult"
    verbose_name = _("Remote expert consultation")

    def ready(self) -> None:
        # The sweep that escalates overdue requests (each request also has its own timed checks).
        from ihospital.core import periodic

        from .tasks import escalate_overdue

        periodic.register("teleconsult.escalate_overdue", escalate_overdue, every=timedelta(minutes=5))
