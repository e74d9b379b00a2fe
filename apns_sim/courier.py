"""The courier wire: the device ⇄ APNs protocol as a sans-IO codec (no sockets, no asyncio, no clock).

Apple never published this protocol; the layout follows the reverse-engineered clients and proxies in
docs/device-side.md §1.2-1.5 (pypush, rustpush, pushproxy). Every frame is a 1-byte command, a 4-byte
big-endian payload length, then items: 1-byte id, 2-byte big-endian length, value. Integers are big-endian
and fixed-width; strings are UTF-8; topics travel as SHA-1(bundle id), 20 bytes (§1.6).

Both programs use this one module (``device_sim`` may import it and nothing else of ours), so it imports
only the standard library and ``cryptography``. It is the one module over 500 lines in the repository, on
purpose: it is a single concept (the wire format, both directions), and splitting it would turn the phones'
one permitted import into a package whose parts could drift apart. Documented simulator choices, marked [sim] below:

- Push item 0x15 carries the apns-id as a 16-byte UUID, 0x0D the priority, 0x1C the push type (applepy's
  guesses, §1.4), 0x1E the apns-collapse-id as UTF-8 (unobserved: real phones must learn it somehow, since
  they show pushes sharing it as one, docs/apns-protocol.md §11); ScopedTokenRequest item 3 carries the bundle
  id as UTF-8 (real APNs knows the topic from its hash; we send the name so the simulator can mint the token
  without a topic table), and item 0x1C ``voip`` asks for a PushKit token for the topic ``<bundle>.voip``
  (docs/device-side.md §2.7; without it an app whose bundle id ends in ".voip" could not be told from a VoIP topic).
- ConnectAck item 0x30 is a human-readable refusal reason.
- Connect item 0x31 names the base token the device gave up at a token-change event (restore from backup,
  erase; docs/device-side.md §3, §6 rule 29). Such a Connect has no item 1: the device forgot its push identity,
  as a restored or erased iPhone has. Apple's own signal is unpublished; the named token makes the event
  idempotent: APNs retires the device's tokens and issues a new base token only while the named one is still
  current, so a second connection (the other environment) or a retry carrying it changes nothing.
- Command 0x30 SimReport (device → APNs) reports what the phone did with a push ("handed_to_app",
  "presented", "not_presented"), so the journey log covers stage 3.
- Command 0x32 AppStatus (device → APNs) reports one app's notification permission and allowed options, its
  badge number and its state, whenever one of them changes and after each (re)connect, so the dashboard can
  show them. A real APNs is never told these (docs/device-side.md §2.6: the provider cannot learn that the user
  turned alerts off); only the simulator's own phones send it, and nothing but the dashboard reads it.
- Status bytes: ConnectAck/ScopedTokenAck 2 = refused; PushAck 2 = app not installed (§6 rule 13).
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

HEADER_SIZE = 5
ITEM_HEADER_SIZE = 3
MAX_ITEM_SIZE = 0xFFFF
# A push payload is at most 5120 bytes (VoIP) and a device certificate about 1 KiB; nothing legitimate
# comes near 64 KiB, so a bigger length is garbage (or an attack) and the connection is refused.
MAX_FRAME_SIZE = 64 * 1024
TOPIC_HASH_SIZE = 20
# [sim] A SimReport detail is a small JSON object (where a push was shown, why not); a phone's details nest two
# levels at most. Deeper nesting is refused as a protocol error: json.loads recurses once per level, so a frame
# of 64 KiB of "[" would otherwise end in RecursionError (docs/limits.md §2).
MAX_DETAIL_DEPTH = 8
NONCE_SIZE = 17
SIGNATURE_PREFIX = b"\x01\x01"  # version 1, RSA PKCS#1 v1.5 with SHA-1 (§1.5)

PRESENCE_USER = 0x41  # Connect item 5 for a user connection (pypush)
PROTOCOL_VERSION = 11  # pypush's default (§1.4 item 16)

STATUS_OK = 0
STATUS_REFUSED = 2  # ConnectAck / ScopedTokenAck: refused (the server closes after a refused Connect)
ACK_OK = 0
ACK_APP_NOT_INSTALLED = 2  # PushAck: no installed app for that token/topic [sim choice of byte]
ACK_INVALID = 3  # PushAck: the push could not be read (pushproxy's "rejected as invalid")

SIM_STAGES = ("handed_to_app", "presented", "not_presented")
# [sim] AppStatus values: UNAuthorizationStatus and the app states of docs/device-side.md §2.3 / §6 rule 16.
PERMISSION_STATUSES = ("not_determined", "authorized", "denied", "provisional")
APP_STATES = ("not_running", "background", "foreground", "force_quit")


class Command(enum.IntEnum):
    CONNECT = 0x07
    CONNECT_ACK = 0x08
    FILTER = 0x09
    PUSH = 0x0A
    PUSH_ACK = 0x0B
    KEEP_ALIVE = 0x0C
    KEEP_ALIVE_ACK = 0x0D
    SCOPED_TOKEN_REQUEST = 0x11
    SCOPED_TOKEN_ACK = 0x12
    SIM_REPORT = 0x30  # [sim] extension
    APP_STATUS = 0x32  # [sim] extension


# Seen in real traffic but not modelled (§1.3): decoded as Unknown so a newer peer does not break us.
_OBSERVED_UNMODELLED = frozenset({0x0E, 0x0F, 0x14, 0x1D, 0x20})


class CourierProtocolError(Exception):
    """The peer sent something that is not the courier protocol; the connection should be closed."""


class ConnectProofError(Exception):
    """A Connect's nonce or signature does not prove possession of the certificate's key (§1.5)."""


def topic_hash(topic: str) -> bytes:
    """What the wire carries for a topic: SHA-1 of its UTF-8 bytes, 20 bytes (§1.6)."""
    return hashlib.sha1(topic.encode("utf-8")).digest()


# -- items ------------------------------------------------------------------------------------------


def _uint(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")


def _frame(command: Command, items: Iterable[tuple[int, bytes | None]]) -> bytes:
    body = bytearray()
    for item_id, value in items:
        if value is None:
            continue
        if len(value) > MAX_ITEM_SIZE:
            raise ValueError(f"courier item 0x{item_id:02x} is {len(value)} bytes; an item holds at most 65535")
        body += bytes([item_id]) + _uint(len(value), 2) + value
    if len(body) > MAX_FRAME_SIZE:
        raise ValueError(f"courier frame of {len(body)} bytes exceeds the {MAX_FRAME_SIZE}-byte limit")
    return bytes([command]) + _uint(len(body), 4) + bytes(body)


class _Items:
    """The items of one received frame, with typed, checked accessors (errors name the command)."""

    __slots__ = ("_command", "_items")

    def __init__(self, command: Command | int, items: list[tuple[int, bytes]]) -> None:
        self._command = command
        self._items = items

    def _name(self) -> str:
        return self._command.name if isinstance(self._command, Command) else f"0x{self._command:02x}"

    def get(self, item_id: int, size: int | None = None) -> bytes | None:
        for i, value in self._items:
            if i == item_id:
                if size is not None and len(value) != size:
                    raise CourierProtocolError(
                        f"{self._name()} item {item_id} must be {size} bytes, got {len(value)}")
                return value
        return None

    def need(self, item_id: int, size: int | None = None) -> bytes:
        value = self.get(item_id, size)
        if value is None:
            raise CourierProtocolError(f"{self._name()} lacks required item {item_id}")
        return value

    def all(self, item_id: int, size: int | None = None) -> tuple[bytes, ...]:
        out = tuple(v for i, v in self._items if i == item_id)
        for value in out:
            if size is not None and len(value) != size:
                raise CourierProtocolError(f"{self._name()} item {item_id} must be {size} bytes")
        return out

    def uint(self, item_id: int, size: int, default: int | None = None) -> int | None:
        value = self.get(item_id, size)
        return default if value is None else int.from_bytes(value, "big")

    def need_int(self, item_id: int, size: int) -> int:
        return int.from_bytes(self.need(item_id, size), "big")

    def text(self, item_id: int) -> str | None:
        value = self.get(item_id)
        if value is None:
            return None
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CourierProtocolError(f"{self._name()} item {item_id} is not UTF-8") from exc

    def uuid(self, item_id: int) -> str | None:
        value = self.get(item_id, 16)
        return None if value is None else uuid_text(value)

    @property
    def raw(self) -> tuple[tuple[int, bytes], ...]:
        return tuple(self._items)


def uuid_text(value: bytes) -> str:
    """16 bytes as a canonical lower-case UUID string (what ``str(uuid.UUID(bytes=...))`` gives, ~4x cheaper:
    every Push and SimReport carries one)."""
    h = value.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _uuid_bytes(value: str) -> bytes:
    if len(value) == 36 and value[8] == value[13] == value[18] == value[23] == "-":
        try:  # the canonical form, which is all the simulator itself produces: skip uuid.UUID's parsing
            raw = bytes.fromhex(value.replace("-", ""))
        except ValueError:
            raw = b""
        if len(raw) == 16:
            return raw
    try:
        return uuid.UUID(value).bytes
    except ValueError as exc:
        raise ValueError(f"apns-id {value!r} is not a UUID") from exc


_OPEN, _CLOSE = frozenset(b"[{"), frozenset(b"]}")
_QUOTE, _BACKSLASH = ord('"'), ord("\\")


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text, brackets inside strings not counted.

    A loop over the bytes, not a parser: it cannot recurse (Python's ``json`` does, and fails near 1000 levels),
    and it does not care whether ``data`` is valid JSON (text that is not JSON counts its brackets the same
    way). Here, beside the codec, because both sides of the wire use it: the admin API before it parses a
    stored payload, the phone's command line before it prints one.
    """
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif byte in _CLOSE:
            depth = max(depth - 1, 0)
    return deepest


def deeper_than(data: bytes, limit: int) -> int:
    """``json_depth(data)`` when it is over ``limit``, else 0.

    Counting brackets is done in C and almost every payload has fewer than ``limit`` of them, which settles it
    without the byte loop (the admin API runs this inside the push, for every stage a dashboard's stream carries).
    """
    if data.count(b"[") + data.count(b"{") <= limit:
        return 0
    depth = json_depth(data)
    return depth if depth > limit else 0


def _value_depth(value: Any) -> int:
    """How deeply a decoded JSON value nests (an object or array is one level), without recursing."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_DETAIL_DEPTH:  # deeper than the limit is refused anyway: stop walking
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _utf8(value: str | None) -> bytes | None:
    return None if value is None else value.encode("utf-8")


# -- messages ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Connect:
    """0x07, device → APNs: who I am (certificate and proof, §1.5) and my cached base token."""

    certificate: bytes  # DER
    nonce: bytes
    signature: bytes
    base_token: bytes | None = None
    state: int = 1
    presence_flags: int = PRESENCE_USER
    protocol_version: int = PROTOCOL_VERSION
    retired_base_token: bytes | None = None  # [sim] item 0x31: given up at a restore or erase (rule 29)

    def encode(self) -> bytes:
        return _frame(Command.CONNECT, [
            (1, self.base_token), (2, _uint(self.state, 1)), (5, _uint(self.presence_flags, 4)),
            (12, self.certificate), (13, self.nonce), (14, self.signature), (16, _uint(self.protocol_version, 2)),
            (0x31, self.retired_base_token),
        ])

    @classmethod
    def decode(cls, items: _Items) -> Connect:
        return cls(
            certificate=items.need(12), nonce=items.need(13), signature=items.need(14), base_token=items.get(1),
            state=items.uint(2, 1, 1) or 0, presence_flags=items.uint(5, 4, PRESENCE_USER) or 0,
            protocol_version=items.uint(16, 2, PROTOCOL_VERSION) or 0, retired_base_token=items.get(0x31),
        )


@dataclass(frozen=True, kw_only=True)
class ConnectAck:
    """0x08, APNs → device: status 0 and the base token the device must adopt, or 2 and a close."""

    status: int
    base_token: bytes | None = None
    max_message_size: int | None = None
    server_time_ms: int | None = None
    reason: str | None = None  # [sim] item 0x30: why the Connect was refused

    def encode(self) -> bytes:
        return _frame(Command.CONNECT_ACK, [
            (1, _uint(self.status, 1)), (3, self.base_token),
            (4, None if self.max_message_size is None else _uint(self.max_message_size, 2)),
            (10, None if self.server_time_ms is None else _uint(self.server_time_ms, 8)), (0x30, _utf8(self.reason)),
        ])

    @classmethod
    def decode(cls, items: _Items) -> ConnectAck:
        return cls(status=items.need_int(1, 1), base_token=items.get(3), max_message_size=items.uint(4, 2),
                   server_time_ms=items.uint(10, 8), reason=items.text(0x30))


@dataclass(frozen=True, kw_only=True)
class Filter:
    """0x09, device → APNs: the topic hashes the device wants now (sent after connect and on changes)."""

    base_token: bytes | None = None
    enabled: tuple[bytes, ...] = ()
    ignored: tuple[bytes, ...] = ()

    def encode(self) -> bytes:
        items: list[tuple[int, bytes | None]] = [(1, self.base_token)]
        items += [(2, h) for h in self.enabled] + [(3, h) for h in self.ignored]
        return _frame(Command.FILTER, items)

    @classmethod
    def decode(cls, items: _Items) -> Filter:
        return cls(base_token=items.get(1), enabled=items.all(2, TOPIC_HASH_SIZE),
                   ignored=items.all(3, TOPIC_HASH_SIZE))


@dataclass(frozen=True, kw_only=True)
class Push:
    """0x0A, APNs → device: one notification for the app whose token and topic hash it names (§1.4)."""

    token: bytes
    topic: bytes  # SHA-1 of the topic
    payload: bytes
    message_id: int
    expiry: int | None = None  # UNIX seconds
    timestamp_ns: int | None = None
    storage_flags: int = 0  # 0x01 came from storage, 0x02 last stored message
    apns_id: str | None = None  # [sim] item 0x15, 16-byte UUID
    priority: int | None = None  # [sim] item 0x0D
    push_type: str | None = None  # [sim] item 0x1C
    collapse_id: str | None = None  # [sim] item 0x1E: the phone shows pushes sharing it as one

    def encode(self) -> bytes:
        return _frame(Command.PUSH, [
            (1, self.token), (2, self.topic), (3, self.payload), (4, _uint(self.message_id, 4)),
            (5, None if self.expiry is None else _uint(self.expiry, 4)),
            (6, None if self.timestamp_ns is None else _uint(self.timestamp_ns, 8)),
            (7, _uint(self.storage_flags, 1) if self.storage_flags else None),
            (0x0D, None if self.priority is None else _uint(self.priority, 1)),
            (0x15, None if self.apns_id is None else _uuid_bytes(self.apns_id)), (0x1C, _utf8(self.push_type)),
            (0x1E, _utf8(self.collapse_id)),
        ])

    @classmethod
    def decode(cls, items: _Items) -> Push:
        return cls(
            token=items.need(1), topic=items.need(2, TOPIC_HASH_SIZE), payload=items.need(3),
            message_id=items.need_int(4, 4), expiry=items.uint(5, 4), timestamp_ns=items.uint(6, 8),
            storage_flags=items.uint(7, 1, 0) or 0, apns_id=items.uuid(0x15), priority=items.uint(0x0D, 1),
            push_type=items.text(0x1C), collapse_id=items.text(0x1E),
        )

    @property
    def from_storage(self) -> bool:
        return bool(self.storage_flags & 0x01)


@dataclass(frozen=True, kw_only=True)
class PushAck:
    """0x0B, device → APNs: the push with this message id was taken (0) or refused (non-zero)."""

    message_id: int
    status: int = ACK_OK
    token: bytes | None = None

    def encode(self) -> bytes:
        return _frame(Command.PUSH_ACK, [(1, self.token), (4, _uint(self.message_id, 4)), (8, _uint(self.status, 1))])

    @classmethod
    def decode(cls, items: _Items) -> PushAck:
        return cls(token=items.get(1), message_id=items.need_int(4, 4), status=items.need_int(8, 1))


@dataclass(frozen=True, kw_only=True)
class KeepAlive:
    """0x0C, device → APNs: I am still here (sent empty, like pypush and rustpush)."""

    def encode(self) -> bytes:
        return _frame(Command.KEEP_ALIVE, [])

    @classmethod
    def decode(cls, items: _Items) -> KeepAlive:
        return cls()


@dataclass(frozen=True, kw_only=True)
class KeepAliveAck:
    """0x0D, APNs → device: the answer to a keep-alive."""

    def encode(self) -> bytes:
        return _frame(Command.KEEP_ALIVE_ACK, [])

    @classmethod
    def decode(cls, items: _Items) -> KeepAliveAck:
        return cls()


@dataclass(frozen=True, kw_only=True)
class ScopedTokenRequest:
    """0x11, device → APNs: mint (or return) the app's token for this topic (§1.7).

    ``push_type`` "voip" asks for the app's PushKit token: ``bundle_id`` (item 3) is then the VoIP topic
    ``<bundle>.voip`` and ``topic`` its SHA-1, as for every topic on the wire (docs/device-side.md §2.7).
    """

    topic: bytes
    bundle_id: str  # [sim] item 3 as UTF-8: the topic's text
    base_token: bytes | None = None
    push_type: str | None = None  # [sim] item 0x1C: "voip" for a PushKit token; absent: the APNs token

    def encode(self) -> bytes:
        return _frame(Command.SCOPED_TOKEN_REQUEST, [(1, self.base_token), (2, self.topic), (3, _utf8(self.bundle_id)),
                                                     (0x1C, _utf8(self.push_type))])

    @classmethod
    def decode(cls, items: _Items) -> ScopedTokenRequest:
        bundle_id = items.text(3)
        if not bundle_id:
            raise CourierProtocolError("SCOPED_TOKEN_REQUEST lacks the bundle id (item 3)")
        return cls(base_token=items.get(1), topic=items.need(2, TOPIC_HASH_SIZE), bundle_id=bundle_id,
                   push_type=items.text(0x1C))


@dataclass(frozen=True, kw_only=True)
class ScopedTokenAck:
    """0x12, APNs → device: status and the app's token for the topic."""

    status: int
    topic: bytes
    token: bytes | None = None
    reason: str | None = None  # [sim] item 0x30

    def encode(self) -> bytes:
        return _frame(Command.SCOPED_TOKEN_ACK, [
            (1, _uint(self.status, 1)), (2, self.token), (3, self.topic), (0x30, _utf8(self.reason)),
        ])

    @classmethod
    def decode(cls, items: _Items) -> ScopedTokenAck:
        return cls(status=items.need_int(1, 1), token=items.get(2), topic=items.need(3, TOPIC_HASH_SIZE),
                   reason=items.text(0x30))


@dataclass(frozen=True, kw_only=True)
class SimReport:
    """0x30 [sim], device → APNs: what the phone did with a push, for the journey log (stage 3).

    One frame may carry several stages of the same push, in the order they happened: the phone hands a push
    to the app and presents it in one go, so it sends ``handed_to_app`` with ``presented`` in ``later`` and
    APNs decodes one frame per push instead of two. Items: 1 = apns-id (16-byte UUID), then one item 2
    (stage, UTF-8) and one item 3 (detail, a JSON object) per stage.
    """

    apns_id: str
    stage: str
    detail: dict[str, Any] = field(default_factory=dict)
    later: tuple[tuple[str, dict[str, Any]], ...] = ()  # further stages of the same push, in order

    @property
    def stages(self) -> tuple[tuple[str, dict[str, Any]], ...]:
        return ((self.stage, self.detail), *self.later)

    def encode(self) -> bytes:
        items: list[tuple[int, bytes | None]] = [(1, _uuid_bytes(self.apns_id))]
        for stage, detail in self.stages:
            items += [(2, _utf8(stage)), (3, json.dumps(detail, separators=(",", ":"), default=str).encode())]
        return _frame(Command.SIM_REPORT, items)

    @classmethod
    def decode(cls, items: _Items) -> SimReport:
        apns_id, names, raws = items.uuid(1), items.all(2), items.all(3)
        if apns_id is None or not names or not all(names):
            raise CourierProtocolError("SIM_REPORT needs an apns-id (item 1) and a stage (item 2)")
        if len(raws) > len(names):
            raise CourierProtocolError("SIM_REPORT has more details (item 3) than stages (item 2)")
        stages: list[tuple[str, dict[str, Any]]] = []
        for i, name in enumerate(names):
            raw = raws[i] if i < len(raws) else b""
            try:
                stage = name.decode("utf-8")
                detail = json.loads(raw) if raw else {}
            except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
                raise CourierProtocolError(f"SIM_REPORT stage {i + 1} is not UTF-8 text with a JSON detail") from exc
            except RecursionError as exc:  # nesting deeper than the interpreter's stack: garbage, not a bug of ours
                raise CourierProtocolError(f"SIM_REPORT detail (item 3) nests deeper than {MAX_DETAIL_DEPTH} "
                                           "levels") from exc
            if not isinstance(detail, dict):
                raise CourierProtocolError("SIM_REPORT detail (item 3) must be a JSON object")
            if _value_depth(detail) > MAX_DETAIL_DEPTH:
                raise CourierProtocolError(f"SIM_REPORT detail (item 3) nests deeper than {MAX_DETAIL_DEPTH} levels")
            stages.append((stage, detail))
        (stage, detail), *later = stages
        return cls(apns_id=apns_id, stage=stage, detail=detail, later=tuple(later))


@dataclass(frozen=True, kw_only=True)
class AppStatus:
    """0x32 [sim], device → APNs: one app's permission, badge and state, for the dashboard (never Apple's).

    Items: 1 = bundle id, 2 = environment ("sandbox"/"production", the connection's own), 3 = permission
    status (one of PERMISSION_STATUSES), 4 (repeated) = an allowed option ("alert", "sound", "badge"), 5 =
    badge number (4 bytes), 6 = app state (one of APP_STATES); strings UTF-8. The phone sends the whole
    status each time, so the latest frame is all APNs needs to keep.
    """

    bundle_id: str
    environment: str
    permission: str
    options: tuple[str, ...] = ()
    badge: int = 0
    state: str

    def encode(self) -> bytes:
        items: list[tuple[int, bytes | None]] = [(1, _utf8(self.bundle_id)), (2, _utf8(self.environment)),
                                                 (3, _utf8(self.permission))]
        items += [(4, _utf8(option)) for option in self.options]
        items += [(5, _uint(self.badge, 4)), (6, _utf8(self.state))]
        return _frame(Command.APP_STATUS, items)

    @classmethod
    def decode(cls, items: _Items) -> AppStatus:
        bundle_id, environment = items.text(1), items.text(2)
        permission, state = items.text(3), items.text(6)
        if not bundle_id or not environment:
            raise CourierProtocolError("APP_STATUS needs a bundle id (item 1) and an environment (item 2)")
        if permission not in PERMISSION_STATUSES:
            raise CourierProtocolError(f"APP_STATUS permission (item 3) {permission!r} is not one of "
                                       f"{PERMISSION_STATUSES}")
        if state not in APP_STATES:
            raise CourierProtocolError(f"APP_STATUS app state (item 6) {state!r} is not one of {APP_STATES}")
        try:
            options = tuple(option.decode("utf-8") for option in items.all(4))
        except UnicodeDecodeError as exc:
            raise CourierProtocolError("APP_STATUS option (item 4) is not UTF-8") from exc
        return cls(bundle_id=bundle_id, environment=environment, permission=permission, options=options,
                   badge=items.need_int(5, 4), state=state)


@dataclass(frozen=True, kw_only=True)
class Unknown:
    """A command seen in real traffic that we do not model (0x0E, 0x0F, 0x14, ...); safe to ignore."""

    command: int
    items: tuple[tuple[int, bytes], ...] = ()


Message: TypeAlias = (Connect | ConnectAck | Filter | Push | PushAck | KeepAlive | KeepAliveAck
                      | ScopedTokenRequest | ScopedTokenAck | SimReport | AppStatus | Unknown)

_DECODERS: dict[int, Any] = {
    Command.CONNECT: Connect, Command.CONNECT_ACK: ConnectAck, Command.FILTER: Filter, Command.PUSH: Push,
    Command.PUSH_ACK: PushAck, Command.KEEP_ALIVE: KeepAlive, Command.KEEP_ALIVE_ACK: KeepAliveAck,
    Command.SCOPED_TOKEN_REQUEST: ScopedTokenRequest, Command.SCOPED_TOKEN_ACK: ScopedTokenAck,
    Command.SIM_REPORT: SimReport, Command.APP_STATUS: AppStatus,
}


# -- decoding ---------------------------------------------------------------------------------------


def _split_items(command: int, body: bytes) -> list[tuple[int, bytes]]:
    items: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(body):
        if pos + ITEM_HEADER_SIZE > len(body):
            raise CourierProtocolError(f"command 0x{command:02x}: truncated item header at byte {pos}")
        item_id, size = body[pos], int.from_bytes(body[pos + 1 : pos + 3], "big")
        pos += ITEM_HEADER_SIZE
        if pos + size > len(body):
            raise CourierProtocolError(f"command 0x{command:02x}: item {item_id} runs past the end of the frame")
        items.append((item_id, body[pos : pos + size]))
        pos += size
    return items


def decode_frame(command: int, body: bytes) -> Message:
    """One complete frame's body to a message; CourierProtocolError if it is not a valid one."""
    items = _split_items(command, body)
    cls = _DECODERS.get(command)
    if cls is None:
        return Unknown(command=command, items=tuple(items))
    message: Message = cls.decode(_Items(Command(command), items))
    return message


class Decoder:
    """Incremental frame decoder: ``feed(bytes) -> [messages]``, keeping partial frames between calls.

    It fails fast: a first byte that is no courier command (e.g. a TLS record or "GET /") or a length
    over ``max_frame_size`` raises at once, without waiting for (or buffering) the announced bytes. After
    an error the decoder stays broken; close the connection.
    """

    __slots__ = ("_buffer", "_error", "max_frame_size")

    def __init__(self, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        self._buffer = bytearray()
        self._error: CourierProtocolError | None = None
        self.max_frame_size = max_frame_size

    def feed(self, data: bytes) -> list[Message]:
        if self._error is not None:
            raise self._error
        self._buffer += data
        out: list[Message] = []
        try:
            while self._buffer:
                command = self._buffer[0]
                if command not in _DECODERS and command not in _OBSERVED_UNMODELLED:
                    raise CourierProtocolError(f"0x{command:02x} is not a courier command: not our protocol")
                if len(self._buffer) < HEADER_SIZE:
                    break
                size = int.from_bytes(self._buffer[1:HEADER_SIZE], "big")
                if size > self.max_frame_size:
                    raise CourierProtocolError(
                        f"frame of {size} bytes announced; the limit is {self.max_frame_size}")
                if len(self._buffer) < HEADER_SIZE + size:
                    break
                body = bytes(self._buffer[HEADER_SIZE : HEADER_SIZE + size])
                del self._buffer[: HEADER_SIZE + size]
                out.append(decode_frame(command, body))
        except CourierProtocolError as exc:
            self._error = exc
            self._buffer = bytearray()
            raise
        return out

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame waiting for more data."""
        return len(self._buffer)


# -- device authentication (§1.5) -------------------------------------------------------------------


def make_connect_proof(private_key: rsa.RSAPrivateKey, now_ms: int, *, random: bytes | None = None
                       ) -> tuple[bytes, bytes]:
    """(nonce, signature) for Connect items 13 and 14.

    nonce = 0x00 ‖ 8-byte big-endian milliseconds ‖ 8 random bytes; signature = 0x01 0x01 ‖ RSA PKCS#1 v1.5
    SHA-1 over the nonce with the device key (pypush ``lifecycle.py``, rustpush ``auth.rs``).
    """
    salt = os.urandom(8) if random is None else random
    if len(salt) != 8:
        raise ValueError("the nonce's random part is 8 bytes")
    nonce = b"\x00" + _uint(now_ms, 8) + salt
    return nonce, SIGNATURE_PREFIX + private_key.sign(nonce, padding.PKCS1v15(), hashes.SHA1())


def verify_connect_proof(certificate: x509.Certificate, nonce: bytes, signature: bytes, now_ms: int,
                         max_skew_ms: int) -> None:
    """Check that the Connect was signed just now by the holder of ``certificate``'s key.

    Raises ConnectProofError saying what is wrong. Whether the certificate itself is trusted is the
    caller's separate check (it was issued by the device CA at activation).
    """
    if len(nonce) != NONCE_SIZE or nonce[0] != 0:
        raise ConnectProofError("the Connect nonce must be 17 bytes: 0x00, 8-byte milliseconds, 8 random bytes")
    stamped = int.from_bytes(nonce[1:9], "big")
    if abs(now_ms - stamped) > max_skew_ms:
        raise ConnectProofError(
            f"the Connect nonce is stamped {stamped} ms but the server time is {now_ms} ms "
            f"(more than {max_skew_ms} ms apart): check the phone's clock")
    if not signature.startswith(SIGNATURE_PREFIX):
        raise ConnectProofError("the Connect signature must start with 01 01 (RSA PKCS#1 v1.5, SHA-1)")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise ConnectProofError("the device certificate must hold an RSA key (the proof is an RSA signature)")
    try:
        key.verify(signature[len(SIGNATURE_PREFIX):], nonce, padding.PKCS1v15(), hashes.SHA1())
    except InvalidSignature as exc:
        raise ConnectProofError("the Connect signature does not match the device certificate's key") from exc
