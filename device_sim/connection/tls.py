"""Client-side TLS for the courier connection: the context a phone trusts, and TLS over memory BIOs without
asyncio's 256 KiB read buffer (docs/device-side.md §1.1, §1.5).

:func:`courier_ssl_context` trusts exactly the simulator's CA and offers ALPN ``apns-security-v3``; it lives
here, with the connection, because phones and fleets both need it and one context serves every phone of a
process (an ``SSLContext`` costs ~20 KiB; fleets have thousands of phones).

asyncio's TLS transport preallocates a 256 KiB buffer per connection, which is most of a phone's memory
when a fleet keeps thousands of idle courier connections in one process. Here the ``ssl`` module works on
memory BIOs (ciphertext in, plaintext out, reading at most one 16 KiB record at a time) inside a plain
``asyncio.Protocol``. Certificate and host name checks are the context's, unchanged: the phone trusts
exactly the simulator's CA file and checks the courier name it asked for.

(The gateway has its own server-side twin, ``apns_sim.gateway.tls_edge``: device_sim may import nothing of the
simulator but the wire codec.)
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path
from typing import Any, Protocol

from device_sim.identity.store import InputError

READ_CHUNK = 16 * 1024
ALPN = "apns-security-v3"

_CONTEXTS: dict[tuple[str, int], ssl.SSLContext] = {}


def courier_ssl_context(ca_file: Path) -> ssl.SSLContext:
    """Trust exactly the simulator's CA, check the courier host name, offer ALPN apns-security-v3.

    Shared by every phone using the same CA file (an SSLContext costs ~20 KiB; fleets have thousands).
    """
    try:
        key = (str(ca_file), ca_file.stat().st_mtime_ns)
        context = _CONTEXTS.get(key)
        if context is None:
            context = ssl.create_default_context(cafile=str(ca_file))
            context.set_alpn_protocols([ALPN])
            _CONTEXTS[key] = context
    except (OSError, ssl.SSLError) as exc:
        raise InputError(f"cannot load the simulator's CA file {ca_file}: {exc}") from exc
    return context


class AppProtocol(Protocol):
    def connection_made(self, transport: TlsClientEdge) -> None: ...

    def data_received(self, data: bytes) -> None: ...

    def connection_lost(self, exc: Exception | None) -> None: ...


class TlsClientEdge(asyncio.Protocol):
    """A TLS client connection; ``app`` sees ``write``/``close``/``abort``/``is_closing``/``get_extra_info``.

    ``handshake`` resolves once the server is verified (the app's ``connection_made`` has run by then) or
    fails with the ``ssl`` error, e.g. an untrusted certificate.
    """

    __slots__ = ("_app", "_closing", "_incoming", "_outgoing", "_ssl", "_transport", "handshake")

    def __init__(self, context: ssl.SSLContext, server_hostname: str, app: AppProtocol) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl: ssl.SSLObject | None = context.wrap_bio(self._incoming, self._outgoing,
                                                           server_hostname=server_hostname)
        self._app: AppProtocol | None = app
        self._transport: asyncio.Transport | None = None
        self._closing = False
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.handshake.add_done_callback(lambda f: f.cancelled() or f.exception())  # failure is reported once

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._step_handshake()

    def data_received(self, data: bytes) -> None:
        if self._ssl is None or self._closing:
            return
        self._incoming.write(data)
        if not self.handshake.done():
            self._step_handshake()
            if not self.handshake.done() or self.handshake.exception() is not None:
                return
        self._read()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._transport = None
        if not self.handshake.done():
            self.handshake.set_exception(exc or ConnectionError("the connection closed during the TLS handshake"))
        app, self._app = self._app, None
        if app is not None and self.handshake.exception() is None:
            app.connection_lost(exc)
        self._ssl = None

    # -- the transport the app sees --------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self._ssl is None or self._closing:
            return
        try:
            self._ssl.write(data)
        except ssl.SSLError:
            self.abort()
            return
        self._flush()

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        if self._ssl is not None and self.handshake.done():
            with contextlib.suppress(ssl.SSLError):  # incl. WantRead: we do not wait for the peer's close_notify
                self._ssl.unwrap()
            self._flush()
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.abort()

    def is_closing(self) -> bool:
        return self._closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "ssl_object":
            return self._ssl
        return default if self._transport is None else self._transport.get_extra_info(name, default)

    # -- internals ----------------------------------------------------------------------------------------

    def _step_handshake(self) -> None:
        assert self._ssl is not None
        try:
            self._ssl.do_handshake()
        except ssl.SSLWantReadError:
            self._flush()
            return
        except (ssl.SSLError, OSError) as exc:
            self._flush()
            self.handshake.set_exception(exc)
            self.abort()
            return
        self._flush()
        self.handshake.set_result(None)
        if self._app is not None:
            self._app.connection_made(self)

    def _read(self) -> None:
        while self._ssl is not None and not self._closing:
            try:
                chunk = self._ssl.read(READ_CHUNK)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                chunk = b""
            except ssl.SSLError:
                self.abort()
                return
            if not chunk:  # close_notify from the server
                self.close()
                return
            if self._app is not None:
                self._app.data_received(chunk)
        self._flush()

    def _flush(self) -> None:
        if self._outgoing.pending and self._transport is not None:
            self._transport.write(self._outgoing.read())
