"""Properties of the cost model that must hold for any input (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from catalogs.loader import load_catalog
from planner.analysis.estimate import estimate
from planner.costmodel.evaluate import evaluate
from planner.costmodel.memory import memory_breakdown
from planner.costmodel.precision import PRECISION_ORDER, precision_index
from planner.costmodel.shape import shape_for_params
from planner.costmodel.strategy import SearchSpace, Strategies, enumerate_strategies
from planner.costmodel.throughput import step_time_breakdown
from planner.types.estimates import EstimateRequest

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CATALOG = load_catalog()
GPU_IDS = sorted(CATALOG.ids())

params_st = st.floats(min_value=1e8, max_value=1e12)
precision_st = st.sampled_from(["fp32", "tf32", "fp16", "bf16", "fp8"])
recompute_st = st.integers(0, 2)
zero_st = st.integers(0, 3)
micro_st = st.sampled_from([1, 2, 4, 8])
accum_st = st.integers(1, 64)
dp_st = st.sampled_from([1, 2, 3, 8, 64, 512])
seq_st = st.sampled_from([512, 2048, 4096, 8192])


def _divisors(n):
    return [k for k in range(1, n + 1) if n % k == 0]


@SETTINGS
@given(params=params_st, seq=seq_st, prec=precision_st, rec=recompute_st, zero=zero_st, b=micro_st, m=accum_st,
       dp=dp_st, data=st.data())
def test_memory_falls_with_tensor_and_pipeline_parallelism(params, seq, prec, rec, zero, b, m, dp, data):
    shape = shape_for_params(params, seq_len=seq)
    tps = [t for t in (1, 2, 4, 8) if shape.heads % t == 0]
    pps = _divisors(shape.layers)
    tp = data.draw(st.sampled_from(tps))
    pp = data.draw(st.sampled_from(pps))
    p_idx = precision_index(prec)

    def total(t, p):
        return float(memory_breakdown(shape, Strategies.from_degrees(tp=t, pp=p, dp=dp, zero=zero, precision_idx=p_idx, recompute_idx=rec, micro_batch=b, grad_accum=m))["total"])

    base = total(tp, pp)
    for bigger_tp in (t for t in tps if t > tp):
        assert total(bigger_tp, pp) <= base * (1 + 1e-12)
    for bigger_pp in (p for p in pps if p > pp):
        assert total(tp, bigger_pp) <= base * (1 + 1e-12)


@SETTINGS
@given(params=params_st, seq=seq_st, prec=precision_st, rec=recompute_st, b=micro_st, m=accum_st,
       dp=dp_st, data=st.data())
def test_memory_falls_with_zero_stage(params, seq, prec, rec, b, m, dp, data):
    shape = shape_for_params(params, seq_len=seq)
    tp = data.draw(st.sampled_from([t for t in (1, 2, 4, 8) if shape.heads % t == 0]))
    # ZeRO-3 keeps a gathered buffer of two layers: only a saving when a stage holds >= 4 layers
    pps = [p for p in _divisors(shape.layers) if shape.layers // p >= 4]
    assume(pps)
    pp = data.draw(st.sampled_from(pps))
    totals = memory_breakdown(shape, Strategies.from_degrees(tp=tp, pp=pp, dp=dp, zero=np.arange(4), precision_idx=precision_index(prec), recompute_idx=rec, micro_batch=b, grad_accum=m))["total"]
    assert np.all(np.diff(totals) <= 1e-9 * totals[:-1]), totals
    if dp > 1:
        assert np.all(np.diff(totals) < 0), totals


@SETTINGS
@given(params=params_st, seq=seq_st, gpu_id=st.sampled_from(GPU_IDS), gpus=st.sampled_from([1, 8, 16, 64, 96, 256]),
       batch_tokens=st.sampled_from([2**20, 4 * 2**20, 8 * 2**20]))
def test_mfu_between_zero_and_one_for_every_strategy(params, seq, gpu_id, gpus, batch_tokens):
    gpu = CATALOG.get(gpu_id)
    shape = shape_for_params(params, seq_len=seq)
    space = SearchSpace(micro_batches=(1, 4, 16), global_batch_tokens=batch_tokens)
    arrays = enumerate_strategies(shape, gpu, gpus, space)
    assume(len(arrays) > 0)
    ev = evaluate(shape, gpu, arrays)
    assert np.all(np.isfinite(ev.mfu))
    assert np.all(ev.mfu > 0) and np.all(ev.mfu < 1)
    assert np.all(ev.tokens_per_second > 0)
    assert np.all(ev.memory["total"] > 0)
    assert np.all(arrays.tp * arrays.pp * arrays.dp == gpus)
    for key, value in ev.time.items():
        assert np.all(value >= 0), key
    parts = sum(v for k, v in ev.time.items() if k not in ("total", "compute", "memory_bound", "tensor_parallel",
                                                             "pipeline_p2p"))
    assert np.all(ev.time["total"] >= parts * (1 - 1e-12))


@SETTINGS
@given(params=params_st, seq=seq_st, gpu_id=st.sampled_from(GPU_IDS), prec=precision_st, rec=recompute_st,
       b=micro_st, m=accum_st, data=st.data())
def test_more_data_parallel_replicas_never_raise_throughput_per_gpu(params, seq, gpu_id, prec, rec, b, m, data):
    """Strategy held fixed (tp, pp, ZeRO-0, precision, recompute, b, m); only d grows."""
    gpu = CATALOG.get(gpu_id)
    assume(prec in gpu.peak_flops)
    shape = shape_for_params(params, seq_len=seq)
    tp = data.draw(st.sampled_from([t for t in (1, 2, 4, 8) if shape.heads % t == 0 and t <= gpu.gpus_per_node]))
    pp = data.draw(st.sampled_from(_divisors(shape.layers)))
    dps = np.array([1, 2, 3, 4, 8, 16, 64, 128, 1024, 4096], dtype=float)
    n = len(dps)
    zero = 0
    times = step_time_breakdown(shape, gpu, Strategies.from_degrees(tp=np.full(n, tp), pp=np.full(n, pp), dp=dps, zero=np.full(n, zero), precision_idx=np.full(n, PRECISION_ORDER.index(prec)), recompute_idx=np.full(n, rec), micro_batch=np.full(n, b), grad_accum=np.full(n, m)))["total"]
    tokens_per_step = m * b * dps * shape.seq_len
    per_gpu = tokens_per_step / times / (tp * pp * dps)
    assert np.all(np.diff(per_gpu) <= 1e-12 * per_gpu[:-1]), per_gpu


def _dp_sweep(shape, gpu, tp, pp, zero, prec, rec, b, m, dps):
    n = len(dps)
    times = step_time_breakdown(shape, gpu, Strategies.from_degrees(tp=np.full(n, tp), pp=np.full(n, pp), dp=dps, zero=np.full(n, zero), precision_idx=np.full(n, PRECISION_ORDER.index(prec)), recompute_idx=np.full(n, rec), micro_batch=np.full(n, b), grad_accum=np.full(n, m)))["total"]
    return m * b * dps * shape.seq_len / times / (tp * pp * dps)


@pytest.mark.xfail(strict=True, reason=(
    "real effect, not a bug: ZeRO 1-3 shard the optimizer step, so each GPU's optimizer time falls as 1/d; "
    "where that saving outgrows the ring all-gather's (d-1)/d growth (small models, few micro-batches, "
    "replicas inside one NVLink node) per-GPU throughput rises with d. The invariant holds for ZeRO-0 "
    "(test above); e.g. 100M params, seq 512, b=m=1, ZeRO-1 on a100-40gb rises from d=2 to d=8"))
@settings(max_examples=50, deadline=None, derandomize=True, phases=[Phase.generate],   # no shrinking: known failure
          suppress_health_check=[HealthCheck.too_slow])
@given(params=params_st, seq=seq_st, gpu_id=st.sampled_from(GPU_IDS), zero=st.integers(1, 3), rec=recompute_st,
       b=micro_st, m=accum_st, data=st.data())
def test_more_data_parallel_replicas_with_zero(params, seq, gpu_id, zero, rec, b, m, data):
    """With ZeRO 1-3 the same must hold: adding replicas never raises throughput per GPU."""
    gpu = CATALOG.get(gpu_id)
    prec = "bf16" if "bf16" in gpu.peak_flops else "fp16"
    shape = shape_for_params(params, seq_len=seq)
    tp = data.draw(st.sampled_from([t for t in (1, 2, 4, 8) if shape.heads % t == 0 and t <= gpu.gpus_per_node]))
    pp = data.draw(st.sampled_from(_divisors(shape.layers)))
    dps = np.array([2, 4, 8, 16, 64, 128, 1024, 4096], dtype=float)
    per_gpu = _dp_sweep(shape, gpu, tp, pp, zero, prec, rec, b, m, dps)
    assert np.all(np.diff(per_gpu) <= 1e-12 * per_gpu[:-1]), per_gpu


@SETTINGS
@given(params=st.floats(min_value=1e8, max_value=2e11), tokens=st.floats(min_value=1e9, max_value=1e13),
       gpu_id=st.sampled_from(["a100-80gb", "h100-sxm", "a10g", "mi300x"]),
       gpus=st.sampled_from([8, 16, 64, 256, 1024]),
       price=st.one_of(st.none(), st.floats(min_value=0.1, max_value=50)))
def test_estimate_invariants(params, tokens, gpu_id, gpus, price):
    try:
        r = estimate(EstimateRequest(params=params, tokens=tokens, gpu=gpu_id, gpus=gpus,
                                     price_usd_per_gpu_hour=price), CATALOG)
    except ValueError:
        assume(False)
    s = r.strategy
    assert s.tp * s.pp * s.dp == r.gpus == gpus
    rate = price if price is not None else CATALOG.get(gpu_id).price_usd_per_gpu_hour
    assert r.price_usd_per_gpu_hour == rate
    assert math.isclose(r.cost_usd, rate * r.gpus * r.wall_clock_hours, rel_tol=1e-12)
    assert math.isclose(r.gpu_hours, r.gpus * r.wall_clock_hours, rel_tol=1e-12)
    assert 0 < r.mfu < 1
    assert s.global_batch_sequences == s.dp * s.micro_batch * s.grad_accum
    assert math.isclose(r.memory_breakdown_bytes.total, r.memory_per_gpu_bytes, rel_tol=1e-12)
    if r.fits:
        assert r.memory_per_gpu_bytes <= r.usable_memory_per_gpu_bytes
        assert r.nearest_fitting == []
    else:
        assert r.memory_per_gpu_bytes > r.usable_memory_per_gpu_bytes
        assert all(o.fits for o in r.nearest_fitting)


@SETTINGS
@given(params=params_st, gpu_id=st.sampled_from(GPU_IDS), dp=st.sampled_from([2, 8, 64, 512]),
       m=st.sampled_from([1, 4, 16]), tp=st.sampled_from([1, 2, 8]),
       framework=st.sampled_from([None, "deepspeed", "torchtitan", "fsdp"]))
def test_zero3_exposed_traffic_is_never_below_traffic_minus_hideable_compute(params, gpu_id, dp, m, tp, framework):
    """Issue #13: a ZeRO-3 step's gathers (forward and backward) and reduce-scatter share one window, for
    every framework that runs ZeRO-3 (gradients reduced in that framework's dtype: fp32 for FSDP2)."""
    from planner.costmodel import calibration as cal
    from planner.costmodel.frameworks import grad_reduce_bytes
    from planner.costmodel.memory import params_per_gpu
    from planner.costmodel.precision import COMM_BYTES, WEIGHT_BYTES
    from planner.costmodel.throughput import data_parallel_ring

    gpu = CATALOG.get(gpu_id)
    assume(tp <= gpu.gpus_per_node)
    shape = shape_for_params(params)
    assume(shape.heads % tp == 0)
    s = Strategies.from_degrees(tp=tp, pp=1, dp=dp, zero=3, precision_idx=PRECISION_ORDER.index("bf16")
                                if "bf16" in gpu.peak_flops else PRECISION_ORDER.index("fp16"),
                                recompute_idx=1, micro_batch=1, grad_accum=m)
    t = step_time_breakdown(shape, gpu, s, framework=framework)
    bw, ring = data_parallel_ring(gpu, s)
    local = params_per_gpu(shape, s)
    idx = int(s.precision_idx)
    reduce_bytes = float(grad_reduce_bytes(framework, idx, COMM_BYTES[idx]))
    assert reduce_bytes == (4.0 if framework in ("torchtitan", "fsdp") else COMM_BYTES[idx])
    traffic = m * ring * local * (2.0 * WEIGHT_BYTES[idx] + reduce_bytes) / bw
    slot_time = (t["compute"] + t["memory_bound"] + t["tensor_parallel"] + t["pipeline_p2p"]
                 + t["context_parallel"])
    assert float(t["data_parallel_exposed"]) >= float(traffic - cal.DP_OVERLAP * slot_time) * (1 - 1e-9) - 1e-12
