"""The couriers' tracking callbacks: ``POST /pharmacy/courier/notify/<provider>/``.

No session and no CSRF token: the courier signs each callback and its adapter verifies it (``parse_callback``).
The events are stored once each and applied in the courier's own time order (``services.record_tracking``), so a
repeated, late or out-of-order callback changes nothing it should not. The answer is in the form the courier
expects (``callback_response``): 2xx when the events are stored, so the courier stops re-sending; 403
``bad_signature`` for a forged, stale or replayed callback (nothing is stored); 404 for an unknown tracking number.
"""

from __future__ import annotations

import logging

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ihospital.core.errors import DomainError

from . import services
from .couriers import base as couriers

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def notify(request, provider: str):
    try:
        courier = couriers.get(provider)
    except couriers.CourierError:
        return JsonResponse({"error": {"code": "unknown_courier", "message": "unknown courier"}}, status=404)
    try:
        updates = courier.parse_callback(request)
    except couriers.BadSignature as exc:
        logger.warning("courier %s: refused a callback: %s", provider, exc)
        return courier.callback_response(status=403, code="bad_signature", message=str(exc))
    except couriers.CourierError as exc:
        return courier.callback_response(status=400, code="bad_callback", message=str(exc))
    try:
        services.record_tracking(provider=courier.name, updates=updates)
    except DomainError as exc:
        return courier.callback_response(status=exc.status, code=exc.code, message=str(exc.message))
    return courier.callback_response(status=200)
