"""Issue #15: near-ties decided on purpose (--loss-tolerance), and sweep steps with reasons."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.analysis.sweep import run_sweep, sweep_requests
from planner.analysis.sweep_steps import with_step_reasons
from planner.search.brute_force import brute_force
from planner.search.near_ties import DEFAULT_LOSS_TOLERANCE, decide
from planner.search.outcomes import max_token_runs, predicted_loss
from planner.search.problem import make_problem
from planner.search.solver import candidate_table, solve
from planner.types.requests import Availability, SolveRequest
from planner.types.tradeoffs import SweepRow

FAST = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GPU_IDS = ["h100-sxm", "a100-80gb", "b200", "l40s", "mi300x"]


@st.composite
def instances(draw):
    gpus = draw(st.lists(st.sampled_from(GPU_IDS), min_size=1, max_size=2, unique=True))
    availability = [Availability(gpu=g, max_count=draw(st.integers(8, 256))) for g in gpus]
    budget = draw(st.floats(2e4, 2e6))
    deadline = draw(st.one_of(st.none(), st.floats(48.0, 2000.0)))
    return SolveRequest(budget_usd=budget, deadline_hours=deadline, availability=availability,
                        loss_tolerance=draw(st.sampled_from([None, 0.0005, 0.002])))


def test_secondary_order_is_cost_then_wall_clock_then_gpus():
    loss = np.array([2.0000, 2.0004, 2.0004, 2.0004, 2.0020])
    cost = np.array([100.0, 100.0, 100.0, 100.0, 10.0])
    wall = np.array([50.0, 20.0, 20.0, 30.0, 1.0])
    gpus = np.array([8, 64, 32, 16, 1])
    ok = np.ones(5, bool)
    # row 4 is far cheaper but outside the tolerance; rows 1-3 tie on cost; 1 and 2 on time: fewer GPUs
    choice = decide(loss, cost, wall, gpus, ok, best=0, tolerance=0.001)
    assert choice.chosen == 2 and choice.best == 0 and choice.reason.startswith("faster")
    assert decide(loss, cost, wall, gpus, ok, best=0, tolerance=0.0).chosen == 0
    cheaper = decide(loss, np.array([100.0, 100.0, 99.0, 100.0, 10.0]), wall, gpus, ok, 0, 0.001)
    assert cheaper.chosen == 2 and cheaper.reason.startswith("cheaper")
    assert decide(loss, cost, wall, gpus, ok, best=0, tolerance=0.003).chosen == 4
    # the budget's own float noise is not a cost difference: the next key decides
    noisy = decide(loss, cost * (1 + np.array([0, 1e-12, 3e-12, 0, 0])), wall, gpus, ok, 0, 0.001)
    assert noisy.chosen == 2
    # same cost, time and GPUs (two sizes on the same GPUs): the one nearer the law's ratio
    same = decide(np.array([2.0, 2.0003]), np.array([5.0, 5.0]), np.array([9.0, 9.0]), np.array([64, 64]),
                  np.ones(2, bool), 0, 0.001, off_ratio=lambda rows: np.array([0.6, 0.1])[rows])
    assert same.chosen == 1 and "compute-optimal" in same.reason


@FAST
@given(instances())
def test_chosen_loss_is_within_the_tolerance_of_the_best_loss_found(request):
    strict = solve(request.model_copy(update={"loss_tolerance": 0.0})).plan
    plan = solve(request).plan
    if strict is None:
        assert plan is None
        return
    tolerance = DEFAULT_LOSS_TOLERANCE if request.loss_tolerance is None else request.loss_tolerance
    assert plan.loss_tolerance == tolerance
    assert strict.loss - 1e-12 <= plan.loss <= strict.loss + tolerance + 1e-12
    assert plan.cost_usd <= strict.cost_usd * (1 + 1e-6)          # cost is the first secondary key
    if plan.near_tie is None:
        assert math.isclose(plan.loss, strict.loss, rel_tol=1e-9, abs_tol=1e-12)
    else:
        tie = plan.near_tie
        assert math.isclose(tie.best_loss, strict.loss, rel_tol=1e-9)
        assert tie.best_loss < plan.loss and tie.reason
        assert any(line.startswith("near-tie:") for line in plan.explanation)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_tolerance_zero_returns_the_exact_optimum(request):
    """(Also tests/search/test_solver.py::test_solver_equals_brute_force, at tolerance 0.)"""
    request = request.model_copy(update={"loss_tolerance": 0.0, "availability": [
        a.model_copy(update={"max_count": min(a.max_count, 32)}) for a in request.availability]})
    plan = solve(request).plan
    reference = brute_force(request)
    if reference is None:
        assert plan is None
        return
    assert plan.near_tie is None and plan.loss_tolerance == 0.0
    assert math.isclose(plan.loss, reference.objective_value, rel_tol=1e-7)


def test_every_evaluated_near_tie_on_the_lattice_costs_at_least_the_chosen_plan():
    """Branch and bound opens every pair whose bound is within the tolerance: no lattice candidate
    within the tolerance of the best loss is cheaper (or as cheap and faster) than the plan."""
    request = SolveRequest(budget_usd=3e5, deadline_hours=30 * 24, family="llama3",
                           availability=[Availability(gpu="b200", max_count=256), Availability(gpu="h100-sxm", max_count=256)])
    plan = solve(request).plan
    ctx = make_problem(request)
    table = candidate_table(request)
    ok, wall, tokens, cost = max_token_runs(ctx, table)
    loss = np.where(ok, predicted_loss(ctx, table.params, np.maximum(tokens, 1.0)), np.inf)
    best = plan.near_tie.best_loss if plan.near_tie else plan.loss
    assert loss.min() >= best - 1e-12                                   # the lattice holds no better plan
    tied = ok & (loss <= best + plan.loss_tolerance)
    assert tied.any()
    cheaper = tied & (cost < plan.cost_usd * (1 - 1e-6))
    assert not cheaper.any(), table.take(np.nonzero(cheaper)[0]).params
    same = tied & (np.abs(cost / plan.cost_usd - 1) <= 1e-6)
    assert not (same & (wall < plan.wall_clock_hours * 3600 * (1 - 1e-6))).any()


def test_near_tie_is_reported_in_json_and_explanation():
    plan = solve(SolveRequest(budget_usd=2.5e5, deadline_hours=720, family="llama3")).plan
    strict = solve(SolveRequest(budget_usd=2.5e5, deadline_hours=720, family="llama3", loss_tolerance=0)).plan
    assert plan.near_tie is not None, "this request has a near-tie (README: realism section)"
    data = plan.model_dump()
    assert data["near_tie"]["best_gpus"] == strict.gpus and data["near_tie"]["best_gpu"] == strict.gpu
    assert math.isclose(data["near_tie"]["best_loss"], strict.loss, rel_tol=1e-9)
    assert (plan.cost_usd, plan.wall_clock_hours) < (strict.cost_usd * (1 + 1e-6), strict.wall_clock_hours)


def _row(budget, gpus, hours, gpu="b200", binding="budget", near_tie="", params=1e10, mfu=0.4):
    return SweepRow(budget_usd=budget, deadline_hours=None, feasible=True, params=params, tokens=1e11, loss=2.0,
                    gpu=gpu, gpus=gpus, cost_usd=budget, wall_clock_hours=hours, tokens_per_param=10.0,
                    model_flops=1e21, mfu=mfu, binding=binding, near_tie=near_tie)


def test_step_reasons_name_what_changed():
    rows = with_step_reasons([
        _row(1e4, 8, 100), _row(2e4, 16, 120),                       # with the sweep: no reason
        _row(4e4, 8, 400, gpu="h100-sxm"),                           # GPU type changed
        _row(8e4, 4, 900, gpu="h100-sxm", binding="deadline"),       # deadline binds
        _row(1.6e5, 2, 2000, gpu="h100-sxm", binding="deadline", mfu=0.5),   # more efficient on fewer GPUs
        _row(3.2e5, 64, 10, gpu="h100-sxm", binding="deadline", near_tie="faster: 10 h", mfu=0.5),
    ], "budget_usd")
    assert rows[0].step_reason == "" and rows[1].step_reason == ""
    assert "GPU type changed: b200 → h100-sxm" in rows[2].step_reason
    assert "deadline binds" in rows[3].step_reason
    assert "MFU 40.0% → 50.0%" in rows[4].step_reason
    assert rows[5].step_reason.startswith("wall-clock against the sweep") and "near-tie taken" in rows[5].step_reason


def test_budget_sweep_steps_are_monotone_or_carry_a_reason():
    base = SolveRequest(budget_usd=1e4, availability=[Availability(gpu="b200", max_count=512),
                                                      Availability(gpu="h100-sxm", max_count=512)])
    rows = run_sweep(sweep_requests(base, "budget_usd", np.geomspace(1e4, 1e8, 9)))
    assert all(r.feasible for r in rows)
    for prev, row in zip(rows, rows[1:]):
        if row.gpus < prev.gpus or row.wall_clock_hours < prev.wall_clock_hours * (1 - 1e-6):
            assert row.step_reason, (prev, row)
        else:
            assert row.step_reason == ""


# Issue #12: across $10k-$100M (family llama3, 30-day deadline) the chosen tokens/param stays within a
# factor 1.5 of the law's compute-optimal ratio at the plan's FLOPs, unless a named constraint that
# bends the ratio binds: availability/power cap the GPUs, data repeats tokens, the batch limit caps DP,
# or size efficiency (the law's size runs markedly slower per GPU on the plan's GPUs; explain.py computes
# it by evaluating that size, and the test below checks the figures it names). At $1M, for instance, the
# plan trains 66.5B at 33 tokens/param because 90B's fastest layout that fits on B200 runs at 1.03
# PFLOP/s per GPU against 1.23 for 66.5B.
RATIO_FACTOR = 1.5
BENDING = {"availability", "power", "data", "batch_limit", "size_efficiency"}


@pytest.mark.parametrize("budget", [1e4, 2.15e4, 4.64e4, 1e5, 2.15e5, 4.64e5, 1e6, 2.15e6, 4.64e6, 2.15e7, 1e8])
def test_tokens_per_param_follows_the_law_unless_a_constraint_binds(budget):
    plan = solve(SolveRequest(budget_usd=budget, deadline_hours=720, family="llama3")).plan
    ratio = plan.tokens_per_param / plan.compute_optimal_tokens_per_param
    if BENDING & set(plan.binding_constraints):
        return
    assert 1 / RATIO_FACTOR <= ratio <= RATIO_FACTOR, (budget, ratio, plan.binding_constraints)


def test_size_efficiency_names_a_slower_law_size_measured_on_the_same_gpus():
    """The size-efficiency reason is computed, not asserted: the law's size on the plan's GPU type and
    count delivers fewer model FLOP/s per GPU than the chosen size (both evaluated here again)."""
    from planner.search.candidates import cached_variants_grid
    from planner.search.problem import make_problem

    request = SolveRequest(budget_usd=1e6, deadline_hours=720, family="llama3")
    plan = solve(request).plan
    assert "size_efficiency" in plan.binding_constraints
    ctx = make_problem(request)
    offer = next(o for o in ctx.offers if o.gpu.id == plan.gpu)
    law_params = (plan.params * plan.tokens / plan.compute_optimal_tokens_per_param) ** 0.5
    tps = cached_variants_grid([ctx.shapes(plan.params), ctx.shapes(law_params)], offer.gpu, np.array([plan.gpus]),
                               ctx.space, ctx.memory_config_for(offer)).tokens_per_second[:, 0]
    chosen, at_law = 6 * plan.params * tps[0], 6 * law_params * tps[1]
    assert at_law < 0.97 * chosen
    sentence = next(w for w in plan.explanation if w.startswith("size efficiency"))
    assert f"{at_law / plan.gpus / 1e15:.2f} PFLOP/s" in sentence and f"{chosen / plan.gpus / 1e15:.2f}" in sentence
