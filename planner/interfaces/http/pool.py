"""A worker pool that heals and sheds load (#18): the HTTP service's only place that runs the core.

* **Process workers** (default): one ``spawn`` process per slot, talking over a pipe. A worker that dies
  (killed, out of memory, a crash in native code) is noticed within ``POLL_S`` even when idle, its
  request (if any) is answered 503, and a new worker is started in its place. A request still running
  at its deadline is cancelled for real: its worker is killed (SIGKILL) and replaced.
* **Thread workers** (``--pool thread``, lighter, for tests and small machines): Python cannot stop a
  thread, so a request past its deadline is answered 503 while the slot waits for the work to end
  before taking another (the pool never grows beyond ``workers`` threads).
* **Spare workers** (process pool, ``spares``, default 1 in ``planner serve``): processes started and
  warmed (core imported, catalog loaded) ahead of need. A slot whose worker died or was killed at its
  deadline takes a ready spare at once, and a new spare is started in the background: service resumes
  in milliseconds instead of the seconds a fresh worker takes to import the core (issue #18: after 100
  slowest-allowed frontier requests, a cheap request waited 1.5-4.7 s for the replacement to import).
* **Bounded queue**: at most ``max_queue`` requests wait for a slot; one more is refused at once with
  503 and a ``Retry-After`` of (requests ahead of it) × (typical service time) / (slots).
* **State**: ``ready`` slots, ``busy`` slots, ready ``spares`` and the queue length, for ``/healthz`` and
  ``/readyz``; ``ok`` only at full strength (every slot and every spare ready).

No planning logic: a task is ``task(name, request) -> (status, body bytes)`` run in the worker.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any, Callable

POLL_S = 0.25              # how often an idle slot checks that its worker process is alive
STARTUP_TIMEOUT_S = 120.0  # a worker that has not imported the core by then is replaced
RESTART_BACKOFF_S = (0.1, 0.5, 1.0, 2.0, 5.0)
logger = logging.getLogger("planner.http.pool")


class Overloaded(Exception):
    """The queue is full: answer 503 with ``retry_after`` seconds."""

    def __init__(self, retry_after: int):
        super().__init__(f"queue full; retry after {retry_after} s")
        self.retry_after = retry_after


class TimedOut(Exception):
    """The request passed its deadline (queued or running); a running one was cancelled."""


class WorkerLost(Exception):
    """The worker running the request died; it is being replaced."""


# ----------------------------------------------------------------------------------------------
# Worker side (runs in the child process).

def _worker_main(conn, initializer: Callable, initargs: tuple, task: Callable) -> None:
    """Child process: initialise, say ready, then answer (name, request) messages until EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which stops its workers
    initializer(*initargs)
    try:
        conn.send(("ready", os.getpid()))
    except OSError:  # the pool closed while this worker started (e.g. a spare at shutdown)
        return
    while True:
        try:
            name, request = conn.recv()
        except (EOFError, OSError):
            return
        try:
            answer = task(name, request)
        except BaseException as error:  # noqa: BLE001 - a bug must answer, not kill the worker silently
            answer = (500, f'{{"detail": [{{"loc": [], "msg": "internal error: {type(error).__name__}", '
                           f'"type": "internal_error"}}]}}'.encode())
        conn.send(answer)


# ----------------------------------------------------------------------------------------------
# Event-loop side.

class ProcessWorker:
    """One child process and its pipe. Blocking pipe calls run in ``threads``."""

    kind = "process"

    def __init__(self, initializer, initargs, task, threads: ThreadPoolExecutor):
        self.initializer, self.initargs, self.task, self.threads = initializer, initargs, task, threads
        self.process = None
        self.conn = None
        self.pid: int | None = None

    async def start(self) -> None:
        ctx = get_context("spawn")
        parent, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, self.initializer, self.initargs, self.task),
                                   daemon=True, name="planner-core")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.threads, self.process.start)
        child.close()
        self.conn = parent
        message = await loop.run_in_executor(self.threads, self._receive, STARTUP_TIMEOUT_S)
        if not (isinstance(message, tuple) and message[:1] == ("ready",)):
            raise WorkerLost(f"worker did not start: {message!r}")
        self.pid = message[1]

    def _receive(self, timeout: float):
        if not self.conn.poll(max(timeout, 0.0)):
            raise TimeoutError
        return self.conn.recv()  # EOFError if the process died

    def alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    async def call(self, name: str, request, timeout: float) -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self.threads, self.conn.send, (name, request))
            return await loop.run_in_executor(self.threads, self._receive, timeout)
        except TimeoutError:
            raise TimedOut from None
        except (EOFError, OSError, ValueError):  # ValueError: pipe closed under us
            raise WorkerLost from None

    async def stop(self, kill: bool = False) -> None:
        """End the process (SIGKILL when ``kill`` or when it does not exit on EOF) and reap it."""
        process, conn = self.process, self.conn
        self.process = self.conn = None
        if conn is not None:
            conn.close()  # an idle worker exits on EOF
        if process is None or process.pid is None:  # never started (spawn failed): nothing to reap
            return
        if kill and process.is_alive():
            process.kill()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.threads, process.join, 5.0)
        if process.is_alive():
            process.kill()
            await loop.run_in_executor(self.threads, process.join, 5.0)


class ThreadWorker:
    """The core in a thread of this process: cannot be killed, so a late task is waited for."""

    kind = "thread"

    def __init__(self, initializer, initargs, task, threads: ThreadPoolExecutor):
        self.task, self.threads = task, threads
        self.pending: asyncio.Future | None = None
        self.pid = os.getpid()

    async def start(self) -> None:
        if self.pending is not None:  # the task that timed out still runs: its thread is this slot's
            await asyncio.wait([self.pending])
            self.pending = None

    def alive(self) -> bool:
        return True

    async def call(self, name: str, request, timeout: float) -> tuple[int, bytes]:
        future = asyncio.get_running_loop().run_in_executor(self.threads, self.task, name, request)
        done, _ = await asyncio.wait([future], timeout=max(timeout, 0.0))
        if not done:
            self.pending = future
            raise TimedOut
        return future.result()

    async def stop(self, kill: bool = False) -> None:
        return None


@dataclass
class Job:
    name: str
    request: Any
    deadline: float
    future: asyncio.Future
    started: bool = False


@dataclass
class Slot:
    index: int
    worker: Any = None
    ready: bool = False
    busy: bool = False
    restarts: int = 0
    task: asyncio.Task | None = field(default=None, repr=False)


class HealingPool:
    """``workers`` slots fed from one bounded queue; see the module docstring."""

    def __init__(self, *, workers: int, kind: str, timeout_s: float, max_queue: int,
                 initializer: Callable, initargs: tuple, task: Callable, spares: int = 0):
        if kind not in ("process", "thread"):
            raise ValueError(f"kind: process or thread, got {kind!r}")
        self.workers, self.kind, self.timeout_s, self.max_queue = workers, kind, timeout_s, max_queue
        self.spares = spares if kind == "process" else 0   # a thread cannot be pre-started usefully
        self.spare_workers: list = []                      # started, ready, idle
        self.spare_tasks: set[asyncio.Task] = set()        # spares being started
        self.initializer, self.initargs, self.task = initializer, initargs, task
        self.slots = [Slot(i) for i in range(workers)]
        self.queue: asyncio.Queue | None = None
        self.threads: ThreadPoolExecutor | None = None
        self.typical_s = 1.0   # moving average of service time, for Retry-After
        self.started = False
        self.closing = False

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Start every worker (imports take ~1 s) and wait until all are ready. A closed pool starts
        afresh (an app whose lifespan is run again, as test clients do, must serve again)."""
        if self.started:
            return
        self.started, self.closing = True, False
        self.slots = [Slot(i) for i in range(self.workers)]
        if self.kind == "thread":
            self.initializer(*self.initargs)
        # pipe I/O of each process slot, or the core itself for thread slots, plus start/stop calls
        self.threads = ThreadPoolExecutor(2 * (self.workers + self.spares) + 2, thread_name_prefix="planner-pool")
        self.queue = asyncio.Queue()
        self.spare_workers, self.spare_tasks = [], set()
        await asyncio.gather(*(self._start_worker(slot) for slot in self.slots), return_exceptions=True)
        # Spares after the slots (slots serve sooner; a spare is then the youngest worker process).
        await asyncio.gather(*(self._start_spare() for _ in range(self.spares)), return_exceptions=True)
        for slot in self.slots:
            slot.task = asyncio.create_task(self._serve(slot), name=f"planner-slot-{slot.index}")

    async def close(self) -> None:
        self.closing = True
        for slot in self.slots:
            if slot.task is not None:
                slot.task.cancel()
        for slot in self.slots:
            if slot.task is not None:
                try:
                    await slot.task
                except (asyncio.CancelledError, Exception):  # noqa: BLE001
                    pass
            if slot.worker is not None:
                await slot.worker.stop(kill=True)
                slot.worker, slot.ready = None, False
        for task in list(self.spare_tasks):
            task.cancel()
        await asyncio.gather(*self.spare_tasks, return_exceptions=True)
        while self.spare_workers:
            await self.spare_workers.pop().stop(kill=True)
        if self.queue is not None:
            while not self.queue.empty():
                job = self.queue.get_nowait()
                if not job.future.done():
                    job.future.set_exception(WorkerLost())
        if self.threads is not None:
            self.threads.shutdown(wait=False, cancel_futures=True)
        self.started = False

    def _new_worker(self):
        cls = ProcessWorker if self.kind == "process" else ThreadWorker
        return cls(self.initializer, self.initargs, self.task, self.threads)

    async def _start_worker(self, slot: Slot) -> None:
        slot.ready = False
        if slot.worker is not None and slot.worker.kind == "thread":
            await slot.worker.start()  # waits for a timed-out task still running in the thread
            slot.ready = True
            return
        while self.spare_workers:  # a warm spare: serving again at once; start another in its place
            worker = self.spare_workers.pop(0)
            self._refill_spares()
            if worker.alive():
                slot.worker, slot.ready = worker, True
                return
            await worker.stop(kill=True)
        worker = await self._started_process()
        if worker is not None:
            slot.worker, slot.ready = worker, True

    async def _started_process(self):
        """A new worker, ready (retrying with back-off), or None when the pool closes meanwhile."""
        attempt = 0
        while not self.closing:
            worker = self._new_worker()
            try:
                await worker.start()
            except asyncio.CancelledError:  # the pool closes: do not leave a half-started process behind
                process = getattr(worker, "process", None)
                if process is not None and process.is_alive():
                    process.kill()
                raise
            except Exception:  # noqa: BLE001 - failed to start: back off and try again
                try:
                    await worker.stop(kill=True)
                except Exception:  # noqa: BLE001 - a half-started worker must not end the retry loop
                    logger.exception("planner worker slot %d: could not stop a worker that failed to start", slot.index)
                await asyncio.sleep(RESTART_BACKOFF_S[min(attempt, len(RESTART_BACKOFF_S) - 1)])
                attempt += 1
                continue
            if self.closing:
                await worker.stop(kill=True)
                return None
            return worker
        return None

    async def _start_spare(self) -> None:
        worker = await self._started_process()
        if worker is not None:
            self.spare_workers.append(worker)

    def _refill_spares(self) -> None:
        """Drop dead spares and start new ones until ``spares`` are ready or starting."""
        for worker in [w for w in self.spare_workers if not w.alive()]:
            self.spare_workers.remove(worker)
            task = asyncio.create_task(worker.stop(kill=True))  # reap it
            self.spare_tasks.add(task)
            task.add_done_callback(self.spare_tasks.discard)
        starting = sum(1 for t in self.spare_tasks if t.get_name() == "planner-spare")
        for _ in range(self.spares - len(self.spare_workers) - starting):
            if self.closing:
                return
            task = asyncio.create_task(self._start_spare(), name="planner-spare")
            self.spare_tasks.add(task)
            task.add_done_callback(self.spare_tasks.discard)

    async def _replace(self, slot: Slot) -> None:
        slot.ready = False
        if slot.worker is not None and slot.worker.kind == "process":
            await slot.worker.stop(kill=True)
            slot.worker = None
        slot.restarts += 1
        await self._start_worker(slot)

    # -- serving -----------------------------------------------------------------------------
    async def _serve(self, slot: Slot) -> None:
        """The slot's loop; it must never end while the pool is open (a dead loop is a dead slot)."""
        while not self.closing:
            try:
                await self._serve_one(slot)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - e.g. a request that cannot be pickled: answer it, heal, go on
                logger.exception("planner worker slot %d: unexpected error; replacing the worker", slot.index)
                slot.busy = False
                try:
                    await self._replace(slot)
                except Exception:  # noqa: BLE001
                    await asyncio.sleep(1.0)

    async def _serve_one(self, slot: Slot) -> None:
        """Heal the slot's worker, or take one job (within POLL_S) and answer it."""
        if not slot.ready or slot.worker is None or not slot.worker.alive():
            await self._replace(slot)
            return None
        try:
            job = await asyncio.wait_for(self.queue.get(), POLL_S)
        except asyncio.TimeoutError:
            self._refill_spares()  # idle: a spare that died is replaced too
            return None  # idle: loop to check the worker is alive
        try:
            await self._run_job(slot, job)
        except Exception:
            if not job.future.done():
                job.future.set_exception(WorkerLost())
            raise
        return None

    async def _run_job(self, slot: Slot, job: Job) -> None:
        if job.future.done():  # answered 503 (deadline) while it waited
            return
        remaining = job.deadline - time.monotonic()
        if remaining <= 0:
            job.future.set_exception(TimedOut())
            return
        job.started, slot.busy = True, True
        began = time.monotonic()
        try:
            answer = await slot.worker.call(job.name, job.request, remaining)
        except TimedOut:
            self.typical_s = 0.8 * self.typical_s + 0.2 * (time.monotonic() - began)
            if not job.future.done():
                job.future.set_exception(TimedOut())
            slot.busy = False
            await self._replace(slot)  # process: kill the worker; thread: wait for the work to end
            return
        except WorkerLost:
            if not job.future.done():
                job.future.set_exception(WorkerLost())
            slot.busy = False
            await self._replace(slot)
            return
        finally:
            slot.busy = False
        elapsed = time.monotonic() - began
        self.typical_s = 0.8 * self.typical_s + 0.2 * elapsed
        if not job.future.done():
            job.future.set_result(answer)

    def retry_after(self, ahead: int | None = None) -> int:
        """Seconds until a request sent now would likely get a slot: work ahead × typical time / slots."""
        if ahead is None:
            ahead = self.queued() + self.busy()
        ready = max(self.ready(), 1)
        return max(1, math.ceil((ahead + 1) * self.typical_s / ready))

    async def run(self, name: str, request) -> tuple[int, bytes]:
        """The task's (status, body); raises Overloaded, TimedOut or WorkerLost."""
        if not self.started:  # used without the lifespan (e.g. a bare TestClient)
            await self.start()
        if self.queued() >= self.max_queue:
            raise Overloaded(self.retry_after())
        job = Job(name, request, time.monotonic() + self.timeout_s, asyncio.get_running_loop().create_future())
        self.queue.put_nowait(job)
        try:
            return await asyncio.wait_for(asyncio.shield(job.future), self.timeout_s)
        except asyncio.TimeoutError:
            # Queued: the slot skips it. Running: the slot's own deadline (the same) kills the worker.
            if not job.future.done():
                job.future.cancel()
            raise TimedOut from None
        except asyncio.CancelledError:  # the client went away: drop the job if it has not started
            if not job.future.done():
                job.future.cancel()
            raise

    # -- state -------------------------------------------------------------------------------
    def ready(self) -> int:
        return sum(1 for s in self.slots if s.ready and s.worker is not None and s.worker.alive()
                   and (s.task is None or not s.task.done()))

    def busy(self) -> int:
        return sum(1 for s in self.slots if s.busy)

    def queued(self) -> int:
        return 0 if self.queue is None else self.queue.qsize()

    def ready_spares(self) -> int:
        return sum(1 for w in self.spare_workers if w.alive())

    def state(self) -> dict:
        ready, spares = self.ready(), self.ready_spares()
        full = ready == self.workers and spares == self.spares
        status = "ok" if full else "degraded" if ready else "unavailable"
        return {"status": status, "workers": self.workers, "ready": ready, "busy": self.busy(),
                "spares": self.spares, "spares_ready": spares,
                "queued": self.queued(), "max_queue": self.max_queue, "pool": self.kind,
                "restarts": sum(s.restarts for s in self.slots)}
