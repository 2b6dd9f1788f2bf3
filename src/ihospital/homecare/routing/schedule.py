"""Clock times for a nurse's visits in a given order, and turning orders into a Plan.

Every plan (pyvrp's or greedy's) is timed here, so check() judges both by the same clock.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from .matrix import Legs
from .problem import Job, Nurse, Plan, Problem, Stop, qualified


def timeline(nurse: Nurse, jobs: Sequence[Job], legs: Legs) -> list[Stop]:
    """Earliest service times for the jobs in this order (feasible or not: see keep_feasible)."""
    stops: list[Stop] = []
    here, clock = legs.nurse_place[nurse.key], nurse.shift_start
    for job in jobs:
        there = legs.job_place[job.key]
        travel = legs(here, there)
        if not stops:
            # Leave in time for the first window rather than wait at the patient's door: same service times.
            clock = max(clock, job.window_start - travel)
        arrive = clock + travel
        start = max(arrive, job.window_start)
        stops.append(Stop(job=job.key, arrive=arrive, start=start, end=start + job.duration, travel=travel))
        here, clock = there, start + job.duration
    return stops


def home_at(nurse: Nurse, stops: Sequence[Stop], legs: Legs) -> int:
    """When the nurse is back at her start (her shift start if she never left)."""
    if not stops:
        return nurse.shift_start
    return stops[-1].end + legs(legs.job_place[stops[-1].job], legs.nurse_place[nurse.key])


def keep_feasible(nurse: Nurse, jobs: Sequence[Job], legs: Legs) -> tuple[list[Stop], list[Job]]:
    """Drop visits from the route until what is left is valid; returns (stops, dropped jobs).

    The safety net behind the solver: whatever pyvrp hands back, a nurse is never sent to a visit she is not
    qualified for, too late for its window or too late to be home by the end of her shift.
    """
    kept = [job for job in jobs if qualified(nurse, job)]
    dropped = [job for job in jobs if not qualified(nurse, job)]
    while True:
        stops = timeline(nurse, kept, legs)
        late = next((i for i, (stop, job) in enumerate(zip(stops, kept, strict=True)) if stop.start > job.window_end),
                    None)
        if late is None and stops and home_at(nurse, stops, legs) > nurse.shift_end:
            late = len(kept) - 1
        if late is None:
            return stops, dropped
        dropped.append(kept.pop(late))


def assemble(problem: Problem, legs: Legs, routes: dict[str, list[Stop]], unassigned: dict[str, str], *,
             solver: str, started: float) -> Plan:
    nurses = {n.key: n for n in problem.nurses}
    travel = sum(stop.travel for stops in routes.values() for stop in stops)
    travel += sum(home_at(nurses[key], stops, legs) - stops[-1].end for key, stops in routes.items() if stops)
    return Plan(routes={key: stops for key, stops in routes.items() if stops}, unassigned=unassigned,
                travel_seconds=travel, solver=solver, elapsed=time.perf_counter() - started)
