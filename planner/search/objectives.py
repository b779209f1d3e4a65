"""The objective registry: one function per objective, each returning the Plan it finds.

Like ``scipy.optimize.minimize`` dispatching on ``method=``: ``OBJECTIVES[name](problem)``.
  min_loss  the best model for money and/or time: branch and bound over sizes, then the allocation
            ILP (which may mix GPU types) at the winning size;
  min_cost  the cheapest way to train a fixed model (tokens given, or the tokens a target loss needs);
  min_time  the fastest way to train a fixed model.
The same names reach the allocation ILP (``planner.search.ilp``): min_loss maximises the tokens a
fixed-size model trains. A function raises ``InfeasibleError`` (internal: ``solve`` turns it into
an infeasible result) naming the binding constraint.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from planner.search import near_ties
from planner.search.branch_and_bound import add_runner_up_type, min_loss_search
from planner.search.candidates import CandidateTable, build_table
from planner.search.explain import explain_infeasible
from planner.search.ilp import Candidates, solve_allocation
from planner.economics.rental import rentable_mask
from planner.search.outcomes import billed_s, inference_cost_usd, max_token_runs, predicted_loss
from planner.search.plan_builder import build_plan
from planner.search.problem import Problem
from planner.types.errors import InfeasibleError
from planner.types.results import NearTie, Plan
from scaling_laws import compute_optimal, tokens_for_loss

def _best_index(order_keys: list[np.ndarray], ok: np.ndarray) -> int | None:
    """Index minimising the keys lexicographically among ``ok`` entries (first key most important)."""
    if not ok.any():
        return None
    candidates = np.nonzero(ok)[0]
    order = np.lexsort(tuple(k[candidates] for k in reversed(order_keys)))
    return int(candidates[order[0]])


def _allocate(ctx: Problem, table: CandidateTable, index: np.ndarray, objective: str, tokens=None):
    sub = table.take(index)
    # Each candidate's own serving cost (issue #18: not the dearest type's taken off every candidate's
    # budget, which made adding a GPU type or more budget give a worse plan).
    # With a confidence the time-proportional cost counts at that probability (× time_margin), as in
    # outcomes.run_seconds: the budget must hold at the confidence, not only at the point prediction.
    candidates = Candidates(sub.type_index, sub.gpus, sub.tokens_per_second, sub.fixed_cost_usd,
                            sub.cost_rate_usd_per_s * ctx.time_margin, sub.power_kw, inference_cost_usd(ctx, sub))
    allocation = solve_allocation(candidates, objective=objective, budget_usd=ctx.budget_usd, deadline_s=ctx.deadline_s,
                                  power_cap_kw=ctx.power_cap_kw, tokens=tokens,
                                  allow_mixed=ctx.allow_mixed)
    return sub, allocation


def min_loss(ctx: Problem, search=None) -> Plan:
    """The lowest predicted loss within budget, deadline and power cap (``search``: candidates already
    searched, e.g. by ``planner.search.joint_search``; else ``min_loss_search``)."""
    search = search or min_loss_search(ctx)
    table = search.table
    ok, wall, tokens, cost = max_token_runs(ctx, table)
    if not ok.any():
        raise explain_infeasible(ctx, table)
    if ctx.allow_mixed and search.winner is not None:
        winner = search.winner
        main = int(winner.rows[winner.allocation.chosen[0]])
        n_rows = len(table)
        table = add_runner_up_type(ctx, table, winner.params, str(table.gpu[main]), search.type_bounds_at(winner.params))
        if len(table) > n_rows:
            ok, _, tokens, cost = max_token_runs(ctx, table)
        return build_plan(ctx, table, table.take(winner.rows), winner.allocation, winner.params, ok=ok,
                          tokens_all=tokens, cost_all=cost)
    loss = np.where(ok, predicted_loss(ctx, table.params, np.where(ok, tokens, 1.0)), np.inf)
    best = _best_index([loss, cost, table.gpus.astype(float)], ok)
    tie = near_ties.decide(loss, cost, wall, table.gpus, ok, best, ctx.loss_tolerance,
                           off_ratio=lambda rows: _off_ratio(ctx, table.params[rows], tokens[rows]))
    params = float(table.params[tie.chosen])
    n_rows = len(table)
    table = add_runner_up_type(ctx, table, params, str(table.gpu[tie.chosen]), search.type_bounds_at(params))
    if len(table) > n_rows:
        ok, _, tokens, cost = max_token_runs(ctx, table)
    # tolerance 0: the allocation ILP over every GPU type at the optimal size (as before near-ties);
    # otherwise the candidate the secondary order chose
    # (the ILP prices used time; on provider terms the table's billed figures decide: the chosen row)
    strict = ctx.loss_tolerance <= 0 and not ctx.billed
    rows = np.nonzero((table.params == params) & ok)[0] if strict else np.array([tie.chosen])
    sub, allocation = _allocate(ctx, table, rows, "min_loss")
    plan = build_plan(ctx, table, sub, allocation, params, ok=ok, tokens_all=tokens, cost_all=cost)
    return _with_tie(ctx, plan, table, tie, loss, tokens, cost, wall)


def _off_ratio(ctx: Problem, params: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """|log(tokens/param ÷ the law's compute-optimal tokens/param at the same FLOPs)| per candidate."""
    n_opt, d_opt = compute_optimal(ctx.law, 6.0 * params * tokens)
    return np.abs(np.log((tokens / params) / (np.asarray(d_opt) / np.asarray(n_opt))))


def _with_tie(ctx: Problem, plan: Plan, table: CandidateTable, tie, loss, tokens, cost, wall) -> Plan:
    """Record the tolerance, and the strictly-best plan when a near-tie was taken instead."""
    update = {"loss_tolerance": ctx.loss_tolerance}
    b = tie.best
    if tie.chosen != b and float(loss[b]) < plan.loss:
        update["near_tie"] = NearTie(
            loss_tolerance=ctx.loss_tolerance, best_loss=float(loss[b]), best_params=float(table.params[b]),
            best_tokens=float(tokens[b]), best_gpu=str(table.gpu[b]), best_gpus=int(table.gpus[b]),
            best_cost_usd=float(cost[b]), best_wall_clock_hours=float(wall[b]) / 3600.0, reason=tie.reason)
        update["explanation"] = plan.explanation + [near_ties.describe(
            plan.loss, ctx.loss_tolerance, float(loss[b]), float(table.params[b]), int(table.gpus[b]),
            str(table.gpu[b]), tie.reason)]
    return plan.model_copy(update=update)


def _tokens_for_request(ctx: Problem) -> float:
    if ctx.tokens is not None:
        return float(ctx.tokens)
    tokens = float(np.asarray(tokens_for_loss(ctx.law, ctx.params, ctx.target_loss)))
    if not np.isfinite(tokens):
        floor = float(np.asarray(ctx.law.loss(ctx.params, 1e30)))
        raise InfeasibleError(f"target_loss {ctx.target_loss} is below what {ctx.params:.3g} parameters "
                              f"can reach under the law (floor {floor:.4f})", "data",
                              fix=f"raise target_loss above {floor:.4f} or train a larger model", field="target_loss")
    return tokens


def _fixed_model(ctx: Problem) -> Plan:
    tokens = _tokens_for_request(ctx)
    table = build_table(ctx, [ctx.params])
    tps = table.tokens_per_second
    wall = np.divide(tokens, tps, out=np.full(len(tps), np.inf), where=tps > 0)
    cost = table.fixed_cost_usd + table.cost_rate_usd_per_s * billed_s(ctx, table, wall) + inference_cost_usd(ctx, table)
    ok = tps > 0
    if ctx.deadline_s is not None:
        ok &= wall <= ctx.deadline_s
    if ctx.budget_usd is not None:
        ok &= cost <= ctx.budget_usd
    if ctx.power_cap_kw is not None:
        ok &= table.power_kw <= ctx.power_cap_kw
    if ctx.billed:
        for t, offer in enumerate(ctx.offers):
            rows = table.type_index == t
            ok[rows] &= rentable_mask(table.gpus[rows], offer.terms)
            if offer.terms is not None and offer.terms.max_rental_hours:
                ok[rows] &= wall[rows] <= offer.terms.max_rental_hours * 3600.0
    if not ok.any():
        raise explain_infeasible(ctx, table, tokens=tokens, wall=wall, cost=cost)
    rows = np.nonzero(ok)[0]
    if ctx.billed:      # the ILP prices used time: on provider terms pick by billed cost (then time) directly
        keys = [cost, wall] if ctx.objective == "min_cost" else [wall, cost]
        rows = np.array([_best_index(keys, ok)])
    sub, allocation = _allocate(ctx, table, rows, ctx.objective, tokens=tokens)
    return build_plan(ctx, table, sub, allocation, float(ctx.params), ok=ok, tokens_all=np.where(ok, tokens, 0.0), cost_all=cost)


def min_cost(ctx: Problem) -> Plan:
    """The cheapest way to train the fixed model that meets the deadline and power cap."""
    return _fixed_model(ctx)


def min_time(ctx: Problem) -> Plan:
    """The fastest way to train the fixed model within the budget and power cap."""
    return _fixed_model(ctx)


OBJECTIVES: dict[str, Callable[[Problem], Plan]] = {"min_loss": min_loss, "min_cost": min_cost, "min_time": min_time}
