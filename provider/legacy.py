"""The old way, for teaching: Apple's retired binary provider interface and its feedback service.

Apple turned both off on 31 March 2021; today's providers speak HTTP/2 (:mod:`provider.apns`). This client
exists so the tutorials of that era can be followed as written against the simulator, and so their behaviour
can be set beside today's (docs/legacy-binary.md). It uses the same certificate credentials as the HTTP/2
client (:mod:`provider.apns.credentials`): the binary interface knew no other kind.

What the binary interface did, and this client shows: a notification that is accepted gets no answer at all;
the first one that is not gets one 6-byte error-response packet (command 8, status, identifier) and the
connection is closed, and everything written after it on that connection is lost and must be sent again.

The frame layouts are written out here rather than imported from the simulator, so both sides of the wire are
checked against each other (docs/architecture.md: the programs talk over the wire, never by import).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from provider.apns.credentials import CertificateCredentials, PathLike

GATEWAY_HOSTS = {"sandbox": "gateway.sandbox.push.apple.com", "production": "gateway.push.apple.com"}
FEEDBACK_HOSTS = {"sandbox": "feedback.sandbox.push.apple.com", "production": "feedback.push.apple.com"}
GATEWAY_PORT, FEEDBACK_PORT = 2195, 2196
FORMATS = {"simple": 0, "enhanced": 1, "frame": 2}

# The error-response statuses, as Apple's archived Binary Provider API page lists them.
STATUS_DESCRIPTIONS = {
    0: "No errors encountered", 1: "Processing error", 2: "Missing device token", 3: "Missing topic",
    4: "Missing payload", 5: "Invalid token size", 6: "Invalid topic size", 7: "Invalid payload size",
    8: "Invalid token", 10: "Shutdown", 128: "Protocol error", 255: "None (unknown)",
}


@dataclass(frozen=True, kw_only=True)
class LegacyNotification:
    """One notification for the binary interface: ``token`` hex, ``payload`` the JSON bytes."""

    token: str
    payload: bytes
    identifier: int = 0
    expiry: int = 0  # UNIX seconds; 0 = do not store it if the phone is offline
    priority: int = 10


@dataclass(frozen=True, kw_only=True)
class ErrorResponse:
    """Apple's one answer: the status, and the identifier of the notification it refused."""

    status: int
    identifier: int

    @property
    def description(self) -> str:
        return STATUS_DESCRIPTIONS.get(self.status, "undocumented status")

    def to_json(self) -> dict[str, object]:
        return {"status": self.status, "description": self.description, "identifier": self.identifier}


@dataclass(frozen=True, kw_only=True)
class SendReport:
    """What a binary-interface send can know: how many were written, the error-response if one came, and
    whether APNs closed the connection during the wait (with or without a packet: a refused certificate or a
    bad simple notification gets only the close)."""

    written: int
    error: ErrorResponse | None
    closed: bool = False

    @property
    def silent_success(self) -> bool:
        return self.error is None and not self.closed

    def to_json(self) -> dict[str, object]:
        return {"interface": "binary", "written": self.written,
                "error": None if self.error is None else self.error.to_json(), "closed": self.closed}


@dataclass(frozen=True, kw_only=True)
class FeedbackEntry:
    timestamp: int  # UNIX seconds: when APNs learnt the app was gone
    token: str      # hex


def encode(note: LegacyNotification, fmt: str = "frame") -> bytes:
    """``note`` in one of the three formats: simple (command 0), enhanced (1) or frame (2)."""
    token = bytes.fromhex(note.token)
    command = FORMATS[fmt]
    if command == 0:
        return struct.pack(f">BH{len(token)}sH", 0, len(token), token, len(note.payload)) + note.payload
    if command == 1:
        head = struct.pack(f">BIIH{len(token)}sH", 1, note.identifier, note.expiry, len(token), token,
                           len(note.payload))
        return head + note.payload
    items = b"".join(struct.pack(">BH", item_id, len(data)) + data for item_id, data in (
        (1, token), (2, note.payload), (3, struct.pack(">I", note.identifier)), (4, struct.pack(">I", note.expiry)),
        (5, bytes([note.priority]))))
    return struct.pack(">BI", 2, len(items)) + items


def parse_error(packet: bytes) -> ErrorResponse | None:
    if len(packet) != 6 or packet[0] != 8:
        return None
    _, status, identifier = struct.unpack(">BBI", packet)
    return ErrorResponse(status=status, identifier=identifier)


def parse_feedback(data: bytes) -> list[FeedbackEntry]:
    """The feedback service's tuples: time_t (4 bytes), token length (2), token; a cut tail is ignored."""
    entries, offset = [], 0
    while offset + 6 <= len(data):
        timestamp, length = struct.unpack_from(">IH", data, offset)
        token = data[offset + 6:offset + 6 + length]
        if len(token) < length:
            break
        entries.append(FeedbackEntry(timestamp=timestamp, token=token.hex()))
        offset += 6 + length
    return entries


def parse_address(value: str | None, default_host: str, default_port: int) -> tuple[str, int]:
    """``host:port`` (also ``ssl://host:port``, the PHP form) or None for Apple's host."""
    if not value:
        return default_host, default_port
    address = value.removeprefix("ssl://").removeprefix("tls://")
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"endpoint must be host:port, not {value!r}")
    return host, int(port)


def ssl_context(credentials: CertificateCredentials, ca_file: PathLike | None) -> ssl.SSLContext:
    """The push certificate's TLS context, without ALPN: the binary interface predates it."""
    ctx = credentials.ssl_context(ca_file)
    ctx.set_alpn_protocols([])
    return ctx


async def send(credentials: CertificateCredentials, notes: Sequence[LegacyNotification], *, host: str, port: int,
               ca_file: PathLike | None = None, fmt: str = "frame", wait: float = 1.0) -> SendReport:
    """Write ``notes`` on one connection, then listen ``wait`` seconds for an error-response.

    Silence is the only success the binary interface had, so the wait is the price of knowing.
    """
    reader, writer = await asyncio.open_connection(host, port, ssl=ssl_context(credentials, ca_file))
    try:
        writer.write(b"".join(encode(note, fmt) for note in notes))
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        closed = True
        try:
            packet = await asyncio.wait_for(reader.readexactly(6), wait)
        except TimeoutError:  # silence for the whole wait: the only success there was
            packet, closed = b"", False
        except asyncio.IncompleteReadError as exc:  # closed, with less than a packet
            packet = exc.partial
        except (ConnectionError, ssl.SSLError):
            packet = b""
        return SendReport(written=len(notes), error=parse_error(packet), closed=closed)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def read_feedback(credentials: CertificateCredentials, *, host: str, port: int,
                        ca_file: PathLike | None = None, timeout: float = 10.0) -> list[FeedbackEntry]:
    """Connect, send nothing, read until the service closes; each token is reported once."""
    reader, writer = await asyncio.open_connection(host, port, ssl=ssl_context(credentials, ca_file))
    try:
        data = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return parse_feedback(data)
