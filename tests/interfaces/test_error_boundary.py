"""Issue #18, CLI and files: never a traceback, exit codes mean one thing, non-finite numbers never shown.

One test (or parameter) per failure the fuzzing found; each runs in-process (``support.run_main``).
Exit codes: 0 an answer, 1 infeasible (binding constraint + fix), 2 bad input (one ``error:`` line, or
``{"error": {"field", "message"}}`` under --json).
"""

from __future__ import annotations

import json
import os
import time

import pytest
from support import REPO, run_main

from planner.types.errors import InputError
from planner.types.plan_file import plan_file_to_estimate_request, read_plan_file

PLAN_13B = REPO / "examples" / "13b-64xh100-plan.toml"
OWNED = REPO / "examples" / "owned-8xa100-plan.json"
MINIMAL = 'tokens = "300B"\n[model]\nparams = "13B"\n[hardware]\ngpu = "h100-sxm"\ngpus = 64\n'


def one_error_line(code, out, err, field=None):
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    if field:
        assert field in lines[0], lines[0]
    return lines[0]


def strict_json(text):
    def refuse(name):
        raise AssertionError(f"{name} in JSON output")

    return json.loads(text, parse_constant=refuse)


# --- files the readers must refuse in one line -------------------------------------------------

def _write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


BAD_FILES = {
    "not-utf8": ("plan.toml", MINIMAL.encode().replace(b'"13B"', b'"\xff13B"'), "not UTF-8"),
    "utf16": ("plan.toml", MINIMAL.encode("utf-16"), "not UTF-8"),
    "5000-digit-int": ("plan.json", b'{"tokens": ' + b"9" * 5000 + b"}", "digits"),
    "100k-deep-json": ("plan.json", b"[" * 100_000 + b"]" * 100_000, "nested"),
    "2000-deep-toml": ("plan.toml", b"x = " + b"[" * 2000 + b"]" * 2000, "nested"),
    "50k-dotted-key": ("plan.toml", b".".join([b"a"] * 50_000) + b" = 1\n", "dotted key"),
    "over-1-mib": ("plan.toml", b"# " + b"x" * (1 << 20) + b"\n", "bytes"),
    "nan-in-json": ("plan.json", json.dumps({"tokens": "300B", "model": {"params": "13B"},
                                             "hardware": {"gpu": "h100-sxm", "gpus": 64}}).replace(
                                                 '"300B"', "NaN").encode(), "NaN"),
}


@pytest.mark.parametrize("name, data, words", list(BAD_FILES.values()), ids=list(BAD_FILES))
def test_bad_plan_file_is_one_line_exit_2(tmp_path, capsys, name, data, words):
    path = _write(tmp_path, name, data)
    start = time.perf_counter()
    line = one_error_line(*run_main(["validate", path], capsys), field="plan")
    assert words in line and time.perf_counter() - start < 10


@pytest.mark.parametrize("name, data, words", list(BAD_FILES.values())[:7], ids=list(BAD_FILES)[:7])
def test_bad_catalog_file_is_one_line_exit_2(tmp_path, capsys, name, data, words):
    path = _write(tmp_path, name.replace("plan", "cat").replace(".json", ".toml"), data)
    line = one_error_line(*run_main(["catalog", "--catalog", path], capsys), field="catalog")
    assert "Traceback" not in line


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/null", "directory", "fifo"])
def test_plan_that_is_not_a_regular_file(tmp_path, capsys, target):
    link = tmp_path / "plan.toml"
    if target == "directory":
        os.symlink(tmp_path, link)
    elif target == "fifo":
        os.mkfifo(link)
    else:
        os.symlink(target, link)
    start = time.perf_counter()
    line = one_error_line(*run_main(["validate", link], capsys), field="plan")
    assert "regular file" in line and time.perf_counter() - start < 5
    line = one_error_line(*run_main(["catalog", "--catalog", link], capsys), field="catalog")
    assert "regular file" in line


def test_two_mistakes_are_both_reported(tmp_path):
    path = _write(tmp_path, "plan.toml", (MINIMAL.replace("gpus = 64", "gpus = -1") + "[strategy]\ntp = 0\n").encode())
    with pytest.raises(InputError) as error:
        read_plan_file(path)
    lines = str(error.value).splitlines()
    assert len(lines) == 2 and "hardware.gpus" in lines[0] and "strategy.tp" in lines[1]


def test_two_mistakes_each_on_an_error_line(tmp_path, capsys):
    path = _write(tmp_path, "plan.toml", (MINIMAL.replace("gpus = 64", "gpus = -1") + "[strategy]\ntp = 0\n").encode())
    code, out, err = run_main(["validate", path], capsys)
    assert code == 2 and [line[:7] for line in err.strip().splitlines()] == ["error: "] * 2


@pytest.mark.parametrize("strategy, field", [
    ('[model]\nlayers = 10000\nhidden = 1000000\nheads = 8\n', "model.hidden"),  # derived params 1.2e17
    ('[strategy]\ntp = 1\npp = 1\nmicro_batch = 4096\ngrad_accum = 1000000\n', "strategy.grad_accum"),  # batch
])
def test_derived_params_or_batch_over_bound_is_input_error(tmp_path, strategy, field):
    text = MINIMAL.replace('[model]\nparams = "13B"\n', "") if "layers" in strategy else MINIMAL
    path = _write(tmp_path, "plan.toml", (text + strategy).encode())
    with pytest.raises(InputError) as error:
        plan_file_to_estimate_request(read_plan_file(path))
    assert error.value.field == field


def test_owned_plan_with_free_electricity_validates(tmp_path, capsys):
    data = json.loads(OWNED.read_text())
    data["ownership"]["electricity_usd_per_kwh"] = 0
    path = _write(tmp_path, "owned.json", json.dumps(data).encode())
    code, out, err = run_main(["validate", path, "--json"], capsys)
    assert code in (0, 1) and "Traceback" not in err
    strict_json(out)


@pytest.mark.parametrize("command", ["validate", "compare"])
def test_validate_and_compare_json_are_strict_json(capsys, command):
    code, out, err = run_main([command, PLAN_13B, "--json"], capsys)
    assert code in (0, 1), err
    strict_json(out)


def test_boolean_is_not_an_integer(tmp_path):
    path = _write(tmp_path, "plan.toml", (MINIMAL + "[strategy]\nzero = false\n").encode())
    with pytest.raises(InputError, match="strategy.zero"):
        read_plan_file(path)


# --- command lines -------------------------------------------------------------------------------

@pytest.mark.parametrize("args, field", [
    (["best", "--budget-usd", "1k", "--deadline", "1e-300h", "--global-batch-tokens", "1e-300"], "deadline"),
    (["best", "--budget-usd", "1k", "--global-batch-tokens", "1e-300"], "global_batch_tokens"),
    (["best", "--budget-usd", "1k", "--unique-tokens", "1e-308"], "unique_tokens"),
    (["best", "--budget-usd", "1k", "--seq-len", "abc"], "seq_len"),       # Click's usage panel before
    (["best", "--no-such-option"], "no_such_option"),
    (["estimate", "--tokens", "1T"], "gpu"),                                # missing option
    (["sweep", "--points"], "points"),
    (["best", "--budget-usd", "1k", "--gpus", "h100:8"], "h100-sxm"),        # did you mean
    (["serve", "--port", "abc"], "port"),                                    # never starts a server
    (["serve", "--pool", "fork"], "pool"),
    (["serve", "--request-timeout", "0"], "request_timeout"),
    (["plot", "isoflop", "--plot", "x.gif"], "plot"),
    (["fit", "/no/such/runs.csv"], "runs"),
    (["estimate", "--tokens", "1e12", "--gpu", "h100-sxm", "--gpus", "8", "--layers", "10000", "--hidden",
      "1000000", "--heads", "8"], "1e15"),
])
def test_input_errors_are_one_line(capsys, args, field):
    one_error_line(*run_main(args, capsys), field=field)


def test_errors_under_json_are_json(capsys):
    code, out, err = run_main(["best", "--budget-usd", "-5", "--json"], capsys)
    assert code == 2 and out == ""
    error = json.loads(err)["error"]
    assert error["field"] == "budget_usd" and "must be > 0" in error["message"]
    code, out, err = run_main(["best", "--json", "--seq-len", "x"], capsys)
    assert code == 2 and json.loads(err)["error"]["field"] == "seq_len"


@pytest.mark.parametrize("args", [
    ["best", "--budget-usd", "1k", "--gpus", "l4:1", "--out", "/dev/full"],
    ["export", PLAN_13B, "--to", "deepspeed", "--out", "/dev/full"],
    ["best", "--budget-usd", "1k", "--gpus", "l4:1", "--out", "/no/such/dir/plan.toml"],
])
def test_unwritable_out_is_input_error_naming_out(capsys, args):
    one_error_line(*run_main(args, capsys), field="out")


def test_frontier_infeasible_exits_1_with_binding_constraint(capsys):
    code, out, err = run_main(["frontier", "--budget-usd", "1e-9", "--gpus", "l4:1"], capsys)
    assert code == 1 and "binding: budget" in err and "to make it feasible" in err
    code, out, err = run_main(["frontier", "--budget-usd", "1e-9", "--gpus", "l4:1", "--json"], capsys)
    assert code == 1 and strict_json(out)["binding_constraint"] == "budget"


def test_finetune_infeasible_exits_1(capsys):
    code, out, err = run_main(["finetune", "--base-params", "70B", "--tokens", "1e9", "--gpus", "a10g:1",
                               "--method", "full", "--json"], capsys)
    assert code == 1 and strict_json(out)["feasible"] is False


def test_best_infeasible_exits_1_as_json(capsys):
    code, out, err = run_main(["cost", "--params", "70B", "--tokens", "2T", "--gpus", "a10g:8", "--json"], capsys)
    assert code == 1 and strict_json(out)["binding_constraint"] == "memory"


def test_keys_with_line_separators_stay_one_line_per_error():
    """A key holding \\r, \\x1c or \\u2028 (str.splitlines splits on them) must not add lines: the plan-file
    fuzz found 7 lines for 5 errors + "more" (issue #18)."""
    from planner.types.errors import InputError
    from planner.types.plan_file import parse_plan_data

    with pytest.raises(InputError) as error:
        parse_plan_data({"tokens": 0, "model": {"params": 1e9},
                         "hardware": {"gpu": "h100-sxm", "gpus": 8, "a\u2028b": 1, "c\rd": 2, "\x1c": 3}})
    assert len(str(error.value).splitlines()) == 4, str(error.value)
