"""The provider API listener: TLS and asyncio around the sans-IO core, plus the per-request glue.

Two parts, both thin:

- :class:`ProviderService` (synchronous, one per environment) turns a connection's peer certificate and
  ALPN into a :class:`~apns_sim.h2_connection.ProviderConnection`, and each complete request into an
  outcome: route checks, credentials (:mod:`apns_sim.auth`), Apple's rules (:mod:`apns_sim.validation`),
  then the notification's journey and delivery. Unit tests drive it without sockets.
- :class:`ProviderApiServer` owns the socket: TLS >= 1.2 with an optional client certificate (token
  clients have none), ALPN ``h2`` (clients that offer no ALPN, like aioapns, still speak HTTP/2), and an
  ``asyncio.Protocol`` per connection that only reads, feeds the core and writes what it queued (the
  hypercorn shape: TLS facts read once at the edge, passed in as plain values).

Reference: reference/apns-protocol.md §1 (transport), §5-§7 (auth, HTTP/2); DESIGN.md "One notification,
end to end" for the journey recorded for every request, accepted or not.

Fault injection (:mod:`apns_sim.faults`) enters here: once the headers are parsed, a session asks the plan
(only while it holds a live provider-side rule: one attribute read otherwise) and, when a rule takes the
request over, records it in the journey and hands :class:`~apns_sim.faults.Injected` to the HTTP/2 core,
which acts it out on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import tempfile
from collections.abc import Callable
from typing import Any

from apns_sim import events, faults
from apns_sim.auth import ConnectionAuth, certificate_identity
from apns_sim.faults import FAULT_STAGE, FaultRule, Injected
from apns_sim.h2_connection import ProviderConnection
from apns_sim.intake import admit, policy_for, request_journey
from apns_sim.reasons import Reason
from apns_sim.records import AppIdRecord
from apns_sim.registry import Registry, TokenRecord
from apns_sim.request import Accepted, Outcome, PushRequest, Rejection
from apns_sim.state import SimState
from apns_sim.validation import check_request, check_route

log = logging.getLogger(__name__)
CLOSE_GRACE = 2.0  # seconds open connections get to finish after GOAWAY Shutdown


# OpenSSL's X509_V_FLAG_NO_CHECK_TIME (x509_vfy.h); the ssl module has no name for it.
X509_V_FLAG_NO_CHECK_TIME = 0x200000


class TokenCache:
    """Token records without a SQLite query per push, dropped whenever a token changes.

    Tokens change only in this process (registration, uninstall, token-change events all arrive through
    the gateway), and every such write bumps ``Registry.token_version``, so a changed version empties the
    cache. Other writes (stored notifications, portal changes) leave it alone.
    """

    def __init__(self, registry: Registry, size: int = 10_000) -> None:
        self._registry = registry
        self._size = size
        self._stamp = -1
        self._entries: dict[str, TokenRecord] = {}

    def get_token(self, token_hex: str) -> TokenRecord | None:
        stamp = self._registry.token_version
        if stamp != self._stamp:
            self._entries.clear()
            self._stamp = stamp
        record = self._entries.get(token_hex)
        if record is None:
            record = self._registry.get_token(token_hex)
            if record is not None:
                if len(self._entries) >= self._size:
                    self._entries.clear()
                self._entries[token_hex] = record
        return record


class _ConnectionLookup:
    """Tokens from the shared cache; App IDs bound per connection at first use (§5, A-F687789)."""

    __slots__ = ("_apps", "_registry", "_tokens")

    def __init__(self, registry: Registry, tokens: TokenCache) -> None:
        self._registry = registry
        self._tokens = tokens
        self._apps: dict[str, AppIdRecord | None] = {}

    def get_token(self, token_hex: str) -> TokenRecord | None:
        return self._tokens.get_token(token_hex)

    def get_app_id(self, bundle_id: str) -> AppIdRecord | None:
        try:
            return self._apps[bundle_id]
        except KeyError:
            app = self._apps[bundle_id] = self._registry.get_app_id(bundle_id)
            return app


class ProviderSession:
    """The :class:`~apns_sim.h2_connection.RequestHandler` of one connection."""

    def __init__(self, service: ProviderService, auth: ConnectionAuth) -> None:
        self._service = service
        self.auth = auth
        self._lookup = _ConnectionLookup(service.state.registry, service.tokens)
        self._faults = service.state.faults

    @property
    def gate_open(self) -> bool:
        return self.auth.gate_open

    def unlock(self, authorization: str) -> bool:
        return not isinstance(self.auth.authorize(authorization, self._service.state.clock.time()), Rejection)

    def handle(self, request: PushRequest, apns_id: str) -> Outcome | Injected:
        if self._faults.provider_armed:
            certificate = self.auth.certificate
            rule = self._faults.decide(
                token=(request.device_token or "").lower() or None, apns_id=apns_id,
                topic=request.header("apns-topic") or (certificate.default_topic if certificate else None),
                environment=self._service.environment)
            if rule is not None:
                return self._service.inject(rule, request, apns_id, self._decide)
        return self._decide(request, apns_id)

    def _decide(self, request: PushRequest, apns_id: str) -> Outcome:
        service = self._service
        now = service.state.clock.time()
        outcome: Outcome | None = check_route(request)
        if outcome is None:
            identity = self.auth.authorize(request.header("authorization"), now)
            if isinstance(identity, Rejection):
                outcome = identity
            else:
                outcome = check_request(request, identity, self._lookup, environment=service.environment, now=now,
                                        policy=service.policy)
                if isinstance(outcome, Accepted) and service.rate_limited(outcome.token, now):
                    outcome = Rejection(Reason.TOO_MANY_REQUESTS)
        service.record(request, apns_id, outcome, now)
        return outcome


class ProviderService:
    """One environment's decisions, shared by all its connections."""

    def __init__(self, state: SimState, environment: str) -> None:
        if environment not in ("sandbox", "production"):
            raise ValueError(f"environment must be sandbox or production, not {environment!r}")
        self.state = state
        self.environment = environment
        # Pushes per token in the current second only: the map is emptied when the second changes, so it
        # never holds more than one second's tokens.
        self._rate_second = -1
        self._rate: dict[str, int] = {}
        self.tokens = TokenCache(state.registry)
        self.policy = policy_for(state.config)

    def connect(self, peer_cert_der: bytes | None, alpn: str | None) -> ProviderConnection:
        """A new connection's core, refused at once (GOAWAY) for a bad or other-environment certificate."""
        state = self.state
        certificate = refusal = None
        if peer_cert_der:
            result = certificate_identity(peer_cert_der, state.registry, self.environment, state.clock.time())
            if isinstance(result, Rejection):
                refusal = result.reason
            else:
                certificate = result
        session = ProviderSession(self, ConnectionAuth(state.registry, self.environment, certificate))
        core = ProviderConnection(session, environment=self.environment, alpn=alpn,
                                  max_concurrent_streams=state.config.max_concurrent_streams)
        if refusal is not None:
            core.refuse(refusal)
        return core

    def rate_limited(self, token: str, now: float) -> bool:
        """``TooManyRequests`` past ``config.token_rate_limit`` pushes per second to one token (0 = off)."""
        limit = self.state.config.token_rate_limit
        if limit <= 0:
            return False
        second = int(now)
        if second != self._rate_second:
            self._rate_second = second
            self._rate.clear()
        count = self._rate[token] = self._rate.get(token, 0) + 1
        return count > limit

    def inject(self, rule: FaultRule, request: PushRequest, apns_id: str,
               decide: Callable[[PushRequest, str], Outcome]) -> Injected:
        """A fault took this request over: record it in the journey and say what the wire must do."""
        state = self.state
        if rule.processes:  # delay, max_streams, goaway "current": handled as usual, plus the fault
            outcome = decide(request, apns_id)
            state.journeys.add(apns_id, FAULT_STAGE, **rule.detail())
            return Injected(rule, outcome)
        now = state.clock.time()
        reason = rule.wire_reason
        if rule.kind == faults.REASON and reason is not None:
            timestamp = rule.timestamp
            if timestamp is None and reason is Reason.UNREGISTERED:
                timestamp = state.clock.millis()  # Apple always dates an Unregistered (§4.1)
            rejection = Rejection(reason, timestamp)
            self.record(request, apns_id, rejection, now, fault=rule)
            return Injected(rule, rejection)
        state.journeys.begin(request_journey(request, apns_id, self.environment, status=0, reason=None,
                                             timestamp=None, stages=self._earlier_stages(apns_id)),
                             FAULT_STAGE, **rule.detail())
        return Injected(rule)

    def record(self, request: PushRequest, apns_id: str, outcome: Outcome, now: float,
               fault: FaultRule | None = None) -> None:
        """Begin the journey of every request (one per apns-id) and hand accepted ones to delivery."""
        if isinstance(outcome, Accepted):
            admit(self.state, self.environment, apns_id, outcome, now, stages=self._earlier_stages(apns_id))
            return
        reason = outcome.reason
        detail: dict[str, Any] = {"reason": reason.wire}
        if outcome.timestamp is not None:
            detail["timestamp"] = outcome.timestamp
        status = reason.status
        if fault is not None:  # the stage keeps what this attempt got: a retry may end differently
            status = fault.status or status
            detail.update(fault=fault.id, status=status)
        self.state.journeys.begin(request_journey(
            request, apns_id, self.environment, status=status, reason=reason.wire, timestamp=outcome.timestamp,
            stages=self._earlier_stages(apns_id)), events.REJECTED, **detail)

    def _earlier_stages(self, apns_id: str) -> list[dict[str, Any]]:
        """A retry (same apns-id) of a request a fault took over keeps that history: one id, one journey."""
        if not self.state.faults.applied:
            return []
        earlier = self.state.journeys.get(apns_id)
        if earlier is None or not any("fault" in stage for stage in earlier.stages):
            return []
        return list(earlier.stages)


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
            self._core = self._server.service.connect(der, alpn)
        except Exception:
            log.exception("could not set up a provider connection")
            transport.abort()
            return
        self._server.connections.add(self)
        self._arm_idle_timer(self._server.service.state.config.idle_timeout)
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

    def __init__(self, state: SimState, environment: str) -> None:
        self.state = state
        self.environment = environment
        self.service = ProviderService(state, environment)
        self.connections: set[_ProviderProtocol] = set()
        self._server: asyncio.Server | None = None
        self._host = "127.0.0.1"
        self.port = 0

    @property
    def url(self) -> str:
        return f"https://{self._host}:{self.port}"

    def ssl_context(self) -> ssl.SSLContext:
        """TLS as APNs offers it (§1): >= 1.2, a client certificate requested but optional, ALPN h2."""
        authority = self.state.authority
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        # load_cert_chain reads files only; the key lives on disk (0600, our data dir) for a moment.
        fd, path = tempfile.mkstemp(prefix=".provider-tls-", suffix=".pem", dir=self.state.data_dir)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(authority.server_chain_pem() + authority.server_key_pem())
            ctx.load_cert_chain(path)
        finally:
            os.unlink(path)
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
