"""Evaluate arrays of strategies: memory per GPU, fit, step time, throughput and MFU.

This is the hot path of every search: pure numpy over a ``Strategies``, no Python loop per
strategy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from catalogs.schema import GPUSpec
from planner.costmodel.flops import model_flops_per_token
from planner.costmodel.frameworks import frameworks_running, named
from planner.costmodel.memory import MemoryConfig, memory_breakdown
from planner.costmodel.precision import PRECISION_ORDER
from planner.costmodel.reliability import slowdown
from planner.costmodel.shape import ModelShape
from planner.costmodel.strategy import Strategies
from planner.costmodel.throughput import step_time_breakdown


@dataclass
class Evaluation:
    """Per-strategy results, aligned with ``strategies``."""

    strategies: Strategies
    memory: dict[str, np.ndarray]
    time: dict[str, np.ndarray]
    usable_memory_bytes: float
    fits: np.ndarray
    tokens_per_second: np.ndarray
    mfu: np.ndarray
    memory_config: MemoryConfig | None = None      # its framework (issue #13) names the plan's framework
    shape: ModelShape | None = None

    @property
    def framework(self) -> str | None:
        return None if self.memory_config is None else self.memory_config.framework

    def strategy_at(self, i: int):
        """The wire strategy of entry ``i`` with its framework named: the one asked for, else the first
        that runs the layout and in whose own memory accounting it fits (else the first that runs it)."""
        strategy = self.strategies.at(i)
        if self.framework is not None or self.shape is None or self.memory_config is None:
            return named(strategy, self.framework)
        one = self.strategies.take([i])
        for name in frameworks_running(strategy):
            total = memory_breakdown(self.shape, one, replace(self.memory_config, framework=name))["total"][0]
            if total <= self.usable_memory_bytes:
                return named(strategy, name)
        return named(strategy, None)

    def fastest_fitting(self) -> int | None:
        """Index of the fastest strategy that fits in memory (first on ties), or None."""
        if not self.fits.any():
            return None
        seconds_per_token = np.where(self.fits, 1.0 / self.tokens_per_second, np.inf)
        return int(np.argmin(seconds_per_token))


def evaluate(shape: ModelShape, gpu: GPUSpec, strategies: Strategies,
             memory_config: MemoryConfig = MemoryConfig(), *, tp_comm_overlap: float | None = None,
             envelope_scale: float = 1.0) -> Evaluation:
    """Memory, step time, throughput and MFU of every strategy (``tp_comm_overlap``,
    ``envelope_scale``: see ``step_time_breakdown``; the defaults are the planner's own stack)."""
    s = strategies
    memory = memory_breakdown(shape, s, memory_config)
    time = step_time_breakdown(shape, gpu, s, a2a_overlap=memory_config.a2a_overlap,
                               tp_comm_overlap=tp_comm_overlap, envelope_scale=envelope_scale,
                               framework=memory_config.framework)
    usable = memory_config.usable_bytes(gpu.memory_bytes)
    fits = memory["total"] <= usable
    tokens_per_step = s.global_batch_seqs * shape.seq_len
    tokens_per_second = tokens_per_step / time["total"]
    peaks = np.array([gpu.peak_flops.get(p, np.nan) for p in PRECISION_ORDER])[s.precision_idx]
    mfu = model_flops_per_token(shape) * tokens_per_second / (s.gpus * peaks)
    if memory_config.reliability is not None:       # expected throughput (issue #15)
        tokens_per_second = tokens_per_second / slowdown(shape.params, s.gpus, memory_config.reliability)
    return Evaluation(s, memory, time, usable, fits, tokens_per_second, mfu, memory_config, shape)

