"""The provider API listener: TLS and asyncio around the sans-IO core.

:class:`ProviderApiServer` owns the socket: TLS >= 1.2 with an optional client certificate (token clients
have none), ALPN ``h2`` (clients that offer no ALPN, like aioapns, still speak HTTP/2), and an
``asyncio.Protocol`` per connection that only reads, feeds the core and writes what it queued (the hypercorn
shape: TLS facts are read once at the edge and passed in as plain values to
:class:`~apns_sim.provider_api.service.ProviderService`).

Hostile peers (docs/limits.md §1): output the peer leaves unread stops our reading it (the peer's own TCP
window then stops it sending, as nginx and h2o do with PING and SETTINGS floods) and is cut after a while; a
connection without credentials gets seconds, not the idle timeout; the TLS handshake has a deadline; a closed
connection that does not drain is aborted. A revoked certificate or key closes the connections using it.

Reference: docs/apns-protocol.md §1 (transport), §7 (HTTP/2 connection behaviour).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from pathlib import Path

from apns_sim import limits, pki
from apns_sim.provider_api.connection import ProviderConnection
from apns_sim.provider_api.service import ProviderService, ProviderSession
from apns_sim.push.reasons import Reason
from apns_sim.state import SimState

log = logging.getLogger("apns_sim.server")  # the name users configure logging by, kept from before the move
CLOSE_GRACE = limits.PROVIDER_CLOSE_GRACE  # seconds open connections get to finish after GOAWAY Shutdown
FEED_SIZE = 16 * 1024  # bytes of one read handed to the core before other connections get a turn
REVOCATION_CHECK = 1.0  # seconds between looks for revoked certificates and keys (§7 "Revocation")


# OpenSSL's X509_V_FLAG_NO_CHECK_TIME (x509_vfy.h); the ssl module has no name for it.
X509_V_FLAG_NO_CHECK_TIME = 0x200000


def load_identity(ctx: ssl.SSLContext, directory: Path, chain_pem: bytes, key_pem: bytes) -> None:
    """``ctx.load_cert_chain`` for PEM in memory: it reads files only, so the key sits on disk (0600, in our
    data dir) for a moment."""
    with pki.private_pem_file(directory, chain_pem + key_pem) as path:
        ctx.load_cert_chain(path)


class _ProviderProtocol(asyncio.Protocol):
    """One TLS connection: read, feed the core, write what it queued, close when it is finished."""

    def __init__(self, server: ProviderApiServer) -> None:
        self._server = server
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._core: ProviderConnection | None = None
        self._last_activity = self._loop.time()
        self._idle_timer: asyncio.TimerHandle | None = None
        self._timers: list[asyncio.TimerHandle] = []  # unauthenticated deadline, write stall, close grace
        self._reading_paused = False  # the peer leaves our output unread
        self._paused_at = 0.0
        self._not_reading = False  # the transport's reading is paused (that, or a backlog to feed)
        self._backlog = b""  # read but not yet handed to the core

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
        transport.set_write_buffer_limits(high=self._server.outbound_high)
        if not self._core.authenticated:
            self._later(self._server.unauthenticated_idle, self._check_credentials)
        self._flush()

    def data_received(self, data: bytes) -> None:
        if self._core is None:
            return
        self._last_activity = self._loop.time()
        if self._backlog:  # asyncio may hand over one more read after pause_reading
            self._backlog += data
            return
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        """Hand the core at most FEED_SIZE bytes, then let other connections run (docs/limits.md §1.1).

        A read can hold thousands of requests; handled in one go, every other client waits for all of them.
        """
        core = self._core
        if core is None:
            return
        if len(data) > FEED_SIZE:
            data, self._backlog = data[:FEED_SIZE], data[FEED_SIZE:]
            self._loop.call_soon(self._feed_backlog)
        self._update_reading()
        try:
            core.receive_data(data)
        except Exception:
            log.exception("provider connection failed; closing it")
            self._flush()
            self.abort()
            return
        self._flush()

    def _feed_backlog(self) -> None:
        if self._reading_paused or not self._backlog:
            return  # the peer reads nothing of ours: the rest waits for resume_writing
        data, self._backlog = self._backlog, b""
        if self._transport is not None and not self._transport.is_closing():
            self._feed(data)

    def _update_reading(self) -> None:
        """Read while nothing is left to feed and the peer reads our output; otherwise not (§1.1, §1.3)."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        paused = bool(self._backlog) or self._reading_paused
        if paused != self._not_reading:
            self._not_reading = paused
            if paused:
                transport.pause_reading()
            else:
                transport.resume_reading()

    def eof_received(self) -> bool | None:
        return None  # the peer is done: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._core = None  # its streams and buffers go now, not when asyncio drops the protocol

    def pause_writing(self) -> None:
        """The peer leaves our output unread (docs/limits.md §1.3): read no more of its frames until it does.

        Every frame we read can add output (PING and SETTINGS ACKs, RST_STREAM, answers); not reading caps that
        backlog at about one read's worth over the mark, and the peer's TCP window stops it sending.
        """
        if self._transport is None or self._transport.is_closing():
            return
        self._reading_paused = True
        self._paused_at = self._loop.time()
        self._update_reading()
        self._later(self._server.write_stall, self._check_stall)

    def resume_writing(self) -> None:
        self._reading_paused = False
        if self._backlog:
            self._loop.call_soon(self._feed_backlog)
        self._update_reading()

    def _check_stall(self) -> None:
        if self._reading_paused and self._loop.time() - self._paused_at >= self._server.write_stall - 0.01:
            log.info("provider connection cut: its output was left unread for %.0f s", self._server.write_stall)
            self.abort()

    def _check_credentials(self) -> None:
        """docs/limits.md §1.4: no client certificate and no valid provider token yet, the connection goes."""
        if self._core is not None and not self._core.authenticated:
            self.revoke(Reason.IDLE_TIMEOUT)

    def revoke(self, reason: Reason) -> None:
        """GOAWAY ``reason``, then cut the connection if it is still there after CLOSE_GRACE (its answers may
        wait for window the peer never grants). Revocation: requests still in flight get ``reason`` as 403."""
        self.shutdown(reason)
        self._later(CLOSE_GRACE, self.abort)

    @property
    def session(self) -> ProviderSession | None:
        handler = self._core.handler if self._core is not None else None
        handler = getattr(handler, "session", handler)  # a drop-in connection wraps its session (AuthorityCheck)
        return handler if isinstance(handler, ProviderSession) else None

    def _later(self, delay: float, callback: Callable[[], None]) -> None:
        self._timers = [t for t in self._timers if not t.cancelled() and t.when() > self._loop.time()]
        self._timers.append(self._loop.call_later(delay, callback))

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
            if transport.get_write_buffer_size():  # a peer that never reads would keep it forever
                self._later(CLOSE_GRACE, self.abort)

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
        self._revocation_task: asyncio.Task[None] | None = None
        # knobs (docs/limits.md §1; docs/choices.md): set before start()
        self.unauthenticated_idle = limits.PROVIDER_UNAUTHENTICATED_IDLE
        self.outbound_high = limits.PROVIDER_OUTBOUND_HIGH
        self.write_stall = limits.PROVIDER_WRITE_STALL
        self.tls_handshake_timeout = limits.PROVIDER_TLS_HANDSHAKE

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
                                                ssl=self.ssl_context(),
                                                ssl_handshake_timeout=self.tls_handshake_timeout)
        self._host = host
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._revocation_task = loop.create_task(self._watch_revocations())

    async def _watch_revocations(self) -> None:
        """§7 "Revocation": connections whose certificate or key is revoked are closed, as Apple does.

        The portal CLI revokes from another process (the same SQLite file), so this looks every second
        rather than waiting for a notice; it reads nothing while no connection is open.
        """
        while True:
            await asyncio.sleep(REVOCATION_CHECK)
            by_session = {c.session: c for c in list(self.connections) if c.session is not None}
            if not by_session:
                continue
            try:
                found = self.service.revocations(list(by_session))
            except Exception:
                log.exception("could not check for revoked credentials")
                continue
            for session, reason in found:
                log.info("closing a provider connection: its credentials were revoked (%s)", reason.wire)
                by_session[session].revoke(reason)

    async def close(self) -> None:
        """Stop listening, send GOAWAY Shutdown to every connection, give them a moment, then cut them."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        if self._revocation_task is not None:
            self._revocation_task.cancel()
            self._revocation_task = None
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
