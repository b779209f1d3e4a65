"""The solver's entry point: ``solve(request) -> SolveResult``, feasible or not.

It resolves the request into a ``Problem`` (``planner.search.problem``), runs the objective's
function from the registry (``planner.search.objectives``) and always returns a ``SolveResult``:
the plan, or the binding constraint and the smallest fix (as ``scipy.optimize.milp`` always returns
an ``OptimizeResult``). Exceptions are for malformed input only. ``candidate_table`` and ``plan_for``
serve the frontier.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from catalogs.loader import Catalog
from planner.search.branch_and_bound import size_range
from planner.search.candidates import CandidateTable, build_table
from planner.search.ilp import Allocation
from planner.search.objectives import OBJECTIVES
from planner.search.plan_builder import build_plan
from planner.search.problem import Problem, make_problem
from planner.types.errors import InfeasibleError
from planner.types.requests import SolveRequest
from planner.types.results import Infeasibility, Plan, SolveResult

def solve(request: SolveRequest, *, catalog: Catalog | None = None, refine: bool = True) -> SolveResult:
    """The best plan for ``request``, or why there is none (``feasible`` says which). ``refine=False``
    stops min_loss at the size lattice (the frontier's space) instead of refining around its optimum."""
    problem = make_problem(request, catalog)
    if not refine:
        problem = replace(problem, refine=False)
    try:
        if not any(o.max_count > 0 for o in problem.offers):
            raise InfeasibleError("no GPUs available: every availability max_count is 0", "availability",
                                  fix="allow at least one GPU type with max_count >= 1")
        if request.allow_moe:       # issue #16: dense or sparse, whichever predicts the lower loss
            from planner.search.moe_choice import solve_allowing_moe
            plan = solve_allowing_moe(problem)
        else:
            plan = OBJECTIVES[problem.objective](problem)
    except InfeasibleError as error:
        return SolveResult.infeasible(Infeasibility(binding_constraint=error.binding, message=str(error),
                                                    fix=error.fix))
    return SolveResult.found(plan)


def candidate_table(request: SolveRequest, catalog: Catalog | None = None, sizes=None) -> CandidateTable:
    """Every evaluated candidate (for the frontier and sweeps); sizes default to the solver's range."""
    ctx = make_problem(request, catalog)
    if sizes is None:
        sizes = [request.params] if request.params is not None else size_range(ctx)
    return build_table(ctx, sizes)


def plan_for(request: SolveRequest, catalog: Catalog | None, params: float, gpu: str, gpus: int,
             tokens: float) -> Plan:
    """The full Plan of one candidate training ``tokens`` tokens (used by the frontier)."""
    ctx = make_problem(request, catalog)
    gpu_id = catalog_id(ctx, gpu)
    table = build_table(ctx, [params], [t for t, o in enumerate(ctx.offers) if o.gpu.id == gpu_id])
    match = np.nonzero((table.gpu == gpu_id) & (table.gpus == gpus))[0]
    if len(match) == 0 or table.tokens_per_second[match[0]] <= 0:
        raise InfeasibleError(f"{params:.3g} params do not fit on {gpus} × {gpu}", "memory")
    sub = table.take(match[:1])
    wall = tokens / float(sub.tokens_per_second[0])
    allocation = Allocation([0], wall, tokens, float(sub.fixed_cost_usd[0] + sub.cost_rate_usd_per_s[0] * wall))
    ok = np.ones(len(table), dtype=bool)
    return build_plan(ctx, table, sub, allocation, float(params), ok=ok, tokens_all=np.full(len(table), tokens),
                      cost_all=np.full(len(table), allocation.cost_usd), tokens=tokens)


def catalog_id(ctx: Problem, gpu: str) -> str:
    return ctx.catalog.get(gpu).id
