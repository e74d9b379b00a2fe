"""Priority batching for online phones: when a priority 10, 5 or 1 notification leaves for the phone.

Apple (docs/apns-protocol.md §2.1, §11; docs/device-side.md §1.10, §6 rule 22): priority 10 is sent at once; priority 5
is power-aware and "might get grouped and delivered in bursts"; priority 1 puts the phone's power first and
never wakes a sleeping phone. Apple publishes no schedule; the carrier bag's "max 3 low-priority batches per
hour" and "burst delay 1200 s" (§1.10, observed) suggest a window of about 20 minutes.

The simulator's reading, pure and clock-free (the caller passes ``now``, virtual seconds):

- ``interval == 0`` (the default): batching is off and every priority goes out at once. Demos, CI and a
  developer's first push expect the notification on the phone now; a 20-minute wait would look like a bug.
- ``interval > 0``: a held priority 5 notification opens its phone's window, which closes ``interval``
  seconds later; everything held for that phone then leaves together, in the order it was accepted.
- Priority 1 never opens a window (the simulator has no notion of a sleeping phone, so "never wakes it"
  becomes "never causes a send"): it rides with the next burst for that phone, either a closing priority 5
  window or a priority 10 delivery (the radio is up anyway, the point of Apple's power-first rule).
- A priority 10 notification takes everything held for its phone with it, held ones first (acceptance order).

Only phones that are online are batched here; an offline phone's notification goes to store-and-forward, and
what was held for a phone that drops is handed back by :meth:`BatchPolicy.take` to be stored.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

IMMEDIATE = 10  # apns-priority 10: send at once
POWER_AWARE = 5  # may be grouped and sent in bursts
OPPORTUNISTIC = 1  # power first: never the reason for a send

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


@dataclass
class _Window(Generic[T]):
    """What is held for one phone, oldest first; ``closes_at`` is None while only priority 1 waits."""

    items: list[T] = field(default_factory=list)
    closes_at: float | None = None


class BatchPolicy(Generic[K, T]):
    """Holds priority 5 and 1 notifications per phone and says when they leave.

    ``K`` identifies a phone connection (device id and environment); ``T`` is whatever the caller sends.
    """

    def __init__(self, interval: float) -> None:
        if interval < 0:
            raise ValueError("the batch interval is 0 (off) or a positive number of seconds")
        self.interval = interval
        self._windows: dict[K, _Window[T]] = {}

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    def offer(self, key: K, item: T, priority: int, now: float) -> list[T] | None:
        """An accepted notification for an online phone: the items to send now, in order, or None if held.

        A returned list holds what was waiting for that phone first, then ``item``.
        """
        if not self.enabled or priority >= IMMEDIATE:
            return [*self.take(key), item]
        window = self._windows.setdefault(key, _Window())
        window.items.append(item)
        if priority > OPPORTUNISTIC and window.closes_at is None:
            window.closes_at = now + self.interval
        return None

    def closes_at(self, key: K) -> float | None:
        """When the phone's window closes (None: nothing held, or only priority 1 waiting)."""
        window = self._windows.get(key)
        return None if window is None else window.closes_at

    def due(self, now: float) -> list[tuple[K, list[T]]]:
        """Remove and return every window closed by ``now``, earliest first (batches leave in order)."""
        closed = sorted(((w.closes_at, key) for key, w in self._windows.items()
                         if w.closes_at is not None and w.closes_at <= now), key=lambda pair: pair[0])
        return [(key, self._windows.pop(key).items) for _, key in closed]

    def take(self, key: K) -> list[T]:
        """Remove and return everything held for one phone, oldest first (a priority 10 send, a drop)."""
        window = self._windows.pop(key, None)
        return [] if window is None else window.items

    def next_deadline(self) -> float | None:
        """The earliest window close, for a timer; None when no window is open."""
        times = [w.closes_at for w in self._windows.values() if w.closes_at is not None]
        return min(times) if times else None

    def held(self, key: K | None = None) -> int:
        """How many notifications wait, for one phone or in all."""
        if key is not None:
            window = self._windows.get(key)
            return 0 if window is None else len(window.items)
        return sum(len(w.items) for w in self._windows.values())
