"""Running pyvrp: one place for the stopping rule and the seed, shared by the nurse day and the benchmark."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pyvrp
from pyvrp import IteratedLocalSearchCallbacks, IteratedLocalSearchParams, SolveParams
from pyvrp.stop import MaxRuntime


@dataclass(frozen=True)
class Outcome:
    best: pyvrp.Solution
    found_at: float  # seconds into the search when `best` was found: how much of the time limit it needed
    iterations: int


class _WhenBest(IteratedLocalSearchCallbacks):
    def __init__(self):
        self.started = self.found = time.perf_counter()

    def on_best(self, best):
        self.found = time.perf_counter()


def run(data: pyvrp.ProblemData, *, time_limit: float, seed: int, initial: pyvrp.Solution | None = None) -> Outcome:
    """pyvrp's best solution within time_limit wall seconds (its iterated local search, pyvrp 0.14).

    With `initial` the search starts there, and never returns anything costlier.
    """
    when = _WhenBest()
    params = SolveParams(ils=IteratedLocalSearchParams(callbacks=when))
    result = pyvrp.solve(data, stop=MaxRuntime(max(0.0, time_limit)), seed=seed, collect_stats=False,
                         display=False, params=params, initial_solution=initial)
    return Outcome(best=result.best, found_at=when.found - when.started, iterations=result.num_iterations)
