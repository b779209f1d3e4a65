"""The solver's answer: a Plan a person can act on, or an Infeasibility saying what to change."""

# No `from __future__ import annotations`: pydantic would eval every annotation string when the
# models are built (~7 ms of a cold `planner best` over the three wire-type modules; issue #17).

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from planner.types.estimates import Estimate
from planner.types.vocabulary import Constraint, GPUMode, Objective


class Alternative(BaseModel):
    """A runner-up and how much worse it is than the plan."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["gpu_type", "strategy", "architecture"]
    description: str
    gpu: str
    gpus: int
    params: float
    tokens: float
    loss: float | None
    cost_usd: float
    wall_clock_hours: float
    tokens_per_second: float
    loss_delta: float | None = Field(None, description="alternative's loss minus the plan's")
    throughput_ratio: float = Field(description="alternative's tokens/s over the plan's")


class NearTie(BaseModel):
    """The strictly-best plan the solver passed over for a near-tie (issue #15), and why."""

    model_config = ConfigDict(extra="forbid")

    loss_tolerance: float = Field(description="plans within this many nats of the best loss count as tied")
    best_loss: float = Field(description="the strictly lowest predicted loss found")
    best_params: float
    best_tokens: float
    best_gpu: str
    best_gpus: int
    best_cost_usd: float
    best_wall_clock_hours: float
    reason: str = Field(description="which secondary key decided: cost, wall-clock or GPU count")


class Plan(Estimate):
    """Everything needed to act: model, data, hardware, strategy, time, money, energy and why."""

    model_config = ConfigDict(extra="forbid")

    objective: Objective
    loss: float = Field(description="predicted final training loss (nats/token) under the law")
    law: str
    tokens_per_param: float
    compute_optimal_tokens_per_param: float = Field(description="the law's ratio at this plan's FLOPs")
    effective_tokens: float = Field(description="tokens after the repetition discount (= tokens with enough data)")
    gpu_mode: GPUMode
    capex_usd: float = Field(0.0, description="purchase of bought GPUs (included in cost_usd)")
    electricity_usd: float = Field(0.0, description="power for owned/bought GPUs (included in cost_usd)")
    power_kw: float
    inference_cost_usd: float | None = Field(None, description="serving the expected inference tokens (counted in the budget)")
    budget_usd: float | None = None
    deadline_hours: float | None = None
    binding_constraints: list[Constraint] = Field(default_factory=list)
    explanation: list[str] = Field(default_factory=list, description="why this plan, in sentences")
    alternatives: list[Alternative] = Field(default_factory=list)
    allocation: dict[str, int] = Field(default_factory=dict, description="GPUs per type (several with allow_mixed)")
    loss_tolerance: float | None = Field(None, description="min_loss: plans within this many nats of the best "
                                         "loss were ranked by cost, wall-clock, GPU count, then nearness to the law's ratio")
    near_tie: NearTie | None = Field(None, description="set when a near-tie was taken over the strictly-best plan")
    deadline_probability: float | None = Field(None, description="probability that the run finishes within "
                                               "deadline_hours under the cost model's measured error")
    budget_probability: float | None = Field(None, description="probability that cost_usd stays within budget_usd")

    def fixed_cost_usd(self) -> float:
        return self.capex_usd + (self.inference_cost_usd or 0.0)

    @model_validator(mode="after")
    def _probabilities(self) -> "Plan":
        q = self.interval_quantiles
        if q is None:
            return self
        deadline = None
        if self.deadline_hours is not None and self.wall_clock_hours > 0:
            deadline = q.probability_within(self.deadline_hours / self.wall_clock_hours)
        budget = None
        if self.budget_usd is not None:
            variable = self.cost_usd - min(self.fixed_cost_usd(), self.cost_usd)
            left = self.budget_usd - min(self.fixed_cost_usd(), self.cost_usd)
            budget = 1.0 if variable <= 0 and left >= 0 else q.probability_within(left / variable) if variable > 0 else 0.0
        object.__setattr__(self, "deadline_probability", deadline)
        object.__setattr__(self, "budget_probability", budget)
        return self


class Infeasibility(BaseModel):
    """A well-formed request no plan can meet: the binding constraint and the smallest fix."""

    model_config = ConfigDict(extra="forbid")

    feasible: Literal[False] = False
    binding_constraint: Constraint
    message: str
    fix: str | None = None


class SolveResult(BaseModel):
    """What ``solve`` always returns (after ``scipy.optimize.OptimizeResult``): ``feasible`` and a
    ``message`` always; the ``plan`` when feasible, else the ``infeasibility`` (binding constraint
    and smallest fix)."""

    model_config = ConfigDict(extra="forbid")

    feasible: bool
    status: Literal["optimal", "infeasible"]
    message: str
    plan: Plan | None = None
    infeasibility: Infeasibility | None = None

    @classmethod
    def found(cls, plan: Plan) -> "SolveResult":
        return cls(feasible=True, status="optimal", plan=plan,
                   message=f"{plan.params:.3g} params on {plan.tokens:.3g} tokens, {plan.gpus} × {plan.gpu}")

    @classmethod
    def infeasible(cls, why: Infeasibility) -> "SolveResult":
        return cls(feasible=False, status="infeasible", infeasibility=why, message=why.message)

    @property
    def answer(self) -> "Plan | Infeasibility":
        """The plan, or the infeasibility: the body the CLI's ``--json`` and HTTP endpoints return."""
        return self.plan if self.feasible else self.infeasibility
