"""The service's two thread pools: one for HTTP routes, one for its own background work.

Every blocking call (a route's transaction, a consumer's batch, the relay's claim) runs in a
worker thread. Threads that each hold the GIL for a few milliseconds between database calls
convoy: with forty of them runnable, a request waits behind every other thread at each of its
dozens of database calls, and a burst of Kafka work made `POST /orders` answer in tens of
seconds (docs/benchmarks-history.md, eighteenth session). So routes get a few threads
(`http_threads`; more requests wait on the event loop, which costs nothing) and the consumers,
the relay and periodic jobs get their own small pool, so neither side can take the other's
threads."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")

BACKGROUND_THREADS = 8
"""Background work in flight at once: a consumer per subscribed topic group, the relay, the
periodic jobs; each awaits its previous call, so this bounds a handful of callers."""

_background: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = weakref.WeakKeyDictionary()


def background_limiter() -> anyio.CapacityLimiter:
    """The running loop's limiter for background work (one per loop: tests run several loops)."""
    loop = asyncio.get_running_loop()
    limiter = _background.get(loop)
    if limiter is None:
        limiter = _background[loop] = anyio.CapacityLimiter(BACKGROUND_THREADS)
    return limiter


async def run_in_background(func: Callable[..., T], *args: Any) -> T:
    """`func(*args)` in a background worker thread, never waiting for a thread an HTTP route holds."""
    return await anyio.to_thread.run_sync(func, *args, limiter=background_limiter())


def limit_request_threads(threads: int) -> None:
    """At most `threads` routes run at once (FastAPI runs sync routes on anyio's default limiter)."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = threads
