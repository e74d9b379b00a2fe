"""What one client can make the simulator hold or do: every bound in one place (docs/limits.md).

Each figure is a module constant so a reader finds them all here, and docs/limits.md gives the same figures with
the reason for each. Every limit has a test that tries to exceed it over real sockets.
"""

from __future__ import annotations

# --- Provider API (HTTP/2 over TLS) ------------------------------------------------------------------------

# --- Device gateway (courier over TLS) and activation -----------------------------------------------------

# --- Admin API and dashboard --------------------------------------------------------------------------------

ADMIN_MAX_BODY = 256 * 1024  # bytes in one admin request body (a fault list, a console push with its payload)
ADMIN_JSON_DEPTH = 100  # nesting of JSON the admin server parses from a body or renders from a payload
ADMIN_MAX_EVENT_STREAMS = 64  # open GET /_sim/events streams, all clients together
ADMIN_MAX_WAITERS = 256  # open GET /_sim/notifications/wait long-polls, all clients together
ADMIN_MIN_TOKEN = 16  # characters an --admin-token must have at least

# --- Data directory and stores ------------------------------------------------------------------------------
