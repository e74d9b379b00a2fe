"""pushsim for other projects' tests: a running APNs simulator and simulated iPhones (docs/architecture.md contract 7).

With pytest, installing the package is enough: its ``pytest11`` entry point loads
:mod:`pushsim.pytest_plugin`, which offers the ``apns_simulator`` and ``iphone_factory`` fixtures. Without
pytest, the same helpers work in any asyncio program::

    async with RunningSimulator.start() as sim, IPhoneFactory(sim.endpoints) as iphones:
        phone = await iphones(name="Test iPhone")

The names below are imported on first use, so loading the pytest plugin costs a project nothing until a
test asks for a fixture.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apns_sim.delivery.store_and_forward import DeliveryConfig
    from apns_sim.state import SimConfig
    from pushsim.harness import PASSWORD, TEAM_ID, AuthKey, CertificateBundle, RunningSimulator
    from pushsim.phones import IPhoneFactory

_EXPORTS = {
    "AuthKey": "pushsim.harness",
    "CertificateBundle": "pushsim.harness",
    "PASSWORD": "pushsim.harness",
    "RunningSimulator": "pushsim.harness",
    "TEAM_ID": "pushsim.harness",
    "IPhoneFactory": "pushsim.phones",
    "SimConfig": "apns_sim.state",
    "DeliveryConfig": "apns_sim.delivery.store_and_forward",
}

__all__ = ["PASSWORD", "TEAM_ID", "AuthKey", "CertificateBundle", "DeliveryConfig", "IPhoneFactory",
           "RunningSimulator", "SimConfig"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pushsim' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
