"""One simulated iPhone: its apps, its courier side, app-status reports and token-change events.

The face keeps ``from device_sim.phone import Phone`` working."""

from __future__ import annotations

from device_sim.phone.phone import Phone

__all__ = ["Phone"]
