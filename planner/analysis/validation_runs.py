"""Predicting the validation set of published runs (``catalogs/data/validation_runs.json``, issue #14).

For every row: the shape from its architecture (exact matrices when layers/hidden/heads are given,
else the planner's shape for its parameter count), the GPU, and the strategy from its layout —
what the row states is fixed (tp, pp, cp, vpp, dp, ZeRO/FSDP, micro-batch, global batch,
recompute, precision), what it leaves unset is searched (the fastest layout that fits in memory,
as the planner would choose). The prediction is tokens/s per GPU, converted into the row's metric
with the row's FLOP convention:

  * ``tokens_per_s_per_gpu``: as is.
  * ``tflops_per_gpu``: × FLOPs per token — hardware FLOPs with full recompute for the Megatron-LM
    formula / "hardware" definitions (Narayanan et al. 2021 eq. 3 × 4/3), else model FLOPs
    (6·N + 12·L·h·s, attention not halved for the causal mask).
  * ``mfu``: model FLOPs per token × tokens/s / 16-bit dense peak (dgxc and Llama 3 state MFU
    against the BF16 peak even for FP8 runs; the FP8 rows in the set are tokens/s anyway).
  * ``gpu_hours``: tokens / (tokens/s per GPU) / 3600. These rows (``includes_downtime``) are
    upper envelopes: long-context and annealing stages, restarts and evaluation are in them. They
    are reported separately and never mixed into the clean-throughput error.

The error that matters for planning is GPU time: ``time_ratio`` = predicted / reported GPU time
per token (for throughput metrics, reported / predicted throughput). ``assumption`` says per row
what was assumed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from catalogs.loader import Catalog, load_catalog
from planner.costmodel import calibration as cal
from planner.costmodel.evaluate import evaluate
from planner.costmodel.flops import hardware_flops_per_token, model_flops_per_token
from planner.costmodel.memory import MemoryConfig
from planner.costmodel.moe import expert_parallel_choices
from planner.costmodel.precision import RECOMPUTE_ORDER
from planner.costmodel.shape import ModelShape, explicit_shape, resolve_model, shape_for_params, shape_from_architecture
from planner.costmodel.strategy import SearchSpace, Strategies, enumerate_strategies
from planner.costmodel.throughput import generation

DATA_FILE = Path(__file__).resolve().parents[2] / "catalogs" / "data" / "validation_runs.json"
# Sequence length when the row does not state it: torchtitan's Llama 3 configs train at 8192
# (torchtitan train_configs); every other unstated row is a GPT-style 2048 (assumption).
DEFAULT_SEQ = 2048
# GPUs when the row does not state them: model-card GPU-hours are priced at 2,048 GPUs (per-GPU
# throughput barely depends on it); other rows at the smallest of 8, 16, … that fits (assumption).
GPU_HOURS_ASSUMED_GPUS = 2048


@dataclass(frozen=True)
class RowPrediction:
    name: str
    family: str
    split: str               # calibration / held_out
    metric: str
    gpu: str
    generation: str
    stack: str
    size_bucket: str
    kind: str
    reported: float
    predicted: float
    tokens_per_s_per_gpu: float
    envelope: bool           # includes downtime: an upper envelope, not clean throughput
    layout: str
    assumption: str
    breakdown: dict = field(default_factory=dict, compare=False)

    @property
    def time_ratio(self) -> float:
        """Predicted / reported GPU time for the same work (> 1: the model is pessimistic)."""
        if self.metric == "gpu_hours":
            return self.predicted / self.reported
        return self.reported / self.predicted

    @property
    def error(self) -> float:
        """Signed relative error of the predicted GPU time."""
        return self.time_ratio - 1.0


def load_rows(path: Path = DATA_FILE) -> list[dict]:
    return json.loads(Path(path).read_text())["runs"]


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _precision(row: dict) -> str:
    text = (row.get("precision") or "").lower()
    if "fp8" in text:
        return "fp8"
    if row["gpu"].startswith("v100") or text.startswith("fp16"):
        return "fp16"
    return "bf16"


def _recompute(row: dict) -> tuple[tuple[str, ...], str]:
    text = str((row.get("layout") or {}).get("recompute") or "").lower()
    if "full" in text or text.startswith("yes"):
        return ("full",), "full recompute (stated)"
    if "selective" in text:
        return ("selective",), "selective recompute (stated)"
    if text.startswith("not stated"):
        return RECOMPUTE_ORDER, "recompute searched"
    if text.startswith("none") or text.startswith("no") or text.startswith("'none"):
        return ("none",), "no recompute (stated)"
    return RECOMPUTE_ORDER, "recompute searched"


# Rows without an architecture whose model is a catalog preset (catalogs/data/models.toml).
_PRESETS = {"llama2-7b": "llama2-7b", "llama-2-7b": "llama2-7b", "llama2-13b": "llama2-13b",
            "llama-2-13b": "llama2-13b", "llama2-70b": "llama2-70b", "llama-2-70b": "llama2-70b",
            "gpt3-175b": "gpt3-175b", "deepseek-v3": "deepseek-v3"}


def _preset_for(name: str) -> str | None:
    return next((preset for key, preset in _PRESETS.items() if key in name), None)


def row_shape(row: dict) -> tuple[ModelShape, list[str]]:
    notes = []
    seq = row.get("seq_len")
    if not seq:
        seq = 8192 if row.get("stack") == "torchtitan" and "llama3" in row["name"] else DEFAULT_SEQ
        notes.append(f"seq {seq} assumed")
    arch = row.get("architecture") or {}
    vocab = arch.get("vocab") or (128_256 if "llama3" in row["name"] or "llama-3" in row["name"] else
                                  32_000 if "llama" in row["name"] or "olmo" in row["name"] else 51_200)
    if arch.get("layers") and arch.get("hidden") and arch.get("heads"):
        mlp = str(arch.get("mlp") or "").lower()
        gated = "swiglu" in mlp or "geglu" in mlp
        hidden, heads = arch["hidden"], arch["heads"]
        shape = explicit_shape(None, arch["layers"], hidden, heads, seq, vocab, kv_heads=arch.get("kv_heads"),
                               ffn_hidden=arch.get("ffn_hidden"), gated_mlp=gated, tied_embeddings=not gated,
                               head_dim=None if hidden % heads == 0 else hidden // heads, name=row["name"])
        notes.append("shape from the stated architecture" + ("" if arch.get("vocab") else f", vocab {vocab} assumed"))
    elif (preset := _preset_for(row["name"])) is not None:
        arch, _ = resolve_model(preset)
        shape = shape_from_architecture(arch, seq, name=row["name"])
        notes.append(f"no architecture in the row: the {preset} preset")
    else:
        shape = shape_for_params(row["params"], seq, vocab)
        notes.append(f"no architecture: planner shape for {row['params'] / 1e9:.3g}B")
    return shape, notes


def _space(row: dict, shape: ModelShape, precision: str) -> tuple[SearchSpace, dict, list[str]]:
    layout = row.get("layout") or {}
    notes = []
    tp, pp, cp, vpp = (_int(layout.get(k)) for k in ("tp", "pp", "cp", "vpp"))
    zero = layout.get("zero")
    fsdp = str(layout.get("fsdp") or "")
    if fsdp and "optimizer" in fsdp.lower() and "param" not in fsdp.lower():
        zeros = (1, 2)                                  # Llama 3: optimizer states and gradients only
    elif fsdp:
        zeros = (3,)
        # an FSDP stack that states no tensor/pipeline degree runs without them (LLM Foundry,
        # MaxText, Paxml, torchtitan 1D, OLMo-core, IBM FSDP)
        if layout.get("tp") is None and layout.get("pp") is None:
            tp, pp = 1, 1
            notes.append("FSDP only: t = p = 1")
    elif zero is not None:
        zeros = (_int(zero),) if _int(zero) is not None else (1,)
    else:
        zeros = (0, 1)
    recompute, rnote = _recompute(row)
    notes.append(rnote)
    mb = _int(layout.get("micro_batch"))
    gbs = _int(layout.get("global_batch_sequences"))
    seq = shape.seq_len
    batch_tokens = str(layout.get("tokens_per_batch") or layout.get("global_batch_tokens") or "")
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([MK]?)", batch_tokens.strip())
    if gbs is None and match:
        gbs = max(1, int(float(match.group(1)) * {"M": 2**20, "K": 2**10, "": 1}[match.group(2)] / seq))
    space = SearchSpace(
        tp=(tp,) if tp else None, pp=(pp,) if pp else None, zero=zeros, precisions=(precision,),
        recompute=recompute, micro_batches=(mb,) if mb else (1, 2, 4, 8),
        cp=(cp,) if cp else (1, 2) if seq >= 8192 else (1,),
        vpp=(vpp,) if vpp else (1,) if pp == 1 else (1, 2, 4, 8),
        # MoE (issue #16): the stated expert-parallel size, else every size that divides the experts
        ep=(_int(layout["ep"]),) if _int(layout.get("ep")) else expert_parallel_choices(int(shape.experts)),
        max_pp=256, uneven_pp=bool(pp),
        global_batch_tokens=gbs * seq if gbs else 4 * 2**20,
        max_global_batch_tokens=gbs * seq if gbs else 64 * 2**20)
    if cp is None and seq >= 8192:
        notes.append("cp searched")
    if gbs is None:
        notes.append("global batch ~4M tokens assumed")
    filters = {"dp": None if fsdp else _int(layout.get("dp")), "mps": _int(layout.get("model_parallel_size")), "gbs": gbs}
    return space, filters, notes


@dataclass
class _Prepared:
    row: dict
    shape: ModelShape
    gpu: object
    strategies: Strategies
    gpus: int
    notes: list


def _candidates(row: dict, shape: ModelShape, gpu, gpus: int, space: SearchSpace, filters: dict) -> Strategies:
    s = enumerate_strategies(shape, gpu, gpus, space)
    if filters["mps"]:
        s = s.take(np.asarray(s.tp) * np.asarray(s.pp) == filters["mps"])
    if filters["dp"] and len(s):
        keep = np.asarray(s.dp) == filters["dp"]
        s = s.take(keep) if keep.any() else s
    if filters["gbs"] and len(s):
        keep = np.asarray(s.global_batch_seqs) == filters["gbs"]
        s = s.take(keep) if keep.any() else s
    return s


def prepare(row: dict, catalog: Catalog) -> _Prepared | None:
    gpu = catalog.get(row["gpu"])
    shape, notes = row_shape(row)
    precision = _precision(row)
    space, filters, more = _space(row, shape, precision)
    notes += more
    layout = row.get("layout") or {}
    gpus = row.get("gpus")
    if not gpus and all(_int(layout.get(k)) for k in ("tp", "pp", "dp")):
        gpus = layout["tp"] * layout["pp"] * layout["dp"] * (_int(layout.get("cp")) or 1)
    if gpus:
        strategies = _candidates(row, shape, gpu, gpus, space, filters)
    elif row["metric"] == "gpu_hours":
        gpus = GPU_HOURS_ASSUMED_GPUS
        strategies = _candidates(row, shape, gpu, gpus, space, filters)
        notes.append(f"{gpus} GPUs assumed")
    else:
        strategies = None
        for n in (8 * 2**k for k in range(10)):
            s = _candidates(row, shape, gpu, n, space, filters)
            if len(s) and evaluate(shape, gpu, s, _memory_config(row)).fits.any():
                gpus, strategies = n, s
                break
        notes.append(f"{gpus} GPUs assumed (smallest that fits)")
    if strategies is None or not len(strategies):
        return None
    return _Prepared(row, shape, gpu, strategies, gpus, notes)


def _flops_per_token(row: dict, shape: ModelShape) -> tuple[float, str]:
    definition = (row.get("flops_definition") or "").lower()
    if "hardware" in definition or "megatron-lm" in definition or "4*2" in definition:
        return float(hardware_flops_per_token(shape, np.array(2))), "hardware FLOPs with full recompute (Megatron formula)"
    return float(model_flops_per_token(shape)), "model FLOPs 6N + 12·L·h·s"


def stack_factor(row: dict) -> float:
    """calibration.STACK_FACTOR for the row's stack; Megatron-family stacks before 2023 (no
    FlashAttention, no Transformer Engine) at calibration.PRE_FLASH_ATTENTION_FACTOR."""
    stack = row.get("stack") or "other"
    if stack in cal.MEGATRON_STACKS and (row.get("year") or 2024) <= 2022:
        return cal.PRE_FLASH_ATTENTION_FACTOR
    if "paxml" in (row.get("framework") or "").lower():
        return cal.STACK_FACTOR["paxml"]
    return cal.STACK_FACTOR.get(stack, 1.0)


def _memory_config(row: dict) -> MemoryConfig:
    """A row's stated share of the MoE all-to-all hidden behind compute (DeepSeek-V3's DualPipe: 1)."""
    overlap = (row.get("layout") or {}).get("a2a_overlap")
    return MemoryConfig() if overlap is None else MemoryConfig(a2a_overlap=float(overlap))


def tp_comm_overlap(row: dict) -> float:
    """Share of TP communication the row's stack hides (calibration.TP_COMM_OVERLAP): Megatron-Core /
    NeMo from 2024 on (Transformer Engine userbuffers overlap, on in their performance recipes);
    0 for every other stack and year (assumption: none of them documents it for these runs)."""
    stack = row.get("stack") or "other"
    return cal.TP_COMM_OVERLAP if stack == "nemo/megatron-core" and (row.get("year") or 0) >= 2024 else 0.0


def predict_prepared(p: _Prepared) -> RowPrediction:
    row, shape, gpu = p.row, p.shape, p.gpu
    overlap, factor = tp_comm_overlap(row), stack_factor(row)
    # the published-MFU envelope caps the row's final prediction (after its stack factor)
    ev = evaluate(shape, gpu, p.strategies, _memory_config(row), tp_comm_overlap=overlap,
                  envelope_scale=1.0 / factor)
    best = ev.fastest_fitting()
    notes = list(p.notes)
    if overlap:
        notes.append(f"{overlap:.0%} of TP communication hidden (Megatron-Core TP overlap)")
    if best is None:
        best = int(np.argmax(ev.tokens_per_second))
        notes.append("no searched layout fits the memory model; fastest taken")
    stack = row.get("stack") or "other"
    if factor != 1.0:
        notes.append(f"stack factor {factor}")
    per_gpu = float(ev.tokens_per_second[best]) / p.gpus * factor
    metric = row["metric"]
    if metric == "tokens_per_s_per_gpu":
        predicted = per_gpu
    elif metric == "tflops_per_gpu":
        fpt, convention = _flops_per_token(row, shape)
        predicted = per_gpu * fpt / 1e12
        notes.append(convention)
    elif metric == "mfu":
        peak = max(gpu.peak_flops.get("bf16", 0.0), gpu.peak_flops.get("fp16", 0.0))
        predicted = per_gpu * float(model_flops_per_token(shape)) / peak
        notes.append("MFU = model FLOPs / 16-bit peak")
    else:
        predicted = float(row["tokens"]) / per_gpu / 3600.0
    s = p.strategies.at(best)
    layout = (f"{p.gpus} GPUs t{s.tp} p{s.pp} c{s.cp} v{s.vpp} d{s.dp} z{s.zero} b{s.micro_batch} m{s.grad_accum} "
              f"{s.recompute} {s.precision}")
    breakdown = {k: float(v[best]) for k, v in ev.time.items()}
    if breakdown.get("mfu_envelope", 0.0) > 0.0:
        notes.append(f"capped at the published-MFU envelope (+{breakdown['mfu_envelope'] / breakdown['total']:.0%} of the step)")
    return RowPrediction(
        name=row["name"], family=row["family"], split=row["split"], metric=metric, gpu=row["gpu"],
        generation=generation(gpu), stack=stack, size_bucket=row.get("size_bucket", ""), kind=row.get("kind", ""),
        reported=float(row["value"]), predicted=predicted, tokens_per_s_per_gpu=per_gpu,
        envelope=bool(row.get("includes_downtime")), layout=layout, assumption="; ".join(notes), breakdown=breakdown)


@lru_cache(maxsize=4)
def _prepared_all(path: str) -> tuple:
    catalog = load_catalog()
    return tuple(p for p in (prepare(r, catalog) for r in load_rows(Path(path))) if p is not None)


def predict_all(path: Path = DATA_FILE, split: str | None = None) -> list[RowPrediction]:
    """Every row that can be predicted (rows without a usable layout are skipped and listed by
    ``skipped``), optionally of one split only."""
    return [predict_prepared(p) for p in _prepared_all(str(path)) if split is None or p.row["split"] == split]


def skipped(path: Path = DATA_FILE) -> list[str]:
    done = {p.row["name"] for p in _prepared_all(str(path))}
    return [r["name"] for r in load_rows(path) if r["name"] not in done]


def best_published_mfu(path: Path = DATA_FILE, split: str | None = None) -> dict[tuple[str, str], tuple[float, str]]:
    """(generation, precision) -> (best reported MFU, row name) over the clean rows (of one split):
    the row's reported throughput as model FLOPs (6·N + 12·L·h·s per token, the planner's
    convention) over the dense peak of the row's precision. calibration.MFU_ENVELOPE holds the
    calibration split's values."""
    best: dict[tuple[str, str], tuple[float, str]] = {}
    for p in _prepared_all(str(path)):
        row = p.row
        if row.get("includes_downtime") or (split is not None and row["split"] != split):
            continue
        r = predict_prepared(p)
        precision = _precision(row)
        peak = p.gpu.peak_flops.get(precision, 0.0)
        if peak <= 0:
            continue
        reported_tokens_per_s = r.tokens_per_s_per_gpu * r.time_ratio
        mfu = reported_tokens_per_s * float(model_flops_per_token(p.shape)) / peak
        key = (r.generation, precision)
        if key not in best or mfu > best[key][0]:
            best[key] = (mfu, row["name"])
    return best


# --- summaries --------------------------------------------------------------------------------

def clean(rows, split: str | None = None) -> list[RowPrediction]:
    return [r for r in rows if not r.envelope and (split is None or r.split == split)]


def family_weights(rows) -> np.ndarray:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.family] = counts.get(r.family, 0) + 1
    return np.array([1.0 / counts[r.family] for r in rows])


def summary(rows) -> dict:
    """Median |error|, mean signed error (of GPU time), max |error|, count."""
    if not rows:
        return {"n": 0}
    errors = np.array([r.error for r in rows])
    return {"n": len(rows), "median_abs": float(np.median(np.abs(errors))), "mean_signed": float(errors.mean()),
            "max_abs": float(np.abs(errors).max())}


def weighted_quantile(values, weights, q: float) -> float:
    order = np.argsort(values)
    v, w = np.asarray(values, dtype=float)[order], np.asarray(weights, dtype=float)[order]
    cdf = (np.cumsum(w) - 0.5 * w) / w.sum()
    return float(np.interp(q, cdf, v))


def interval_quantiles(rows, levels=(0.1, 0.5, 0.9)) -> dict[str, float]:
    """Quantiles of log(reported / predicted GPU time) over ``rows`` (clean rows only), each row
    weighted 1/(rows of its family) so that sweeps of one recipe count once."""
    rows = clean(rows)
    residuals = np.array([-np.log(r.time_ratio) for r in rows])
    weights = family_weights(rows)
    return {f"q{int(round(100 * q)):02d}": weighted_quantile(residuals, weights, q) for q in levels}


def coverage(rows, quantiles: dict[str, float]) -> float:
    """Share of clean rows whose reported GPU time lies in predicted × exp([q10, q90])."""
    rows = clean(rows)
    if not rows:
        return float("nan")
    residuals = np.array([-np.log(r.time_ratio) for r in rows])
    return float(np.mean((residuals >= quantiles["q10"]) & (residuals <= quantiles["q90"])))


def family_cv_coverage(residuals: list[dict], levels=(0.1, 0.9)) -> dict[str, float]:
    """Share of rows, per split, whose residual (``log_ratio`` = log reported/predicted GPU time) lies
    inside the P10–P90 band built from the other families' residuals (family-weighted), i.e. how
    often the band covers a run of a family it has never seen."""
    families = np.array([r["family"] for r in residuals])
    values = np.array([r["log_ratio"] for r in residuals], dtype=float)
    counts = {f: int(np.sum(families == f)) for f in set(families)}
    weights = np.array([1.0 / counts[f] for f in families])
    hits: dict[str, list[bool]] = {}
    for r, value, fam in zip(residuals, values, families):
        other = families != fam
        lo, hi = (weighted_quantile(values[other], weights[other], q) for q in levels)
        hits.setdefault(r["split"], []).append(bool(lo <= value <= hi))
    return {split: float(np.mean(h)) for split, h in hits.items()}


# Rows the model misses by more than 35 % and why (name prefix → reason), shown in the tables.
_FSDP = ("FSDP modelled as ZeRO-3 over all ranks through the network, parameters gathered per micro-batch; "
         "the run's hybrid/intra-node sharding and prefetch are not in the row or the model")
_RECOMPUTE = ("the memory model admits only full recompute for this layout (selective does not fit), "
              "the stack's finer activation checkpointing is not one of the planner's choices")
NAMED_REASONS: dict[str, str] = {
    "tinyllama-1.1b": _FSDP + "; b = 1 forced (the memory model keeps the s² scores without recompute)",
    "torchtitan-llama2-13b-a100-64gpu-noac": _FSDP + "; no layout fits the memory model without recompute",
    "dgxc-llama2-70b-maxtext-fp8": _FSDP + "; " + _RECOMPUTE + " (MaxText remat policy)",
    "dgxc-gpt3-175b-paxml-fp8": _FSDP + " (175B weights re-gathered every micro-batch dominate)",
    "dgxc-gpt3-5b-paxml-fp8": "Paxml FP8: the model's FP8 gain is only on GEMMs, while the ZeRO-3 gathers and "
                              "memory-bound kernels it predicts here do not speed up; the Paxml stack factor "
                              "0.785 was measured on 175B only",
    "ibm-fsdp-llama2-7b-h100": "the H100 cluster had an 800 Gb/s inter-node interconnect (quoted), an eighth of "
                               "the catalog H100 node's 8 × 400 Gb/s that the model assumes for the FSDP gathers",
    "ibm-fsdp-llama2-13b-h100": "the H100 cluster had an 800 Gb/s inter-node interconnect (quoted), an eighth of "
                                "the catalog H100 node's 8 × 400 Gb/s that the model assumes for the FSDP gathers",
    "dgxc-nemotron4-340b-bf16-128gpu": _RECOMPUTE + " (at d = 2; the 2048-GPU column of the same recipe, "
                                       "selective recompute, is within 3 %); no head count in the row",
    "dgxc-nemotron4-340b-fp8-128gpu": _RECOMPUTE + " (at d = 2; the 2048-GPU column of the same recipe, "
                                      "selective recompute, is within 3 %); no head count in the row",
    "mbridge2511-llama3_70b-h100-fp8": _RECOMPUTE + " (at d = 2, p = 8)",
    "nemo2407-gpt3-20b-h100-fp8": "distributed-optimizer parameter all-gather charged as exposed; Megatron-Core "
                                  "overlaps it with the next forward (--overlap-param-gather); no architecture in the row",
    "mcore-r0.8-32b-h100": "tensor-parallel communication charged as exposed at t = 8; the run overlaps it "
                           "(--tp-comm-overlap, stated in the row) and the parameter gather (--overlap-param-gather)",
}


def named_reason(row: RowPrediction) -> str:
    if abs(row.error) <= 0.35:
        return ""
    if row.envelope:
        return "model-card GPU-hours: an upper envelope (downtime, evaluation, long-context and annealing stages)"
    return next((why for prefix, why in NAMED_REASONS.items() if row.name.startswith(prefix)), "unexplained")
