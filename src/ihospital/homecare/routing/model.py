"""Building pyvrp's ProblemData: for a nurse day, and for a textbook VRPTW instance (the Solomon benchmark).

A nurse day: each nurse is her own vehicle type (one vehicle, her start as its depot, her shift as its time
window). Skills and pinning are routing profiles: nurses with the same skills (and no pinned visits) share one,
and in a profile every edge into or out of a visit its nurses may not do costs more than dropping the visit, so
the search leaves it to someone else or unassigned. Every visit is optional with a prize larger than any
possible travel, so the objective is: as many visits as possible, then the least total travel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyvrp
from pyvrp.constants import MAX_VALUE

from .matrix import Legs
from .problem import Job, Nurse, qualified


@dataclass(frozen=True, eq=False)
class NurseDay:
    data: pyvrp.ProblemData
    nurses: tuple[Nurse, ...]  # vehicle type i (and depot i) is nurses[i]
    jobs: tuple[Job, ...]  # client i is jobs[i]

    def orders(self, solution: pyvrp.Solution) -> dict[str, list[Job]]:
        """Each nurse's visits in the solution's order."""
        return {
            self.nurses[route.vehicle_type()].key: [self.jobs[act.idx] for act in route if act.is_client()]
            for route in solution.routes()
        }

    def solution(self, orders: dict[str, list[Job]]) -> pyvrp.Solution:
        """The pyvrp solution of these routes (to start the search from)."""
        client = {job.key: i for i, job in enumerate(self.jobs)}
        return pyvrp.Solution(self.data, [
            pyvrp.Route(self.data, [client[job.key] for job in orders[nurse.key]], vehicle_type)
            for vehicle_type, nurse in enumerate(self.nurses) if orders.get(nurse.key)
        ])


def nurse_day(nurses: Sequence[Nurse], jobs: Sequence[Job], legs: Legs) -> NurseDay:
    places = [legs.nurse_place[n.key] for n in nurses] + [legs.job_place[j.key] for j in jobs]
    travel = np.asarray(legs.table, dtype=np.int64)[np.ix_(places, places)]
    # Dropping a visit must cost more than any travel a plan can have (every edge of every route at its longest);
    # a forbidden edge more than dropping plus that travel, so no forbidden visit ever pays for itself.
    longest = int(travel.max(initial=0))
    prize = (len(jobs) + len(nurses)) * longest + 1
    forbidden = min(2 * prize, MAX_VALUE)

    pinned = {job.nurse for job in jobs if job.nurse is not None}
    profile_of: dict[tuple[frozenset[str], str | None], int] = {}
    vehicle_types, distances = [], []
    for depot, nurse in enumerate(nurses):
        key = (nurse.skills, nurse.key if nurse.key in pinned else None)
        if key not in profile_of:
            profile_of[key] = len(distances)
            allowed = np.ones(len(places), dtype=bool)
            allowed[len(nurses):] = [qualified(nurse, job) for job in jobs]
            matrix = travel.copy()
            matrix[:, ~allowed] = forbidden
            matrix[~allowed, :] = forbidden
            np.fill_diagonal(matrix, 0)
            distances.append(matrix)
        vehicle_types.append(pyvrp.VehicleType(
            num_available=1, start_depot=depot, end_depot=depot, tw_early=nurse.shift_start,
            tw_late=nurse.shift_end, profile=profile_of[key], name=nurse.key,
        ))

    data = pyvrp.ProblemData(
        locations=[pyvrp.Location(x=n.start.lng, y=n.start.lat) for n in nurses]
        + [pyvrp.Location(x=j.at.lng, y=j.at.lat) for j in jobs],
        clients=[
            pyvrp.Client(location=len(nurses) + i, service_duration=job.duration, tw_early=job.window_start,
                         tw_late=job.window_end, prize=prize, required=False, name=job.key)
            for i, job in enumerate(jobs)
        ],
        depots=[pyvrp.Depot(location=i) for i in range(len(nurses))],
        vehicle_types=vehicle_types,
        distance_matrices=distances,
        # Time is the real travel for everyone: forbidden visits are priced out by distance, not made to time-warp.
        duration_matrices=[travel] * len(distances),
    )
    return NurseDay(data=data, nurses=tuple(nurses), jobs=tuple(jobs))


def vrptw(
    *, coords: np.ndarray, demand: np.ndarray, windows: np.ndarray, service: np.ndarray, distance: np.ndarray,
    capacity: int, vehicles: int,
) -> pyvrp.ProblemData:
    """A single-depot capacitated VRPTW (node 0 is the depot), distance and time alike, at most `vehicles` routes."""
    return pyvrp.ProblemData(
        locations=[pyvrp.Location(x=float(x), y=float(y)) for x, y in coords],
        clients=[
            pyvrp.Client(location=i, delivery=[int(demand[i])], service_duration=int(service[i]),
                         tw_early=int(windows[i][0]), tw_late=int(windows[i][1]))
            for i in range(1, len(coords))
        ],
        depots=[pyvrp.Depot(location=0)],
        vehicle_types=[pyvrp.VehicleType(num_available=vehicles, capacity=[capacity], tw_early=int(windows[0][0]),
                                         tw_late=int(windows[0][1]))],
        distance_matrices=[distance],
        duration_matrices=[distance],
    )
