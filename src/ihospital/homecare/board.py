"""The dispatcher's day board as it is drawn: the requests waiting for a nurse, the nurses on shift, a timeline
per nurse (travel and service blocks), a map of the day and the optimiser's latest proposal.

The map is an inline SVG in an equirectangular projection (x = longitude × cos(mid-latitude), y = latitude):
over one city that is true to scale within a fraction of a percent, and the hospital's network is closed, so no
map tiles could be fetched anyway. Every read goes through ``selectors.day_board`` (dispatchers only, audited).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, time

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ihospital.accounts.models import Role, User

from . import routing, selectors
from .dispatch import seconds_of
from .models import DispatchPlan, NursingRequest, PlanStatus, RequestStatus, Shift, Skill

# One colour per nurse on the timeline and the map; distinguishable for the common colour blindnesses (Okabe-Ito,
# darkened where white text sits on it).
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#8a6d00", "#56b4e9", "#6a3d9a", "#b8860b")
UNASSIGNED_REASONS = {
    routing.NO_QUALIFIED_NURSE: _("no nurse on shift is qualified for it"),
    routing.NO_FEASIBLE_TIME: _("no qualified nurse has time for it within the window"),
}


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def hhmm(seconds: int) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def home_care_nurses() -> list[User]:
    """Nurses registered for home nursing (a home-care profile) who may nurse at homes today."""
    users = User.objects.filter(role=Role.NURSE, is_active=True, home_nurse__isnull=False).select_related(
        "practitioner", "home_nurse").order_by("real_name")
    return [u for u in users if hasattr(u, "practitioner") and u.practitioner.can_nurse_at_home()]


def skill_labels(profile) -> list[str]:
    return [str(Skill(s).label) for s in sorted(profile.skill_set) if s in Skill.values and s != Skill.GENERAL]


# ---- the map ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Projection:
    """Latitude/longitude to SVG coordinates, fitted around some points with a margin."""

    width: int
    height: int
    x0: float
    y0: float
    scale: float
    k: float

    @classmethod
    def around(cls, points: list[tuple[float, float]], *, width: int = 640, height: int = 420, pad: int = 40,
               min_span_km: float = 1.0) -> Projection:
        lats = [p[0] for p in points] or [settings.HOMECARE_BASE_LATITUDE]
        lngs = [p[1] for p in points] or [settings.HOMECARE_BASE_LONGITUDE]
        k = math.cos(math.radians((min(lats) + max(lats)) / 2))
        min_span = min_span_km / 111.32  # degrees of latitude
        span_x = max((max(lngs) - min(lngs)) * k, min_span)
        span_y = max(max(lats) - min(lats), min_span)
        scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y)
        mid_x = (max(lngs) + min(lngs)) / 2 * k
        mid_y = (max(lats) + min(lats)) / 2
        return cls(width, height, mid_x - width / 2 / scale, mid_y + height / 2 / scale, scale, k)

    def xy(self, lat: float, lng: float) -> tuple[float, float]:
        return round((lng * self.k - self.x0) * self.scale, 1), round((self.y0 - lat) * self.scale, 1)

    def scale_bar(self) -> dict:
        """A bar of a round number of kilometres, about a fifth of the width."""
        per_km = self.scale / 111.32
        km = next((km for km in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50) if km * per_km >= self.width / 6), 50)
        return {"km": km, "px": round(km * per_km, 1), "label": f"{km:g} km"}


def _polyline(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{x},{y}" for x, y in points)


# ---- the board --------------------------------------------------------------------------------------------------


def latest_proposal(day: date) -> DispatchPlan | None:
    return DispatchPlan.objects.filter(day=day, status=PlanStatus.PROPOSED).select_related("created_by").first()


def _axis(shifts: list[Shift]) -> tuple[int, int]:
    opens = seconds_of(time.fromisoformat(settings.HOMECARE_DAY_START))
    closes = seconds_of(time.fromisoformat(settings.HOMECARE_DAY_END))
    for s in shifts:
        opens, closes = min(opens, seconds_of(s.starts)), max(closes, seconds_of(s.ends))
    return opens // 3600 * 3600, min(-(-closes // 3600) * 3600, 24 * 3600)


def board(user: User, day: date, *, errors: dict | None = None, posted: dict | None = None) -> dict:
    """Everything the day board shows. ``errors`` maps what a refusal is about ("req:<id>", "shift", "propose",
    "plan") to its message; ``posted`` keeps what was typed in the row that was refused."""
    errors, posted = errors or {}, posted or {}
    data = selectors.day_board(user, day)
    shifts, visits, waiting = data["shifts"], data["visits"], data["waiting"]
    on_shift = [s.nurse for s in shifts]
    colours = {s.nurse_id: colour(i) for i, s in enumerate(shifts)}
    for v in visits:  # a nurse with visits but (somehow) no shift still gets a colour
        colours.setdefault(v.nurse_id, colour(len(colours)))
    plan = latest_proposal(day)
    base = (settings.HOMECARE_BASE_LATITUDE, settings.HOMECARE_BASE_LONGITUDE)

    # Nurses on shift, with their visits of the day in order.
    axis_start, axis_end = _axis(shifts)
    span = axis_end - axis_start

    def pct(seconds: int) -> float:
        return round(max(0.0, min(100.0, (seconds - axis_start) * 100 / span)), 2)

    lanes = []
    by_nurse: dict[int, list] = {}
    for v in visits:
        by_nurse.setdefault(v.nurse_id, []).append(v)
        if v.second_nurse_id:
            by_nurse.setdefault(v.second_nurse_id, []).append(v)
    for s in shifts:
        blocks = []
        for v in sorted(by_nurse.get(s.nurse_id, []), key=lambda v: v.planned_start):
            start, end = seconds_of(v.planned_start), seconds_of(v.planned_end)
            if v.travel_seconds:
                blocks.append({"kind": "travel", "left": pct(start - v.travel_seconds),
                               "width": round(pct(start) - pct(start - v.travel_seconds), 2),
                               "title": _("travel %(min)s min") % {"min": round(v.travel_seconds / 60)}})
            blocks.append({"kind": "service", "left": pct(start), "width": round(pct(end) - pct(start), 2),
                           "visit": v, "second": v.nurse_id != s.nurse_id, "start": hhmm(start), "end": hhmm(end)})
        profile = s.nurse.home_nurse
        lanes.append({
            "shift": s, "nurse": s.nurse, "colour": colours[s.nurse_id], "profile": profile,
            "title": s.nurse.practitioner.get_title_display() if hasattr(s.nurse, "practitioner") else "",
            "skills": skill_labels(profile), "visits": len(by_nurse.get(s.nurse_id, [])),
            "shift_left": pct(seconds_of(s.starts)),
            "shift_width": round(pct(seconds_of(s.ends)) - pct(seconds_of(s.starts)), 2),
            "blocks": blocks,
        })
    ticks = [{"label": f"{h:02d}", "left": pct(h * 3600)} for h in range(axis_start // 3600, axis_end // 3600 + 1)]

    waiting_rows = [{
        "req": r, "assessment": getattr(r, "assessment", None), "error": errors.get(f"req:{r.pk}"),
        "nurse": posted.get(f"req:{r.pk}", {}).get("nurse"),
        "start": posted.get(f"req:{r.pk}", {}).get("start") or r.window_start.strftime("%H:%M"),
    } for r in waiting]
    visit_rows = [{
        "visit": v, "req": v.request, "assessment": getattr(v.request, "assessment", None),
        "colour": colours.get(v.nurse_id), "error": errors.get(f"req:{v.request_id}"),
        "start": timezone.localtime(v.planned_start).strftime("%H:%M"),
        "end": timezone.localtime(v.planned_end).strftime("%H:%M"),
        "changeable": v.request.status == RequestStatus.SCHEDULED,
        "needs_second": (v.request.status == RequestStatus.SCHEDULED and v.second_nurse_id is None
                         and getattr(getattr(v.request, "assessment", None), "two_nurses", False)),
    } for v in sorted(visits, key=lambda v: v.planned_start)]

    proposal = proposal_rows(plan, colours) if plan else None
    return {
        "day": day, "lanes": lanes, "ticks": ticks, "waiting": waiting_rows, "visits": visit_rows,
        "on_shift": on_shift, "errors": errors, "plan": plan, "proposal": proposal,
        "map": day_map(base, shifts, visits, waiting, colours, proposal),
    }


def proposal_rows(plan: DispatchPlan, colours: dict[int, str]) -> dict:
    """The proposal in words: per nurse the stops in order with times, the travel against the greedy baseline,
    and what could not be planned with the reason."""
    ids = [stop["request"] for stops in plan.routes.values() for stop in stops] + [int(k) for k in plan.unassigned]
    reqs = {r.pk: r for r in NursingRequest.objects.filter(pk__in=ids).select_related("service")}
    nurses = {u.pk: u for u in User.objects.filter(pk__in=[int(k) for k in plan.routes])}
    routes = []
    for index, (key, stops) in enumerate(plan.routes.items()):
        nurse = nurses.get(int(key))
        rows = [{"req": reqs.get(stop["request"]), "start": hhmm(stop["start"]), "end": hhmm(stop["end"]),
                 "travel_min": round(stop["travel"] / 60), "pinned": stop.get("pinned", False)} for stop in stops]
        routes.append({"nurse": nurse, "colour": colours.get(int(key), colour(len(colours) + index)), "stops": rows,
                       "new": sum(1 for r in rows if not r["pinned"])})
    travel = round(plan.travel_seconds / 60)
    greedy = round(plan.greedy_travel_seconds / 60) if plan.greedy_travel_seconds is not None else None
    saving = None
    if plan.greedy_travel_seconds:
        saving = round((plan.greedy_travel_seconds - plan.travel_seconds) * 100 / plan.greedy_travel_seconds)
    return {
        "plan": plan, "routes": routes, "travel_min": travel, "greedy_min": greedy, "saving_pct": saving,
        # The optimiser may travel more than the greedy baseline when it plans visits the baseline leaves out.
        "more_pct": -saving if saving is not None and saving < 0 else None,
        "unassigned": [{"req": reqs.get(int(k)), "reason": UNASSIGNED_REASONS.get(code, code)}
                       for k, code in plan.unassigned.items()],
        "new_visits": sum(r["new"] for r in routes),
    }


def day_map(base, shifts, visits, waiting, colours, proposal) -> dict:
    """The SVG's shapes: the hospital, the nurses' start points, the addresses, each nurse's route of the day
    (start → visits in time order → back) and, dashed, the proposal's routes."""
    starts = {s.nurse_id: (s.nurse.home_nurse.base_latitude, s.nurse.home_nurse.base_longitude) for s in shifts
              if hasattr(s.nurse, "home_nurse")}
    proposed_reqs = {}
    if proposal:
        for route in proposal["routes"]:
            for stop in route["stops"]:
                if stop["req"] is not None:
                    proposed_reqs[stop["req"].pk] = stop["req"]
    points = [base, *starts.values(), *((v.request.latitude, v.request.longitude) for v in visits),
              *((r.latitude, r.longitude) for r in waiting),
              *((r.latitude, r.longitude) for r in proposed_reqs.values())]
    proj = Projection.around(points)
    hospital = proj.xy(*base)
    nurse_marks = []
    for s in shifts:
        if s.nurse_id in starts:
            x, y = proj.xy(*starts[s.nurse_id])
            nurse_marks.append({"x": x, "y": y, "colour": colours[s.nurse_id], "nurse": s.nurse,
                                "label": s.nurse.home_nurse.base_label})
    routes, stops = [], []
    for s in shifts:
        own = sorted((v for v in visits if v.nurse_id == s.nurse_id), key=lambda v: v.planned_start)
        if not own or s.nurse_id not in starts:
            continue
        path = [proj.xy(*starts[s.nurse_id])]
        for order, v in enumerate(own, start=1):
            x, y = proj.xy(v.request.latitude, v.request.longitude)
            path.append((x, y))
            stops.append({"x": x, "y": y, "colour": colours[s.nurse_id], "order": order, "visit": v,
                          "start": timezone.localtime(v.planned_start).strftime("%H:%M")})
        path.append(path[0])
        routes.append({"points": _polyline(path), "colour": colours[s.nurse_id], "nurse": s.nurse})
    waiting_marks = []
    for r in waiting:
        x, y = proj.xy(r.latitude, r.longitude)
        waiting_marks.append({"x": x, "y": y, "req": r})
    proposed = []
    if proposal:
        for route in proposal["routes"]:
            nurse = route["nurse"]
            if nurse is None or nurse.pk not in starts:
                continue
            path = [proj.xy(*starts[nurse.pk])]
            path += [proj.xy(stop["req"].latitude, stop["req"].longitude) for stop in route["stops"] if stop["req"]]
            path.append(path[0])
            proposed.append({"points": _polyline(path), "colour": route["colour"], "nurse": nurse})
    return {"width": proj.width, "height": proj.height, "hospital": {"x": hospital[0], "y": hospital[1]},
            "nurses": nurse_marks, "routes": routes, "stops": stops, "waiting": waiting_marks,
            "proposed": proposed, "scale": proj.scale_bar()}

