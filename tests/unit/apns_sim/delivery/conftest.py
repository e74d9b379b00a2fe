"""Fixtures of the delivery tests: a frozen clock and a registry with one activated phone, "dev-1"."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from apns_sim.model.clock import Clock
from apns_sim.model.registry import Registry

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    c = Clock()
    c.freeze(NOW.timestamp())
    return c


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    reg = Registry(tmp_path / "db.sqlite3")
    reg.activate_device("dev-1", "iPhone", NOW)
    yield reg
    reg.close()
