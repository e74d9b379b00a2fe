"""The provider's exceptions, under one root.

``send()`` never raises for Apple's "no" (that is a ``Result`` with a reason, docs/style.md habit 5); these
are for when no answer came at all (``TransportError`` and its kinds) and for unusable credentials.
"""

from __future__ import annotations


class ProviderError(Exception):
    """The root of every exception the provider raises on purpose."""


class TransportError(ProviderError):
    """The request got no answer from Apple (connection, TLS, HTTP/2 or timeout trouble).

    ``retryable`` says whether sending again (on a new stream or connection) is sensible; ``reason`` carries a
    GOAWAY's JSON reason when the server gave one (§7).
    """

    retryable = True

    def __init__(self, message: str, *, reason: str | None = None, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        if retryable is not None:
            self.retryable = retryable


class ConnectFailed(TransportError):
    """No connection: refused, unreachable, TLS handshake failure or no ``h2`` from ALPN."""


class ConnectionLost(TransportError):
    """The connection closed while the request was in flight."""


class StreamRefused(TransportError):
    """The server did not process the stream (GOAWAY above it, RST_STREAM REFUSED_STREAM): safe to resend."""


class RequestTimeout(TransportError):
    """No answer within the per-request timeout."""
