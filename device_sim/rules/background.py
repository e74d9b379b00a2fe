"""App states and the background-push rules of the simulated iPhone: pure code, time is an argument.

Sources: docs/device-side.md §2.3 (delivery matrix), §2.4 (background pushes), §6 rules 16, 20, 21 and 23.

- An app is ``not_running``, ``background`` (suspended), ``foreground`` or ``force_quit`` (the user swiped it
  away: no background launches until the user opens it again or the device restarts; alerts still show).
  Locking the phone sends the app in front to the background (iOS does; unlocking brings nothing back).
- A background push (``aps`` holds nothing but ``content-available: 1``) reaches the app only if it has the
  ``remote-notification`` background mode and was not force-quit. In the background it is throttled: at most
  ``per_hour`` wakes in any hour and ``per_day`` in any day; over budget, the phone holds one (a newer one
  replaces it) and hands it over when the user launches the app. Running under Xcode disables the budget.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

NOT_RUNNING = "not_running"
BACKGROUND = "background"
FOREGROUND = "foreground"
FORCE_QUIT = "force_quit"
STATES = (NOT_RUNNING, BACKGROUND, FOREGROUND, FORCE_QUIT)
RUNNING = frozenset({BACKGROUND, FOREGROUND})

DELIVER = "deliver"
HOLD = "hold"
DROP = "drop"

HOUR = 3600.0
DAY = 24 * HOUR

T = TypeVar("T")


def check_state(state: str) -> str:
    if state not in STATES:
        raise ValueError(f"app state must be one of {', '.join(STATES)}, not {state!r}")
    return state


def state_after_lock(state: str) -> str:
    """Locking the phone (rule 16, §2.3) sends the app in front to the background; the others keep their state."""
    return BACKGROUND if state == FOREGROUND else state


@dataclass(frozen=True, kw_only=True)
class BackgroundBudget:
    """How many background wakes the system grants an app (§2.4: "two or three per hour", plus a daily
    power budget whose size Apple does not publish: ``per_day`` is our guess, a knob)."""

    per_hour: int = 3
    per_day: int = 30

    def __post_init__(self) -> None:
        if self.per_hour < 0 or self.per_day < 0:
            raise ValueError("background budgets cannot be negative")


@dataclass(frozen=True, kw_only=True)
class BackgroundDecision:
    """What the phone does with one background push: ``deliver`` to the fetch handler now, ``hold`` it until
    launch (``replaced`` says a held one was dropped), or ``drop`` it; ``why`` for the journey log."""

    action: str
    why: str = ""
    replaced: bool = False


def is_background_push(payload: Any, push_type: str | None = None) -> bool:
    """§2.4: ``aps`` holds only ``content-available: 1`` (custom keys beside ``aps`` are fine)."""
    if push_type not in (None, "background"):
        return False
    if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
        return False
    aps = payload["aps"]
    return aps.get("content-available") == 1 and set(aps) == {"content-available"}


class BackgroundThrottle(Generic[T]):
    """One app's background-push budget and its single held push (rule 21). Times are seconds, passed in."""

    def __init__(self, budget: BackgroundBudget | None = None, *, under_xcode: bool = False) -> None:
        self.budget = budget or BackgroundBudget()
        self.under_xcode = under_xcode
        self._wakes: deque[float] = deque()
        self.held: T | None = None

    def _forget_before(self, now: float) -> None:
        while self._wakes and self._wakes[0] <= now - DAY:
            self._wakes.popleft()

    def allows(self, now: float) -> str | None:
        """None if a wake fits the budget now, else why not."""
        if self.under_xcode:
            return None
        self._forget_before(now)
        last_hour = sum(1 for t in self._wakes if t > now - HOUR)
        if last_hour >= self.budget.per_hour:
            return f"throttled: {last_hour} background wakes in the last hour (budget {self.budget.per_hour})"
        if len(self._wakes) >= self.budget.per_day:
            return f"throttled: daily background budget of {self.budget.per_day} used up"
        return None

    def decide(self, item: T, *, state: str, background_mode: bool, now: float) -> BackgroundDecision:
        """Rules 20, 21, 23 for one background push to an app in ``state``."""
        if not background_mode:
            return BackgroundDecision(action=DROP, why="no remote-notification background mode: not delivered")
        if state == FORCE_QUIT:
            return BackgroundDecision(action=DROP, why="app was force-quit: background push discarded")
        if state == FOREGROUND:  # the app is running in front: no wake needed, no budget spent
            return BackgroundDecision(action=DELIVER)
        why = self.allows(now)
        if why is None:
            self._wakes.append(now)
            return BackgroundDecision(action=DELIVER)
        replaced = self.held is not None
        self.held = item
        return BackgroundDecision(action=HOLD, why=f"{why}; held until the app launches"
                                  + (" (replacing an older held push)" if replaced else ""), replaced=replaced)

    def take_held(self) -> T | None:
        """At launch the held push is handed over (§2.4)."""
        held, self.held = self.held, None
        return held

    def discard_held(self) -> T | None:
        """Force quit or kill discards the held push (§2.4)."""
        return self.take_held()


__all__ = ["BACKGROUND", "DELIVER", "DROP", "FORCE_QUIT", "FOREGROUND", "HOLD", "NOT_RUNNING", "RUNNING",
           "STATES", "BackgroundBudget", "BackgroundDecision", "BackgroundThrottle", "check_state",
           "is_background_push", "state_after_lock"]
