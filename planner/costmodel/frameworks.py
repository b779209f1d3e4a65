"""The training framework as part of the plan: which layouts it runs and how it keeps memory (issue #13).

Rules and byte counts come from ``catalogs/data/frameworks.toml`` (one cited source per cell, at the
commits listed there: Megatron-LM d98e8a6, torchtitan b5bcd76 / 9dec370, DeepSpeed 38327e0,
torch 2.13.0). Everything here is vectorised over a ``Strategies``-like struct (``tp``, ``pp``,
``zero``, ``cp``, ``vpp``, ``precision_idx``, ``shard_group`` …) without importing it, so
``strategy.layout_mask`` and ``memory.memory_breakdown`` can both use it.

Layouts each framework runs (``framework_mask``):
  megatron    TP, SP, PP (1F1B, interleaved), CP; no ZeRO-2/3 in its trainer: ZeRO-1 is
              ``--use-distributed-optimizer`` (frameworks.toml [frameworks.megatron.zero]); fp8 via TE.
  torchtitan  FSDP2 (ZeRO-3 ``reshard_after_forward=True``, ZeRO-2 ``False``) with TP, PP, CP; no
              optimizer-only sharding (ZeRO-1), and DDP only without other parallelism (its DDP
              "has not supported > 1D parallelism"); fp8 via torchao ([frameworks.torchtitan.*]).
  deepspeed   ZeRO 0-3, PP only with ZeRO ≤ 1 (``deepspeed/runtime/pipe/engine.py:L77``), no
              interleaved PP, no ring-attention CP (Ulysses only), no fp8 switch
              ([frameworks.deepspeed.*]); TP through AutoTP / Megatron-DeepSpeed mpu.
  fsdp        plain ``fully_shard``: data parallelism only (ZeRO-2/3-like sharding, or ZeRO-0 as
              DDP); fp8 via torchao Float8Linear ([frameworks.fsdp.*]).
Every framework: TP within one NVLink domain (``layout_mask`` already requires t ≤ GPUs per node).

Memory per framework (``model_state_bytes``, ``activation_units``, ``gather_bytes``, ``logit_bytes``):
  model states (bytes/param; d = the sharding group)
    megatron   bf16/fp8: 2 param + 4 fp32 main grad + 12 fp32 main param & Adam = 18, or 6 + 12/d with
               the distributed optimizer; fp16 20 or 4 + 16/d; fp32 16 or 8 + 8/d
               (Megatron-LM docs/user-guide/features/dist_optimizer.md; theoretical_memory_usage.py:L296).
    deepspeed  16-bit params (2) + 16-bit grads (2) + 16 of fp32 grads, params and Adam: ZeRO-2
               2 + 18/N, ZeRO-3 18/N (+ 4 × the largest layer gathered) as DeepSpeed's
               ``estimate_zero2/3_model_states_mem_needs`` count them (stage_1_and_2.py:L2430,
               stage3.py:L3008); ZeRO-1 (no estimator) 4 + 16/N by the same terms.
    torchtitan / fsdp  FSDP2 mixed precision: sharded fp32 params 4 + fp32 grads 4 (reduce_dtype
               float32) + Adam 8 = 16/d (torchtitan configs.py:L87-L106, torch _fsdp_api.py:L14-L36),
               plus the bf16 all-gathered units in flight (``gather_bytes``).
  activations: every framework here runs FlashAttention / fused SDPA by default (Megatron: TE
    ``attention_backend=auto``; torchtitan: SDPA/flex), so no s² scores are stored at any level.
    Per layer, in units of s·b·h bytes, sequence-parallel over t:
      none        Korthikanti's 34-style term by term (``memory.activation_units_per_layer``) / t
      selective   Megatron: recompute of the core attention (``--recompute-modules core_attn``), which
                  with FlashAttention keeps the same as none. torchtitan per-op SAC (9dec370
                  parallelize_llama.py ``_save_list``: mm, SDPA; "every second matmul" recomputed):
                  block input 2 + wq 2 + wv 2·kv + SDPA out 2 + w1 2f/h (+ w2 2 when gated) / t; the
                  fsdp export writes the same policy (torch.utils.checkpoint selective contexts).
      full        the layer input, 2/t under sequence parallelism (it is stored sharded), plus one
                  layer's activations while it is recomputed.
  logits: Megatron's vocab-parallel cross entropy keeps 16-bit logits + fp32 softmax (6 B/elem);
    torchtitan's loss upcasts to fp32 (``cross_entropy(pred.float())``, train.py at 9dec370), so
    bf16 logits 2 + fp32 copy 4 + fp32 log-softmax 4 = 10 B/elem at the loss's peak.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import get_args

import numpy as np

from planner.costmodel.precision import GRAD_BYTES, OPTIMIZER_BYTES, PRECISION_ORDER, WEIGHT_BYTES
from planner.types.vocabulary import FrameworkName

FRAMEWORKS: tuple[str, ...] = get_args(FrameworkName)      # megatron, torchtitan, deepspeed, fsdp

_FP8 = PRECISION_ORDER.index("fp8")


def framework_mask(s, framework: str | None):
    """Layouts ``framework`` runs (all True for None): see the module docstring."""
    if framework is None:
        return np.True_
    tp, pp, zero, cp, vpp = (np.asarray(getattr(s, n)) for n in ("tp", "pp", "zero", "cp", "vpp"))
    precision = np.asarray(s.precision_idx)
    unsharded = np.asarray(s.shard_group) == 1
    if framework == "megatron":
        return (zero <= 1) & np.ones_like(tp, dtype=bool)
    if framework == "torchtitan":
        only_dp = (tp == 1) & (pp == 1) & (cp == 1)
        return (zero >= 2) | ((zero == 0) & (unsharded | only_dp))
    if framework == "deepspeed":
        return ((pp == 1) | (zero <= 1)) & (cp == 1) & (vpp == 1) & (precision != _FP8)
    if framework == "fsdp":
        return (tp == 1) & (pp == 1) & (cp == 1) & (zero != 1)
    raise ValueError(f"framework: unknown {framework!r}; allowed: {', '.join(FRAMEWORKS)}")


def rejection(strategy, framework: str, gpus_per_node: int | None = None) -> str | None:
    """Why ``framework`` cannot run the scalar wire ``strategy`` (None: it can), in one line. With
    ``gpus_per_node``, also the NVLink-domain rule every framework shares (TP within one node)."""
    s = strategy
    if framework == "megatron" and s.zero >= 2:
        return (f"zero={s.zero}: Megatron-LM's trainer has no ZeRO-{s.zero}; its distributed optimizer "
                "(--use-distributed-optimizer) is ZeRO-1")
    if framework == "deepspeed":
        if s.pp > 1 and s.zero >= 2:
            return (f"zero={s.zero} with pp={s.pp}: DeepSpeed's pipeline engine asserts \"ZeRO-2 and ZeRO-3 are "
                    "incompatible with pipeline parallelism\" (ZeRO 0-1 only)")
        if s.cp > 1:
            return f"cp={s.cp}: DeepSpeed has no ring-attention context parallelism (Ulysses only)"
        if s.vpp > 1:
            return f"vpp={s.vpp}: DeepSpeed's pipeline schedule is plain 1F1B (no interleaving)"
        if s.precision == "fp8":
            return "precision=fp8: ds_config has no fp8 training switch"
    if framework == "torchtitan":
        if s.zero == 1:
            return "zero=1: torchtitan shards with FSDP2 (ZeRO-2/3-like); it has no optimizer-only sharding"
        if s.zero == 0 and s.dp * s.cp > 1 and (s.tp > 1 or s.pp > 1 or s.cp > 1):
            return "zero=0: torchtitan's DDP does not compose with TP/PP/CP (use FSDP: zero 2 or 3)"
    if framework == "fsdp":
        for name in ("tp", "pp", "cp"):
            if getattr(s, name) > 1:
                return (f"{name}={getattr(s, name)}: plain FSDP2 is data parallelism only "
                        "(use --framework torchtitan or megatron)")
        if s.zero == 1:
            return "zero=1: FSDP2 has no optimizer-only sharding (zero 2 = reshard_after_forward=False, 3 = True)"
    if gpus_per_node is not None and s.tp > gpus_per_node:
        return f"tp={s.tp}: tensor parallelism must stay within one {gpus_per_node}-GPU NVLink domain"
    return None


_ALLOWED = {"megatron": {"zero": "0 or 1 (1 = --use-distributed-optimizer)"},
            "deepspeed": {"cp": "1", "vpp": "1", "precision": "bf16, fp16, fp32 or tf32", "zero": "0 or 1 with pp > 1"},
            "torchtitan": {"zero": "2 or 3 (FSDP2), or 0 without other parallelism"},
            "fsdp": {"tp": "1", "pp": "1", "cp": "1", "zero": "0 (DDP), 2 or 3"}}


def fixed_conflict(framework: str, **fixed) -> tuple[str, str] | None:
    """(field, one-line message) when user-fixed strategy fields (None = searched) break ``framework``'s
    rules on their own; the fields not given take values the framework accepts."""
    neutral = dict(tp=1, pp=1, cp=1, vpp=1, dp=2, precision="bf16",
                   zero=3 if framework in ("torchtitan", "fsdp") else 1)
    values = {k: (v if v is not None else neutral[k]) for k, v in {**neutral, **fixed}.items()}
    reason = rejection(SimpleNamespace(**values), framework)
    if reason is None:
        return None
    field = reason.split("=", 1)[0]
    allowed = _ALLOWED.get(framework, {}).get(field)
    return field, f"{reason}; with --framework {framework} allowed: {allowed}" if allowed else reason


def frameworks_running(s) -> list[str]:
    """The frameworks (in FRAMEWORKS order) whose rules accept the scalar wire strategy ``s``."""
    return [f for f in FRAMEWORKS if rejection(s, f) is None]


def named(strategy, framework: str | None):
    """The wire strategy with its framework: the one asked for, else the first that runs the layout."""
    name = framework or next(iter(frameworks_running(strategy)), None)
    return strategy.model_copy(update={"framework": name})


# ---- model states ------------------------------------------------------------------------------------

# (weights, gradients, optimizer-side) bytes per parameter by precision, and which ZeRO stage shards each.
_MEGATRON = {"fp32": (4.0, 4.0, 8.0), "tf32": (4.0, 4.0, 8.0), "fp16": (2.0, 2.0, 16.0),
             "bf16": (2.0, 4.0, 12.0), "fp8": (2.0, 4.0, 12.0)}
_DEEPSPEED = {"fp32": (4.0, 4.0, 8.0), "tf32": (4.0, 4.0, 8.0), "fp16": (2.0, 2.0, 16.0),
              "bf16": (2.0, 2.0, 16.0), "fp8": (2.0, 2.0, 16.0)}
_FSDP2 = {p: (4.0, 4.0, 8.0) for p in PRECISION_ORDER}          # fp32 sharded params/grads + Adam


def _table(rows):
    return tuple(np.array([rows[p][k] for p in PRECISION_ORDER]) for k in range(3))


_TABLES = {None: (WEIGHT_BYTES, GRAD_BYTES, OPTIMIZER_BYTES), "megatron": _table(_MEGATRON),
           "deepspeed": _table(_DEEPSPEED), "torchtitan": _table(_FSDP2), "fsdp": _table(_FSDP2)}


def model_state_bytes(framework: str | None, local_params, precision_idx, zero, group):
    """(weights, gradients, optimizer) bytes on one GPU holding ``local_params`` parameters.

    Generic (None) and Megatron/DeepSpeed: ZeRO-1 shards the optimizer side, ZeRO-2 also the gradients,
    ZeRO-3 also the weights, over ``group`` ranks. DeepSpeed ZeRO-3 reduce-scatters gradients into the
    fp32 partition (its estimator counts 18/N, no 16-bit gradient partition). FSDP2 (torchtitan, fsdp)
    keeps all of its fp32 states sharded whenever it shards (ZeRO-2 and ZeRO-3 differ in the gathered
    bf16 weights only, ``gather_bytes``)."""
    w_b, g_b, o_b = (table[precision_idx] for table in _TABLES[framework])
    group = np.asarray(group, dtype=float)
    zero = np.asarray(zero)
    if framework in ("torchtitan", "fsdp"):
        shard = np.where(zero >= 2, group, 1.0)
        return w_b * local_params / shard, g_b * local_params / shard, o_b * local_params / shard
    weights = w_b * local_params / np.where(zero >= 3, group, 1.0)
    grad_bytes = np.where((zero >= 3) & (framework == "deepspeed"), 0.0, g_b)
    gradients = grad_bytes * local_params / np.where(zero >= 2, group, 1.0)
    optimizer = o_b * local_params / np.where(zero >= 1, group, 1.0)
    return weights, gradients, optimizer


def gather_bytes(framework: str | None, layer_params, stage_params, root_params, output_params, precision_idx,
                 zero, group, tp):
    """Unsharded weights (and, for FSDP2, fp32 gradients before their reduce-scatter) in flight.

    Generic / DeepSpeed ZeRO-3: two layers of 16-bit weights (current + prefetched; DeepSpeed's estimator
    counts 4 × the largest layer). FSDP2 ZeRO-3: two blocks' bf16 weights + one block's fp32 gradient, or
    the root unit (embedding + output head) with the output's fp32 gradient, whichever is larger
    (torchtitan wraps every block and then the root). FSDP2 ZeRO-2 keeps the whole stage's bf16
    weights gathered from forward to backward. Nothing is gathered at group 1."""
    sharded = np.asarray(group) > 1
    w16 = np.where(np.asarray(precision_idx) <= PRECISION_ORDER.index("tf32"), 4.0, 2.0)
    if framework in ("torchtitan", "fsdp"):
        blocks = layer_params * (2.0 * w16 + 4.0)
        root = (root_params * w16 + output_params * 4.0) / tp
        zero3 = np.maximum(blocks, root)
        zero2 = stage_params * w16 + np.maximum(layer_params, output_params / tp) * 4.0
        return np.where(sharded & (zero >= 3), zero3, np.where(sharded & (zero == 2), zero2, 0.0))
    return np.where((zero >= 3) & sharded, 2.0 * layer_params * w16, 0.0)


# ---- activations -------------------------------------------------------------------------------------

def selective_units(framework: str | None, shape, full_units):
    """Units (× s·b·h bytes, before the /t split) one layer keeps under ``selective`` recompute."""
    if framework in ("torchtitan", "fsdp"):      # the fsdp export writes torchtitan's per-op policy
        mlp = 2.0 * shape.ffn_hidden / shape.hidden + np.where(shape.gated_mlp, 2.0, 0.0)
        return 2.0 + 2.0 + 2.0 * shape.kv_fraction + 2.0 + mlp
    return full_units


def logit_bytes_per_element(framework: str | None) -> float:
    """Bytes per logit element at the loss (see the module docstring)."""
    return 10.0 if framework in ("torchtitan", "fsdp") else 6.0


def reserved_bytes(allocated_peak_bytes, fragmentation_fraction: float):
    """The caching allocator's reserved peak implied by the planner's fit rule (total ≤ (1 − f) × HBM):
    allocated / (1 − f). Published figures that are peak *reserved* compare with this."""
    return np.asarray(allocated_peak_bytes) / (1.0 - fragmentation_fraction)


# ---- data-parallel traffic -----------------------------------------------------------------------

_FP32_REDUCE = np.array([p in ("fp32", "tf32", "bf16", "fp8") for p in PRECISION_ORDER])


def grad_reduce_bytes(framework: str | None, precision_idx, comm_bytes):
    """Bytes per gradient element reduced across data-parallel ranks. Megatron reduces bf16 gradients in
    fp32 (arguments.py: "bfloat16 requires gradient accumulation and all-reduce to be done in fp32",
    accumulate_allreduce_grads_in_fp32 = True); FSDP2 in torchtitan reduces in float32
    (mixed_precision_reduce = "float32", configs.py:L87-L106; the fsdp export writes the same). Others:
    the training precision's 16 bits."""
    if framework in ("torchtitan", "fsdp"):
        return np.full_like(np.asarray(comm_bytes, dtype=float), 4.0)
    if framework == "megatron":
        return np.where(_FP32_REDUCE[precision_idx], 4.0, comm_bytes)
    return comm_bytes


def overlaps_param_gather(framework: str | None) -> bool:
    """Megatron's distributed optimizer all-gathers updated parameters during the next forward pass
    (--overlap-param-gather, written by the export); others gather after the optimizer step."""
    return framework == "megatron"


def fsdp2(framework: str | None) -> bool:
    """FSDP2 ZeRO-2 (reshard_after_forward=False) still gathers every micro-batch's forward."""
    return framework in ("torchtitan", "fsdp")
