"""Read a Hugging Face ``config.json`` from disk into a ModelPreset. Never touches the network.

Why: users plan runs for models that are not in ``models.toml``; the config.json that ships with
every checkpoint already holds the shape. Only the keys that change parameter counts or FLOPs are
read; the structure each model_type implies (norm placement, biases, QK-norm) is taken from its
``transformers`` modelling file and noted next to the family below.

Anything unexpected is a one-line ``CatalogError`` naming the file and the key: a missing or
non-integer field, an unsupported model_type, malformed JSON, bytes that are not UTF-8, a path
that is not a regular file, or a file larger than ``MAX_CONFIG_BYTES``.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from catalogs.errors import CatalogError
from catalogs.schema import ModelPreset

# Real config.json files are 0.5-3 kB (quantised ones with per-layer tables reach ~100 kB); 1 MiB
# bounds what a hostile or mistaken path can make us read and parse.
MAX_CONFIG_BYTES = 1 << 20

# model_type -> tie_word_embeddings default of its transformers config class (used when absent)
_TIED_DEFAULT = {
    "llama": False, "mistral": False, "qwen2": False, "gemma2": True, "olmo2": False,
    "mixtral": False, "qwen3_moe": False, "olmoe": False, "deepseek_v3": False, "gpt2": True,
}
SUPPORTED_MODEL_TYPES: tuple[str, ...] = tuple(_TIED_DEFAULT)

# Gated MLPs (gate, up, down): the activation picks SwiGLU or GeGLU (Shazeer 2020).
_GATED_ACTIVATIONS = {
    "silu": "swiglu", "swish": "swiglu",
    "gelu": "geglu", "gelu_new": "geglu", "gelu_fast": "geglu", "gelu_pytorch_tanh": "geglu",
}
# GPT-2 style plain MLP (up, down).
_PLAIN_ACTIVATIONS = ("gelu", "gelu_new", "gelu_fast", "gelu_pytorch_tanh")

_MISSING = object()


class _Reader:
    """Typed access to one config dict; every error names the file and the key."""

    def __init__(self, config: dict, origin: str, model_type: str):
        self.config, self.origin, self.model_type = config, origin, model_type

    def fail(self, key: str, problem: str) -> CatalogError:
        return CatalogError(f"{self.origin}: {key}: {problem}", key)

    def integer(self, key: str, default: Any = _MISSING, minimum: int = 1) -> Any:
        value = self.config.get(key)
        if value is None:
            if default is _MISSING:
                raise self.fail(key, f"missing; required for model_type {self.model_type!r}")
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"must be an integer >= {minimum}, got {value!r}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.config.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {value!r}")
        return value

    def text(self, key: str, default: str) -> str:
        value = self.config.get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, got {value!r}")
        return value


def read_config_bytes(path: str | Path) -> dict:
    """The JSON object in ``path``: a regular UTF-8 file of at most MAX_CONFIG_BYTES."""
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO or device must not hang before fstat can reject it
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise CatalogError(f"{path}: file not found (give the path of a config.json)", "config") from None
    except OSError as error:
        raise CatalogError(f"{path}: cannot open: {error.strerror}", "config") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CatalogError(f"{path}: not a regular file; give the path of a config.json", "config")
        if info.st_size > MAX_CONFIG_BYTES:
            raise CatalogError(f"{path}: {info.st_size} bytes; a config.json may have at most "
                               f"{MAX_CONFIG_BYTES} bytes (1 MiB)", "config")
        with os.fdopen(fd, "rb") as handle:
            fd = -1  # the file object owns it now
            data = handle.read(MAX_CONFIG_BYTES + 1)
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:  # grew after fstat
        raise CatalogError(f"{path}: more than {MAX_CONFIG_BYTES} bytes (1 MiB allowed)", "config")
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        raise CatalogError(f"{path}: not UTF-8 text (invalid byte at offset {error.start})", "config") from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise CatalogError(f"{path}: not valid JSON: {error.msg} at line {error.lineno} "
                           f"column {error.colno}", "config") from None
    except RecursionError:
        raise CatalogError(f"{path}: not valid JSON: nested too deeply", "config") from None
    if not isinstance(config, dict):
        raise CatalogError(f"{path}: the top level must be a JSON object, got {type(config).__name__}", "config")
    return config


def read_hf_config(path: str | Path, model_id: str | None = None) -> ModelPreset:
    """The ModelPreset described by the config.json at ``path`` (published counts left None)."""
    return preset_from_hf_dict(read_config_bytes(path), str(path), model_id)


def preset_from_hf_dict(config: dict, origin: str = "config.json", model_id: str | None = None) -> ModelPreset:
    """Map the keys of a parsed config.json onto ModelPreset fields."""
    model_type = config.get("model_type")
    if model_type not in _TIED_DEFAULT:
        raise CatalogError(f"{origin}: model_type: unsupported {model_type!r}; supported: "
                           f"{', '.join(SUPPORTED_MODEL_TYPES)}", "model_type")
    read = _Reader(config, origin, model_type)
    fields = _gpt2_fields(read) if model_type == "gpt2" else _decoder_fields(read, model_type)
    fields["tied_embeddings"] = read.flag("tie_word_embeddings", _TIED_DEFAULT[model_type])
    preset_id = (model_id or f"hf-{model_type}").lower().replace("_", "-")
    fields.update(id=preset_id, name=model_id or f"{model_type} from {Path(origin).name}",
                  sources={"architecture": origin})
    return ModelPreset.checked(fields, where=f"{origin}: ")


def _gpt2_fields(read: _Reader) -> dict:
    """GPT-2 (transformers GPT2Model): LayerNorm, biases on every linear layer, learned positions,
    plain MLP of n_inner (default 4·n_embd)."""
    hidden = read.integer("n_embd")
    activation = read.text("activation_function", "gelu_new")
    if activation not in _PLAIN_ACTIVATIONS:
        raise read.fail("activation_function", f"unsupported {activation!r}; allowed: "
                        f"{', '.join(_PLAIN_ACTIVATIONS)}")
    return dict(layers=read.integer("n_layer"), hidden=hidden, heads=read.integer("n_head"),
                ffn_hidden=read.integer("n_inner", 4 * hidden), mlp="gelu", vocab=read.integer("vocab_size"),
                max_seq_len=read.integer("n_positions"), norm="layernorm", qkv_bias=True,
                attn_out_bias=True, mlp_bias=True, learned_position_embeddings=True)


def _decoder_fields(read: _Reader, model_type: str) -> dict:
    """Llama-family decoders: pre-RMSNorm, gated MLP, RoPE, no position table."""
    layers, heads = read.integer("num_hidden_layers"), read.integer("num_attention_heads")
    activation_key = "hidden_activation" if model_type == "gemma2" and "hidden_activation" in read.config \
        else "hidden_act"
    activation = read.text(activation_key, "gelu_pytorch_tanh" if model_type == "gemma2" else "silu")
    if activation not in _GATED_ACTIVATIONS:
        raise read.fail(activation_key, f"unsupported {activation!r} for a gated MLP; allowed: "
                        f"{', '.join(_GATED_ACTIVATIONS)}")
    fields: dict[str, Any] = dict(
        layers=layers, hidden=read.integer("hidden_size"), heads=heads,
        kv_heads=read.integer("num_key_value_heads", heads),
        head_dim=read.integer("head_dim") if model_type == "gemma2" else read.integer("head_dim", None),
        mlp=_GATED_ACTIVATIONS[activation], vocab=read.integer("vocab_size"),
        max_seq_len=read.integer("max_position_embeddings"), norm="rmsnorm")
    # attention biases: Qwen2 hard-codes q/k/v bias; Llama, Gemma 2, OLMo 2, OLMoE, Qwen3-MoE put
    # config.attention_bias on q, k, v and o; Mistral and Mixtral have none.
    if model_type == "qwen2":
        fields["qkv_bias"] = True
    elif model_type in ("llama", "gemma2", "olmo2", "olmoe", "qwen3_moe"):
        fields["qkv_bias"] = fields["attn_out_bias"] = read.flag("attention_bias", False)
    if model_type == "llama":
        fields["mlp_bias"] = read.flag("mlp_bias", False)
    fields.update(_norm_fields(model_type))
    fields.update(_window_fields(read, model_type, layers))
    if model_type in ("mixtral", "olmoe", "qwen3_moe", "deepseek_v3"):
        fields.update(_moe_fields(read, model_type, layers))
    else:
        fields["ffn_hidden"] = read.integer("intermediate_size")
    return fields


def _norm_fields(model_type: str) -> dict:
    """Norm layout per family (transformers modelling files)."""
    if model_type == "gemma2":       # input, post_attention, pre_feedforward, post_feedforward
        return {"norms_per_layer": 4}
    if model_type in ("olmo2", "olmoe"):  # q_norm/k_norm over all heads
        return {"qk_norm": "full"}
    if model_type == "qwen3_moe":    # q_norm/k_norm of head_dim ("only on the head dim")
        return {"qk_norm": "head"}
    return {}


def _window_fields(read: _Reader, model_type: str, layers: int) -> dict:
    """Sliding-window attention and how many layers use it."""
    if model_type in ("mistral", "mixtral"):
        window = read.integer("sliding_window", None)
        return {"sliding_window": window} if window else {}
    if model_type == "gemma2":
        window = read.integer("sliding_window")
        layer_types = read.config.get("layer_types")
        if isinstance(layer_types, list):
            windowed = sum(1 for kind in layer_types if kind == "sliding_attention")
        else:
            windowed = (layers + 1) // 2  # even-numbered layers are local (Gemma2DecoderLayer)
        return {"sliding_window": window, "sliding_window_layers": windowed}
    if model_type in ("qwen2", "qwen3_moe") and read.flag("use_sliding_window", False):
        # Qwen2Attention: layers from max_window_layers on use the window
        first = read.integer("max_window_layers", layers, minimum=0)
        return {"sliding_window": read.integer("sliding_window"),
                "sliding_window_layers": max(0, layers - first)}
    return {}


def _moe_fields(read: _Reader, model_type: str, layers: int) -> dict:
    """Experts, routing and (DeepSeek-V3) multi-head latent attention."""
    if model_type == "mixtral":
        return dict(experts=read.integer("num_local_experts"), top_k=read.integer("num_experts_per_tok"),
                    expert_ffn_hidden=read.integer("intermediate_size"))
    if model_type == "olmoe":
        return dict(experts=read.integer("num_experts"), top_k=read.integer("num_experts_per_tok"),
                    expert_ffn_hidden=read.integer("intermediate_size"))
    if model_type == "qwen3_moe":
        dense_only = read.config.get("mlp_only_layers") or []
        if dense_only:
            raise read.fail("mlp_only_layers", f"only [] is supported, got {dense_only!r}")
        step = read.integer("decoder_sparse_step", 1)
        fields = dict(experts=read.integer("num_experts"), top_k=read.integer("num_experts_per_tok"),
                      expert_ffn_hidden=read.integer("moe_intermediate_size"), moe_layer_freq=step)
        if step > 1:  # the layers between MoE layers stay dense and use intermediate_size
            fields["ffn_hidden"] = read.integer("intermediate_size")
        return fields
    # deepseek_v3
    if read.integer("moe_layer_freq", 1) != 1:
        raise read.fail("moe_layer_freq", f"only 1 is supported, got {read.config['moe_layer_freq']!r}")
    if read.flag("attention_bias", False):
        raise read.fail("attention_bias", "only false is supported with multi-head latent attention")
    return dict(
        experts=read.integer("n_routed_experts"), top_k=read.integer("num_experts_per_tok"),
        shared_experts=read.integer("n_shared_experts", 0, minimum=0),
        expert_ffn_hidden=read.integer("moe_intermediate_size"), ffn_hidden=read.integer("intermediate_size"),
        first_dense_layers=read.integer("first_k_dense_replace", 0, minimum=0),
        router_bias=read.text("topk_method", "noaux_tc") == "noaux_tc",
        # group-limited routing: experts in n_group groups (one per node in DeepSeek's EP layout), a token
        # uses at most topk_group of them (DeepSeek-V3 report Sec. 2.1.2, node-limited routing, M = 4)
        routed_node_limit=(read.integer("topk_group", None) if read.integer("n_group", 1, minimum=1) > 1 else None),
        q_lora_rank=read.integer("q_lora_rank", None), kv_lora_rank=read.integer("kv_lora_rank"),
        qk_nope_head_dim=read.integer("qk_nope_head_dim"), qk_rope_head_dim=read.integer("qk_rope_head_dim"),
        v_head_dim=read.integer("v_head_dim"),
        mtp_modules=read.integer("num_nextn_predict_layers", 0, minimum=0))
