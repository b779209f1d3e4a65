"""Exports parse with standard tools, carry the strategy's values and satisfy Megatron's rules.

Each example is costed for each target as ``planner export`` does (``plan_for_target``: the target's layout
rules and memory accounting); a layout the target does not run is refused, never silently changed."""

import ast
import json
import shlex
import tomllib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import REPO

from planner.analysis.estimate import estimate
from planner.interfaces.exporters import TARGETS, export_plan, plan_for_target, train_iterations
from planner.interfaces.exporters.megatron import (
    megatron_args,
    megatron_rule_violations,
)
from planner.types.errors import InputError
from planner.types.plan_file import plan_file_to_estimate_request, read_plan_file

ROOT = REPO
EXAMPLES = ["13b-64xh100-plan.toml", "7b-1t-plan.toml", "startup-1b-plan.toml", "70b-2t-plan.toml"]


@pytest.fixture(scope="module", params=EXAMPLES)
def plan(request):
    return read_plan_file(ROOT / "examples" / request.param)


@pytest.fixture(scope="module")
def resolved(plan):
    return estimate(plan_file_to_estimate_request(plan))


def costed_for(plan, target):
    """The example costed for ``target`` as ``planner export`` does; a plan whose fixed fields the target
    cannot run is refused with the rule, and then its generic costing does not export either (skip)."""
    try:
        return estimate(plan_file_to_estimate_request(plan_for_target(plan, target)[0]))
    except InputError as error:
        assert error.field in ("tp", "pp", "cp", "vpp", "zero", "precision"), error
        generic = estimate(plan_file_to_estimate_request(plan))
        with pytest.raises(InputError, match=f"to: {target} cannot run this plan's layout"):
            export_plan(generic, target)
        pytest.skip(f"{target} does not run this plan's fixed layout: {error}")


def test_deepspeed(plan):
    resolved = costed_for(plan, "deepspeed")
    s = resolved.strategy
    assert s.framework == "deepspeed"
    out = export_plan(resolved, "deepspeed")
    config = json.loads(out.text)
    assert config["train_batch_size"] == s.global_batch_sequences
    assert config["train_micro_batch_size_per_gpu"] == s.micro_batch
    assert config["gradient_accumulation_steps"] == s.grad_accum
    assert config["train_batch_size"] == s.micro_batch * s.grad_accum * s.dp     # DeepSpeed's own assertion
    assert config["zero_optimization"]["stage"] == s.zero
    assert config.get(s.precision, {}).get("enabled") is True
    assert ("activation_checkpointing" in config) == (s.recompute != "none")
    assert config.get("tensor_parallel", {}).get("autotp_size", 1) == s.tp        # AutoTP training
    assert not (s.pp > 1 and s.zero >= 2)


def test_exports_refuse_layouts_the_target_does_not_run(resolved):
    """A ZeRO-3 layout exported to Megatron, ZeRO-2 + PP to DeepSpeed, TP to plain FSDP: refused, naming why."""
    for target, update in (("megatron", {"zero": 3}), ("deepspeed", {"zero": 2, "pp": 2}), ("fsdp", {"tp": 2}),
                           ("torchtitan", {"zero": 1})):
        bad = resolved.model_copy(update={"strategy": resolved.strategy.model_copy(update=update)})
        with pytest.raises(InputError, match=f"to: {target} cannot run this plan's layout"):
            export_plan(bad, target)


def _megatron_argv(text: str) -> list[str]:
    body = " ".join(line.rstrip("\\ ") for line in text.splitlines() if not line.startswith("#"))
    argv = shlex.split(body)
    return argv[argv.index("pretrain_gpt.py") + 1:]


def test_megatron(plan):
    resolved = costed_for(plan, "megatron")
    s, shape = resolved.strategy, resolved.shape
    out = export_plan(resolved, "megatron")
    argv = _megatron_argv(out.text)
    value = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if not argv[i + 1].startswith("--")}
    assert int(value["--tensor-model-parallel-size"]) == s.tp
    assert int(value["--pipeline-model-parallel-size"]) == s.pp
    assert int(value["--micro-batch-size"]) == s.micro_batch
    assert int(value["--global-batch-size"]) == s.global_batch_sequences
    assert int(value["--num-layers"]) == shape.layers and int(value["--seq-length"]) == shape.seq_len
    assert int(value["--train-iters"]) == train_iterations(resolved)
    assert ("--sequence-parallel" in argv) == (s.tp > 1)
    assert megatron_rule_violations(argv, resolved.gpus) == []
    assert any(item.startswith("vocab=") for item in out.unsupported)
    # Llama-style model and a learning-rate schedule (issue #13)
    assert value["--normalization"] == "RMSNorm" and value["--position-embedding-type"] == "rope"
    assert value["--lr-decay-style"] == "cosine" and float(value["--lr"]) > float(value["--min-lr"]) > 0
    assert 1 <= int(value["--lr-warmup-iters"]) <= int(value["--lr-decay-iters"]) == train_iterations(resolved)
    assert ("--swiglu" in argv) == shape.gated_mlp
    assert ("--untie-embeddings-and-output-weights" in argv) == (not shape.tied_embeddings)
    if shape.kv_heads < shape.heads:
        assert value["--num-query-groups"] == str(shape.kv_heads) and "--group-query-attention" in argv
    assert ("--use-distributed-optimizer" in argv) == (s.zero == 1) and s.zero <= 1


def test_megatron_rules_catch_violations():
    args = ["--tensor-model-parallel-size", "3", "--pipeline-model-parallel-size", "2", "--num-layers", "40",
            "--hidden-size", "5120", "--num-attention-heads", "40", "--seq-length", "4096",
            "--micro-batch-size", "2", "--global-batch-size", "100", "--sequence-parallel"]
    problems = megatron_rule_violations(args, 64)
    assert "world size not divisible by tp·pp" in problems and "heads not divisible by tp" in problems


@settings(max_examples=25, deadline=None)
@given(tp_log=st.integers(0, 3), pp=st.sampled_from([1, 2, 4, 5]), dp_log=st.integers(0, 4),
       micro_batch=st.sampled_from([1, 2, 4]), batch_tokens=st.sampled_from([1e6, 4e6, 8e6]))
def test_megatron_rules_hold_for_any_estimate(tp_log, pp, dp_log, micro_batch, batch_tokens):
    from planner.types.estimates import EstimateRequest

    tp = 2**tp_log
    gpus = tp * pp * 2**dp_log
    e = estimate(EstimateRequest(params=13e9, tokens=1e11, gpu="h100-sxm", gpus=gpus, tp=tp, pp=pp, zero=1,
                                 precision="bf16", recompute="selective", micro_batch=micro_batch,
                                 global_batch_tokens=batch_tokens))
    assert megatron_rule_violations(megatron_args(e), gpus) == []


def test_torchtitan(plan):
    from planner.interfaces.exporters.torchtitan import FLAVOURS, ffn_width, model_args

    resolved = costed_for(plan, "torchtitan")
    s = resolved.strategy
    text = export_plan(resolved, "torchtitan").text
    config = tomllib.loads(text)
    flavour = config["model"]["flavor"]
    assert flavour != "custom"
    if flavour not in FLAVOURS:         # explicit model args, registered under that name, give the plan's widths
        args = model_args(resolved.shape)
        assert f"llama3_configs[{flavour!r}] = TransformerModelArgs(" in text
        width = ffn_width(args["dim"], args["multiple_of"], args["ffn_dim_multiplier"])
        gated = resolved.shape.ffn_hidden if resolved.shape.gated_mlp else 2 * resolved.shape.ffn_hidden // 3
        assert width == gated and args["n_layers"] == resolved.shape.layers
    assert config["parallelism"]["context_parallel_degree"] == s.cp
    p = config["parallelism"]
    assert p["tensor_parallel_degree"] == s.tp and p["pipeline_parallel_degree"] == s.pp
    assert p["data_parallel_shard_degree"] * p["data_parallel_replicate_degree"] == s.dp
    assert config["training"]["global_batch_size"] == s.global_batch_sequences
    assert config["training"]["seq_len"] == resolved.shape.seq_len
    assert config["activation_checkpoint"]["mode"] == s.recompute


def test_fsdp(plan):
    fsdp = costed_for(plan, "fsdp")
    s = fsdp.strategy
    out = export_plan(fsdp, "fsdp")
    tree = ast.parse(out.text)
    constants = {node.targets[0].id: node.value.value for node in tree.body
                 if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)}
    assert constants["MICRO_BATCH"] == s.micro_batch and constants["GRAD_ACCUM"] == s.grad_accum
    assert constants["GLOBAL_BATCH"] == s.global_batch_sequences
    # every launched process is a data-parallel rank: the batch the launch runs is the plan's (issue #13: was 8x)
    assert constants["WORLD_SIZE"] == fsdp.gpus
    assert constants["MICRO_BATCH"] * constants["GRAD_ACCUM"] * constants["WORLD_SIZE"] == s.global_batch_sequences
    assert ("fully_shard" in out.text) == (s.zero > 0)


def test_unknown_target():
    e = estimate(plan_file_to_estimate_request(read_plan_file(ROOT / "examples" / "startup-1b-plan.toml")))
    with pytest.raises(InputError, match="allowed: deepspeed, megatron, torchtitan, fsdp"):
        export_plan(e, "jax")
    assert set(TARGETS) == {"deepspeed", "megatron", "torchtitan", "fsdp"}


def test_cli_export(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "ds.json"
    result = subprocess.run([sys.executable, "-m", "planner", "export", "examples/13b-64xh100-plan.toml",
                             "--to", "deepspeed", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    config = json.loads(out.read_text())
    assert config["zero_optimization"]["stage"] == 1 and config["tensor_parallel"]["autotp_size"] == 4
    assert "not expressed in deepspeed: pp=2" in result.stderr
