"""Work a service does on its own every so often (e.g. the orders service closing deposit
presales whose balance window ended), beside its consumers and routes.

`ServiceRuntime.every(interval_s, name, job)` registers one; the runtime starts it with the
service and stops it before the database goes away. The job is a plain function run in a worker
thread (it opens its own units of work), once per interval, the first run one interval after
start-up; a failing run is logged and the next one comes all the same. The interval is wall
time; what the job decides by is the service clock it reads (settable in tests)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from shared.threads import run_in_background

log = logging.getLogger(__name__)


class BackgroundTask:
    """An asyncio task a service starts with itself and cancels when it stops; `_run` loops."""

    name = "background"
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        raise NotImplementedError


class PeriodicJob(BackgroundTask):
    def __init__(self, name: str, interval_s: float, job: Callable[[], Any]) -> None:
        if interval_s <= 0:
            raise ValueError(f"{name}: the interval must be positive, got {interval_s}")
        self.name = name
        self.interval_s = interval_s
        self._job = job
        self.runs = 0
        self.failures = 0

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                # Not cancellable midway: a run ends its transaction before the job stops.
                result = await run_in_background(self._job)
                self.runs += 1
                if result:
                    log.info("%s: %s", self.name, result)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failures += 1
                log.warning("%s failed; it runs again in %g s", self.name, self.interval_s, exc_info=True)
