"""What an "order:<id>" charge means to payments (registered in ``PharmacyConfig.ready``)."""

from __future__ import annotations


def register() -> None:
    from ihospital.payments import handlers

    from . import services

    handlers.register("order", on_paid=services.on_paid, on_refunded=services.on_refunded)
