"""check(): every rule a plan must keep, recomputed from the problem and the matrix, trusting nothing in the plan.

Each message starts with its kind (``skill:``, ``overlap:``, ``window:`` ...) so callers and tests can sort them.
"""

from __future__ import annotations

from collections import Counter

from .matrix import Legs, TravelMatrix
from .problem import REASONS, Plan, Problem


def check(problem: Problem, plan: Plan, *, matrix: TravelMatrix) -> list[str]:
    legs = Legs(problem, matrix)
    nurses = {n.key: n for n in problem.nurses}
    jobs = {j.key: j for j in problem.jobs}
    out: list[str] = []
    placed: Counter[str] = Counter()
    total = 0
    for nurse_key, stops in plan.routes.items():
        nurse = nurses.get(nurse_key)
        if nurse is None:
            out.append(f"unknown: route for nurse {nurse_key!r}, who is not in the problem")
            continue
        here, clock, after = legs.nurse_place[nurse_key], nurse.shift_start, None
        for stop in stops:
            job = jobs.get(stop.job)
            if job is None:
                out.append(f"unknown: nurse {nurse_key} visits job {stop.job!r}, which is not in the problem")
                continue
            placed[job.key] += 1
            if missing := job.skills - nurse.skills:
                out.append(f"skill: {job.key} needs {', '.join(sorted(missing))}, which nurse {nurse_key} lacks")
            if job.nurse is not None and job.nurse != nurse_key:
                out.append(f"pinned: {job.key} is pinned to nurse {job.nurse} but routed to {nurse_key}")
            there = legs.job_place[job.key]
            travel = legs(here, there)
            if stop.travel != travel:
                out.append(f"travel: {job.key} says {stop.travel} s from the previous place, the matrix {travel} s")
            total += travel
            if stop.arrive < clock + travel:
                if after is None:
                    out.append(f"shift: {job.key} reached at {stop.arrive}, but nurse {nurse_key} starts at "
                               f"{nurse.shift_start} and needs {travel} s")
                else:
                    out.append(f"overlap: {job.key} reached at {stop.arrive}, but {after} ends at {clock} and "
                               f"the way takes {travel} s")
            if stop.start < stop.arrive:
                out.append(f"arrive: {job.key} starts at {stop.start}, before arriving at {stop.arrive}")
            if not job.window_start <= stop.start <= job.window_end:
                out.append(f"window: {job.key} starts at {stop.start}, outside [{job.window_start}, {job.window_end}]")
            if stop.end != stop.start + job.duration:
                out.append(f"duration: {job.key} ends at {stop.end}, not start + {job.duration}")
            here, clock, after = there, stop.end, job.key
        if after is not None:
            back = legs(here, legs.nurse_place[nurse_key])
            total += back
            if clock + back > nurse.shift_end:
                out.append(f"late_return: nurse {nurse_key} is back at {clock + back}, after her shift ends at "
                           f"{nurse.shift_end}")
    for key, reason in plan.unassigned.items():
        if key not in jobs:
            out.append(f"unknown: unassigned job {key!r} is not in the problem")
            continue
        placed[key] += 1
        if reason not in REASONS:
            out.append(f"reason: {key} unassigned for {reason!r}, not one of {', '.join(REASONS)}")
    for key in jobs:
        if placed[key] == 0:
            out.append(f"missing: {key} is neither routed nor unassigned")
        elif placed[key] > 1:
            out.append(f"duplicate: {key} appears {placed[key]} times in routes and unassigned")
    if plan.travel_seconds != total:
        out.append(f"total: travel_seconds is {plan.travel_seconds}, the routes add up to {total}")
    return out
