"""The provider side of the APNs request/response format, without I/O (docs/apns-protocol.md §2, §4).

``request_headers`` turns a ``Notification`` into HTTP/2 headers; ``response_head`` and ``parse_response`` turn
what came back into a ``Result``. Transport failures are exceptions (``TransportError`` and friends); Apple's
"no" is a ``Result`` value (docs/style.md habit 5).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from hpack import NeverIndexedHeaderTuple

# The transport errors lived here before errors.py; the names stay importable from this module.
from provider.apns.errors import ConnectFailed, ConnectionLost, RequestTimeout, StreamRefused, TransportError  # noqa: F401
from provider.apns.notification import Notification
from provider.apns.reasons import Reason, is_retryable, lookup


@dataclass(frozen=True, kw_only=True)
class Result:
    """Apple's answer to one notification (§4.1).

    ``reason`` is the wire string exactly as received (``None`` on 200); ``timestamp`` is the 410 body's
    ``timestamp`` in ms since the epoch (when APNs learnt the token stopped being valid) or ``None``;
    ``unique_id`` is ``apns-unique-id`` (sandbox only).
    """

    status: int
    apns_id: str | None
    reason: str | None = None
    timestamp: int | None = None
    unique_id: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == 200

    @property
    def known_reason(self) -> Reason | None:
        """The ``Reason`` member, or ``None`` when accepted or the string is unknown to this table."""
        return lookup(self.reason)

    @property
    def retryable(self) -> bool:
        return is_retryable(self.status, self.reason)

    def to_json(self) -> dict[str, Any]:
        """The CLI's line: status and apns-id, plus reason when refused and timestamp when given."""
        out: dict[str, Any] = {"status": self.status, "apns_id": self.apns_id}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.timestamp is not None:
            out["timestamp"] = self.timestamp
        return out


def authority(host: str, port: int) -> str:
    """``:authority`` as a browser would write it: the port only when not 443 (IPv6 in brackets)."""
    h = f"[{host}]" if ":" in host else host
    return h if port == 443 else f"{h}:{port}"


def request_headers(
    notification: Notification, *, authority: str, authorization: str | None = None
) -> list[tuple[str, str]]:
    """HTTP/2 headers for ``POST /3/device/<token>`` (§2.1), pseudo-headers first.

    ``authorization`` (``bearer <jwt>``) is sent only on token connections; cert connections omit it.

    HPACK: the values that differ on every request (the path with its device token, ``apns-id``) are sent as
    literals that never enter the compression table. Indexed, each would evict the stable headers (topic,
    push type, the JWT that lives for up to an hour), which would then be Huffman-coded and re-added on the
    next request; kept out, the stable ones cost an index byte each. The connection sends these tuples as
    they are (no ``h2`` normalisation), so names are lower-case and values come from a validated
    ``Notification``.
    """
    headers = [
        (":method", "POST"),
        (":scheme", "https"),
        (":authority", authority),
        _unindexed(":path", f"/3/device/{notification.token}"),
        ("apns-topic", notification.topic),
    ]
    if authorization is not None:
        headers.append(("authorization", authorization))
    if notification.apns_id is not None:
        headers.append(_unindexed("apns-id", notification.apns_id))
    if notification.push_type is not None:
        headers.append(("apns-push-type", notification.push_type))
    if notification.priority is not None:
        headers.append(("apns-priority", str(notification.priority)))
    if notification.expiration is not None:
        headers.append(("apns-expiration", str(notification.expiration)))
    if notification.collapse_id is not None:
        headers.append(("apns-collapse-id", notification.collapse_id))
    headers.append(("content-type", "application/json"))
    return headers


def _unindexed(name: str, value: str) -> tuple[str, str]:
    """A header HPACK sends as a literal that never enters the compression table (RFC 7541 §6.2.3)."""
    return cast("tuple[str, str]", NeverIndexedHeaderTuple(name, value))


def response_head(raw_headers: Iterable[tuple[bytes, bytes]]) -> tuple[int, dict[str, str]]:
    """``:status`` and the other response headers from ``h2``'s raw bytes; status 0 when it is not valid.

    Decoding here, in one comprehension, costs less than hpack's per-field decoding; "replace", since nothing
    validated these bytes (the connection turns ``h2``'s inbound validation off for speed).
    """
    headers = {bytes(k).decode("utf-8", "replace"): bytes(v).decode("utf-8", "replace") for k, v in raw_headers}
    status = headers.pop(":status", "")
    # Three ASCII digits or nothing (RFC 9113 §8.3.2): ``str.isdigit`` alone admits "²", which ``int`` then
    # refuses. 0 marks "no valid status": the caller has no answer to report.
    return (int(status) if len(status) == 3 and status.isascii() and status.isdigit() else 0), headers


def parse_response(
    status: int, headers: Mapping[str, str], body: bytes, *, request_apns_id: str | None = None
) -> Result:
    """A ``Result`` from the response (§4.1). A body that is not the documented JSON is tolerated."""
    reason: str | None = None
    timestamp: int | None = None
    if status != 200 and body:
        data = _json_object(body)
        raw_reason = data.get("reason")
        if isinstance(raw_reason, str):
            reason = raw_reason
        raw_ts = data.get("timestamp")
        if (isinstance(raw_ts, int | float) and not isinstance(raw_ts, bool)) or (
            isinstance(raw_ts, str) and raw_ts.isdigit()
        ):
            timestamp = int(raw_ts)
    return Result(
        status=status,
        apns_id=headers.get("apns-id", request_apns_id),
        reason=reason,
        timestamp=timestamp,
        unique_id=headers.get("apns-unique-id"),
    )


def goaway_reason(debug_data: bytes | None) -> str | None:
    """The reason in a GOAWAY's debug data: ``{"reason": ...}`` JSON (§7), or plain text, or ``None``."""
    if not debug_data:
        return None
    data = _json_object(debug_data)
    if isinstance(data.get("reason"), str):
        return str(data["reason"])
    text = debug_data.decode("utf-8", "replace").strip()
    return text or None


def goaway_result(reason: str | None, apns_id: str | None) -> Result | None:
    """Apple's "no" delivered by GOAWAY (e.g. ``BadCertificateEnvironment``, §6) as a ``Result``.

    Only known, non-retryable reasons qualify: they are answers about this provider, and resending would get
    the same GOAWAY. Anything else is a transport problem (``None``).
    """
    known = lookup(reason)
    if known is None or known.retryable:
        return None
    return Result(status=known.status, apns_id=apns_id, reason=reason)


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}
