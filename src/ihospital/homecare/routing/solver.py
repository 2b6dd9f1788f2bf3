"""solve(): the day's plan from pyvrp, started from the greedy plan and made safe by keep_feasible.

greedy() and check() are importable from here too, beside it.
"""

from __future__ import annotations

import time

from . import engine, model
from .greedy import assign, greedy
from .matrix import Legs, TravelMatrix
from .problem import NO_FEASIBLE_TIME, NO_QUALIFIED_NURSE, Job, Plan, Problem, Stop, ensure_well_formed, qualified
from .schedule import assemble, keep_feasible
from .validate import check

__all__ = ["check", "greedy", "solve"]


def solve(problem: Problem, *, matrix: TravelMatrix, time_limit: float = 5.0, seed: int = 1) -> Plan:
    started = time.perf_counter()
    ensure_well_formed(problem)
    legs = Legs(problem, matrix)
    unassigned: dict[str, str] = {}
    candidates: list[Job] = []
    for job in problem.jobs:
        if not any(qualified(nurse, job) for nurse in problem.nurses):
            unassigned[job.key] = NO_QUALIFIED_NURSE
        elif job.window_end < job.window_start:
            unassigned[job.key] = NO_FEASIBLE_TIME  # pyvrp refuses such a window; no nurse could meet it anyway
        else:
            candidates.append(job)
    # A nurse whose shift ends before it starts can do nothing (and pyvrp refuses such a vehicle).
    nurses = [nurse for nurse in problem.nurses if nurse.shift_end >= nurse.shift_start]

    orders: dict[str, list[Job]] = {}
    if candidates and nurses:
        day = model.nurse_day(nurses, candidates, legs)
        # Start from the greedy plan: the search only ever improves on its start, so the dispatcher is never
        # offered fewer visits (or more travel for as many) than the by-hand rule would give.
        start = day.solution(assign(Problem(nurses=tuple(nurses), jobs=tuple(candidates)), legs)[0])
        outcome = engine.run(day.data, time_limit=time_limit, seed=seed, initial=start if start.is_feasible() else None)
        orders = day.orders(outcome.best)

    by_key = {nurse.key: nurse for nurse in problem.nurses}
    routes: dict[str, list[Stop]] = {}
    for key, jobs in orders.items():
        routes[key], _ = keep_feasible(by_key[key], jobs, legs)
    routed = {stop.job for stops in routes.values() for stop in stops}
    for job in candidates:
        if job.key not in routed:
            unassigned[job.key] = NO_FEASIBLE_TIME
    return assemble(problem, legs, routes, unassigned, solver="pyvrp", started=started)
