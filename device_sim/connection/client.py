"""The phone's persistent courier connection, one per environment, shared by every app (docs/device-side.md
§1.8).

The life of a connection: TLS to the gateway with the courier server name (which selects the
environment), Connect with the device certificate and a fresh signed nonce (§1.5), ConnectAck (adopt the
base token), Filter with every registered app's topic hash, token requests, then steady state: acknowledge
every Push, keep-alive every interval (a missing answer drops the connection), and on any failure
reconnect with exponential back-off capped at 30 s. The bytes are :mod:`apns_sim.courier`'s; the
decisions (which app, which ack status) are the phone's, through :class:`CourierHandler`.

Lean on purpose (fleets keep thousands of these in one process): TLS over memory BIOs
(:mod:`device_sim.connection.tls`), callbacks instead of streams, one sleeping task and one timer per connection.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from apns_sim import courier
from device_sim.connection.tls import TlsClientEdge
from device_sim.errors import DeviceSimError
from device_sim.identity.store import COURIER_SERVER_NAMES, Identity

log = logging.getLogger("device_sim.courier")

CONNECT_TIMEOUT = 10.0


class ConnectRefused(DeviceSimError):
    """The gateway answered the Connect with a non-zero status (the reason is the simulator's item 0x30)."""


class TokenRefused(DeviceSimError):
    """The gateway answered a token request with a non-zero status."""


class CourierHandler(Protocol):
    """What the phone decides for its connections."""

    def filter_topics(self, environment: str) -> Sequence[str]: ...

    def push_status(self, environment: str, push: courier.Push) -> int: ...

    def push_acked(self, environment: str, push: courier.Push) -> None: ...

    def base_token_changed(self, token: bytes) -> None: ...

    def connection_changed(self, environment: str, connected: bool, error: str | None) -> None: ...

    def connect_refused(self, environment: str, reason: str) -> Awaitable[bool]: ...


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a failure as seen: it is reported through the awaiting coroutine, or nobody is waiting any more."""
    if not future.cancelled():
        future.exception()


class _Session:
    """One TLS connection's courier traffic; the client it belongs to decides what it means."""

    __slots__ = ("_client", "_decoder", "closed", "edge", "outbox", "ready", "transport")

    def __init__(self, client: CourierClient) -> None:
        self._client = client
        self._decoder = courier.Decoder()
        self.edge: TlsClientEdge | None = None  # from the start (the TLS handshake may never finish)
        self.transport: TlsClientEdge | None = None  # once the handshake is done
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()  # ConnectAck handled (or refused)
        self.ready.add_done_callback(_retrieve)
        self.closed: asyncio.Future[str] = loop.create_future()  # why it ended
        # While a read is handled, the answers (acks, reports) gather here and leave as one TLS write:
        # a hundred pushes in one read cost one record and one system call, not three hundred.
        self.outbox: list[bytes] | None = None

    def connection_made(self, transport: TlsClientEdge) -> None:
        self.transport = transport
        transport.write(self._client._connect_frame())

    def data_received(self, data: bytes) -> None:
        self.outbox = []
        try:
            for message in self._decoder.feed(data):
                if not self.ready.done():
                    self._client._on_connect_ack(self, message)
                else:
                    self._client._dispatch(message)
                if self.transport is None or self.transport.is_closing():
                    return
        except (courier.CourierProtocolError, ConnectRefused) as exc:
            self.fail(exc)
        except Exception as exc:  # a bug in the phone: drop this connection, the client reconnects
            log.exception("courier: error handling data from the gateway")
            self.fail(exc)
        finally:
            outbox, self.outbox = self.outbox, None
            if outbox and self.transport is not None and not self.transport.is_closing():
                self.transport.write(b"".join(outbox))

    def write(self, data: bytes) -> None:
        if self.outbox is not None:
            self.outbox.append(data)
        elif self.transport is not None:
            self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(exc or ConnectionError("the gateway closed the connection"))
        self.transport = None

    def fail(self, exc: BaseException) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc)
        if not self.closed.done():
            self.closed.set_result(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        if self.transport is not None:
            self.transport.close()


class CourierClient:
    """One environment's connection: ``start()``, ``await request_token(bundle_id)``, ``await stop()``."""

    def __init__(self, *, environment: str, host: str, port: int, ssl_context: ssl.SSLContext,
                 identity: Callable[[], Identity], base_token: Callable[[], bytes | None], handler: CourierHandler,
                 keepalive_interval: float = 60.0, keepalive_timeout: float = 15.0, max_backoff: float = 30.0,
                 retired_base_token: Callable[[], bytes | None] | None = None) -> None:
        self.environment = environment
        # Read at each Connect, like the base token: a phone that was restored or erased names the base token
        # it gave up until APNs has answered (rule 29; [sim] Connect item 0x31).
        self._retired_base_token = retired_base_token
        self.server_name = COURIER_SERVER_NAMES[environment]
        self._host, self._port, self._ssl = host, port, ssl_context
        self._identity, self._base_token, self._handler = identity, base_token, handler
        self.keepalive_interval, self.keepalive_timeout, self.max_backoff = (
            keepalive_interval, keepalive_timeout, max_backoff)
        self._session: _Session | None = None
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        # topic hash -> (topic text, push type, future) of each request still waiting for its answer
        self._token_waiters: dict[bytes, list[tuple[str, str | None, asyncio.Future[bytes]]]] = {}
        self._pongs: deque[asyncio.Future[None] | None] = deque()  # None: the keep-alive timer's own ping
        self._timer: asyncio.TimerHandle | None = None
        # While the handler takes a push, its reports gather here (apns-id -> stages) and leave as one
        # SimReport per push (handed_to_app + presented), so APNs decodes one frame instead of two.
        self._held_reports: dict[str, list[tuple[str, dict[str, Any]]]] | None = None
        self.last_error: str | None = None

    # -- control ----------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"courier-{self.environment}")

    async def stop(self) -> None:
        """End the connection and its task now, whatever it is waiting for (a read, a handshake, a back-off)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # stop() itself was cancelled: pass that on, do not swallow it

    async def wait_connected(self, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            await self._connected.wait()

    # -- requests ---------------------------------------------------------------------------------------

    async def request_token(self, bundle_id: str, push_type: str | None = None) -> bytes:
        """The app's token for ``bundle_id`` (0x11 → 0x12); waits for the connection if there is none.

        ``push_type`` "voip" asks for a PushKit token, ``bundle_id`` then being the topic ``<bundle>.voip``.
        """
        topic = courier.topic_hash(bundle_id)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._token_waiters.setdefault(topic, []).append((bundle_id, push_type, future))
        if self.connected:
            self._write(courier.ScopedTokenRequest(topic=topic, bundle_id=bundle_id, base_token=self._base_token(),
                                                   push_type=push_type).encode())
        try:
            return await future
        finally:
            waiters = [w for w in self._token_waiters.get(topic, []) if w[2] is not future]
            if waiters:
                self._token_waiters[topic] = waiters
            else:
                self._token_waiters.pop(topic, None)

    def send_filter(self) -> None:
        """Tell APNs which topics this phone wants now (after connect and whenever apps change)."""
        if self.connected:
            topics = tuple(courier.topic_hash(t) for t in self._handler.filter_topics(self.environment))
            self._write(courier.Filter(base_token=self._base_token(), enabled=topics).encode())

    async def sync(self, timeout: float | None = None) -> None:
        """A keep-alive round trip: once it returns, the gateway has handled everything sent before it."""
        if not self.connected:
            raise ConnectionError(f"the {self.environment} courier connection is not up")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pongs.append(future)
        self._write(courier.KeepAlive().encode())
        async with asyncio.timeout(timeout or self.keepalive_timeout):
            await future

    def report(self, apns_id: str, stage: str, detail: dict[str, Any]) -> None:
        """Tell the simulator what happened to a push on the phone (SimReport, a simulator extension)."""
        if self._held_reports is not None:
            self._held_reports.setdefault(apns_id, []).append((stage, detail))
        elif self.connected:
            self._write(courier.SimReport(apns_id=apns_id, stage=stage, detail=detail).encode())

    def send_app_status(self, status: courier.AppStatus) -> bool:
        """Tell the simulator an app's permission, badge and state ([sim] AppStatus, for its dashboard only).
        False when there is no connection: the phone sends every app's status again after it reconnects."""
        if not self.connected:
            return False
        self._write(status.encode())
        return True

    # -- the connection loop ---------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = 1.0
        while True:
            session = _Session(self)
            try:
                error = await self._connect(session)
                delay = 1.0  # it was up: start the back-off again from the bottom
            except asyncio.CancelledError:
                raise
            except ConnectRefused as exc:
                error = f"APNs refused the connection: {exc}"
                if await self._handler.connect_refused(self.environment, str(exc)):
                    continue
            except (OSError, ssl.SSLError, TimeoutError, courier.CourierProtocolError) as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            except Exception as exc:  # a bug must not kill the phone's connection for good
                log.exception("courier %s: unexpected error", self.environment)
                error = f"internal error: {exc!r}"
            finally:
                if session.edge is not None:
                    session.edge.close()
                self._disconnected(session)
            self.last_error = error
            self._handler.connection_changed(self.environment, False, error)
            log.info("courier %s: %s; reconnecting in %.1f s", self.environment, error, delay)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.max_backoff)

    async def _connect(self, session: _Session) -> str:
        """Open, authenticate and serve one connection; returns why it ended once it was up."""
        loop = asyncio.get_running_loop()

        async def handshake() -> None:
            _, session.edge = await loop.create_connection(
                lambda: TlsClientEdge(self._ssl, self.server_name, session), self._host, self._port)
            await session.edge.handshake
            await session.ready

        # asyncio.timeout, not wait_for: in 3.11 wait_for returns the result instead of raising when the
        # task is cancelled in the same turn the handshake completes, so stop() was lost and then waited on
        # session.closed for as long as the connection lived.
        async with asyncio.timeout(CONNECT_TIMEOUT):
            await handshake()
        return await session.closed

    def _connect_frame(self) -> bytes:
        identity = self._identity()
        nonce, signature = courier.make_connect_proof(identity.key, int(time.time() * 1000))
        retired = None if self._retired_base_token is None else self._retired_base_token()
        return courier.Connect(certificate=identity.certificate_der, nonce=nonce, signature=signature,
                               base_token=self._base_token(), retired_base_token=retired).encode()

    def _on_connect_ack(self, session: _Session, message: courier.Message) -> None:
        if isinstance(message, courier.Unknown):
            return
        if not isinstance(message, courier.ConnectAck):
            raise courier.CourierProtocolError(f"expected ConnectAck, got {type(message).__name__}")
        if message.status != courier.STATUS_OK:
            raise ConnectRefused(message.reason or f"ConnectAck status {message.status}")
        if message.base_token and message.base_token != self._base_token():
            self._handler.base_token_changed(message.base_token)
        self._session = session
        session.ready.set_result(None)
        self._connected.set()
        self.last_error = None
        self._handler.connection_changed(self.environment, True, None)
        self.send_filter()
        for topic, waiters in self._token_waiters.items():
            if waiters:
                self._write(courier.ScopedTokenRequest(topic=topic, bundle_id=waiters[0][0],
                                                       base_token=self._base_token(),
                                                       push_type=waiters[0][1]).encode())
        self._schedule_keepalive()

    def _dispatch(self, message: courier.Message) -> None:
        if isinstance(message, courier.Push):
            status = self._handler.push_status(self.environment, message)
            self._write(courier.PushAck(message_id=message.message_id, status=status, token=message.token).encode())
            if status == courier.ACK_OK:
                self._held_reports = {}
                try:
                    self._handler.push_acked(self.environment, message)
                except Exception:
                    # The push is acknowledged and the phone's bug is its own: dropping the connection would
                    # only meet the same push or state again after the reconnect (issue 14 item 2).
                    log.exception("courier %s: the phone failed on push %s", self.environment, message.apns_id)
                finally:
                    held, self._held_reports = self._held_reports, None
                    for apns_id, ((stage, detail), *later) in held.items():
                        self._write(courier.SimReport(apns_id=apns_id, stage=stage, detail=detail,
                                                      later=tuple(later)).encode())
        elif isinstance(message, courier.KeepAliveAck):
            waiter = self._pongs.popleft() if self._pongs else None
            if waiter is None:
                self._schedule_keepalive()
            elif not waiter.done():
                waiter.set_result(None)
        elif isinstance(message, courier.ScopedTokenAck):
            for _, _, future in self._token_waiters.get(message.topic, []):
                if future.done():
                    continue
                if message.status == courier.STATUS_OK and message.token:
                    future.set_result(message.token)
                else:
                    future.set_exception(TokenRefused(message.reason or f"status {message.status}"))
        elif isinstance(message, courier.ConnectAck):
            raise courier.CourierProtocolError("a second ConnectAck")

    # -- keep-alive: one timer, alternating "time to ping" and "the answer is late" --------------------

    def _schedule_keepalive(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self.keepalive_interval, self._ping)

    def _ping(self) -> None:
        self._pongs.append(None)
        self._write(courier.KeepAlive().encode())
        self._timer = asyncio.get_running_loop().call_later(self.keepalive_timeout, self._pong_missed)

    def _pong_missed(self) -> None:
        self._timer = None
        log.info("courier %s: no keep-alive answer in %.0f s; dropping the connection",
                 self.environment, self.keepalive_timeout)
        if self._session is not None:
            self._session.fail(TimeoutError("no keep-alive answer"))

    # -- internals -------------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        session = self._session
        if session is not None:
            session.write(data)

    def _disconnected(self, session: _Session) -> None:
        if self._session is not session and self._session is not None:
            return
        self._session = None
        self._connected.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for waiter in self._pongs:
            if waiter is not None and not waiter.done():
                waiter.set_exception(ConnectionError("the courier connection closed"))
        self._pongs.clear()
