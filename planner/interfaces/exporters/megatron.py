"""Megatron-LM ``pretrain_gpt.py`` arguments: parallel sizes, batch, recompute, shape, iterations.

Megatron's own checks (megatron/training/arguments.py, ``validate_args``) that the values satisfy:
world size divisible by tp·pp; global batch divisible by micro-batch × dp; layers divisible by
pp; heads divisible by tp; hidden divisible by heads; sequence parallel only with tp > 1 (and the
sequence length divisible by tp). ``megatron_rule_violations`` restates them for tests.
Fine-tuning: full fine-tuning adds ``--finetune`` (load weights only, restart at iteration 0);
Megatron-LM has no LoRA/QLoRA, so those are listed as unsupported and the parallel settings kept.

The model is built Llama-style, as the planner counts it (no biases, no learned position embeddings):
``--normalization RMSNorm --position-embedding-type rope --disable-bias-linear``, ``--swiglu`` for a
gated MLP, ``--group-query-attention --num-query-groups`` for GQA, ``--untie-embeddings-and-output-weights``.
Learning-rate schedule (a stated default, Llama 2's: Touvron et al. 2023 §2.2 "AdamW β1 = 0.9,
β2 = 0.95, eps = 1e-5 ... cosine learning rate schedule, with warmup of 2000 steps, and decay final
learning rate down to 10% of the peak ... weight decay of 0.1 and gradient clipping of 1.0", peak
3e-4 for 7B/13B): cosine from LR_PEAK to LR_PEAK/10 over the run, warmup min(2000, 1 % of steps).
The distributed optimizer (ZeRO-1) overlaps its gradient reduce-scatter and parameter all-gather
with compute (``--overlap-grad-reduce --overlap-param-gather``), as the throughput model assumes.
"""

from __future__ import annotations

import shlex

# Llama 2 recipe (Touvron et al. 2023 §2.2): peak LR for 7B/13B, cosine to 10 %, 2000 warmup steps.
LR_PEAK = 3e-4
LR_MIN_FRACTION = 0.1
WARMUP_STEPS = 2000
WARMUP_MAX_FRACTION = 0.01

from planner.interfaces.exporters import Export, FinetuneRun, adapter_unsupported, finetune_comment, finetune_of, train_iterations
from planner.types.layout import data_parallel_size, model_parallel_size
from planner.types.estimates import Estimate


def megatron_args(estimate: Estimate | FinetuneRun) -> list[str]:
    s, shape = estimate.strategy, estimate.shape
    args = ["--tensor-model-parallel-size", str(s.tp), "--pipeline-model-parallel-size", str(s.pp)]
    if s.sequence_parallel and s.tp > 1:
        args.append("--sequence-parallel")
    if s.cp > 1:
        args += ["--context-parallel-size", str(s.cp)]
    if s.vpp > 1:
        args += ["--num-layers-per-virtual-pipeline-stage", str(max(1, shape.layers // (s.pp * s.vpp)))]
    if s.pp > 1 and shape.layers % s.pp:
        # uneven stages: the last stage takes the remainder (Megatron-Core --decoder-last-pipeline-num-layers)
        per_stage = -(-shape.layers // s.pp)
        args += ["--decoder-last-pipeline-num-layers", str(shape.layers - per_stage * (s.pp - 1))]
    ffn = shape.ffn_hidden or 4 * shape.hidden
    args += ["--num-layers", str(shape.layers), "--hidden-size", str(shape.hidden), "--ffn-hidden-size", str(ffn),
             "--num-attention-heads", str(shape.heads), "--seq-length", str(shape.seq_len),
             "--max-position-embeddings", str(shape.seq_len),
             "--micro-batch-size", str(s.micro_batch), "--global-batch-size", str(s.global_batch_sequences),
             "--train-iters", str(train_iterations(estimate))]
    steps = train_iterations(estimate)
    warmup = max(1, min(WARMUP_STEPS, int(WARMUP_MAX_FRACTION * steps)))
    args += ["--normalization", "RMSNorm", "--position-embedding-type", "rope", "--disable-bias-linear",
             "--lr", f"{LR_PEAK:g}", "--min-lr", f"{LR_PEAK * LR_MIN_FRACTION:g}", "--lr-decay-style", "cosine",
             "--lr-warmup-iters", str(warmup), "--lr-decay-iters", str(steps), "--weight-decay", "0.1",
             "--adam-beta1", "0.9", "--adam-beta2", "0.95", "--adam-eps", "1e-5", "--clip-grad", "1.0"]
    if shape.head_dim and shape.head_dim * shape.heads != shape.hidden:
        args += ["--kv-channels", str(shape.head_dim)]
    if shape.gated_mlp:
        args.append("--swiglu")
    if shape.kv_heads and shape.kv_heads < shape.heads:
        args += ["--group-query-attention", "--num-query-groups", str(shape.kv_heads)]
    if not shape.tied_embeddings:
        args.append("--untie-embeddings-and-output-weights")
    if s.precision in ("bf16", "fp8"):
        args.append("--bf16")
    elif s.precision == "fp16":
        args.append("--fp16")
    if s.precision == "fp8":
        args += ["--fp8-format", "hybrid"]
    if s.recompute == "full":
        args += ["--recompute-granularity", "full", "--recompute-method", "uniform", "--recompute-num-layers", "1"]
    elif s.recompute == "selective":
        args += ["--recompute-granularity", "selective"]
    if s.zero == 1:
        args += ["--use-distributed-optimizer", "--overlap-grad-reduce", "--overlap-param-gather"]
    if getattr(finetune_of(estimate), "method", None) == "full":
        args.append("--finetune")
    return args


def megatron_rule_violations(args: list[str], world_size: int) -> list[str]:
    """Megatron's divisibility rules applied to an argument list (empty = all hold)."""
    values: dict[str, str | bool] = {}
    i = 0
    while i < len(args):
        key = args[i].lstrip("-")
        if i + 1 < len(args) and not args[i + 1].startswith("--"):
            values[key], i = args[i + 1], i + 2
        else:
            values[key], i = True, i + 1
    n = {k: int(v) for k, v in values.items() if isinstance(v, str) and v.isdigit()}
    tp, pp = n["tensor-model-parallel-size"], n["pipeline-model-parallel-size"]
    problems = []
    if world_size % model_parallel_size(tp, pp):
        problems.append("world size not divisible by tp·pp")
    dp = data_parallel_size(world_size, tp, pp)
    if n["global-batch-size"] % (n["micro-batch-size"] * dp):
        problems.append("global batch not divisible by micro-batch × dp")
    last = n.get("decoder-last-pipeline-num-layers")
    if last is None and n["num-layers"] % pp:
        problems.append("layers not divisible by pp")
    if last is not None and (n["num-layers"] - last) % (pp - 1):
        problems.append("layers other than the last stage's not divisible by pp - 1")
    if n["num-attention-heads"] % tp:
        problems.append("heads not divisible by tp")
    if n["hidden-size"] % n["num-attention-heads"]:
        problems.append("hidden not divisible by heads")
    if values.get("sequence-parallel") and (tp == 1 or n["seq-length"] % tp):
        problems.append("sequence parallel needs tp > 1 dividing the sequence length")
    return problems


def export(estimate: Estimate | FinetuneRun) -> Export:
    s = estimate.strategy
    args = megatron_args(estimate)
    nodes, per_node = estimate.nodes, min(estimate.gpus, estimate.gpus // max(estimate.nodes, 1))
    unsupported = [f"vocab={estimate.shape.vocab}: Megatron takes it from the tokenizer "
                   "(--tokenizer-type / --vocab-file / --tokenizer-model)"]
    unsupported += adapter_unsupported(estimate, "Megatron-LM", "use NeMo / Megatron-Bridge PEFT or export --to fsdp")
    lines = [f"# Megatron-LM launch: {estimate.params / 1e9:.3g}B params, {estimate.tokens / 1e9:.4g}B tokens, "
             f"{estimate.gpus} × {estimate.gpu} ({s.degrees()})",
             f"# run on each of the {nodes} nodes (set NODE_RANK, MASTER_ADDR); add data and tokenizer arguments",
             f"torchrun --nnodes {nodes} --nproc-per-node {per_node} --node-rank \"$NODE_RANK\" "
             "--master-addr \"$MASTER_ADDR\" --master-port 6000 \\", "  pretrain_gpt.py \\"]
    if finetune_comment(estimate):
        lines.insert(2, f"# {finetune_comment(estimate)}"
                        + (" (add --load BASE_CHECKPOINT_DIR)" if "--finetune" in args else ""))
    pairs, i = [], 0
    while i < len(args):
        if i + 1 < len(args) and not args[i + 1].startswith("--"):
            pairs.append(f"{args[i]} {shlex.quote(args[i + 1])}")
            i += 2
        else:
            pairs.append(args[i])
            i += 1
    lines += [f"  {p} \\" for p in pairs[:-1]] + [f"  {pairs[-1]}"]
    return Export("megatron", "\n".join(lines) + "\n", "megatron_args.sh", unsupported)
