"""Memory per GPU of a training strategy (vectorised over arrays of strategies).

Model states (ZeRO paper, Rajbhandari et al. 2020, §3-§5): bytes per parameter from
``planner.costmodel.precision`` on the parameters one GPU holds, ``(N − V·h)/(t·p) + V·h/t`` (the worst
pipeline stage also holds the V·h embedding or output layer, split across tensor parallelism).
ZeRO-1 shards optimizer states over the d data-parallel ranks, ZeRO-2 also gradients, ZeRO-3/FSDP
also weights, which then need a gather buffer of two layers (current + prefetched).

Activations (Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer
Models", Table 2), bytes per layer per micro-batch of b sequences, with sequence parallelism
whenever t > 1:
    none       s·b·h·(34/t + 5·a·s/(h·t))
    selective  s·b·h·34/t                 (also what flash attention gives)
    full       2·s·b·h                    (only each layer's input is kept)
With 1F1B pipelining the first stage holds min(p, m) micro-batches of L/p layers (§4.2.3).
Full recompute also needs one layer's full activations while it is being recomputed, and the last
stage needs the logits of one micro-batch (16-bit logits + fp32 softmax: 6·s·b·V/t bytes).

Framework overhead (CUDA context, NCCL and cuBLAS workspaces) is a fixed amount and the caching
allocator's fragmentation a fraction of HBM; both are assumptions, documented and configurable.

With a framework named (``MemoryConfig.framework``, issue #13) the model states, gather buffers,
activations and logits are those that framework keeps: ``planner.costmodel.frameworks`` (FlashAttention,
no s² term; its recompute levels; full recompute keeps 2·s·b·h/t under sequence parallelism).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.costmodel import frameworks as fw
from planner.costmodel import moe
from planner.costmodel.precision import ACTIVATION_SCALE
from planner.costmodel.shape import ModelShape
from planner.costmodel.strategy import Strategies

GIB = 2**30


@dataclass(frozen=True)
class MemoryConfig:
    """Assumptions about what a training process needs besides model states and activations.

    framework_overhead_bytes: CUDA context (~0.5 GiB on A100/H100) + NCCL buffers and cuBLAS
      workspace (~1 GiB); observed with PyTorch 2.x, an assumption rather than a datasheet figure.
    fragmentation_fraction: share of HBM the caching allocator cannot use (fragmentation plus a
      safety margin); 10 % is the usual planning margin.
    """

    framework_overhead_bytes: float = 1.5 * GIB
    fragmentation_fraction: float = 0.10
    # Issue #15: failures, checkpoints (of these model states) and restarts, a
    # planner.costmodel.reliability.Reliability. When set, ``evaluate`` and the solver's grid report
    # EXPECTED tokens/s (ideal / slowdown(params, GPUs)); MFU stays the clean figure. None = clean run.
    reliability: object | None = None
    # Issue #16: share of the MoE all-to-all hidden behind compute (planner.costmodel.moe.A2A_OVERLAP)
    a2a_overlap: float = moe.A2A_OVERLAP
    # Issue #13: the training framework whose memory accounting applies (None: the generic model above).
    framework: str | None = None

    def usable_bytes(self, memory_bytes: float) -> float:
        """HBM the process may fill (``total`` of the breakdown, which includes framework overhead)."""
        return memory_bytes * (1.0 - self.fragmentation_fraction)


def params_per_gpu(shape: ModelShape, s: Strategies):
    """Parameters held by the GPU of the heaviest pipeline stage: the transformer body split over
    t·p, plus the V·h embedding (first stage) or output head (last stage) split over t; with one
    stage, both (the whole of an untied pair). Routed MoE experts are not in it: they are sharded by
    expert parallelism (``moe.expert_params_per_gpu``)."""
    embedding = shape.embedding_params
    body = np.maximum(shape.params - embedding, 0.0)
    if moe.is_moe(shape):
        body = np.maximum(body - shape.routed_expert_params, 0.0)
    stage_end = np.where(np.asarray(s.pp) > 1, shape.vocab * shape.hidden * 1.0, embedding)
    stage_share = s.stage_layers(shape.layers) / shape.layers        # 1/p when p divides the layers
    return body * stage_share / s.tp + stage_end / s.tp


def activation_units_per_layer(shape: ModelShape):
    """Korthikanti et al. 2022 Table 2's 34 (units of s·b·h 16-bit bytes, without the attention
    scores), term by term so GQA and gated MLPs change what they change: two norms' inputs (4);
    attention: QKV input (2), Q (2), K and V (2 each, × kv_heads·head_dim/h under GQA), out-projection
    input (2), dropout mask (1); MLP: input (2), dropout mask (1), and 2 bytes per element of each
    f-wide tensor kept: up + activation for a plain MLP (4·f/h), gate + up + product for SwiGLU (6·f/h)."""
    norms = 4.0
    attention = 7.0 + 4.0 * shape.kv_fraction
    mlp = 3.0 + np.where(shape.gated_mlp, 6.0, 4.0) * shape.ffn_hidden / shape.hidden
    if moe.is_moe(shape):       # the heaviest stage is taken to hold MoE layers (issue #16)
        mlp = np.where(np.asarray(shape.experts) > 0, moe.mlp_activation_units(shape), mlp)
    return norms + attention + mlp


def activation_bytes_per_layer(shape: ModelShape, tp, micro_batch, recompute_idx, framework: str | None = None):
    """Korthikanti et al. 2022 Table 2 (16-bit values), with sequence parallelism when t > 1. With a
    framework: FlashAttention (no s² scores), its selective level, and full recompute's kept input
    sequence-parallel (2·s·b·h/t)."""
    s, h, a = shape.seq_len, shape.hidden, shape.heads
    sbh = s * micro_batch * h
    units = activation_units_per_layer(shape)
    if framework is not None:
        none = sbh * units / tp
        selective = sbh * fw.selective_units(framework, shape, units) / tp
        full = 2.0 * sbh / tp
        return np.choose(recompute_idx, [none, selective, full])
    none = sbh * (units / tp + 5.0 * a * s / (h * tp))
    selective = sbh * units / tp
    full = 2.0 * sbh * np.ones_like(tp, dtype=float)
    return np.choose(recompute_idx, [none, selective, full])


def memory_breakdown(shape: ModelShape, s: Strategies,
                     config: MemoryConfig = MemoryConfig()) -> dict[str, np.ndarray]:
    """Bytes per GPU by component; the strategy's fields broadcast as numpy arrays."""
    tp, pp, zero = (np.asarray(x, dtype=float) for x in (s.tp, s.pp, s.zero))
    cp, vpp = np.asarray(s.cp, dtype=float), np.asarray(s.vpp, dtype=float)
    dp = np.asarray(s.shard_group, dtype=float)          # ZeRO shards over the d·c ranks that hold the same weights
    precision_idx, recompute_idx = np.asarray(s.precision_idx), np.asarray(s.recompute_idx)
    micro_batch, grad_accum = np.asarray(s.micro_batch, dtype=float), np.asarray(s.grad_accum, dtype=float)

    framework = config.framework
    local_params = params_per_gpu(shape, s)
    weights, gradients, optimizer = fw.model_state_bytes(framework, local_params, precision_idx, zero, dp)
    layer_params = (shape.shape_params - shape.embedding_params) / shape.layers / tp   # one block's weights
    if moe.is_moe(shape):
        # routed experts (sharded by t·ep, over the expert-DP group d·c/ep) beside the t·p-sharded body
        experts = moe.expert_params_per_gpu(shape, s)
        edp = np.asarray(s.expert_shard_group, dtype=float)
        expert_weights, expert_grads, expert_optimizer = fw.model_state_bytes(framework, experts, precision_idx,
                                                                              zero, edp)
        weights, gradients, optimizer = weights + expert_weights, gradients + expert_grads, optimizer + expert_optimizer
        layer_params = (np.maximum(shape.params - shape.embedding_params - shape.routed_expert_params, 0.0)
                        / shape.layers / tp + experts / np.maximum(moe.moe_layers_per_stage(shape, s), 1.0))
    # only sharded weights need gathering: at d = 1 ZeRO-3 shards nothing (as in throughput.py)
    gather_buffer = fw.gather_bytes(framework, layer_params, local_params, shape.embedding_params,
                                    shape.vocab * shape.hidden * 1.0, precision_idx, zero, dp, tp)

    scale = ACTIVATION_SCALE[precision_idx]
    # context parallelism keeps s/c of every sequence on a GPU (the K/V chunks in flight are small)
    per_layer = activation_bytes_per_layer(shape, tp, micro_batch, recompute_idx, framework) * scale / cp
    # 1F1B: the first stage holds min(p, m) micro-batches; interleaving v chunks holds (1 + (p−1)/(p·v))× that
    # (Narayanan et al. 2021 §2.2.2; Megatron-LM theoretical_memory_usage.py)
    interleave = np.where(vpp > 1, 1.0 + (pp - 1.0) / (pp * vpp), 1.0)
    in_flight = np.minimum(pp, grad_accum) * interleave
    layers_per_stage = s.stage_layers(shape.layers)
    first_stage = per_layer * layers_per_stage * in_flight
    recompute_working = np.where(
        recompute_idx == 2,
        activation_bytes_per_layer(shape, tp, micro_batch, np.zeros_like(recompute_idx), framework) * scale / cp, 0.0)
    logits = fw.logit_bytes_per_element(framework) * shape.seq_len * micro_batch * shape.vocab / (tp * cp)
    last_stage = per_layer * layers_per_stage + logits
    activations = np.where(pp > 1, np.maximum(first_stage, last_stage), first_stage + logits) + recompute_working

    overhead = np.full_like(weights, config.framework_overhead_bytes)
    total = weights + gradients + optimizer + gather_buffer + activations + overhead
    return {
        "weights": weights,
        "gradients": gradients,
        "optimizer": optimizer,
        "zero3_gather_buffer": gather_buffer,
        "activations": activations,
        "framework_overhead": overhead,
        "total": total,
    }
