"""Wire types of trade-off questions: a sweep's rows and a per-GPU-type comparison."""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel, ConfigDict, Field

from planner.types.results import Plan


class SweepRow(BaseModel):
    """The best plan at one point of a sweep (or why there is none)."""

    model_config = ConfigDict(extra="forbid")

    budget_usd: Optional[float]
    deadline_hours: Optional[float]
    feasible: bool
    params: Optional[float] = None
    tokens: Optional[float] = None
    loss: Optional[float] = None
    gpu: Optional[str] = None
    gpus: Optional[int] = None
    cost_usd: Optional[float] = None
    wall_clock_hours: Optional[float] = None
    tokens_per_param: Optional[float] = None
    model_flops: Optional[float] = None
    mfu: Optional[float] = None
    binding: str = ""
    message: str = ""
    near_tie: str = Field("", description="set when the plan took a near-tie over the strictly-best loss: why")
    step_reason: str = Field("", description="why GPU count or wall-clock moves against the sweep's direction "
                             "from the previous point (empty when they move with it)")


class GPUComparison(BaseModel):
    """For one GPU type and one model: its cheapest and fastest plan (None if it cannot train it)."""

    model_config = ConfigDict(extra="forbid")

    gpu: str
    cheapest: Optional[Plan] = None
    fastest: Optional[Plan] = None
    message: str = ""
