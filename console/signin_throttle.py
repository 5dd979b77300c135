"""The sign-in throttle (issue 33): failed sign-ins counted per account and per client address.

Each attempt costs 600,000 PBKDF2 iterations (a few hundred milliseconds of a core), so an
unthrottled form is both a password-guessing oracle and a cheap way to burn the console's CPU.
After `limit` failures within `window_s` for an account, or `address_limit` from one address,
further attempts answer 429 with Retry-After *before* any hash is computed. The address limit is
higher: a warehouse shares one address behind its NAT, and one person's typos must not lock
everyone out. A success clears the account's failures, not the address's (one valid account
must not reset the guessing budget of an address).

In memory, per console process: a restart or a second replica gives an attacker a fresh budget,
which bounds it at limit x replicas per window; good enough against guessing, and no new store.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

MAX_KEYS = 20_000  # bounded memory under a spray of usernames: the oldest keys are forgotten first


class SignInThrottle:
    def __init__(self, limit: int = 5, address_limit: int = 20, window_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = {"account": limit, "address": address_limit}
        self.window_s = window_s
        self.clock = clock
        self.failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    @staticmethod
    def _keys(username: str, address: str) -> list[tuple[str, str]]:
        return [("account", username.casefold()), ("address", address)]

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self.failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self.failures[key]
        return times

    def retry_after(self, username: str, address: str) -> int:
        """Seconds to wait before the next attempt may be checked (0: go ahead)."""
        now = self.clock()
        wait = 0.0
        for key in self._keys(username, address):
            times = self._recent(key, now)
            if len(times) >= self.limits[key[0]]:
                # The oldest failure that still counts must leave the window.
                wait = max(wait, times[-self.limits[key[0]]] + self.window_s - now)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, username: str, address: str) -> None:
        now = self.clock()
        for key in self._keys(username, address):
            times = self._recent(key, now)
            times.append(now)
            self.failures[key] = times
            self.failures.move_to_end(key)
        while len(self.failures) > MAX_KEYS:
            self.failures.popitem(last=False)

    def succeeded(self, username: str) -> None:
        self.failures.pop(("account", username.casefold()), None)
