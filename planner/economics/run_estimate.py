"""One evaluated training run priced into the wire ``Estimate``: time, GPU-hours, dollars, energy.

Shared by single-run estimates and by the solver's plans, so both report a run the same way.
"""

from __future__ import annotations

import math

from catalogs.schema import GPUSpec
from planner.costmodel.evaluate import Evaluation
from planner.costmodel.flops import model_flops_per_token
from planner.costmodel.reliability import Reliability, default_reliability, goodput
from planner.costmodel.shape import ModelShape
from planner.economics.carbon import co2_kg, grid_intensity
from planner.economics.costing import energy_kwh, gpu_hours, rent_cost_usd
from planner.economics.intervals import time_quantiles
from planner.types.estimates import Estimate, MemoryBreakdown, StrategyOption, TimeBreakdown


def option_at(evaluation: Evaluation, i: int) -> StrategyOption:
    return StrategyOption(strategy=evaluation.strategy_at(i),
                          memory_per_gpu_bytes=float(evaluation.memory["total"][i]),
                          fits=bool(evaluation.fits[i]),
                          tokens_per_second=float(evaluation.tokens_per_second[i]),
                          mfu=float(evaluation.mfu[i]))


def build_estimate(tokens: float, shape: ModelShape, gpu: GPUSpec, gpus: int, evaluation: Evaluation, i: int,
                   price_usd_per_gpu_hour: float, source: str, nearest=(), notes=(), *,
                   reliability: Reliability | None = None, region: str | None = None,
                   grid_gco2_per_kwh: float | None = None) -> Estimate:
    """The priced run; time, GPU-hours, dollars and energy are EXPECTED ones (failures, checkpoints,
    restarts and start-up from ``reliability``, default catalogs/data/reliability.toml)."""
    tps = float(evaluation.tokens_per_second[i])
    ideal_s = tokens / tps
    real = goodput(ideal_s, shape.params, gpus, reliability or default_reliability())
    wall_s = real.expected_s            # expected running time; the one-off start-up is beside it
    region_id, intensity = grid_intensity(region, grid_gco2_per_kwh)
    energy = energy_kwh(gpu.power_watts, gpus, wall_s)
    memory = {k: float(v[i]) for k, v in evaluation.memory.items()}
    time = {k: float(v[i]) for k, v in evaluation.time.items()}
    return Estimate(
        params=shape.params, tokens=tokens,
        shape=shape.wire(),
        gpu=gpu.id, gpus=gpus, nodes=math.ceil(gpus / gpu.gpus_per_node),
        strategy=evaluation.strategy_at(i), strategy_source=source,
        fits=bool(evaluation.fits[i]), memory_per_gpu_bytes=memory["total"],
        usable_memory_per_gpu_bytes=evaluation.usable_memory_bytes,
        memory_breakdown_bytes=MemoryBreakdown(**memory), step_time_s=time["total"],
        time_breakdown_s=TimeBreakdown(**time), tokens_per_second=tps, mfu=float(evaluation.mfu[i]),
        model_flops=model_flops_per_token(shape) * tokens,
        wall_clock_hours=wall_s / 3600.0, gpu_hours=gpu_hours(gpus, wall_s),
        price_usd_per_gpu_hour=price_usd_per_gpu_hour,
        cost_usd=rent_cost_usd(price_usd_per_gpu_hour, gpus, wall_s),
        energy_kwh=energy,
        nearest_fitting=list(nearest), notes=list(notes),
        ideal_wall_clock_hours=ideal_s / 3600.0, goodput=real.goodput,
        expected_interruptions=real.expected_interruptions,
        checkpoint_interval_s=real.checkpoint_interval_s if math.isfinite(real.checkpoint_interval_s) else None,
        checkpoint_s=real.checkpoint_s, startup_s=real.startup_s,
        region=region_id, grid_gco2_per_kwh=intensity, co2_kg=co2_kg(energy, intensity),
        interval_quantiles=time_quantiles())
