"""Narration for scenarios: each step is told as it happens, each claim is checked.

A scenario is a story a person can follow ("the portal turns a CSR into a push certificate...") that
also asserts its own outcome, so the same story is a demo, a lesson and a test.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO


class StoryFailed(AssertionError):
    """The story did not hold: a check failed."""


@dataclass
class Step:
    stage: str
    text: str
    at: float
    detail: dict[str, Any] = field(default_factory=dict)


class Story:
    """Collects and prints the steps of one scenario run."""

    def __init__(self, name: str, *, out: TextIO | None = None, quiet: bool = False, pause: bool = False) -> None:
        self.name = name
        self.out = out or sys.stdout
        self.quiet = quiet
        self.pause = pause
        self.steps: list[Step] = []
        self.checks: list[dict[str, Any]] = []
        self._start = time.monotonic()
        self._stage = ""

    def stage(self, title: str) -> None:
        """Start a new part of the story (for example "Stage 1: provider to APNs")."""
        if self.pause and self.steps and sys.stdin.isatty():
            input("  (press Enter to continue) ")
        self._stage = title
        if not self.quiet:
            print(f"\n== {title} ==", file=self.out, flush=True)

    def step(self, text: str, **detail: Any) -> None:
        elapsed = time.monotonic() - self._start
        self.steps.append(Step(self._stage, text, round(elapsed, 3), detail))
        if not self.quiet:
            print(f"  [{elapsed:6.2f}s] {text}", file=self.out, flush=True)

    def check(self, condition: bool, claim: str) -> None:
        """Assert a claim of the story; a false claim ends the scenario with a non-zero exit."""
        self.checks.append({"claim": claim, "ok": bool(condition)})
        if not condition:
            if not self.quiet:
                print(f"  FAILED: {claim}", file=self.out, flush=True)
            raise StoryFailed(claim)
        if not self.quiet:
            print(f"  ✓ {claim}", file=self.out, flush=True)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._start

    def as_json(self, ok: bool, error: str | None = None) -> dict[str, Any]:
        return {
            "scenario": self.name,
            "ok": ok,
            "error": error,
            "seconds": round(self.elapsed, 3),
            "steps": [{"stage": s.stage, "text": s.text, "at": s.at, **s.detail} for s in self.steps],
            "checks": self.checks,
        }

    def dumps(self, ok: bool, error: str | None = None) -> str:
        return json.dumps(self.as_json(ok, error), default=str)
