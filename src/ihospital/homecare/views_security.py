"""The hospital security console: nurses' open alarms, live.

Security officers, administrators and dispatchers (who also receive alarms) see every open alarm, newest first:
who raised it (name, work mobile), when, where the phone was (coordinates, a small map of the nurse's position
against the visit's address, a link to AMap), and the visit (number, patient, address, contact, service). An
unacknowledged alarm flashes red and beeps; new ones appear without a reload (``ws/homecare/live/`` sends
``{"type": "alarm", ...}``; console.js draws the card from it at once and re-reads the list). Acknowledge and
resolve are ``safety.acknowledge`` and ``safety.resolve``; a refusal (someone else acknowledged it first, a
resolution without text) is shown on the alarm's card. The history page lists the last 50 alarms.
"""

from __future__ import annotations

import math
from functools import wraps
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from ihospital.accounts.models import Role
from ihospital.core import audit
from ihospital.core.errors import DomainError, NotFound
from ihospital.core.models import AuditAction

from . import safety, selectors
from .models import Alarm, AlarmStatus
from .views_nurse import live_strings

CONSOLE_ROLES = (Role.SECURITY, Role.ADMIN, Role.DISPATCHER)
HISTORY_SIZE = 50

# The mini map: an SVG box, the margin kept free around the points, and the smallest span it shows (so two points
# 20 m apart do not look a kilometre apart). console.js draws live cards with the same numbers.
MAP_W, MAP_H, MAP_PAD, MAP_MIN_SPAN_M = 240, 140, 22, 200
SCALE_STEPS_M = (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000)


def security_page(view):
    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if request.user.role not in CONSOLE_ROLES:
            raise NotFound()
        return view(request, *args, **kwargs)

    return wrapper


class ResolveForm(forms.Form):
    resolution = forms.CharField(label=_("What happened and what was done"), required=False, max_length=4000,
                                 widget=forms.Textarea(attrs={"rows": 2}))


# ---- the mini map -------------------------------------------------------------------------------------------


def minimap(lat, lng, visit_lat, visit_lng) -> dict | None:
    """Points of the nurse (``n``) and the visit's address (``v``) in an SVG box, north up, equal scale both ways,
    with a scale bar and the distance between them. ``None`` when neither is known."""
    points = {k: (a, b) for k, a, b in (("n", lat, lng), ("v", visit_lat, visit_lng)) if a is not None
              and b is not None}
    if not points:
        return None
    lat0 = sum(p[0] for p in points.values()) / len(points)
    lng0 = sum(p[1] for p in points.values()) / len(points)
    kx, ky = 111320 * math.cos(math.radians(lat0)), 110540  # metres per degree at this latitude

    def metres(p):
        return (p[1] - lng0) * kx, (p[0] - lat0) * ky

    local = {k: metres(p) for k, p in points.items()}
    span_x = max(abs(x) for x, _y in local.values()) * 2
    span_y = max(abs(y) for _x, y in local.values()) * 2
    scale = min((MAP_W - 2 * MAP_PAD) / max(span_x, MAP_MIN_SPAN_M),
                (MAP_H - 2 * MAP_PAD) / max(span_y, MAP_MIN_SPAN_M))  # pixels per metre
    box = {k: (round(MAP_W / 2 + x * scale, 1), round(MAP_H / 2 - y * scale, 1)) for k, (x, y) in local.items()}
    bar_m = next((s for s in reversed(SCALE_STEPS_M) if s * scale <= MAP_W / 3), SCALE_STEPS_M[0])
    result = {"w": MAP_W, "h": MAP_H, "bar_x2": round(8 + bar_m * scale, 1), "bar_y": MAP_H - 10,
              "label_y": MAP_H - 14, "right": MAP_W - 8,
              "bar_label": f"{bar_m // 1000} km" if bar_m >= 1000 else f"{bar_m} m"}
    if "n" in box:
        result["nx"], result["ny"] = box["n"]
    if "v" in box:
        result["vx"], result["vy"] = box["v"]
        result["vrx"], result["vry"] = round(box["v"][0] - 6, 1), round(box["v"][1] - 6, 1)
    if len(local) == 2:
        (x1, y1), (x2, y2) = local["n"], local["v"]
        result["distance_m"] = int(math.hypot(x1 - x2, y1 - y2))
    return result


def amap_marker(lat, lng, name: str, *, device: bool) -> str:
    """AMap's marker link. A phone's position is WGS-84 (``coordinate=wgs84`` makes AMap convert it)."""
    query = {"position": f"{lng},{lat}", "name": name}
    if device:
        query["coordinate"] = "wgs84"
    return "https://uri.amap.com/marker?" + urlencode(query)


def card(alarm: Alarm) -> dict:
    """One alarm as the console draws it: ``safety.payload`` (what the socket sends) plus the map and who answered."""
    data = safety.payload(alarm)
    data["raised_full"] = timezone.localtime(alarm.raised_at).strftime("%Y-%m-%d %H:%M:%S")
    data["map"] = minimap(alarm.latitude, alarm.longitude, data["visit_latitude"], data["visit_longitude"])
    if alarm.latitude is not None:
        data["nurse_link"] = amap_marker(alarm.latitude, alarm.longitude, alarm.nurse.real_name, device=True)
    if data["visit_latitude"] is not None:
        data["visit_link"] = amap_marker(data["visit_latitude"], data["visit_longitude"], data["address"],
                                         device=False)
    data["acknowledged_by"] = alarm.acknowledged_by.real_name if alarm.acknowledged_by else ""
    data["acknowledged_at"] = (timezone.localtime(alarm.acknowledged_at).strftime("%H:%M:%S")
                               if alarm.acknowledged_at else "")
    data["resolved_by"] = alarm.resolved_by.real_name if alarm.resolved_by else ""
    data["resolution"] = alarm.resolution
    data["status_label"] = AlarmStatus(alarm.status).label
    return data


# ---- the console --------------------------------------------------------------------------------------------


def _console_context(request, *, errors: dict | None = None, forms_by_id: dict | None = None) -> dict:
    alarms = selectors.open_alarms(request.user).select_related("acknowledged_by", "resolved_by",
                                                                "nurse__home_nurse")
    errors, forms_by_id = errors or {}, forms_by_id or {}
    cards = []
    for alarm in alarms:
        data = card(alarm)
        data["error"] = errors.get(alarm.pk)
        data["form"] = forms_by_id.get(alarm.pk) or ResolveForm(prefix=f"a{alarm.pk}")
        cards.append(data)
    return {"cards": cards, "raised": sum(1 for c in cards if c["status"] == AlarmStatus.RAISED)}


def console_config() -> dict:
    """What console.js needs to draw a card from a socket frame, in the reader's language."""
    return {
        "acknowledge_url": reverse("homecare:security_acknowledge", args=[0]),
        "strings": {
            "no_location": gettext("no location yet"), "sound_on": gettext("Sound on"),
            "statuses": {value: str(label) for value, label in AlarmStatus.choices},
        },
    }


@require_GET
@security_page
def console(request):
    context = _console_context(request)
    if request.GET.get("part") == "list":
        return render(request, "homecare/_security_alarms.html", context)
    context |= {"live": live_strings(), "console_config": console_config()}
    return render(request, "homecare/security_console.html", context)


def _refused(request, alarm_id: int, exc: DomainError, form: ResolveForm | None = None):
    context = _console_context(request, errors={alarm_id: exc.message},
                               forms_by_id={alarm_id: form} if form is not None else None)
    if not any(c["id"] == alarm_id for c in context["cards"]):
        # Resolved meanwhile: the card left the list, so the message goes above it.
        messages.error(request, exc.message)
    context |= {"live": live_strings(), "console_config": console_config()}
    return render(request, "homecare/security_console.html", context, status=exc.status)


@require_POST
@security_page
def acknowledge(request, alarm_id: int):
    try:
        alarm = safety.acknowledge(actor=request.user, alarm_id=alarm_id)
    except NotFound:
        raise
    except DomainError as exc:
        return _refused(request, alarm_id, exc)
    messages.success(request, gettext("You acknowledged the alarm of %(nurse)s: the nurse sees it.") % {
        "nurse": alarm.nurse.real_name})
    return redirect(reverse("homecare:security") + f"#alarm-{alarm_id}")


@require_POST
@security_page
def resolve(request, alarm_id: int):
    form = ResolveForm(request.POST, prefix=f"a{alarm_id}")
    form.is_valid()
    try:
        alarm = safety.resolve(actor=request.user, alarm_id=alarm_id,
                               resolution=form.cleaned_data.get("resolution", ""))
    except NotFound:
        raise
    except DomainError as exc:
        if exc.code == "resolution_required":
            form.add_error("resolution", str(exc.message))
        return _refused(request, alarm_id, exc, form)
    messages.success(request, gettext("The alarm of %(nurse)s is resolved.") % {"nurse": alarm.nurse.real_name})
    return redirect("homecare:security")


@require_GET
@security_page
def history(request):
    # The console's roles only (checked by the decorator), and the read is audited like the console's.
    audit.record(actor=request.user, action=AuditAction.READ, object_type="homecare.alarm",
                 detail={"list": "history"})
    alarms = Alarm.objects.select_related("nurse__home_nurse", "visit__request__patient__user",
                                          "visit__request__service", "acknowledged_by", "resolved_by").order_by(
        "-raised_at")[:HISTORY_SIZE]
    return render(request, "homecare/security_history.html", {"cards": [card(a) for a in alarms],
                                                              "size": HISTORY_SIZE})
