"""What one client can make the simulator hold or do: every bound in one place (docs/limits.md).

Each figure is a module constant so a reader finds them all here, and docs/limits.md gives the same figures with
the reason for each. Every limit has a test that tries to exceed it over real sockets.
"""

from __future__ import annotations

# --- Provider API (HTTP/2 over TLS) ------------------------------------------------------------------------

# --- Device gateway (courier over TLS) and activation -----------------------------------------------------

# --- Admin API and dashboard --------------------------------------------------------------------------------

# --- Data directory and stores ------------------------------------------------------------------------------

# --- Legacy binary interface and feedback service (docs/limits.md §5) ---------------------------------------

# The largest device token a binary notification may carry, in bytes (Apple's item 1 limit).
LEGACY_MAX_TOKEN_BYTES = 100
# The payload limits of the era: 256 bytes before iOS 8, 2 KB after; the knob takes one of these.
LEGACY_PAYLOAD_LIMITS = (256, 2048)
LEGACY_DEFAULT_PAYLOAD_BYTES = 2048
# The longest command 2 frame worth buffering: every item at its largest, with its 3-byte item header.
LEGACY_MAX_FRAME_BYTES = (3 + LEGACY_MAX_TOKEN_BYTES) + (3 + max(LEGACY_PAYLOAD_LIMITS)) + (3 + 4) * 2 + (3 + 1)
# Open binary-gateway or feedback connections per listener; one more is closed at once.
LEGACY_MAX_CONNECTIONS = 1000
# Feedback tuples sent on one connection; the rest wait for the next read.
LEGACY_FEEDBACK_MAX_TUPLES = 10_000
