"""The binary gateway and feedback listeners: TLS and asyncio around :mod:`apns_sim.legacy.service`.

Both require a client certificate (the binary interface knew no other credential; docs/legacy-binary.md §1)
verified against the simulator's push CA, with dates judged on the simulator's clock as the provider API does.
No ALPN: the binary interface predates it. Host and port come from the caller, so the same listener serves
127.0.0.1 on port 0 or Apple's host names on 2195/2196.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import ssl
from collections.abc import Mapping

from apns_sim import limits, pki
from apns_sim.legacy.feedback import FeedbackLedger
from apns_sim.legacy.service import FeedbackService, GatewayConnection, GatewayService
from apns_sim.pki import apple_hosts
from apns_sim.state import SimState

log = logging.getLogger("apns_sim.legacy")
NO_CHECK_TIME = 0x200000  # OpenSSL's X509_V_FLAG_NO_CHECK_TIME: dates are judged on the simulator's clock


def legacy_ssl_context(state: SimState) -> ssl.SSLContext:
    """TLS with a required push certificate from our CA; the server chain is the provider API's."""
    authority = state.authority
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    with pki.private_pem_file(state.data_dir, authority.server_chain_pem() + authority.server_key_pem()) as path:
        ctx.load_cert_chain(path)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=authority.client_verify_pem().decode())
    ctx.verify_flags |= NO_CHECK_TIME
    return ctx


class Listener:
    """What both listeners share: bind, count connections, close."""

    def __init__(self, state: SimState, environment: str) -> None:
        self.state = state
        self.environment = environment
        self.connections: set[asyncio.Transport] = set()
        self._server: asyncio.Server | None = None
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _protocol(self) -> asyncio.Protocol:
        raise NotImplementedError

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, host, port, ssl=legacy_ssl_context(self.state))
        self.host = host
        self.port = int(self._server.sockets[0].getsockname()[1])

    def admit(self, transport: asyncio.Transport) -> bool:
        if len(self.connections) >= limits.LEGACY_MAX_CONNECTIONS:
            transport.abort()
            return False
        self.connections.add(transport)
        return True

    def say_goodbye(self) -> None:
        """Called before the connections are cut at close; the gateway sends its Shutdown packets here."""

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        self.say_goodbye()
        await asyncio.sleep(0)
        for transport in list(self.connections):
            transport.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2.0)


class _GatewayProtocol(asyncio.Protocol):
    def __init__(self, server: BinaryGateway) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self.core: GatewayConnection | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if not self._server.admit(transport):
            return
        self._transport = transport
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        self.core = self._server.service.connect(der)
        self._server.cores[transport] = self
        self.flush()

    def data_received(self, data: bytes) -> None:
        if self.core is None:
            return
        try:
            self.core.receive_data(data)
        except Exception:  # a bug must not take the listener down: Apple's answer for it is "Processing error"
            log.exception("binary gateway: a notification could not be processed")
            self.core.crash()
        self.flush()

    def flush(self) -> None:
        core, transport = self.core, self._transport
        if core is None or transport is None or transport.is_closing():
            return
        data = core.data_to_send()
        if data:
            transport.write(data)
        if core.finished:
            transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._server.connections.discard(self._transport)
            self._server.cores.pop(self._transport, None)
        if self.core is not None and self.core.truncated:
            log.info("binary gateway: a connection ended inside a notification (%d bytes dropped)",
                     self.core.truncated)


class BinaryGateway(Listener):
    """One environment's binary gateway (``gateway[.sandbox].push.apple.com:2195`` in Apple's day)."""

    def __init__(self, state: SimState, environment: str) -> None:
        super().__init__(state, environment)
        self.service = GatewayService(state, environment)
        self.cores: dict[asyncio.Transport, _GatewayProtocol] = {}

    def _protocol(self) -> asyncio.Protocol:
        return _GatewayProtocol(self)

    def say_goodbye(self) -> None:
        for protocol in list(self.cores.values()):
            if protocol.core is not None:
                protocol.core.shutdown()
                protocol.flush()


class _FeedbackProtocol(asyncio.Protocol):
    def __init__(self, server: FeedbackListener) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if not self._server.admit(transport):
            return
        self._transport = transport
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        try:
            answer = self._server.service.answer(der)
        except Exception:
            log.exception("feedback service: could not list the tokens")
            answer = None
        if answer:
            transport.write(answer)
        transport.close()  # the answer is the whole conversation: the provider reads until EOF

    def data_received(self, data: bytes) -> None:
        """The provider has nothing to say to the feedback service; whatever it writes is ignored."""

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._server.connections.discard(self._transport)


class FeedbackListener(Listener):
    """One environment's feedback service (``feedback[.sandbox].push.apple.com:2196`` in Apple's day)."""

    def __init__(self, state: SimState, environment: str, ledger: FeedbackLedger) -> None:
        """``ledger``: one per data dir, shared by both environments' listeners (it is one file)."""
        super().__init__(state, environment)
        self.service = FeedbackService(state, environment, ledger)

    def _protocol(self) -> asyncio.Protocol:
        return _FeedbackProtocol(self)


_SERVER_NAME = "_pushsim_legacy_server_name"  # attribute the SNI callback leaves on the connection's SSLObject


class AppleHostsLegacy:
    """Drop-in mode (docs/drop-in.md §1): one port answering for both environments' binary gateways (2195) or
    both feedback services (2196), the environment chosen by the TLS server name the client sent.

    Clients of that era often sent no server name at all (PyAPNs wraps its socket without one), so a handshake
    without one is served as sandbox, the environment the tutorials used (docs/choices.md); a name that is no
    Apple host of this interface is cut at once, with a warning, instead of landing in either environment.
    """

    def __init__(self, state: SimState, interface: str, listeners: Mapping[str, Listener]) -> None:
        self.state = state
        self.interface = interface
        self.listeners = dict(listeners)
        self._server: asyncio.Server | None = None
        self.port = 0

    def listener_for(self, name: str | None) -> Listener | None:
        if not name:
            return self.listeners[apple_hosts.SANDBOX]
        host = apple_hosts.lookup(name, self.interface)
        return None if host is None else self.listeners[host.environment]

    def _remember_name(self, ssl_object: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        setattr(ssl_object, _SERVER_NAME, name)

    async def start(self, host: str, port: int) -> None:
        ctx = legacy_ssl_context(self.state)
        ctx.sni_callback = self._remember_name
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(lambda: _ByServerName(self), host, port, ssl=ctx)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise OSError(exc.errno, f"port {port} on {host} is already in use (another simulator with "
                              "--apple-hosts?); stop it, or use --apple-hosts-port-offset N") from None
            raise
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop accepting; the connections belong to the environments' listeners, which close them."""
        server, self._server = self._server, None
        if server is not None:
            server.close()


class _ByServerName(asyncio.Protocol):
    """Hands a drop-in connection to the protocol of the environment its server name chose."""

    def __init__(self, front: AppleHostsLegacy) -> None:
        self._front = front
        self._inner: asyncio.Protocol | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        name = getattr(transport.get_extra_info("ssl_object"), _SERVER_NAME, None)
        listener = self._front.listener_for(name)
        if listener is None:
            log.warning("drop-in: a TLS client named %r on the %s port, which is no Apple host of that interface; "
                        "connection closed (docs/drop-in.md §1)", str(name)[:100], self._front.interface)
            transport.abort()
            return
        self._inner = listener._protocol()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._inner is not None:
            self._inner.connection_lost(exc)
