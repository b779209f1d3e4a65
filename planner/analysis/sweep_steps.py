"""Why a sweep step goes against the sweep's direction (issue #15).

Along a budget sweep more money should mean as many or more GPUs and as long or a longer run; along
a deadline sweep, as long or a longer run on as many or fewer GPUs. Each step that goes against this
gets the reasons that differ between its two plans, most specific first: the GPU type changed, a
different constraint binds, a near-tie was taken or dropped, the efficiency (MFU) of the new GPU
count, or, failing those, the loss-optimal model size moved.
"""

from __future__ import annotations

from typing import Sequence

from planner.types.formatting import fmt_count
from planner.types.tradeoffs import SweepRow

REL = 1e-6


def _against(prev: SweepRow, row: SweepRow, axis: str) -> list[str]:
    """Which series move against the sweep's direction from ``prev`` to ``row``."""
    out = []
    if axis == "budget_usd" and row.gpus < prev.gpus or axis != "budget_usd" and row.gpus > prev.gpus:
        out.append("GPUs")
    if row.wall_clock_hours < prev.wall_clock_hours * (1 - REL):
        out.append("wall-clock")
    return out


def _reasons(prev: SweepRow, row: SweepRow, against: list[str]) -> list[str]:
    reasons = []
    if row.gpu != prev.gpu:
        reasons.append(f"GPU type changed: {prev.gpu} → {row.gpu} (lower loss at this point)")
    before, after = set(filter(None, prev.binding.split("+"))), set(filter(None, row.binding.split("+")))
    for name in ("deadline", "budget", "availability", "power"):
        if name in after - before:
            reasons.append(f"{name} binds")
        elif name in before - after:
            reasons.append(f"{name} no longer binds")
    if row.near_tie and row.near_tie != prev.near_tie:
        reasons.append(f"near-tie taken ({row.near_tie})")
    elif prev.near_tie and not row.near_tie:
        reasons.append("the previous point's near-tie is no longer within the loss tolerance")
    if not reasons and prev.mfu and row.mfu and "GPUs" in against and row.mfu > prev.mfu * (1 + REL):
        reasons.append(f"fewer GPUs run more efficiently (MFU {prev.mfu:.1%} → {row.mfu:.1%}), "
                       "so the money buys more tokens over a longer run")
    if not reasons:
        reasons.append(f"loss-optimal model moved {fmt_count(prev.params)} → {fmt_count(row.params)}; its "
                       f"lowest-loss run is {row.gpus} × {row.gpu}")
    return reasons


def with_step_reasons(rows: Sequence[SweepRow], axis: str) -> list[SweepRow]:
    """``rows`` (in sweep order) with ``step_reason`` set on each step that goes against the direction."""
    out = list(rows)
    for i in range(1, len(out)):
        prev, row = out[i - 1], out[i]
        if not (prev.feasible and row.feasible):
            continue
        against = _against(prev, row, axis)
        if against:
            reason = f"{' and '.join(against)} against the sweep: " + "; ".join(_reasons(prev, row, against))
            out[i] = row.model_copy(update={"step_reason": reason})
    return out
