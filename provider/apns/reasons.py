"""Apple's rejection reasons, as the provider sees them: wire string, HTTP status, and whether to retry.

This is the provider's own copy of Apple's table (docs/apns-protocol.md §4.3). It is deliberately not
imported from ``apns_sim``: if both sides shared one table they would agree on the same bug; a contract test
compares the two instead (docs/architecture.md, "Packages and who may import whom").

The ``retryable`` flag follows Apple's guidance (§4.4): retry ``TooManyRequests`` (429) and the 5xx answers
with back-off; never retry ``BadDeviceToken``, ``DeviceTokenNotForTopic``, ``Forbidden``, ``ExpiredToken``,
``Unregistered``, ``PayloadTooLarge`` or any other request fault, because sending the same request again gets
the same answer. Unknown reason strings (Apple adds reasons over time) are accepted: ``lookup`` returns
``None`` and ``is_retryable`` falls back to the HTTP status.
"""

from __future__ import annotations

import enum


class Reason(enum.Enum):
    """One Apple reason. ``value`` is the wire string; ``status`` and ``retryable`` ride along."""

    status: int
    retryable: bool

    def __new__(cls, wire: str, status: int, retryable: bool = False) -> Reason:
        member = object.__new__(cls)
        member._value_ = wire
        member.status = status
        member.retryable = retryable
        return member

    @property
    def wire(self) -> str:
        """The exact string Apple puts in ``{"reason": ...}``."""
        return str(self.value)

    # 400 (§4.3)
    BAD_COLLAPSE_ID = ("BadCollapseId", 400)
    BAD_DEVICE_TOKEN = ("BadDeviceToken", 400)
    BAD_EXPIRATION_DATE = ("BadExpirationDate", 400)
    BAD_MESSAGE_ID = ("BadMessageId", 400)
    BAD_PRIORITY = ("BadPriority", 400)
    BAD_TOPIC = ("BadTopic", 400)
    DEVICE_TOKEN_NOT_FOR_TOPIC = ("DeviceTokenNotForTopic", 400)
    DUPLICATE_HEADERS = ("DuplicateHeaders", 400)
    # IdleTimeout is about the connection, not the request: a fresh connection fixes it (§4.3, §7).
    IDLE_TIMEOUT = ("IdleTimeout", 400, True)
    INVALID_PUSH_TYPE = ("InvalidPushType", 400)
    MISSING_DEVICE_TOKEN = ("MissingDeviceToken", 400)
    MISSING_TOPIC = ("MissingTopic", 400)
    PAYLOAD_EMPTY = ("PayloadEmpty", 400)
    TOPIC_DISALLOWED = ("TopicDisallowed", 400)
    # 403
    BAD_CERTIFICATE = ("BadCertificate", 403)
    BAD_CERTIFICATE_ENVIRONMENT = ("BadCertificateEnvironment", 403)
    EXPIRED_PROVIDER_TOKEN = ("ExpiredProviderToken", 403)
    FORBIDDEN = ("Forbidden", 403)
    INVALID_PROVIDER_TOKEN = ("InvalidProviderToken", 403)
    MISSING_PROVIDER_TOKEN = ("MissingProviderToken", 403)
    UNRELATED_KEY_ID_IN_TOKEN = ("UnrelatedKeyIdInToken", 403)
    BAD_ENVIRONMENT_KEY_ID_IN_TOKEN = ("BadEnvironmentKeyIdInToken", 403)
    # 404 / 405
    BAD_PATH = ("BadPath", 404)
    METHOD_NOT_ALLOWED = ("MethodNotAllowed", 405)
    # 410: the token is gone; the body carries ``timestamp`` for Unregistered.
    EXPIRED_TOKEN = ("ExpiredToken", 410)
    UNREGISTERED = ("Unregistered", 410)
    # 413
    PAYLOAD_TOO_LARGE = ("PayloadTooLarge", 413)
    # 429: a new provider token more than once per 20 min on one connection is a provider bug, not load.
    TOO_MANY_PROVIDER_TOKEN_UPDATES = ("TooManyProviderTokenUpdates", 429)
    TOO_MANY_REQUESTS = ("TooManyRequests", 429, True)
    # 5xx
    INTERNAL_SERVER_ERROR = ("InternalServerError", 500, True)
    SERVICE_UNAVAILABLE = ("ServiceUnavailable", 503, True)
    SHUTDOWN = ("Shutdown", 503, True)


# Spellings seen in the wild for the same reason (§4.3: APNSwift uses ``BadEnvironmentKeyInToken``; Apple's
# table says ``BadEnvironmentKeyIdInToken``). Broadcast answers spell 503 "Service Unavailable" (§4.3).
_ALIASES: dict[str, Reason] = {
    "BadEnvironmentKeyInToken": Reason.BAD_ENVIRONMENT_KEY_ID_IN_TOKEN,
    "Service Unavailable": Reason.SERVICE_UNAVAILABLE,
}

_BY_WIRE: dict[str, Reason] = {r.wire: r for r in Reason}

# Statuses worth a second try when the reason string is unknown (§4.4).
_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})

# 410 reasons mean "stop sending to this token" (§4.3, §8).
TOKEN_GONE = frozenset({Reason.UNREGISTERED, Reason.EXPIRED_TOKEN})


def lookup(wire: str | None) -> Reason | None:
    """The ``Reason`` for a wire string, or ``None`` for a missing or unknown one (never raises)."""
    if not wire:
        return None
    return _BY_WIRE.get(wire) or _ALIASES.get(wire)


def is_retryable(status: int, wire: str | None) -> bool:
    """Whether sending the same request again may succeed (§4.4).

    A known reason decides by itself; an unknown one decides by its HTTP status (429 and 5xx).
    """
    if status == 200:
        return False
    reason = lookup(wire)
    if reason is not None:
        return reason.retryable
    return status in _RETRYABLE_STATUSES
