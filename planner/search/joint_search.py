"""One branch and bound over several problems at once (``--allow-moe``: the dense arm and the sparse
variants, issue #16 follow-up), at (problem, GPU type, size, GPU count) granularity.

``min_loss_search`` (``planner.search.branch_and_bound``) solves one problem to its own optimum, opening
a (GPU type, size) pair with every GPU count. Solving five arms that way evaluated ~380 pairs × 17
counts of MoE throughput grids (10 s of CPU for ``planner best --budget-usd 2M --deadline 30d
--allow-moe``). Here every arm's optimistic loss bound is kept per GPU count (the same bound as
``loss_lower_bounds``, before its minimum over counts), and the arms share ONE incumbent: a triple is
evaluated only while its bound beats the best loss found in ANY arm (plus the near-tie tolerance),
so an arm that cannot beat the best plan is never evaluated past its bound. The result is the exact
optimum over the union of the arms' size lattices (as exhaustive evaluation of every arm would find
it: tests/search/test_joint_search.py), then refined in the fine window around it, like
``min_loss_search`` refines one problem's optimum.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from planner.costmodel.precision import GRAD_BYTES, OPTIMIZER_BYTES, PRECISION_ORDER, WEIGHT_BYTES
from planner.costmodel.strategy import effective_precisions
from planner.search.branch_and_bound import Search, _best_row, _optimistic_tables, losses, size_range
from planner.search.candidates import (CandidateTable, cached_variants_grid, concat_tables, fine_window, offer_table,
                                       search_counts)
from planner.search.outcomes import max_token_runs, predicted_loss
from planner.search.problem import Problem

# One round evaluates a prefix of the open (arm, GPU type, size) pairs in best-bound order: as long as
# it spans at most BATCH_GROUPS (arm, GPU type) grids and MAX_BATCH_PAIRS pairs. A grid call costs
# ~10 ms whatever its size and ~1 ms per (size, count) row, so pairs of a grid already in the round
# are nearly free (tuned on the README's --allow-moe question, see the report in docs/models.md).
BATCH_GROUPS = 3
MAX_BATCH_PAIRS = 8


@dataclass
class Level:
    """Sizes of one problem (its lattice, or a fine window) with per-(size, count) loss bounds."""

    sizes: np.ndarray
    counts: dict[int, np.ndarray]       # offer index -> the GPU counts searched
    bounds: dict[int, np.ndarray]       # offer index -> (sizes, counts) optimistic loss
    done: dict[int, np.ndarray]         # offer index -> (sizes, counts) evaluated

    def pair_bounds(self, n_offers: int) -> np.ndarray:
        """(offers × sizes) bounds, as ``loss_lower_bounds`` returns them."""
        out = np.full((n_offers, len(self.sizes)), np.inf)
        for t, b in self.bounds.items():
            out[t] = b.min(axis=1)
        return out

    def unevaluated_bound(self) -> float:
        """The lowest bound of a triple not evaluated (inf if all were)."""
        return min((float(np.where(self.done[t], np.inf, b).min(initial=np.inf)) for t, b in self.bounds.items()),
                   default=np.inf)


def body_params(ctx: Problem, sizes: np.ndarray) -> np.ndarray:
    """Per size: the fewest non-embedding parameters (all experts included) of its candidate shapes."""
    return np.array([min(float(s.params) - float(s.vocab) * s.hidden * (1.0 if s.tied_embeddings else 2.0)
                         for s in ctx.shapes(n)) for n in sizes])


def state_bytes_lower_bound(ctx: Problem, t: int, body: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(sizes, counts) bytes per GPU no strategy goes below (``body``: ``body_params`` of the sizes): the weights, gradients and optimizer
    states of every non-embedding parameter (all experts included) spread evenly over all GPUs, at
    the leanest precision searched, plus the framework overhead (``planner.costmodel.memory``: each
    GPU holds at least its 1/(t·p·d·c) share of the body and 1/(t·ep·edp·p) of the experts, i.e. 1/n,
    even at ZeRO-3; activations and buffers only add)."""
    offer = ctx.offers[t]
    config = ctx.memory_config_for(offer)
    indices = [PRECISION_ORDER.index(p) for p in effective_precisions(offer.gpu, ctx.precisions)]
    per_param = min(float(WEIGHT_BYTES[i] + GRAD_BYTES[i] + OPTIMIZER_BYTES[i]) for i in indices)
    return per_param * np.maximum(body, 0.0)[:, None] / counts[None, :] + config.framework_overhead_bytes


def level(ctx: Problem, sizes) -> Level:
    """Bounds of ``sizes``: ``loss_lower_bounds`` per GPU count, and inf where even the states of
    the model cannot fit in the GPUs' memory (``state_bytes_lower_bound``)."""
    sizes = np.asarray(sizes, dtype=float)
    counts, bounds, done = {}, {}, {}
    body = body_params(ctx, sizes)
    for t, optimistic in _optimistic_tables(ctx, sizes):
        ok, _, tokens, _ = max_token_runs(ctx, optimistic)
        loss = np.where(ok, predicted_loss(ctx, optimistic.params, np.where(ok, tokens, 1.0)), np.inf)
        counts[t] = search_counts(ctx.offers[t])
        offer = ctx.offers[t]
        usable = ctx.memory_config_for(offer).usable_bytes(offer.gpu.memory_bytes)
        fits = state_bytes_lower_bound(ctx, t, body, counts[t]) <= usable
        bounds[t] = np.where(fits, loss.reshape(len(sizes), len(counts[t])), np.inf)
        done[t] = np.zeros(bounds[t].shape, dtype=bool)
    return Level(sizes, counts, bounds, done)


@dataclass
class Arm:
    """One problem of the joint search and what has been evaluated of it."""

    label: str
    ctx: Problem
    lattice: Level
    table: CandidateTable | None = None
    window: Level | None = None
    extra: dict = field(default_factory=dict)

    def best_row(self, sizes=None) -> tuple[int, float] | None:
        """(row, loss) of the best evaluated candidate (at ``sizes`` only, if given), in
        ``branch_and_bound._best_row``'s order: lowest loss, then cost, then fewer GPUs."""
        if self.table is None:
            return None
        rows = np.arange(len(self.table)) if sizes is None else np.nonzero(np.isin(self.table.params, sizes))[0]
        best = _best_row(self.ctx, self.table.take(rows)) if len(rows) else None
        if best is None:
            return None
        return int(rows[best]), float(losses(self.ctx, self.table.take([rows[best]]))[4][0])

    def search(self) -> Search:
        """The arm's evaluated candidates as ``min_loss_search`` returns them (for ``objectives.min_loss``)."""
        return Search(self.table, self.lattice.sizes, self.lattice.pair_bounds(len(self.ctx.offers)), None)


def make_arm(label: str, ctx: Problem) -> Arm:
    return Arm(label, ctx, level(ctx, size_range(ctx)))


def _evaluate(ctx: Problem, t: int, sizes: np.ndarray, counts: np.ndarray) -> CandidateTable:
    """Candidates of offer ``t`` at ``sizes`` × ``counts`` (one vectorised throughput grid)."""
    offer = ctx.offers[t]
    grid = cached_variants_grid([ctx.shapes(n) for n in sizes], offer.gpu, counts, ctx.space,
                                ctx.memory_config_for(offer))
    return offer_table(ctx, t, sizes, counts, grid.tokens_per_second.ravel(), [grid])


def branch_and_bound(units: list[tuple[Arm, Level]], incumbent: float, slack: float) -> float:
    """Evaluate (arm, type, size, count) triples best bound first, BATCH_PAIRS (arm, type, size) at a
    time, until no unevaluated triple's bound beats ``incumbent`` + ``slack``; returns the incumbent."""
    while True:
        threshold = incumbent + slack
        items = []
        for u, (arm, lv) in enumerate(units):
            for t, b in lv.bounds.items():
                open_ = ~lv.done[t] & (b < threshold)
                if open_.any():
                    per_size = np.where(open_, b, np.inf).min(axis=1)
                    items += [(float(per_size[k]), u, t, int(k)) for k in np.nonzero(np.isfinite(per_size))[0]]
        if not items:
            return incumbent
        items.sort(key=lambda item: item[0])
        groups: dict[tuple[int, int], list[int]] = {}
        for n, (_, u, t, k) in enumerate(items):      # a prefix of the best-first order ...
            if n >= MAX_BATCH_PAIRS or ((u, t) not in groups and len(groups) >= BATCH_GROUPS):
                break                                  # ... of at most BATCH_GROUPS grids
            groups.setdefault((u, t), []).append(k)
        touched = set()
        for (u, t), ks in groups.items():
            arm, lv = units[u]
            patterns: dict[tuple[int, ...], list[int]] = {}      # sizes needing the same counts: one grid
            for k in sorted(ks):
                cols = np.nonzero(~lv.done[t][k] & (lv.bounds[t][k] < threshold))[0]
                patterns.setdefault(tuple(cols.tolist()), []).append(k)
            for cols, same in patterns.items():
                part = _evaluate(arm.ctx, t, lv.sizes[same], lv.counts[t][list(cols)])
                lv.done[t][np.ix_(same, cols)] = True
                arm.table = part if arm.table is None else concat_tables(arm.table, part)
            touched.add(u)
        for u in touched:       # a lattice's incumbent is its own rows' (a window's: everything evaluated)
            arm, lv = units[u]
            best = arm.best_row(lv.sizes if lv is arm.lattice else None)
            if best is not None:
                incumbent = min(incumbent, best[1])


def best_arm(arms: list[Arm], near_ties: bool = True) -> Arm | None:
    """The arm holding the best plan over every arm's lattice and the fine window around that arm's
    own lattice optimum (what one ``min_loss_search`` per arm would find), or None if nothing runs.
    Ties go to the earlier arm.

    The lattices are searched jointly (one incumbent). Then, best arm first, each arm's window is
    searched unless no fine size near any size that may be its lattice optimum has a bound beating
    the incumbent (``_refine``). Arms are compared by their strict optimum, so only the winner's
    candidates within the near-tie tolerance of it are then evaluated too (``near_ties``), for
    ``objectives.min_loss`` to rank them (``planner.search.near_ties``)."""
    if not arms:
        return None
    slack = 0.0
    found = [a.best_row(a.lattice.sizes) for a in arms]
    incumbent = min((f[1] for f in found if f is not None), default=np.inf)
    incumbent = branch_and_bound([(a, a.lattice) for a in arms], incumbent, slack)
    lattice_best = [a.best_row(a.lattice.sizes) for a in arms]
    for i in sorted(range(len(arms)), key=lambda i: (np.inf if lattice_best[i] is None else lattice_best[i][1], i)):
        incumbent = _refine(arms[i], incumbent, slack)
    found = [(f[1], i) for i, f in enumerate(a.best_row() for a in arms) if f is not None]
    if not found:
        return None
    incumbent, i = min(found)
    winner, tolerance = arms[i], arms[i].ctx.loss_tolerance
    if near_ties and tolerance > 0:
        branch_and_bound([(winner, winner.lattice)], incumbent, tolerance)
        if winner.window is not None:
            branch_and_bound([(winner, winner.window)], incumbent, tolerance)
    return winner


def _refine(arm: Arm, incumbent: float, slack: float) -> float:
    """Search ``arm``'s fine window (around its own lattice optimum) for plans within ``slack`` of
    ``incumbent``; returns the incumbent. Its lattice optimum c is not known when the joint search
    pruned the arm, but c's bound is at most its loss, hence at most the arm's best evaluated lattice
    loss: if no fine size around such a lattice size has a bound below incumbent + slack, no window
    of the arm can hold a better plan and nothing is evaluated. Otherwise the arm's lattice is
    searched to its own optimum (as its own search would) and its window around it."""
    ctx = arm.ctx
    if ctx.params is not None or not ctx.refine:
        return incumbent
    if arm.window is None:
        best = arm.best_row(arm.lattice.sizes)
        limit = np.inf if best is None else best[1]
        pair = arm.lattice.pair_bounds(len(ctx.offers)).min(axis=0, initial=np.inf)
        centres = arm.lattice.sizes[pair <= limit]
        if not len(centres):
            return incumbent
        near = level(ctx, np.unique(np.concatenate([fine_window(float(c)) for c in centres])))
        arm.extra["window_bound"] = min((float(b.min(initial=np.inf)) for b in near.bounds.values()), default=np.inf)
        if arm.extra["window_bound"] >= incumbent + slack:
            return incumbent
        branch_and_bound([(arm, arm.lattice)], limit, 0.0)        # the arm's own lattice optimum
        best = arm.best_row(arm.lattice.sizes)
        if best is None:
            return incumbent
        arm.window = level(ctx, fine_window(float(arm.table.params[best[0]])))
        incumbent = min(incumbent, best[1])
    return branch_and_bound([(arm, arm.window)], incumbent, slack)


def lower_bound(arm: Arm) -> float:
    """A loss no plan of ``arm``'s own search (lattice and window) beats: its best evaluated loss, an
    unevaluated bound of its lattice or window, or the bound of the fine sizes that may hold its
    window when that was never opened (``_refine``)."""
    best = arm.best_row()
    window = arm.extra.get("window_bound", np.inf) if arm.window is None else arm.window.unevaluated_bound()
    return min(np.inf if best is None else best[1], arm.lattice.unevaluated_bound(), window)
