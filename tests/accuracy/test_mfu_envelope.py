"""Predicted MFU stays within what published runs reached on the GPU generation (issue #14).

The solver searches layouts no published run used (the README's headline plan, TP = 1 ZeRO-3 at
41B with selective recompute, came out at 62 % MFU on H100 BF16, above every published H100 BF16
run). calibration.MFU_ENVELOPE caps every step at the best end-to-end MFU a published run of the
calibration families reached on that generation and precision; these tests recompute the envelope
from the data and check that no evaluated strategy and no plan exceeds the best published MFU of
ANY split by more than MARGIN.

Source rows (planner.analysis.validation_runs.best_published_mfu; the planner's MFU convention,
6·N + 12·L·h·s per token over the precision's dense peak):
  hopper bf16 0.594  dgxc-llama31-8b-bf16-8gpu (NVIDIA dgxc-benchmarking v24.11.1)
  hopper fp8  0.425  nemo2407-gpt3-175b-h100-fp8-512gpu (calibration), dgxc-llama2-70b-maxtext-fp8-64gpu (held out)
  ampere bf16 0.613  flash-attn-training-gpt3-2.7b (calibration); 0.641 llmfoundry-mpt-7b-a100-80gb-8gpu (held out)
  volta fp16  0.499  megatron-v1.0-gpt1.2b-v100-1gpu
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalogs.loader import load_catalog
from planner.analysis.validation_runs import best_published_mfu
from planner.costmodel import calibration as cal
from planner.costmodel.evaluate import evaluate
from planner.costmodel.shape import shape_for_params
from planner.costmodel.strategy import SearchSpace, enumerate_strategies
from planner.costmodel.throughput import generation

MARGIN = 0.01            # one MFU point: rounding of the envelope constants and nothing else
SIXTEEN_BIT = ("bf16", "fp16")


@pytest.fixture(scope="module")
def published():
    return best_published_mfu(), best_published_mfu(split="calibration")


def _best(table, gen, precision):
    """Best value for a generation and precision; FP16 and BF16 share the tensor-core rate."""
    family = SIXTEEN_BIT if precision in SIXTEEN_BIT else (precision,)
    values = [table[(gen, p)][0] for p in family if (gen, p) in table]
    return max(values) if values else None


def test_envelope_constants_are_the_best_calibration_rows(published):
    _, calibration = published
    for (gen, precision), value in cal.MFU_ENVELOPE.items():
        assert value == pytest.approx(_best(calibration, gen, precision), abs=5e-4), (gen, precision)
    assert cal.DEFAULT_MFU_ENVELOPE["bf16"] == cal.MFU_ENVELOPE[("hopper", "bf16")]
    assert cal.DEFAULT_MFU_ENVELOPE["fp8"] == cal.MFU_ENVELOPE[("hopper", "fp8")]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gpu_id=st.sampled_from(["h100-sxm", "a100-80gb", "v100-32gb"]),
       params=st.floats(5e8, 4e11), log2_gpus=st.integers(3, 10), seq_len=st.sampled_from([2048, 4096, 8192]),
       precision=st.sampled_from(["bf16", "fp16", "fp8"]))
def test_no_strategy_beats_the_best_published_mfu(published, gpu_id, params, log2_gpus, seq_len, precision):
    """Every strategy the search would consider, fitting in memory or not, at most the best
    published MFU of its generation and precision (either split) + MARGIN."""
    every, _ = published
    gpu = load_catalog().get(gpu_id)
    if precision not in gpu.precisions:
        return
    best = _best(every, generation(gpu), precision)
    assert best is not None, (gpu_id, precision)
    shape = shape_for_params(params, seq_len, 32_000)
    s = enumerate_strategies(shape, gpu, 2**log2_gpus, SearchSpace(precisions=(precision,)))
    if not len(s):
        return
    mfu = evaluate(shape, gpu, s).mfu
    assert float(np.max(mfu)) <= best + MARGIN, (gpu_id, precision, float(np.max(mfu)), best)


def test_readme_headline_plan_within_published_h100_mfu(published):
    """The README's first command: its plan's MFU is within the best published H100 BF16 run."""
    from planner.search.solver import solve
    from planner.types.requests import Availability, SolveRequest

    every, _ = published
    plan = solve(SolveRequest(budget_usd=250e3, deadline_hours=30 * 24,
                              availability=[Availability(gpu="h100-sxm", max_count=256),
                                            Availability(gpu="a100-80gb", max_count=512)])).plan
    gen = generation(load_catalog().get(plan.gpu))
    assert plan.mfu <= _best(every, gen, plan.strategy.precision) + MARGIN, plan.mfu
