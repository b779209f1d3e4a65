"""The built-in GPU catalog, user overrides, error messages and ``planner catalog``."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from catalogs.errors import CatalogError, UnknownGPUError
from catalogs.loader import builtin_catalog, load_catalog
from catalogs.schema import PRECISIONS, GPUSpec

EXPECTED_IDS = {
    "v100-32gb", "a100-40gb", "a100-80gb", "h100-sxm", "h100-pcie", "h200", "b200",
    "l40s", "a10g", "l4", "mi300x", "h800",
}
FP8_IDS = {"h100-sxm", "h100-pcie", "h200", "b200", "l40s", "l4", "mi300x", "h800"}
SOURCE_FIELDS = {
    "memory_bytes", "peak_flops", "memory_bandwidth_bytes_per_s",
    "intra_node_bandwidth_bytes_per_s", "inter_node_bandwidth_bytes_per_s", "power_watts",
    "price_usd_per_gpu_hour", "purchase_price_usd", "provider_prices_usd_per_gpu_hour",
}
JSON_KEYS = {"id", "memory_bytes", "peak_flops", "gpus_per_node", "power_watts", "price_usd_per_gpu_hour"}
GIB = 2**30

NEW_GPU_TOML = """
[gpu.my-gpu]
name = "My GPU"
vendor = "other"
memory_bytes = 68_719_476_736
memory_bandwidth_bytes_per_s = 2e12
peak_flops = { fp32 = 50e12, bf16 = 500e12 }
intra_node_link = "pcie5"
intra_node_bandwidth_bytes_per_s = 64e9
gpus_per_node = 4
inter_node_bandwidth_bytes_per_s = 25e9
power_watts = 500
price_usd_per_gpu_hour = 1.5
provider_prices_usd_per_gpu_hour = { mycloud = 1.5 }
purchase_price_usd = 20_000
as_of = "2025-06"
sources = { memory_bytes = "my lab" }
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True,
                          timeout=120)


# --------------------------------------------------------------------------- built-in catalog

def test_builtin_has_all_ids():
    catalog = builtin_catalog()
    assert set(catalog.ids()) == EXPECTED_IDS
    assert len(catalog) == len(EXPECTED_IDS)
    assert all(isinstance(gpu, GPUSpec) for gpu in catalog)


@pytest.mark.parametrize("gpu_id", sorted(EXPECTED_IDS))
def test_every_gpu_cites_every_field(gpu_id):
    gpu = builtin_catalog().get(gpu_id)
    missing = SOURCE_FIELDS - set(gpu.sources)
    assert not missing, f"{gpu_id} lacks sources for {sorted(missing)}"
    assert all(text.strip() for text in gpu.sources.values())
    assert gpu.as_of.startswith("202")
    assert 1 <= len(gpu.provider_prices_usd_per_gpu_hour) <= 4
    for value in (gpu.memory_bytes, gpu.memory_bandwidth_bytes_per_s, gpu.intra_node_bandwidth_bytes_per_s,
                  gpu.inter_node_bandwidth_bytes_per_s, gpu.power_watts, gpu.price_usd_per_gpu_hour,
                  gpu.purchase_price_usd, *gpu.peak_flops.values()):
        assert math.isfinite(value) and value > 0


def test_fp8_exactly_where_supported():
    with_fp8 = {gpu.id for gpu in builtin_catalog() if "fp8" in gpu.peak_flops}
    assert with_fp8 == FP8_IDS


def test_v100_has_no_bf16_or_tf32():
    v100 = builtin_catalog().get("v100-32gb")
    assert v100.precisions == ("fp32", "fp16")


@pytest.mark.parametrize("gpu_id", sorted(EXPECTED_IDS - {"v100-32gb"}))
def test_modern_gpus_have_all_but_maybe_fp8(gpu_id):
    gpu = builtin_catalog().get(gpu_id)
    assert {"fp32", "tf32", "fp16", "bf16"} <= set(gpu.peak_flops)
    assert set(gpu.peak_flops) <= set(PRECISIONS)


def test_case_insensitive_lookup():
    catalog = builtin_catalog()
    assert catalog.get("H100-SXM") is catalog.get("h100-sxm")
    assert catalog.get("  Mi300X ").id == "mi300x"


def test_unknown_id_lists_known_ids():
    with pytest.raises(UnknownGPUError) as info:
        builtin_catalog().get("h900")
    message = str(info.value)
    assert "h900" in message
    for gpu_id in EXPECTED_IDS:
        assert gpu_id in message
    assert isinstance(info.value, CatalogError)


# --------------------------------------------------------------------------- physics sanity

def test_datasheet_peaks():
    catalog = builtin_catalog()
    a100 = catalog.get("a100-80gb").peak_flops["bf16"]
    h100 = catalog.get("h100-sxm").peak_flops["bf16"]
    assert a100 == pytest.approx(312e12, rel=0.01)          # NVIDIA A100 datasheet, dense
    assert catalog.get("a100-40gb").peak_flops["bf16"] == pytest.approx(312e12, rel=0.01)
    assert h100 == pytest.approx(989.4e12, rel=0.01)        # H100 SXM dense (1979 is sparse)
    assert h100 > a100
    assert catalog.get("h100-sxm").peak_flops["fp8"] == pytest.approx(2 * h100, rel=0.01)
    assert catalog.get("b200").peak_flops["bf16"] > h100
    assert catalog.get("h200").peak_flops["bf16"] == pytest.approx(h100, rel=0.01)


def test_physics_orderings():
    for gpu in builtin_catalog():
        peaks = gpu.peak_flops
        # tensor-core half precision beats plain fp32 everywhere; tf32 sits in between
        assert peaks["fp16"] > peaks["fp32"], gpu.id
        if "tf32" in peaks:
            assert peaks["fp32"] <= peaks["tf32"] <= peaks["bf16"], gpu.id
        if "fp8" in peaks:
            assert peaks["fp8"] == pytest.approx(2 * peaks["bf16"], rel=0.02), gpu.id
        # the fabric inside a node is never slower than the network between nodes
        assert gpu.intra_node_bandwidth_bytes_per_s >= gpu.inter_node_bandwidth_bytes_per_s, gpu.id
        # plausible ranges (catches unit slips such as GB instead of bytes, or sparse peaks)
        assert 16 * GIB <= gpu.memory_bytes <= 256 * GIB, gpu.id
        assert 100e9 <= gpu.memory_bandwidth_bytes_per_s <= 10e12, gpu.id
        assert 50 <= gpu.power_watts <= 1500, gpu.id
        assert 0.1 <= gpu.price_usd_per_gpu_hour <= 20, gpu.id
        assert 1_000 <= gpu.purchase_price_usd <= 100_000, gpu.id
        # buying a GPU costs more than a month of renting it at the default price
        assert gpu.purchase_price_usd > 24 * 30 * gpu.price_usd_per_gpu_hour, gpu.id


def test_memory_conventions():
    catalog = builtin_catalog()
    assert catalog.get("h100-sxm").memory_bytes == 80 * GIB
    assert catalog.get("a100-40gb").memory_bytes == 40 * GIB
    assert catalog.get("h200").memory_bytes == 141 * GIB
    assert catalog.get("mi300x").memory_bytes == 192 * GIB
    assert catalog.get("h100-sxm").intra_node_bandwidth_bytes_per_s == pytest.approx(450e9)
    assert catalog.get("a100-80gb").inter_node_bandwidth_bytes_per_s == pytest.approx(25e9)
    assert catalog.get("mi300x").vendor == "amd"


# --------------------------------------------------------------------------- overrides

def test_override_file_merges(tmp_path):
    path = write(tmp_path, "mine.toml", """
[gpu.H100-SXM]
price_usd_per_gpu_hour = 1.23
provider_prices_usd_per_gpu_hour = { mycloud = 1.23 }
""" + NEW_GPU_TOML)
    catalog = load_catalog([path])
    h100 = catalog.get("h100-sxm")
    builtin = builtin_catalog().get("h100-sxm")
    assert h100.price_usd_per_gpu_hour == 1.23
    assert h100.peak_flops == builtin.peak_flops                       # untouched fields kept
    assert h100.provider_prices_usd_per_gpu_hour["mycloud"] == 1.23    # nested tables merged
    assert set(builtin.provider_prices_usd_per_gpu_hour) < set(h100.provider_prices_usd_per_gpu_hour)
    mine = catalog.get("MY-GPU")
    assert mine.id == "my-gpu" and mine.gpus_per_node == 4 and mine.vendor == "other"
    assert set(catalog.ids()) == EXPECTED_IDS | {"my-gpu"}
    # the built-in catalog itself is not modified
    assert builtin_catalog().get("h100-sxm").price_usd_per_gpu_hour == builtin.price_usd_per_gpu_hour
    assert "my-gpu" not in builtin_catalog().ids()


def test_later_files_win(tmp_path):
    first = write(tmp_path, "a.toml", "[gpu.l4]\npower_watts = 80\n")
    second = write(tmp_path, "b.toml", "[gpu.l4]\npower_watts = 90\n")
    assert load_catalog([first, second]).get("l4").power_watts == 90


@pytest.mark.parametrize("text, key", [
    ('[gpu.h100-sxm]\nmemory_bytes = "lots"\n', "gpu.h100-sxm.memory_bytes"),
    ("[gpu.h100-sxm]\npower_watts = -700\n", "gpu.h100-sxm.power_watts"),
    ("[gpu.h100-sxm]\nprice_usd_per_gpu_hour = 0\n", "gpu.h100-sxm.price_usd_per_gpu_hour"),
    ("[gpu.h100-sxm]\npeak_flops = { bf16 = -1.0 }\n", "gpu.h100-sxm.peak_flops"),
    ("[gpu.h100-sxm]\nmemory_gb = 80\n", "gpu.h100-sxm.memory_gb"),
    ("[gpu.h100-sxm]\npeak_flops = { fp4 = 1e15 }\n", "gpu.h100-sxm.peak_flops.fp4"),
    ('[gpu.new-gpu]\nname = "New"\n', "gpu.new-gpu"),
    ("[gpus.h100-sxm]\npower_watts = 700\n", "gpus"),
])
def test_malformed_file_names_file_and_key(tmp_path, text, key):
    path = write(tmp_path, "broken.toml", text)
    with pytest.raises(CatalogError) as info:
        load_catalog([path])
    message = str(info.value)
    assert "broken.toml" in message
    assert key in message
    assert "\n" not in message


def test_new_gpu_missing_field_names_the_field(tmp_path):
    text = NEW_GPU_TOML.replace("power_watts = 500\n", "")
    path = write(tmp_path, "partial.toml", text)
    with pytest.raises(CatalogError) as info:
        load_catalog([path])
    assert "partial.toml" in str(info.value)
    assert "gpu.my-gpu.power_watts" in str(info.value)


def test_bad_toml_syntax(tmp_path):
    path = write(tmp_path, "syntax.toml", "[gpu.h100-sxm\npower_watts = = 3\n")
    with pytest.raises(CatalogError) as info:
        load_catalog([path])
    assert "syntax.toml" in str(info.value)
    assert "TOML" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(CatalogError) as info:
        load_catalog([tmp_path / "nope.toml"])
    assert "nope.toml" in str(info.value)


# --------------------------------------------------------------------------- CLI

def test_cli_table_lists_gpus():
    result = run_cli("catalog")
    assert result.returncode == 0, result.stderr
    for gpu_id in EXPECTED_IDS:
        assert gpu_id in result.stdout
    assert "989.4" in result.stdout


def test_cli_json():
    result = run_cli("catalog", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, list)
    assert {entry["id"] for entry in data} == EXPECTED_IDS
    for entry in data:
        assert JSON_KEYS <= set(entry), entry.get("id")
        assert isinstance(entry["peak_flops"], dict) and entry["peak_flops"]
        assert all(isinstance(v, (int, float)) and v > 0 for v in entry["peak_flops"].values())
    h100 = next(entry for entry in data if entry["id"] == "h100-sxm")
    assert h100["peak_flops"]["bf16"] == pytest.approx(989.4e12)


def test_cli_json_with_override(tmp_path):
    path = write(tmp_path, "extra.toml", NEW_GPU_TOML)
    result = run_cli("catalog", "--json", "--catalog", str(path))
    assert result.returncode == 0, result.stderr
    ids = {entry["id"] for entry in json.loads(result.stdout)}
    assert ids == EXPECTED_IDS | {"my-gpu"}


@pytest.mark.parametrize("text", [
    '[gpu.h100-sxm]\nmemory_bytes = "lots"\n',
    "[gpu.h100-sxm\n",
])
def test_cli_bad_catalog_is_one_line(tmp_path, text):
    path = write(tmp_path, "bad.toml", text)
    result = run_cli("catalog", "--catalog", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "bad.toml" in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_cli_missing_catalog_file(tmp_path):
    result = run_cli("catalog", "--catalog", str(tmp_path / "absent.toml"))
    assert result.returncode == 2
    assert "absent.toml" in result.stderr
    assert "Traceback" not in result.stderr
