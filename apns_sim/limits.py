"""What one client can make the simulator hold or do: every bound in one place (docs/limits.md).

Each figure is a module constant so a reader finds them all here, and docs/limits.md gives the same figures with
the reason for each. Every limit has a test that tries to exceed it over real sockets.
"""

from __future__ import annotations

# --- Provider API (HTTP/2 over TLS) ------------------------------------------------------------------------

# --- Device gateway (courier over TLS) and activation -----------------------------------------------------

# --- Admin API and dashboard --------------------------------------------------------------------------------

# --- Data directory and stores ------------------------------------------------------------------------------

# Pushes written to one phone (per environment) but not acknowledged when its connection closed, kept in full
# for its next connection; more than this go to Apple's one-per-app storage slot (docs/limits.md §4).
MAX_UNACKED_KEPT = 256
