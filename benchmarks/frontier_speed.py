"""How long the frontier and a 25-budget sweep take (not a timed test: run it by hand).

    python benchmarks/frontier_speed.py

Prints one row per scenario: wall time, and for the frontier its stages and sizes.
"""

from __future__ import annotations

import time
import warnings

from catalogs.loader import load_catalog
from planner.analysis.frontier import compute_frontier
from planner.types.requests import SolveRequest
from planner.analysis.sweep import effective_workers, log_points, run_sweep, sweep_requests

THREE_TYPES = [{"gpu": "h100-sxm", "max_count": 512}, {"gpu": "a100-80gb", "max_count": 1024},
               {"gpu": "mi300x", "max_count": 256}]


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    warnings.simplefilter("ignore", RuntimeWarning)
    catalog = load_catalog()
    rows = []
    for label, availability in (("3 GPU types", THREE_TYPES), ("all 11 catalog GPUs, 1024 each", None)):
        request = SolveRequest(budget_usd=1e6, deadline_hours=60 * 24, availability=availability)
        front, seconds = timed(lambda: compute_frontier(request, catalog))
        s = front.summary()
        stages = ", ".join(f"{k} {v:.2f}" for k, v in front.seconds.items() if k != "total")
        rows.append((f"frontier $1M / 60 d, {label}", seconds,
                     f"{s['candidates']} candidates, {s['points_evaluated']} runs, {s['points_nondominated']} "
                     f"non-dominated, {s['plans_returned']} plans; stages (s): {stages}"))
        base = SolveRequest(budget_usd=1e4, availability=availability)
        requests = sweep_requests(base, "budget_usd", log_points(1e4, 1e8, 25))
        for workers in (1, 2):
            _, seconds = timed(lambda: run_sweep(requests, catalog, workers=workers))
            used = effective_workers(len(requests), workers)
            rows.append((f"sweep 25 budgets $10k..$100M, {label}, {workers} worker(s) asked, {used} used", seconds,
                         "grids cached by the run above" if workers > 1 and used == 1 else ""))
    width = max(len(r[0]) for r in rows)
    print(f"{'scenario':<{width}}  {'seconds':>7}  detail")
    for name, seconds, detail in rows:
        print(f"{name:<{width}}  {seconds:7.2f}  {detail}")


if __name__ == "__main__":
    main()
