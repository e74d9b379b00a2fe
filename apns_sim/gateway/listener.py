"""The device gateway: the courier listener phones keep their persistent connection to (stage 2).

This module is the asyncio adapter only. The courier protocol of each connection, and every decision in it
(who may connect, filters, tokens, pushes, acks, reports), is :class:`~apns_sim.gateway.session.CourierSession`,
sans-IO; the bytes are :mod:`apns_sim.courier`'s and delivery's decisions :mod:`apns_sim.delivery`'s.
:class:`CourierConnection` reads, feeds its session, writes what the session queued, runs the idle timer
and closes the transport when the session says so. What it must get right:

- write promptly, batched: frames go to :class:`~apns_sim.gateway.tls_edge.TlsEdge`, which sends everything
  written in one event-loop turn as one TLS write (a provider's read of a hundred requests makes a hundred
  pushes to one phone); a push queued by delivery outside a read reaches the edge through
  :meth:`CourierConnection.output_ready`, with no timer or task per push;
- close after writing: a refusal's ConnectAck goes out before the close (the edge flushes first);
- one connection per phone and environment, as on Apple's service: a new one replaces the old
  (:meth:`DeviceGateway._claim`), and delivery detaches only from the connection that is current.

One TLS listener serves both environments; which one a connection belongs to comes from the TLS server name
the phone asked for (docs/device-side.md §1.1). The phone proves its identity inside the protocol (Connect
items 12-14, §1.5), not with a TLS client certificate.

Memory is the constraint (ten thousand phones in one process): one ``asyncio.Protocol`` per phone, TLS over
memory BIOs (:mod:`apns_sim.gateway.tls_edge`), one session, one timer handle, no tasks.

A ``phone_offline`` fault added while phones are connected drops the matching ones here
(:meth:`DeviceGateway._fault_added`); their reconnects are closed by the session before the ConnectAck.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time

from apns_sim import limits, pki
from apns_sim.faults.plan import PHONE_OFFLINE, FaultRule
from apns_sim.gateway.session import (
    MAX_MESSAGE_SIZE,
    PROOF_MAX_SKEW_MS,
    CloseCause,
    CourierSession,
    environment_for_server_name,
    offline_fault,
)
from apns_sim.gateway.tls_edge import TlsEdge, remember_sni
from apns_sim.state import SimState

__all__ = ["ALPN", "HANDSHAKE_TIMEOUT", "MAX_MESSAGE_SIZE", "PROOF_MAX_SKEW_MS", "CourierConnection", "DeviceGateway",
           "environment_for_server_name"]

log = logging.getLogger("apns_sim.gateway")

ALPN = "apns-security-v3"  # what current clients offer (docs/device-side.md §1.1)
# Kept for importers: the TLS handshake is now part of COURIER_CONNECT_DEADLINE (accept to a valid Connect).
HANDSHAKE_TIMEOUT = limits.COURIER_CONNECT_DEADLINE


def _wall_ms() -> int:
    """The wall clock the Connect proof is judged against (the phone's clock is real time, §1.5)."""
    return int(time.time() * 1000)


class DeviceGateway:
    """The courier listener. ``await start(host, port)``; ``.port``; ``await close()``."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self._server: asyncio.Server | None = None
        self._context: ssl.SSLContext | None = None
        self._connections: set[CourierConnection] = set()
        self._by_device: dict[tuple[str, str], CourierConnection] = {}
        # Seconds from TCP accept to a valid Connect, TLS handshake included (docs/limits.md §2); an attribute so
        # a test can shorten it on a running gateway.
        self.connect_deadline = limits.COURIER_CONNECT_DEADLINE
        unsubscribe_faults = state.faults.subscribe(self._fault_added)
        unsubscribe_devices = state.registry.subscribe_devices(self._device_revoked)

        def unsubscribe() -> None:
            unsubscribe_faults()
            unsubscribe_devices()

        self._unsubscribe = unsubscribe

    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols([ALPN])
        ctx.sni_callback = remember_sni
        # Phones never resume TLS sessions; TLS 1.3 tickets would cost each of them ~16 KiB for nothing.
        ctx.num_tickets = 0
        authority = self.state.authority
        with pki.private_pem_file(self.state.data_dir,
                                  authority.server_chain_pem() + authority.server_key_pem()) as path:
            ctx.load_cert_chain(path)
        return ctx

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._context = context = self._ssl_context()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: TlsEdge(context, CourierConnection(self), self.connect_deadline), host, port)
        log.info("device gateway (courier) listening on %s:%d", host, self.port)

    @property
    def port(self) -> int:
        assert self._server is not None and self._server.sockets, "the gateway is not listening"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def close(self) -> None:
        self._unsubscribe()
        self._unsubscribe = lambda: None
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.close("the simulator is shutting down")
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        await asyncio.sleep(0)  # let transports deliver connection_lost

    # -- bookkeeping the connections use -------------------------------------------------------------

    def offline_fault(self, device_id: str, environment: str) -> FaultRule | None:
        """The phone_offline rule that keeps this phone off the network, if any."""
        return offline_fault(self.state, device_id, environment)

    def _fault_added(self, rule: FaultRule) -> None:
        if rule.kind != PHONE_OFFLINE:
            return
        for (device_id, env), connection in list(self._by_device.items()):
            fault = self.offline_fault(device_id, env)
            if fault is not None:
                connection.close(f"fault {fault.id}: phone_offline")

    def _device_revoked(self, device_id: str) -> None:
        """A device was activated again or erased: connections that proved a certificate it no longer
        accepts end now (a revoked certificate must not keep receiving the device's pushes)."""
        device = self.state.registry.get_device(device_id)
        for env in ("sandbox", "production"):
            connection = self._by_device.get((device_id, env))
            serial = None if connection is None else connection.certificate_serial
            if connection is not None and (device is None or serial is None or not device.accepts_certificate(serial)):
                connection.close("its device certificate was revoked (the device was activated again or erased)")

    def _claim(self, key: tuple[str, str], connection: CourierConnection) -> None:
        """One connection per phone and environment, as on Apple's service: a new one replaces the old."""
        old = self._by_device.get(key)
        if old is not None and old is not connection:
            old.close("the same phone connected again")
        self._by_device[key] = connection

    def _release(self, key: tuple[str, str], connection: CourierConnection) -> bool:
        """The connection leaves: True if it was still the phone's (an older one that was replaced is not)."""
        if self._by_device.get(key) is not connection:
            return False
        del self._by_device[key]
        return True


class CourierConnection:
    """One phone's connection: the TLS edge's app protocol around a :class:`CourierSession`, and its
    :class:`~apns_sim.gateway.session.SessionHost`."""

    __slots__ = ("_gateway", "_last_seen", "_session", "_timer", "_transport")

    def __init__(self, gateway: DeviceGateway) -> None:
        self._gateway = gateway
        self._transport: TlsEdge | None = None
        self._session: CourierSession | None = None
        self._last_seen = 0.0
        self._timer: asyncio.TimerHandle | None = None

    # -- transport callbacks (TlsEdge) -------------------------------------------------------------------

    def connection_made(self, transport: TlsEdge) -> None:
        self._transport = transport
        self._gateway._connections.add(self)
        self._session = session = CourierSession(self._gateway.state, self,
                                                 server_name=transport.get_extra_info("server_name"), wall_ms=_wall_ms)
        if session.closing is not None:  # no courier host name: refused at once
            self._pump()
            return
        loop = asyncio.get_running_loop()
        self._last_seen = loop.time()
        self._timer = loop.call_later(min(session.idle_timeout, self._connect_time_left(loop.time())),
                                      self._check_idle)

    def data_received(self, data: bytes) -> None:
        session = self._session
        if session is None:
            return
        self._last_seen = asyncio.get_running_loop().time()
        session.receive_data(data)
        self._pump()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        if self._session is not None:
            self._session.connection_lost()
        self._gateway._connections.discard(self)
        self._transport = None

    def close(self, why: str) -> None:
        """The gateway ends this connection (replaced, a fault, shutdown): the session detaches at once, so
        delivery stores what was in flight, and what it queued goes out before the close."""
        if self._transport is None or self._transport.is_closing() or self._session is None:
            return
        self._session.close(why)
        self._pump()

    @property
    def certificate_serial(self) -> int | None:
        return None if self._session is None else self._session.certificate_serial

    # -- SessionHost --------------------------------------------------------------------------------------

    def claim(self, device_id: str, environment: str) -> None:
        self._gateway._claim((device_id, environment), self)

    def release(self, device_id: str, environment: str) -> bool:
        return self._gateway._release((device_id, environment), self)

    def output_ready(self) -> None:
        """A push was queued outside a read: hand it to the edge now (the edge batches per loop turn)."""
        transport, session = self._transport, self._session
        if transport is not None and session is not None:
            transport.write(session.data_to_send())

    # -- internals ----------------------------------------------------------------------------------------

    def _pump(self) -> None:
        """Write what the session queued; close the transport once the session is closing."""
        transport, session = self._transport, self._session
        if transport is None or session is None:
            return
        data = session.data_to_send()
        if data:
            transport.write(data)
        closing = session.closing
        if closing is None or transport.is_closing():
            return
        if closing.cause is CloseCause.REFUSED:
            log.warning("courier: refused a phone from %s: %s", transport.get_extra_info("peername"), closing.reason)
        self._cancel_timer()
        transport.close()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check_idle(self) -> None:
        self._timer = None
        session, transport = self._session, self._transport
        if session is None or transport is None or transport.is_closing():
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if session.device_id is None and session.closing is None:
            # Not authenticated yet: the same timer also enforces the deadline for a valid Connect.
            left = self._connect_time_left(now)
            if left <= 0:
                session.close(f"no valid Connect within {self._gateway.connect_deadline:g} s of the TCP accept "
                              "(docs/limits.md §2)")
                self._pump()
                return
        remaining = session.check_idle(now - self._last_seen)
        if remaining is not None:
            if session.device_id is None:
                remaining = min(remaining, self._connect_time_left(now))
            self._timer = loop.call_later(remaining, self._check_idle)
            return
        self._pump()

    def _connect_time_left(self, now: float) -> float:
        accepted = now if self._transport is None else self._transport.accepted_at
        return max(0.0, accepted + self._gateway.connect_deadline - now)
