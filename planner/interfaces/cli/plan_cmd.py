"""``planner validate | export | compare | schema``: work with a plan file a person wrote or saved.

Thin layer: read the file (``planner.types.plan_file``), call ``planner.analysis.validate`` / ``planner.interfaces.exporters``
/ ``planner.economics.rent_vs_buy``, print. ``validate`` exits 1 when the plan has errors (a bad plan is an
answer, not a usage error); malformed files exit 2 through ``planner.interfaces.cli.main``. A plan with a
[finetune] table is costed by the fine-tuning model (``planner.analysis.finetune``) in every command.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Optional

import typer

from planner.analysis.estimate import estimate
from planner.analysis.finetune import plan_file_to_finetune_request, plan_finetune
from planner.analysis.validate import assumptions_for, validate_plan
from planner.economics.rent_vs_buy import compare_rent_vs_buy
from planner.interfaces.cli.application import app
from planner.interfaces.cli.common import CatalogOption, FrameworkOption, load_catalog_files, print_json
from planner.interfaces.exporters import FinetuneRun, export_plan, plan_for_target
from planner.types.errors import InputError, validate_model
from planner.types.plan_file import (
    StrategySection,
    plan_file_json_schema,
    plan_file_to_estimate_request,
    read_plan_file,
)
from planner.types.requests import SolveRequest
from planner.types.results import Plan

PlanArgument = typer.Argument(..., help="plan file (.toml, or .json)")
JsonOption = typer.Option(False, "--json", help="print one JSON object")


def _num(x: float, digits: int = 3) -> str:
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.{digits}g}{unit}"
    return f"{x:.{digits}g}"


def with_framework(plan_file, framework: Optional[str]):
    """The plan with ``[strategy] framework`` set (None: as written)."""
    if framework is None:
        return plan_file
    strategy = validate_model(StrategySection, {**plan_file.strategy.model_dump(), "framework": framework.strip().lower()})
    return plan_file.model_copy(update={"strategy": strategy})


def costed(plan_file, catalog):
    """The plan with every strategy field resolved: an ``Estimate``, or a ``FinetuneRun`` for [finetune]."""
    if plan_file.finetune is not None:
        return FinetuneRun.of(plan_finetune(plan_file_to_finetune_request(plan_file), catalog))

    return estimate(plan_file_to_estimate_request(plan_file), catalog)


def title_of(plan_file, report, file_name: str) -> str:
    title = plan_file.name or file_name
    e, ft, mode = report.estimate, report.finetune, plan_file.hardware.mode
    if e is not None:
        title += f": {_num(e.params)} params, {_num(e.tokens)} tokens, {e.gpus} × {e.gpu} ({mode})"
    elif ft is not None:
        title += (f": {plan_file.finetune.method} fine-tuning of {_num(ft.params)} params on {_num(ft.tokens)} tokens, "
                  f"{ft.choice.gpus} × {ft.choice.gpu} ({mode})")
    return title


def render_checks(report) -> list[str]:
    """One line per check: status, name, message (the message holds the number)."""
    return [f"{c.status:<8}{c.name:<14}{c.message}" for c in report.checks]


def _co2(kg) -> str:
    return "n/a" if kg is None else f"{kg / 1000:,.1f} tCO2e"


def side_by_side(report) -> list[str]:
    """The plan and the solver's best plan under the same money and time, in two columns."""
    e, alt = report.estimate, report.alternative
    if e is None or alt is None:
        return []
    s, a = e.strategy, alt["strategy"]

    def layout(x) -> str:
        get = x.get if isinstance(x, dict) else (lambda k: getattr(x, k))
        return f"TP{get('tp')} PP{get('pp')} DP{get('dp')} Z{get('zero')} {get('precision')} rc={get('recompute')}"

    rows = [("params", _num(e.params), _num(alt["params"])), ("tokens", _num(e.tokens), _num(alt["tokens"])),
            ("tokens/param", f"{e.tokens / e.params:.1f}", f"{alt['tokens'] / alt['params']:.1f}"),
            ("loss", f"{report.loss:.3f}", f"{alt['loss']:.3f}"),
            ("GPUs", f"{e.gpus} × {e.gpu}", f"{alt['gpus']} × {alt['gpu']}"),
            ("layout", layout(s), layout(a)),
            ("MFU", f"{e.mfu:.1%}", f"{alt['mfu']:.1%}"),
            ("wall-clock", f"{e.wall_clock_hours:,.0f} h", f"{alt['wall_clock_hours']:,.0f} h"),
            ("goodput", f"{e.goodput:.1%}", f"{alt.get('goodput', 1.0):.1%}"),
            ("interruptions", f"{e.expected_interruptions:,.1f}", f"{alt.get('expected_interruptions', 0.0):,.1f}"),
            ("cost", f"${e.cost_usd:,.0f}", f"${alt['cost_usd']:,.0f}"),
            ("energy", f"{e.energy_kwh:,.0f} kWh", f"{alt['energy_kwh']:,.0f} kWh"),
            ("CO2", _co2(e.co2_kg), _co2(alt.get('co2_kg')))]
    width = max(len(r[1]) for r in rows) + 2
    lines = ["", f"{'':<14}{'this plan':<{width}}solver's best (same money and time)"]
    lines += [f"{name:<14}{mine:<{width}}{theirs}" for name, mine, theirs in rows]
    return lines


@app.command()
def validate(
    plan: Path = PlanArgument,
    alternative: bool = typer.Option(True, "--alternative/--no-alternative",
                                     help="also ask the solver what the same money and time would buy"),
    framework: Optional[str] = FrameworkOption,
    catalog: Optional[list[Path]] = CatalogOption,
    json_output: bool = JsonOption,
) -> None:
    """Check a plan before buying or launching: memory, layout, batch, MFU, time, money, power, tokens/param.

    Exit code 0: no errors (warnings allowed); 1: the plan has errors; 2: the file is malformed.
    """
    plan_file = with_framework(read_plan_file(plan), framework)
    report = validate_plan(plan_file, load_catalog_files(catalog), alternative=alternative, origin=str(plan))
    if json_output:
        data = report.model_dump(mode="json")
        data["errors"], data["warnings"] = len(report.errors), len(report.warnings)
        print_json(data)
    else:
        typer.echo(title_of(plan_file, report, plan.name))
        for line in render_checks(report) + side_by_side(report):
            typer.echo(line)
        if report.alternative_error and alternative:
            typer.echo(f"\n(no side-by-side: {report.alternative_error})")
        typer.echo(f"\n{len(report.errors)} error(s), {len(report.warnings)} warning(s)")
    if report.errors:
        raise typer.Exit(1)


@app.command()
def export(
    plan: Path = PlanArgument,
    to: str = typer.Option(..., "--to", help="deepspeed | megatron | torchtitan | fsdp"),
    out: Optional[Path] = typer.Option(None, "--out", help="write here instead of stdout"),
    catalog: Optional[list[Path]] = CatalogOption,
) -> None:
    """Write the plan as a launch config; keys the target cannot express are listed on stderr.

    The plan is costed for the target first (its layout rules and memory accounting); a layout the target
    does not run is refused (exit 2)."""
    plan_file, notes = plan_for_target(read_plan_file(plan), to)
    resolved = costed(plan_file, load_catalog_files(catalog))
    result = export_plan(resolved, to)
    result = replace(result, unsupported=notes + result.unsupported)
    if out is None:
        typer.echo(result.text, nl=False)
    else:
        out.write_text(result.text, encoding="utf-8")
        typer.echo(f"wrote {out}", err=True)
    if not resolved.fits:
        typer.echo(f"warning: this plan does not fit in memory ({resolved.memory_per_gpu_bytes / 1e9:.1f} GB > "
                   f"{resolved.usable_memory_per_gpu_bytes / 1e9:.1f} GB usable); run planner validate", err=True)
    for item in result.unsupported:
        typer.echo(f"not expressed in {result.target}: {item}", err=True)


def _assumptions(plan_file, overrides: dict):
    from dataclasses import replace


    base = assumptions_for(plan_file)
    values = {k: v for k, v in overrides.items() if v is not None}
    return replace(base, **values) if values else base


def _months(x: float) -> str:
    return "never" if not math.isfinite(x) else f"{x:.1f}"


def _share(x: float) -> str:
    return "never" if not math.isfinite(x) or x > 1 else f"{x:.0%}"


@app.command()
def compare(
    plan: Path = PlanArgument,
    buy: bool = typer.Option(False, "--buy", help="rent vs buy: total cost of owning against renting"),
    lifetime_years: Optional[float] = typer.Option(None, help="years the purchase is amortised over (default 4)"),
    electricity_usd_per_kwh: Optional[float] = typer.Option(None, help="default 0.10"),
    pue: Optional[float] = typer.Option(None, help="power usage effectiveness (default 1.2)"),
    hosting_usd_per_gpu_month: Optional[float] = typer.Option(None, help="colocation per GPU-month (default 150)"),
    utilisation: Optional[float] = typer.Option(None, help="share of the lifetime owned GPUs do useful work (default 0.7)"),
    purchase_price_usd: Optional[float] = typer.Option(None, help="your price per GPU incl. server share"),
    price_usd_per_gpu_hour: Optional[float] = typer.Option(None, help="your rent price"),
    catalog: Optional[list[Path]] = CatalogOption,
    json_output: bool = JsonOption,
) -> None:
    """Compare the plan: with --buy, owning against renting; without, against the solver's best plan."""
    from dataclasses import asdict


    plan_file = read_plan_file(plan)
    cat = load_catalog_files(catalog)
    if not buy:
        report = validate_plan(plan_file, cat, alternative=True, origin=str(plan))
        if json_output:
            run = report.estimate or (report.finetune.choice if report.finetune else None)
            print_json({"plan": run.model_dump(mode="json") if run else None,
                        "loss": report.loss, "alternative": report.alternative, "error": report.alternative_error})
            return
        lines = side_by_side(report) or [""] + [c.message for c in report.checks if c.name == "alternative"]
        typer.echo("\n".join(lines[1:]) if lines[1:] else f"no alternative: {report.alternative_error}")
        return
    a = _assumptions(plan_file, dict(lifetime_years=lifetime_years, electricity_usd_per_kwh=electricity_usd_per_kwh,
                                     pue=pue, hosting_usd_per_gpu_month=hosting_usd_per_gpu_month, utilisation=utilisation))
    e = costed(plan_file, cat)
    gpu = cat.get(plan_file.hardware.gpu)
    result = compare_rent_vs_buy(gpu, e.gpus, e.wall_clock_hours, a,
                                 purchase_price_usd or plan_file.hardware.purchase_price_usd,
                                 price_usd_per_gpu_hour or plan_file.hardware.price_usd_per_gpu_hour)
    if json_output:
        data = asdict(result)
        for option in data["options"]:
            for key in ("break_even_utilisation", "break_even_months"):
                option[key] = option[key] if math.isfinite(option[key]) else None
        print_json(data)
        return
    c = result.cost
    typer.echo(f"Rent vs buy: {e.gpus} × {gpu.id}, this run {e.wall_clock_hours:,.0f} h (expected; goodput "
               f"{getattr(e, 'goodput', 1.0):.1%}), {e.energy_kwh:,.0f} kWh, {_co2(getattr(e, 'co2_kg', None))}")
    typer.echo(f"assumptions: lifetime {a.lifetime_years:g} y, electricity ${a.electricity_usd_per_kwh:.2f}/kWh, "
               f"PUE {a.pue:g}, hosting ${a.hosting_usd_per_gpu_month:,.0f}/GPU-month, utilisation {a.utilisation:.0%}")
    typer.echo(f"owning one GPU: purchase ${result.purchase_usd_per_gpu:,.0f} = ${c.capex_usd_per_hour:.3f}/h + hosting "
               f"${c.hosting_usd_per_hour:.3f}/h + power ${c.power_usd_per_busy_hour:.3f}/busy h "
               f"= ${result.owned_usd_per_useful_gpu_hour:.2f} per useful GPU-hour at {a.utilisation:.0%}")
    typer.echo(f"this run owned: ${result.run_cost_owned_usd:,.0f} amortised (cash ${result.run_cash_owned_usd:,.0f}); "
               f"buying the GPUs: ${result.purchase_total_usd:,.0f}")
    typer.echo("")
    typer.echo(f"{'rent at':<14}{'$/GPU-h':>9}{'this run':>13}{'cheaper':>9}{'break-even util':>17}{'months':>9}")
    for o in result.options:
        typer.echo(f"{o.label:<14}{o.rent_usd_per_gpu_hour:>9.2f}{'$' + format(o.run_cost_usd, ',.0f'):>13}"
                   f"{result.cheaper(o):>9}{_share(o.break_even_utilisation):>17}{_months(o.break_even_months):>9}")


@app.command()
def schema(
    kind: str = typer.Argument("plan", help="plan (plan file) | request (solver request) | result (solver plan)"),
) -> None:
    """Print the JSON Schema of plan files (or of solver requests and plans)."""
    if kind == "plan":
        data = plan_file_json_schema()
    elif kind == "request":
        data = SolveRequest.model_json_schema()
    elif kind == "result":
        data = Plan.model_json_schema()
    else:
        raise InputError(f"kind: unknown schema {kind!r}; allowed: plan, request, result", "kind")
    typer.echo(json.dumps(data, indent=2))
