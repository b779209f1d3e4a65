"""The names the planner speaks, defined once: precisions, recompute levels, objectives, GPU modes,
binding constraints, fine-tuning methods. Everything else imports them from here.

Each is a ``Literal`` (so pydantic validates it and the OpenAPI document lists it) with its values
as a tuple in a fixed order; the cost model indexes its arrays by that order.
"""

from __future__ import annotations

from typing import Literal, get_args

from catalogs.schema import Precision as PrecisionName   # the catalog (below planner) names the formats a GPU runs

PRECISION_ORDER: tuple[str, ...] = get_args(PrecisionName)          # fp32, tf32, fp16, bf16, fp8

RecomputeName = Literal["none", "selective", "full"]
RECOMPUTE_ORDER: tuple[str, ...] = get_args(RecomputeName)

# min_loss: the best model for money and/or time; min_cost / min_time: the cheapest / fastest way
# to train a given model. Fine-tuning uses min_cost / min_time too.
Objective = Literal["min_loss", "min_cost", "min_time"]
OBJECTIVES: tuple[str, ...] = get_args(Objective)

# rent: pay per GPU-hour; owned: already paid for (electricity only); buy: capex charged to the job.
GPUMode = Literal["rent", "owned", "buy"]
GPU_MODES: tuple[str, ...] = get_args(GPUMode)

Constraint = Literal["budget", "deadline", "availability", "memory", "batch_limit", "data", "power", "size_efficiency"]

FinetuneMethod = Literal["full", "lora", "qlora"]
BaseQuant = Literal["bf16", "int8", "fp8", "nf4"]
LoraTargets = Literal["qv", "attention", "all"]

CheckStatus = Literal["ok", "warning", "error"]

# gelu: plain MLP (up, down); swiglu / geglu: gated MLP (gate, up, down; Shazeer 2020).
MlpName = Literal["gelu", "swiglu", "geglu"]

# How the solver shapes a bare parameter count (planner.costmodel.shape.FAMILIES).
FamilyName = Literal["gpt", "llama3"]

# Training frameworks a plan can name and export to (issue #13; catalogs/data/frameworks.toml).
FrameworkName = Literal["megatron", "torchtitan", "deepspeed", "fsdp"]
FRAMEWORK_ORDER: tuple[str, ...] = get_args(FrameworkName)
