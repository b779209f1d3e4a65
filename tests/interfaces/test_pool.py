"""The HTTP worker pool in-process (planner/interfaces/http/pool.py): thread slots, no server needed."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from planner.interfaces.http.pool import HealingPool, Overloaded, TimedOut, WorkerLost


def _pool(task, workers=1, timeout_s=5.0, max_queue=2):
    return HealingPool(workers=workers, kind="thread", timeout_s=timeout_s, max_queue=max_queue,
                       initializer=lambda: None, initargs=(), task=task)


def test_a_task_that_raises_is_answered_and_the_slot_lives_on():
    calls = []

    def task(name, request):
        calls.append(name)
        if name == "bad":
            raise TypeError("cannot pickle this")
        return 200, b"{}"

    async def scenario():
        pool = _pool(task)
        await pool.start()
        try:
            with pytest.raises(WorkerLost):
                await pool.run("bad", None)
            assert await pool.run("good", None) == (200, b"{}")
            assert pool.state()["status"] == "ok"
        finally:
            await pool.close()

    asyncio.run(scenario())
    assert calls == ["bad", "good"]


def test_queue_full_is_overloaded_with_a_retry_after_from_the_work_ahead():
    release = threading.Event()

    def task(name, request):
        release.wait(5)
        return 200, b"{}"

    async def scenario():
        pool = _pool(task, max_queue=2)
        pool.typical_s = 3.0
        await pool.start()
        try:
            running = [asyncio.create_task(pool.run("slow", None))]  # runs
            await asyncio.sleep(0.2)
            running += [asyncio.create_task(pool.run("slow", None)) for _ in range(2)]  # wait in the queue
            await asyncio.sleep(0.2)
            assert pool.state()["busy"] == 1 and pool.state()["queued"] == 2
            with pytest.raises(Overloaded) as error:
                await pool.run("one too many", None)
            # 2 queued + 1 busy ahead, plus this one: 4 × 3 s / 1 worker
            assert error.value.retry_after == 12
            release.set()
            assert [await t for t in running] == [(200, b"{}")] * 3
        finally:
            release.set()
            await pool.close()

    asyncio.run(scenario())


def test_past_the_deadline_is_timed_out_and_the_queue_behind_it_still_served():
    def task(name, request):
        time.sleep(0.6 if name == "slow" else 0.0)
        return 200, name.encode()

    async def scenario():
        pool = _pool(task, timeout_s=0.3, max_queue=4)
        await pool.start()
        try:
            with pytest.raises(TimedOut):
                await pool.run("slow", None)
            await asyncio.sleep(0.5)  # the thread finishes; the slot takes work again
            assert await pool.run("fast", None) == (200, b"fast")
        finally:
            await pool.close()

    asyncio.run(scenario())


def test_a_closed_pool_started_again_serves_again():
    """An app's lifespan may run more than once (test clients end it after each test): the pool that was
    closed must start fresh, not stay dead with /healthz saying "unavailable" for ever (issue #18)."""
    async def scenario():
        pool = _pool(lambda name, request: (200, name.encode()), workers=2)
        for round_ in ("first", "second"):
            await pool.start()
            try:
                assert pool.state()["status"] == "ok" and pool.state()["ready"] == 2
                assert await pool.run(round_, None) == (200, round_.encode())
            finally:
                await pool.close()
            assert pool.state()["ready"] == 0

    asyncio.run(scenario())


def test_requests_over_the_in_flight_limit_are_refused_before_their_body_is_kept():
    """BodyLimit admission (issue #18): with max_in_flight POSTs in progress, one more is answered 503 with
    the pool's Retry-After before its body is read (the bytes already received are dropped), never handed
    to the app."""
    pytest.importorskip("fastapi")
    from planner.interfaces.http.server import BodyLimit

    release, reached = asyncio.Event(), []

    async def app(scope, receive, send):
        message = await receive()
        reached.append(len(message["body"]))
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def call(limit, body_chunks):
        chunks = list(body_chunks)
        sent = []

        async def receive():
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "headers": [(b"content-length", b"6")]}
        await limit(scope, receive, send)
        return sent, chunks

    async def scenario():
        limit = BodyLimit(app, max_bytes=1 << 20, max_in_flight=1, retry_after=lambda: 7)
        first = asyncio.create_task(call(limit, [b"abc"]))
        await asyncio.sleep(0.01)
        sent, left = await call(limit, [b"ab", b"cd", b"ef"])
        start = sent[0]
        assert start["status"] == 503 and (b"retry-after", b"7") in start["headers"]
        # Answered before its body was read: only what had arrived (one receive) was taken; uvicorn drops
        # the rest as it arrives after the response, and the connection stays open (no reset).
        assert b"overloaded" in sent[1]["body"] and left == [b"cd", b"ef"]
        assert reached == [3]                                         # only the admitted request reached the app
        release.set()
        sent, _ = await first
        assert sent[0]["status"] == 200
        assert limit.in_flight == 0

    asyncio.run(scenario())


def test_bodies_in_flight_are_bounded_in_bytes():
    """BodyLimit admission by declared body bytes: past max_bytes_in_flight a POST is refused (503 +
    Retry-After) even with request slots free; one request alone is always admitted."""
    pytest.importorskip("fastapi")
    from planner.interfaces.http.server import BodyLimit

    release, reached = asyncio.Event(), []

    async def app(scope, receive, send):
        message = await receive()
        reached.append(len(message["body"]))
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def call(limit, length: int):
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"x" * length, "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "headers": [(b"content-length", str(length).encode())]}
        await limit(scope, receive, send)
        return sent[0]["status"]

    async def scenario():
        limit = BodyLimit(app, max_bytes=1000, max_in_flight=10, max_bytes_in_flight=1500, retry_after=lambda: 3)
        first = asyncio.create_task(call(limit, 1000))   # alone: admitted although 1000 + 1000 > 1500
        await asyncio.sleep(0.01)
        second = asyncio.create_task(call(limit, 400))   # 1400 <= 1500: admitted
        await asyncio.sleep(0.01)
        assert limit.bytes_in_flight == 1400
        assert await call(limit, 200) == 503             # 1600 > 1500 although 2 < 10 requests in flight
        assert reached == [1000, 400]
        release.set()
        assert await first == 200 and await second == 200
        assert limit.in_flight == 0 and limit.bytes_in_flight == 0
        assert await call(limit, 1000) == 200

    asyncio.run(scenario())
