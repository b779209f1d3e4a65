"""Turn the solver's choice (size, GPU allocation) into a full Plan with its reasons and runner-ups.

Times and dollars are recomputed here exactly from the chosen candidates (not read back from the
LP, whose values carry solver tolerances): wall-clock from the binding budget or deadline (or from
the token count), cost = capex + rate × wall-clock + inference, so cost = rate × time holds exactly.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from planner.costmodel.evaluate import evaluate
from planner.costmodel.strategy import effective_precisions, enumerate_strategies
from planner.economics.carbon import co2_kg
from planner.economics.costing import EnergyConfig
from planner.economics.rental import billed_seconds, longest_use_within
from planner.economics.run_estimate import build_estimate
from planner.search.candidates import CandidateTable, _gpu_key
from planner.search.explain import binding_constraints
from planner.search.ilp import Allocation
from planner.search.outcomes import inference_cost_usd, predicted_loss
from planner.search.problem import Problem
from planner.types.results import Alternative, Plan
from scaling_laws import compute_optimal, effective_tokens


# A plan billed for more than this multiple of its used time does not amortise its rental block: say so.
AMORTISED = 1.25


_EVALUATIONS: dict = {}
EVALUATION_CACHE_SIZE = 512


def _evaluation(ctx: Problem, offer, params: float, gpus: int):
    """The evaluated strategies of the fastest of the size's candidate shapes (as the grid chose it),
    memoised by content: the frontier builds many plans on the same GPUs and model."""
    space = replace(ctx.space, precisions=effective_precisions(offer.gpu, ctx.precisions))
    clean = replace(ctx.memory_config, reliability=None)     # build_estimate applies the goodput itself
    best = None
    for shape in ctx.shapes(params):
        key = (_gpu_key(offer.gpu), shape, int(gpus), space, clean)
        evaluation = _EVALUATIONS.get(key)
        if evaluation is None:
            evaluation = evaluate(shape, offer.gpu, enumerate_strategies(shape, offer.gpu, gpus, space), clean)
            if len(_EVALUATIONS) >= EVALUATION_CACHE_SIZE:
                _EVALUATIONS.pop(next(iter(_EVALUATIONS)))
            _EVALUATIONS[key] = evaluation
        i = evaluation.fastest_fitting()
        speed = -1.0 if i is None else float(evaluation.tokens_per_second[i])
        if best is None or speed > best[0]:
            best = (speed, shape, evaluation)
    return best[1], best[2]


def _run_length(ctx: Problem, sub: CandidateTable, chosen: list[int], tokens: float | None):
    """(wall_s, tokens, cost_usd, inference_usd) of the chosen candidates running together."""
    tps = float(sub.tokens_per_second[chosen].sum())
    fixed = float(sub.fixed_cost_usd[chosen].sum())
    rate = float(sub.cost_rate_usd_per_s[chosen].sum())
    inference = float(inference_cost_usd(ctx, sub.take(chosen)).max(initial=0.0))
    terms = ctx.offers[int(sub.type_index[chosen[0]])].terms if len(chosen) == 1 else None
    if tokens is None:
        walls = [ctx.deadline_s] if ctx.deadline_s is not None else []
        if ctx.budget_usd is not None and rate > 0:
            walls.append(float(longest_use_within((ctx.budget_usd - fixed - inference) / (rate * ctx.time_margin),
                                                  terms)))
        wall = min(walls)
        tokens = tps * wall
    else:
        wall = tokens / tps
    return wall, tokens, fixed + rate * float(billed_seconds(wall, terms)) + inference, inference


def build_plan(ctx: Problem, table: CandidateTable, sub: CandidateTable, allocation: Allocation, params: float,
               *, ok: np.ndarray, tokens_all: np.ndarray, cost_all: np.ndarray, tokens: float | None = None) -> Plan:
    """The Plan of ``allocation``; ``tokens`` fixes the token count (else min_loss trains as long as allowed)."""
    chosen = sorted(allocation.chosen, key=lambda i: -sub.tokens_per_second[i])
    if tokens is None and ctx.objective != "min_loss":
        tokens = allocation.tokens
    wall, tokens, cost, inference = _run_length(ctx, sub, chosen, tokens)
    main = chosen[0]
    offer = ctx.offers[int(sub.type_index[main])]
    gpus = int(sub.gpus[main])
    shape, evaluation = _evaluation(ctx, offer, params, gpus)
    best = evaluation.fastest_fitting()
    estimate = build_estimate(tokens, shape, offer.gpu, gpus, evaluation, best, offer.price_usd_per_gpu_hour, "search",
                              reliability=ctx.reliability_for(offer), region=ctx.region, grid_gco2_per_kwh=ctx.grid_gco2_per_kwh)
    running = wall          # expected running time (the one-off start-up is reported beside it)
    # the chosen candidates' speeds are expected ones (ideal / slowdown); the clean run of the main group:
    main_running = estimate.wall_clock_hours * 3600.0
    ideal_s = running * (estimate.ideal_wall_clock_hours * 3600.0 / main_running if main_running > 0 else 1.0)
    total_gpus = int(sub.gpus[chosen].sum())
    total_tps = float(sub.tokens_per_second[chosen].sum())
    energy = sum(float(ctx.offers[int(sub.type_index[i])].gpu.power_watts) * int(sub.gpus[i]) for i in chosen)

    energy_config = EnergyConfig(pue=ctx.pue)
    loss = float(predicted_loss(ctx, params, tokens))
    n_opt, d_opt = compute_optimal(ctx.law, 6.0 * params * tokens)
    rate = float(sub.cost_rate_usd_per_s[chosen].sum())
    fixed = float(sub.fixed_cost_usd[chosen].sum())
    energy_kwh = energy * energy_config.power_utilisation * energy_config.pue * wall / 3.6e6
    data = estimate.model_dump()
    data.update(
        tokens=tokens, gpus=total_gpus if len(chosen) > 1 else gpus,
        tokens_per_second=total_tps * running / ideal_s if len(chosen) > 1 and ideal_s > 0 else estimate.tokens_per_second,
        wall_clock_hours=wall / 3600.0, gpu_hours=total_gpus * wall / 3600.0, cost_usd=cost,
        energy_kwh=energy_kwh, co2_kg=co2_kg(energy_kwh, estimate.grid_gco2_per_kwh),
        ideal_wall_clock_hours=ideal_s / 3600.0, goodput=ideal_s / wall if wall > 0 else 1.0,
        model_flops=estimate.model_flops / estimate.tokens * tokens if estimate.tokens else estimate.model_flops,
        objective=ctx.objective, loss=loss, law=getattr(ctx.law, "name", "custom"),
        tokens_per_param=tokens / params,
        compute_optimal_tokens_per_param=float(np.asarray(d_opt) / np.asarray(n_opt)),
        effective_tokens=float(np.asarray(effective_tokens(tokens, ctx.unique_tokens)))
        if ctx.unique_tokens else tokens,
        gpu_mode=offer.mode, capex_usd=fixed, electricity_usd=0.0 if offer.mode == "rent" else rate * wall,
        power_kw=float(sub.power_kw[chosen].sum()), budget_usd=ctx.budget_usd,
        deadline_hours=ctx.deadline_hours, inference_cost_usd=inference if ctx.inference_tokens else None,
        allocation={str(sub.gpu[i]): int(sub.gpus[i]) for i in chosen},
    )
    if offer.terms is not None and len(chosen) == 1:
        billed_h = float(billed_seconds(wall, offer.terms)) / 3600.0
        data.update(provider=offer.provider, billed_hours=billed_h, billed_gpus=gpus,
                    price_usd_per_gpu_hour=offer.price_usd_per_gpu_hour)
        if billed_h > wall / 3600.0 * AMORTISED:
            data["notes"] = data["notes"] + [
                f"rental block not amortised: {data['provider']} bills {billed_h:,.1f} h for a {wall / 3600:,.1f} h "
                f"run; a deadline of at least {billed_h:,.0f} h would use the whole block"]
    if len(chosen) > 1:
        data["notes"] = data["notes"] + [
            "mixed allocation: data-parallel groups of different GPU types share each global batch in "
            "proportion to their throughput; strategy and memory shown for the largest group"]
    plan = Plan.model_validate(data)
    binding, explanation = binding_constraints(ctx, table, plan, evaluation)
    alternatives = _alternatives(ctx, table, plan, ok, tokens_all, cost_all, evaluation, best, params)
    return plan.model_copy(update={"binding_constraints": binding, "explanation": explanation,
                                   "alternatives": alternatives})


def _total_params(ctx: Problem, params: float) -> float:
    """What an alternative reports as its parameters: a sparse size's TOTAL (as ``Plan.params``)."""
    return float(ctx.shapes(params)[0].params) if ctx.moe is not None else params


def _alternatives(ctx, table, plan: Plan, ok, tokens_all, cost_all, evaluation, best, params: float) -> list[Alternative]:
    """Runner-ups, each scored like the plan: the law reads ``params``, the searched size (for a MoE
    plan the ACTIVE parameters; ``plan.params`` is its total), never the plan's total."""
    out = []
    other = ok & (table.gpu != plan.gpu)
    if other.any():
        loss = np.where(other, predicted_loss(ctx, table.params, np.maximum(tokens_all, 1.0)), np.inf)
        wall = np.divide(tokens_all, table.tokens_per_second, out=np.full(len(table), np.inf), where=other)
        cost = np.where(other, cost_all, np.inf)
        keys = {"min_loss": (loss, cost), "min_cost": (cost, wall), "min_time": (wall, cost)}[plan.objective]
        i = int(np.lexsort(tuple(reversed(keys)))[0])
        out.append(Alternative(
            kind="gpu_type", description=f"best evaluated plan on {table.gpu[i]} instead of {plan.gpu}"
            + (" (a near-tie: within the loss tolerance, the plan was preferred; see near_tie)"
               if float(loss[i]) < plan.loss else ""),
            gpu=str(table.gpu[i]), gpus=int(table.gpus[i]), params=_total_params(ctx, float(table.params[i])), tokens=float(tokens_all[i]),
            loss=float(loss[i]), cost_usd=float(cost_all[i]), wall_clock_hours=float(wall[i]) / 3600.0,
            tokens_per_second=float(table.tokens_per_second[i]), loss_delta=float(loss[i]) - plan.loss,
            throughput_ratio=float(table.tokens_per_second[i]) / (plan.tokens_per_second / max(len(plan.allocation), 1))))
    s = evaluation.strategies
    layout = np.stack([s.tp, s.pp, s.zero, s.recompute_idx, s.precision_idx])
    differs = (layout != layout[:, [best]]).any(axis=0) & evaluation.fits
    if differs.any():
        j = int(np.argmax(np.where(differs, evaluation.tokens_per_second, -1.0)))
        ratio = float(evaluation.tokens_per_second[j] / evaluation.tokens_per_second[best])
        tokens = plan.tokens * ratio if plan.objective == "min_loss" else plan.tokens
        wall_h = plan.wall_clock_hours if plan.objective == "min_loss" else plan.wall_clock_hours / ratio
        cost = plan.cost_usd if plan.objective == "min_loss" else plan.capex_usd + (plan.cost_usd - plan.capex_usd) / ratio
        strategy = s.at(j)
        loss = float(predicted_loss(ctx, params, tokens))
        out.append(Alternative(
            kind="strategy", description=(f"next best layout on the same GPUs: {strategy.degrees()} "
                                          f"ZeRO-{strategy.zero} {strategy.precision} recompute={strategy.recompute} "
                                          f"micro-batch={strategy.micro_batch}"),
            gpu=plan.gpu, gpus=plan.gpus, params=plan.params, tokens=tokens,
            loss=loss, cost_usd=cost, wall_clock_hours=wall_h,
            tokens_per_second=float(evaluation.tokens_per_second[j]), loss_delta=loss - plan.loss,
            throughput_ratio=ratio))
    return out
