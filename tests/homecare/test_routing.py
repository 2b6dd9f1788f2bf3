"""The dispatch optimiser (pure Python, no database): plans are valid by construction, check() catches bad ones,
greedy is never better than solve, the matrix and the Solomon path are right."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ihospital.homecare.routing import (
    NO_FEASIBLE_TIME,
    NO_QUALIFIED_NURSE,
    Haversine,
    Job,
    Nurse,
    Plan,
    Point,
    Problem,
    Stop,
    check,
    check_vrptw,
    greedy,
    haversine_m,
    read_vrptw,
    solve,
    solve_vrptw,
)

H = 3600
SKILLS = ("general", "picc", "wound_ostomy", "maternal_infant")
SOLOMON = Path(__file__).resolve().parents[2] / "bench" / "data" / "solomon"
TAIYUAN = Point(37.8706, 112.5489)


class Flat:
    """Every way between two different places takes the same time: plans by hand have exact numbers."""

    def __init__(self, seconds: int):
        self.t = seconds

    def seconds(self, points):
        return [[0 if i == j else self.t for j in range(len(points))] for i in range(len(points))]


def nurse(key, skills=("general",), shift=(8 * H, 16 * H), at=TAIYUAN):
    return Nurse(key=key, skills=frozenset(skills), start=at, shift_start=shift[0], shift_end=shift[1])


def job(key, window, *, skills=("general",), duration=1800, at=TAIYUAN, pinned=None):
    return Job(key=key, skills=frozenset(skills), at=at, window_start=window[0], window_end=window[1],
               duration=duration, nurse=pinned)


def assigned(plan: Plan) -> int:
    return sum(len(stops) for stops in plan.routes.values())


# -- solve() output is always valid ----------------------------------------------------------------------------

points = st.builds(Point, st.floats(37.84, 37.90), st.floats(112.51, 112.59))  # ~7 km across


@st.composite
def problems(draw) -> Problem:
    nurses = []
    for i in range(draw(st.integers(2, 5))):
        start = draw(st.integers(6, 12)) * H
        skills = {"general"} | draw(st.sets(st.sampled_from(SKILLS), max_size=2))
        nurses.append(nurse(f"n{i}", skills, (start, start + draw(st.integers(3 * H, 10 * H))), draw(points)))
    jobs = []
    for i in range(draw(st.integers(3, 15))):
        opens = draw(st.integers(7 * H, 17 * H))
        width = draw(st.integers(-H // 8, 4 * H))  # now and then (3 %) a window that closes before it opens
        pinned = draw(st.one_of(st.none(), st.none(), st.none(), st.sampled_from([n.key for n in nurses])))
        skills = draw(st.sets(st.sampled_from(SKILLS), max_size=1)) | {"general"}
        jobs.append(job(f"j{i}", (opens, opens + width), skills=skills, duration=draw(st.integers(10, 90)) * 60,
                        at=draw(points), pinned=pinned))
    return Problem(nurses=tuple(nurses), jobs=tuple(jobs))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_solve_always_returns_a_valid_plan(problem):
    matrix = Haversine()
    plan = solve(problem, matrix=matrix, time_limit=0.2)
    assert plan.solver == "pyvrp"
    nurses = {n.key: n for n in problem.nurses}
    jobs = {j.key: j for j in problem.jobs}
    table = matrix.seconds([n.start for n in problem.nurses] + [j.at for j in problem.jobs])
    place = {key: i for i, key in enumerate([*nurses, *jobs])}

    routed = [stop.job for stops in plan.routes.values() for stop in stops]
    assert len(routed) == len(set(routed))
    assert set(routed).isdisjoint(plan.unassigned)
    assert set(routed) | set(plan.unassigned) == set(jobs)
    assert set(plan.unassigned.values()) <= {NO_QUALIFIED_NURSE, NO_FEASIBLE_TIME}

    total = 0
    for key, stops in plan.routes.items():
        n = nurses[key]
        here, free = key, n.shift_start
        for stop in stops:
            j = jobs[stop.job]
            assert j.skills <= n.skills
            assert j.nurse in (None, key)
            travel = table[place[here]][place[j.key]]
            assert stop.travel == travel
            assert stop.arrive >= free + travel  # no overlap: previous end (or shift start) plus the way there
            assert j.window_start <= stop.start <= j.window_end
            assert stop.start >= stop.arrive and stop.end == stop.start + j.duration
            total += travel
            here, free = j.key, stop.end
        if stops:
            back = table[place[here]][place[key]]
            assert free + back <= n.shift_end
            total += back
    assert plan.travel_seconds == total
    for key, reason in plan.unassigned.items():
        anyone = any(jobs[key].skills <= n.skills and jobs[key].nurse in (None, n.key) for n in problem.nurses)
        assert reason == (NO_FEASIBLE_TIME if anyone else NO_QUALIFIED_NURSE)
    assert check(problem, plan, matrix=matrix) == []
    assert check(problem, greedy(problem, matrix=matrix), matrix=matrix) == []


# -- check() catches a bad plan --------------------------------------------------------------------------------

def test_check_names_each_violation():
    problem = Problem(
        nurses=(nurse("n1"),),
        jobs=(job("j1", (9 * H, 10 * H)), job("j2", (9 * H, 12 * H), skills=("general", "picc")),
              job("j3", (9 * H, 10 * H))),
    )
    plan = Plan(
        routes={"n1": [
            Stop(job="j1", arrive=9 * H, start=9 * H, end=9 * H + 1800, travel=600),
            # j1 ends 09:30 and the way takes 10 min: 09:35 is too early (and n1 has no PICC).
            Stop(job="j2", arrive=9 * H + 2100, start=9 * H + 2400, end=10 * H + 600, travel=600),
            Stop(job="j3", arrive=10 * H + 1200, start=11 * H, end=11 * H + 1800, travel=600),  # window shut 10:00
        ]},
        unassigned={}, travel_seconds=2400, solver="hand", elapsed=0.0,
    )
    violations = check(problem, plan, matrix=Flat(600))
    assert sorted(v.split(":")[0] for v in violations) == ["overlap", "skill", "window"]
    assert any(v.startswith("skill: j2 needs picc") for v in violations)
    assert any(v.startswith("overlap: j2 reached at") for v in violations)
    assert any(v.startswith("window: j3 starts at 39600") for v in violations)


def test_check_catches_lost_and_doubled_jobs_and_a_late_return():
    problem = Problem(nurses=(nurse("n1", shift=(8 * H, 9 * H)),),
                      jobs=(job("j1", (8 * H, 9 * H), duration=3000), job("j2", (8 * H, 9 * H))))
    plan = Plan(routes={"n1": [Stop(job="j1", arrive=8 * H + 600, start=8 * H + 600, end=8 * H + 3600, travel=600)]},
                unassigned={"j1": NO_FEASIBLE_TIME}, travel_seconds=1200, solver="hand", elapsed=0.0)
    kinds = sorted(v.split(":")[0] for v in check(problem, plan, matrix=Flat(600)))
    assert kinds == ["duplicate", "late_return", "missing"]


# -- reasons ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("plan_with", [solve, greedy])
def test_reasons_for_leaving_a_visit_out(plan_with):
    problem = Problem(
        nurses=(nurse("n1"), nurse("n2", skills=("general", "wound_ostomy"))),
        jobs=(
            job("ok", (9 * H, 11 * H)),
            job("picc", (9 * H, 11 * H), skills=("general", "picc")),  # no PICC nurse on duty
            job("pinned_to_nobody", (9 * H, 11 * H), pinned="n9"),
            job("pinned_unqualified", (9 * H, 11 * H), skills=("wound_ostomy",), pinned="n1"),
            job("evening", (20 * H, 21 * H)),  # everyone is off by 16:00
            job("too_long", (9 * H, 11 * H), duration=9 * H),  # longer than any shift
        ),
    )
    kwargs = {"time_limit": 0.2} if plan_with is solve else {}
    plan = plan_with(problem, matrix=Flat(600), **kwargs)
    assert plan.unassigned == {
        "picc": NO_QUALIFIED_NURSE,
        "pinned_to_nobody": NO_QUALIFIED_NURSE,
        "pinned_unqualified": NO_QUALIFIED_NURSE,
        "evening": NO_FEASIBLE_TIME,
        "too_long": NO_FEASIBLE_TIME,
    }
    assert assigned(plan) == 1
    assert check(problem, plan, matrix=Flat(600)) == []


def test_pinned_visit_goes_to_its_nurse_even_when_another_is_nearer():
    far = Point(TAIYUAN.lat + 0.1, TAIYUAN.lng)
    problem = Problem(nurses=(nurse("near"), nurse("far", at=far)),
                      jobs=(job("j", (9 * H, 12 * H), pinned="far"), job("k", (9 * H, 12 * H))))
    plan = solve(problem, matrix=Haversine(), time_limit=0.2)
    assert [s.job for s in plan.routes["far"]] == ["j"]
    assert [s.job for s in plan.routes["near"]] == ["k"]


def test_greedy_keeps_a_pinned_visit_reachable():
    # The only nurse has a visit pinned at 10:00 at home base; an earlier free visit 45 minutes' drive away
    # would make her late for it, so greedy must leave the free one out rather than break the pinned one.
    far = Point(TAIYUAN.lat + 0.2, TAIYUAN.lng)
    problem = Problem(nurses=(nurse("a"),),
                      jobs=(job("pinned", (10 * H, 10 * H), pinned="a"), job("free", (9 * H, 10 * H), at=far)))
    plan = greedy(problem, matrix=Haversine())
    assert [s.job for s in plan.routes["a"]] == ["pinned"]
    assert plan.unassigned == {"free": NO_FEASIBLE_TIME}
    assert check(problem, plan, matrix=Haversine()) == []


# -- solve against greedy --------------------------------------------------------------------------------------

def medium(seed: int = 5) -> Problem:
    rng = random.Random(seed)

    def somewhere():
        return Point(TAIYUAN.lat + rng.uniform(-0.1, 0.1), TAIYUAN.lng + rng.uniform(-0.12, 0.12))

    shifts = [(8 * H, 16 * H), (10 * H, 18 * H)]
    nurses = tuple(nurse(f"n{i}", {"general"} | ({"picc"} if i % 3 == 0 else set()), rng.choice(shifts), somewhere())
                   for i in range(6))
    jobs = []
    for i in range(40):
        opens = rng.randrange(16, 31) * H // 2
        jobs.append(job(f"j{i}", (opens, opens + rng.choice([2, 3]) * H), duration=rng.choice([30, 45, 60]) * 60,
                        skills=("general", "picc") if rng.random() < 0.15 else ("general",), at=somewhere()))
    return Problem(nurses=nurses, jobs=tuple(jobs))


def test_solve_beats_or_equals_greedy():
    problem, matrix = medium(), Haversine()
    ours, base = solve(problem, matrix=matrix, time_limit=2.0), greedy(problem, matrix=matrix)
    assert check(problem, ours, matrix=matrix) == [] and check(problem, base, matrix=matrix) == []
    assert base.solver == "greedy"
    # More visits, or as many for no more travel.
    assert (-assigned(ours), ours.travel_seconds) <= (-assigned(base), base.travel_seconds)
    assert ours.travel_seconds / assigned(ours) < base.travel_seconds / assigned(base)


# -- the travel matrix -----------------------------------------------------------------------------------------

def test_haversine_known_distance():
    beijing, shanghai = Point(39.9042, 116.4074), Point(31.2304, 121.4737)
    assert haversine_m(beijing, shanghai) == pytest.approx(1_067_000, rel=0.01)
    assert haversine_m(beijing, beijing) == 0


def test_haversine_seconds_are_metres_times_detour_over_speed():
    a, b = Point(37.0, 112.0), Point(38.0, 112.0)  # one degree of latitude, ~111.2 km
    plain = Haversine(speed_kmh=36, detour=1.0).seconds([a, b])  # 36 km/h = 10 m/s
    assert plain == [[0, round(haversine_m(a, b) / 10)], [round(haversine_m(a, b) / 10), 0]]
    assert plain[0][1] == pytest.approx(11_119, abs=2)
    default = Haversine().seconds([a, b])[0][1]  # 25 km/h, x1.3
    assert default == round(haversine_m(a, b) * 1.3 / (25 / 3.6))
    with pytest.raises(ValueError):
        Haversine(speed_kmh=0)


# -- the Solomon path ------------------------------------------------------------------------------------------

def test_solomon_reader_uses_the_dimacs_convention():
    c101 = read_vrptw(SOLOMON / "C101.vrp")
    assert (c101.name, c101.customers, c101.vehicles, c101.capacity) == ("C101", 100, 25, 200)
    assert c101.distance[0][1] == math.floor(10 * math.hypot(45 - 40, 68 - 50)) == 186  # tenths, truncated
    assert list(c101.windows[1]) == [9120, 9670] and c101.service[1] == 900 and c101.service[0] == 0


def test_solve_vrptw_reaches_c101_optimum_closely():
    c101 = read_vrptw(SOLOMON / "C101.vrp")
    result = solve_vrptw(c101, time_limit=2.0, seed=1)
    distance, violations = check_vrptw(c101, result.routes)
    assert violations == [] and result.feasible and distance == result.distance
    assert distance <= 8273 * 1.03  # best known 827.3, proven optimal


def test_the_safety_net_drops_what_a_solver_got_wrong():
    from ihospital.homecare.routing.matrix import Legs
    from ihospital.homecare.routing.schedule import keep_feasible

    n1 = nurse("n1", shift=(8 * H, 12 * H))
    problem = Problem(nurses=(n1,), jobs=(
        job("a", (8 * H, 9 * H)), job("picc", (8 * H, 12 * H), skills=("picc",)),
        job("b", (8 * H, 8 * H + 900)),  # its window shuts while a is still going on
        job("c", (9 * H, 10 * H)), job("d", (11 * H, 12 * H), duration=H),  # d would keep n1 out past noon
    ))
    stops, dropped = keep_feasible(n1, problem.jobs, Legs(problem, Flat(600)))
    assert [s.job for s in stops] == ["a", "c"]
    assert sorted(j.key for j in dropped) == ["b", "d", "picc"]
