"""The courier adapter contract. Every express company sits behind it; the built-in one is a simulator.

A courier:
- ``create_shipment(shipment) -> tracking_no`` books the pickup (raises ``CourierError`` when refused);
- ``cancel(shipment)`` cancels a booked pickup;
- ``parse_callback(request) -> list[TrackingUpdate]`` verifies a tracking callback's signature (raises
  ``BadSignature``) and returns its events; the platform stores each once (``event_id``) and orders them by
  ``occurred_at``, the courier's own time, never by arrival;
- ``services``: which services it offers (``standard``, ``cold_chain``);
- ``callback_response(status=, code=, message=)``: the answer to a callback in the form the courier expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.module_loading import import_string


class CourierError(Exception):
    pass


class BadSignature(Exception):
    pass


@dataclass(frozen=True)
class TrackingUpdate:
    event_id: str
    tracking_no: str
    status: str  # a ShipmentStatus value
    occurred_at: datetime
    location: str = ""
    description: str = ""


class Courier:
    name = ""
    services: frozenset[str] = frozenset()

    def create_shipment(self, shipment) -> str:
        raise NotImplementedError

    def cancel(self, shipment) -> None:
        raise NotImplementedError

    def parse_callback(self, request) -> list[TrackingUpdate]:
        raise NotImplementedError

    def callback_response(self, *, status: int = 200, code: str = "", message: str = "") -> HttpResponse:
        """What the notify endpoint answers, in the form this courier expects (default ``{"ok": true}``)."""
        if status < 300:
            return JsonResponse({"ok": True})
        return JsonResponse({"ok": False, "error": {"code": code, "message": message}}, status=status)


COURIERS = {
    "simulator": "ihospital.pharmacy.couriers.simulator.SimulatorCourier",
    "sf": "ihospital.pharmacy.couriers.sf.SFExpressCourier",
}


def get(name: str | None = None) -> Courier:
    name = name or settings.COURIER_PROVIDER
    if name not in COURIERS:
        raise CourierError(f"unknown courier {name!r}")
    return import_string(COURIERS[name])()
