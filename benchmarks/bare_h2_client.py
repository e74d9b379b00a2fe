"""The floor for an APNs client in Python: a bare asyncio + ``h2`` client that only sends.

Used by ``client_bench.py`` (``--clients bare``) as the yardstick: no request object, no validation, no
retries, no pool; one TLS connection (the same trust and credentials as the real clients: client
certificate, or one ES256 JWT made up front), a pre-encoded body, and per push only ``send_headers`` +
``send_data`` and a future resolved at the end of the response. What it costs is what Python and h2 cost.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import uuid
from typing import Any

import h2.config
import h2.connection
import h2.events


class BareH2(asyncio.Protocol):
    def __init__(self) -> None:
        # h2's own checks off (the headers are ours and known good), as a lean client would run it
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding=None, validate_outbound_headers=False,
            normalize_outbound_headers=False, validate_inbound_headers=False, normalize_inbound_headers=False))
        self.flush_scheduled = False
        self.transport: asyncio.Transport | None = None
        self.waiting: dict[int, asyncio.Future[int]] = {}
        self.status: dict[int, int] = {}
        self.ready = asyncio.get_running_loop().create_future()
        self.window = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.h2.initiate_connection()
        transport.write(self.h2.data_to_send())

    def data_received(self, data: bytes) -> None:
        for event in self.h2.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                self.status[event.stream_id] = int(event.headers[0][1])  # :status comes first (RFC 9113 §8.3)
            elif isinstance(event, h2.events.DataReceived):
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                future = self.waiting.pop(event.stream_id, None)
                if future is not None and not future.done():
                    future.set_result(self.status.pop(event.stream_id, 0))
            elif isinstance(event, h2.events.RemoteSettingsChanged) and not self.ready.done():
                self.ready.set_result(None)
            elif isinstance(event, h2.events.WindowUpdated):
                self.window.set()
        assert self.transport is not None
        self.transport.write(self.h2.data_to_send())

    def connection_lost(self, exc: Exception | None) -> None:
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("connection lost"))

    async def post(self, path: str, headers: list[tuple[str, str]], body: bytes) -> int:
        stream_id = self.h2.get_next_available_stream_id()
        self.h2.send_headers(stream_id, [(":method", "POST"), (":scheme", "https"), (":path", path),
                                         (":authority", "apns"), *headers])
        while self.h2.local_flow_control_window(stream_id) < len(body):
            self.window.clear()
            assert self.transport is not None
            self.transport.write(self.h2.data_to_send())
            await self.window.wait()
        self.h2.send_data(stream_id, body, end_stream=True)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self.waiting[stream_id] = future
        if not self.flush_scheduled:  # one write for every push started in this turn of the loop
            self.flush_scheduled = True
            loop.call_soon(self.flush)
        return await future

    def flush(self) -> None:
        self.flush_scheduled = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.h2.data_to_send())


async def open_bare(host: str, port: int, context: ssl.SSLContext) -> BareH2:
    _, protocol = await asyncio.get_running_loop().create_connection(BareH2, host, port, ssl=context)
    await protocol.ready
    return protocol


def token_header(p8: str, key_id: str, team_id: str) -> str:
    import jwt

    with open(p8, "rb") as fh:
        key = fh.read()
    return "bearer " + jwt.encode({"iss": team_id, "iat": int(time.time())}, key, algorithm="ES256",
                                  headers={"kid": key_id})


def headers(topic: str, authorization: str | None) -> list[tuple[str, str]]:
    base = [("apns-topic", topic), ("apns-push-type", "alert")]
    return base + ([("authorization", authorization)] if authorization else [])


def new_apns_id() -> str:
    return str(uuid.uuid4())


__all__: list[Any] = ["BareH2", "headers", "new_apns_id", "open_bare", "token_header"]
