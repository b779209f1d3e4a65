"""Why the default --loss-tolerance is 0.001 nats: how finely the scaling law can rank two plans.

    python benchmarks/loss_tolerance.py [--resamples 200]

Refits the Chinchilla points (tests/data/chinchilla_svg_extracted_data.csv, the 5 highest-loss runs
dropped as Besiroglu et al. do) on bootstrap resamples, and prints, at the default law's compute-optimal
(N*, D*) for 1e20..1e25 FLOPs, the spread over resamples of the predicted loss and of the loss
difference between (N*, D*) and a plan f times larger or smaller at the same compute. Near-ties
(planner/search/near_ties.py) treat plans closer than about one standard deviation of that difference
as tied.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from scaling_laws import compute_optimal, load_law
from scaling_laws.fitting import _bootstrap, fit_theta, start_grid, theta_to_law
from scaling_laws.io import read_runs_csv

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "chinchilla_svg_extracted_data.csv"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resamples", type=int, default=200)
    args = parser.parse_args()
    n, d, y = read_runs_csv(DATA)
    keep = np.sort(np.argsort(y, kind="stable")[: y.size - 5])
    data = (np.log(n[keep]), np.log(d[keep]), np.log(y[keep]))
    theta, _ = fit_theta(data, start_grid())
    samples = _bootstrap(data, theta, args.resamples, 0, None)
    laws = [theta_to_law(np.array([np.log(a), np.log(b), np.log(e), al, be]))
            for e, a, b, al, be in zip(samples["E"], samples["A"], samples["B"], samples["alpha"], samples["beta"])]
    law = load_law("besiroglu")
    print(f"{len(laws)} bootstrap refits; default law {law.name}")
    print("| FLOPs | N* | loss | sd of loss | f | gap L(fN*, D*/f) − L* | sd of the gap |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for flops in (1e20, 1e21, 1e22, 1e23, 1e24, 1e25):
        big_n, big_d = (float(x) for x in compute_optimal(law, flops))
        level = np.array([float(l.loss(big_n, big_d)) for l in laws])
        for f in (1.25, 1.5):
            gap = np.array([float(l.loss(big_n * f, big_d / f) - l.loss(big_n, big_d)) for l in laws])
            print(f"| {flops:.0e} | {big_n:.3g} | {float(law.loss(big_n, big_d)):.4f} | {level.std():.4f} | {f} | "
                  f"{float(law.loss(big_n * f, big_d / f) - law.loss(big_n, big_d)):.5f} | {gap.std():.5f} |")


if __name__ == "__main__":
    main()
