"""apns_sim: a simulated Apple Push Notification service (not Apple).

The names a user needs, imported on first use (PEP 562)::

    from apns_sim import SimConfig, Simulator

    async with Simulator(config=SimConfig()) as sim:   # 127.0.0.1, port 0 everywhere
        print(sim.endpoints["sandbox"])

The face is lazy on purpose: the simulated phones import the courier codec as ``from apns_sim import
courier``, which runs this file first, and a phone process must not load the whole simulator. The package's
layout and layers are described in docs/architecture.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apns_sim.delivery.store_and_forward import DeliveryConfig
    from apns_sim.errors import SimError
    from apns_sim.model.clock import Clock
    from apns_sim.portal.service import Portal, PortalError
    from apns_sim.simulator import Simulator
    from apns_sim.state import SimConfig

_EXPORTS = {
    "Clock": "apns_sim.model.clock",
    "DeliveryConfig": "apns_sim.delivery.store_and_forward",
    "Portal": "apns_sim.portal.service",
    "PortalError": "apns_sim.portal.service",
    "SimConfig": "apns_sim.state",
    "SimError": "apns_sim.errors",
    "Simulator": "apns_sim.simulator",
}

__all__ = ["Clock", "DeliveryConfig", "Portal", "PortalError", "SimConfig", "SimError", "Simulator"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'apns_sim' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
