"""Why a plan is what it is (binding constraints) and, when nothing works, what would.

A constraint *binds* when relaxing it alone would give a better answer: the budget or deadline
that ends a min-loss run; availability or the power cap when the deadline binds and the plan
already uses every GPU it may; memory when it forces a slower strategy or more GPUs than the
job would otherwise need; the batch limit when it caps data parallelism; data when the run
repeats its unique tokens; size efficiency when the law's compute-optimal size runs markedly slower
per GPU than the chosen size on the same GPUs, which is what moves a plan off the law's tokens/param.
"""

from __future__ import annotations

import numpy as np

from planner.economics.offers import candidate_counts
from planner.economics.rental import rentable_mask
from planner.search.candidates import CandidateTable, cached_variants_grid
from planner.search.outcomes import (
    MIN_OPTIMIZER_STEPS,
    inference_cost_usd,
    min_run_tokens,
    min_running_s,
)
from planner.search.problem import Problem
from planner.types.errors import InfeasibleError
from planner.types.formatting import fmt_count, fmt_hours, fmt_usd, round_up
from planner.types.results import Plan

REL = 1e-9


def _grid_for(table: CandidateTable, gpu: str, params: float):
    for grid in table.grids:
        if grid.gpu == gpu:
            for k, shape in enumerate(grid.shapes):
                if shape.params == params:
                    return grid, k
    return None, None


def binding_constraints(ctx: Problem, table: CandidateTable, plan: Plan, evaluation) -> tuple[list[str], list[str]]:
    """(binding constraint names, one explanatory sentence per binding constraint)."""
    binding, why = [], []
    wall_s = plan.wall_clock_hours * 3600.0
    if ctx.objective == "min_loss":
        if ctx.budget_usd is not None and plan.cost_usd >= ctx.budget_usd * (1 - 1e-6):
            binding.append("budget")
            why.append(f"budget: the run spends the whole {fmt_usd(ctx.budget_usd)}; more money buys more tokens")
        if ctx.deadline_s is not None and wall_s >= ctx.deadline_s * (1 - 1e-6):
            binding.append("deadline")
            default = "" if ctx.deadline_given else " (no deadline given: the default 90-day limit)"
            why.append(f"deadline: training runs the full {fmt_hours(plan.wall_clock_hours)} allowed{default}")
    else:
        _fixed_model_binding(ctx, table, plan, binding, why)
    grid, k = _grid_for(table, plan.gpu, plan.params)
    offer = next(o for o in ctx.offers if o.gpu.id == plan.gpu)
    if grid is not None:
        j = int(np.searchsorted(grid.counts, plan.gpus))
        j = min(j, len(grid.counts) - 1)
        larger = np.arange(len(grid.counts)) > j
        deadline_binds = "deadline" in binding
        if deadline_binds and plan.gpus >= grid.counts.max() and len(plan.allocation) == 1:
            binding.append("availability")
            why.append(f"availability: all {plan.gpus} {plan.gpu} GPUs available are used; more would finish more tokens "
                       "by the deadline")
        if deadline_binds and (larger & grid.any_layout[k] & ~grid.any_valid[k]).any():
            binding.append("batch_limit")
            why.append(f"batch limit: more data parallelism would push the global batch past "
                       f"{ctx.space.max_global_batch_tokens:.3g} tokens (max_global_batch_tokens)")
        if ctx.power_cap_kw is not None and deadline_binds and plan.gpus < grid.counts.max():
            next_kw = grid.counts[min(j + 1, len(grid.counts) - 1)] * offer.gpu.power_watts * ctx.pue / 1000
            if next_kw > ctx.power_cap_kw:
                binding.append("power")
                why.append(f"power: the next size up ({grid.counts[min(j + 1, len(grid.counts) - 1)]} GPUs, "
                           f"{next_kw:,.0f} kW) exceeds the {ctx.power_cap_kw:,.0f} kW cap")
        # memory forced a slower layout: the fastest strategy ignoring memory beats the fastest that fits
        slower = bool(evaluation.tokens_per_second.max() > evaluation.tokens_per_second[evaluation.fits].max() * (1 + REL))
        smaller_blocked = ((np.arange(len(grid.counts)) < j) & grid.any_valid[k] & (grid.tokens_per_second[k] == 0)).any()
        if slower or (smaller_blocked and ctx.objective != "min_loss"):
            binding.append("memory")
            why.append("memory: a faster layout (less recompute or sharding) does not fit in "
                       f"{plan.usable_memory_per_gpu_bytes / 1e9:.0f} GB per GPU" if slower else
                       "memory: fewer GPUs cannot hold the model")
    if ctx.objective == "min_loss" and len(plan.allocation) == 1:
        reason = _size_efficiency(ctx, plan, offer)
        if reason:
            binding.append("size_efficiency")
            why.append(reason)
    if ctx.unique_tokens is not None and plan.tokens > ctx.unique_tokens * (1 + REL):
        binding.append("data")
        why.append(f"data: {plan.tokens / ctx.unique_tokens:.1f} epochs over {fmt_count(ctx.unique_tokens)} "
                   f"unique tokens; repeated tokens count as {plan.effective_tokens / plan.tokens:.0%} of fresh ones")
    return binding, why


# A plan whose size is within this factor of the law's compute-optimal size sits on the law (the size
# lattice has 12 steps per decade, ×1.21 apart); beyond it the size choice is explained.
SIZE_OFF_LAW = 1.25
# Throughput differences below this share are the law's business, not the hardware's.
SLOWER_SHARE = 0.03


def _size_efficiency(ctx: Problem, plan: Plan, offer) -> str | None:
    """Why the plan's size is off the law's compute-optimal size at its FLOPs, when the hardware is why:
    that size's fastest layout on the same GPUs delivers fewer model FLOP/s per GPU (because memory
    forces more sharding or recompute, or because it simply runs slower). None when the plan is near
    the law's size or the law's size is not slower."""
    if plan.shape.experts or plan.compute_optimal_tokens_per_param <= 0:
        return None
    law_params = float(np.sqrt(plan.params * plan.tokens / plan.compute_optimal_tokens_per_param))
    if max(law_params / plan.params, plan.params / law_params) <= SIZE_OFF_LAW:
        return None
    counts = np.array([plan.gpus], dtype=np.int64)
    config = ctx.memory_config_for(offer)
    fitting = cached_variants_grid([ctx.shapes(plan.params), ctx.shapes(law_params)], offer.gpu, counts,
                                   ctx.space, config).tokens_per_second[:, 0]
    flops_per_gpu = 6.0 * np.array([plan.params, law_params]) * fitting / plan.gpus
    if not flops_per_gpu[0] > 0 or flops_per_gpu[1] >= flops_per_gpu[0] * (1 - SLOWER_SHARE):
        return None
    unbounded = offer.gpu.model_copy(update={"memory_bytes": offer.gpu.memory_bytes * 1e3})
    free = cached_variants_grid([ctx.shapes(law_params)], unbounded, counts, ctx.space, config).tokens_per_second[0, 0]
    cause = ("its fastest layout that fits in memory" if 6.0 * law_params * free / plan.gpus
             >= flops_per_gpu[0] * (1 - SLOWER_SHARE) else "its fastest layout")
    return (f"size efficiency: at the law's compute-optimal size ({fmt_count(law_params)} params) {cause} runs at "
            f"{flops_per_gpu[1] / 1e15:.2f} PFLOP/s per {plan.gpu} against {flops_per_gpu[0] / 1e15:.2f} for "
            f"{fmt_count(plan.params)}, so {'a smaller model on more' if law_params > plan.params else 'a larger model on fewer'}"
            f" tokens reaches the lower loss ({plan.tokens_per_param:.1f} tokens/param, the law's "
            f"{plan.compute_optimal_tokens_per_param:.1f})")


def _fixed_model_binding(ctx: Problem, table: CandidateTable, plan: Plan, binding: list, why: list) -> None:
    """min_cost: a constraint binds if a cheaper candidate breaks only it; min_time: a faster one."""
    tps = table.tokens_per_second
    live = tps > 0
    wall = np.divide(plan.tokens, tps, out=np.full(len(tps), np.inf), where=live)
    cost = table.fixed_cost_usd + table.cost_rate_usd_per_s * wall
    better = (cost < plan.cost_usd * (1 - 1e-6)) if plan.objective == "min_cost" else \
        (wall < plan.wall_clock_hours * 3600 * (1 - 1e-6))
    better &= live
    if ctx.deadline_s is not None and (better & (wall > ctx.deadline_s)).any():
        binding.append("deadline")
        why.append(f"deadline: cheaper configurations would take longer than {ctx.deadline_hours:,.0f} h")
    if ctx.budget_usd is not None and (better & (cost > ctx.budget_usd)).any():
        binding.append("budget")
        why.append(f"budget: faster configurations would cost more than {fmt_usd(ctx.budget_usd)}")
    if ctx.power_cap_kw is not None and (better & (table.power_kw > ctx.power_cap_kw)).any():
        binding.append("power")
        why.append(f"power: better configurations draw more than {ctx.power_cap_kw:,.0f} kW")
    if plan.objective == "min_time" and not binding:
        binding.append("availability")
        why.append("availability: the fastest plan uses the largest GPU count offered that helps")


def _fit_fix(ctx: Problem, params: float) -> str:
    """Smallest GPU count per offered type that holds the model, and the memory the largest count needs."""
    shapes = [ctx.shapes(params)]
    parts, memory_needed = [], []
    for offer in ctx.offers:
        counts = candidate_counts(offer.gpu, 1 << 20)
        grid = cached_variants_grid(shapes, offer.gpu, counts, ctx.space, ctx.memory_config)
        fitting = counts[grid.tokens_per_second[0] > 0]
        if len(fitting):
            parts.append(f"≥ {int(fitting[0])} × {offer.gpu.id}")
        offered = candidate_counts(offer.gpu, offer.max_count)
        if len(offered):
            largest = cached_variants_grid(shapes, offer.gpu, offered[-1:], ctx.space, ctx.memory_config)
            need = float(largest.min_memory_bytes[0, 0]) / (1 - ctx.memory_config.fragmentation_fraction)
            if np.isfinite(need):
                memory_needed.append(need)
    fix = "needs " + " or ".join(parts[:3]) if parts else "no GPU count in reach holds it"
    if memory_needed:
        fix += f", or a GPU with ≥ {min(memory_needed) / 2**30:.0f} GB"
    return fix


def explain_infeasible(ctx: Problem, table: CandidateTable, tokens: float | None = None, wall=None,
                       cost=None) -> InfeasibleError:
    live = table.tokens_per_second > 0
    offered = ", ".join(f"{o.max_count} × {o.gpu.id}" for o in ctx.offers if o.max_count > 0)
    if not live.any():
        params = float(ctx.params if ctx.params is not None else (table.params.min() if len(table) else 1e6))
        any_layout = any(g.any_layout.any() for g in table.grids)
        any_valid = any(g.any_valid.any() for g in table.grids)
        if any_layout and not any_valid:
            return InfeasibleError(
                f"every layout of the available GPUs needs a global batch above max_global_batch_tokens "
                f"({ctx.space.max_global_batch_tokens:.3g})", "batch_limit",
                fix="raise max_global_batch_tokens or use fewer GPUs")
        return InfeasibleError(
            f"a {fmt_count(params)}-parameter model does not fit on {offered} even with ZeRO-3 and full "
            f"recompute", "memory", fix=_fit_fix(ctx, params))
    unrentable = _unrentable(ctx, table, live)
    if unrentable is not None:
        return unrentable
    power_ok = np.ones(len(table), bool) if ctx.power_cap_kw is None else table.power_kw <= ctx.power_cap_kw
    if not (live & power_ok).any():
        need = float(table.power_kw[live].min())
        return InfeasibleError(f"every configuration that fits draws more than the {ctx.power_cap_kw:,.0f} kW cap",
                               "power", fix=f"raise power_cap_kw to ≥ {need:,.1f}")
    usable = live & power_ok
    if tokens is not None:
        if ctx.deadline_s is not None and not (usable & (wall <= ctx.deadline_s)).any():
            fastest = float(wall[usable].min())
            startup = ctx.reliability.startup_time_s
            need_h = round_up((fastest + startup) / 3600, 3)
            more = (f", or about {fastest / ctx.deadline_s:.1f}× more GPUs" if ctx.deadline_s > 0 else "")
            return InfeasibleError(
                f"{fmt_count(tokens)} tokens on {fmt_count(ctx.params)} params cannot finish within "
                f"{ctx.deadline_hours:,.4g} h on {offered}: the fastest option takes {fmt_hours(fastest / 3600)} "
                f"(expected, with failures and checkpoints) plus {startup / 60:,.0f} min start-up",
                "deadline", fix=f"deadline ≥ {need_h:g} h{more}")
        in_time = usable if ctx.deadline_s is None else usable & (wall <= ctx.deadline_s)
        cheapest = float(cost[in_time].min())
        if ctx.budget_usd is None or cheapest <= ctx.budget_usd:      # only the provider's longest reservation left
            longest = max((o.terms.max_rental_hours or 0.0) for o in ctx.offers if o.terms is not None) \
                if ctx.billed else 0.0
            return InfeasibleError(
                f"{ctx.offers[0].provider} reserves at most {longest:,.0f} h and no rentable GPU count trains "
                f"{fmt_count(tokens)} tokens on {fmt_count(ctx.params)} params in that time", "availability",
                fix="allow more GPUs, or drop --provider")
        return InfeasibleError(
            f"the cheapest way to train {fmt_count(ctx.params)} params on {fmt_count(tokens)} tokens"
            f"{' in time' if ctx.deadline_s else ''} costs {fmt_usd(cheapest)}, over the {fmt_usd(ctx.budget_usd)} budget",
            "budget", fix=f"budget ≥ {fmt_usd(round_up(cheapest))}")
    short = _too_short(ctx, table, usable)
    if short is not None:
        return short
    cheapest_fixed = float(table.fixed_cost_usd[usable].min())
    return InfeasibleError(
        f"the budget {fmt_usd(ctx.budget_usd or 0)} does not cover the cheapest allowed purchase "
        f"({fmt_usd(cheapest_fixed)})", "budget", fix=f"budget > {fmt_usd(cheapest_fixed)}, or rent instead of buying")


def _unrentable(ctx: Problem, table: CandidateTable, live: np.ndarray) -> InfeasibleError | None:
    """No GPU count that fits is one the provider rents (minimum, whole-node steps, maximum)."""
    if not ctx.billed:
        return None
    rentable = np.ones(len(table), dtype=bool)
    for t, offer in enumerate(ctx.offers):
        rows = table.type_index == t
        rentable[rows] = rentable_mask(table.gpus[rows], offer.terms)
    if (live & rentable).any():
        return None
    parts = []
    for offer in ctx.offers:
        if offer.terms is not None:
            t = offer.terms
            parts.append(f"{offer.gpu.id} in counts of ≥ {t.min_rental_gpus or 1} in steps of {t.rental_gpu_step or 1}"
                         + (f" up to {t.max_rental_gpus}" if t.max_rental_gpus else ""))
    need = max((o.terms.min_rental_gpus or 1) for o in ctx.offers if o.terms is not None)
    return InfeasibleError(f"{ctx.offers[0].provider} rents {'; '.join(parts)}: no such count is available and "
                           f"holds the model", "availability",
                           fix=f"allow at least {need} GPUs, or drop --provider")


def _too_short(ctx: Problem, table: CandidateTable, usable: np.ndarray) -> InfeasibleError | None:
    """The money or time buys fewer than MIN_OPTIMIZER_STEPS steps, or a run shorter than start-up plus
    its first checkpoint, or one that cannot fill its rental block: say how much more is needed."""
    need_tokens = min_run_tokens(ctx)
    need_s = np.maximum(need_tokens / table.tokens_per_second[usable], min_running_s(ctx, table)[usable])
    need_usd = (table.fixed_cost_usd[usable] + table.cost_rate_usd_per_s[usable] * need_s
                + inference_cost_usd(ctx, table)[usable])
    steps = (f"a sensible run ({MIN_OPTIMIZER_STEPS} optimizer steps of {fmt_count(need_tokens)} tokens, "
             f"start-up plus a first checkpoint, and a full {ctx.min_rental_hours:g} h block for multi-node rentals)")
    if ctx.budget_usd is not None and need_usd.min() > ctx.budget_usd:
        return InfeasibleError(f"{fmt_usd(ctx.budget_usd)} buys fewer than {steps} on any GPU offered",
                               "budget", fix=f"budget ≥ {fmt_usd(round_up(float(need_usd.min()), 2))}")
    if need_s.min() > ctx.deadline_s:
        need_h = (float(need_s.min()) + ctx.reliability.startup_time_s) / 3600
        return InfeasibleError(f"{ctx.deadline_hours:.4g} h is too short for {steps} on the GPUs offered",
                               "deadline", fix=f"deadline ≥ {round_up(need_h, 2):g} h ({fmt_hours(need_h)})")
    return None
