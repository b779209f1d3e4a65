"""Plan files with a [finetune] table: read/write, validate (fine-tuning cost model), export (method-aware)."""

import ast
import json
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from support import REPO, run_main

from planner.analysis.finetune import plan_file_to_finetune_request, plan_finetune
from planner.analysis.validate import validate_plan
from planner.interfaces.exporters import TARGETS, FinetuneRun, export_plan, plan_for_target
from planner.interfaces.exporters.megatron import (
    megatron_args,
    megatron_rule_violations,
)
from planner.types.plan_file import (
    PlanFile,
    parse_plan_data,
    plan_file_data,
    read_plan_file,
    write_plan_file,
)

ROOT = REPO
QLORA = ROOT / "examples" / "finetune-qlora-65b-plan.toml"
LORA = ROOT / "examples" / "finetune-lora-70b-8xa100-40gb.toml"


def plan_with(tmp_path, base: Path, name: str = "plan.toml", **sections) -> Path:
    """A copy of ``base`` with whole sections replaced (None removes one)."""
    data = tomllib.loads(base.read_text())
    for key, value in sections.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = tmp_path / name
    write_plan_file(parse_plan_data(data), path)
    return path


# ---------------------------------------------------------------------------------------------
# the file format

def test_examples_read_as_finetune_plans():
    qlora, lora = read_plan_file(QLORA), read_plan_file(LORA)
    assert (qlora.finetune.method, qlora.finetune.rank, qlora.finetune.targets, qlora.finetune.base_quant) == (
        "qlora", 64, "all", "nf4")
    assert (lora.finetune.method, lora.finetune.rank, lora.finetune.targets) == ("lora", 16, "qv")
    request = plan_file_to_finetune_request(qlora)
    assert (request.method, request.gpu, request.gpus, request.base_params, request.tokens) == (
        "qlora", "l40s", 1, 65e9, 15e6)
    assert (request.seq_len, request.micro_batch, request.recompute, request.global_batch_sequences) == (
        512, 1, "full", 16)


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_finetune_section_round_trips(tmp_path, suffix):
    original = read_plan_file(QLORA)
    path = write_plan_file(original, tmp_path / f"again{suffix}")
    again = read_plan_file(path)
    assert again == original and isinstance(again, PlanFile)
    assert list(plan_file_data(again)).index("finetune") == list(plan_file_data(again)).index("hardware") + 1


def test_plan_without_finetune_is_unchanged(tmp_path):
    path = plan_with(tmp_path, QLORA, finetune=None)
    assert read_plan_file(path).finetune is None
    assert "finetune" not in plan_file_data(read_plan_file(path))


def test_unknown_finetune_key_exits_2_naming_key_and_allowed(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(QLORA.read_text().replace("rank = 64", "ranks = 64"))
    code, _, err = run_main(["validate", path, "--no-alternative"], capsys)
    assert code == 2
    assert "finetune.ranks: unknown key" in err
    assert "allowed: method, rank, targets, base_quant, stack_efficiency" in err


@pytest.mark.parametrize("finetune, fragment", [
    ({"method": "sft"}, "finetune.method"),
    ({"method": "full", "rank": 8}, "rank: applies to lora/qlora"),
    ({"method": "qlora", "base_quant": "bf16"}, "base_quant"),
    ({"rank": 8}, "finetune.method: required key is missing"),
])
def test_malformed_finetune_values_exit_2(tmp_path, capsys, finetune, fragment):
    data = tomllib.loads(QLORA.read_text())
    data["finetune"] = finetune
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    code, _, err = run_main(["validate", path, "--no-alternative"], capsys)
    assert code == 2, err
    assert fragment in err and err.count("\n") == 1


# ---------------------------------------------------------------------------------------------
# validate

def test_qlora_65b_example_fits_and_exits_0():
    result = subprocess.run([sys.executable, "-m", "planner", "validate", str(QLORA)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "qlora fine-tuning of 65B params" in out
    for name in ("method", "base", "memory", "batch", "deadline", "budget", "power", "tokens/param", "alternative"):
        assert any(line.split()[1:2] == [name] for line in out.splitlines()), name
    assert "n/a for fine-tuning" in out
    assert "this plan" in out and "solver's best" not in out          # no pre-training side-by-side


def test_lora_70b_example_exit_code_is_what_the_model_computes(capsys):
    plan = read_plan_file(LORA)
    response = plan_finetune(plan_file_to_finetune_request(plan))
    report = validate_plan(plan, alternative=False)
    memory = next(c for c in report.checks if c.name == "memory")
    assert (memory.status != "error") == response.choice.fits
    assert report.finetune.choice == response.choice
    code, out, _ = run_main(["validate", LORA, "--no-alternative"], capsys)
    assert code == (1 if report.errors else 0)
    assert code == (0 if response.feasible and response.choice.fits else 1)
    assert f"{response.choice.memory_per_gpu_bytes / 1e9:.1f} GB per GPU" in out


def test_report_numbers_come_from_the_finetune_model():
    plan = read_plan_file(QLORA)
    report = validate_plan(plan, alternative=False)
    o = report.finetune.choice
    value = {c.name: c.value for c in report.checks}
    assert value["method"] == o.trainable_params
    assert value["memory"] == pytest.approx(o.memory_per_gpu_bytes / 1e9)
    assert value["deadline"] == o.wall_clock_hours and value["budget"] == o.cost_usd
    assert report.estimate is None and report.loss is None


def test_full_finetune_that_does_not_fit_exits_1_with_breakdown_and_fix(tmp_path, capsys):
    path = plan_with(tmp_path, LORA, finetune={"method": "full"})
    code, out, _ = run_main(["validate", path, "--no-alternative"], capsys)
    assert code == 1
    memory = next(line for line in out.splitlines() if line.split()[1] == "memory")
    assert memory.startswith("error") and "GB per GPU >" in memory
    assert "optimizer" in memory and "activations" in memory and "smallest fix" in memory
    assert "full fine-tuning: all" in out


def test_finetune_constraints_are_checked(tmp_path, capsys):
    path = plan_with(tmp_path, QLORA, constraints={"budget_usd": 10, "deadline_hours": 5, "power_cap_kw": 0.1})
    code, out, _ = run_main(["validate", path, "--no-alternative"], capsys)
    assert code == 1
    errors = {line.split()[1] for line in out.splitlines() if line.startswith("error")}
    assert errors == {"deadline", "budget", "power"}


def test_finetune_validate_json(capsys):
    code, out, _ = run_main(["validate", QLORA, "--json"], capsys)
    data = json.loads(out)
    assert code == 0 and data["errors"] == 0
    assert data["finetune"]["choice"]["method"] == "qlora" and data["alternative"]["gpu"] == "l40s"


# ---------------------------------------------------------------------------------------------
# export

def _run(path: Path, target: str | None = None) -> FinetuneRun:
    """The fine-tuning run of ``path``; with ``target``, costed for that framework as ``planner export`` does
    (its layouts only: e.g. no ZeRO-3 for Megatron, issue #13)."""
    plan = read_plan_file(path)
    if target is not None:
        plan = plan_for_target(plan, target)[0]
    return FinetuneRun.of(plan_finetune(plan_file_to_finetune_request(plan)))


def _parse(target: str, text: str):
    if target == "deepspeed":
        return json.loads(text)
    if target == "torchtitan":
        return tomllib.loads(text)
    if target == "fsdp":
        return ast.parse(text)
    body = " ".join(line.rstrip("\\ ") for line in text.splitlines() if not line.startswith("#"))
    return shlex.split(body)


@pytest.mark.parametrize("example", [QLORA, LORA], ids=["qlora", "lora"])
@pytest.mark.parametrize("target", TARGETS)
def test_adapter_exports_parse_and_say_what_is_missing(example, target):
    run = _run(example, target)
    out = export_plan(run, target)
    _parse(target, out.text)
    o = run.option
    lora_listed = any(item.startswith(f"method={o.method}") and f"rank={o.rank}" in item for item in out.unsupported)
    if target == "fsdp":
        assert not lora_listed
        assert f"LoraConfig(r={o.rank}, target_modules=" in out.text
        if o.method == "qlora":
            assert ('BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, '
                    'bnb_4bit_compute_dtype=torch.bfloat16') in out.text
            assert "PagedAdamW32bit" in out.text
    else:
        assert lora_listed, out.unsupported
        assert any(item.startswith("base_quant=nf4") for item in out.unsupported) == (o.base_quant == "nf4")
    if target == "megatron":
        args = megatron_args(run)
        assert "--finetune" not in args and not megatron_rule_violations(args, run.gpus)
        assert f"--tensor-model-parallel-size {run.strategy.tp}" in out.text


def test_full_finetune_exports_like_pretraining_plus_base_checkpoint(tmp_path):
    path = plan_with(tmp_path, QLORA, finetune={"method": "full"}, hardware={"gpu": "h100-sxm", "gpus": 16},
                     strategy={"global_batch_sequences": 128})
    run = _run(path, "megatron")
    assert run.option.fits and run.strategy.framework == "megatron"
    args = megatron_args(run)
    assert "--finetune" in args and not megatron_rule_violations(args, run.gpus)
    ds_run = _run(path, "deepspeed")
    ds = export_plan(ds_run, "deepspeed")
    assert json.loads(ds.text)["zero_optimization"]["stage"] == ds_run.strategy.zero
    assert any(item.startswith("method=full") for item in ds.unsupported)
    for target in ("fsdp", "torchtitan", "megatron"):
        out = export_plan(_run(path, target), target)
        _parse(target, out.text)
        assert "load the base model's checkpoint" in out.text
        assert not any("lora" in item.lower() for item in out.unsupported)


def test_export_cli_lists_lora_as_unsupported(capsys):
    code, out, err = run_main(["export", LORA, "--to", "megatron"], capsys)
    assert code == 0
    assert "pretrain_gpt.py" in out and "--tensor-model-parallel-size" in out
    assert "not expressed in megatron: method=lora (lora rank=16" in err
