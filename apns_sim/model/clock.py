"""The simulator's clock: real time by default, frozen or advanced on request.

Everything time-based in the simulator (JWT age, expiration, storage limits, the 410 delay, certificate
validity) reads this one clock, so tests can cross a one-hour JWT limit without sleeping (STYLE habit 3).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class Clock:
    """A controllable wall clock. ``now()`` is timezone-aware UTC."""

    def __init__(self) -> None:
        self._frozen_at: float | None = None
        self._offset = 0.0
        # Told after every freeze, advance or reset, so work due at a virtual time (batched pushes) happens
        # when a test or the admin API moves the clock, not only when real time passes.
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener()`` whenever the clock is set; returns the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    def time(self) -> float:
        """Seconds since the epoch, as the simulator sees them."""
        if self._frozen_at is not None:
            return self._frozen_at
        return time.time() + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def millis(self) -> int:
        return int(self.time() * 1000)

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def freeze(self, at: float | None = None) -> None:
        """Stop the clock, at ``at`` (epoch seconds) or at the current simulated time."""
        self._frozen_at = self.time() if at is None else at
        self._changed()

    def unfreeze(self) -> None:
        """Let time run again from where it stands now (the offset keeps any advance)."""
        if self._frozen_at is not None:
            self._offset = self._frozen_at - time.time()
            self._frozen_at = None
            self._changed()

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        if self._frozen_at is not None:
            self._frozen_at += seconds
        else:
            self._offset += seconds
        self._changed()

    def reset(self) -> None:
        self._frozen_at = None
        self._offset = 0.0
        self._changed()

    def advance_by(self, delta: timedelta) -> None:
        self.advance(delta.total_seconds())
