"""Pydantic schemas of catalog entries: GPUs (GPUSpec) and model presets (ModelPreset).

GPU quantities are SI with the unit in the field name (bytes, bytes/s, FLOP/s, W, USD); model
widths are element counts and lengths tokens. Every number carries its source in ``sources``
(field name -> citation).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from catalogs.errors import CatalogError

Precision = Literal["fp32", "tf32", "fp16", "bf16", "fp8"]
PRECISIONS: tuple[str, ...] = ("fp32", "tf32", "fp16", "bf16", "fp8")


class GPUSpec(BaseModel):
    """One accelerator type as sold in a standard node (e.g. an 8-GPU HGX/DGX board)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", description="canonical lower-case id")
    name: str
    vendor: Literal["nvidia", "amd", "intel", "google", "other"] = "nvidia"
    memory_bytes: float = Field(gt=0, description="HBM/GDDR capacity per GPU")
    memory_bandwidth_bytes_per_s: float = Field(gt=0)
    peak_flops: dict[Precision, float] = Field(
        description="dense (no sparsity) peak FLOP/s per precision; absent = unsupported")
    intra_node_link: str = Field(description="e.g. nvlink3, nvlink4, nvlink5, pcie4, pcie5, infinity-fabric")
    intra_node_bandwidth_bytes_per_s: float = Field(
        gt=0, description="per-GPU unidirectional bandwidth to the other GPUs of its node")
    gpus_per_node: int = Field(ge=1, le=72)
    inter_node_bandwidth_bytes_per_s: float = Field(
        gt=0, description="per-GPU unidirectional network bandwidth between nodes")
    power_watts: float = Field(gt=0, description="board power (TDP/TBP)")
    price_usd_per_gpu_hour: float = Field(gt=0, description="default on-demand rent")
    provider_prices_usd_per_gpu_hour: dict[str, float] = Field(default_factory=dict)
    purchase_price_usd: float = Field(gt=0, description="street price per GPU incl. its share of the server")
    gemm_efficiency_factor: float = Field(
        1.0, gt=0, le=1.5, description="achieved GEMM efficiency relative to the NVIDIA stack the "
        "throughput model is calibrated on (1.0 = same; below 1 for less mature software)")
    default_search: bool = Field(True, description="searched when a request names no GPUs (false: only when "
                                 "named, e.g. a part no provider rents out, such as the H800)")
    as_of: str = Field(description="date (YYYY-MM) the prices and specs were checked")
    sources: dict[str, str] = Field(default_factory=dict, description="field -> citation")

    @field_validator("peak_flops")
    @classmethod
    def _positive_peaks(cls, peaks: dict[str, float]) -> dict[str, float]:
        if not peaks:
            raise ValueError("at least one precision is required")
        for precision, flops in peaks.items():
            if not flops > 0 or flops != flops or flops == float("inf"):
                raise ValueError(f"peak_flops.{precision} must be a finite number > 0")
        return peaks

    @field_validator("provider_prices_usd_per_gpu_hour")
    @classmethod
    def _positive_prices(cls, prices: dict[str, float]) -> dict[str, float]:
        for provider, price in prices.items():
            if not price > 0:
                raise ValueError(f"provider price for {provider!r} must be > 0")
        return prices

    @model_validator(mode="after")
    def _finite(self) -> "GPUSpec":
        for name in ("memory_bytes", "memory_bandwidth_bytes_per_s", "intra_node_bandwidth_bytes_per_s",
                     "inter_node_bandwidth_bytes_per_s", "power_watts", "price_usd_per_gpu_hour",
                     "purchase_price_usd"):
            if getattr(self, name) == float("inf"):
                raise ValueError(f"{name} must be finite")
        return self

    @property
    def precisions(self) -> tuple[str, ...]:
        """Supported precisions in the canonical order."""
        return tuple(p for p in PRECISIONS if p in self.peak_flops)

    def catalog_json(self) -> dict:
        """The public JSON view used by ``planner catalog --json`` and ``GET /v1/catalog/gpus``."""
        return self.model_dump()


# ============================================================================ model presets

MlpKind = Literal["swiglu", "geglu", "gelu"]
NormKind = Literal["rmsnorm", "layernorm"]
QkNormKind = Literal["none", "head", "full"]

#: Fields of a ModelPreset that carry provenance rather than architecture.
PROVENANCE_FIELDS: tuple[str, ...] = (
    "id", "name", "published_params", "published_non_embedding_params", "published_active_params",
    "published_active_params_includes_input_embedding", "sources",
)


class ModelPreset(BaseModel):
    """A published decoder-only transformer: its shape and the parameter counts its authors state.

    Units: widths are numbers of elements (``hidden``, ``ffn_hidden``, ``head_dim``, ranks),
    lengths are tokens (``vocab`` entries, ``max_seq_len``, ``sliding_window``), the rest are
    counts. Each field names the Hugging Face ``config.json`` key it mirrors. ``sources`` maps a
    field (or ``architecture`` for the shape as a whole) to the document the number comes from.
    """

    # strict: a TOML or JSON value of the wrong type ("32", true for an int) is an error, not coerced
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)   # built on first use: the CLI starts faster

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", description="canonical lower-case id")
    name: str
    # --- dense backbone
    layers: int = Field(ge=1, le=10_000, description="transformer blocks (num_hidden_layers)")
    hidden: int = Field(ge=1, le=1_000_000, description="residual width d_model (hidden_size)")
    heads: int = Field(ge=1, le=10_000, description="query heads (num_attention_heads)")
    kv_heads: int = Field(ge=1, le=10_000, description="key/value heads (num_key_value_heads); "
                          "defaults to heads (multi-head attention)")
    head_dim: int = Field(ge=1, le=100_000, description="width of one head (head_dim); defaults to "
                          "hidden // heads, must be given when heads does not divide hidden")
    ffn_hidden: int | None = Field(None, ge=1, description="inner width of a dense MLP "
                                   "(intermediate_size); required when any layer is dense")
    mlp: MlpKind = Field(description="swiglu/geglu: gated, three matrices; gelu: two matrices")
    vocab: int = Field(ge=2, le=10_000_000, description="embedding rows (vocab_size)")
    tied_embeddings: bool = Field(description="output head shares the input embedding (tie_word_embeddings)")
    max_seq_len: int = Field(ge=1, description="longest context of the released model, tokens "
                             "(max_position_embeddings)")
    norm: NormKind = Field(description="rmsnorm: one weight vector; layernorm: weight and bias")
    norms_per_layer: int = Field(2, ge=0, le=8, description="hidden-width norms per block "
                                 "(2 pre-norm; 4 for Gemma 2's pre+post norms)")
    qk_norm: QkNormKind = Field("none", description="norm on queries and keys: head = one head_dim "
                                "vector each (Qwen3); full = over all heads (OLMo 2, OLMoE)")
    qkv_bias: bool = Field(False, description="bias on the Q, K, V projections (Qwen2.5)")
    attn_out_bias: bool = Field(False, description="bias on the attention output projection")
    mlp_bias: bool = Field(False, description="biases on the MLP matrices")
    learned_position_embeddings: bool = Field(False, description="a max_seq_len x hidden position table (GPT-2/3)")
    sliding_window: int | None = Field(None, ge=1, description="local attention window, tokens")
    sliding_window_layers: int | None = Field(None, ge=0, description="layers that use the window; "
                                              "None = all layers when sliding_window is set")
    # --- mixture of experts
    experts: int = Field(0, ge=0, le=100_000, description="routed experts per MoE layer "
                         "(num_local_experts / num_experts / n_routed_experts); 0 = dense model")
    top_k: int = Field(0, ge=0, description="routed experts per token (num_experts_per_tok)")
    shared_experts: int = Field(0, ge=0, description="always-on experts per MoE layer (n_shared_experts)")
    expert_ffn_hidden: int | None = Field(None, ge=1, description="inner width of one expert "
                                          "(moe_intermediate_size)")
    shared_expert_ffn_hidden: int | None = Field(None, ge=1, description="inner width of one "
                                                 "shared expert; defaults to expert_ffn_hidden")
    first_dense_layers: int = Field(0, ge=0, description="leading dense layers (first_k_dense_replace)")
    moe_layer_freq: int = Field(1, ge=1, description="after the leading dense layers, every k-th "
                                "layer is MoE (decoder_sparse_step)")
    router_bias: bool = Field(False, description="per-expert routing bias (DeepSeek-V3 "
                              "e_score_correction_bias)")
    routed_node_limit: int | None = Field(None, ge=1, description="nodes a token's routed experts may span "
                                          "(DeepSeek-V3 node-limited routing, M = 4; HF topk_group); None = no limit")
    # --- multi-head latent attention (DeepSeek-V2/V3)
    q_lora_rank: int | None = Field(None, ge=1, description="query down-projection rank; None = full-rank queries")
    kv_lora_rank: int | None = Field(None, ge=1, description="compressed KV width; set = MLA")
    qk_nope_head_dim: int | None = Field(None, ge=1, description="per-head query/key width without RoPE")
    qk_rope_head_dim: int | None = Field(None, ge=1, description="per-head decoupled RoPE query/key width")
    v_head_dim: int | None = Field(None, ge=1, description="per-head value width")
    mtp_modules: int = Field(0, ge=0, le=16, description="multi-token-prediction modules shipped with "
                             "the weights (num_nextn_predict_layers); never in published_params here")
    # --- provenance
    published_params: float | None = Field(None, gt=0, description="total parameters as the source states them")
    published_non_embedding_params: float | None = Field(None, gt=0, description="total without the "
                                                         "embedding and output matrices, as the source states it")
    published_active_params: float | None = Field(None, gt=0, description="MoE: parameters used per "
                                                  "token as the source states them")
    published_active_params_includes_input_embedding: bool = Field(
        True, description="whether the source's active count includes the input embedding table")
    sources: dict[str, str] = Field(default_factory=dict, description="field -> citation")

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data):
        """Fill the defaults that depend on other fields (kv_heads, head_dim, shared expert width)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        heads, hidden = data.get("heads"), data.get("hidden")
        if data.get("kv_heads") is None and isinstance(heads, int):
            data["kv_heads"] = heads
        if data.get("head_dim") is None and isinstance(heads, int) and isinstance(hidden, int) \
                and not isinstance(heads, bool) and heads > 0:
            if hidden % heads:
                raise ValueError(f"head_dim: required because heads ({heads}) does not divide "
                                 f"hidden ({hidden})")
            data["head_dim"] = hidden // heads
        if data.get("shared_expert_ffn_hidden") is None and data.get("shared_experts"):
            data["shared_expert_ffn_hidden"] = data.get("expert_ffn_hidden")
        return data

    @property
    def moe_layers(self) -> int:
        """Blocks whose MLP is a mixture of experts."""
        if not self.experts:
            return 0
        return (self.layers - self.first_dense_layers) // self.moe_layer_freq

    @property
    def dense_layers(self) -> int:
        return self.layers - self.moe_layers

    @property
    def is_moe(self) -> bool:
        return self.experts > 0

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank is not None

    @model_validator(mode="after")
    def _consistent(self) -> "ModelPreset":
        if self.heads % self.kv_heads:
            raise ValueError(f"kv_heads: must divide heads ({self.heads}), got {self.kv_heads}")
        if self.sliding_window_layers is not None:
            if self.sliding_window is None:
                raise ValueError("sliding_window_layers: needs sliding_window")
            if self.sliding_window_layers > self.layers:
                raise ValueError(f"sliding_window_layers: at most layers ({self.layers}), "
                                 f"got {self.sliding_window_layers}")
        self._check_moe()
        self._check_mla()
        if self.dense_layers and self.ffn_hidden is None:
            raise ValueError(f"ffn_hidden: required because {self.dense_layers} layer(s) are dense")
        if self.published_non_embedding_params is not None and self.published_params is not None \
                and self.published_non_embedding_params > self.published_params:
            raise ValueError(f"published_non_embedding_params: must not exceed published_params "
                             f"({self.published_params:g}), got {self.published_non_embedding_params:g}")
        if self.published_active_params is not None:
            if not self.experts:
                raise ValueError("published_active_params: only for MoE models (experts > 0)")
            if self.published_params is not None and self.published_active_params > self.published_params:
                raise ValueError(f"published_active_params: must not exceed published_params "
                                 f"({self.published_params:g}), got {self.published_active_params:g}")
        for key, text in self.sources.items():
            if not str(text).strip():
                raise ValueError(f"sources.{key}: must be a non-empty citation")
        return self

    def _check_moe(self) -> None:
        if not self.experts:
            for name, default in (("top_k", 0), ("shared_experts", 0), ("first_dense_layers", 0),
                                  ("expert_ffn_hidden", None), ("shared_expert_ffn_hidden", None),
                                  ("moe_layer_freq", 1), ("router_bias", False), ("routed_node_limit", None)):
                if getattr(self, name) != default:
                    raise ValueError(f"{name}: only for MoE models (experts > 0)")
            return
        if not 1 <= self.top_k <= self.experts:
            raise ValueError(f"top_k: must be between 1 and experts ({self.experts}), got {self.top_k}")
        if self.expert_ffn_hidden is None:
            raise ValueError("expert_ffn_hidden: required for MoE models (experts > 0)")
        if self.first_dense_layers >= self.layers:
            raise ValueError(f"first_dense_layers: must be below layers ({self.layers}), "
                             f"got {self.first_dense_layers}")
        if self.moe_layers == 0:
            raise ValueError(f"moe_layer_freq: leaves no MoE layer (layers {self.layers}, "
                             f"first_dense_layers {self.first_dense_layers}), got {self.moe_layer_freq}")

    def _check_mla(self) -> None:
        mla = ("qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")
        if self.kv_lora_rank is None:
            for name in ("q_lora_rank", *mla):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name}: only with multi-head latent attention (kv_lora_rank set)")
            return
        for name in mla:
            if getattr(self, name) is None:
                raise ValueError(f"{name}: required with multi-head latent attention (kv_lora_rank set)")
        if self.qkv_bias:
            raise ValueError("qkv_bias: not supported with multi-head latent attention")
        if self.qk_norm != "none":
            raise ValueError("qk_norm: not supported with multi-head latent attention (its "
                             "q/kv norms are part of the low-rank projections)")

    @classmethod
    def checked(cls, values: dict, where: str = "") -> "ModelPreset":
        """Validate ``values``; the first problem becomes a one-line CatalogError naming the field
        (prefixed with ``where``), for callers that do not deal in pydantic errors."""
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            first = error.errors()[0]
            loc = ".".join(str(part) for part in first["loc"])
            message = first["msg"].removeprefix("Value error, ").replace("\n", " ")
            field = loc or message.split(":", 1)[0]
            text = f"{loc}: {message}" if loc else message
            raise CatalogError(f"{where}{text}", field) from None

    def architecture_fields(self) -> dict:
        """The fields that define the network, without id, name or provenance."""
        return {key: value for key, value in self.model_dump().items() if key not in PROVENANCE_FIELDS}

    def catalog_json(self) -> dict:
        """The public JSON view of a preset."""
        return self.model_dump()


# =============================================================================================
# Reliability, carbon and rental-terms data (issues #15 and #16).
#
# These live beside ``GPUSpec`` rather than inside it: ``GPUSpec`` is the response model of
# ``GET /v1/catalog/gpus`` and any new field changes the checked-in ``planner/openapi.json``.
# Every model below is read from its own TOML file under ``catalogs/data/`` by a ``load_*``
# function in ``catalogs.loader``; units are SI with the unit in the field name, as above.
# =============================================================================================

Confidence = Literal["primary", "secondary", "derived", "assumption"]
"""How a figure was obtained: ``primary`` = quoted from the publisher's own document;
``secondary`` = quoted from a faithful third-party copy or summary (the primary was not readable);
``derived`` = arithmetic on cited figures (the arithmetic is recorded); ``assumption`` = no
published figure was found, the value is a stated guess."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)   # built on first use


class Citation(_Strict):
    """Where a figure comes from: a citation string (document, section, date), an exact quote."""

    source: str = Field(min_length=1, description="document, section and publication date")
    quote: str = Field("", description="exact words of the source ('' only for assumptions)")
    confidence: Confidence = "primary"
    note: str = Field("", description="caveats, cross-checks")

    @model_validator(mode="after")
    def _quoted_unless_assumed(self) -> "Citation":
        if self.confidence in ("primary", "secondary") and not self.quote.strip():
            raise ValueError(f"quote is required when confidence is {self.confidence!r}")
        return self


def _finite_nonnegative(name: str, value: float | None) -> None:
    if value is not None and (value != value or value in (float("inf"), float("-inf")) or value < 0):
        raise ValueError(f"{name} must be a finite number >= 0")


# --------------------------------------------------------------------------------------------
# Reliability


class FailureObservation(Citation):
    """One published failure record. Give either counts (``events`` over ``gpus`` × ``days``) or a
    per-node rate (``failures_per_node_day`` with ``gpus_per_node``); the per-GPU-hour rate is
    derived from whichever is given."""

    description: str = Field(min_length=1)
    gpu: str = Field(description="accelerator of the fleet (catalog id where there is one)")
    events: int | None = Field(None, ge=0, description="interruptions / restarts counted")
    gpus: int | None = Field(None, ge=1, description="GPUs in the job or fleet")
    days: float | None = Field(None, gt=0, description="observation window, days")
    failures_per_node_day: float | None = Field(None, gt=0, description="published per-node rate")
    gpus_per_node: int | None = Field(None, ge=1, le=72)
    hardware_share: float | None = Field(None, ge=0, le=1, description="share attributed to hardware")
    counts_lower_bound: bool = Field(False, description="the source says 'at least' / 'over'")

    @model_validator(mode="after")
    def _one_form(self) -> "FailureObservation":
        counts = (self.events, self.gpus, self.days)
        rate = (self.failures_per_node_day, self.gpus_per_node)
        has_counts, has_rate = all(v is not None for v in counts), all(v is not None for v in rate)
        if has_counts == has_rate or (not has_counts and any(v is not None for v in counts)) \
                or (not has_rate and any(v is not None for v in rate)):
            raise ValueError("give either events + gpus + days, or failures_per_node_day + gpus_per_node")
        return self

    @property
    def failures_per_gpu_hour(self) -> float:
        if self.failures_per_node_day is not None:
            return self.failures_per_node_day / (self.gpus_per_node * 24.0)
        return self.events / (self.gpus * self.days * 24.0)


class FailureRateDefault(_Strict):
    """The planner's default failure rate and how it was derived."""

    failures_per_gpu_hour: float = Field(gt=0, lt=1e-2, description="job-interrupting failures per GPU-hour")
    basis: str = Field(description="id of the observation it is derived from")
    arithmetic: str = Field(min_length=1, description="the derivation, written out")
    note: str = ""


class TimeFigure(Citation):
    """A duration with its citation (seconds)."""

    seconds: float = Field(gt=0, lt=30 * 86400)


class BandwidthFigure(Citation):
    """A storage bandwidth with its citation."""

    bytes_per_s: float = Field(gt=0, lt=1e15)
    arithmetic: str = ""


class CheckpointDefaults(_Strict):
    """Checkpoint cost model inputs: per-GPU write bandwidth to durable storage, and the time a
    checkpoint blocks training when it is taken asynchronously (copy to host memory only)."""

    write_bandwidth_per_gpu: BandwidthFigure
    peak_write_bandwidth_per_gpu: BandwidthFigure
    async_blocking_time: TimeFigure


class RestartDefaults(_Strict):
    """Time lost per interruption besides the recomputed work: detection, replacement of the bad
    node, job start-up and checkpoint reload. ``restart_overhead`` is the planner's default."""

    restart_overhead: TimeFigure
    job_startup: TimeFigure
    catch_up_bound: TimeFigure


class IntervalFormula(Citation):
    """An optimal-checkpoint-interval formula: ``tau`` (s) from checkpoint cost ``delta`` (s),
    mean time between interruptions ``M`` (s) and restart time ``R`` (s)."""

    expression: str = Field(min_length=1)


class ReliabilityCatalog(_Strict):
    """``catalogs/data/reliability.toml``."""

    as_of: str = Field(pattern=r"^20\d\d-\d\d$")
    failure_rate: FailureRateDefault
    observation: dict[str, FailureObservation]
    checkpoint: CheckpointDefaults
    restart: RestartDefaults
    formula: dict[str, IntervalFormula]
    goodput_reports: dict[str, Citation] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _basis_exists(self) -> "ReliabilityCatalog":
        if self.failure_rate.basis not in self.observation:
            raise ValueError(f"failure_rate.basis {self.failure_rate.basis!r} is not an observation id")
        for name in ("young", "daly"):
            if name not in self.formula:
                raise ValueError(f"formula.{name} is required")
        return self

    def mtbf_hours(self, gpus: int) -> float:
        """Mean time between job-interrupting failures for a job on ``gpus`` GPUs (hours)."""
        return 1.0 / (self.failure_rate.failures_per_gpu_hour * gpus)


# --------------------------------------------------------------------------------------------
# Regions and carbon


class RegionIntensity(Citation):
    """Average grid carbon intensity of the electricity where a GPU cloud region runs."""

    name: str = Field(min_length=1)
    grid_gco2e_per_kwh: float = Field(ge=0, le=2000, description="gCO2e per kWh of electricity")
    data_year: int = Field(ge=2015, le=2030)
    scope: Literal["operational", "lifecycle", "unspecified"] = Field(
        description="operational (direct combustion) or lifecycle (incl. upstream) emission factors")
    cloud_regions: list[str] = Field(default_factory=list, description="e.g. gcp:us-west1, aws:eu-west-1")


class TrainingFootprint(Citation):
    """A published training-emissions figure and what it implies about the method used."""

    gpu: str
    gpu_hours: float = Field(gt=0)
    power_watts: float = Field(gt=0)
    tco2e: float = Field(gt=0, description="published emissions, tonnes CO2e")
    pue: float | None = Field(None, ge=1, le=3, description="PUE the publisher applied (None = unknown)")
    pue_source: str = ""
    grid_kgco2e_per_kwh: float | None = Field(
        None, gt=0, lt=2, description="intensity the publisher applied (None = not stated)")
    intensity_source: str = ""
    arithmetic: str = Field(min_length=1)

    @property
    def energy_kwh(self) -> float:
        """GPU-hours × board power × PUE (PUE 1 when unknown)."""
        return self.gpu_hours * self.power_watts / 1000.0 * (self.pue or 1.0)

    @property
    def implied_kgco2e_per_kwh(self) -> float:
        """Intensity that reproduces ``tco2e`` from ``energy_kwh``."""
        return self.tco2e * 1000.0 / self.energy_kwh


class RegionsCatalog(_Strict):
    """``catalogs/data/regions.toml``."""

    as_of: str = Field(pattern=r"^20\d\d-\d\d$")
    default_region: str
    default_pue: float = Field(ge=1, le=3)
    default_pue_source: Citation
    region: dict[str, RegionIntensity]
    footprint: dict[str, TrainingFootprint] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _default_exists(self) -> "RegionsCatalog":
        if self.default_region not in self.region:
            raise ValueError(f"default_region {self.default_region!r} is not a region id")
        return self

    def get(self, region_id: str) -> RegionIntensity:
        key = str(region_id).strip().lower()
        if key not in self.region:
            raise KeyError(f"unknown region {region_id!r}; known: {', '.join(sorted(self.region))}")
        return self.region[key]


# --------------------------------------------------------------------------------------------
# Rental terms


class RentalOffer(Citation):
    """How one provider rents one GPU type. All fields are optional; an absent field means the
    planner's current behaviour (continuous per-GPU-hour billing, any GPU count, no minimum term,
    no spot offer). Units: seconds, hours, GPUs, USD per GPU-hour, interruptions per hour."""

    billing_increment_s: float | None = Field(
        None, gt=0, le=31 * 86400, description="billing granularity: usage is rounded up to a multiple")
    min_billed_s: float | None = Field(None, gt=0, le=31 * 86400, description="minimum charge per launch")
    min_rental_hours: float | None = Field(None, gt=0, le=366 * 24, description="shortest reservation")
    max_rental_hours: float | None = Field(None, gt=0, le=3 * 366 * 24, description="longest reservation")
    rental_step_hours: float | None = Field(None, gt=0, le=366 * 24, description="reservation length step")
    min_rental_gpus: int | None = Field(None, ge=1, le=100_000, description="smallest rentable GPU count")
    rental_gpu_step: int | None = Field(None, ge=1, le=100_000, description="rentable counts are multiples")
    max_rental_gpus: int | None = Field(None, ge=1, le=1_000_000)
    price_usd_per_gpu_hour: float | None = Field(None, gt=0, le=1e4, description="price under these terms")
    spot_price_usd_per_gpu_hour: float | None = Field(None, gt=0, le=1e4)
    spot_interruptions_per_hour: float | None = Field(
        None, ge=0, le=60, description="expected preemptions per instance-hour of a spot offer")
    spot_interruptions_confidence: Confidence | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "RentalOffer":
        for name in ("billing_increment_s", "min_billed_s", "min_rental_hours", "max_rental_hours",
                     "rental_step_hours", "price_usd_per_gpu_hour", "spot_price_usd_per_gpu_hour",
                     "spot_interruptions_per_hour"):
            _finite_nonnegative(name, getattr(self, name))
        if self.min_rental_hours and self.max_rental_hours and self.max_rental_hours < self.min_rental_hours:
            raise ValueError("max_rental_hours must be >= min_rental_hours")
        if self.min_rental_gpus and self.max_rental_gpus and self.max_rental_gpus < self.min_rental_gpus:
            raise ValueError("max_rental_gpus must be >= min_rental_gpus")
        if self.spot_interruptions_per_hour is not None and self.spot_price_usd_per_gpu_hour is None:
            raise ValueError("spot_interruptions_per_hour needs spot_price_usd_per_gpu_hour")
        if (self.spot_interruptions_per_hour is None) != (self.spot_interruptions_confidence is None):
            raise ValueError("spot_interruptions_confidence goes with spot_interruptions_per_hour")
        if self.price_usd_per_gpu_hour and self.spot_price_usd_per_gpu_hour \
                and self.spot_price_usd_per_gpu_hour > self.price_usd_per_gpu_hour:
            raise ValueError("spot_price_usd_per_gpu_hour must not exceed price_usd_per_gpu_hour")
        return self

    def billed_seconds(self, used_s: float) -> float:
        """Seconds charged for ``used_s`` seconds of use (minimum charge, then round up)."""
        import math

        billed = max(float(used_s), self.min_billed_s or 0.0,
                     (self.min_rental_hours or 0.0) * 3600.0)
        step = self.billing_increment_s
        if self.rental_step_hours and (self.min_rental_hours or 0) > 0:
            step = max(step or 0.0, self.rental_step_hours * 3600.0)
        if step:
            billed = math.ceil(billed / step - 1e-9) * step
        return billed

    def rentable_gpus(self, gpus: int) -> int:
        """Smallest rentable count >= ``gpus`` under these terms (no maximum check)."""
        count = max(int(gpus), self.min_rental_gpus or 1)
        step = self.rental_gpu_step or 1
        return -(-count // step) * step


class RentalTermsCatalog(_Strict):
    """``catalogs/data/rental_terms.toml``: ``[offer.<gpu id>.<provider>]`` tables."""

    as_of: str = Field(pattern=r"^20\d\d-\d\d$")
    offer: dict[str, dict[str, RentalOffer]]

    def terms(self, gpu_id: str, provider: str) -> RentalOffer:
        """The terms of ``provider`` for ``gpu_id``; an empty offer (today's behaviour) if absent."""
        return self.offer.get(gpu_id, {}).get(provider, RentalOffer(source="default: no terms recorded",
                                                                    confidence="assumption"))
