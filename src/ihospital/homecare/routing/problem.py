"""A day of home-nursing visits to hand out: who can work when and where, and what must be done when and where.

Times are whole seconds since local midnight; keys are opaque strings chosen by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

NO_QUALIFIED_NURSE = "no_qualified_nurse"  # nobody on duty holds every skill the visit needs (or its pinned nurse)
NO_FEASIBLE_TIME = "no_feasible_time"  # someone could do it, but not within its window and their shifts
REASONS = (NO_QUALIFIED_NURSE, NO_FEASIBLE_TIME)


@dataclass(frozen=True)
class Point:
    lat: float
    lng: float


@dataclass(frozen=True)
class Nurse:
    key: str
    skills: frozenset[str]
    start: Point  # where the nurse starts, and must be back at by shift_end
    shift_start: int
    shift_end: int


@dataclass(frozen=True)
class Job:
    key: str
    skills: frozenset[str]  # all of them are required of the nurse
    at: Point
    window_start: int  # service must start within [window_start, window_end]
    window_end: int
    duration: int
    nurse: str | None = None  # pinned by the dispatcher: only this nurse may do it


@dataclass(frozen=True)
class Problem:
    nurses: tuple[Nurse, ...]
    jobs: tuple[Job, ...]


@dataclass(frozen=True)
class Stop:
    job: str
    arrive: int
    start: int  # >= arrive: waiting at the door for the window to open is allowed
    end: int  # start + duration
    travel: int  # from the previous stop, or from the nurse's start for the first


@dataclass
class Plan:
    routes: dict[str, list[Stop]]
    unassigned: dict[str, str]  # job key -> one of REASONS
    travel_seconds: int  # including each used nurse's way back to her start
    solver: str  # "pyvrp" or "greedy"
    elapsed: float


def qualified(nurse: Nurse, job: Job) -> bool:
    return job.skills <= nurse.skills and (job.nurse is None or job.nurse == nurse.key)


def ensure_well_formed(problem: Problem) -> None:
    """Reject input no plan can be about: duplicate keys, negative durations."""
    for kind, keys in (("nurse", [n.key for n in problem.nurses]), ("job", [j.key for j in problem.jobs])):
        if len(set(keys)) != len(keys):
            raise ValueError(f"duplicate {kind} keys")
    if any(job.duration < 0 for job in problem.jobs):
        raise ValueError("negative job duration")
