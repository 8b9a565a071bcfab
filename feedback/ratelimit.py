"""A per-client token bucket that limits how often one visitor can save drawings.

Each client starts with ``burst`` tokens, a save spends one, and tokens come back at ``rate`` per second
(the defaults: bursts of 10, then 1 save per second). The buckets live in this process's memory: with
several replicas of the app each replica limits on its own, so a visitor gets up to N times the rate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Thread-safe token buckets keyed by client (FeedbackStore uses the salted session hash)."""

    def __init__(
        self,
        rate: float = 1.0,
        burst: int = 10,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        """``clock`` returns seconds; tests pass a fake one. ``max_clients`` bounds the memory kept."""
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst, self.clock, self.max_clients = rate, burst, clock, max_clients
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, time they were counted)
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        """Spend one of ``client``'s tokens and return True, or return False when none is left."""
        with self._lock:
            now = self.clock()
            tokens, then = self._buckets.get(client, (self.burst, now))
            tokens = min(self.burst, tokens + (now - then) * self.rate)
            allowed = tokens >= 1
            self._buckets[client] = (tokens - 1 if allowed else tokens, now)
            if len(self._buckets) > self.max_clients:
                self._forget_full(now)
            return allowed

    def _forget_full(self, now: float) -> None:
        # A client idle long enough to have refilled is the same as an unknown one, so drop it.
        refill = self.burst / self.rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < refill}
