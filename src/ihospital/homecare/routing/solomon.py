"""Textbook VRPTW instances (Solomon's, in VRPLIB files) through the same model/engine path as the nurse day,
so the benchmark measures the optimiser the dispatcher gets.

Convention of the published best-known values (DIMACS 2021, CVRPLIB): distance = time = Euclidean distance
truncated to one decimal. We work in integer tenths: distances, windows and service times all times 10.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import vrplib

from . import engine, model

SCALE = 10


@dataclass(frozen=True, eq=False)
class VrptwInstance:
    name: str
    vehicles: int
    capacity: int
    coords: np.ndarray  # node 0 is the depot
    demand: np.ndarray
    windows: np.ndarray  # (n, 2), tenths
    service: np.ndarray  # tenths
    distance: np.ndarray  # tenths, truncated

    @property
    def customers(self) -> int:
        return len(self.coords) - 1


@dataclass(frozen=True)
class VrptwResult:
    routes: list[list[int]]  # customer node numbers (1..n), depot left out
    distance: int  # tenths
    feasible: bool
    elapsed: float
    found_at: float  # seconds into the search when the returned solution was found


def tenths(coords: np.ndarray) -> np.ndarray:
    """floor(10·d) exactly: isqrt of 100·d² on integer coordinates (no float rounding), else via floats."""
    n = len(coords)
    out = np.zeros((n, n), dtype=np.int64)
    integral = np.all(coords == np.round(coords))
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = coords[i] - coords[j]
            if integral:
                out[i, j] = math.isqrt(100 * (int(dx) ** 2 + int(dy) ** 2))
            else:
                out[i, j] = math.floor(10 * math.hypot(dx, dy))
            out[j, i] = out[i, j]
    return out


def read_vrptw(path: str | Path) -> VrptwInstance:
    raw = vrplib.read_instance(str(path), compute_edge_weights=False)
    coords = np.asarray(raw["node_coord"], dtype=float)
    service = raw.get("service_time", 0)
    if np.isscalar(service):
        service = np.full(len(coords), service)
        service[0] = 0  # a uniform SERVICE_TIME is the customers', not the depot's
    return VrptwInstance(
        name=raw["name"],
        vehicles=int(raw["vehicles"]),
        capacity=int(raw["capacity"]),
        coords=coords,
        demand=np.asarray(raw["demand"], dtype=np.int64),
        windows=np.round(np.asarray(raw["time_window"], dtype=float) * SCALE).astype(np.int64),
        service=np.round(np.asarray(service, dtype=float) * SCALE).astype(np.int64),
        distance=tenths(coords),
    )


def solve_vrptw(instance: VrptwInstance, *, time_limit: float, seed: int = 1) -> VrptwResult:
    started = time.perf_counter()
    data = model.vrptw(coords=instance.coords, demand=instance.demand, windows=instance.windows,
                       service=instance.service, distance=instance.distance, capacity=instance.capacity,
                       vehicles=instance.vehicles)
    outcome = engine.run(data, time_limit=time_limit, seed=seed)
    best = outcome.best
    routes = [[act.idx + 1 for act in route if act.is_client()] for route in best.routes()]
    return VrptwResult(routes=routes, distance=best.distance(), feasible=best.is_feasible(),
                       elapsed=time.perf_counter() - started, found_at=outcome.found_at)


def check_vrptw(instance: VrptwInstance, routes: list[list[int]]) -> tuple[int, list[str]]:
    """(distance in tenths, violations) of routes recomputed from the instance alone."""
    out: list[str] = []
    if len(routes) > instance.vehicles:
        out.append(f"{len(routes)} routes, only {instance.vehicles} vehicles")
    seen = [c for route in routes for c in route]
    if sorted(seen) != list(range(1, instance.customers + 1)):
        out.append("customers are not each visited exactly once")
    total = 0
    d, (open_, close) = instance.distance, instance.windows[0]
    for n, route in enumerate(routes):
        if (load := int(sum(instance.demand[c] for c in route))) > instance.capacity:
            out.append(f"route {n}: load {load} > capacity {instance.capacity}")
        here, clock = 0, int(open_)
        for c in route:
            total += int(d[here, c])
            clock = max(clock + int(d[here, c]), int(instance.windows[c][0]))
            if clock > instance.windows[c][1]:
                out.append(f"route {n}: customer {c} served at {clock}, window closes {instance.windows[c][1]}")
            clock += int(instance.service[c])
            here = c
        total += int(d[here, 0])
        if clock + d[here, 0] > close:
            out.append(f"route {n}: back at depot at {clock + d[here, 0]}, after {close}")
    return total, out
