"""Checks a careful engineer runs on a training plan before buying or launching it.

Each check is ok / warning / error with the number behind it. Errors mean the plan does not work
as written (does not fit, breaks a divisibility rule, misses the deadline, the budget or the
power cap, exceeds the batch limit); warnings mean it works but wastes something. A structurally
invalid strategy field is replaced by the planner's choice so the other checks still run.
A plan with a [finetune] table is costed by the fine-tuning model (``planner.analysis.finetune``, check mode)
and gets the same checks, minus those that only make sense for pre-training from scratch.
"""

from __future__ import annotations

from pydantic import ValidationError

from catalogs.errors import CatalogError
from catalogs.loader import Catalog, load_catalog
from planner.analysis.estimate import estimate, shape_from_request
from planner.analysis.finetune import (
    MAX_BATCH_FACTOR,
    plan_file_to_finetune_request,
    plan_finetune,
    shape_of,
    with_defaults,
)
from planner.costmodel.finetune import base_bytes_per_param
from planner.costmodel.frameworks import fixed_conflict
from planner.costmodel.strategy import DEFAULT_MAX_GLOBAL_BATCH_TOKENS
from planner.economics.rent_vs_buy import (
    RentVsBuy,
    RentVsBuyAssumptions,
    compare_rent_vs_buy,
)
from planner.search.solver import solve
from planner.types.errors import InputError, input_error_from_validation
from planner.types.estimates import Estimate, Strategy
from planner.types.finetune import FinetuneFix, FinetuneOption, FinetuneRequest
from planner.types.formatting import fmt_count, fmt_gb
from planner.types.layout import data_parallel_size, model_parallel_size
from planner.types.plan_file import (
    PlanFile,
    global_batch_tokens_of,
    plan_file_to_estimate_request,
)
from planner.types.requests import Availability, SolveRequest
from planner.types.validation import Check, ValidationReport
from scaling_laws import compute_optimal, load_law

# A costed run: a pre-training Estimate or a fine-tuning option (the checks below that take
# either read only the fields both have: gpus, strategy, time breakdown, hours, money).
Run = Estimate | FinetuneOption

# Memory headroom under which a plan is fragile: allocator spikes (e.g. NCCL buffers growing, a
# longer-than-average batch) are typically a few GB; 5 % of usable HBM is our planning margin.
MIN_HEADROOM_FRACTION = 0.05
# 1F1B bubble share (p−1)/m above which more micro-batches or interleaving pay off; Narayanan et al.
# 2021 §2.2 keep m ≫ p; 10 % is our threshold (assumption).
MAX_BUBBLE_SHARE = 0.10
# Exposed (non-overlapped) communication share of step time above which the layout is network-bound;
# Megatron's best layouts expose ~10-20 % (Narayanan et al. 2021 §5.4); 30 % is our threshold.
MAX_COMM_SHARE = 0.30
# Model FLOPs utilisation of comparable published dense runs: Megatron-LM on A100 44-52 % of peak
# (Narayanan et al. 2021, Table 1, hardware FLOPs), PaLM 46.2 % MFU (Chowdhery et al. 2022, Table 3),
# Llama 2 ~40-45 % (from its GPU-hours, see planner/analysis/published_runs.py).
PUBLISHED_MFU_RANGE = (0.35, 0.55)
# Predictions below LOW or above HIGH are worth a second look (too pessimistic layout / too optimistic).
MFU_LOW, MFU_HIGH = 0.20, 0.60
# Tokens per parameter further than this factor from the law's compute-optimal ratio are flagged.
TOKENS_PER_PARAM_FACTOR = 2.0
# Rounding the asked global batch to a multiple of dp·micro-batch by more than this share changes
# the optimisation recipe (learning-rate schedule tuned for the asked batch): flagged.
MAX_BATCH_ROUNDING = 0.05
# A solver alternative better by more than this (nats/token) is worth showing as a warning.
LOSS_GAIN_WORTH_NOTING = 0.01
# Relative slack on budget/deadline/power comparisons: a solver plan that spends exactly the budget
# must not fail on float rounding.
LIMIT_SLACK = 1e-6


def _usd(x: float) -> str:
    return f"${x:,.0f}"


def layout_label(s) -> str:
    recompute = "no recompute" if s.recompute == "none" else f"{s.recompute} recompute"
    return f"{s.degrees()} ZeRO-{s.zero}, {s.precision}, {recompute}, micro-batch {s.micro_batch}"


# ---------------------------------------------------------------------------------------------
# structure (no cost model needed)

def structural_checks(pf: PlanFile, shape, gpu) -> tuple[list[Check], set[str]]:
    """Divisibility and support rules of the fixed strategy fields, and the fields that broke them."""
    s, gpus = pf.strategy, pf.hardware.gpus
    checks, broken = [], set()
    if s.tp is not None:
        allowed = [t for t in (1, 2, 4, 8, 16, 32, 64, 128) if t <= gpu.gpus_per_node and shape.heads % t == 0]
        if s.tp > gpu.gpus_per_node:
            checks.append(Check(name="tp", status="error", value=s.tp,
                                message=f"tp {s.tp} > {gpu.gpus_per_node} GPUs per {gpu.id} node (tensor parallelism "
                                        f"stays within a node); allowed: {allowed}"))
            broken.add("tp")
        elif shape.heads % s.tp:
            checks.append(Check(name="tp", status="error", value=s.tp,
                                message=f"tp {s.tp} does not divide the {shape.heads} attention heads; allowed: {allowed}"))
            broken.add("tp")
        else:
            checks.append(Check(name="tp", status="ok", value=s.tp,
                                message=f"tp {s.tp} within one {gpu.gpus_per_node}-GPU node, divides {shape.heads} heads"))
    if s.pp is not None:
        if shape.layers % s.pp:
            divisors = [p for p in range(1, min(shape.layers, 64) + 1) if shape.layers % p == 0]
            checks.append(Check(name="pp", status="error", value=s.pp,
                                message=f"pp {s.pp} does not divide the {shape.layers} layers; allowed: {divisors}"))
            broken.add("pp")
        else:
            checks.append(Check(name="pp", status="ok", value=s.pp,
                                message=f"pp {s.pp} divides {shape.layers} layers ({shape.layers // s.pp} per stage)"))
    group = model_parallel_size(s.tp or 1, s.pp or 1)
    if not broken and gpus % group:
        checks.append(Check(name="gpus", status="error", value=gpus,
                            message=f"{gpus} GPUs is not a multiple of tp·pp = {group}"))
        broken |= {"tp", "pp"}
    if s.dp is not None and s.tp is not None and s.pp is not None and group * s.dp != gpus:
        checks.append(Check(name="dp", status="error", value=s.dp,
                            message=f"tp·pp·dp = {group * s.dp} but the plan has {gpus} GPUs; "
                                    f"dp must be {gpus / group:g}"))
        broken.add("dp")
    if (s.grad_accum is not None and s.micro_batch is not None and s.global_batch_sequences is not None
            and s.tp is not None and s.pp is not None and not broken):
        implied = s.grad_accum * s.micro_batch * data_parallel_size(gpus, s.tp, s.pp)
        if implied != s.global_batch_sequences:
            checks.append(Check(name="grad_accum", status="error", value=s.grad_accum,
                                message=f"micro_batch·grad_accum·dp = {implied} sequences ≠ global_batch_sequences "
                                        f"{s.global_batch_sequences}"))
            broken.add("grad_accum")
    if s.precision is not None and s.precision not in gpu.peak_flops:
        checks.append(Check(name="precision", status="error", value=None,
                            message=f"{gpu.id} has no {s.precision}; allowed: {', '.join(gpu.precisions)}"))
        broken.add("precision")
    if s.sequence_parallel is False and (s.tp or 1) > 1:
        checks.append(Check(name="seq-parallel", status="warning", value=s.tp,
                            message="sequence parallelism off with tp > 1: activations take up to tp× more memory "
                                    "than estimated (the cost model assumes it on)"))
    return checks, broken


def framework_checks(pf: PlanFile, shape) -> tuple[list[Check], set[str]]:
    """The framework's own rules on the fixed strategy fields (issue #13): DeepSpeed PP with ZeRO-2/3,
    Megatron's missing ZeRO-2/3, FSDP2 without TP/PP/CP, context parallelism's 2·cp chunks, Megatron's
    GQA split. Each error gets the nearest layout that runs and fits once the planner has chosen it."""
    s, checks, broken = pf.strategy, [], set()
    if s.cp is not None and s.cp > 1 and shape.seq_len % (2 * s.cp):
        checks.append(Check(name="cp", status="error", value=s.cp,
                            message=f"cp {s.cp}: the sequence ({shape.seq_len}) must divide into 2·cp = {2 * s.cp} "
                                    "chunks (load-balanced causal context parallelism: Megatron arguments.py, "
                                    "torchtitan parallel_dims.py)"))
        broken.add("cp")
    if s.framework is None:
        return checks, broken
    conflict = fixed_conflict(s.framework, tp=s.tp, pp=s.pp, cp=s.cp, vpp=s.vpp, zero=s.zero, precision=s.precision)
    while conflict is not None and conflict[0] not in broken:
        field, message = conflict
        value = getattr(s, field, None)
        checks.append(Check(name="framework", status="error", value=value if isinstance(value, int) else None,
                            message=message))
        broken.add(field)
        fixed = {k: (None if k in broken else getattr(s, k)) for k in ("tp", "pp", "cp", "vpp", "zero", "precision")}
        conflict = fixed_conflict(s.framework, **fixed)
    if s.framework == "megatron" and s.tp is not None and "tp" not in broken and (
            shape.kv_heads % s.tp and s.tp % shape.kv_heads):
        checks.append(Check(name="framework", status="error", value=s.tp,
                            message=f"tp {s.tp}: Megatron needs num_query_groups ({shape.kv_heads}) % tp == 0 or "
                                    "tp % num_query_groups == 0 (transformer_config.py)"))
        broken.add("tp")
    if not checks:
        checks.append(Check(name="framework", status="ok", value=None,
                            message=f"{s.framework} runs the fixed strategy fields"))
    return checks, broken


def _with_nearest(checks: list[Check], e: Estimate) -> list[Check]:
    """Framework errors completed with the layout the planner found instead (one that runs and fits)."""
    fitting = e.strategy if e.fits else (e.nearest_fitting[0].strategy if e.nearest_fitting else None)
    nearest = (f"; nearest layout that runs and fits: {layout_label(fitting)}"
               + (f" ({fitting.framework})" if fitting.framework else "")) if fitting else "; nothing fits on these GPUs"
    return [c.model_copy(update={"message": c.message + nearest}) if c.name in ("framework", "cp") and c.status == "error"
            else c for c in checks]


def _relaxed(pf: PlanFile, broken: set[str]) -> PlanFile:
    """The plan with broken strategy fields unset, so the planner chooses them."""
    if not broken:
        return pf
    fields = {name: None for name in broken}
    if "grad_accum" in broken or "dp" in broken:
        fields.update(grad_accum=None, dp=None)
    strategy = pf.strategy.model_copy(update=fields)
    return pf.model_copy(update={"strategy": strategy})


# ---------------------------------------------------------------------------------------------
# cost-model checks

def _memory_check(run: Run, parts: str, fix: str = "", caveat: str = "") -> Check:
    """Memory per GPU against usable memory: error if it does not fit (with ``fix``), warning if the
    headroom is thin or ``caveat`` says why it fits only at a cost."""
    used, usable = run.memory_per_gpu_bytes, run.usable_memory_per_gpu_bytes
    if not run.fits:
        return Check(name="memory", status="error", value=used / 1e9,
                     message=f"{fmt_gb(used)} per GPU > {fmt_gb(usable)} usable ({layout_label(run.strategy)}): {parts}{fix}")
    headroom = usable - used
    status = "warning" if headroom < MIN_HEADROOM_FRACTION * usable or caveat else "ok"
    return Check(name="memory", status=status, value=used / 1e9,
                 message=f"{fmt_gb(used)} per GPU of {fmt_gb(usable)} usable, headroom {fmt_gb(headroom)}: {parts}{caveat}")


def memory_check(e: Estimate) -> Check:
    b = e.memory_breakdown_bytes
    parts = (f"weights {b.weights / 1e9:.1f} + grads {b.gradients / 1e9:.1f} + optimizer {b.optimizer / 1e9:.1f}"
             + (f" + gather {b.zero3_gather_buffer / 1e9:.1f}" if b.zero3_gather_buffer else "")
             + f" + activations {b.activations / 1e9:.1f} + overhead {b.framework_overhead / 1e9:.1f}")
    fix = f"; nearest that fits: {layout_label(e.nearest_fitting[0].strategy)}" if e.nearest_fitting else ""
    return _memory_check(e, parts, fix)


def batch_checks(pf: PlanFile, strategy: Strategy, seq_len: int,
                 limit: float = DEFAULT_MAX_GLOBAL_BATCH_TOKENS) -> list[Check]:
    """Global batch against the batch limit, and how far rounding to dp·micro-batch moved it."""
    actual = strategy.global_batch_sequences * seq_len
    asked = global_batch_tokens_of(pf)
    unit = strategy.dp * strategy.micro_batch
    rounded = "" if asked is None or asked == actual else (
        f"; asked {fmt_count(asked)}, rounded to a multiple of dp·micro-batch = {unit} sequences")
    if actual > limit:
        return [Check(name="batch", status="error", value=actual,
                      message=f"global batch {fmt_count(actual)} tokens > batch limit {fmt_count(limit)} tokens (past the "
                              f"critical batch size more data parallelism stops helping){rounded}")]
    moved = asked is not None and abs(actual / asked - 1.0) > MAX_BATCH_ROUNDING
    return [Check(name="batch", status="warning" if moved else "ok", value=actual,
                  message=f"global batch {fmt_count(actual)} tokens ({strategy.global_batch_sequences} sequences) "
                          f"≤ limit {fmt_count(limit)}{rounded}")]


def time_share_checks(e: Run) -> list[Check]:
    t = e.time_breakdown_s
    bubble = t.pipeline_bubble / t.total
    comm = (t.tensor_parallel + t.pipeline_p2p + t.data_parallel_exposed) / t.total
    s = e.strategy
    bubble_check = Check(
        name="bubble", status="warning" if bubble > MAX_BUBBLE_SHARE else "ok", value=bubble,
        message=f"pipeline bubble {bubble:.1%} of step time (pp {s.pp}, {s.grad_accum} micro-batches per step)"
                + ("; more micro-batches or a smaller pp shrink it" if bubble > MAX_BUBBLE_SHARE else ""))
    comm_check = Check(
        name="communication", status="warning" if comm > MAX_COMM_SHARE else "ok", value=comm,
        message=f"exposed communication {comm:.1%} of step time (TP {t.tensor_parallel / t.total:.1%}, "
                f"PP {t.pipeline_p2p / t.total:.1%}, DP {t.data_parallel_exposed / t.total:.1%})")
    return [bubble_check, comm_check]


def mfu_check(e: Estimate) -> Check:
    low, high = PUBLISHED_MFU_RANGE
    reference = f"comparable published runs reach {low:.0%}-{high:.0%}"
    if e.mfu > MFU_HIGH:
        return Check(name="mfu", status="warning", value=e.mfu,
                     message=f"predicted MFU {e.mfu:.1%} is above what {reference}; treat time and cost as optimistic")
    if e.mfu < MFU_LOW:
        return Check(name="mfu", status="warning", value=e.mfu,
                     message=f"predicted MFU {e.mfu:.1%} is far below the {low:.0%}-{high:.0%} comparable published "
                             "runs reach; the layout or GPU wastes most of its FLOPs")
    return Check(name="mfu", status="ok", value=e.mfu, message=f"predicted MFU {e.mfu:.1%}; {reference}")


def realism_checks(pf: PlanFile, e: Estimate, gpu) -> list[Check]:
    """Issue #15: expected failures and checkpoints, carbon, and whether a run this short makes sense."""
    from planner.search.problem import DEFAULT_MIN_RENTAL_HOURS

    checks = []
    if e.ideal_wall_clock_hours is not None:
        ckpt = (f"; checkpoint every {e.checkpoint_interval_s / 60:,.1f} min ({e.checkpoint_s:,.1f} s each)"
                if e.checkpoint_interval_s is not None else "")
        checks.append(Check(name="goodput", status="ok", value=e.goodput,
                            message=f"expected {e.wall_clock_hours:,.1f} h against a clean {e.ideal_wall_clock_hours:,.1f} h "
                                    f"(goodput {e.goodput:.1%}, {e.expected_interruptions:,.1f} interruptions expected"
                                    f"{ckpt}; + {e.startup_s / 60:,.0f} min start-up)"))
    total_h = e.wall_clock_hours + e.startup_s / 3600.0
    multi_node = e.gpus > gpu.gpus_per_node and pf.hardware.mode == "rent"
    first = (e.startup_s + (e.checkpoint_interval_s or 0.0) + e.checkpoint_s) / 3600.0
    if total_h < first:
        checks.append(Check(name="too_short", status="error", value=total_h,
                            message=f"the run ({total_h * 60:,.1f} min) ends before start-up plus its first checkpoint "
                                    f"({first * 60:,.1f} min): train more tokens or on fewer GPUs"))
    elif multi_node and total_h < DEFAULT_MIN_RENTAL_HOURS:
        checks.append(Check(name="too_short", status="warning", value=total_h,
                            message=f"{e.gpus} rented GPUs for {total_h:,.1f} h: multi-node clusters are reserved in "
                                    f"blocks of at least {DEFAULT_MIN_RENTAL_HOURS:g} h (AWS Capacity Blocks); fewer GPUs "
                                    f"for longer, or more tokens, would fill the block"))
    if e.co2_kg is not None:
        checks.append(Check(name="carbon", status="ok", value=e.co2_kg,
                            message=f"{e.co2_kg / 1000:,.1f} tCO2e: {e.energy_kwh:,.0f} kWh × {e.grid_gco2_per_kwh:,.0f} "
                                    f"gCO2e/kWh ({e.region or 'given intensity'}, location-based)"))
    return checks


def power_kw_of(e: Run, gpu, pue: float) -> float:
    """Facility power at rated board power × PUE (a cap must hold at peak draw; as planner.economics.offers)."""
    return e.gpus * gpu.power_watts * pue / 1000.0


def money_of(pf: PlanFile, e: Run, rvb: RentVsBuy) -> tuple[float, str]:
    """Cash the plan needs, counted as the solver does (planner.economics.offers): rent = price × GPU-hours;
    owned = electricity; buy = purchase + electricity. Hosting is left to ``planner compare``."""
    mode = pf.hardware.mode
    if mode == "rent":
        return e.cost_usd, f"{e.gpu_hours:,.0f} GPU-hours × ${e.price_usd_per_gpu_hour:.2f}"
    electricity = rvb.cost.power_usd_per_busy_hour * e.gpu_hours
    if mode == "owned":
        return electricity, (f"owned GPUs: electricity only; with amortised purchase and hosting "
                             f"{_usd(rvb.run_cost_owned_usd)}")
    return (rvb.purchase_total_usd + electricity,
            f"buy {e.gpus} × {_usd(rvb.purchase_usd_per_gpu)} + electricity {_usd(electricity)}")


def constraint_checks(pf: PlanFile, e: Run, gpu, rvb: RentVsBuy) -> list[Check]:
    c = pf.constraints
    checks = []
    hours = e.wall_clock_hours + getattr(e, "startup_s", 0.0) / 3600.0     # expected, with the one-off start-up
    if c.deadline_hours is None:
        checks.append(Check(name="deadline", status="ok", value=hours,
                            message=f"wall-clock {hours:,.0f} h ({hours / 24:.1f} days); no deadline set"))
    else:
        over = hours > c.deadline_hours * (1 + LIMIT_SLACK)
        checks.append(Check(name="deadline", status="error" if over else "ok", value=hours,
                            message=f"wall-clock {hours:,.0f} h ({hours / 24:.1f} days) {'>' if over else '≤'} "
                                    f"deadline {c.deadline_hours:,.0f} h ({c.deadline_hours / 24:.1f} days)"))
    cash, how = money_of(pf, e, rvb)
    if c.budget_usd is None:
        checks.append(Check(name="budget", status="ok", value=cash, message=f"cost {_usd(cash)} ({how}); no budget set"))
    else:
        over = cash > c.budget_usd * (1 + LIMIT_SLACK)
        checks.append(Check(name="budget", status="error" if over else "ok", value=cash,
                            message=f"cost {_usd(cash)} {'>' if over else '≤'} budget {_usd(c.budget_usd)} ({how})"))
    kw = power_kw_of(e, gpu, rvb.assumptions.pue)
    if c.power_cap_kw is None:
        checks.append(Check(name="power", status="ok", value=kw, message=f"{kw:,.1f} kW at the wall (rated); no power cap set"))
    else:
        over = kw > c.power_cap_kw * (1 + LIMIT_SLACK)
        checks.append(Check(name="power", status="error" if over else "ok", value=kw,
                            message=f"{kw:,.1f} kW at the wall {'>' if over else '≤'} cap {c.power_cap_kw:,.1f} kW "
                                    f"({e.gpus} × {gpu.power_watts:.0f} W rated × PUE {rvb.assumptions.pue})"))
    return checks


def rent_vs_buy_check(rvb: RentVsBuy) -> Check:
    """Owning vs renting at the catalog price (details: ``planner compare PLAN --buy``)."""
    catalog = rvb.options[0]
    util = catalog.break_even_utilisation
    shown = "never (even at 100 %)" if util > 1 else f"above {util:.0%} utilisation"
    return Check(name="rent-vs-buy", status="ok", value=util,
                 message=f"owning costs ${rvb.owned_usd_per_useful_gpu_hour:.2f} per useful GPU-hour at "
                         f"{rvb.assumptions.utilisation:.0%} utilisation vs ${catalog.rent_usd_per_gpu_hour:.2f} rent; "
                         f"buying pays off {shown}")


def tokens_per_param_check(pf: PlanFile, params: float) -> tuple[Check, float]:
    """Tokens per parameter against the law's compute-optimal ratio at the same FLOPs; and the loss."""
    law = load_law(pf.model.law)
    tokens = pf.tokens
    loss = float(law.loss(params, tokens))
    n_opt, d_opt = (float(x) for x in compute_optimal(law, 6.0 * params * tokens))
    ratio, ratio_opt = tokens / params, d_opt / n_opt
    penalty = loss - float(law.loss(n_opt, d_opt))
    off = not (1 / TOKENS_PER_PARAM_FACTOR <= ratio / ratio_opt <= TOKENS_PER_PARAM_FACTOR)
    message = (f"{ratio:.1f} tokens/param vs compute-optimal {ratio_opt:.1f} ({law.name}); predicted loss "
               f"{loss:.3f}, {penalty:+.3f} vs {fmt_count(n_opt)} params on {fmt_count(d_opt)} tokens at the same FLOPs")
    if off:
        message += ("; deliberate if the model will serve many tokens (smaller, longer-trained models are cheaper "
                    "to serve)" if ratio > ratio_opt else "; the model is undertrained for its size")
    return Check(name="tokens/param", status="warning" if off else "ok", value=ratio, message=message), loss


# ---------------------------------------------------------------------------------------------
# what the same money and time would buy

def alternative_check(pf: PlanFile, e: Estimate, cash_usd: float, loss: float, catalog: Catalog,
                      rvb_assumptions: RentVsBuyAssumptions = RentVsBuyAssumptions()):
    """The solver's best plan on the same hardware within the same money and time (or the limits)."""
    c, h = pf.constraints, pf.hardware
    budget = min(cash_usd, c.budget_usd) if c.budget_usd is not None else cash_usd
    deadline = min(e.wall_clock_hours, c.deadline_hours) if c.deadline_hours is not None else e.wall_clock_hours
    precisions = ["bf16", "fp16", "fp32"] + (["fp8"] if e.strategy.precision == "fp8" else [])
    if not budget > 0:  # owned GPUs at free electricity cost nothing: the deadline alone limits the alternative
        budget = None
    try:
        request = SolveRequest(
            objective="min_loss", budget_usd=budget, deadline_hours=deadline, seq_len=max(128, e.shape.seq_len),
            vocab=e.shape.vocab, power_cap_kw=c.power_cap_kw, law=pf.model.law, precisions=precisions,
            pue=rvb_assumptions.pue, electricity_usd_per_kwh=rvb_assumptions.electricity_usd_per_kwh,
            availability=[Availability(gpu=h.gpu, max_count=h.gpus, mode=h.mode,
                                       price_usd_per_gpu_hour=h.price_usd_per_gpu_hour,
                                       purchase_price_usd=h.purchase_price_usd)])
    except ValidationError as error:  # the plan's money or time is outside what the solver accepts
        reason = input_error_from_validation(error)
        return (Check(name="alternative", status="ok", value=None,
                      message=f"no solver comparison: {reason}"), str(reason), None)
    try:
        result = solve(request, catalog=catalog)
    except Exception as error:  # noqa: BLE001 - a solver bug must not hide the plan's own checks
        return None, f"solver failed ({type(error).__name__}: {error}); please report it", None
    if not result.feasible:
        return (Check(name="alternative", status="ok", value=None,
                      message=f"solver found no plan within {_usd(budget or 0)} and {deadline:,.0f} h: {result.message}"),
                result.message, None)
    plan = result.plan
    gain = loss - plan.loss
    status = "warning" if gain > LOSS_GAIN_WORTH_NOTING else "ok"
    message = (f"same money and time ({_usd(budget or 0)}, {deadline:,.0f} h) on these GPUs: {fmt_count(plan.params)} params "
               f"on {fmt_count(plan.tokens)} tokens, loss {plan.loss:.3f} ({-gain:+.3f} vs this plan), "
               f"{plan.gpus} × {plan.gpu}, {layout_label(plan.strategy)}")
    return Check(name="alternative", status=status, value=plan.loss, message=message), None, plan


# ---------------------------------------------------------------------------------------------

def assumptions_for(pf: PlanFile, base: RentVsBuyAssumptions | None = None) -> RentVsBuyAssumptions:
    """Rent-vs-buy assumptions: defaults, then the plan's [ownership] values, then ``base`` overrides."""
    from dataclasses import replace

    values = {k: v for k, v in pf.ownership.model_dump().items() if v is not None}
    return replace(base or RentVsBuyAssumptions(), **values) if values else (base or RentVsBuyAssumptions())


def chosen_check(pf: PlanFile, strategy: Strategy, broken: set[str]) -> list[Check]:
    """What the planner chose for the strategy keys the plan left unset (or set invalidly)."""
    chosen = [f"{k}={getattr(strategy, k)}" for k in ("tp", "pp", "zero", "precision", "recompute", "micro_batch")
              if getattr(pf.strategy, k) is None or k in broken]
    if not chosen:
        return []
    return [Check(name="strategy", status="ok", value=None,
                  message=f"planner chose {', '.join(chosen)} (fastest that fits"
                          + (f"; replacing the invalid {', '.join(sorted(broken))})" if broken else ")"))]


def validate_plan(pf: PlanFile, catalog: Catalog | None = None, *, alternative: bool = True,
                  assumptions: RentVsBuyAssumptions | None = None, origin: str = "plan") -> ValidationReport:
    """Every check on ``pf``; raises InputError only for input that is malformed (not for a bad plan)."""
    catalog = catalog or load_catalog()
    try:
        gpu = catalog.get(pf.hardware.gpu, "hardware.gpu")
    except CatalogError as error:
        raise InputError(f"{origin}: {error}", "hardware.gpu") from None
    assumptions = assumptions or assumptions_for(pf)
    if pf.finetune is not None:
        return validate_finetune_plan(pf, catalog, gpu, assumptions, alternative)
    base_request = plan_file_to_estimate_request(_relaxed(pf, {"dp", "grad_accum"}))
    shape = shape_from_request(base_request)
    checks, broken = structural_checks(pf, shape, gpu)
    rule_checks, rule_broken = framework_checks(pf, shape)
    checks, broken = checks + rule_checks, broken | rule_broken
    relaxed = _relaxed(pf, broken | {"dp", "grad_accum"} if broken else {"dp", "grad_accum"})
    try:
        e = estimate(plan_file_to_estimate_request(relaxed), catalog)
    except InputError as error:
        checks.append(Check(name="layout", status="error", value=pf.hardware.gpus, message=str(error)))
        tpp, loss = tokens_per_param_check(pf, shape.params)
        return ValidationReport(name=pf.name, checks=checks + [tpp], loss=loss)
    checks = _with_nearest(checks, e)
    checks[:0] = chosen_check(pf, e.strategy, broken)
    checks.append(memory_check(e))
    checks += batch_checks(pf, e.strategy, e.shape.seq_len)
    checks += time_share_checks(e)
    checks.append(mfu_check(e))
    checks += realism_checks(pf, e, gpu)
    rvb = compare_rent_vs_buy(gpu, e.gpus, e.wall_clock_hours, assumptions, pf.hardware.purchase_price_usd,
                              pf.hardware.price_usd_per_gpu_hour)
    checks += constraint_checks(pf, e, gpu, rvb)
    if pf.hardware.mode != "rent":
        checks.append(rent_vs_buy_check(rvb))
    tpp, loss = tokens_per_param_check(pf, e.params)
    checks.append(tpp)
    report = ValidationReport(name=pf.name, checks=checks, estimate=e, loss=loss)
    if alternative:
        cash, _ = money_of(pf, e, rvb)
        check, error, plan = alternative_check(pf, e, cash, loss, catalog, assumptions)
        if check is not None:
            report.checks.append(check)
        report.alternative = plan.model_dump(mode="json") if plan is not None else None
        report.alternative_error = error
    return report


# ---------------------------------------------------------------------------------------------
# fine-tuning plans ([finetune] table)

NOT_FOR_FINETUNING = "n/a for fine-tuning"


def method_checks(o: FinetuneOption, params: float, hidden: int) -> list[Check]:
    """What the method trains and, for adapters, what the frozen base costs per GPU."""
    if o.method == "full":
        return [Check(name="method", status="ok", value=o.trainable_params,
                      message=f"full fine-tuning: all {fmt_count(o.trainable_params)} parameters trainable "
                              "(weights, gradients and Adam states of each); start from the base checkpoint")]
    b = o.memory_breakdown_bytes
    bits = 8 * base_bytes_per_param(o.base_quant, hidden)
    return [Check(name="method", status="ok", value=o.trainable_params,
                  message=f"{o.method} rank {o.rank} on {o.targets} projections: {fmt_count(o.trainable_params)} adapter "
                          f"parameters ({o.trainable_params / params:.2%} of {fmt_count(params)}); base frozen"),
            Check(name="base", status="ok", value=b.base_weights / 1e9,
                  message=f"frozen base in {o.base_quant} ({bits:.3g} bits/param"
                          + (", embedding kept 16-bit" if o.base_quant != "bf16" else "")
                          + f"): {fmt_gb(b.base_weights)} per GPU"
                          + (f", dequantised one projection at a time ({fmt_gb(b.dequant_buffer)} buffer)"
                             if b.dequant_buffer else ""))]


def finetune_memory_check(o: FinetuneOption, fixes: list[FinetuneFix]) -> Check:
    b = o.memory_breakdown_bytes
    parts = " + ".join(f"{label} {value / 1e9:.1f}" for label, value in (
        ("base", b.base_weights), ("adapters", b.adapter_weights), ("grads", b.gradients),
        ("optimizer", b.optimizer), ("gather", b.zero3_gather_buffer), ("dequant", b.dequant_buffer),
        ("activations", b.activations), ("overhead", b.framework_overhead)) if value)
    fix = f"; smallest fix: {fixes[0].description}" if fixes else ""
    caveat = (f"; fits only by paging {fmt_gb(b.optimizer_paged_to_cpu)} of optimizer states to CPU (slower steps)"
              if b.optimizer_paged_to_cpu > 0 else "")
    return _memory_check(o, parts, fix, caveat)


def finetune_mfu_check(o: FinetuneOption, stack_efficiency: float) -> Check:
    return Check(name="mfu", status="ok", value=o.mfu,
                 message=f"predicted MFU {o.mfu:.1%} at stack efficiency {stack_efficiency:.3g} (measured/modelled "
                         f"throughput of the fine-tuning stack); published pre-training MFU comparison "
                         f"{NOT_FOR_FINETUNING}")


def finetune_alternative_check(pf: PlanFile, request: FinetuneRequest, o: FinetuneOption,
                               catalog: Catalog) -> tuple[Check, FinetuneOption | None]:
    """The fine-tuning search's cheapest run on the plan's GPU type (any method, count and layout)
    within the plan's deadline (and budget, when renting)."""
    c = pf.constraints
    search = request.model_copy(update=dict(
        method=None, base_quant=None, gpus=None, tp=None, pp=None, zero=None, recompute=None, micro_batch=None,
        objective="min_cost", deadline_hours=c.deadline_hours,
        budget_usd=c.budget_usd if pf.hardware.mode == "rent" else None))
    try:
        found = plan_finetune(search, catalog)
    except InputError as error:
        return Check(name="alternative", status="ok", value=None,
                     message=f"fine-tuning search found nothing to compare: {error}"), None
    a = found.choice
    if a is None or not found.feasible:
        return Check(name="alternative", status="ok", value=None,
                     message=f"fine-tuning search on {request.gpu}: {found.message}"), a
    method = a.method if a.method == "full" else f"{a.method} r={a.rank} on {a.targets}"
    return Check(name="alternative", status="ok", value=a.cost_usd,
                 message=f"cheapest fine-tuning on {a.gpu} (search over methods, 1-64 GPUs and layouts): {method}, "
                         f"{a.gpus} × {a.gpu}, {a.wall_clock_hours:,.1f} h, {_usd(a.cost_usd)} rented "
                         f"(this plan {o.wall_clock_hours:,.1f} h, {_usd(o.cost_usd)} rented)"), a


def validate_finetune_plan(pf: PlanFile, catalog: Catalog, gpu, assumptions: RentVsBuyAssumptions,
                           alternative: bool = True) -> ValidationReport:
    """The checks of a [finetune] plan: structure, method, memory, batch, time shares, deadline,
    budget, power; tokens/param and the published-MFU comparison are n/a for fine-tuning."""
    shape = shape_of(plan_file_to_finetune_request(_relaxed(pf, {"dp", "grad_accum"})))
    checks, broken = structural_checks(pf, shape, gpu)
    request = plan_file_to_finetune_request(_relaxed(pf, broken | {"dp", "grad_accum"}))
    tokens_per_param = Check(name="tokens/param", status="ok", value=pf.tokens / shape.params,
                             message=f"{pf.tokens / shape.params:.3g} tokens/param; compute-optimal ratio and "
                                     f"predicted loss {NOT_FOR_FINETUNING}")
    try:
        response = plan_finetune(request, catalog)
    except InputError as error:
        checks.append(Check(name="layout", status="error", value=pf.hardware.gpus, message=str(error)))
        return ValidationReport(name=pf.name, checks=checks + [tokens_per_param])
    o = response.choice
    checks[:0] = chosen_check(pf, o.strategy, broken)
    if pf.strategy.precision not in (None, o.strategy.precision):
        checks.append(Check(name="precision", status="warning", value=None,
                            message=f"fine-tuning is costed in {o.strategy.precision} (16-bit compute over the frozen "
                                    f"base); precision = {pf.strategy.precision} is not modelled"))
    checks += method_checks(o, response.params, shape.hidden)
    checks.append(finetune_memory_check(o, response.fixes))
    checks += batch_checks(pf, o.strategy, o.seq_len, MAX_BATCH_FACTOR * request.global_batch_sequences * o.seq_len)
    checks += time_share_checks(o)
    checks.append(finetune_mfu_check(o, with_defaults(request).stack_efficiency))
    rvb = compare_rent_vs_buy(gpu, o.gpus, o.wall_clock_hours, assumptions, pf.hardware.purchase_price_usd,
                              pf.hardware.price_usd_per_gpu_hour)
    checks += constraint_checks(pf, o, gpu, rvb)
    if pf.hardware.mode != "rent":
        checks.append(rent_vs_buy_check(rvb))
    checks.append(tokens_per_param)
    report = ValidationReport(name=pf.name, checks=checks, finetune=response)
    if alternative:
        check, best = finetune_alternative_check(pf, request, o, catalog)
        report.checks.append(check)
        report.alternative = best.model_dump(mode="json") if best is not None else None
    return report
