"""Candidate table: every (model size, GPU type, GPU count) a request may use, with its speed and money.

For each candidate the fastest strategy that fits in memory is found by ``planner.costmodel.grid`` (vectorised
over sizes × counts × strategies); what a candidate costs per second and up front comes from
``planner.economics.offers``. The solver, the frontier and the brute-force reference all read this table.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from functools import lru_cache
from dataclasses import dataclass, replace

import numpy as np

from planner.costmodel.grid import ThroughputGrid, reduce_variants, throughput_grid
from planner.search.problem import Problem
from planner.economics.offers import Offer, candidate_counts, money_rates, power_kw

# Sizes live on a fixed lattice N = 10^(k/12) (12 per decade, 21 % apart), so answers do not
# depend on how a budget was written and the brute-force reference can enumerate the same points.
SIZES_PER_DECADE = 12
# After branch and bound on the lattice, the winner's neighbourhood (± one lattice step) is searched
# on a finer fixed lattice N = 10^(k/96) (8 fine points per lattice step; it contains the lattice).
FINE_SIZES_PER_DECADE = 96
MIN_PARAMS = 1e6
MAX_PARAMS = 1e14
# Inference runs on the training GPU type at this fraction of its 16-bit peak. Sardana & Frankle
# 2023 (§4) discuss inference MFU between ~10 % (latency-bound decoding) and 50 %; 30 % is our
# assumption for batched serving.
INFERENCE_MFU = 0.30


@dataclass
class CandidateTable:
    """Flat arrays over candidates (one entry per size × GPU type × count)."""

    params: np.ndarray
    gpu: np.ndarray                   # GPU ids (str)
    gpus: np.ndarray
    type_index: np.ndarray            # index into ``offers``
    tokens_per_second: np.ndarray     # fastest fitting strategy; 0 when nothing fits
    cost_rate_usd_per_s: np.ndarray
    fixed_cost_usd: np.ndarray
    power_kw: np.ndarray
    law: object
    offers: list[Offer]
    grids: list[ThroughputGrid]

    def __len__(self) -> int:
        return len(self.params)

    def take(self, index) -> "CandidateTable":
        fields = {k: v[index] for k, v in self.__dict__.items() if isinstance(v, np.ndarray)}
        return replace(self, **fields)


def size_lattice(lo: float, hi: float) -> np.ndarray:
    """Lattice sizes 10^(k/12) within [lo, hi] (at least one point)."""
    k_lo = math.ceil(math.log10(max(lo, MIN_PARAMS)) * SIZES_PER_DECADE - 1e-9)
    k_hi = math.floor(math.log10(min(hi, MAX_PARAMS)) * SIZES_PER_DECADE + 1e-9)
    return 10.0 ** (np.arange(k_lo, max(k_hi, k_lo) + 1) / SIZES_PER_DECADE)


def fine_window(params: float) -> np.ndarray:
    """Fine-lattice sizes 10^(k/96) off the lattice, within one lattice step of ``params``."""
    ratio = FINE_SIZES_PER_DECADE // SIZES_PER_DECADE
    k = round(math.log10(params) * FINE_SIZES_PER_DECADE)
    ks = np.arange(k - ratio, k + ratio + 1)
    ks = ks[ks % ratio != 0]
    sizes = 10.0 ** (ks / FINE_SIZES_PER_DECADE)
    return sizes[(sizes >= MIN_PARAMS * (1 - 1e-12)) & (sizes <= MAX_PARAMS * (1 + 1e-12))]


def search_counts(offer: Offer, exact_cap: bool = True) -> np.ndarray:
    """GPU counts the search considers for ``offer``: the count lattice (``candidate_counts``) plus, as
    part of the refinement (``exact_cap``), the exact cap in whole nodes (1,000 H100 on 8-GPU nodes:
    125 nodes = 1,000 GPUs, which the lattice would use as 96 nodes). The lattice alone grows with the
    cap (more availability only adds counts); the exact cap of a smaller availability is not a count of
    a larger one, which is why monotonicity is exact for the lattice answer (``refine=False``) and the
    refined answer is only guaranteed never worse than that."""
    return _search_counts(offer.gpu.gpus_per_node, offer.max_count, exact_cap).copy()


@lru_cache(maxsize=1024)
def _search_counts(node: int, max_count: int, exact_cap: bool) -> np.ndarray:
    counts = candidate_counts(_Node(node), max_count)
    if not exact_cap:
        return counts
    cap = (max_count // node) * node
    if cap >= node and (not len(counts) or cap > counts[-1]):
        counts = np.append(counts, np.int64(cap))
    return counts


@dataclass(frozen=True)
class _Node:
    """What ``candidate_counts`` reads of a GPU spec (so the counts can be memoised by node size)."""

    gpus_per_node: int


# Throughput grids are cached per (GPU spec, counts, search space, memory config) and model shape, so
# repeated queries, sweeps and the frontier evaluate each (shape, GPU type, counts) row once. The key is
# the content (the GPU spec as JSON), so a changed spec or search space is a different entry.
GRID_CACHE_ROWS = 20_000
_GRID_ROWS: OrderedDict = OrderedDict()
_GPU_KEYS: dict[int, tuple] = {}


def _gpu_key(gpu) -> str:
    held = _GPU_KEYS.get(id(gpu))
    if held is None or held[0] is not gpu:
        if len(_GPU_KEYS) > 1024:
            _GPU_KEYS.clear()
        held = (gpu, gpu.model_dump_json())
        _GPU_KEYS[id(gpu)] = held
    return held[1]


def clear_grid_cache() -> None:
    _GRID_ROWS.clear()
    _GPU_KEYS.clear()


def cached_grid(shapes, gpu, counts, space, memory_config) -> ThroughputGrid:
    """``throughput_grid`` with its rows (one per shape) memoised by content."""
    counts = np.asarray(counts, dtype=np.int64)
    base = (_gpu_key(gpu), counts.tobytes(), space, memory_config)
    rows, missing = [], []
    for i, shape in enumerate(shapes):
        row = _GRID_ROWS.get((base, shape))
        if row is None:
            missing.append(i)
        rows.append(row)
    if missing:
        grid = throughput_grid([shapes[i] for i in missing], gpu, counts, space, memory_config)
        for j, i in enumerate(missing):
            row = (grid.tokens_per_second[j], grid.any_valid[j], grid.any_layout[j], grid.min_memory_bytes[j])
            for a in row:
                a.flags.writeable = False
            rows[i] = row
            _GRID_ROWS[(base, shapes[i])] = row
        while len(_GRID_ROWS) > GRID_CACHE_ROWS:
            _GRID_ROWS.popitem(last=False)
    n = len(counts)
    stack = lambda k, dtype: (np.stack([r[k] for r in rows]) if rows else np.zeros((0, n), dtype=dtype))
    return ThroughputGrid(gpu.id, list(shapes), counts, stack(0, float), stack(1, bool), stack(2, bool),
                          stack(3, float))


def cached_variants_grid(shape_groups, gpu, counts, space, memory_config) -> ThroughputGrid:
    """``cached_grid`` over every candidate shape of each size, reduced to the fastest shape per size."""
    flat = [shape for group in shape_groups for shape in group]
    return reduce_variants(cached_grid(flat, gpu, counts, space, memory_config), [len(g) for g in shape_groups])


def offer_table(ctx: Problem, t: int, sizes, counts, tokens_per_second, grids=()) -> CandidateTable:
    """Candidates of offer ``t`` at ``sizes`` × ``counts`` (size-major) with their money and power;
    ``tokens_per_second`` is one value per candidate (or broadcastable to them)."""
    offer = ctx.offers[t]
    sizes, counts = np.atleast_1d(np.asarray(sizes, dtype=float)), np.asarray(counts, dtype=np.int64)
    n_sizes, n_counts = len(sizes), len(counts)
    fixed, rate = money_rates(offer, counts, pue=ctx.pue, electricity_usd_per_kwh=ctx.electricity_usd_per_kwh)
    return CandidateTable(
        params=np.repeat(sizes, n_counts), gpu=np.full(n_sizes * n_counts, offer.gpu.id, dtype=object),
        gpus=np.tile(counts, n_sizes), type_index=np.full(n_sizes * n_counts, t),
        tokens_per_second=np.broadcast_to(np.asarray(tokens_per_second, dtype=float), (n_sizes * n_counts,)).copy(),
        cost_rate_usd_per_s=np.tile(rate, n_sizes), fixed_cost_usd=np.tile(fixed, n_sizes),
        power_kw=np.tile(power_kw(offer, counts, ctx.pue), n_sizes),
        law=ctx.law, offers=ctx.offers, grids=list(grids))


def concat_tables(a: CandidateTable, b: CandidateTable) -> CandidateTable:
    fields = {k: np.concatenate([v, getattr(b, k)]) for k, v in a.__dict__.items() if isinstance(v, np.ndarray)}
    return CandidateTable(**fields, law=a.law, offers=a.offers, grids=a.grids + b.grids)


def build_table(ctx: Problem, sizes, offer_indices=None) -> CandidateTable:
    """Evaluate offers (all, or ``offer_indices``) at ``sizes`` × their candidate counts."""
    sizes = np.atleast_1d(np.asarray(sizes, dtype=float))
    shapes = [ctx.shapes(n) for n in sizes]
    empty = np.zeros(0)
    table = CandidateTable(empty, empty.astype(object), empty.astype(np.int64), empty.astype(np.int64), empty,
                           empty, empty, empty, ctx.law, ctx.offers, [])
    for t in (range(len(ctx.offers)) if offer_indices is None else offer_indices):
        offer = ctx.offers[t]
        counts = search_counts(offer, ctx.refine)
        grid = cached_variants_grid(shapes, offer.gpu, counts, ctx.space, ctx.memory_config_for(offer))
        table = concat_tables(table, offer_table(ctx, t, sizes, counts, grid.tokens_per_second.ravel(), [grid]))
    return table
