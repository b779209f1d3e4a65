"""Human-readable rendering (rich) of estimates and plans. Reads models; decides nothing."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from planner.types.estimates import Estimate
from planner.types.formatting import fmt_count, fmt_gb, fmt_hours, fmt_usd  # noqa: F401  (re-exported)
from planner.types.results import Infeasibility


def strategy_line(s) -> str:
    return (f"{s.degrees()} ZeRO-{s.zero} {s.precision} recompute={s.recompute} "
            f"micro-batch={s.micro_batch} grad-accum={s.grad_accum} (global batch {s.global_batch_sequences} seq)"
            + (f", runs on {s.framework}" if getattr(s, "framework", None) else ""))


def shape_line(shape) -> str:
    """``56 layers × 8192 hidden, 64 heads (8 KV), SwiGLU 28672, vocab 128,256 untied, seq 8192``."""
    kv = f" ({shape.kv_heads} KV)" if shape.kv_heads and shape.kv_heads < shape.heads else ""
    mlp = f", SwiGLU {shape.ffn_hidden}" if shape.gated_mlp else ""
    vocab = f", vocab {shape.vocab:,}{'' if shape.tied_embeddings else ' untied'}" if (shape.vocab != 32000 or not shape.tied_embeddings) else ""
    moe = (f", MoE {shape.experts} experts top-{shape.top_k} ({fmt_count(shape.active_params)} active)"
           if getattr(shape, "experts", None) else "")
    return f"{shape.layers} layers × {shape.hidden} hidden, {shape.heads} heads{kv}{mlp}{vocab}{moe}, seq {shape.seq_len}"


def memory_table(estimate: Estimate, title: str = "Memory per GPU"):

    table = Table(title=title, show_header=True)
    table.add_column("component")
    table.add_column("GB", justify="right")
    for name, value in estimate.memory_breakdown_bytes.model_dump().items():
        table.add_row(name.replace("_", " "), f"{value / 1e9:.2f}")
    table.add_row("usable on GPU", f"{estimate.usable_memory_per_gpu_bytes / 1e9:.2f}")
    return table


def expected_line(run) -> str:
    """Expected wall-clock with the clean run and the goodput (issue #15)."""
    if run.ideal_wall_clock_hours is None:
        return fmt_hours(run.wall_clock_hours)
    startup = f", + {run.startup_s / 60:,.0f} min start-up" if run.startup_s else ""
    return (f"{fmt_hours(run.wall_clock_hours)} (clean run {fmt_hours(run.ideal_wall_clock_hours)}, "
            f"goodput {100 * run.goodput:.1f} %{startup})")


def failures_line(run) -> str:
    if run.checkpoint_interval_s is None:
        return "none expected"
    return (f"{run.expected_interruptions:,.1f} interruptions expected; checkpoint every "
            f"{run.checkpoint_interval_s / 60:,.1f} min ({run.checkpoint_s:,.1f} s each)")


def co2_text(run) -> str:
    if run.co2_kg is None:
        return ""
    where = run.region or "given intensity"
    return f", {run.co2_kg / 1000:,.1f} tCO2e ({where}, {run.grid_gco2_per_kwh:,.0f} g/kWh)"


def render_estimate(estimate: Estimate) -> None:
    from rich.table import Table

    console = Console()
    verdict = "[green]fits[/green]" if estimate.fits else "[red]DOES NOT FIT[/red]"
    active = f" ({fmt_count(estimate.shape.active_params)} active)" if estimate.shape.experts else ""
    console.print(f"[bold]{fmt_count(estimate.params)} params{active} on {fmt_count(estimate.tokens)} tokens, "
                  f"{estimate.gpus} × {estimate.gpu}[/bold] ({estimate.nodes} nodes): {verdict} in memory")
    console.print(f"strategy ({estimate.strategy_source}): {strategy_line(estimate.strategy)}")
    table = Table(show_header=False)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows = [
        ("wall-clock (expected)", expected_line(estimate) + _band(estimate.wall_clock_hours_p10,
                                                                  estimate.wall_clock_hours_p90, fmt_hours)),
        ("failures", failures_line(estimate)),
        ("GPU-hours", f"{estimate.gpu_hours:,.0f}" + _band(estimate.gpu_hours_p10, estimate.gpu_hours_p90,
                                                           lambda v: f"{v:,.0f}")),
        ("cost (rent)", f"{fmt_usd(estimate.cost_usd)} at ${estimate.price_usd_per_gpu_hour:.2f}/GPU-h"
         + _band(estimate.cost_usd_p10, estimate.cost_usd_p90, fmt_usd)
         + (f", billed by {estimate.provider}: {estimate.billed_gpus} GPUs × {fmt_hours(estimate.billed_hours)}"
            if estimate.provider else "")),
        ("energy", f"{estimate.energy_kwh:,.0f} kWh" + co2_text(estimate)),
        ("throughput", f"{estimate.tokens_per_second:,.0f} tokens/s"),
        ("MFU", f"{100 * estimate.mfu:.1f} %"),
        ("step time", f"{estimate.step_time_s:.2f} s"),
        ("memory per GPU", f"{fmt_gb(estimate.memory_per_gpu_bytes)} of {fmt_gb(estimate.usable_memory_per_gpu_bytes)} usable"),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if not estimate.fits:
        console.print(memory_table(estimate))
        for note in estimate.notes:
            console.print(f"[red]{note}[/red]")
        if estimate.nearest_fitting:
            console.print("nearest strategies that fit:")
            for option in estimate.nearest_fitting:
                console.print(f"  {strategy_line(option.strategy)}: {fmt_gb(option.memory_per_gpu_bytes)}, "
                              f"MFU {100 * option.mfu:.1f} %")
        else:
            console.print("no strategy fits on this many GPUs of this type: add GPUs or use a larger-memory GPU")


def _band(low, high, fmt) -> str:
    """' (P10-P90 a-b)' when the estimate carries a prediction interval."""
    return "" if low is None or high is None else f" (P10-P90 {fmt(low)}-{fmt(high)})"


def render_plan(plan) -> None:
    """A compact summary that leads with the answer and the binding constraint."""
    from rich.table import Table

    console = Console()
    hardware = ", ".join(f"{n} × {g}" for g, n in plan.allocation.items()) or f"{plan.gpus} × {plan.gpu}"
    active = f" ({fmt_count(plan.shape.active_params)} active)" if plan.shape.experts else ""
    console.print(f"[bold]Train a {fmt_count(plan.params)}-parameter model{active} on {fmt_count(plan.tokens)} tokens "
                  f"on {hardware} ({plan.gpu_mode})[/bold]")
    console.print(f"predicted loss [bold]{plan.loss:.4f}[/bold] ({plan.law} law), "
                  f"{plan.tokens_per_param:.1f} tokens/{'active ' if plan.shape.experts else ''}param (compute-optimal ≈ {plan.compute_optimal_tokens_per_param:.1f})")
    binding = ", ".join(plan.binding_constraints) or "none"
    console.print(f"binding: [bold]{binding}[/bold]")
    for sentence in plan.explanation:
        console.print(f"  • {sentence}")
    table = Table(show_header=False)
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows = [
        ("model shape", shape_line(plan.shape)),
        ("strategy", strategy_line(plan.strategy)),
        ("wall-clock (expected)", expected_line(plan) + _band(plan.wall_clock_hours_p10, plan.wall_clock_hours_p90,
                                                              fmt_hours)),
        ("failures", failures_line(plan)),
        ("GPU-hours", f"{plan.gpu_hours:,.0f}" + _band(plan.gpu_hours_p10, plan.gpu_hours_p90, lambda v: f"{v:,.0f}")),
        ("cost", fmt_usd(plan.cost_usd) + (f" (capex {fmt_usd(plan.capex_usd)})" if plan.capex_usd else "")
         + _band(plan.cost_usd_p10, plan.cost_usd_p90, fmt_usd)
         + (f", billed by {plan.provider}: {plan.billed_gpus} GPUs × {fmt_hours(plan.billed_hours)}"
            if plan.provider else "")),
        ("energy", f"{plan.energy_kwh:,.0f} kWh, {plan.power_kw:,.0f} kW peak" + co2_text(plan)),
        ("throughput", f"{plan.tokens_per_second:,.0f} tokens/s, MFU {100 * plan.mfu:.1f} %"),
        ("memory per GPU", f"{fmt_gb(plan.memory_per_gpu_bytes)} of {fmt_gb(plan.usable_memory_per_gpu_bytes)} usable"),
    ]
    if plan.inference_cost_usd is not None:
        rows.append(("inference (in budget)", fmt_usd(plan.inference_cost_usd)))
    chances = [f"{label} {100 * p:.0f} %" for label, p in (("deadline", plan.deadline_probability),
                                                          ("budget", plan.budget_probability)) if p is not None]
    if chances:
        rows.append(("probability of meeting", ", ".join(chances)))
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for note in plan.notes:
        console.print(f"note: {note}")
    if plan.alternatives:
        console.print("runner-ups:")
        for alt in plan.alternatives:
            delta = f"loss {alt.loss_delta:+.4f}" if alt.loss_delta is not None else ""
            console.print(f"  {alt.description}: {alt.gpus} × {alt.gpu}, {fmt_count(alt.params)} params, {delta}, "
                          f"{fmt_usd(alt.cost_usd)}, {fmt_hours(alt.wall_clock_hours)}")


def render_infeasible(why: Infeasibility) -> None:

    console = Console(stderr=True)
    console.print(f"[red]infeasible[/red] (binding: {why.binding_constraint}): {why.message}")
    if why.fix:
        console.print(f"to make it feasible: {why.fix}")
