"""Every bound on what a client of ``apns-provider serve`` can make the service hold (docs/limits.md §6).

The provider depends on nothing of the simulator's (docs/architecture.md), so its bounds live here rather
than in ``apns_sim/limits.py``; docs/limits.md §6 gives each figure's reason.
"""

# The largest request body the HTTP API reads (aiohttp's default, stated so it is a decision).
MAX_BODY_BYTES = 1024 * 1024
# Explicit device tokens in one POST /v1/notifications.
MAX_TOKENS_PER_REQUEST = 10_000
# user_id, bundle_id and Idempotency-Key: identifiers, not documents.
MAX_ID_CHARS = 255
# apns-expiration is a UNIX time in seconds; APNs' header is 32 bits wide in practice (year 2106).
MAX_EXPIRATION = 2**32 - 1
# JSON nesting the parser is allowed before a request is refused (Python's recursion limit is ~1000).
MAX_JSON_DEPTH = 64
# How long an Idempotency-Key is remembered (seconds); a retry after that counts as a new request.
IDEMPOTENCY_KEY_TTL = 24 * 3600
