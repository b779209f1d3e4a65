"""Allocation ILP (PuLP): which GPU types and how many, for one model size.

Candidates are (GPU type, count) pairs with a precomputed throughput (fastest fitting strategy),
so the program stays linear although throughput is not linear in the count. Variables:
  x_i ∈ {0, 1}   candidate i is used
  y_i ≥ 0        seconds candidate i runs (= t when used, 0 otherwise: y_i ≤ T·x_i, y_i ≤ t,
                 y_i ≥ t − T·(1 − x_i), the standard linearisation of x_i·t)
  t ≥ 0          wall-clock of the job
  s ≥ 0          serving cost of the trained model (inference-aware requests): s ≥ serve_i·x_i, so
                 s is the dearest serving cost among the types used (one type: that type's)
Constraints: at most one count per type; one type per job unless mixing is allowed; budget
Σ fixed_i·x_i + Σ rate_i·y_i + s ≤ B; t ≤ deadline; power Σ kW_i·x_i ≤ cap. Tokens = Σ tps_i·y_i.
Objectives: ``max_tokens`` (best model for the money/time), ``min_cost`` and ``min_time`` for a
given token count.

With mixing, data-parallel groups of different types train one model with a load-balanced split
(each group's share of every global batch is proportional to its throughput); we assume the
cross-group gradient exchange hides behind each group's own, which holds when the groups sit on
one fabric. With one type per job (the default) run length, tokens and cost of each candidate are exact
numbers, so the program is a pure selection over binary variables (no linearisation); the
solver's vectorised search and the brute-force reference are tested to agree with it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from planner.types.errors import InfeasibleError

SOLVER_TIME_LIMIT_S = 10.0


@dataclass(frozen=True)
class Candidates:
    """Arrays over candidates, all of the same model size."""

    type_index: np.ndarray
    counts: np.ndarray
    tokens_per_second: np.ndarray
    fixed_cost_usd: np.ndarray
    cost_rate_usd_per_s: np.ndarray
    power_kw: np.ndarray
    # Serving cost of the trained model on candidate i's GPU type (inference-aware requests, issue
    # #18). A job pays it once, whatever it trains on: on its one type, or with mixing on the dearest
    # type it uses (the brute-force reference and the plan's cost count it the same way).
    inference_cost_usd: np.ndarray | None = None

    def serving_usd(self) -> np.ndarray:
        return np.zeros(len(self.counts)) if self.inference_cost_usd is None else np.asarray(self.inference_cost_usd, float)


@dataclass(frozen=True)
class Allocation:
    chosen: list[int]              # candidate indices used
    wall_clock_s: float
    tokens: float
    cost_usd: float


@lru_cache(maxsize=1)
def _highs_available() -> bool:
    """True if HiGHS runs in-process; its one-time banner (printed from C++ to fd 1 when the first
    model is created) is sent to /dev/null so it never mixes into ``--json`` output."""
    try:
        import highspy
    except ImportError:
        return False
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    return True


def _solver(backend: str = "auto"):
    import pulp

    """HiGHS in-process or PuLP's bundled CBC (a subprocess). HiGHS is 3-10× faster here
    (``python benchmarks/ilp_backends.py``), so "auto" takes it whenever highspy is installed.
    Backends: "auto"/"highs" (the mixed program goes to HiGHS as arrays, ``_mixed_highs``),
    "pulp-highs" (the PuLP model solved by HiGHS: the reference), "cbc"."""
    if backend in ("auto", "highs", "pulp-highs") and _highs_available():
        return pulp.HiGHS(msg=False, timeLimit=SOLVER_TIME_LIMIT_S, gapRel=0.0)
    return pulp.PULP_CBC_CMD(msg=False, timeLimit=SOLVER_TIME_LIMIT_S, gapRel=0.0)


def solve_allocation(c: Candidates, *, objective: str, budget_usd: float | None, deadline_s: float | None,
                     power_cap_kw: float | None, tokens: float | None = None, allow_mixed: bool = False,
                     backend: str = "auto") -> Allocation:
    """Solve the allocation ILP. ``objective``: max_tokens | min_cost | min_time.

    Time is measured in units of the horizon H, tokens in units of ``tokens`` (or the most any
    candidate can train in H) and dollars in units of the budget (or the dearest candidate), so
    every coefficient is O(1) and the solver's tolerances are relative to the problem's scale.
    """
    keep = np.nonzero(c.tokens_per_second > 0)[0]
    if len(keep) == 0:
        raise InfeasibleError("no candidate GPU configuration fits this model", "memory")
    if not allow_mixed:
        return _select_one(c, keep, objective=objective, budget_usd=budget_usd, deadline_s=deadline_s,
                           power_cap_kw=power_cap_kw, tokens=tokens, backend=backend)
    horizon = _horizon(c, keep, budget_usd, deadline_s, tokens) * (1 + 1e-9)
    token_unit = tokens or float(np.max(c.tokens_per_second[keep])) * horizon
    dollar_unit = budget_usd or float(np.max(c.fixed_cost_usd[keep] + c.cost_rate_usd_per_s[keep] * horizon)) or 1.0
    t_max = 1.0 if deadline_s is None else min(1.0, deadline_s / horizon)
    if backend in ("auto", "highs") and _highs_available():
        return _mixed_highs(c, keep, objective=objective, budget_usd=budget_usd, power_cap_kw=power_cap_kw,
                            tokens=tokens, horizon=horizon, token_unit=token_unit, dollar_unit=dollar_unit,
                            t_max=t_max)
    speed = {i: float(c.tokens_per_second[i]) * horizon / token_unit for i in keep}
    fixed = {i: float(c.fixed_cost_usd[i]) / dollar_unit for i in keep}
    rate = {i: float(c.cost_rate_usd_per_s[i]) * horizon / dollar_unit for i in keep}
    serve = {i: float(c.serving_usd()[i]) / dollar_unit for i in keep}

    import pulp

    problem = pulp.LpProblem("allocation", pulp.LpMaximize if objective == "min_loss" else pulp.LpMinimize)
    x = {i: problem.add_variable(f"x_{i}", cat="Binary") for i in keep}
    y = {i: problem.add_variable(f"y_{i}", lowBound=0, upBound=1) for i in keep}
    t = problem.add_variable("t", lowBound=0, upBound=t_max)
    s = problem.add_variable("s", lowBound=0)
    tokens_expr = pulp.lpSum(speed[i] * y[i] for i in keep)
    cost_expr = pulp.lpSum(fixed[i] * x[i] + rate[i] * y[i] for i in keep) + s
    if objective == "min_loss":
        problem += tokens_expr
    elif objective == "min_cost":
        problem += cost_expr + 1e-7 * t       # ties: the faster plan
    else:
        problem += t + 1e-7 * cost_expr       # ties: the cheaper plan
    for i in keep:
        problem += y[i] <= x[i]
        problem += y[i] <= t
        problem += y[i] >= t - (1 - x[i])
        problem += s >= serve[i] * x[i]
    for g in np.unique(c.type_index[keep]):
        problem += pulp.lpSum(x[i] for i in keep if c.type_index[i] == g) <= 1
    if not allow_mixed:
        problem += pulp.lpSum(x.values()) <= 1
    problem += pulp.lpSum(x.values()) >= 1
    if budget_usd is not None:
        problem += cost_expr <= 1.0
    if power_cap_kw is not None:
        problem += pulp.lpSum(float(c.power_kw[i]) / power_cap_kw * x[i] for i in keep) <= 1.0
    if tokens is not None:
        problem += tokens_expr >= 1.0
    status = problem.solve(_solver(backend))
    if pulp.LpStatus[status] != "Optimal":
        raise InfeasibleError("no allocation of the available GPUs meets the constraints", "budget")
    chosen = [int(i) for i in keep if x[i].value() is not None and x[i].value() > 0.5]
    return Allocation(chosen, float(t.value() or 0.0) * horizon, float(pulp.value(tokens_expr)) * token_unit,
                      float(pulp.value(cost_expr)) * dollar_unit)


def _mixed_highs(c: Candidates, keep, *, objective, budget_usd, power_cap_kw, tokens, horizon, token_unit,
                 dollar_unit, t_max) -> Allocation:
    """The mixed program of ``solve_allocation`` passed to HiGHS as arrays (no modelling layer: for a few
    hundred candidates building the PuLP model costs more than solving it). Same variables, rows
    and scaling as the PuLP model, which stays the reference and the fallback."""
    import highspy

    n = len(keep)
    speed = c.tokens_per_second[keep] * horizon / token_unit
    fixed = c.fixed_cost_usd[keep] / dollar_unit
    rate = c.cost_rate_usd_per_s[keep] * horizon / dollar_unit
    serve = c.serving_usd()[keep] / dollar_unit
    x, y, t, s = np.arange(n), n + np.arange(n), 2 * n, 2 * n + 1          # column indices
    inf = highspy.kHighsInf
    starts, indices, values, lower, upper = [0], [], [], [], []

    def row(cols, coefs, lo, hi):
        indices.extend(int(j) for j in cols)
        values.extend(float(v) for v in coefs)
        starts.append(len(indices))
        lower.append(lo)
        upper.append(hi)

    for i in range(n):
        row((y[i], x[i]), (1.0, -1.0), -inf, 0.0)                 # y_i ≤ x_i
        row((y[i], t), (1.0, -1.0), -inf, 0.0)                    # y_i ≤ t
        row((y[i], t, x[i]), (1.0, -1.0, -1.0), -1.0, inf)        # y_i ≥ t − (1 − x_i)
        if serve[i] > 0:
            row((s, x[i]), (1.0, -serve[i]), 0.0, inf)            # s ≥ serve_i·x_i
    types = c.type_index[keep]
    for g in np.unique(types):
        members = x[types == g]
        row(members, np.ones(len(members)), -inf, 1.0)
    row(x, np.ones(n), 1.0, inf)
    if budget_usd is not None:
        row(np.concatenate([x, y, [s]]), np.concatenate([fixed, rate, [1.0]]), -inf, 1.0)
    if power_cap_kw is not None:
        row(x, c.power_kw[keep] / power_cap_kw, -inf, 1.0)
    if tokens is not None:
        row(y, speed, 1.0, inf)

    cost = np.zeros(2 * n + 2)
    if objective == "min_loss":
        cost[y] = speed
    elif objective == "min_cost":
        cost[x], cost[y], cost[t], cost[s] = fixed, rate, 1e-7, 1.0
    else:
        cost[x], cost[y], cost[t], cost[s] = 1e-7 * fixed, 1e-7 * rate, 1.0, 1e-7
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = 2 * n + 2, len(lower)
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(2 * n + 2)
    lp.col_upper_ = np.concatenate([np.ones(2 * n), [t_max, inf]])
    lp.row_lower_, lp.row_upper_ = np.array(lower), np.array(upper)
    lp.sense_ = highspy.ObjSense.kMaximize if objective == "min_loss" else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = 2 * n + 2, len(lower)
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = starts, indices, values
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n + [highspy.HighsVarType.kContinuous] * (n + 2)
    h = _new_highs()
    h.passModel(lp)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise InfeasibleError("no allocation of the available GPUs meets the constraints", "budget")
    value = np.asarray(h.getSolution().col_value)
    chosen = [int(keep[i]) for i in range(n) if value[x[i]] > 0.5]
    return Allocation(chosen, float(value[t]) * horizon, float(speed @ value[y]) * token_unit,
                      float(fixed @ value[x] + rate @ value[y] + value[s]) * dollar_unit)


def _select_one(c: Candidates, keep, *, objective, budget_usd, deadline_s, power_cap_kw, tokens,
                backend: str = "auto") -> Allocation:
    """One GPU type per job: binary selectors over candidates whose run length, tokens and cost are
    exact numbers (no linearisation), so the program is a pure selection solved to optimality."""
    tps = c.tokens_per_second[keep]
    deadline = np.inf if deadline_s is None else deadline_s
    fixed = c.fixed_cost_usd[keep] + c.serving_usd()[keep]      # each candidate pays its own serving cost
    with np.errstate(divide="ignore", invalid="ignore"):
        if tokens is None:
            by_budget = np.full(len(keep), np.inf) if budget_usd is None else np.where(
                c.cost_rate_usd_per_s[keep] > 0, (budget_usd - fixed) / c.cost_rate_usd_per_s[keep],
                np.where(budget_usd >= fixed, np.inf, -1.0))
            wall = np.minimum(deadline, by_budget)
        else:
            wall = tokens / tps
    trained = tps * wall
    cost = fixed + c.cost_rate_usd_per_s[keep] * wall
    ok = (wall > 0) & np.isfinite(wall) & (wall <= deadline * (1 + 1e-12))
    if budget_usd is not None:
        ok &= cost <= budget_usd * (1 + 1e-12)
    if power_cap_kw is not None:
        ok &= c.power_kw[keep] <= power_cap_kw
    if not ok.any():
        raise InfeasibleError("no allocation of the available GPUs meets the constraints", "budget")
    value = {"min_loss": -trained, "min_cost": cost, "min_time": wall}[objective]
    tie = {"min_loss": cost, "min_cost": wall, "min_time": cost}[objective]
    # Scale so the best candidate's objective is about 1: differences of 1e-7 relative stay
    # visible above the solver's tolerances whatever the units.
    scale = float(np.max(np.abs(value[ok])) if objective == "min_loss" else np.min(np.abs(value[ok]))) or 1.0
    tie_scale = float(np.max(np.abs(tie[ok]))) or 1.0
    weights = value[ok] / scale + 1e-9 * tie[ok] / tie_scale
    if backend == "auto":
        # min Σ w_j·x_j subject to Σ x_j = 1 over binaries is the smallest weight: its optimum is
        # argmin(w) exactly (first on exact ties), with no solver tolerance, highspy import or model
        # build on the path (issue #17: 40 ms of a cold `planner best`). The solver backends below
        # stay as the reference (tests compare them).
        j = int(np.nonzero(ok)[0][int(np.argmin(weights))])
        return Allocation([int(keep[j])], float(wall[j]), float(trained[j]), float(cost[j]))
    if backend == "highs" and _highs_available():
        j = int(np.nonzero(ok)[0][_select_highs(weights)])
        return Allocation([int(keep[j])], float(wall[j]), float(trained[j]), float(cost[j]))
    import pulp

    problem = pulp.LpProblem("selection", pulp.LpMinimize)
    x = {j: problem.add_variable(f"x_{j}", cat="Binary") for j in np.nonzero(ok)[0]}
    problem += pulp.lpSum((value[j] / scale + 1e-9 * tie[j] / tie_scale) * x[j] for j in x)
    problem += pulp.lpSum(x.values()) == 1
    status = problem.solve(_solver(backend))
    if pulp.LpStatus[status] != "Optimal":
        raise InfeasibleError("no allocation of the available GPUs meets the constraints", "budget")
    j = next(j for j in x if x[j].value() is not None and x[j].value() > 0.5)
    return Allocation([int(keep[j])], float(wall[j]), float(trained[j]), float(cost[j]))


def _select_highs(weights: np.ndarray) -> int:
    """min Σ w_j·x_j subject to Σ x_j = 1, x binary, passed to HiGHS as arrays; the chosen position."""
    import highspy

    n = len(weights)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, 1
    lp.col_cost_ = np.asarray(weights, dtype=float)
    lp.col_lower_, lp.col_upper_ = np.zeros(n), np.ones(n)
    lp.row_lower_, lp.row_upper_ = np.ones(1), np.ones(1)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n, 1
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = [0, n], list(range(n)), [1.0] * n
    lp.integrality_ = [highspy.HighsVarType.kInteger] * n
    h = _new_highs()
    h.passModel(lp)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise InfeasibleError("no allocation of the available GPUs meets the constraints", "budget")
    return int(np.argmax(np.asarray(h.getSolution().col_value)))


def _new_highs():
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", SOLVER_TIME_LIMIT_S)
    h.setOptionValue("mip_rel_gap", 0.0)
    return h


def _horizon(c: Candidates, keep, budget_usd, deadline_s, tokens) -> float:
    """An upper bound on the run time (the big-M of the linearisation)."""
    bounds = []
    if deadline_s is not None:
        bounds.append(deadline_s)
    if tokens is not None:
        bounds.append(tokens / float(np.min(c.tokens_per_second[keep])))
    if budget_usd is not None:
        rates = c.cost_rate_usd_per_s[keep]
        if np.all(rates > 0):
            bounds.append(budget_usd / float(np.min(rates)))
    if not bounds:
        raise InfeasibleError("give a budget or a deadline: nothing limits the run", "budget")
    return max(min(bounds), 1.0)
