"""Progress on the terminal while a run goes: tqdm when stderr is a terminal, else a line now and then."""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tools.simulate.engine import Simulation


class Progress:
    """tqdm on a terminal; otherwise a line every 12 simulated hours."""

    def __init__(self, sim: Simulation, enabled: bool | None) -> None:
        self.total_h = sim.scenario.event_hours + 48
        self.last_h = 0.0
        self.bar = None
        tty = sys.stderr.isatty() if enabled is None else enabled
        if tty:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=round(self.total_h), unit="h", desc="simulated", file=sys.stderr,
                                bar_format="{desc} {n_fmt}/{total_fmt} h |{bar}| {elapsed} {postfix}")
            except ImportError:
                self.bar = None
        self.tty = tty
        self.printed_at = -12.0

    def update(self, sim: Simulation) -> None:
        h = sim.hours(sim.now)
        info = (f"orders {sim.counts['published']}/{len(sim.orders)} shipped {sim.counts['shipped']} "
                f"cases {sim.counts['cases_opened_by_customers']}")
        if self.bar is not None:
            if h > self.bar.total:
                self.bar.total = math.ceil(h)
            self.bar.update(max(0, round(h) - self.bar.n))
            self.bar.set_postfix_str(info, refresh=False)
        elif self.tty or h - self.printed_at >= 12:
            width = 30
            done = min(1.0, h / self.total_h)
            print(f"[{'#' * int(done * width):<{width}}] {h:6.1f} h  {info}", file=sys.stderr, flush=True)
            self.printed_at = h

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)

