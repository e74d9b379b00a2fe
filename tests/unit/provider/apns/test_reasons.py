"""The provider's reason table (docs/apns-protocol.md §4.3) and Apple's retry guidance (§4.4)."""

from __future__ import annotations

import pytest

from provider.apns.reasons import Reason, is_retryable, lookup


def test_every_reason_has_a_documented_status() -> None:
    assert {r.status for r in Reason} <= {400, 403, 404, 405, 410, 413, 429, 500, 503}
    assert Reason.BAD_DEVICE_TOKEN.wire == "BadDeviceToken" and Reason.BAD_DEVICE_TOKEN.status == 400
    assert Reason.UNREGISTERED.status == 410 and Reason.PAYLOAD_TOO_LARGE.status == 413


@pytest.mark.parametrize("wire", ["TooManyRequests", "InternalServerError", "ServiceUnavailable", "Shutdown"])
def test_apple_says_retry(wire: str) -> None:
    reason = lookup(wire)
    assert reason is not None and reason.retryable
    assert is_retryable(reason.status, wire)


@pytest.mark.parametrize(
    "wire",
    [
        "BadDeviceToken",
        "DeviceTokenNotForTopic",
        "Forbidden",
        "ExpiredToken",
        "Unregistered",
        "PayloadTooLarge",
        "TooManyProviderTokenUpdates",
        "BadTopic",
        "MissingTopic",
        "InvalidProviderToken",
    ],
)
def test_apple_says_never_retry(wire: str) -> None:
    reason = lookup(wire)
    assert reason is not None and not reason.retryable
    assert not is_retryable(reason.status, wire)


def test_both_spellings_of_the_environment_key_reason() -> None:
    assert lookup("BadEnvironmentKeyIdInToken") is Reason.BAD_ENVIRONMENT_KEY_ID_IN_TOKEN
    assert lookup("BadEnvironmentKeyInToken") is Reason.BAD_ENVIRONMENT_KEY_ID_IN_TOKEN


def test_unknown_reasons_are_accepted_and_judged_by_status() -> None:
    assert lookup("SomethingApplesAddsLater") is None
    assert lookup(None) is None and lookup("") is None
    assert is_retryable(503, "SomethingNew")
    assert not is_retryable(400, "SomethingNew")
    assert not is_retryable(200, None)


def test_wire_strings_are_unique() -> None:
    wires = [r.wire for r in Reason]
    assert len(wires) == len(set(wires))
