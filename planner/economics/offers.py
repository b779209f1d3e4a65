"""What hardware a request may use and what it costs per second: rent, owned or bought GPUs.

  rent:   price per GPU-hour × GPUs; power is in the price.
  owned:  already paid for; the run costs its electricity (GPUs × board power × utilisation × PUE).
  buy:    the purchase price of the GPUs (the whole capex is charged to this job: a team asking
          "should we buy for this run" pays it up front) plus electricity.
Facility power for a power cap is GPUs × board power × PUE (rated, not average: a cap must hold
at peak draw).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from catalogs.loader import Catalog, load_rental_terms
from catalogs.schema import GPUSpec, RentalOffer
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
    # Issue #15: the provider's rental terms (catalogs/data/rental_terms.toml) the solver bills on, and
    # the failures a spot offer's preemptions add (per GPU-hour; 0 on demand).
    terms: RentalOffer | None = None
    spot_failures_per_gpu_hour: float = 0.0
    provider: str | None = None           # "lambda-1cc", "aws (spot)", ...


def resolve_offers(request: SolveRequest, catalog: Catalog) -> list[Offer]:
    """Availability entries resolved against the catalog (default: every GPU, rented), billed on the
    request's provider terms when it names one."""
    offers = _catalog_offers(request, catalog)
    provider = getattr(request, "provider", None)
    if provider is None:
        if getattr(request, "spot", False):
            raise InputError("spot: name the provider whose spot offer to rent (provider)", "spot")
        return offers
    return _on_terms(request, offers, str(provider).strip().lower(), explicit=request.availability is not None)


def _on_terms(request: SolveRequest, offers: list[Offer], provider: str, explicit: bool) -> list[Offer]:
    """Rented offers billed on ``provider``'s terms: its price (unless overridden), or its spot price and
    preemptions with ``spot``. Without explicit availability only the GPUs the provider rents are offered."""
    recorded = load_rental_terms().offer
    known = sorted({p for by_provider in recorded.values() for p in by_provider})
    if provider not in known:
        raise InputError(f"provider: unknown provider {provider!r}; known: {', '.join(known)}", "provider")
    out = []
    for i, offer in enumerate(offers):
        if offer.mode != "rent":
            out.append(offer)
            continue
        terms = recorded.get(offer.gpu.id, {}).get(provider)
        if terms is None:
            if explicit:
                have = sorted(g for g, by_provider in recorded.items() if provider in by_provider)
                raise InputError(f"provider: {provider} rents no {offer.gpu.id} in rental_terms.toml; it rents "
                                 f"{', '.join(have)}", "provider")
            continue
        overridden = explicit and request.availability[i].price_usd_per_gpu_hour is not None
        price = offer.price_usd_per_gpu_hour if overridden or terms.price_usd_per_gpu_hour is None \
            else terms.price_usd_per_gpu_hour
        failures = 0.0
        if request.spot:
            if terms.spot_price_usd_per_gpu_hour is None:
                raise InputError(f"spot: {provider} records no spot offer for {offer.gpu.id}", "spot")
            price = offer.price_usd_per_gpu_hour if overridden else terms.spot_price_usd_per_gpu_hour
            # preemptions are per instance (the smallest rentable unit); spread over its GPUs
            instance = terms.min_rental_gpus or offer.gpu.gpus_per_node
            failures = (terms.spot_interruptions_per_hour or 0.0) / instance
        out.append(replace(offer, price_usd_per_gpu_hour=price, terms=terms, spot_failures_per_gpu_hour=failures,
                           provider=provider + (" (spot)" if request.spot else "")))
    if not out:
        raise InputError(f"provider: {provider} rents none of the GPUs offered", "provider")
    return out


def _catalog_offers(request: SolveRequest, catalog: Catalog) -> list[Offer]:
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
