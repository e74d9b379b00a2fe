"""A token bucket per client address: how the activation service bounds what one client can make it do
(docs/limits.md §2). Sans-IO: the time is passed in, so a unit test moves it instead of sleeping (habit 3).

Each address may spend ``burst`` requests at once and earns ``rate`` more per second. Only
``max_addresses`` buckets are kept; the address seen longest ago is forgotten first (it comes back with a
full bucket, which on the loopback addresses the simulator serves costs nothing).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable


class AddressThrottle:
    """``check(address)`` spends one token: None when allowed, else whole seconds to wait (Retry-After)."""

    __slots__ = ("_buckets", "_now", "burst", "max_addresses", "rate")

    def __init__(self, rate: float, burst: int, *, max_addresses: int, now: Callable[[], float]) -> None:
        if rate < 0 or burst < 1 or max_addresses < 1:
            raise ValueError("a throttle needs rate >= 0 (0 = no limit), burst >= 1 and max_addresses >= 1")
        self.rate = rate
        self.burst = burst
        self.max_addresses = max_addresses
        self._now = now
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # address -> (tokens, at)

    def check(self, address: str) -> int | None:
        if self.rate == 0:
            return None
        now = self._now()
        tokens, at = self._buckets.pop(address, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[address] = (tokens, now)  # re-inserted last: eviction takes the address idle longest
        while len(self._buckets) > self.max_addresses:
            self._buckets.popitem(last=False)
        return None if allowed else max(1, math.ceil((1.0 - tokens) / self.rate))

    @property
    def tracked(self) -> int:
        """Addresses with a bucket (at most ``max_addresses``)."""
        return len(self._buckets)
