"""The README's Quickstart is what CI runs: a newcomer's test run and CI's are the same command."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quickstart", 1)[1]
    block = re.search(r"```\n(.*?)```", section, re.S)
    assert block, "the Quickstart has no code block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quickstart_has_exactly_two_commands() -> None:
    """One installs and runs the demo; the other installs what the tests need and runs them."""
    commands = _quickstart_commands()
    assert len(commands) == 2, commands
    assert "scenarios" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    """.ci/run ends with the README's second command, so a green CI means the README's command is green."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    last = [line for line in ci.splitlines() if line.strip() and not line.startswith("#")][-1]
    assert last == _quickstart_commands()[1]


def test_the_setup_script_is_executable_and_installs_the_test_extras() -> None:
    """scripts/test-setup is what both call: it must run from a clone and install the test extras."""
    script = ROOT / "scripts" / "test-setup"
    assert os.access(script, os.X_OK)
    assert "pip install -q '.[test]'" in script.read_text(encoding="utf-8")
