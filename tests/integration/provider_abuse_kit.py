"""Tools for attacking the provider API over real sockets: the abuse tests and benchmarks/abuse_bench.py share them.

- :class:`SimProcess` runs ``apns-sim serve`` in its own process (from any source tree, so the benchmark can
  run the code of an older git ref), with an App ID, a .p8 key and an activated device token made beforehand by
  that same tree's code; it reads the process's RSS from /proc.
- :class:`GoodClient` is a well-behaved provider on its own TLS connection (JWT auth, one push at a time) that
  measures how long each push takes while an attacker is busy.
- :func:`raw_connection` opens a TLS connection (ALPN h2, certificate verified against the simulator's CA)
  for writing raw frames built with hyperframe and hpack: the attacks below and the fuzzing suite.

Everything listens on 127.0.0.1; verification is never turned off.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import ssl
import sys
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import hpack
import jwt
from hyperframe.frame import DataFrame, Frame, HeadersFrame, PingFrame, SettingsFrame

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = "com.example.abuse"
TEAM = "ABUSETEAM1"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
PAYLOAD = b'{"aps":{"alert":"hi"}}'

# Run with the server's own source tree on sys.path: the App ID, the key and a device token, made the way the
# simulator's tests make them (the portal and the registry), printed as one JSON line.
_PREPARE = """
import json, sys
from pathlib import Path
from apns_sim.portal.service import Portal
from apns_sim.state import SimState
state = SimState(Path(sys.argv[1]))
portal = Portal(state.registry, state.authority, state.clock.now)
portal.create_app_id(sys.argv[2], sys.argv[3])
key = portal.create_auth_key(sys.argv[3])
now = state.clock.now()
state.registry.activate_device("abuse-phone", "iPhone", now)
token = state.registry.app_token("abuse-phone", sys.argv[2], "sandbox", now).token
print(json.dumps({"key_id": key.key_id, "p8": key.p8.decode(), "token": token}))
state.close()
"""


class SimProcess:
    """``apns-sim serve`` from ``root`` in a subprocess, on a fresh data dir under ``work``."""

    def __init__(self, work: Path, root: Path = ROOT) -> None:
        self.work, self.root = work, root
        self.data = work / "sim"
        self.proc: asyncio.subprocess.Process | None = None
        self.host, self.port = "127.0.0.1", 0
        self.key_id = self.p8 = self.token = ""

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(self.root)}

    async def __aenter__(self) -> SimProcess:
        self.work.mkdir(parents=True, exist_ok=True)
        prep = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _PREPARE, str(self.data), BUNDLE, TEAM, cwd=self.root, env=self.env,
            stdout=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(prep.communicate(), 60)
        made = json.loads(out.decode().splitlines()[-1])
        self.key_id, self.p8, self.token = made["key_id"], made["p8"], made["token"]
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "apns_sim.cli", "serve", "--data-dir", str(self.data), cwd=self.root,
            env=self.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True)
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        url = json.loads(line)["sandbox"]
        self.port = int(url.rsplit(":", 1)[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def rss(self) -> int:
        """The server's resident set size in bytes (/proc/PID/status VmRSS)."""
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.data / "ca.pem"))
        ctx.set_alpn_protocols(["h2"])
        return ctx

    def bearer(self) -> str:
        return "bearer " + jwt.encode({"iss": TEAM, "iat": int(time.time())}, self.p8, algorithm="ES256",
                                      headers={"kid": self.key_id})


async def raw_connection(host: str, port: int, context: ssl.SSLContext,
                         ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context, server_hostname=host,
                                                          limit=2**20), 10)


def request_headers(path: str = "/3/device/zz", extra: Iterable[tuple[bytes, bytes]] = ()) -> list[tuple[bytes, bytes]]:
    return [(b":method", b"POST"), (b":scheme", b"https"), (b":path", path.encode()),
            (b":authority", b"api.sandbox.push.apple.com"), *extra]


def frame(f: Frame, *flags: str) -> bytes:
    f.flags = set(flags)  # type: ignore[assignment]
    return f.serialize()


def settings(**values: int) -> bytes:
    codes = {"initial_window_size": SettingsFrame.INITIAL_WINDOW_SIZE,
             "max_concurrent_streams": SettingsFrame.MAX_CONCURRENT_STREAMS}
    return SettingsFrame(0, settings={codes[k]: v for k, v in values.items()}).serialize()


def error_requests(encoder: hpack.Encoder, first_sid: int, count: int) -> bytes:
    """``count`` bodiless POSTs to a bad path (each answered 400/404 with a JSON body: needs window)."""
    block = encoder.encode(request_headers())
    out = bytearray()
    for sid in range(first_sid, first_sid + 2 * count, 2):
        f = HeadersFrame(sid, data=block)
        out += frame(f, "END_HEADERS", "END_STREAM")
    return bytes(out)


def pings(count: int) -> bytes:
    one = PingFrame(0, opaque_data=b"abusive!").serialize()
    return one * count


class GoodClient:
    """A provider that honours HTTP/2: one TLS connection, JWT auth, pushes one at a time and times them."""

    def __init__(self, sim: SimProcess) -> None:
        self.sim = sim
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._waiting: dict[int, asyncio.Future[int]] = {}
        self._status: dict[int, int] = {}
        self.bearer = sim.bearer()

    async def __aenter__(self) -> GoodClient:
        reader, self._writer = await raw_connection(self.sim.host, self.sim.port, self.sim.context())
        self.conn.initiate_connection()
        self._writer.write(self.conn.data_to_send())
        self._task = asyncio.get_running_loop().create_task(self._read(reader))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while data := await reader.read(65536):
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    self._status[event.stream_id] = int(dict(event.headers)[b":status"])
                if isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                    future = self._waiting.pop(event.stream_id, None)
                    if future is not None and not future.done():
                        future.set_result(self._status.pop(event.stream_id, 0))
                if isinstance(event, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            assert self._writer is not None
            self._writer.write(self.conn.data_to_send())
        for future in self._waiting.values():
            future.set_exception(ConnectionError("the simulator closed the good client's connection"))

    async def push(self, timeout: float = 30.0) -> tuple[int, float]:
        """One push to the prepared token: (status, seconds)."""
        assert self._writer is not None
        sid = self.conn.get_next_available_stream_id()
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting[sid] = future
        start = time.perf_counter()
        self.conn.send_headers(sid, request_headers(f"/3/device/{self.sim.token}", [
            (b"authorization", self.bearer.encode()), (b"apns-topic", BUNDLE.encode()),
            (b"apns-push-type", b"alert")]))
        self.conn.send_data(sid, PAYLOAD, end_stream=True)
        self._writer.write(self.conn.data_to_send())
        status = await asyncio.wait_for(future, timeout)
        return status, time.perf_counter() - start


class Watch:
    """While an attack runs: the good client pushes every ``every`` seconds and the server's RSS is sampled.

    On leaving, a push still in flight is waited for (up to ``patience`` seconds): a stalled server shows up as
    that push's latency, not as a push that was never counted.
    """

    def __init__(self, sim: SimProcess, good: GoodClient, every: float = 0.02, patience: float = 90.0) -> None:
        self.sim, self.good, self.every, self.patience = sim, good, every, patience
        self.latencies: list[float] = []
        self.statuses: list[int] = []
        self.peak_rss = 0
        self._stop = False

    @property
    def worst(self) -> float:
        return max(self.latencies, default=0.0)

    async def _push(self) -> None:
        while not self._stop:
            status, seconds = await self.good.push(timeout=self.patience)
            self.statuses.append(status)
            self.latencies.append(seconds)
            await asyncio.sleep(self.every)

    async def _sample(self) -> None:
        while True:
            self.peak_rss = max(self.peak_rss, self.sim.rss())
            await asyncio.sleep(0.05)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Watch]:
        loop = asyncio.get_running_loop()
        pusher, sampler = loop.create_task(self._push()), loop.create_task(self._sample())
        try:
            yield self
            await asyncio.sleep(0.3)  # a few more pushes after the attacker's last byte
            self._stop = True
            await asyncio.wait_for(pusher, self.patience + 5)
        finally:
            for task in (pusher, sampler):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def write_all(writer: asyncio.StreamWriter, data: bytes, *, chunk: int = 65536, stall: float = 2.0) -> int:
    """Write ``data`` in chunks until done, the server stops reading for ``stall`` seconds, or it hangs up.

    Returns the bytes the server's socket took.
    """
    sent = 0
    for start in range(0, len(data), chunk):
        piece = data[start:start + chunk]
        try:
            writer.write(piece)
            await asyncio.wait_for(writer.drain(), stall)
        except (TimeoutError, ConnectionError, ssl.SSLError):
            return sent
        sent += len(piece)
    return sent


async def settle_rss(sim: SimProcess, seconds: float = 3.0) -> int:
    """The server's RSS once it has had ``seconds`` to let go (the lowest of a few samples)."""
    low = sim.rss()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await asyncio.sleep(0.25)
        low = min(low, sim.rss())
    return low


async def read_frames(reader: asyncio.StreamReader, seconds: float) -> list[Frame]:
    """Every frame the server sends within ``seconds`` (or until it closes)."""
    buffer = bytearray()
    end = time.monotonic() + seconds
    with contextlib.suppress(TimeoutError, ConnectionError, ssl.SSLError):
        while (left := end - time.monotonic()) > 0:
            data = await asyncio.wait_for(reader.read(65536), left)
            if not data:
                break
            buffer += data
    frames = []
    while len(buffer) >= 9:
        f, length = Frame.parse_frame_header(memoryview(bytes(buffer[:9])))
        if len(buffer) < 9 + length:
            break
        f.parse_body(memoryview(bytes(buffer[9:9 + length])))
        frames.append(f)
        del buffer[:9 + length]
    return frames


def body(sid: int, data: bytes, *flags: str) -> bytes:
    return frame(DataFrame(sid, data=data), *flags)


def describe(frames: list[Frame]) -> list[Any]:
    """Frames as short tuples for assertion messages."""
    return [(type(f).__name__, f.stream_id, getattr(f, "error_code", None)) for f in frames]
