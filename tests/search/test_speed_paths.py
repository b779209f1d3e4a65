"""Issue #17 (speed): the shortcuts on the cold `planner best` path give the answers of the slow paths."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.search.ilp import Candidates, solve_allocation
from planner.types.errors import InfeasibleError

SOME = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def selections(draw):
    n = draw(st.integers(1, 12))
    floats = lambda lo, hi: st.lists(st.floats(lo, hi, allow_subnormal=False), min_size=n, max_size=n).map(np.array)
    candidates = Candidates(type_index=np.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))),
                            counts=np.array(draw(st.lists(st.integers(1, 1024), min_size=n, max_size=n))),
                            tokens_per_second=draw(floats(1.0, 1e7)) * draw(st.sampled_from([0.0, 1.0, 1.0])), fixed_cost_usd=draw(floats(0.0, 1e5)),
                            cost_rate_usd_per_s=draw(floats(1e-6, 10.0)), power_kw=draw(floats(0.1, 100.0)))
    objective = draw(st.sampled_from(["min_loss", "min_cost", "min_time"]))
    tokens = None if objective == "min_loss" else draw(st.floats(1e9, 1e13))
    return dict(c=candidates, objective=objective, tokens=tokens, budget_usd=draw(st.one_of(st.none(), st.floats(1e3, 1e7))),
                deadline_s=draw(st.floats(3600.0, 1e8)), power_cap_kw=draw(st.one_of(st.none(), st.floats(1.0, 200.0))))


def _objective(allocation, objective: str) -> float:
    return {"min_loss": -allocation.tokens, "min_cost": allocation.cost_usd, "min_time": allocation.wall_clock_s}[objective]


@SOME
@given(selections())
def test_one_type_selection_equals_the_solvers(case):
    """One type per job: the direct argmin ("auto") finds the optimum HiGHS and the PuLP model find."""
    results = {}
    for backend in ("auto", "highs", "pulp-highs"):
        try:
            results[backend] = solve_allocation(**case, allow_mixed=False, backend=backend)
        except InfeasibleError as error:
            results[backend] = error.binding
    if isinstance(results["auto"], str):
        assert results["highs"] == results["pulp-highs"] == results["auto"]
        return
    best = _objective(results["auto"], case["objective"])
    for backend in ("highs", "pulp-highs"):
        other = _objective(results[backend], case["objective"])
        assert best <= other + 1e-6 * abs(other)          # the solvers stop within their 1e-6 tolerance
        if results[backend].chosen != results["auto"].chosen:
            assert other == pytest.approx(best, rel=1e-6)


def _cold_best_modules(**env) -> set[str]:
    """Modules a new process has loaded after answering `planner best --budget-usd 250k --json`."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    code = ("import sys\nsys.argv = ['planner', 'best', '--budget-usd', '250k', '--json']\n"
            "from planner.interfaces.cli import main\ntry:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0\n"
            "print(' '.join(sys.modules), file=sys.stderr)")
    full_env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    full_env.pop("PYDANTIC_DISABLE_PLUGINS", None)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**full_env, **env},
                         check=True)
    return set(run.stderr.split())


def test_cold_best_json_loads_only_what_it_uses():
    modules = _cold_best_modules()
    assert "planner.search.solver" in modules
    for unused in ("rich", "highspy", "pulp", "scipy", "numpy.ma", "planner.types.plan_file", "importlib.metadata"):
        assert unused not in modules, unused


def _cold_blas_threads(**env) -> str:
    """OPENBLAS_NUM_THREADS as a new process answering `planner best --budget-usd 1k --json` leaves it (after numpy is loaded)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    code = ("import os, sys\nsys.argv = ['planner', 'best', '--budget-usd', '1k', '--json']\n"
            "from planner.interfaces.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "assert 'numpy' in sys.modules\nprint(os.environ.get('OPENBLAS_NUM_THREADS'), file=sys.stderr)")
    full_env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                                                  "OMP_NUM_THREADS")}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**full_env, **env})
    return run.stderr.split()[-1]


def test_cli_runs_blas_on_one_thread_unless_the_user_says_otherwise():
    assert _cold_blas_threads() == "1"
    assert _cold_blas_threads(OPENBLAS_NUM_THREADS="2") == "2"
    assert _cold_blas_threads(OMP_NUM_THREADS="2") == "None"      # the user's OpenMP setting is left to OpenBLAS


def test_a_call_builds_only_its_own_command():
    from planner.interfaces.cli import _click_command, load

    app = load(["best"])           # solve_cmd registers both best and cost
    best, cost = _click_command(app, "best"), _click_command(app, "cost")
    assert list(best.commands) == ["best"] and list(cost.commands) == ["cost"]


def test_pydantic_plugins_run_when_the_user_asks():
    assert "importlib.metadata" in _cold_best_modules(PYDANTIC_DISABLE_PLUGINS="")


@settings(max_examples=16, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gpu=st.sampled_from(["h100-sxm", "a100-80gb", "mi300x", "l4", "b200"]), log_params=st.floats(8.0, 11.5),
       family=st.sampled_from(["gpt", "llama3"]), budget=st.floats(1e4, 1e7),
       framework=st.sampled_from([None, "megatron", "torchtitan", "deepspeed", "fsdp"]),
       seq_len=st.sampled_from([4096, 32768]))
def test_grid_equals_evaluating_each_count_alone(gpu, log_params, family, budget, framework, seq_len):
    """The grid's (size, strategy) pairs × counts layout gives, per (shape, count), exactly the speed and
    the smallest memory of evaluating that count's strategies one run at a time (``evaluate``), also
    where it skips strategies a lower recompute level dominates (``grid._may_be_fastest``) and, at
    32k tokens, with context parallelism (which that rule leaves out)."""
    from dataclasses import replace

    from catalogs.loader import load_catalog
    from planner.costmodel.evaluate import evaluate
    from planner.costmodel.grid import throughput_grid
    from planner.costmodel.strategy import effective_precisions, enumerate_strategies
    from planner.search.candidates import search_counts
    from planner.search.problem import make_problem
    from planner.types.requests import Availability, SolveRequest

    ctx = make_problem(SolveRequest(budget_usd=budget, family=family, framework=framework, seq_len=seq_len,
                                    availability=[Availability(gpu=gpu, max_count=512)]), load_catalog())
    offer = ctx.offers[0]
    shapes = list(ctx.shapes(10.0 ** log_params)) + list(ctx.shapes(10.0 ** (log_params + 0.4)))
    counts = search_counts(offer)
    grid = throughput_grid(shapes, offer.gpu, counts, ctx.space, ctx.memory_config)
    space = replace(ctx.space, precisions=effective_precisions(offer.gpu, ctx.space.precisions))
    for i, shape in enumerate(shapes):
        for j, count in enumerate(counts):
            one = evaluate(shape, offer.gpu, enumerate_strategies(shape, offer.gpu, int(count), space), ctx.memory_config)
            k = one.fastest_fitting()
            assert grid.tokens_per_second[i, j] == (0.0 if k is None else one.tokens_per_second[k])
            assert grid.min_memory_bytes[i, j] == one.memory["total"].min(initial=np.inf)


def test_grid_keeps_recompute_that_hides_ring_attention_traffic():
    """With context parallelism more recompute can be faster (the recomputed attention hides ring-attention
    traffic within the slot and widens the data-parallel overlap window): the grid must not skip it.
    The case that showed it: Llama-3-shaped 40.9B at 32k tokens on 768 L4 under Megatron (selective
    recompute at TP8 PP4 CP8 is 0.1 % faster than none, at the same memory)."""
    from dataclasses import replace

    from planner.costmodel.evaluate import evaluate
    from planner.costmodel.grid import throughput_grid
    from planner.costmodel.strategy import effective_precisions, enumerate_strategies
    from planner.search.problem import make_problem
    from planner.types.requests import Availability, SolveRequest

    ctx = make_problem(SolveRequest(budget_usd=1e6, family="llama3", framework="megatron", seq_len=32768,
                                    precisions=["bf16"], availability=[Availability(gpu="l4", max_count=1024)]))
    offer = ctx.offers[0]
    shape = next(s for s in ctx.shapes(40892884366.80969) if s.name == "llama3 60×7168")
    grid = throughput_grid([shape], offer.gpu, [768], ctx.space, ctx.memory_config_for(offer))
    space = replace(ctx.space, precisions=effective_precisions(offer.gpu, ctx.space.precisions))
    one = evaluate(shape, offer.gpu, enumerate_strategies(shape, offer.gpu, 768, space), ctx.memory_config_for(offer))
    k = one.fastest_fitting()
    best = one.strategies.at(int(k))
    assert best.recompute == "selective" and best.cp > 1
    assert grid.tokens_per_second[0, 0] == one.tokens_per_second[k]
