"""One analyte's released values over time, for one patient, and the chart of them as inline SVG.

Only released orders count (a value the doctor has not signed off is not the patient's yet), and of each order only
the latest version of the value (a correction replaces the value it corrects). Text results (urine "+") have no
place on a numeric axis and are left out. The reference band is the patient's current range for the analyte.

Scoping is the caller's: ``series`` is given the patient the reader acts for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext as _

from ihospital.accounts.models import PatientProfile

from . import flags
from .models import Analyte, Flag, Observation, OrderStatus


@dataclass
class Point:
    at: datetime
    value: Decimal
    flag: str
    order_number: str
    order_id: int


@dataclass
class Series:
    code: str
    name: str
    unit: str
    low: Decimal | None = None
    high: Decimal | None = None
    points: list[Point] = field(default_factory=list)


def _released(patient: PatientProfile):
    return Observation.objects.filter(order__patient=patient, order__status=OrderStatus.RELEASED)


def _latest(observations) -> list[Observation]:
    """The latest version of each (order, analyte)."""
    seen, latest = set(), []
    for obs in observations.order_by("order_id", "analyte_id", "-version"):
        key = (obs.order_id, obs.analyte_id)
        if key not in seen:
            seen.add(key)
            latest.append(obs)
    return latest


def analytes(patient: PatientProfile) -> list[dict]:
    """The analytes with at least one released numeric value, as ``{"code", "name", "count"}`` by name."""
    counts: dict[str, dict] = {}
    for obs in _latest(_released(patient).select_related("analyte")):
        if obs.value is None:
            continue
        entry = counts.setdefault(obs.analyte.code, {"code": obs.analyte.code, "name": obs.analyte.name, "count": 0})
        entry["count"] += 1
    return sorted(counts.values(), key=lambda e: (e["name"], e["code"]))


def series(patient: PatientProfile, analyte_code: str) -> Series | None:
    """The released numeric values of ``analyte_code`` in date order; ``None`` when there are none."""
    rows = [o for o in _latest(_released(patient).filter(analyte__code=analyte_code)
                               .select_related("analyte", "order")) if o.value is not None]
    if not rows:
        return None
    rows.sort(key=lambda o: (o.observed_at, o.pk))
    analyte: Analyte = rows[-1].analyte
    result = Series(code=analyte.code, name=analyte.name, unit=rows[-1].unit or analyte.unit)
    rng = flags.matching_range(analyte, sex=patient.sex, age=patient.age())
    if rng is not None:
        result.low, result.high = rng.low, rng.high
    result.points = [Point(at=o.observed_at, value=o.value, flag=o.flag, order_number=o.order.number,
                           order_id=o.order_id) for o in rows]
    return result


# ---- the chart ----------------------------------------------------------------------------------------------------

WIDTH, HEIGHT = 340, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 14, 40
ABNORMAL = {Flag.LOW, Flag.HIGH, Flag.CRITICAL_LOW, Flag.CRITICAL_HIGH, Flag.ABNORMAL}


def _nice(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def svg(data: Series) -> str:
    """The chart: value axis with ticks, the reference band shaded, one point per value (abnormal ones are
    diamonds with their flag written beside them), dates under the points. Scales with the screen width."""
    values = [float(p.value) for p in data.points]
    bounds = values + [float(b) for b in (data.low, data.high) if b is not None]
    lo, hi = min(bounds), max(bounds)
    pad = (hi - lo) * 0.1 or abs(hi) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y(v: float) -> float:
        return TOP + plot_h * (hi - v) / (hi - lo)

    n = len(data.points)

    def x(i: int) -> float:
        return LEFT + (plot_w / 2 if n == 1 else plot_w * i / (n - 1))

    title = _("%(name)s over time") % {"name": data.name}
    parts = [f'<svg class="dx-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="dx-chart-title" '
             f'xmlns="http://www.w3.org/2000/svg" data-testid="trend-chart">',
             f'<title id="dx-chart-title">{escape(title)}</title>']
    if data.low is not None or data.high is not None:
        top = y(float(data.high)) if data.high is not None else TOP
        bottom = y(float(data.low)) if data.low is not None else TOP + plot_h
        parts.append(f'<rect class="dx-band" x="{LEFT}" y="{top:.1f}" width="{plot_w}" height="{bottom - top:.1f}" '
                     f'data-testid="reference-band"><title>{escape(_("reference range"))}</title></rect>')
    parts.append(f'<line class="dx-axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}"/>')
    parts.append(f'<line class="dx-axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}"/>')
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        parts.append(f'<line class="dx-grid" x1="{LEFT}" y1="{y(v):.1f}" x2="{WIDTH - RIGHT}" y2="{y(v):.1f}"/>')
        parts.append(f'<text class="dx-tick" x="{LEFT - 4}" y="{y(v) + 3:.1f}" text-anchor="end">{_nice(v)}</text>')
    if data.unit:
        parts.append(f'<text class="dx-tick" x="2" y="{TOP - 4}">{escape(data.unit)}</text>')
    if n > 1:
        line = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline class="dx-line" points="{line}" fill="none"/>')
    step = max(1, n // 4)
    for i, (point, v) in enumerate(zip(data.points, values, strict=True)):
        px, py = x(i), y(v)
        day = timezone.localtime(point.at).date().isoformat()
        label = f"{day}: {flags.fmt(point.value)} {data.unit} {point.flag if point.flag != Flag.NORMAL else ''}"
        if point.flag in ABNORMAL:
            parts.append(f'<path class="dx-point dx-point-abnormal" d="M{px:.1f} {py - 6:.1f} L{px + 6:.1f} '
                         f'{py:.1f} L{px:.1f} {py + 6:.1f} L{px - 6:.1f} {py:.1f} Z" data-testid="trend-point" '
                         f'data-value="{flags.fmt(point.value)}" data-flag="{point.flag}">'
                         f'<title>{escape(label.strip())}</title></path>')
            parts.append(f'<text class="dx-flag" x="{px + 8:.1f}" y="{py - 6:.1f}">{escape(point.flag)}</text>')
        else:
            parts.append(f'<circle class="dx-point" cx="{px:.1f}" cy="{py:.1f}" r="4.5" data-testid="trend-point" '
                         f'data-value="{flags.fmt(point.value)}" data-flag="{point.flag}">'
                         f'<title>{escape(label.strip())}</title></circle>')
        if i % step == 0 or i == n - 1:
            parts.append(f'<text class="dx-tick" x="{px:.1f}" y="{TOP + plot_h + 14}" text-anchor="middle">'
                         f'{day[5:]}</text>')
            if i == 0 or i == n - 1:
                parts.append(f'<text class="dx-tick" x="{px:.1f}" y="{TOP + plot_h + 26}" text-anchor="middle">'
                             f'{day[:4]}</text>')
    parts.append("</svg>")
    return "".join(parts)
