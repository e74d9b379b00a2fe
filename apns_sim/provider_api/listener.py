"""The provider API listener: TLS and asyncio around the sans-IO core.

:class:`ProviderApiServer` owns the socket: TLS >= 1.2 with an optional client certificate (token clients
have none), ALPN ``h2`` (clients that offer no ALPN, like aioapns, still speak HTTP/2), and an
``asyncio.Protocol`` per connection that only reads, feeds the core and writes what it queued (the hypercorn
shape: TLS facts are read once at the edge and passed in as plain values to
:class:`~apns_sim.provider_api.service.ProviderService`).

Reference: docs/apns-protocol.md §1 (transport), §7 (HTTP/2 connection behaviour).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path

from apns_sim.provider_api.connection import ProviderConnection
from apns_sim.provider_api.service import ProviderService
from apns_sim.push.reasons import Reason
from apns_sim.state import SimState

log = logging.getLogger("apns_sim.server")  # the name users configure logging by, kept from before the move
CLOSE_GRACE = 2.0  # seconds open connections get to finish after GOAWAY Shutdown


# OpenSSL's X509_V_FLAG_NO_CHECK_TIME (x509_vfy.h); the ssl module has no name for it.
X509_V_FLAG_NO_CHECK_TIME = 0x200000


def load_identity(ctx: ssl.SSLContext, directory: Path, chain_pem: bytes, key_pem: bytes) -> None:
    """``ctx.load_cert_chain`` for PEM in memory: it reads files only, so the key sits on disk (0600, in our
    data dir) for a moment."""
    fd, path = tempfile.mkstemp(prefix=".provider-tls-", suffix=".pem", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(chain_pem + key_pem)
        ctx.load_cert_chain(path)
    finally:
        os.unlink(path)


class _ProviderProtocol(asyncio.Protocol):
    """One TLS connection: read, feed the core, write what it queued, close when it is finished."""

    def __init__(self, server: ProviderApiServer) -> None:
        self._server = server
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._core: ProviderConnection | None = None
        self._last_activity = self._loop.time()
        self._idle_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        try:
            self._core = self._server.connect(ssl_object, der, alpn)
        except Exception:
            log.exception("could not set up a provider connection")
            transport.abort()
            return
        self._server.connections.add(self)
        self._arm_idle_timer(self._server.state.config.idle_timeout)
        self._flush()

    def data_received(self, data: bytes) -> None:
        core = self._core
        if core is None:
            return
        self._last_activity = self._loop.time()
        try:
            core.receive_data(data)
        except Exception:
            log.exception("provider connection failed; closing it")
            self._flush()
            self.abort()
            return
        self._flush()

    def eof_received(self) -> bool | None:
        return None  # the peer is done: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def shutdown(self, reason: Reason = Reason.SHUTDOWN) -> None:
        """GOAWAY ``reason``; the transport closes once open streams are answered."""
        if self._core is not None:
            self._core.close_gracefully(reason)
            self._flush()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _flush(self) -> None:
        core, transport = self._core, self._transport
        if core is None or transport is None or transport.is_closing():
            return
        data = core.data_to_send()
        if core.timers:  # held answers (delay faults): run later, then flush again
            timers, core.timers = core.timers, []
            for delay, callback in timers:
                self._loop.call_later(delay, self._fire, callback)
        finished = core.finished
        if finished and core.aborted:
            transport.abort()  # a close fault: the TCP connection just ends, nothing more is written
            return
        if data:
            transport.write(data)
        if finished:
            transport.close()

    def _fire(self, callback: Callable[[], None]) -> None:
        if self._core is not None and self._transport is not None and not self._transport.is_closing():
            callback()
            self._flush()

    def _arm_idle_timer(self, timeout: float) -> None:
        if timeout > 0:
            self._idle_timer = self._loop.call_later(timeout, self._check_idle, timeout)

    def _check_idle(self, timeout: float) -> None:
        """§7: an idle connection gets GOAWAY IdleTimeout (Apple's timeout is unconfirmed: a knob)."""
        remaining = self._last_activity + timeout - self._loop.time()
        if remaining > 0:
            self._idle_timer = self._loop.call_later(remaining, self._check_idle, timeout)
            return
        self._idle_timer = None
        self.shutdown(Reason.IDLE_TIMEOUT)


class ProviderApiServer:
    """One environment's listener (sandbox or production), bound to ``host:port`` (port 0 by default)."""

    def __init__(self, state: SimState, environment: str, service: ProviderService | None = None) -> None:
        self.state = state
        self.environment = environment
        # A service may be shared: the drop-in listeners decide with the same per-environment state.
        self.service = service or ProviderService(state, environment)
        self.connections: set[_ProviderProtocol] = set()
        self._server: asyncio.Server | None = None
        self._host = "127.0.0.1"
        self.port = 0

    @property
    def url(self) -> str:
        return f"https://{self._host}:{self.port}"

    def connect(self, ssl_object: ssl.SSLObject | None, peer_cert_der: bytes | None,
                alpn: str | None) -> ProviderConnection:
        """A new connection's core; the drop-in listener (apple_hosts) picks the service by server name."""
        return self.service.connect(peer_cert_der, alpn)

    def ssl_context(self) -> ssl.SSLContext:
        """TLS as APNs offers it (§1): >= 1.2, a client certificate requested but optional, ALPN h2."""
        authority = self.state.authority
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        load_identity(ctx, self.state.data_dir, authority.server_chain_pem(), authority.server_key_pem())
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(cadata=authority.client_verify_pem().decode())
        # OpenSSL still verifies the chain and signatures; only the dates are left to auth.certificate_identity,
        # which judges them on the simulator's clock, so a frozen or advanced clock governs certificate validity.
        ctx.verify_flags |= X509_V_FLAG_NO_CHECK_TIME
        ctx.set_alpn_protocols(["h2"])
        return ctx

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _ProviderProtocol(self), host, port,
                                                ssl=self.ssl_context())
        self._host = host
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening, send GOAWAY Shutdown to every connection, give them a moment, then cut them."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for connection in list(self.connections):
            connection.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLOSE_GRACE
        while self.connections and loop.time() < deadline:
            await asyncio.sleep(0.02)
        for connection in list(self.connections):
            connection.abort()
        with contextlib.suppress(Exception):
            await server.wait_closed()
