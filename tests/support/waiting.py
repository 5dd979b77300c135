"""Waiting for what services do asynchronously, bounded in time: the condition is polled until it
gives something truthy (returned), else the test fails saying what it waited for and last saw."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from tests.support.world import World

T = TypeVar("T")


def eventually(condition: Callable[[], T], timeout_s: float = 30.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what} not met within {timeout_s}s (last: {last!r})")


def handled(http: httpx.Client, world: World, topic: str) -> float:
    """Messages from `topic` the service has finished processing (its peak_handler_seconds count)."""
    wanted = f'peak_handler_seconds_count{{topic="{world.topic(topic)}"}}'
    for line in http.get("/metrics").text.splitlines():
        if line.startswith(wanted):
            return float(line.split()[-1])
    return 0.0
