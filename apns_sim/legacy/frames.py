"""Apple's retired binary provider interface as a sans-IO codec: bytes in, notifications or one error out.

The three notification formats and the error-response packet are in docs/legacy-binary.md §2 and §3: command 0
(simple), command 1 (enhanced: identifier and expiry) and command 2 (a frame of numbered items). All integers
are big-endian. :class:`FrameDecoder` takes whatever TCP hands over, in any cut, and returns each complete
notification or, for the first one it cannot accept, a :class:`FrameError` carrying the status code Apple
would have answered. After an error the decoder takes nothing more: Apple closed the connection and dropped
everything written after the bad notification (docs/legacy-binary.md §3).

Sizes are judged as soon as a length field arrives, so a client cannot make us buffer a frame we would
refuse anyway (docs/limits.md §5).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from apns_sim import limits

SIMPLE, ENHANCED, FRAME, ERROR_RESPONSE = 0, 1, 2, 8

# Command 2 item ids (docs/legacy-binary.md §2.3).
ITEM_TOKEN, ITEM_PAYLOAD, ITEM_IDENTIFIER, ITEM_EXPIRATION, ITEM_PRIORITY = 1, 2, 3, 4, 5
_FIXED_ITEM_SIZES = {ITEM_IDENTIFIER: 4, ITEM_EXPIRATION: 4, ITEM_PRIORITY: 1}
_PRIORITIES = (5, 10)
DEFAULT_PRIORITY = 10  # commands 0 and 1 carry no priority: Apple treated them as 10

_ERROR = struct.Struct(">BBI")
_SIMPLE_HEAD = struct.Struct(">BH")        # command, token length
_ENHANCED_HEAD = struct.Struct(">BIIH")    # command, identifier, expiry, token length
_FRAME_HEAD = struct.Struct(">BI")         # command, frame length
_ITEM_HEAD = struct.Struct(">BH")          # item id, item length
_SHORT = struct.Struct(">H")


class Status(IntEnum):
    """The status byte of an error-response packet (docs/legacy-binary.md §3)."""

    NO_ERRORS = 0
    PROCESSING_ERROR = 1
    MISSING_DEVICE_TOKEN = 2
    MISSING_TOPIC = 3
    MISSING_PAYLOAD = 4
    INVALID_TOKEN_SIZE = 5
    INVALID_TOPIC_SIZE = 6
    INVALID_PAYLOAD_SIZE = 7
    INVALID_TOKEN = 8
    SHUTDOWN = 10
    PROTOCOL_ERROR = 128
    UNKNOWN = 255

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    Status.NO_ERRORS: "No errors encountered", Status.PROCESSING_ERROR: "Processing error",
    Status.MISSING_DEVICE_TOKEN: "Missing device token", Status.MISSING_TOPIC: "Missing topic",
    Status.MISSING_PAYLOAD: "Missing payload", Status.INVALID_TOKEN_SIZE: "Invalid token size",
    Status.INVALID_TOPIC_SIZE: "Invalid topic size", Status.INVALID_PAYLOAD_SIZE: "Invalid payload size",
    Status.INVALID_TOKEN: "Invalid token", Status.SHUTDOWN: "Shutdown", Status.PROTOCOL_ERROR: "Protocol error",
    Status.UNKNOWN: "None (unknown)",
}


@dataclass(frozen=True, kw_only=True)
class Notification:
    """One notification as the provider framed it. ``identifier`` is 0 and ``expiry`` None for command 0."""

    command: int
    token: bytes
    payload: bytes
    identifier: int = 0
    expiry: int | None = None
    priority: int = DEFAULT_PRIORITY


@dataclass(frozen=True, kw_only=True)
class FrameError:
    """The first notification that could not be accepted: answer ``status`` for ``identifier``, then close.

    ``command`` is the refused notification's format when known: a simple (command 0) notification has no
    identifier, and Apple answered it with no packet at all, only the close (docs/legacy-binary.md §3).
    """

    status: Status
    identifier: int = 0
    command: int | None = None


def encode_error(status: int, identifier: int) -> bytes:
    """The 6-byte error-response packet: command 8, status, the failed notification's identifier."""
    return _ERROR.pack(ERROR_RESPONSE, status, identifier)


def decode_error(packet: bytes) -> FrameError:
    command, status, identifier = _ERROR.unpack(packet)
    if command != ERROR_RESPONSE:
        raise ValueError(f"not an error-response packet (command {command})")
    return FrameError(status=Status(status), identifier=identifier)


def encode_notification(note: Notification) -> bytes:
    """The bytes a provider writes for ``note`` in its ``command``'s format (tests and scenarios use this)."""
    token, payload = note.token, note.payload
    if note.command == SIMPLE:
        return _SIMPLE_HEAD.pack(SIMPLE, len(token)) + token + _SHORT.pack(len(payload)) + payload
    if note.command == ENHANCED:
        return (_ENHANCED_HEAD.pack(ENHANCED, note.identifier, note.expiry or 0, len(token)) + token
                + _SHORT.pack(len(payload)) + payload)
    items = [(ITEM_TOKEN, token), (ITEM_PAYLOAD, payload), (ITEM_IDENTIFIER, struct.pack(">I", note.identifier)),
             (ITEM_EXPIRATION, struct.pack(">I", note.expiry or 0)), (ITEM_PRIORITY, bytes([note.priority]))]
    body = b"".join(_ITEM_HEAD.pack(item, len(data)) + data for item, data in items)
    return _FRAME_HEAD.pack(FRAME, len(body)) + body


def check_sizes(token: bytes, payload: bytes, payload_limit: int) -> Status | None:
    """The size rules every format shares (docs/legacy-binary.md §3), token first as Apple listed them."""
    if not token:
        return Status.MISSING_DEVICE_TOKEN
    if len(token) > limits.LEGACY_MAX_TOKEN_BYTES:
        return Status.INVALID_TOKEN_SIZE
    if not payload:
        return Status.MISSING_PAYLOAD
    if len(payload) > payload_limit:
        return Status.INVALID_PAYLOAD_SIZE
    return None


class FrameDecoder:
    """Buffers one connection's bytes and cuts them into notifications (docs/legacy-binary.md §2).

    ``receive_data`` returns what became complete: notifications, then at most one :class:`FrameError`,
    after which :attr:`failed` is set and later bytes are ignored.
    """

    def __init__(self, payload_limit: int = limits.LEGACY_DEFAULT_PAYLOAD_BYTES) -> None:
        self.payload_limit = payload_limit
        self._buffer = bytearray()
        self.failed = False

    @property
    def pending(self) -> int:
        """Bytes of a notification not yet complete (a truncated frame at the close)."""
        return len(self._buffer)

    def receive_data(self, data: bytes) -> list[Notification | FrameError]:
        if self.failed:
            return []
        self._buffer += data
        out: list[Notification | FrameError] = []
        while self._buffer:
            result = self._next()
            if result is None:
                break
            out.append(result)
            if isinstance(result, FrameError):
                self.failed = True
                self._buffer.clear()
                break
        return out

    def _next(self) -> Notification | FrameError | None:
        command = self._buffer[0]
        if command == SIMPLE:
            return self._simple()
        if command == ENHANCED:
            return self._enhanced()
        if command == FRAME:
            return self._frame()
        return FrameError(status=Status.PROTOCOL_ERROR)

    def _token_and_payload(self, command: int, offset: int, token_length: int, identifier: int
                           ) -> tuple[bytes, bytes, int] | FrameError | None:
        """Commands 0 and 1 share the tail: token, payload length, payload. Sizes are judged on arrival."""
        buf = self._buffer
        if token_length > limits.LEGACY_MAX_TOKEN_BYTES:
            return FrameError(status=Status.INVALID_TOKEN_SIZE, identifier=identifier, command=command)
        end_token = offset + token_length
        if len(buf) < end_token + 2:
            return None
        (payload_length,) = _SHORT.unpack_from(buf, end_token)
        if payload_length > self.payload_limit:
            return FrameError(status=Status.INVALID_PAYLOAD_SIZE, identifier=identifier, command=command)
        end = end_token + 2 + payload_length
        if len(buf) < end:
            return None
        return bytes(buf[offset:end_token]), bytes(buf[end_token + 2:end]), end

    def _simple(self) -> Notification | FrameError | None:
        if len(self._buffer) < _SIMPLE_HEAD.size:
            return None
        _, token_length = _SIMPLE_HEAD.unpack_from(self._buffer)
        tail = self._token_and_payload(SIMPLE, _SIMPLE_HEAD.size, token_length, 0)
        if tail is None or isinstance(tail, FrameError):
            return tail
        token, payload, end = tail
        del self._buffer[:end]
        return self._checked(Notification(command=SIMPLE, token=token, payload=payload))

    def _enhanced(self) -> Notification | FrameError | None:
        if len(self._buffer) < _ENHANCED_HEAD.size:
            return None
        _, identifier, expiry, token_length = _ENHANCED_HEAD.unpack_from(self._buffer)
        tail = self._token_and_payload(ENHANCED, _ENHANCED_HEAD.size, token_length, identifier)
        if tail is None or isinstance(tail, FrameError):
            return tail
        token, payload, end = tail
        del self._buffer[:end]
        return self._checked(Notification(command=ENHANCED, token=token, payload=payload, identifier=identifier,
                                          expiry=expiry))

    def _frame(self) -> Notification | FrameError | None:
        buf = self._buffer
        if len(buf) < _FRAME_HEAD.size:
            return None
        _, length = _FRAME_HEAD.unpack_from(buf)
        if length > limits.LEGACY_MAX_FRAME_BYTES:
            # Only the payload can make a frame this long: Apple's nearest status is the payload's size.
            return FrameError(status=Status.INVALID_PAYLOAD_SIZE, identifier=self._peek_identifier(), command=FRAME)
        end = _FRAME_HEAD.size + length
        if len(buf) < end:
            return None
        body = bytes(buf[_FRAME_HEAD.size:end])
        del buf[:end]
        return self._items(body)

    def _peek_identifier(self) -> int:
        """The identifier item, if it has already arrived, so an early refusal still names the notification."""
        found = _parse_items(bytes(self._buffer[_FRAME_HEAD.size:]))
        value = found.get(ITEM_IDENTIFIER) if isinstance(found, dict) else None
        return struct.unpack(">I", value)[0] if value is not None and len(value) == 4 else 0

    def _items(self, body: bytes) -> Notification | FrameError:
        found = _parse_items(body, complete=True)
        if found is None:
            return FrameError(status=Status.PROTOCOL_ERROR, command=FRAME)
        raw_id = found.get(ITEM_IDENTIFIER)
        identifier = struct.unpack(">I", raw_id)[0] if raw_id is not None and len(raw_id) == 4 else 0
        for item, size in _FIXED_ITEM_SIZES.items():
            if item in found and len(found[item]) != size:
                return FrameError(status=Status.PROTOCOL_ERROR, identifier=identifier, command=FRAME)
        raw_priority = found.get(ITEM_PRIORITY)
        priority = raw_priority[0] if raw_priority is not None else DEFAULT_PRIORITY
        if priority not in _PRIORITIES:
            return FrameError(status=Status.PROCESSING_ERROR, identifier=identifier, command=FRAME)
        raw_expiry = found.get(ITEM_EXPIRATION)
        expiry = struct.unpack(">I", raw_expiry)[0] if raw_expiry is not None else None
        note = Notification(command=FRAME, token=found.get(ITEM_TOKEN, b""), payload=found.get(ITEM_PAYLOAD, b""),
                            identifier=identifier, expiry=expiry, priority=priority)
        return self._checked(note)

    def _checked(self, note: Notification) -> Notification | FrameError:
        status = check_sizes(note.token, note.payload, self.payload_limit)
        return note if status is None else FrameError(status=status, identifier=note.identifier,
                                                      command=note.command)


def _parse_items(body: bytes, complete: bool = False) -> dict[int, bytes] | None:
    """Command 2's items by id. ``complete``: the whole frame, where a cut item, an unknown id or a repeated
    one is unparseable (None); otherwise a prefix, read as far as it goes."""
    found: dict[int, bytes] = {}
    offset = 0
    while offset + _ITEM_HEAD.size <= len(body):
        item, size = _ITEM_HEAD.unpack_from(body, offset)
        start = offset + _ITEM_HEAD.size
        if start + size > len(body):
            return None if complete else found
        if complete and (item in found or not ITEM_TOKEN <= item <= ITEM_PRIORITY):
            return None
        found[item] = body[start:start + size]
        offset = start + size
    if complete and offset != len(body):
        return None
    return found
