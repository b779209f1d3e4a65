"""Near-ties decided on purpose (issue #15): among plans within ``loss_tolerance`` of the best loss,
the cheapest, then the fastest, then the one on fewer GPUs, then the one nearest the law's
compute-optimal tokens per parameter.

A two-phase solve: phase 1 is the exact min-loss search (its optimum L* is what tolerance 0 returns);
phase 2 ranks every evaluated candidate with loss ≤ L* + tolerance by the secondary order. Branch and
bound opens every (GPU type, size) pair whose loss bound is below L* + tolerance
(``planner.search.branch_and_bound``), so each candidate within the tolerance on the lattice and in
the fine window around the optimum is ranked, not only those evaluated on the way to L*.

Default tolerance 0.001 nats: the law cannot rank plans closer than that. A 200-resample bootstrap of
the Besiroglu et al. refit on the 240 Chinchilla points (``tests/data/chinchilla_svg_extracted_data.csv``,
5 outliers dropped; ``python benchmarks/loss_tolerance.py``) gives a standard deviation of 0.0007-0.0011
nats for the loss *difference* between the compute-optimal plan and one 25 % larger or smaller at the
same compute, from 1e20 to 1e25 FLOPs (and 0.0015-0.017 nats for the level of the predicted loss
itself). A gap below 0.001 nats is within one standard deviation of the fit's own uncertainty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.types.formatting import fmt_count, fmt_hours, fmt_usd

DEFAULT_LOSS_TOLERANCE = 0.001
# Keys equal to this relative precision count as equal (all budget-bound plans cost the budget,
# up to float rounding), so the next key decides.
KEY_RESOLUTION = 1e-6


@dataclass(frozen=True)
class TieChoice:
    chosen: int          # row of the candidate table the plan uses
    best: int            # the strictly-best row (phase 1)
    reason: str          # empty when chosen == best


def _rounded(key: np.ndarray, rows: np.ndarray) -> np.ndarray:
    values = np.asarray(key, dtype=float)[rows]
    scale = float(np.max(np.abs(values[np.isfinite(values)]), initial=0.0)) or 1.0
    return np.round(values / (scale * KEY_RESOLUTION))


def decide(loss: np.ndarray, cost_usd: np.ndarray, wall_s: np.ndarray, gpus: np.ndarray, ok: np.ndarray,
           best: int, tolerance: float, off_ratio=None) -> TieChoice:
    """The row the plan uses: ``best`` (the strict optimum) when the tolerance is 0, else the first in
    (cost, wall-clock, GPUs, distance from the law's compute-optimal tokens/param, loss) order among
    ``ok`` rows within ``tolerance`` of ``loss[best]``. ``off_ratio(rows)``: |log(tokens/param ÷ the
    law's compute-optimal ratio at the row's FLOPs)|, which decides between model sizes on the same
    GPUs (budget-bound runs on the same GPUs cost and last the same whatever the size)."""
    if tolerance <= 0:
        return TieChoice(best, best, "")
    rows = np.nonzero(ok & (loss <= loss[best] + tolerance))[0]
    ratio = np.zeros(len(rows)) if off_ratio is None else np.round(np.asarray(off_ratio(rows)), 6)
    keys = (_rounded(cost_usd, rows), _rounded(wall_s, rows), gpus[rows].astype(float), ratio, loss[rows])
    chosen = int(rows[np.lexsort(tuple(reversed(keys)))[0]])
    if chosen == best:
        return TieChoice(best, best, "")
    return TieChoice(chosen, best, _reason(cost_usd, wall_s, gpus, chosen, best))


def _reason(cost_usd, wall_s, gpus, chosen: int, best: int) -> str:
    cost_c, cost_b = float(cost_usd[chosen]), float(cost_usd[best])
    if cost_c < cost_b * (1 - KEY_RESOLUTION):
        return f"cheaper: {fmt_usd(cost_c)} instead of {fmt_usd(cost_b)}"
    wall_c, wall_b = float(wall_s[chosen]), float(wall_s[best])
    if wall_c < wall_b * (1 - KEY_RESOLUTION):
        return f"faster: {fmt_hours(wall_c / 3600)} instead of {fmt_hours(wall_b / 3600)} at the same cost"
    if int(gpus[chosen]) < int(gpus[best]):
        return f"fewer GPUs: {int(gpus[chosen])} instead of {int(gpus[best])} at the same cost and time"
    return "nearer the law's compute-optimal tokens per parameter on the same GPUs, at the same cost and time"


def describe(plan_loss: float, tolerance: float, best_loss: float, best_params: float, best_gpus: int,
             best_gpu: str, reason: str) -> str:
    """The explanation line of a near-tie."""
    gap = plan_loss - best_loss
    shown = f"{gap:.4f}" if gap >= 1e-4 else f"{gap:.1e}"
    return (f"near-tie: {fmt_count(best_params)} params on {best_gpus} × {best_gpu} reaches loss {best_loss:.4f}, "
            f"{shown} nats lower, within the {tolerance:g}-nat tolerance; this plan is {reason} "
            f"(--loss-tolerance 0 takes the strict optimum)")
