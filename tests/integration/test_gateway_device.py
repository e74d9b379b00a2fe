"""Stage 2 and 3 over real TLS on 127.0.0.1: the device gateway, activation and the simulated iPhone.

The simulator side is assembled by hand (SimState, DeviceGateway, an aiohttp app with the activation
routes); pushes are injected with ``state.delivery.submit`` as the provider API would after accepting them.
Certificates come from the simulator's CA, and every TLS client verifies them.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from apns_sim import courier, pki
from apns_sim.delivery.store_and_forward import PushMessage
from apns_sim.gateway.activation import activation_routes
from apns_sim.gateway.listener import DeviceGateway, environment_for_server_name
from apns_sim.model import journeys
from apns_sim.model.journeys import Journey
from apns_sim.model.registry import ACTIVE, UNINSTALLED
from apns_sim.state import SimConfig, SimState
from device_sim import Phone
from device_sim.connection.client import CourierClient
from device_sim.identity.store import Identity, make_csr
from device_sim.phone.phone import courier_ssl_context

BUNDLE = "com.example.pushchat"
ALERT = {"aps": {"alert": {"title": "PushChat", "body": "Hello"}, "sound": "default", "badge": 1}}


@dataclass
class Sim:
    state: SimState
    gateway: DeviceGateway
    endpoints: dict[str, Any]


async def _start_sim(data_dir: Path, config: SimConfig | None = None) -> tuple[Sim, web.AppRunner]:
    state = SimState(data_dir, config)
    gateway = DeviceGateway(state)
    await gateway.start("127.0.0.1", 0)
    app = web.Application()
    app.add_routes(activation_routes(state))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    endpoints = {
        "sandbox": "https://127.0.0.1:1", "production": "https://127.0.0.1:2",  # the provider API is not needed
        "gateway": f"127.0.0.1:{gateway.port}", "admin": f"http://127.0.0.1:{runner.addresses[0][1]}",
        "ca_file": str(state.ca_file),
    }
    return Sim(state, gateway, endpoints), runner


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Sim]:
    s, runner = await _start_sim(tmp_path / "apns")
    yield s
    await runner.cleanup()
    await s.gateway.close()
    s.state.close()


def inject(sim: Sim, token: str, payload: Any = ALERT, *, expiration: int | None = None) -> str:
    """What the provider API does once it accepts a request: start the journey and hand it to delivery."""
    record = sim.state.registry.get_token(token)
    assert record is not None
    apns_id = str(uuid.uuid4()).upper()
    sim.state.journeys.begin(Journey(apns_id=apns_id, token=token, topic=record.bundle_id,
                                     environment=record.environment, status=200), journeys.ACCEPTED)
    sim.state.delivery.submit(PushMessage(
        apns_id=apns_id, token=token, device_id=record.device_id, bundle_id=record.bundle_id, topic=record.bundle_id,
        environment=record.environment, payload=json.dumps(payload).encode(), push_type="alert", priority=10,
        expiration=expiration, collapse_id=None, accepted_at=sim.state.clock.time()))
    return apns_id


def stages(sim: Sim, apns_id: str) -> list[str]:
    journey = sim.state.journeys.get(apns_id)
    assert journey is not None
    return [s["stage"] for s in journey.stages]


async def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


class Recorder:
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.payloads: list[Any] = []

    def did_register_for_remote_notifications(self, token: str) -> None:
        self.tokens.append(token)

    def did_receive_remote_notification(self, payload: Any) -> None:
        self.payloads.append(payload)


async def test_activate_connect_register_deliver_present(sim: Sim, tmp_path: Path) -> None:
    delegate = Recorder()
    async with Phone.open(sim.endpoints, state_dir=tmp_path / "phone", name="Test iPhone") as phone:
        device = sim.state.registry.get_device(phone.device_id)
        assert device is not None and device.name == "Test iPhone"
        app = phone.install_app(BUNDLE, environment="development", delegate=delegate)
        token = await app.register(timeout=5)
        assert len(token) == 64 and delegate.tokens == [token]
        record = sim.state.registry.get_token(token)
        assert record is not None and (record.device_id, record.bundle_id, record.environment, record.state) == (
            phone.device_id, BUNDLE, "sandbox", ACTIVE)
        assert await app.register(timeout=5) == token  # the same token every time (§3)
        assert sim.state.delivery.is_online(phone.device_id, "sandbox")
        assert phone.base_token == device.base_token  # adopted from the ConnectAck (§1.7)

        apns_id = inject(sim, token)
        received = await app.next_notification(timeout=5)
        assert received.apns_id.upper() == apns_id
        assert received.payload == ALERT and not received.from_storage
        assert received.presentation.as_json() == {"alert": ALERT["aps"]["alert"], "sound": "default", "badge": 1}
        assert app.badge == 1 and delegate.payloads == []  # suspended: shown by the system, no app code (rule 18)
        await wait_for(lambda: "presented" in stages(sim, apns_id))
        assert stages(sim, apns_id) == ["accepted", "delivered", "acknowledged", "handed_to_app", "presented"]
        presented = sim.state.journeys.get(apns_id).stages[-1]  # type: ignore[union-attr]
        assert presented["alert"] == ALERT["aps"]["alert"] and presented["badge"] == 1


async def test_same_phone_and_token_after_restart(sim: Sim, tmp_path: Path) -> None:
    async with Phone.open(sim.endpoints, state_dir=tmp_path / "phone") as phone:
        device_id = phone.device_id
        token = await phone.install_app(BUNDLE).register(timeout=5)
    async with Phone.open(sim.endpoints, state_dir=tmp_path / "phone") as phone:
        assert phone.device_id == device_id
        app = phone.app(BUNDLE)
        assert app.token == token
        await phone.wait_connected("sandbox", timeout=5)  # apps that registered before reconnect at once
        assert await app.register(timeout=5) == token
    assert len(sim.state.registry.list_devices()) == 1


async def test_offline_phone_gets_the_stored_push_on_reconnect(sim: Sim) -> None:
    async with Phone.open(sim.endpoints) as phone:
        app = phone.install_app(BUNDLE, types=("alert",))
        token = await app.register(timeout=5)
        await phone.go_offline()
        await wait_for(lambda: not sim.state.delivery.is_online(phone.device_id, "sandbox"))
        apns_id = inject(sim, token)
        assert stages(sim, apns_id) == ["accepted", "stored"]
        await phone.go_online(timeout=5)
        received = await app.next_notification(timeout=5)
        assert received.from_storage and received.presentation.as_json() == {
            "alert": ALERT["aps"]["alert"], "sound": None, "badge": None}
        await wait_for(lambda: "presented" in stages(sim, apns_id))
        journey = sim.state.journeys.get(apns_id)
        assert journey is not None
        delivered = next(s for s in journey.stages if s["stage"] == "delivered")
        assert delivered["from_storage"] is True
        assert stages(sim, apns_id)[-3:] == ["acknowledged", "handed_to_app", "presented"]


async def test_uninstall_marks_the_token_and_reinstall_gets_a_new_one(sim: Sim) -> None:
    async with Phone.open(sim.endpoints) as phone:
        token = await phone.install_app(BUNDLE).register(timeout=5)
        other = await phone.install_app("com.example.other").register(timeout=5)
        assert await phone.uninstall(BUNDLE) is True
        record = sim.state.registry.get_token(token)
        assert record is not None and record.state == UNINSTALLED and record.unregistered_at is not None
        assert sim.state.registry.get_token(other).state == ACTIVE  # type: ignore[union-attr]
        again = await phone.install_app(BUNDLE).register(timeout=5)
        assert again != token  # iOS 9+: delete and reinstall yields a new token (§3)


async def test_uninstall_while_offline_push_is_refused_then_token_marked(sim: Sim) -> None:
    """A push for a deleted app: the phone acks with status 2 and APNs marks the token (§1.10, §6 rule 13)."""
    async with Phone.open(sim.endpoints) as phone:
        token = await phone.install_app(BUNDLE).register(timeout=5)
        await phone.go_offline()
        assert await phone.uninstall(BUNDLE) is False  # APNs not told yet
        await wait_for(lambda: not sim.state.delivery.is_online(phone.device_id, "sandbox"))
        apns_id = inject(sim, token)  # stored: the phone is offline
        await phone.go_online(timeout=5)
        await wait_for(lambda: "refused" in stages(sim, apns_id))
        assert sim.state.registry.get_token(token).state == UNINSTALLED  # type: ignore[union-attr]


async def test_production_app_uses_the_production_courier(sim: Sim) -> None:
    async with Phone.open(sim.endpoints) as phone:
        token = await phone.install_app(BUNDLE, environment="production").register(timeout=5)
        assert sim.state.registry.get_token(token).environment == "production"  # type: ignore[union-attr]
        assert sim.state.delivery.is_online(phone.device_id, "production")
        assert not sim.state.delivery.is_online(phone.device_id, "sandbox")


# -- refusals, over a raw courier connection ---------------------------------------------------------------


async def _raw_connect(sim: Sim, server_hostname: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    ctx = ssl.create_default_context(cafile=str(sim.state.ca_file))
    return await asyncio.open_connection("127.0.0.1", sim.gateway.port, ssl=ctx, server_hostname=server_hostname)


async def _read_ack(reader: asyncio.StreamReader) -> courier.ConnectAck:
    decoder = courier.Decoder()
    while True:
        data = await asyncio.wait_for(reader.read(4096), 5)
        assert data, "closed without a ConnectAck"
        for message in decoder.feed(data):
            assert isinstance(message, courier.ConnectAck)
            return message


def _identity(authority: pki.Authority, sim: Sim, *, activate: bool) -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    device_id = str(uuid.uuid4()).upper()
    cert = pki.issue_device_certificate(authority, make_csr(key, device_id), now=sim.state.clock.now())
    if activate:
        sim.state.registry.activate_device(device_id, "raw", sim.state.clock.now())
    return key, cert.public_bytes(serialization.Encoding.DER)


async def _connect_with(sim: Sim, key: rsa.RSAPrivateKey, cert_der: bytes,
                        server_hostname: str = "courier.sandbox.push.apple.com") -> courier.ConnectAck:
    reader, writer = await _raw_connect(sim, server_hostname)
    try:
        nonce, signature = courier.make_connect_proof(key, sim.state.clock.millis())
        writer.write(courier.Connect(certificate=cert_der, nonce=nonce, signature=signature).encode())
        ack = await _read_ack(reader)
        if ack.status != 0:
            assert await asyncio.wait_for(reader.read(), 5) == b""  # and the gateway closed
        return ack
    finally:
        writer.close()


async def test_device_certificate_from_another_ca_is_refused(sim: Sim) -> None:
    rogue = pki.create_authority(sim.state.clock.now())
    key, cert_der = _identity(rogue, sim, activate=True)
    ack = await _connect_with(sim, key, cert_der)
    assert ack.status == courier.STATUS_REFUSED and ack.reason is not None and "not issued by" in ack.reason


async def test_good_certificate_with_a_proof_from_another_key_is_refused(sim: Sim) -> None:
    _, cert_der = _identity(sim.state.authority, sim, activate=True)
    thief = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    ack = await _connect_with(sim, thief, cert_der)
    assert ack.status == courier.STATUS_REFUSED and "signature" in (ack.reason or "")


async def test_unactivated_device_is_refused_and_a_good_one_accepted(sim: Sim) -> None:
    key, cert_der = _identity(sim.state.authority, sim, activate=False)
    ack = await _connect_with(sim, key, cert_der)
    assert ack.status == courier.STATUS_REFUSED and "not activated" in (ack.reason or "")
    key, cert_der = _identity(sim.state.authority, sim, activate=True)
    ack = await _connect_with(sim, key, cert_der, server_hostname="courier.push.apple.com")
    assert ack.status == courier.STATUS_OK and ack.base_token is not None and len(ack.base_token) == 32


def test_environment_comes_from_the_courier_server_name() -> None:
    assert environment_for_server_name("courier.sandbox.push.apple.com") == "sandbox"
    assert environment_for_server_name("12-courier.sandbox.push.apple.com") == "sandbox"
    assert environment_for_server_name("courier.push.apple.com") == "production"
    assert environment_for_server_name("49-Courier.Push.Apple.com") == "production"
    for other in (None, "", "api.push.apple.com", "courier.push.apple.com.evil", "x-courier.push.apple.com"):
        assert environment_for_server_name(other) is None


@pytest.mark.parametrize("server_hostname", ["127.0.0.1", "api.push.apple.com"])
async def test_connection_without_a_courier_server_name_is_refused(sim: Sim, server_hostname: str) -> None:
    """No SNI (an IP address sends none) or a non-courier name: no environment, so ConnectAck 2 and close."""
    key, cert_der = _identity(sim.state.authority, sim, activate=True)
    ack = await _connect_with(sim, key, cert_der, server_hostname=server_hostname)
    assert ack.status == courier.STATUS_REFUSED and "server name" in (ack.reason or "")


async def test_garbage_closes_the_connection(sim: Sim) -> None:
    reader, writer = await _raw_connect(sim, "courier.sandbox.push.apple.com")
    writer.write(b"GET / HTTP/1.1\r\n\r\n")
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_silent_phone_is_dropped(tmp_path: Path) -> None:
    s, runner = await _start_sim(tmp_path / "apns", SimConfig(courier_idle_timeout=0.3))
    try:
        key, cert_der = _identity(s.state.authority, s, activate=True)
        reader, writer = await _raw_connect(s, "courier.sandbox.push.apple.com")
        nonce, signature = courier.make_connect_proof(key, s.state.clock.millis())
        writer.write(courier.Connect(certificate=cert_der, nonce=nonce, signature=signature).encode())
        assert (await _read_ack(reader)).status == 0
        assert await asyncio.wait_for(reader.read(), 5) == b""  # dropped after 0.3 s of silence
        writer.close()
        assert s.gateway.connection_count == 0
    finally:
        await runner.cleanup()
        await s.gateway.close()
        s.state.close()


async def test_activation_endpoint_errors_are_json(sim: Sim) -> None:
    import aiohttp

    url = sim.endpoints["admin"] + "/deviceservices/deviceActivation"
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    async with aiohttp.ClientSession() as session:
        for body, match in [({"name": "x"}, "csr"), ({"csr": "junk"}, "certificate signing request"),
                            ({"csr": make_csr(key, "not-a-uuid").decode()}, "UUID")]:
            async with session.post(url, json=body) as response:
                assert response.status == 400
                assert match in (await response.json())["error"]
        async with session.post(url, data=b"{") as response:
            assert response.status == 400
        good = make_csr(key, str(uuid.uuid4()).upper()).decode()
        async with session.post(url, json={"csr": good, "name": "Raw"}) as response:
            answer = await response.json()
            assert response.status == 200
            cert = x509.load_pem_x509_certificate(answer["device_certificate"].encode())
            pki.verify_issued_by(cert, sim.state.authority.device_ca_cert, sim.state.clock.now())
            assert sim.state.registry.get_device(answer["device_id"]) is not None


async def test_a_second_connection_of_the_same_phone_replaces_the_first(sim: Sim) -> None:
    """One connection per phone and environment, as on Apple's service (a reconnect after a silent drop)."""
    key, cert_der = _identity(sim.state.authority, sim, activate=True)
    first_reader, first_writer = await _raw_connect(sim, "courier.sandbox.push.apple.com")
    nonce, signature = courier.make_connect_proof(key, sim.state.clock.millis())
    first_writer.write(courier.Connect(certificate=cert_der, nonce=nonce, signature=signature).encode())
    assert (await _read_ack(first_reader)).status == 0
    assert (await _connect_with(sim, key, cert_der)).status == 0
    assert await asyncio.wait_for(first_reader.read(), 5) == b""  # the first one was closed
    first_writer.close()


async def test_phone_reconnects_after_the_gateway_drops_it(sim: Sim) -> None:
    async with Phone.open(sim.endpoints) as phone:
        app = phone.install_app(BUNDLE)
        token = await app.register(timeout=5)
        sim.gateway._by_device[(phone.device_id, "sandbox")].close("test: drop the phone")
        await wait_for(lambda: not phone.is_connected("sandbox"))
        await phone.wait_connected("sandbox", timeout=5)  # back after ~1 s of back-off
        inject(sim, token)
        assert (await app.next_notification(timeout=5)).payload == ALERT


async def test_phone_activated_by_another_simulator_activates_again(tmp_path: Path) -> None:
    """A refused Connect (certificate from another CA) makes the phone re-activate once, as rustpush does."""
    first, runner = await _start_sim(tmp_path / "first")
    try:
        async with Phone.open(first.endpoints, state_dir=tmp_path / "phone") as phone:
            old = await phone.install_app(BUNDLE).register(timeout=5)
    finally:
        await runner.cleanup()
        await first.gateway.close()
        first.state.close()
    second, runner = await _start_sim(tmp_path / "second")
    try:
        async with Phone.open(second.endpoints, state_dir=tmp_path / "phone") as phone:
            await phone.wait_connected("sandbox", timeout=5)
            assert second.state.registry.get_device(phone.device_id) is not None
            new = await phone.app(BUNDLE).register(timeout=5)
            assert new != old and second.state.registry.get_token(new) is not None
    finally:
        await runner.cleanup()
        await second.gateway.close()
        second.state.close()


async def test_phone_sends_one_report_per_push_with_both_stages(sim: Sim, monkeypatch: pytest.MonkeyPatch) -> None:
    """[sim] SimReport: the phone reports handed_to_app and presented in one frame; the journey keeps both."""
    from apns_sim.gateway.session import CourierSession

    reports: list[courier.SimReport] = []
    original = CourierSession._on_report

    def counting(self: CourierSession, message: courier.SimReport) -> None:
        reports.append(message)
        original(self, message)

    monkeypatch.setattr(CourierSession, "_on_report", counting)
    async with Phone.open(sim.endpoints) as phone:
        app = phone.install_app(BUNDLE)
        token = await app.register(timeout=5)
        ids = [inject(sim, token) for _ in range(3)]
        for apns_id in ids:
            await wait_for(lambda apns_id=apns_id: "presented" in stages(sim, apns_id))
            assert stages(sim, apns_id) == ["accepted", "delivered", "acknowledged", "handed_to_app", "presented"]
    assert [r.apns_id.upper() for r in reports] == ids  # one frame per push
    assert all([s for s, _ in r.stages] == ["handed_to_app", "presented"] for r in reports)


async def test_raw_multi_stage_report_lands_in_the_journey(sim: Sim) -> None:
    """A phone's 0x30 frame with two stages (docs/device-side.md §1.2 framing) adds both, in order, once acked."""
    key, cert_der = _identity(sim.state.authority, sim, activate=True)
    common_name = x509.load_der_x509_certificate(cert_der).subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    device_id = str(common_name[0].value)
    token = sim.state.registry.app_token(device_id, BUNDLE, "sandbox", sim.state.clock.now()).token
    reader, writer = await _raw_connect(sim, "courier.sandbox.push.apple.com")
    try:
        nonce, signature = courier.make_connect_proof(key, sim.state.clock.millis())
        writer.write(courier.Connect(certificate=cert_der, nonce=nonce, signature=signature).encode())
        assert (await _read_ack(reader)).status == 0
        apns_id = inject(sim, token)
        decoder = courier.Decoder()
        pushes: list[courier.Message] = []
        while not pushes:
            pushes = [m for m in decoder.feed(await asyncio.wait_for(reader.read(4096), 5))
                      if isinstance(m, courier.Push)]
        push = pushes[0]
        assert isinstance(push, courier.Push) and push.apns_id == apns_id.lower()
        writer.write(courier.PushAck(message_id=push.message_id).encode() + courier.SimReport(
            apns_id=push.apns_id, stage="handed_to_app", detail={"bundle_id": BUNDLE},
            later=(("presented", {"badge": 1}),)).encode())
        await wait_for(lambda: "presented" in stages(sim, apns_id))
        assert stages(sim, apns_id) == ["accepted", "delivered", "acknowledged", "handed_to_app", "presented"]
        assert sim.state.journeys.get(apns_id).stages[-1]["badge"] == 1  # type: ignore[union-attr]
    finally:
        writer.close()


# -- the phone's courier client closes promptly (device_sim.connection.client) --------------------------------


class _StopOnConnect:
    """A CourierHandler that asks the client to stop the moment its connection is up."""

    def __init__(self) -> None:
        self.client: CourierClient | None = None
        self.stopper: asyncio.Future[None] | None = None

    def filter_topics(self, environment: str) -> list[str]:
        return []

    def push_status(self, environment: str, push: courier.Push) -> int:
        return courier.ACK_OK

    def push_acked(self, environment: str, push: courier.Push) -> None:
        pass

    def base_token_changed(self, token: bytes) -> None:
        pass

    def connection_changed(self, environment: str, connected: bool, error: str | None) -> None:
        if connected and self.stopper is None and self.client is not None:
            self.stopper = asyncio.ensure_future(self.client.stop())

    async def connect_refused(self, environment: str, reason: str) -> bool:
        return False


def _client(sim: Sim, handler: _StopOnConnect, port: int | None = None) -> CourierClient:
    key, cert_der = _identity(sim.state.authority, sim, activate=True)
    cert = x509.load_der_x509_certificate(cert_der)
    identity = Identity(device_id=str(cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value),
                        key=key, certificate=cert)
    client = CourierClient(environment="sandbox", host="127.0.0.1", port=port or sim.gateway.port,
                           ssl_context=courier_ssl_context(sim.state.ca_file), identity=lambda: identity,
                           base_token=lambda: None, handler=handler)
    handler.client = client
    return client


async def test_stop_right_as_the_connection_comes_up_is_not_lost(sim: Sim) -> None:
    """A stop() that lands in the same loop turn as the ConnectAck (docs/device-side.md §1.8 connection life)
    ends the client; asyncio.wait_for used to swallow that cancellation and leave stop() waiting forever."""
    handler = _StopOnConnect()
    client = _client(sim, handler)
    client.start()
    await wait_for(lambda: handler.stopper is not None)
    assert handler.stopper is not None
    loop = asyncio.get_running_loop()
    started = loop.time()
    done, _ = await asyncio.wait([handler.stopper], timeout=5)
    assert done and handler.stopper.exception() is None
    assert loop.time() - started < 1.0 and not client.running and not client.connected


async def test_stop_returns_promptly_while_the_handshake_read_is_pending(sim: Sim) -> None:
    """A gateway that accepts TCP and never answers: the client waits on a read; stop() still returns at once."""
    accepted = asyncio.Event()
    writers: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        accepted.set()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        client = _client(sim, _StopOnConnect(), port=server.sockets[0].getsockname()[1])
        client.start()
        await asyncio.wait_for(accepted.wait(), 5)
        await asyncio.sleep(0.05)  # the TLS ClientHello is out; the client now waits for the server's answer
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(client.stop(), 5)
        assert loop.time() - started < 1.0 and not client.running
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()
