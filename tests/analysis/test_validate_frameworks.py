"""Issue #13: ``planner validate`` checks the framework's rules, each error with the nearest layout that
runs (on that framework) and fits."""

from __future__ import annotations

import subprocess
import sys

import pytest
from support import REPO

from planner.analysis.validate import validate_plan
from planner.costmodel.frameworks import rejection
from planner.types.plan_file import read_plan_file

PLAN = REPO / "examples" / "13b-64xh100-plan.toml"        # tp 4, pp 2, ZeRO-1 on 64 H100


def with_strategy(**update):
    pf = read_plan_file(PLAN)
    return pf.model_copy(update={"strategy": pf.strategy.model_copy(update=update)})


@pytest.mark.parametrize("framework,update,words", [
    ("deepspeed", {"zero": 2}, "ZeRO-2 and ZeRO-3 are incompatible with pipeline parallelism"),
    ("megatron", {"zero": 3}, "no ZeRO-3"),
    ("fsdp", {}, "plain FSDP2 is data parallelism only"),
    ("torchtitan", {}, "no optimizer-only sharding"),
])
def test_framework_rule_errors_name_the_nearest_layout_that_runs_and_fits(framework, update, words):
    report = validate_plan(with_strategy(framework=framework, **update), alternative=False)
    errors = [c for c in report.errors if c.name == "framework"]
    assert errors and words in errors[0].message
    assert "nearest layout that runs and fits" in errors[0].message
    chosen = report.estimate.strategy
    assert chosen.framework == framework and rejection(chosen, framework) is None and report.estimate.fits
    assert f"({framework})" in errors[0].message


def test_a_layout_the_framework_runs_passes_its_check():
    report = validate_plan(with_strategy(framework="megatron"), alternative=False)
    assert [c.status for c in report.checks if c.name == "framework"] == ["ok"]
    assert report.estimate.strategy.framework == "megatron"


def test_context_parallel_needs_the_sequence_in_2cp_chunks():
    pf = with_strategy(cp=3, tp=1, pp=1, dp=None, grad_accum=None)
    report = validate_plan(pf, alternative=False)
    cp = [c for c in report.errors if c.name == "cp"]
    assert cp and "2·cp = 6" in cp[0].message and "nearest layout that runs and fits" in cp[0].message


def test_cli_validate_framework_option_exit_1(tmp_path):
    result = subprocess.run([sys.executable, "-m", "planner", "validate", str(PLAN), "--framework", "deepspeed",
                             "--no-alternative"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr      # tp4 pp2 ZeRO-1 runs on DeepSpeed
    result = subprocess.run([sys.executable, "-m", "planner", "validate", str(PLAN), "--framework", "fsdp",
                             "--no-alternative"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "plain FSDP2 is data parallelism only" in result.stdout
