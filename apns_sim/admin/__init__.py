"""The ``/_sim/`` admin API and the live dashboard (an aiohttp adapter): the notification log, faults, clock,
reset, the portal and phone views, the push console and its advice text.

The face keeps ``from apns_sim.admin import create_admin_app`` (and the old module's constants) working; the
route handlers stay in ``admin.app``."""

from __future__ import annotations

from apns_sim.admin.app import (
    CLOCK_KEYS,
    MAX_EPOCH,
    MAX_WAIT,
    READERS,
    RESET_HOOKS,
    SSE_HEARTBEAT,
    STATE,
    create_admin_app,
)

__all__ = ["CLOCK_KEYS", "MAX_EPOCH", "MAX_WAIT", "READERS", "RESET_HOOKS", "SSE_HEARTBEAT", "STATE",
           "create_admin_app"]
