"""The provider API's HTTP/2 connection, sans-IO: bytes in, decisions by a handler, bytes out.

A thin wrapper around ``h2.connection.H2Connection`` (the h2/h11 shape, docs/style.md): the asyncio adapter
feeds :meth:`ProviderConnection.receive_data` and writes :meth:`ProviderConnection.data_to_send`; the
decision for each complete request comes from a :class:`RequestHandler` (authentication + validation +
delivery), as in pushy's mock server where the handler decides and the transport only answers.

What APNs does on the wire (docs/apns-protocol.md §4.1, §7):

- SETTINGS as observed: HEADER_TABLE_SIZE 4096, MAX_HEADER_LIST_SIZE 8000, MAX_CONCURRENT_STREAMS 1 on a
  token connection until the first valid provider token, then the configured limit (1000 by default);
  certificate connections get the full limit at once. A stream beyond the limit gets RST_STREAM
  REFUSED_STREAM (Apple was once seen answering with a connection GOAWAY instead, I-pushy356; refusing the
  stream is what RFC 9113 §5.1.2 allows and what clients such as pushy retry).
- A large connection window from the start (16 MiB), acknowledged as data arrives: a 64 KiB window stalls
  high-concurrency senders (docs/benchmarks.md).
- Success: HEADERS ``:status 200``, ``apns-id`` (echoed verbatim, else a new upper-case UUID) and, in
  sandbox only, ``apns-unique-id``; END_STREAM on the HEADERS. Error: HEADERS (``:status``,
  ``content-type: application/json``, ``apns-id``) then ONE DATA frame ``{"reason": ...}`` (plus
  ``timestamp`` for 410) with END_STREAM; clients such as aioapns parse each DATA frame as a whole body.
- Connection-level errors are GOAWAY frames whose debug data is JSON ``{"reason": ...}``; a graceful close
  is GOAWAY ``Shutdown`` (or ``IdleTimeout``) after which open streams still finish.
- A malformed request is refused on its own stream (RST_STREAM, RFC 9113 §5.4.2; :mod:`.strict_h2`); broken
  framing ends this connection only; an exception in the handler is 500 ``InternalServerError`` for that stream.
- Bounds (docs/limits.md §1): streams whose answer waits for window or a fault count against the limit; a
  client that keeps opening streams over it gets GOAWAY ENHANCE_YOUR_CALM; parked request bodies have a budget.
- Fault injection (:mod:`apns_sim.faults.plan`): a handler may answer :class:`~apns_sim.faults.plan.Injected`, acted
  out here on the wire: any status and reason, a held answer (a timer the adapter arms from ``timers``),
  GOAWAY with a JSON reason, RST_STREAM, a stream left unanswered, an aborted connection (``aborted``), a
  lower MAX_CONCURRENT_STREAMS sent as SETTINGS.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any, Protocol

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import hpack
from hpack.hpack import encode_integer as _encode_integer
from hpack.table import HeaderTable
from hyperframe.frame import GoAwayFrame

from apns_sim.faults import plan
from apns_sim.faults.plan import Injected
from apns_sim.limits import PROVIDER_BODY_KEPT, PROVIDER_PARKED_BYTES, PROVIDER_REFUSED_STREAMS
from apns_sim.provider_api.hpack_cache import CachingDecoder
from apns_sim.provider_api.strict_h2 import StrictH2Connection
from apns_sim.push.reasons import Reason
from apns_sim.push.request import Accepted, MalformedRequest, Outcome, PushRequest, Rejection, parse_request
from apns_sim.push.validation import echo_apns_id

HEADER_TABLE_SIZE = 4096
MAX_HEADER_LIST_SIZE = 8000
CONNECTION_WINDOW = 16 * 1024 * 1024
_DEFAULT_WINDOW = 65535
MAX_BODY_KEPT = PROVIDER_BODY_KEPT  # beyond this a body only counts bytes: it is PayloadTooLarge anyway
_SLICE = 16 * 1024  # bytes handed to h2 at a time
_STATUS = {reason.status: str(reason.status).encode() for reason in Reason}
_SETTING = h2.settings.SettingCodes
_STATIC = HeaderTable.STATIC_TABLE_MAPPING


class RequestHandler(Protocol):
    """Decides one request. ``gate_open`` turns true once the connection has valid credentials."""

    @property
    def gate_open(self) -> bool: ...

    def unlock(self, authorization: str) -> bool:
        """A stream arrived while the gate is shut: do these credentials open it? (verified once, cached)"""
        ...

    def handle(self, request: PushRequest, apns_id: str) -> Outcome | Injected: ...


class _AdvertisedSettings(h2.settings.Settings):
    """Local settings whose MAX_CONCURRENT_STREAMS h2 advertises but does not enforce.

    h2 answers a stream over the limit with a GOAWAY that kills every other stream; the limit is enforced
    per stream in :class:`ProviderConnection` instead.
    """

    @property
    def max_concurrent_streams(self) -> int:
        return 2**31 - 1

    @max_concurrent_streams.setter
    def max_concurrent_streams(self, value: int) -> None:
        self[_SETTING.MAX_CONCURRENT_STREAMS] = value


class _ResponseEncoder(hpack.Encoder):
    """HPACK for our responses: static-table hits, else literals never indexed, no Huffman.

    Each response carries a fresh ``apns-id`` (and ``apns-unique-id``): indexing them only churns the dynamic
    table, and pure-Python Huffman coding is among the largest costs per request (docs/benchmarks.md).
    Table size changes the client asks for are still signalled first, as RFC 7541 §4.2 requires.
    """

    def encode(self, headers: Any, huffman: bool = True) -> bytes:
        block = bytearray()
        table = self.header_table
        if table.resized:
            block += self._encode_table_size_change()
            table.resized = False
        for name, value in headers:
            static = _STATIC.get(name)
            if static is not None:
                index = static[1].get(value)
                if index is not None:
                    block.append(0x80 | index)
                    continue
                prefix = _encode_integer(static[0], 4)
                prefix[0] |= 0x10
                block += prefix
            else:
                block.append(0x10)
                block += _string(name)
            block += _string(value)
        return bytes(block)


def _string(data: bytes) -> bytes:
    """An HPACK string literal without Huffman coding (RFC 7541 §5.2)."""
    if len(data) < 0x7F:
        return bytes((len(data),)) + data
    return bytes(_encode_integer(len(data), 7)) + data


class _Stream:
    __slots__ = ("chunks", "headers", "size")

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        self.headers = headers
        self.chunks: list[bytes] = []
        self.size = 0


def random_uuid() -> str:
    """A version-4 UUID string, lower case (``str(uuid.uuid4())`` at a fraction of the cost)."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


class UniqueIds:
    """``apns-unique-id`` values for one connection: version-4 UUIDs, unique, cheap.

    Apple gives every sandbox response one (§4.1) to look the push up later; it only has to be unique.
    A random per-connection prefix (74 random bits, version and variant set) followed by a 48-bit counter
    costs one string format per response instead of ``os.urandom`` plus slicing.
    """

    __slots__ = ("_next", "_prefix")

    def __init__(self) -> None:
        self._prefix = random_uuid()[:24].encode()  # "xxxxxxxx-xxxx-4xxx-yxxx-"
        self._next = int.from_bytes(os.urandom(6), "big")

    def __call__(self) -> bytes:
        self._next = (self._next + 1) & 0xFFFFFFFFFFFF
        return self._prefix + b"%012x" % self._next


def new_apns_id() -> str:
    """An APNs-generated id: canonical UUID, upper case as Apple's are seen (§2.1, TRACE-CURL)."""
    return random_uuid().upper()


class ProviderConnection:
    """One provider connection's HTTP/2 state. Not thread-safe; one instance per TCP connection."""

    def __init__(self, handler: RequestHandler, *, environment: str, max_concurrent_streams: int = 1000,
                 alpn: str | None = None) -> None:
        self._handler = handler
        self._sandbox = environment == "sandbox"
        self._unique_id = UniqueIds()
        self._max_streams = max_concurrent_streams
        self._limit = max_concurrent_streams if handler.gate_open else 1
        self._streams: dict[int, _Stream] = {}
        self._blocked: dict[int, bytes] = {}  # error bodies waiting for flow-control credit
        self._parked = 0  # body bytes kept in self._streams (docs/limits.md §1.2)
        self._refused = 0  # streams refused since the last one admitted (docs/limits.md §1.1)
        self._pending = b""  # frames we serialized ourselves (graceful GOAWAY), ahead of h2's output
        self._goaway_last: int | None = None  # set once a graceful GOAWAY went out
        self._peer_goaway = False
        self._fatal = False
        self._held: set[int] = set()  # streams whose answer a delay fault holds back
        self._quiet_goaway = False  # a goaway fault: later streams are dropped without a word (RFC 9113 §6.8)
        self.aborted = False  # a close fault: the adapter aborts the transport instead of closing it
        # (seconds, callback) the adapter runs later, then flushes: delay faults hold answers this way
        self.timers: list[tuple[float, Callable[[], None]]] = []
        config = h2.config.H2Configuration(
            client_side=False, header_encoding=None,
            # request.parse_request checks what HTTP/2 calls malformed, per stream; ours go out well-formed
            validate_inbound_headers=False, normalize_inbound_headers=False,
            validate_outbound_headers=False, normalize_outbound_headers=False,
        )
        self._conn = conn = StrictH2Connection(config=config)
        conn.encoder = _ResponseEncoder()
        conn.local_settings = _AdvertisedSettings(client=False, initial_values={
            _SETTING.HEADER_TABLE_SIZE: HEADER_TABLE_SIZE,
            _SETTING.MAX_CONCURRENT_STREAMS: self._limit,
            _SETTING.MAX_HEADER_LIST_SIZE: MAX_HEADER_LIST_SIZE,
        })
        # Same headers and errors as h2's decoder, minus re-decoding the blocks and the provider token a
        # provider sends again and again (apns_sim.provider_api.hpack_cache); scoped to this connection.
        conn.decoder = CachingDecoder(MAX_HEADER_LIST_SIZE)
        self._dispatch: dict[type, Callable[[Any], None]] = {
            h2.events.RequestReceived: self._on_request,
            h2.events.DataReceived: self._on_data,
            h2.events.StreamEnded: self._on_stream_ended,
            h2.events.StreamReset: self._on_stream_reset,
            h2.events.WindowUpdated: self._on_window,
            h2.events.RemoteSettingsChanged: self._on_window,
            h2.events.ConnectionTerminated: self._on_terminated,
        }
        if alpn not in (None, "h2"):
            self._fatal = True  # HTTP/1.1 and friends are refused (§1): close without a word
            return
        conn.initiate_connection()
        conn.increment_flow_control_window(CONNECTION_WINDOW - _DEFAULT_WINDOW)

    # -- the adapter's interface ----------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the socket; responses are queued for :meth:`data_to_send`."""
        # In slices: h2 parses a whole buffer before we see its first event, and a read can hold thousands of
        # streams; a connection that has to go is stopped after the slice that showed it (docs/limits.md §1.1).
        view = memoryview(data)
        for start in range(0, len(view), _SLICE):
            if self._fatal:
                break
            try:
                events = self._conn.receive_data(view[start:start + _SLICE])
            except h2.exceptions.ProtocolError:
                self._fatal = True  # h2 queued a GOAWAY with the matching error code
                break
            dispatch = self._dispatch
            try:
                for event in events:
                    handler = dispatch.get(type(event))
                    if handler is not None:
                        handler(event)
            except Exception:  # a bug of ours: this connection ends, the server goes on
                self._conn.close_connection(error_code=h2.errors.ErrorCodes.INTERNAL_ERROR,
                                            additional_data=Reason.INTERNAL_SERVER_ERROR.body)
                self._fatal = True
                raise
        self._conn.prune()

    def data_to_send(self) -> bytes:
        data = self._conn.data_to_send()
        if self._pending:
            data, self._pending = self._pending + data, b""
        return data

    @property
    def finished(self) -> bool:
        """Nothing more will happen here: write what is queued, then close the transport."""
        if self._fatal:
            return True
        closing = self._goaway_last is not None or self._peer_goaway
        return closing and not self._streams and not self._blocked and not self._held

    handler = property(lambda self: self._handler, doc="The connection's RequestHandler.")

    @property
    def authenticated(self) -> bool:
        """Valid credentials seen: a client certificate, or a request with a valid provider token."""
        return self._handler.gate_open

    @property
    def streams_in_use(self) -> int:
        """Streams counted against the limit: reading a request, answer waiting for window, or held by a fault."""
        return len(self._streams) + len(self._blocked) + len(self._held)

    @property
    def stream_limit(self) -> int:
        """The MAX_CONCURRENT_STREAMS this connection currently advertises."""
        return self._limit

    def refuse(self, reason: Reason) -> None:
        """Refuse the whole connection now: GOAWAY, last stream 0, NO_ERROR, ``{"reason": ...}`` (§6, §7)."""
        if self._fatal:
            return
        self._conn.close_connection(error_code=h2.errors.ErrorCodes.NO_ERROR, additional_data=reason.body,
                                    last_stream_id=0)
        self._fatal = True

    def close_gracefully(self, reason: Reason = Reason.SHUTDOWN) -> None:
        """GOAWAY with ``reason`` (Shutdown, IdleTimeout); streams already started still get answers."""
        if self._fatal or self._goaway_last is not None:
            return
        self._goaway(self._conn.highest_inbound_stream_id, h2.errors.ErrorCodes.NO_ERROR, reason)

    def _goaway(self, last: int, code: h2.errors.ErrorCodes, reason: Reason) -> None:
        """GOAWAY serialized by hand: h2 would close the connection at once, we still answer streams <= last."""
        self._goaway_last = last
        frame = GoAwayFrame(0, last_stream_id=last, error_code=code, additional_data=reason.body)
        self._pending += self._conn.data_to_send() + frame.serialize()

    # -- h2 events -----------------------------------------------------------------------------------

    def _on_request(self, event: h2.events.RequestReceived) -> None:
        sid = event.stream_id
        headers: list[tuple[bytes, bytes]] = event.headers
        if self._limit < self._max_streams:
            self._try_unlock(headers)
        after_goaway = self._goaway_last is not None and sid > self._goaway_last
        if after_goaway or self.streams_in_use >= self._limit:
            if not (self._quiet_goaway and after_goaway):
                self._refuse_stream(sid)
            return
        self._refused = 0
        if event.stream_ended is not None:
            self._finish(sid, headers, b"", 0)
        else:
            self._streams[sid] = _Stream(headers)

    def _on_data(self, event: h2.events.DataReceived) -> None:
        sid = event.stream_id
        stream = self._streams.get(sid)
        data = event.data or b""
        if event.flow_controlled_length:
            self._conn.acknowledge_received_data(event.flow_controlled_length, sid)
        if stream is not None:
            stream.size += len(data)
            if stream.size <= MAX_BODY_KEPT:
                stream.chunks.append(data)
                self._parked += len(data)
                if self._parked > PROVIDER_PARKED_BYTES:  # docs/limits.md §1.2: this stream goes, not the rest
                    self._drop(sid)
                    self._refuse_stream(sid)

    def _on_stream_ended(self, event: h2.events.StreamEnded) -> None:
        stream = self._drop(event.stream_id)
        if stream is None:
            return
        chunks = stream.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._finish(event.stream_id, stream.headers, body, stream.size)

    def _on_stream_reset(self, event: h2.events.StreamReset) -> None:
        self._drop(event.stream_id)
        self._blocked.pop(event.stream_id, None)
        self._held.discard(event.stream_id)

    def _drop(self, sid: int) -> _Stream | None:
        stream = self._streams.pop(sid, None)
        if stream is not None:
            self._parked -= sum(map(len, stream.chunks))
        return stream

    def _refuse_stream(self, sid: int) -> None:
        """RST_STREAM REFUSED_STREAM; who keeps it up gets GOAWAY ENHANCE_YOUR_CALM (docs/limits.md §1.1).
        An honest client is never refused; one that ignores the limit while its answers wait for window (it
        does not read) would keep us parsing and resetting its streams forever.
        """
        self._reset(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
        self._refused += 1
        if self._refused > PROVIDER_REFUSED_STREAMS and not self._fatal:
            self._conn.close_connection(error_code=h2.errors.ErrorCodes.ENHANCE_YOUR_CALM)
            self._fatal = True
            self._dispatch.clear()  # the rest of this read is not worth parsing

    def _on_window(self, _event: object) -> None:
        for sid, body in list(self._blocked.items()):
            if self._try_send_body(sid, body):
                del self._blocked[sid]

    def _on_terminated(self, _event: h2.events.ConnectionTerminated) -> None:
        self._peer_goaway = True

    # -- answers -------------------------------------------------------------------------------------

    def _finish(self, sid: int, headers: list[tuple[bytes, bytes]], body: bytes, size: int) -> None:
        try:
            request = parse_request(headers, body, size)
        except MalformedRequest:
            self._reset(sid, h2.errors.ErrorCodes.PROTOCOL_ERROR)
            return
        apns_id = echo_apns_id(request.header("apns-id")) or new_apns_id()
        try:
            outcome = self._handler.handle(request, apns_id)
        except Exception:
            outcome = Rejection(Reason.INTERNAL_SERVER_ERROR)
        with contextlib.suppress(h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            # (suppressed: the client reset the stream meanwhile, nobody to answer)
            self._respond(sid, apns_id.encode("utf-8", "surrogateescape"), outcome)
        if self._limit < self._max_streams and self._handler.gate_open:
            self._raise_limit()

    def _try_unlock(self, headers: list[tuple[bytes, bytes]]) -> None:
        """The token gate opens as soon as a request's headers carry a valid token (§5 "Stream gate").

        Checking at HEADERS time rather than after the body lets a client that sent its first requests
        before reading our SETTINGS keep them, when the first one is properly authenticated.
        """
        for name, value in headers:
            if name == b"authorization":
                try:
                    unlocked = self._handler.unlock(value.decode("utf-8", "surrogateescape"))
                except Exception:
                    unlocked = False
                if unlocked:
                    self._raise_limit()
                return

    def _raise_limit(self) -> None:
        self._limit = self._max_streams
        self._conn.update_settings({_SETTING.MAX_CONCURRENT_STREAMS: self._max_streams})

    def _respond(self, sid: int, apns_id: bytes, outcome: Outcome | Injected, status: int | None = None) -> None:
        if isinstance(outcome, Accepted):
            headers = [(b":status", b"200"), (b"apns-id", apns_id)]
            if self._sandbox:
                headers.append((b"apns-unique-id", self._unique_id()))
            self._conn.send_headers(sid, headers, end_stream=True)
            return
        if isinstance(outcome, Injected):
            self._inject(sid, apns_id, outcome)
            return
        reason = outcome.reason
        self._conn.send_headers(sid, [(b":status", _STATUS[status or reason.status]),
                                      (b"content-type", b"application/json"), (b"apns-id", apns_id)])
        body = reason.error_body(outcome.timestamp)
        if not self._try_send_body(sid, body):
            self._blocked[sid] = body

    def _try_send_body(self, sid: int, body: bytes) -> bool:
        """Send the whole error body as one DATA frame, or not at all (wait for WINDOW_UPDATE)."""
        try:
            room = min(self._conn.local_flow_control_window(sid), self._conn.max_outbound_frame_size)
            if room < len(body):
                return False
            self._conn.send_data(sid, body, end_stream=True)
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            pass
        return True

    def _reset(self, sid: int, code: h2.errors.ErrorCodes) -> None:
        with contextlib.suppress(h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            self._conn.reset_stream(sid, code)

    # -- faults (apns_sim.faults.plan), acted out on the wire ---------------------------------------------------

    def _inject(self, sid: int, apns_id: bytes, injected: Injected) -> None:
        rule, outcome = injected.rule, injected.outcome
        kind = rule.kind
        if kind == plan.REASON and isinstance(outcome, Rejection):
            self._respond(sid, apns_id, outcome, rule.status)
        elif kind == plan.DELAY and outcome is not None:
            self._held.add(sid)
            self.timers.append((rule.seconds or 0.0, lambda: self._answer_held(sid, apns_id, outcome)))
        elif kind == plan.MAX_STREAMS and outcome is not None and rule.streams is not None:
            self._max_streams = rule.streams
            if self._limit > rule.streams:
                self._limit = rule.streams
                self._conn.update_settings({_SETTING.MAX_CONCURRENT_STREAMS: rule.streams})
            self._respond(sid, apns_id, outcome)
        elif kind == plan.GOAWAY:
            if outcome is not None:  # last_stream "current": this one is answered, then GOAWAY
                self._respond(sid, apns_id, outcome)
            last = sid if outcome is not None else max(sid - 2, 0)
            if self._goaway_last is None:
                # No frame for the streams above last after it: h2-based clients (ours, aioapns) fail the whole
                # read on a frame after GOAWAY, and the GOAWAY already tells them these were not processed.
                self._quiet_goaway = True
                self._goaway(last, _error_code(rule.error_code), rule.wire_reason or Reason.SHUTDOWN)
            for other in [s for s in self._streams if s > last]:
                del self._streams[other]  # above last_stream_id: never processed, the client resends them
        elif kind == plan.RST_STREAM:
            self._reset(sid, _error_code(rule.error_code))
        elif kind == plan.CLOSE:
            self._fatal = self.aborted = True
            self._dispatch.clear()  # the rest of this read is never processed: the connection is gone
        # HANG: nothing at all; the stream stays open until the client resets it or the connection ends

    def _answer_held(self, sid: int, apns_id: bytes, outcome: Outcome) -> None:
        """A delay fault's timer fired: the normal answer goes out now (unless the client gave up)."""
        if sid not in self._held or self._fatal:
            return
        self._held.discard(sid)
        with contextlib.suppress(h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            self._respond(sid, apns_id, outcome)


def _error_code(name: str | None) -> h2.errors.ErrorCodes:
    return h2.errors.ErrorCodes[name or "INTERNAL_ERROR"]
