"""Every scenario told in Chinese: the story still holds, and a learner reads it in Chinese (docs/i18n.md,
"Chinese for a learner"; docs/scenarios.md).

Each runs in process with ``--lang zh --json`` (the same ``scenarios.runner.main`` as ``python -m scenarios``);
test_scenarios.py runs every scenario in English. The messages a scenario's module marks for translation are
read from its source with Babel (as ``scripts/i18n`` does), so a message printed untranslated fails here by name.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

import pushsim_i18n
from pushsim_i18n.catalogs import extract
from scenarios.runner import main
from tests.integration.test_scenarios import raw_stage_names

SCENARIOS = ("three-stages", "tutorial-path", "registration-failure", "certificate-workflow", "token-auth",
             "offline-store-and-forward",
             "expiration-and-collapse", "uninstall-410", "bad-requests-tour", "wrong-environment",
             "provider-retries", "permission-denied", "background-throttling", "load-fleet", "then-and-now")
CJK = re.compile(r"[\u4e00-\u9fff]")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
# What a reader should never see: a Python repr of a dict, list or bool, or a bare None.
# Nor ASCII quotes or an ASCII colon against Chinese text (issue 16: '提醒：买牛奶', 合法的请求: 200), nor a
# made-up JSON ({kind: reason}).
REPR = re.compile(r"\{'|\(\[|=(True|False)\b|\bNone\b|'[\u4e00-\u9fff]|[\u4e00-\u9fff]'|[\u4e00-\u9fff]: |\{[a-z_]+: ")


# A method name as Apple spells it (``registerForRemoteNotificationTypes:``, ``didRegister...:``): kept in Chinese.
APPLE_NAME = re.compile(r"\b(?:did|register)[A-Za-z]*:")


def _english(name: str) -> list[re.Pattern[str]]:
    """The English messages of the scenario's own module, each as a pattern matching a whole printed text.

    A message that is only placeholders and punctuation (``{bundle_id}: {why}``), or only Apple's names beside
    them (``didFailToRegisterForRemoteNotificationsWithError: {error}``, whose Chinese keeps the method's name),
    is left out: it has no English words to find, and its pattern would match its own translation."""
    source = f"scenarios/{name.replace('-', '_')}.py"
    patterns = []
    for message in extract("scenarios"):
        if not message.id or not any(path == source for path, _line in message.locations):
            continue
        for form in message.id if isinstance(message.id, tuple) else (message.id,):  # ngettext: both forms
            parts = re.split(r"\{[^}]*\}", form)
            if not any(re.search(r"[A-Za-z]", APPLE_NAME.sub("", part)) for part in parts):
                continue
            patterns.append(re.compile("(?s)" + "(.*?)".join(re.escape(part) for part in parts)))
    assert patterns, f"no messages marked in {source}"
    return patterns


def _texts(records: list[dict[str, Any]]) -> list[str]:
    """Everything a person reads in the narration: stage titles, steps, claims, table titles, headers, cells."""
    texts: list[str] = []
    for record in records:
        if record["type"] == "stage":
            texts.append(record["title"])
        elif record["type"] == "step":
            texts.append(record["text"])
        elif record["type"] == "check":
            texts.append(record["claim"])
        elif record["type"] == "table":
            texts += [record["title"], *record["columns"], *(str(cell) for row in record["rows"] for cell in row)]
    return texts


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_holds_and_is_told_in_chinese(name: str, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/i18n.md "Choosing the language": ``--lang zh``; the verdict holds and the narration is Chinese."""
    monkeypatch.setattr(pushsim_i18n, "_current", pushsim_i18n._current)  # main() sets it: undo after the test
    code = main([name, "--lang", "zh", "--json"])
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines() if line.strip()]
    verdict = records[-1]
    assert code == 0 and verdict["type"] == "verdict" and verdict["ok"], captured.out + captured.err
    checks = [r for r in records if r["type"] == "check"]
    assert checks and all(c["ok"] for c in checks)

    # The story's own words are Chinese: every stage after the shared setup, every claim, every table title.
    stages = [r["title"] for r in records if r["type"] == "stage"]
    assert len(stages) >= 3 and all(CJK.search(title) for title in stages[1:]), stages
    assert all(CJK.search(c["claim"]) for c in checks), [c["claim"] for c in checks if not CJK.search(c["claim"])]
    tables = [r for r in records if r["type"] == "table"]
    assert all(CJK.search(t["title"]) for t in tables), [t["title"] for t in tables]

    texts = _texts(records)
    untranslated = [(p.pattern, text) for p in _english(name) for text in texts if p.fullmatch(text)]
    assert untranslated == [], untranslated
    assert [text for text in texts if REPR.search(text)] == []
    assert raw_stage_names(records) == []  # a journey is told in Chinese (scenarios/journey.py)
    assert "\\u" not in captured.out  # UTF-8 JSON lines, never \u escapes (docs/i18n.md)
    # A table shows an apns-id cut short: a whole UUID made its column wrap at 80 columns (issue 16).
    assert [cell for t in tables for row in t["rows"] for cell in row if UUID.fullmatch(str(cell))] == []
