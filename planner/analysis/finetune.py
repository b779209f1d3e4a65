"""Fine-tuning planner: can this method fit on this hardware, how long, how much, and if not, what fix.

``plan_finetune(FinetuneRequest) -> FinetuneResponse`` is the one core function the CLI, the HTTP
API and plan files call. With method, GPU type and count fixed it checks that configuration
("check"); otherwise it searches methods × catalog GPUs × counts (1, 2, 4 and whole nodes up to 64)
× strategies and returns the cheapest (or fastest) feasible one ("search"). Memory and FLOPs per
method are in ``planner.costmodel.finetune``; the step time reuses ``planner.costmodel.throughput`` for the
parts fine-tuning shares with pre-training and changes only what a frozen base changes.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from catalogs.loader import Catalog, load_catalog
from catalogs.schema import GPUSpec
from planner.analysis.estimate import check_fixed_strategy
from planner.costmodel.calibration import FINETUNE_STACK_EFFICIENCY
from planner.costmodel.evaluate import Evaluation
from planner.costmodel.frameworks import fixed_conflict
from planner.costmodel.finetune import (METHODS, MethodSpec, evaluate_finetune, method_spec, model_flops_per_token_ft,
                                        trainable_params)
from planner.costmodel.memory import MemoryConfig
from planner.costmodel.shape import ModelShape, describe_model
from planner.costmodel.strategy import SearchSpace, enumerate_strategies
from planner.economics.costing import energy_kwh, gpu_hours, rent_cost_usd
from planner.types.errors import InputError, validate_model
from planner.types.plan_file import PlanFile, check_consistency, global_batch_tokens_of
from planner.types.estimates import EstimateRequest
from planner.types.finetune import (Binding, FinetuneFix,
                                    FinetuneMemory, FinetuneOption, FinetuneRequest, FinetuneResponse, FinetuneTime)
from planner.types.vocabulary import Objective

MAX_BATCH_FACTOR = 4
MAX_SEARCH_GPUS = 64            # the search's default ceiling (whole nodes up to 64 GPUs)
MAX_FIX_GPUS = 4096             # how far the "more GPUs" fix looks
MIN_FIX_SEQ_LEN = 256           # shortest sequence the "shorter sequences" fix proposes

# ---------------------------------------------------------------------------------------------
# Building blocks of the search


def with_defaults(request: FinetuneRequest) -> FinetuneRequest:
    """The request with the calibrated stack efficiency filled in where it gives none."""
    if request.stack_efficiency is not None:
        return request
    return request.model_copy(update={"stack_efficiency": FINETUNE_STACK_EFFICIENCY})


def check_request(request: FinetuneRequest) -> None:
    """Combinations pydantic cannot express, each naming its field."""
    if request.method == "full" and request.rank is not None:
        raise InputError("rank: applies to lora/qlora, not full fine-tuning", "rank")
    if request.method == "full" and request.targets is not None:
        raise InputError("targets: applies to lora/qlora, not full fine-tuning", "targets")
    if request.method is not None:
        method_spec(request.method, request.rank, request.targets, request.base_quant)
    if request.tp is not None and request.tp & (request.tp - 1):
        raise InputError(f"tp: must be a power of two, got {request.tp}", "tp")
    if request.framework is not None:
        conflict = fixed_conflict(request.framework, tp=request.tp, pp=request.pp, zero=request.zero)
        if conflict is not None:
            raise InputError(conflict[1], conflict[0])


def shape_of(request: FinetuneRequest, seq_len: int | None = None) -> ModelShape:
    try:
        return describe_model(seq_len=seq_len or request.seq_len, model=request.model, params=request.base_params,
                              layers=request.layers, hidden=request.hidden, heads=request.heads,
                              kv_heads=request.kv_heads, ffn_hidden=request.ffn_hidden, mlp=request.mlp,
                              vocab=request.vocab, tied_embeddings=request.tied_embeddings)
    except InputError as error:     # the request names the size base_params
        if error.field != "params":
            raise
        raise InputError(str(error).replace("params", "base_params", 1), "base_params") from None


def _space(request: FinetuneRequest, gpu: GPUSpec, shape: ModelShape, relax: bool = False) -> SearchSpace:
    """The strategy space: the user's fixed choices (unless ``relax``), 16-bit compute where the GPU has it."""
    precision = next(p for p in ("bf16", "fp16", "fp32") if p in gpu.peak_flops)
    target = request.global_batch_sequences * shape.seq_len
    space = SearchSpace(precisions=(precision,), global_batch_tokens=target,
                        max_global_batch_tokens=MAX_BATCH_FACTOR * target, framework=request.framework)
    if relax:
        return space
    for name in ("tp", "pp", "zero"):
        if getattr(request, name) is not None:
            space = replace(space, **{name: (getattr(request, name),)})
    if request.pp is not None:
        space = replace(space, max_pp=max(space.max_pp, request.pp))
    if request.recompute is not None:
        space = replace(space, recompute=(request.recompute,))
    if request.micro_batch is not None:
        space = replace(space, micro_batches=(request.micro_batch,))
    return space


def _specs(request: FinetuneRequest) -> list[MethodSpec]:
    """The methods to evaluate: the user's, or all three (skipping those the base format rules out)."""
    specs = []
    for method in (request.method,) if request.method else METHODS:
        if method == "full":
            if request.base_quant in (None, "bf16"):
                specs.append(method_spec("full"))
        elif not (method == "qlora" and request.base_quant == "bf16"):
            specs.append(method_spec(method, request.rank, request.targets, request.base_quant))
    return specs


def _option(shape: ModelShape, spec: MethodSpec, gpu: GPUSpec, gpus: int, ev: Evaluation, i: int,
            request: FinetuneRequest) -> FinetuneOption:
    price = request.price_usd_per_gpu_hour or gpu.price_usd_per_gpu_hour
    tps = float(ev.tokens_per_second[i])
    wall_s = request.tokens / tps
    memory = {k: float(v[i]) for k, v in ev.memory.items()}
    notes = []
    if memory["optimizer_paged_to_cpu"] > 0:
        notes.append(f"fits only by paging {memory['optimizer_paged_to_cpu'] / 1e9:.1f} GB of optimizer states "
                     "to CPU memory (QLoRA paged optimizer)")
    flops_per_token = model_flops_per_token_ft(shape, spec)
    return FinetuneOption(
        method=spec.method, rank=spec.rank if spec.adapted else None, targets=spec.targets if spec.adapted else None,
        base_quant=spec.base_quant, trainable_params=trainable_params(shape, spec), gpu=gpu.id, gpus=gpus,
        nodes=math.ceil(gpus / gpu.gpus_per_node), seq_len=shape.seq_len, strategy=ev.strategy_at(i),
        fits=bool(ev.fits[i]), memory_per_gpu_bytes=memory["total"], usable_memory_per_gpu_bytes=ev.usable_memory_bytes,
        memory_breakdown_bytes=FinetuneMemory(**memory), step_time_s=float(ev.time["total"][i]),
        time_breakdown_s=FinetuneTime(**{k: float(v[i]) for k, v in ev.time.items()}), tokens_per_second=tps,
        model_flops_per_token=flops_per_token, model_flops=flops_per_token * request.tokens, mfu=float(ev.mfu[i]),
        wall_clock_hours=wall_s / 3600.0, gpu_hours=gpu_hours(gpus, wall_s), price_usd_per_gpu_hour=price,
        cost_usd=rent_cost_usd(price, gpus, wall_s), energy_kwh=energy_kwh(gpu.power_watts, gpus, wall_s), notes=notes)


def _best_on(request: FinetuneRequest, shape: ModelShape, specs: list[MethodSpec], gpu: GPUSpec, gpus: int,
             memory_config: MemoryConfig, relax: bool = False, closest: bool = False) -> list[FinetuneOption]:
    """Fastest fitting strategy per method on ``gpus`` × ``gpu`` (or the least-memory one if ``closest``)."""
    arrays = enumerate_strategies(shape, gpu, gpus, _space(request, gpu, shape, relax))
    if not len(arrays):
        return []
    out = []
    for spec in specs:
        ev = evaluate_finetune(shape, spec, gpu, arrays, memory_config, request.stack_efficiency)
        if ev.fits.any():
            i = int(np.argmax(np.where(ev.fits, ev.tokens_per_second, -np.inf)))
        elif closest:
            i = int(np.argmin(ev.memory["total"]))
        else:
            continue
        out.append(_option(shape, spec, gpu, gpus, ev, i, request))
    return out


def default_counts(gpu: GPUSpec, maximum: int = MAX_SEARCH_GPUS) -> list[int]:
    """1, 2, 4, ... within a node, then whole nodes up to ``maximum`` GPUs."""
    counts = [c for c in (1, 2, 4, 8, 16, 32, 64) if c < gpu.gpus_per_node]
    counts += list(range(gpu.gpus_per_node, maximum + 1, gpu.gpus_per_node))
    return counts


def _key(option: FinetuneOption, objective: Objective) -> tuple:
    if objective == "min_time":
        return (option.wall_clock_hours, option.cost_usd, option.gpus)
    return (option.cost_usd, option.wall_clock_hours, option.gpus)


def _within(option: FinetuneOption, request: FinetuneRequest) -> bool:
    return ((request.budget_usd is None or option.cost_usd <= request.budget_usd)
            and (request.deadline_hours is None or option.wall_clock_hours <= request.deadline_hours))


# ---------------------------------------------------------------------------------------------
# Fixes for a configuration that does not fit


def memory_fixes(request: FinetuneRequest, shape: ModelShape, spec: MethodSpec, gpu: GPUSpec, gpus: int,
                 catalog: Catalog, memory_config: MemoryConfig) -> list[FinetuneFix]:
    """Changes that make it fit, smallest first: relax the strategy (recompute, ZeRO), cheaper
    method (LoRA, QLoRA), more GPUs of the type, shorter sequences, a larger-memory GPU."""
    fixes: list[FinetuneFix] = []
    fixed = [n for n in ("tp", "pp", "zero", "recompute", "micro_batch") if getattr(request, n) is not None]
    if fixed:
        found = _best_on(request, shape, [spec], gpu, gpus, memory_config, relax=True)
        if found:
            s = found[0].strategy
            fixes.append(FinetuneFix(kind="strategy", option=found[0], description=(
                f"change the strategy: recompute={s.recompute}, ZeRO-{s.zero}, TP={s.tp}, PP={s.pp}, "
                f"micro-batch={s.micro_batch}")))
    for method in ("lora", "qlora"):
        if METHODS.index(method) > METHODS.index(spec.method):
            alt = method_spec(method, request.rank if spec.adapted else None,
                              request.targets if spec.adapted else None)
            found = _best_on(request, shape, [alt], gpu, gpus, memory_config, relax=True)
            if found:
                fixes.append(FinetuneFix(kind=method, option=found[0], description=(
                    f"use {method.upper() if method == 'qlora' else 'LoRA'} (rank {alt.rank}, {alt.targets} "
                    f"projections, {alt.base_quant} base) on the same {gpus} × {gpu.id}")))
                break
    for count in (c for c in default_counts(gpu, MAX_FIX_GPUS) if c > gpus):
        found = _best_on(request, shape, [spec], gpu, count, memory_config, relax=True)
        if found:
            fixes.append(FinetuneFix(kind="more_gpus", option=found[0],
                                     description=f"use {count} × {gpu.id} (from {gpus})"))
            break
    seq = shape.seq_len // 2
    while seq >= MIN_FIX_SEQ_LEN:
        short = replace(shape, seq_len=seq)
        found = _best_on(request, short, [spec], gpu, gpus, memory_config, relax=True)
        if found:
            fixes.append(FinetuneFix(kind="shorter_sequences", option=found[0],
                                     description=f"train on sequences of {seq} tokens (from {shape.seq_len})"))
            break
        seq //= 2
    bigger = sorted((g for g in catalog if g.memory_bytes > gpu.memory_bytes and g.default_search), key=lambda g: g.price_usd_per_gpu_hour)
    for other in bigger:
        found = _best_on(request, shape, [spec], other, gpus, memory_config, relax=True)
        if found:
            fixes.append(FinetuneFix(kind="larger_gpu", option=found[0],
                                     description=f"use {gpus} × {other.id} ({other.memory_bytes / 2**30:.0f} GB)"))
            break
    return fixes


# ---------------------------------------------------------------------------------------------
# The core function


def plan_finetune(request: FinetuneRequest, catalog: Catalog | None = None,
                  memory_config: MemoryConfig = MemoryConfig()) -> FinetuneResponse:
    """Check a fixed fine-tuning configuration, or find the cheapest / fastest feasible one."""
    catalog = catalog or load_catalog()
    check_request(request)
    if request.framework is not None:       # its layouts (the fine-tuning memory model stays generic)
        memory_config = replace(memory_config, framework=request.framework)
    request = with_defaults(request)
    shape = shape_of(request)
    specs = _specs(request)
    gpus_list = [catalog.get(request.gpu)] if request.gpu else list(catalog)
    check = request.method is not None and request.gpu is not None and request.gpus is not None
    base = dict(objective=request.objective, params=shape.params, tokens=request.tokens,
                shape=shape.wire(),
                budget_usd=request.budget_usd, deadline_hours=request.deadline_hours)
    notes = [f"stack efficiency {request.stack_efficiency:.2f} (measured/modelled throughput; "
             "1.0 = a tuned Megatron-class stack)"]
    if any(s.method == "qlora" for s in specs):
        notes.append("QLoRA's optimizer is paged: states count as GPU memory unless they must move to CPU")

    if check:
        gpu, spec = gpus_list[0], specs[0]
        check_fixed_strategy(shape, gpu, request.gpus, EstimateRequest(
            tokens=request.tokens, gpu=gpu.id, gpus=request.gpus, tp=request.tp, pp=request.pp))
        options = _best_on(request, shape, [spec], gpu, request.gpus, memory_config, closest=True)
        if not options:
            raise InputError(f"gpus: no valid layout of {shape.layers} layers / {shape.heads} heads on "
                             f"{request.gpus} × {gpu.id} with the fixed strategy fields and a batch of "
                             f"{request.global_batch_sequences} sequences", "gpus")
        choice = options[0]
        if not choice.fits:
            fixes = memory_fixes(request, shape, spec, gpu, request.gpus, catalog, memory_config)
            message = (f"does not fit: needs {choice.memory_per_gpu_bytes / 1e9:.1f} GB per GPU, "
                       f"{choice.usable_memory_per_gpu_bytes / 1e9:.1f} GB usable on {gpu.id}")
            if fixes:
                message += f"; smallest fix: {fixes[0].description}"
            return FinetuneResponse(mode="check", feasible=False, choice=choice, binding_constraint="memory",
                                    message=message, fixes=fixes, notes=notes, **base)
        binding, fixes = _budget_deadline(request, [choice], choice)
        message = (f"fits: {choice.wall_clock_hours:.1f} h, ${choice.cost_usd:,.0f}" if binding is None
                   else f"fits in memory but misses the {binding}: {choice.wall_clock_hours:.1f} h, "
                        f"${choice.cost_usd:,.0f}")
        return FinetuneResponse(mode="check", feasible=binding is None, choice=choice, binding_constraint=binding,
                                message=message, fixes=fixes, notes=notes, **base)

    candidates: list[FinetuneOption] = []
    for gpu in gpus_list:
        counts = [request.gpus] if request.gpus else default_counts(gpu)
        for count in counts:
            candidates += _best_on(request, shape, specs, gpu, count, memory_config)
    if not candidates:
        gpu = gpus_list[0] if request.gpu else max(catalog, key=lambda g: g.memory_bytes)
        count = request.gpus or default_counts(gpu)[-1]
        spec = specs[-1]
        fixes = memory_fixes(request, shape, spec, gpu, count, catalog, memory_config)
        closest = _best_on(request, shape, [spec], gpu, count, memory_config, closest=True)
        message = (f"no method fits on up to {count} × {gpu.id}" if request.gpu
                   else f"nothing fits on any catalog GPU up to {count} GPUs")
        if fixes:
            message += f"; smallest fix: {fixes[0].description}"
        return FinetuneResponse(mode="search", feasible=False, choice=closest[0] if closest else None,
                                binding_constraint="memory", message=message, fixes=fixes, notes=notes, **base)
    within = [o for o in candidates if _within(o, request)]
    pool = within or candidates
    choice = min(pool, key=lambda o: _key(o, request.objective))
    alternatives = []
    for method in METHODS:
        others = [o for o in pool if o.method == method and o.method != choice.method]
        if others:
            alternatives.append(min(others, key=lambda o: _key(o, request.objective)))
    if within:
        message = (f"{request.objective}: {choice.method} on {choice.gpus} × {choice.gpu}, "
                   f"{choice.wall_clock_hours:.1f} h, ${choice.cost_usd:,.0f}")
        return FinetuneResponse(mode="search", feasible=True, choice=choice, message=message,
                                alternatives=alternatives, notes=notes, **base)
    binding, fixes = _budget_deadline(request, candidates, choice)
    return FinetuneResponse(mode="search", feasible=False, choice=choice, binding_constraint=binding,
                            message=f"every run that fits misses the {binding}; smallest fix: {fixes[0].description}",
                            fixes=fixes, alternatives=alternatives, notes=notes, **base)


def _budget_deadline(request: FinetuneRequest, options: list[FinetuneOption],
                     choice: FinetuneOption) -> tuple[Binding | None, list[FinetuneFix]]:
    """Which of budget/deadline binds, and the smallest relaxation (cheapest / fastest run that fits)."""
    over_budget = request.budget_usd is not None and all(o.cost_usd > request.budget_usd for o in options)
    late = request.deadline_hours is not None and all(o.wall_clock_hours > request.deadline_hours for o in options)
    if not (over_budget or late) and _within(choice, request):
        return None, []
    fixes = []
    if request.budget_usd is not None and (over_budget or choice.cost_usd > request.budget_usd):
        ok = [o for o in options if request.deadline_hours is None or o.wall_clock_hours <= request.deadline_hours]
        cheapest = min(ok or options, key=lambda o: (o.cost_usd, o.wall_clock_hours))
        fixes.append(FinetuneFix(kind="budget", option=cheapest,
                                 description=f"raise the budget to ${cheapest.cost_usd:,.2f} "
                                             f"({cheapest.method} on {cheapest.gpus} × {cheapest.gpu})"))
    if request.deadline_hours is not None and (late or choice.wall_clock_hours > request.deadline_hours):
        ok = [o for o in options if request.budget_usd is None or o.cost_usd <= request.budget_usd]
        fastest = min(ok or options, key=lambda o: (o.wall_clock_hours, o.cost_usd))
        fixes.append(FinetuneFix(kind="deadline", option=fastest,
                                 description=f"allow {fastest.wall_clock_hours:.2f} h "
                                             f"({fastest.method} on {fastest.gpus} × {fastest.gpu})"))
    binding: Binding = "budget" if fixes and fixes[0].kind == "budget" else "deadline"
    return binding, fixes


def plan_file_to_finetune_request(pf: PlanFile) -> FinetuneRequest:
    """The check-mode ``FinetuneRequest`` of a [finetune] plan (unset strategy fields are searched)."""
    check_consistency(pf)
    m, s, h, f = pf.model, pf.strategy, pf.hardware, pf.finetune
    batch = global_batch_tokens_of(pf)
    data = dict(base_params=m.params if m.model is None else None, model=m.model, tokens=pf.tokens,
                seq_len=m.seq_len, layers=m.layers, hidden=m.hidden, heads=m.heads, kv_heads=m.kv_heads,
                ffn_hidden=m.ffn_hidden, mlp=m.mlp, tied_embeddings=m.tied_embeddings, vocab=m.vocab,
                gpu=h.gpu, gpus=h.gpus, tp=s.tp, pp=s.pp, zero=s.zero,
                recompute=s.recompute, micro_batch=s.micro_batch, framework=s.framework,
                price_usd_per_gpu_hour=h.price_usd_per_gpu_hour if h.mode == "rent" else None,
                **f.model_dump(exclude_none=True))
    if batch is not None and math.isfinite(batch):
        data["global_batch_sequences"] = max(1, round(batch / m.seq_len))
    request = validate_model(FinetuneRequest, data)
    check_request(request)     # method/rank/targets/base_quant combinations: malformed, not a bad plan
    return request
