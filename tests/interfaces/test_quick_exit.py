"""The console entry point (``planner`` / ``python -m planner``) skips the interpreter's teardown after a
quick command (``planner.interfaces.cli.run``, issue #17): its output, files and exit codes must be
exactly those of a normal exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])


def _planner(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, env=env)


def test_answer_error_and_infeasible_keep_their_output_and_exit_codes(tmp_path):
    out = tmp_path / "plan.toml"
    answer = _planner("best", "--budget-usd", "250k", "--json", "--out", str(out))
    assert answer.returncode == 0, answer.stderr
    plan = json.loads(answer.stdout)                     # the whole document arrived
    assert plan["gpus"] > 0 and out.read_text().strip()  # and the plan file was written in full
    bad = _planner("best", "--budget-usd", "-5")
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [bad.stderr.strip()]
    assert "budget_usd" in bad.stderr
    infeasible = _planner("best", "--budget-usd", "1", "--gpus", "l4:1", "--deadline", "1h", "--json")
    assert infeasible.returncode == 1 and json.loads(infeasible.stdout)["binding_constraint"] == "budget"


def test_a_closed_pipe_is_not_a_traceback():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
    run = subprocess.run(f"{sys.executable} -m planner models --json | head -c 10", shell=True, capture_output=True,
                         text=True, env=env)
    assert "Traceback" not in run.stderr


def test_one_answer_commands_run_without_the_cyclic_collector():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
    code = ("import gc, sys\nimport planner.interfaces.cli as cli\n"
            "cli.main = lambda: print(gc.isenabled())\nsys.argv = ['planner'] + sys.argv[1:]\ncli.run()")
    for command, enabled in (("best", "False"), ("sweep", "True"), ("serve", "True")):
        out = subprocess.run([sys.executable, "-c", code, command], capture_output=True, text=True, env=env)
        assert out.stdout.strip() == enabled, (command, out.stdout, out.stderr)
