"""Exports of a costed plan to what people launch with: DeepSpeed, Megatron-LM, torchtitan, FSDP2.

Each exporter takes the resolved ``Estimate`` (every strategy field fixed) and returns the text
to save plus the plan keys that target cannot express, so nothing is dropped silently. A
fine-tuning plan is exported from a ``FinetuneRun`` (same attributes, plus the method): LoRA/QLoRA
settings are written where the target has them (the FSDP snippet: PEFT + bitsandbytes) and listed
as unsupported elsewhere; full fine-tuning exports like pre-training plus loading the base.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from planner.costmodel.frameworks import rejection
from planner.types.errors import InputError, validate_model
from planner.types.plan_file import PlanFile, StrategySection
from planner.types.finetune import FinetuneOption, FinetuneResponse
from planner.types.estimates import Estimate, Shape


@dataclass(frozen=True)
class Export:
    target: str
    text: str
    suggested_name: str
    unsupported: list[str] = field(default_factory=list)   # "key: why" for each plan key left out


@dataclass(frozen=True)
class FinetuneRun:
    """A checked fine-tuning run; reads like an ``Estimate`` (gpu, gpus, nodes, strategy, fits, ...
    come from the option) so the exporters and the CLI treat both alike."""

    option: FinetuneOption
    params: float
    tokens: float
    shape: Shape

    @classmethod
    def of(cls, response: FinetuneResponse) -> "FinetuneRun":
        return cls(response.choice, response.params, response.tokens, response.shape)

    def __getattr__(self, name: str):
        if name.startswith("__") or name == "option":     # copy/pickle probe before fields exist
            raise AttributeError(name)
        return getattr(self.option, name)


def finetune_of(run: Estimate | FinetuneRun) -> FinetuneOption | None:
    return run.option if isinstance(run, FinetuneRun) else None


# Hugging Face (Llama-family) module names of the projections the planner's ``targets`` adapt.
TARGET_MODULES = {"qv": ["q_proj", "v_proj"], "attention": ["q_proj", "k_proj", "v_proj", "o_proj"],
                  "all": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}


def lora_config(o: FinetuneOption) -> str:
    return f"LoraConfig(r={o.rank}, target_modules={TARGET_MODULES[o.targets]!r}, task_type=\"CAUSAL_LM\")"


def bnb_config(o: FinetuneOption, fsdp_sharded: bool = False) -> str | None:
    """The bitsandbytes loading config of the frozen base (None: 16-bit, or fp8 which it cannot load).
    FSDP shards float storage only, so a sharded 4-bit base is stored in bf16 words (bitsandbytes
    FSDP-QLoRA guide)."""
    if o.base_quant == "int8":
        return "BitsAndBytesConfig(load_in_8bit=True)"
    if o.base_quant != "nf4":
        return None
    storage = ", bnb_4bit_quant_storage=torch.bfloat16" if fsdp_sharded else ""
    return ("BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=\"nf4\", bnb_4bit_use_double_quant=True, "
            f"bnb_4bit_compute_dtype=torch.bfloat16{storage})")


def finetune_comment(run: Estimate | FinetuneRun) -> str:
    """One comment line (without the leading '# ') saying what kind of fine-tuning run this is."""
    o = finetune_of(run)
    if o is None:
        return ""
    if o.method == "full":
        return "full fine-tuning: load the base model's checkpoint before the first step"
    return f"{o.method} fine-tuning: rank {o.rank} on {o.targets} projections, frozen {o.base_quant} base"


def adapter_unsupported(run: Estimate | FinetuneRun, target: str, instead: str) -> list[str]:
    """Unsupported lines of a LoRA/QLoRA run for a target without adapters: what, and where instead."""
    o = finetune_of(run)
    if o is None or o.method == "full":
        return []
    lines = [f"method={o.method} (lora rank={o.rank}, targets={','.join(TARGET_MODULES[o.targets])}): {target} "
             f"has no LoRA settings; {instead}, e.g. peft {lora_config(o)}"]
    if o.base_quant != "bf16":
        quant = bnb_config(o)
        lines.append(f"base_quant={o.base_quant}: {target} cannot load a quantised frozen base; "
                     + (f"load it with transformers {quant}" if quant else "bitsandbytes has no fp8 loader"))
    if o.method == "qlora":
        lines.append("optimizer: QLoRA's paged optimizer is bitsandbytes.optim.PagedAdamW32bit")
    return lines


def train_iterations(estimate: Estimate) -> int:
    """Optimizer steps to see the plan's tokens at its global batch."""
    tokens_per_step = estimate.strategy.global_batch_sequences * estimate.shape.seq_len
    return max(1, math.ceil(estimate.tokens / tokens_per_step))


def _targets():
    from planner.interfaces.exporters import deepspeed, fsdp, megatron, torchtitan

    return {"deepspeed": deepspeed.export, "megatron": megatron.export, "torchtitan": torchtitan.export,
            "fsdp": fsdp.export}


TARGETS = ("deepspeed", "megatron", "torchtitan", "fsdp")


def plan_for_target(plan_file: PlanFile, target: str) -> tuple[PlanFile, list[str]]:
    """The plan file to cost for an export to ``target``: ``[strategy] framework = target`` (its layout rules
    and memory accounting), and ZeRO-1 written as FSDP2's ZeRO-2-like sharding for torchtitan / fsdp (no
    optimizer-only sharding there; it needs less memory, not more). Returns the notes for ``unsupported``."""
    key = target.strip().lower()
    if key not in TARGETS:
        raise InputError(f"to: unknown export target {target!r}; allowed: {', '.join(TARGETS)}", "to")
    update, notes = {"framework": key}, []
    if key in ("torchtitan", "fsdp") and plan_file.strategy.zero == 1:
        update["zero"] = 2
        notes.append("zero=1: FSDP2 has no optimizer-only sharding; ZeRO-2-like sharding (reshard_after_forward="
                     "False) written and costed (uses less memory, not more)")
    strategy = validate_model(StrategySection, {**plan_file.strategy.model_dump(), **update})
    return plan_file.model_copy(update={"strategy": strategy}), notes


def export_plan(estimate: Estimate | FinetuneRun, target: str) -> Export:
    """The launch configuration of ``estimate`` (or a fine-tuning run) for ``target`` (one of TARGETS)."""
    exporters = _targets()
    key = target.strip().lower()
    if key not in exporters:
        raise InputError(f"to: unknown export target {target!r}; allowed: {', '.join(TARGETS)}", "to")
    reason = rejection(estimate.strategy, key)
    if reason is not None:       # a config that would not launch (issue #13): say so instead of dropping keys
        raise InputError(f"to: {key} cannot run this plan's layout: {reason}; re-plan with --framework {key} "
                         f"(planner validate PLAN --framework {key} shows the nearest layout that runs and fits)", "to")
    return exporters[key](estimate)
