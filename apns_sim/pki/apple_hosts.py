"""Apple's host names, the environment and interface each one stands for, and Apple's ports for it.

One table, because three things must agree on it: the server certificate (it must cover every name, or a client
that dials Apple's name refuses the handshake), the listeners of the drop-in mode (``apns-sim serve
--apple-hosts``, which pick the environment from the TLS server name), and ``apns-sim hosts`` (which prints a
hosts-file line per name). A later interface (the legacy binary API on 2195/2196) adds its rows here and
everything else follows. Sources: docs/apns-protocol.md §1 (hosts and ports), docs/drop-in.md §1.
Lives in ``pki`` (layer 1, pure data) so that every listener room above may read it without importing another.
"""

from __future__ import annotations

from dataclasses import dataclass

PROVIDER_API = "provider_api"  # HTTP/2 provider API (docs/apns-protocol.md §1)
SANDBOX = "sandbox"
PRODUCTION = "production"
PROVIDER_API_PORTS = (443, 2197)  # 2197 lets a firewall admit APNs while blocking other HTTPS (§1)
LEGACY_GATEWAY = "legacy"  # the retired binary interface (docs/legacy-binary.md §1)
FEEDBACK = "feedback"  # its feedback service (docs/legacy-binary.md §4)


@dataclass(frozen=True, slots=True)
class AppleHost:
    """One of Apple's names: which environment it serves, over which interface, on which ports."""

    name: str
    environment: str
    interface: str
    ports: tuple[int, ...]


APPLE_HOSTS: tuple[AppleHost, ...] = (
    AppleHost("api.push.apple.com", PRODUCTION, PROVIDER_API, PROVIDER_API_PORTS),
    AppleHost("api.sandbox.push.apple.com", SANDBOX, PROVIDER_API, PROVIDER_API_PORTS),
    # Older sandbox alias, still in Apple's openssl example and hard-coded by aioapns (§1).
    AppleHost("api.development.push.apple.com", SANDBOX, PROVIDER_API, PROVIDER_API_PORTS),
    # The binary interface and its feedback service, retired by Apple in 2021 (docs/legacy-binary.md §1).
    AppleHost("gateway.push.apple.com", PRODUCTION, LEGACY_GATEWAY, (2195,)),
    AppleHost("gateway.sandbox.push.apple.com", SANDBOX, LEGACY_GATEWAY, (2195,)),
    AppleHost("feedback.push.apple.com", PRODUCTION, FEEDBACK, (2196,)),
    AppleHost("feedback.sandbox.push.apple.com", SANDBOX, FEEDBACK, (2196,)),
)


def normalize(name: str) -> str:
    """DNS names compare without case and without a trailing root dot (RFC 4343; RFC 6066 §3 for SNI)."""
    return name.strip().rstrip(".").lower()


def lookup(name: str | None, interface: str = PROVIDER_API) -> AppleHost | None:
    """The table's row for ``name`` on ``interface``; None for a name Apple does not use there (or no name)."""
    if not name:
        return None
    wanted = normalize(name)
    for host in APPLE_HOSTS:
        if host.name == wanted and host.interface == interface:
            return host
    return None


def hosts_for(interface: str | None = None) -> tuple[AppleHost, ...]:
    """Every row, or the rows of one interface, in table order."""
    return tuple(host for host in APPLE_HOSTS if interface is None or host.interface == interface)


def host_names() -> tuple[str, ...]:
    """Every name in the table once, in table order: what a hosts file must point at the simulator."""
    return tuple(dict.fromkeys(host.name for host in APPLE_HOSTS))


def ports_for(interface: str, offset: int = 0) -> tuple[int, ...]:
    """The ports one interface listens on in drop-in mode, each moved by ``offset`` (docs/drop-in.md §2)."""
    ports = dict.fromkeys(port for host in hosts_for(interface) for port in host.ports)
    return tuple(port + offset for port in ports)


def url(name: str, port: int) -> str:
    return f"https://{name}:{port}"
