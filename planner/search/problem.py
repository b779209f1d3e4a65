"""The resolved problem: a request with every default applied and every name looked up.

The search never reads the raw request: the stages read the numbers here (budget, deadline with
its default, offers resolved against the catalog, the law, the strategy search space), so a
default is applied once and the answer can say which defaults it used.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from catalogs.loader import Catalog, load_catalog
from planner.costmodel.memory import MemoryConfig
from planner.costmodel.moe import sparse_shape
from planner.costmodel.reliability import Reliability, request_reliability, with_overrides
from planner.costmodel.shape import FAMILIES, ModelShape, family_shapes
from planner.costmodel.strategy import SearchSpace, context_parallel_choices, effective_precisions
from planner.economics.carbon import grid_intensity
from planner.economics.intervals import time_factor
from planner.economics.offers import Offer, resolve_offers
from planner.search.near_ties import DEFAULT_LOSS_TOLERANCE
from planner.types.errors import InputError
from planner.types.requests import SolveRequest
from scaling_laws import Law, load_law

# Micro-batches the solver tries; 16 rarely wins at the sequence lengths LLMs train with.
SOLVER_MICRO_BATCHES = (1, 2, 4, 8)
# Without a deadline the cheapest plan can be a handful of GPUs running for years; a run longer
# than a quarter is rarely acceptable, so unless the request gives a deadline this one applies
# (and the plan says so). Pass a deadline to lift it.
DEFAULT_DEADLINE_HOURS = 90 * 24.0
# Issue #15: clusters of more than one node are not rented by the hour but reserved in blocks; the
# shortest published multi-node reservation is a day (AWS EC2 Capacity Blocks: 1-day minimum and
# step, catalogs/data/rental_terms.toml [offer.h100-sxm.aws-capacity-blocks]). A rented multi-node
# plan must therefore run at least this long (request field min_rental_hours; 0 turns it off).
DEFAULT_MIN_RENTAL_HOURS = 24.0


@dataclass(frozen=True)
class Problem:
    """What to optimise, within which limits, over which offers (all units in the names)."""

    objective: str
    budget_usd: float | None
    deadline_hours: float                 # the request's deadline, or DEFAULT_DEADLINE_HOURS
    deadline_given: bool
    power_cap_kw: float | None
    params: float | None                  # fixed model size (min_cost / min_time)
    tokens: float | None                  # fixed training tokens
    target_loss: float | None
    unique_tokens: float | None
    inference_tokens: float | None
    precisions: tuple[str, ...]
    seq_len: int
    vocab: int                            # the request's, or the family's default
    family: str                           # how a bare size becomes a shape (planner.costmodel.shape.FAMILIES)
    pue: float
    electricity_usd_per_kwh: float
    allow_mixed: bool
    catalog: Catalog
    law: Law
    offers: list[Offer]
    space: SearchSpace
    memory_config: MemoryConfig
    refine: bool = True                   # the fine sizes around the lattice optimum and the exact GPU caps
    # Issue #15 (realism): failures, checkpoints, restarts and start-up; minimum rental block.
    reliability: Reliability = Reliability(0.0, 1e30, 0.0, 0.0)
    min_rental_hours: float = 0.0
    region: str | None = None
    grid_gco2_per_kwh: float | None = None
    confidence: float | None = None       # plan so deadline and budget hold with this probability
    time_margin: float = 1.0              # predicted time × margin = the time at that probability
    loss_tolerance: float = 0.0           # min_loss near-ties (planner.search.near_ties); 0 = strict optimum
    # Issue #16: a sparse variant (planner.costmodel.moe.MoEVariant). Sizes are then ACTIVE
    # parameters; each shape is the family's dense shape with its MLPs made experts.
    moe: object | None = None

    @property
    def deadline_s(self) -> float:
        """Seconds the job may RUN at the point prediction: the deadline less the one-off start-up
        (times in the search and in plans are expected running times; the start-up is reported beside
        them, ``startup_s``), divided by the time margin when a confidence is asked (so predicted time ×
        margin, the time at that probability, fits in it)."""
        return (self.deadline_hours * 3600.0 - self.reliability.startup_time_s) / self.time_margin

    def reliability_for(self, offer: Offer) -> Reliability:
        """The request's reliability, plus the preemptions of a spot offer (issue #15)."""
        if offer.spot_failures_per_gpu_hour <= 0:
            return self.reliability
        rate = min(self.reliability.failure_rate_per_gpu_hour + offer.spot_failures_per_gpu_hour, 0.999)
        return with_overrides(self.reliability, failure_rate_per_gpu_hour=rate)

    def memory_config_for(self, offer: Offer) -> MemoryConfig:
        """The memory config whose reliability the grid's expected throughput uses for ``offer``."""
        if offer.spot_failures_per_gpu_hour <= 0:
            return self.memory_config
        return replace(self.memory_config, reliability=self.reliability_for(offer))

    @property
    def billed(self) -> bool:
        """True when some offer is billed on provider terms (the budget counts billed time)."""
        return any(o.terms is not None for o in self.offers)

    def shapes(self, params: float) -> tuple[ModelShape, ...]:
        """Candidate shapes of a model of ``params`` parameters in the request's family, best first
        (with ``moe`` set: of ``params`` active parameters, sparse)."""
        return _shapes(float(params), self.seq_len, self.vocab, self.family, self.moe)


@lru_cache(maxsize=16384)      # the searches ask for the same sizes many times (bounds, grids, plans)
def _shapes(params: float, seq_len: int, vocab: int, family: str, moe) -> tuple[ModelShape, ...]:
    shapes = family_shapes(params, seq_len, vocab, family)
    if moe is not None:
        shapes = tuple(sparse_shape(shape, moe, params) for shape in shapes)
    return shapes


def make_problem(request: SolveRequest, catalog: Catalog | None = None) -> Problem:
    """Resolve ``request`` against the catalog and the law presets; input errors name the field."""
    catalog = catalog or load_catalog()
    grid_intensity(request.region, request.grid_gco2_per_kwh)       # unknown regions are input errors
    reliability = request_reliability(request)
    offers = resolve_offers(request, catalog)
    if not any(effective_precisions(o.gpu, request.precisions) for o in offers):
        have = sorted({p for o in offers for p in o.gpu.precisions})
        raise InputError(f"precisions: none of {', '.join(request.precisions)} runs on the GPUs offered; "
                         f"they support {', '.join(have)}", "precisions")
    space = SearchSpace(precisions=tuple(request.precisions), micro_batches=SOLVER_MICRO_BATCHES,
                        cp=context_parallel_choices(request.seq_len), framework=request.framework)
    if request.global_batch_tokens is not None:
        space = replace(space, global_batch_tokens=request.global_batch_tokens)
    if request.max_global_batch_tokens is not None:
        space = replace(space, max_global_batch_tokens=request.max_global_batch_tokens)
    if space.global_batch_tokens > space.max_global_batch_tokens:
        raise InputError(f"global_batch_tokens: {space.global_batch_tokens:.4g} exceeds the batch limit "
                         f"max_global_batch_tokens = {space.max_global_batch_tokens:.4g}", "global_batch_tokens")
    given = request.deadline_hours is not None
    return Problem(
        objective=request.objective, budget_usd=request.budget_usd,
        deadline_hours=request.deadline_hours if given else DEFAULT_DEADLINE_HOURS, deadline_given=given,
        power_cap_kw=request.power_cap_kw, params=request.params, tokens=request.tokens,
        target_loss=request.target_loss, unique_tokens=request.unique_tokens,
        inference_tokens=request.inference_tokens, precisions=tuple(request.precisions),
        seq_len=request.seq_len, vocab=request.vocab or FAMILIES[request.family].default_vocab,
        family=request.family, pue=request.pue,
        electricity_usd_per_kwh=request.electricity_usd_per_kwh, allow_mixed=request.allow_mixed,
        catalog=catalog, law=load_law(request.law), offers=offers, space=space, memory_config=MemoryConfig(reliability=reliability,
                                                                                          framework=request.framework),
        reliability=reliability, region=request.region, grid_gco2_per_kwh=request.grid_gco2_per_kwh,
        min_rental_hours=DEFAULT_MIN_RENTAL_HOURS if request.min_rental_hours is None else request.min_rental_hours,
        confidence=request.confidence,
        loss_tolerance=DEFAULT_LOSS_TOLERANCE if request.loss_tolerance is None else request.loss_tolerance,
        time_margin=1.0 if request.confidence is None else max(1.0, time_factor(request.confidence)))
