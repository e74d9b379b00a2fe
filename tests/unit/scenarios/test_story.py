"""The story's own bookkeeping (scenarios.story): stage numbers, one clock for a bar, no lingering unasked."""

from __future__ import annotations

import asyncio
import io
import json

import pytest

from scenarios.story import Story


def _records(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_stage_number_is_one_of_apples_three() -> None:
    """docs/scenarios.md "JSON lines": ``number`` is 1, 2 or 3, keyword-only, and absent when not given."""
    out = io.StringIO()
    story = Story("numbers", out=out, json_lines=True)
    asyncio.run(story.stage("Stage 2: APNs sends it on", "apns", number=2))
    asyncio.run(story.stage("Setup"))
    with pytest.raises(ValueError, match="1, 2 or 3"):
        asyncio.run(story.stage("Stage 4", "app", number=4))
    assert [r.get("number") for r in _records(out)] == [2, None]


def test_a_bar_prints_the_time_its_caller_measured() -> None:
    """docs/scenarios.md, load-fleet: a figure measured once is the figure every line prints."""
    out = io.StringIO()
    story = Story("bars", out=out, json_lines=True)
    bar = story.tracker("pushes acknowledged", 3)
    bar.update(3)
    bar.close(1.25)
    bar.close(9.0)  # closed once: the second close changes nothing
    assert bar.seconds == 1.25
    assert _records(out) == [{"type": "progress", "description": "pushes acknowledged", "completed": 3,
                              "total": 3, "seconds": 1.25}]


def test_without_hold_or_step_the_story_does_not_linger() -> None:
    """docs/scenarios.md "Teacher mode": only --hold and the end of --step keep the simulator up."""
    out = io.StringIO()
    story = Story("plain", out=out, json_lines=True)
    asyncio.run(asyncio.wait_for(story.linger("http://127.0.0.1:1"), 1))
    assert not story.concluded and out.getvalue() == ""


def test_a_failure_after_a_lingering_verdict_is_still_told() -> None:
    """docs/scenarios.md "Teacher mode": --hold gives the verdict before the wait; if closing down fails
    afterwards the run says so (a second verdict, failed) instead of leaving "the story holds" beside exit 1.
    A verdict is otherwise given once."""
    out = io.StringIO()
    story = Story("late", out=out, json_lines=True)
    story.verdict(True)
    story.verdict(True)
    story.verdict(False, "RuntimeError: the phone did not close")
    story.verdict(False, "again")
    assert [(r["ok"], r["error"]) for r in _records(out)] == [
        (True, None), (False, "RuntimeError: the phone did not close")]
