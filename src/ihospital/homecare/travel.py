"""The travel-time matrix dispatch plans with, chosen by ``HOMECARE_TRAVEL_MATRIX``.

Built in: ``"haversine"``, great-circle distance times a detour factor at an average speed
(``HOMECARE_SPEED_KMH``, ``HOMECARE_DETOUR``): no network, good enough to order a day's visits in one city.
A road-network service (OSRM's /table, a map provider's distance matrix) plugs in by a dotted path to a class
with ``seconds(points) -> list[list[int]]`` (see ``routing.matrix.TravelMatrix``).
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from .routing import Haversine, Point, TravelMatrix, haversine_m


def matrix() -> TravelMatrix:
    name = settings.HOMECARE_TRAVEL_MATRIX
    if name == "haversine":
        return Haversine(speed_kmh=settings.HOMECARE_SPEED_KMH, detour=settings.HOMECARE_DETOUR)
    return import_string(name)()


def metres(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    return haversine_m(Point(lat1, lng1), Point(lat2, lng2))
