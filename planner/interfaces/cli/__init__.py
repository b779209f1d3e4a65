"""Command-line interface ``planner``.

A command's module is imported only when that command runs (``COMMANDS`` names it), so ``planner``,
``planner --help`` and a mistyped command answer at once without loading numpy or the cost model;
``tests/interfaces/test_cli_commands.py`` checks the table against the registered commands. Every
user mistake is one line on stderr and exit code 2.
"""

from __future__ import annotations

import difflib
import gc
import importlib
import os
import sys
import types

# command -> (module in this package, one-line help shown by `planner --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "best": ("solve_cmd", "The best model (lowest predicted loss) you can train with this money and time."),
    "cost": ("solve_cmd", "The cheapest (or, with --fastest, the fastest) way to train a given model."),
    "estimate": ("estimate_cmd", "Predict memory, step time, MFU, wall-clock, GPU-hours, dollars and energy of one run."),
    "validate": ("plan_cmd", "Check a plan before buying or launching: memory, layout, batch, MFU, time, money, power, tokens/param."),
    "compare": ("plan_cmd", "Compare the plan: with --buy, owning against renting; without, against the solver's best plan."),
    "export": ("plan_cmd", "Write the plan as a launch config; keys the target cannot express are listed on stderr."),
    "schema": ("plan_cmd", "Print the JSON Schema of plan files (or of solver requests and plans)."),
    "frontier": ("tradeoffs_cmd", "Pareto frontier of cost × wall-clock × predicted loss: only plans no other plan beats on all three."),
    "sweep": ("tradeoffs_cmd", "Best plan at each of many budgets or deadlines: one is a range (low..high), the other fixed or absent."),
    "finetune": ("finetune_cmd", "Fine-tune a model: does it fit, how long, how much; or the cheapest / fastest way to do it."),
    "law": ("law_cmd", "Scaling laws: predicted loss and compute-optimal allocation."),
    "fit": ("law_cmd", "Fit L(N, D) = E + A/N^alpha + B/D^beta to your runs (Huber on log loss, L-BFGS, bootstrap CIs)."),
    "catalog": ("catalog_cmd", "List the GPUs the planner knows: memory, dense peak FLOP/s, links, power and price."),
    "models": ("catalog_cmd", "List the model presets (`--model NAME`): shape, parameters counted from it, and the published count."),
    "plot": ("plot_cmd", "Pictures: IsoFLOP curves, memory per GPU, cost and time by GPU type."),
    "serve": ("serve_cmd", "Serve the planner as a JSON API: /v1/plans/best, /cost, /validate, /estimate, /v1/catalog/gpus ..."),
}
SUMMARY = "Plan compute-optimal LLM training: model size, tokens, parallelism, GPUs, cost and time."


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["Usage: planner COMMAND [ARGS]...", "", SUMMARY, "", "Commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "Run 'planner COMMAND --help' for a command's options."]
    return "\n".join(lines)


def load(names=None):
    """The typer app with the modules of ``names`` (default: every command) registered on it."""
    for module in dict.fromkeys(COMMANDS[n][0] for n in (names or COMMANDS)):
        importlib.import_module(f"planner.interfaces.cli.{module}")
    from planner.interfaces.cli.application import app

    return app


# Options naming files the CLI writes: an OSError while writing is the user's input at fault (exit 2).
OUTPUT_OPTIONS = ("--out", "--csv", "--plot")


def _emit_error(field: str | None, message: str, as_json: bool) -> None:
    """``error: message`` on stderr (one line per line of message), or one JSON line on stderr under --json
    (stdout holds only answers).

    Messages of the planner's errors already start with the field (``budget_usd: must be > 0``)."""
    message = str(message).strip() or "invalid input"
    if as_json:
        import json

        print(json.dumps({"error": {"field": field, "message": message}}, ensure_ascii=False), file=sys.stderr)
        return
    for line in message.splitlines():
        if line.strip():
            print(f"error: {line.strip()}", file=sys.stderr)


def _fail(field: str | None, message: str, as_json: bool, code: int = 2):
    _emit_error(field, message, as_json)
    sys.exit(code)


def _click_field(error) -> str:
    """The option or argument a Click usage error is about (its Python name), else ``option``."""
    param = getattr(error, "param", None)
    if param is not None and getattr(param, "name", None):
        return param.name
    name = getattr(error, "option_name", None)
    if name:
        return name.lstrip("-").replace("-", "_")
    return "option" if not getattr(error, "cmd", None) else "arguments"


def _output_option(args: list[str], filename) -> str | None:
    """Which output option named ``filename`` (an OSError's file), else None."""
    for i, arg in enumerate(args):
        for option in OUTPUT_OPTIONS:
            value = args[i + 1] if arg == option and i + 1 < len(args) else (
                arg.split("=", 1)[1] if arg.startswith(option + "=") else None)
            if value is not None and filename is not None and str(filename) in (value, str(value)):
                return option.lstrip("-")
    return None


def _infeasible(error, as_json: bool):
    """An InfeasibleError a command raised: an answer (exit 1) naming the binding constraint and fix."""
    if as_json:
        import json

        print(json.dumps({"feasible": False, "binding_constraint": error.binding, "message": str(error),
                          "fix": error.fix}, ensure_ascii=False))
    else:
        print(f"infeasible (binding: {error.binding}): {error}", file=sys.stderr)
        if error.fix:
            print(f"to make it feasible: {error.fix}", file=sys.stderr)
    sys.exit(1)


# Values of PYDANTIC_DISABLE_PLUGINS under which pydantic's plugin loader returns no plugins.
_PLUGINS_OFF = ("__all__", "1", "true")


# The BLAS thread-count variables of the libraries numpy and scipy load (OpenBLAS, MKL, OpenMP).
_BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")


def _one_blas_thread() -> None:
    """Run BLAS on one thread unless the user set a thread count. At import OpenBLAS starts one thread
    per core, and after each call its threads spin waiting for the next: CPU the planner's small
    arrays (at most a few hundred thousand elements, elementwise) never repay. On this 2-core machine
    that was ~0.1 s of CPU of a cold ``planner best`` (issue #17); sweep workers and ``serve``'s pool
    inherit it, so two processes no longer fight over both cores. Set before numpy is first imported
    (the command modules import it); a user's own ``OPENBLAS_NUM_THREADS`` etc. is kept."""
    if not any(name in os.environ for name in _BLAS_THREAD_VARIABLES):
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
        os.environ["MKL_NUM_THREADS"] = "1"


def _without_pydantic_plugins(command: str) -> None:
    """A short-lived CLI call runs no pydantic plugins (observability hooks such as logfire; the planner
    uses none). Pydantic finds plugins by scanning installed packages' entry points when the first model
    is built, which imports ``importlib.metadata`` (~35 ms, 4 % of a cold ``planner best``). With
    PYDANTIC_DISABLE_PLUGINS unset (or set to one of ``_PLUGINS_OFF``, under which pydantic's loader
    answers "no plugins" anyway) a stand-in loader module gives that answer without the scan. Any other
    value of the variable (e.g. ``PYDANTIC_DISABLE_PLUGINS=``) leaves pydantic alone, and so does
    ``serve`` (long-running: start-up does not matter there). Issue #17."""
    if command == "serve" or os.environ.get("PYDANTIC_DISABLE_PLUGINS", "__all__") not in _PLUGINS_OFF:
        return
    if "pydantic.plugin._loader" not in sys.modules:
        loader = types.ModuleType("pydantic.plugin._loader")
        loader.get_plugins = lambda: ()
        sys.modules["pydantic.plugin._loader"] = loader


_CLICK_COMMANDS: dict = {}


def _click_command(app, command: str):
    """The Click group typer builds (by reflection over the options' annotations) from ``app`` with
    only ``command`` on it: a call parses one command, so it need not build the others (``best``'s
    module also registers ``cost``; ~12 ms of a cold call, issue #17). Built once per command and set
    of registered modules: in-process callers (tests, the fuzz suite) pay it once."""
    import copy

    import typer.main

    key = (id(app), command, frozenset(name for name in sys.modules if name.startswith(__name__ + ".")))
    if key not in _CLICK_COMMANDS:
        name_of = lambda info: info.name or typer.main.get_command_name(info.callback.__name__)
        only = copy.copy(app)
        only.registered_commands = [c for c in app.registered_commands if name_of(c) == command]
        only.registered_groups = [g for g in app.registered_groups if g.name == command]
        # a group even for one command, so ``planner COMMAND ...`` parses as with every command on it
        _CLICK_COMMANDS[key] = typer.main.get_group(only)
    return _CLICK_COMMANDS[key]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``planner`` console script: the one error boundary of the CLI.

    Exit codes mean one thing: 0 an answer, 1 infeasible (binding constraint and fix), 2 bad input
    (one ``error: field: message`` line on stderr, or ``{"error": {"field": ..., "message": ...}}`` there
    under --json).
    """
    args = sys.argv[1:] if argv is None else list(argv)
    as_json = "--json" in args
    command = next((a for a in args if not a.startswith("-")), None)
    if command is None:
        unknown = [a for a in args if a not in ("--help", "-h")]
        if unknown:
            _fail("option", f"unknown option {unknown[0]!r}; allowed: --help", as_json)
        print(usage())
        sys.exit(0)
    if command not in COMMANDS:
        close = difflib.get_close_matches(command, COMMANDS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(COMMANDS)}"
        _fail("command", f"unknown command {command!r}{hint}", as_json)
    _without_pydantic_plugins(command)
    _one_blas_thread()
    app = load([command])
    import typer

    try:  # typer >= 0.20 vendors Click as typer._click; older versions use click itself
        from typer import _click as click
    except ImportError:  # pragma: no cover
        import click

    from planner.types.errors import USER_ERRORS, InfeasibleError

    try:
        result = _click_command(app, command).main(args=args, prog_name="planner", standalone_mode=False)
    except InfeasibleError as error:
        _infeasible(error, as_json)
    except USER_ERRORS as error:
        _fail(getattr(error, "field", None), str(error), as_json)
    except click.exceptions.NoArgsIsHelpError as error:
        print(error.format_message() if hasattr(error, "format_message") else "", file=sys.stderr)
        sys.exit(2)
    except click.ClickException as error:
        field = _click_field(error)
        _fail(field, f"{field}: " + " ".join(error.format_message().split()), as_json)
    except typer.Abort:
        _fail(None, "aborted", as_json)
    except RecursionError:
        _fail("input", "input: nested too deeply to process", as_json)
    except OSError as error:
        name = getattr(error, "filename", None)
        where = _output_option(args, name)
        if where is None and name is None:  # a failed write() names no file: the one output option given
            given = [o for o in OUTPUT_OPTIONS if any(a == o or a.startswith(o + "=") for a in args)]
            where = given[0].lstrip("-") if len(given) == 1 else None
            if where is not None:
                values = [args[i + 1] for i, a in enumerate(args[:-1]) if a == given[0]]
                name = values[0] if values else None
        verb = "cannot write" if where else "cannot read or write"
        where = where or "file"
        _fail(where, f"{where}: {verb} {name or 'a file'}: {error.strerror or error}", as_json)
    sys.exit(result if isinstance(result, int) else 0)


# Commands whose every output is on stdout/stderr or in files they close before returning (no worker
# processes, servers or lazily written figures): ``run`` may skip the interpreter's teardown after them.
QUICK_EXIT_COMMANDS = frozenset({"best", "cost", "estimate", "validate", "compare", "export", "schema",
                                 "finetune", "law", "fit", "catalog", "models", "frontier"})


# Commands that answer one question in well under a second: ``run`` turns the cyclic garbage collector
# off for them (a cold ``planner best`` ran ~96 collections, ~18 ms of CPU, while importing; reference
# counting still frees everything that is not in a cycle, and the process ends right after).
ONE_ANSWER_COMMANDS = frozenset({"best", "cost", "estimate", "validate", "compare", "export", "schema",
                                 "finetune", "law", "catalog", "models"})


def run() -> None:
    """Entry point of the ``planner`` console script and ``python -m planner``: ``main``, then, for the
    commands in QUICK_EXIT_COMMANDS, leave without the interpreter's teardown (freeing every module
    and object one by one: ~60 ms of CPU after a cold ``planner best``, ~10 % of the call; issue #17),
    and run the commands in ONE_ANSWER_COMMANDS without the cyclic garbage collector.
    stdout and stderr are flushed first; a reader that closed the pipe early only loses output, as it
    would without this. Calling ``main`` in-process (tests) returns normally."""
    command = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    if command in ONE_ANSWER_COMMANDS:
        gc.disable()
    try:
        main()
        code = 0
    except SystemExit as done:
        code = done.code
    if command not in QUICK_EXIT_COMMANDS:
        sys.exit(code)
    if code is not None and not isinstance(code, int):     # sys.exit("message"): printed, exit 1
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):      # closed pipe or stream: nothing left to deliver
            pass
    os._exit(code or 0)


def __getattr__(name: str):
    """``planner.interfaces.cli.app``: the typer app with every command (tests invoke it directly)."""
    if name == "app":
        return load()
    raise AttributeError(name)
