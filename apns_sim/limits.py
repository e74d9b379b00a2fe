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

# --- Admin API and dashboard --------------------------------------------------------------------------------

# --- Data directory and stores ------------------------------------------------------------------------------
