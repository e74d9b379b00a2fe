"""Teacher mode (docs/scenarios.md "Teacher mode"): ``--step`` holds the simulator at each stage, so the
dashboard's data (the admin API's ``/_sim/notifications``) shows exactly the stage the narration has reached;
at the end the simulator stays up until Ctrl-C. The real command, in a subprocess, over real sockets."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.request
from typing import IO, Any

import pytest

PROMPT_END = "(press Enter) "
LINGER_END = "press Ctrl-C to stop.\n"


def _pump_lines(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def _pump_prompts(stream: IO[str], into: queue.Queue[str]) -> None:
    """The prompts have no newline: read character by character, one queue item per prompt."""
    text = ""
    while char := stream.read(1):
        text += char
        if text.endswith(PROMPT_END) or text.endswith(LINGER_END):
            into.put(text)
            text = ""
    into.put(text)  # what is left at exit (a traceback, say)


def _start(argv: list[str], stdin: int) -> tuple[subprocess.Popen[str], queue.Queue[str], queue.Queue[str]]:
    """``python -m scenarios ARGV --json`` in English; its JSON lines and its prompts, each in a queue."""
    proc = subprocess.Popen([sys.executable, "-m", "scenarios", *argv, "--json"], stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PUSHSIM_LANG": "en"})
    assert proc.stdout is not None and proc.stderr is not None
    lines: queue.Queue[str] = queue.Queue()
    prompts: queue.Queue[str] = queue.Queue()
    for target, stream, into in ((_pump_lines, proc.stdout, lines), (_pump_prompts, proc.stderr, prompts)):
        threading.Thread(target=target, args=(stream, into), daemon=True).start()
    return proc, lines, prompts


def _next_record(lines: queue.Queue[str], **match: Any) -> dict[str, Any]:
    """The next JSON line that has every field of ``match`` (``...=None``: has the field)."""
    while True:
        record = json.loads(lines.get(timeout=30))
        if all(key in record and (value is None or record[key] == value) for key, value in match.items()):
            return record


def _journey(admin: str, apns_id: str) -> list[str]:
    with urllib.request.urlopen(f"{admin}/_sim/notifications/{apns_id}", timeout=10) as answer:
        return [stage["stage"] for stage in json.load(answer)["journey"]]


@pytest.mark.parametrize(("name", "stage_2", "stage_3", "at_stage_3"), [
    ("three-stages", "next: Stage 2:", "next: Stage 3:", {"delivered", "acknowledged"}),
    ("tutorial-path", "next: Step 5, Stage 2:", "next: Step 5, Stage 3:", {"delivered"}),
])
def test_step_mode_holds_each_stage_and_keeps_the_dashboard_up_until_ctrl_c(
        name: str, stage_2: str, stage_3: str, at_stage_3: set[str]) -> None:
    """docs/scenarios.md "Teacher mode": at the stage 2 prompt the push is accepted and not delivered; at the
    stage 3 prompt delivered, not yet handed to the app nor presented; after the verdict the admin API
    still answers; SIGINT then ends the run with 0, as the story held. The Quickstart demo and the
    tutorial's path (its steps 4 and 5 are the three stages) hold alike."""
    # A presenter at a terminal: stdin is a pseudo-terminal, as in a real demo (the end waits only then).
    keyboard, terminal = os.openpty()
    proc, lines, prompts = _start([name, "--step"], terminal)
    os.close(terminal)
    try:
        admin = _next_record(lines, type="step", endpoints=None)["endpoints"]["admin"]
        apns_id = ""
        seen: list[str] = []
        while True:
            prompt = prompts.get(timeout=30)
            if prompt.endswith(LINGER_END):
                break
            assert prompt.endswith(PROMPT_END), prompt
            if prompt.startswith(stage_2):
                apns_id = _next_record(lines, type="step", apns_id=None)["apns_id"]
                journey = _journey(admin, apns_id)
                assert "accepted" in journey and "delivered" not in journey, journey
                seen.append("stage 2")
            elif prompt.startswith(stage_3):
                journey = _journey(admin, apns_id)
                assert at_stage_3 <= set(journey), journey
                assert "handed_to_app" not in journey and "presented" not in journey, journey
                seen.append("stage 3")
            os.write(keyboard, b"\n")
        assert seen == ["stage 2", "stage 3"]
        assert "http://127.0.0.1:" in prompt and admin in prompt
        verdict = _next_record(lines, type="verdict")
        assert verdict["ok"] is True
        assert "presented" in _journey(admin, apns_id)  # the simulator still answers after the verdict
        with urllib.request.urlopen(f"{admin}/_sim/notifications", timeout=10) as answer:
            assert answer.status == 200
        assert proc.poll() is None, "the run ended without waiting for Ctrl-C"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
        proc.wait()
        os.close(keyboard)


def test_step_with_endless_piped_input_finishes_without_lingering() -> None:
    """docs/scenarios.md "Teacher mode": ``yes '' | python -m scenarios NAME --step`` finishes (exit 0): input
    from a pipe is nobody at the keyboard, so the end does not wait for Ctrl-C (nor spin reading lines)."""
    run = subprocess.run(f"yes '' | {sys.executable} -m scenarios three-stages --step --json", shell=True,
                         capture_output=True, text=True, timeout=120, env={**os.environ, "PUSHSIM_LANG": "en"})
    assert run.returncode == 0, run.stderr[-2000:]
    verdicts = [json.loads(line) for line in run.stdout.splitlines() if '"verdict"' in line]
    assert [v["ok"] for v in verdicts] == [True]
    assert LINGER_END not in run.stderr


def test_hold_keeps_the_simulator_up_after_the_verdict_until_sigterm() -> None:
    """docs/scenarios.md "Teacher mode": ``--hold`` without ``--step``; SIGTERM is a clean exit (0)."""
    proc, lines, prompts = _start(["uninstall-410", "--hold"], subprocess.DEVNULL)
    try:
        admin = _next_record(lines, type="step", endpoints=None)["endpoints"]["admin"]
        assert _next_record(lines, type="verdict")["ok"] is True
        assert prompts.get(timeout=30).endswith(LINGER_END)  # stdin at its end does not stop --hold
        with urllib.request.urlopen(f"{admin}/_sim/notifications", timeout=10) as answer:
            assert answer.status == 200 and json.load(answer)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert sum(json.loads(line)["type"] == "verdict" for line in lines.queue) == 0  # the verdict once
    finally:
        proc.kill()
        proc.wait()
