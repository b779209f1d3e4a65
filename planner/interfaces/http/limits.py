"""Limits of the HTTP API, in one place, so one request cannot take the server down.

The core accepts large searches (a CLI user pays for their own CPU); a shared server does not.
Body size is checked before parsing (413); the size of the search a request asks for is checked
after parsing (422, naming the field and the limit); the time limit bounds each request (503).
docs/http.md lists the same table.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.types.errors import InputError


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1 << 20            # 1 MiB: a request is a few hundred bytes; a plan a few kB
    body_timeout_s: float = 10.0             # the whole body must arrive within this (else 408)
    max_availability_entries: int = 32       # GPU types one request may search over
    max_gpus_per_type: int = 100_000         # availability[].max_count, estimate/finetune gpus, plan hardware.gpus
    max_precisions: int = 5                  # one per precision name (fp32, tf32, fp16, bf16, fp8)
    max_frontier_points: int = 64            # sweep points / budgets of one frontier request
    request_timeout_s: float = 10.0          # wall-clock per request, queueing included; then cancelled (503)
    max_estimated_search_s: float = 10.0     # a search estimated to take longer is refused before it starts
    max_queued_per_worker: int = 8           # requests waiting for a worker; more get 503 + Retry-After
    max_body_bytes_in_flight: int = 8 << 20  # declared body bytes of the POSTs admitted at once (one always is);
    #                                          more get 503 + Retry-After before their body is read


LIMITS = Limits()

# Seconds of search per candidate GPU count (one GPU type at one count, every model size and layout),
# measured on a 2-core CI machine under load (solve: 187 counts in ~0.1-1.2 s; frontier: 187 in ~8 s;
# mixed types: 330 in ~9 s). Only an order of magnitude matters: the time limit still cancels the rest.
SECONDS_PER_COUNT = {"solve": 0.005, "mixed": 0.03, "frontier": 0.04,
                     # allow_moe (issue #16): the joint search over the dense arm and the sparse variants
                     # (planner.search.joint_search), measured on the same loaded 2-core machine: 187 counts
                     # in 1.3 s ($2M / 30 days) to 3.3 s ($100k, budget-bound: every count ties), so
                     # ~0.018 s per count; with allow_mixed each arm is a full mixed search (below).
                     "moe": 0.03}


def over_limit(field: str, value: int | float, limit_name: str, limits: Limits = LIMITS) -> None:
    """Raise InputError naming ``field``, the value and the server limit it exceeds (if it does)."""
    limit = getattr(limits, limit_name)
    if value > limit:
        raise InputError(f"{field}: {value:g} exceeds the server limit {limit_name} = {limit:g}", field)


def search_counts(request, catalog) -> int:
    """How many (GPU type, GPU count) pairs the search of ``request`` visits (each over every size), a
    pair counted once per precision the search tries on that type: fp8 beside bf16 doubles the layouts
    every grid evaluates (``costmodel.strategy.effective_precisions``), and SECONDS_PER_COUNT was
    measured with one precision."""
    from planner.costmodel.strategy import effective_precisions
    from planner.economics.offers import candidate_counts
    from planner.types.requests import DEFAULT_MAX_GPUS_PER_TYPE

    if request.availability is None:
        entries = [(gpu, DEFAULT_MAX_GPUS_PER_TYPE) for gpu in catalog if gpu.default_search]
    else:
        entries = [(catalog.get(a.gpu, f"availability.{i}.gpu"), a.max_count)
                   for i, a in enumerate(request.availability)]
    precisions = getattr(request, "precisions", None) or ("bf16",)
    return sum(len(candidate_counts(gpu, count)) * max(1, len(effective_precisions(gpu, precisions)))
               for gpu, count in entries)


def search_seconds_per_count(request, kind: str) -> float:
    """Estimated seconds per (GPU type, count) pair of the search ``request`` asks for."""
    if kind != "solve":
        return SECONDS_PER_COUNT[kind]
    mixed = bool(getattr(request, "allow_mixed", False))
    if getattr(request, "allow_moe", False):
        from planner.costmodel.moe import MOE_LATTICE
        # mixed fleets keep one full search per arm (planner.search.moe_choice): the dense one + each variant
        return SECONDS_PER_COUNT["mixed"] * (1 + len(MOE_LATTICE)) if mixed else SECONDS_PER_COUNT["moe"]
    return SECONDS_PER_COUNT["mixed" if mixed else "solve"]


def check_search_size(request, catalog, kind: str, limits: Limits = LIMITS) -> None:
    """Refuse (before starting) a search whose estimated time exceeds ``max_estimated_search_s``."""
    if catalog is None:
        return
    counts = search_counts(request, catalog)
    rate = search_seconds_per_count(request, kind)
    seconds = counts * rate
    if seconds > limits.max_estimated_search_s:
        raise InputError(f"availability: this search visits {counts} GPU type × count × precision "
                         f"combinations, estimated "
                         f"{seconds:.0f} s, over the server limit max_estimated_search_s = "
                         f"{limits.max_estimated_search_s:g} s; offer fewer GPU types, smaller counts or "
                         "fewer precisions",
                         "availability")


def check_solve_request(request, limits: Limits = LIMITS, catalog=None, kind: str = "solve") -> None:
    """The search a SolveRequest asks for stays within the server's limits."""
    if request.availability is not None:
        over_limit("availability", len(request.availability), "max_availability_entries", limits)
        for i, entry in enumerate(request.availability):
            over_limit(f"availability.{i}.max_count", entry.max_count, "max_gpus_per_type", limits)
    over_limit("precisions", len(request.precisions), "max_precisions", limits)
    check_search_size(request, catalog, kind, limits)


def check_estimate_request(request, limits: Limits = LIMITS) -> None:
    over_limit("gpus", request.gpus, "max_gpus_per_type", limits)


def check_plan_file(plan, limits: Limits = LIMITS) -> None:
    """A plan file's hardware (what validate costs, and the alternative it searches) within the limits."""
    over_limit("hardware.gpus", plan.hardware.gpus, "max_gpus_per_type", limits)
    if plan.strategy.dp is not None:
        over_limit("strategy.dp", plan.strategy.dp, "max_gpus_per_type", limits)
