"""One push request as the provider API received it, and the two answers it can get.

``PushRequest`` is parsed from an h2 header list (bytes, as h2 hands it over with ``header_encoding=None``)
and the request body. It keeps the raw header list, because Apple answers a repeated header with
``DuplicateHeaders`` (docs/apns-protocol.md §2.1) and a dict would hide the repeat.

Only what HTTP/2 itself calls malformed (RFC 9113 §8.1.1, §8.2, §8.3) raises ``MalformedRequest``: the
connection answers that with RST_STREAM PROTOCOL_ERROR for the one stream. Everything Apple answers with a
reason is left to :mod:`apns_sim.push.validation`, which returns ``Accepted`` or ``Rejection`` values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from apns_sim.errors import SimError
from apns_sim.push.reasons import Reason

DEVICE_PATH_PREFIX = "/3/device/"

_REQUEST_PSEUDO = frozenset({b":method", b":scheme", b":authority", b":path"})
# RFC 9113 §8.2.2: connection-specific fields make a request malformed (``te`` only with "trailers").
_CONNECTION_SPECIFIC = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding",
                                  b"upgrade"})


class MalformedRequest(SimError, ValueError):
    """The header block breaks HTTP/2's rules (not Apple's): a stream error of type PROTOCOL_ERROR."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PushRequest:
    """A complete request: pseudo-headers, regular headers (first value of each), raw list and body.

    ``body`` may be cut short for absurdly large requests; ``body_size`` is always the full size received,
    which is what the size rule (§3) needs.
    """

    method: str
    path: str
    headers: Mapping[str, str]
    raw_headers: tuple[tuple[bytes, bytes], ...]
    duplicates: frozenset[str]
    body: bytes
    body_size: int

    @property
    def device_token(self) -> str | None:
        """The token part of ``/3/device/<token>``; None when the path is not a device path."""
        if self.path.startswith(DEVICE_PATH_PREFIX):
            return self.path[len(DEVICE_PATH_PREFIX):]
        return None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


# Regular header names already found well-formed, and their str keys: providers send the same few names on
# every request, so each is checked once. Bounded, so a client inventing names cannot grow it.
_KNOWN_NAMES: dict[bytes, str] = {}
_KNOWN_NAMES_MAX = 256


def _regular_name(name: bytes, value: bytes) -> str:
    """RFC 9113 §8.2: a lowercase, non-empty name that is not connection-specific; ``te`` only "trailers"."""
    if not name or name != name.lower():
        raise MalformedRequest(f"header name {name!r} is not lowercase")
    if name in _CONNECTION_SPECIFIC or (name == b"te" and value != b"trailers"):
        raise MalformedRequest(f"connection-specific header {name!r}")
    key = name.decode("ascii", "surrogateescape")
    if name != b"te" and len(_KNOWN_NAMES) < _KNOWN_NAMES_MAX:
        _KNOWN_NAMES[name] = key
    return key


def parse_request(raw: Iterable[tuple[bytes, bytes]], body: bytes = b"", body_size: int | None = None,
                  ) -> PushRequest:
    """Build a PushRequest from h2's header list; MalformedRequest if HTTP/2 would call it malformed."""
    raw_headers = tuple(raw)
    pseudo: dict[bytes, str] = {}
    headers: dict[str, str] = {}
    duplicates: set[str] = set()
    regular_seen = False
    for name, value in raw_headers:
        if name[:1] == b":":
            if regular_seen:
                raise MalformedRequest("pseudo-header after a regular header")
            if name not in _REQUEST_PSEUDO:
                raise MalformedRequest(f"unknown request pseudo-header {name!r}")
            if name in pseudo:
                raise MalformedRequest(f"repeated pseudo-header {name!r}")
            pseudo[name] = value.decode("utf-8", "surrogateescape")
            continue
        regular_seen = True
        key = _KNOWN_NAMES.get(name) or _regular_name(name, value)
        if key in headers:
            duplicates.add(key)
            continue
        headers[key] = value.decode("utf-8", "surrogateescape")
    method = pseudo.get(b":method")
    path = pseudo.get(b":path")
    if not method or not path or not pseudo.get(b":scheme"):
        raise MalformedRequest("a request needs :method, :scheme and :path")
    return PushRequest(
        method=method, path=path, headers=headers, raw_headers=raw_headers, duplicates=frozenset(duplicates),
        body=body, body_size=len(body) if body_size is None else body_size,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    """The request passed every rule: what delivery needs to route it (``token`` is lowercase hex)."""

    token: str
    device_id: str
    bundle_id: str
    topic: str
    push_type: str
    priority: int
    expiration: int | None
    collapse_id: str | None
    payload: bytes


@dataclass(frozen=True, slots=True)
class Rejection:
    """Apple's "no": a reason (status from the table) and, for 410 Unregistered, a timestamp in ms."""

    reason: Reason
    timestamp: int | None = None

    @property
    def status(self) -> int:
        return self.reason.status


Outcome = Accepted | Rejection
