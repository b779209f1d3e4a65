"""Transformer architecture: exact parameter counts and model FLOPs per token.

Why: ``12·L·h² + V·h`` (Kaplan et al. 2020 §2.1) is exact only for the classic GPT block (4h MLP,
multi-head attention, tied embeddings). Modern models change every term: grouped-query attention
shrinks K/V, gated MLPs have three matrices, vocabularies reach 256k untied rows, and MoE models
hold many more parameters than a token uses. Memory needs the total count, compute the active one.

Parameters (``parameter_count``) are counted matrix by matrix as the Hugging Face checkpoints
store them. Megatron-LM (``megatron/training/theoretical_memory_usage.py``,
``compute_weight_and_optimizer_memory``: GQA ratio, gated-MLP 3/2, 2 norms per layer, final
norm, untied embedding) and llm-analysis (``analysis.py``, ``get_num_params_per_layer_attn``:
``2h² + 2h·h·G/H``; ``get_num_params_embedding``) count the same way but assume
``head_dim = h/H`` and drop biases, QK-norms, routers and MLA; here every term is kept:

* attention: Q ``h·H·d``, K and V ``h·G·d`` each (G = kv_heads, GQA), O ``H·d·h``; ``d`` is
  ``head_dim``, which need not be ``h/H`` (Gemma 2). Multi-head latent attention (DeepSeek-V2/V3,
  DeepSeek-V3 report §2.1.1): ``h·r_q + r_q·H·(d_nope+d_rope)`` for queries (with a norm of
  width ``r_q``), ``h·(r_kv+d_rope) + r_kv·H·(d_nope+d_v)`` for keys/values (norm of width
  ``r_kv``), ``H·d_v·h`` out.
* MLP: ``3·h·f`` gated (SwiGLU/GeGLU: gate, up, down; Shazeer 2020), ``2·h·f`` plain.
* MoE layer: every routed and shared expert's MLP plus the router ``h·E`` (+ ``E`` routing biases
  for DeepSeek-V3); ``first_dense_layers`` use the dense ``ffn_hidden`` MLP.
* norms: RMSNorm one vector, LayerNorm two, ``norms_per_layer`` per block plus a final norm.
* embeddings: ``V·h`` input, ``V·h`` again when the output head is untied, ``s_max·h`` learned
  positions (GPT-3).
* multi-token prediction (DeepSeek-V3 §2.2): one extra block, a ``2h·h`` projection and three
  norms per module; embedding and head are shared. Excluded unless ``include_mtp=True``,
  matching the 671B the paper states.

Active parameters (``active_parameter_count``) are those a token touches: everything except
the routed experts it is not sent to. Publishers differ on the input embedding (a table lookup,
no arithmetic): Mistral, Qwen and Ai2 include it, DeepSeek's README_WEIGHTS.md excludes it.

Model FLOPs per token (``model_flops_per_token``), the numerator of MFU, count matrix
multiplications only: ``2`` FLOPs per multiply-add, ``×3`` for the forward, activation-gradient
and weight-gradient passes (Narayanan et al. 2021 App. "Floating-point operations"):

* weights: ``6 ×`` the weight matrices a token multiplies (attention and MLP projections of the
  active experts, the router, and the output head ``V·h`` for the logits). The input embedding
  lookup, norms, biases, softmax and activations are not matmuls and are left out (<0.1 %).
* attention core: ``QKᵀ`` costs ``2·H·d_qk`` and ``AV`` ``2·H·d_v`` FLOPs per key a query
  attends to, forward; GQA shares K/V but every query head still does its own products, so the
  cost follows query heads × head width, not kv_heads.

Causal convention. PaLM (Chowdhery et al. 2022, App. B) counts ``6N + 12·L·H·Q·T`` per token and
Narayanan et al. 2021 (eq. 3) ``72·B·s·L·h²·(1 + s/6h + V/12hL)`` per batch: both charge the full
``s × s`` score matrix although a causal mask zeroes half of it. Megatron-LM's current
``num_floating_point_operations`` (megatron/training/training.py, 2025) halves that term
("Only half of the attention matrix is non-zero and needs to be multiplied with V"). The default
here is ``causal=False``, the PaLM / Narayanan count, because published MFU figures (PaLM 46.2 %,
the Megatron-LM papers, and this planner's ``planner/flops.py``) use it; with ``causal=True`` a
query attends to ``(s+1)/2`` keys on average, the work a causal FlashAttention kernel performs.
Sliding-window layers attend to at most ``window`` keys in both conventions.

Every function is pure; integer counts are exact Python ints.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, fields

import numpy as np

from catalogs.schema import ModelPreset

CLASSIC_VOCAB = 32_000       # Llama / Llama 2 tokenizer (Touvron et al. 2023); planner.shape.DEFAULT_VOCAB
CLASSIC_FFN_MULTIPLIER = 4   # d_ff = 4·d_model (Vaswani et al. 2017 §3.3; GPT-3, Brown et al. 2020 §2.1)
CLASSIC_MAX_SEQ_LEN = 4096   # Llama 2 context (planner.shape.DEFAULT_SEQ_LEN); sizes learned positions only
FLOPS_PER_MAC = 2            # one multiply-add = 2 floating-point operations
TRAINING_PASSES = 3          # forward + backward activation-gradient + backward weight-gradient
GATED_MLPS = ("swiglu", "geglu")


@dataclass(frozen=True)
class Architecture:
    """A decoder-only transformer. The defaults are the classic GPT block (Radford et al. 2019):
    4h plain-GELU MLP, multi-head attention, LayerNorm, tied embeddings, no biases, RoPE-style
    (no position table), vocab 32,000, so ``parameter_count`` = ``12·L·h² + V·h + 4·L·h + 2·h``
    (the last two are LayerNorm weights and biases, as Megatron-LM's theoretical count has them).

    Field meanings and units are those of ``catalogs.schema.ModelPreset``. ``kv_heads``,
    ``head_dim`` and ``ffn_hidden`` left as None resolve to heads, hidden // heads and 4·hidden.
    Invalid combinations raise ``catalogs.errors.CatalogError`` (a ValueError) naming the field.
    """

    layers: int
    hidden: int
    heads: int
    kv_heads: int | None = None
    head_dim: int | None = None
    ffn_hidden: int | None = None
    mlp: str = "gelu"
    vocab: int = CLASSIC_VOCAB
    tied_embeddings: bool = True
    max_seq_len: int = CLASSIC_MAX_SEQ_LEN
    norm: str = "layernorm"
    norms_per_layer: int = 2
    qk_norm: str = "none"
    qkv_bias: bool = False
    attn_out_bias: bool = False
    mlp_bias: bool = False
    learned_position_embeddings: bool = False
    sliding_window: int | None = None
    sliding_window_layers: int | None = None
    experts: int = 0
    top_k: int = 0
    shared_experts: int = 0
    expert_ffn_hidden: int | None = None
    shared_expert_ffn_hidden: int | None = None
    first_dense_layers: int = 0
    moe_layer_freq: int = 1
    router_bias: bool = False
    routed_node_limit: int | None = None
    q_lora_rank: int | None = None
    kv_lora_rank: int | None = None
    qk_nope_head_dim: int | None = None
    qk_rope_head_dim: int | None = None
    v_head_dim: int | None = None
    mtp_modules: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):  # numpy integers from the planner's grids become plain ints
            value = getattr(self, f.name)
            if isinstance(value, numbers.Integral) and not isinstance(value, bool):
                object.__setattr__(self, f.name, int(value))
        if self.kv_heads is None:
            object.__setattr__(self, "kv_heads", self.heads)
        moe_layers = ((self.layers - self.first_dense_layers) // self.moe_layer_freq
                      if self.experts and self.moe_layer_freq >= 1 else 0)
        if self.ffn_hidden is None and self.layers > moe_layers:
            object.__setattr__(self, "ffn_hidden", CLASSIC_FFN_MULTIPLIER * self.hidden)
        if self.shared_expert_ffn_hidden is None and self.shared_experts:
            object.__setattr__(self, "shared_expert_ffn_hidden", self.expert_ffn_hidden)
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        # one set of rules for presets, HF configs and hand-built shapes; raises CatalogError
        # (a ValueError) whose one-line message starts with the offending field
        checked = ModelPreset.checked({"id": "architecture", "name": "architecture", **values})
        object.__setattr__(self, "head_dim", checked.head_dim)

    @classmethod
    def from_preset(cls, preset: ModelPreset) -> "Architecture":
        """The architecture of a catalog preset or of a parsed Hugging Face config."""
        return cls(**preset.architecture_fields())

    # ------------------------------------------------------------------ derived shape
    @property
    def is_moe(self) -> bool:
        return self.experts > 0

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank is not None

    @property
    def moe_layer_count(self) -> int:
        """Blocks whose MLP is a mixture of experts (after ``first_dense_layers``, every k-th)."""
        if not self.experts:
            return 0
        return (self.layers - self.first_dense_layers) // self.moe_layer_freq

    @property
    def dense_layer_count(self) -> int:
        return self.layers - self.moe_layer_count

    @property
    def qk_head_dim(self) -> int:
        """Width of one query/key head in the score product QKᵀ."""
        if self.is_mla:
            return self.qk_nope_head_dim + self.qk_rope_head_dim
        return self.head_dim

    @property
    def value_head_dim(self) -> int:
        """Width of one value head in AV."""
        return self.v_head_dim if self.is_mla else self.head_dim

    @property
    def windowed_layer_count(self) -> int:
        """Layers that use sliding-window attention."""
        if self.sliding_window is None:
            return 0
        return self.layers if self.sliding_window_layers is None else self.sliding_window_layers


@dataclass(frozen=True)
class LayerParams:
    """Parameters of one transformer block by part, for per-stage memory and pipeline balance."""

    attention: int        # projections, their biases and QK/latent norms
    norms: int            # the block's hidden-width norms
    dense_mlp: int        # MLP of a dense block (0 when every block is MoE)
    moe_mlp: int          # all experts + router of a MoE block (0 for dense models)
    moe_mlp_active: int   # experts one token uses + router
    dense_layers: int
    moe_layers: int

    @property
    def dense_layer(self) -> int:
        return self.attention + self.norms + self.dense_mlp

    @property
    def moe_layer(self) -> int:
        return self.attention + self.norms + self.moe_mlp

    @property
    def moe_layer_active(self) -> int:
        return self.attention + self.norms + self.moe_mlp_active


# ---------------------------------------------------------------------- parameter counts

def _norm_params(arch: Architecture, width: int) -> int:
    """RMSNorm keeps a weight vector; LayerNorm a weight and a bias."""
    return width * (2 if arch.norm == "layernorm" else 1)


def _attention_weights(arch: Architecture) -> int:
    """Projection matrices of one attention block (what a token multiplies)."""
    h, H = arch.hidden, arch.heads
    if arch.is_mla:
        q = (h * arch.q_lora_rank + arch.q_lora_rank * H * arch.qk_head_dim
             if arch.q_lora_rank else h * H * arch.qk_head_dim)
        kv = h * (arch.kv_lora_rank + arch.qk_rope_head_dim) \
            + arch.kv_lora_rank * H * (arch.qk_nope_head_dim + arch.v_head_dim)
        return q + kv + H * arch.v_head_dim * h
    d, G = arch.head_dim, arch.kv_heads
    return h * H * d + 2 * h * G * d + H * d * h


def attention_params(arch: Architecture) -> int:
    """One attention block: projections, biases, QK-norms (or MLA's latent norms)."""
    total = _attention_weights(arch)
    if arch.is_mla:
        total += _norm_params(arch, arch.kv_lora_rank)
        if arch.q_lora_rank:
            total += _norm_params(arch, arch.q_lora_rank)
        return total
    d, H, G = arch.head_dim, arch.heads, arch.kv_heads
    if arch.qkv_bias:
        total += H * d + 2 * G * d
    if arch.attn_out_bias:
        total += arch.hidden
    if arch.qk_norm == "head":
        total += 2 * _norm_params(arch, d)
    elif arch.qk_norm == "full":
        total += _norm_params(arch, H * d) + _norm_params(arch, G * d)
    return total


def _mlp_weights(arch: Architecture, ffn: int) -> int:
    return (3 if arch.mlp in GATED_MLPS else 2) * arch.hidden * ffn


def mlp_params(arch: Architecture, ffn: int) -> int:
    """One MLP of inner width ``ffn``: 3 matrices gated, 2 plain, plus biases if any."""
    total = _mlp_weights(arch, ffn)
    if arch.mlp_bias:
        total += (2 * ffn if arch.mlp in GATED_MLPS else ffn) + arch.hidden
    return total


def _router_params(arch: Architecture) -> int:
    return arch.hidden * arch.experts + (arch.experts if arch.router_bias else 0)


def params_per_layer(arch: Architecture) -> LayerParams:
    """Parameters of a dense block and of a MoE block (total and per-token active)."""
    dense_mlp = mlp_params(arch, arch.ffn_hidden) if arch.dense_layer_count else 0
    moe_mlp = moe_active = 0
    if arch.is_moe:
        routed = mlp_params(arch, arch.expert_ffn_hidden)
        shared = arch.shared_experts * mlp_params(arch, arch.shared_expert_ffn_hidden) \
            if arch.shared_experts else 0
        moe_mlp = arch.experts * routed + shared + _router_params(arch)
        moe_active = arch.top_k * routed + shared + _router_params(arch)
    return LayerParams(
        attention=attention_params(arch), norms=arch.norms_per_layer * _norm_params(arch, arch.hidden),
        dense_mlp=dense_mlp, moe_mlp=moe_mlp, moe_mlp_active=moe_active,
        dense_layers=arch.dense_layer_count, moe_layers=arch.moe_layer_count)


def embedding_params(arch: Architecture) -> int:
    """Input embedding, untied output head and learned positions: what "non-embedding" counts
    (Kaplan et al. 2020; the Qwen and Gemma 2 model cards) leave out."""
    total = arch.vocab * arch.hidden * (1 if arch.tied_embeddings else 2)
    if arch.learned_position_embeddings:
        total += arch.max_seq_len * arch.hidden
    return total


def mtp_params(arch: Architecture) -> int:
    """Unique parameters of the multi-token-prediction modules (DeepSeek-V3 report §2.2): per
    module one block like the last layer, a 2h→h projection, RMSNorms on both inputs and on the
    output; the embedding and output head are shared with the main model."""
    if not arch.mtp_modules:
        return 0
    per_layer = params_per_layer(arch)
    block = per_layer.moe_layer if arch.moe_layer_count and _last_layer_is_moe(arch) else per_layer.dense_layer
    module = block + 2 * arch.hidden * arch.hidden + 3 * _norm_params(arch, arch.hidden)
    return arch.mtp_modules * module


def _last_layer_is_moe(arch: Architecture) -> bool:
    """With every k-th layer MoE after the dense prefix, the last layer is MoE iff k divides the rest."""
    return arch.is_moe and (arch.layers - arch.first_dense_layers) % arch.moe_layer_freq == 0


def parameter_count(arch: Architecture, include_mtp: bool = False) -> int:
    """All parameters, exactly as a checkpoint stores them (MTP modules only if asked)."""
    per_layer = params_per_layer(arch)
    blocks = per_layer.dense_layers * per_layer.dense_layer + per_layer.moe_layers * per_layer.moe_layer
    total = blocks + embedding_params(arch) + _norm_params(arch, arch.hidden)
    return total + (mtp_params(arch) if include_mtp else 0)


def non_embedding_parameter_count(arch: Architecture) -> int:
    """Parameters without the embedding and output matrices (Kaplan et al. 2020's N)."""
    return parameter_count(arch) - embedding_params(arch)


def active_parameter_count(arch: Architecture, include_input_embedding: bool = True,
                           include_mtp: bool = False) -> int:
    """Parameters one token uses: all but the routed experts it is not sent to. With tied
    embeddings the single matrix is always used (as the output head)."""
    per_layer = params_per_layer(arch)
    blocks = per_layer.dense_layers * per_layer.dense_layer + per_layer.moe_layers * per_layer.moe_layer_active
    table = arch.vocab * arch.hidden
    embeddings = table if arch.tied_embeddings else table * (2 if include_input_embedding else 1)
    if arch.learned_position_embeddings and include_input_embedding:
        embeddings += arch.max_seq_len * arch.hidden
    total = blocks + embeddings + _norm_params(arch, arch.hidden)
    if include_mtp and arch.mtp_modules:
        block = per_layer.moe_layer_active if _last_layer_is_moe(arch) else per_layer.dense_layer
        total += arch.mtp_modules * (block + 2 * arch.hidden * arch.hidden + 3 * _norm_params(arch, arch.hidden))
    return total


# ---------------------------------------------------------------------- FLOPs

def matmul_params_per_token(arch: Architecture, include_mtp: bool = False) -> int:
    """Weights a token multiplies: attention and MLP projections of the experts it uses, the
    router and the output head. Twice this is the forward weight FLOPs per token."""
    weights = _attention_weights(arch)
    dense_mlp = _mlp_weights(arch, arch.ffn_hidden) if arch.dense_layer_count else 0
    moe_mlp = 0
    if arch.is_moe:
        moe_mlp = arch.top_k * _mlp_weights(arch, arch.expert_ffn_hidden) + arch.hidden * arch.experts
        if arch.shared_experts:
            moe_mlp += arch.shared_experts * _mlp_weights(arch, arch.shared_expert_ffn_hidden)
    blocks = arch.dense_layer_count * (weights + dense_mlp) + arch.moe_layer_count * (weights + moe_mlp)
    head = arch.vocab * arch.hidden
    total = blocks + head
    if include_mtp and arch.mtp_modules:
        block = weights + (moe_mlp if _last_layer_is_moe(arch) else dense_mlp)
        total += arch.mtp_modules * (block + 2 * arch.hidden * arch.hidden + head)
    return total


def attention_keys_per_query(seq_len, window: int | None = None, causal: bool = False):
    """Keys one query is charged for: ``s`` (or the window) without the causal discount, the
    exact mean of unmasked keys ``(1/s)·Σ min(i, w)`` with it. Works on arrays of seq_len."""
    s = np.asarray(seq_len, dtype=float)
    if not causal:
        keys = s if window is None else np.minimum(s, float(window))
    elif window is None:
        keys = (s + 1.0) / 2.0
    else:
        w = float(window)
        keys = np.where(s <= w, (s + 1.0) / 2.0, (w * (w + 1.0) / 2.0 + (s - w) * w) / np.maximum(s, 1.0))
    return keys if keys.ndim else float(keys)


def attention_core_flops_per_token(arch: Architecture, seq_len, causal: bool = False,
                                   include_mtp: bool = False):
    """Forward + backward FLOPs of QKᵀ and AV per token, summed over layers (and MTP blocks)."""
    per_key = FLOPS_PER_MAC * arch.heads * (arch.qk_head_dim + arch.value_head_dim)
    windowed = arch.windowed_layer_count
    full = arch.layers - windowed
    keys = full * attention_keys_per_query(seq_len, None, causal)
    if windowed:
        keys = keys + windowed * attention_keys_per_query(seq_len, arch.sliding_window, causal)
    if include_mtp and arch.mtp_modules:
        # the MTP block is a full-attention block like the main model's last layer
        keys = keys + arch.mtp_modules * attention_keys_per_query(seq_len, None, causal)
    return TRAINING_PASSES * per_key * keys


def model_flops_per_token(arch: Architecture, seq_len, causal: bool = False, include_mtp: bool = False):
    """Training FLOPs per token (forward + backward) without recomputation: the MFU numerator.

    ``6 × matmul_params_per_token`` for the weights and logits plus the attention core
    ``3 · 2·H·(d_qk + d_v) · keys``. See the module docstring for what is counted and for the
    causal convention (default: PaLM App. B / Narayanan et al. 2021, full s² charged).
    """
    weights = FLOPS_PER_MAC * TRAINING_PASSES * matmul_params_per_token(arch, include_mtp)
    return weights + attention_core_flops_per_token(arch, seq_len, causal, include_mtp)


def model_summary(preset: ModelPreset) -> dict:
    """A preset's shape with the parameter counts computed from it and the published figures."""
    arch = Architecture.from_preset(preset)
    return {"id": preset.id, "name": preset.name, "layers": arch.layers, "hidden": arch.hidden, "heads": arch.heads,
            "kv_heads": arch.kv_heads, "ffn_hidden": arch.ffn_hidden, "mlp": arch.mlp, "vocab": arch.vocab,
            "tied_embeddings": arch.tied_embeddings, "max_seq_len": arch.max_seq_len,
            "experts": arch.experts, "top_k": arch.top_k,
            # active parameters counted the way the publisher counts them (with or without the input
            # embedding), so the two figures compare
            "params": parameter_count(arch),
            "active_params": active_parameter_count(
                arch, preset.published_active_params_includes_input_embedding
                if preset.published_active_params_includes_input_embedding is not None else True),
            "published_params": preset.published_params,
            "published_active_params": preset.published_active_params}
