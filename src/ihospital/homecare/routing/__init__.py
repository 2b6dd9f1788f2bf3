"""Home-nursing dispatch: who visits whom, when, for a day — a real optimiser (pyvrp) over a pluggable travel
matrix, a greedy baseline, and a checker that trusts neither. Pure Python: no Django in here."""

from .greedy import greedy
from .matrix import Haversine, TravelMatrix, haversine_m
from .problem import NO_FEASIBLE_TIME, NO_QUALIFIED_NURSE, Job, Nurse, Plan, Point, Problem, Stop, qualified
from .solomon import VrptwInstance, VrptwResult, check_vrptw, read_vrptw, solve_vrptw
from .solver import solve
from .validate import check

__all__ = [
    "NO_FEASIBLE_TIME",
    "NO_QUALIFIED_NURSE",
    "Haversine",
    "Job",
    "Nurse",
    "Plan",
    "Point",
    "Problem",
    "Stop",
    "TravelMatrix",
    "VrptwInstance",
    "VrptwResult",
    "check",
    "check_vrptw",
    "greedy",
    "haversine_m",
    "qualified",
    "read_vrptw",
    "solve",
    "solve_vrptw",
]
