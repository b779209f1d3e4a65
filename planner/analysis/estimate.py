"""Cost of one training run: pick (or check) the strategy, then time, GPU-hours, dollars, energy.

Where the user fixes part of the strategy, only the rest is searched; a fixed strategy that does
not fit is reported (``fits = False``) with its breakdown and the nearest strategies that fit.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from catalogs.loader import Catalog, load_catalog
from catalogs.schema import GPUSpec
from planner.types.errors import InputError
from planner.costmodel.evaluate import evaluate
from planner.costmodel.frameworks import fixed_conflict
from planner.costmodel.memory import MemoryConfig
from planner.costmodel.moe import check_expert_parallel, expert_parallel_choices
from planner.costmodel.reliability import request_reliability
from planner.economics.rental import bill
from planner.economics.run_estimate import build_estimate, option_at
from planner.types.estimates import Estimate, EstimateRequest, StrategyOption
from planner.costmodel.precision import RECOMPUTE_ORDER
from planner.costmodel.shape import ModelShape, describe_model
from planner.costmodel.strategy import SearchSpace, context_parallel_choices, enumerate_strategies
from planner.types.layout import replica_size


def shape_from_request(request: EstimateRequest) -> ModelShape:
    return describe_model(seq_len=request.seq_len, model=request.model, params=request.params,
                          layers=request.layers, hidden=request.hidden, heads=request.heads,
                          kv_heads=request.kv_heads, ffn_hidden=request.ffn_hidden, mlp=request.mlp,
                          vocab=request.vocab, tied_embeddings=request.tied_embeddings,
                          moe=dict(experts=request.experts, top_k=request.top_k, shared_experts=request.shared_experts,
                                   expert_ffn_hidden=request.expert_ffn_hidden,
                                   first_dense_layers=request.first_dense_layers))


def check_fixed_strategy(shape: ModelShape, gpu: GPUSpec, gpus: int, request: EstimateRequest) -> None:
    """Structural errors in a user-fixed strategy, each naming the field and what is allowed."""
    tp, pp = request.tp, request.pp
    if tp is not None:
        if tp > gpu.gpus_per_node:
            raise InputError(f"tp: {tp} exceeds the {gpu.gpus_per_node} GPUs of a {gpu.id} node "
                             "(tensor parallelism stays within a node)", "tp")
        if shape.heads % tp or shape.kv_heads % tp:
            allowed = [t for t in (1, 2, 4, 8, 16, 32, 64)
                       if shape.heads % t == 0 and shape.kv_heads % t == 0 and t <= gpu.gpus_per_node]
            raise InputError(f"tp: must divide the {shape.heads} attention heads and {shape.kv_heads} key/value "
                             f"heads; allowed: {allowed}", "tp")
    if pp is not None and pp > shape.layers:
        raise InputError(f"pp: at most the {shape.layers} layers (a stage holds at least one layer)", "pp")
    vpp = request.vpp or 1
    if vpp > 1 and (pp is None or pp < 2):
        raise InputError("vpp: interleaving needs pp ≥ 2 (give --pp)", "vpp")
    if vpp > 1 and pp is not None and pp * vpp > shape.layers:
        raise InputError(f"vpp: pp·vpp = {pp * vpp} chunks exceed the {shape.layers} layers", "vpp")
    cp = request.cp or 1
    if cp > 1 and shape.seq_len % (2 * cp):
        raise InputError(f"cp: the sequence ({shape.seq_len}) must divide into 2·cp = {2 * cp} chunks "
                         "(load-balanced causal context parallelism)", "cp")
    group = replica_size(tp or 1, pp or 1, cp)
    if gpus % group:
        raise InputError(f"gpus: {gpus} is not a multiple of tp·pp·cp = {group}", "gpus")
    if request.ep is not None:      # issue #16: experts divisible by ep, ep carved out of the d·c ranks
        shard_group = gpus // group * cp if tp is not None and pp is not None else None
        problem = check_expert_parallel(int(shape.experts), request.ep, shard_group)
        if problem:
            raise InputError(problem, "ep")
    if request.framework is not None:
        conflict = fixed_conflict(request.framework, tp=tp, pp=pp, cp=request.cp, vpp=request.vpp,
                                  zero=request.zero, precision=request.precision)
        if conflict is not None:
            raise InputError(conflict[1], conflict[0])
    if request.precision is not None and request.precision not in gpu.peak_flops:
        raise InputError(f"precision: {gpu.id} has no {request.precision}; allowed: "
                         f"{', '.join(gpu.precisions)}", "precision")


def search_space_for(request: EstimateRequest, gpu: GPUSpec, base: SearchSpace = SearchSpace()) -> SearchSpace:
    space = base
    if request.tp is not None:
        space = replace(space, tp=(request.tp,))
    if request.pp is not None:
        # a user-fixed p may leave the last stages a layer short (Megatron's uneven first/last stages)
        space = replace(space, pp=(request.pp,), max_pp=max(space.max_pp, request.pp), uneven_pp=True)
    # a fixed p > 1 with no vpp searches the interleaved schedule too (bubble (p−1)/(v·m)); the search
    # alone never interleaves (the solver's grid has v = 1)
    vpp = (request.vpp,) if request.vpp else (1, 2, 4, 8) if (request.pp or 1) > 1 else (1,)
    space = replace(space, cp=(request.cp,) if request.cp is not None else context_parallel_choices(request.seq_len),
                    vpp=vpp)
    if request.zero is not None:
        space = replace(space, zero=(request.zero,))
    if request.framework is not None:
        space = replace(space, framework=request.framework)
    if request.precision is not None:
        space = replace(space, precisions=(request.precision,))
    else:
        # By default train in bf16 where the GPU has it (fp8 is chosen only when asked for:
        # its loss parity is not guaranteed for every model), else fp16, else fp32.
        default = next(p for p in ("bf16", "fp16", "fp32") if p in gpu.peak_flops)
        space = replace(space, precisions=(default,))
    if request.recompute is not None:
        space = replace(space, recompute=(request.recompute,))
    if request.micro_batch is not None:
        space = replace(space, micro_batches=(request.micro_batch,))
    if request.global_batch_tokens is not None:
        # The batch rounds up to a multiple of d·b sequences, so leave room above the asked-for size.
        space = replace(space, global_batch_tokens=request.global_batch_tokens,
                        max_global_batch_tokens=max(space.max_global_batch_tokens, 2.0 * request.global_batch_tokens))
    return space


def _nearest_fitting(shape: ModelShape, gpu: GPUSpec, gpus: int, request: EstimateRequest,
                     memory_config: MemoryConfig, limit: int = 3) -> list[StrategyOption]:
    """Fitting strategies that change the fewest of the user's fixed choices, fastest first."""
    relaxed = replace(search_space_for(EstimateRequest(tokens=request.tokens, gpu=request.gpu, gpus=gpus),
                                       gpu), recompute=RECOMPUTE_ORDER, zero=(0, 1, 2, 3))
    if request.precision is not None:
        relaxed = replace(relaxed, precisions=(request.precision,))
    relaxed = replace(relaxed, ep=expert_parallel_choices(int(shape.experts)))
    arrays = enumerate_strategies(shape, gpu, gpus, relaxed)
    if not len(arrays):
        return []
    evaluation = evaluate(shape, gpu, arrays, memory_config)
    fixed = {"tp": request.tp, "pp": request.pp, "zero": request.zero, "micro_batch": request.micro_batch,
             "ep": request.ep}
    changes = np.zeros(len(arrays))
    for name, value in fixed.items():
        if value is not None:
            changes += getattr(arrays, name) != value
    if request.recompute is not None:
        changes += arrays.recompute_idx != RECOMPUTE_ORDER.index(request.recompute)
    order = np.lexsort((-evaluation.tokens_per_second, changes))
    return [option_at(evaluation, int(i)) for i in order if evaluation.fits[i]][:limit]


def estimate(request: EstimateRequest, catalog: Catalog | None = None,
             memory_config: MemoryConfig = MemoryConfig()) -> Estimate:
    """The cost of ``request``; the strategy fields it leaves unset are searched."""
    catalog = catalog or load_catalog()
    gpu = catalog.get(request.gpu)
    shape = shape_from_request(request)
    check_fixed_strategy(shape, gpu, request.gpus, request)
    if request.framework is not None:
        memory_config = replace(memory_config, framework=request.framework)
    space = search_space_for(request, gpu)
    space = replace(space, ep=(request.ep,) if request.ep is not None else expert_parallel_choices(int(shape.experts)))
    if request.a2a_overlap is not None:
        memory_config = replace(memory_config, a2a_overlap=request.a2a_overlap)
    arrays = enumerate_strategies(shape, gpu, request.gpus, space)
    if not len(arrays):
        raise InputError(
            f"gpus: no valid layout of {shape.layers} layers / {shape.heads} heads on {request.gpus} × {gpu.id} "
            f"within the batch limit ({space.max_global_batch_tokens:.3g} tokens); use a GPU count that is a "
            "multiple of a power of two, or fewer GPUs", "gpus")
    evaluation = evaluate(shape, gpu, arrays, memory_config)
    best = evaluation.fastest_fitting()
    notes: list[str] = []
    nearest: list[StrategyOption] = []
    if best is None:
        best = int(np.argmin(evaluation.memory["total"]))
        nearest = _nearest_fitting(shape, gpu, request.gpus, request, memory_config)
        notes.append(f"does not fit: needs {evaluation.memory['total'][best] / 1e9:.1f} GB per GPU, "
                     f"{evaluation.usable_memory_bytes / 1e9:.1f} GB usable on {gpu.id}")
    fixed = [n for n in ("tp", "pp", "zero", "precision", "recompute", "micro_batch") if getattr(request, n) is not None]
    source = "search" if not fixed else ("user" if len(fixed) == 6 else "user+search")
    run = build_estimate(request.tokens, shape, gpu, request.gpus, evaluation, best,
                         request.price_usd_per_gpu_hour or gpu.price_usd_per_gpu_hour, source, nearest, notes,
                         reliability=request_reliability(request), region=request.region,
                         grid_gco2_per_kwh=request.grid_gco2_per_kwh)
    if run.checkpoint_interval_s is not None and run.wall_clock_hours * 3600.0 < run.checkpoint_interval_s:
        run = run.model_copy(update={"notes": run.notes + [
            f"the run ({run.wall_clock_hours * 60:,.1f} min) ends before its first checkpoint "
            f"({run.checkpoint_interval_s / 60:,.1f} min) and its start-up takes {run.startup_s / 60:,.0f} min: "
            f"more tokens or fewer GPUs would make a sensible run"]})
    if request.provider is None:
        return run
    # issue #15: the provider bills whole increments, minimum blocks and whole nodes (cost ≥ used)
    billed = bill(gpu.id, request.gpus, run.wall_clock_hours * 3600.0, run.price_usd_per_gpu_hour, request.provider,
                  price_overridden=request.price_usd_per_gpu_hour is not None)
    extra = []
    if billed.billed_hours > run.wall_clock_hours * (1 + 1e-9) or billed.billed_gpus > run.gpus:
        extra = [f"{billed.provider} bills {billed.billed_gpus} GPUs × {billed.billed_hours:,.2f} h for "
                 f"{run.gpus} × {run.wall_clock_hours:,.2f} h used"]
    return run.model_copy(update={"provider": billed.provider, "billed_hours": billed.billed_hours,
                                  "billed_gpus": billed.billed_gpus, "cost_usd": billed.cost_usd,
                                  "price_usd_per_gpu_hour": billed.price_usd_per_gpu_hour,
                                  "notes": run.notes + extra})
