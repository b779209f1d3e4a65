"""Sweeps: the best plan at each of many budgets or deadlines, and the cheapest/fastest plan per GPU type.

Each point is one ``solve`` call (the solver's own answer, so a sweep row equals ``planner best``
at that budget). Points are independent, so long sweeps fan out over worker processes.
"""

from __future__ import annotations

import csv
import multiprocessing
import re
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Literal, Sequence

import numpy as np
from pydantic import BaseModel

from catalogs.loader import load_catalog
from planner.analysis.sweep_steps import with_step_reasons
from planner.economics.offers import resolve_offers
from planner.search.solver import solve
from planner.types.errors import InputError, validate_model
from planner.types.requests import Availability, SolveRequest
from planner.types.results import Plan
from planner.types.tradeoffs import GPUComparison, SweepRow
from planner.types.units import parse_count, parse_duration_s, parse_money_usd
from scaling_laws import FLOPS_PER_PARAM_TOKEN, compute_optimal

Axis = Literal["budget_usd", "deadline_hours"]
MAX_POINTS = 1000
_RANGE_RE = re.compile(r"^\s*(.+?)\s*\.\.\s*(.+?)\s*$")


def parse_range(text: str, axis: Axis | Literal["flops"]) -> tuple[float, float]:
    """``1e4..1e8`` (dollars), ``1d..90d`` (durations, in hours) or ``1e19..1e23`` (FLOPs)
    → (low, high); one value → (v, v)."""
    match = _RANGE_RE.match(str(text))
    parts = match.groups() if match else (str(text), str(text))
    field = {"budget_usd": "budget_usd", "deadline_hours": "deadline"}.get(axis, axis)
    if axis == "budget_usd":
        lo, hi = (parse_money_usd(p, field) for p in parts)
    elif axis == "deadline_hours":
        lo, hi = (parse_duration_s(p, field) / 3600.0 for p in parts)
    else:
        lo, hi = (parse_count(p, field, maximum=1e35) for p in parts)
    if lo > hi:
        raise InputError(f"{field}: range {text!r} runs backwards; write low..high", field)
    return lo, hi


def log_points(low: float, high: float, points: int) -> np.ndarray:
    """``points`` values evenly spaced in log between low and high (one value if low == high)."""
    if not 1 <= points <= MAX_POINTS:
        raise InputError(f"points: must be between 1 and {MAX_POINTS}, got {points}", "points")
    if low == high:
        return np.array([low])
    return np.geomspace(low, high, points)


def row_from_plan(request: SolveRequest, plan: Plan) -> SweepRow:
    return SweepRow(budget_usd=request.budget_usd, deadline_hours=request.deadline_hours, feasible=True,
                    params=plan.params, tokens=plan.tokens, loss=plan.loss, gpu=plan.gpu, gpus=plan.gpus,
                    cost_usd=plan.cost_usd, wall_clock_hours=plan.wall_clock_hours,
                    tokens_per_param=plan.tokens_per_param, model_flops=plan.model_flops, mfu=plan.mfu,
                    binding="+".join(plan.binding_constraints),
                    near_tie=plan.near_tie.reason if plan.near_tie else "")


def solve_row(request: SolveRequest, catalog=None) -> SweepRow:
    """One sweep point: the solver's plan, or an infeasible row naming the binding constraint."""
    result = solve(request, catalog=catalog)
    if result.feasible:
        return row_from_plan(request, result.plan)
    return SweepRow(budget_usd=request.budget_usd, deadline_hours=request.deadline_hours, feasible=False,
                    binding=result.infeasibility.binding_constraint, message=result.message)


def sweep_requests(base: SolveRequest, axis: Axis, values: Sequence[float]) -> list[SolveRequest]:
    """Copies of ``base`` with ``axis`` set to each value (validated like any request)."""
    data = base.model_dump()
    return [validate_model(SolveRequest, {**data, axis: float(v)}) for v in values]


# A worker process costs ~0.85 s of CPU before it is as fast as the parent (spawn, imports, an empty
# throughput-grid cache), while a point of a sweep costs ~21 ms once neighbouring points have filled
# the cache: measured on 3 GPU types, 25 points took 0.84 s of CPU in-process and 2.7 s over 2
# spawned workers; 100 points 2.1 s in-process and 3.8 s over 2 workers. k workers save
# N·p·(1 − 1/k) for k·0.85 s, so 2 workers break even near N = 80 points on two free cores.
# ``effective_workers`` starts one worker per MIN_POINTS_PER_WORKER points at most (issue #17).
MIN_POINTS_PER_WORKER = 100


def effective_workers(points: int, workers: int, min_points_per_worker: int = MIN_POINTS_PER_WORKER) -> int:
    """Worker processes worth starting for ``points`` sweep points (at most ``workers``; 1 = in-process)."""
    return max(1, min(workers, points // max(1, min_points_per_worker)))


def _solve_rows(requests: Sequence[SolveRequest], catalog) -> list[SweepRow]:
    return [solve_row(request, catalog) for request in requests]


def run_sweep(requests: Sequence[SolveRequest], catalog=None, workers: int = 1,
              on_done: Callable[[int], None] | None = None,
              min_points_per_worker: int = MIN_POINTS_PER_WORKER) -> list[SweepRow]:
    """Solve every request (in up to ``workers`` processes, see ``effective_workers``); rows in request
    order, each step that goes against the sweep's direction with its reason
    (``planner.analysis.sweep_steps``). ``on_done(i)`` is called as each point finishes (for a progress bar).

    Workers take contiguous blocks of points, so neighbouring budgets or deadlines, which open the
    same model sizes, share one process's throughput-grid cache."""
    axis = "deadline_hours" if len({r.budget_usd for r in requests}) <= 1 < len({r.deadline_hours for r in requests}) \
        else "budget_usd"
    return with_step_reasons(_solve_all(requests, catalog, workers, on_done, min_points_per_worker), axis)


def _solve_all(requests, catalog, workers: int, on_done, min_points_per_worker: int) -> list[SweepRow]:
    rows: list[SweepRow | None] = [None] * len(requests)
    workers = effective_workers(len(requests), workers, min_points_per_worker)
    if workers <= 1:
        for i, request in enumerate(requests):
            rows[i] = solve_row(request, catalog)
            if on_done:
                on_done(i)
        return rows  # type: ignore[return-value]
    # "spawn", not fork: a forked child inherits the parent's solver threads (HiGHS) mid-state and can hang.
    context = multiprocessing.get_context("spawn")
    size = -(-len(requests) // (2 * workers))      # two blocks per worker: the progress bar moves mid-way
    blocks = [range(start, min(start + size, len(requests))) for start in range(0, len(requests), size)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(_solve_rows, [requests[i] for i in block], catalog): block for block in blocks}
        for future in as_completed(futures):
            block = futures[future]
            for i, row in zip(block, future.result()):
                rows[i] = row
                if on_done:
                    on_done(i)
    return rows  # type: ignore[return-value]


def write_csv(rows: Sequence[BaseModel], path: str | Path) -> Path:
    """One CSV line per row, columns in field order (empty cell for missing values)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not rows:
        path.write_text("")
        return path
    fields = list(type(rows[0]).model_fields)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.model_dump().items()})
    return path


def compute_optimal_along(rows: Sequence[SweepRow], law) -> tuple[np.ndarray, np.ndarray]:
    """The law's compute-optimal (N, D) at each feasible row's training FLOPs (C = 6·N·D)."""
    flops = np.array([FLOPS_PER_PARAM_TOKEN * r.params * r.tokens for r in rows if r.feasible])
    if not len(flops):
        return np.array([]), np.array([])
    return compute_optimal(law, flops)


def compare_gpus(request: SolveRequest, catalog=None) -> list[GPUComparison]:
    """Cheapest (min_cost) and fastest (min_time) plan of ``request``'s model on each GPU type alone."""
    catalog = catalog or load_catalog()
    offers = resolve_offers(request, catalog)
    rows = []
    for offer in offers:
        only = [Availability(gpu=offer.gpu.id, max_count=offer.max_count, mode=offer.mode,
                             price_usd_per_gpu_hour=offer.price_usd_per_gpu_hour,
                             purchase_price_usd=offer.purchase_price_usd)]
        plans, message = {}, ""
        for objective in ("min_cost", "min_time"):
            single = SolveRequest.model_validate({**request.model_dump(), "objective": objective,
                                                  "availability": [a.model_dump() for a in only]})
            result = solve(single, catalog=catalog)
            if result.feasible:
                plans[objective] = result.plan
            else:
                message = result.message
        rows.append(GPUComparison(gpu=offer.gpu.id, cheapest=plans.get("min_cost"), fastest=plans.get("min_time"),
                                  message=message))
    return rows
