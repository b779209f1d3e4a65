"""Snapshot the JSON answers of a fixed set of CLI requests, to check that a speed change alters no answer.

    python benchmarks/answers_snapshot.py OUT_DIR         # write one file per request
    diff -r BEFORE_DIR AFTER_DIR                            # byte-for-byte comparison

Each request runs as a new `python -m planner ... --json` process (the cold path users take); stdout,
stderr and the exit code are written, with the run's own timings (the frontier's "seconds" block, the
sweep's "in X s") blanked. Not a test: nothing here is timed or asserted.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

THREE = ["--gpus", "h100-sxm:512,a100-80gb:1024,mi300x:256"]
REQUESTS = {
    "best_250k": ["best", "--budget-usd", "250k"],
    "best_1k": ["best", "--budget-usd", "1k"],
    "best_1M": ["best", "--budget-usd", "1M"],
    "best_10M_60d": ["best", "--budget-usd", "10M", "--deadline", "60d"],
    "best_5M_30d_1000h100": ["best", "--budget-usd", "5M", "--deadline", "30d", "--gpus", "h100-sxm:1000"],
    "best_250k_two": ["best", "--budget-usd", "250k", "--deadline", "30d", "--gpus", "h100-sxm:256,a100-80gb:512"],
    "best_l4": ["best", "--budget-usd", "10k", "--deadline", "7d", "--gpus", "l4:1"],
    "best_llama3_fp8": ["best", "--budget-usd", "2M", "--family", "llama3", "--precisions", "bf16,fp8"],
    "best_mixed_5M": ["best", "--budget-usd", "5M", "--deadline", "30d", "--allow-mixed", *THREE],
    "best_mixed_1B": ["best", "--budget-usd", "1B", "--deadline", "90d", "--allow-mixed"],
    "best_confidence": ["best", "--budget-usd", "500k", "--confidence", "0.9"],
    "best_infeasible": ["best", "--budget-usd", "1", "--gpus", "h100-sxm:8"],
    "best_bad": ["best", "--budget-usd", "-5"],
    "cost_7b": ["cost", "--params", "7B", "--tokens", "2T", "--deadline", "60d"],
    "cost_70b_fastest": ["cost", "--params", "70B", "--tokens", "2T", "--budget-usd", "5M", "--fastest",
                         "--gpus", "h100-sxm:4096"],
    "frontier_three": ["frontier", "--budget-usd", "1M", "--deadline", "60d", *THREE],
    "sweep_budget": ["sweep", "--budget-usd", "1e4..1e8", "--points", "7", *THREE],
    "schema_plan": ["schema", "plan"],
    "schema_request": ["schema", "request"],
    "schema_result": ["schema", "result"],
    "estimate_70b": ["estimate", "--params", "70e9", "--tokens", "2e12", "--gpu", "a100-80gb", "--gpus", "2048"],
}


def without_timings(text: str) -> str:
    text = re.sub(r'("seconds": \{)[^}]*(\})', r"\1 ... \2", text)
    return re.sub(r"points in [0-9.]+ s", "points in ... s", text)


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    names = sys.argv[2:] or list(REQUESTS)
    for name in names:
        json_flag = [] if REQUESTS[name][0] == "schema" else ["--json"]     # schema prints JSON already
        done = subprocess.run([sys.executable, "-m", "planner", *REQUESTS[name], *json_flag], capture_output=True,
                              text=True)
        (out / f"{name}.txt").write_text(without_timings(f"exit {done.returncode}\n--- stdout\n{done.stdout}\n"
                                                         f"--- stderr\n{done.stderr}"))
        print(name, done.returncode, len(done.stdout))


if __name__ == "__main__":
    main()
