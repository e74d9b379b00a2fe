"""A small pool of HTTP/2 connections to one APNs host (docs/apns-protocol.md §7).

Apple asks providers to keep connections open for hours and to add connections for throughput rather than to
churn them (§1 "Connection churn", §7 "Reuse"). The pool decides synchronously, httpcore-style, from each
connection's predicates (``accepts_streams``, ``is_available``, ``in_flight``) and only then does I/O:

1. a connection with a free stream slot right now, the least busy first;
2. otherwise a new connection, while fewer than ``max_connections`` exist or are being opened;
3. otherwise the least busy connection, whose stream gate the request then waits in.

A connection idle for ``ping_after`` seconds is PINGed before reuse (§7 PING), so a connection a NAT silently
dropped costs one ping instead of a request timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from provider.apns.connection import Connection
from provider.apns.errors import TransportError


class ConnectionPool:
    def __init__(
        self,
        connect: Callable[[], Awaitable[Connection]],
        *,
        max_connections: int = 1,
        ping_after: float = 60.0,
        ping_timeout: float = 5.0,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self._connect = connect
        self.max_connections = max_connections
        self.ping_after = ping_after
        self.ping_timeout = ping_timeout
        self._connections: list[Connection] = []
        self._opening: set[asyncio.Task[Connection]] = set()
        self._closed = False

    @property
    def connections(self) -> tuple[Connection, ...]:
        return tuple(self._connections)

    def _prune(self) -> None:
        self._connections = [c for c in self._connections if c.accepts_streams]

    def _choose(self) -> Connection | None:
        """Step 1: a live connection with a free slot, least busy first (no I/O)."""
        if len(self._connections) == 1 and self._connections[0].is_available:
            return self._connections[0]  # the usual case, decided without building lists on every send
        self._prune()
        available = [c for c in self._connections if c.is_available]
        return min(available, key=lambda c: c.in_flight) if available else None

    def _may_open(self) -> bool:
        return len(self._connections) + len(self._opening) < self.max_connections

    async def acquire(self) -> Connection:
        """A connection to send on (it may still make the request wait for a stream slot)."""
        while True:
            if self._closed:
                raise TransportError("the client is closed", retryable=False)
            conn = self._choose()
            if conn is None and self._may_open():
                conn = await self._open()
            if conn is None and self._connections:
                conn = min(self._connections, key=lambda c: c.in_flight / max(c.max_streams, 1))
            if conn is None:
                # Everything is still opening: share its outcome (success or the first error).
                await asyncio.wait(set(self._opening), return_when=asyncio.FIRST_COMPLETED)
                for task in [t for t in self._opening if t.done()]:
                    task.result()  # raises the connect error for every waiter
                continue
            if conn.idle_for() >= self.ping_after and not await self._healthy(conn):
                continue
            return conn

    async def _open(self) -> Connection:
        task: asyncio.Task[Connection] = asyncio.ensure_future(self._connect())
        self._opening.add(task)
        try:
            conn = await asyncio.shield(task)
        finally:
            self._opening.discard(task)
        if self._closed:
            await conn.close()
            raise TransportError("the client is closed", retryable=False)
        self._connections.append(conn)
        return conn

    async def _healthy(self, conn: Connection) -> bool:
        try:
            await conn.ping(timeout=self.ping_timeout)
        except TransportError:
            await self.discard(conn)
            return False
        return True

    async def discard(self, conn: Connection) -> None:
        """Stop using ``conn`` and close it (after GOAWAY, ExpiredProviderToken, a failed PING...)."""
        with contextlib.suppress(ValueError):
            self._connections.remove(conn)
        await conn.close()

    async def close(self) -> None:
        self._closed = True
        for task in list(self._opening):
            task.cancel()
        conns, self._connections = self._connections, []
        for conn in reversed(conns):
            await conn.close()
