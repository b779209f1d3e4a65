"""Accuracy of the cost model against published training runs.

Two data sets:
  * ``catalogs/data/validation_runs.json`` (issue #14, planner.analysis.validation_runs): 154 rows
    with a fixed calibration / held-out split by family. The constants are fitted on the
    calibration families only (benchmarks/accuracy.py --fit). Bounds below are what the model
    reaches (README "Accuracy against published runs"), with a few points of slack.
  * the older ``planner/data/published_runs.json`` (planner.analysis.published_runs). Until issue
    #14 the constants were fitted on five of its Megatron rows; now every row is held out. Its
    model-card GPU-hours rows are checked as upper envelopes (they include downtime, evaluation
    and long-context stages: Llama 2 34B's card is 42 % above the model's clean time), no longer
    inside the ±35 % band — that change of bound is deliberate, not a loosening of the
    throughput rows, which keep median ≤ 15 % and max ≤ 35 %.
"""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from planner.analysis.published_runs import compare_all, load_runs
from planner.analysis.validation_runs import (clean, coverage, load_rows, named_reason, predict_all, skipped,
                                              summary)
from planner.economics.intervals import load_intervals


@pytest.fixture(scope="module")
def comparisons():
    return compare_all()


@pytest.fixture(scope="module")
def rows():
    return predict_all()


def _table(rows) -> str:
    return "\n".join(f"{r.name}: {r.metric} reported {r.reported:.4g} predicted {r.predicted:.4g} "
                     f"({100 * r.error:+.1f} % GPU time) {r.layout}" for r in rows)


# --- validation set (issue #14) -----------------------------------------------------------------

def test_almost_every_row_is_predicted(rows):
    assert len(load_rows()) == 154     # 153 of issue #14 + DeepSeek-V3 (issue #16, held out)
    # the three left out give neither a layout nor a GPU count that fits the memory model
    assert len(skipped()) <= 3, skipped()
    for r in rows:
        assert np.isfinite(r.predicted) and r.predicted > 0 and r.reported > 0, r.name
        assert r.assumption and r.layout


def test_held_out_error(rows):
    held = clean(rows, "held_out")
    s = summary(held)
    assert s["n"] >= 85
    # the acceptance targets; measured 7.3 % median, −0.0 % mean signed (README)
    assert s["median_abs"] <= 0.10, _table(held)
    assert abs(s["mean_signed"]) <= 0.05, _table(held)


def test_calibration_error(rows):
    s = summary(clean(rows, "calibration"))
    assert s["median_abs"] <= 0.10 and abs(s["mean_signed"]) <= 0.05      # measured 7.8 %, −0.7 %


def test_every_large_miss_has_a_named_reason(rows):
    unexplained = [r for r in clean(rows) if abs(r.error) > 0.35 and named_reason(r) == "unexplained"]
    assert not unexplained, _table(unexplained)


def test_envelope_rows_are_reported_apart_and_sit_above_the_model(rows):
    env = [r for r in rows if r.envelope]
    assert len(env) == 10 and all(r.metric == "gpu_hours" for r in env)     # 9 model cards + DeepSeek-V3 (#16)
    assert not any(r.envelope for r in clean(rows))
    # model-card GPU-hours include restarts, evaluation and long-context stages: clean time is below
    assert all(r.error <= 0.0 for r in env), _table(env)


def test_intervals_cover_the_held_out_rows(rows):
    q = load_intervals()
    assert q["q10"] < q["q50"] < q["q90"]
    held = coverage(clean(rows, "held_out"), q)
    assert 0.70 <= held <= 0.90                                           # measured 84 %
    # The band pools the out-of-sample residuals of both splits (held-out rows, and calibration rows
    # as predicted by the refit without their family): it must cover both splits alike. Measured 77 %
    # (the band from held-out rows alone covered 65 % of the calibration rows).
    assert 0.70 <= coverage(clean(rows, "calibration"), q) <= 0.90


def test_intervals_cover_families_they_never_saw():
    """Cross-validated by family: each row against the band built from the other families'
    residuals (measured 82 % held-out, 75 % calibration)."""
    from planner.analysis.validation_runs import family_cv_coverage

    q = load_intervals()
    cv = family_cv_coverage(q["residuals"])
    assert 0.70 <= cv["held_out"] <= 0.90 and 0.70 <= cv["calibration"] <= 0.90, cv
    assert cv["held_out"] == pytest.approx(q["coverage_held_out_family_cv"], abs=1e-3)
    # the stored residuals are the current model's for the held-out rows (the file is not stale)
    predicted = {r.name: r for r in clean(predict_all(), "held_out")}
    for entry in q["residuals"]:
        if entry["split"] == "held_out":
            assert entry["log_ratio"] == pytest.approx(-np.log(predicted[entry["name"]].time_ratio), abs=1e-3), entry


# --- older published_runs.json ----------------------------------------------------------------

def test_throughput_rows_median_and_max_error(comparisons):
    rows = [c for c in comparisons if c.metric != "gpu_hours"]
    errors = [abs(c.error) for c in rows]
    table = "\n".join(f"{c.name}: {c.metric} reported {c.reported:.4g} predicted {c.predicted:.4g} "
                      f"({100 * c.error:+.1f} %)" for c in rows)
    assert len(rows) >= 10
    assert statistics.median(errors) <= 0.15, table
    assert max(errors) <= 0.35, table


def test_gpu_hour_rows_are_upper_envelopes(comparisons):
    rows = [c for c in comparisons if c.metric == "gpu_hours"]
    assert len(rows) >= 5
    for c in rows:
        assert -0.5 <= c.error <= 0.0, (c.name, c.error)


def test_every_row_with_enough_fields_is_predicted(comparisons):
    predicted = {c.name for c in comparisons}
    for run in load_runs():
        megatron = bool(run.get("layers") and run.get("tflops_per_gpu"))
        costed = bool(run.get("params") and run.get("tokens") and (run.get("gpu_hours") or run.get("tflops_per_gpu")))
        if megatron or costed:
            assert run["name"] in predicted, run["name"]


def test_predictions_are_finite_and_positive(comparisons):
    for c in comparisons:
        assert c.predicted > 0 and c.reported > 0
        assert c.predicted == c.predicted and c.predicted != float("inf")
        assert c.assumption
