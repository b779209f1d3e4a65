"""``planner estimate``: the cost of one training run."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from planner.analysis.estimate import estimate as run_estimate
from planner.interfaces.cli.application import app
from planner.interfaces.cli.common import (CatalogOption, CheckpointBandwidthOption, FailureRateOption, GridOption,
                                          RegionOption, RestartTimeOption, StartupTimeOption, realism_fields, FfnHiddenOption, KvHeadsOption, MlpOption, ModelOption,
                                          TiedOption, VocabOption, FrameworkOption, load_catalog_files, print_json)
from planner.interfaces.render import render_estimate
from planner.types.errors import validate_model
from planner.types.estimates import EstimateRequest
from planner.types.units import parse_count, parse_int


def parse_optional_count(value: Optional[str], field: str) -> Optional[float]:
    return None if value is None else parse_count(value, field)


@app.command()
def estimate(
    params: Optional[str] = typer.Option(None, help="parameters, e.g. 70e9, 70B (or give --layers/--hidden/--heads)"),
    tokens: str = typer.Option(..., help="training tokens, e.g. 2T, 1.5e12"),
    gpu: str = typer.Option(..., help="GPU id from `planner catalog`"),
    gpus: str = typer.Option(..., help="number of GPUs"),
    seq_len: int = typer.Option(4096, help="sequence length"),
    layers: Optional[int] = typer.Option(None, help="transformer layers (default: derived from params)"),
    hidden: Optional[int] = typer.Option(None, help="hidden size"),
    heads: Optional[int] = typer.Option(None, help="attention heads"),
    model: Optional[str] = ModelOption,
    kv_heads: Optional[int] = KvHeadsOption,
    ffn_hidden: Optional[int] = FfnHiddenOption,
    mlp: Optional[str] = MlpOption,
    vocab: Optional[int] = VocabOption,
    tied_embeddings: Optional[bool] = TiedOption,
    tp: Optional[int] = typer.Option(None, help="tensor-parallel size"),
    pp: Optional[int] = typer.Option(None, help="pipeline-parallel size (need not divide the layers: the last "
                                                "stages then hold a layer less)"),
    cp: Optional[int] = typer.Option(None, help="context-parallel size (default: searched for sequences > 8k)"),
    vpp: Optional[int] = typer.Option(None, help="virtual pipeline stages per GPU (interleaved 1F1B)"),
    ep: Optional[int] = typer.Option(None, help="expert-parallel size (MoE; must divide the experts and dp·cp)"),
    a2a_overlap: Optional[float] = typer.Option(None, help="share 0-1 of the MoE all-to-all hidden behind compute "
                                                           "(default 0; DeepSeek's DualPipe hides it: 1)"),
    experts: Optional[int] = typer.Option(None, help="routed experts per MoE layer (overrides the model's)"),
    top_k: Optional[int] = typer.Option(None, help="routed experts per token"),
    shared_experts: Optional[int] = typer.Option(None, help="always-on shared experts per MoE layer"),
    expert_ffn_hidden: Optional[int] = typer.Option(None, help="inner width of one routed expert"),
    first_dense_layers: Optional[int] = typer.Option(None, help="leading dense (non-MoE) layers"),
    zero: Optional[int] = typer.Option(None, help="ZeRO stage 0-3 (3 = FSDP full shard)"),
    precision: Optional[str] = typer.Option(None, help="fp32 | tf32 | fp16 | bf16 | fp8"),
    recompute: Optional[str] = typer.Option(None, help="none | selective | full"),
    micro_batch: Optional[int] = typer.Option(None, help="sequences per micro-batch"),
    global_batch_tokens: Optional[str] = typer.Option(None, help="tokens per optimizer step (default 4M)"),
    price_usd_per_gpu_hour: Optional[float] = typer.Option(None, help="override the catalog's rent price"),
    catalog: Optional[list[Path]] = CatalogOption,
    failure_rate: Optional[float] = FailureRateOption,
    checkpoint_bandwidth: Optional[str] = CheckpointBandwidthOption,
    restart_time: Optional[str] = RestartTimeOption,
    startup_time: Optional[str] = StartupTimeOption,
    region: Optional[str] = RegionOption,
    grid_gco2_per_kwh: Optional[float] = GridOption,
    provider: Optional[str] = typer.Option(None, help="bill on a provider's rental terms (billing increment, minimum "
                                                      "block, whole nodes), e.g. aws, lambda-1cc, aws-capacity-blocks"),
    framework: Optional[str] = FrameworkOption,
    json_output: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Predict memory, step time, MFU, wall-clock, GPU-hours, dollars and energy of one run."""
    request = validate_model(EstimateRequest, {
        "params": parse_optional_count(params, "params"), "tokens": parse_optional_count(tokens, "tokens"),
        "gpu": gpu, "gpus": parse_int(gpus, "gpus"), "seq_len": seq_len, "layers": layers, "hidden": hidden,
        "heads": heads, "model": model, "kv_heads": kv_heads, "ffn_hidden": ffn_hidden, "mlp": mlp, "vocab": vocab,
        "tied_embeddings": tied_embeddings, "tp": tp, "pp": pp, "cp": cp, "vpp": vpp, "ep": ep, "a2a_overlap": a2a_overlap, "experts": experts,
        "top_k": top_k, "shared_experts": shared_experts, "expert_ffn_hidden": expert_ffn_hidden,
        "first_dense_layers": first_dense_layers, "zero": zero, "precision": precision, "recompute": recompute,
        "micro_batch": micro_batch, "global_batch_tokens": parse_optional_count(global_batch_tokens, "global_batch_tokens"),
        "price_usd_per_gpu_hour": price_usd_per_gpu_hour,
        "provider": provider, "framework": framework,
        **realism_fields(failure_rate, checkpoint_bandwidth, restart_time, startup_time, region, grid_gco2_per_kwh),
    })
    result = run_estimate(request, load_catalog_files(catalog))
    if json_output:
        print_json(result)
    else:
        render_estimate(result)
