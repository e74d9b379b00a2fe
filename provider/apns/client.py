"""``APNsClient``: send notifications to APNs (or anything that speaks its protocol, such as the simulator).

The same code talks to Apple and to the simulator; only host, port and trust differ (docs/architecture.md).
``send`` returns a ``Result`` for every answer Apple gives, including "no" (docs/style.md habit 5), and raises
``TransportError`` only when no answer could be had after retries.

Retries (docs/apns-protocol.md §4.4): retryable answers (429 ``TooManyRequests``, 500, 503) and lost
connections are retried with exponential back-off and jitter; a stream the server refused unprocessed (GOAWAY,
REFUSED_STREAM) is resent at once on another connection. Every attempt carries the same ``apns-id`` (one is
generated before the first attempt when the notification has none), so the notification keeps one identity
(docs/architecture.md, "One notification, end to end"). ``ExpiredProviderToken`` signs a new JWT on a new
connection and tries again, as pushy does (§5).

Provider tokens are per connection (§5: "no more than once every 20 minutes **on the same connection**"):
each connection signs its own JWT when it sends its first request and renews it ``token_refresh_after``
seconds later. One token shared by the whole pool would be renewed on its own schedule, and a connection
opened (after a GOAWAY, or to add throughput) shortly before that renewal would see its token change within
minutes: 429 ``TooManyProviderTokenUpdates``.
"""

from __future__ import annotations

import asyncio
import random
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Literal
from urllib.parse import urlsplit

from provider.apns.connection import Connection
from provider.apns.credentials import CertificateCredentials, Credentials, PathLike, TokenCredentials
from provider.apns.errors import StreamRefused, TransportError
from provider.apns.notification import Notification
from provider.apns.pool import ConnectionPool
from provider.apns.protocol import Result, authority, goaway_result, parse_response, request_headers
from provider.apns.reasons import Reason
from provider.apns.tokens import DEFAULT_REFRESH, TokenIssuer

Environment = Literal["sandbox", "production"]
# Answers after which a token connection is of no further use (§5): expired token, or one renewed too soon.
_TOKEN_REFUSED = frozenset({Reason.EXPIRED_PROVIDER_TOKEN, Reason.TOO_MANY_PROVIDER_TOKEN_UPDATES})
APPLE_HOSTS: dict[str, str] = {
    "sandbox": "api.sandbox.push.apple.com",
    "production": "api.push.apple.com",
}  # §1


def resolve_endpoint(environment: str, endpoint: str | None = None) -> tuple[str, int]:
    """``(host, port)``: Apple's host for ``environment`` on 443, or the ``https://host:port`` given."""
    if environment not in APPLE_HOSTS:
        raise ValueError(f"environment must be 'sandbox' or 'production', got {environment!r}")
    if endpoint is None:
        return APPLE_HOSTS[environment], 443
    parts = urlsplit(endpoint)
    if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"endpoint must look like https://host[:port], got {endpoint!r}")
    try:
        port = parts.port or 443
    except ValueError:
        raise ValueError(f"endpoint has an invalid port: {endpoint!r}") from None
    return parts.hostname, port


class APNsClient:
    """An async context manager holding a pool of HTTP/2 connections to one APNs environment."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        environment: Environment | str = "sandbox",
        endpoint: str | None = None,
        ca_file: PathLike | None = None,
        max_connections: int = 1,
        clock: Callable[[], float] = time.time,
        request_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        max_attempts: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        token_refresh_after: float = DEFAULT_REFRESH,
        ping_after: float = 60.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.environment = environment
        self.host, self.port = resolve_endpoint(environment, endpoint)
        self._authority = authority(self.host, self.port)
        self._ssl = credentials.ssl_context(ca_file)
        self._token_refresh_after = token_refresh_after
        self._clock = clock
        # One token issuer per connection (see the module docstring), dropped with its connection.
        self._issuers: weakref.WeakKeyDictionary[Connection, TokenIssuer] = weakref.WeakKeyDictionary()
        self._token_credentials = credentials if isinstance(credentials, TokenCredentials) else None
        if self._token_credentials is not None:  # bad ids or refresh interval: fail now, not at the first send
            self._token_credentials.issuer(refresh_after=token_refresh_after, clock=clock)
        self.credentials = credentials
        self.request_timeout = request_timeout
        self.connect_timeout = connect_timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._sleep = sleep
        self._jitter = jitter
        self._pool = ConnectionPool(self._connect, max_connections=max_connections, ping_after=ping_after)

    def __repr__(self) -> str:
        kind = "token" if isinstance(self.credentials, TokenCredentials) else "certificate"
        return f"APNsClient({kind}, {self.environment}, {self._authority})"

    @property
    def default_topic(self) -> str | None:
        """The bundle id of a certificate's subject (UID), if the credentials are a certificate (§6)."""
        return self.credentials.bundle_id if isinstance(self.credentials, CertificateCredentials) else None

    @property
    def pool(self) -> ConnectionPool:
        return self._pool

    def token_issuer(self, conn: Connection) -> TokenIssuer | None:
        """The provider-token issuer of ``conn`` (``None`` for certificate credentials or an unused one)."""
        return self._issuers.get(conn)

    def _authorization(self, conn: Connection) -> str | None:
        credentials = self._token_credentials
        if credentials is None:
            return None
        issuer = self._issuers.get(conn)
        if issuer is None:
            issuer = credentials.issuer(refresh_after=self._token_refresh_after, clock=self._clock)
            self._issuers[conn] = issuer
        return issuer.authorization()

    async def __aenter__(self) -> APNsClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._pool.close()

    async def _connect(self) -> Connection:
        return await Connection.open(self.host, self.port, self._ssl, connect_timeout=self.connect_timeout)

    async def send(self, notification: Notification) -> Result:
        """Send one notification; return Apple's answer. Raises ``TransportError`` only without an answer."""
        notification = notification.with_apns_id()
        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.max_attempts
            try:
                result, conn = await self._send_once(notification)
            except StreamRefused as exc:
                answer = goaway_result(exc.reason, notification.apns_id)
                if answer is not None:
                    return answer
                if last:
                    raise
                continue  # never processed: resend at once on a fresh stream
            except TransportError as exc:
                answer = goaway_result(exc.reason, notification.apns_id)
                if answer is not None:
                    return answer
                if last or not exc.retryable:
                    raise
                await self._backoff(attempt)
                continue
            if last or result.accepted:
                return result
            if result.known_reason in _TOKEN_REFUSED and self._token_credentials is not None:
                # APNs will not take a token on this connection any more (pushy closes it too): a new
                # connection signs a fresh token of its own.
                await self._pool.discard(conn)
                continue
            if not result.retryable:
                return result
            if result.known_reason is Reason.IDLE_TIMEOUT:
                await self._discard_all()
            await self._backoff(attempt)

    async def send_many(
        self, notifications: Iterable[Notification], *, concurrency: int = 100
    ) -> list[Result | TransportError]:
        """Send many at once, at most ``concurrency`` in flight; results in input order.

        A notification that got no answer yields its ``TransportError`` in its place instead of raising, so
        one dead token or connection does not hide the answers for the others.
        """
        gate = asyncio.Semaphore(concurrency)

        async def one(n: Notification) -> Result | TransportError:
            async with gate:
                try:
                    return await self.send(n)
                except TransportError as exc:
                    return exc

        return list(await asyncio.gather(*(one(n) for n in notifications)))

    async def _send_once(self, notification: Notification) -> tuple[Result, Connection]:
        conn = await self._pool.acquire()
        headers = request_headers(
            notification, authority=self._authority, authorization=self._authorization(conn)
        )
        response = await conn.request(headers, notification.body, timeout=self.request_timeout)
        result = parse_response(
            response.status, response.headers, response.body, request_apns_id=notification.apns_id
        )
        return result, conn

    async def _discard_all(self) -> None:
        for conn in self._pool.connections:
            await self._pool.discard(conn)

    async def _backoff(self, attempt: int) -> None:
        """Exponential back-off with equal jitter: half the delay fixed, half random."""
        delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        await self._sleep(delay / 2 + self._jitter() * delay / 2)
