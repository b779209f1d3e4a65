"""``planner best`` (best model for a budget/deadline) and ``planner cost`` (cheapest/fastest way to train a model).

No ``from __future__ import annotations`` here: typer would evaluate every option's annotation string
at each call (issue #17: half of building the command).
"""

from pathlib import Path
from typing import Optional

import typer

from planner.analysis.defaults import with_default_notes
from planner.interfaces.cli.application import app
from planner.interfaces.cli.common import (CatalogOption, CheckpointBandwidthOption, FailureRateOption, GridOption,
                                          LossToleranceOption, ProviderOption, SpotOption,
                                          RegionOption, RestartTimeOption, StartupTimeOption, check_finite, FrameworkOption,
                                          MinRentalHoursOption, ConfidenceOption,
                                          load_catalog_files, print_json, realism_fields)
from planner.search.solver import solve
from planner.types.availability import parse_availability
from planner.types.errors import InputError, validate_model
from planner.types.requests import SolveRequest
from planner.types.units import parse_count, parse_duration_s, parse_money_usd

GPUS_HELP = "availability: GPU:COUNT[:rent|owned|buy],... e.g. h100-sxm:256,a100-80gb:512 (default: every catalog GPU, rented, up to 1024 each)"


def _count(value: Optional[str], field: str) -> Optional[float]:
    return None if value is None else parse_count(value, field)


def _build_request(**fields):
    """SolveRequest from CLI strings (amounts like 250k/$1.2M, durations like 30d/720h)."""
    data = {k: v for k, v in fields.items() if v is not None}
    if "budget_usd" in data:
        data["budget_usd"] = parse_money_usd(data["budget_usd"], "budget_usd")
    if "deadline" in data:
        data["deadline_hours"] = parse_duration_s(data.pop("deadline"), "deadline") / 3600.0
    if "gpus" in data:
        data["availability"] = parse_availability(data.pop("gpus"))
    if "precisions" in data:
        data["precisions"] = [p.strip().lower() for p in data["precisions"].split(",") if p.strip()]
    for name in ("params", "tokens", "unique_tokens", "inference_tokens", "global_batch_tokens",
                 "max_global_batch_tokens"):
        if name in data:
            data[name] = _count(data[name], name)
    return validate_model(SolveRequest, data)


def _catalog(files):
    return load_catalog_files(files)


def _answer(request, catalog_files, json_output: bool, out: Optional[Path]) -> None:
    # rich (render) and the plan-file types are imported only when used: `--json` without `--out`
    # needs neither (issue #17: a cold `planner best --json` is mostly start-up)
    result = solve(request, catalog=_catalog(catalog_files))
    if not result.feasible:
        if json_output:
            print_json(result.infeasibility)
        else:
            from planner.interfaces.render import render_infeasible

            render_infeasible(result.infeasibility)
        raise typer.Exit(1)
    plan = with_default_notes(request, result.plan)
    data = check_finite(plan, "request")      # the plan as JSON data, dumped once
    if out is not None:
        from planner.types.plan_file import plan_file_from_plan, write_plan_file

        write_plan_file(plan_file_from_plan(plan), out)
    if json_output:
        print_json(data)
    else:
        from planner.interfaces.render import render_plan

        render_plan(plan)
        if out is not None:
            typer.echo(f"plan written to {out}")


@app.command()
def best(
    budget_usd: Optional[str] = typer.Option(None, "--budget-usd", help="money to spend, e.g. 250k, 2.5e5, $1.2M"),
    deadline: Optional[str] = typer.Option(None, help="wall-clock limit, e.g. 30d, 720h (default limit: 90d)"),
    gpus: Optional[str] = typer.Option(None, help=GPUS_HELP),
    precisions: Optional[str] = typer.Option(None, help="allowed precisions, comma-separated (default bf16,fp16,fp32; add fp8)"),
    seq_len: int = typer.Option(4096, help="sequence length"),
    family: str = typer.Option("gpt", help="shape rule for model sizes: gpt (4h MLP, MHA, tied 32k vocab) | llama3 "
                                            "(SwiGLU, 8 KV heads, untied 128k vocab, several shapes per size)"),
    vocab: Optional[int] = typer.Option(None, help="vocabulary size (default: the family's)"),
    unique_tokens: Optional[str] = typer.Option(None, help="unique training data available (tokens); more is repeated"),
    inference_tokens: Optional[str] = typer.Option(None, help="lifetime tokens to serve; their cost counts in the budget"),
    power_cap_kw: Optional[float] = typer.Option(None, help="facility power cap (kW)"),
    electricity_usd_per_kwh: float = typer.Option(0.10, help="electricity price for owned/bought GPUs"),
    law: Optional[str] = typer.Option(None, help="scaling law preset or file (default besiroglu)"),
    global_batch_tokens: Optional[str] = typer.Option(None, help="tokens per optimizer step (default 4M)"),
    max_global_batch_tokens: Optional[str] = typer.Option(None, help="batch limit (default 16M tokens)"),
    allow_mixed: bool = typer.Option(False, "--allow-mixed", help="let one job mix GPU types"),
    allow_moe: bool = typer.Option(False, "--allow-moe", help="let the search choose a mixture-of-experts model "
                                                              "(scored with the joint MoE law ludziejewski2025)"),
    failure_rate: Optional[float] = FailureRateOption,
    checkpoint_bandwidth: Optional[str] = CheckpointBandwidthOption,
    restart_time: Optional[str] = RestartTimeOption,
    startup_time: Optional[str] = StartupTimeOption,
    region: Optional[str] = RegionOption,
    grid_gco2_per_kwh: Optional[float] = GridOption,
    min_rental_hours: Optional[float] = MinRentalHoursOption,
    confidence: Optional[float] = ConfidenceOption,
    loss_tolerance: Optional[float] = LossToleranceOption,
    provider: Optional[str] = ProviderOption,
    spot: bool = SpotOption,
    framework: Optional[str] = FrameworkOption,
    catalog: Optional[list[Path]] = CatalogOption,
    out: Optional[Path] = typer.Option(None, "--out", help="write the plan as a plan file (TOML, or JSON by suffix)"),
    json_output: bool = typer.Option(False, "--json", help="print the Plan as JSON"),
) -> None:
    """The best model (lowest predicted loss) you can train with this money and time."""
    if allow_moe and out is not None:
        raise InputError("out: plan files do not describe mixture-of-experts models yet; drop --out or --allow-moe",
                         "out")
    request = _build_request(objective="min_loss", budget_usd=budget_usd, deadline=deadline, gpus=gpus,
                             precisions=precisions, seq_len=seq_len, family=family, vocab=vocab, unique_tokens=unique_tokens,
                             inference_tokens=inference_tokens, power_cap_kw=power_cap_kw,
                             electricity_usd_per_kwh=electricity_usd_per_kwh, law=law,
                             global_batch_tokens=global_batch_tokens, max_global_batch_tokens=max_global_batch_tokens,
                             allow_mixed=allow_mixed, min_rental_hours=min_rental_hours,
                             **realism_fields(failure_rate, checkpoint_bandwidth, restart_time, startup_time, region,
                                              grid_gco2_per_kwh),
                             confidence=confidence, loss_tolerance=loss_tolerance, provider=provider,
                             spot=spot or None, framework=framework,
                             **({"allow_moe": True} if allow_moe else {}))
    _answer(request, catalog, json_output, out)


@app.command()
def cost(
    params: str = typer.Option(..., help="model parameters, e.g. 7e9, 7B"),
    tokens: Optional[str] = typer.Option(None, help="training tokens, e.g. 2T (or give --target-loss)"),
    target_loss: Optional[float] = typer.Option(None, help="train until the law predicts this loss"),
    deadline: Optional[str] = typer.Option(None, help="finish within, e.g. 60d (default limit: 90d)"),
    budget_usd: Optional[str] = typer.Option(None, "--budget-usd", help="spend at most"),
    fastest: bool = typer.Option(False, "--fastest", help="minimise wall-clock instead of dollars"),
    gpus: Optional[str] = typer.Option(None, help=GPUS_HELP),
    precisions: Optional[str] = typer.Option(None, help="allowed precisions (default bf16,fp16,fp32; add fp8)"),
    seq_len: int = typer.Option(4096, help="sequence length"),
    family: str = typer.Option("gpt", help="shape rule for model sizes: gpt (4h MLP, MHA, tied 32k vocab) | llama3 "
                                            "(SwiGLU, 8 KV heads, untied 128k vocab, several shapes per size)"),
    vocab: Optional[int] = typer.Option(None, help="vocabulary size (default: the family's)"),
    power_cap_kw: Optional[float] = typer.Option(None, help="facility power cap (kW)"),
    electricity_usd_per_kwh: float = typer.Option(0.10, help="electricity price for owned/bought GPUs"),
    law: Optional[str] = typer.Option(None, help="scaling law preset or file (for the predicted loss)"),
    allow_mixed: bool = typer.Option(False, "--allow-mixed", help="let one job mix GPU types"),
    failure_rate: Optional[float] = FailureRateOption,
    checkpoint_bandwidth: Optional[str] = CheckpointBandwidthOption,
    restart_time: Optional[str] = RestartTimeOption,
    startup_time: Optional[str] = StartupTimeOption,
    region: Optional[str] = RegionOption,
    grid_gco2_per_kwh: Optional[float] = GridOption,
    min_rental_hours: Optional[float] = MinRentalHoursOption,
    confidence: Optional[float] = ConfidenceOption,
    provider: Optional[str] = ProviderOption,
    spot: bool = SpotOption,
    framework: Optional[str] = FrameworkOption,
    catalog: Optional[list[Path]] = CatalogOption,
    out: Optional[Path] = typer.Option(None, "--out", help="write the plan as a plan file"),
    json_output: bool = typer.Option(False, "--json", help="print the Plan as JSON"),
) -> None:
    """The cheapest (or, with --fastest, the fastest) way to train a given model."""
    request = _build_request(objective="min_time" if fastest else "min_cost", params=params, tokens=tokens,
                             target_loss=target_loss, deadline=deadline, budget_usd=budget_usd, gpus=gpus,
                             precisions=precisions, seq_len=seq_len, family=family, vocab=vocab, power_cap_kw=power_cap_kw,
                             electricity_usd_per_kwh=electricity_usd_per_kwh, law=law, allow_mixed=allow_mixed, min_rental_hours=min_rental_hours,
                             **realism_fields(failure_rate, checkpoint_bandwidth, restart_time, startup_time, region,
                                              grid_gco2_per_kwh),
                             confidence=confidence, provider=provider, spot=spot or None,
                             framework=framework)
    _answer(request, catalog, json_output, out)
