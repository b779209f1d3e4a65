"""Helpers the tests share: the repository root, the CLI run in-process, a real server on loopback.

``tests/conftest.py`` puts this folder on ``sys.path``, so any test imports ``from support import ...``.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parents[1]


def run_main(argv, capsys):
    """(exit code, stdout, stderr) of ``planner ARGV`` run in this process."""
    from planner.interfaces.cli import main

    with mock.patch.object(sys, "argv", ["planner", *map(str, argv)]):
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(*args: str, timeout_s: float = 30.0):
    """`planner serve` on a free loopback port; yields its base URL once /healthz answers."""
    with server_process(*args, timeout_s=timeout_s) as (url, _proc):
        yield url


def worker_pids(server_pid: int) -> list[int]:
    """PIDs of the server's worker processes (its children running multiprocessing's spawn_main)."""
    pids = []
    for task in Path(f"/proc/{server_pid}/task").iterdir():
        for pid in (task / "children").read_text().split():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in cmdline:
                pids.append(int(pid))
    return sorted(pids)


def oldest_first(pids: list[int]) -> list[int]:
    """``pids`` by process start time (``/proc/PID/stat`` field 22), oldest first: at start-up the pool
    starts its serving workers before its spare, so the spare is the last."""
    def started(pid: int) -> int:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])   # fields after "(comm)" start at field 3
    return sorted(pids, key=started)


@contextlib.contextmanager
def server_process(*args: str, timeout_s: float = 30.0):
    """Like ``running_server`` but yields (base URL, the server's Popen)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "planner", "serve", "--port", str(port),
                             "--log-level", "warning", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stdout.read().decode()}")
            try:
                if _httpx().get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except _httpx().TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not answer /healthz in time")
            time.sleep(0.1)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _httpx():
    import httpx  # the test extra; imported here so tests without a server need not have it

    return httpx
