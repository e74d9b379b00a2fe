"""The standing abuse suite: hypothesis-made courier frames against a running ``apns-sim serve`` (issue 14).

The simulator runs in its own process, as users run it, so "it survived" means the process is alive. Frames go
over real TLS to the device gateway (verification on), random and mutated from valid ones, on a connection that
first proved a valid device certificate and on one that never did. After every example the process must be
alive and a canary phone on its own connection must still get a push within PUSH_BOUND seconds; once per test,
after every fuzz connection closed, the gateway holds only the canary and the process's memory is back within
RSS_SLACK of where it started. The server's stderr must never show a traceback. Bounds: docs/limits.md §2.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apns_sim import courier
from device_sim.identity.store import make_csr

BUNDLE = "com.example.fuzz"
SANDBOX = "courier.sandbox.push.apple.com"
PUSH_BOUND = 5.0  # seconds for the canary's push while the gateway is being fuzzed
RSS_SLACK = 24 * 1024 * 1024  # what the process may keep after the fuzz connections closed (allocator caches)
FUZZ = settings(max_examples=75, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    endpoints: dict[str, Any]
    stderr: Path

    @property
    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.endpoints["ca_file"])

    def rss(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS for the simulator process")

    def call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.endpoints["admin"] + path, data=data,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def identity(self) -> tuple[rsa.RSAPrivateKey, bytes]:
        """A freshly activated device: its key and certificate (DER)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        answer = self.call("/deviceservices/deviceActivation",
                           {"csr": make_csr(key, str(uuid.uuid4()).upper()).decode(), "name": "fuzz"})
        cert = x509.load_pem_x509_certificate(answer["device_certificate"].encode())
        return key, cert.public_bytes(serialization.Encoding.DER)

    def open(self) -> ssl.SSLSocket:
        host, port = self.endpoints["gateway"].rsplit(":", 1)
        raw = socket.create_connection((host, int(port)), timeout=5)
        return self.context.wrap_socket(raw, server_hostname=SANDBOX)


def connect(server: Server, key: rsa.RSAPrivateKey, cert_der: bytes) -> ssl.SSLSocket:
    """A courier connection that proved its identity (ConnectAck status 0 read)."""
    sock = server.open()
    nonce, signature = courier.make_connect_proof(key, int(time.time() * 1000))
    sock.sendall(courier.Connect(certificate=cert_der, nonce=nonce, signature=signature).encode())
    ack = next(m for m in read_messages(sock, courier.Decoder()) if isinstance(m, courier.ConnectAck))
    assert ack.status == courier.STATUS_OK, ack.reason
    return sock


def read_messages(sock: ssl.SSLSocket, decoder: courier.Decoder) -> Iterator[courier.Message]:
    while True:
        data = sock.recv(65536)
        assert data, "the gateway closed the connection"
        yield from decoder.feed(data)


class Canary:
    """Another online phone: it must keep getting its pushes whatever the fuzz connections do."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.sock = connect(server, *server.identity())
        self.decoder = courier.Decoder()
        self.sock.sendall(courier.Filter(enabled=(courier.topic_hash(BUNDLE),)).encode())
        self.sock.sendall(courier.ScopedTokenRequest(topic=courier.topic_hash(BUNDLE), bundle_id=BUNDLE).encode())
        ack = next(m for m in read_messages(self.sock, self.decoder) if isinstance(m, courier.ScopedTokenAck))
        assert ack.token is not None
        self.token = ack.token.hex()

    def gets_a_push(self) -> float:
        """Seconds from the console push to the Push frame on the canary's connection (acked)."""
        mark = uuid.uuid4().hex
        started = time.monotonic()
        self.server.call("/_sim/console/push", {"device_token": self.token, "topic": BUNDLE,
                                                "payload": {"aps": {"alert": mark}}})
        self.sock.settimeout(PUSH_BOUND)
        for message in read_messages(self.sock, self.decoder):
            if isinstance(message, courier.Push) and mark.encode() in message.payload:
                self.sock.sendall(courier.PushAck(message_id=message.message_id).encode())
                return time.monotonic() - started
        raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("fuzz-sim")
    subprocess.run([sys.executable, "-m", "apns_sim.cli", "portal", "--data-dir", str(data), "--create", "app-id",
                    "create", BUNDLE, "--team-id", "ABCDE12345"], check=True, capture_output=True, timeout=60)
    stderr = data / "stderr.log"
    with stderr.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "apns_sim.cli", "serve", "--data-dir", str(data),
                                 "--log-level", "INFO"], stdout=subprocess.PIPE, stderr=err)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, f"apns-sim serve did not start: {stderr.read_text()}"
        yield Server(proc, json.loads(line), stderr)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert "Traceback" not in stderr.read_text(), stderr.read_text()[-4000:]


@pytest.fixture(scope="module")
def canary(server: Server) -> Canary:
    return Canary(server)


# -- frames ----------------------------------------------------------------------------------------------

def _valid_frames() -> list[bytes]:
    """One of each frame a phone sends, as the mutations' seeds."""
    topic = courier.topic_hash(BUNDLE)
    return [
        courier.Filter(enabled=(topic,)).encode(),
        courier.ScopedTokenRequest(topic=topic, bundle_id=BUNDLE).encode(),
        courier.PushAck(message_id=1).encode(),
        courier.KeepAlive().encode(),
        courier.SimReport(apns_id=str(uuid.uuid4()), stage="presented", detail={"where": "banner"}).encode(),
        courier.AppStatus(bundle_id=BUNDLE, environment="sandbox", permission="authorized", options=("alert",),
                          badge=1, state="foreground").encode(),
        courier.Connect(certificate=b"\x30\x82" + os.urandom(300), nonce=os.urandom(17),
                        signature=os.urandom(130)).encode(),
    ]


VALID = _valid_frames()
COMMANDS = [int(c) for c in courier.Command] + [0x0E, 0x0F, 0x14, 0x1D, 0x20]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid frame with a few bytes changed, cut short, extended, or its length field rewritten."""
    frame = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "grow", "length"]))
        if kind == "flip" and frame:
            frame[draw(st.integers(0, len(frame) - 1))] = draw(st.integers(0, 255))
        elif kind == "cut" and frame:
            del frame[draw(st.integers(0, len(frame) - 1)):]
        elif kind == "grow":
            frame += draw(st.binary(max_size=64))
        elif kind == "length" and len(frame) >= 5:
            frame[1:5] = draw(st.integers(0, 0xFFFFFFFF)).to_bytes(4, "big")
    return bytes(frame)


@st.composite
def structured(draw: st.DrawFn) -> bytes:
    """Well-framed items of any id and content under a real command: the codec's decoders get garbage."""
    items = draw(st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=200)), max_size=8))
    body = b"".join(bytes([i]) + len(v).to_bytes(2, "big") + v for i, v in items)
    return bytes([draw(st.sampled_from(COMMANDS))]) + len(body).to_bytes(4, "big") + body


@st.composite
def nested_report(draw: st.DrawFn) -> bytes:
    """A SimReport whose detail nests from a little to far past the interpreter's stack (a RecursionError
    on 6e657d8)."""
    depth = draw(st.integers(1, 6000))
    opener = draw(st.sampled_from([b"[", b'{"a":']))
    items: list[tuple[int, bytes | None]] = [(1, uuid.uuid4().bytes), (2, b"presented"), (3, opener * depth)]
    return courier._frame(courier.Command.SIM_REPORT, items)


frames = st.lists(st.one_of(st.binary(max_size=512), mutated(), structured(), nested_report()), min_size=1,
                  max_size=6)


def send_and_close(sock: ssl.SSLSocket, payload: list[bytes]) -> None:
    """Send the frames, read whatever comes back briefly, then close (the gateway may close first)."""
    try:
        sock.sendall(b"".join(payload))
        sock.settimeout(0.2)
        while sock.recv(65536):
            pass
    except (OSError, ssl.SSLError):
        pass  # closed by the gateway, or nothing more within the timeout: both are fine
    finally:
        sock.close()


def check_alive(server: Server, canary: Canary) -> None:
    assert server.proc.poll() is None, f"the simulator died: {server.stderr.read_text()[-4000:]}"
    assert canary.gets_a_push() < PUSH_BOUND


def check_memory_returned(server: Server, before: int) -> None:
    deadline = time.monotonic() + 5
    while server.call("/_sim/health")["online_phones"] != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.call("/_sim/health")["online_phones"] == 1  # only the canary: every fuzz connection is gone
    assert server.rss() - before < RSS_SLACK, f"{(server.rss() - before) / 2**20:.1f} MiB kept after close"


def test_frames_from_a_stranger_never_hurt_the_simulator(server: Server, canary: Canary) -> None:
    """docs/limits.md §2: no Connect, any bytes: the connection ends at worst, the simulator and the other
    phones carry on."""
    canary.gets_a_push()  # warm up before measuring
    before = server.rss()

    @FUZZ
    @given(payload=frames)
    def attack(payload: list[bytes]) -> None:
        send_and_close(server.open(), payload)
        check_alive(server, canary)

    attack()
    check_memory_returned(server, before)


def test_frames_from_an_authenticated_phone_never_hurt_the_simulator(server: Server, canary: Canary) -> None:
    """docs/limits.md §2: a phone with a valid device certificate, then any bytes: the same promise."""
    identity = server.identity()
    canary.gets_a_push()
    before = server.rss()

    @FUZZ
    @given(payload=frames)
    def attack(payload: list[bytes]) -> None:
        send_and_close(connect(server, *identity), payload)
        check_alive(server, canary)

    attack()
    check_memory_returned(server, before)
