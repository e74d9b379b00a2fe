"""TLS at the edge of the device gateway, lean enough for ten thousand idle phones in one process.

asyncio's own TLS transport (``sslproto``) preallocates a 256 KiB read buffer per connection; a courier
connection is idle almost all the time and carries frames of a few hundred bytes, so the gateway runs TLS
itself over ``ssl.MemoryBIO``: ciphertext in, plaintext to the courier protocol, ciphertext out, reading in
16 KiB chunks that are freed at once. TLS facts (the SNI server name) are read here, once, and handed to
the protocol as plain values (hypercorn's habit, docs/style.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import weakref
from typing import Any, Protocol

from apns_sim import limits

log = logging.getLogger("apns_sim.gateway")

READ_CHUNK = 16 * 1024  # one TLS record at most
_SNI: weakref.WeakKeyDictionary[ssl.SSLObject, str] = weakref.WeakKeyDictionary()


def remember_sni(ssl_object: ssl.SSLObject, server_name: str | None, context: ssl.SSLContext) -> None:
    """``SSLContext.sni_callback``: keep the name the client asked for; the protocol decides what it means."""
    if server_name:
        _SNI[ssl_object] = server_name


class AppProtocol(Protocol):
    """What the edge drives: the asyncio.Protocol callbacks, with the edge itself as the transport."""

    def connection_made(self, transport: TlsEdge) -> None: ...

    def data_received(self, data: bytes) -> None: ...

    def connection_lost(self, exc: Exception | None) -> None: ...


class TlsEdge(asyncio.Protocol):
    """A server-side TLS connection over memory BIOs, presenting a small transport to ``app``.

    The app sees ``write``, ``close``, ``is_closing`` and ``get_extra_info("server_name" | "peername" |
    "ssl_object")``, and its ``connection_made`` runs only once the handshake has completed.
    """

    __slots__ = ("_app", "_closing", "_handshaken", "_incoming", "_loop", "_max_outbound", "_outgoing", "_pending",
                 "_ssl", "_timer", "_transport", "accepted_at")

    def __init__(self, context: ssl.SSLContext, app: AppProtocol, handshake_timeout: float, *,
                 max_outbound: int | None = None) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl: ssl.SSLObject | None = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._app: AppProtocol | None = app
        self._transport: asyncio.Transport | None = None
        self._handshaken = False
        self._closing = False
        self._loop = asyncio.get_running_loop()
        self.accepted_at = self._loop.time()  # the TCP accept: the app's deadline for a valid Connect counts from it
        # Read per connection, not at import, so a test may lower the limit (docs/limits.md §2).
        self._max_outbound = limits.COURIER_MAX_OUTBOUND_BYTES if max_outbound is None else max_outbound
        # Plaintext written during this turn of the event loop; it leaves in one TLS write at the turn's end.
        self._pending: list[bytes] | None = None
        self._timer: asyncio.TimerHandle | None = self._loop.call_later(handshake_timeout, self._handshake_timed_out)

    # -- asyncio.Protocol (the socket side) ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        if self._ssl is None or self._closing:
            return
        self._incoming.write(data)
        if not self._handshaken and not self._handshake():
            return
        self._read()

    def eof_received(self) -> bool:
        return False  # the peer closed its side: close ours too

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        app, self._app = self._app, None
        self._transport = None
        self._closing = True
        if app is not None and self._handshaken:
            app.connection_lost(exc)
        self._ssl = None

    # -- the transport the app sees --------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queue ``data``; everything written in one event-loop turn goes out together, soon after.

        A provider's read of a hundred requests makes a hundred pushes to one phone: batched, they cost one
        ``SSLObject.write`` (fewer, fuller TLS records) and one ``transport.write`` (one system call)
        instead of a hundred of each. Order is kept, and ``close`` sends what is queued first.
        """
        if self._ssl is None or self._closing:
            return
        if self._pending is None:
            self._pending = [data]
            self._loop.call_soon(self._write_pending)
        else:
            self._pending.append(data)

    def _write_pending(self) -> None:
        pending, self._pending = self._pending, None
        if not pending or self._ssl is None:
            return
        try:
            self._ssl.write(pending[0] if len(pending) == 1 else b"".join(pending))
        except ssl.SSLError as exc:
            log.warning("TLS write failed, closing the connection: %s", exc)
            self.abort()
            return
        self._flush()
        transport = self._transport
        if transport is not None and transport.get_write_buffer_size() > self._max_outbound:
            # The peer stopped reading: drop it rather than hold its frames without end (docs/limits.md §2).
            # Here, a loop turn after the write, so whoever queued the frame is not re-entered by the close.
            log.warning("courier peer %s is not reading (%d bytes unsent, limit %d): dropping the connection",
                        self.get_extra_info("peername"), transport.get_write_buffer_size(), self._max_outbound)
            self.abort()

    def close(self) -> None:
        """Send close_notify and close; the app's ``connection_lost`` follows from the event loop."""
        if self._closing:
            return
        self._write_pending()  # what the app wrote before closing goes first (a refusal's ConnectAck)
        self._closing = True
        if self._ssl is not None and self._handshaken:
            with contextlib.suppress(ssl.SSLError):  # incl. WantRead: we do not wait for the peer's close_notify
                self._ssl.unwrap()
            self._flush()
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        self._closing = True
        self._pending = None
        if self._transport is not None:
            self._transport.abort()

    def is_closing(self) -> bool:
        return self._closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "server_name":
            return None if self._ssl is None else _SNI.get(self._ssl, default)
        if name == "ssl_object":
            return self._ssl
        if self._transport is not None:
            return self._transport.get_extra_info(name, default)
        return default

    # -- internals --------------------------------------------------------------------------------------

    def _handshake(self) -> bool:
        assert self._ssl is not None
        try:
            self._ssl.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return False
        except (ssl.SSLError, OSError) as exc:
            self._flush()  # carries our alert to the client
            log.info("courier TLS handshake from %s failed: %s", self.get_extra_info("peername"), exc)
            self.abort()
            return False
        self._handshaken = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._flush()
        if self._app is not None:
            self._app.connection_made(self)
        return not self._closing

    def _read(self) -> None:
        while self._ssl is not None and not self._closing:
            try:
                chunk = self._ssl.read(READ_CHUNK)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                chunk = b""
            except ssl.SSLError as exc:
                log.info("courier TLS error from %s: %s", self.get_extra_info("peername"), exc)
                self.abort()
                return
            if not chunk:  # the peer sent close_notify (read() answers b"" once it has)
                self.close()
                return
            if self._app is not None:
                self._app.data_received(chunk)
        self._flush()

    def _flush(self) -> None:
        if self._outgoing.pending and self._transport is not None:
            self._transport.write(self._outgoing.read())

    def _handshake_timed_out(self) -> None:
        self._timer = None
        if not self._handshaken:
            log.info("courier TLS handshake from %s timed out", self.get_extra_info("peername"))
            self.abort()
