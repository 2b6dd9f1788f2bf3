"""Travel times between places: a pluggable matrix (a road-network service, or the built-in great circle)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from .problem import Point, Problem

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)


class TravelMatrix(Protocol):
    def seconds(self, points: Sequence[Point]) -> list[list[int]]: ...


def haversine_m(a: Point, b: Point) -> float:
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlng = lat2 - lat1, math.radians(b.lng - a.lng)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


class Haversine:
    """Straight-line distance stretched by a detour factor, at an average city speed.

    No network needed; within one city it orders visits about as a road matrix would.
    """

    def __init__(self, *, speed_kmh: float = 25.0, detour: float = 1.3):
        if speed_kmh <= 0 or detour <= 0:
            raise ValueError("speed_kmh and detour must be positive")
        self.speed_kmh = speed_kmh
        self.detour = detour

    def seconds(self, points: Sequence[Point]) -> list[list[int]]:
        metres_per_second = self.speed_kmh / 3.6
        n = len(points)
        out = [[0] * n for _ in range(n)]
        for i in range(n):
            for j in range(i + 1, n):
                out[i][j] = out[j][i] = round(haversine_m(points[i], points[j]) * self.detour / metres_per_second)
        return out


class Legs:
    """The travel seconds between one problem's places, asked of the matrix once.

    Places are numbered nurses' starts first, then jobs, in the problem's order.
    """

    def __init__(self, problem: Problem, matrix: TravelMatrix):
        points = [n.start for n in problem.nurses] + [j.at for j in problem.jobs]
        table = matrix.seconds(points)
        # The matrix is pluggable: a wrong shape or a negative time would silently corrupt every plan.
        if len(table) != len(points) or any(len(row) != len(points) for row in table):
            raise ValueError(f"travel matrix is not {len(points)}x{len(points)}")
        self.table = [[int(t) for t in row] for row in table]
        if any(t < 0 for row in self.table for t in row):
            raise ValueError("travel matrix has negative times")
        self.nurse_place = {n.key: i for i, n in enumerate(problem.nurses)}
        self.job_place = {j.key: len(problem.nurses) + i for i, j in enumerate(problem.jobs)}

    def __call__(self, a: int, b: int) -> int:
        return self.table[a][b]
