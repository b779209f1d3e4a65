"""Property-based fuzz of the HTTP API (issue #18): schemathesis over every operation of the published
contract (planner/interfaces/http/openapi.json), EXAMPLES_PER_OPERATION examples each, positive and
negative data, every built-in check.

Runs against the ASGI app in-process (schemathesis keeps one event loop for it), with the real
endpoints, pool and limit checks, but tighter search limits (FUZZ_LIMITS) so a generated request that
would search for seconds is refused before it starts (422, naming the limit) instead of holding a
worker: the run stays bounded (the whole module: 91 s wall, 63 s CPU on the shared 2-core machine at
load average 4-5; 65 s at load 3).

It fails on any 5xx except a 503 with a Retry-After computed from the queue (load shedding, a time
limit or a replaced worker), an undocumented status code, header or content type, a body that breaks
the documented schema, schema-invalid data accepted (negative_data_rejection) or schema-valid data
refused with anything but 422 (a semantic error the schema cannot state, e.g. an unknown GPU name) or
a 503. Schemathesis sends valid JSON, which has no NaN or Infinity: ``test_non_finite_numbers_in_generated_bodies``
puts them into generated bodies, and ``test_non_finite_numbers_in_every_operation`` into every
number of a hand-written body of each operation.
"""

from __future__ import annotations

import json
import math

import pytest

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("fastapi")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.config import ProjectsConfig, SchemathesisConfig  # noqa: E402
from schemathesis.python import asgi  # noqa: E402

from planner.interfaces.http.limits import Limits  # noqa: E402
from planner.interfaces.http.server import OPENAPI_FILE, create_app  # noqa: E402

EXAMPLES_PER_OPERATION = 100
NON_FINITE_EXAMPLES = 60
# The default limits except the search size: a search estimated over 0.5 s (about 100 GPU type × count
# pairs for a solve, a dozen for a frontier) is refused before it starts, and the time limit answers
# whatever still runs long (the worker is killed and replaced).
FUZZ_LIMITS = Limits(max_estimated_search_s=0.5, request_timeout_s=5.0)


def _retry_after(response) -> str | None:
    value = response.headers.get("retry-after") or response.headers.get("Retry-After")
    return value[0] if isinstance(value, list) else value


@schemathesis.check
def no_server_error_but_shedding(ctx, response, case):
    """No 5xx, except a 503 with a Retry-After header (the service shedding load or healing) whose value
    is what the pool computes from the work ahead: at least 1 s, and at most the time to drain a full
    queue plus every busy worker at the slowest service time a request may take (the time limit)."""
    if response.status_code == 503:
        value = _retry_after(response)
        assert value is not None and str(value).isdigit(), f"{case.operation.label}: 503 without a Retry-After"
        pool = APP.state.core.pool
        most = math.ceil((pool.max_queue + pool.workers + 1) * FUZZ_LIMITS.request_timeout_s)
        assert 1 <= int(value) <= most, f"Retry-After {value} not derived from the queue (1..{most})"
        return None
    assert response.status_code < 500, f"{case.operation.label}: server error {response.status_code}"
    return None


# Thread workers: schemathesis ends the app's lifespan after each test and starts it again for the next,
# which restarts the pool (instant with threads; process workers would be spawned 20 times). The process
# pool's healing is tested against a real server in test_server_resilience.py.
APP = create_app(workers=2, pool="thread", limits=FUZZ_LIMITS)

# Every built-in check (not_a_server_error is replaced by the stricter check above, which also
# accepts a 503 with a queue-derived Retry-After). A schema-valid request may still be refused with
# 422 (an unknown GPU name, a search over the limits: the schema cannot say those) and 503 (shedding).
CONFIG = SchemathesisConfig(projects=ProjectsConfig.from_dict({
    "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "422", "503"]}},
}))


def fuzz_document() -> dict:
    """The published document with the names a request may use (GPU ids, law and model presets) as
    enums of the request schemas, so positive data reaches the planner instead of stopping at "unknown
    GPU" (negative data still sends other strings, which must be refused). Responses are unchanged."""
    from catalogs.loader import load_catalog, load_models
    from scaling_laws import PRESETS

    names = {"gpu": sorted(g.id for g in load_catalog()), "law": sorted(PRESETS),
             "model": sorted(m.id for m in load_models())}
    document = json.loads(OPENAPI_FILE.read_text())
    requests = ("Availability", "EstimateRequest", "FinetuneRequest", "HardwareSection", "ModelSection",
                "SolveRequest", "CostRequest", "FrontierRequest")
    for name in requests:
        for field, prop in document["components"]["schemas"][name].get("properties", {}).items():
            if field not in names:
                continue
            for branch in prop.get("anyOf", [prop]):
                if branch.get("type") == "string":
                    branch.pop("maxLength", None)
                    branch["enum"] = names[field]
    return document


schema = schemathesis.openapi.from_dict(fuzz_document(), config=CONFIG)


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_never_5xx_and_keeps_its_schema(case):
    case.call_and_validate(app=APP, excluded_checks=[not_a_server_error],
                           additional_checks=[no_server_error_but_shedding])


NON_FINITE = ("NaN", "Infinity", "-Infinity", "1e999")


def _number_paths(value, path=()):
    """Paths to every number (not bool) inside a JSON value."""
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _number_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _number_paths(item, (*path, index))


def _replaced(value, path, marker):
    if not path:
        return marker
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replaced(value[path[0]], path[1:], marker)
    return copy


POSTS = sorted(path for path, item in json.loads(OPENAPI_FILE.read_text())["paths"].items() if "post" in item)


@pytest.mark.parametrize("path", POSTS)
def test_non_finite_numbers_in_generated_bodies(path):
    """Schema-valid bodies generated by schemathesis with one number (any depth) replaced by NaN,
    Infinity, -Infinity or 1e999 (Python's json reads all four): always 422 naming a field, never a 5xx."""
    strategy = schema[path]["POST"].as_strategy()  # positive data

    @settings(max_examples=NON_FINITE_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy, constant=st.sampled_from(NON_FINITE), pick=st.integers(0, 10**6))
    def run(case, constant, pick):
        body = case.body if isinstance(case.body, dict) else {}
        paths = list(_number_paths(body))
        if not paths:  # no number generated: add one the operation knows
            body, paths = {**body, "tokens": 1.0}, [("tokens",)]
        target = paths[pick % len(paths)]
        text = json.dumps(_replaced(body, target, "@@")).replace('"@@"', constant)
        with asgi.get_client(APP) as client:
            response = client.post(path, data=text, headers={"content-type": "application/json"})
        assert response.status_code == 422, (path, target, constant, response.status_code, response.text)
        detail = response.json()["detail"]
        assert detail and all(item["loc"] and item["msg"] for item in detail), response.text

    run()


@pytest.mark.parametrize("constant", NON_FINITE)
def test_non_finite_numbers_in_every_operation(constant):
    """Every number of every POST operation's example body replaced by NaN/Infinity: 422, never a 500."""
    bodies = {
        "/v1/plans/best": {"budget_usd": 1e5, "deadline_hours": 100.0},
        "/v1/plans/cost": {"params": 1e9, "tokens": 2e10, "budget_usd": 1e5},
        "/v1/plans/estimate": {"params": 1e9, "tokens": 2e10, "gpu": "h100-sxm", "gpus": 8},
        "/v1/plans/validate": {"tokens": 3e11, "model": {"params": 1.3e10},
                               "hardware": {"gpu": "h100-sxm", "gpus": 64}},
        "/v1/frontier": {"budget_usd": 1e5, "max_points": 3},
        "/v1/finetune": {"base_params": 7e9, "tokens": 1e8, "gpus": 8, "gpu": "a100-80gb"},
    }
    assert sorted(POSTS) == sorted(bodies), "a new operation needs a body here"
    with asgi.get_client(APP) as client:   # the app's one lifespan (pool), shared with schemathesis
        for path, body in bodies.items():
            for target in _number_paths(body):
                text = json.dumps(_replaced(body, target, "@@")).replace('"@@"', constant)
                response = client.post(path, data=text, headers={"content-type": "application/json"})
                assert response.status_code == 422, (path, target, response.status_code, response.text)
                assert response.json()["detail"], response.text


@pytest.mark.parametrize("path, body, field", [
    ("/v1/plans/estimate", {**{"params": 1e9, "tokens": 2e10, "gpu": "h100-sxm", "gpus": 8}, "zero": False}, "zero"),
    ("/v1/plans/best", {"budget_usd": 1e5, "min_rental_hours": False}, "min_rental_hours"),
    ("/v1/plans/best", {"budget_usd": 1e5, "allow_mixed": 0}, "allow_mixed"),
    ("/v1/plans/best", {"budget_usd": "1e5"}, "budget_usd"),
    ("/v1/plans/best", {"budget_usd": 1e5, "seq_len": "2048"}, "seq_len"),
    ("/v1/plans/validate", {"tokens": 3e11, "model": {"params": 1.3e10},
                            "hardware": {"gpu": "h100-sxm", "gpus": True}}, "gpus"),
])
def test_json_types_the_schema_states(path, body, field):
    """Booleans are not numbers, numbers are not booleans, and a number field takes no string (unless it
    reads units, like a plan's "300B"): 422 naming the field, as the negative-data check expects."""
    with asgi.get_client(APP) as client:
        response = client.post(path, json=body)
    assert response.status_code == 422, (response.status_code, response.text)
    assert any(field in item["loc"] for item in response.json()["detail"]), response.text
