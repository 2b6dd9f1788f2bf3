"""The baseline a dispatcher would do by hand: the day's visits in order of opening, each to the nearest available
nurse — the qualified nurse with the shortest way there from where she is (the earliest start among ties) who
can still start it within its window and be home by the end of her shift.

(Nearest beats "whoever can start it first" on this baseline's own terms: that rule sends idle nurses across
town: a third more travel per visit, and fewer visits, on the benchmark's city day. The stronger baseline is the
honest one.)

Also the optimiser's starting point, so solve() never does worse than it.
"""

from __future__ import annotations

import time

from .matrix import Legs, TravelMatrix
from .problem import NO_FEASIBLE_TIME, NO_QUALIFIED_NURSE, Job, Plan, Problem, ensure_well_formed, qualified
from .schedule import assemble, timeline


def assign(problem: Problem, legs: Legs) -> tuple[dict[str, list[Job]], dict[str, str]]:
    """(each nurse's visits in order, unassigned job -> reason)."""
    place = {n.key: legs.nurse_place[n.key] for n in problem.nurses}
    free = {n.key: n.shift_start for n in problem.nurses}
    orders: dict[str, list[Job]] = {n.key: [] for n in problem.nurses}
    unassigned: dict[str, str] = {}
    # Visits already pinned to a nurse are fixed points of her day (as on a dispatcher's board): a new visit is
    # hers only if she can still reach her next pinned visit in time after it.
    pinned = {n.key: sorted((j for j in problem.jobs if j.nurse == n.key), key=lambda j: (j.window_start, j.key))
              for n in problem.nurses}
    for job in sorted(problem.jobs, key=lambda j: (j.window_start, j.window_end, j.key)):
        there = legs.job_place[job.key]
        able = [n for n in problem.nurses if qualified(n, job)]
        best: tuple[int, int, str] | None = None  # (travel, start, nurse)
        for nurse in able:
            travel = legs(place[nurse.key], there)
            start = max(free[nurse.key] + travel, job.window_start)
            home = start + job.duration + legs(there, legs.nurse_place[nurse.key])
            upcoming = next((p for p in pinned[nurse.key] if p is not job), None)
            if upcoming is not None and start + job.duration + legs(there, legs.job_place[upcoming.key]) > \
                    upcoming.window_start:
                continue
            if start <= job.window_end and home <= nurse.shift_end:
                best = min(best or (travel, start, nurse.key), (travel, start, nurse.key))
        if best is None:
            unassigned[job.key] = NO_FEASIBLE_TIME if able else NO_QUALIFIED_NURSE
            continue
        _, start, key = best
        if job in pinned[key]:
            pinned[key].remove(job)
        orders[key].append(job)
        place[key], free[key] = there, start + job.duration
    return orders, unassigned


def greedy(problem: Problem, *, matrix: TravelMatrix) -> Plan:
    started = time.perf_counter()
    ensure_well_formed(problem)
    legs = Legs(problem, matrix)
    orders, unassigned = assign(problem, legs)
    nurses = {n.key: n for n in problem.nurses}
    routes = {key: timeline(nurses[key], jobs, legs) for key, jobs in orders.items()}
    return assemble(problem, legs, routes, unassigned, solver="greedy", started=started)
