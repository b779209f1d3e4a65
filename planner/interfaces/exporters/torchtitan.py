"""torchtitan training TOML: parallel degrees, batch, steps, activation checkpointing, precision.

Key names follow torchtitan's ``JobConfig`` (``[training] local_batch_size/global_batch_size``,
``[parallelism]``, ``[activation_checkpoint] mode``). torchtitan shards with FSDP2: ZeRO-3 is
``fsdp_reshard_after_forward = "always"``, ZeRO-2 ``"never"`` (weights stay gathered between
forward and backward), ZeRO-0 is plain replication (DDP); ZeRO-1 has no exact equivalent.
torchtitan has no LoRA/QLoRA: a lora/qlora plan lists them as unsupported (parallel settings kept).

The model: a shape equal to one of torchtitan's llama3 flavours (``torchtitan/models/llama3/__init__.py``
``llama3_configs``: 8B, 70B, 405B) is written as that flavour; any other shape as explicit model
arguments, a ``TransformerModelArgs`` registered under a new flavour name in a Python snippet printed
above the TOML (``multiple_of = ffn`` and ``ffn_dim_multiplier = ffn / int(8·dim/3)`` make torchtitan's
FeedForward width exactly the plan's ffn). torchtitan's llama3 is SwiGLU with untied embeddings: a
plain-MLP shape is written with the SwiGLU width 2/3·ffn (same parameters) and listed as unsupported.
"""

from __future__ import annotations

import tomli_w

from planner.interfaces.exporters import Export, FinetuneRun, adapter_unsupported, finetune_comment, train_iterations
from planner.types.estimates import Estimate

_DTYPE = {"bf16": "bfloat16", "fp16": "float16", "fp8": "bfloat16", "fp32": "float32", "tf32": "float32"}


# torchtitan llama3_configs (models/llama3/__init__.py at 9dec370 and b5bcd76): (layers, dim, heads, kv_heads,
# ffn width as FeedForward computes it, vocab)
FLAVOURS = {"8B": (32, 4096, 32, 8, 14336, 128256), "70B": (80, 8192, 64, 8, 28672, 128256),
            "405B": (126, 16384, 128, 8, 53248, 128256)}


def ffn_width(dim: int, multiple_of: int, ffn_dim_multiplier: float | None) -> int:
    """torchtitan's FeedForward hidden size (models/llama3/model.py): int(2·4·dim/3), × multiplier, rounded up."""
    hidden = int(2 * 4 * dim / 3)
    if ffn_dim_multiplier is not None:
        hidden = int(ffn_dim_multiplier * hidden)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


def model_args(shape) -> dict:
    """Explicit TransformerModelArgs for ``shape`` (SwiGLU width for a plain MLP: same parameters)."""
    ffn = shape.ffn_hidden if shape.gated_mlp else (2 * shape.ffn_hidden) // 3
    base = int(2 * 4 * shape.hidden / 3)
    multiplier = None if base == ffn else ffn / base
    args = dict(dim=shape.hidden, n_layers=shape.layers, n_heads=shape.heads, n_kv_heads=shape.kv_heads,
                vocab_size=shape.vocab, multiple_of=ffn, ffn_dim_multiplier=multiplier, max_seq_len=shape.seq_len)
    return args


def flavour_of(shape) -> str | None:
    key = (shape.layers, shape.hidden, shape.heads, shape.kv_heads, shape.ffn_hidden, shape.vocab)
    return next((name for name, dims in FLAVOURS.items() if dims == key and shape.gated_mlp), None)


def export(estimate: Estimate | FinetuneRun) -> Export:
    s, shape = estimate.strategy, estimate.shape
    unsupported: list[str] = []
    flavour = flavour_of(shape)
    register = ""
    if flavour is None:
        flavour = f"planner_{shape.layers}x{shape.hidden}"
        args = model_args(shape)
        register = ("# register the plan's shape as a flavour before launching (e.g. in torchtitan/models/llama3/__init__.py):\n"
                    "#   from torchtitan.models.llama3 import llama3_configs, TransformerModelArgs\n"
                    f"#   llama3_configs[{flavour!r}] = TransformerModelArgs("
                    + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")\n")
        if not shape.gated_mlp:
            unsupported.append(f"mlp=gelu (ffn {shape.ffn_hidden}): torchtitan's llama3 is SwiGLU; SwiGLU width "
                               f"{args['multiple_of']} written (same parameter count)")
        if shape.tied_embeddings:
            unsupported.append("tied_embeddings: torchtitan's llama3 has a separate output head (untied); "
                               f"{shape.vocab * shape.hidden / 1e9:.3g}B more parameters")
    sharded = s.zero >= 1
    parallelism = {
        "data_parallel_replicate_degree": 1 if sharded else s.dp,
        "data_parallel_shard_degree": s.dp if sharded else 1,
        "fsdp_reshard_after_forward": "always" if s.zero == 3 else "never",
        "tensor_parallel_degree": s.tp,
        "enable_async_tensor_parallel": False,
        "pipeline_parallel_degree": s.pp,
        "context_parallel_degree": s.cp,
    }
    if s.pp > 1:
        parallelism["pipeline_parallel_microbatch_size"] = s.micro_batch
        parallelism["pipeline_parallel_schedule"] = "1F1B"
    if s.precision == "fp16":
        unsupported.append("precision=fp16: torchtitan trains in bf16/fp32 and has no loss scaling; "
                           "float16 written for the mixed-precision parameters")
    unsupported += adapter_unsupported(estimate, "torchtitan", "use torchtune or export --to fsdp")
    config = {
        "job": {"description": f"{estimate.params / 1e9:.3g}B params on {estimate.tokens / 1e9:.4g}B tokens, "
                               f"{estimate.gpus} x {estimate.gpu}"},
        "model": {"name": "llama3", "flavor": flavour},
        # local batch per data-parallel rank per forward; torchtitan accumulates gradients up to
        # global_batch_size. With pipelining the local batch is split into micro-batches instead.
        "training": {"local_batch_size": s.micro_batch * s.grad_accum if s.pp > 1 else s.micro_batch,
                     "global_batch_size": s.global_batch_sequences, "seq_len": shape.seq_len,
                     "steps": train_iterations(estimate), "max_norm": 1.0,
                     "mixed_precision_param": _DTYPE[s.precision], "mixed_precision_reduce": "float32"},
        "parallelism": parallelism,
        "activation_checkpoint": {"mode": s.recompute, "selective_ac_option": "op"},
    }
    if s.precision == "fp8":
        config["model"]["converters"] = ["float8"]
        config["float8"] = {"enable_fsdp_float8_all_gather": sharded,
                            "precompute_float8_dynamic_scale_for_fsdp": sharded}
    comment = finetune_comment(estimate)
    text = ("# torchtitan config written by `planner export --to torchtitan`\n"
            + (f"# {comment}\n" if comment else "") + register + tomli_w.dumps(config))
    return Export("torchtitan", text, "torchtitan.toml", unsupported)
