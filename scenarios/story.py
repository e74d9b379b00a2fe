"""A story: each step is told as it happens, each claim is checked.

A scenario is a story a person can follow ("the portal turns a CSR into a push certificate...") that
also asserts its own outcome, so the same story is a demo, a lesson and a test. The story records what
happened; a narrator (:mod:`scenarios.narration`) tells it, richly for people or as JSON lines for CI.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from pushsim_i18n import Domain
from scenarios.narration import Bar, JsonNarrator, Narrator, RichNarrator

_ = Domain("scenarios").gettext

ACTORS = ("provider", "apns", "device", "app", "portal", "story")


async def _read_line(stream: TextIO) -> str:
    """One line from ``stream`` without blocking the loop. A daemon thread, not ``asyncio.to_thread``: Ctrl-C
    at a ``--step`` prompt must end the run at once, and the default executor's thread would be joined at exit,
    waiting for an Enter that may never come."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str] = loop.create_future()

    def read() -> None:
        try:
            line = stream.readline()
        except (OSError, ValueError):
            line = ""
        loop.call_soon_threadsafe(lambda: None if answer.done() else answer.set_result(line))

    threading.Thread(target=read, name="scenario-step-prompt", daemon=True).start()
    return await answer


def _at_a_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):  # closed or detached
        return False


class UsageError(Exception):
    """The story cannot start as asked (a bad environment variable): one line on stderr, exit 2."""


class StoryFailed(AssertionError):
    """The story did not hold: a check failed."""


@dataclass(frozen=True)
class Step:
    stage: str
    actor: str
    text: str
    at: float
    detail: dict[str, Any] = field(default_factory=dict)


class Story:
    """Collects the steps and checks of one scenario run and hands them to its narrator.

    ``pause`` (``--step``): before each stage after the first, wait for a line on ``stdin`` (Enter), so a
    presenter sets the pace; at end of input the story stops pausing instead of hanging. ``teaching`` stays
    true for the whole run: a scenario then holds the simulator at each stage (docs/scenarios.md "Teacher
    mode"), and at the end :meth:`linger` keeps it up until Ctrl-C, as ``hold`` (``--hold``) does.
    """

    def __init__(self, name: str, *, out: TextIO | None = None, json_lines: bool = False, pause: bool = False,
                 stdin: TextIO | None = None, hold: bool = False) -> None:
        self.name = name
        self.out = out or sys.stdout
        self.pause = pause
        self.teaching = pause
        self.hold = hold
        self.concluded = False  # the verdict was given (by linger, before the wait), not to be given twice
        self._held = False  # the verdict given said the story held
        self.stdin = stdin or sys.stdin
        self.narrator: Narrator = JsonNarrator(self.out, sys.stderr) if json_lines else RichNarrator(self.out)
        self.steps: list[Step] = []
        self.checks: list[dict[str, Any]] = []
        self.pauses = 0
        self._start = time.monotonic()
        self._stage = ""
        self._actor = "story"

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._start

    async def stage(self, title: str, actor: str = "story", *, number: int | None = None) -> None:
        """Start a new part of the story; ``actor`` (provider, apns, device, app, portal) acts in it;
        ``number`` says which of Apple's three stages it tells (its colour, and a field of the JSON record)."""
        if number is not None and number not in (1, 2, 3):
            raise ValueError(f"a stage number is 1, 2 or 3, not {number!r}")
        if self.pause and self.steps:
            self.narrator.prompt(_("next: {title} (press Enter) ").format(title=title))
            # In a thread: the simulator, phones and provider keep running (keep-alives) while we wait.
            line = await _read_line(self.stdin)
            if line:
                self.pauses += 1
            else:
                self.pause = False  # no more input: carry on without pausing
        self._stage = title
        self._actor = _check_actor(actor)
        self.narrator.stage(title, self._actor, number)

    def step(self, text: str, *, actor: str | None = None, **detail: Any) -> None:
        """One thing that happened; ``detail`` goes to the JSON line only (facts a CI job may want)."""
        who = _check_actor(actor) if actor is not None else self._actor
        at = round(self.elapsed, 3)
        self.steps.append(Step(self._stage, who, text, at, detail))
        self.narrator.step({"stage": self._stage, "actor": who, "text": text, "at": at, **detail})

    def check(self, condition: bool, claim: str) -> None:
        """Assert a claim of the story; a false claim ends the scenario with a non-zero exit."""
        self.checks.append({"claim": claim, "ok": bool(condition)})
        self.narrator.check(claim, bool(condition))
        if not condition:
            raise StoryFailed(claim)

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.narrator.table(title, columns, rows)

    def tracker(self, description: str, total: int) -> Tracker:
        """A progress bar to drive from callbacks (``update(done)``) and ``close()`` when the wait is over."""
        return Tracker(self.narrator, description, total)

    @contextlib.contextmanager
    def progress(self, description: str, total: int) -> Iterator[Tracker]:
        """A progress bar while the story loops or waits; ``bar.advance()`` per unit done."""
        tracker = self.tracker(description, total)
        try:
            yield tracker
        finally:
            tracker.close()

    def verdict(self, ok: bool, error: str | None = None) -> None:
        """Once; but a failure after a lingering success (closing down broke) is told too, so the last verdict
        printed agrees with the exit status."""
        if self.concluded and (ok or not self._held):
            return
        self._held = ok
        self.concluded = True
        self.narrator.verdict(self.name, ok, error, self.elapsed, len(self.checks), len(self.steps))

    async def linger(self, dashboard: str) -> None:
        """The story held: with ``--hold``, or at the end of ``--step``, give the verdict now and keep the
        simulator and its dashboard up until Ctrl-C or SIGTERM, so a teacher can point at what happened.
        The end of ``--step`` waits only for a presenter at a terminal: a run whose input has ended, or comes
        from a pipe (``yes '' |``, a CI job), finishes, as nobody is there to press Ctrl-C."""
        if not (self.hold or (self.teaching and self.pause and _at_a_terminal(self.stdin))):
            return
        self.verdict(True)
        self.narrator.prompt(_("The dashboard stays at {url}; press Ctrl-C to stop.").format(url=dashboard) + "\n")
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        signals = (signal.SIGINT, signal.SIGTERM)
        for number in signals:
            loop.add_signal_handler(number, stop.set)
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait())]
        if not self.hold:
            waits.append(asyncio.ensure_future(self._end_of_input()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
            for number in signals:
                loop.remove_signal_handler(number)

    async def _end_of_input(self) -> None:
        while await _read_line(self.stdin):
            pass


class Tracker:
    """One progress bar: counts what is done and settles into one line (or one JSON record) when closed."""

    def __init__(self, narrator: Narrator, description: str, total: int) -> None:
        self._narrator = narrator
        self.description = description
        self.total = total
        self.completed = 0
        self._bar: Bar | None = narrator.progress_start(description, total)
        self._started = time.monotonic()
        self.seconds: float | None = None  # the time the settled line printed, once closed

    def advance(self, amount: int = 1) -> None:
        self.completed += amount
        if self._bar is not None:
            self._bar.advance(amount)

    def update(self, done: int) -> None:
        """Set the count (for callbacks that report a running total)."""
        if done > self.completed:
            self.advance(done - self.completed)

    def close(self, seconds: float | None = None) -> None:
        """Settle the bar; ``seconds``: the time to print when the caller measured the work itself (so one
        clock gives every figure a story prints), else the time since the bar started."""
        if self._bar is not None:
            self._bar = None
            self.seconds = time.monotonic() - self._started if seconds is None else seconds
            self._narrator.progress_end(self.description, self.completed, self.total, self.seconds)


def _check_actor(actor: str) -> str:
    if actor not in ACTORS:
        raise ValueError(f"actor must be one of {', '.join(ACTORS)}, got {actor!r}")
    return actor
