from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HomecareConfig(AppConfig):
    name = "ihospital.homecare"
    label = "homecare"
    verbose_name = _("Home nursing")

    def ready(self):
        # Payments is generic: it learns what a "homecare:<id>" charge means from us.
        from ihospital.payments import handlers

        from . import billing

        handlers.register("homecare", on_paid=billing.on_paid, on_refunded=billing.on_refunded)
