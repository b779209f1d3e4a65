"""The HTTP API over a real server: `planner serve` in a subprocess on a loopback port, called with httpx.

Checks that each endpoint answers what the core answers (the web layer adds no logic), that bad input
gets 422 with the field path, limits get 413/422/503 naming the limit, and that the checked-in
OpenAPI document equals the one the server serves.
"""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from support import REPO, running_server  # noqa: E402

from catalogs.loader import load_catalog  # noqa: E402
from planner.analysis.estimate import estimate  # noqa: E402
from planner.types.estimates import EstimateRequest  # noqa: E402

ESTIMATE = {"params": 7e9, "tokens": 2e12, "gpu": "h100-sxm", "gpus": 64}
BEST = {"budget_usd": 250_000, "availability": [{"gpu": "h100-sxm", "max_count": 256},
                                                {"gpu": "a100-80gb", "max_count": 512}]}


@pytest.fixture(scope="module")
def server():
    with running_server("--workers", "2") as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client


def problem_locs(response) -> list[list]:
    return [item["loc"] for item in response.json()["detail"]]


def test_health(server):
    body = server.get("/healthz").json()
    assert body["status"] == "ok" and body["gpus"] == len(load_catalog())


def test_catalog_is_the_loaded_catalog(server):
    response = server.get("/v1/catalog/gpus")
    assert response.status_code == 200
    assert response.json() == [json.loads(json.dumps(g.catalog_json())) for g in load_catalog()]


def test_laws_lists_presets(server):
    from scaling_laws import DEFAULT_LAW_NAME, PRESETS

    laws = server.get("/v1/laws").json()
    assert [law["name"] for law in laws] == list(PRESETS)
    assert [law["name"] for law in laws if law["default"]] == [DEFAULT_LAW_NAME]


def test_estimate_equals_core(server):
    response = server.post("/v1/plans/estimate", json=ESTIMATE)
    assert response.status_code == 200
    expected = estimate(EstimateRequest(**ESTIMATE), load_catalog())
    assert response.json() == json.loads(expected.model_dump_json())


def test_estimate_with_framework_names_it(server):
    response = server.post("/v1/plans/estimate", json={**ESTIMATE, "framework": "torchtitan"})
    assert response.status_code == 200 and response.json()["strategy"]["framework"] == "torchtitan"


def test_estimate_price_override(server):
    response = server.post("/v1/plans/estimate", json={**ESTIMATE, "price_usd_per_gpu_hour": 1.0})
    assert response.json()["price_usd_per_gpu_hour"] == 1.0


@pytest.mark.parametrize("body, loc, words", [
    ({**ESTIMATE, "gpus": 0}, ["body", "gpus"], "greater than or equal to 1"),
    ({**ESTIMATE, "precision": "fp4"}, ["body", "precision"], "'bf16'"),
    ({**ESTIMATE, "gpu": "h900"}, ["body", "gpu"], "known: "),                     # the core's error
    ({**ESTIMATE, "tp": 3}, ["body", "tp"], "allowed"),                            # the core's error
    ({**ESTIMATE, "gpus": 500_000}, ["body", "gpus"], "max_gpus_per_type"),        # a server limit
    ({**ESTIMATE, "nonsense": 1}, ["body", "nonsense"], "Extra inputs"),
    # issue #16: bad MoE settings are one-field input errors
    ({"model": "mixtral-8x7b", "tokens": 1e9, "gpu": "h100-sxm", "gpus": 8, "ep": 3}, ["body", "ep"],
     "must divide the 8 experts"),
    ({"model": "mixtral-8x7b", "tokens": 1e9, "gpu": "h100-sxm", "gpus": 8, "top_k": 9}, ["body", "top_k"],
     "between 1 and experts"),
    ({**ESTIMATE, "framework": "jax"}, ["body", "framework"], "'megatron'"),
    ({**ESTIMATE, "framework": "megatron", "zero": 3}, ["body", "zero"], "distributed optimizer"),   # issue #13
])
def test_estimate_bad_input_is_422_with_field_path(server, body, loc, words):
    response = server.post("/v1/plans/estimate", json=body)
    assert response.status_code == 422
    assert loc in problem_locs(response)
    assert words in json.dumps(response.json())


def test_malformed_json_is_422(server):
    response = server.post("/v1/plans/estimate", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422


def test_body_over_limit_is_413(server):
    big = b'{"x": "' + b"a" * (2 << 20) + b'"}'
    response = server.post("/v1/plans/estimate", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "max_body_bytes" in response.text

    def chunks():  # no Content-Length: the limit is counted while reading
        yield b'{"x": "'
        for _ in range(40):
            yield b"a" * 65536
        yield b'"}'

    response = server.post("/v1/plans/estimate", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "max_body_bytes" in response.text


def test_concurrent_requests_all_answered(server):
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: server.post("/v1/plans/estimate", json=ESTIMATE).status_code, range(32)))
    assert statuses == [200] * 32


def test_openapi_served_equals_checked_in(server):
    checked_in = json.loads((REPO / "planner" / "interfaces" / "http" / "openapi.json").read_text())
    assert server.get("/openapi.json").json() == checked_in, (
        "planner/interfaces/http/openapi.json is stale; regenerate it with: python -m planner.interfaces.http.server --write-openapi")


def test_openapi_checked_in_equals_app():
    from planner.interfaces.http.server import OPENAPI_FILE, openapi_text

    assert openapi_text() == OPENAPI_FILE.read_text(), (
        "planner/interfaces/http/openapi.json is stale; regenerate it with: python -m planner.interfaces.http.server --write-openapi")


def test_all_issue_endpoints_exist_in_openapi(server):
    paths = server.get("/openapi.json").json()["paths"]
    for path in ("/v1/plans/best", "/v1/plans/cost", "/v1/plans/validate", "/v1/plans/estimate",
                 "/v1/catalog/gpus", "/v1/laws", "/healthz"):
        assert path in paths


# --- solver-backed endpoints ---------------------------------------------------------------

def test_best_plan_equals_core(server):
    from planner.search.solver import solve
    from planner.types.requests import SolveRequest

    response = server.post("/v1/plans/best", json=BEST)
    assert response.status_code == 200
    body = response.json()
    assert body["cost_usd"] <= BEST["budget_usd"] * (1 + 1e-9)
    from planner.analysis.defaults import with_default_notes

    request = SolveRequest(**BEST)
    expected = with_default_notes(request, solve(request, catalog=load_catalog()).plan)
    assert body == json.loads(expected.model_dump_json())
    assert any("default applied: deadline" in note for note in body["notes"])


def test_best_allow_moe_answers_within_the_time_limit(server):
    # the README's `planner best --budget-usd 2M --deadline 30d --allow-moe`, every catalog GPU: the
    # joint dense/MoE search (planner.search.joint_search) must answer before request_timeout_s cancels it
    from planner.interfaces.http.limits import LIMITS

    response = server.post("/v1/plans/best", json={"budget_usd": 2e6, "deadline_hours": 720, "allow_moe": True})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["law"].startswith("ludziejewski2025") and "chosen" in body["explanation"][0]
    assert response.elapsed.total_seconds() < LIMITS.request_timeout_s


def test_best_infeasible_is_200_with_binding_constraint(server):
    response = server.post("/v1/plans/cost", json={"params": 70e9, "tokens": 2e12, "budget_usd": 1000,
                                                    "availability": [{"gpu": "h100-sxm", "max_count": 8}]})
    assert response.status_code == 200
    body = response.json()
    assert body["feasible"] is False and body["binding_constraint"] == "memory" and body["fix"]


def test_best_rejects_law_paths_and_limits(server):
    response = server.post("/v1/plans/best", json={**BEST, "law": "/etc/passwd.toml"})
    assert response.status_code == 422 and ["body", "law"] in problem_locs(response)
    assert "besiroglu" in response.text
    many = [{"gpu": "h100-sxm", "max_count": 8}] * 33
    response = server.post("/v1/plans/best", json={**BEST, "availability": many})
    assert response.status_code == 422 and "max_availability_entries" in response.text
    response = server.post("/v1/plans/best", json={"objective": "min_loss"})
    assert response.status_code == 422  # needs budget_usd or deadline_hours


def test_cost_plan(server):
    response = server.post("/v1/plans/cost", json={"params": 1e9, "tokens": 20e9,
                                                    "availability": [{"gpu": "h100-sxm", "max_count": 64}]})
    assert response.status_code == 200
    body = response.json()
    assert body["objective"] == "min_cost" and body["params"] == 1e9 and body["tokens"] == 20e9
    response = server.post("/v1/plans/cost", json={"objective": "min_loss", "params": 1e9, "tokens": 2e10})
    assert response.status_code == 422 and ["body", "objective"] in problem_locs(response)


def test_validate_plan(server):
    plan = {"tokens": "300B", "model": {"params": "13B"},
            "hardware": {"gpu": "h100-sxm", "gpus": 64},
            "strategy": {"tp": 4, "pp": 2, "zero": 1, "precision": "bf16", "recompute": "none"}}
    response = server.post("/v1/plans/validate", json=plan)
    assert response.status_code == 200, response.text
    response = server.post("/v1/plans/validate", json={**plan, "model": {"params": "13B", "law": "/tmp/x.toml"}})
    assert response.status_code == 422 and ["body", "model", "law"] in problem_locs(response)


# --- limits and startup --------------------------------------------------------------------

def test_time_limit_is_503_naming_the_limit():
    # A frontier over every catalog GPU takes ~1 s of core work: far over a 10 ms limit.
    with running_server("--workers", "1", "--pool", "thread", "--request-timeout", "0.01") as url:
        response = httpx.post(f"{url}/v1/frontier", json={"budget_usd": 1e6}, timeout=30)
    assert response.status_code == 503 and "request_timeout_s" in response.text


def test_serve_catalog_override_and_bad_file(tmp_path):
    good = tmp_path / "prices.toml"
    good.write_text('[gpu.h100-sxm]\nprice_usd_per_gpu_hour = 1.23\n')
    with running_server("--catalog", str(good), "--pool", "thread") as url:
        gpus = {g["id"]: g for g in httpx.get(f"{url}/v1/catalog/gpus").json()}
    assert gpus["h100-sxm"]["price_usd_per_gpu_hour"] == 1.23
    bad = subprocess.run([sys.executable, "-m", "planner", "serve", "--catalog", str(tmp_path / "missing.toml")],
                         capture_output=True, text=True, cwd=REPO, timeout=60)
    assert bad.returncode == 2 and "file not found" in bad.stderr and "Traceback" not in bad.stderr
