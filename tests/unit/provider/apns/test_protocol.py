"""Request headers and response parsing, without sockets (docs/apns-protocol.md §2.1, §4.1, §7)."""

from __future__ import annotations

import pytest

from provider.apns.client import resolve_endpoint
from provider.apns.notification import Notification, alert
from provider.apns.protocol import (
    Result,
    authority,
    goaway_reason,
    goaway_result,
    parse_response,
    request_headers,
    response_head,
)


def test_request_headers_in_order_and_only_what_is_set() -> None:
    n = Notification(
        token="AB" * 32,
        topic="com.example.app",
        payload=alert("x"),
        priority=10,
        expiration=0,
        collapse_id="c",
        apns_id="123e4567-e89b-12d3-a456-426614174000",
    )
    headers = request_headers(n, authority="api.push.apple.com", authorization="bearer t")
    assert headers[:4] == [
        (":method", "POST"),
        (":scheme", "https"),
        (":authority", "api.push.apple.com"),
        (":path", "/3/device/" + "ab" * 32),
    ]
    d = dict(headers)
    assert d["apns-topic"] == "com.example.app" and d["authorization"] == "bearer t"
    assert (d["apns-priority"], d["apns-expiration"], d["apns-collapse-id"]) == ("10", "0", "c")
    bare = dict(
        request_headers(Notification(token="ab", topic="t", payload={}, push_type=None), authority="h")
    )
    assert not {"authorization", "apns-id", "apns-push-type", "apns-priority", "apns-expiration"} & set(bare)


def test_parse_success_and_errors() -> None:
    ok = parse_response(200, {"apns-id": "ID", "apns-unique-id": "U"}, b"")
    assert ok == Result(status=200, apns_id="ID", unique_id="U") and ok.accepted
    gone = parse_response(410, {"apns-id": "ID"}, b'{"reason":"Unregistered","timestamp":1700000000123}')
    assert (gone.reason, gone.timestamp, gone.accepted) == ("Unregistered", 1700000000123, False)
    assert gone.to_json() == {
        "status": 410,
        "apns_id": "ID",
        "reason": "Unregistered",
        "timestamp": 1700000000123,
    }
    assert ok.to_json() == {"status": 200, "apns_id": "ID"}
    odd = parse_response(500, {}, b"<html>oops</html>", request_apns_id="MINE")
    assert (odd.reason, odd.apns_id, odd.retryable) == (None, "MINE", True)


def test_response_head_decodes_raw_headers_and_takes_out_the_status() -> None:
    raw = [(b":status", b"410"), (b"apns-id", b"ID"), (b"x-odd", b"\xff")]
    assert response_head(raw) == (410, {"apns-id": "ID", "x-odd": "\ufffd"})  # undecodable bytes are replaced
    assert response_head([]) == (0, {})


@pytest.mark.parametrize("status", [b"", b"20", b"2000", b"abc", b" 20", "²⁰⁰".encode(), "٢٠٠".encode()])
def test_response_head_status_is_three_ascii_digits_or_0(status: bytes) -> None:
    """RFC 9113 §8.3.2: anything else (including digits ``str.isdigit`` admits but ``int`` may not) is 0."""
    assert response_head([(b":status", status), (b"apns-id", b"ID")]) == (0, {"apns-id": "ID"})


def test_goaway_debug_data() -> None:
    assert goaway_reason(b'{"reason":"BadCertificateEnvironment"}') == "BadCertificateEnvironment"
    assert goaway_reason(b"Maximum active streams violated for this endpoint.").startswith("Maximum")
    assert goaway_reason(None) is None and goaway_reason(b"") is None
    final = goaway_result("BadCertificateEnvironment", "ID")
    assert final is not None and (final.status, final.reason) == (403, "BadCertificateEnvironment")
    assert goaway_result("Shutdown", "ID") is None  # retryable: resend elsewhere
    assert goaway_result("Maximum active streams violated", "ID") is None


def test_endpoints_and_authority() -> None:
    assert resolve_endpoint("sandbox") == ("api.sandbox.push.apple.com", 443)
    assert resolve_endpoint("production") == ("api.push.apple.com", 443)
    assert resolve_endpoint("sandbox", "https://127.0.0.1:4433") == ("127.0.0.1", 4433)
    assert authority("api.push.apple.com", 443) == "api.push.apple.com"
    assert authority("127.0.0.1", 4433) == "127.0.0.1:4433"
    assert authority("::1", 2197) == "[::1]:2197"
    for bad in ("http://127.0.0.1:1", "127.0.0.1:4433", "https://h:99999", "https://h/3/device"):
        with pytest.raises(ValueError, match="endpoint"):
            resolve_endpoint("sandbox", bad)
    with pytest.raises(ValueError, match="environment"):
        resolve_endpoint("staging")
