"""The standing abuse suite: hypothesis writes raw HTTP/2 frames and header lists at the provider API over TLS.

The simulator runs in its own process (``apns-sim serve``, :class:`SimProcess`) with a well-behaved provider
connected throughout (:class:`GoodClient`). Each example opens a TLS connection without credentials, writes
the connection preface and the generated frames (built by hand, so anything from a valid request to a
nonsense frame type), maybe reads a little, and hangs up. After each: the simulator process is alive and the
good client's push still gets 200 within a second. Once per test: the simulator's memory is back within 5 MB
of where it started (docs/limits.md §1).

Examples are derandomized and no database is kept, so CI sees the same frames every run; the budget is tens
of seconds in all. The single-stream inputs h2 used to answer with a connection error (docs/limits.md §1.5)
have their own regression tests in test_provider_api_abuse.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.provider_abuse_kit import (
    BUNDLE,
    PREFACE,
    GoodClient,
    SimProcess,
    raw_connection,
    read_frames,
    request_headers,
    settle_rss,
)

MB = 1024 * 1024
FUZZ = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@dataclass
class Arena:
    loop: asyncio.AbstractEventLoop
    sim: SimProcess
    good: GoodClient

    def run(self, coro: object) -> object:
        return self.loop.run_until_complete(coro)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arena]:
    """One simulator process and one good client for the whole module, on a loop of its own (hypothesis
    calls the examples synchronously)."""
    loop = asyncio.new_event_loop()
    sim = SimProcess(Path(tmp_path_factory.mktemp("fuzz")))
    loop.run_until_complete(sim.__aenter__())
    good = GoodClient(sim)
    loop.run_until_complete(good.__aenter__())
    try:
        yield Arena(loop, sim, good)
    finally:
        loop.run_until_complete(good.__aexit__(None, None, None))
        loop.run_until_complete(sim.__aexit__(None, None, None))
        loop.close()


# -- what hypothesis generates ------------------------------------------------------------------------------

STREAM_IDS = st.sampled_from([0, 1, 3, 5, 7, 2, 4, 101, 2**31 - 1])
HEADER_NAMES = st.one_of(
    st.sampled_from([b":method", b":path", b":scheme", b":authority", b":status", b":protocol", b"content-length",
                     b"authorization", b"apns-topic", b"apns-push-type", b"apns-id", b"apns-expiration",
                     b"apns-priority", b"apns-collapse-id", b"te", b"connection", b"Upper-Case", b"x-" * 40]),
    st.binary(min_size=0, max_size=20))
HEADER_VALUES = st.one_of(st.sampled_from([b"POST", b"GET", b"/3/device/zz", b"https", b"0", b"-1", b"5", b"x",
                                           b"bearer a.b.c", b"alert", b"voip", b"10", b""]),
                          st.binary(max_size=40), st.binary(min_size=100, max_size=9000))
HEADER_LISTS = st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=12)


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    """One frame, raw: any of the ten HTTP/2 types or an unknown one, any flags, a plausible or absurd body."""
    kind = draw(st.sampled_from([0x0, 0x1, 0x1, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0x9, 0xA, 0xFF]))
    flags = draw(st.sampled_from([0x0, 0x1, 0x4, 0x5, 0x8, 0x20, 0x24, 0x25, 0xFF]))
    sid = draw(STREAM_IDS)
    if kind == 0x1 and draw(st.booleans()):
        payload = hpack.Encoder().encode(draw(HEADER_LISTS) or request_headers())
    elif kind == 0x8:
        payload = draw(st.integers(0, 2**32 - 1)).to_bytes(4, "big")
    elif kind == 0x4:
        pairs = draw(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 2**32 - 1)), max_size=4))
        payload = b"".join(code.to_bytes(2, "big") + value.to_bytes(4, "big") for code, value in pairs)
    else:
        payload = draw(st.binary(max_size=64))
    length = len(payload) if draw(st.integers(0, 9)) else draw(st.integers(0, 2**24 - 1))  # sometimes a lie
    return length.to_bytes(3, "big") + bytes((kind, flags)) + sid.to_bytes(4, "big") + payload


async def _attack(arena: Arena, data: bytes, read: bool) -> None:
    sim = arena.sim
    reader, writer = await raw_connection(sim.host, sim.port, sim.context())
    try:
        writer.write(data)
        with contextlib.suppress(TimeoutError, ConnectionError, ssl.SSLError):
            await asyncio.wait_for(writer.drain(), 2)
        if read:
            await read_frames(reader, 0.15)
        else:
            await asyncio.sleep(0.05)
    finally:
        writer.transport.abort()


async def _still_serving(arena: Arena) -> None:
    status, seconds = await arena.good.push(timeout=5)
    assert status == 200 and seconds < 1.0, (status, seconds)


def _check(arena: Arena, data: bytes, read: bool) -> None:
    arena.run(_attack(arena, data, read))
    assert arena.sim.alive, "the simulator process died"
    arena.run(_still_serving(arena))


def _memory_returns(arena: Arena, start: int) -> None:
    after = arena.run(settle_rss(arena.sim, 3.0))
    assert isinstance(after, int) and after - start < 5 * MB, f"RSS {start / MB:.1f} -> {after / MB:.1f} MB"


def _start(arena: Arena) -> int:
    for _ in range(10):
        arena.run(_still_serving(arena))
    start = arena.run(settle_rss(arena.sim, 1.0))
    assert isinstance(start, int)
    return start


def test_fuzzed_frames(arena: Arena) -> None:
    """docs/limits.md §1: any sequence of frames without credentials leaves the simulator serving others."""
    start = _start(arena)

    @FUZZ
    @given(st.lists(frames(), min_size=1, max_size=12), st.booleans(), st.booleans())
    def example(sequence: list[bytes], with_settings: bool, read: bool) -> None:
        hello = bytes.fromhex("000000040000000000") if with_settings else b""
        _check(arena, PREFACE + hello + b"".join(sequence), read)

    example()
    _memory_returns(arena, start)


def test_fuzzed_header_lists(arena: Arena) -> None:
    """docs/limits.md §1, §1.5: requests whose header lists are anything at all (HPACK-encoded correctly), on
    up to five streams with and without bodies: each gets an answer or a reset, never a dead simulator."""
    start = _start(arena)

    @FUZZ
    @given(st.lists(st.tuples(HEADER_LISTS, st.booleans(), st.binary(max_size=300)), min_size=1, max_size=5),
           st.booleans())
    def example(requests: list[tuple[list[tuple[bytes, bytes]], bool, bytes]], read: bool) -> None:
        encoder = hpack.Encoder()
        out = bytearray(PREFACE + bytes.fromhex("000000040000000000"))
        for n, (extra, full, body) in enumerate(requests):
            sid = 2 * n + 1
            headers = (request_headers("/3/device/zz", [(b"apns-topic", BUNDLE.encode())]) if full else []) + extra
            block = encoder.encode(headers)
            out += len(block).to_bytes(3, "big") + bytes((0x1, 0x4 | (0 if body else 0x1))) + sid.to_bytes(4, "big")
            out += block
            if body:
                out += len(body).to_bytes(3, "big") + bytes((0x0, 0x1)) + sid.to_bytes(4, "big") + body
        _check(arena, bytes(out), read)

    example()
    _memory_returns(arena, start)
