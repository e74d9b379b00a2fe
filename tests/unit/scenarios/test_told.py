"""What the narration says, told as a person reads it (docs/scenarios.md "Narration"): no Python reprs, real
JSON for the admin API's bodies, the scenario list wrapped under its column."""

from __future__ import annotations

import json

import pytest
from rich.cells import cell_len

import pushsim_i18n
from scenarios.kit import shown
from scenarios.provider_retries import as_json
from scenarios.runner import catalogue, listing


def test_what_the_user_saw_is_told_without_python_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    """three-stages: the alert's title and text, the sound's name and the badge's number (issue 16 saw
    ``alert={'title': 'PushChat', ...}``); in Chinese with Chinese quotes."""
    told = shown({"title": "PushChat", "body": "Hello from your provider"}, "default", 1)
    assert told == 'shown: an alert titled "PushChat" saying "Hello from your provider", the sound "default", ' \
        "the badge set to 1"
    assert shown("Hi", None, None) == 'shown: an alert saying "Hi", no sound, the badge unchanged'
    assert shown(None, "ding", 0) == 'shown: no alert, the sound "ding", the badge set to 0'
    monkeypatch.setattr(pushsim_i18n, "_current", "zh")
    told = shown({"title": "PushChat", "body": "你好"}, "default", 1)
    assert "“PushChat”" in told and "“你好”" in told and "{" not in told and "'" not in told


def test_a_fault_rule_is_told_as_the_json_that_is_sent() -> None:
    """provider-retries: ``POST /_sim/faults`` shows its body as JSON (issue 16 saw ``{'kind': 'reason'...}``
    and ``{kind: reason, ...}``), on one line that wraps between fields, Chinese kept readable."""
    rule = {"kind": "reason", "status": 503, "probability": 0.3, "topic": "com.example.retries"}
    assert as_json(rule) == '{"kind": "reason", "status": 503, "probability": 0.3, "topic": "com.example.retries"}'
    assert json.loads(as_json(rule)) == rule
    assert as_json({"reason": "提醒"}) == '{"reason": "提醒"}'


@pytest.mark.parametrize("language", ["en", "zh"])
def test_the_list_wraps_each_summary_under_its_column(language: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/scenarios.md "Running": at 80 columns (issue 16 saw lines of 192) every line fits and a summary's
    continuation lines start under its first; off a terminal (no width) one line per scenario."""
    monkeypatch.setattr(pushsim_i18n, "_current", language)
    scenarios = list(catalogue().values())
    lines = listing(scenarios, 80)
    column = max(len(s.name) for s in scenarios) + 2
    assert len(lines) > len(scenarios) and all(cell_len(line) <= 80 for line in lines)
    assert [line.split()[0] for line in lines if not line.startswith(" ")] == [s.name for s in scenarios]
    assert all(line[:column].strip() == "" and line[column] != " " for line in lines if line.startswith(" "))
    assert len(listing(scenarios, None)) == len(scenarios)
