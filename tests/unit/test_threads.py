"""Routes and background work get separate thread pools (shared/threads.py): a consumer's batch
never waits for a thread that HTTP requests hold, and routes run at most `http_threads` at once."""

from __future__ import annotations

import threading
import time

import anyio
import anyio.to_thread

from shared.threads import BACKGROUND_THREADS, background_limiter, limit_request_threads, run_in_background


def test_background_work_runs_while_every_request_thread_is_busy() -> None:
    release = threading.Event()

    async def main() -> tuple[float, int]:
        limit_request_threads(2)
        try:
            async with anyio.create_task_group() as group:
                for _ in range(2):  # two routes hold the request threads
                    group.start_soon(anyio.to_thread.run_sync, release.wait)
                await anyio.sleep(0.05)
                started = time.monotonic()
                answer = await run_in_background(lambda: 42)
                waited = time.monotonic() - started
                release.set()
            return waited, answer
        finally:
            limit_request_threads(40)

    waited, answer = anyio.run(main)
    assert answer == 42 and waited < 5  # not blocked until the routes finish (they never would)


def test_routes_run_at_most_http_threads_at_once() -> None:
    running, most = 0, 0
    lock = threading.Lock()

    def route() -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.02)
        with lock:
            running -= 1

    async def main() -> None:
        limit_request_threads(3)
        try:
            async with anyio.create_task_group() as group:
                for _ in range(12):
                    group.start_soon(anyio.to_thread.run_sync, route)
        finally:
            limit_request_threads(40)

    anyio.run(main)
    assert most == 3


def test_each_event_loop_has_its_own_background_pool() -> None:
    async def main() -> int:
        assert background_limiter() is background_limiter()
        assert background_limiter().total_tokens == BACKGROUND_THREADS
        return await run_in_background(lambda: 7)

    # A limiter is bound to its loop: a second loop (tests run many) gets a fresh one and works.
    assert anyio.run(main) == anyio.run(main) == 7
