"""One simulated iPhone: its apps, its courier side, app-status reports and token-change events.

The face keeps ``from device_sim.phone import Phone`` (and the old module's other names) working."""

from __future__ import annotations

from device_sim.phone.phone import (
    OFFLINE_MODES,
    TOKEN_ERROR_DOMAIN,
    Listener,
    Phone,
    check_bundle_id,
    courier_ssl_context,
    entitlement_for,
)

__all__ = ["OFFLINE_MODES", "TOKEN_ERROR_DOMAIN", "Listener", "Phone", "check_bundle_id", "courier_ssl_context",
           "entitlement_for"]
