"""The parallel layout of a run as one object, and the enumeration of the layouts worth trying.

``Strategies`` is a struct of numpy arrays (or scalars: the same class is the scalar form) with one
named field per choice: GPU count, tensor parallel t, pipeline parallel p, ZeRO stage, precision,
recompute, micro-batch b, gradient accumulation m, context parallel c and virtual pipeline stages
v. What follows from the choices is derived here and only here: the weights' split t·p, the GPUs
of one replica t·p·c, data parallel d = GPUs/(t·p·c), the ZeRO / gradient-reduction group d·c
(context-parallel ranks hold the same weights), the heaviest stage's layers ⌈L/p⌉ and the global
batch m·d·b. Memory and throughput take a ``Strategies``; adding a parallel dimension means one
field, its enumeration below, its terms in memory/throughput, and its export keys.

Valid layouts (``layout_mask``, used by the solver's grid and by single-run checks alike): t a power
of two within a node dividing the heads and the key/value heads; p dividing the layers (or, when the
user fixes p, any p up to the layers: uneven stages, as Megatron's first/last-stage layer counts
allow; the heaviest stage has ⌈L/p⌉ layers); with v > 1, p·v dividing the layers unless fixed; c
with the sequence divisible by 2·c (Megatron-Core's load-balanced causal split); t·p·c dividing the
GPU count. Gradient
accumulation makes the global batch the smallest multiple of d·b sequences at or above the target;
a layout whose smallest possible global batch (d·b sequences) exceeds the batch limit is dropped
(past the critical batch size more data parallelism stops helping: McCandlish et al. 2018; Kaplan
et al. 2020 §5.1).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import lru_cache
from itertools import product

import numpy as np

from catalogs.schema import GPUSpec
from planner.costmodel.precision import PRECISION_ORDER, RECOMPUTE_ORDER
from planner.costmodel.shape import ModelShape
from planner.types.estimates import Strategy
from planner.types.layout import data_parallel_size, model_parallel_size, replica_size

# Llama 2 trained with a 4M-token global batch (Touvron et al. 2023 §2.2).
DEFAULT_GLOBAL_BATCH_TOKENS = 4 * 2**20
# The batch limit: Kaplan et al. 2020 eq. 5.3 puts the critical batch near 2e8 / L^(1/0.21) tokens,
# ~8M tokens at the losses of today's large runs; DeepSeek-67B and Megatron-1T used 6-9M.
DEFAULT_MAX_GLOBAL_BATCH_TOKENS = 16 * 2**20


@dataclass(frozen=True)
class SearchSpace:
    """Which strategy values to try; a fixed user choice is a one-element tuple."""

    tp: tuple[int, ...] | None = None           # None: all powers of two within a node
    pp: tuple[int, ...] | None = None           # None: powers of two up to max_pp dividing the layers
    zero: tuple[int, ...] = (0, 1, 2, 3)
    precisions: tuple[str, ...] = ("bf16", "fp8", "fp16", "tf32", "fp32")
    recompute: tuple[str, ...] = RECOMPUTE_ORDER
    micro_batches: tuple[int, ...] = (1, 2, 4, 8, 16)
    global_batch_tokens: float = DEFAULT_GLOBAL_BATCH_TOKENS
    max_global_batch_tokens: float = DEFAULT_MAX_GLOBAL_BATCH_TOKENS
    max_pp: int = 64
    cp: tuple[int, ...] = (1,)                  # context parallel; the solver adds more for long sequences
    vpp: tuple[int, ...] = (1,)                 # virtual pipeline stages (interleaved 1F1B)
    uneven_pp: bool = False                     # allow p not dividing the layers (user-fixed p)
    ep: tuple[int, ...] = (1,)                  # expert parallel (MoE; planner.costmodel.moe.expert_parallel_choices)


@dataclass(frozen=True)
class Strategies:
    """Struct of arrays, one entry per strategy (fields broadcast against each other)."""

    gpus: np.ndarray
    tp: np.ndarray
    pp: np.ndarray
    zero: np.ndarray
    precision_idx: np.ndarray
    recompute_idx: np.ndarray
    micro_batch: np.ndarray
    grad_accum: np.ndarray
    cp: np.ndarray = 1
    vpp: np.ndarray = 1
    ep: np.ndarray = 1          # expert parallel: carved out of the d·c ranks (Megatron-Core MoE "folding")

    @classmethod
    def from_degrees(cls, *, tp=1, pp=1, dp=1, zero=0, precision_idx=3, recompute_idx=0, micro_batch=1,
                     grad_accum=1, cp=1, vpp=1, ep=1) -> "Strategies":
        """Strategies given by their parallel degrees (the GPU count follows)."""
        return cls(gpus=np.asarray(dp) * replica_size(tp, pp, cp), tp=tp, pp=pp, zero=zero,
                   precision_idx=precision_idx, recompute_idx=recompute_idx, micro_batch=micro_batch,
                   grad_accum=grad_accum, cp=cp, vpp=vpp, ep=ep)

    @property
    def model_parallel(self):
        """GPUs the weights of one replica are split over: t·p."""
        return model_parallel_size(self.tp, self.pp)

    @property
    def replica(self):
        """GPUs of one data-parallel replica: t·p·c."""
        return replica_size(self.tp, self.pp, self.cp)

    @property
    def dp(self):
        """Data-parallel replicas: GPUs / (t·p·c), the one place this is derived."""
        return np.maximum(data_parallel_size(np.asarray(self.gpus), self.tp, self.pp, self.cp), 1)

    @property
    def shard_group(self):
        """Ranks holding the same weights, over which ZeRO shards and gradients are reduced: d·c."""
        return self.dp * np.asarray(self.cp)

    def stage_layers(self, layers):
        """Layers on the heaviest pipeline stage: ⌈L/p⌉ (L/p when p divides L)."""
        return np.ceil(np.asarray(layers) / np.asarray(self.pp))

    @property
    def expert_shard_group(self):
        """Ranks holding the same routed experts, over which their ZeRO shards and gradients are
        reduced: d·c/ep (Megatron-Core's expert-data-parallel group, world / (etp·ep·pp) with etp = t)."""
        return self.shard_group / np.asarray(self.ep)

    @property
    def global_batch_seqs(self):
        return self.grad_accum * self.dp * self.micro_batch

    def __len__(self) -> int:
        return int(np.broadcast(*(getattr(self, f.name) for f in fields(self))).size)

    def map(self, how) -> "Strategies":
        """A new struct with ``how`` applied to every field (e.g. indexing)."""
        return Strategies(**{f.name: how(getattr(self, f.name)) for f in fields(self)})

    def take(self, index) -> "Strategies":
        size = len(self)
        return self.map(lambda a: np.broadcast_to(np.asarray(a), (size,))[index])

    def at(self, i: int) -> Strategy:
        """The scalar form of entry ``i`` as the wire type."""
        one = self.take([i])
        tp = int(one.tp[0])
        return Strategy(tp=tp, pp=int(one.pp[0]), dp=int(one.dp[0]), zero=int(one.zero[0]),
                        precision=PRECISION_ORDER[int(one.precision_idx[0])],
                        recompute=RECOMPUTE_ORDER[int(one.recompute_idx[0])],
                        micro_batch=int(one.micro_batch[0]), grad_accum=int(one.grad_accum[0]),
                        global_batch_sequences=int(one.global_batch_seqs[0]), sequence_parallel=tp > 1,
                        cp=int(one.cp[0]), vpp=int(one.vpp[0]), ep=int(one.ep[0]))


def powers_of_two_upto(n: int) -> list[int]:
    out, x = [], 1
    while x <= n:
        out.append(x)
        x *= 2
    return out


CHOICE_FIELDS = ("tp", "pp", "zero", "precision_idx", "recompute_idx", "micro_batch", "cp", "vpp", "ep")


def candidate_choices(gpu: GPUSpec, space: SearchSpace, precisions) -> dict[str, np.ndarray]:
    """Every (t, p, zero, precision, recompute, b, c, v, ep) combination of ``space``, as arrays by field
    (read-only: memoised, the solver asks for the same space once per grid)."""
    return dict(_candidate_choices(int(gpu.gpus_per_node), space, tuple(precisions)))


@lru_cache(maxsize=256)
def _candidate_choices(gpus_per_node: int, space: SearchSpace, precisions: tuple[str, ...]):
    tps = space.tp or tuple(powers_of_two_upto(gpus_per_node))
    pps = space.pp or tuple(powers_of_two_upto(space.max_pp))
    precision_idx = [PRECISION_ORDER.index(p) for p in precisions]
    recompute_idx = [RECOMPUTE_ORDER.index(r) for r in space.recompute]
    combos = list(product(tps, pps, space.zero, precision_idx, recompute_idx, space.micro_batches, space.cp,
                          space.vpp, space.ep))
    table = np.array(combos, dtype=np.int64).reshape(-1, len(CHOICE_FIELDS)).T.copy()
    table.flags.writeable = False
    return tuple(zip(CHOICE_FIELDS, table))


def layout_mask(s: Strategies, *, shape: ModelShape, gpus_per_node: int, zero_fixed: bool,
                uneven_pp: bool = False):
    """Layouts that exist (see the module docstring); at d·c = 1 ZeRO shards nothing, so stages 1-3 would
    only repeat stage 0 (unless the user fixed the stage)."""
    group = s.replica
    chunks = np.asarray(s.pp) * np.asarray(s.vpp)
    stages_ok = (shape.layers % chunks == 0) | (uneven_pp & (chunks <= shape.layers))
    cp_ok = (s.cp == 1) | (shape.seq_len % (2 * np.asarray(s.cp)) == 0)
    ok = ((s.gpus % group == 0) & (s.tp <= gpus_per_node) & (shape.heads % s.tp == 0)
          & (shape.kv_heads % s.tp == 0) & stages_ok & cp_ok & ((s.vpp == 1) | (s.pp > 1)))
    ep = np.asarray(s.ep)
    if np.any(ep != 1):     # MoE: experts divisible by ep, ep dividing the d·c ranks (planner.costmodel.moe)
        ok = ok & ((ep == 1) | ((np.asarray(shape.experts) % ep == 0) & (np.asarray(shape.experts) > 0)
                                & (np.round(s.shard_group).astype(np.int64) % ep == 0)))
    return ok & ((s.zero == 0) | (s.shard_group > 1) | zero_fixed)


def with_batch(s: Strategies, seq_len: int, space: SearchSpace):
    """(strategies with gradient accumulation set, within-batch-limit mask) for the space's batch target."""
    target_seqs = max(1.0, space.global_batch_tokens / seq_len)
    grad_accum = np.maximum(1, np.ceil(target_seqs / (s.dp * s.micro_batch))).astype(np.int64)
    s = replace(s, grad_accum=grad_accum)
    return s, s.global_batch_seqs * seq_len <= max(space.max_global_batch_tokens, seq_len)


def enumerate_strategies(shape: ModelShape, gpu: GPUSpec, gpus: int, space: SearchSpace) -> Strategies:
    """Every strategy of ``space`` that is structurally valid for ``gpus`` GPUs (memory not checked)."""
    precisions = [p for p in space.precisions if p in gpu.peak_flops]
    choices = candidate_choices(gpu, space, precisions)
    count = len(choices["tp"])
    s = Strategies(gpus=np.full(count, gpus, dtype=np.int64), grad_accum=np.ones(count, dtype=np.int64), **choices)
    s, within_limit = with_batch(s, shape.seq_len, space)
    keep = within_limit & layout_mask(s, shape=shape, gpus_per_node=gpu.gpus_per_node,
                                      zero_fixed=len(space.zero) == 1, uneven_pp=space.uneven_pp)
    return s.take(keep)


# Below this many tokens per GPU a sequence is not worth splitting; Megatron-Core and torchtitan
# document context parallelism for 16k-1M token sequences (torchtitan's CP benchmarks: 32k-262k).
MIN_TOKENS_PER_CP_RANK = 4096
MAX_CP = 32


def context_parallel_choices(seq_len: int) -> tuple[int, ...]:
    """Context-parallel sizes worth trying: 1, and for long sequences powers of two that keep at
    least MIN_TOKENS_PER_CP_RANK tokens per GPU (and divide the sequence into 2·c chunks)."""
    return tuple(c for c in powers_of_two_upto(MAX_CP)
                 if c == 1 or (seq_len // c >= MIN_TOKENS_PER_CP_RANK and seq_len % (2 * c) == 0 and seq_len > 8192))


def effective_precisions(gpu: GPUSpec, allowed) -> tuple[str, ...]:
    """The allowed precisions worth searching on ``gpu``.

    In this cost model bf16 and fp16 cost the same (bf16 wins ties: no loss scaling), and both
    dominate tf32/fp32 (higher peak, half the activation memory, same model-state bytes), so the
    search keeps the best 16-bit format, plus fp8 if allowed and supported, and falls back to
    tf32/fp32 only on GPUs without 16-bit tensor cores among the allowed formats.
    """
    have = [p for p in PRECISION_ORDER if p in allowed and p in gpu.peak_flops]
    sixteen = next((p for p in ("bf16", "fp16") if p in have), None)
    chosen = [sixteen] if sixteen else [p for p in ("tf32", "fp32") if p in have][:1]
    if "fp8" in have:
        chosen.append("fp8")
    return tuple(chosen)
