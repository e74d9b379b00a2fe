"""What one client can make the simulator hold or do: every bound in one place (docs/limits.md).

Each figure is a module constant so a reader finds them all here, and docs/limits.md gives the same figures with
the reason for each. Every limit has a test that tries to exceed it over real sockets.
"""

from __future__ import annotations

# --- Provider API (HTTP/2 over TLS) ------------------------------------------------------------------------

# --- Device gateway (courier over TLS) and activation -----------------------------------------------------
# docs/limits.md §2 gives the reason for each figure.

# Seconds from TCP accept to a Connect whose proof checks out (TLS handshake included); a phone does both at once.
COURIER_CONNECT_DEADLINE = 30.0
# Bytes a connection may send before its Connect is accepted: a Connect is about 1.5 KiB (certificate, nonce,
# signature), so this leaves room for a few unmodelled frames a newer phone may send first, and no more.
COURIER_PREAUTH_BYTES = 16 * 1024
# Bytes of frames waiting for one phone (queued this loop turn plus the socket's unsent buffer): a phone that stops
# reading is dropped rather than grown without end; delivery stores what was in flight.
COURIER_MAX_OUTBOUND_BYTES = 4 * 1024 * 1024
# Pushes sent to one connection and not yet acknowledged: a phone that reads but never acks is dropped.
COURIER_MAX_IN_FLIGHT = 16_384
# Activation requests: a body of at most this many bytes (a CSR and a name are about 1 KiB) ...
ACTIVATION_MAX_BODY = 64 * 1024
# ... and, per client address, a token bucket: this many per second on average (SimConfig.activation_rate,
# 0 = no limit) with bursts of up to ACTIVATION_BURST (SimConfig.activation_burst); 429 with Retry-After beyond.
ACTIVATION_RATE = 100.0
ACTIVATION_BURST = 1000
# Client addresses whose bucket is remembered; the one seen longest ago is forgotten first.
ACTIVATION_TRACKED_ADDRESSES = 4096

# --- Admin API and dashboard --------------------------------------------------------------------------------

ADMIN_MAX_BODY = 256 * 1024  # bytes in one admin request body (a fault list, a console push with its payload)
ADMIN_JSON_DEPTH = 100  # nesting of JSON the admin server parses from a body or renders from a payload
ADMIN_MAX_EVENT_STREAMS = 64  # open GET /_sim/events streams, all clients together
ADMIN_MAX_WAITERS = 256  # open GET /_sim/notifications/wait long-polls, all clients together
ADMIN_MIN_TOKEN = 16  # characters an --admin-token must have at least

# --- Data directory and stores ------------------------------------------------------------------------------

# Pushes written to one phone (per environment) but not acknowledged when its connection closed, kept in full
# for its next connection; more than this go to Apple's one-per-app storage slot (docs/limits.md §4).
MAX_UNACKED_KEPT = 256
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
