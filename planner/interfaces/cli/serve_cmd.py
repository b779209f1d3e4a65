"""``planner serve``: run the HTTP JSON API (needs the optional extra: pip install ".[server]")."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from planner.interfaces.cli.application import app
from planner.interfaces.cli.common import CatalogOption, fail


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="interface to bind (default: loopback only)"),
    port: int = typer.Option(8000, min=0, max=65535, help="TCP port (0 = any free port)"),
    catalog: Optional[list[Path]] = CatalogOption,
    workers: Optional[int] = typer.Option(None, min=1, max=256,
                                          help="worker threads/processes for the CPU-bound core (default: CPUs)"),
    pool: str = typer.Option("process", help="process (uses every core) | thread (lighter, one core by the GIL)"),
    request_timeout: Optional[float] = typer.Option(None, min=0.001, max=3600,
                                                    help="per-request time limit in seconds (default 10); "
                                                         "work past it is cancelled"),
    body_timeout: Optional[float] = typer.Option(None, min=0.1, max=3600,
                                                 help="seconds a request body may take to arrive (default 10)"),
    max_queue: Optional[int] = typer.Option(None, min=1, max=10_000,
                                            help="requests queued per worker before 503 + Retry-After (default 8)"),
    spare_workers: int = typer.Option(1, min=0, max=64,
                                      help="warm worker processes kept ready to replace a dead or killed one "
                                           "at once (process pool; default 1)"),
    log_level: str = typer.Option("info", help="uvicorn log level"),
) -> None:
    """Serve the planner as a JSON API: /v1/plans/best, /cost, /validate, /estimate, /v1/catalog/gpus ..."""
    if pool not in ("process", "thread"):
        fail(f"pool: {pool!r} is not allowed; allowed: process, thread")
    try:
        import uvicorn

        from planner.interfaces.http.server import create_app
    except ModuleNotFoundError as error:
        fail(f"serve: {error.name} is not installed; install the server extra: pip install '.[server]'")
    from dataclasses import replace

    from planner.interfaces.http.limits import LIMITS

    limits = LIMITS if request_timeout is None else replace(LIMITS, request_timeout_s=request_timeout)
    if max_queue is not None:
        limits = replace(limits, max_queued_per_worker=max_queue)
    if body_timeout is not None:
        limits = replace(limits, body_timeout_s=body_timeout)
    application = create_app(catalog or [], workers=workers, pool=pool, limits=limits, spares=spare_workers)
    # A connection idle between requests is closed after 5 s; a stalled body is cut by body_timeout_s.
    uvicorn.run(application, host=host, port=port, log_level=log_level, timeout_keep_alive=5,
                timeout_graceful_shutdown=10)
