"""Plan files: a training run a person writes by hand (TOML, or JSON by ``.json`` suffix).

The same facts as the solver's ``Plan`` (model, tokens, hardware, strategy, constraints), so
``planner best --out plan.toml`` writes a file that ``validate``, ``compare`` and ``export`` read.
Strategy fields left out are chosen by the planner (fastest layout that fits). ``[result]`` holds
the solver's numbers for the reader; it is carried through a round trip and never used as input.
Counts and money may be written as ``"13B"``, ``"300B"``, ``"$250k"``; deadlines as ``"30d"``.
A ``[finetune]`` table makes the file a fine-tuning run (``planner.analysis.finetune``) of a base model of
``model.params`` on ``tokens`` fine-tuning tokens, instead of a pre-training run.
"""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Annotated, Any

import tomli_w
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from planner.types.errors import InputError, validate_model
from planner.types.estimates import ArchitectureFields, EstimateRequest
from planner.types.layout import data_parallel_size, replica_size
from planner.types.strict import NoBoolInts
from planner.types.units import parse_count, parse_duration_s
from planner.types.vocabulary import (
    BaseQuant,
    FinetuneMethod,
    FrameworkName,
    GPUMode,
    LoraTargets,
    PrecisionName,
    RecomputeName,
)
from scaling_laws.safe_read import check_nesting, read_text_capped

SECTIONS = ("name", "tokens", "model", "hardware", "finetune", "strategy", "constraints", "ownership", "reliability",
            "result")


def _human_count(value: Any) -> Any:
    """``"13B"``, ``"$250k"``, ``"2.5e5"`` -> float; numbers pass through for pydantic to check."""
    if isinstance(value, str):
        try:
            return parse_count(value, "value", allow_zero=True)
        except InputError:
            raise ValueError(f"cannot read {value!r}; use a number like 13e9, 13B, 300B, 250k or $1.2M") from None
    return value


def _human_hours(value: Any) -> Any:
    """``"30d"``, ``"720h"``, ``"2w"`` -> hours; a bare number already means hours."""
    if isinstance(value, str):
        try:
            return parse_duration_s(value, "value") / 3600.0
        except InputError:
            raise ValueError(f"cannot read {value!r}; use hours (720) or a duration like 30d, 720h, 2w") from None
    return value


Count = Annotated[float, BeforeValidator(_human_count, json_schema_input_type=float | str)]
Hours = Annotated[float, BeforeValidator(_human_hours, json_schema_input_type=float | str)]


class _Section(NoBoolInts):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, defer_build=True)   # built on first use


class ModelSection(ArchitectureFields):
    """The network: a preset or a Hugging Face config.json (the shape fields override it), or a
    parameter count, or its shape (layers, hidden, heads), or both."""

    model_config = _Section.model_config

    preset: str | None = Field(None, max_length=200, description="a model preset, see `planner models`")
    config: str | None = Field(None, max_length=4096, description="path of a Hugging Face config.json")
    params: Count | None = Field(None, ge=1, le=1e15, description="parameters, e.g. 13e9 or \"13B\"")
    seq_len: int = Field(4096, ge=16, le=1_048_576)
    law: str | None = Field(None, description="scaling-law preset or law file for the predicted loss")

    @model_validator(mode="after")
    def _size_given(self) -> "ModelSection":
        if self.preset is not None and self.config is not None:
            raise ValueError("give preset or config, not both")
        described = self.preset is not None or self.config is not None
        shape = [self.layers, self.hidden, self.heads]
        if not described and any(v is not None for v in shape) and not all(v is not None for v in shape):
            raise ValueError("give layers, hidden and heads together (or none, to derive them from params)")
        if not described and self.params is None and self.layers is None:
            raise ValueError("give preset, config, params, or layers + hidden + heads")
        return self

    @property
    def model(self) -> str | None:
        """The preset id or config path the model is described by, if any."""
        return self.preset if self.preset is not None else self.config


class HardwareSection(_Section):
    """Which GPUs, how many, and on what terms (rented by the hour, already owned, or bought)."""

    gpu: str = Field(description="catalog id, see `planner catalog`")
    gpus: int = Field(ge=1, le=1_000_000)
    mode: GPUMode = "rent"
    price_usd_per_gpu_hour: Count | None = Field(None, gt=0, le=1e4, description="your rent price")
    purchase_price_usd: Count | None = Field(None, gt=0, le=1e8, description="your price per GPU incl. server share")


class StrategySection(_Section):
    """The layout; every field is optional (unset = the planner chooses and validate says what)."""

    tp: int | None = Field(None, ge=1, le=1024)
    pp: int | None = Field(None, ge=1, le=1024)
    cp: int | None = Field(None, ge=1, le=1024, description="context-parallel size")
    vpp: int | None = Field(None, ge=1, le=64, description="virtual pipeline stages (interleaved 1F1B)")
    dp: int | None = Field(None, ge=1, le=1_000_000, description="checked: must equal gpus / (tp·pp·cp)")
    zero: int | None = Field(None, ge=0, le=3, description="ZeRO stage (3 = FSDP full shard)")
    precision: PrecisionName | None = None
    recompute: RecomputeName | None = None
    sequence_parallel: bool | None = Field(None, description="the cost model assumes it whenever tp > 1")
    micro_batch: int | None = Field(None, ge=1, le=4096)
    grad_accum: int | None = Field(None, ge=1, le=1_000_000)
    global_batch_sequences: int | None = Field(None, ge=1, le=100_000_000)
    global_batch_tokens: Count | None = Field(None, ge=1, le=1e10)
    framework: FrameworkName | None = Field(None, description="megatron | torchtitan | deepspeed | fsdp: validate "
                                            "checks its rules and memory accounting")

    @model_validator(mode="after")
    def _one_batch(self) -> "StrategySection":
        if self.global_batch_sequences is not None and self.global_batch_tokens is not None:
            raise ValueError("give global_batch_sequences or global_batch_tokens, not both")
        return self


class ConstraintsSection(_Section):
    budget_usd: Count | None = Field(None, gt=0, le=1e15)
    deadline_hours: Hours | None = Field(None, ge=1 / 60, le=1e7)
    power_cap_kw: Count | None = Field(None, gt=0, le=1e7)


class ReliabilitySection(_Section):
    """Issue #15: failures, checkpoints, restarts, carbon and rental terms (defaults: catalogs/data/*.toml)."""

    failure_rate_per_gpu_hour: float | None = Field(None, ge=0, lt=1)
    checkpoint_bandwidth_bytes_per_s: Count | None = Field(None, gt=0, le=1e15)
    restart_time_s: float | None = Field(None, ge=0, le=1e7)
    startup_time_s: float | None = Field(None, ge=0, le=1e7)
    region: str | None = Field(None, max_length=100)
    grid_gco2_per_kwh: float | None = Field(None, ge=0, le=5000)
    provider: str | None = Field(None, max_length=100, description="bill on this provider's rental terms")


class OwnershipSection(_Section):
    """Overrides of the rent-vs-buy assumptions (defaults in ``planner.economics.rent_vs_buy``)."""

    lifetime_years: float | None = Field(None, gt=0, le=30)
    electricity_usd_per_kwh: float | None = Field(None, ge=0, le=100)
    pue: float | None = Field(None, ge=1.0, le=5.0)
    hosting_usd_per_gpu_month: float | None = Field(None, ge=0, le=1e5)
    utilisation: float | None = Field(None, gt=0, le=1.0)


class FinetuneSection(_Section):
    """Fine-tuning of the base model in [model] (the fields of ``planner.analysis.finetune.FinetuneRequest``)."""

    method: FinetuneMethod = Field(description="full | lora | qlora")
    rank: int | None = Field(None, ge=1, le=65_536, description="LoRA rank (default 16 for lora, 64 for qlora)")
    targets: LoraTargets | None = Field(None, description="adapted projections: qv | attention | all")
    base_quant: BaseQuant | None = Field(None, description="frozen base format: bf16 | int8 | fp8 | nf4")
    stack_efficiency: float | None = Field(None, ge=0.01, le=1, description="measured/modelled throughput of your "
                                                                       "training stack (default 0.213)")


class ResultSection(_Section):
    """The solver's numbers when it wrote the file: for the reader, never read back as input."""

    objective: str | None = None
    law: str | None = None
    loss: float | None = None
    tokens_per_param: float | None = None
    compute_optimal_tokens_per_param: float | None = None
    wall_clock_hours: float | None = None
    gpu_hours: float | None = None
    cost_usd: float | None = None
    capex_usd: float | None = None
    electricity_usd: float | None = None
    energy_kwh: float | None = None
    power_kw: float | None = None
    tokens_per_second: float | None = None
    mfu: float | None = None
    memory_per_gpu_bytes: float | None = None
    usable_memory_per_gpu_bytes: float | None = None
    binding_constraints: list[str] | None = None
    explanation: list[str] | None = None


class PlanFile(_Section):
    """A training plan: what to train, on what, how, and within which limits."""

    name: str | None = Field(None, description="free text shown in reports")
    tokens: Count = Field(ge=1, le=1e16, description="training tokens, e.g. 300e9 or \"300B\"")
    model: ModelSection
    hardware: HardwareSection
    finetune: FinetuneSection | None = Field(None, description="present: a fine-tuning run of the base model")
    strategy: StrategySection = Field(default_factory=StrategySection)
    constraints: ConstraintsSection = Field(default_factory=ConstraintsSection)
    ownership: OwnershipSection = Field(default_factory=OwnershipSection)
    reliability: ReliabilitySection = Field(default_factory=ReliabilitySection)
    result: ResultSection | None = None


# ---------------------------------------------------------------------------------------------
# reading and writing

def _allowed_keys(loc: tuple) -> list[str]:
    """Field names of the section a location points into (for 'unknown key' messages)."""
    model: type[BaseModel] = PlanFile
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return []
    return list(model.model_fields)


def _describe(error: dict) -> str:
    """One readable clause from one pydantic error: message, value given, what is allowed."""
    kind, loc, msg = error["type"], error["loc"], error["msg"]
    got = error.get("input")
    if kind == "extra_forbidden":
        return f"unknown key; allowed: {', '.join(_allowed_keys(loc))}"
    if kind == "missing":
        return "required key is missing"
    msg = msg.removeprefix("Value error, ")
    shown = "" if isinstance(got, (dict, list)) or got is None else f" (got {_short(got)})"
    return f"{msg}{shown}"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


# A file with many mistakes lists this many, one per line (then how many more there are).
MAX_REPORTED_ERRORS = 5


def plan_file_error(error: ValidationError, origin: str) -> InputError:
    """``FILE: key.path: message; allowed: ...``, one line per validation error (the first few);
    ``.field`` is the first error's path."""
    lines, paths = [], []
    for item in error.errors():
        loc = tuple(part for part in item["loc"] if not str(part).startswith("function-"))
        path = ".".join(str(part) for part in loc) or "plan"
        # one line each, whatever separators a key or value holds (\r, \x1c, \u2028 split lines too)
        line = " ".join(f"{origin}: {path}: {_describe(item)}".splitlines())
        if line not in lines:
            lines.append(line)
            paths.append(path)
    shown = lines[:MAX_REPORTED_ERRORS]
    if len(lines) > len(shown):
        shown.append(f"{origin}: ... and {len(lines) - len(shown)} more error(s)")
    return InputError("\n".join(shown), paths[0])


def parse_plan_data(data: Any, origin: str = "plan") -> PlanFile:
    """Validate already-parsed TOML/JSON data into a PlanFile (errors name ``origin``)."""
    if not isinstance(data, dict):
        raise InputError(f"{origin}: expected a table/object at the top level", "plan")
    try:
        return PlanFile.model_validate(data)
    except ValidationError as error:
        raise plan_file_error(error, origin) from None


# Bounds on a plan file checked before parsing (#18): a plan is a few hundred bytes and nests 3 deep.
MAX_PLAN_BYTES = 1 << 20
MAX_PLAN_DEPTH = 32
MAX_PLAN_KEY_PARTS = 16
MAX_PLAN_DIGITS = 100


def _plan_error(message: str, field: str) -> InputError:
    return InputError(message, "plan")


def read_plan_file(path: str | Path) -> PlanFile:
    """Read a plan file: JSON when the name ends in ``.json``, TOML otherwise.

    Only a regular UTF-8 file of at most ``MAX_PLAN_BYTES`` is read, and its nesting, dotted keys and
    digit runs are bounded before the parser sees it, so any file gives a plan or one InputError.
    """

    path = Path(path)
    syntax = "json" if path.suffix.lower() == ".json" else "toml"
    text = read_text_capped(path, max_bytes=MAX_PLAN_BYTES, what="plan", error=_plan_error)
    check_nesting(text, max_depth=MAX_PLAN_DEPTH, max_key_parts=MAX_PLAN_KEY_PARTS, max_digits=MAX_PLAN_DIGITS,
                  syntax=syntax, what=f"plan: {path}", error=_plan_error)
    try:
        data = json.loads(text, parse_constant=_reject_constant) if syntax == "json" else tomllib.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"plan: {path}: invalid JSON at line {error.lineno}: {error.msg}", "plan") from None
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"plan: {path}: invalid TOML: {error}", "plan") from None
    except (RecursionError, ValueError) as error:  # belt and braces: the checks above should prevent these
        raise InputError(f"plan: {path}: cannot parse: {str(error).splitlines()[0] if str(error) else type(error).__name__}",
                         "plan") from None
    return parse_plan_data(data, str(path))


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number a plan may contain")


def plan_file_data(plan_file: PlanFile) -> dict:
    """The plan as plain data without unset (None) values, sections in reading order."""
    data = plan_file.model_dump(mode="json", exclude_none=True)
    return {key: data[key] for key in SECTIONS if key in data and data[key] != {}}


def write_plan_file(plan_file: PlanFile, path: str | Path) -> Path:
    """Write TOML (or JSON for a ``.json`` name); reading it back gives an equal PlanFile."""
    path = Path(path)
    data = plan_file_data(plan_file)
    if path.suffix.lower() == ".json":
        text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    else:
        text = "# Training plan (planner plan file). Check it: planner validate " + path.name + "\n" + tomli_w.dumps(data)
    path.write_text(text, encoding="utf-8")
    return path


def plan_file_json_schema() -> dict:
    """The published JSON Schema of plan files (``planner schema plan``)."""
    schema = PlanFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Planner plan file"
    return schema


# ---------------------------------------------------------------------------------------------
# conversions

def plan_file_from_plan(plan) -> PlanFile:
    """The file a solver's ``Plan`` is written as: every strategy choice fixed, numbers in [result]."""
    s = plan.strategy
    mode = getattr(plan, "gpu_mode", "rent")
    hardware = HardwareSection(gpu=plan.gpu, gpus=plan.gpus, mode=mode,
                               price_usd_per_gpu_hour=plan.price_usd_per_gpu_hour if mode == "rent" else None)
    budget, deadline = getattr(plan, "budget_usd", None), getattr(plan, "deadline_hours", None)
    result_fields = {name: getattr(plan, name, None) for name in ResultSection.model_fields}
    result_fields["binding_constraints"] = list(result_fields["binding_constraints"] or []) or None
    result_fields["explanation"] = list(result_fields["explanation"] or []) or None
    return PlanFile(
        tokens=plan.tokens,
        model=ModelSection(params=plan.params, layers=plan.shape.layers, hidden=plan.shape.hidden,
                           heads=plan.shape.heads, kv_heads=plan.shape.kv_heads, ffn_hidden=plan.shape.ffn_hidden,
                           mlp="swiglu" if plan.shape.gated_mlp else "gelu",
                           tied_embeddings=plan.shape.tied_embeddings, vocab=plan.shape.vocab,
                           seq_len=plan.shape.seq_len, law=getattr(plan, "law", None)),
        hardware=hardware,
        strategy=StrategySection(tp=s.tp, pp=s.pp, cp=s.cp if s.cp > 1 else None, vpp=s.vpp if s.vpp > 1 else None,
                                 dp=s.dp, zero=s.zero, precision=s.precision,
                                 recompute=s.recompute, sequence_parallel=s.sequence_parallel,
                                 micro_batch=s.micro_batch, grad_accum=s.grad_accum,
                                 global_batch_sequences=s.global_batch_sequences,
                                 framework=getattr(s, "framework", None)),
        constraints=ConstraintsSection(budget_usd=budget, deadline_hours=deadline),
        result=ResultSection(**result_fields),
    )


def global_batch_tokens_of(pf: PlanFile) -> float | None:
    """The plan's global batch in tokens, from whichever of the batch fields it gives."""
    s, seq_len = pf.strategy, pf.model.seq_len
    if s.global_batch_tokens is not None:
        return s.global_batch_tokens
    if s.global_batch_sequences is not None:
        return float(s.global_batch_sequences * seq_len)
    if s.grad_accum is not None and s.micro_batch is not None and s.tp is not None and s.pp is not None:
        dp = data_parallel_size(pf.hardware.gpus, s.tp, s.pp, s.cp or 1)
        return float(s.grad_accum * s.micro_batch * max(dp, 1) * seq_len)
    return None


def check_consistency(pf: PlanFile, origin: str = "plan") -> None:
    """Cross-field facts the schema cannot state: dp = gpus/(tp·pp), batch = b·m·dp."""
    s, gpus = pf.strategy, pf.hardware.gpus
    if s.dp is not None and s.tp is not None and s.pp is not None and replica_size(s.tp, s.pp, s.cp or 1) * s.dp != gpus:
        group = replica_size(s.tp, s.pp, s.cp or 1)
        raise InputError(f"{origin}: strategy.dp: tp·pp·dp = {s.tp}·{s.pp}·{s.dp} = {group * s.dp} "
                         f"but hardware.gpus = {gpus}; allowed: dp = {gpus / group:g}", "strategy.dp")
    if (s.grad_accum is not None and s.micro_batch is not None and s.global_batch_sequences is not None
            and s.tp is not None and s.pp is not None):
        dp = data_parallel_size(gpus, s.tp, s.pp, s.cp or 1)
        implied = s.grad_accum * s.micro_batch * dp
        if implied != s.global_batch_sequences:
            raise InputError(f"{origin}: strategy.grad_accum: micro_batch·grad_accum·dp = {implied} sequences, "
                             f"but global_batch_sequences = {s.global_batch_sequences}", "strategy.grad_accum")


def plan_file_to_estimate_request(pf: PlanFile, origin: str = "plan") -> EstimateRequest:
    """The EstimateRequest that costs this plan (unset strategy fields are searched)."""
    check_consistency(pf, origin)
    m, s, h = pf.model, pf.strategy, pf.hardware
    batch = global_batch_tokens_of(pf)
    # Derived numbers (params from the shape, batch from micro_batch·grad_accum·dp) can exceed what the
    # cost model accepts although each field is in range: one InputError naming the source, not a crash.
    if m.model is None and m.params is None and m.layers is not None:
        implied = 12.0 * m.layers * m.hidden**2 + (m.vocab or 32_000) * m.hidden
        if implied > 1e15:
            raise InputError(f"{origin}: model.hidden: layers and hidden give {implied:.3g} parameters, more than "
                             f"the 1e15 allowed", "model.hidden")
    if batch is not None and batch > 1e10:
        raise InputError(f"{origin}: strategy.grad_accum: the global batch is {batch:.3g} tokens, more than the "
                         f"1e10 allowed", "strategy.grad_accum")
    return validate_model(EstimateRequest, dict(
        params=m.params if m.model is None else None, model=m.model, tokens=pf.tokens, gpu=h.gpu, gpus=h.gpus,
        seq_len=m.seq_len, layers=m.layers, hidden=m.hidden, heads=m.heads, kv_heads=m.kv_heads,
        ffn_hidden=m.ffn_hidden, mlp=m.mlp, tied_embeddings=m.tied_embeddings, vocab=m.vocab,
        tp=s.tp, pp=s.pp, cp=s.cp, vpp=s.vpp, zero=s.zero, precision=s.precision,
        recompute=s.recompute, micro_batch=s.micro_batch, framework=s.framework,
        global_batch_tokens=None if batch is None or not math.isfinite(batch) else batch,
        price_usd_per_gpu_hour=h.price_usd_per_gpu_hour if h.mode == "rent" else None,
        **pf.reliability.model_dump(exclude_none=True)), origin)
