"""Scripted failures for tests: fault rules (what to break, when) and the seeded plan that matches them
against each push. Core: no I/O.

The face keeps the names of the old ``apns_sim.faults`` module importable from here."""

from __future__ import annotations

from apns_sim.faults.plan import FaultPlan, FaultStatus, Injected, Listener

__all__ = ["FaultPlan", "FaultStatus", "Injected", "Listener"]
