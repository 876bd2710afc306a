"""The retry schedule: full-jitter exponential backoff (AWS "Exponential Backoff And Jitter").

Full jitter (a uniform draw between 0 and the exponential cap) rather than a fixed
step, so that a hundred head nodes whose archive comes back at the same moment do not
retry in lockstep. Pure: the random source is injected, tests pass a fixed one.
"""
from __future__ import annotations

import random
from typing import Callable, Optional

#: Longest Retry-After we honour; a server asking for more is treated as asking for this.
MAX_RETRY_AFTER = 3600.0


class Backoff:
    def __init__(self, initial: float, maximum: float, rand: Callable[[], float] = random.random) -> None:
        self.initial = initial
        self.maximum = maximum
        self.rand = rand

    def cap(self, attempt: int) -> float:
        """The upper bound of the wait before retry number `attempt` (0-based)."""
        return min(self.maximum, self.initial * (2.0 ** min(attempt, 62)))

    def delay(self, attempt: int, retry_after: Optional[float] = None) -> float:
        """Seconds to wait before retry `attempt`; never less than the server's Retry-After."""
        wait = self.rand() * self.cap(attempt)
        if retry_after is not None:
            wait = max(wait, min(retry_after, MAX_RETRY_AFTER))
        return wait
