"""``planner frontier`` and ``planner sweep``: trade-offs of cost, wall-clock and loss, in numbers and pictures.

Pictures: ``planner frontier --plot F`` (cost vs loss, coloured by wall-clock) and ``planner sweep
--plot F`` (best N and D vs budget with the law's compute-optimal lines). F ends in .png or .svg.
The request-building helpers here are shared with ``planner plot`` (``plot_cmd``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from planner.analysis.frontier import compute_frontier, require_plans
from planner.analysis.sweep import (
    MIN_POINTS_PER_WORKER,
    compute_optimal_along,
    effective_workers,
    log_points,
    parse_range,
    row_from_plan,
    run_sweep,
    sweep_requests,
    write_csv,
)
from planner.interfaces.cli.application import app
from planner.interfaces.cli.common import (
    CatalogOption,
    LossToleranceOption,
    load_catalog_files,
    print_json,
    stderr_line,
)
from planner.interfaces.plots import (
    budget_figure,
    check_plot_path,
    frontier_figure,
    pyplot,
    save_figure,
)
from planner.interfaces.render import fmt_count, fmt_usd
from planner.types.availability import parse_availability
from planner.types.errors import InfeasibleError, InputError, validate_model
from planner.types.requests import SolveRequest
from planner.types.units import parse_count, parse_duration_s, parse_money_usd
from scaling_laws import load_law

GpusOption = typer.Option(None, "--gpus", help="available GPUs as ID:COUNT[:rent|owned|buy], repeatable "
                                               "(default: every catalog GPU, rented, up to 1024 each)")
PlotOption = typer.Option(None, "--plot", help="write a picture to this .png or .svg file")
LawOption = typer.Option(None, "--law", help="scaling law preset or TOML file (default: besiroglu)")


def parse_gpus(values: Optional[list[str]]):
    """Repeatable ``--gpus`` values (each may hold comma-separated entries) → availability entries."""
    return parse_availability(",".join(values)) if values else None


def build_request(objective: str = "min_loss", budget_usd: Optional[float] = None,
                  deadline_hours: Optional[float] = None, gpus: Optional[list[str]] = None,
                  params: Optional[str] = None, tokens: Optional[str] = None, law: Optional[str] = None,
                  seq_len: int = 4096, unique_tokens: Optional[str] = None, **extra):
    """``extra``: further SolveRequest fields (family, loss_tolerance, ...); None keeps the default."""
    count = lambda text, field: None if text is None else parse_count(text, field)
    return validate_model(SolveRequest, {
        "objective": objective, "budget_usd": budget_usd, "deadline_hours": deadline_hours,
        "availability": parse_gpus(gpus), "params": count(params, "params"), "tokens": count(tokens, "tokens"),
        "law": law, "seq_len": seq_len, "unique_tokens": count(unique_tokens, "unique_tokens"),
        **{k: v for k, v in extra.items() if v is not None}})


def money(text: Optional[str]) -> Optional[float]:
    return None if text is None else parse_money_usd(text, "budget_usd")


def hours(text: Optional[str]) -> Optional[float]:
    return None if text is None else parse_duration_s(text, "deadline") / 3600.0


def checked_plot_path(path: Optional[Path]) -> Optional[Path]:
    """Validate the picture's file name and that matplotlib is there before computing anything."""
    if path is None:
        return None

    pyplot()
    return check_plot_path(path)


def short_hours(hours_: float) -> str:
    return f"{hours_ / 24:.1f} d" if hours_ >= 48 else f"{hours_:.1f} h"


def plan_rows_table(plans, title: str):
    table = Table(title=title)
    for column in ("cost", "time", "loss", "params", "tokens", "tok/param", "GPUs", "MFU"):
        table.add_column(column, justify="right", no_wrap=True)
    for p in plans:
        table.add_row(fmt_usd(p.cost_usd), short_hours(p.wall_clock_hours), f"{p.loss:.4f}", fmt_count(p.params),
                      fmt_count(p.tokens), f"{p.tokens / p.params:.1f}", f"{p.gpus}×{p.gpu}", f"{100 * p.mfu:.0f}%")
    return table


@app.command()
def frontier(
    budget_usd: Optional[str] = typer.Option(None, "--budget-usd", "--budget", help="most money, e.g. 250k, $1.2M"),
    deadline: Optional[str] = typer.Option(None, help="longest wall-clock, e.g. 30d, 720h"),
    gpus: Optional[list[str]] = GpusOption,
    params: Optional[str] = typer.Option(None, help="fix the model size, e.g. 7B (only tokens and hardware vary)"),
    unique_tokens: Optional[str] = typer.Option(None, help="unique data available; repeats are discounted"),
    seq_len: int = typer.Option(4096, help="sequence length"),
    law: Optional[str] = LawOption,
    max_points: int = typer.Option(50, min=3, max=1000, help="most plans returned, spread along the frontier"),
    plot: Optional[Path] = PlotOption,
    csv: Optional[Path] = typer.Option(None, "--csv", help="write the plans' headline numbers as CSV"),
    catalog: Optional[list[Path]] = CatalogOption,
    json_output: bool = typer.Option(False, "--json", help="print the frontier (full plans) as JSON"),
) -> None:
    """Pareto frontier of cost × wall-clock × predicted loss: only plans no other plan beats on all three.

    Explores budgets (and deadlines) from 1/1000 of the given ones up to them."""
    plot = checked_plot_path(plot)
    request = build_request(budget_usd=money(budget_usd), deadline_hours=hours(deadline), gpus=gpus,
                            params=params, law=law, seq_len=seq_len, unique_tokens=unique_tokens)
    result = require_plans(compute_frontier(request, load_catalog_files(catalog), max_points=max_points), request)
    if csv is not None:
        write_csv([row_from_plan(request, p) for p in result.plans], csv)
    if plot is not None:
        front = result.nondominated
        save_figure(frontier_figure(front.cost_usd, front.time_s / 3600.0, front.loss, result.plans,
                                    budget_usd=request.budget_usd, deadline_hours=request.deadline_hours), plot)
    if json_output:
        print_json(result.to_json())
        return

    Console().print(plan_rows_table(result.plans, "Pareto frontier (cheapest first): no plan is beaten on "
                                                  "cost, time and loss at once"))
    s = result.summary()
    stderr_line(f"{s['candidates']} candidates, {s['points_evaluated']} runs evaluated, "
                f"{s['points_nondominated']} non-dominated, {s['plans_returned']} returned "
                f"in {result.seconds['total']:.2f} s" + (f"; picture: {plot}" if plot else ""))


@app.command()
def sweep(
    budget_usd: Optional[str] = typer.Option(None, "--budget-usd", "--budget",
                                             help="a range 1e4..1e8 (swept) or one amount (fixed)"),
    deadline: Optional[str] = typer.Option(None, help="a range 1d..90d (swept) or one duration (fixed)"),
    points: int = typer.Option(25, min=1, max=1000, help="values in the swept range, log-spaced"),
    gpus: Optional[list[str]] = GpusOption,
    unique_tokens: Optional[str] = typer.Option(None, help="unique data available; repeats are discounted"),
    seq_len: int = typer.Option(4096, help="sequence length"),
    family: Optional[str] = typer.Option(None, help="shape rule for model sizes: gpt (default) | llama3"),
    law: Optional[str] = LawOption,
    loss_tolerance: Optional[float] = LossToleranceOption,
    workers: int = typer.Option(1, min=1, max=256, help=f"worker processes (one per {MIN_POINTS_PER_WORKER} points at most: a worker costs ~0.85 s to start)"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bar on stderr"),
    plot: Optional[Path] = PlotOption,
    csv: Optional[Path] = typer.Option(None, "--csv", help="write the table as CSV"),
    catalog: Optional[list[Path]] = CatalogOption,
    json_output: bool = typer.Option(False, "--json", help="print the rows as JSON"),
) -> None:
    """Best plan at each of many budgets or deadlines: one is a range (low..high), the other fixed or absent."""
    plot = checked_plot_path(plot)
    ranged = [name for name, text in (("budget_usd", budget_usd), ("deadline_hours", deadline))
              if text is not None and ".." in text]
    if len(ranged) != 1:
        raise InputError("sweep: give exactly one range, e.g. --budget-usd 1e4..1e8 or --deadline 1d..90d",
                         "budget_usd")
    axis = ranged[0]
    values = log_points(*parse_range(budget_usd if axis == "budget_usd" else deadline, axis), points)
    base = build_request(budget_usd=values[0] if axis == "budget_usd" else money(budget_usd),
                         deadline_hours=values[0] if axis == "deadline_hours" else hours(deadline), gpus=gpus,
                         law=law, seq_len=seq_len, unique_tokens=unique_tokens, family=family,
                         loss_tolerance=loss_tolerance)
    requests = sweep_requests(base, axis, values)
    catalog_obj = load_catalog_files(catalog)
    start = time.perf_counter()
    rows = _run_with_progress(requests, catalog_obj, workers, progress)
    elapsed = time.perf_counter() - start
    if csv is not None:
        write_csv(rows, csv)
    if plot is not None:
        _plot_sweep(rows, base, axis, plot)
    if json_output:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in rows], indent=2, allow_nan=False))
    else:
        Console().print(sweep_table(rows, axis))
    used = effective_workers(len(requests), workers)
    asked = "" if used == workers else f" (of {workers} asked: one per {MIN_POINTS_PER_WORKER} points)"
    stderr_line(f"{len(rows)} points in {elapsed:.2f} s with {used} worker(s){asked}" + (f"; picture: {plot}" if plot else ""))


def _run_with_progress(requests, catalog, workers: int, show: bool):
    if not show:
        return run_sweep(requests, catalog, workers)

    with Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("sweep", total=len(requests))
        return run_sweep(requests, catalog, workers, on_done=lambda _: bar.advance(task))


def sweep_table(rows, axis: str):
    table = Table(title="Best plan at each " + ("budget" if axis == "budget_usd" else "deadline"),
                  box=box.SIMPLE_HEAD)
    limits = ([("budget", lambda r: fmt_usd(r.budget_usd))] if axis == "budget_usd"
              else [("deadline", lambda r: short_hours(r.deadline_hours))])
    for column in [name for name, _ in limits] + ["loss", "params", "tokens", "GPUs", "cost", "time"]:
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("binding", ratio=1)
    table.add_column("reason (step against the sweep, near-tie)", ratio=2)
    for r in rows:
        shown = [show(r) for _, show in limits]
        if not r.feasible:
            table.add_row(*shown, "[red]infeasible[/red]", "", "", "", "", "", r.binding, "")
            continue
        reason = "; ".join(filter(None, [r.step_reason, "" if r.step_reason else
                                         (f"near-tie: {r.near_tie}" if r.near_tie else "")]))
        table.add_row(*shown, f"{r.loss:.4f}", fmt_count(r.params), fmt_count(r.tokens),
                      f"{r.gpus}×{r.gpu}", fmt_usd(r.cost_usd), short_hours(r.wall_clock_hours),
                      r.binding.replace("+", ", "), reason)
    return table


def _plot_sweep(rows, request, axis: str, path: Path) -> None:
    law = load_law(request.law)
    feasible = [r for r in rows if r.feasible]
    if not feasible:
        raise InfeasibleError("sweep: no point of the range is feasible; nothing to plot", rows[0].binding or "budget")
    n_opt, d_opt = compute_optimal_along(feasible, law)
    x = [r.budget_usd if axis == "budget_usd" else r.deadline_hours / 24.0 for r in feasible]
    label = "budget (USD, log scale)" if axis == "budget_usd" else "deadline (days, log scale)"
    save_figure(budget_figure(x, [r.params for r in feasible], [r.tokens for r in feasible], n_opt, d_opt,
                              law.name, x_label=label, money_axis=axis == "budget_usd"), path)
