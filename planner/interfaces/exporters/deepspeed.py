"""DeepSpeed ``ds_config.json``: batch sizes, ZeRO stage, precision, activation checkpointing.

DeepSpeed asserts train_batch_size = micro_batch × gradient_accumulation × data-parallel size
(deepspeed/runtime/config.py, ``_batch_assertion``); the values come from the plan, so it holds.
Tensor parallelism is DeepSpeed's AutoTP training config (``"tensor_parallel": {"autotp_size": t}``,
deepspeed/runtime/tensor_parallel/config.py); pipeline parallelism is ``PipelineModule(num_stages=...)``
in the model code (listed as unsupported), and only with ZeRO ≤ 1 (``export_plan`` refuses ZeRO-2/3
with PP, as DeepSpeed's pipeline engine asserts). LoRA/QLoRA settings are listed as unsupported
(PEFT and bitsandbytes wrap the model in code; ds_config has no keys for them).
"""

from __future__ import annotations

import json

from planner.interfaces.exporters import Export, FinetuneRun, adapter_unsupported, finetune_of
from planner.types.estimates import Estimate


def export(estimate: Estimate | FinetuneRun) -> Export:
    s = estimate.strategy
    config: dict = {
        "train_batch_size": s.global_batch_sequences,
        "train_micro_batch_size_per_gpu": s.micro_batch,
        "gradient_accumulation_steps": s.grad_accum,
        "zero_optimization": {"stage": s.zero},
        "gradient_clipping": 1.0,
        "wall_clock_breakdown": False,
    }
    unsupported: list[str] = []
    if s.precision == "bf16":
        config["bf16"] = {"enabled": True}
    elif s.precision == "fp16":
        # loss_scale 0 = dynamic loss scaling (DeepSpeed config docs, "fp16" section).
        config["fp16"] = {"enabled": True, "loss_scale": 0, "initial_scale_power": 16}
    elif s.precision == "fp8":
        config["bf16"] = {"enabled": True}
        unsupported.append("precision=fp8: ds_config has no fp8 switch; wrap layers with Transformer Engine "
                           "(bf16 written for the rest)")
    if s.recompute != "none":
        config["activation_checkpointing"] = {"partition_activations": s.tp > 1, "cpu_checkpointing": False,
                                              "contiguous_memory_optimization": False,
                                              "synchronize_checkpoint_boundary": False}
        unsupported.append(f"recompute={s.recompute}: the model code must call deepspeed.checkpointing.checkpoint "
                           "on each layer" + (" (selective = attention core only)" if s.recompute == "selective" else ""))
    if s.tp > 1:
        config["tensor_parallel"] = {"autotp_size": s.tp}
    if s.sequence_parallel:
        unsupported.append("sequence_parallel: Megatron-DeepSpeed --sequence-parallel")
    if s.pp > 1:
        unsupported.append(f"pp={s.pp}: not a ds_config key; PipelineModule(num_stages={s.pp}) in the model code")
    unsupported += adapter_unsupported(estimate, "ds_config", "wrap the model with peft.get_peft_model before "
                                                              "deepspeed.initialize")
    if getattr(finetune_of(estimate), "method", None) == "full":
        unsupported.append("method=full: ds_config does not load weights; load the base checkpoint before "
                           "deepspeed.initialize")
    text = json.dumps(config, indent=2) + "\n"
    return Export("deepspeed", text, "ds_config.json", unsupported)
