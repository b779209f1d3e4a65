"""Best strategy throughput for many (model size, GPU count) pairs of one GPU type at once.

The solver's hot path. Arrays are laid out (sizes, counts, strategies) and broadcast through the
same memory and throughput formulas ``planner.analysis.estimate`` uses for one run, so the two always
agree: the fastest fitting strategy per (size, count) here is the one ``estimate`` would choose.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from catalogs.schema import GPUSpec
from planner.costmodel.memory import MemoryConfig, memory_breakdown
from planner.costmodel.reliability import slowdown
from planner.costmodel.shape import ModelShape
from planner.costmodel.strategy import (SearchSpace, Strategies, candidate_choices, effective_precisions, layout_mask,
                                         with_batch)
from planner.costmodel.throughput import step_time_breakdown


@dataclass
class ThroughputGrid:
    """Per (size, count): best tokens/s over strategies that fit (0 if none) and why not."""

    gpu: str
    shapes: list[ModelShape]
    counts: np.ndarray
    tokens_per_second: np.ndarray      # (sizes, counts)
    any_valid: np.ndarray              # some strategy is structurally valid (layout + batch limit)
    any_layout: np.ndarray             # some strategy has a valid layout, ignoring the batch limit
    min_memory_bytes: np.ndarray       # smallest memory per GPU among valid strategies


# Shape fields that vary per model size; seq_len is shared and name is not physics.
_ARRAY_FIELDS = tuple(f.name for f in fields(ModelShape) if f.name not in ("seq_len", "name"))


def _stacked_shape(shapes: list[ModelShape]) -> ModelShape:
    """One ModelShape whose fields are (sizes, 1, 1) arrays, to broadcast against counts × strategies."""
    columns = {name: np.array([getattr(s, name) for s in shapes])[:, None, None] for name in _ARRAY_FIELDS}
    return ModelShape(**columns, seq_len=int(shapes[0].seq_len))


# candidate_choices builds its table from Python tuples (~3 ms); a GPU spec is immutable (frozen), so
# its table is kept per (spec object, search space) for the process (bounded).
_CHOICES: dict = {}


def _choices(gpu: GPUSpec, space: SearchSpace) -> dict[str, np.ndarray]:
    held = _CHOICES.get((id(gpu), space))
    if held is None or held[0] is not gpu:
        if len(_CHOICES) > 256:
            _CHOICES.clear()
        table = candidate_choices(gpu, space, effective_precisions(gpu, space.precisions))
        for values in table.values():
            values.flags.writeable = False
        held = (gpu, table)
        _CHOICES[(id(gpu), space)] = held
    return held[1]


def throughput_grid(shapes: list[ModelShape], gpu: GPUSpec, counts, space: SearchSpace,
                    memory_config: MemoryConfig = MemoryConfig()) -> ThroughputGrid:
    """Fastest fitting strategy's tokens/s for every (shape, count); all shapes share one seq_len."""
    counts = np.asarray(counts, dtype=np.int64)
    structs = _choices(gpu, space)
    if len(structs["tp"]) == 0 or len(counts) == 0:
        zeros = np.zeros((len(shapes), len(counts)))
        return ThroughputGrid(gpu.id, shapes, counts, zeros, zeros > 0, zeros > 0, zeros + np.inf)
    stacked = _stacked_shape(shapes)
    seq_len = stacked.seq_len
    choices = {name: values[None, None, :] for name, values in structs.items()}
    strategies, batch_ok = with_batch(Strategies(gpus=counts[None, :, None], grad_accum=1, **choices), seq_len, space)
    layout = layout_mask(strategies, shape=stacked, gpus_per_node=gpu.gpus_per_node,
                         zero_fixed=len(space.zero) == 1, uneven_pp=space.uneven_pp)
    valid = layout & batch_ok
    any_layout = layout.any(axis=2)
    # Strategies invalid at every (size, count) (a pipeline depth dividing none of the sizes' layers,
    # a tensor split dividing none of the head counts, ...) are dropped before any arithmetic.
    keep = valid.any(axis=(0, 1))
    if not keep.any():
        zeros = np.zeros(valid.shape[:2])
        return ThroughputGrid(gpu.id, shapes, counts, zeros, zeros > 0, any_layout, zeros + np.inf)
    if not keep.all():
        strategies = strategies.map(lambda a: a[..., keep] if np.ndim(a) == 3 and np.shape(a)[2] > 1 else a)
        valid = valid[..., keep]

    # Memory and step time broadcast over (sizes, counts, strategies): every term is computed at the
    # dimensionality it varies on (a shape's terms once per size, a layout's once per strategy), which
    # is ~3× faster than gathering every field at the valid entries first, although the invalid
    # entries are computed too (their values, finite or not, are masked out below). Elementwise the
    # arithmetic is the same, so the result is identical to evaluating valid entries one by one.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        memory = memory_breakdown(stacked, strategies, memory_config)["total"]
        fits = valid & (memory <= memory_config.usable_bytes(gpu.memory_bytes))
        time = step_time_breakdown(stacked, gpu, strategies)["total"]
        speed = np.where(fits, strategies.global_batch_seqs * seq_len / time, 0.0)
    best = np.broadcast_to(speed, valid.shape).max(axis=2)
    if memory_config.reliability is not None:
        # Expected throughput: failures, checkpoints and restarts slow a run by a factor that depends
        # on (params, GPUs) only, so the fastest layout is unchanged (planner.costmodel.reliability);
        # dividing the best speed of a (size, count) by its factor equals the best of the divided speeds.
        i_size, i_count = np.nonzero(best > 0)
        best[i_size, i_count] = best[i_size, i_count] / slowdown(
            stacked.params.reshape(-1)[i_size] if np.ndim(stacked.params) else stacked.params,
            counts[i_count], memory_config.reliability)
    min_memory = np.where(valid, memory, np.inf).min(axis=2)

    return ThroughputGrid(
        gpu=gpu.id, shapes=shapes, counts=counts, tokens_per_second=best,
        any_valid=valid.any(axis=2), any_layout=any_layout, min_memory_bytes=min_memory,
    )


def reduce_variants(grid: ThroughputGrid, group_sizes: list[int]) -> ThroughputGrid:
    """A grid over every candidate shape of each size (rows in size order, ``group_sizes`` shapes per
    size) reduced to one row per size: the fastest fitting strategy over that size's shapes."""
    if all(n == 1 for n in group_sizes):
        return grid
    starts = np.cumsum([0] + list(group_sizes[:-1]))
    reduce = lambda values, how: how.reduceat(values, starts, axis=0)
    return ThroughputGrid(gpu=grid.gpu, shapes=[grid.shapes[i] for i in starts], counts=grid.counts,
                          tokens_per_second=reduce(grid.tokens_per_second, np.maximum),
                          any_valid=reduce(grid.any_valid, np.logical_or), any_layout=reduce(grid.any_layout, np.logical_or),
                          min_memory_bytes=reduce(grid.min_memory_bytes, np.minimum))
