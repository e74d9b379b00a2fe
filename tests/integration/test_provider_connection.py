"""The provider's HTTP/2 connection against servers that misbehave on purpose (real TLS, real sockets).

``provider.apns.connection`` turns off h2's inbound header validation for speed; these tests pin what that
must not cost: a response the server got wrong gives the waiting request a clean ``TransportError`` at
once (never a hang until the timeout, never a dead reader task), and the connection's bookkeeping stays
right in the corners that once broke it: WINDOW_UPDATE arriving for a request whose body was already all
sent, and an answer that arrives before the body was all sent (docs/apns-protocol.md §7; RFC 9113
§5.1, §6.9, §8.1).

The server here is scripted per test (``on_event`` sees every h2 event and may write anything, well-formed
or not); the friendlier ``h2_fake_apns.FakeAPNs`` is for tests of APNs behaviour.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import hyperframe.frame
import pytest
import trustme

from provider.apns import (
    APNsClient,
    ConnectFailed,
    ConnectionLost,
    Notification,
    TransportError,
    alert,
    client_ssl_context,
    load_pem,
)
from provider.apns.connection import Connection
from provider.apns.protocol import parse_response, request_headers

TOKEN = "ab" * 32
AUTHORITY = "127.0.0.1"


class Peer:
    """One server-side connection: the h2 state, the socket, and what the client did."""

    def __init__(self, transport: asyncio.Transport, settings: dict[int, int]) -> None:
        self.transport = transport
        # Outbound validation off: these servers must be able to send what a broken server sends.
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=False, header_encoding=None, validate_outbound_headers=False,
            normalize_outbound_headers=False))
        self.h2.local_settings = h2.settings.Settings(client=False, initial_values=settings)
        self.h2.initiate_connection()
        self.events: list[h2.events.Event] = []
        self.flush()

    def flush(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(self.h2.data_to_send())

    def answer(self, stream_id: int, status: int = 200, reason: str | None = None) -> None:
        headers = [(b":status", str(status).encode()), (b"apns-id", b"11111111-2222-4333-8444-555555555555")]
        if reason is None:
            self.h2.send_headers(stream_id, headers, end_stream=True)
        else:
            self.h2.send_headers(stream_id, headers)
            self.h2.send_data(stream_id, json.dumps({"reason": reason}).encode(), end_stream=True)
        self.flush()

    def resets(self) -> list[tuple[int, int]]:
        return [(e.stream_id, e.error_code) for e in self.events if isinstance(e, h2.events.StreamReset)]


OnEvent = Callable[[Peer, h2.events.Event], None]


class _Protocol(asyncio.Protocol):
    def __init__(self, peers: list[Peer], on_event: OnEvent, settings: dict[int, int]) -> None:
        self.peers, self.on_event, self.settings = peers, on_event, settings
        self.peer: Peer | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.peer = Peer(transport, self.settings)
        self.peers.append(self.peer)

    def data_received(self, data: bytes) -> None:
        assert self.peer is not None
        try:
            events = self.peer.h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.peer.transport.close()
            return
        for event in events:
            self.peer.events.append(event)
            self.on_event(self.peer, event)
        self.peer.flush()


@asynccontextmanager
async def scripted_server(
    tmp_path: Path, on_event: OnEvent, alpn: str = "h2", **settings: int
) -> AsyncIterator[tuple[int, ssl.SSLContext, list[Peer]]]:
    """A TLS (ALPN h2) listener on 127.0.0.1:0; yields its port, a client context trusting it, its peers."""
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(AUTHORITY).configure_cert(server_ctx)
    server_ctx.set_alpn_protocols([alpn])
    peers: list[Peer] = []
    values = {getattr(h2.settings.SettingCodes, k.upper()): v for k, v in settings.items()}
    server = await asyncio.get_running_loop().create_server(
        lambda: _Protocol(peers, on_event, values), AUTHORITY, 0, ssl=server_ctx)
    try:
        yield server.sockets[0].getsockname()[1], client_ssl_context(ca_file), peers
    finally:
        for peer in peers:
            peer.transport.close()
        server.close()
        await server.wait_closed()


def headers_for(note: Notification) -> list[tuple[str, str]]:
    return request_headers(note.with_apns_id(), authority=AUTHORITY)


def note(size: int = 0) -> Notification:
    return Notification(token=TOKEN, topic="com.example.app",
                        payload=alert("hi", custom={"pad": "x" * size} if size else None))


def on_stream_ended(answer: Callable[[Peer, int], None]) -> OnEvent:
    def on_event(peer: Peer, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.StreamEnded) and event.stream_id:
            answer(peer, event.stream_id)
    return on_event


async def test_a_server_that_does_not_choose_h2_by_alpn_is_refused(tmp_path: Path) -> None:
    """docs/apns-protocol.md §1: APNs is HTTP/2 over TLS with ALPN ``h2``; anything else is not APNs. The failure is
    final (``retryable`` false): reconnecting would meet the same server."""
    async with scripted_server(tmp_path, lambda peer, event: None, alpn="http/1.1") as (port, ctx, _):
        with pytest.raises(ConnectFailed, match="did not agree to HTTP/2") as caught:
            await Connection.open(AUTHORITY, port, ctx)
    assert not caught.value.retryable


# -- flow control ----------------------------------------------------------------------------------------


async def test_window_update_after_the_body_was_sent_does_not_end_the_stream_twice(tmp_path: Path) -> None:
    """RFC 9113 §6.9: WINDOW_UPDATE may arrive for a stream whose request is complete (half-closed local).

    The connection resumes bodies on WindowUpdated; it once called ``end_stream`` again for such a stream,
    which h2 refuses, and the error killed the connection. Here the server grants credit (connection and
    stream) after it has the whole request, then answers.
    """
    def answer(peer: Peer, stream_id: int) -> None:
        peer.h2.increment_flow_control_window(10_000)  # connection-level: every open stream is visited
        peer.h2.increment_flow_control_window(10_000, stream_id=stream_id)
        peer.flush()
        asyncio.get_running_loop().call_later(0.05, peer.answer, stream_id)

    async with scripted_server(tmp_path, on_stream_ended(answer)) as (port, ctx, peers):
        conn = await Connection.open(AUTHORITY, port, ctx)
        try:
            for size in (0, 3000):
                responses = await asyncio.gather(
                    *(conn.request(headers_for(note(size)), note(size).body, timeout=5) for _ in range(8)))
                assert [r.status for r in responses] == [200] * 8
            assert not conn.is_closed and conn.in_flight == 0
        finally:
            await conn.close()
    assert len(peers) == 1 and peers[0].resets() == []


async def test_an_answer_before_the_body_is_sent_cancels_the_rest_and_frees_the_slot(tmp_path: Path) -> None:
    """RFC 9113 §8.1: a server may answer before the request is complete; the client then stops sending.

    The server advertises a 100-byte stream window and one stream, and answers 413 as soon as it sees the
    HEADERS. The client must reset the stream (CANCEL), so h2 counts it closed and the next request can open
    a stream on the same connection: without the reset, h2 refuses it locally (TooManyStreamsError).
    """
    def on_event(peer: Peer, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived) and event.stream_id:
            peer.answer(event.stream_id, 413, "PayloadTooLarge")

    async with scripted_server(tmp_path, on_event, initial_window_size=100, max_concurrent_streams=1) as (
            port, ctx, peers):
        conn = await Connection.open(AUTHORITY, port, ctx)
        try:
            big = note(2000)
            for _ in range(3):
                response = await conn.request(headers_for(big), big.body, timeout=5)
                result = parse_response(response.status, response.headers, response.body)
                assert (result.status, result.reason) == (413, "PayloadTooLarge")
            assert not conn.is_closed and conn.in_flight == 0
        finally:
            await conn.close()
    await asyncio.sleep(0)
    (peer,) = peers
    assert peer.resets() == [(1, h2.errors.ErrorCodes.CANCEL), (3, h2.errors.ErrorCodes.CANCEL),
                             (5, h2.errors.ErrorCodes.CANCEL)]


# -- malformed responses (h2's inbound header validation is off) ---------------------------------------------


def _send_raw_headers(headers: list[tuple[bytes, bytes]]) -> Callable[[Peer, int], None]:
    def answer(peer: Peer, stream_id: int) -> None:
        peer.h2.send_headers(stream_id, headers, end_stream=True)
        peer.flush()
    return answer


@pytest.mark.parametrize(("headers", "message"), [
    ([(b"apns-id", b"11111111-2222-4333-8444-555555555555")], ":status"),  # no :status at all
    ([(b":status", b"abc")], ":status"),
    ([(b":status", "²".encode())], ":status"),  # str.isdigit() says yes, int() says no
    ([(b":status", b"20")], ":status"),
])
async def test_a_response_without_a_valid_status_is_a_clean_error(
        tmp_path: Path, headers: list[tuple[bytes, bytes]], message: str) -> None:
    """RFC 9113 §8.3.2: a response must carry ``:status``; without one there is no answer to report.

    The request fails at once with a non-retryable ``TransportError`` (no hang until the timeout, no
    ``Result`` with a made-up status), and the connection stays usable for the next request.
    """
    answers = iter([_send_raw_headers(headers), lambda peer, sid: peer.answer(sid)])
    async with scripted_server(tmp_path, on_stream_ended(lambda p, s: next(answers)(p, s))) as (port, ctx, _):
        conn = await Connection.open(AUTHORITY, port, ctx)
        try:
            async with asyncio.timeout(5):
                with pytest.raises(TransportError, match=message) as caught:
                    await conn.request(headers_for(note()), note().body, timeout=30)
                assert not caught.value.retryable
                assert (await conn.request(headers_for(note()), note().body, timeout=30)).status == 200
        finally:
            await conn.close()


async def test_odd_but_decodable_headers_are_read_leniently(tmp_path: Path) -> None:
    """What the client does not need to judge it does not judge: upper-case names, bytes that are not UTF-8,
    a connection-specific header. The status and reason still come through (§4.1)."""
    def answer(peer: Peer, stream_id: int) -> None:
        peer.h2.send_headers(stream_id, [(b":status", b"400"), (b"APNS-ID", b"\xff\xfe"),
                                         (b"connection", b"close"), (b"x-odd", b"a\x00b")])
        peer.h2.send_data(stream_id, b'{"reason":"BadDeviceToken"}', end_stream=True)
        peer.flush()

    async with scripted_server(tmp_path, on_stream_ended(answer)) as (port, ctx, _):
        conn = await Connection.open(AUTHORITY, port, ctx)
        try:
            async with asyncio.timeout(5):
                response = await conn.request(headers_for(note()), note().body, timeout=30)
        finally:
            await conn.close()
    result = parse_response(response.status, response.headers, response.body)
    assert (result.status, result.reason) == (400, "BadDeviceToken")


@pytest.mark.parametrize("frame", ["bad_hpack", "data_before_headers", "headers_on_idle_stream"])
async def test_protocol_violations_fail_the_connection_cleanly(tmp_path: Path, frame: str) -> None:
    """RFC 9113 §5.4.1: a connection error ends the connection; every waiting request gets ``ConnectionLost``
    at once, and later requests are refused at once instead of waiting on a dead connection."""
    def answer(peer: Peer, stream_id: int) -> None:
        if frame == "bad_hpack":
            raw = hyperframe.frame.HeadersFrame(stream_id, data=b"\xff\xff\xff\xff\x0f",
                                                flags=["END_HEADERS", "END_STREAM"])
        elif frame == "data_before_headers":
            raw = hyperframe.frame.DataFrame(stream_id, data=b"{}", flags=["END_STREAM"])
        else:
            raw = hyperframe.frame.HeadersFrame(stream_id + 100, data=b"\x88", flags=["END_HEADERS"])
        peer.transport.write(raw.serialize())

    async with scripted_server(tmp_path, on_stream_ended(answer)) as (port, ctx, _):
        conn = await Connection.open(AUTHORITY, port, ctx)
        try:
            async with asyncio.timeout(5):
                with pytest.raises(ConnectionLost):
                    await conn.request(headers_for(note()), note().body, timeout=30)
                assert conn.is_closed
                with pytest.raises(ConnectionLost):
                    await conn.request(headers_for(note()), note().body, timeout=30)
        finally:
            await conn.close()


# -- health ---------------------------------------------------------------------------------------------------


async def test_a_connection_that_stops_answering_pings_is_replaced(tmp_path: Path) -> None:
    """docs/apns-protocol.md §7: PING checks an idle connection before reuse; one that does not answer (a NAT that
    dropped it silently, here a server that stopped reading) is closed and a new connection carries the push."""
    def on_event(peer: Peer, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.StreamEnded) and event.stream_id:
            peer.answer(event.stream_id)
            if peer is peers[0]:
                peer.transport.pause_reading()  # from now on this connection hears nothing

    key_file = tmp_path / "client.pem"
    async with scripted_server(tmp_path, on_event) as (port, _, peers):
        trustme.CA().issue_cert("client.example").private_key_and_cert_chain_pem.write_to_path(str(key_file))
        async with APNsClient(load_pem(key_file), endpoint=f"https://{AUTHORITY}:{port}",
                              ca_file=tmp_path / "ca.pem", ping_after=0) as client:
            client.pool.ping_timeout = 0.3
            assert (await client.send(note())).accepted
            (first,) = client.pool.connections
            async with asyncio.timeout(5):
                assert (await client.send(note())).accepted
            (second,) = client.pool.connections
    assert first is not second and first.is_closed and len(peers) == 2
