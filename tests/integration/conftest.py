"""Fixtures shared by the integration tests: a running simulator, phones on it, and a throwaway trustme CA
for tests that stand up a plain TLS server of their own.

Everything here listens on 127.0.0.1, port 0, over real TLS with verification on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme

from pushsim.harness import RunningSimulator
from pushsim.phones import IPhoneFactory


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[RunningSimulator]:
    """A whole simulator (provider API, gateway, admin) on its own data dir under ``tmp_path/sim``."""
    async with RunningSimulator.start(tmp_path / "sim") as running:
        yield running


@pytest.fixture
async def iphones(sim: RunningSimulator, tmp_path: Path) -> AsyncIterator[IPhoneFactory]:
    """Makes simulated iPhones on ``sim``; each is closed at the end of the test, newest first."""
    async with IPhoneFactory(sim.endpoints, tmp_path / "iphones") as factory:
        yield factory


@pytest.fixture
def ca() -> trustme.CA:
    """A CA for fake servers that are not the simulator (the simulator has its own CA)."""
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    """``ca`` as the PEM file a client is told to trust."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path
