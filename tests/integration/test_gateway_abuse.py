"""Attacks on the device gateway and the activation service, reproduced over real sockets (issue 14).

Each test plays the attacker with raw TLS and HTTP against a whole simulator on 127.0.0.1 (certificate
verification on) and checks the bound or the rule that stops it: docs/limits.md §2 for the bounds,
docs/device-side.md §1.5 for who owns a device id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import ssl
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from apns_sim import courier, limits
from apns_sim.state import SimConfig
from device_sim import Phone
from device_sim import cli as device_cli
from device_sim.identity import activation as client
from device_sim.identity.store import make_csr
from pushsim.harness import RunningSimulator
from pushsim.phones import IPhoneFactory

BUNDLE = "com.example.abuse"
SANDBOX = "courier.sandbox.push.apple.com"


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[RunningSimulator]:
    async with RunningSimulator.start(tmp_path / "sim") as running:
        running.create_app_id(BUNDLE)
        yield running


@pytest.fixture
async def iphones(sim: RunningSimulator, tmp_path: Path) -> AsyncIterator[IPhoneFactory]:
    async with IPhoneFactory(sim.endpoints, tmp_path / "iphones") as factory:
        yield factory


# -- helpers: an attacker's raw tools ------------------------------------------------------------------------


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


async def post(sim: RunningSimulator, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], Any]:
    async with aiohttp.ClientSession() as session, session.post(sim.admin_url + path, json=body) as response:
        return response.status, await response.json(content_type=None), response.headers


async def activate_raw(sim: RunningSimulator, key: rsa.RSAPrivateKey, device_id: str) -> tuple[int, Any]:
    status, answer, _ = await post(sim, client.ACTIVATION_PATH, {"csr": make_csr(key, device_id).decode(),
                                                                 "name": "raw"})
    return status, answer


async def certificate_for(sim: RunningSimulator, key: rsa.RSAPrivateKey, device_id: str) -> x509.Certificate:
    status, answer = await activate_raw(sim, key, device_id)
    assert status == 200, answer
    return x509.load_pem_x509_certificate(answer["device_certificate"].encode())


async def open_tls(sim: RunningSimulator, *, receive_buffer: int | None = None
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = sim.gateway.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=str(sim.ca_file))
    if receive_buffer is None:
        return await asyncio.open_connection(host, int(port), ssl=ctx, server_hostname=SANDBOX)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)  # before connect: the window follows
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    return await asyncio.open_connection(sock=sock, ssl=ctx, server_hostname=SANDBOX)


async def connect(sim: RunningSimulator, key: rsa.RSAPrivateKey, cert: x509.Certificate, *,
                  receive_buffer: int | None = None
                  ) -> tuple[courier.ConnectAck, asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw courier Connect with this identity: the ConnectAck and the open connection."""
    reader, writer = await open_tls(sim, receive_buffer=receive_buffer)
    nonce, signature = courier.make_connect_proof(key, sim.clock.millis())
    writer.write(courier.Connect(certificate=cert.public_bytes(serialization.Encoding.DER), nonce=nonce,
                                 signature=signature).encode())
    decoder = courier.Decoder()
    while True:
        data = await asyncio.wait_for(reader.read(4096), 5)
        assert data, "closed without a ConnectAck"
        for message in decoder.feed(data):
            if isinstance(message, courier.ConnectAck):
                return message, reader, writer


async def register(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
    """Filter on BUNDLE and ask for its token, as an app's registration does over a raw connection."""
    writer.write(courier.Filter(enabled=(courier.topic_hash(BUNDLE),)).encode())
    writer.write(courier.ScopedTokenRequest(topic=courier.topic_hash(BUNDLE), bundle_id=BUNDLE).encode())
    decoder = courier.Decoder()
    while True:
        for message in decoder.feed(await asyncio.wait_for(reader.read(4096), 5)):
            if isinstance(message, courier.ScopedTokenAck) and message.token:
                return message.token.hex()


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """True once the gateway closed the connection (EOF or reset), False if still open after ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except (ConnectionError, ssl.SSLError):
        pass
    return True


async def console_push(sim: RunningSimulator, token: str, body: str) -> None:
    status, answer, _ = await post(sim, "/_sim/console/push", {
        "device_token": token, "topic": BUNDLE, "payload": {"aps": {"alert": body}}})
    assert status == 200, answer


# -- item 4: any client could take over any phone ----------------------------------------------------------


async def test_a_listed_device_id_cannot_be_activated_with_another_key(sim: RunningSimulator,
                                                                        iphones: IPhoneFactory) -> None:
    """docs/device-side.md §1.5: a device id stays bound to the key that first activated it. On main the
    impostor got a valid certificate for the victim's UUID and then 9 of the victim's 10 pushes."""
    victim = await iphones("victim")
    app = victim.install_app(BUNDLE)
    token = await app.register(timeout=5)
    async with aiohttp.ClientSession() as session, session.get(sim.admin_url + "/_sim/devices") as response:
        listed = [d["device_id"] for d in (await response.json())["devices"]]
    assert victim.device_id in listed  # device ids are public: knowing one must not be enough
    status, answer = await activate_raw(sim, new_key(), victim.device_id)
    assert status == 403 and "bound to the key" in answer["error"]
    for i in range(10):
        await console_push(sim, token, f"for the victim {i}")
        received = await app.next_notification(timeout=5)
        assert received.payload["aps"]["alert"] == f"for the victim {i}"


async def test_activating_again_revokes_the_old_certificate_and_closes_its_connection(
        sim: RunningSimulator) -> None:
    """docs/device-side.md §1.5: only the latest certificate of a device is valid, and a connection that
    proved an older one is closed when it is revoked."""
    key, device_id = new_key(), str(uuid.uuid4()).upper()
    first = await certificate_for(sim, key, device_id)
    ack, reader, writer = await connect(sim, key, first)
    assert ack.status == courier.STATUS_OK
    second = await certificate_for(sim, key, device_id)  # the same key activates again: allowed
    assert second.serial_number != first.serial_number
    assert await closed_within(reader, 5), "the connection with the revoked certificate stayed open"
    writer.close()
    ack, _, writer = await connect(sim, key, first)
    assert ack.status == courier.STATUS_REFUSED and "revoked" in (ack.reason or "")
    writer.close()
    ack, _, writer = await connect(sim, key, second)
    assert ack.status == courier.STATUS_OK
    writer.close()


async def test_erase_signed_by_the_device_releases_its_id_and_nothing_else_does(sim: RunningSimulator) -> None:
    """docs/device-side.md §1.5: Erase All Content and Settings, proved with the device's current key,
    revokes its certificate and lets a new key activate the id; a stranger's erase is refused."""
    owner, stranger, device_id = new_key(), new_key(), str(uuid.uuid4()).upper()
    cert = await certificate_for(sim, owner, device_id)
    with pytest.raises(client.DeviceSimError, match="403"):  # the owner's certificate, a stranger's signature
        await client.erase(sim.admin_url, stranger, cert)
    assert (await activate_raw(sim, stranger, device_id))[0] == 403
    assert await client.erase(sim.admin_url, owner, cert) == device_id
    ack, _, writer = await connect(sim, owner, cert)
    assert ack.status == courier.STATUS_REFUSED and "revoked" in (ack.reason or "")
    writer.close()
    new_owner_cert = await certificate_for(sim, stranger, device_id)  # the erased phone's new key
    with pytest.raises(client.DeviceSimError, match="403"):  # a replayed erase of the old certificate
        await client.erase(sim.admin_url, owner, cert)
    ack, _, writer = await connect(sim, stranger, new_owner_cert)
    assert ack.status == courier.STATUS_OK
    writer.close()


# -- low: garbage, strangers that never authenticate, activation floods ----------------------------------


def deep_report() -> bytes:
    # 5000 levels: deeper than the interpreter's stack, so json.loads raised RecursionError on main
    items: list[tuple[int, bytes | None]] = [(1, uuid.uuid4().bytes), (2, b"presented"), (3, b"[" * 5000)]
    return courier._frame(courier.Command.SIM_REPORT, items)


@pytest.mark.parametrize("authenticated", [False, True])
async def test_deeply_nested_report_is_a_clean_protocol_error(sim: RunningSimulator, authenticated: bool,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """docs/limits.md §2: a SimReport detail nesting past the limit closes that one connection with a log
    line and no traceback (on main: RecursionError with a traceback)."""
    caplog.set_level(logging.INFO, logger="apns_sim.gateway")
    if authenticated:
        key = new_key()
        ack, reader, writer = await connect(sim, key, await certificate_for(sim, key, str(uuid.uuid4()).upper()))
        assert ack.status == courier.STATUS_OK
    else:
        reader, writer = await open_tls(sim)
    writer.write(deep_report())
    assert await closed_within(reader, 5)
    writer.close()
    gateway = [r for r in caplog.records if r.name == "apns_sim.gateway"]
    assert not [r for r in gateway if r.exc_info], "a traceback was logged"
    assert any("protocol error" in r.getMessage() and "nests deeper" in r.getMessage() for r in gateway)


async def test_a_stranger_sending_bytes_without_a_connect_is_dropped(sim: RunningSimulator) -> None:
    """docs/limits.md §2: at most COURIER_PREAUTH_BYTES before a valid Connect (on main, unmodelled frames
    were accepted forever)."""
    reader, writer = await open_tls(sim)
    frame = bytes([0x0E]) + (1000).to_bytes(4, "big") + b"\x00" * 1000  # an observed, unmodelled command
    sent = 0
    with pytest.raises((ConnectionError, ssl.SSLError, TimeoutError)):
        async with asyncio.timeout(10):
            while True:
                writer.write(frame)
                await writer.drain()
                sent += len(frame)
                if reader.at_eof() or sent > 100 * limits.COURIER_PREAUTH_BYTES:
                    raise ConnectionError("closed")
                await asyncio.sleep(0.001)
    assert sent <= 20 * limits.COURIER_PREAUTH_BYTES, f"{sent} bytes accepted without a Connect"
    writer.close()


async def test_a_stranger_that_never_proves_its_identity_is_dropped(sim: RunningSimulator) -> None:
    """docs/limits.md §2: the Connect deadline counts from the TCP accept, however busy the peer keeps the
    line (on main a connection that kept sending was never dropped)."""
    assert sim.simulator.gateway is not None
    sim.simulator.gateway.connect_deadline = 0.5
    reader, writer = await open_tls(sim)
    small = bytes([0x0E]) + (0).to_bytes(4, "big")
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not reader.at_eof() and loop.time() - started < 5:  # well under the byte bound, never idle
        writer.write(small)
        await asyncio.sleep(0.05)
    assert await closed_within(reader, 1)
    assert loop.time() - started < 4  # 0.5 s deadline; the rest is slack for a loaded machine
    writer.close()


async def test_a_phone_that_stops_reading_is_dropped_and_its_pushes_kept(
        sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/limits.md §2: COURIER_MAX_OUTBOUND_BYTES per connection; beyond it the phone is dropped and
    delivery stores what was in flight. Lowered to 64 KiB, and both kernel buffers made small, so a few
    dozen pushes reach it (the kernel's own buffers, up to megabytes, are not the simulator's memory)."""
    monkeypatch.setattr(limits, "COURIER_MAX_OUTBOUND_BYTES", 64 * 1024)
    key, device_id = new_key(), str(uuid.uuid4()).upper()
    ack, reader, writer = await connect(sim, key, await certificate_for(sim, key, device_id), receive_buffer=4096)
    assert ack.status == courier.STATUS_OK
    gateway = sim.simulator.gateway
    assert gateway is not None
    server_socket = gateway._by_device[(device_id, "sandbox")]._transport.get_extra_info("socket")  # type: ignore[union-attr]
    server_socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    token = await register(reader, writer)
    # From here the phone reads nothing: the socket buffers fill, then the gateway's.
    state = sim.state
    body = "x" * 3000
    for i in range(200):
        await console_push(sim, token, f"{i} {body}")
        if not state.delivery.is_online(device_id, "sandbox"):
            break
    assert not state.delivery.is_online(device_id, "sandbox"), "a phone that never reads was never dropped"
    assert state.registry.count_stored() >= 1
    writer.close()


async def test_activation_is_rate_limited_per_address_with_retry_after(tmp_path: Path) -> None:
    """docs/limits.md §2: a token bucket per client address; beyond it 429 with Retry-After (on main there
    was no limit). The phone's activation client waits as told and succeeds."""
    async with RunningSimulator.start(tmp_path / "sim", config=SimConfig(activation_rate=2, activation_burst=3)) as s:
        key = new_key()
        device_id = str(uuid.uuid4()).upper()
        answers = [await activate_raw(s, key, device_id) for _ in range(3)]
        assert [status for status, _ in answers] == [200, 200, 200]
        status, answer, headers = await post(s, client.ACTIVATION_PATH, {"csr": make_csr(key, device_id).decode()})
        assert status == 429 and "too many" in answer["error"] and headers["Retry-After"] == "1"
        loop = asyncio.get_running_loop()
        started = loop.time()
        cert = await client.activate(s.admin_url, key, device_id, "patient", timeout=5)
        assert cert.subject.rfc4514_string() == f"CN={device_id}" or device_id in cert.subject.rfc4514_string()
        assert loop.time() - started >= 0.9  # it waited for Retry-After rather than failing


async def test_a_phone_that_never_acks_is_dropped(sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/limits.md §2: at most COURIER_MAX_IN_FLIGHT unacknowledged pushes per connection (lowered to 3)."""
    monkeypatch.setattr(limits, "COURIER_MAX_IN_FLIGHT", 3)
    key, device_id = new_key(), str(uuid.uuid4()).upper()
    _, reader, writer = await connect(sim, key, await certificate_for(sim, key, device_id))
    token = await register(reader, writer)
    for i in range(5):
        await console_push(sim, token, f"unacked {i}")
    writer.write(courier.KeepAlive().encode())  # reads and talks, but never acks
    assert await closed_within(reader, 5)
    assert not sim.state.delivery.is_online(device_id, "sandbox")
    writer.close()


async def test_device_sim_erase_new_key_rebinds_the_device_id(sim: RunningSimulator, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """docs/device-side.md §1.5 item 5, docs/cli.md: ``device-sim erase --new-key`` releases the device id with
    a request signed by the old key, then binds the same id to a new key; the old certificate is revoked."""
    state_dir = tmp_path / "phone"
    async with Phone.open(sim.endpoints, state_dir=state_dir) as phone:
        device_id = phone.device_id
    old_key = serialization.load_pem_private_key((state_dir / "device-key.pem").read_bytes(), None)
    old_cert = x509.load_pem_x509_certificate((state_dir / "device-cert.pem").read_bytes())
    assert isinstance(old_key, rsa.RSAPrivateKey)
    args = ["erase", "--endpoints", str(sim.endpoints_file), "--state-dir", str(state_dir), "--new-key"]
    assert await device_cli.COMMANDS["erase"](device_cli._parser().parse_args(args)) == 0
    assert json.loads(capsys.readouterr().out) == {"event": "erased", "apps": [], "apns_notified": True,
                                                   "new_key": True}
    new_cert = x509.load_pem_x509_certificate((state_dir / "device-cert.pem").read_bytes())
    assert new_cert.public_key() != old_cert.public_key()
    device = sim.state.registry.get_device(device_id)
    assert device is not None and device.accepts_certificate(new_cert.serial_number)
    ack, _, writer = await connect(sim, old_key, old_cert)
    assert ack.status == courier.STATUS_REFUSED and "revoked" in (ack.reason or "")
    writer.close()
