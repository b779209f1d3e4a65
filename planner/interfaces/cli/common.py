"""Small helpers shared by CLI commands: JSON output, catalog option, one-line errors."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from catalogs.loader import load_catalog
from planner.types.errors import InputError

CatalogOption = typer.Option(None, "--catalog", help="TOML file adding or overriding GPU entries (repeatable).")


def non_finite_path(data: Any, path: str = "") -> Optional[str]:
    """Dotted path of the first NaN or infinite number in plain data (dicts, lists, numbers), else None."""
    if isinstance(data, float):
        return None if math.isfinite(data) else (path or "result")
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, (list, tuple)):
        items = enumerate(data)
    else:
        return None
    for key, value in items:
        found = non_finite_path(value, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def check_finite(data: Any, inputs: str = "the inputs") -> Any:
    """``data`` as plain JSON data; an InputError if a number in it is NaN or infinite (#18): results
    never show inf, the user learns which result broke and that an input is outside the model's range."""
    if hasattr(data, "model_dump"):
        data = data.model_dump(mode="json")
    path = non_finite_path(data)
    if path is not None:
        raise InputError(f"{inputs}: the result {path} is not a finite number; an input is outside the range "
                         "the model can compute (try a larger amount, duration or data size)", inputs)
    return data


def print_json(data: Any) -> None:
    """Print ``data`` (a pydantic model, dict or list) as indented JSON on stdout (finite numbers only)."""
    typer.echo(json.dumps(check_finite(data), indent=2, allow_nan=False))


def load_catalog_files(files: Optional[list[Path]]):
    return load_catalog(files or [])


def fail(message: str, code: int = 2) -> None:
    """Print one line to stderr and exit (2 = the user's input is at fault)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def stderr_line(message: str) -> None:
    print(message, file=sys.stderr)


# The model-description flags shared by every command that takes a model (estimate, finetune).
ModelOption = typer.Option(None, help="a preset (`planner models`) or a Hugging Face config.json path; the shape "
                                      "flags override it")
KvHeadsOption = typer.Option(None, help="key/value heads (grouped-query attention; default: heads)")
FfnHiddenOption = typer.Option(None, help="MLP width (default: 4 × hidden)")
MlpOption = typer.Option(None, help="gelu | swiglu | geglu")
VocabOption = typer.Option(None, help="vocabulary size (default: 32,000, or the model's)")
TiedOption = typer.Option(None, "--tied-embeddings/--untied-embeddings",
                          help="output head shares the input embedding (default: tied)")


# ---- Issue #15: realism flags shared by best, cost and estimate (defaults: catalogs/data/*.toml).
FailureRateOption = typer.Option(None, "--failure-rate", help="job-interrupting failures per GPU-hour "
                                                              "(default 1.97e-5: Llama 3, 419 in 54 days on 16,384 H100)")
CheckpointBandwidthOption = typer.Option(None, "--checkpoint-bandwidth", help="per-GPU checkpoint write bandwidth, "
                                                                              "e.g. 122MB/s, 2GB/s, 1.2e8 (B/s)")
RestartTimeOption = typer.Option(None, "--restart-time", help="time lost per failure besides recomputation, e.g. 10min")
StartupTimeOption = typer.Option(None, "--startup-time", help="one-off job start-up, e.g. 5min")
RegionOption = typer.Option(None, "--region", help="grid region for CO2 (`planner regions`; default us-average)")
GridOption = typer.Option(None, "--grid-gco2-per-kwh", help="grid carbon intensity (gCO2e/kWh), overrides --region")
ProviderOption = typer.Option(None, "--provider", help="rent on a provider's terms (rental_terms.toml: aws, gcp, "
                              "lambda, lambda-1cc, aws-capacity-blocks, ...): the budget pays billed time")
SpotOption = typer.Option(False, "--spot", help="rent the provider's spot offer: its price, its preemptions in the "
                          "failure rate")
MinRentalHoursOption = typer.Option(None, "--min-rental-hours", help="shortest rental block of a multi-node "
                                    "cluster (default 24 h, as AWS Capacity Blocks; 0 = none)")
ConfidenceOption = typer.Option(None, "--confidence", help="plan so deadline and budget hold with this probability "
                                "(0.5-0.99) under the cost model's measured error, e.g. 0.9")
LossToleranceOption = typer.Option(None, "--loss-tolerance", help="plans within this many nats of the best "
                                   "predicted loss are near-ties, decided by cost, then wall-clock, then fewer GPUs, then the law's ratio "
                                   "(default 0.001, about the law's fit uncertainty; 0 = the strict optimum)")

_BANDWIDTH_UNITS = {"": 1.0, "b/s": 1.0, "kb/s": 1e3, "mb/s": 1e6, "gb/s": 1e9, "tb/s": 1e12}


def parse_bandwidth(text: str, field: str = "checkpoint_bandwidth_bytes_per_s") -> float:
    """``122MB/s``, ``2GB/s`` or a bare number of bytes per second."""
    import re

    from planner.types.errors import InputError

    match = re.fullmatch(r"\s*([0-9.]+(?:e[+-]?\d+)?)\s*([kmgt]?b/s)?\s*", str(text).lower())
    if not match:
        raise InputError(f"{field}: cannot read {text!r}; use e.g. 122MB/s, 2GB/s or 1.2e8", field)
    return float(match.group(1)) * _BANDWIDTH_UNITS[match.group(2) or ""]


def realism_fields(failure_rate=None, checkpoint_bandwidth=None, restart_time=None, startup_time=None,
                   region=None, grid_gco2_per_kwh=None) -> dict:
    """Request fields (units in the names) from the realism flags; unset flags are left out."""
    from planner.types.units import parse_duration_s

    out = {}
    if failure_rate is not None:
        out["failure_rate_per_gpu_hour"] = float(failure_rate)
    if checkpoint_bandwidth is not None:
        out["checkpoint_bandwidth_bytes_per_s"] = parse_bandwidth(checkpoint_bandwidth)
    if restart_time is not None:
        out["restart_time_s"] = 0.0 if str(restart_time).strip() in ("0", "0s") else \
            parse_duration_s(restart_time, "restart_time_s")
    if startup_time is not None:
        out["startup_time_s"] = 0.0 if str(startup_time).strip() in ("0", "0s") else \
            parse_duration_s(startup_time, "startup_time_s")
    if region is not None:
        out["region"] = region
    if grid_gco2_per_kwh is not None:
        out["grid_gco2_per_kwh"] = float(grid_gco2_per_kwh)
    return out


FrameworkOption = typer.Option(None, "--framework", help="megatron | torchtitan | deepspeed | fsdp: only layouts that "
                               "framework runs, with its memory accounting (default: any layout; the plan names a "
                               "framework that runs it)")
