"""Issue #13: plans made for a framework use only layouts it runs, and their exports launch.

Over random requests (hypothesis), every feasible ``best``/``cost`` plan with ``framework`` set has a layout
that framework accepts, names it, and exports for it; the export is built into the framework's own config
object by every parser installed here (tests/reference/parsers.py; none is in ``.[test]``, so in CI those
checks are skipped and only the rules are asserted)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.costmodel.frameworks import FRAMEWORKS, rejection
from planner.interfaces.exporters import export_plan
from planner.search.solver import solve
from planner.types.requests import Availability, SolveRequest
from reference import parsers

GPUS = ["h100-sxm", "a100-80gb", "a100-40gb", "b200"]


def request_for(framework, objective, params, seq_len, gpu, count, family):
    availability = [Availability(gpu=gpu, max_count=count)]
    if objective == "min_loss":
        return SolveRequest(objective="min_loss", budget_usd=params / 1e9 * 4e3, availability=availability,
                            seq_len=seq_len, family=family, framework=framework)
    return SolveRequest(objective="min_cost", params=params, tokens=20 * params, availability=availability,
                        seq_len=seq_len, family=family, framework=framework)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(framework=st.sampled_from(FRAMEWORKS), objective=st.sampled_from(["min_loss", "min_cost"]),
       params=st.sampled_from([1e9, 7e9, 30e9, 70e9]), seq_len=st.sampled_from([2048, 4096, 32768]),
       gpu=st.sampled_from(GPUS), count=st.sampled_from([8, 64, 512]), family=st.sampled_from(["gpt", "llama3"]))
def test_framework_plans_use_only_layouts_it_runs_and_export(framework, objective, params, seq_len, gpu, count, family):
    result = solve(request_for(framework, objective, params, seq_len, gpu, count, family))
    if not result.feasible:
        return
    plan = result.plan
    assert plan.strategy.framework == framework
    assert rejection(plan.strategy, framework) is None, plan.strategy
    assert plan.fits
    out = export_plan(plan, framework)
    if parsers.installed(framework):
        parsers.accepts(framework, out.text, plan.gpus, plan.strategy.dp)


@pytest.mark.parametrize("framework", [f for f in FRAMEWORKS if f != "fsdp"])
def test_installed_parsers_accept_exports(framework):
    if not parsers.installed(framework):
        pytest.skip(f"{framework}'s config code is not installed here (tests/reference/README.md says why)")
    result = solve(request_for(framework, "min_cost", 7e9, 4096, "h100-sxm", 64, "llama3"))
    out = export_plan(result.plan, framework)
    assert parsers.accepts(framework, out.text, result.plan.gpus, result.plan.strategy.dp) is not None
