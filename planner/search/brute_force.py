"""Reference solvers: plain enumeration of the solver's discrete space, for tests and benchmarks.

``brute_force``: every lattice size × GPU type × count × strategy is evaluated one candidate at a time
through the single-run path (``enumerate_strategies`` + ``evaluate``, as ``planner estimate`` uses), with
no branch and bound and no ILP; for min_loss the fine sizes (96 per decade) within one lattice step of
the lattice optimum are then enumerated the same way, as the solver's refinement searches them.

``brute_force_mixed``: the ``--allow-mixed`` space by enumeration: at every lattice size every
combination of (none or one count) per GPU type, each group running the same wall-clock as long as
money and time allow (no ILP, no bounds); then the fine window around the lattice optimum.
Throughputs come from the candidate table (the grid is checked against ``evaluate`` by ``brute_force``).

Slow by design; the solver must give the same objective value.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from catalogs.loader import Catalog
from planner.search.candidates import build_table, fine_window, offer_table, search_counts
from planner.search.problem import make_problem
from planner.costmodel.evaluate import evaluate
from planner.search.outcomes import inference_cost_usd, max_token_runs, min_run_tokens, predicted_loss
from planner.types.requests import SolveRequest
from planner.search.branch_and_bound import size_range
from planner.costmodel.strategy import effective_precisions, enumerate_strategies


@dataclass(frozen=True)
class Reference:
    objective_value: float     # loss (min_loss), dollars (min_cost) or seconds (min_time)
    params: float
    gpu: str
    gpus: int
    allocation: tuple = ()     # ((gpu, count), ...) for mixed fleets
    lattice_value: float | None = None   # min_loss: the optimum over the lattice alone (before refinement)


def brute_force(request: SolveRequest, catalog: Catalog | None = None, refine: bool = True) -> Reference | None:
    """Best candidate by exhaustive enumeration (single GPU type per job), or None if none is feasible.
    ``refine``: for min_loss also enumerate the fine window around the lattice optimum."""
    ctx = make_problem(request, catalog)
    fixed_size = request.objective != "min_loss" or request.params is not None
    sizes = size_range(ctx) if request.objective == "min_loss" else np.array([request.params])
    if not refine:
        ctx = replace(ctx, refine=False)
    best = _enumerate(ctx, request, sizes, None)
    if best is None:
        return None
    lattice_value = best[0]
    if refine and not fixed_size:
        best = _enumerate(ctx, request, fine_window(best[3].params), best)
    return replace(best[3], lattice_value=lattice_value)


def _enumerate(ctx, request, sizes, best):
    for t, offer in enumerate(ctx.offers):
        space = replace(ctx.space, precisions=effective_precisions(offer.gpu, request.precisions))
        for params in sizes:
            for gpus in search_counts(offer, ctx.refine):
                speed = 0.0
                for shape in ctx.shapes(float(params)):
                    arrays = enumerate_strategies(shape, offer.gpu, int(gpus), space)
                    if len(arrays):
                        evaluation = evaluate(shape, offer.gpu, arrays, ctx.memory_config_for(offer))
                        i = evaluation.fastest_fitting()
                        speed = max(speed, 0.0 if i is None else float(evaluation.tokens_per_second[i]))
                found = _objective(ctx, t, offer, float(params), int(gpus), speed)
                if found is not None:
                    key = (found[0], found[1], int(gpus))
                    if best is None or key < best[:3]:
                        best = key + (Reference(found[0], float(params), offer.gpu.id, int(gpus)),)
    return best


def _objective(ctx, t, offer, params: float, gpus: int, speed: float) -> tuple[float, float] | None:
    """(objective value, tie-break) of one candidate, or None if infeasible."""
    one = offer_table(ctx, t, [params], [gpus], speed)
    fixed, rate = one.fixed_cost_usd, one.cost_rate_usd_per_s
    if ctx.objective == "min_loss":
        ok, _, tokens, cost = max_token_runs(ctx, one)
        return (float(predicted_loss(ctx, params, tokens[0])), float(cost[0])) if ok[0] else None
    if speed <= 0:
        return None
    wall = ctx.tokens / speed
    cost = float(fixed[0] + rate[0] * wall)
    if wall > ctx.deadline_s or (ctx.budget_usd is not None and cost > ctx.budget_usd):
        return None
    if ctx.power_cap_kw is not None and one.power_kw[0] > ctx.power_cap_kw:
        return None
    return (cost, wall) if ctx.objective == "min_cost" else (wall, cost)


def brute_force_mixed(request: SolveRequest, catalog: Catalog | None = None, refine: bool = True) -> Reference | None:
    """Best min_loss fleet (any mixture of GPU types, one count per type) by enumeration, or None."""
    ctx = make_problem(request.model_copy(update={"allow_mixed": True}), catalog)
    if not refine:
        ctx = replace(ctx, refine=False)
    best, single = _enumerate_mixed(ctx, size_range(ctx), None)
    if best is not None and refine and ctx.params is None:
        # the fine windows around the mixed and the single-type lattice optimum, as the solver refines
        window = np.unique(np.concatenate([fine_window(best.params), fine_window(single[3])]))
        best, _ = _enumerate_mixed(ctx, window, best)
    return best


def _enumerate_mixed(ctx, sizes, best: Reference | None):
    """(best fleet, best single-type key (loss, cost, gpus, params)) over ``sizes``."""
    single = None
    for params in sizes:
        table = build_table(ctx, [float(params)])
        ok = max_token_runs(ctx, table)[0]          # a group must be able to run on its own
        inference = inference_cost_usd(ctx, table)
        # option 0 of each type is "not used"; the others are its individually feasible counts
        options = [np.concatenate([[-1], np.nonzero(ok & (table.type_index == t))[0]]) for t in range(len(ctx.offers))]
        combos = np.array(np.meshgrid(*options, indexing="ij")).reshape(len(options), -1)   # (types, combos)
        used = combos >= 0
        pick = lambda a: np.where(used, np.asarray(a, dtype=float)[np.maximum(combos, 0)], 0.0).sum(axis=0)
        tps, fixed, rate, kw = (pick(a) for a in (table.tokens_per_second, table.fixed_cost_usd,
                                                  table.cost_rate_usd_per_s, table.power_kw))
        served = np.where(used, inference[np.maximum(combos, 0)], -np.inf).max(axis=0)
        wall = np.full(tps.shape, ctx.deadline_s)
        feasible = used.any(axis=0)
        if ctx.budget_usd is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                wall = np.where(rate > 0, np.minimum(wall, (ctx.budget_usd - fixed - served) / rate), wall)
            feasible &= fixed + served <= ctx.budget_usd
        if ctx.power_cap_kw is not None:
            feasible &= kw <= ctx.power_cap_kw
        tokens = tps * wall
        feasible &= (wall > 0) & (tokens >= min_run_tokens(ctx))
        if not feasible.any():
            continue
        loss = np.where(feasible, predicted_loss(ctx, float(params), np.where(feasible, tokens, 1.0)), np.inf)
        one = feasible & (used.sum(axis=0) == 1)
        if one.any():
            gpus = pick(table.gpus)
            k = np.nonzero(one)[0]
            k = k[np.lexsort((gpus[k], (fixed + rate * wall + np.maximum(served, 0.0))[k], loss[k]))[0]]
            key = (float(loss[k]), float(fixed[k] + rate[k] * wall[k] + max(served[k], 0.0)), int(gpus[k]), float(params))
            if single is None or key[:3] < single[:3]:
                single = key
        j = int(np.argmin(loss))
        if best is None or loss[j] < best.objective_value:
            rows = [int(i) for i in combos[:, j] if i >= 0]
            main = max(rows, key=lambda i: table.tokens_per_second[i])
            best = Reference(float(loss[j]), float(params), str(table.gpu[main]), int(table.gpus[rows].sum()),
                             tuple((str(table.gpu[i]), int(table.gpus[i])) for i in rows))
    return best, single
