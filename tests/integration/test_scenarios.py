"""Every scenario runs in the test suite (DESIGN.md contract 6): the stories must hold."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from scenarios.runner import catalogue


def test_listing_names_every_scenario() -> None:
    out = subprocess.run([sys.executable, "-m", "scenarios"], capture_output=True, text=True, timeout=60, check=True)
    listed = [line.split()[0] for line in out.stdout.splitlines() if line.strip()]
    assert listed == list(catalogue())
    assert "three-stages" in listed


def test_unknown_scenario_is_a_clear_error() -> None:
    out = subprocess.run([sys.executable, "-m", "scenarios", "no-such-story"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2 and "no scenario named" in out.stderr


@pytest.mark.parametrize("name", list(catalogue()))
def test_scenario_holds(name: str) -> None:
    """Run as a user would (``python -m scenarios NAME --json``); each scenario asserts its own outcome."""
    out = subprocess.run([sys.executable, "-m", "scenarios", name, "--json"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(out.stdout)
    assert result["ok"] is True and result["scenario"] == name
    assert result["checks"] and all(c["ok"] for c in result["checks"])
