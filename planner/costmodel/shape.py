"""Transformer shape (layers, hidden size, heads) from a parameter count.

``N ≈ 12·L·h² + V·h`` (Kaplan et al. 2020 §2.1: 12·L·h² for attention + MLP with a 4h MLP,
plus the V·h embedding). The aspect ratio h/L = 128 matches published families (GPT-3 175B:
96 layers × 12288; Llama 2 7B: 32 × 4096; 13B: 40 × 5120; Touvron et al. 2023 Table 1 of the
Llama 1 paper), head dimension 128 (64 below h = 2048), and layers rounded to a multiple of 4
(so common pipeline sizes divide it).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from catalogs.errors import CatalogError
from catalogs.hf_config import read_hf_config
from catalogs.loader import get_model
from planner.costmodel.architecture import GATED_MLPS, Architecture, parameter_count
from planner.types.errors import InputError
from planner.types.estimates import Shape

DEFAULT_VOCAB = 32_000           # Llama / Llama 2 tokenizer (Touvron et al. 2023)
DEFAULT_SEQ_LEN = 4096           # Llama 2 context length
ASPECT_RATIO = 128.0             # h / L, see module docstring


@dataclass(frozen=True)
class ModelShape:
    """A decoder-only transformer as the cost model sees it (fields may be numpy arrays that broadcast).

    ``params`` is the parameter count used for memory, loss and the weight FLOPs: the exact count of
    a described architecture, or the size the user / the solver asked for. The other fields shape
    the terms that depend on more than N: grouped-query attention (``kv_heads`` < ``heads``: K and
    V are ``kv_heads·head_dim`` wide), the MLP (``ffn_hidden``; ``gated_mlp`` = SwiGLU/GeGLU, three
    matrices), untied input/output embeddings, and ``head_dim`` when it is not hidden/heads
    (Gemma 2). Defaults reproduce the classic GPT block: ``kv_heads = heads``, ``ffn_hidden = 4h``,
    plain MLP, tied embeddings, ``head_dim = hidden // heads``.
    """

    params: float
    layers: int
    hidden: int
    heads: int
    vocab: int = DEFAULT_VOCAB
    seq_len: int = DEFAULT_SEQ_LEN
    kv_heads: int | None = None
    ffn_hidden: int | None = None
    gated_mlp: bool = False
    tied_embeddings: bool = True
    head_dim: int | None = None
    name: str | None = None           # preset id, config file or shape rule it came from
    # Mixture of experts (issue #16; planner.costmodel.moe). 0 = dense, which leaves every dense
    # formula untouched. ``moe_layers`` blocks hold ``experts`` routed experts of inner width
    # ``expert_ffn_hidden`` of which ``top_k`` serve a token, plus always-on shared experts of
    # total inner width ``shared_ffn_hidden``; ``params`` counts all experts (memory), the weight
    # FLOPs count the active ones (``params - inactive_params``).
    experts: int = 0
    top_k: int = 0
    moe_layers: int = 0
    expert_ffn_hidden: int = 0
    shared_ffn_hidden: int = 0
    node_limit: int = 0               # nodes a token's experts may span (DeepSeek-V3: 4); 0 = no limit

    def __post_init__(self) -> None:
        if self.kv_heads is None:
            object.__setattr__(self, "kv_heads", self.heads)
        if self.ffn_hidden is None:
            object.__setattr__(self, "ffn_hidden", 4 * np.asarray(self.hidden) if np.ndim(self.hidden) else 4 * self.hidden)
        if self.head_dim is None:
            object.__setattr__(self, "head_dim", np.asarray(self.hidden) // self.heads if np.ndim(self.hidden) else self.hidden // self.heads)

    def wire(self) -> Shape:
        """The wire form (``planner.types.estimates.Shape``) of a scalar shape."""
        moe = {} if not self.experts else dict(
            experts=int(self.experts), top_k=int(self.top_k), moe_layers=int(self.moe_layers),
            expert_ffn_hidden=int(self.expert_ffn_hidden), active_params=float(self.active_params))
        return Shape(params=float(self.params), layers=int(self.layers), hidden=int(self.hidden), heads=int(self.heads),
                     vocab=int(self.vocab), seq_len=int(self.seq_len), kv_heads=int(self.kv_heads),
                     ffn_hidden=int(self.ffn_hidden), gated_mlp=bool(self.gated_mlp),
                     tied_embeddings=bool(self.tied_embeddings), head_dim=int(self.head_dim), name=self.name, **moe)

    @property
    def expert_params_each(self):
        """Weights of one routed expert's MLP: 3·h·f_e gated, 2·h·f_e plain (0 for dense)."""
        return np.where(self.gated_mlp, 3.0, 2.0) * self.hidden * self.expert_ffn_hidden

    @property
    def routed_expert_params(self):
        """All routed experts of all MoE layers: the weights expert parallelism shards (0 for dense)."""
        return self.moe_layers * self.experts * self.expert_params_each

    @property
    def inactive_params(self):
        """Routed experts a token is not sent to, over all MoE layers (0 for dense)."""
        return self.moe_layers * (self.experts - self.top_k) * self.expert_params_each

    @property
    def active_params(self):
        """Parameters one token uses (= params for a dense model)."""
        return self.params - self.inactive_params

    @property
    def attention_width(self):
        """heads · head_dim: the width of Q and of the attention output (= hidden unless head_dim says otherwise)."""
        return self.heads * self.head_dim

    @property
    def kv_fraction(self):
        """Width of K (and of V) relative to hidden: kv_heads·head_dim / hidden (1 for multi-head attention)."""
        return self.kv_heads * self.head_dim / self.hidden

    @property
    def embedding_params(self):
        """Input embedding plus, when untied, the output head: V·h or 2·V·h."""
        return self.vocab * self.hidden * np.where(self.tied_embeddings, 1.0, 2.0)

    @property
    def shape_params(self) -> float:
        """Parameters implied by the shape: attention Q,K,V,O + MLP per layer + embeddings
        (= 12·L·h² + V·h for the classic defaults; norms and biases are left out)."""
        attention = 2.0 * self.hidden * self.attention_width + 2.0 * self.hidden * self.kv_heads * self.head_dim
        mlp = np.where(self.gated_mlp, 3.0, 2.0) * self.hidden * self.ffn_hidden
        return self.layers * (attention + mlp) + self.embedding_params


def _round_to(x: float, step: int) -> int:
    return max(step, int(round(x / step)) * step)


def _positive_root(a: float, c: float, n: float) -> float:
    """The real root of a·x³ + c·x − n = 0 (a, c, n > 0: increasing, so exactly one, and positive).

    Cardano's formula as x = u − p/(3u), u = ∛(n/(2a) + √Δ) (no cancellation, as u > 0), then one
    Newton step; ~40× faster than ``np.roots`` (an eigenvalue problem), which the solver called for
    every size it opened (issue #17)."""
    p, half_q = c / a, n / (2.0 * a)
    u = (half_q + math.sqrt(half_q * half_q + (p / 3.0) ** 3)) ** (1.0 / 3.0)
    x = u - p / (3.0 * u)
    return x - (a * x**3 + c * x - n) / (3.0 * a * x * x + c)


@lru_cache(maxsize=8192)
def shape_for_params(params: float, seq_len: int = DEFAULT_SEQ_LEN, vocab: int = DEFAULT_VOCAB) -> ModelShape:
    """Pick (L, h, a) for ``params`` with h/L ≈ 128; the returned shape keeps ``params`` as given.

    Heads are a multiple of 8 from h = 2048 up (so tensor parallelism of 8 divides them), of 4 below.
    Cached: the solver asks for the same lattice sizes again and again.
    """
    if not params > 0 or not np.isfinite(params):
        raise InputError(f"params: must be a finite number > 0, got {params!r}", "params")
    # Solve 12·L·(rL)² + V·rL = N for L (cubic in L, one positive root), then h = r·L.
    r = ASPECT_RATIO
    layers_real = _positive_root(12.0 * r * r, vocab * r, float(params))
    hidden_real = r * layers_real
    head_dim = 128 if hidden_real >= 2048 else 64
    unit = head_dim * (8 if hidden_real >= 2048 else 4)
    best = None
    base = int(hidden_real // unit)
    for k in range(max(1, base - 1), base + 3):
        hidden = k * unit
        layers_for_h = max(1.0, (params - vocab * hidden) / (12.0 * hidden**2))
        layers = _round_to(layers_for_h, 4) if layers_for_h >= 8 else max(1, int(round(layers_for_h)))
        # relative parameter error plus a mild penalty for straying from the aspect ratio
        error = abs(12.0 * layers * hidden**2 + vocab * hidden - params) / params \
            + 0.05 * abs(np.log(hidden / layers / r))
        if best is None or error < best[0]:
            best = (error, layers, hidden)
    _, layers, hidden = best
    return ModelShape(params=float(params), layers=layers, hidden=hidden, heads=hidden // head_dim,
                      vocab=vocab, seq_len=seq_len)


def explicit_shape(params: float | None, layers: int, hidden: int, heads: int,
                   seq_len: int = DEFAULT_SEQ_LEN, vocab: int = DEFAULT_VOCAB, *, kv_heads: int | None = None,
                   ffn_hidden: int | None = None, gated_mlp: bool = False, tied_embeddings: bool = True,
                   head_dim: int | None = None, name: str | None = None) -> ModelShape:
    """A user-given shape; ``params`` defaults to the count the shape implies (``shape_params``)."""
    if head_dim is None and hidden % heads:
        raise InputError(f"heads: must divide hidden ({hidden}), got {heads}", "heads")
    if kv_heads is not None and (kv_heads > heads or heads % kv_heads):
        raise InputError(f"kv_heads: must divide heads ({heads}), got {kv_heads}", "kv_heads")
    shape = ModelShape(params=0.0, layers=layers, hidden=hidden, heads=heads, vocab=vocab, seq_len=seq_len,
                       kv_heads=kv_heads, ffn_hidden=ffn_hidden, gated_mlp=gated_mlp,
                       tied_embeddings=tied_embeddings, head_dim=head_dim, name=name)
    return replace(shape, params=float(params or shape.shape_params))


def shape_from_architecture(arch: Architecture, seq_len: int, name: str | None = None) -> ModelShape:
    """The cost model's view of a described architecture, with its exact parameter count.

    Mixture of experts (issue #16): ``params`` is the total count (memory), the routed experts are
    described by experts/top_k/moe_layers/expert_ffn_hidden so FLOPs follow the active count.
    Multi-head latent attention (DeepSeek-V2/V3) is costed as multi-head attention with
    ``kv_heads = heads`` and ``head_dim = (d_qk + d_v)/2``: the attention-core FLOPs
    ``6·H·(d_qk + d_v)`` per key and the K+V activation width ``H·(d_qk + d_v)`` are then exact
    (K and V are materialised per head in training); the latent down-projections' activations and the
    smaller KV cache (inference only) are not modelled. Multi-token-prediction modules are left out
    (DeepSeek-V3: one extra block and head, ~2 % of the FLOPs), as in the 671B count."""
    moe = {}
    if arch.is_moe:
        moe = dict(experts=arch.experts, top_k=arch.top_k, moe_layers=arch.moe_layer_count,
                   expert_ffn_hidden=arch.expert_ffn_hidden,
                   shared_ffn_hidden=arch.shared_experts * (arch.shared_expert_ffn_hidden or 0),
                   node_limit=arch.routed_node_limit or 0)
    head_dim, kv_heads = arch.head_dim, arch.kv_heads
    if arch.is_mla:
        head_dim, kv_heads = (arch.qk_head_dim + arch.value_head_dim) // 2, arch.heads
    return ModelShape(params=float(parameter_count(arch)), layers=arch.layers, hidden=arch.hidden, heads=arch.heads,
                      vocab=arch.vocab, seq_len=seq_len, kv_heads=kv_heads,
                      ffn_hidden=arch.ffn_hidden or arch.expert_ffn_hidden,
                      gated_mlp=arch.mlp in GATED_MLPS, tied_embeddings=arch.tied_embeddings,
                      head_dim=head_dim, name=name, **moe)


def resolve_model(spec: str, extra_files=()) -> tuple[Architecture, str]:
    """(architecture, name) of ``spec``: a preset id (``planner models``) or a path to a Hugging Face
    ``config.json`` on disk (never fetched from the network)."""
    text = str(spec).strip()
    looks_like_file = text.endswith(".json") or "/" in text or os.sep in text
    try:
        if looks_like_file:
            preset = read_hf_config(text)
            return Architecture.from_preset(preset), Path(text).name
        return Architecture.from_preset(get_model(text, extra_files)), get_model(text, extra_files).id
    except CatalogError as error:
        message = str(error)
        raise InputError(message if message.startswith("model") else f"model: {message}", "model") from None


_ARCH_OVERRIDES = ("layers", "hidden", "heads", "kv_heads", "ffn_hidden", "vocab", "tied_embeddings", "mlp")


def describe_model(*, seq_len: int, model: str | None = None, params: float | None = None,
                   layers: int | None = None, hidden: int | None = None, heads: int | None = None,
                   kv_heads: int | None = None, ffn_hidden: int | None = None, mlp: str | None = None,
                   vocab: int | None = None, tied_embeddings: bool | None = None,
                   derive=None, moe: dict | None = None) -> ModelShape:
    """The shape a request describes, in order of precedence:
    ``model`` (a preset or config.json, with any of the individual fields overriding it); all of
    layers/hidden/heads (plus the optional fields); or ``params`` alone, shaped by ``derive``
    (default: ``shape_for_params``). ``moe`` holds mixture-of-experts fields (experts, top_k,
    shared_experts, expert_ffn_hidden, first_dense_layers) overriding the model's or making a
    described shape sparse (issue #16)."""
    given = {k: v for k, v in dict(layers=layers, hidden=hidden, heads=heads, kv_heads=kv_heads,
                                   ffn_hidden=ffn_hidden, vocab=vocab, tied_embeddings=tied_embeddings,
                                   mlp=mlp).items() if v is not None}
    sparse = {k: v for k, v in (moe or {}).items() if v is not None}
    if sparse and model is None and all((layers, hidden, heads)):
        try:
            arch = Architecture(layers=layers, hidden=hidden, heads=heads, kv_heads=kv_heads, ffn_hidden=ffn_hidden,
                                mlp=mlp or "gelu", vocab=vocab or DEFAULT_VOCAB,
                                tied_embeddings=True if tied_embeddings is None else tied_embeddings, **sparse)
        except CatalogError as error:
            raise InputError(str(error), str(error).split(":")[0]) from None
        return shape_from_architecture(arch, seq_len, "described MoE")
    if sparse and model is None:
        field = next(iter(sparse))
        raise InputError(f"{field}: applies to a described model (--model, or --layers/--hidden/--heads)", field)
    given.update(sparse)
    if model is not None:
        if params is not None:
            raise InputError("params: give params or model, not both (the model's count is exact)", "params")
        arch, name = resolve_model(model)
        if given:
            if {"hidden", "heads"} & set(given):
                given["head_dim"] = None
            try:
                arch = replace(arch, **given)
            except CatalogError as error:
                raise InputError(str(error), str(error).split(":")[0]) from None
            name = f"{name} (overridden: {', '.join(sorted(k for k in given if k != 'head_dim'))})"
        return shape_from_architecture(arch, seq_len, name)
    shape_fields = (layers, hidden, heads)
    if all(shape_fields):
        return explicit_shape(params, layers, hidden, heads, seq_len, vocab or DEFAULT_VOCAB, kv_heads=kv_heads,
                              ffn_hidden=ffn_hidden, gated_mlp=(mlp or "gelu") in GATED_MLPS,
                              tied_embeddings=True if tied_embeddings is None else tied_embeddings)
    if any(shape_fields):
        raise InputError("layers/hidden/heads: give all three, or none to derive them from params", "layers")
    if params is None:
        raise InputError("params: required unless a model or layers, hidden and heads are given", "params")
    for field in ("kv_heads", "ffn_hidden", "mlp", "tied_embeddings"):
        if field in given:
            raise InputError(f"{field}: applies to a described model (--model, or --layers/--hidden/--heads)", field)
    return (derive or shape_for_params)(params, seq_len, vocab or DEFAULT_VOCAB)


@dataclass(frozen=True)
class ShapeFamily:
    """How a bare parameter count becomes layers × hidden in one model family (used by the solver).

    ``ffn_ratio`` is the MLP width over hidden, ``kv_heads`` the key/value heads once the model has
    at least that many heads (None: multi-head attention), ``head_dim`` 128 from h = 2048 up and 64
    below, widths a multiple of head_dim × 8 (× 4 below 2048) so TP = 8 divides the heads.
    """

    name: str
    gated_mlp: bool
    ffn_ratio: float
    ffn_multiple: int
    kv_heads: int | None
    tied_embeddings: bool
    default_vocab: int
    variants: int                  # candidate (layers, hidden) shapes per size

    def ffn(self, hidden: int) -> int:
        return max(self.ffn_multiple, int(round(self.ffn_ratio * hidden / self.ffn_multiple)) * self.ffn_multiple)


FAMILIES = {
    # Today's rule: GPT-3 / Llama 1-2 proportions, 4h plain MLP, MHA, tied 32k vocabulary, one shape per size.
    "gpt": ShapeFamily("gpt", gated_mlp=False, ffn_ratio=4.0, ffn_multiple=1, kv_heads=None, tied_embeddings=True,
                       default_vocab=DEFAULT_VOCAB, variants=1),
    # Llama 3 (Dubey et al. 2024, Table 3): SwiGLU with FFN ≈ 3.5h (8B: 14336 / 4096; 70B: 28672 / 8192),
    # GQA with 8 KV heads, untied 128,256-token vocabulary, h/L 100-130; three shapes per size.
    "llama3": ShapeFamily("llama3", gated_mlp=True, ffn_ratio=3.5, ffn_multiple=256, kv_heads=8, tied_embeddings=False,
                          default_vocab=128_256, variants=3),
}
def _family_shape(params: float, layers: int, hidden: int, seq_len: int, vocab: int, family: ShapeFamily,
                  head_dim: int) -> ModelShape:
    heads = hidden // head_dim
    kv = heads if family.kv_heads is None else math.gcd(heads, family.kv_heads)   # KV heads must divide the heads
    return ModelShape(params=float(params), layers=layers, hidden=hidden, heads=heads, vocab=vocab, seq_len=seq_len,
                      kv_heads=kv, ffn_hidden=family.ffn(hidden) if family.ffn_multiple > 1 else None,
                      gated_mlp=family.gated_mlp, tied_embeddings=family.tied_embeddings, head_dim=head_dim,
                      name=f"{family.name} {layers}×{hidden}")


@lru_cache(maxsize=8192)
def family_shapes(params: float, seq_len: int = DEFAULT_SEQ_LEN, vocab: int | None = None,
                  family: str = "gpt") -> tuple[ModelShape, ...]:
    """Candidate shapes for ``params`` in ``family``, best first; each keeps ``params`` as given (its
    loss and weight FLOPs), the shape sets memory, attention FLOPs and which layouts divide it.

    Several shapes per size (llama3) so that rounding of the hidden size does not decide the model
    size: the solver takes the fastest of them. Candidates: widths on the head-dim grid within
    ±2 steps of h/L = 128, layers rounded to fit the count, kept when the shape's own count is within
    10 % of ``params``, ranked by parameter error plus distance from the aspect ratio.
    """
    if family not in FAMILIES:
        raise InputError(f"family: unknown shape family {family!r}; known: {', '.join(FAMILIES)}", "family")
    rule = FAMILIES[family]
    vocab = vocab or rule.default_vocab
    if family == "gpt":
        return (_named(shape_for_params(params, seq_len, vocab)),)
    if not params > 0 or not np.isfinite(params):
        raise InputError(f"params: must be a finite number > 0, got {params!r}", "params")
    gpt = shape_for_params(params, seq_len, vocab)
    head_dim = 128 if gpt.hidden >= 2048 else 64
    unit = head_dim * (8 if gpt.hidden >= 2048 else 4)
    scored = []
    for k in range(max(1, gpt.hidden // unit - 3), gpt.hidden // unit + 4):
        hidden = k * unit
        probe = _family_shape(params, 1, hidden, seq_len, vocab, rule, head_dim)
        per_layer = float(probe.shape_params - probe.embedding_params)
        body = float(params) - float(probe.embedding_params)
        if body <= per_layer * 0.5:
            continue
        for layers in {max(1, int(np.floor(body / per_layer))), max(1, int(np.ceil(body / per_layer)))}:
            shape = _family_shape(params, layers, hidden, seq_len, vocab, rule, head_dim)
            error = abs(float(shape.shape_params) / params - 1.0)
            aspect = hidden / layers
            if error <= 0.10 and 32 <= aspect <= 256:
                scored.append((error + 0.05 * abs(np.log(aspect / ASPECT_RATIO)), layers, hidden, shape))
    scored.sort(key=lambda item: item[:3])
    chosen = [item[3] for item in scored[:rule.variants]]
    return tuple(chosen) or (_family_shape(params, gpt.layers, gpt.hidden, seq_len, vocab, rule, head_dim),)


def _named(shape: ModelShape) -> ModelShape:
    return replace(shape, name=f"gpt {shape.layers}×{shape.hidden}")
