"""Every scenario runs in the test suite (docs/architecture.md contract 6): the stories must hold, and say so.

Scenarios run in process (``scenarios.runner.main``, the same code as ``python -m scenarios``) to keep this
module fast; a few tests run the real command in a subprocess for the exit status, the plain (non-TTY)
narration and ``--step`` on stdin. Each scenario's Apple rules, with their reference sections, are cited in its
module docstring and checked by the scenario itself.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

import pushsim_i18n
from scenarios import bad_requests_tour, three_stages
from scenarios.runner import catalogue, execute, find, main
from scenarios.story import Story

RECORD_TYPES = {"stage", "step", "check", "table", "progress", "verdict"}
EXPECTED = {"three-stages", "certificate-workflow", "token-auth", "offline-store-and-forward",
            "expiration-and-collapse", "uninstall-410", "bad-requests-tour", "wrong-environment", "provider-retries",
            "permission-denied", "background-throttling", "load-fleet", "then-and-now"}


def _json_lines(text: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert records, "no JSON output"
    assert {r["type"] for r in records} <= RECORD_TYPES
    return records


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "scenarios", *argv], capture_output=True, text=True, timeout=120,
                          **kwargs)


def test_catalogue_has_every_story_of_issue_8() -> None:
    scenarios = catalogue()
    assert set(scenarios) >= EXPECTED
    assert all(find(name) is scenario for name, scenario in scenarios.items())  # name <-> module convention


def test_listing_names_every_scenario_with_a_summary() -> None:
    """Off a terminal and without $COLUMNS: one line per scenario (a script may read the list)."""
    out = _run([], env={k: v for k, v in os.environ.items() if k != "COLUMNS"})
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    assert [line.split()[0] for line in lines] == list(catalogue())
    assert all(len(line.split(maxsplit=1)) == 2 and len(line.split(maxsplit=1)[1]) > 20 for line in lines)


def test_a_reader_that_stops_reading_ends_the_run_quietly() -> None:
    """docs/scenarios.md "Exit status": ``python -m scenarios three-stages --json | head -3`` (issue 16 saw two
    BrokenPipeError tracebacks): no traceback, exit 141 as for SIGPIPE."""
    proc = subprocess.Popen([sys.executable, "-m", "scenarios", "three-stages", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PUSHSIM_LANG": "zh"})
    assert proc.stdout is not None and proc.stderr is not None
    first = [proc.stdout.readline() for _ in range(3)]
    proc.stdout.close()  # as head does after its three lines
    errors = proc.stderr.read()
    assert proc.wait(timeout=120) == 141, errors
    assert all(json.loads(line)["type"] for line in first)
    assert "Traceback" not in errors and "BrokenPipeError" not in errors, errors


def test_unknown_scenario_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-story"]) == 2
    assert "no scenario named 'no-such-story'" in capsys.readouterr().err


@pytest.mark.parametrize("name", list(catalogue()))
def test_scenario_holds(name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """``--json``: one JSON object per line (stages, steps, checks...), the last one the verdict."""
    monkeypatch.setenv("PUSHSIM_FLEET", "20")  # load-fleet: a small fleet here; the demo default is 100
    code = main([name, "--json"])
    captured = capsys.readouterr()
    records = _json_lines(captured.out)
    verdict = records[-1]
    assert code == 0, captured.out + captured.err
    assert verdict == {**verdict, "type": "verdict", "scenario": name, "ok": True, "error": None}
    checks = [r for r in records if r["type"] == "check"]
    assert checks and all(c["ok"] for c in checks) and verdict["checks"] == len(checks)
    steps = [r for r in records if r["type"] == "step"]
    assert verdict["steps"] == len(steps) and all({"stage", "actor", "text", "at"} <= s.keys() for s in steps)
    assert sum(r["type"] == "verdict" for r in records) == 1


def test_quickstart_narration_is_fast_and_plain_off_a_terminal() -> None:
    """The Quickstart command: readable without a TTY (no colour codes), a verdict, about a second."""
    started = time.monotonic()
    out = _run(["three-stages"])
    elapsed = time.monotonic() - started
    assert out.returncode == 0, out.stdout + out.stderr
    assert "\x1b[" not in out.stdout
    told = " ".join(out.stdout.split())  # a title too long for the terminal's width is wrapped, whole words
    assert "Stage 1: the provider packs the message with the target iPhone's device token and sends it to APNs" \
        in told
    assert "✓ the same apns-id end to end" in out.stdout
    assert "✓ APNs accepted the notification (HTTP 200)" in out.stdout  # once printed as "([200])" (issue 16)
    assert "([" not in out.stdout
    assert "✓ three-stages: the story holds" in out.stdout
    assert elapsed < 15, f"the Quickstart demo took {elapsed:.1f} s"


def test_step_mode_waits_for_enter_between_stages() -> None:
    """``--step`` prompts before each stage after the first and reads a line from stdin for each."""
    out = _run(["three-stages", "--step", "--json"], input="\n" * 10)
    assert out.returncode == 0, out.stdout + out.stderr
    stages = [r for r in _json_lines(out.stdout) if r["type"] == "stage"]
    assert out.stderr.count("(press Enter)") == len(stages) - 1 >= 3
    assert "next: Stage 1: the provider packs the message" in out.stderr


def test_ctrl_c_at_a_step_prompt_ends_the_run_at_once() -> None:
    """A live demo must stop on Ctrl-C while it waits for Enter: exit 130, an ``interrupted`` verdict."""
    proc = subprocess.Popen([sys.executable, "-m", "scenarios", "three-stages", "--step", "--json"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        prompt = ""
        while "(press Enter)" not in prompt:  # the prompt has no newline: read it character by character
            char = proc.stderr.read(1)
            assert char, "the run ended before prompting"
            prompt += char
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)  # stdin stays open: no Enter ever comes
    finally:
        proc.kill()
    assert proc.returncode == 130
    verdict = _json_lines(out)[-1]
    assert verdict["type"] == "verdict" and verdict["ok"] is False and verdict["error"] == "interrupted"


def test_bad_fleet_size_is_a_usage_error() -> None:
    for raw in ("0", "-3", "many"):
        out = _run(["load-fleet", "--json"], env={**os.environ, "PUSHSIM_FLEET": raw})
        assert out.returncode == 2 and not out.stdout, out.stdout + out.stderr
        assert out.stderr == ("python -m scenarios: error: PUSHSIM_FLEET must be a whole number of phones, at least 1, "
                              f"not {raw!r}\n")  # one line, as every tool's usage error (docs/cli.md)


def test_step_mode_counts_pauses_and_stops_pausing_at_end_of_input() -> None:
    stdin = io.StringIO("\n\n")
    story = Story("three-stages", out=io.StringIO(), json_lines=True, pause=True, stdin=stdin)
    assert execute(catalogue()["three-stages"], story) == 0
    assert story.pauses == 2 and story.pause is False


def test_a_story_that_does_not_hold_exits_1_with_the_failed_claim(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A deliberately wrong expectation: the tour claims a GET gets 400 BadPath (Apple: 405, §4.2)."""
    cases = list(bad_requests_tour.CASES)
    cases[1] = dataclasses.replace(cases[1], status=400, reason="BadPath")
    monkeypatch.setattr(bad_requests_tour, "CASES", cases)
    code = main(["bad-requests-tour", "--json"])
    records = _json_lines(capsys.readouterr().out)
    assert code == 1
    verdict = records[-1]
    assert verdict["type"] == "verdict" and verdict["ok"] is False
    assert verdict["error"] == ":method GET instead of POST: 400 BadPath expected, got 405 MethodNotAllowed"
    assert [c["ok"] for c in records if c["type"] == "check"] == [True, False]


def test_a_failing_story_is_narrated_as_failed() -> None:
    async def broken(story: Story) -> None:
        await story.stage("A stage", "provider")
        story.step("something happens")
        story.check(False, "the impossible claim")

    out = io.StringIO()
    story = Story("broken", out=out)
    assert execute(dataclasses.replace(three_stages.SCENARIO, name="broken", run=broken), story) == 1
    text = out.getvalue()
    assert "✗ the impossible claim" in text and "✗ broken: FAILED" in text and "\x1b[" not in text


# The simulator's stage names as the admin API spells them (apns_sim/model/journeys.py): machine words, kept in
# the JSON detail fields, never shown raw to a person reading Chinese (scenarios/journey.py tells them).
RAW_STAGE = re.compile(r"\b(accepted|rejected|stored|replaced|discarded|expired|delivered|acknowledged|refused|"
                       r"handed_to_app|presented|not_presented|not_kept|held)\b")


def raw_stage_names(records: list[dict[str, Any]]) -> list[str]:
    """The human texts (titles, steps, claims, table cells) of a narration that show a raw stage name."""
    texts = _told(records) + [str(cell) for record in records for row in record.get("rows", []) for cell in row]
    return [text for text in texts if RAW_STAGE.search(text)]


def _told(records: list[dict[str, Any]]) -> list[str]:
    """Every human text of a JSON narration: stage titles, steps, claims, table titles and headers."""
    texts: list[str] = []
    for record in records:
        texts += [str(record[key]) for key in ("title", "text", "claim") if record.get(key)]
        texts += [str(column) for column in record.get("columns", [])]
    return texts


def test_english_is_the_default_without_any_language_setting() -> None:
    """docs/i18n.md "Choosing the language": no --lang, no $PUSHSIM_LANG and a C locale: English, no Chinese
    character (the Chinese runs, in tests/integration/test_scenarios_zh.py, ask for Chinese)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PUSHSIM_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES")}
    out = _run(["three-stages", "--json"], env={**env, "LANG": "C"})
    told = _told(_json_lines(out.stdout))
    assert out.returncode == 0 and told, out.stderr
    assert not [t for t in told if any("\u4e00" <= c <= "\u9fff" for c in t)]


def test_three_stages_numbers_its_stages_in_the_tutorials_words(capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/scenarios.md "Teacher mode": Stage 1, 2 and 3 apart, each with its ``number`` in the JSON."""
    monkeypatch.setattr(pushsim_i18n, "_current", pushsim_i18n._current)
    assert main(["three-stages", "--json", "--lang", "zh"]) == 0
    stages = [r for r in _json_lines(capsys.readouterr().out) if r["type"] == "stage"]
    numbered = [(r["number"], r["title"].split("：")[0], r["actor"]) for r in stages if "number" in r]
    assert numbered == [(1, "阶段 1", "provider"), (2, "阶段 2", "apns"), (3, "阶段 3", "app")]


def test_odd_lines_of_issue_16_read_right(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 16's odd lines: no HTTP 200 just before uninstall-410's 410 table; no section number in
    bad-requests-tour's table title; load-fleet's bars, step and table give the same times."""
    monkeypatch.setenv("PUSHSIM_FLEET", "5")
    monkeypatch.setenv("PUSHSIM_LANG", "en")
    monkeypatch.setattr(pushsim_i18n, "_current", pushsim_i18n._current)
    assert main(["uninstall-410", "--json"]) == 0
    records = _json_lines(capsys.readouterr().out)
    table = next(i for i, r in enumerate(records) if r["type"] == "table")
    assert records[table]["rows"][0][1:3] == [410, "Unregistered"]
    assert not [r for r in records[table - 3:table] if "HTTP 200" in json.dumps(r)], records[table - 3:table]

    assert main(["bad-requests-tour", "--json"]) == 0
    titles = [r["title"] for r in _json_lines(capsys.readouterr().out) if r["type"] == "table"]
    assert titles == ["Bad requests and Apple's answers"]

    assert main(["load-fleet", "--json"]) == 0
    records = _json_lines(capsys.readouterr().out)
    bars = {r["description"].split(" (")[0]: r["seconds"] for r in records if r["type"] == "progress"}
    timings = next(r["timings"] for r in records if r["type"] == "step" and "timings" in r)
    assert (bars["identities"], bars["connecting"]) == (timings["identities_s"], timings["connect_s"])
    row = dict(zip(*(next((r["columns"], r["rows"][0]) for r in records if r["type"] == "table")), strict=True))
    assert row["connections and tokens"] == f"{timings['connect_s']:.2f}s"
    assert row["all acknowledged, from the first send"] == f"{bars['pushes acknowledged']:.2f}s"


def test_no_apns_id_wraps_at_80_columns() -> None:
    """Issue 16: provider-retries wrapped apns-ids; at 80 columns every UUID it prints is whole on a line."""
    out = _run(["provider-retries"], env={**os.environ, "COLUMNS": "80", "PUSHSIM_LANG": "en"})
    assert out.returncode == 0, out.stdout + out.stderr
    starts = re.findall(r"\b[0-9a-f]{8}-[0-9a-f]{4}", out.stdout)
    whole = re.findall(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", out.stdout)
    assert len(whole) >= 4 and len(starts) == len(whole)
    assert max(len(line) for line in out.stdout.splitlines()) <= 80


def test_provider_retries_counts_its_failures_and_times_the_arrivals(capsys: pytest.CaptureFixture[str]) -> None:
    """provider-retries (docs/scenarios.md "Narration"): "1 injected failure", not "failure(s)"; the fault
    rules as JSON; the provider's client, not ``send()``; and the arrivals' bar times the burst (issue 16 saw
    ``notifications received: 30/30 in 0.00s``, the time it took to read a queue already full)."""
    assert main(["provider-retries", "--json", "--lang", "en"]) == 0
    records = _json_lines(capsys.readouterr().out)
    claims = [r["claim"] for r in records if r["type"] == "check"]
    texts = [r["text"] for r in records if r["type"] == "step"]
    assert "after 1 injected failure the retry is accepted" in claims
    assert "after 2 injected failures the retry is accepted" in claims
    assert not [c for c in claims if "(s)" in c]
    rules = [t for t in texts if t.startswith("POST /_sim/faults ")]
    assert len(rules) == 5 and all(json.loads(t.split(" ", 2)[2].split("}")[0] + "}") for t in rules)
    assert any(t.startswith("the provider's client got 200 for apns-id ") for t in texts)
    bars = {r["description"]: r["seconds"] for r in records if r["type"] == "progress"}
    assert bars["notifications received"] >= bars["pushes accepted"] > 0
