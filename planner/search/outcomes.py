"""What each candidate achieves: tokens within budget and deadline, cost, and predicted loss."""

from __future__ import annotations

import numpy as np

from planner.costmodel.reliability import checkpoint_s, daly_interval_s, job_mtbf_s
from planner.costmodel.strategy import effective_precisions
from planner.economics.rental import billed_seconds, longest_use_within, rentable_mask
from planner.search.candidates import INFERENCE_MFU, CandidateTable
from planner.search.problem import Problem
from scaling_laws import data_constrained_loss


def predicted_loss(ctx: Problem, params, tokens):
    """L(N, D), or L(N', D') with the data-constrained law when unique data is limited."""
    params, tokens = np.asarray(params, dtype=float), np.asarray(tokens, dtype=float)
    if ctx.unique_tokens is None:
        return ctx.law.loss(params, tokens)
    return data_constrained_loss(ctx.law, params, tokens, ctx.unique_tokens)


def inference_cost_usd(ctx: Problem, table: CandidateTable) -> np.ndarray:
    """Serving ``inference_tokens`` at 2·N FLOPs/token on the same GPUs (at INFERENCE_MFU)."""
    served = ctx.inference_tokens or 0.0
    if served == 0 or len(table) == 0:
        return np.zeros(len(table))
    peak = np.array([max(o.gpu.peak_flops[p] for p in effective_precisions(o.gpu, ctx.precisions))
                     if effective_precisions(o.gpu, ctx.precisions) else np.inf for o in ctx.offers])
    gpu_seconds = 2.0 * table.params * served / (peak[table.type_index] * INFERENCE_MFU)
    return gpu_seconds * table.cost_rate_usd_per_s / table.gpus


# A run shorter than this many optimizer steps is not a training run (warm-up alone takes more);
# money or time that buys fewer makes the request infeasible rather than a silly plan.
MIN_OPTIMIZER_STEPS = 100


def min_run_tokens(ctx: Problem) -> float:
    return MIN_OPTIMIZER_STEPS * ctx.space.global_batch_tokens


def min_running_s(ctx: Problem, table: CandidateTable) -> np.ndarray:
    """Shortest sensible running time (after start-up) of each candidate (issue #15):
      * it must reach its first checkpoint: τ + δ (Daly interval and save time);
      * a rented multi-node cluster is a reservation of at least ``ctx.min_rental_hours``: a run that
        cannot fill its block is not a plan (renting 1,000 GPUs for a few hours is not on offer).
    Monotone in nothing the user adds, so more budget, time or GPUs never remove a plan that was sensible."""
    rel = ctx.reliability
    mtbf = job_mtbf_s(table.gpus, rel)
    delta = np.where(np.isfinite(mtbf), checkpoint_s(table.params, table.gpus, rel), 0.0)
    first = np.where(np.isfinite(mtbf), daly_interval_s(delta, mtbf) + delta, 0.0)
    if ctx.min_rental_hours > 0 and len(table):
        node = np.array([o.gpu.gpus_per_node for o in ctx.offers])[table.type_index]
        # offers on provider terms pay their own minimum blocks (billed time), not the generic one
        rented = np.array([o.mode == "rent" and o.terms is None for o in ctx.offers])[table.type_index]
        block = np.where(rented & (table.gpus > node), ctx.min_rental_hours * 3600.0 - rel.startup_time_s, 0.0)
        first = np.maximum(first, block)
    return first


def run_seconds(ctx: Problem, table: CandidateTable):
    """(ok, wall_s): how long each candidate may run (predicted wall-clock) within budget (after
    capex and inference), deadline and power cap, whatever its speed. With a confidence, the time
    at that probability (predicted × ``ctx.time_margin``) must meet the deadline (``ctx.deadline_s``
    is already divided by it) and the time-proportional cost at that probability the budget."""
    inference = inference_cost_usd(ctx, table)
    with np.errstate(divide="ignore", invalid="ignore"):
        if ctx.budget_usd is None:
            by_budget = np.full(len(table), np.inf)
        else:
            left = ctx.budget_usd - table.fixed_cost_usd - inference
            rate = table.cost_rate_usd_per_s * ctx.time_margin
            by_budget = np.where(rate > 0, left / rate, np.where(left >= 0, np.inf, -1.0))
    rentable = np.ones(len(table), dtype=bool)
    for t, offer in _billed_offers(ctx, table):
        rows = table.type_index == t
        by_budget[rows] = longest_use_within(by_budget[rows], offer.terms)
        rentable[rows] = rentable_mask(table.gpus[rows], offer.terms)
    wall = np.minimum(ctx.deadline_s, by_budget)
    ok = (wall > 0) & np.isfinite(wall) & (wall >= min_running_s(ctx, table)) & rentable
    if ctx.power_cap_kw is not None:
        ok &= table.power_kw <= ctx.power_cap_kw
    return ok, np.where(ok, wall, 0.0), inference


def max_token_runs(ctx: Problem, table: CandidateTable):
    """(ok, wall_s, tokens, cost_usd) per candidate when it trains as long as money and time allow
    (at least MIN_OPTIMIZER_STEPS steps)."""
    ok, wall, inference = run_seconds(ctx, table)
    tokens = table.tokens_per_second * wall
    ok &= (table.tokens_per_second > 0) & (tokens >= min_run_tokens(ctx))
    wall = np.where(ok, wall, 0.0)
    tokens = np.where(ok, tokens, 0.0)
    cost = table.fixed_cost_usd + table.cost_rate_usd_per_s * billed_s(ctx, table, wall) + inference
    return ok, wall, tokens, cost


def _billed_offers(ctx: Problem, table: CandidateTable):
    """(offer index, offer) of the offers in ``table`` billed on provider terms."""
    if not ctx.billed or not len(table):
        return []
    present = set(np.unique(table.type_index).tolist())
    return [(t, o) for t, o in enumerate(ctx.offers) if o.terms is not None and t in present]


def billed_s(ctx: Problem, table: CandidateTable, used_s) -> np.ndarray:
    """Seconds each candidate is billed for ``used_s`` seconds of use: the provider's increments and
    minimum blocks on offers with terms (``planner.economics.rental``), the used time otherwise."""
    used = np.broadcast_to(np.asarray(used_s, dtype=float), (len(table),)).copy()
    billed = used.copy()
    for t, offer in _billed_offers(ctx, table):
        rows = (table.type_index == t) & (used > 0)
        billed[rows] = billed_seconds(used[rows], offer.terms)
    return billed
