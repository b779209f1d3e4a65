"""Issue #18, HTTP: never a 500, never a dead server, limits that limit.

A real `planner serve` on loopback per scenario (support.server_process). The kill test SIGKILLs a
worker under load and expects >= 99 % of the requests sent 5 s later to succeed, and /healthz not "ok"
while the pool cannot serve. `planner serve` keeps one warm spare worker process by default: a pool of N
workers runs N + 1 worker processes, and a killed worker is replaced by the spare at once.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import socket
import threading
import time

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from support import oldest_first, server_process, worker_pids  # noqa: E402

ESTIMATE = {"params": 1e9, "tokens": 2e10, "gpu": "h100-sxm", "gpus": 8, "tp": 1, "pp": 1, "zero": 1,
            "precision": "bf16", "recompute": "none", "micro_batch": 1}
PLAN = {"tokens": "300B", "model": {"params": "13B"}, "hardware": {"gpu": "h100-sxm", "gpus": 64}}
SLOW_FRONTIER = {"budget_usd": 1e6}  # every catalog GPU: seconds of core work


def retry_after_ok(response) -> bool:
    value = response.headers.get("retry-after", "")
    return value.isdigit() and int(value) >= 1


def wait_until_ok(client, timeout_s: float = 60.0) -> None:
    """Until /healthz says ok (a replaced worker imports the core: seconds on a loaded CI machine)."""
    deadline = time.monotonic() + timeout_s
    while client.get("/healthz").json()["status"] != "ok":
        assert time.monotonic() < deadline, "the pool did not heal"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def server():
    with server_process("--workers", "2") as (url, proc):
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client


# --- never a 500 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path, body, field", [
    ("/v1/plans/estimate", '{"params": NaN, "tokens": 2e10, "gpu": "h100-sxm", "gpus": 8}', "params"),
    ("/v1/plans/estimate", '{"params": 1e9, "tokens": Infinity, "gpu": "h100-sxm", "gpus": 8}', "tokens"),
    ("/v1/plans/best", '{"budget_usd": -Infinity}', "budget_usd"),
    ("/v1/plans/cost", '{"params": NaN, "tokens": 1e9}', "params"),
    ("/v1/frontier", '{"budget_usd": NaN}', "budget_usd"),
    ("/v1/finetune", '{"tokens": Infinity}', "tokens"),
    ("/v1/plans/validate", '{"tokens": NaN, "model": {"params": "13B"}, "hardware": {"gpu": "h100-sxm", "gpus": 8}}',
     "tokens"),
])
def test_nan_and_infinity_are_422_with_a_json_body(server, path, body, field):
    response = server.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    locs = [item["loc"] for item in response.json()["detail"]]
    assert any(field in loc for loc in locs), locs


@pytest.mark.parametrize("path, body, words", [
    ("/v1/plans/validate", {**PLAN, "hardware": {"gpu": "h100-sxm", "gpus": 1_000_000}}, "max_gpus_per_type"),
    ("/v1/plans/estimate", {"tokens": 1e12, "gpu": "h100-sxm", "gpus": 8, "layers": 10_000, "hidden": 1_000_000,
                            "heads": 8}, "1e15"),
    ("/v1/plans/estimate", {**ESTIMATE, "zero": False}, "boolean"),
    ("/v1/plans/best", {"budget_usd": 1e9, "availability": [{"gpu": "h100-sxm", "max_count": 8, "mode": "rent"},
                                                          {"gpu": "a100-80gb", "max_count": True}]}, "boolean"),
    ("/v1/frontier", {"budget_usd": 1e9, "availability": [
        {"gpu": g, "max_count": 100_000} for g in ("a100-40gb", "a100-80gb", "a10g", "b200", "h100-pcie", "h100-sxm",
                                                   "h200", "l4", "l40s", "mi300x", "v100-32gb")]},
     "max_estimated_search_s"),
    ("/v1/plans/best", {"budget_usd": 1e3, "deadline_hours": 1e-300}, "deadline_hours"),
])
def test_every_endpoint_applies_the_limits(server, path, body, words):
    response = server.post(path, json=body)
    assert response.status_code == 422 and words in response.text, response.text


def test_health_reports_the_pool(server):
    body = server.get("/healthz").json()
    assert body["status"] == "ok" and body["workers"] == body["ready"] == 2
    assert server.get("/readyz").status_code == 200


# --- a service that heals -----------------------------------------------------------------------

def _load(url: str, stop: threading.Event, statuses: list, lock: threading.Lock) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            response = client.post("/v1/plans/estimate", json=ESTIMATE)
            with lock:
                statuses.append((response.status_code, retry_after_ok(response)))


def test_sigkill_a_worker_under_load_heals_within_5_s():
    with server_process("--workers", "2") as (url, proc):
        pids = oldest_first(worker_pids(proc.pid))
        assert len(pids) == 3   # 2 serving workers and 1 spare (started last)
        stop, lock, statuses = threading.Event(), threading.Lock(), []
        load = [threading.Thread(target=_load, args=(url, stop, statuses, lock)) for _ in range(3)]
        for thread in load:
            thread.start()
        try:
            time.sleep(1.0)
            killed_at = time.monotonic()
            os.kill(pids[0], signal.SIGKILL)
            seen = []
            with httpx.Client(base_url=url, timeout=5) as client:
                while time.monotonic() - killed_at < 2.0:
                    seen.append(client.get("/healthz").json()["status"])
                    if seen[-1] != "ok":
                        break
                    time.sleep(0.02)
            assert seen[-1] != "ok", f"/healthz said ok for 2 s after a worker died: {seen}"
            time.sleep(max(0.0, killed_at + 5.0 - time.monotonic()))
            with httpx.Client(base_url=url, timeout=30) as client, concurrent.futures.ThreadPoolExecutor(4) as pool:
                after = list(pool.map(lambda _: client.post("/v1/plans/estimate", json=ESTIMATE).status_code,
                                      range(200)))
        finally:
            stop.set()
            for thread in load:
                thread.join(60)
        success = after.count(200) / len(after)
        print(f"kill test: {success:.1%} of {len(after)} requests sent 5 s after SIGKILL succeeded; "
              f"{len(statuses)} under load")
        assert success >= 0.99, after
        # Under load, every answer was 200 or a 503 with a Retry-After (the request on the killed worker).
        assert all(code == 200 or (code == 503 and retry) for code, retry in statuses), statuses
        with httpx.Client(base_url=url, timeout=5) as client:
            health = client.get("/healthz").json()
        assert health["status"] == "ok" and health["restarts"] >= 1 and health["spares_ready"] == 1
        # The killed worker's slot took the spare; exactly one new process (the new spare) replaced it.
        now = worker_pids(proc.pid)
        assert len(now) == 3 and pids[0] not in now and len(set(now) - set(pids)) == 1


def test_a_spare_replaces_a_killed_worker_at_once():
    """With a warm spare, the only serving worker's death does not stop service: the next request is
    answered by the spare without waiting for a new process to import the core; /healthz is "degraded"
    (no spare) until the new spare is ready, then "ok" with one new process."""
    with server_process("--workers", "1", "--spare-workers", "1") as (url, proc):
        worker, spare = oldest_first(worker_pids(proc.pid))
        with httpx.Client(base_url=url, timeout=30) as client:
            assert client.get("/healthz").json()["spares_ready"] == 1
            os.kill(worker, signal.SIGKILL)
            time.sleep(0.5)   # the slot notices within POLL_S (0.25 s) and takes the spare
            start = time.monotonic()
            response = client.post("/v1/plans/estimate", json=ESTIMATE)
            answered_s = time.monotonic() - start
            assert response.status_code == 200 and answered_s < 2.0, (response.status_code, answered_s)
            health = client.get("/healthz").json()
            assert health["ready"] == 1 and health["restarts"] == 1
            assert health["status"] == "degraded" or health["spares_ready"] == 1, health
            wait_until_ok(client)
            now = worker_pids(proc.pid)
        assert spare in now and worker not in now and len(now) == 2


def test_without_a_spare_the_pool_waits_for_a_new_worker():
    """``--spare-workers 0``: the old behaviour, a replacement worker starts from nothing."""
    with server_process("--workers", "1", "--spare-workers", "0") as (url, proc):
        assert len(worker_pids(proc.pid)) == 1
        with httpx.Client(base_url=url, timeout=30) as client:
            health = client.get("/healthz").json()
        assert health["status"] == "ok" and health["spares"] == health["spares_ready"] == 0


def test_the_only_worker_dead_is_unavailable_then_heals():
    with server_process("--workers", "1", "--spare-workers", "0") as (url, proc):
        [pid] = worker_pids(proc.pid)
        os.kill(pid, signal.SIGKILL)
        with httpx.Client(base_url=url, timeout=30) as client:
            deadline, codes = time.monotonic() + 2.0, []
            while time.monotonic() < deadline:
                response = client.get("/healthz")
                codes.append(response.status_code)
                if response.status_code == 503:
                    assert response.json()["status"] == "unavailable" and retry_after_ok(response)
                    assert client.get("/readyz").status_code == 503
                    break
                time.sleep(0.02)
            assert 503 in codes, codes
            # A request sent meanwhile waits for the new worker (or, past the time limit, gets a Retry-After).
            response = client.post("/v1/plans/estimate", json=ESTIMATE)
            assert response.status_code == 200 or (response.status_code == 503 and retry_after_ok(response))
            wait_until_ok(client)
            assert client.post("/v1/plans/estimate", json=ESTIMATE).status_code == 200


def test_time_limit_cancels_the_work():
    with server_process("--workers", "1", "--request-timeout", "1") as (url, proc):
        pid, spare = oldest_first(worker_pids(proc.pid))   # the serving worker, then the spare
        with httpx.Client(base_url=url, timeout=30) as client:
            start = time.monotonic()
            response = client.post("/v1/frontier", json=SLOW_FRONTIER)
            assert response.status_code == 503 and "request_timeout_s" in response.text
            assert retry_after_ok(response) and time.monotonic() - start < 5
            time.sleep(0.5)
            assert not os.path.exists(f"/proc/{pid}/cmdline") or pid not in worker_pids(proc.pid), \
                "the worker running the late request is still alive"
            # The spare took over: a cheap request is answered without waiting for a new worker to start.
            start = time.monotonic()
            assert client.post("/v1/plans/estimate", json=ESTIMATE).status_code == 200
            assert time.monotonic() - start < 2.0
            assert spare in worker_pids(proc.pid)
            wait_until_ok(client)
            assert client.post("/v1/plans/estimate", json=ESTIMATE).status_code == 200
            assert client.get("/healthz").json()["restarts"] >= 1


def test_a_full_queue_is_503_with_a_computed_retry_after():
    with server_process("--workers", "1", "--max-queue", "1", "--request-timeout", "4") as (url, _proc):
        def send(_):
            with httpx.Client(base_url=url, timeout=30) as client:
                return client.post("/v1/frontier", json=SLOW_FRONTIER)

        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            responses = list(pool.map(send, range(6)))
    shed = [r for r in responses if r.status_code == 503 and "max_queued_per_worker" in r.text]
    assert len(shed) >= 3, [(r.status_code, r.text[:100]) for r in responses]
    assert all(retry_after_ok(r) for r in responses if r.status_code == 503)
    # Work ahead (1 running + 1 queued) × typical service time (>= the ~1 s start value): more than 1 s.
    assert max(int(r.headers["retry-after"]) for r in shed) >= 2


def test_a_stalled_body_is_cut_off():
    with server_process("--workers", "1", "--pool", "thread", "--body-timeout", "1") as (url, _proc):
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(b"POST /v1/plans/estimate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100\r\n\r\n{\"par")
            start = time.monotonic()
            data = b""
            while chunk := sock.recv(4096):  # the server answers and closes the connection
                data += chunk
            elapsed = time.monotonic() - start
    assert data.startswith(b"HTTP/1.1 408") and b"body_timeout_s" in data, data
    assert elapsed < 5


def test_queued_requests_under_the_limit_all_succeed(server):
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: server.post("/v1/plans/estimate", json=ESTIMATE).status_code, range(16)))
    assert statuses == [200] * 16


def test_problem_bodies_are_json(server):
    response = server.post("/v1/plans/estimate", content=b"\xff\xfe", headers={"content-type": "application/json"})
    assert response.status_code == 422 and json.loads(response.text)["detail"]


def test_refused_large_bodies_get_a_503_not_a_reset():
    """Over admission (here: more than max_body_bytes_in_flight = 8 MiB of bodies at once) a POST is
    answered 503 + Retry-After before its body is read; the client still sends its whole body and reads
    the 503 (no connection reset), and the same connection serves the next request."""
    core = json.dumps({"budget_usd": 1e5, "availability": [{"gpu": "l4", "max_count": 1}]}).encode()
    body = core[:-1] + b" " * ((1 << 20) - 1024 - len(core)) + b"}"
    with server_process("--workers", "1", "--pool", "thread") as (url, _proc):
        def send(_):
            with httpx.Client(base_url=url, timeout=60) as client:
                first = client.post("/v1/plans/best", content=body, headers={"content-type": "application/json"})
                again = client.get("/healthz")   # same keep-alive connection
                return first, again.status_code

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            results = list(pool.map(send, range(16)))
    codes = [r.status_code for r, _ in results]
    assert set(codes) <= {200, 503} and 503 in codes and 200 in codes, codes
    assert all(retry_after_ok(r) and "overloaded" in r.text for r, _ in results if r.status_code == 503)
    assert all(code == 200 for _, code in results)


def test_the_search_size_estimate_counts_each_precision_tried():
    """fp8 beside bf16 doubles the layouts of every grid on a GPU that has fp8: the pre-start estimate
    counts it (a request that doubles past the limit is refused up front, not cancelled at 10 s)."""
    from catalogs.loader import load_catalog
    from planner.interfaces.http.limits import search_counts
    from planner.types.requests import Availability, SolveRequest

    catalog = load_catalog()
    gpus = [Availability(gpu="h100-sxm", max_count=1024), Availability(gpu="a100-80gb", max_count=1024)]
    bf16 = search_counts(SolveRequest(budget_usd=1e6, availability=gpus, precisions=["bf16"]), catalog)
    both = search_counts(SolveRequest(budget_usd=1e6, availability=gpus, precisions=["bf16", "fp8"]), catalog)
    h100_only = search_counts(SolveRequest(budget_usd=1e6, availability=gpus[:1], precisions=["bf16"]), catalog)
    assert both == bf16 + h100_only          # the A100 has no fp8: its pairs count once
