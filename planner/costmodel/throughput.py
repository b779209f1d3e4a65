"""Step time of a training strategy (vectorised over arrays of strategies).

Per micro-batch and pipeline stage, one GPU spends
  * math:   GEMM FLOPs / (peak at the precision × best-shape GEMM efficiency of the GPU generation ×
            a shape factor for small sharded dimensions) + attention-core FLOPs at FlashAttention-2
            speed for the generation and sequence length (planner.costmodel.calibration),
  * memory: memory-bound kernels' HBM traffic / HBM bandwidth,
  * TP:     4 all-reduce equivalents per layer of s·b·h elements (2 forward, 2 backward; +2 when
            the forward is recomputed), ring cost 2(t−1)/t × bytes / NVLink bandwidth — tensor
            parallelism never crosses a node (Narayanan et al. 2021 §3.2); the share
            calibration.TP_COMM_OVERLAP is hidden under the GEMMs (Transformer Engine overlap),
  * PP:     one activation send forward and one gradient send backward of s·b·h/t elements.
A 1F1B pipeline of p stages and m micro-batches takes (m + p − 1) such slots, i.e. a bubble of
(p − 1)/m (Narayanan et al. 2021 §2.2). Data-parallel gradient reduction (ring all-reduce
2(d−1)/d × bytes, or reduce-scatter + all-gather for ZeRO-1, the same volume) is hidden behind
the last backward up to DP_OVERLAP; ZeRO-2 reduce-scatters after every micro-batch and ZeRO-3
also all-gathers parameters for every micro-batch's forward and backward (Rajbhandari et al. 2020
§5, §7). The optimizer step streams the model states through HBM once (read + write).
Finally no step is faster than its model FLOPs at the best end-to-end MFU a published run reached on
the GPU generation and precision (calibration.MFU_ENVELOPE, "mfu_envelope" in the breakdown).
"""

from __future__ import annotations

import numpy as np

from catalogs.schema import GPUSpec
from planner.costmodel import calibration as cal
from planner.costmodel import frameworks as fw
from planner.costmodel import moe
from planner.costmodel.flops import attention_flops_per_token, hardware_flops_per_token, model_flops_per_token
from planner.costmodel.memory import params_per_gpu
from planner.costmodel.precision import COMM_BYTES, PRECISION_ORDER, WEIGHT_BYTES
from planner.costmodel.shape import ModelShape
from planner.costmodel.strategy import Strategies

def generation(gpu: GPUSpec) -> str:
    """GPU generation of a catalog part (volta, ampere, hopper, blackwell, or 'other')."""
    return next((gen for prefix, gen in cal.GENERATIONS if gpu.id.startswith(prefix)), "other")


def gemm_ceiling(gpu: GPUSpec) -> np.ndarray:
    """Best-shape GEMM efficiency per precision index (calibration.GEMM_CEILING), × the catalog's
    stack factor for the part."""
    gen = generation(gpu)
    return np.array([cal.FP32_CEILING if p == "fp32" else cal.GEMM_CEILING.get((gen, p), cal.DEFAULT_GEMM_CEILING)
                     for p in PRECISION_ORDER]) * gpu.gemm_efficiency_factor


def achievable_flops(gpu: GPUSpec, precision_idx) -> np.ndarray:
    """Peak × best-shape GEMM efficiency per GPU for each precision index (0 where the GPU lacks it):
    the fastest any GEMM (and the attention core, on full-count FLOPs) runs here."""
    peaks = np.array([gpu.peak_flops.get(p, 0.0) for p in PRECISION_ORDER])
    return peaks[precision_idx] * gemm_ceiling(gpu)[precision_idx]


def gemm_shape_factor(tokens_per_micro, hidden_per_gpu):
    """Π d/(d + d_half) over M = tokens per micro-batch per GPU and N = hidden/t (calibration)."""
    m, n = np.asarray(tokens_per_micro, dtype=float), np.asarray(hidden_per_gpu, dtype=float)
    return m / (m + cal.GEMM_M_HALF) * n / (n + cal.GEMM_N_HALF)


def attention_rate(gpu: GPUSpec, shape: ModelShape, precision_idx) -> np.ndarray:
    """FLOP/s of the attention core counted the planner's way (full s×s): FlashAttention-2 causal
    fwd+bwd at this sequence length and head size, doubled for the masked half, capped at the GEMM
    ceiling (calibration.ATTENTION_TFLOPS)."""
    gen = generation(gpu)
    table_gen = "ampere" if gen in ("ampere", "volta") else "hopper"
    log_seq = np.log2(np.asarray(shape.seq_len, dtype=float))
    by_dim = {dim: np.interp(log_seq, np.log2(cal.ATTENTION_SEQ), np.array(tflops) / peak)
              for (g, dim), (tflops, peak) in cal.ATTENTION_TFLOPS.items() if g == table_gen}
    fraction = np.where(np.asarray(shape.head_dim) <= 64, by_dim[64], by_dim[128])
    peak16 = max(gpu.peak_flops.get("bf16", 0.0), gpu.peak_flops.get("fp16", 0.0)) * gpu.gemm_efficiency_factor
    rate = 2.0 * fraction * peak16
    cap = achievable_flops(gpu, precision_idx)
    return np.minimum(np.where(cap > 0, rate, 0.0) if peak16 > 0 else cap, cap)


def mfu_envelope(gpu: GPUSpec) -> np.ndarray:
    """Best published end-to-end MFU per precision index on this GPU's generation
    (calibration.MFU_ENVELOPE; inf = no envelope, e.g. TF32/FP32)."""
    gen = generation(gpu)
    table_gen = gen if any(g == gen for g, _ in cal.MFU_ENVELOPE) else None
    return np.array([cal.MFU_ENVELOPE.get((table_gen, p), cal.DEFAULT_MFU_ENVELOPE.get(p, np.inf)) if table_gen
                     else cal.DEFAULT_MFU_ENVELOPE.get(p, np.inf) for p in PRECISION_ORDER])


def data_parallel_ring(gpu: GPUSpec, s: Strategies):
    """(bytes/s, ring factor (n−1)/n) of the gradient collectives over the n = d·c ranks that hold the
    same weights: NVLink while the t·c·d GPUs of a pipeline stage fit in one node, else the network.
    Across nodes NCCL runs one ring (or tree) per NIC, so the k ranks of the group that share a node
    use k NICs at once (rail-optimised nodes, one NIC per GPU; Jeaugey, "Massively Scale Your Deep
    Learning Training with NCCL 2.4", NVIDIA 2019): bandwidth = min(NVLink, k × NIC), with
    k = min(group, GPUs per node / t) (Megatron orders ranks t, c, d, p, so data-parallel peers
    fill a node after the tensor-parallel ones)."""
    tp, group = np.asarray(s.tp, dtype=float), np.asarray(s.shard_group, dtype=float)
    link = gpu.intra_node_bandwidth_bytes_per_s * cal.LINK_EFFICIENCY
    network = gpu.inter_node_bandwidth_bytes_per_s * cal.LINK_EFFICIENCY
    per_node = np.clip(np.minimum(group, gpu.gpus_per_node / tp), 1.0, None)
    across = np.minimum(link, network * per_node)
    return np.where(tp * group <= gpu.gpus_per_node, link, across), np.where(group > 1, (group - 1.0) / group, 0.0)


def step_time_breakdown(shape: ModelShape, gpu: GPUSpec, s: Strategies, *, gemm_efficiency: float | None = None,
                        memory_traffic: float | None = None, a2a_overlap: float = moe.A2A_OVERLAP,
                        tp_comm_overlap: float | None = None, envelope_scale: float = 1.0,
                        framework: str | None = None) -> dict[str, np.ndarray]:
    """Seconds per optimizer step and its parts; the strategy's fields broadcast as arrays.
    ``compute`` includes the attention core (at FlashAttention speed, see ``attention_rate``);
    ``gemm_efficiency`` overrides the GEMM rate with peak × that fraction (tests, what-ifs);
    ``tp_comm_overlap`` the share of tensor-parallel communication hidden under GEMMs
    (default calibration.TP_COMM_OVERLAP, what a tuned Megatron-Core stack does; 0 for stacks
    that do not overlap it, as the validation rows of those stacks use); ``envelope_scale``
    multiplies the published-MFU envelope (the validation rows of a stack whose measured speed is
    a factor f of the tuned one take 1/f, so that envelope and stack factor do not both apply)."""
    tp, pp, zero = (np.asarray(x, dtype=float) for x in (s.tp, s.pp, s.zero))
    cp, vpp = np.asarray(s.cp, dtype=float), np.asarray(s.vpp, dtype=float)
    dp = np.asarray(s.shard_group, dtype=float)          # ZeRO shards over d·c
    precision_idx, recompute_idx = np.asarray(s.precision_idx), np.asarray(s.recompute_idx)
    b, m = np.asarray(s.micro_batch, dtype=float), np.asarray(s.grad_accum, dtype=float)
    seq_len, h, layers = shape.seq_len, shape.hidden, shape.layers
    tokens_per_micro = seq_len * b / cp                  # a GPU's share of a micro-batch's tokens
    layers_per_stage = s.stage_layers(layers)
    stage_share = layers_per_stage / layers              # 1/p when p divides the layers

    # GEMMs at the generation's ceiling × the shape factor of the sharded GEMMs; the attention core
    # (QKᵀ, AV) at FlashAttention speed; recomputed work at the same rates as the original.
    ceiling = achievable_flops(gpu, precision_idx)
    gemm_rate = ceiling * gemm_shape_factor(tokens_per_micro, h / tp) if gemm_efficiency is None else (
        np.array([gpu.peak_flops.get(p, 0.0) for p in PRECISION_ORDER])[precision_idx] * gemm_efficiency)
    attn_rate = attention_rate(gpu, shape, precision_idx)
    work = tokens_per_micro * stage_share / tp
    attention_flops = attention_flops_per_token(shape)
    gemm_flops = hardware_flops_per_token(shape, recompute_idx) - attention_flops * np.choose(
        recompute_idx, [1.0, 4.0 / 3.0, 4.0 / 3.0])
    attention_core = attention_flops * np.choose(recompute_idx, [1.0, 4.0 / 3.0, 4.0 / 3.0]) * work / attn_rate
    math = gemm_flops * work / gemm_rate + attention_core

    traffic = cal.MEMORY_BYTES_PER_LAYER_TOKEN_PER_HIDDEN if memory_traffic is None else memory_traffic
    passes = np.choose(recompute_idx, [1.0, 1.0, 4.0 / 3.0])
    elem = COMM_BYTES[precision_idx] / 2.0
    memory = traffic * elem * h * tokens_per_micro * layers_per_stage / tp * passes / gpu.memory_bandwidth_bytes_per_s

    link = gpu.intra_node_bandwidth_bytes_per_s * cal.LINK_EFFICIENCY
    network = gpu.inter_node_bandwidth_bytes_per_s * cal.LINK_EFFICIENCY
    act_bytes = tokens_per_micro * h * COMM_BYTES[precision_idx]
    collectives = 4.0 + np.where(recompute_idx == 2, 2.0, 0.0)
    tp_hidden = cal.TP_COMM_OVERLAP if tp_comm_overlap is None else tp_comm_overlap
    tp_comm = np.where(tp > 1, collectives * layers_per_stage * 2.0 * (tp - 1) / tp * act_bytes / link, 0.0) * (
        1.0 - tp_hidden)

    pp_bw = np.where(np.asarray(s.replica, dtype=float) > gpu.gpus_per_node, network, link)
    # interleaving sends each micro-batch across v chunk boundaries per stage (Narayanan et al. 2021 §2.2.2)
    pp_comm = np.where(pp > 1, 2.0 * vpp * act_bytes / tp / pp_bw, 0.0)

    # Context parallelism (ring attention, Megatron-Core / torchtitan): every GPU receives the other
    # c−1 chunks of K and V in the forward pass and sends dK, dV back in the backward pass, about
    # 3 × (c−1)/c × 2·s·b·(kv width)/t bytes per layer, overlapped with the attention core it feeds.
    kv_bytes = 2.0 * seq_len * b * shape.kv_heads * shape.head_dim * COMM_BYTES[precision_idx] / tp
    cp_bw = np.where(tp * cp <= gpu.gpus_per_node, link, network)
    cp_traffic = np.where(cp > 1, 3.0 * (cp - 1.0) / cp * kv_bytes * layers_per_stage / cp_bw, 0.0)
    cp_comm = np.maximum(0.0, cp_traffic - attention_core)

    sparse = moe.is_moe(shape)
    ep_comm = 0.0
    if sparse:
        # issue #16: the busiest EP rank's extra routed-expert GEMMs (load imbalance) and the exposed
        # all-to-all dispatch/combine (planner.costmodel.moe)
        recompute_factor = np.choose(recompute_idx, [1.0, 1.0, 4.0 / 3.0])
        math = math + (moe.LOAD_IMBALANCE - 1.0) * moe.expert_flops_per_token(shape) * recompute_factor * work / gemm_rate
        fp8 = np.asarray(precision_idx) == PRECISION_ORDER.index("fp8")
        a2a = moe.all_to_all_seconds(shape, gpu, s, tokens_per_micro=tokens_per_micro, elem_bytes=COMM_BYTES[precision_idx],
                                     dispatch_bytes=np.where(fp8, 1.0, COMM_BYTES[precision_idx]),
                                     recompute_idx=recompute_idx, link_bytes_per_s=link, network_bytes_per_s=network)
        ep_comm = np.maximum(0.0, a2a - a2a_overlap * math)
    slot = math + memory + tp_comm + pp_comm + cp_comm + ep_comm
    # 1F1B bubble (p−1)/(v·m) of the step (Narayanan et al. 2021 §2.2): p−1 slots of a chunk of 1/v
    bubble = (pp - 1.0) / vpp * slot
    pipeline = m * slot + bubble

    local_params = params_per_gpu(shape, s)
    dp_bw, ring = data_parallel_ring(gpu, s)
    gather = ring * COMM_BYTES[precision_idx] * local_params / dp_bw        # one all-gather of 16-bit weights
    # one reduce-scatter of the gradients, in the framework's reduction dtype (fp32 for Megatron/FSDP2)
    one_pass = ring * fw.grad_reduce_bytes(framework, precision_idx, COMM_BYTES[precision_idx]) * local_params / dp_bw
    if sparse:      # routed experts are gathered and reduced over the expert-DP group d·c/ep
        expert_params = moe.expert_params_per_gpu(shape, s)
        edp = np.asarray(s.expert_shard_group, dtype=float)
        expert_ring = np.where(edp > 1, (edp - 1.0) / edp, 0.0) * expert_params / dp_bw
        gather = gather + expert_ring * COMM_BYTES[precision_idx]
        one_pass = one_pass + expert_ring * fw.grad_reduce_bytes(framework, precision_idx, COMM_BYTES[precision_idx])
    backward = (2.0 / 3.0) * (math + memory)                                # backward share of a slot
    # ZeRO-0: gradient all-reduce (= reduce-scatter + all-gather) once per step, hidden behind the
    # last backward. ZeRO-1: the reduce-scatter is hidden the same way, but the all-gather of the
    # updated parameter shards follows the optimizer step and is exposed. ZeRO-2: gradients are
    # partitioned, so they are reduce-scattered after every micro-batch (DeepSpeed; Rajbhandari
    # et al. 2020 §5.2), hidden behind every backward, plus the exposed all-gather. ZeRO-3:
    # parameters are all-gathered for forward and backward of every micro-batch (§5.3), overlapped
    # with compute, and gradients reduce-scattered after every micro-batch's backward. All of a
    # ZeRO-3 step's traffic (2 gathers + 1 reduce-scatter per micro-batch) shares one window, the
    # step's compute: traffic a kernel hides is not hidden twice (issue #13).
    # Per framework (issue #13): Megatron's distributed optimizer overlaps the parameter all-gather with
    # the next step's first forward (--overlap-param-gather); FSDP2's ZeRO-2 (reshard_after_forward=False)
    # gathers every micro-batch's forward and reduce-scatters every backward, in the same shared window.
    sync = np.where(zero == 0, 2.0 * one_pass, np.where(zero == 2, m * one_pass, one_pass))
    window = cal.DP_OVERLAP * backward * np.where(zero == 2, m, 1.0)
    forward = (1.0 / 3.0) * (math + memory)
    exposed_gather = np.where((zero == 1) | (zero == 2), gather, 0.0)
    if fw.overlaps_param_gather(framework):
        exposed_gather = np.maximum(0.0, exposed_gather - cal.DP_OVERLAP * forward)
    zero3_traffic = m * (2.0 * ring * WEIGHT_BYTES[precision_idx] * local_params / dp_bw + one_pass)
    if sparse:      # ZeRO-3 also gathers the routed experts' shards over the expert-DP group
        zero3_traffic = zero3_traffic + m * 2.0 * np.where(edp > 1, (edp - 1.0) / edp, 0.0) \
            * WEIGHT_BYTES[precision_idx] * expert_params / dp_bw
    shared = np.where(zero >= 3, zero3_traffic, m * (gather + one_pass)) if fw.fsdp2(framework) else zero3_traffic
    dp_exposed = np.where((zero >= 3) | ((zero == 2) & fw.fsdp2(framework)),
                          np.maximum(0.0, shared - cal.DP_OVERLAP * m * slot),
                          np.maximum(0.0, sync - window) + exposed_gather)

    state_bytes = sum(fw.model_state_bytes(framework, local_params, precision_idx, zero, dp))
    if sparse:
        state_bytes = state_bytes + sum(fw.model_state_bytes(framework, expert_params, precision_idx, zero, edp))
    optimizer = 2.0 * state_bytes / gpu.memory_bandwidth_bytes_per_s

    total = pipeline + dp_exposed + optimizer
    # Published-MFU envelope: a data-parallel rank's b·m·s tokens (on t·p·c GPUs) never take less than
    # their model FLOPs at the best MFU a published run reached on this generation and precision
    # (calibration.MFU_ENVELOPE); the difference is reported, not hidden in another term.
    peak = np.array([gpu.peak_flops.get(p, 0.0) for p in PRECISION_ORDER])[precision_idx]
    best_mfu = mfu_envelope(gpu)[precision_idx] * envelope_scale
    with np.errstate(divide="ignore", invalid="ignore"):
        floor = np.where((peak > 0) & np.isfinite(best_mfu), model_flops_per_token(shape) * b * m * seq_len
                         / (tp * pp * cp * peak * best_mfu), 0.0)
    # A smooth maximum (p-norm, p = ENVELOPE_SHARPNESS) rather than max(): faster layouts stay faster
    # (no plateau of exact ties for the solver), the MFU never passes the envelope, and a step well
    # above the floor is unchanged (+0.6 % at 1.15 × the floor).
    k = cal.ENVELOPE_SHARPNESS
    with np.errstate(over="ignore", invalid="ignore"):
        ratio = np.where(total > 0, floor / total, 0.0)
        envelope = np.where(ratio > 0, total * ((1.0 + ratio**k) ** (1.0 / k) - 1.0), 0.0)
    total = total + envelope
    extra = {"expert_parallel": m * ep_comm} if sparse else {}
    return {**extra,
        "compute": m * math,
        "memory_bound": m * memory,
        "tensor_parallel": m * tp_comm,
        "pipeline_p2p": m * pp_comm,
        "context_parallel": m * cp_comm,
        "pipeline_bubble": bubble,
        "data_parallel_exposed": dp_exposed,
        "optimizer": optimizer,
        "mfu_envelope": envelope,
        "total": total,
    }
