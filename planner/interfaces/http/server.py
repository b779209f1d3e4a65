"""HTTP JSON API over the planner core (FastAPI + uvicorn; ``pip install ".[server]"``).

No planning logic lives here: each endpoint validates the core's pydantic request model, checks the
server limits (planner/interfaces/http/limits.py) and runs the core function in a bounded worker pool, so the
CPU-bound solver never blocks the event loop. User errors become 422 with the field path, a
request that cannot be met becomes 200 with an Infeasibility, a slow request 503 naming the limit.

    python -m planner.interfaces.http.server --write-openapi   # regenerate planner/interfaces/http/openapi.json after an API change
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal, Union

from fastapi import FastAPI, HTTPException
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from catalogs.loader import load_catalog, load_models
from catalogs.schema import GPUSpec
from planner.analysis.defaults import with_default_notes
from planner.analysis.estimate import estimate
from planner.analysis.finetune import plan_finetune
from planner.analysis.frontier import compute_frontier, require_plans
from planner.analysis.validate import validate_plan
from planner.interfaces.http.limits import (
    LIMITS,
    Limits,
    check_estimate_request,
    check_plan_file,
    check_solve_request,
)
from planner.interfaces.http.pool import HealingPool, Overloaded, TimedOut, WorkerLost
from planner.search.solver import solve
from planner.types.errors import USER_ERRORS, InfeasibleError, InputError
from planner.types.estimates import Estimate, EstimateRequest
from planner.types.finetune import FinetuneRequest, FinetuneResponse
from planner.types.plan_file import PlanFile
from planner.types.requests import SolveRequest
from planner.types.results import Infeasibility, Plan
from planner.types.validation import ValidationReport
from scaling_laws import DEFAULT_LAW_NAME, PRESETS

OPENAPI_FILE = Path(__file__).with_name("openapi.json")
PoolKind = Literal["thread", "process"]


# ----------------------------------------------------------------------------------------------
# Response models that exist only at the HTTP edge.

class ProblemItem(BaseModel):
    """Same shape as FastAPI's own 422 items, so clients parse one error format."""

    loc: list[Union[str, int]]
    msg: str
    type: str


class Problem(BaseModel):
    detail: list[ProblemItem]


class Health(BaseModel):
    """The pool's real state: ok (every worker and every spare ready), degraded (some worker ready),
    unavailable (none: HTTP 503)."""

    status: Literal["ok", "degraded", "unavailable"] = "ok"
    version: str
    gpus: int = Field(description="GPU types in the loaded catalog")
    workers: int = Field(0, description="worker slots")
    ready: int = Field(0, description="workers able to take a request now or when free")
    busy: int = Field(0, description="workers running a request")
    spares: int = Field(0, description="warm spare worker processes kept to replace a dead or killed worker at once")
    spares_ready: int = Field(0, description="spares started and ready now")
    queued: int = Field(0, description="requests waiting for a worker")
    max_queue: int = Field(0, description="queue length over which requests get 503 + Retry-After")
    restarts: int = Field(0, description="workers replaced since start (died, or killed past the time limit)")


class LawPreset(BaseModel):
    name: str
    default: bool
    form: str
    constants: dict[str, float]
    source: str


class CostRequest(SolveRequest):
    """A SolveRequest for /v1/plans/cost: fixed model and tokens; min_cost (default) or min_time."""

    model_config = ConfigDict(extra="forbid")

    objective: Literal["min_cost", "min_time"] = "min_cost"


class FrontierRequest(SolveRequest):
    """A SolveRequest (the region to explore: budget and/or deadline) and how many plans to return."""

    model_config = ConfigDict(extra="forbid")

    max_points: int = Field(50, ge=3, le=LIMITS.max_frontier_points,
                            description=f"plans returned (server limit max_frontier_points = "
                                        f"{LIMITS.max_frontier_points})")


class FrontierAnswer(BaseModel):
    """planner.analysis.frontier.Frontier as JSON: the spread of non-dominated plans, cheapest first."""

    candidates: int
    points_evaluated: int
    points_nondominated: int
    plans_returned: int
    max_points: int
    seconds: dict[str, float]
    plans: list[Plan]


# ----------------------------------------------------------------------------------------------
# Worker side: runs in a pool thread or process. Returns (status, JSON bytes): serialising in the
# worker keeps the event loop free and is cheaper to pass back from a process than a model.

_CATALOG = None
_LIMITS = LIMITS


def _init_worker(catalog_files: tuple[str, ...], limits: Limits = LIMITS) -> None:
    global _CATALOG, _LIMITS
    _CATALOG, _LIMITS = load_catalog(catalog_files), limits


def _problem(loc: list, msg: str, kind: str) -> bytes:
    return Problem(detail=[ProblemItem(loc=loc, msg=msg, type=kind)]).model_dump_json().encode()


def _field_loc(field: str | None) -> list:
    parts = [] if not field else [int(p) if p.isdigit() else p for p in str(field).split(".")]
    return ["body", *parts]


def _check_law(law: str | None, field: str = "law") -> None:
    """Over HTTP a law is a preset name: a request must not make the server read its own files."""
    if law is not None and law.strip().lower() not in PRESETS:
        raise InputError(f"{field}: over HTTP a law is a preset name, one of {', '.join(PRESETS)} "
                         "(a request cannot read files on the server)", field)


def _solve(request: SolveRequest):
    check_solve_request(request, _LIMITS, _CATALOG)
    _check_law(request.law)
    answer = solve(request, catalog=_CATALOG).answer
    return with_default_notes(request, answer) if isinstance(answer, Plan) else answer


def _check_model(model: str | None) -> None:
    """Over HTTP a model is a preset name: a request must not make the server read its own files."""
    if model is not None and model.strip().lower() not in {m.id for m in load_models()}:
        raise InputError(f"model: over HTTP a model is a preset name (GET the list with `planner models`), "
                         f"not a file; got {model[:80]!r}", "model")


def _estimate(request: EstimateRequest):
    _check_model(request.model)
    check_estimate_request(request, _LIMITS)
    return estimate(request, _CATALOG)


def _validate(plan):
    check_plan_file(plan, _LIMITS)
    _check_law(getattr(getattr(plan, "model", None), "law", None), "model.law")
    return validate_plan(plan, _CATALOG)


def _frontier(request: FrontierRequest) -> FrontierAnswer:
    check_solve_request(request, _LIMITS, _CATALOG, kind="frontier")
    _check_law(request.law)
    plain = SolveRequest.model_validate(request.model_dump(exclude={"max_points"}))
    result = require_plans(compute_frontier(plain, _CATALOG, max_points=request.max_points), plain)
    return FrontierAnswer.model_validate(result.to_json())


def _finetune(request):
    _check_model(request.model)
    if request.gpus is not None:
        check_estimate_request(request, _LIMITS)
    return plan_finetune(request, _CATALOG)


_TASKS = {"solve": _solve, "estimate": _estimate, "validate": _validate, "frontier": _frontier,
          "finetune": _finetune}


def run_task(name: str, request) -> tuple[int, bytes]:
    """Call the core; map its errors to HTTP answers (the only translation the web layer does)."""
    try:
        result = _TASKS[name](request)
    except InfeasibleError as error:
        answer = Infeasibility(binding_constraint=error.binding, message=str(error), fix=error.fix)
        return 200, answer.model_dump_json().encode()
    except USER_ERRORS as error:
        return 422, _problem(_field_loc(getattr(error, "field", None)), str(error), "value_error")
    return 200, result.model_dump_json().encode()


# ----------------------------------------------------------------------------------------------
# Event-loop side.

class CorePool:
    """The core behind the endpoints: a HealingPool (planner/interfaces/http/pool.py) and the HTTP
    answers of its outcomes: 503 with a Retry-After for a full queue, a time limit or a lost worker."""

    def __init__(self, catalog_files: tuple[str, ...], workers: int, kind: PoolKind, limits: Limits,
                 spares: int = 0):
        self.limits, self.timeout_s = limits, limits.request_timeout_s
        self.pool = HealingPool(workers=workers, kind=kind, timeout_s=limits.request_timeout_s, spares=spares,
                                max_queue=limits.max_queued_per_worker * workers,
                                initializer=_init_worker, initargs=(catalog_files, limits), task=run_task)

    async def start(self) -> None:
        await self.pool.start()

    async def close(self) -> None:
        await self.pool.close()

    def unavailable(self, msg: str, kind: str, retry_after: int | None = None) -> Response:
        seconds = retry_after if retry_after is not None else self.pool.retry_after()
        return Response(_problem([], msg, kind), status_code=503, media_type="application/json",
                        headers={"Retry-After": str(seconds)})

    async def run(self, name: str, request) -> Response:
        try:
            status, body = await self.pool.run(name, request)
        except Overloaded as error:
            return self.unavailable(f"server busy: {self.pool.queued()} requests queued (server limit "
                                    f"max_queued_per_worker = {self.limits.max_queued_per_worker} per worker); "
                                    f"retry after {error.retry_after} s", "overloaded", error.retry_after)
        except TimedOut:
            return self.unavailable(f"request exceeded the server limit request_timeout_s = {self.timeout_s:g} s "
                                    "(the work was cancelled)", "timeout")
        except WorkerLost:
            return self.unavailable("the worker running this request died; it is being replaced", "worker_lost")
        return Response(body, status_code=status, media_type="application/json")


class BodyLimit:
    """ASGI middleware: 413 for a body over ``max_bytes`` (before it is read or parsed) and 408 for a
    body not fully received within ``timeout_s`` of its first byte being awaited (a stalled upload
    must not hold a connection).

    Admission (issue #18): at most ``max_in_flight`` POST requests are read, parsed, queued or run at
    once; one more is answered 503 with the pool's Retry-After *before its body is read*. The pool's
    bounded queue would refuse it anyway, but only after its body (up to ``max_bytes``) was buffered
    and parsed in this process: 200 concurrent 1 MiB bodies took the main process from 82 to 513 MB.
    Health and catalog GETs are never refused."""

    def __init__(self, app, max_bytes: int, timeout_s: float = 10.0, max_in_flight: int | None = None,
                 retry_after=lambda: 1, max_bytes_in_flight: int | None = None):
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s
        self.max_in_flight, self.retry_after, self.in_flight = max_in_flight, retry_after, 0
        self.max_bytes_in_flight = max_bytes_in_flight if max_bytes_in_flight is not None else 8 * max_bytes
        self.bytes_in_flight = 0

    def _message(self) -> str:
        return f"request body exceeds the server limit max_body_bytes = {self.max_bytes} bytes"

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            response = JSONResponse(json.loads(_problem(["body"], self._message(), "body_too_large")), 413)
            return await response(scope, receive, send)
        if scope.get("method") == "POST" and self.max_in_flight is not None:
            # A body of unknown length (chunked) is charged the most it may be.
            charge = int(length) if length.isdigit() else self.max_bytes
            if self.in_flight >= self.max_in_flight or \
                    (self.in_flight and self.bytes_in_flight + charge > self.max_bytes_in_flight):
                return await self._refuse(receive, send)
            self.in_flight += 1
            self.bytes_in_flight += charge
            try:
                return await self._limited(scope, receive, send)
            finally:
                self.in_flight -= 1
                self.bytes_in_flight -= charge
        return await self._limited(scope, receive, send)

    async def _refuse(self, receive, send) -> None:
        """503 + Retry-After *before* the body is read. The connection stays open (no ``Connection: close``,
        which would make the kernel reset a connection with unread bytes, and the client would see a
        reset instead of the 503): uvicorn's h11 protocol drops each body byte that arrives after the
        response is complete (``h11_impl.py``, ``if self.conn.our_state is h11.DONE: continue``) without
        buffering it. The bytes that arrived with the headers are taken once (one non-blocking receive)
        so that the connection does not keep them until its next request."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(receive(), 0.001)
        seconds = self.retry_after()
        response = Response(_problem([], f"server busy: {self.in_flight} requests in progress (server limit "
                                         f"max_queued_per_worker per worker, plus the workers; bodies of "
                                         f"max_body_bytes_in_flight = {self.max_bytes_in_flight} bytes at most); "
                                         f"retry after {seconds} s", "overloaded"), status_code=503,
                            media_type="application/json", headers={"Retry-After": str(seconds)})
        await response({"type": "http"}, receive, send)

    async def _limited(self, scope, receive, send):
        received = 0
        deadline = None
        finished = False

        async def limited():
            nonlocal received, deadline, finished
            if finished:  # after the body: waiting for a disconnect, no deadline
                return await receive()
            if deadline is None:
                deadline = time.monotonic() + self.timeout_s
            try:
                message = await asyncio.wait_for(receive(), max(deadline - time.monotonic(), 0.001))
            except asyncio.TimeoutError:
                raise HTTPException(408, detail=[{"loc": ["body"], "type": "body_timeout", "msg":
                                                  f"request body not received within the server limit "
                                                  f"body_timeout_s = {self.timeout_s:g} s"}],
                                    headers={"Connection": "close"}) from None
            received += len(message.get("body", b""))
            if received > self.max_bytes:  # chunked body without a Content-Length
                raise HTTPException(413, detail=[{"loc": ["body"], "msg": self._message(),
                                                  "type": "body_too_large"}])
            if message.get("type") != "http.request" or not message.get("more_body", False):
                finished = True
            return message

        await self.app(scope, limited, send)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("compute-optimal-planner")
    except Exception:  # not installed (running from a source tree)
        return "0.0.0"


ERRORS = {408: {"model": Problem, "description": "body not received within body_timeout_s"},
          413: {"model": Problem, "description": "body over max_body_bytes"},
          503: {"model": Problem, "description": "over the per-request time limit (request_timeout_s, the work is "
                                                  "cancelled), the queue is full (max_queued_per_worker) or the "
                                                  "worker died; always with a Retry-After header",
                "headers": {"Retry-After": {"description": "seconds: requests ahead × typical service time / "
                                                           "workers", "schema": {"type": "integer"}}}}}


def _jsonable(value):
    """Plain JSON data with NaN/Infinity (Python's json reads them) as strings: never a 500 on echoing."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def create_app(catalog_files=None, *, workers: int | None = None, pool: PoolKind = "thread",
               limits: Limits = LIMITS, spares: int = 0) -> FastAPI:
    """The API over the built-in catalog plus ``catalog_files`` (loaded now: a bad file fails here);
    ``spares`` warm worker processes stand by to replace a dead or killed one (process pool only)."""
    files = tuple(str(f) for f in catalog_files or ())
    catalog = load_catalog(files)
    core = CorePool(files, workers or os.cpu_count() or 1, pool, limits, spares)

    @asynccontextmanager
    async def lifespan(_app):
        await core.start()
        yield
        await core.close()

    app = FastAPI(title="Compute-optimal training planner", version=_version(), lifespan=lifespan,
                  description="JSON API over the planner core; limits in docs/http.md.")
    # Requests the pool can hold (queued + running) plus one being parsed per worker: more are refused
    # before their body is read (BodyLimit), which bounds the memory bodies take in this process.
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes, timeout_s=limits.body_timeout_s,
                       max_in_flight=core.pool.max_queue + 2 * core.pool.workers, retry_after=core.pool.retry_after,
                       max_bytes_in_flight=limits.max_body_bytes_in_flight)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request, error: RequestValidationError):
        """422 with the field paths. FastAPI's own handler echoes the input, which fails (a 500) when the
        body held NaN or Infinity: the problem keeps loc, msg and type, and values are made JSON-safe."""
        items = []
        for item in error.errors():
            msg = str(item.get("msg", "invalid"))
            if "input" in item and not isinstance(item["input"], (dict, list)):
                got = _jsonable(item["input"])
                msg += f" (got {json.dumps(got)[:80]})"
            items.append(ProblemItem(loc=[p if isinstance(p, int) else str(p) for p in item.get("loc", ())],
                                     msg=msg, type=str(item.get("type", "value_error"))))
        return Response(Problem(detail=items).model_dump_json(), status_code=422, media_type="application/json")

    @app.exception_handler(StarletteHTTPException)
    async def unreadable_body(request, error: StarletteHTTPException):
        """FastAPI answers 400 to a body it cannot decode (e.g. not UTF-8); it is malformed input: 422."""
        if error.status_code == 400:
            return Response(_problem(["body"], f"body is not valid JSON: {error.detail}", "json_invalid"),
                            status_code=422, media_type="application/json")
        return await http_exception_handler(request, error)
    app.state.core, app.state.catalog = core, catalog
    gpus = [gpu.catalog_json() for gpu in catalog]

    def health() -> Health:
        state = core.pool.state()
        return Health(version=_version(), gpus=len(catalog), **{k: state[k] for k in (
            "status", "workers", "ready", "busy", "spares", "spares_ready", "queued", "max_queue", "restarts")})

    HEALTH_ERRORS = {503: {"model": Health, "description": "no worker can serve (all dead or restarting)"}}

    @app.get("/healthz", response_model=Health, responses=HEALTH_ERRORS, tags=["meta"])
    async def healthz() -> Response:
        """The pool's real state (ok: every worker ready; degraded: some; unavailable: none, HTTP 503),
        version and the size of the loaded catalog."""
        body = health()
        code = 503 if body.status == "unavailable" else 200
        headers = {"Retry-After": str(core.pool.retry_after())} if code == 503 else None
        return Response(body.model_dump_json(), status_code=code, media_type="application/json", headers=headers)

    @app.get("/readyz", response_model=Health, responses=HEALTH_ERRORS, tags=["meta"])
    async def readyz() -> Response:
        """200 when a request sent now would be served without waiting for a worker to start or the
        queue to drain (a worker ready and the queue not full); else 503 with Retry-After."""
        body = health()
        ok = body.ready > 0 and body.queued < body.max_queue
        headers = None if ok else {"Retry-After": str(core.pool.retry_after())}
        return Response(body.model_dump_json(), status_code=200 if ok else 503, media_type="application/json",
                        headers=headers)

    @app.get("/v1/catalog/gpus", response_model=list[GPUSpec], tags=["catalog"])
    async def catalog_gpus() -> JSONResponse:
        """The GPU catalog the server loaded (built-in plus --catalog)."""
        return JSONResponse(gpus)

    @app.get("/v1/laws", response_model=list[LawPreset], tags=["catalog"])
    async def laws() -> list[LawPreset]:
        """Scaling-law presets a request may name in ``law``."""
        return [LawPreset(name=name, default=name == DEFAULT_LAW_NAME, form=law.form,
                          constants=law.constants(), source=law.source) for name, law in PRESETS.items()]

    @app.post("/v1/plans/best", response_model=Union[Plan, Infeasibility], responses=ERRORS, tags=["plans"])
    async def plans_best(request: SolveRequest) -> Response:
        """The best plan for a request (default objective: lowest predicted loss), or why none exists."""
        return await core.run("solve", request)

    @app.post("/v1/plans/cost", response_model=Union[Plan, Infeasibility], responses=ERRORS, tags=["plans"])
    async def plans_cost(request: CostRequest) -> Response:
        """The cheapest (min_cost) or fastest (min_time) plan to train a given model on given tokens."""
        return await core.run("solve", request)

    @app.post("/v1/plans/estimate", response_model=Estimate, responses=ERRORS, tags=["plans"])
    async def plans_estimate(request: EstimateRequest) -> Response:
        """The cost of a fully (or partly) specified run; unset strategy fields are searched."""
        return await core.run("estimate", request)

    @app.post("/v1/plans/validate", response_model=ValidationReport, responses=ERRORS, tags=["plans"])
    async def plans_validate(plan: PlanFile) -> Response:
        """The checks of a plan: does it fit, how long, how much, what else the money buys."""
        return await core.run("validate", plan)

    @app.post("/v1/frontier", response_model=Union[FrontierAnswer, Infeasibility], responses=ERRORS, tags=["plans"])
    async def frontier(request: FrontierRequest) -> Response:
        """Pareto frontier of cost × wall-clock × predicted loss within the request's budget/deadline."""
        return await core.run("frontier", request)

    @app.post("/v1/finetune", response_model=FinetuneResponse, responses=ERRORS, tags=["plans"])
    async def finetune(request: FinetuneRequest) -> Response:
        """Fine-tuning (full, LoRA, QLoRA): check a fixed method and hardware, or find the cheapest/fastest way."""
        return await core.run("finetune", request)

    return app


def openapi_text(app: FastAPI | None = None) -> str:
    """The OpenAPI document as checked in at planner/interfaces/http/openapi.json."""
    return json.dumps((app or create_app()).openapi(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    if argv[:1] == ["--write-openapi"]:
        target = Path(argv[1]) if len(argv) > 1 else OPENAPI_FILE
        target.write_text(openapi_text(), encoding="utf-8")
        print(f"wrote {target}")
        return 0
    print("usage: python -m planner.interfaces.http.server --write-openapi [PATH]   (to serve: planner serve)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
