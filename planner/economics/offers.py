"""What hardware a request may use and what it costs per second: rent, owned or bought GPUs.

  rent:   price per GPU-hour × GPUs; power is in the price.
  owned:  already paid for; the run costs its electricity (GPUs × board power × utilisation × PUE).
  buy:    the purchase price of the GPUs (the whole capex is charged to this job: a team asking
          "should we buy for this run" pays it up front) plus electricity.
Facility power for a power cap is GPUs × board power × PUE (rated, not average: a cap must hold
at peak draw).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catalogs.loader import Catalog
from catalogs.schema import GPUSpec
from planner.economics.costing import EnergyConfig
from planner.types.errors import InputError
from planner.types.requests import DEFAULT_MAX_GPUS_PER_TYPE, SolveRequest


@dataclass(frozen=True)
class Offer:
    """One GPU type the job may use."""

    gpu: GPUSpec
    max_count: int
    mode: str
    price_usd_per_gpu_hour: float
    purchase_price_usd: float


def resolve_offers(request: SolveRequest, catalog: Catalog) -> list[Offer]:
    """Availability entries resolved against the catalog (default: every GPU with ``default_search``, rented)."""
    entries = request.availability
    if entries is None:
        return [Offer(g, DEFAULT_MAX_GPUS_PER_TYPE, "rent", g.price_usd_per_gpu_hour, g.purchase_price_usd)
                for g in catalog if g.default_search]
    offers, seen = [], set()
    for i, entry in enumerate(entries):
        gpu = catalog.get(entry.gpu, field=f"availability.{i}.gpu")
        if gpu.id in seen:
            raise InputError(f"availability.{i}.gpu: {gpu.id} is listed twice", f"availability.{i}.gpu")
        seen.add(gpu.id)
        offers.append(Offer(gpu, entry.max_count, entry.mode,
                            entry.price_usd_per_gpu_hour or gpu.price_usd_per_gpu_hour,
                            entry.purchase_price_usd or gpu.purchase_price_usd))
    return offers


def candidate_counts(gpu: GPUSpec, max_count: int) -> np.ndarray:
    """GPU counts worth considering, up to ``max_count``: 1, 2, 4, … within a node, then whole nodes
    on the lattice 1, 2, 3, 4, 6, 8, 12, 16, … (powers of two and 1.5× powers of two).

    The lattice does not depend on ``max_count``, so more availability only ever adds counts (the
    answer can only improve); the cost is that a reservation of, say, 100 nodes is used as 96.
    """
    node = gpu.gpus_per_node
    counts = {c for c in (2**k for k in range(0, 31)) if c < node and c <= max_count}
    for k in range(0, 40):
        for nodes in (2**k, 3 * 2**k // 2):
            if nodes >= 1 and node * nodes <= max_count:
                counts.add(node * nodes)
    return np.array(sorted(counts), dtype=np.int64)


def power_kw(offer: Offer, counts, pue: float):
    """Facility power at rated board power."""
    return np.asarray(counts) * offer.gpu.power_watts * pue / 1000.0


def money_rates(offer: Offer, counts, *, pue: float, electricity_usd_per_kwh: float):
    """(fixed_cost_usd, cost_rate_usd_per_s) arrays for ``counts`` GPUs of ``offer``."""
    counts = np.asarray(counts, dtype=float)
    energy = EnergyConfig(pue=pue)
    electricity_per_s = (counts * offer.gpu.power_watts * energy.power_utilisation * energy.pue / 1000.0
                         * electricity_usd_per_kwh / 3600.0)
    if offer.mode == "rent":
        return np.zeros_like(counts), counts * offer.price_usd_per_gpu_hour / 3600.0
    if offer.mode == "owned":
        return np.zeros_like(counts), electricity_per_s
    return counts * offer.purchase_price_usd, electricity_per_s
