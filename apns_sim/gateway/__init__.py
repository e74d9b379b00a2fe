"""Stage 2's wire to the phones: the courier gateway. ``session`` is the sans-IO courier protocol of one
phone connection; ``listener`` and ``tls_edge`` are the asyncio/TLS adapter; ``activation`` issues device
certificates (the role of Apple's activation server).

The face keeps the names of the old ``apns_sim.gateway`` module importable from here."""

from __future__ import annotations

from apns_sim.gateway.listener import (
    ALPN,
    HANDSHAKE_TIMEOUT,
    MAX_MESSAGE_SIZE,
    PROOF_MAX_SKEW_MS,
    CourierConnection,
    DeviceGateway,
)
from apns_sim.gateway.session import environment_for_server_name

__all__ = ["ALPN", "HANDSHAKE_TIMEOUT", "MAX_MESSAGE_SIZE", "PROOF_MAX_SKEW_MS", "CourierConnection", "DeviceGateway",
           "environment_for_server_name"]
