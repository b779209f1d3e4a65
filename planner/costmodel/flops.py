"""Floating-point operations of a training step.

Model FLOPs per token follow Narayanan et al. 2021 (eq. 3, "Efficient Large-Scale Language Model
Training on GPU Clusters Using Megatron-LM"): a step of B sequences of length s costs
``72·B·s·L·h²·(1 + s/(6h) + V/(12hL))`` = per token ``72·L·h² + 12·L·h·s + 6·V·h``, i.e. ``6·N``
for the weights plus ``12·L·h·s`` for the attention scores (QKᵀ and AV, forward + backward).
The weight term is 6 × the parameters a token multiplies (N, less an untied input embedding,
which is a lookup): with an architecture's exact N this is its matrices exactly (Q, K, V, O with
GQA, gate/up/down, logits), and for a bare size it is 6·N. The attention term follows the shape.
For a mixture of experts N is the active count (``ModelShape.active_params``: the top-k routed
experts, shared experts and the router), as for the architecture's exact count (issue #16).

Hardware FLOPs add recomputation (MFU never counts them): full recompute re-runs the forward pass
(4 passes instead of 3: ×4/3 of the weight and attention FLOPs); selective recompute (Korthikanti
et al. 2022 §4) re-runs only the attention core QKᵀ/softmax/AV (its forward is 4·L·h·s per token).
"""

from __future__ import annotations

import numpy as np

from planner.costmodel.shape import ModelShape


def weight_flops_per_token(shape: ModelShape):
    """6 × the weights a token multiplies: every parameter but an untied input embedding (a table
    lookup, no matmul); the output head's V·h logits are in (= 6·N for tied embeddings)."""
    lookup_only = np.where(shape.tied_embeddings, 0.0, shape.vocab * shape.hidden * 1.0)
    # mixture of experts: only the experts a token is routed to (+ router, shared experts) multiply it
    params = shape.active_params if np.any(np.asarray(shape.experts) > 0) else shape.params
    # a size too small for its vocabulary (a fallback shape) is charged at least half its count
    return 6.0 * (params - np.minimum(lookup_only, 0.5 * params))


def model_flops_per_token(shape: ModelShape):
    """Weights + attention core: 6·N + 12·L·h·s for the classic GPT (Narayanan et al. 2021, eq. 3)."""
    return weight_flops_per_token(shape) + attention_flops_per_token(shape)


def attention_flops_per_token(shape: ModelShape):
    """Forward + backward FLOPs of the attention core per token: 12·L·s·(heads·head_dim) (QKᵀ and AV,
    2 FLOPs per multiply-add, ×3 for forward and backward). Every query head does its own products,
    so grouped-query attention does not reduce it. The full s×s score matrix is counted although a
    causal mask zeroes half of it: the convention of PaLM (Chowdhery et al. 2022, App. B) and
    Narayanan et al. (2021, eq. 3) under which published MFU figures are stated."""
    return 12.0 * shape.layers * shape.attention_width * shape.seq_len


def recompute_flops_per_token(shape: ModelShape, recompute_idx: np.ndarray) -> np.ndarray:
    """Extra FLOPs per token spent re-running forward work (0 none, attention core selective, forward full)."""
    full = model_flops_per_token(shape) / 3.0          # one more forward pass = 1/3 of fwd+bwd
    selective = attention_flops_per_token(shape) / 3.0  # forward of the attention core only
    return np.choose(np.asarray(recompute_idx), [0.0, selective, full])


def hardware_flops_per_token(shape: ModelShape, recompute_idx: np.ndarray) -> np.ndarray:
    return model_flops_per_token(shape) + recompute_flops_per_token(shape, recompute_idx)


def training_flops(params: float, tokens: float) -> float:
    """The C = 6·N·D approximation used by the scaling laws (Kaplan et al. 2020 §2.1)."""
    return 6.0 * params * tokens
