"""Issue #5, APNs side, end to end over real TLS on 127.0.0.1: batching, dropped phones, restarts, activation.

The whole simulator runs (``Simulator``: provider API, gateway, admin); the provider is the project's real HTTP/2
client with token (JWT) credentials from the simulator's portal; the phone is ``device_sim.Phone``. Every TLS
client verifies the simulator's CA.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from apns_sim.delivery.store_and_forward import BATCHED, RESTORED, DeliveryConfig
from apns_sim.model import journeys
from apns_sim.portal.service import Portal
from apns_sim.simulator import Simulator
from apns_sim.state import SimConfig
from device_sim import Phone
from device_sim.identity.store import make_csr
from provider.apns import APNsClient, Notification
from provider.apns.credentials import TokenCredentials, load_p8

TEAM = "ABCDE12345"
APP = "com.example.lifecycle"
OTHER = "com.example.lifecycle.other"


@dataclass
class Provider:
    """The real provider client, pointed at one running simulator."""

    sim: Simulator
    credentials: TokenCredentials

    async def send(self, token: str, topic: str = APP, text: str = "hi", **fields: Any) -> str:
        async with APNsClient(self.credentials, environment="sandbox", endpoint=self.sim.endpoints["sandbox"],
                              ca_file=self.sim.endpoints["ca_file"]) as client:
            result = await client.send(Notification(token=token, topic=topic, payload={"aps": {"alert": text}},
                                                    **fields))
        assert result.accepted and result.apns_id, result
        return result.apns_id


def provider_for(sim: Simulator, key_dir: Path, *, first_run: bool = True) -> Provider:
    """App IDs and a .p8 key from the simulator's own portal (made once; a restart finds them in the data dir)."""
    if first_run:
        assert sim.state is not None
        portal = Portal(sim.state.registry, sim.state.authority, sim.state.clock.now)
        for bundle in (APP, OTHER):
            portal.create_app_id(bundle, TEAM)
        created = portal.create_auth_key(TEAM)
        key_dir.mkdir(parents=True, exist_ok=True)
        (key_dir / "AuthKey.p8").write_bytes(created.p8)
        (key_dir / "key_id").write_text(created.key_id)
    return Provider(sim, load_p8(key_dir / "AuthKey.p8", (key_dir / "key_id").read_text(), TEAM))


def stages(sim: Simulator, apns_id: str) -> list[str]:
    assert sim.state is not None
    found = sim.state.journeys.list(apns_id=apns_id)
    assert found, f"no journey for {apns_id}"
    return [s["stage"] for s in found[0].stages]


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def online(sim: Simulator, phone: Phone) -> bool:
    assert sim.state is not None
    return sim.state.delivery.is_online(phone.device_id, "sandbox")


# -- a network cable that can be cut: the TCP connection dies without a close ---------------------------------


class Cable:
    """A TCP relay between phone and gateway. ``cut()`` makes the current connections swallow every byte and
    never pass a close on, which is what a phone that lost its radio looks like to APNs; new connections pass."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self._target = (host, int(port))
        self._server: asyncio.Server | None = None
        self._live: list[dict[str, bool]] = []
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    def cut(self) -> None:
        for connection in self._live:
            connection["cut"] = True

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()

    async def _relay(self, phone_reader: asyncio.StreamReader, phone_writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers += [phone_writer, up_writer]
        state = {"cut": False}
        self._live.append(state)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    if not state["cut"]:
                        dst.write(data)
                        await dst.drain()
                if not state["cut"]:
                    dst.close()

        await asyncio.gather(pipe(phone_reader, up_writer), pipe(up_reader, phone_writer))


@pytest.fixture
async def cable_sim(tmp_path: Path) -> AsyncIterator[tuple[Simulator, Provider, Cable, dict[str, Any]]]:
    async with Simulator(tmp_path / "apns", SimConfig(courier_idle_timeout=0.5)) as sim:
        cable = Cable(sim.endpoints["gateway"])
        via_cable = dict(sim.endpoints, gateway=await cable.start())
        try:
            yield sim, provider_for(sim, tmp_path / "keys"), cable, via_cable
        finally:
            await cable.close()


async def test_a_silent_phone_is_dropped_and_nothing_sent_meanwhile_is_lost(
        cable_sim: tuple[Simulator, Provider, Cable, dict[str, Any]]) -> None:
    """docs/device-side.md §1.9 and §6 rules 12, 15; docs/apns-protocol.md §11: a phone that stops answering keep-alive
    is dropped; the push written into the dead connection (never acked) and the push sent after the drop are
    both stored, and both arrive when the phone is back."""
    sim, provider, cable, via_cable = cable_sim
    async with Phone.open(via_cable, keepalive_interval=0.1) as phone:
        app, other = phone.install_app(APP, types=("alert",)), phone.install_app(OTHER, types=("alert",))
        token, other_token = await app.register(timeout=10), await other.register(timeout=10)
        first = await provider.send(token, text="before")
        assert (await app.next_notification(timeout=10)).apns_id.lower() == first.lower()

        cable.cut()  # no FIN, no RST: keep-alives and acks just stop arriving
        into_the_void = await provider.send(token, text="lost in the air?")
        await wait_for(lambda: not online(sim, phone), timeout=5)  # dropped after 0.5 s without a keep-alive
        assert stages(sim, into_the_void) == [journeys.ACCEPTED, journeys.DELIVERED, journeys.STORED]
        after_drop = await provider.send(other_token, topic=OTHER, text="while dropped")
        assert stages(sim, after_drop) == [journeys.ACCEPTED, journeys.STORED]
        assert sim.state is not None and sim.state.registry.count_stored() == 2

        await phone.go_offline()  # the phone notices its dead connection and dials again
        await phone.go_online(timeout=10)
        again = await app.next_notification(timeout=10)
        later = await other.next_notification(timeout=10)
        assert again.apns_id.lower() == into_the_void.lower() and again.from_storage
        assert later.apns_id.lower() == after_drop.lower() and later.from_storage
        for apns_id in (into_the_void, after_drop):
            await wait_for(lambda a=apns_id: stages(sim, a)[-1] == journeys.PRESENTED)  # type: ignore[misc]
        assert sim.state.registry.count_stored() == 0


async def test_restart_on_the_same_data_dir_loses_nothing(tmp_path: Path) -> None:
    """docs/architecture.md contract 1, docs/apns-protocol.md §11, docs/device-side.md §6 rule 15: a push stored for
    an offline
    phone survives a simulator restart; the phone reconnects to the new ports and gets it; its token still
    works; the journey, kept with the stored push, is still readable (from "accepted" on)."""
    data_dir, phone_dir, keys = tmp_path / "apns", tmp_path / "phone", tmp_path / "keys"
    async with Simulator(data_dir) as sim:
        provider = provider_for(sim, keys)
        old_endpoints = sim.endpoints
        async with Phone.open(sim.endpoints, state_dir=phone_dir) as phone:
            app = phone.install_app(APP, types=("alert",))
            token = await app.register(timeout=10)
            await phone.go_offline()
            await wait_for(lambda: not online(sim, phone))
            stored = await provider.send(token, text="kept across a restart")
            assert stages(sim, stored) == [journeys.ACCEPTED, journeys.STORED]

    async with Simulator(data_dir) as sim:
        endpoints = json.loads(sim.endpoints_file.read_text())
        assert endpoints == sim.endpoints and endpoints["ca_file"] == old_endpoints["ca_file"]
        provider = provider_for(sim, keys, first_run=False)
        async with Phone.open(sim.endpoints_file, state_dir=phone_dir) as phone:
            app = phone.app(APP)
            received = await app.next_notification(timeout=10)
            assert received.apns_id.lower() == stored.lower() and received.from_storage
            assert received.payload == {"aps": {"alert": "kept across a restart"}}
            await wait_for(lambda: stages(sim, stored)[-1] == journeys.PRESENTED)
            assert stages(sim, stored)[:4] == [journeys.ACCEPTED, journeys.STORED, RESTORED, journeys.DELIVERED]

            assert await app.register(timeout=10) == token  # the same token after the restart (§3)
            fresh = await provider.send(token, text="after the restart")
            assert (await app.next_notification(timeout=10)).apns_id.lower() == fresh.lower()
        assert sim.state is not None and sim.state.registry.count_stored() == 0


async def test_priority_5_and_1_wait_for_the_burst_the_clock_releases(tmp_path: Path) -> None:
    """docs/apns-protocol.md §2.1 and §11, docs/device-side.md §6 rule 22: with batching on, priority 5 waits for its
    window (moved past here with POST /_sim/clock), priority 1 rides along, priority 10 goes at once and takes
    whatever waits with it."""
    # The clock moves 30 min in all: provider tokens (JWT, signed on real time) stay under their 1 h limit.
    config = SimConfig(delivery=DeliveryConfig(batch_interval=600))
    async with Simulator(tmp_path / "apns", config) as sim:
        provider = provider_for(sim, tmp_path / "keys")
        async with Phone.open(sim.endpoints) as phone, aiohttp.ClientSession() as http:
            app = phone.install_app(APP, types=("alert",))
            token = await app.register(timeout=10)
            power_aware = await provider.send(token, text="p5", priority=5)
            opportunistic = await provider.send(token, text="p1", priority=1)
            assert stages(sim, power_aware) == stages(sim, opportunistic) == [journeys.ACCEPTED, BATCHED]
            with pytest.raises(TimeoutError):
                await app.next_notification(timeout=0.3)
            async with http.post(sim.endpoints["admin"] + "/_sim/clock", json={"advance": 600}) as response:
                assert response.status == 200
            got = [await app.next_notification(timeout=10) for _ in range(2)]
            assert [n.apns_id.lower() for n in got] == [power_aware.lower(), opportunistic.lower()]
            assert stages(sim, power_aware)[:3] == [journeys.ACCEPTED, BATCHED, journeys.DELIVERED]

            alone = await provider.send(token, text="p1 alone", priority=1)
            async with http.post(sim.endpoints["admin"] + "/_sim/clock", json={"advance": 1200}) as response:
                assert response.status == 200
            with pytest.raises(TimeoutError):  # no window of its own: time alone never sends a priority 1
                await app.next_notification(timeout=0.3)
            urgent = await provider.send(token, text="p10")
            got = [await app.next_notification(timeout=10) for _ in range(2)]
            assert [n.apns_id.lower() for n in got] == [alone.lower(), urgent.lower()]
            assert stages(sim, urgent)[:2] == [journeys.ACCEPTED, journeys.DELIVERED]


async def test_a_batch_also_leaves_when_real_time_reaches_its_window(tmp_path: Path) -> None:
    """docs/apns-protocol.md §11: bursts run on the simulator's clock, which runs in real time unless frozen."""
    config = SimConfig(delivery=DeliveryConfig(batch_interval=0.3))
    async with Simulator(tmp_path / "apns", config) as sim:
        provider = provider_for(sim, tmp_path / "keys")
        async with Phone.open(sim.endpoints) as phone:
            app = phone.install_app(APP, types=("alert",))
            token = await app.register(timeout=10)
            held = await provider.send(token, text="p5", priority=5)
            assert stages(sim, held) == [journeys.ACCEPTED, BATCHED]
            assert (await app.next_notification(timeout=10)).apns_id.lower() == held.lower()


async def test_a_phone_that_drops_while_a_batch_waits_gets_it_from_storage(tmp_path: Path) -> None:
    """docs/apns-protocol.md §11: held notifications are never lost; the phone's reconnect delivers them."""
    config = SimConfig(delivery=DeliveryConfig(batch_interval=1200))
    async with Simulator(tmp_path / "apns", config) as sim:
        provider = provider_for(sim, tmp_path / "keys")
        async with Phone.open(sim.endpoints) as phone:
            app = phone.install_app(APP, types=("alert",))
            token = await app.register(timeout=10)
            held = await provider.send(token, text="p5", priority=5)
            await phone.go_offline()
            await wait_for(lambda: stages(sim, held)[-1] == journeys.STORED)
            await phone.go_online(timeout=10)
            received = await app.next_notification(timeout=10)
            assert received.apns_id.lower() == held.lower() and received.from_storage


# -- activation over HTTP ----------------------------------------------------------------------------------------


async def test_activation_refuses_malformed_requests_with_a_clear_4xx(tmp_path: Path) -> None:
    """docs/device-side.md §1.5: activation takes the phone's CSR and answers its device certificate, bound to the
    phone's key; anything else gets a 4xx with {"error": ...} saying what to fix."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    device_id = "6F1C3C2E-2D8B-4B0B-9C57-0F3E2A1B4C5D"
    csr = make_csr(key, device_id).decode()
    ec_csr = (x509.CertificateSigningRequestBuilder()
              .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, device_id)]))
              .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256()))
    async with Simulator(tmp_path / "apns") as sim, aiohttp.ClientSession() as http:
        url = sim.endpoints["admin"] + "/deviceservices/deviceActivation"
        cases: list[tuple[dict[str, Any], int, str]] = [
            ({"data": json.dumps({"csr": csr}), "headers": {"Content-Type": "text/plain"}}, 415, "application/json"),
            ({"data": f"csr={csr}", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 400, "JSON"),
            ({"json": [csr]}, 400, "JSON object"),
            ({"json": {"name": "x"}}, 400, '"csr"'),
            ({"json": {"csr": ""}}, 400, '"csr"'),
            ({"json": {"csr": csr, "name": 7}}, 400, '"name"'),
            ({"json": {"csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"}}, 400, "not a certificate signing"),
            ({"json": {"csr": ec_csr.public_bytes(serialization.Encoding.PEM).decode()}}, 400, "RSA"),
        ]
        for kwargs, status, match in cases:
            async with http.post(url, **kwargs) as response:
                answer = await response.json()
                assert (response.status, match in answer["error"]) == (status, True), (kwargs, answer)
        async with http.get(url) as response:
            assert response.status == 405
        assert sim.state is not None and sim.state.registry.list_devices() == []

        async with http.post(url, json={"csr": csr, "name": "Bench iPhone"}) as response:
            assert response.status == 200
            answer = await response.json()
        cert = x509.load_pem_x509_certificate(answer["device_certificate"].encode())
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        assert cert.public_key().public_bytes(serialization.Encoding.DER, spki) == key.public_key().public_bytes(
            serialization.Encoding.DER, spki)
        assert answer["device_id"] == device_id and sim.state.registry.get_device(device_id) is not None
