"""Rental terms: what a provider bills for a run (issue #15), from ``catalogs/data/rental_terms.toml``.

billed time = the used time raised to the offer's minimum charge / minimum reservation, then rounded
up to its billing increment (or reservation step); billed GPUs = the used GPUs raised to the smallest
rentable count and rounded up to its step (whole nodes). Cost = price × billed GPUs × billed hours.
With no terms (no provider named, or none recorded) billing is continuous: billed = used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from catalogs.loader import load_rental_terms
from catalogs.schema import RentalOffer
from planner.types.errors import InputError


@dataclass(frozen=True)
class Bill:
    provider: str | None
    billed_hours: float
    billed_gpus: int
    price_usd_per_gpu_hour: float
    cost_usd: float


def terms_for(gpu_id: str, provider: str | None) -> RentalOffer | None:
    """The recorded terms of ``provider`` for ``gpu_id`` (None: no provider named)."""
    if provider is None:
        return None
    catalog = load_rental_terms()
    key = str(provider).strip().lower()
    known = sorted({p for offers in catalog.offer.values() for p in offers})
    if key not in known:
        raise InputError(f"provider: unknown provider {provider!r}; known: {', '.join(known)}", "provider")
    if key not in catalog.offer.get(gpu_id, {}):
        have = sorted(catalog.offer.get(gpu_id, {}))
        raise InputError(f"provider: no {key} terms recorded for {gpu_id}; recorded: {', '.join(have) or 'none'}",
                         "provider")
    return catalog.offer[gpu_id][key]


def billed_seconds(used_s, terms: RentalOffer | None):
    """Vectorised ``RentalOffer.billed_seconds``: billed ≥ used always."""
    used = np.asarray(used_s, dtype=float)
    if terms is None:
        return used
    billed = np.maximum(used, max(terms.min_billed_s or 0.0, (terms.min_rental_hours or 0.0) * 3600.0))
    step = terms.billing_increment_s
    if terms.rental_step_hours and (terms.min_rental_hours or 0) > 0:
        step = max(step or 0.0, terms.rental_step_hours * 3600.0)
    if step:
        billed = np.maximum(np.ceil(billed / step - 1e-9) * step, billed)
    return billed


def bill(gpu_id: str, gpus: int, used_s: float, price_usd_per_gpu_hour: float, provider: str | None,
         price_overridden: bool = False) -> Bill:
    """What ``provider`` bills for ``gpus`` × ``used_s`` (continuous billing without a provider)."""
    terms = terms_for(gpu_id, provider)
    if terms is None:
        return Bill(None, used_s / 3600.0, int(gpus), price_usd_per_gpu_hour,
                    price_usd_per_gpu_hour * gpus * used_s / 3600.0)
    price = price_usd_per_gpu_hour if price_overridden or terms.price_usd_per_gpu_hour is None \
        else terms.price_usd_per_gpu_hour
    billed_gpus = terms.rentable_gpus(int(gpus))
    hours = float(billed_seconds(used_s, terms)) / 3600.0
    if terms.max_rental_gpus and billed_gpus > terms.max_rental_gpus:
        raise InputError(f"gpus: {provider} rents at most {terms.max_rental_gpus} × {gpu_id} per reservation", "gpus")
    if terms.max_rental_hours and hours > terms.max_rental_hours * (1 + 1e-9):
        raise InputError(f"provider: {provider} reserves {gpu_id} for at most {terms.max_rental_hours:g} h; "
                         f"this run needs {math.ceil(hours):,} h", "provider")
    return Bill(str(provider).strip().lower(), hours, billed_gpus, price, price * billed_gpus * hours)


def _step_s(terms: RentalOffer) -> float:
    step = terms.billing_increment_s or 0.0
    if terms.rental_step_hours and (terms.min_rental_hours or 0) > 0:
        step = max(step, terms.rental_step_hours * 3600.0)
    return step


def longest_use_within(billable_s, terms: RentalOffer | None):
    """Vectorised: the longest use whose billed time fits in ``billable_s`` seconds of billing (the
    inverse of ``billed_seconds``): whole billing steps, and -1 where even the minimum charge does not
    fit. Without terms: ``billable_s`` itself."""
    billable = np.asarray(billable_s, dtype=float)
    if terms is None:
        return billable
    step = _step_s(terms)
    minimum = float(billed_seconds(0.0, terms))
    with np.errstate(invalid="ignore"):
        used = np.floor(billable / step + 1e-9) * step if step else billable.copy()
    used = np.where(np.isinf(billable), billable, used)
    if terms.max_rental_hours:
        used = np.minimum(used, terms.max_rental_hours * 3600.0)
    return np.where(billable + 1e-9 * np.maximum(billable, 1.0) >= minimum, used, -1.0)


def rentable_mask(gpus, terms: RentalOffer | None):
    """Vectorised: which GPU counts the terms rent as they are (at least the minimum, whole steps,
    at most the maximum); all of them without terms."""
    gpus = np.asarray(gpus, dtype=np.int64)
    if terms is None:
        return np.ones(gpus.shape, dtype=bool)
    ok = gpus >= (terms.min_rental_gpus or 1)
    ok &= gpus % (terms.rental_gpu_step or 1) == 0
    if terms.max_rental_gpus:
        ok &= gpus <= terms.max_rental_gpus
    return ok
