"""pytest plugin: a running APNs simulator and simulated iPhones as fixtures (docs/architecture.md contract 7).

Installed with the package (entry point ``pytest11`` named ``pushsim``), so a project's tests only ask for
the fixtures; from a source checkout, load it with ``-p pushsim.pytest_plugin``. The fixtures are async
(pytest-asyncio): mark tests ``@pytest.mark.asyncio`` or set ``asyncio_mode = auto``.

- ``apns_simulator``: a :class:`pushsim.RunningSimulator` per test, its state in the test's ``tmp_path``:
  ``.sandbox_url``, ``.production_url``, ``.admin_url``, ``.ca_file``, ``.endpoints``, ``.state``,
  ``.clock``; ``create_app_id``, ``issue_certificate``, ``create_auth_key``; ``notifications``,
  ``wait_for_notification``, ``stages``, ``export_apns``, ``reset``.
- ``iphone_factory``: ``phone = await iphone_factory(name=...)`` (a :class:`device_sim.Phone`); every
  phone is closed after the test, last first, before the simulator stops.
- ``apns_simulator_config``: the :class:`apns_sim.state.SimConfig` the simulator starts with; override it
  in a ``conftest.py`` to turn the knobs (an unregister delay, a rate limit, ...).
- ``apns_admin_token``: the admin API's bearer token (``--pushsim-admin-token`` or ``$PUSHSIM_ADMIN_TOKEN``;
  None: no token). The simulator requires it, and ``apns_simulator.admin_headers`` carries it for tests that
  call ``/_sim/`` over HTTP (docs/admin-api.md §1.3).

Nothing heavy is imported until a test asks for a fixture, so having pushsim installed costs other test
runs nothing.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from apns_sim.state import SimConfig
    from pushsim.harness import RunningSimulator
    from pushsim.phones import IPhoneFactory

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - without pytest-asyncio, an async plugin such as anyio's may run them
    _async_fixture: Callable[..., Any] = pytest.fixture
else:
    _async_fixture = pytest_asyncio.fixture


TOKEN_ENV = "PUSHSIM_ADMIN_TOKEN"
TOKEN_OPTION = "--pushsim-admin-token"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(TOKEN_OPTION, default=None, metavar="TOKEN",
                     help=f"the simulator's admin API token (default ${TOKEN_ENV}; unset: no token)")


@pytest.fixture
def apns_admin_token(request: pytest.FixtureRequest) -> str | None:
    """The admin API token the simulator requires, from the option or the environment (None: none)."""
    return request.config.getoption(TOKEN_OPTION) or os.environ.get(TOKEN_ENV) or None


@pytest.fixture
def apns_simulator_config() -> SimConfig:
    """The simulator's knobs; override this fixture to change them for a module or a whole suite."""
    from apns_sim.state import SimConfig

    return SimConfig()


@_async_fixture
async def apns_simulator(tmp_path: Path, apns_simulator_config: SimConfig,
                         apns_admin_token: str | None) -> AsyncIterator[RunningSimulator]:
    """A running simulator for one test: provider API (sandbox, production), device gateway, admin API."""
    from pushsim.harness import RunningSimulator

    async with RunningSimulator.start(tmp_path / "pushsim", config=apns_simulator_config,
                                      admin_token=apns_admin_token) as simulator:
        yield simulator


@_async_fixture
async def iphone_factory(apns_simulator: RunningSimulator, tmp_path: Path) -> AsyncIterator[IPhoneFactory]:
    """``await iphone_factory(name="Alice's iPhone")``: simulated iPhones, closed in reverse order."""
    from pushsim.phones import IPhoneFactory

    factory = IPhoneFactory(apns_simulator.endpoints, tmp_path / "iphones")
    try:
        yield factory
    finally:
        await factory.close()
