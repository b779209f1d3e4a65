"""Reliability, carbon and rental-terms data (issue #15) and the H800 entry (issue #16)."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest

from catalogs.errors import CatalogError, UnknownGPUError
from catalogs.loader import (builtin_catalog, load_catalog, load_regions, load_reliability,
                             load_rental_terms, optional_gpu_file)
from catalogs.schema import (FailureObservation, RegionsCatalog, ReliabilityCatalog, RentalOffer,
                             RentalTermsCatalog)

DATA = Path(__file__).resolve().parents[2] / "catalogs" / "data"
LLAMA3_GPUS, LLAMA3_DAYS, LLAMA3_UNEXPECTED = 16_384, 54, 419


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def toml_text_with(path: Path, old: str, new: str) -> str:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    return text.replace(old, new, 1)


# --------------------------------------------------------------------------------------------- load

def test_new_files_load_and_validate():
    assert isinstance(load_reliability(), ReliabilityCatalog)
    assert isinstance(load_regions(), RegionsCatalog)
    assert isinstance(load_rental_terms(), RentalTermsCatalog)
    assert load_reliability() is load_reliability()          # built-ins are cached


@pytest.mark.parametrize("loader, name", [(load_reliability, "reliability.toml"),
                                          (load_regions, "regions.toml"),
                                          (load_rental_terms, "rental_terms.toml")])
def test_user_copy_of_a_file_loads_the_same(tmp_path, loader, name):
    path = write(tmp_path, name, (DATA / name).read_text(encoding="utf-8"))
    assert loader(path) == loader()


def _citations(node):
    """Every (source, quote, confidence) triple in a parsed TOML tree."""
    if isinstance(node, dict):
        if "source" in node and "confidence" in node:
            yield node
        for value in node.values():
            yield from _citations(value)


@pytest.mark.parametrize("name", ["reliability.toml", "regions.toml", "rental_terms.toml"])
def test_every_figure_is_cited(name):
    raw = tomllib.loads((DATA / name).read_text(encoding="utf-8"))
    citations = list(_citations(raw))
    assert len(citations) >= 4
    for citation in citations:
        assert citation["source"].strip()
        assert citation["confidence"] in {"primary", "secondary", "derived", "assumption"}
        if citation["confidence"] in {"primary", "secondary"}:
            assert citation["quote"].strip(), citation["source"]


# --------------------------------------------------------------------------------------------- reliability

def test_default_failure_rate_reproduces_llama3_interruptions():
    rate = load_reliability().failure_rate.failures_per_gpu_hour
    expected = rate * LLAMA3_GPUS * LLAMA3_DAYS * 24
    assert LLAMA3_UNEXPECTED / 1.5 <= expected <= LLAMA3_UNEXPECTED * 1.5
    assert expected == pytest.approx(LLAMA3_UNEXPECTED, rel=0.01)       # it is derived from it


def test_default_rate_matches_its_basis_and_arithmetic():
    reliability = load_reliability()
    basis = reliability.observation[reliability.failure_rate.basis]
    assert basis.failures_per_gpu_hour == pytest.approx(reliability.failure_rate.failures_per_gpu_hour, rel=1e-3)
    assert "419" in reliability.failure_rate.arithmetic and "16,384" in reliability.failure_rate.arithmetic
    assert reliability.mtbf_hours(LLAMA3_GPUS) == pytest.approx(54 * 24 / 419, rel=1e-3)   # ~3.1 h


def test_published_rates_bracket_the_default():
    reliability = load_reliability()
    default = reliability.failure_rate.failures_per_gpu_hour
    rates = {key: obs.failures_per_gpu_hour for key, obs in reliability.observation.items()}
    assert rates["meta-rsc2"] < default < rates["meta-rsc1"]
    for key, rate in rates.items():
        assert default / 3 <= rate <= default * 6, key        # same order of magnitude everywhere


def test_meta_rsc1_rate_reproduces_the_papers_16k_projection():
    rsc1 = load_reliability().observation["meta-rsc1"]
    mttf_h = 1.0 / (rsc1.failures_per_gpu_hour * 16_384)
    assert mttf_h == pytest.approx(1.8, rel=0.02)           # Kokolis et al.: 1.8 h at 16,384 GPUs
    assert 1.0 / (rsc1.failures_per_gpu_hour * 131_072) == pytest.approx(0.23, rel=0.03)


def test_checkpoint_and_restart_defaults():
    reliability = load_reliability()
    per_gpu = reliability.checkpoint.write_bandwidth_per_gpu.bytes_per_s
    assert per_gpu * LLAMA3_GPUS == pytest.approx(2e12, rel=1e-3)         # Tectonic 2 TB/s sustained
    assert reliability.checkpoint.peak_write_bandwidth_per_gpu.bytes_per_s * LLAMA3_GPUS == pytest.approx(7e12, rel=1e-3)
    assert 0 < reliability.checkpoint.async_blocking_time.seconds < 60
    assert reliability.restart.restart_overhead.seconds <= reliability.restart.catch_up_bound.seconds
    assert reliability.restart.job_startup.confidence in {"secondary", "assumption"}


def young(delta, m):
    return math.sqrt(2 * delta * m)


def daly(delta, m):
    if delta >= 2 * m:
        return m
    f = delta / (2 * m)
    return math.sqrt(2 * delta * m) * (1 + math.sqrt(f) / 3 + f / 9) - delta


def test_interval_formulas_are_recorded_and_agree_for_small_delta():
    formulas = load_reliability().formula
    assert "sqrt(2 * delta * M)" in formulas["young"].expression
    assert "1974" in formulas["young"].source and "2006" in formulas["daly"].source
    m = 3.09 * 3600                          # Llama 3 job MTBF
    assert daly(30.0, m) == pytest.approx(young(30.0, m), rel=0.05)   # Daly subtracts delta
    assert daly(3 * m, m) == m


def test_observation_needs_one_form():
    base = {"description": "x", "gpu": "h100-sxm", "source": "s", "quote": "q"}
    FailureObservation(**base, events=1, gpus=8, days=1)
    FailureObservation(**base, failures_per_node_day=1e-3, gpus_per_node=8)
    with pytest.raises(ValueError):
        FailureObservation(**base, events=1, gpus=8)
    with pytest.raises(ValueError):
        FailureObservation(**base, events=1, gpus=8, days=1, failures_per_node_day=1e-3, gpus_per_node=8)


@pytest.mark.parametrize("old, new, key", [
    ("gpus = 16384", "gpus = 0", "observation.llama3-405b.gpus"),
    ("failures_per_gpu_hour = 1.9733e-5", "failures_per_gpu_hour = -1.0", "failure_rate.failures_per_gpu_hour"),
    ('basis = "llama3-405b"', 'basis = "nope"', "failure_rate.basis"),
    ("seconds = 6.3", 'seconds = "fast"', "checkpoint.async_blocking_time.seconds"),
    ('[formula.young]\nexpression', '[formula.young]\ncolour = "red"\nexpression', "formula.young.colour"),
])
def test_malformed_reliability_is_one_line_naming_the_field(tmp_path, old, new, key):
    path = write(tmp_path, "rel.toml", toml_text_with(DATA / "reliability.toml", old, new))
    with pytest.raises(CatalogError) as info:
        load_reliability(path)
    message = str(info.value)
    assert "rel.toml" in message and key in message and "\n" not in message


def test_missing_quote_for_primary_is_an_error(tmp_path):
    text = toml_text_with(DATA / "reliability.toml",
                          'quote = "supports a sustainable throughput of 2 TB/s and a peak throughput of 7 TB/s"\nconfidence = "derived"',
                          'quote = ""\nconfidence = "primary"')
    with pytest.raises(CatalogError) as info:
        load_reliability(write(tmp_path, "rel.toml", text))
    assert "checkpoint.peak_write_bandwidth_per_gpu" in str(info.value) and "quote" in str(info.value)


# --------------------------------------------------------------------------------------------- regions, carbon

REQUIRED_REGIONS = {"us-average", "us-west-oregon", "us-east-virginia", "us-texas-ercot", "france", "germany",
                    "uk", "sweden", "ireland", "singapore", "japan", "canada-quebec", "india"}


def test_regions_cover_the_main_gpu_cloud_locations():
    regions = load_regions()
    assert REQUIRED_REGIONS <= set(regions.region)
    for key, region in regions.region.items():
        assert 0 <= region.grid_gco2e_per_kwh <= 1000, key
        assert 2020 <= region.data_year <= 2026, key
    assert regions.get("France").grid_gco2e_per_kwh < regions.get("germany").grid_gco2e_per_kwh
    assert regions.get("canada-quebec").grid_gco2e_per_kwh < 50 < regions.get("india").grid_gco2e_per_kwh
    with pytest.raises(KeyError):
        regions.get("atlantis")


def test_llama2_70b_carbon_arithmetic():
    regions = load_regions()
    card = regions.footprint["llama2-70b"]
    assert (card.gpu_hours, card.power_watts, card.tco2e) == (1_720_320, 400, 291.42)
    tonnes = card.gpu_hours * 0.4 * regions.default_pue * card.grid_kgco2e_per_kwh / 1000.0
    assert tonnes == pytest.approx(291.42, rel=0.15)
    assert tonnes == pytest.approx(291.42, rel=0.001)                  # Meta's method, reproduced
    # the recorded US average (OWID/Ember 2023) lands within 15 % too
    us = regions.get(regions.default_region).grid_gco2e_per_kwh / 1000.0
    assert card.gpu_hours * 0.4 * regions.default_pue * us / 1000.0 == pytest.approx(291.42, rel=0.15)


def test_llama2_total_and_llama31_footprints():
    footprints = load_regions().footprint
    assert footprints["llama2-total"].tco2e == 539.0
    assert footprints["llama2-total"].implied_kgco2e_per_kwh == pytest.approx(0.385, rel=0.001)
    llama31 = footprints["llama31-total"]
    assert (llama31.gpu_hours, llama31.power_watts, llama31.tco2e) == (39.3e6, 700, 11_390)
    assert llama31.pue is None
    assert llama31.implied_kgco2e_per_kwh == pytest.approx(0.414, rel=0.005)
    assert llama31.grid_kgco2e_per_kwh == pytest.approx(llama31.implied_kgco2e_per_kwh, rel=0.005)


def test_malformed_regions_name_the_field(tmp_path):
    text = toml_text_with(DATA / "regions.toml", "grid_gco2e_per_kwh = 56.039", "grid_gco2e_per_kwh = -5")
    with pytest.raises(CatalogError) as info:
        load_regions(write(tmp_path, "reg.toml", text))
    assert "region.france.grid_gco2e_per_kwh" in str(info.value)
    text = toml_text_with(DATA / "regions.toml", 'default_region = "us-average"', 'default_region = "mars"')
    with pytest.raises(CatalogError) as info:
        load_regions(write(tmp_path, "reg.toml", text))
    assert "default_region" in str(info.value) and "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------- rental terms

def test_capacity_blocks_round_up_to_whole_days_and_nodes():
    block = load_rental_terms().terms("h100-sxm", "aws-capacity-blocks")
    assert block.billed_seconds(3600) == 24 * 3600
    assert block.billed_seconds(25 * 3600) == 48 * 3600
    assert block.rentable_gpus(1) == 8 and block.rentable_gpus(9) == 16
    assert block.max_rental_hours == 182 * 24 and block.max_rental_gpus == 64 * 8


def test_billing_granularity():
    terms = load_rental_terms()
    aws = terms.terms("h100-sxm", "aws")
    assert aws.billed_seconds(10) == 60 and aws.billed_seconds(61.2) == 62
    assert terms.terms("h100-sxm", "lambda").billed_seconds(61) == 120
    assert terms.terms("h100-sxm", "lambda-1cc").billed_seconds(3600) == 7 * 24 * 3600


def test_absent_terms_keep_todays_behaviour():
    nothing = load_rental_terms().terms("l4", "nobody")
    assert nothing.billed_seconds(123.4) == 123.4
    assert nothing.rentable_gpus(3) == 3
    assert nothing.spot_price_usd_per_gpu_hour is None


def test_spot_rates_are_flagged():
    for gpu_offers in load_rental_terms().offer.values():
        for offer in gpu_offers.values():
            if offer.spot_interruptions_per_hour is not None:
                assert offer.spot_interruptions_confidence == "assumption"
                assert "ASSUMPTION" in offer.note


@pytest.mark.parametrize("fields, word", [
    ({"spot_interruptions_per_hour": 0.1}, "spot_price"),
    ({"min_rental_hours": 48, "max_rental_hours": 24}, "max_rental_hours"),
    ({"price_usd_per_gpu_hour": 2.0, "spot_price_usd_per_gpu_hour": 3.0}, "spot_price"),
    ({"billing_increment_s": 0}, "billing_increment_s"),
])
def test_rental_offer_validation(fields, word):
    with pytest.raises(ValueError) as info:
        RentalOffer(source="s", confidence="assumption", **fields)
    assert word in str(info.value)


def test_malformed_rental_terms_name_the_field(tmp_path):
    text = toml_text_with(DATA / "rental_terms.toml", "min_rental_gpus = 16", "min_rental_gpus = 0")
    with pytest.raises(CatalogError) as info:
        load_rental_terms(write(tmp_path, "terms.toml", text))
    assert "offer.h100-sxm.lambda-1cc.min_rental_gpus" in str(info.value)


def test_rental_terms_refer_to_catalog_gpus():
    ids = set(builtin_catalog().ids())
    assert set(load_rental_terms().offer) <= ids


# --------------------------------------------------------------------------------------------- H800

def test_h800_is_built_in_but_not_searched_by_default():
    catalog = builtin_catalog()
    h800, h100 = catalog.get("H800"), catalog.get("h100-sxm")
    assert "h800" in catalog.ids() and not h800.default_search      # named only: no provider rents it
    assert all(g.default_search for g in catalog if g.id != "h800")
    from planner.economics.offers import resolve_offers
    from planner.types.requests import SolveRequest
    assert "h800" not in {o.gpu.id for o in resolve_offers(SolveRequest(budget_usd=1e5), catalog)}
    assert h800.peak_flops == h100.peak_flops                        # same Hopper tensor cores
    assert h800.intra_node_bandwidth_bytes_per_s == pytest.approx(200e9)   # 400 GB/s bidirectional
    assert h800.intra_node_bandwidth_bytes_per_s < h100.intra_node_bandwidth_bytes_per_s
    assert h800.inter_node_bandwidth_bytes_per_s == pytest.approx(50e9)    # 8 x 400 Gb/s per node
    assert h800.gpus_per_node == 8 and h800.memory_bytes == 80 * 2**30
    assert h800.price_usd_per_gpu_hour == 2.0
    assert {"memory_bytes", "peak_flops", "intra_node_bandwidth_bytes_per_s", "price_usd_per_gpu_hour",
            "power_watts", "purchase_price_usd"} <= set(h800.sources)
    for field in ("peak_flops", "memory_bytes", "power_watts", "purchase_price_usd"):
        assert "ASSUMPTION" in h800.sources[field], field


def test_unknown_optional_gpu_file():
    with pytest.raises(UnknownGPUError):
        optional_gpu_file("h900")
