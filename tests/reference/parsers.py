"""The frameworks' own configuration code, fed with the planner's exports (issue #13).

Each ``*_accepts`` function builds the framework's config object from an export and raises if the
framework rejects it. None of these packages is in ``.[test]`` (each needs torch; see README.md in this
folder for install times and why), so ``installed(name)`` tells the tests which checks can run; this
module imports nothing from the planner, so it also runs inside a scratch venv that has only the
framework (``python tests/reference/parsers.py exports.json``).
"""

from __future__ import annotations

import importlib.util
import json
import shlex
import sys
import tomllib

PACKAGES = {"deepspeed": "deepspeed", "megatron": "megatron.core", "torchtitan": "torchtitan"}


def installed(framework: str) -> bool:
    name = PACKAGES.get(framework)
    if name is None:
        return False
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def deepspeed_accepts(text: str, dp: int) -> object:
    """``DeepSpeedConfig(ds_config, mpu)`` with the data-parallel size from ``mpu`` (DeepSpeed 0.19.8: without
    torch.distributed, ``dist.get_rank`` is patched to 0 or the config silently assumes world size 1)."""
    import deepspeed.runtime.config as ds_config

    ds_config.dist.get_rank = lambda *a, **k: 0

    class Mpu:
        def get_data_parallel_world_size(self):
            return dp

        def get_data_parallel_rank(self):
            return 0

        def get_model_parallel_world_size(self):
            return 1

        def get_model_parallel_rank(self):
            return 0

    config = ds_config.DeepSpeedConfig(json.loads(text), mpu=Mpu())
    assert config.train_batch_size == config.train_micro_batch_size_per_gpu * config.gradient_accumulation_steps * dp
    return config


def megatron_argv(text: str) -> list[str]:
    body = " ".join(line.rstrip("\\ ") for line in text.splitlines() if not line.startswith("#"))
    argv = shlex.split(body)
    return argv[argv.index("pretrain_gpt.py") + 1:]


def megatron_core_accepts(text: str) -> object:
    """megatron-core 0.16.1 ``TransformerConfig`` and ``DistributedDataParallelConfig`` from the export's flags
    (the argparse CLI itself is repo-only; tests/reference/README.md)."""
    import torch
    from megatron.core.distributed import DistributedDataParallelConfig
    from megatron.core.transformer.transformer_config import TransformerConfig

    argv = megatron_argv(text)
    value = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if not argv[i + 1].startswith("--")}
    flag = set(argv)
    n = lambda key, default=None: int(value[key]) if key in value else default
    pp = n("--pipeline-model-parallel-size", 1)
    layers_per_virtual = n("--num-layers-per-virtual-pipeline-stage")
    vpp = None if layers_per_virtual is None else n("--num-layers") // pp // layers_per_virtual
    dtype = torch.bfloat16 if "--bf16" in flag else (torch.float16 if "--fp16" in flag else torch.float32)
    kwargs = dict(
        num_layers=n("--num-layers"), hidden_size=n("--hidden-size"), num_attention_heads=n("--num-attention-heads"),
        num_query_groups=n("--num-query-groups"), ffn_hidden_size=n("--ffn-hidden-size"),
        kv_channels=n("--kv-channels"), gated_linear_unit="--swiglu" in flag,
        activation_func=torch.nn.functional.silu if "--swiglu" in flag else torch.nn.functional.gelu,
        normalization=value.get("--normalization", "LayerNorm"), add_bias_linear="--disable-bias-linear" not in flag,
        tensor_model_parallel_size=n("--tensor-model-parallel-size", 1), pipeline_model_parallel_size=pp,
        virtual_pipeline_model_parallel_size=vpp if vpp and vpp > 1 else None,
        sequence_parallel="--sequence-parallel" in flag, context_parallel_size=n("--context-parallel-size", 1),
        recompute_granularity=value.get("--recompute-granularity"), recompute_method=value.get("--recompute-method"),
        recompute_num_layers=n("--recompute-num-layers"), params_dtype=dtype, pipeline_dtype=dtype,
        bf16=dtype == torch.bfloat16, fp16=dtype == torch.float16, fp8=value.get("--fp8-format"),
    )
    if "--decoder-last-pipeline-num-layers" in value:
        kwargs["num_layers_in_last_pipeline_stage"] = n("--decoder-last-pipeline-num-layers")
    config = TransformerConfig(**{k: v for k, v in kwargs.items() if v is not None or k == "recompute_granularity"})
    DistributedDataParallelConfig(use_distributed_optimizer="--use-distributed-optimizer" in flag,
                                  overlap_grad_reduce="--overlap-grad-reduce" in flag,
                                  overlap_param_gather="--overlap-param-gather" in flag)
    seq, tp, cp = n("--seq-length"), n("--tensor-model-parallel-size", 1), n("--context-parallel-size", 1)
    assert cp == 1 or seq % (2 * cp) == 0, "seq-length should be a multiple of 2 * context-parallel-size"
    return config


def torchtitan_accepts(text: str, world_size: int) -> object:
    """torchtitan 0.3.0 ``ParallelDims`` (mesh product = world size, seq_len divisor tp·2·cp) from the TOML's
    [parallelism] (the TOML-era ConfigManager needs triton; README.md)."""
    from torchtitan.distributed.parallel_dims import ParallelDims

    config = tomllib.loads(text)
    p = config["parallelism"]
    dims = ParallelDims(dp_replicate=p["data_parallel_replicate_degree"], dp_shard=p["data_parallel_shard_degree"],
                        cp=p["context_parallel_degree"], tp=p["tensor_parallel_degree"],
                        pp=p["pipeline_parallel_degree"], ep=1, world_size=world_size)
    seq = config["training"]["seq_len"]
    divisor = p["tensor_parallel_degree"] * (2 * p["context_parallel_degree"] if p["context_parallel_degree"] > 1 else 1)
    assert seq % divisor == 0, f"seq_len {seq} not divisible by {divisor}"
    assert config["model"]["flavor"] != "custom"
    return dims


def accepts(framework: str, text: str, gpus: int, dp: int) -> object:
    if framework == "deepspeed":
        return deepspeed_accepts(text, dp)
    if framework == "megatron":
        return megatron_core_accepts(text)
    if framework == "torchtitan":
        return torchtitan_accepts(text, gpus)
    raise ValueError(framework)


if __name__ == "__main__":     # python parsers.py exports.json: [{framework, text, gpus, dp}, ...]
    rows = json.loads(open(sys.argv[1]).read())
    checked = 0
    for row in rows:
        if installed(row["framework"]):
            accepts(row["framework"], row["text"], row["gpus"], row["dp"])
            checked += 1
    print(f"{checked} exports accepted")
