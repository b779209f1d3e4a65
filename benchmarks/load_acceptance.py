"""Issue #18 acceptance figures of the HTTP service under hostile load; prints one table.

    python benchmarks/load_acceptance.py [--workers N] [--bodies 200] [--frontiers 100]

Starts `planner serve` (process pool, default limits) on a free loopback port for each scenario:
  1. cancel: 100 concurrent slowest-allowed /v1/frontier requests (every catalog GPU, every precision,
     MoE: accepted by the search-size estimate, ~20 s of work each); then one cheap /v1/plans/estimate.
     Figure: seconds from the last 503 to the cheap request's 200 (target <= 2 s: the late work was
     really cancelled, the workers killed and replaced, not left running).
  2. memory: 200 concurrent POSTs of ~1 MiB bodies (a valid JSON request padded to just under
     max_body_bytes) while the main process' RSS is sampled every 20 ms. Figure: peak RSS / idle RSS
     (target < 2).
  3. kill: 3 clients keep /v1/plans/estimate busy, one worker is SIGKILLed, and 200 requests are sent
     5 s later. Figure: share of them answered 200 (target >= 99 %).
Exit code 1 if a target is missed. Not run by the tests (timings depend on the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
# Slowest allowed: every default catalog GPU (within max_estimated_search_s), every precision, MoE too
# (the search-size estimate counts GPU counts only): ~22 s of core work alone on a quiet 2-core machine,
# so every admitted one runs into request_timeout_s and is cancelled, on a quiet machine as on a loaded one.
SLOW_FRONTIER = {"budget_usd": 1e6, "max_points": 64, "precisions": ["fp32", "tf32", "fp16", "bf16", "fp8"],
                 "allow_moe": True}
CHEAP = {"params": 1e9, "tokens": 2e10, "gpu": "h100-sxm", "gpus": 8, "tp": 1, "pp": 1, "zero": 1,
         "precision": "bf16", "recompute": "none", "micro_batch": 1}
MIB = 1 << 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def server(*args: str):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "planner", "serve", "--port", str(port),
                             "--log-level", "warning", *args], cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/healthz", timeout=2).json().get("status") == "ok":
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("server did not start")
            time.sleep(0.1)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def worker_pids(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    pids = []
    for child in out.split():
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():   # not the resource tracker
                pids.append(int(child))
    return pids


async def cancel_scenario(url: str, n: int) -> dict:
    limits = httpx.Limits(max_connections=n + 4, max_keepalive_connections=n + 4)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        start = time.monotonic()

        async def one():
            response = await http.post("/v1/frontier", json=SLOW_FRONTIER)
            return response.status_code, time.monotonic() - start, response.headers.get("retry-after")

        results = await asyncio.gather(*(one() for _ in range(n)))
        last_503 = max((t for code, t, _ in results if code == 503), default=None)
        cheap_start = time.monotonic() - start
        cheap = await http.post("/v1/plans/estimate", json=CHEAP)
        cheap_done = time.monotonic() - start
    codes = {}
    for code, _, _ in results:
        codes[code] = codes.get(code, 0) + 1
    retry = sorted({int(r) for code, _, r in results if code == 503 and r and r.isdigit()})
    return {"codes": codes, "last_503_s": last_503, "cheap_status": cheap.status_code,
            "cheap_after_last_503_s": None if last_503 is None else cheap_done - last_503,
            "cheap_latency_s": cheap_done - cheap_start, "retry_after_values": retry,
            "missing_retry_after": sum(1 for code, _, r in results if code == 503 and not r)}


def padded_body() -> bytes:
    """A valid /v1/plans/best request padded with JSON whitespace to just under the 1 MiB body limit."""
    core = json.dumps({"budget_usd": 1e5, "availability": [{"gpu": "l4", "max_count": 1}]}).encode()
    return core[:-1] + b" " * (MIB - 1024 - len(core)) + b"}"


async def memory_scenario(url: str, pid: int, n: int) -> dict:
    body = padded_body()
    idle = rss_bytes(pid)
    peak, stop = idle, asyncio.Event()

    async def sample():
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_bytes(pid))
            await asyncio.sleep(0.02)

    limits = httpx.Limits(max_connections=n + 4, max_keepalive_connections=n + 4)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        sampler = asyncio.create_task(sample())

        async def one():
            response = await http.post("/v1/plans/best", content=body, headers={"content-type": "application/json"})
            return response.status_code

        codes_list = await asyncio.gather(*(one() for _ in range(n)))
        await asyncio.sleep(0.5)
        stop.set()
        await sampler
    codes = {}
    for code in codes_list:
        codes[code] = codes.get(code, 0) + 1
    return {"idle_mb": idle / 1e6, "peak_mb": peak / 1e6, "ratio": peak / idle, "codes": codes,
            "body_bytes": len(body)}


def kill_scenario(url: str, proc) -> dict:
    pids = worker_pids(proc.pid)
    stop = threading.Event()
    under_load: list[int] = []

    def load():
        with httpx.Client(base_url=url, timeout=30) as client:
            while not stop.is_set():
                under_load.append(client.post("/v1/plans/estimate", json=CHEAP).status_code)

    threads = [threading.Thread(target=load) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        killed_at = time.monotonic()
        os.kill(pids[0], signal.SIGKILL)
        statuses = []
        with httpx.Client(base_url=url, timeout=5) as client:
            while time.monotonic() - killed_at < 2.0:
                statuses.append(client.get("/healthz").json()["status"])
                if statuses[-1] != "ok":
                    break
                time.sleep(0.02)
        time.sleep(max(0.0, killed_at + 5.0 - time.monotonic()))
        after = []
        with httpx.Client(base_url=url, timeout=30) as client:
            for _ in range(200):
                after.append(client.post("/v1/plans/estimate", json=CHEAP).status_code)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    return {"success": after.count(200) / len(after), "sent": len(after),
            "healthz_not_ok_seen": any(s != "ok" for s in statuses), "under_load": len(under_load)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--frontiers", type=int, default=100)
    parser.add_argument("--bodies", type=int, default=200)
    args = parser.parse_args()
    workers = ["--workers", str(args.workers)]
    rows = []
    with server(*workers) as (url, _proc):
        cancel = asyncio.run(cancel_scenario(url, args.frontiers))
    ok = cancel["cheap_status"] == 200 and cancel["last_503_s"] is not None \
        and cancel["cheap_after_last_503_s"] <= 2.0 and cancel["missing_retry_after"] == 0
    rows.append((f"{args.frontiers} slowest-allowed frontiers, then a cheap request",
                 f"cheap 200 {cancel['cheap_after_last_503_s']:.2f} s after the last 503 "
                 f"(at {cancel['last_503_s']:.1f} s; answers {cancel['codes']}, Retry-After "
                 f"{cancel['retry_after_values'][:1]}..{cancel['retry_after_values'][-1:]} s)",
                 "<= 2 s", ok))
    with server(*workers) as (url, proc):
        httpx.post(f"{url}/v1/plans/estimate", json=CHEAP, timeout=60)   # warm: idle = after one request
        memory = asyncio.run(memory_scenario(url, proc.pid, args.bodies))
    rows.append((f"{args.bodies} concurrent {memory['body_bytes'] / MIB:.2f} MiB bodies",
                 f"main RSS {memory['idle_mb']:.0f} -> {memory['peak_mb']:.0f} MB = {memory['ratio']:.2f}x idle "
                 f"(answers {memory['codes']})", "< 2x", memory["ratio"] < 2.0))
    with server(*workers) as (url, proc):
        kill = kill_scenario(url, proc)
    rows.append(("SIGKILL a worker under load, 200 requests 5 s later",
                 f"{kill['success']:.1%} answered 200; /healthz not ok after the kill: "
                 f"{'yes' if kill['healthz_not_ok_seen'] else 'NO'}", ">= 99 %",
                 kill["success"] >= 0.99 and kill["healthz_not_ok_seen"]))
    width = max(len(r[0]) for r in rows)
    print(f"{'scenario':<{width}}  {'target':<8}  {'met':<4}  measured")
    for name, measured, target, met in rows:
        print(f"{name:<{width}}  {target:<8}  {'yes' if met else 'NO':<4}  {measured}")
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
