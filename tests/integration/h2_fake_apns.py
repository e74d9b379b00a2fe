"""A tiny HTTP/2 server that answers like APNs, for the provider's integration tests.

Not the simulator: a test double in the spirit of aiohttp's ``examples/fake_server.py`` (docs/style.md), owned by
the provider's tests so they do not depend on ``apns_sim``. It speaks real TLS (trustme certificates, ALPN
``h2``) on 127.0.0.1 port 0 and lets a test choose each answer, advertise MAX_CONCURRENT_STREAMS=1 until the
first valid request (the token-connection gate, docs/apns-protocol.md §5, §7), change SETTINGS, and send
GOAWAY with a JSON reason.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import jwt
import trustme


@dataclass(frozen=True)
class Answer:
    status: int = 200
    reason: str | None = None
    timestamp: int | None = None
    delay: float = 0.0
    unique_id: str | None = None


@dataclass(frozen=True)
class Received:
    connection: int
    stream_id: int
    headers: dict[str, str]
    body: bytes
    peer_subject: str | None

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def token(self) -> str:
        return self.headers[":path"].rsplit("/", 1)[-1]


Handler = Callable[[Received], Answer | Awaitable[Answer]]


def _ok(_: Received) -> Answer:
    return Answer()


@dataclass
class _Pending:
    headers: dict[str, str]
    body: bytearray = field(default_factory=bytearray)


class _ServerConnection(asyncio.Protocol):
    def __init__(self, server: FakeAPNs, number: int) -> None:
        self.server = server
        self.number = number
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        self.transport: asyncio.Transport | None = None
        self.pending: dict[int, _Pending] = {}
        self.open_streams = 0
        self.gate_open = not server.gate
        self.peer_subject: str | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peercert")
        if peer:
            self.peer_subject = ",".join(f"{k}={v}" for rdn in peer.get("subject", ()) for k, v in rdn)
        initial = 1 if self.server.gate else self.server.max_streams
        self.h2.local_settings = h2.settings.Settings(
            client=False, initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: initial}
        )
        self.h2.initiate_connection()
        self.flush()
        self.server.connections.append(self)

    def connection_lost(self, exc: Exception | None) -> None:
        for task in self.tasks:
            task.cancel()

    def flush(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.h2.data_to_send())

    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self.server.violations.append(f"protocol error: {exc}")
            self.flush()
            if self.transport is not None:
                self.transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                self.open_streams += 1
                limit = self.h2.local_settings.max_concurrent_streams
                if self.open_streams > limit:
                    self.server.violations.append(f"{self.open_streams} open streams > advertised {limit}")
                self.server.max_open = max(self.server.max_open, self.open_streams)
                self.pending[event.stream_id] = _Pending({k: v for k, v in event.headers})
            elif isinstance(event, h2.events.DataReceived):
                self.pending[event.stream_id].body.extend(event.data)
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                p = self.pending.pop(event.stream_id)
                rec = Received(self.number, event.stream_id, p.headers, bytes(p.body), self.peer_subject)
                task = asyncio.get_running_loop().create_task(self.answer(rec))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            elif isinstance(event, h2.events.StreamReset):
                self.pending.pop(event.stream_id, None)
                self.open_streams -= 1
        self.flush()

    async def answer(self, rec: Received) -> None:
        answer = self.server.check_auth(rec)
        if answer is None:
            out = self.server.handler(rec)
            answer = await out if inspect.isawaitable(out) else out
        self.server.received.append(rec)
        if answer.delay:
            await asyncio.sleep(answer.delay)
        if self.transport is None or self.transport.is_closing():
            return
        if not self.gate_open and answer.status == 200:
            # APNs raises the limit once a request with a valid token has been posted (§5, §7).
            self.gate_open = True
            self.h2.update_settings(
                {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.server.max_streams}
            )
        apns_id = rec.headers.get("apns-id") or "00000000-0000-4000-8000-000000000000"
        headers = [(":status", str(answer.status)), ("apns-id", apns_id)]
        if answer.unique_id:
            headers.append(("apns-unique-id", answer.unique_id))
        try:
            if answer.status == 200:
                self.h2.send_headers(rec.stream_id, headers, end_stream=True)
            else:
                body: dict[str, Any] = {"reason": answer.reason}
                if answer.timestamp is not None:
                    body["timestamp"] = answer.timestamp
                headers.append(("content-type", "application/json"))
                self.h2.send_headers(rec.stream_id, headers)
                self.h2.send_data(rec.stream_id, json.dumps(body).encode(), end_stream=True)
        except h2.exceptions.H2Error:
            return  # the client reset the stream meanwhile
        self.open_streams -= 1
        self.flush()

    def set_max_streams(self, n: int) -> None:
        self.h2.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: n})
        self.flush()

    def goaway(self, last_stream_id: int | None, reason: str | None, error_code: int) -> None:
        data = json.dumps({"reason": reason}).encode() if reason else None
        self.h2.close_connection(error_code=error_code, additional_data=data, last_stream_id=last_stream_id)
        self.flush()
        if self.transport is not None:
            self.transport.close()


class FakeAPNs:
    """``async with FakeAPNs(ca) as apns: apns.url`` -> ``https://127.0.0.1:PORT``."""

    def __init__(
        self,
        ca: trustme.CA,
        *,
        handler: Handler = _ok,
        max_streams: int = 1000,
        gate: bool = False,
        jwt_key: Any = None,
    ) -> None:
        self.ca = ca
        self.handler = handler
        self.max_streams = max_streams
        self.gate = gate
        self.jwt_key = jwt_key  # public key: verify ``authorization: bearer`` like APNs (§5)
        self.received: list[Received] = []
        self.connections: list[_ServerConnection] = []
        self.violations: list[str] = []
        self.max_open = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
        self.ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_OPTIONAL  # request, do not require: token clients have none (§1)
        ctx.set_alpn_protocols(["h2"])
        return ctx

    async def __aenter__(self) -> FakeAPNs:
        loop = asyncio.get_running_loop()
        counter = iter(range(1, 1_000_000))
        self._server = await loop.create_server(
            lambda: _ServerConnection(self, next(counter)), "127.0.0.1", 0, ssl=self.ssl_context()
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for conn in self.connections:
            if conn.transport is not None:
                conn.transport.close()
        await self._server.wait_closed()

    def check_auth(self, rec: Received) -> Answer | None:
        if self.jwt_key is None:
            return None
        auth = rec.headers.get("authorization", "")
        if not auth.startswith("bearer "):
            return Answer(403, "MissingProviderToken")
        try:
            jwt.decode(auth[7:], self.jwt_key, algorithms=["ES256"], options={"verify_iat": False})
        except jwt.PyJWTError:
            return Answer(403, "InvalidProviderToken")
        return None

    def set_max_streams(self, n: int) -> None:
        self.max_streams = n
        for conn in self.connections:
            conn.set_max_streams(n)

    def goaway(
        self, *, last_stream_id: int | None = None, reason: str | None = None, error_code: int = 0
    ) -> None:
        for conn in self.connections:
            conn.goaway(last_stream_id, reason, error_code)
