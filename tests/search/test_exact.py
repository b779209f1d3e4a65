"""Issue #17: exact mixed fleets, refinement off the lattice, the throughput-grid cache, cheap runner-ups."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.search.brute_force import brute_force, brute_force_mixed
from planner.search.solver import solve
from planner.types.requests import Availability, SolveRequest

GPU_IDS = ["h100-sxm", "a100-80gb", "a100-40gb", "l4", "mi300x", "b200", "l40s"]
MANY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAST = settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mixed_instances(draw):
    gpus = draw(st.lists(st.sampled_from(GPU_IDS), min_size=2, max_size=3, unique=True))
    modes = draw(st.lists(st.sampled_from(["rent", "rent", "rent", "owned", "buy"]), min_size=len(gpus),
                          max_size=len(gpus)))
    availability = [Availability(gpu=g, max_count=draw(st.integers(1, 48)), mode=m) for g, m in zip(gpus, modes)]
    budget = draw(st.one_of(st.none(), st.floats(2e3, 3e6)))
    deadline = draw(st.one_of(st.none(), st.floats(5.0, 3000.0)))
    if budget is None and (deadline is None or all(a.mode != "rent" for a in availability)):
        budget = 1e6
    power = draw(st.one_of(st.none(), st.none(), st.floats(1.0, 60.0)))
    return SolveRequest(budget_usd=budget, deadline_hours=deadline, availability=availability,
                        power_cap_kw=power, allow_mixed=True)


@MANY
@given(mixed_instances())
def test_mixed_equals_exhaustive_enumeration_and_beats_single_type(request):
    plan = solve(request).plan
    reference = brute_force_mixed(request)
    if reference is None:
        assert plan is None, request
        return
    assert plan is not None, (request, reference)
    assert math.isclose(plan.loss, reference.objective_value, rel_tol=1e-7, abs_tol=1e-9), (request, reference, plan.allocation)
    single = solve(request.model_copy(update={"allow_mixed": False})).plan
    assert single is not None and plan.loss <= single.loss + 1e-12
    assert plan.cost_usd <= (request.budget_usd or math.inf) * (1 + 1e-9)
    assert plan.wall_clock_hours <= (request.deadline_hours or 90 * 24) * (1 + 1e-9)


@st.composite
def single_instances(draw):
    gpus = draw(st.lists(st.sampled_from(GPU_IDS), min_size=1, max_size=2, unique=True))
    availability = [Availability(gpu=g, max_count=draw(st.integers(1, 64))) for g in gpus]
    budget = draw(st.floats(1e3, 3e6))
    deadline = draw(st.one_of(st.none(), st.floats(5.0, 3000.0)))
    # the strict optimum (loss_tolerance 0): near-ties are tested in tests/search/test_near_ties.py
    return SolveRequest(budget_usd=budget, deadline_hours=deadline, availability=availability, loss_tolerance=0.0)


@FAST
@given(single_instances())
def test_refinement_is_never_worse_than_the_lattice(request):
    plan = solve(request).plan
    fine = brute_force(request)
    if fine is None:
        assert plan is None
        return
    assert plan.loss <= fine.lattice_value + 1e-12
    assert math.isclose(plan.loss, fine.objective_value, rel_tol=1e-7)


def test_refined_sizes_are_off_the_lattice_when_that_helps():
    plan = solve(SolveRequest(budget_usd=1e6, loss_tolerance=0)).plan       # the strict optimum, no near-tie
    k = math.log10(plan.params) * 96
    assert abs(k - round(k)) < 1e-6           # on the fine lattice
    lattice_only = brute_force(SolveRequest(budget_usd=1e6, availability=[Availability(gpu=plan.gpu, max_count=1024)]),
                               refine=False)
    assert plan.loss <= lattice_only.objective_value + 1e-12


def test_the_whole_gpu_cap_is_used_when_the_deadline_binds():
    """`planner best --budget-usd 5M --deadline 30d --gpus h100-sxm:1000` uses ≥ 992 H100 or says why not."""
    from planner.interfaces.cli.solve_cmd import _build_request

    plan = solve(_build_request(objective="min_loss", budget_usd="5M", deadline="30d", gpus="h100-sxm:1000")).plan
    assert plan.gpu == "h100-sxm"
    assert plan.gpus >= 992 or {"budget", "memory", "batch_limit"} & set(plan.binding_constraints), plan
    assert plan.gpus <= 1000
    if plan.gpus == 1000:
        assert "availability" in plan.binding_constraints


def test_allow_mixed_billion_dollar_query_uses_many_types_and_beats_single():
    request = SolveRequest(budget_usd=1e9, deadline_hours=90 * 24)
    single = solve(request).plan
    mixed = solve(request.model_copy(update={"allow_mixed": True})).plan
    assert len(mixed.allocation) >= 2
    assert mixed.loss < single.loss
    assert mixed.cost_usd <= 1e9 * (1 + 1e-9) and mixed.wall_clock_hours <= 90 * 24 * (1 + 1e-9)


def test_repeated_queries_reuse_the_throughput_grid(monkeypatch):
    import planner.search.candidates as candidates

    candidates.clear_grid_cache()
    request = SolveRequest(budget_usd=3e5, deadline_hours=500)
    first = solve(request).plan
    calls = []
    real = candidates.throughput_grid
    monkeypatch.setattr(candidates, "throughput_grid", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = solve(request).plan
    assert calls == []
    assert again.model_dump() == first.model_dump()


def test_runner_up_type_costs_one_size():
    """When branch and bound never opened another GPU type, the runner-up type is evaluated at the
    chosen size only (one grid row), not over a range of sizes."""
    import planner.search.branch_and_bound as bb
    import planner.search.objectives as objectives

    sizes_built, inside = [], []
    real_build, real_runner_up = bb.build_table, objectives.add_runner_up_type

    def build(ctx, sizes, offers=None):
        if inside:
            sizes_built.append(len(sizes))
        return real_build(ctx, sizes, offers)

    def runner_up(*args, **kwargs):
        inside.append(True)
        try:
            return real_runner_up(*args, **kwargs)
        finally:
            inside.pop()

    try:
        bb.build_table, objectives.add_runner_up_type = build, runner_up
        # a second type far worse than the first: branch and bound never opens it
        request = SolveRequest(budget_usd=1e6, availability=[{"gpu": "h100-sxm", "max_count": 256},
                                                             {"gpu": "v100-32gb", "max_count": 1024}])
        plan = solve(request).plan
    finally:
        bb.build_table, objectives.add_runner_up_type = real_build, real_runner_up
    assert any(a.kind == "gpu_type" for a in plan.alternatives)
    assert sizes_built == [1]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mixed_instances())
def test_runner_up_type_is_the_best_other_type_at_the_plans_size(request):
    """The plan's "best evaluated plan on <type>" is at least as good as every other GPU type at the
    plan's own size (evaluated here exhaustively), however few types branch and bound opened."""
    import numpy as np

    from planner.search.branch_and_bound import losses
    from planner.search.candidates import build_table
    from planner.search.problem import make_problem

    request = request.model_copy(update={"allow_mixed": False})
    plan = solve(request).plan
    if plan is None:
        return
    ctx = make_problem(request)
    table = build_table(ctx, [plan.params])
    ok, _, _, _, loss = losses(ctx, table)
    others = ok & (table.gpu != plan.gpu)
    alternative = [a for a in plan.alternatives if a.kind == "gpu_type"]
    if not others.any():
        return
    assert alternative, request
    assert alternative[0].loss <= float(loss[others].min()) + 1e-12, (request, alternative[0])
