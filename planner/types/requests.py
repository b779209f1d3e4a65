"""The solver's request: objective, money, time, hardware availability and model/data facts.

Units are in the names; the CLI and HTTP edges parse ``250k`` / ``30d`` into these fields.
"""

# No `from __future__ import annotations`: pydantic would eval every annotation string when the
# models are built (~7 ms of a cold `planner best` over the three wire-type modules; issue #17).

from pydantic import ConfigDict, Field, model_validator

from planner.types.strict import NoBoolInts
from planner.types.vocabulary import FamilyName, FrameworkName, GPUMode, Objective, PrecisionName

# Lower bounds that keep every result finite (#18): a deadline of at least a minute, at least one token.
MIN_DEADLINE_HOURS = 1 / 60


# When a request names no availability, every catalog GPU may be rented up to this many
# (a large on-demand reservation; say --gpus to set your own).
DEFAULT_MAX_GPUS_PER_TYPE = 1024


class Availability(NoBoolInts):
    """GPUs of one type the job may use: how many, and whether rented, already owned or bought."""

    model_config = ConfigDict(extra="forbid")

    gpu: str = Field(description="catalog id (case-insensitive)")
    max_count: int = Field(ge=0, le=1_000_000)
    mode: GPUMode = "rent"
    price_usd_per_gpu_hour: float | None = Field(None, gt=0, le=1e4, description="rent price override")
    purchase_price_usd: float | None = Field(None, gt=0, le=1e8, description="purchase price override")


class SolveRequest(NoBoolInts):
    """What the user wants and what they have. See README "Requests" for every field's default."""

    model_config = ConfigDict(extra="forbid")

    objective: Objective = "min_loss"
    budget_usd: float | None = Field(None, gt=0, le=1e15)
    deadline_hours: float | None = Field(None, ge=MIN_DEADLINE_HOURS, le=1e7)
    availability: list[Availability] | None = Field(
        None, min_length=1, description=f"default: every catalog GPU, rented, up to {DEFAULT_MAX_GPUS_PER_TYPE} each")
    precisions: list[PrecisionName] = Field(default_factory=lambda: ["bf16", "fp16", "fp32"], min_length=1,
                                            description="allowed precisions (add fp8 to allow it)")
    seq_len: int = Field(4096, ge=128, le=1_048_576)
    vocab: int | None = Field(None, ge=2, le=10_000_000, description="vocabulary (default: the family's: "
                                                                       "32,000 for gpt, 128,256 for llama3)")
    family: FamilyName = Field("gpt", description="shape rule for a bare size: gpt (4h MLP, MHA, tied) or llama3 "
                                                 "(SwiGLU, 8 KV heads, untied; several shapes per size)")
    params: float | None = Field(None, ge=1, le=1e15, description="fixed model size (min_cost/min_time)")
    tokens: float | None = Field(None, ge=1, le=1e16, description="fixed training tokens (min_cost/min_time)")
    target_loss: float | None = Field(None, gt=0, le=100, description="min_cost: reach this predicted loss")
    unique_tokens: float | None = Field(None, ge=1, le=1e16, description="unique data available (repeats beyond)")
    inference_tokens: float | None = Field(None, ge=0, le=1e20, description="expected lifetime tokens served")
    power_cap_kw: float | None = Field(None, gt=0, le=1e7)
    electricity_usd_per_kwh: float = Field(0.10, ge=0, le=100)
    pue: float = Field(1.2, ge=1.0, le=5.0)
    law: str | None = Field(None, description="scaling-law preset name (default: besiroglu)")
    global_batch_tokens: float | None = Field(None, ge=1, le=1e10)
    max_global_batch_tokens: float | None = Field(None, ge=1, le=1e10)
    allow_mixed: bool = Field(False, description="let the ILP mix GPU types across data-parallel groups")
    allow_moe: bool = Field(False, description="min_loss: let the search choose a mixture-of-experts model "
                                               "(planner.costmodel.moe.MOE_LATTICE) over a dense one, both scored "
                                               "by the joint MoE law ludziejewski2025")
    framework: FrameworkName | None = Field(None, description="search only layouts this framework runs, with its "
                                            "memory accounting (default: any layout; the plan names a framework "
                                            "that runs it)")
    # ---- Issue #15: realism overrides (defaults: catalogs/data/reliability.toml, regions.toml)
    failure_rate_per_gpu_hour: float | None = Field(None, ge=0, lt=1, description="job-interrupting failures per GPU-hour")
    checkpoint_bandwidth_bytes_per_s: float | None = Field(None, gt=0, le=1e15, description="per-GPU checkpoint write bandwidth")
    restart_time_s: float | None = Field(None, ge=0, le=1e7, description="time lost per failure besides recomputation")
    startup_time_s: float | None = Field(None, ge=0, le=1e7, description="one-off job start-up")
    region: str | None = Field(None, max_length=100, description="grid region id (planner regions)")
    grid_gco2_per_kwh: float | None = Field(None, ge=0, le=5000, description="grid carbon intensity override")
    min_rental_hours: float | None = Field(None, ge=0, le=1e5, description="shortest multi-node rental block "
                                                                         "(default 24 h; 0 = none)")
    provider: str | None = Field(None, max_length=100, description="rent on this provider's terms "
                                 "(catalogs/data/rental_terms.toml): billing increments, minimum blocks and whole "
                                 "nodes count in the budget; default: continuous billing at the catalog price")
    spot: bool = Field(False, description="rent the provider's spot/preemptible offer: its price, and its "
                                          "preemptions added to the failure rate")
    loss_tolerance: float | None = Field(None, ge=0, le=1, description="min_loss: plans within this many nats of "
                                         "the best predicted loss are near-ties, decided by cost, then wall-clock, "
                                         "then fewer GPUs, then nearest the law's tokens/param (default 0.001; 0 = the strict "
                                         "optimum)")
    confidence: float | None = Field(None, ge=0.5, lt=1.0, description="plan so the deadline and budget hold with "
                                     "this probability under the cost model's measured error (default: the point "
                                     "prediction, ~P50)")

    @model_validator(mode="after")
    def _consistent(self) -> "SolveRequest":
        if self.objective == "min_loss" and self.budget_usd is None and self.deadline_hours is None:
            raise ValueError("min_loss needs budget_usd or deadline_hours (or both)")
        if self.objective == "min_time" and (self.params is None or self.tokens is None):
            raise ValueError("min_time needs params and tokens")
        if self.objective == "min_cost" and self.params is None:
            raise ValueError("min_cost needs params (and tokens or target_loss)")
        if self.objective == "min_cost" and self.tokens is None and self.target_loss is None:
            raise ValueError("min_cost needs tokens or target_loss")
        if self.provider is not None and self.allow_mixed:
            raise ValueError("provider: rental terms apply to one GPU type per job; drop allow_mixed")
        if self.allow_moe and self.objective != "min_loss":
            raise ValueError("allow_moe: only for min_loss (planner best); give a model to cost instead")
        if self.allow_moe and self.law is not None and self.law.strip().lower() != "ludziejewski2025":
            raise ValueError("allow_moe: dense and MoE plans are both scored by the joint law ludziejewski2025; "
                             "omit law (or give ludziejewski2025)")
        return self
