"""Branch and bound over (GPU type, model size) for min_loss.

For each model size N on the lattice (``planner.search.candidates``), every (GPU type, count) trains
the most tokens its budget and deadline allow, ``D = tokens/s × min(deadline, (budget − capex −
inference cost) / cost rate)``, giving the predicted loss L(N, D) (with the data-constrained law
when unique data is limited). Pairs are evaluated best optimistic bound first, so only pairs that
could win are evaluated; the result equals exhaustive search over the lattice (tested against
``planner.search.brute_force``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from planner.costmodel import calibration
from planner.costmodel.precision import COMM_BYTES, PRECISION_ORDER
from planner.costmodel.strategy import effective_precisions
from planner.costmodel.flops import attention_flops_per_token, model_flops_per_token
from planner.costmodel.reliability import slowdown
from planner.costmodel.throughput import achievable_flops, attention_rate, gemm_shape_factor, mfu_envelope

from planner.search.candidates import (CandidateTable, build_table, concat_tables, fine_window, offer_table,
                                       search_counts, size_lattice)
from planner.search.ilp import Allocation, Candidates, solve_allocation
from planner.search.outcomes import inference_cost_usd, max_token_runs, predicted_loss, run_seconds
from planner.search.problem import Problem
from scaling_laws import compute_optimal

BATCH_PAIRS = 6
# Relative slack on the optimistic speeds so that float rounding never lets a bound pass the exact value.
BOUND_MARGIN = 1e-9
# Optimistic utilisation used only to centre the size range on the law's compute-optimal size.
RANGE_MFU = 0.5


def size_range(ctx: Problem) -> np.ndarray:
    """Lattice sizes from 1/1000 to 3× the law's compute-optimal size for the most FLOPs on offer
    (each GPU type at each candidate count, at an optimistic RANGE_MFU); just ``params`` if the
    request fixes the model size."""
    if ctx.params is not None:
        return np.array([float(ctx.params)])

    best_flops = 0.0
    for t, offer in enumerate(ctx.offers):
        precisions = effective_precisions(offer.gpu, ctx.precisions)
        counts = search_counts(offer, ctx.refine)
        if not precisions or not len(counts):
            continue
        peak = max(offer.gpu.peak_flops[p] for p in precisions) * RANGE_MFU
        ok, wall, _ = run_seconds(ctx, offer_table(ctx, t, [1.0], counts, 1.0))
        if ok.any():
            best_flops = max(best_flops, float(np.max(np.where(ok, peak * counts * wall, 0.0))))
    if best_flops <= 0:   # nothing can run (budget below capex, power cap, ...): a small range to diagnose
        return size_lattice(1e7, 1e9)
    n_star = float(np.asarray(compute_optimal(ctx.law, best_flops)[0]))
    return size_lattice(n_star / 1000.0, n_star * 3.0)


def _optimistic_speeds(ctx: Problem, sizes: np.ndarray):
    """Per offer: (counts, per-GPU optimistic tokens/s per size) or None if the offer cannot run.

    ``planner.costmodel.throughput`` charges every strategy, per token and GPU (each term divided by
    t·p·c while t·p·c·d = n), at least: the weight FLOPs at the GEMM ceiling × the shape factor of
    the largest GEMMs the space allows (M = seq × the largest micro-batch, N = hidden at t = 1), the
    attention-core FLOPs at the attention rate, and the memory-bound traffic at HBM bandwidth, with no
    recompute, bubble or communication; the step is then a smooth maximum of that and the published-
    MFU floor, (step^k + floor^k)^(1/k), which increases with the step. So a size's speed is at most
    the largest over its candidate shapes of 1 / (that bound). ``tests/search/test_bounds.py`` checks
    every grid candidate against it."""
    variants = [ctx.shapes(n) for n in sizes]
    flat = [shape for group in variants for shape in group]
    starts = np.cumsum([0] + [len(group) for group in variants[:-1]])
    attention = np.array([float(attention_flops_per_token(shape)) for shape in flat])
    model = np.array([float(model_flops_per_token(shape)) for shape in flat])
    weights = model - attention
    hidden = np.array([float(shape.hidden) for shape in flat])
    hidden_layers = hidden * np.array([float(shape.layers) for shape in flat])
    small_heads = np.array([shape.head_dim <= 64 for shape in flat])
    largest_gemm = gemm_shape_factor(ctx.seq_len * max(ctx.space.micro_batches), hidden)
    out = []
    for offer in ctx.offers:
        precisions = effective_precisions(offer.gpu, ctx.precisions)
        counts = search_counts(offer, ctx.refine)
        if not precisions or not len(counts):
            out.append(None)
            continue
        per_shape = np.zeros(len(flat))
        envelope = mfu_envelope(offer.gpu)
        for p in precisions:
            index = np.array([PRECISION_ORDER.index(p)])
            attn_rate = np.zeros(len(flat))
            for small in set(small_heads.tolist()):      # the rate depends on the head size class only
                attn_rate[small_heads == small] = float(attention_rate(
                    offer.gpu, replace(flat[0], head_dim=64 if small else 128), index)[0])
            gemm_rate = float(achievable_flops(offer.gpu, index)[0]) * largest_gemm
            with np.errstate(divide="ignore"):
                seconds = (weights / gemm_rate + attention / attn_rate
                           + calibration.MEMORY_BYTES_PER_LAYER_TOKEN_PER_HIDDEN * COMM_BYTES[index[0]] / 2.0
                           * hidden_layers / offer.gpu.memory_bandwidth_bytes_per_s)
            mfu = float(envelope[index[0]])
            if np.isfinite(mfu) and mfu > 0:
                floor = model / (offer.gpu.peak_flops[p] * mfu)
                k = calibration.ENVELOPE_SHARPNESS
                seconds = (seconds**k + floor**k) ** (1.0 / k)
            per_shape = np.maximum(per_shape, (1.0 + BOUND_MARGIN) / seconds)
        out.append((counts, np.maximum.reduceat(per_shape, starts)))
    return out


def _optimistic_tables(ctx: Problem, sizes: np.ndarray):
    """Per offer: candidates at ``sizes`` × counts at their optimistic speeds, slowed down by the expected
    failures as the grid slows them (a factor of (params, GPUs) only, ``costmodel.reliability``)."""
    for t, speeds in enumerate(_optimistic_speeds(ctx, sizes)):
        if speeds is None:
            continue
        counts, per_gpu = speeds
        n_sizes, n_counts = len(sizes), len(counts)
        speed = np.repeat(per_gpu, n_counts) * np.tile(counts, n_sizes)
        reliability = ctx.memory_config_for(ctx.offers[t]).reliability
        if reliability is not None:
            speed = speed / slowdown(np.repeat(sizes, n_counts), np.tile(counts, n_sizes), reliability)
        yield t, offer_table(ctx, t, sizes, counts, speed)


def loss_lower_bounds(ctx: Problem, sizes: np.ndarray) -> np.ndarray:
    """(offers × sizes) loss no candidate of that GPU type and size can beat: the loss at the
    optimistic speed (``_optimistic_speeds``) for as long as money and time allow (loss falls as
    tokens grow)."""
    bounds = np.full((len(ctx.offers), len(sizes)), np.inf)
    parts = list(_optimistic_tables(ctx, sizes))
    if not parts:
        return bounds
    table = parts[0][1]
    for _, part in parts[1:]:       # one evaluation over every offer's rows (all elementwise)
        table = concat_tables(table, part)
    ok, _, tokens, _ = max_token_runs(ctx, table)
    loss = np.where(ok, predicted_loss(ctx, table.params, np.where(ok, tokens, 1.0)), np.inf)
    start = 0
    for t, part in parts:
        bounds[t] = loss[start:start + len(part)].reshape(len(sizes), -1).min(axis=1)
        start += len(part)
    return bounds


def _mixture_token_bound(ctx: Problem, table: CandidateTable, ok: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per size: the most tokens any mixture of ``table``'s candidates (those ``ok`` alone) can train.

    All groups run the same wall-clock T ≤ deadline and spend Σ rate_i·T ≤ budget (capex only lowers
    it). Per type take its fastest speed S and best tokens per dollar ρ: any count of the type is
    dominated by a fraction of the item (S tokens/s, S/ρ dollars/s), so tokens ≤ T·K(budget/T) with K
    the fractional knapsack of those items, which is largest at T = deadline: deadline·K(budget/deadline).
    (It is at most min(deadline·Σ S, budget·max ρ).)"""
    out = np.zeros(len(sizes))
    for k, size in enumerate(sizes):
        rows = ok & (table.params == size)
        if not rows.any():
            continue
        tps, types, rate = table.tokens_per_second[rows], table.type_index[rows], table.cost_rate_usd_per_s[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(rate > 0, tps / np.where(rate > 0, rate, 1.0), np.inf)
        groups = np.unique(types)
        speed = np.array([tps[types == g].max() for g in groups])
        best_ratio = np.array([ratio[types == g].max() for g in groups])
        if ctx.budget_usd is None:
            out[k] = ctx.deadline_s * speed.sum()
            continue
        capacity, total = ctx.budget_usd / ctx.deadline_s, 0.0       # dollars per second
        for g in np.argsort(-best_ratio, kind="stable"):
            weight = speed[g] / best_ratio[g]
            if weight <= capacity:
                total, capacity = total + speed[g], capacity - weight
            else:
                total += capacity * best_ratio[g]
                break
        out[k] = ctx.deadline_s * total
    return out


def mixture_lower_bounds(ctx: Problem, sizes: np.ndarray) -> np.ndarray:
    """Per size: a loss no mixture of GPU types (nor any single type) can beat."""
    parts = [table for _, table in _optimistic_tables(ctx, sizes)]
    if not parts:
        return np.full(len(sizes), np.inf)
    table = parts[0]
    for part in parts[1:]:
        table = concat_tables(table, part)
    ok = run_seconds(ctx, table)[0]
    tokens = _mixture_token_bound(ctx, table, ok, sizes)
    return np.where(tokens > 0, predicted_loss(ctx, sizes, np.clip(tokens, 1.0, 1e30)), np.inf)


def losses(ctx: Problem, table: CandidateTable):
    ok, wall, tokens, cost = max_token_runs(ctx, table)
    loss = np.where(ok, predicted_loss(ctx, table.params, np.where(ok, tokens, 1.0)), np.inf)
    return ok, wall, tokens, cost, loss


@dataclass
class Winner:
    """The best allocation found: a model size and the rows of ``table`` it uses."""

    params: float
    rows: np.ndarray          # indices into the search table (candidates at ``params``)
    allocation: Allocation    # ``chosen`` indexes ``rows``
    loss: float


@dataclass
class Search:
    table: CandidateTable
    lattice: np.ndarray
    bounds: np.ndarray        # (offers × lattice sizes) single-type bounds
    winner: Winner | None     # set when mixing is allowed
    window: np.ndarray | None = None            # the fine sizes searched around the lattice optimum
    window_bounds: np.ndarray | None = None     # (offers × window sizes) single-type bounds

    def type_bounds_at(self, params: float) -> np.ndarray | None:
        """Per offer, the single-type loss bound already computed at ``params``, or None."""
        for sizes, bounds in ((self.lattice, self.bounds), (self.window, self.window_bounds)):
            if sizes is not None and bounds is not None and bounds.ndim == 2:
                hit = np.nonzero(sizes == params)[0]
                if len(hit):
                    return bounds[:, hit[0]]
        return None


def _branch_and_bound(ctx: Problem, sizes: np.ndarray, bounds: np.ndarray, table, incumbent: float,
                      slack: float = 0.0):
    """Evaluate (type, size) pairs best bound first until no bound beats ``incumbent`` + ``slack``
    (a slack > 0 also evaluates every pair that may hold a near-tie within it of the optimum)."""
    evaluated = np.zeros(bounds.shape, dtype=bool)
    while True:
        open_pairs = ~evaluated & (bounds < incumbent + slack)
        if not open_pairs.any():
            break
        order = np.argsort(np.where(open_pairs, bounds, np.inf), axis=None, kind="stable")[:BATCH_PAIRS]
        offers_idx, sizes_idx = np.unravel_index(order[open_pairs.flat[order]], bounds.shape)
        evaluated[offers_idx, sizes_idx] = True
        for t in sorted(set(offers_idx.tolist())):   # not np.unique: it imports numpy.ma (~13 ms cold)
            part = build_table(ctx, sizes[np.sort(sizes_idx[offers_idx == t])], [int(t)])
            table = part if table is None else concat_tables(table, part)
        ok, _, _, _, loss = losses(ctx, table)
        if ok.any():
            incumbent = min(incumbent, float(loss[ok].min()))
    return table, incumbent


def _best_row(ctx: Problem, table: CandidateTable) -> int | None:
    ok, _, _, cost, loss = losses(ctx, table)
    if not ok.any():
        return None
    rows = np.nonzero(ok)[0]
    return int(rows[np.lexsort((table.gpus[rows].astype(float), cost[rows], loss[rows]))[0]])


def min_loss_search(ctx: Problem) -> Search:
    """Branch and bound over the size lattice, then over the fine lattice around the winner.

    Lattice pairs are evaluated best bound first, BATCH_PAIRS at a time (grouped by GPU type so each
    group is one vectorised grid), until no unevaluated pair's bound beats the best loss found: the
    answer is the optimum over the whole lattice, as an exhaustive search would find it (with a loss
    tolerance, every pair whose bound is within it of the optimum is evaluated too). The fine
    sizes within one lattice step of that optimum are then searched the same way (seeded with its
    loss), so the final answer is the optimum over the lattice plus that window.
    """
    lattice = size_range(ctx)
    bounds = loss_lower_bounds(ctx, lattice)
    if ctx.allow_mixed:
        return _mixed_search(ctx, lattice, bounds)
    slack = ctx.loss_tolerance
    table, incumbent = _branch_and_bound(ctx, lattice, bounds, None, np.inf, slack)
    if table is None:
        return Search(build_table(ctx, lattice[:1]), lattice, bounds, None)
    best = _best_row(ctx, table)
    if best is not None and ctx.params is None and ctx.refine:
        window = fine_window(float(table.params[best]))
        window_bounds = loss_lower_bounds(ctx, window)
        table, _ = _branch_and_bound(ctx, window, window_bounds, table, incumbent, slack)
        return Search(table, lattice, bounds, None, window, window_bounds)
    return Search(table, lattice, bounds, None)


def min_loss_table(ctx: Problem) -> tuple[CandidateTable, np.ndarray, np.ndarray]:
    search = min_loss_search(ctx)
    return search.table, search.lattice, search.bounds


def exact_run(ctx: Problem, sub: CandidateTable, chosen) -> tuple[float, float]:
    """(wall_s, tokens) of ``chosen`` rows of ``sub`` running together as long as money and time allow."""
    tps = float(sub.tokens_per_second[chosen].sum())
    fixed = float(sub.fixed_cost_usd[chosen].sum())
    rate = float(sub.cost_rate_usd_per_s[chosen].sum())
    inference = float(inference_cost_usd(ctx, sub.take(chosen)).max(initial=0.0))
    wall = ctx.deadline_s
    if ctx.budget_usd is not None and rate > 0:
        wall = min(wall, (ctx.budget_usd - fixed - inference) / rate)
    return wall, tps * wall


def allocate_mixed(ctx: Problem, table: CandidateTable, rows: np.ndarray, objective: str = "min_loss",
                   tokens=None) -> Allocation:
    """The allocation ILP over ``rows`` of ``table`` (all of one model size)."""
    sub = table.take(rows)
    candidates = Candidates(sub.type_index, sub.gpus, sub.tokens_per_second, sub.fixed_cost_usd,
                            sub.cost_rate_usd_per_s, sub.power_kw, inference_cost_usd(ctx, sub))
    return solve_allocation(candidates, objective=objective, budget_usd=ctx.budget_usd, deadline_s=ctx.deadline_s,
                            power_cap_kw=ctx.power_cap_kw, tokens=tokens, allow_mixed=ctx.allow_mixed)


def _mixed_round(ctx: Problem, sizes: np.ndarray, table, incumbent: float, winner: Winner | None):
    """Branch and bound over sizes with the mixture bound: open sizes best bound first (every GPU
    type at each), then run the ILP at each opened size whose evaluated bound beats the incumbent."""
    bounds = mixture_lower_bounds(ctx, sizes)
    evaluated = np.zeros(len(sizes), dtype=bool)
    while True:
        open_sizes = ~evaluated & (bounds < incumbent)
        if not open_sizes.any():
            break
        picked = np.argsort(np.where(open_sizes, bounds, np.inf), kind="stable")[:BATCH_PAIRS]
        picked = picked[open_sizes[picked]]
        evaluated[picked] = True
        part = build_table(ctx, sizes[np.sort(picked)])
        table = part if table is None else concat_tables(table, part)
        ok, _, tokens, cost, loss = losses(ctx, table)
        if ok.any():
            i = _best_row(ctx, table)
            if float(loss[i]) < incumbent:
                incumbent = float(loss[i])
                winner = Winner(float(table.params[i]), np.array([i]),
                                Allocation([0], float(max_token_runs(ctx, table.take([i]))[1][0]), float(tokens[i]),
                                           float(cost[i])), incumbent)
        reach = _mixture_token_bound(ctx, table, ok, sizes[picked])
        reach_loss = np.where(reach > 0, predicted_loss(ctx, sizes[picked], np.clip(reach, 1.0, 1e30)), np.inf)
        for k in np.argsort(reach_loss, kind="stable"):
            size = sizes[picked[k]]
            rows = np.nonzero(ok & (table.params == size))[0]
            if reach_loss[k] >= incumbent or len(np.unique(table.type_index[rows])) < 2:
                continue
            allocation = allocate_mixed(ctx, table, rows)
            sub = table.take(rows)
            _, trained = exact_run(ctx, sub, allocation.chosen)
            value = float(predicted_loss(ctx, size, max(trained, 1.0)))
            if value < incumbent - 1e-12:
                incumbent = value
                winner = Winner(float(size), rows, allocation, value)
    return table, incumbent, winner


def _mixed_search(ctx: Problem, lattice: np.ndarray, bounds: np.ndarray) -> Search:
    """Mixed fleets on the lattice, then the fine windows around both the mixed and the single-type
    lattice optimum (so the answer is never worse than the single-type answer, refined)."""
    table, incumbent, winner = _mixed_round(ctx, lattice, None, np.inf, None)
    if winner is not None and ctx.params is None and ctx.refine:
        centres = [winner.params]
        single, _ = _branch_and_bound(ctx, lattice, bounds, None, np.inf)
        best = None if single is None else _best_row(ctx, single)
        if best is not None:
            centres.append(float(single.params[best]))
        window = np.unique(np.concatenate([fine_window(c) for c in centres]))
        table, incumbent, winner = _mixed_round(ctx, window, table, incumbent, winner)
    if table is None:
        table = build_table(ctx, lattice[:1])
    return Search(table, lattice, bounds, winner)


def add_runner_up_type(ctx: Problem, table: CandidateTable, params: float, gpu: str, known_bounds=None):
    """The plan names the best other GPU type (``plan_builder``'s "best evaluated plan on ..."); branch
    and bound may have opened none, or not the best one. So the other types are evaluated at the chosen
    size, best bound there first, until no unevaluated type's bound beats the best other-type loss in
    the table: at that size the runner-up type is then exact, for one grid row per type opened (often
    one, never a range of sizes). ``known_bounds``: the per-offer bounds at ``params`` if the search
    computed them (``Search.type_bounds_at``)."""
    ok, _, _, _, loss = losses(ctx, table)
    others = ok & (table.gpu != gpu)
    best_other = float(loss[others].min()) if others.any() else np.inf
    here = known_bounds if known_bounds is not None else loss_lower_bounds(ctx, np.array([params]))[:, 0]
    done = {int(t) for t in table.type_index[table.params == params]}
    while True:
        open_types = [t for t, offer in enumerate(ctx.offers)
                      if offer.gpu.id != gpu and t not in done and here[t] < best_other]
        if not open_types:
            return table
        t = min(open_types, key=lambda t: float(here[t]))
        done.add(t)
        part = build_table(ctx, [params], [t])
        table = concat_tables(table, part)
        ok_part, _, _, _, loss_part = losses(ctx, part)
        if ok_part.any():
            best_other = min(best_other, float(loss_part[ok_part].min()))
