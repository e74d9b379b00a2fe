"""One HTTP/2 connection to APNs: ``h2`` for the protocol, asyncio streams for TLS and the socket.

The adapter is a short loop (docs/style.md habit 4): read bytes, feed ``h2``, act on its events, write what it
queued. What it must get right against the real service (docs/apns-protocol.md §7):

- MAX_CONCURRENT_STREAMS is whatever the server says *now*. Token connections start at 1 and are raised
  after the first valid JWT (§5 "Stream gate"); a rejected push may lower it again. ``request`` waits until a
  slot is free under the current value, and no stream is opened before the server's first SETTINGS.
- GOAWAY: streams above ``last_stream_id`` were not processed and are safe to resend (``StreamRefused``); the
  debug data may carry ``{"reason": ...}`` (§6: ``BadCertificateEnvironment``), which is kept on the error.
- A large receive window, so responses never stall on flow control; request bodies honour the server's window.
- PING for health checks; a per-request timeout that cancels the stream.
- The first fatal error is kept and raised for every waiting request (httpcore's habit, docs/style.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from provider.apns.errors import ConnectFailed, ConnectionLost, RequestTimeout, StreamRefused, TransportError
from provider.apns.header_encoder import HeaderEncoder
from provider.apns.protocol import goaway_reason, response_head

RECEIVE_WINDOW = 2**24  # 16 MiB for the connection and each stream
_READ_SIZE = 65536
# Requests queued before a write goes out at once; the rest of a turn's requests leave at its end. Writing each
# request alone costs a TLS record and a system call per push; writing a whole turn's worth at once makes a
# server on the same machine wait for all of it and then answer all at once, and the two take turns instead
# of working in parallel (the simulator then ran at about half speed). Small chunks keep both busy.
_FLUSH_EVERY = 8
# How long ``close`` waits for the TLS goodbye before dropping the socket; a caller (often a request waiting
# in the pool for a replacement connection) must not wait asyncio's default 30 s on a peer that stopped reading.
_CLOSE_TIMEOUT = 1.0


@dataclass(frozen=True, kw_only=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class _Stream:
    future: asyncio.Future[Response]
    pending: bytes
    ended: bool = False  # END_STREAM sent: the request is complete and must not be ended again
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)


def _expire(future: asyncio.Future[Response]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class Connection:
    """A client HTTP/2 connection; open it with ``await Connection.open(...)``."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._clock = clock
        # Per-push costs h2 would pay by default, turned off (benchmarks/README.md has the measurements):
        # - outbound normalisation and validation: request headers come from ``protocol.request_headers``
        #   only (lower-case names, values from a validated ``Notification``, HPACK indexing chosen there);
        #   h2's normalisation would also force ``authorization`` out of the compression table, re-encoding
        #   the JWT on every request;
        # - inbound validation and normalisation of response headers: a client that reads ``:status``,
        #   ``apns-id`` and ``apns-unique-id`` has nothing to gain from RFC 9113's checks on what the server
        #   sends, and they were about a fifth of the CPU per push.
        config = h2.config.H2Configuration(
            client_side=True,
            normalize_outbound_headers=False,
            validate_outbound_headers=False,
            validate_inbound_headers=False,
            normalize_inbound_headers=False,
        )
        self._h2 = h2.connection.H2Connection(config=config)
        self._h2.encoder = HeaderEncoder()
        self._h2.local_settings = h2.settings.Settings(
            client=True,
            initial_values={
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: RECEIVE_WINDOW,
                h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100,
            },
        )
        self._streams: dict[int, _Stream] = {}
        self._pings: dict[bytes, asyncio.Future[None]] = {}
        self._changed = asyncio.Event()
        self._settings_seen = asyncio.Event()
        self._error: TransportError | None = None
        self._flush_scheduled = False
        self._queued = 0
        self._max_streams = int(self._h2.remote_settings.max_concurrent_streams)
        self._going_away = False
        self.goaway_reason: str | None = None
        self.last_used = clock()
        self.max_streams_seen = 0
        self._h2.initiate_connection()
        self._h2.increment_flow_control_window(RECEIVE_WINDOW - 65535)
        self._flush()
        self._reader_task = asyncio.get_running_loop().create_task(self._read_loop())

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext,
        *,
        connect_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> Connection:
        """Connect, check ALPN chose ``h2``, and wait for the server's first SETTINGS."""
        try:
            async with asyncio.timeout(connect_timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=ssl_context, server_hostname=host
                )
        except ssl.SSLCertVerificationError as exc:
            raise ConnectFailed(
                f"{host}:{port}: server certificate not trusted: {exc.verify_message}", retryable=False
            ) from exc
        except ssl.SSLError as exc:
            raise ConnectFailed(f"{host}:{port}: TLS handshake failed: {exc.reason or exc}") from exc
        except TimeoutError as exc:
            raise ConnectFailed(f"{host}:{port}: connect timed out after {connect_timeout} s") from exc
        except OSError as exc:
            raise ConnectFailed(f"{host}:{port}: cannot connect: {exc.strerror or exc}") from exc
        ssl_object = writer.get_extra_info("ssl_object")
        alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        if alpn != "h2":
            writer.close()
            raise ConnectFailed(
                f"{host}:{port}: server did not agree to HTTP/2 (ALPN {alpn!r})", retryable=False
            )
        conn = cls(reader, writer, clock=clock)
        try:
            async with asyncio.timeout(connect_timeout):
                await conn._wait(lambda: conn._settings_seen.is_set())
        except TimeoutError as exc:
            await conn.close()
            raise ConnectFailed(f"{host}:{port}: no HTTP/2 SETTINGS from server") from exc
        except TransportError:
            await conn.close()
            raise
        return conn

    # -- predicates the pool decides with (no I/O) --------------------------------------------------------

    @property
    def max_streams(self) -> int:
        """The server's current MAX_CONCURRENT_STREAMS (read from ``h2`` at each SETTINGS, not per push)."""
        return self._max_streams

    @property
    def in_flight(self) -> int:
        return len(self._streams)

    @property
    def is_closed(self) -> bool:
        return self._error is not None

    @property
    def accepts_streams(self) -> bool:
        """Open and not going away: new requests may queue here."""
        return self._error is None and not self._going_away

    @property
    def is_available(self) -> bool:
        """A new stream could start right now."""
        return self.accepts_streams and self._settings_seen.is_set() and self._has_slot()

    def idle_for(self) -> float:
        return self._clock() - self.last_used if not self._streams else 0.0

    # -- requests -----------------------------------------------------------------------------------------

    async def request(self, headers: list[tuple[str, str]], body: bytes, *, timeout: float) -> Response:
        """Send one request and wait for its complete response, within ``timeout`` seconds in total.

        The deadline is one timer on the response future (``asyncio.timeout`` costs several times more per
        push); the rare wait for a stream slot runs under ``asyncio.timeout_at`` with the same deadline.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        stream_id: int | None = None
        try:
            if self._error is not None or not (self._going_away or self._has_slot()):
                async with asyncio.timeout_at(deadline):
                    await self._wait(lambda: self._going_away or self._has_slot())
            if self._going_away:
                raise StreamRefused("connection is going away", reason=self.goaway_reason)
            stream_id = self._h2.get_next_available_stream_id()
            future: asyncio.Future[Response] = loop.create_future()
            self._h2.send_headers(stream_id, headers)
            self._streams[stream_id] = _Stream(future=future, pending=body)
            self.max_streams_seen = max(self.max_streams_seen, len(self._streams))
            self.last_used = self._clock()
            self._send_body(stream_id)
            self._queued += 1
            if self._queued >= _FLUSH_EVERY:
                self._flush()
            else:
                self._flush_soon()
            timer = loop.call_at(deadline, _expire, future)
            try:
                return await future
            finally:
                timer.cancel()
        except TimeoutError as exc:
            self._cancel(stream_id)
            raise RequestTimeout(f"no answer within {timeout} s") from exc
        except asyncio.CancelledError:
            self._cancel(stream_id)
            raise
        except h2.exceptions.H2Error as exc:
            self._cancel(stream_id)
            raise StreamRefused(f"HTTP/2 refused the request locally: {exc}") from exc

    async def ping(self, *, timeout: float = 5.0) -> float:
        """Round-trip a PING (§7 health check); returns seconds. A dead connection is closed and raises."""
        self._check()
        opaque = os.urandom(8)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pings[opaque] = future
        start = self._clock()
        self._h2.ping(opaque)
        try:
            async with asyncio.timeout(timeout):
                await self._drain()
                await future
        except TimeoutError as exc:
            self._fail(ConnectionLost(f"PING not answered within {timeout} s"))
            self._writer.transport.abort()  # a peer that does not answer will not say goodbye to TLS either
            await self.close()
            raise RequestTimeout(f"PING not answered within {timeout} s") from exc
        finally:
            self._pings.pop(opaque, None)
        self.last_used = self._clock()
        return self._clock() - start

    async def close(self) -> None:
        """Say GOAWAY (if still possible), close the socket, fail whatever is still waiting."""
        if self._error is None:
            with contextlib.suppress(h2.exceptions.H2Error):
                self._h2.close_connection()
            self._flush()
            self._fail(ConnectionLost("connection closed by the provider"))
        self._reader_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader_task
        self._writer.close()
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT):
                await self._writer.wait_closed()
        except TimeoutError:
            self._writer.transport.abort()  # the peer does not read: TLS's close_notify would wait ~30 s
        except Exception:  # the socket is going away either way
            pass

    # -- internals ----------------------------------------------------------------------------------------

    def _has_slot(self) -> bool:
        # Our streams are h2's open streams: a stream leaves ``_streams`` exactly when h2 closes it (answer
        # ended after our END_STREAM, reset by either side; an answer that ends before our body did is
        # followed by our RST_STREAM). So our count suffices, and h2's (which walks every stream) is not read.
        return self._settings_seen.is_set() and len(self._streams) < self._max_streams

    async def _wait(self, predicate: Callable[[], bool]) -> None:
        while True:
            self._check()
            if predicate():
                return
            changed = self._changed
            await changed.wait()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def _send_body(self, stream_id: int) -> None:
        stream = self._streams.get(stream_id)
        if stream is None or stream.ended:
            return
        while stream.pending:
            size = min(
                self._h2.local_flow_control_window(stream_id),
                self._h2.max_outbound_frame_size,
                len(stream.pending),
            )
            if size <= 0:
                return  # resumed by WindowUpdated
            last = size == len(stream.pending)  # END_STREAM on the last DATA frame, not an extra empty one
            self._h2.send_data(stream_id, stream.pending[:size], end_stream=last)
            stream.pending = stream.pending[size:]
            if last:
                stream.ended = True
                return
        self._h2.end_stream(stream_id)  # an empty body
        stream.ended = True

    def _cancel(self, stream_id: int | None) -> None:
        if stream_id is None or self._streams.pop(stream_id, None) is None:
            return
        with contextlib.suppress(h2.exceptions.H2Error):
            self._h2.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
        self._flush()
        self._wake()

    def _flush(self) -> None:
        self._queued = 0
        data = self._h2.data_to_send()
        if data and not self._writer.is_closing():
            self._writer.write(data)

    def _flush_soon(self) -> None:
        """Write what ``h2`` queued at the end of this turn of the event loop (``_FLUSH_EVERY`` is the cap).

        The requests many tasks start in one turn (typically all those whose answers arrived in one read)
        then leave in a few TLS records and system calls instead of one each. No ``drain()`` is needed: what
        waits in the buffer is bounded by the open streams.
        """
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        self._flush()

    async def _drain(self) -> None:
        self._flush()
        try:
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            self._fail(ConnectionLost(f"write failed: {exc}"))
            self._check()

    def _fail(self, error: TransportError) -> None:
        """Record the first fatal error and hand it to every waiter."""
        if self._error is None:
            self._error = error
        for stream in self._streams.values():
            if not stream.future.done():
                stream.future.set_exception(self._error)
        self._streams.clear()
        for ping in self._pings.values():
            if not ping.done():
                ping.set_exception(self._error)
        self._wake()

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self._reader.read(_READ_SIZE)
                if not data:
                    self._fail(ConnectionLost("server closed the connection", reason=self.goaway_reason))
                    break
                for event in self._h2.receive_data(data):
                    self._handle(event)
                await self._drain()
                if self._error is not None:
                    break
        except asyncio.CancelledError:
            raise
        except TransportError:
            pass  # already recorded by _fail
        except h2.exceptions.ProtocolError as exc:
            self._fail(ConnectionLost(f"HTTP/2 protocol error: {exc}"))
        except (ConnectionError, OSError, ssl.SSLError) as exc:
            self._fail(ConnectionLost(f"connection lost: {exc}", reason=self.goaway_reason))
        except Exception as exc:  # anything else the server's bytes provoke
            # Inbound header validation is off (see __init__), so odd input reaches our code; whatever it
            # breaks must end this connection with an error for every waiter, never leave them hanging on a
            # reader task that died quietly.
            self._fail(ConnectionLost(f"unexpected response from the server: {exc!r}"))
        finally:
            if self._error is not None:
                self._writer.close()

    def _handle(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RemoteSettingsChanged):
            self._max_streams = int(self._h2.remote_settings.max_concurrent_streams)
            self._settings_seen.set()
            self._wake()
        elif isinstance(event, h2.events.ResponseReceived):
            stream = self._streams.get(event.stream_id or 0)
            if stream is not None:
                # Raw bytes from h2 (no ``header_encoding``); a status of 0 fails the request at StreamEnded.
                stream.status, stream.headers = response_head(event.headers or [])
        elif isinstance(event, h2.events.DataReceived):
            if event.stream_id and event.flow_controlled_length:
                self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            stream = self._streams.get(event.stream_id or 0)
            if stream is not None:
                stream.body.extend(event.data or b"")
        elif isinstance(event, h2.events.StreamEnded):
            stream = self._streams.pop(event.stream_id or 0, None)
            if stream is not None and not stream.ended:
                # The answer came before our body was all sent (a server may answer early, RFC 9113 §8.1):
                # stop sending, so the stream closes and frees its slot.
                with contextlib.suppress(h2.exceptions.H2Error):
                    self._h2.reset_stream(event.stream_id or 0, h2.errors.ErrorCodes.CANCEL)
            if stream is not None and not stream.future.done():
                if stream.status:
                    stream.future.set_result(
                        Response(status=stream.status, headers=stream.headers, body=bytes(stream.body))
                    )
                else:  # the server answered without a usable :status: no answer to report, a server bug
                    stream.future.set_exception(
                        TransportError("server sent a response without a valid :status", retryable=False)
                    )
            self.last_used = self._clock()
            self._wake()
        elif isinstance(event, h2.events.StreamReset):
            self._on_reset(event)
        elif isinstance(event, h2.events.WindowUpdated):
            for stream_id in [event.stream_id] if event.stream_id else list(self._streams):
                self._send_body(stream_id)
        elif isinstance(event, h2.events.PingAckReceived):
            ping = self._pings.get(event.ping_data or b"")
            if ping is not None and not ping.done():
                ping.set_result(None)
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._on_goaway(event)

    def _on_reset(self, event: h2.events.StreamReset) -> None:
        stream = self._streams.pop(event.stream_id or 0, None)
        if stream is not None and not stream.future.done():
            if event.error_code == h2.errors.ErrorCodes.REFUSED_STREAM:
                error: TransportError = StreamRefused("server refused the stream (REFUSED_STREAM)")
            else:
                error = TransportError(f"server reset the stream ({event.error_code!r})", retryable=False)
            stream.future.set_exception(error)
        self._wake()

    def _on_goaway(self, event: h2.events.ConnectionTerminated) -> None:
        """GOAWAY: ``h2`` closes the connection at once, so every open stream ends here.

        Above ``last_stream_id`` the server never saw the stream: ``StreamRefused``. At or below it the server
        may have processed it but its answer can no longer be read: ``ConnectionLost`` (retryable; the retry
        carries the same apns-id).
        """
        self._going_away = True
        self.goaway_reason = goaway_reason(event.additional_data)
        last = event.last_stream_id or 0
        code = event.error_code
        detail = f"GOAWAY ({code!r}, last stream {last})" + (
            f": {self.goaway_reason}" if self.goaway_reason else ""
        )
        for stream_id, stream in list(self._streams.items()):
            if stream.future.done():
                continue
            if stream_id > last:
                stream.future.set_exception(StreamRefused(detail, reason=self.goaway_reason))
            else:
                stream.future.set_exception(ConnectionLost(detail, reason=self.goaway_reason))
        self._streams.clear()
        self._fail(StreamRefused(detail, reason=self.goaway_reason))
