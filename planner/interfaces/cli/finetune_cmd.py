"""``planner finetune``: can we fine-tune this model here (full, LoRA, QLoRA), how long, how much?"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from planner.analysis.finetune import plan_finetune
from planner.interfaces.cli.application import app
from planner.interfaces.cli.common import (CatalogOption, FrameworkOption, FfnHiddenOption, KvHeadsOption, MlpOption, ModelOption,
                                          TiedOption, VocabOption, load_catalog_files, print_json)
from planner.interfaces.render import (
    fmt_count,
    fmt_gb,
    fmt_hours,
    fmt_usd,
    strategy_line,
)
from planner.types.errors import validate_model
from planner.types.finetune import FinetuneRequest
from planner.types.units import (
    parse_count,
    parse_duration_s,
    parse_int,
    parse_money_usd,
)


def parse_gpus(text: Optional[str]) -> tuple[Optional[str], Optional[int]]:
    """``a100-40gb:8`` -> (type, count); ``a100-40gb`` -> (type, None); ``8`` -> (None, count)."""
    if text is None:
        return None, None
    kind, sep, count = text.strip().partition(":")
    if not sep:
        return (None, parse_int(kind, "gpus")) if kind[:1].isdigit() else (kind, None)
    return kind or None, parse_int(count, "gpus")


@app.command()
def finetune(
    base_params: Optional[str] = typer.Option(None, help="base model parameters, e.g. 70e9, 7B"),
    tokens: str = typer.Option(..., help="fine-tuning tokens (examples × epochs × seq len), e.g. 2e8, 80M"),
    method: Optional[str] = typer.Option(None, help="full | lora | qlora (default: the best of the three)"),
    rank: Optional[int] = typer.Option(None, help="LoRA rank (default 16 for lora, 64 for qlora)"),
    targets: Optional[str] = typer.Option(None, help="adapted projections: qv | attention | all"),
    base_quant: Optional[str] = typer.Option(None, help="frozen base format: bf16 | int8 | fp8 | nf4"),
    gpus: Optional[str] = typer.Option(None, help="TYPE[:COUNT], e.g. a100-40gb:8 (default: search the catalog)"),
    seq_len: int = typer.Option(2048, help="sequence length"),
    layers: Optional[int] = typer.Option(None, help="transformer layers (default: derived from params)"),
    hidden: Optional[int] = typer.Option(None, help="hidden size"),
    heads: Optional[int] = typer.Option(None, help="attention heads"),
    model: Optional[str] = ModelOption,
    kv_heads: Optional[int] = KvHeadsOption,
    ffn_hidden: Optional[int] = FfnHiddenOption,
    mlp: Optional[str] = MlpOption,
    vocab: Optional[int] = VocabOption,
    tied_embeddings: Optional[bool] = TiedOption,
    objective: str = typer.Option("min_cost", help="min_cost | min_time (aliases: cheapest, fastest)"),
    budget_usd: Optional[str] = typer.Option(None, help="spend at most, e.g. 500, 2k"),
    deadline: Optional[str] = typer.Option(None, help="finish within, e.g. 12h, 2d (bare number = hours)"),
    tp: Optional[int] = typer.Option(None, help="tensor-parallel size"),
    pp: Optional[int] = typer.Option(None, help="pipeline-parallel size"),
    zero: Optional[int] = typer.Option(None, help="ZeRO stage 0-3 (3 = FSDP full shard)"),
    recompute: Optional[str] = typer.Option(None, help="none | selective | full"),
    micro_batch: Optional[int] = typer.Option(None, help="sequences per micro-batch"),
    global_batch_sequences: int = typer.Option(128, help="sequences per optimizer step"),
    price_usd_per_gpu_hour: Optional[float] = typer.Option(None, help="override the catalog's rent price"),
    stack_efficiency: Optional[float] = typer.Option(None, help="measured/modelled throughput of your stack (default 0.213)"),
    framework: Optional[str] = FrameworkOption,
    catalog: Optional[list[Path]] = CatalogOption,
    json_output: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Fine-tune a model: does it fit, how long, how much; or the cheapest / fastest way to do it."""
    gpu, count = parse_gpus(gpus)
    data = {
        "base_params": None if base_params is None else parse_count(base_params, "base_params"),
        "tokens": parse_count(tokens, "tokens"), "method": method, "rank": rank, "targets": targets,
        "base_quant": base_quant, "gpu": gpu, "gpus": count, "seq_len": seq_len, "layers": layers,
        "hidden": hidden, "heads": heads, "model": model, "kv_heads": kv_heads, "ffn_hidden": ffn_hidden, "mlp": mlp,
        "vocab": vocab, "tied_embeddings": tied_embeddings, "objective": objective,
        "budget_usd": None if budget_usd is None else parse_money_usd(budget_usd),
        "deadline_hours": None if deadline is None else parse_duration_s(deadline) / 3600.0,
        "tp": tp, "pp": pp, "zero": zero, "recompute": recompute, "micro_batch": micro_batch,
        "global_batch_sequences": global_batch_sequences, "price_usd_per_gpu_hour": price_usd_per_gpu_hour,
        "framework": framework,
    }
    if stack_efficiency is not None:
        data["stack_efficiency"] = stack_efficiency
    request = validate_model(FinetuneRequest, data)
    result = plan_finetune(request, load_catalog_files(catalog))
    if json_output:
        print_json(result)
    else:
        render_finetune(result)
    if not result.feasible:  # an answer, not an error: exit 1 like every infeasible request
        raise typer.Exit(1)


def render_finetune(result) -> None:
    console = Console()
    verdict = "[green]feasible[/green]" if result.feasible else f"[red]INFEASIBLE ({result.binding_constraint})[/red]"
    console.print(f"[bold]fine-tune {fmt_count(result.params)} params on {fmt_count(result.tokens)} tokens "
                  f"({result.mode})[/bold]: {verdict}")
    console.print(result.message)
    c = result.choice
    if c is not None:
        method = c.method if c.method == "full" else f"{c.method} r={c.rank} on {c.targets}, {c.base_quant} base"
        console.print(f"{method}; {c.gpus} × {c.gpu} ({c.nodes} node{'s' if c.nodes > 1 else ''}); "
                      f"{strategy_line(c.strategy)}")
        table = Table(show_header=False)
        table.add_column("quantity")
        table.add_column("value", justify="right")
        for row in (("trainable params", fmt_count(c.trainable_params)),
                    ("memory per GPU", f"{fmt_gb(c.memory_per_gpu_bytes)} of {fmt_gb(c.usable_memory_per_gpu_bytes)} usable"),
                    ("wall-clock", fmt_hours(c.wall_clock_hours)), ("GPU-hours", f"{c.gpu_hours:,.1f}"),
                    ("cost (rent)", f"{fmt_usd(c.cost_usd)} at ${c.price_usd_per_gpu_hour:.2f}/GPU-h"),
                    ("throughput", f"{c.tokens_per_second:,.0f} tokens/s"), ("MFU", f"{100 * c.mfu:.1f} %"),
                    ("energy", f"{c.energy_kwh:,.1f} kWh")):
            table.add_row(*row)
        console.print(table)
        if not c.fits:
            mem = Table(title="Memory per GPU", show_header=True)
            mem.add_column("component")
            mem.add_column("GB", justify="right")
            for name, value in c.memory_breakdown_bytes.model_dump().items():
                mem.add_row(name.replace("_", " "), f"{value / 1e9:.2f}")
            console.print(mem)
        for note in c.notes:
            console.print(f"note: {note}")
    for fix in result.fixes:
        extra = "" if fix.option is None else (f": {fmt_hours(fix.option.wall_clock_hours)}, "
                                                f"{fmt_usd(fix.option.cost_usd)}")
        console.print(f"fix ({fix.kind}): {fix.description}{extra}")
    for alt in result.alternatives:
        console.print(f"alternative: {alt.method} on {alt.gpus} × {alt.gpu}: {fmt_hours(alt.wall_clock_hours)}, "
                      f"{fmt_usd(alt.cost_usd)}")
    for note in result.notes:
        console.print(f"[dim]{note}[/dim]")
