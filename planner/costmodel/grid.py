"""Best strategy throughput for many (model size, GPU count) pairs of one GPU type at once.

The solver's hot path. Layouts are checked over (sizes, counts, strategies); memory and step time are
then evaluated over (size, strategy) pairs × counts (see ``throughput_grid``) through the same memory
and throughput formulas ``planner.analysis.estimate`` uses for one run, so the two always
agree: the fastest fitting strategy per (size, count) here is the one ``estimate`` would choose.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from catalogs.schema import GPUSpec
from planner.costmodel.memory import MemoryConfig, memory_breakdown
from planner.costmodel import moe
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
                         zero_fixed=len(space.zero) == 1, uneven_pp=space.uneven_pp, framework=space.framework)
    valid = layout & batch_ok
    any_layout = layout.any(axis=2)
    n_sizes, n_counts = valid.shape[:2]
    best, min_memory = np.zeros((n_sizes, n_counts)), np.full((n_sizes, n_counts), np.inf)

    # Memory and step time are evaluated in a (pairs, counts) layout, a pair being a (size, strategy)
    # valid at some count (a strategy whose pipeline depth divides none of a size's layers, or whose
    # tensor split divides none of its heads, costs nothing there): a size's terms are computed once
    # per pair, a strategy's once per pair and a count's once, only the terms that mix them at full
    # size. Step time is evaluated only on the pairs that fit in memory at some count. Elementwise the
    # arithmetic is that of evaluating each (size, count, strategy) alone, so the values are the same
    # (~3× faster than gathering every field at every valid entry; issue #17).
    pair_size, pair_struct = np.nonzero(valid.any(axis=1))       # size-major
    if len(pair_size):
        shape, paired = _at_pairs(stacked, strategies, pair_size, pair_struct)
        valid_pc = valid[pair_size, :, pair_struct]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            memory = np.broadcast_to(memory_breakdown(shape, paired, memory_config)["total"], valid_pc.shape)
            fits = valid_pc & (memory <= memory_config.usable_bytes(gpu.memory_bytes))
            _segment_reduce(min_memory, np.where(valid_pc, memory, np.inf), pair_size, np.minimum)
            fit_pairs = np.nonzero(_may_be_fastest(fits, pair_size, pair_struct, structs, n_sizes,
                                                   prune=not moe.is_moe(stacked)))[0]
            if len(fit_pairs):
                shape, paired = _take_rows(shape, fit_pairs), paired.map(lambda a: _rows_of(a, fit_pairs))
                time = step_time_breakdown(shape, gpu, paired, a2a_overlap=memory_config.a2a_overlap,
                                           framework=memory_config.framework)["total"]
                speed = np.where(fits[fit_pairs], paired.global_batch_seqs * seq_len / time, 0.0)
                _segment_reduce(best, np.broadcast_to(speed, (len(fit_pairs), n_counts)), pair_size[fit_pairs],
                                np.maximum)
    if memory_config.reliability is not None:
        # Expected throughput: failures, checkpoints and restarts slow a run by a factor that depends
        # on (params, GPUs) only, so the fastest layout is unchanged (planner.costmodel.reliability);
        # dividing the best speed of a (size, count) by its factor equals the best of the divided speeds.
        i_size, i_count = np.nonzero(best > 0)
        best[i_size, i_count] = best[i_size, i_count] / slowdown(
            stacked.params.reshape(-1)[i_size] if np.ndim(stacked.params) else stacked.params,
            counts[i_count], memory_config.reliability)

    return ThroughputGrid(
        gpu=gpu.id, shapes=shapes, counts=counts, tokens_per_second=best,
        any_valid=valid.any(axis=2), any_layout=any_layout, min_memory_bytes=min_memory,
    )


def _lower_recompute(structs: dict[str, np.ndarray]) -> np.ndarray:
    """Per strategy: the index of the same strategy at the next lower recompute level in the table, or −1."""
    others = [values for name, values in structs.items() if name != "recompute_idx"]
    order = np.lexsort((structs["recompute_idx"], *others))
    same = np.ones(len(order) - 1, dtype=bool)
    for values in others:
        same &= values[order][1:] == values[order][:-1]
    lower = np.full(len(order), -1)
    lower[order[1:][same]] = order[:-1][same]
    return lower


def _may_be_fastest(fits: np.ndarray, pair_size, pair_struct, structs, n_sizes: int, prune: bool) -> np.ndarray:
    """Pairs whose step time is needed: those that fit at some count, less those of a dense model
    without context parallelism that fit only where the same strategy with the next lower recompute
    level fits too (~40 % fewer step-time evaluations; issue #17).

    Why that is exact: the global batch does not depend on recompute, and with c = 1 on a dense model
    more recompute adds Δ ≥ 0 to every micro-batch slot (FLOPs, memory passes, collectives), so the
    pipeline grows by at least m·Δ, while the data-parallel overlap windows it widens hide at most
    DP_OVERLAP·(2m/3 + 1/3)·Δ ≤ m·Δ (ZeRO-3 and FSDP2: DP_OVERLAP·m·Δ); the MFU floor is the same and
    the envelope increases with the step. Context parallelism and MoE are left out: there more
    recomputed attention (expert GEMMs) also hides more ring-attention (all-to-all) traffic within
    the slot, so a slot can stay the same while the overlap window grows, and more recompute can be
    faster. ``tests/search/test_speed_paths.py`` checks the grid against evaluating every strategy."""
    if not prune:
        return fits.any(axis=1)
    lower = _lower_recompute(structs)[pair_struct]
    lower = np.where(structs["cp"][pair_struct] == 1, lower, -1)
    position = np.full((n_sizes, len(structs["recompute_idx"])), -1)
    position[pair_size, pair_struct] = np.arange(len(pair_size))
    lower_pair = np.where(lower >= 0, position[pair_size, np.maximum(lower, 0)], -1)
    covered = (lower_pair >= 0)[:, None] & fits[np.maximum(lower_pair, 0)]
    return (fits & ~covered).any(axis=1)


def _at_pairs(stacked: ModelShape, strategies: Strategies, pair_size, pair_struct):
    """Shape and strategies (broadcastable to sizes × counts × strategies) at the (size, strategy) pairs:
    every field becomes (pairs or 1, counts or 1)."""

    def at(a):
        a = np.asarray(a)
        if a.ndim == 0:
            return a
        a = a.reshape((1,) * (3 - a.ndim) + a.shape)
        by_size, by_struct = a.shape[0] > 1, a.shape[2] > 1
        if not (by_size or by_struct):
            return a[0, :, 0][None, :]
        return a[pair_size if by_size else 0, :, pair_struct if by_struct else 0]

    shape = ModelShape(**{name: at(getattr(stacked, name)) for name in _ARRAY_FIELDS}, seq_len=stacked.seq_len)
    return shape, strategies.map(at)


def _rows_of(a, rows):
    """Rows ``rows`` of a (pairs or 1, counts or 1) field."""
    a = np.asarray(a)
    return a if a.ndim == 0 or a.shape[0] == 1 else a[rows]


def _take_rows(shape: ModelShape, rows) -> ModelShape:
    return ModelShape(**{name: _rows_of(getattr(shape, name), rows) for name in _ARRAY_FIELDS}, seq_len=shape.seq_len)


def _segment_reduce(out: np.ndarray, values: np.ndarray, pair_size: np.ndarray, how) -> None:
    """out[size] = how over the rows of ``values`` belonging to that size (rows are size-major)."""
    starts = np.flatnonzero(np.r_[True, pair_size[1:] != pair_size[:-1]])
    out[pair_size[starts]] = how.reduceat(values, starts, axis=0)


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
