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


def throughput_grid(shapes: list[ModelShape], gpu: GPUSpec, counts, space: SearchSpace,
                    memory_config: MemoryConfig = MemoryConfig()) -> ThroughputGrid:
    """Fastest fitting strategy's tokens/s for every (shape, count); all shapes share one seq_len."""
    counts = np.asarray(counts, dtype=np.int64)
    structs = candidate_choices(gpu, space, effective_precisions(gpu, space.precisions))
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

    # Evaluate memory on valid entries only (1-D), then step time only on those that fit.
    full_shape = valid.shape
    i_size, i_count, i_struct = np.nonzero(valid)

    def flat_args(rows=slice(None)):
        selected = [index[rows] for index in (i_size, i_count, i_struct)]
        offsets: dict[tuple, np.ndarray] = {}      # flat offsets per broadcast shape, computed once

        def pick(a):
            """Entries of a broadcastable array at the valid positions (indexing only the axes it varies on)."""
            a = np.asarray(a)
            if a.ndim == 0:
                return np.full(len(selected[0]), a)
            flat = offsets.get(a.shape)
            if flat is None:
                flat, stride = 0, 1
                for index, size in reversed(list(zip(selected, a.shape))):
                    if size > 1:
                        flat = flat + index * stride
                    stride *= size
                flat = offsets[a.shape] = np.broadcast_to(np.asarray(flat, dtype=np.intp), selected[0].shape)
            return np.take(a, flat)

        flat_shape = ModelShape(**{name: pick(getattr(stacked, name)) for name in _ARRAY_FIELDS}, seq_len=seq_len)
        return flat_shape, strategies.map(pick)

    flat_shape, flat_strategies = flat_args()
    memory = memory_breakdown(flat_shape, flat_strategies, memory_config)["total"]
    fit_rows = np.nonzero(memory <= memory_config.usable_bytes(gpu.memory_bytes))[0]
    fit_shape, fit_strategies = flat_args(fit_rows)
    time = step_time_breakdown(fit_shape, gpu, fit_strategies, a2a_overlap=memory_config.a2a_overlap)["total"]
    speed = fit_strategies.global_batch_seqs * seq_len / time
    if memory_config.reliability is not None:
        # Expected throughput: failures, checkpoints and restarts slow a run by a factor that depends
        # on (params, GPUs) only, so the fastest layout is unchanged (planner.costmodel.reliability).
        speed = speed / slowdown(fit_shape.params, fit_strategies.gpus, memory_config.reliability)

    def reduce(values, rows, fill, how):
        dense = np.full(full_shape, fill)
        dense[i_size[rows], i_count[rows], i_struct[rows]] = values
        return how(dense, axis=2)

    return ThroughputGrid(
        gpu=gpu.id, shapes=shapes, counts=counts,
        tokens_per_second=reduce(speed, fit_rows, 0.0, np.max),
        any_valid=valid.any(axis=2), any_layout=layout.any(axis=2),
        min_memory_bytes=reduce(memory, slice(None), np.inf, np.min),
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
