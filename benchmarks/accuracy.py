"""Accuracy of the cost model against published training runs.

    python benchmarks/accuracy.py            # calibration and held-out tables, interval coverage
    python benchmarks/accuracy.py --fit      # refit the free constants on the calibration families,
                                             # report leave-one-family-out error, and rewrite the
                                             # prediction-interval quantiles (planner/data/prediction_intervals.json)
    python benchmarks/accuracy.py --legacy   # the older table (planner/data/published_runs.json)

Data: catalogs/data/validation_runs.json (planner.analysis.validation_runs). Errors are on GPU time
per unit of work: + means the model predicts more GPU time than was reported (pessimistic).
Rows that include downtime (model-card GPU-hours) are upper envelopes and are tabled separately.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

INTERVALS_FILE = Path(__file__).resolve().parents[1] / "planner" / "data" / "prediction_intervals.json"
# The free parameters and their grids (see planner/costmodel/calibration.py for what they are).
GRID = {
    "GEMM_N_HALF": np.array([0.0, 50, 100, 150, 200, 250, 300, 400, 500, 700, 1000]),
    "MEMORY_BYTES_PER_LAYER_TOKEN_PER_HIDDEN": np.array([0.0, 100, 200, 300, 400, 500, 650, 800, 1000, 1300]),
    "TP_COMM_OVERLAP": np.array([0.0, 0.25, 0.5, 0.75, 0.9, 1.0]),
}
ROBUST_SCALE = 0.25        # soft-L1 loss on log time ratio: quadratic below ~25 %, linear above


def _fmt_row(r) -> str:
    from planner.analysis.validation_runs import named_reason

    reason = named_reason(r)
    return (f"| {r.name[:46]:46s} | {r.metric[:14]:14s} | {r.reported:10.4g} | {r.predicted:10.4g} | "
            f"{100 * r.error:+7.1f} | {r.gpu:9s} | {r.stack[:18]:18s} | {r.layout} | {reason} |")


def table(rows, title: str) -> str:
    head = [f"\n### {title}\n",
            f"| {'run':46s} | {'metric':14s} | {'reported':>10s} | {'predicted':>10s} | {'time %':>7s} | gpu       | "
            f"{'stack':18s} | layout used | reason if |error| > 35 % |",
            "|" + "---|" * 9]
    return "\n".join(head + [_fmt_row(r) for r in rows])


def summary_line(label: str, rows, quantiles=None) -> str:
    from planner.analysis.validation_runs import coverage, summary

    s = summary(rows)
    if not s["n"]:
        return f"{label}: no rows"
    text = (f"{label}: n = {s['n']}, median |GPU-time error| {100 * s['median_abs']:.1f} %, "
            f"mean signed {100 * s['mean_signed']:+.1f} %, max |error| {100 * s['max_abs']:.1f} %")
    if quantiles:
        text += f", P10-P90 coverage {100 * coverage(rows, quantiles):.0f} %"
    return text


def breakdown(rows, key) -> str:
    from planner.analysis.validation_runs import summary

    groups: dict[str, list] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    out = []
    for name in sorted(groups):
        s = summary(groups[name])
        out.append(f"  {name:28s} n={s['n']:3d}  median |err| {100 * s['median_abs']:5.1f} %  "
                   f"mean signed {100 * s['mean_signed']:+6.1f} %")
    return "\n".join(out)


def _loss(rows) -> float:
    from planner.analysis.validation_runs import family_weights

    if not rows:
        return 0.0
    z = np.array([np.log(r.time_ratio) for r in rows]) / ROBUST_SCALE
    return float(np.sum(family_weights(rows) * 2.0 * (np.sqrt(1.0 + z * z) - 1.0)))


def fit() -> dict:
    """Grid search of the free constants on the clean calibration rows (family-weighted soft-L1 on
    log GPU-time ratio), then leave-one-family-out: refit without each calibration family and
    predict it. Returns the fitted values, the leave-one-family-out summary and those out-of-sample
    calibration predictions (the interval band uses them)."""
    import itertools

    import planner.costmodel.calibration as cal
    from planner.analysis.validation_runs import clean, predict_all, summary

    names = list(GRID)
    saved = [getattr(cal, n) for n in names]
    results = {}                                     # grid point -> clean calibration predictions
    for point in itertools.product(*GRID.values()):
        for n, v in zip(names, point):
            setattr(cal, n, float(v))
        results[point] = clean(predict_all(split="calibration"))
    for n, v in zip(names, saved):
        setattr(cal, n, v)
    best = min(results, key=lambda k: _loss(results[k]))
    families = sorted({r.family for r in results[best]})
    held = []
    for fam in families:
        point = min(results, key=lambda k: _loss([r for r in results[k] if r.family != fam]))
        held += [r for r in results[point] if r.family == fam]
    lofo = summary(held)
    print(f"fitted on {len(results[best])} clean calibration rows ({len(families)} families):")
    for n, v in zip(names, best):
        print(f"  {n} = {v:g}")
    print(f"  in-sample: {summary_line('calibration', results[best])}")
    print(f"  leave-one-family-out ({len(families)} refits): median |error| {100 * lofo['median_abs']:.1f} %, "
          f"mean signed {100 * lofo['mean_signed']:+.1f} %, max {100 * lofo['max_abs']:.1f} %")
    return {"fitted": dict(zip(names, (float(v) for v in best))),
            "leave_one_family_out": {k: round(v, 4) for k, v in lofo.items() if k != "n"} | {"n": lofo["n"]},
            "lofo_rows": held}


def write_intervals(fitted: dict) -> dict:
    """The band: quantiles of log(reported/predicted GPU time) over every clean row predicted out of
    sample — the held-out rows (never fitted on) and the calibration rows as predicted by the refit
    without their family — each row weighted 1/(rows of its family). Coverage is reported two ways:
    the share of each split inside this band, and cross-validated by family (each row against the
    band built without its family), the honest figure for a row the band has never seen."""
    from planner.analysis.validation_runs import clean, coverage, family_cv_coverage, interval_quantiles, predict_all

    held = clean(predict_all(split="held_out"))
    out_of_sample = held + list(fitted.pop("lofo_rows"))
    q = interval_quantiles(out_of_sample)
    cal_rows = clean(predict_all(split="calibration"))
    residuals = [{"name": r.name, "family": r.family, "split": r.split, "log_ratio": round(-float(np.log(r.time_ratio)), 4)}
                 for r in out_of_sample]
    cv = family_cv_coverage(residuals)
    data = {
        "what": "quantiles of log(actual / predicted GPU time) of the cost model on catalogs/data/validation_runs.json, "
                "over every clean row predicted out of sample (held-out rows; calibration rows by the refit without "
                "their family), each row weighted 1/(rows of its family)",
        "written_by": "python benchmarks/accuracy.py --fit",
        "rows": len(out_of_sample), "families": len({r.family for r in out_of_sample}),
        **{k: round(v, 4) for k, v in q.items()},
        "coverage_held_out": round(coverage(held, q), 3),
        "coverage_calibration": round(coverage(cal_rows, q), 3),
        "coverage_held_out_family_cv": round(cv["held_out"], 3),
        "coverage_calibration_family_cv": round(cv["calibration"], 3),
        **fitted,
        "residuals": residuals,
    }
    INTERVALS_FILE.write_text(json.dumps(data, indent=2) + "\n")
    from planner.economics.intervals import load_intervals
    load_intervals.cache_clear()
    print(f"wrote {INTERVALS_FILE.relative_to(INTERVALS_FILE.parents[2])}: "
          + ", ".join(f"{k} {v:+.3f}" for k, v in q.items()))
    return data


def legacy_table() -> str:
    from planner.analysis.published_runs import compare_all

    comparisons = compare_all()
    lines = [f"| {'run':18s} | {'metric':14s} | {'reported':>10s} | {'predicted':>10s} | {'error %':>8s} | assumption |",
             f"|{'-' * 20}|{'-' * 16}|{'-' * 12}|{'-' * 12}|{'-' * 10}|------------|"]
    for c in comparisons:
        lines.append(f"| {c.name:18s} | {c.metric:14s} | {c.reported:10.4g} | {c.predicted:10.4g} | "
                     f"{100 * c.error:+8.1f} | {c.assumption} |")
    errors = [abs(c.error) for c in comparisons]
    lines.append(f"\nmedian |error| {100 * statistics.median(errors):.1f} %, max {100 * max(errors):.1f} %")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="refit the free constants on the calibration families, "
                        "report leave-one-family-out error and rewrite the interval quantiles")
    parser.add_argument("--legacy", action="store_true", help="print the older published_runs table")
    args = parser.parse_args(argv)
    if args.legacy:
        print(legacy_table())
        return 0
    if args.fit:
        result = fit()
        print("\nSet these in planner/costmodel/calibration.py; the tables below use the values there.")
        import planner.costmodel.calibration as cal
        for n, v in result["fitted"].items():
            setattr(cal, n, v)
        write_intervals(result)
    from planner.analysis.validation_runs import clean, predict_all, skipped
    from planner.economics.intervals import load_intervals

    rows = predict_all()
    quantiles = load_intervals()
    for split in ("calibration", "held_out"):
        print(table(clean([r for r in rows if r.split == split]), f"{split} rows (clean throughput)"))
    print(table([r for r in rows if r.envelope], "GPU-hours with downtime (upper envelopes, not in the errors)"))
    print()
    for split in ("calibration", "held_out"):
        print(summary_line(split, clean([r for r in rows if r.split == split]), quantiles)
              + (f" (cross-validated by family: {100 * quantiles[f'coverage_{split}_family_cv']:.0f} %)"
                 if f"coverage_{split}_family_cv" in quantiles else ""))
    env = [r for r in rows if r.envelope]
    print(summary_line("envelopes (model-card GPU-hours)", env)
          + f"; predicted ≤ reported on {sum(r.error <= 0 for r in env)} of {len(env)}")
    held = clean([r for r in rows if r.split == "held_out"])
    for label, key in (("generation", lambda r: r.generation), ("stack", lambda r: r.stack),
                       ("size", lambda r: r.size_bucket), ("metric", lambda r: r.metric)):
        print(f"\nheld-out by {label}:\n{breakdown(held, key)}")
    print(f"\nrows not predicted (too few fields): {', '.join(skipped()) or 'none'}")
    print(f"interval quantiles in use: q10 {quantiles['q10']:+.3f}, q50 {quantiles['q50']:+.3f}, "
          f"q90 {quantiles['q90']:+.3f} (log actual/predicted GPU time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
