"""Mixture-of-experts terms of the cost model (issue #16): expert parallelism, expert memory,
all-to-all dispatch/combine and load imbalance. Every function is 0 / a no-op for a dense shape
(``shape.experts == 0``); memory.py and throughput.py call them only when the shape is MoE, so dense
results are bit-identical to the dense-only model.

Layout (Megatron-Core MoE "parallel folding", Liu et al. 2025, arXiv:2504.14960; Megatron-LM
``megatron/core/parallel_state.py``): attention and dense MLPs use t·c·d·p as before; routed
experts use etp·ep·edp·p over the same GPUs, with the expert tensor-parallel size etp = t
(Megatron's default ``--expert-tensor-parallel-size`` = TP; torchtitan and DeepSpeed-MoE also
shard experts over data-parallel ranks). So ep must divide d·c (the ranks that hold the same
dense weights) and the experts; ZeRO shards the experts' states over the expert-DP group
edp = d·c/ep (Megatron's distributed optimizer keeps a separate expert-data-parallel group;
tests/reference/megatron_theoretical_memory.py). Ranks are ordered t, ep, …: the ep ranks of a
group sit on consecutive nodes, ``min(ep, gpus_per_node/t)`` of them in one node.

Memory: the heaviest pipeline stage holds ⌈L/p⌉ layers, all taken to be MoE layers (at most the
model's MoE layers), each with ``experts · expert_params_each / (t·ep)`` routed-expert weights per
GPU. Attention, shared experts, routers, norms and dense layers stay in the t·p-sharded body.

Activations of a MoE MLP (16-bit units of s·b·h, Korthikanti et al. 2022's convention): input (2)
and dropout mask (1) as a dense MLP, then per routed copy (top_k per token, × CAPACITY_FACTOR) the
permuted input (2), the expert output before the weighted combine (2) and the expert's f-wide
tensors (6·f_e/h gated, 4·f_e/h plain), plus the shared experts' f-wide tensors.

All-to-all (Megatron-Core ``MoEAlltoAllTokenDispatcher``; DeepSeek-V3 report §3.2.2): per MoE
layer and micro-batch, forward dispatch + combine and backward dispatch + combine, 4 all-to-alls
(+2 when full recomputation re-runs the forward). Each moves a GPU's tokens (s·b/(c·t)) × top_k
copies × h × the element size (FP8 dispatch when training in FP8), times LOAD_IMBALANCE for the
busiest rank; a share (n_in − 1)/ep goes to EP peers in the node over NVLink and (ep − n_in)/ep to
other nodes over the GPU's NIC, concurrently: time = max of the two. Node-limited routing
(DeepSeek-V3: a token goes to at most 4 nodes, §2.1.2) caps the network copies
(``remote_copies_per_token``). A2A_OVERLAP of the all-to-all is hidden behind compute.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from planner.costmodel.shape import ModelShape
from planner.costmodel.strategy import Strategies, powers_of_two_upto

# Dropless routing: Megatron-Core's default (``--moe-expert-capacity-factor`` unset = no token
# dropping), DeepSeek-V3 ("DeepSeek-V3 does not drop any tokens during training", report §2.1.2)
# and OLMoE (dropless, Muennighoff et al. 2024 §2). 1.0 = every routed copy is computed once.
CAPACITY_FACTOR = 1.0
# Busiest expert-parallel rank over the mean: tokens are not spread exactly evenly even with
# auxiliary-loss or bias-based balancing. ASSUMPTION (no published per-rank figure was read): 10 %.
# It scales the routed experts' GEMM time and the all-to-all volume.
LOAD_IMBALANCE = 1.1
# Share of the all-to-all hidden behind computation. 0: Megatron-Core's default 1F1B schedule
# exposes it (``--overlap-moe-expert-parallel-comm`` is off by default); DeepSeek's DualPipe
# (report §3.2.1) overlaps it fully (1.0). An assumption the request can change (a2a_overlap).
A2A_OVERLAP = 0.0
# Largest expert-parallel size the search tries by itself (DeepSeek-V3 trained with EP64).
MAX_EP = 64


def is_moe(shape: ModelShape) -> bool:
    return bool(np.any(np.asarray(shape.experts) > 0))


def expert_parallel_choices(experts: int, max_ep: int = MAX_EP) -> tuple[int, ...]:
    """EP sizes worth trying: powers of two dividing the experts, up to ``max_ep`` (1 for dense)."""
    if not experts:
        return (1,)
    return tuple(e for e in powers_of_two_upto(max_ep) if experts % e == 0)


def check_expert_parallel(experts: int, ep: int, shard_group: int | None = None) -> str | None:
    """Why ``ep`` is not a valid expert-parallel size for ``experts`` experts (None if it is)."""
    if ep == 1:
        return None
    if not experts:
        return f"ep: expert parallelism needs a mixture-of-experts model; this one is dense (use ep = 1)"
    if experts % ep:
        allowed = [e for e in range(1, experts + 1) if experts % e == 0 and e <= 1024]
        return f"ep: must divide the {experts} experts; allowed: {allowed[:12]}{' …' if len(allowed) > 12 else ''}"
    if shard_group is not None and shard_group % ep:
        return (f"ep: must divide the {shard_group} data-parallel ranks (dp·cp) that expert parallelism is carved "
                f"out of; give more GPUs or a smaller ep")
    return None


def moe_layers_per_stage(shape: ModelShape, s: Strategies):
    """MoE layers on the heaviest pipeline stage: ⌈L/p⌉, at most the model's MoE layers."""
    return np.minimum(s.stage_layers(shape.layers), np.asarray(shape.moe_layers, dtype=float))


def expert_params_per_gpu(shape: ModelShape, s: Strategies):
    """Routed-expert weights one GPU of the heaviest stage holds: layers × experts × expert / (t·ep)."""
    per_layer = np.asarray(shape.experts, dtype=float) * shape.expert_params_each
    return per_layer * moe_layers_per_stage(shape, s) / (np.asarray(s.tp, dtype=float) * np.asarray(s.ep, dtype=float))


def mlp_activation_units(shape: ModelShape):
    """Activation units (16-bit s·b·h) of a MoE MLP; see the module docstring."""
    per_f = np.where(shape.gated_mlp, 6.0, 4.0) / np.asarray(shape.hidden, dtype=float)
    routed = np.asarray(shape.top_k, dtype=float) * CAPACITY_FACTOR * (4.0 + per_f * shape.expert_ffn_hidden)
    return 3.0 + routed + per_f * shape.shared_ffn_hidden


def expert_flops_per_token(shape: ModelShape):
    """Training FLOPs per token of the routed experts a token uses (6 × their weights)."""
    return 6.0 * np.asarray(shape.moe_layers, dtype=float) * np.asarray(shape.top_k, dtype=float) * shape.expert_params_each


def remote_copies_per_token(shape: ModelShape, s: Strategies, gpus_per_node: int):
    """(copies to EP peers in the node, copies to other nodes) per token and all-to-all.

    Without a node limit every routed copy is sent on its own (Megatron-Core's all-to-all
    dispatcher), spread evenly over the ep ranks: top_k·(n_in − 1)/ep and top_k·(ep − n_in)/ep.
    With node-limited routing (DeepSeek-V3: at most M nodes per token) a token crosses the network
    once per target node and is forwarded over NVLink inside it (report §3.2.2): at most
    M·(nodes − 1)/nodes network copies, nodes = ep/n_in EP nodes."""
    tp, ep = np.asarray(s.tp, dtype=float), np.asarray(s.ep, dtype=float)
    k = np.asarray(shape.top_k, dtype=float)
    per_node = np.clip(np.minimum(ep, gpus_per_node / tp), 1.0, None)     # EP ranks in my node, me included
    in_node = k * (per_node - 1.0) / ep
    off_node = k * np.maximum(ep - per_node, 0.0) / ep
    limit = np.asarray(shape.node_limit, dtype=float)
    nodes = ep / per_node
    limited = np.minimum(off_node, limit * np.maximum(nodes - 1.0, 0.0) / np.maximum(nodes, 1.0))
    return in_node, np.where(limit > 0, limited, off_node)


def all_to_all_seconds(shape: ModelShape, gpu, s: Strategies, *, tokens_per_micro, elem_bytes, dispatch_bytes,
                       recompute_idx, link_bytes_per_s, network_bytes_per_s):
    """Seconds of expert-parallel all-to-all per micro-batch on the heaviest stage (before overlap).

    Per MoE layer: forward dispatch (``dispatch_bytes`` per element: 1 when training in FP8, as
    DeepSeek-V3 quantises activations before dispatch, report §3.3.2) and combine, backward
    dispatch and combine of gradients (``elem_bytes``), and with full recomputation the forward
    pair again."""
    tp, ep = np.asarray(s.tp, dtype=float), np.asarray(s.ep, dtype=float)
    in_node, off_node = remote_copies_per_token(shape, s, gpu.gpus_per_node)
    tokens = np.asarray(tokens_per_micro, dtype=float) / tp * shape.hidden * CAPACITY_FACTOR * LOAD_IMBALANCE
    forward = dispatch_bytes + elem_bytes
    per_layer_bytes = forward + 2.0 * elem_bytes + np.where(np.asarray(recompute_idx) == 2, forward, 0.0)
    seconds = tokens * per_layer_bytes * np.maximum(in_node / link_bytes_per_s, off_node / network_bytes_per_s)
    return np.where(ep > 1, moe_layers_per_stage(shape, s) * seconds, 0.0)


# ------------------------------------------------------------------------------- solver lattice

@dataclass(frozen=True)
class MoEVariant:
    """A sparse model family the solver may choose (``--allow-moe``): every block's MLP becomes
    ``experts`` experts of inner width (dense width / top_k), ``top_k`` of them per token, so the
    active MLP (and the FLOPs per token) equal the dense model's of the same active size and the
    total parameters grow by (experts/top_k − 1)× the MLP weights. ``expansion`` = experts / top_k
    is the E of the joint MoE law (scaling_laws/moe.py); top_k > 1 is fine-grained (granularity)."""

    experts: int
    top_k: int

    @property
    def expansion(self) -> float:
        return self.experts / self.top_k

    @property
    def label(self) -> str:
        return f"MoE {self.experts} experts, top-{self.top_k}"


# The lattice --allow-moe searches beside the dense model: expansion 8, 16, 32 with one expert per
# token (Switch-style, Fedus et al. 2022), and expansion 8 as 32 fine-grained experts of a quarter
# width, top-4 (granularity 4, as Krajewski et al. 2024 and DeepSeekMoE recommend). E ≤ 32 keeps the
# law near the expert counts of the fit it comes from (scaling_laws/moe.py).
MOE_LATTICE = (MoEVariant(8, 1), MoEVariant(32, 4), MoEVariant(16, 1), MoEVariant(32, 1))
EXPERT_FFN_MULTIPLE = 64


@lru_cache(maxsize=8192)       # as family_shapes: the solver asks for the same sizes many times
def sparse_shape(dense: ModelShape, variant: MoEVariant, active_params: float) -> ModelShape:
    """``dense`` (a shape of ``active_params`` parameters) with every MLP made a mixture of experts."""
    expert_ffn = max(EXPERT_FFN_MULTIPLE,
                     int(round(float(dense.ffn_hidden) / variant.top_k / EXPERT_FFN_MULTIPLE)) * EXPERT_FFN_MULTIPLE)
    per_expert = (3.0 if dense.gated_mlp else 2.0) * dense.hidden * expert_ffn
    inactive = dense.layers * (variant.experts - variant.top_k) * per_expert
    router = dense.layers * dense.hidden * variant.experts
    return replace(dense, params=float(active_params + inactive + router), experts=variant.experts,
                   top_k=variant.top_k, moe_layers=dense.layers, expert_ffn_hidden=expert_ffn,
                   name=f"{variant.label}, {dense.name or 'derived'}")
