"""Wire types of fine-tuning: the request (method, model, data, hardware, strategy) and the answer.

``planner.analysis.finetune.plan_finetune`` turns a ``FinetuneRequest`` into a ``FinetuneResponse``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from planner.types.estimates import ArchitectureFields, Shape, Strategy
from planner.types.vocabulary import BaseQuant, FinetuneMethod, FrameworkName, LoraTargets, Objective, RecomputeName

# Fine-tuning recipes use small batches: 128 sequences in Alpaca (Taori et al. 2023 repo: 4 GPUs ×
# 4 per device × 8 accumulation) and Vicuna (FastChat train recipe). Beyond 4× the target the
# layout changes the recipe's optimisation too much; assumption.
DEFAULT_GLOBAL_BATCH_SEQUENCES = 128
# Fine-tuning sequences: Alpaca 512, Vicuna 2048 (LMSYS 2023); 2048 is the default.
DEFAULT_FINETUNE_SEQ_LEN = 2048
OBJECTIVE_ALIASES = {"cheapest": "min_cost", "fastest": "min_time"}

Binding = Literal["memory", "budget", "deadline", "layout"]
FixKind = Literal["strategy", "lora", "qlora", "more_gpus", "shorter_sequences", "larger_gpu", "budget", "deadline"]


class FinetuneRequest(ArchitectureFields):
    """A fine-tuning job. Unset method / GPU / count / strategy fields are searched."""

    model_config = ConfigDict(extra="forbid")

    base_params: float | None = Field(None, ge=1, le=1e15, description="base model parameters (or give the shape)")
    tokens: float = Field(ge=1, le=1e14, description="fine-tuning tokens (examples × epochs × sequence length)")
    method: FinetuneMethod | None = Field(None, description="full | lora | qlora (default: search all three)")
    rank: int | None = Field(None, ge=1, le=65_536, description="LoRA rank (default 16 for lora, 64 for qlora)")
    targets: LoraTargets | None = Field(None, description="adapted projections: qv | attention | all")
    base_quant: BaseQuant | None = Field(None, description="frozen base format: bf16 | int8 | fp8 | nf4")
    seq_len: int = Field(DEFAULT_FINETUNE_SEQ_LEN, ge=16, le=1_048_576)
    model: str | None = Field(None, max_length=4096, description="the base model: a preset (planner models) or a "
                                                              "config.json path; the fields above override it")
    gpu: str | None = Field(None, description="catalog id (default: every catalog GPU)")
    gpus: int | None = Field(None, ge=1, le=1_000_000, description="GPU count (default: 1, 2, 4, whole nodes to 64)")
    objective: Objective = Field("min_cost", description="min_cost | min_time (aliases: cheapest, fastest)")
    budget_usd: float | None = Field(None, gt=0, le=1e15)
    deadline_hours: float | None = Field(None, ge=1 / 60, le=1e7)
    tp: int | None = Field(None, ge=1, le=1024)
    pp: int | None = Field(None, ge=1, le=1024)
    zero: int | None = Field(None, ge=0, le=3)
    recompute: RecomputeName | None = None
    micro_batch: int | None = Field(None, ge=1, le=4096)
    global_batch_sequences: int = Field(DEFAULT_GLOBAL_BATCH_SEQUENCES, ge=1, le=10_000_000)
    framework: FrameworkName | None = Field(None, description="megatron | torchtitan | deepspeed | fsdp: only "
                                            "layouts it runs")
    price_usd_per_gpu_hour: float | None = Field(None, gt=0, le=1e4)
    stack_efficiency: float | None = Field(None, ge=0.01, le=1,
                                           description="measured/modelled throughput of your training stack "
                                                       "(default: the calibrated value, see docs/finetune.md)")

    @field_validator("objective", mode="before")
    @classmethod
    def _objective_alias(cls, value):
        """Fine-tuning said cheapest / fastest before objectives had one vocabulary; both still work."""
        return OBJECTIVE_ALIASES.get(value, value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _no_min_loss(self) -> "FinetuneRequest":
        if self.objective == "min_loss":
            raise ValueError("objective: fine-tuning takes min_cost or min_time (the model is given)")
        return self


class FinetuneMemory(BaseModel):
    """Bytes per GPU; ``total`` is what stays on the GPU (paged optimizer states excluded)."""

    model_config = ConfigDict(extra="forbid")

    base_weights: float
    adapter_weights: float
    gradients: float
    optimizer: float
    optimizer_paged_to_cpu: float
    zero3_gather_buffer: float
    dequant_buffer: float
    activations: float
    framework_overhead: float
    total: float


class FinetuneTime(BaseModel):
    """Seconds per optimizer step by cause."""

    model_config = ConfigDict(extra="forbid")

    compute: float
    memory_bound: float
    dequantize: float
    tensor_parallel: float
    pipeline_p2p: float
    pipeline_bubble: float
    data_parallel_exposed: float
    optimizer: float
    optimizer_paging: float
    stack_overhead: float
    total: float


class FinetuneOption(BaseModel):
    """One fully described fine-tuning run and its cost."""

    model_config = ConfigDict(extra="forbid")

    method: FinetuneMethod
    rank: int | None
    targets: LoraTargets | None
    base_quant: BaseQuant
    trainable_params: float
    gpu: str
    gpus: int
    nodes: int
    seq_len: int
    strategy: Strategy
    fits: bool
    memory_per_gpu_bytes: float
    usable_memory_per_gpu_bytes: float
    memory_breakdown_bytes: FinetuneMemory
    step_time_s: float
    time_breakdown_s: FinetuneTime
    tokens_per_second: float
    model_flops_per_token: float
    model_flops: float
    mfu: float
    wall_clock_hours: float
    gpu_hours: float
    price_usd_per_gpu_hour: float
    cost_usd: float
    energy_kwh: float
    notes: list[str] = Field(default_factory=list)


class FinetuneFix(BaseModel):
    """A change that makes the job feasible, with the resulting run when there is one."""

    model_config = ConfigDict(extra="forbid")

    kind: FixKind
    description: str
    option: FinetuneOption | None = None


class FinetuneResponse(BaseModel):
    """The answer: the chosen run (or the closest one), whether it is feasible, and what to change."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["check", "search"]
    feasible: bool
    objective: Objective
    params: float
    tokens: float
    shape: Shape
    choice: FinetuneOption | None
    binding_constraint: Binding | None = None
    message: str
    fixes: list[FinetuneFix] = Field(default_factory=list)
    alternatives: list[FinetuneOption] = Field(default_factory=list, description="best run of each other method")
    budget_usd: float | None = None
    deadline_hours: float | None = None
    notes: list[str] = Field(default_factory=list)
