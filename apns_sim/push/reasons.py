"""Apple's rejection reasons for device pushes: the one table pairing each wire string with its HTTP status.

Transcribed from docs/apns-protocol.md §4.3 (A-RESP), in Apple's spelling. Everything the provider API
answers takes its status from here, never from a literal elsewhere (STYLE habit 2; the pushy mock server's
``RejectionReason``). The provider keeps its own copy on purpose; a contract test checks the two agree.
"""

from __future__ import annotations

import json
from enum import Enum


class Reason(Enum):
    """One reason: ``.wire`` is the exact ``{"reason": ...}`` string, ``.status`` the HTTP status."""

    wire: str
    status: int
    body: bytes  # the JSON error body, ready to send: {"reason":"..."}

    def __init__(self, wire: str, status: int) -> None:
        self.wire = wire
        self.status = status
        self.body = json.dumps({"reason": wire}, separators=(",", ":")).encode()

    @classmethod
    def from_wire(cls, wire: str) -> Reason:
        """The member for a wire string; ValueError if Apple's table has no such reason."""
        for member in cls:
            if member.wire == wire:
                return member
        raise ValueError(f"{wire!r} is not one of Apple's device-push reasons (docs/apns-protocol.md §4.3)")

    def error_body(self, timestamp: int | None = None) -> bytes:
        """The JSON body of an error response; ``timestamp`` (ms since the epoch) only rides with 410."""
        if timestamp is None:
            return self.body
        return json.dumps({"reason": self.wire, "timestamp": timestamp}, separators=(",", ":")).encode()

    # 400
    BAD_COLLAPSE_ID = ("BadCollapseId", 400)
    BAD_DEVICE_TOKEN = ("BadDeviceToken", 400)
    BAD_EXPIRATION_DATE = ("BadExpirationDate", 400)
    BAD_MESSAGE_ID = ("BadMessageId", 400)
    BAD_PRIORITY = ("BadPriority", 400)
    BAD_TOPIC = ("BadTopic", 400)
    DEVICE_TOKEN_NOT_FOR_TOPIC = ("DeviceTokenNotForTopic", 400)
    DUPLICATE_HEADERS = ("DuplicateHeaders", 400)
    IDLE_TIMEOUT = ("IdleTimeout", 400)
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
    # Apple's table spelling; APNSwift's "BadEnvironmentKeyInToken" is unconfirmed (§4.3).
    BAD_ENVIRONMENT_KEY_ID_IN_TOKEN = ("BadEnvironmentKeyIdInToken", 403)
    # 404, 405
    BAD_PATH = ("BadPath", 404)
    METHOD_NOT_ALLOWED = ("MethodNotAllowed", 405)
    # 410: Unregistered carries ``timestamp`` in its body
    EXPIRED_TOKEN = ("ExpiredToken", 410)
    UNREGISTERED = ("Unregistered", 410)
    # 413
    PAYLOAD_TOO_LARGE = ("PayloadTooLarge", 413)
    # 429
    TOO_MANY_PROVIDER_TOKEN_UPDATES = ("TooManyProviderTokenUpdates", 429)
    TOO_MANY_REQUESTS = ("TooManyRequests", 429)
    # 5xx
    INTERNAL_SERVER_ERROR = ("InternalServerError", 500)
    SERVICE_UNAVAILABLE = ("ServiceUnavailable", 503)
    SHUTDOWN = ("Shutdown", 503)
