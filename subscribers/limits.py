"""Rate limits of the public forms: at most so many events per key in a sliding window.

They live in memory, per process; the one limit that must hold across processes and restarts
(one confirmation an hour per address) is also kept in the database
(`subscribers.signup.claim_confirmation`).
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """Allows at most ``limit`` events per key in a sliding ``window`` of seconds (in memory)."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._events: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, key: str) -> bool:
        """Record an attempt for ``key``; False once the limit is reached."""
        if not self.allows(key):
            return False
        self._events[key].append(self._clock())
        return True

    def allows(self, key: str) -> bool:
        """Whether an attempt for ``key`` would be allowed now (nothing is recorded)."""
        events = self._events.get(key)
        if events is None:
            return True
        cutoff = self._clock() - self.window
        while events and events[0] <= cutoff:
            events.popleft()
        if not events:
            del self._events[key]  # keys of the past must not pile up in memory
        return len(events) < self.limit
