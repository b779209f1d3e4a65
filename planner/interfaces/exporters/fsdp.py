"""A short PyTorch FSDP2 (``fully_shard``) snippet: sharding, mixed precision, checkpointing, batch.

ZeRO-3 = ``reshard_after_forward=True``; ZeRO-2 = ``False``; ZeRO-0 = DDP; ZeRO-1 has no FSDP2
equivalent and tensor/pipeline/context parallelism need torchtitan or Megatron: ``export_plan``
refuses those layouts (``planner.costmodel.frameworks.rejection``). Every launched process is a
data-parallel rank, so the global batch is MICRO_BATCH × GRAD_ACCUM × WORLD_SIZE (asserted at start-up).
Selective recompute is torchtitan's per-op policy (save matmul and attention outputs, every second
matmul recomputed) through ``torch.utils.checkpoint.create_selective_checkpoint_contexts``. A LoRA/QLoRA plan adds the PEFT ``LoraConfig`` and (for a
quantised base) the bitsandbytes ``BitsAndBytesConfig`` the model is loaded with.
"""

from __future__ import annotations

from planner.interfaces.exporters import (Export, FinetuneRun, bnb_config, finetune_comment, finetune_of, lora_config,
                                train_iterations)
from planner.types.estimates import Estimate

_DTYPE = {"bf16": "torch.bfloat16", "fp16": "torch.float16", "fp8": "torch.bfloat16", "fp32": "torch.float32",
          "tf32": "torch.float32"}

_TEMPLATE = '''\
# FSDP2 setup written by `planner export --to fsdp`: {summary}
# Launch: torchrun --nnodes {nodes} --nproc-per-node {per_node} train.py
import torch
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import (
    apply_activation_checkpointing, checkpoint_wrapper)
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

WORLD_SIZE = {gpus}                    # processes = data-parallel ranks (torchrun --nnodes x --nproc-per-node)
MICRO_BATCH = {micro_batch}            # sequences per GPU per forward/backward
GRAD_ACCUM = {grad_accum}              # micro-batches per optimizer step
GLOBAL_BATCH = {global_batch}          # sequences per optimizer step
assert MICRO_BATCH * GRAD_ACCUM * WORLD_SIZE == GLOBAL_BATCH
SEQ_LEN = {seq_len}
TRAIN_STEPS = {steps}
{tf32}
{sac}
def shard(model: torch.nn.Module, blocks: list[torch.nn.Module]) -> torch.nn.Module:
    """Wrap each transformer block, then the root, as the plan says."""
    assert torch.distributed.get_world_size() == WORLD_SIZE
    policy = MixedPrecisionPolicy(param_dtype={dtype}, reduce_dtype=torch.float32)
{checkpoint}    for block in blocks:
        fully_shard(block, mp_policy=policy, reshard_after_forward={reshard})
    fully_shard(model, mp_policy=policy, reshard_after_forward={reshard})
    return model
'''

_DDP_TEMPLATE = '''\
# DDP setup written by `planner export --to fsdp` (ZeRO-0: no sharding): {summary}
# Launch: torchrun --nnodes {nodes} --nproc-per-node {per_node} train.py
import torch
from torch.nn.parallel import DistributedDataParallel

WORLD_SIZE = {gpus}                    # processes = data-parallel ranks
MICRO_BATCH = {micro_batch}
GRAD_ACCUM = {grad_accum}
GLOBAL_BATCH = {global_batch}
assert MICRO_BATCH * GRAD_ACCUM * WORLD_SIZE == GLOBAL_BATCH
SEQ_LEN = {seq_len}
TRAIN_STEPS = {steps}
AUTOCAST_DTYPE = {dtype}               # torch.autocast("cuda", dtype=AUTOCAST_DTYPE) around the forward
{tf32}

def wrap(model: torch.nn.Module, local_rank: int) -> torch.nn.Module:
    return DistributedDataParallel(model, device_ids=[local_rank])
'''


_PEFT_TEMPLATE = '''

# {comment}: load the base, then add the adapters, then shard()/wrap()
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, BitsAndBytesConfig

BASE_MODEL = "your/base-model"         # hub id or local path of the base checkpoint
LORA_CONFIG = {lora}  # lora_alpha, lora_dropout: your recipe
QUANTIZATION_CONFIG = {quant}


def load_base() -> torch.nn.Module:
    model = AutoModelForCausalLM.from_pretrained(BASE_MODEL, quantization_config=QUANTIZATION_CONFIG,
                                                 torch_dtype={dtype})
    return get_peft_model(model, LORA_CONFIG)
'''


_SAC = '''
from collections import defaultdict
from torch.utils.checkpoint import CheckpointPolicy, create_selective_checkpoint_contexts

_SAVE = {torch.ops.aten.mm.default, torch.ops.aten._scaled_dot_product_flash_attention.default,
         torch.ops.aten._scaled_dot_product_efficient_attention.default}


def selective_contexts():
    """torchtitan's per-op selective recompute: keep matmul and attention outputs, recompute every second matmul."""
    count = defaultdict(int)

    def policy(ctx, op, *args, **kwargs):
        mode = "recompute" if ctx.is_recompute else "forward"
        if op == torch.ops.aten.mm.default:
            count[mode] += 1
        keep = op in _SAVE and not (op == torch.ops.aten.mm.default and count[mode] % 2 == 0)
        return CheckpointPolicy.MUST_SAVE if keep else CheckpointPolicy.PREFER_RECOMPUTE

    return create_selective_checkpoint_contexts(policy)

'''


def finetune_setup(estimate: Estimate | FinetuneRun, unsupported: list[str]) -> str:
    """The fine-tuning part of the snippet: a comment for full fine-tuning, PEFT (+ bitsandbytes) for adapters."""
    o = finetune_of(estimate)
    if o is None:
        return ""
    if o.method == "full":
        return f"\n# {finetune_comment(estimate)} (into the model passed to shard()/wrap())\n"
    text = _PEFT_TEMPLATE.format(comment=finetune_comment(estimate), lora=lora_config(o),
                                 quant=bnb_config(o, fsdp_sharded=o.strategy.zero >= 1),
                                 dtype=_DTYPE[o.strategy.precision])
    if o.method == "qlora":
        text += "# optimizer: bitsandbytes.optim.PagedAdamW32bit (QLoRA's paged optimizer, as costed)\n"
    if o.base_quant == "fp8":
        unsupported.append("base_quant=fp8: bitsandbytes has no fp8 loader (QUANTIZATION_CONFIG = None written)")
    return text


def export(estimate: Estimate | FinetuneRun) -> Export:
    s = estimate.strategy
    unsupported = []
    if s.precision == "fp8":
        unsupported.append("precision=fp8: add torchao.float8.convert_to_float8_training (bf16 written)")
    if s.precision == "fp16":
        unsupported.append("precision=fp16: add torch.amp.GradScaler for loss scaling")
    wrapper = "checkpoint_wrapper" if s.recompute == "full" else (
        "lambda m: checkpoint_wrapper(m, context_fn=selective_contexts)")
    checkpoint = (f"    apply_activation_checkpointing(  # {s.recompute} activation recompute of every block\n"
                  f"        model, checkpoint_wrapper_fn={wrapper}, check_fn=lambda m: any(m is b for b in blocks))\n"
                  ) if s.recompute != "none" else ""
    values = dict(summary=f"{estimate.params / 1e9:.3g}B params, {estimate.gpus} × {estimate.gpu}, ZeRO-{s.zero}, "
                          f"{s.precision}, recompute={s.recompute}",
                  nodes=estimate.nodes, per_node=estimate.gpus // max(estimate.nodes, 1),
                  micro_batch=s.micro_batch, grad_accum=s.grad_accum, global_batch=s.global_batch_sequences,
                  dp=s.dp, seq_len=estimate.shape.seq_len, steps=train_iterations(estimate),
                  dtype=_DTYPE[s.precision], reshard=s.zero == 3, checkpoint=checkpoint, gpus=estimate.gpus,
                  sac=_SAC if s.recompute == "selective" else "",
                  tf32="torch.backends.cuda.matmul.allow_tf32 = True" if s.precision == "tf32" else "")
    text = (_DDP_TEMPLATE if s.zero == 0 else _TEMPLATE).format(**values) + finetune_setup(estimate, unsupported)
    return Export("fsdp", text, "fsdp_setup.py", unsupported)
