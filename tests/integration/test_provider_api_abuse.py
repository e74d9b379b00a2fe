"""Hostile clients against the provider API, reproduced over real TLS sockets (issue 14; docs/limits.md §1).

The flood tests run ``apns-sim serve`` in its own process (:class:`SimProcess`) so that its memory can be read
and a stall shows up as the latency of a well-behaved client on another connection; the others run the listener
in this process, where a knob can be lowered. Each test failed before its fix.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import h2.config
import h2.connection
import h2.errors
import h2.events
import hpack
import pytest
from cryptography import x509
from hyperframe.frame import (
    DataFrame,
    GoAwayFrame,
    HeadersFrame,
    PriorityFrame,
    RstStreamFrame,
)

from tests.integration import test_provider_api
from tests.integration.provider_abuse_kit import (
    PAYLOAD,
    PREFACE,
    GoodClient,
    SimProcess,
    Watch,
    body,
    describe,
    error_requests,
    frame,
    pings,
    raw_connection,
    read_frames,
    request_headers,
    settings,
    settle_rss,
    write_all,
)
from tests.integration.test_provider_api import BUNDLE, Setup

setup = test_provider_api.setup  # the fixture: a listener per environment in this process, credentials made

MB = 1024 * 1024
Codes = h2.errors.ErrorCodes


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[SimProcess]:
    async with SimProcess(tmp_path) as running:
        yield running


async def _warm(sim: SimProcess, good: GoodClient) -> int:
    for _ in range(20):
        status, _ = await good.push()
        assert status == 200
    return await settle_rss(sim, 1.0)


@pytest.mark.parametrize("window", [0, None], ids=["initial-window-0", "never-window-update"])
async def test_zero_window_flood_leaves_other_clients_alone(sim: SimProcess, window: int | None) -> None:
    """docs/limits.md §1.1: 5,000 error requests on a connection that grants no window, without credentials.

    Before: every blocked answer stopped counting against MAX_CONCURRENT_STREAMS (1 advertised, thousands held)
    and h2 rescanned them all per new stream, so other clients stalled for seconds and memory stayed. Now the
    attacker's streams are refused, then the connection gets GOAWAY ENHANCE_YOUR_CALM.
    """
    async with GoodClient(sim) as good:
        start = await _warm(sim, good)
        watch = Watch(sim, good)
        async with watch.running():
            reader, writer = await raw_connection(sim.host, sim.port, sim.context())
            hello = settings(initial_window_size=window) if window is not None else settings()
            await write_all(writer, PREFACE + hello + error_requests(hpack.Encoder(), 1, 5000))
            got = await read_frames(reader, 2.0)
            writer.transport.abort()
        after = await settle_rss(sim, 2.0)
    goaways = [f for f in got if isinstance(f, GoAwayFrame)]
    assert [g.error_code for g in goaways] == [Codes.ENHANCE_YOUR_CALM], describe(got)[-5:]
    assert any(isinstance(f, RstStreamFrame) and f.error_code == Codes.REFUSED_STREAM for f in got)
    assert sim.alive and set(watch.statuses) == {200}
    assert watch.worst < 0.5, f"a well-behaved client waited {watch.worst * 1000:.0f} ms"
    assert after - start < 5 * MB, f"RSS {start / MB:.1f} MB before, {after / MB:.1f} MB after"


async def test_ping_flood_is_not_buffered(sim: SimProcess) -> None:
    """docs/limits.md §1.3: 30 MB of PINGs from a client that never reads its ACKs.

    Before: the server queued every ACK (memory grew byte for byte). Now it stops reading such a peer.
    """
    async with GoodClient(sim) as good:
        start = await _warm(sim, good)
        watch = Watch(sim, good)
        async with watch.running():
            _reader, writer = await raw_connection(sim.host, sim.port, sim.context())
            await write_all(writer, PREFACE + settings() + pings(30 * MB // 17), stall=5.0)
            peak = max(watch.peak_rss, sim.rss())
            writer.transport.abort()
        after = await settle_rss(sim, 2.0)
    assert sim.alive and set(watch.statuses) == {200}
    assert peak - start < 10 * MB, f"RSS grew {(peak - start) / MB:.1f} MB under the flood"
    assert after - start < 5 * MB
    assert watch.worst < 0.5


async def test_parked_request_bodies_are_bounded(sim: SimProcess) -> None:
    """docs/limits.md §1.2: an authenticated connection opens 1000 streams with 8 KB bodies it never ends.

    Before: each stream kept up to 64 KiB (about 73 MB per connection). Now at most 8 KiB per stream and
    2 MiB per connection are kept; the streams over it are refused.
    """
    async with GoodClient(sim) as good:
        start = await _warm(sim, good)
        reader, writer = await raw_connection(sim.host, sim.port, sim.context())
        encoder = hpack.Encoder()
        auth = [(b"authorization", sim.bearer().encode()), (b"apns-topic", BUNDLE.encode())]
        out = bytearray(PREFACE + settings())
        for sid in range(1, 2001, 2):
            out += frame(HeadersFrame(sid, data=encoder.encode(request_headers(f"/3/device/{sim.token}", auth))),
                         "END_HEADERS")
            out += body(sid, b"x" * 2000) * 4
        await write_all(writer, bytes(out))
        got = await read_frames(reader, 2.0)
        peak = sim.rss()
        status, _ = await good.push()
        writer.transport.abort()
    refused = [f for f in got if isinstance(f, RstStreamFrame) and f.error_code == Codes.REFUSED_STREAM]
    assert len(refused) > 500, describe(got)[:5]
    assert status == 200 and sim.alive
    assert peak - start < 15 * MB, f"RSS grew {(peak - start) / MB:.1f} MB"


async def _h2_open(port: int, ctx: ssl.SSLContext) -> tuple[asyncio.StreamReader, asyncio.StreamWriter,
                                                            h2.connection.H2Connection]:
    ctx.set_alpn_protocols(["h2"])
    reader, writer = await raw_connection("127.0.0.1", port, ctx)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    conn.initiate_connection()
    writer.write(conn.data_to_send())
    return reader, writer, conn


async def _until(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: h2.connection.H2Connection,
                 seconds: float, stop: type) -> list[h2.events.Event]:
    """h2 events until one of type ``stop`` arrives, the server closes, or ``seconds`` pass."""
    got: list[h2.events.Event] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not any(isinstance(e, stop) for e in got) and (left := end - loop.time()) > 0:
        try:
            data = await asyncio.wait_for(reader.read(65536), left)
        except TimeoutError:
            break
        if not data:
            got.append(h2.events.ConnectionTerminated())  # EOF: recorded as a close without GOAWAY
            break
        got += conn.receive_data(data)
        writer.write(conn.data_to_send())
    return got


def _push(conn: h2.connection.H2Connection, token: str, bearer: str | None = None) -> int:
    sid = conn.get_next_available_stream_id()
    extra = [(b"apns-topic", BUNDLE.encode())] + ([(b"authorization", f"bearer {bearer}".encode())] if bearer else [])
    conn.send_headers(sid, request_headers(f"/3/device/{token}", extra))
    conn.send_data(sid, PAYLOAD, end_stream=True)
    return sid


def _status(events: list[h2.events.Event], sid: int) -> int | None:
    for e in events:
        if isinstance(e, h2.events.ResponseReceived) and e.stream_id == sid:
            return int(dict(e.headers)[b":status"])
    return None


async def test_connection_without_credentials_is_closed_after_seconds(setup: Setup) -> None:
    """docs/limits.md §1.4: no certificate and no valid token within the deadline: GOAWAY IdleTimeout."""
    setup.sandbox.unauthenticated_idle = 0.5
    reader, writer, conn = await _h2_open(setup.sandbox.port, setup.client_context())
    got = await _until(reader, writer, conn, 5.0, h2.events.ConnectionTerminated)
    (goaway,) = [e for e in got if isinstance(e, h2.events.ConnectionTerminated)]
    assert goaway.additional_data is not None and json.loads(goaway.additional_data) == {"reason": "IdleTimeout"}
    writer.close()


@pytest.mark.parametrize("credentials", ["certificate", "token"])
async def test_connection_with_credentials_outlives_that_deadline(setup: Setup, credentials: str) -> None:
    """docs/limits.md §1.4: a certificate, or one push with a valid token, lifts the deadline."""
    setup.sandbox.unauthenticated_idle = 0.5
    cert = setup.both_pem if credentials == "certificate" else None
    reader, writer, conn = await _h2_open(setup.sandbox.port, setup.client_context(cert))
    sid = _push(conn, setup.token, None if cert else setup.bearer())
    writer.write(conn.data_to_send())
    got = await _until(reader, writer, conn, 1.5, h2.events.ConnectionTerminated)
    assert _status(got, sid) == 200
    assert not [e for e in got if isinstance(e, h2.events.ConnectionTerminated)]
    writer.close()


async def _portal(setup: Setup, *args: str) -> None:
    """The portal CLI in its own process, as a developer revokes (another SQLite connection)."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "apns_sim.cli", "portal", *args,
                                                "--data-dir", str(setup.state.data_dir),
                                                stdout=asyncio.subprocess.DEVNULL)
    assert await asyncio.wait_for(proc.wait(), 30) == 0


@pytest.mark.parametrize("credentials", ["certificate", "key"])
async def test_revocation_closes_open_connections(setup: Setup, credentials: str) -> None:
    """docs/limits.md §1.6, docs/apns-protocol.md §7 "Revocation": GOAWAY with the reason a new connection gets."""
    cert = setup.both_pem if credentials == "certificate" else None
    reader, writer, conn = await _h2_open(setup.sandbox.port, setup.client_context(cert))
    sid = _push(conn, setup.token, None if cert else setup.bearer())
    writer.write(conn.data_to_send())
    assert _status(await _until(reader, writer, conn, 5.0, h2.events.StreamEnded), sid) == 200
    if cert:
        serial = x509.load_pem_x509_certificate(setup.cert_pem.read_bytes()).serial_number
        await _portal(setup, "cert", "revoke", str(serial))
    else:
        await _portal(setup, "key", "revoke", setup.key_id)
    got = await _until(reader, writer, conn, 5.0, h2.events.ConnectionTerminated)
    (goaway,) = [e for e in got if isinstance(e, h2.events.ConnectionTerminated)]
    reason = "BadCertificate" if cert else "InvalidProviderToken"
    assert goaway.error_code == 0 and goaway.additional_data is not None
    assert json.loads(goaway.additional_data) == {"reason": reason}
    writer.close()


def _head(encoder: hpack.Encoder, *extra: tuple[bytes, bytes]) -> bytes:
    return frame(HeadersFrame(1, data=encoder.encode(request_headers("/3/device/zz", extra))), "END_HEADERS")


def _head_on_itself(encoder: hpack.Encoder) -> bytes:
    f = HeadersFrame(1, data=encoder.encode(request_headers("/3/device/zz")), depends_on=1, stream_weight=15)
    return frame(f, "END_HEADERS", "PRIORITY")


# Single-stream malformed inputs h2 alone answered with a connection GOAWAY, each on stream 1: the bytes (made
# with the connection's one HPACK encoder, so only the case sent touches its table) and the RST_STREAM code.
MALFORMED: dict[str, tuple[Callable[[hpack.Encoder], bytes], int]] = {
    "content-length-mismatch": (lambda e: _head(e, (b"content-length", b"5")) + body(1, b"{}", "END_STREAM"),
                                Codes.PROTOCOL_ERROR),
    "content-length-not-a-number": (lambda e: _head(e, (b"content-length", b"x")), Codes.PROTOCOL_ERROR),
    "trailers-without-end-stream": (lambda e: _head(e) + body(1, b"{}") + frame(
        HeadersFrame(1, data=e.encode([(b"x-trailer", b"1")])), "END_HEADERS"), Codes.PROTOCOL_ERROR),
    "priority-on-itself": (lambda e: _head(e) + PriorityFrame(1, depends_on=1, stream_weight=1).serialize(),
                           Codes.PROTOCOL_ERROR),
    "headers-priority-on-itself": (_head_on_itself, Codes.PROTOCOL_ERROR),
    # WINDOW_UPDATE with increment 0 on stream 1; a PRIORITY frame of 4 bytes (hyperframe cannot build either)
    "window-update-0": (lambda e: _head(e) + bytes.fromhex("000004080000000001" "00000000"), Codes.PROTOCOL_ERROR),
    "priority-wrong-length": (lambda e: _head(e) + bytes.fromhex("000004020000000001" "00000003"),
                              Codes.FRAME_SIZE_ERROR),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_input_resets_only_its_stream(setup: Setup, case: str) -> None:
    """docs/limits.md §1.5 (RFC 9113 §5.4.2): RST_STREAM on the bad stream; a push after it still gets 200."""
    ctx = setup.client_context(setup.both_pem)
    ctx.set_alpn_protocols(["h2"])
    reader, writer = await raw_connection("127.0.0.1", setup.sandbox.port, ctx)
    encoder = hpack.Encoder()
    make, code = MALFORMED[case]
    bad = make(encoder)
    good = frame(HeadersFrame(3, data=encoder.encode(request_headers(
        f"/3/device/{setup.token}", [(b"apns-topic", BUNDLE.encode())]))), "END_HEADERS")
    writer.write(PREFACE + settings() + bad + good + frame(DataFrame(3, data=PAYLOAD), "END_STREAM"))
    got = await read_frames(reader, 1.5)
    writer.close()
    assert not [f for f in got if isinstance(f, GoAwayFrame)], describe(got)
    assert [f.error_code for f in got if isinstance(f, RstStreamFrame) and f.stream_id == 1][:1] == [code]
    decoder = hpack.Decoder()
    answers = [dict(decoder.decode(f.data)) for f in got if isinstance(f, HeadersFrame)]
    assert answers and answers[-1][":status"] == "200", describe(got)
