"""How good is the home-nursing dispatch optimiser: against proven optima, and against a dispatcher's greedy?

1. Solomon VRPTW instances (C101, R101, RC101, RC201; 100 customers) through the same model/engine path as the
   nurse day (``routing.solomon.solve_vrptw``), each solution re-checked from the instance alone (capacity,
   windows, vehicle count, every customer once), against the proven optimal distances in
   ``bench/data/solomon/README.md``. Targets: within 1 % each, at most 30 s each.
2. A generated city day in Taiyuan: 200 visits, 30 nurses with shifts, start places, skills and some visits
   pinned by the dispatcher, travel by the built-in Haversine matrix. ``solve`` against ``greedy`` (visits in
   order of opening, each to the nearest qualified nurse who can still make its window and be home in time).
   ``solve`` starts its search from greedy's plan (so it never assigns fewer); the gain is what the search adds.
   Both plans pass ``check``. Compared on the whole day (travel per assigned visit, since the two may assign
   different numbers) and on equal terms: ``solve`` given only the visits greedy assigned, so both serve the
   same set. Target: at least 20 % less travel.

The instance is seeded and fixed; the optimiser stops on wall time, so its result can move slightly with load.

Run: ``.venv/bin/python bench/dispatch.py``
"""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from ihospital.homecare.routing import (  # noqa: E402
    Haversine,
    Job,
    Nurse,
    Point,
    Problem,
    check,
    check_vrptw,
    greedy,
    read_vrptw,
    solve,
    solve_vrptw,
)

SOLOMON = ROOT / "bench" / "data" / "solomon"
BEST_KNOWN = {"C101": 827.3, "R101": 1637.7, "RC101": 1619.8, "RC201": 1261.8}  # README table: proven optima
VRPTW_SECONDS = 10.0  # the search settles within ~5 s on these (see found-at column); twice that for a busy box
CITY_SECONDS = 10.0  # what a dispatcher waits for a proposal
SEED = 20240611

TAIYUAN = Point(37.8706, 112.5489)
RADIUS_M = 15_000
HOSPITALS = (Point(37.8650, 112.5620), Point(37.9010, 112.5270))  # main campus, north branch
SPECIALTIES = {"wound_ostomy": 0.30, "picc": 0.25, "maternal_infant": 0.25}  # share of nurses holding each
VISIT_MIX = [66, 14, 10, 10]  # % of visits needing only general care, then each specialty in SPECIALTIES' order
DURATIONS = [30, 30, 30, 30, 45, 45, 45, 60, 60, 90]  # minutes: mostly short checks, some long dressings
H = 3600


def around(rng: random.Random, centre: Point, radius_m: float) -> Point:
    r, theta = radius_m * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
    return Point(centre.lat + r * math.cos(theta) / 111_320,
                 centre.lng + r * math.sin(theta) / (111_320 * math.cos(math.radians(centre.lat))))


def city_day(seed: int = SEED, visits: int = 200, nurses: int = 30) -> Problem:
    rng = random.Random(seed)
    # Fixed proportions rather than a coin per nurse, so no seed leaves a skill with one or two holders.
    shifts = [(8, 16)] * 13 + [(10, 18)] * 11 + [(8, 12)] * 3 + [(13, 17)] * 3  # full-time early/late, part-time
    rng.shuffle(shifts)
    holders = {skill: set(rng.sample(range(nurses), round(share * nurses))) for skill, share in SPECIALTIES.items()}
    staff = []
    for i in range(nurses):
        skills = {"general"} | {skill for skill, who in holders.items() if i in who}
        start = rng.choice(HOSPITALS) if rng.random() < 0.4 else around(rng, TAIYUAN, RADIUS_M)  # else from home
        staff.append(Nurse(key=f"n{i:02d}", skills=frozenset(skills), start=start, shift_start=shifts[i % 30][0] * H,
                           shift_end=shifts[i % 30][1] * H))
    jobs = []
    for i in range(visits):
        need = rng.choices([None, *SPECIALTIES], weights=VISIT_MIX)[0]
        skills = frozenset({"general"} | ({need} if need else set()))
        opens = rng.randrange(8 * 2, 15 * 2 + 1) * H // 2  # on the half hour, 08:00 to 15:00
        width = rng.choice([2, 3]) * H
        duration = rng.choice(DURATIONS) * 60
        pinned = None
        if rng.random() < 0.05:  # continuity of care: the dispatcher keeps the patient's usual nurse
            able = [n for n in staff if skills <= n.skills and n.shift_start <= opens < n.shift_end - H]
            pinned = rng.choice(able).key if able else None
        jobs.append(Job(key=f"v{i:03d}", skills=skills, at=around(rng, TAIYUAN, RADIUS_M), window_start=opens,
                        window_end=min(opens + width, 17 * H), duration=duration, nurse=pinned))
    return Problem(nurses=tuple(staff), jobs=tuple(jobs))


def solomon() -> list[tuple[str, float, float, float, float, float]]:
    rows = []
    print(f"{'instance':<9}{'ours':>9}{'best':>9}{'gap %':>8}{'routes':>8}{'found at s':>12}{'seconds':>9}")
    for name, best in BEST_KNOWN.items():
        instance = read_vrptw(SOLOMON / f"{name}.vrp")
        result = solve_vrptw(instance, time_limit=VRPTW_SECONDS, seed=1)
        tenths, problems = check_vrptw(instance, result.routes)
        if problems or not result.feasible or tenths != result.distance:
            raise SystemExit(f"{name}: invalid solution: {problems[:3]} (pyvrp says {result.distance})")
        ours = tenths / 10
        gap = 100 * (ours - best) / best
        print(f"{name:<9}{ours:>9.1f}{best:>9.1f}{gap:>8.2f}{len(result.routes):>8}{result.found_at:>12.1f}"
              f"{result.elapsed:>9.1f}")
        rows.append((name, ours, best, gap, result.found_at, result.elapsed))
    return rows


def summary(label: str, problem: Problem, plan, matrix) -> tuple[int, int]:
    violations = check(problem, plan, matrix=matrix)
    if violations:
        raise SystemExit(f"{label}: invalid plan: {violations[:3]}")
    assigned = sum(len(stops) for stops in plan.routes.values())
    reasons = {}
    for reason in plan.unassigned.values():
        reasons[reason] = reasons.get(reason, 0) + 1
    per_visit = plan.travel_seconds / 60 / max(assigned, 1)
    print(f"{label:<26}{assigned:>9}{plan.travel_seconds / 3600:>10.1f}{per_visit:>12.1f}{len(plan.routes):>8}"
          f"{plan.elapsed:>9.1f}   {reasons or ''}")
    return assigned, plan.travel_seconds


def city() -> tuple[int, int, int, float, float]:
    problem = city_day()
    matrix = Haversine()
    print(f"\ncity day: {len(problem.jobs)} visits, {len(problem.nurses)} nurses, "
          f"{sum(j.nurse is not None for j in problem.jobs)} pinned, Haversine 25 km/h x1.3")
    print(f"{'plan':<26}{'assigned':>9}{'travel h':>10}{'min/visit':>12}{'nurses':>8}{'seconds':>9}   unassigned")
    base = greedy(problem, matrix=matrix)
    base_n, base_t = summary("greedy", problem, base, matrix)
    ours = solve(problem, matrix=matrix, time_limit=CITY_SECONDS, seed=1)
    ours_n, ours_t = summary("solve", problem, ours, matrix)
    done = {stop.job for stops in base.routes.values() for stop in stops}
    same = Problem(nurses=problem.nurses, jobs=tuple(j for j in problem.jobs if j.key in done))
    equal = solve(same, matrix=matrix, time_limit=CITY_SECONDS, seed=1)
    equal_n, equal_t = summary("solve, greedy's visits", same, equal, matrix)
    per_visit = (ours_t / ours_n) / (base_t / base_n)
    same_ratio = equal_t / base_t if equal_n == base_n else math.nan
    return ours_n, base_n, equal_n, per_visit, same_ratio


def main() -> None:
    rows = solomon()
    ours_n, base_n, equal_n, per_visit, same_ratio = city()
    gaps = ", ".join(f"{name} {gap:.2f}%" for name, _, _, gap, _, _ in rows)
    print(
        f"\ndispatch: Solomon gap max {max(r[3] for r in rows):.2f}% ({gaps}) in max "
        f"{max(r[5] for r in rows):.1f} s/instance (target ≤1%, ≤30 s); city-day 200 visits/30 nurses: travel "
        f"per visit {per_visit:.2f}× greedy ({100 * (per_visit - 1):+.0f}%), {ours_n} vs {base_n} assigned; "
        f"on greedy's {base_n} visits {same_ratio:.2f}× ({100 * (same_ratio - 1):+.0f}%, {equal_n} assigned) "
        f"(target ≥20% less)"
    )


if __name__ == "__main__":
    main()
