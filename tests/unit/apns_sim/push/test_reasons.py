"""The simulator's reason table against Apple's §4.3 list (docs/apns-protocol.md §4.3, A-RESP)."""

from __future__ import annotations

import json

import pytest

from apns_sim.push.reasons import Reason

# Apple's §4.3 table for device pushes, copied by hand from the reference: (status, wire string).
APPLE_TABLE = [
    (400, "BadCollapseId"), (400, "BadDeviceToken"), (400, "BadExpirationDate"), (400, "BadMessageId"),
    (400, "BadPriority"), (400, "BadTopic"), (400, "DeviceTokenNotForTopic"), (400, "DuplicateHeaders"),
    (400, "IdleTimeout"), (400, "InvalidPushType"), (400, "MissingDeviceToken"), (400, "MissingTopic"),
    (400, "PayloadEmpty"), (400, "TopicDisallowed"),
    (403, "BadCertificate"), (403, "BadCertificateEnvironment"), (403, "ExpiredProviderToken"),
    (403, "Forbidden"), (403, "InvalidProviderToken"), (403, "MissingProviderToken"),
    (403, "UnrelatedKeyIdInToken"), (403, "BadEnvironmentKeyIdInToken"),
    (404, "BadPath"), (405, "MethodNotAllowed"),
    (410, "ExpiredToken"), (410, "Unregistered"),
    (413, "PayloadTooLarge"),
    (429, "TooManyProviderTokenUpdates"), (429, "TooManyRequests"),
    (500, "InternalServerError"),
    (503, "ServiceUnavailable"), (503, "Shutdown"),
]


@pytest.mark.parametrize(("status", "wire"), APPLE_TABLE)
def test_every_apple_reason_has_its_status(status: int, wire: str) -> None:
    """§4.3: each reason Apple lists exists with Apple's spelling and status."""
    reason = Reason.from_wire(wire)
    assert reason.wire == wire
    assert reason.status == status


def test_no_reason_beyond_apples_table() -> None:
    """§4.3: the enum is exactly Apple's device-push list (broadcast-only reasons are not device reasons)."""
    assert sorted((r.status, r.wire) for r in Reason) == sorted(APPLE_TABLE)


def test_error_body_is_compact_json() -> None:
    """§4.1: the error body is {"reason": ...}; only 410 adds "timestamp" in ms."""
    assert json.loads(Reason.BAD_TOPIC.body) == {"reason": "BadTopic"}
    assert json.loads(Reason.UNREGISTERED.error_body(1_700_000_000_123)) == {
        "reason": "Unregistered", "timestamp": 1_700_000_000_123}


def test_unknown_wire_string() -> None:
    """§4.3: a string outside Apple's table is refused, not guessed."""
    with pytest.raises(ValueError):
        Reason.from_wire("BadEnvironmentKeyInToken")
