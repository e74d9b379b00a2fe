"""The drop-in mode's provider API listener: Apple's host names on Apple's ports, one listener per port.

Apple runs production and sandbox as separate hosts; a client that cannot be re-pointed dials one of those
names on 443 or 2197. Here both environments share each port, so the environment is chosen the only way a
shared port allows: from the TLS server name (SNI) the client sent, looked up in
:data:`apns_sim.pki.apple_hosts.APPLE_HOSTS`. A handshake naming no Apple host (or none at all) is shown a
certificate valid for no name (the client's own check refuses it) and a warning goes to the log, so a mistyped
host fails at once and visibly instead of landing in the wrong environment; a client that accepts that
certificate anyway gets GOAWAY ``Forbidden``. Each request's ``:authority`` must then name a host of
the same environment, as it would on Apple's separate hosts; a mismatch is answered 403 ``Forbidden``
(docs/choices.md "Drop-in: a request whose :authority names the other environment").

Reference: docs/drop-in.md §1-§3, docs/apns-protocol.md §1.
"""

from __future__ import annotations

import errno
import logging
import ssl
from collections.abc import Mapping

from apns_sim import pki
from apns_sim.faults.plan import Injected
from apns_sim.pki import apple_hosts
from apns_sim.pki.apple_hosts import PROVIDER_API
from apns_sim.provider_api.connection import ProviderConnection
from apns_sim.provider_api.listener import ProviderApiServer, load_identity
from apns_sim.provider_api.service import ProviderService, ProviderSession
from apns_sim.push.reasons import Reason
from apns_sim.push.request import Outcome, PushRequest, Rejection
from apns_sim.state import SimState

log = logging.getLogger("apns_sim.server")
_SERVER_NAME = "_pushsim_apple_host"  # attribute the SNI callback leaves on the connection's SSLObject
PRIVILEGED_BELOW = 1024
REFUSAL_CN = "pushsim: not an Apple push host name (see apns-sim hosts)"


class AuthorityCheck:
    """A request handler that refuses requests whose ``:authority`` names the other environment's host."""

    def __init__(self, inner: ProviderSession, service: ProviderService) -> None:
        self.session = inner  # the revocation watch looks through this wrapper to the credentials (§7)
        self._inner = inner
        self._service = service

    @property
    def gate_open(self) -> bool:
        return self._inner.gate_open

    def unlock(self, authorization: str) -> bool:
        return self._inner.unlock(authorization)

    def handle(self, request: PushRequest, apns_id: str) -> Outcome | Injected:
        authority = request_authority(request)
        if authority is None or authority_matches(authority, self._service.environment):
            return self._inner.handle(request, apns_id)
        log.warning("drop-in: :authority %r does not belong to the %s host this connection named in its TLS "
                    "server name; answered 403 Forbidden", authority[:100], self._service.environment)
        refusal: Outcome = Rejection(Reason.FORBIDDEN)
        self._service.record(request, apns_id, refusal, self._service.state.clock.time())
        return refusal


def request_authority(request: PushRequest) -> str | None:
    """``:authority`` (or, as RFC 9113 §8.3.1 allows, ``host``) without its port; None when neither is sent."""
    value = None
    for name, raw in request.raw_headers:
        if name == b":authority" or (name == b"host" and value is None):
            value = raw.decode("utf-8", "surrogateescape")
    if not value:
        return None
    host, _, port = value.rpartition(":")
    return host if host and port.isdigit() else value


def authority_matches(authority: str, environment: str) -> bool:
    """Any Apple provider host of the same environment will do (``api.development`` is ``api.sandbox``)."""
    host = apple_hosts.lookup(authority, PROVIDER_API)
    return host is not None and host.environment == environment


class AppleHostsServer(ProviderApiServer):
    """One port (443, 2197, or those plus an offset) answering for every Apple provider API host."""

    def __init__(self, state: SimState, services: Mapping[str, ProviderService]) -> None:
        super().__init__(state, "apple-hosts", services["sandbox"])
        self.services = dict(services)
        self._refusal: ssl.SSLContext | None = None

    def ssl_context(self) -> ssl.SSLContext:
        ctx = super().ssl_context()
        # Shown instead of ours to a client that named no Apple host (docs/drop-in.md §3): a TLS alert would be
        # lost, as asyncio drops what OpenSSL queued when a server-side handshake fails.
        chain, key = pki.issue_refusal_certificate(self.state.authority, self.state.clock.now(), REFUSAL_CN)
        self._refusal = super().ssl_context()
        load_identity(self._refusal, self.state.data_dir, chain, key)
        ctx.sni_callback = self._server_name
        return ctx

    def _server_name(self, ssl_object: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        """Keep the Apple host the client named; for any other name (or none) present the refusal certificate."""
        host = apple_hosts.lookup(name, PROVIDER_API)
        if host is None:
            log.warning("drop-in: a TLS client named %s, which is no Apple push host; it gets a certificate for no "
                        "name and, if it still sends requests, GOAWAY Forbidden (this port answers only for %s; "
                        "docs/drop-in.md §3)", repr(name[:100]) if name else "no server name",
                        ", ".join(h.name for h in apple_hosts.hosts_for(PROVIDER_API)))
            assert self._refusal is not None, "ssl_context() makes both contexts"
            ssl_object.context = self._refusal
            return
        setattr(ssl_object, _SERVER_NAME, host)

    def connect(self, ssl_object: ssl.SSLObject | None, peer_cert_der: bytes | None,
                alpn: str | None) -> ProviderConnection:
        host = getattr(ssl_object, _SERVER_NAME, None)
        if not isinstance(host, apple_hosts.AppleHost):  # a client that accepted the refusal certificate
            core = self.service.connect(None, alpn)
            core.refuse(Reason.FORBIDDEN)
            return core
        service = self.services[host.environment]
        return service.connect(peer_cert_der, alpn, wrap=lambda session: AuthorityCheck(session, service))

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        try:
            await super().start(host, port)
        except PermissionError as exc:
            raise PermissionError(exc.errno or errno.EACCES, privileged_port_message(port)) from None
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise OSError(exc.errno, f"port {port} on {host} is already in use (another web server, or "
                              "another simulator with --apple-hosts?); stop it, or use "
                              "--apple-hosts-port-offset N") from None
            raise


def privileged_port_message(port: int) -> str:
    """What to do when binding one of Apple's ports is not allowed (docs/drop-in.md §2)."""
    return (f"cannot listen on port {port} for --apple-hosts: ports below {PRIVILEGED_BELOW} need root or "
            "CAP_NET_BIND_SERVICE (run as root, e.g. in a CI container, or `setcap cap_net_bind_service=+ep` on "
            "the Python binary), or pass --apple-hosts-port-offset N and map 443 and 2197 to 443+N and "
            "2197+N yourself")
