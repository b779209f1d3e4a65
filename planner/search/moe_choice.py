"""``--allow-moe``: choose between a dense model and the sparse variants of the MoE lattice (issue #16).

Each arm is the ordinary min_loss search over the same offers, budget, deadline and constraints:
the dense arm over dense shapes, each sparse arm (planner.costmodel.moe.MOE_LATTICE) over the same
family's shapes with every MLP made a mixture of experts, sizes counted as ACTIVE parameters, memory
holding all experts (sharded by expert parallelism, searched) and the all-to-all in the step time.
All arms are scored by ONE law, the joint dense/MoE law of Ludziejewski et al. 2025
(scaling_laws/moe.py): its E = 1 slice for dense, its E = experts/top_k slice for each sparse arm,
so losses compare. The plan is the arm with the lowest predicted loss; a sparse arm wins only when
its loss is strictly lower than the dense arm's (ties go to dense, which is tried first). The plan
says which arm won, by how much, and what the others would have given.

Fast path (``solve_allowing_moe``): ONE branch and bound over every arm (``planner.search.joint_search``,
shared incumbent, per GPU count) finds the optimum over the union of the arms' lattices, refined in
the fine window around it; then the same search over the arms of the other kind (dense if sparse won,
the sparse variants if dense won) gives "what the other would have given" exactly. The remaining
arms are reported by a lower bound on their loss (they could not beat the plan; not searched to their
own optimum). ``solve_allowing_moe_per_arm`` (five full ``min_loss`` solves) is the reference the
fast path is tested against; it also serves mixed fleets (``allow_mixed``) and fixed sizes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from planner.costmodel.moe import MOE_LATTICE, expert_parallel_choices
from planner.search.joint_search import Arm, best_arm, lower_bound, make_arm
from planner.search.objectives import OBJECTIVES, min_loss
from planner.search.outcomes import max_token_runs
from planner.search.problem import Problem
from planner.types.errors import InfeasibleError
from planner.types.formatting import fmt_count, fmt_usd
from planner.types.results import Alternative, Plan
from scaling_laws.laws import LUDZIEJEWSKI
from scaling_laws.moe import JOINT_MOE

DENSE = "dense"


def arms(problem: Problem) -> list[tuple[str, Problem]]:
    """(label, problem) of the dense arm and of every sparse variant, dense first."""
    out = [(DENSE, replace(problem, law=LUDZIEJEWSKI, moe=None))]
    for variant in MOE_LATTICE:
        space = replace(problem.space, ep=expert_parallel_choices(variant.experts))
        out.append((variant.label, replace(problem, law=JOINT_MOE.at(variant.expansion), moe=variant, space=space)))
    return out


def _summary(label: str, plan: Plan) -> str:
    return (f"{label}: loss {plan.loss:.4f} with {fmt_count(plan.shape.active_params or plan.params)} active / "
            f"{fmt_count(plan.params)} total params on {fmt_count(plan.tokens)} tokens, "
            f"{plan.gpus} × {plan.gpu}, {fmt_usd(plan.cost_usd)}")


def solve_allowing_moe_per_arm(problem: Problem) -> Plan:
    """The lowest-loss plan over the dense arm and the sparse lattice, one full search per arm."""
    results: list[tuple[str, Plan | None, InfeasibleError | None]] = []
    for label, ctx in arms(problem):
        try:
            results.append((label, OBJECTIVES["min_loss"](ctx), None))
        except InfeasibleError as error:
            results.append((label, None, error))
    found = [(label, plan) for label, plan, _ in results if plan is not None]
    if not found:
        raise results[0][2]
    label, plan = min(found, key=lambda item: item[1].loss)      # stable: dense wins ties
    dense = next((p for lab, p in found if lab == DENSE), None)
    others = [(lab, p) for lab, p in found if lab != label]
    if label == DENSE:
        best_sparse = min((p for lab, p in others), key=lambda p: p.loss, default=None)
        why = ("dense chosen: no sparse variant predicts a lower loss within the same budget and deadline"
               + (f" (best sparse loss {best_sparse.loss:.4f} vs {plan.loss:.4f})" if best_sparse else
                  " (no sparse variant fits)"))
    else:
        why = (f"sparse chosen ({label}, E = {plan.shape.experts / plan.shape.top_k:g}): predicted loss "
               f"{plan.loss:.4f} vs {dense.loss:.4f} for the best dense plan at the same budget and deadline"
               if dense is not None else f"sparse chosen ({label}): no dense model fits")
    lines = [why, "all arms scored by the joint dense/MoE law ludziejewski2025 (scaling_laws/moe.py; its constants "
             "and caveats are documented there)"] + [_summary(lab, p) for lab, p in [(label, plan)] + others]
    lines += [f"{lab}: infeasible ({error})" for lab, p, error in results if p is None]
    alternatives = [Alternative(kind="architecture", description=f"best {lab} plan",
                                gpu=p.gpu, gpus=p.gpus, params=p.params, tokens=p.tokens, loss=p.loss,
                                cost_usd=p.cost_usd, wall_clock_hours=p.wall_clock_hours,
                                tokens_per_second=p.tokens_per_second, loss_delta=p.loss - plan.loss,
                                throughput_ratio=p.tokens_per_second / plan.tokens_per_second)
                    for lab, p in others]
    return plan.model_copy(update={"explanation": lines + plan.explanation,
                                   "alternatives": plan.alternatives + alternatives})


def _row_alternative(arm: Arm, plan: Plan) -> tuple[Alternative, str]:
    """The best evaluated candidate of ``arm`` as an architecture alternative and a summary line."""
    row, loss = arm.best_row()
    ok, wall, tokens, cost = max_token_runs(arm.ctx, arm.table.take([row]))
    active = float(arm.table.params[row])
    total = float(arm.ctx.shapes(active)[0].params)
    gpu, gpus, tps = str(arm.table.gpu[row]), int(arm.table.gpus[row]), float(arm.table.tokens_per_second[row])
    near = loss < plan.loss        # only when the plan took a near-tie (loss tolerance) in its own arm
    note = " (a near-tie of the plan: within the loss tolerance, another arm)" if near else ""
    alternative = Alternative(kind="architecture", description=f"best {arm.label} plan{note}", gpu=gpu, gpus=gpus,
                              params=total, tokens=float(tokens[0]), loss=loss, cost_usd=float(cost[0]),
                              wall_clock_hours=float(wall[0]) / 3600.0, tokens_per_second=tps,
                              loss_delta=loss - plan.loss, throughput_ratio=tps / plan.tokens_per_second)
    summary = (f"{arm.label}: loss {loss:.4f} with {fmt_count(active)} active / {fmt_count(total)} total params on "
               f"{fmt_count(float(tokens[0]))} tokens, {gpus} × {gpu}, {fmt_usd(float(cost[0]))}")
    return alternative, summary


def solve_allowing_moe(problem: Problem) -> Plan:
    """The lowest-loss plan over the dense arm and the sparse lattice (module docstring: fast path)."""
    if problem.allow_mixed or problem.params is not None:
        return solve_allowing_moe_per_arm(problem)
    arms_ = [make_arm(label, ctx) for label, ctx in arms(problem)]
    winner = best_arm(arms_)
    if winner is None:      # nothing runs: the dense search's diagnosis, as the per-arm path gives
        return OBJECTIVES["min_loss"](arms_[0].ctx)
    plan = min_loss(winner.ctx, winner.search())
    sparse_won = winner.label != DENSE
    other = best_arm([a for a in arms_ if (a.label == DENSE) == sparse_won], near_ties=False)
    rest = [a for a in arms_ if a is not winner and a is not other]
    alternatives, summaries = [], []
    if other is not None:       # the best arm of the other kind, searched to its own optimum
        alternative, summary = _row_alternative(other, plan)
        alternatives.append(alternative)
        summaries.append(summary)
    if sparse_won:
        why = (f"sparse chosen ({winner.label}, E = {plan.shape.experts / plan.shape.top_k:g}): predicted loss "
               f"{plan.loss:.4f} vs {alternatives[0].loss:.4f} for the best dense plan at the same budget and deadline"
               if other is not None else f"sparse chosen ({winner.label}): no dense model fits")
    else:
        why = ("dense chosen: no sparse variant predicts a lower loss within the same budget and deadline"
               + (f" (best sparse loss {alternatives[0].loss:.4f} vs {plan.loss:.4f})" if other is not None else
                  " (no sparse variant fits)"))
    lines = [why, "all arms scored by the joint dense/MoE law ludziejewski2025 (scaling_laws/moe.py; its constants "
             "and caveats are documented there)", _summary(winner.label, plan)] + summaries
    strict = winner.best_row()[1]       # the best loss of all arms (the plan may be a near-tie of it)
    for arm in rest:
        bound = lower_bound(arm)
        lines.append(f"{arm.label}: loss ≥ {bound:.4f} (lower bound: searched only until it could not beat the best "
                     f"loss {strict:.4f})"
                     if np.isfinite(bound) else f"{arm.label}: infeasible (nothing fits the budget and deadline)")
    return plan.model_copy(update={"explanation": lines + plan.explanation,
                                   "alternatives": plan.alternatives + alternatives})
