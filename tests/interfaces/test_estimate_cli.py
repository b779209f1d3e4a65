"""``planner estimate`` end to end, as a user runs it (subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import pytest

from catalogs.loader import load_catalog

STRATEGY_KEYS = {"tp", "pp", "dp", "zero", "precision", "recompute", "micro_batch", "grad_accum"}
TOP_KEYS = {"gpu_hours", "wall_clock_hours", "cost_usd", "energy_kwh", "mfu", "tokens_per_second",
            "memory_per_gpu_bytes", "fits", "strategy", "memory_breakdown_bytes"}


_POOL = ThreadPoolExecutor(max_workers=4)


@lru_cache(maxsize=None)
def _submit(args: tuple[str, ...]):
    return _POOL.submit(subprocess.run, [sys.executable, "-m", "planner", "estimate", *args],
                        capture_output=True, text=True, timeout=120)


def run(*args: str) -> subprocess.CompletedProcess:
    """Run ``planner estimate`` (each distinct command once per session, all started at import, see the end of the module)."""
    return _submit(tuple(args)).result()


def run_json(*args: str) -> dict:
    proc = run(*args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def llama70b():
    return run_json("--params", "70e9", "--tokens", "2e12", "--gpu", "a100-80gb", "--gpus", "2048")


# Until issue #14 these two were checked at ±20 %. The model is now fitted on clean throughput
# (catalogs/data/validation_runs.json, held-out median error 7 %), and these figures are not clean
# throughput: model-card GPU-hours include downtime, evaluation and long-context stages (all 9
# model-card rows of the validation set sit 21-64 % above the model), and MosaicML's 11,462 h
# matches their 2023 torch-1.12 throughput (~3,250 tokens/s/GPU), below their own later LLM Foundry
# table (4,641 tokens/s/GPU at 7B, which the model predicts within 12 %). So the check is now
# the envelope: the clean prediction is below the reported figure, by no more than the envelope
# rows' spread.

def test_acceptance_llama2_70b(llama70b):
    # Touvron et al. 2023, Table 2: Llama 2 70B took 1,720,320 A100-80GB GPU-hours (measured: 1,340,733).
    assert 1_720_320 / 1.65 <= llama70b["gpu_hours"] <= 1_720_320
    assert llama70b["gpu_hours_p90"] > llama70b["gpu_hours"]
    assert llama70b["fits"] is True


@pytest.mark.parametrize("seq_args", [(), ("--seq-len", "2048")], ids=["default-seq-4096", "mosaicml-seq-2048"])
def test_acceptance_mosaicml_7b(seq_args):
    # MosaicML: 7B on 134B tokens took 11,462 A100 GPU-hours (their runs used seq 2048);
    # measured 8,368 (seq 4096) and 7,767 (seq 2048).
    result = run_json("--params", "6.7e9", "--tokens", "134e9", "--gpu", "a100-80gb", "--gpus", "64", *seq_args)
    assert 11_462 / 1.65 <= result["gpu_hours"] <= 11_462
    assert result["fits"] is True


def test_json_keys(llama70b):
    assert TOP_KEYS <= set(llama70b)
    assert STRATEGY_KEYS <= set(llama70b["strategy"])
    s = llama70b["strategy"]
    assert s["tp"] * s["pp"] * s["dp"] == 2048
    breakdown = llama70b["memory_breakdown_bytes"]
    assert {"weights", "gradients", "optimizer", "activations", "total"} <= set(breakdown)
    assert breakdown["total"] == pytest.approx(llama70b["memory_per_gpu_bytes"], rel=1e-12)
    assert 0 < llama70b["mfu"] < 1
    assert llama70b["cost_usd"] == pytest.approx(
        llama70b["price_usd_per_gpu_hour"] * llama70b["gpus"] * llama70b["wall_clock_hours"], rel=1e-12)
    assert llama70b["gpu_hours"] == pytest.approx(2048 * llama70b["wall_clock_hours"], rel=1e-12)


def test_suffix_forms_accepted(llama70b):
    same = run_json("--params", "70B", "--tokens", "2T", "--gpu", "A100-80GB", "--gpus", "2048")
    assert same["params"] == 70e9 and same["tokens"] == 2e12 and same["gpus"] == 2048
    assert same["gpu"] == "a100-80gb"
    assert same["gpu_hours"] == pytest.approx(llama70b["gpu_hours"], rel=1e-12)


def test_non_fitting_fixed_config_reports_instead_of_failing():
    result = run_json("--params", "70B", "--tokens", "2T", "--gpu", "a10g", "--gpus", "8", "--tp", "8")
    assert result["fits"] is False
    assert result["strategy"]["tp"] == 8
    assert isinstance(result["nearest_fitting"], list)
    # nothing fits: 70B of model states alone (1.1 TB) exceed 8 × 24 GB
    assert result["nearest_fitting"] == []
    assert result["memory_per_gpu_bytes"] > result["usable_memory_per_gpu_bytes"]
    assert result["notes"] and "does not fit" in result["notes"][0]


def test_non_fitting_fixed_config_lists_nearest_fitting():
    result = run_json("--params", "6.7e9", "--tokens", "134e9", "--gpu", "a100-80gb", "--gpus", "8",
                      "--tp", "1", "--pp", "1", "--zero", "0", "--recompute", "none", "--micro-batch", "16")
    assert result["fits"] is False
    nearest = result["nearest_fitting"]
    assert 1 <= len(nearest) <= 3
    for option in nearest:
        assert option["fits"] is True
        assert option["memory_per_gpu_bytes"] <= result["usable_memory_per_gpu_bytes"]
        s = option["strategy"]
        assert s["tp"] * s["pp"] * s["dp"] == 8


BAD_INPUTS = {
    "negative-params": (["--params", "-70e9", "--tokens", "2e12", "--gpu", "a100-80gb", "--gpus", "8"], "params"),
    "zero-gpus": (["--params", "70e9", "--tokens", "2e12", "--gpu", "a100-80gb", "--gpus", "0"], "gpus"),
    "unknown-gpu": (["--params", "70e9", "--tokens", "2e12", "--gpu", "tpu-v9", "--gpus", "8"], "gpu"),
    # 6.7B -> 32 heads: tp = 3 does not divide them (6 GPUs so the GPU count is a multiple of tp)
    "tp-not-dividing-heads": (["--params", "6.7e9", "--tokens", "2e12", "--gpu", "a100-80gb", "--gpus", "6",
                               "--tp", "3"], "tp"),
    "nan-tokens": (["--params", "70e9", "--tokens", "nan", "--gpu", "a100-80gb", "--gpus", "8"], "tokens"),
    "zero-5": (["--params", "70e9", "--tokens", "2e12", "--gpu", "a100-80gb", "--gpus", "8", "--zero", "5"], "zero"),
    "fp8-on-a100": (["--params", "70e9", "--tokens", "2e12", "--gpu", "a100-80gb", "--gpus", "8",
                     "--precision", "fp8"], "precision"),
}


@pytest.mark.parametrize("args, field", list(BAD_INPUTS.values()), ids=list(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2(args, field):
    proc = run(*args, "--json")
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert field in lines[0]
    assert proc.stdout == ""


def test_unknown_gpu_lists_known_ids():
    proc = run(*BAD_INPUTS["unknown-gpu"][0], "--json")
    line = proc.stderr.strip()
    for gpu_id in load_catalog().ids():
        assert gpu_id in line


def test_tp_error_lists_allowed_values():
    proc = run(*BAD_INPUTS["tp-not-dividing-heads"][0], "--json")
    assert "32" in proc.stderr and "[1, 2, 4, 8]" in proc.stderr


def test_fp8_error_lists_precisions():
    proc = run(*BAD_INPUTS["fp8-on-a100"][0], "--json")
    assert "bf16" in proc.stderr


BAD_CATALOGS = {
    "not-toml": "garbage [[[ not toml",
    "negative": "[gpu.a100-80gb]\nmemory_bytes = -5\n",
}


_CATALOG_DIR = tempfile.TemporaryDirectory(prefix="planner-test-catalogs-")   # removed at interpreter exit


def _write_catalogs() -> dict[str, Path]:
    paths = {}
    for name, content in BAD_CATALOGS.items():
        paths[name] = Path(_CATALOG_DIR.name) / f"bad-{name}.toml"
        paths[name].write_text(content)
    return paths


CATALOG_FILES = _write_catalogs()


@pytest.fixture(scope="module")
def catalog_files():
    return CATALOG_FILES


def _catalog_command(path) -> tuple[str, ...]:
    return ("--params", "70e9", "--tokens", "2e12", "--gpu", "a100-80gb", "--gpus", "8", "--catalog", str(path),
            "--json")


@pytest.mark.parametrize("name", list(BAD_CATALOGS))
def test_malformed_catalog_file(catalog_files, name):
    proc = run(*_catalog_command(catalog_files[name]))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"bad-{name}.toml" in lines[0], proc.stderr


_COMMANDS = [
    ("--params", "70e9", "--tokens", "2e12", "--gpu", "a100-80gb", "--gpus", "2048", "--json"),
    ("--params", "6.7e9", "--tokens", "134e9", "--gpu", "a100-80gb", "--gpus", "64", "--json"),
    ("--params", "6.7e9", "--tokens", "134e9", "--gpu", "a100-80gb", "--gpus", "64", "--seq-len", "2048", "--json"),
    ("--params", "70B", "--tokens", "2T", "--gpu", "A100-80GB", "--gpus", "2048", "--json"),
    ("--params", "70B", "--tokens", "2T", "--gpu", "a10g", "--gpus", "8", "--tp", "8", "--json"),
    ("--params", "6.7e9", "--tokens", "134e9", "--gpu", "a100-80gb", "--gpus", "8", "--tp", "1", "--pp", "1",
     "--zero", "0", "--recompute", "none", "--micro-batch", "16", "--json"),
    *[(*args, "--json") for args, _ in BAD_INPUTS.values()],
]


# Start every command of this module as soon as it is imported (each is a ~1 s Python start-up), so they run
# while other test modules do; the tests then collect the results.
for _args in (*_COMMANDS, *(_catalog_command(path) for path in CATALOG_FILES.values())):
    _submit(_args)
