"""What one client can make the simulator hold or do: every bound in one place (docs/limits.md).

Each figure is a module constant so a reader finds them all here, and docs/limits.md gives the same figures with
the reason for each. Every limit has a test that tries to exceed it over real sockets.
"""

from __future__ import annotations

# --- Provider API (HTTP/2 over TLS) ------------------------------------------------------------------------
# docs/limits.md §1. The stream bound itself is the MAX_CONCURRENT_STREAMS a connection advertises (1 before
# valid credentials, SimConfig.max_concurrent_streams after): streams whose answer waits for flow-control
# window, or for a delay fault, still count against it.

# Streams refused in a row (none admitted in between) before GOAWAY ENHANCE_YOUR_CALM (§1.1).
PROVIDER_REFUSED_STREAMS = 100
# Request body bytes kept per stream; the rest is only counted (413 PayloadTooLarge anyway) (§1.2).
PROVIDER_BODY_KEPT = 8 * 1024
# Request body bytes parked in unfinished streams of one connection; beyond, that stream is refused (§1.2).
PROVIDER_PARKED_BYTES = 2 * 1024 * 1024
# Unsent output per connection above which the connection stops reading the peer (§1.3).
PROVIDER_OUTBOUND_HIGH = 256 * 1024
# Seconds a peer may leave that output unread before the connection is cut (§1.3).
PROVIDER_WRITE_STALL = 10.0
# Seconds a connection may stay open before valid credentials (client certificate or provider token) (§1.4).
PROVIDER_UNAUTHENTICATED_IDLE = 10.0
# Seconds for the TLS handshake (§1.4).
PROVIDER_TLS_HANDSHAKE = 10.0
# Seconds a connection gets to finish writing after we closed it, before it is cut (§1.3).
PROVIDER_CLOSE_GRACE = 2.0

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
