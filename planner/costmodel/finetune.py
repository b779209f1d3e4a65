"""Memory and FLOPs of fine-tuning methods: full, LoRA and QLoRA (vectorised over strategies).

Full fine-tuning is pre-training on fewer tokens: ``planner.costmodel.memory`` and ``planner.costmodel.flops`` as is.
LoRA (Hu et al. 2021) freezes the base and trains rank-r adapters ``W + B·A`` on chosen
projections: a d×k projection gains r·(d + k) parameters. Only adapters carry gradients and
optimizer states; the frozen base needs no weight-gradient GEMMs, so a token costs
2N (forward) + 2N (activation gradients) = 4N instead of 6N, plus 6 FLOPs per adapter parameter
(forward, input and weight gradients) and the attention core unchanged (12·L·h·s).
QLoRA (Dettmers et al. 2023) stores the frozen base in 4-bit NF4 with double quantisation,
computes in 16-bit (each weight is dequantised on the fly) and pages the optimizer to CPU on spikes.
Activations follow the same Korthikanti et al. 2022 model as pre-training. The adapters' own
intermediates x·A (r values per token per adapter) are neglected: 6·r per layer-token with every
projection adapted is < 1 % of Korthikanti's 34·h for r <= h/16; the inputs x are already counted.
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from planner.types.errors import InputError
from planner.costmodel.flops import hardware_flops_per_token, model_flops_per_token
from planner.costmodel.memory import MemoryConfig, memory_breakdown
from planner.costmodel.shape import ModelShape
from planner.costmodel.strategy import Strategies
from planner.costmodel import calibration as cal
from planner.costmodel.calibration import FINETUNE_STACK_EFFICIENCY
from planner.costmodel.evaluate import Evaluation
from planner.costmodel.precision import PRECISION_ORDER
from planner.costmodel.throughput import data_parallel_ring, step_time_breakdown
from catalogs.schema import GPUSpec

METHODS: tuple[str, ...] = ("full", "lora", "qlora")

# Bytes per frozen base parameter (quantisation constants included).
#   nf4: 4 bits + 0.127 bits of double-quantised block constants (Dettmers et al. 2023 §3:
#        blocksize 64 with 8-bit constants, 256 second-level fp32 constants: 8/64 + 32/(64·256)).
#   int8: 1 byte + one fp32 absmax scale per row of ``hidden`` inputs (Dettmers et al. 2022,
#        LLM.int8() vector-wise quantisation) -- added in ``base_bytes_per_param``.
#   fp8: 1 byte with per-tensor scaling (Micikevicius et al. 2022, "FP8 formats for deep learning").
NF4_DOUBLE_QUANT_BITS_PER_PARAM = 4.127
_BASE_BYTES = {"bf16": 2.0, "int8": 1.0, "fp8": 1.0, "nf4": NF4_DOUBLE_QUANT_BITS_PER_PARAM / 8.0}
# Bytes a dequantised weight is written in (16-bit compute, QLoRA §3 "BFloat16 computation").
COMPUTE_WEIGHT_BYTES = 2.0

# Adapter training state, bytes per trainable parameter:
#   lora: 16 = 16-bit weight + 16-bit gradient + fp32 master, Adam m and v (mixed precision,
#         Rajbhandari et al. 2020 §3.1); PEFT under AMP keeps fp32 adapters with fp32 grads, also 16.
#   qlora: 12 = bf16 adapters (the reference qlora.py casts every LoraLayer to bfloat16), bf16
#         gradients, and paged 32-bit AdamW m and v (``--optim paged_adamw_32bit``).
ADAPTER_STATE_BYTES = {"lora": 16.0, "qlora": 12.0}
ADAPTER_WEIGHT_BYTES = 2.0

# Projections adapted, as multiples of (d + k) in units of h for the shape model's 4h MLP:
#   qv: W_q, W_v (Hu et al. 2021 §7.1, the LoRA default)  -> 2 · (h + h)           = 4h
#   attention: W_q, W_k, W_v, W_o                         -> 4 · (h + h)           = 8h
#   all: attention + both MLP matrices (QLoRA §4: adapters on every linear layer are needed to
#        match full fine-tuning)                          -> 8h + 2 · (h + 4h)     = 18h
# A SwiGLU MLP of width 8h/3 gives 3 · (h + 8h/3) = 11h instead of 10h: within 6 % in total.
_TARGET_WIDTHS = {"qv": 4.0, "attention": 8.0, "all": 18.0}
DEFAULT_TARGETS = {"lora": "qv", "qlora": "all"}
# Ranks: Hu et al. 2021 §7.2 find r = 4-8 enough on W_q, W_v for GPT-3; 16 is the common PEFT
# default with headroom. QLoRA trains every Guanaco model with r = 64 (Dettmers et al. 2023, App. B.2).
DEFAULT_RANK = {"lora": 16, "qlora": 64}
DEFAULT_BASE_QUANT = {"full": "bf16", "lora": "bf16", "qlora": "nf4"}


@dataclass(frozen=True)
class MethodSpec:
    """A fine-tuning method with its adapter rank, target projections and base-weight format."""

    method: str
    rank: int = 0
    targets: str = "all"
    base_quant: str = "bf16"

    @property
    def adapted(self) -> bool:
        return self.method != "full"

    @property
    def quantized(self) -> bool:
        return self.base_quant != "bf16"


def method_spec(method: str, rank: int | None = None, targets: str | None = None,
                base_quant: str | None = None) -> MethodSpec:
    """Fill the method's defaults and reject combinations that make no sense (naming the field)."""
    if method not in METHODS:
        raise InputError(f"method: must be one of {', '.join(METHODS)}, got {method!r}", "method")
    if method == "full":
        if base_quant not in (None, "bf16"):
            raise InputError("base_quant: full fine-tuning updates every weight, so the base cannot be "
                             f"quantised ({base_quant}); use --method lora or qlora", "base_quant")
        return MethodSpec("full", 0, "all", "bf16")
    rank = DEFAULT_RANK[method] if rank is None else int(rank)
    if rank < 1:
        raise InputError(f"rank: must be >= 1, got {rank}", "rank")
    targets = targets or DEFAULT_TARGETS[method]
    if targets not in _TARGET_WIDTHS:
        raise InputError(f"targets: must be one of {', '.join(_TARGET_WIDTHS)}, got {targets!r}", "targets")
    base_quant = base_quant or DEFAULT_BASE_QUANT[method]
    if base_quant not in _BASE_BYTES:
        raise InputError(f"base_quant: must be one of {', '.join(_BASE_BYTES)}, got {base_quant!r}", "base_quant")
    if method == "qlora" and base_quant == "bf16":
        raise InputError("base_quant: QLoRA means a quantised base; use --method lora for a 16-bit base",
                         "base_quant")
    return MethodSpec(method, rank, targets, base_quant)


def base_bytes_per_param(base_quant: str, hidden: int) -> float:
    """Stored bytes per frozen parameter, quantisation constants included."""
    extra = 4.0 / hidden if base_quant == "int8" else 0.0
    return _BASE_BYTES[base_quant] + extra


def adapter_params(shape: ModelShape, spec: MethodSpec) -> float:
    """Trainable LoRA parameters: r·(d + k) per adapted d×k projection, every layer."""
    if not spec.adapted:
        return 0.0
    return spec.rank * _TARGET_WIDTHS[spec.targets] * shape.hidden * shape.layers


def trainable_params(shape: ModelShape, spec: MethodSpec) -> float:
    return shape.params if not spec.adapted else adapter_params(shape, spec)


def model_flops_per_token_ft(shape: ModelShape, spec: MethodSpec) -> float:
    """Full: 6N + 12·L·h·s. Adapters: 4N + 12·L·h·s + 6·(adapter params)."""
    if not spec.adapted:
        return model_flops_per_token(shape)
    attention = 12.0 * shape.layers * shape.hidden * shape.seq_len
    return 4.0 * shape.params + attention + 6.0 * adapter_params(shape, spec)


def hardware_flops_per_token_ft(shape: ModelShape, spec: MethodSpec, recompute_idx) -> np.ndarray:
    """Model FLOPs plus recomputation: full recompute re-runs the forward (2N + 4·L·h·s + 2·adapters),
    selective only the attention core's forward (4·L·h·s)."""
    if not spec.adapted:
        return hardware_flops_per_token(shape, recompute_idx)
    attention_fwd = 4.0 * shape.layers * shape.hidden * shape.seq_len
    forward = 2.0 * shape.params + attention_fwd + 2.0 * adapter_params(shape, spec)
    extra = np.choose(np.asarray(recompute_idx), [0.0, attention_fwd, forward])
    return model_flops_per_token_ft(shape, spec) + extra


def quantized_params_per_gpu(shape: ModelShape, s: Strategies):
    """Transformer-body parameters on the heaviest stage (the V·h embedding stays 16-bit:
    bitsandbytes quantises only nn.Linear layers and skips the output head)."""
    embedding = float(shape.vocab) * shape.hidden
    return max(shape.params - embedding, 0.0) / np.asarray(s.model_parallel, float)


def finetune_memory_breakdown(shape: ModelShape, spec: MethodSpec, s: Strategies,
                              config: MemoryConfig = MemoryConfig()) -> dict[str, np.ndarray]:
    """Bytes per GPU by component; arrays broadcast. Full fine-tuning = ``memory_breakdown``."""
    base = memory_breakdown(shape, s, config)
    zeros = np.zeros_like(base["total"])
    if not spec.adapted:
        out = {"base_weights": base["weights"], "adapter_weights": zeros, "gradients": base["gradients"],
               "optimizer": base["optimizer"], "zero3_gather_buffer": base["zero3_gather_buffer"],
               "dequant_buffer": zeros, "activations": base["activations"],
               "framework_overhead": base["framework_overhead"]}
        out["total"] = sum(out.values())
        return out
    tp, dp, zero = (np.asarray(x, dtype=float) for x in (s.tp, s.dp, s.zero))
    qbytes = base_bytes_per_param(spec.base_quant, shape.hidden)
    shard3 = np.where(zero >= 3, dp, 1.0)
    body = quantized_params_per_gpu(shape, s)
    embedding = float(shape.vocab) * shape.hidden / tp
    base_weights = (qbytes * body + COMPUTE_WEIGHT_BYTES * embedding) / shard3
    adapters = adapter_params(shape, spec) / np.asarray(s.model_parallel, float)
    state = ADAPTER_STATE_BYTES[spec.method]
    adapter_weights = ADAPTER_WEIGHT_BYTES * adapters / shard3
    gradients = ADAPTER_WEIGHT_BYTES * adapters / np.where(zero >= 2, dp, 1.0)
    optimizer = (state - 2.0 * ADAPTER_WEIGHT_BYTES) * adapters / np.where(zero >= 1, dp, 1.0)
    layer_params = 12.0 * shape.hidden**2 / tp
    gather = np.where(zero >= 3, 2.0 * layer_params * qbytes, 0.0)
    # A quantised base is dequantised one projection at a time: one 16-bit copy of the largest (h × 4h).
    dequant = (COMPUTE_WEIGHT_BYTES * 4.0 * shape.hidden**2 / tp if spec.quantized else 0.0) + zeros
    out = {"base_weights": base_weights + zeros, "adapter_weights": adapter_weights + zeros,
           "gradients": gradients + zeros, "optimizer": optimizer + zeros, "zero3_gather_buffer": gather + zeros,
           "dequant_buffer": dequant, "activations": base["activations"],
           "framework_overhead": base["framework_overhead"]}
    out["total"] = sum(out.values())
    return out


# Host link the paged optimizer (QLoRA) moves states over: PCIe 4.0 x16 is 32 GB/s per direction
# (PCI-SIG spec); pinned cudaMemcpy reaches ~25 GB/s on A100 hosts (NVIDIA bandwidthTest). Assumption.
HOST_LINK_BYTES_PER_S = 25e9


def _paged_bytes(spec: MethodSpec, memory: dict[str, np.ndarray], usable: float) -> np.ndarray:
    """QLoRA's paged optimizer moves states to CPU memory when the GPU is full (Dettmers et al. 2023 §3)."""
    if spec.method != "qlora":
        return np.zeros_like(memory["total"])
    return np.clip(memory["total"] - usable, 0.0, memory["optimizer"])


def finetune_step_time(shape: ModelShape, spec: MethodSpec, gpu: GPUSpec, s: Strategies,
                       memory: dict[str, np.ndarray], paged: np.ndarray,
                       stack_efficiency: float = FINETUNE_STACK_EFFICIENCY) -> dict[str, np.ndarray]:
    """Seconds per step. Full = pre-training's ``step_time_breakdown``. Adapters change: compute by
    the FLOP ratio (no weight-gradient GEMMs), dequantisation traffic (read the quantised weight,
    write it in 16-bit, every forward, backward and recomputed forward), gradient sync of adapters
    only, ZeRO-3 gathers of the stored (quantised) base, and the optimizer over adapters."""
    t = step_time_breakdown(shape, gpu, s)
    pp, dp, zero = (np.asarray(x, dtype=float) for x in (s.pp, s.dp, s.zero))
    m = np.asarray(s.grad_accum, dtype=float)
    zeros = np.zeros_like(t["total"])
    out = {k: t[k] for k in ("compute", "memory_bound", "tensor_parallel", "pipeline_p2p", "pipeline_bubble",
                             "data_parallel_exposed", "optimizer")}
    out["dequantize"] = zeros
    if spec.adapted:
        ratio = hardware_flops_per_token_ft(shape, spec, s.recompute_idx) / hardware_flops_per_token(shape, s.recompute_idx)
        compute = t["compute"] * ratio
        passes = 2.0 + (np.asarray(s.recompute_idx) == 2)
        qbytes = base_bytes_per_param(spec.base_quant, shape.hidden)
        dequant = (m * passes * quantized_params_per_gpu(shape, s) * (qbytes + COMPUTE_WEIGHT_BYTES)
                   / gpu.memory_bandwidth_bytes_per_s) if spec.quantized else zeros
        slot = (compute + t["memory_bound"] + dequant + t["tensor_parallel"] + t["pipeline_p2p"]) / m
        dp_bw, ring = data_parallel_ring(gpu, s)
        adapters_local = memory["adapter_weights"] * np.where(zero >= 3, dp, 1.0) / COMPUTE_WEIGHT_BYTES
        grad_sync = 2.0 * ring * COMPUTE_WEIGHT_BYTES * adapters_local / dp_bw / np.where(zero >= 3, 2.0, 1.0)
        window = cal.DP_OVERLAP * (2.0 / 3.0) * (compute + t["memory_bound"]) / m
        stored_base = memory["base_weights"] * np.where(zero >= 3, dp, 1.0)
        gather = np.where(zero >= 3, 2.0 * m * ring * stored_base / dp_bw, 0.0)
        out.update(compute=compute, dequantize=dequant, pipeline_bubble=(pp - 1.0) * slot,
                   data_parallel_exposed=np.maximum(0.0, grad_sync - window)
                   + np.maximum(0.0, gather - cal.DP_OVERLAP * m * slot),
                   optimizer=2.0 * (memory["adapter_weights"] + memory["gradients"] + memory["optimizer"])
                   / gpu.memory_bandwidth_bytes_per_s)
    # paged states cross the host link twice per step (page in for the update, page out)
    out["optimizer_paging"] = 2.0 * paged / HOST_LINK_BYTES_PER_S
    raw = sum(out.values())
    out["stack_overhead"] = raw * (1.0 / stack_efficiency - 1.0)
    out["total"] = raw + out["stack_overhead"]
    return out


def evaluate_finetune(shape: ModelShape, spec: MethodSpec, gpu: GPUSpec, arrays: Strategies,
                      memory_config: MemoryConfig = MemoryConfig(),
                      stack_efficiency: float = FINETUNE_STACK_EFFICIENCY) -> Evaluation:
    s = arrays
    memory = finetune_memory_breakdown(shape, spec, s, memory_config)
    usable = memory_config.usable_bytes(gpu.memory_bytes)
    paged = _paged_bytes(spec, memory, usable)
    memory["optimizer_paged_to_cpu"] = paged
    memory["total"] = memory["total"] - paged
    time = finetune_step_time(shape, spec, gpu, s, memory, paged, stack_efficiency)
    fits = memory["total"] <= usable
    tokens_per_second = s.global_batch_seqs * shape.seq_len / time["total"]
    peaks = np.array([gpu.peak_flops.get(p, np.nan) for p in PRECISION_ORDER])[s.precision_idx]
    mfu = model_flops_per_token_ft(shape, spec) * tokens_per_second / (s.gpus * peaks)
    return Evaluation(s, memory, time, usable, fits, tokens_per_second, mfu, memory_config)
