"""Thousands of simulated phones in one process, with identities made in parallel.

The face keeps ``from device_sim.fleet import Fleet`` working."""

from __future__ import annotations

from device_sim.fleet.fleet import Fleet, FleetPhone, FleetProgress, ProgressCallback, PushCallback

__all__ = ["Fleet", "FleetPhone", "FleetProgress", "ProgressCallback", "PushCallback"]
