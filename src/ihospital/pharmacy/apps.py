from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PharmacyConfig(AppConfig):
    name = "ihospital.pharmacy"
    label = "pharmacy"
    verbose_name = _("Medicine orders, dispensing and delivery")

    def ready(self):
        # Payments is generic: it learns what an "order:<id>" charge means from us.
        from . import payment_handlers

        payment_handlers.register()
