"""Pydantic models at the boundaries: strategies, model shapes and cost estimates.

Units are in the field names; these are what the CLI prints with ``--json`` and the HTTP API returns.
"""

# No `from __future__ import annotations`: pydantic would eval every annotation string when the
# models are built (~7 ms of a cold `planner best` over the three wire-type modules; issue #17).

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from planner.types.strict import NoBoolInts
from planner.types.vocabulary import FrameworkName, MlpName, PrecisionName, RecomputeName



class Strategy(BaseModel):
    """How one run is laid out on its GPUs."""

    model_config = ConfigDict(extra="forbid")

    tp: int = Field(ge=1, description="tensor-parallel size (within a node)")
    pp: int = Field(ge=1, description="pipeline-parallel stages")
    dp: int = Field(ge=1, description="data-parallel replicas")
    zero: int = Field(ge=0, le=3, description="ZeRO stage (3 = FSDP full shard)")
    precision: PrecisionName
    recompute: RecomputeName
    micro_batch: int = Field(ge=1, description="sequences per micro-batch")
    grad_accum: int = Field(ge=1, description="micro-batches per optimizer step per replica")
    global_batch_sequences: int = Field(ge=1)
    sequence_parallel: bool = Field(description="Megatron sequence parallelism (on whenever tp > 1)")
    cp: int = Field(1, ge=1, description="context-parallel size: the sequence split over cp GPUs (ring attention)")
    vpp: int = Field(1, ge=1, description="virtual pipeline stages per GPU (interleaved 1F1B; 1 = plain 1F1B)")
    ep: int = Field(1, ge=1, description="expert-parallel size: routed experts sharded over ep GPUs (MoE only)")
    framework: FrameworkName | None = Field(None, description="the training framework that runs this layout "
                                                              "(the one asked for, else the first that runs it)")

    def degrees(self) -> str:
        """``TP=8 PP=16 DP=128`` with ``CP=…``, ``VPP=…`` and ``EP=…`` when used: the parallel degrees in one place."""
        extra = (f" CP={self.cp}" if self.cp > 1 else "") + (f" VPP={self.vpp}" if self.vpp > 1 else "") \
            + (f" EP={self.ep}" if self.ep > 1 else "")
        return f"TP={self.tp} PP={self.pp}{extra} DP={self.dp}"


class Shape(BaseModel):
    """The model as costed: its size and the shape fields that change memory and FLOPs."""

    model_config = ConfigDict(extra="forbid")

    params: float
    layers: int
    hidden: int
    heads: int
    vocab: int
    seq_len: int
    kv_heads: int | None = None
    ffn_hidden: int | None = None
    gated_mlp: bool = False
    tied_embeddings: bool = True
    head_dim: int | None = None
    name: str | None = Field(None, description="preset, config file or shape rule it came from")
    # mixture of experts (issue #16): absent for dense models
    experts: int | None = Field(None, description="routed experts per MoE layer")
    top_k: int | None = Field(None, description="routed experts per token")
    moe_layers: int | None = Field(None, description="blocks whose MLP is a mixture of experts")
    expert_ffn_hidden: int | None = Field(None, description="inner width of one routed expert")
    active_params: float | None = Field(None, description="parameters one token uses (FLOPs follow these)")


class MemoryBreakdown(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weights: float
    gradients: float
    optimizer: float
    zero3_gather_buffer: float
    activations: float
    framework_overhead: float
    total: float


class TimeBreakdown(BaseModel):
    """Seconds per optimizer step by cause."""

    model_config = ConfigDict(extra="forbid")

    compute: float
    memory_bound: float
    tensor_parallel: float
    pipeline_p2p: float
    context_parallel: float = 0.0
    expert_parallel: float = Field(0.0, description="exposed MoE all-to-all dispatch/combine (issue #16)")
    pipeline_bubble: float
    data_parallel_exposed: float
    optimizer: float
    # time added so that MFU stays within the best published on the GPU generation (issue #14)
    mfu_envelope: float = 0.0
    total: float


class StrategyOption(BaseModel):
    """A strategy with its headline numbers (used for runner-ups and nearest-fitting lists)."""

    model_config = ConfigDict(extra="forbid")

    strategy: Strategy
    memory_per_gpu_bytes: float
    fits: bool
    tokens_per_second: float
    mfu: float


class TimeQuantiles(BaseModel):
    """Quantiles of log(actual / predicted GPU time) of the cost model, measured on held-out
    published runs: actual time = predicted × exp(q) at that quantile."""

    model_config = ConfigDict(extra="forbid")

    q10: float
    q50: float
    q90: float

    def probability_within(self, limit_over_predicted: float) -> float:
        """P(actual ≤ limit) for a limit ``limit_over_predicted`` × the prediction: a log-normal with
        its median at q50 and its spread from q10 below and q90 above (two half-normals)."""
        if limit_over_predicted <= 0:
            return 0.0
        if math.isinf(limit_over_predicted):
            return 1.0
        x = math.log(limit_over_predicted) - self.q50
        sigma = (self.q90 - self.q50 if x >= 0 else self.q50 - self.q10) / Z90
        if sigma <= 0:
            return float(x >= 0)
        return 0.5 * (1.0 + math.erf(x / (sigma * math.sqrt(2.0))))


Z90 = 1.2815515655446004            # standard normal P90


class Estimate(BaseModel):
    """The cost of one fully described training run."""

    model_config = ConfigDict(extra="forbid")

    params: float
    tokens: float
    shape: Shape
    gpu: str
    gpus: int
    nodes: int
    strategy: Strategy
    strategy_source: Literal["user", "search", "user+search"]
    fits: bool
    memory_per_gpu_bytes: float
    usable_memory_per_gpu_bytes: float
    memory_breakdown_bytes: MemoryBreakdown
    step_time_s: float
    time_breakdown_s: TimeBreakdown
    tokens_per_second: float
    mfu: float
    model_flops: float
    wall_clock_hours: float
    gpu_hours: float
    price_usd_per_gpu_hour: float
    cost_usd: float
    energy_kwh: float
    nearest_fitting: list[StrategyOption] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    # ---- Issue #15: real runs are not clean runs (goodput, carbon). wall_clock_hours, gpu_hours,
    # cost_usd and energy_kwh above are EXPECTED figures (failures, checkpoints, restarts); the
    # one-off start-up (startup_s) is beside them (deadlines leave room for it).
    ideal_wall_clock_hours: float | None = Field(None, description="clean run: tokens / tokens_per_second")
    goodput: float = Field(1.0, description="ideal / expected wall-clock")
    expected_interruptions: float = Field(0.0, description="expected job-interrupting failures")
    checkpoint_interval_s: float | None = Field(None, description="optimal interval (Daly 2006); None without failures")
    checkpoint_s: float = Field(0.0, description="seconds one checkpoint blocks training")
    startup_s: float = Field(0.0, description="one-off job start-up, not in wall_clock_hours (deadlines leave room for it)")
    region: str | None = Field(None, description="regions.toml id of the grid intensity used")
    grid_gco2_per_kwh: float | None = Field(None, description="grid carbon intensity used")
    co2_kg: float | None = Field(None, description="energy_kwh × grid intensity (location-based)")
    provider: str | None = Field(None, description="rental terms billed (rental_terms.toml); None = continuous billing")
    billed_hours: float | None = Field(None, description="hours billed: used time raised to the minimum charge or "
                                                         "block and rounded up to the billing increment")
    billed_gpus: int | None = Field(None, description="GPUs billed (smallest rentable count, whole nodes)")

    # ---- Issue #14: prediction intervals from out-of-sample residuals (held-out + leave-one-family-out).
    interval_quantiles: TimeQuantiles | None = Field(
        None, description="the cost model's measured error behind the P10/P90 fields (benchmarks/accuracy.py --fit)")
    gpu_hours_p10: float | None = None
    gpu_hours_p90: float | None = None
    wall_clock_hours_p10: float | None = None
    wall_clock_hours_p90: float | None = None
    cost_usd_p10: float | None = Field(None, description="time-proportional cost scaled, fixed costs (capex, "
                                                         "inference) not")
    cost_usd_p90: float | None = None

    def fixed_cost_usd(self) -> float:
        """Cost that does not grow with training time (none for a single rented run)."""
        return 0.0

    @model_validator(mode="after")
    def _intervals(self) -> "Estimate":
        """P10/P90 from the point values and the stored quantiles (recomputed on every validation,
        so a Plan built from an Estimate's fields and new times gets its own bands)."""
        q = self.interval_quantiles
        if q is None:
            return self
        low, high = math.exp(q.q10), math.exp(q.q90)
        fixed = min(self.fixed_cost_usd(), self.cost_usd)
        variable = self.cost_usd - fixed
        object.__setattr__(self, "gpu_hours_p10", self.gpu_hours * low)
        object.__setattr__(self, "gpu_hours_p90", self.gpu_hours * high)
        object.__setattr__(self, "wall_clock_hours_p10", self.wall_clock_hours * low)
        object.__setattr__(self, "wall_clock_hours_p90", self.wall_clock_hours * high)
        object.__setattr__(self, "cost_usd_p10", fixed + variable * low)
        object.__setattr__(self, "cost_usd_p90", fixed + variable * high)
        return self


class ArchitectureFields(NoBoolInts):
    """The model-shape fields every request that describes a model shares (estimates, fine-tuning, plan
    files): a preset or config.json elsewhere in the request, or the shape itself; all optional.
    Built on first use (``defer_build``): a `planner best` never validates one (issue #17)."""

    model_config = ConfigDict(defer_build=True)

    layers: int | None = Field(None, ge=1, le=10_000)
    hidden: int | None = Field(None, ge=8, le=1_000_000)
    heads: int | None = Field(None, ge=1, le=10_000)
    kv_heads: int | None = Field(None, ge=1, le=10_000, description="key/value heads (GQA; default: heads)")
    ffn_hidden: int | None = Field(None, ge=1, le=10_000_000, description="MLP width (default: 4·hidden)")
    mlp: MlpName | None = Field(None, description="gelu (plain, 2 matrices) | swiglu | geglu (gated, 3 matrices)")
    tied_embeddings: bool | None = Field(None, description="input embedding shared with the output head (default: tied)")
    vocab: int | None = Field(None, ge=2, le=10_000_000, description="vocabulary (default: 32,000, or the model's)")


class EstimateRequest(ArchitectureFields):
    """A training run to cost. Unset strategy fields are chosen by search (fastest that fits)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    params: float | None = Field(None, ge=1, le=1e15, description="parameter count (or give the shape)")
    tokens: float = Field(ge=1, le=1e16, description="training tokens")
    gpu: str = Field(description="catalog id, case-insensitive")
    gpus: int = Field(ge=1, le=1_000_000)
    seq_len: int = Field(4096, ge=16, le=1_048_576)
    model: str | None = Field(None, max_length=4096, description="a preset (planner models) or a config.json path; "
                                                              "the fields above override it")
    tp: int | None = Field(None, ge=1, le=1024)
    pp: int | None = Field(None, ge=1, le=1024)
    cp: int | None = Field(None, ge=1, le=1024, description="context-parallel size (default: searched for long sequences)")
    vpp: int | None = Field(None, ge=1, le=64, description="virtual pipeline stages (interleaved 1F1B)")
    ep: int | None = Field(None, ge=1, le=4096, description="expert-parallel size (MoE; default: searched)")
    a2a_overlap: float | None = Field(None, ge=0, le=1, description="share of the MoE all-to-all hidden behind "
                                                                    "compute (default 0; DeepSeek's DualPipe: 1)")
    # ---- Issue #16: mixture-of-experts overrides of a preset / config (or a dense shape made sparse)
    experts: int | None = Field(None, ge=1, le=65_536, description="routed experts per MoE layer")
    top_k: int | None = Field(None, ge=1, le=65_536, description="routed experts per token")
    shared_experts: int | None = Field(None, ge=0, le=1024, description="always-on shared experts")
    expert_ffn_hidden: int | None = Field(None, ge=1, le=10_000_000, description="inner width of one expert")
    first_dense_layers: int | None = Field(None, ge=0, le=10_000, description="leading dense (non-MoE) layers")
    zero: int | None = Field(None, ge=0, le=3)
    precision: PrecisionName | None = None
    recompute: RecomputeName | None = None
    micro_batch: int | None = Field(None, ge=1, le=4096)
    global_batch_tokens: float | None = Field(None, ge=1, le=1e10)
    price_usd_per_gpu_hour: float | None = Field(None, gt=0, le=1e4)
    # ---- Issue #15: realism overrides (defaults: catalogs/data/reliability.toml, regions.toml)
    failure_rate_per_gpu_hour: float | None = Field(None, ge=0, lt=1, description="job-interrupting failures per GPU-hour")
    checkpoint_bandwidth_bytes_per_s: float | None = Field(None, gt=0, le=1e15, description="per-GPU checkpoint write bandwidth")
    restart_time_s: float | None = Field(None, ge=0, le=1e7, description="time lost per failure besides recomputation")
    startup_time_s: float | None = Field(None, ge=0, le=1e7, description="one-off job start-up")
    region: str | None = Field(None, max_length=100, description="grid region id (planner regions)")
    grid_gco2_per_kwh: float | None = Field(None, ge=0, le=5000, description="grid carbon intensity override")
    provider: str | None = Field(None, max_length=100, description="bill on this provider's rental terms "
                                                                  "(rental_terms.toml; cost_usd is what it bills)")
    framework: FrameworkName | None = Field(None, description="megatron | torchtitan | deepspeed | fsdp: only its "
                                            "layouts, with its memory accounting (default: generic)")

    @model_validator(mode="after")
    def _shape_within_bounds(self) -> "EstimateRequest":
        """A shape implies a parameter count; it must respect the same bound as ``params`` (#18)."""
        if self.layers is not None and self.hidden is not None:
            implied = 12.0 * self.layers * self.hidden**2 + (self.vocab or 32_000) * self.hidden
            if implied > 1e15:
                raise ValueError(f"layers and hidden give {implied:.3g} parameters (12·layers·hidden² + "
                                 f"vocab·hidden); at most 1e15 allowed")
        return self
