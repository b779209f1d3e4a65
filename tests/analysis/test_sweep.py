"""Sweeps: range parsing, rows equal to the solver's answers (serial and parallel), CSV/JSON output."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from catalogs.loader import load_catalog
from planner.analysis.sweep import log_points, parse_range, run_sweep, sweep_requests
from planner.interfaces.cli import app
from planner.search.solver import solve
from planner.types.errors import InputError
from planner.types.requests import SolveRequest

SMALL = [{"gpu": "h100-sxm", "max_count": 64}, {"gpu": "a100-80gb", "max_count": 64}]


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_parse_ranges():
    assert parse_range("1e4..1e8", "budget_usd") == (1e4, 1e8)
    assert parse_range("$250k .. 2M", "budget_usd") == (2.5e5, 2e6)
    assert parse_range("1d..90d", "deadline_hours") == (24.0, 90 * 24.0)
    assert parse_range("720h", "deadline_hours") == (720.0, 720.0)
    assert parse_range("1e19..1e23", "flops") == (1e19, 1e23)
    for bad, axis in (("1e8..1e4", "budget_usd"), ("ten..1e4", "budget_usd"), ("1d..3parsecs", "deadline_hours")):
        with pytest.raises(InputError):
            parse_range(bad, axis)


def test_log_points():
    values = log_points(1e4, 1e8, 25)
    assert len(values) == 25 and values[0] == pytest.approx(1e4) and values[-1] == pytest.approx(1e8)
    assert np.allclose(np.diff(np.log(values)), np.log(1e4) / 24)
    assert list(log_points(5.0, 5.0, 10)) == [5.0]
    with pytest.raises(InputError):
        log_points(1, 2, 0)


def test_rows_equal_solver_and_parallel_equals_serial(catalog):
    base = SolveRequest(budget_usd=1e4, availability=SMALL)
    requests = sweep_requests(base, "budget_usd", log_points(3e4, 3e6, 4))
    seen = []
    serial = run_sweep(requests, catalog, workers=1, on_done=seen.append)
    parallel = run_sweep(requests, catalog, workers=2, min_points_per_worker=1)   # force the process pool
    assert sorted(seen) == [0, 1, 2, 3]
    assert [r.model_dump() for r in serial] == [r.model_dump() for r in parallel]
    for request, row in zip(requests, serial):
        plan = solve(request, catalog=catalog).plan
        assert row.feasible and row.loss == plan.loss and row.params == plan.params and row.gpus == plan.gpus
    losses = [r.loss for r in serial]
    assert all(b <= a + 1e-12 for a, b in zip(losses, losses[1:]))  # more money never hurts


def test_infeasible_point_is_a_row_not_a_crash(catalog):
    request = SolveRequest(budget_usd=1e5, availability=[{"gpu": "h100-sxm", "max_count": 0}])
    row = run_sweep([request], catalog)[0]
    assert not row.feasible and row.binding and row.message


def test_sweep_cli_writes_csv_and_json(tmp_path):
    out = tmp_path / "sweep.csv"
    runner = CliRunner()
    args = ["sweep", "--budget-usd", "1e4..1e6", "--points", "3", "--gpus", "h100-sxm:64", "--csv", str(out)]
    result = runner.invoke(app, args + ["--json", "--no-progress"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["budget_usd"] for r in rows] == pytest.approx([1e4, 1e5, 1e6])
    with out.open() as handle:
        table = list(csv.DictReader(handle))
    assert len(table) == 3 and float(table[2]["loss"]) < float(table[0]["loss"])
    shown = runner.invoke(app, ["sweep", "--deadline", "1d..30d", "--points", "2", "--gpus", "h100-sxm:64"])
    assert shown.exit_code == 0 and "Best plan at each deadline" in shown.stdout


def test_sweep_needs_exactly_one_range():
    result = CliRunner().invoke(app, ["sweep", "--budget-usd", "1e5", "--no-progress"])
    assert isinstance(result.exception, InputError) and "one range" in str(result.exception)


def test_short_sweeps_run_in_one_process():
    """A worker costs ~1 s to start; a sweep too short to repay it runs in-process (issue #17)."""
    from planner.analysis.sweep import MIN_POINTS_PER_WORKER, effective_workers

    assert effective_workers(25, 2) == 1
    assert effective_workers(2 * MIN_POINTS_PER_WORKER, 2) == 2
    assert effective_workers(10 * MIN_POINTS_PER_WORKER, 4) == 4
    assert effective_workers(3, 8, min_points_per_worker=1) == 3
