"""/healthz: is the database answering, and does the channel layer carry a message?"""

from __future__ import annotations

import time
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.http import JsonResponse


def _database() -> dict:
    start = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - a health check reports, it does not raise
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "vendor": connection.vendor, "ms": round((time.perf_counter() - start) * 1000, 1)}


def _channel_layer() -> dict:
    layer = get_channel_layer()
    if layer is None:
        return {"ok": False, "error": "no channel layer configured"}
    start = time.perf_counter()
    try:
        channel = async_to_sync(layer.new_channel)("healthz.")
        token = uuid.uuid4().hex
        async_to_sync(layer.send)(channel, {"type": "healthz.ping", "token": token})
        message = async_to_sync(layer.receive)(channel)
        ok = message.get("token") == token
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "backend": type(layer).__name__, "error": type(exc).__name__}
    return {"ok": ok, "backend": type(layer).__name__, "ms": round((time.perf_counter() - start) * 1000, 1)}


def healthz(request):
    checks = {"database": _database(), "channel_layer": _channel_layer()}
    healthy = all(c["ok"] for c in checks.values())
    return JsonResponse({"status": "ok" if healthy else "degraded", "checks": checks}, status=200 if healthy else 503)
