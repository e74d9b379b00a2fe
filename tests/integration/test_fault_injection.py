"""Fault injection as real clients see it, over real TLS and HTTP/2 against a running ``Simulator``.

Our provider client (``provider.apns.APNsClient``) and aioapns 4.0 meet every provider-side kind; a simulated
iPhone meets the phone-side kinds. Rules go in through ``/_sim/faults`` (``apns_sim.admin.faults_api``) on a small
aiohttp app of the test's own; the journey (``state.journeys``) and the rule's hit count are read back.
Certificates come from the simulator's portal; verification is never turned off (STYLE habit 7).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aioapns import APNs, NotificationRequest
from aioapns.connection import APNsDevelopmentClientProtocol
from aiohttp import web
from cryptography import x509

from apns_sim import pki
from apns_sim.admin.faults_api import fault_routes
from apns_sim.admin.readers import wait_for_journey
from apns_sim.model.journeys import Journey
from apns_sim.portal.service import Portal
from apns_sim.simulator import Simulator
from device_sim import Phone
from provider.apns import APNsClient, Notification, RequestTimeout, TransportError, load_cer_and_p12

BUNDLE = "com.example.faults"
TEAM = "TEAM123456"
PASSWORD = "secret"


@dataclass
class World:
    sim: Simulator
    token: str
    cer: Path
    p12: Path
    both_pem: Path  # certificate + key (what aioapns loads)
    faults_url: str

    @property
    def state(self) -> Any:
        assert self.sim.state is not None
        return self.sim.state

    def client(self, **options: Any) -> APNsClient:
        options.setdefault("backoff", 0.01)
        return APNsClient(load_cer_and_p12(self.cer, self.p12, PASSWORD), environment="sandbox",
                          endpoint=self.sim.endpoints["sandbox"], ca_file=self.sim.endpoints["ca_file"], **options)

    def note(self, token: str | None = None, **fields: Any) -> Notification:
        return Notification(token=token or self.token, topic=BUNDLE, payload={"aps": {"alert": "hi"}}, **fields)

    async def add(self, body: Any) -> list[str]:
        status, answer = await http("POST", self.faults_url, body)
        assert status == 201, answer
        return list(answer["ids"])

    async def fault(self, fault_id: str) -> dict[str, Any]:
        _, answer = await http("GET", self.faults_url)
        return next(f for f in answer["faults"] if f["id"] == fault_id)

    def stages(self, apns_id: str) -> list[str]:
        journey = self.state.journeys.get(apns_id)
        assert journey is not None, f"no journey for {apns_id}"
        return [s["stage"] for s in journey.stages]

    async def reach(self, apns_id: str, stage: str, timeout: float = 10.0) -> Journey:
        """The journey once it has ``stage`` (woken by the log, not a polling loop)."""
        journey = await wait_for_journey(self.state.journeys, apns_id=apns_id, stages=[stage], timeout=timeout)
        assert journey is not None, f"{apns_id} never reached {stage}: {self.state.journeys.get(apns_id)}"
        return journey


async def settle() -> None:
    """Let a phone that just reconnected finish its connect step before the test closes it.

    device_sim's courier client wraps its handshake in ``asyncio.wait_for``; on Python 3.11 a cancel that
    arrives after the handshake finished but before the task resumed is swallowed, and ``Phone.close()``
    then waits forever (a device_sim bug, reported; ``asyncio.timeout`` does not have it).
    """
    await asyncio.sleep(0.05)


async def http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(method, url, json=body) as response:
        return response.status, await response.json()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with Simulator(tmp_path / "sim") as sim:
        assert sim.state is not None
        state = sim.state
        portal = Portal(state.registry, state.authority, state.clock.now)
        portal.create_app_id(BUNDLE, TEAM)
        request = portal.make_csr("dev@example.com", "Push Demo", PASSWORD)
        issued = portal.issue_certificate(BUNDLE, request.csr_pem, "sandbox")
        cer, p12, both = tmp_path / "push.cer", tmp_path / "Push.p12", tmp_path / "both.pem"
        cer.write_bytes(issued.der)
        p12.write_bytes(request.p12)
        key, _ = pki.load_p12(request.p12, PASSWORD)
        pki.write_private(both, pki.cert_to_pem(x509.load_der_x509_certificate(issued.der)) + pki.key_to_pem(key))
        now = state.clock.now()
        state.registry.activate_device("dev-faults", "iPhone", now)
        token = state.registry.app_token("dev-faults", BUNDLE, "sandbox", now).token
        app = web.Application()
        app.add_routes(fault_routes(state))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            yield World(sim, token, cer, p12, both, f"http://127.0.0.1:{runner.addresses[0][1]}/_sim/faults")
        finally:
            await runner.cleanup()


# -- the API ------------------------------------------------------------------------------------------------


async def test_the_faults_api(world: World) -> None:
    status, answer = await http("POST", world.faults_url, {"kind": "reason", "reason": "Nope"})
    assert status == 400 and "one of Apple's reasons" in answer["error"]
    status, answer = await http("POST", world.faults_url, [{"kind": "hang"}, {"kind": "delay"}])
    assert status == 400 and answer["error"].startswith("faults[1]: kind 'delay' needs 'seconds'")
    async with aiohttp.ClientSession() as session, session.post(world.faults_url, data=b"{oops") as response:
        assert response.status == 400 and "must be JSON" in (await response.json())["error"]
    ids = await world.add([{"kind": "hang", "token": world.token}, {"kind": "drop_acks", "count": 2}])
    assert ids == ["f1", "f2"]
    status, answer = await http("POST", world.faults_url, {"seed": 77})
    assert (status, answer) == (201, {"ids": [], "seed": 77})
    status, listing = await http("GET", world.faults_url)
    assert status == 200 and listing["seed"] == 77
    assert [(f["id"], f["kind"], f["hits"], f["retired"]) for f in listing["faults"]] == [
        ("f1", "hang", 0, False), ("f2", "drop_acks", 0, False)]
    assert await http("DELETE", f"{world.faults_url}/f1") == (200, {"removed": "f1"})
    status, answer = await http("DELETE", f"{world.faults_url}/f1")
    assert status == 404 and "f2" in answer["error"]
    assert await http("DELETE", world.faults_url) == (200, {"cleared": 1})
    assert not world.state.faults.phone_armed and not world.state.faults.provider_armed


# -- our provider client -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rule", "status", "reason"), [
    ({"reason": "ServiceUnavailable", "count": 2}, 503, "ServiceUnavailable"),
    ({"reason": "TooManyRequests", "count": 2}, 429, "TooManyRequests"),
    ({"status": 500, "count": 2}, 500, "InternalServerError"),
    ({"reason": "Shutdown", "status": 500, "count": 2}, 500, "Shutdown"),
])
async def test_retryable_reasons_are_retried_with_the_same_apns_id(
        world: World, rule: dict[str, Any], status: int, reason: str) -> None:
    (fault_id,) = await world.add({"kind": "reason", "token": world.token, **rule})
    note = world.note(apns_id=str(uuid.uuid4()))
    async with world.client(max_attempts=1) as client:
        seen = await client.send(note)  # what the wire says, with no retry
    assert (seen.status, seen.reason, seen.apns_id) == (status, reason, note.apns_id)
    async with world.client(max_attempts=3) as client:
        result = await client.send(note)  # the same apns-id: one more fault, then the count is spent
    assert result.status == 200 and result.apns_id == note.apns_id and note.apns_id is not None
    journey = world.state.journeys.get(note.apns_id)
    assert journey is not None and journey.status == 200
    rejected = [s for s in journey.stages if s["stage"] == "rejected"]
    assert [(s["reason"], s["status"], s["fault"]) for s in rejected] == [(reason, status, fault_id)] * 2
    assert world.stages(note.apns_id)[2] == "accepted"  # one apns-id, one journey: two faults, then accepted
    fault = await world.fault(fault_id)
    assert (fault["hits"], fault["retired"]) == (2, True)


async def test_a_final_reason_is_not_retried(world: World) -> None:
    (fault_id,) = await world.add({"kind": "reason", "reason": "BadDeviceToken", "count": 5})
    async with world.client(max_attempts=3) as client:
        result = await client.send(world.note())
        gone = await client.send(world.note(token="ef" * 32))  # any token: the rule has no token filter
    assert (result.status, result.reason) == (400, "BadDeviceToken")
    assert (gone.status, gone.reason) == (400, "BadDeviceToken")
    assert (await world.fault(fault_id))["hits"] == 2  # one request each: no retry


async def test_unregistered_carries_its_timestamp(world: World) -> None:
    await world.add({"kind": "reason", "reason": "Unregistered", "timestamp": 1_700_000_000_000})
    async with world.client() as client:
        result = await client.send(world.note())
    assert (result.status, result.reason, result.timestamp) == (410, "Unregistered", 1_700_000_000_000)


async def test_goaway_mid_batch_resends_on_a_new_connection(world: World) -> None:
    async with world.client(max_attempts=4) as client:
        assert (await client.send(world.note())).accepted  # the connection is up
        (first,) = client.pool.connections
        (fault_id,) = await world.add({"kind": "goaway", "reason": "Shutdown", "after": 4, "count": 1})
        notes = [world.note(apns_id=str(uuid.uuid4())) for _ in range(12)]
        results = await client.send_many(notes, concurrency=12)
        (second,) = client.pool.connections
    assert all(not isinstance(r, TransportError) and r.status == 200 for r in results), results
    assert first is not second and first.goaway_reason == "Shutdown"
    faulted = [n.apns_id for n in notes if n.apns_id and "fault" in world.stages(n.apns_id)]
    assert len(faulted) == 1
    journey = world.state.journeys.get(faulted[0])
    assert journey is not None and journey.stages[0]["fault"] == fault_id and journey.status == 200
    assert world.stages(faulted[0])[:2] == ["fault", "accepted"]
    for n in notes:
        final = world.state.journeys.get(str(n.apns_id))
        assert final is not None and final.status == 200 and "accepted" in world.stages(str(n.apns_id))


async def test_lowered_max_streams_is_honoured(world: World) -> None:
    (fault_id,) = await world.add({"kind": "max_streams", "streams": 2, "count": 1})
    async with world.client() as client:
        first = await client.send(world.note())
        (conn,) = client.pool.connections
        assert first.accepted and conn.max_streams == 2 and conn.max_streams_seen == 1
        results = await client.send_many([world.note() for _ in range(16)], concurrency=16)
        assert client.pool.connections == (conn,)
    assert all(not isinstance(r, TransportError) and r.accepted for r in results)
    assert conn.max_streams_seen == 2  # 16 at once, but never more than the server allowed
    assert first.apns_id is not None and world.stages(first.apns_id)[:2] == ["accepted", "stored"]
    assert "fault" in world.stages(first.apns_id) and (await world.fault(fault_id))["hits"] == 1


async def test_hang_meets_the_clients_timeout(world: World) -> None:
    await world.add({"kind": "hang", "count": 2})
    note = world.note(apns_id=str(uuid.uuid4()))
    async with world.client(request_timeout=0.5, max_attempts=1) as client:
        with pytest.raises(RequestTimeout):
            await client.send(note)
    assert world.stages(str(note.apns_id)) == ["fault"]
    async with world.client(request_timeout=0.5, max_attempts=2) as client:
        started = time.monotonic()
        result = await client.send(note)
        assert result.accepted and time.monotonic() - started >= 0.5
    assert world.stages(str(note.apns_id))[:3] == ["fault", "fault", "accepted"]


async def test_delay_holds_the_answer(world: World) -> None:
    await world.add({"kind": "delay", "seconds": 0.6, "count": 1})
    async with world.client() as client:
        started = time.monotonic()
        result = await client.send(world.note())
        assert result.accepted and time.monotonic() - started >= 0.6
    assert result.apns_id is not None and world.stages(result.apns_id)[-1] == "fault"


async def test_close_is_retried_on_a_new_connection(world: World) -> None:
    (fault_id,) = await world.add({"kind": "close", "count": 1})
    async with world.client(max_attempts=2) as client:
        result = await client.send(world.note())
    assert result.accepted and result.apns_id is not None
    assert world.stages(result.apns_id)[:2] == ["fault", "accepted"]
    assert (await world.fault(fault_id))["hits"] == 1


async def test_rst_stream(world: World) -> None:
    await world.add({"kind": "rst_stream", "error_code": "REFUSED_STREAM", "count": 1})
    async with world.client(max_attempts=2) as client:
        result = await client.send(world.note())  # refused unprocessed: resent at once
        assert result.accepted
        await world.add({"kind": "rst_stream", "count": 1})  # INTERNAL_ERROR: not safe to resend
        with pytest.raises(TransportError, match="reset the stream"):
            await client.send(world.note())


# -- aioapns -------------------------------------------------------------------------------------------------


def _aioapns(world: World) -> APNs:
    """aioapns aimed at the simulator: only host, port and trust differ from Apple (docs/architecture.md)."""
    import ssl

    port = int(world.sim.endpoints["sandbox"].rsplit(":", 1)[1])

    class Local(APNsDevelopmentClientProtocol):
        APNS_SERVER = "127.0.0.1"
        APNS_PORT = port

    client = APNs(client_cert=str(world.both_pem), topic=BUNDLE, use_sandbox=True,
                  ssl_context=ssl.create_default_context(cafile=world.sim.endpoints["ca_file"]))
    client.pool.protocol_class = Local
    return client


async def test_aioapns_sees_reasons(world: World) -> None:
    await world.add([{"kind": "reason", "reason": "ServiceUnavailable", "count": 1},
                     {"kind": "reason", "reason": "Unregistered", "timestamp": 1_600_000_000_000, "count": 1}])
    client = _aioapns(world)
    try:
        first = NotificationRequest(device_token=world.token, message={"aps": {"alert": "hi"}})
        result = await asyncio.wait_for(client.send_notification(first), 20)
        assert (result.status, result.description) == ("503", "ServiceUnavailable")
        result = await asyncio.wait_for(client.send_notification(
            NotificationRequest(device_token=world.token, message={"aps": {"alert": "hi"}})), 20)
        assert (result.status, result.description, result.timestamp) == ("410", "Unregistered", 1_600_000_000_000)
        result = await asyncio.wait_for(client.send_notification(
            NotificationRequest(device_token=world.token, message={"aps": {"alert": "hi"}})), 20)
        assert result.is_successful
    finally:
        client.pool.close()
    journey = world.state.journeys.get(first.notification_id)
    assert journey is not None and (journey.status, journey.reason) == (503, "ServiceUnavailable")


async def test_aioapns_resends_after_goaway(world: World) -> None:
    (fault_id,) = await world.add({"kind": "goaway", "count": 1})
    client = _aioapns(world)
    try:
        request = NotificationRequest(device_token=world.token, message={"aps": {"alert": "hi"}})
        result = await asyncio.wait_for(client.send_notification(request), 20)
    finally:
        client.pool.close()
    assert result.is_successful
    assert world.stages(request.notification_id)[:2] == ["fault", "accepted"]
    assert (await world.fault(fault_id))["hits"] == 1


# -- the phone side ------------------------------------------------------------------------------------------


async def test_phone_offline_stores_until_the_fault_expires(world: World, tmp_path: Path) -> None:
    async with Phone.open(world.sim.endpoints, state_dir=tmp_path / "phone") as phone:
        app = phone.install_app(BUNDLE)
        token = await app.register()
        delivery = world.state.delivery
        assert delivery.is_online(phone.device_id, "sandbox")
        (fault_id,) = await world.add({"kind": "phone_offline", "token": token, "duration": 60})
        assert not delivery.is_online(phone.device_id, "sandbox")  # dropped as the rule arrived
        async with world.client() as client:
            result = await client.send(world.note(token=token))
        assert result.accepted and result.apns_id is not None
        assert world.stages(result.apns_id) == ["accepted", "stored"]
        await asyncio.sleep(1.5)  # the phone's first reconnect (after ~1 s) is turned away
        assert not phone.is_connected("sandbox") and (await world.fault(fault_id))["hits"] >= 2
        world.state.clock.advance(61)  # the simulator's clock, not a sleep: the rule expires
        received = await app.next_notification(timeout=10)
        assert received.apns_id.lower() == result.apns_id.lower()
        journey = await world.reach(result.apns_id, "acknowledged")
        delivered = next(s for s in journey.stages if s["stage"] == "delivered")
        assert delivered["from_storage"] is True
        assert (await world.fault(fault_id))["retired"] is True
        await settle()


async def test_phone_offline_until_cleared(world: World, tmp_path: Path) -> None:
    async with Phone.open(world.sim.endpoints, state_dir=tmp_path / "phone") as phone:
        app = phone.install_app(BUNDLE)
        token = await app.register()
        (fault_id,) = await world.add({"kind": "phone_offline", "device_id": phone.device_id})
        async with world.client() as client:
            result = await client.send(world.note(token=token))
        assert result.apns_id is not None and world.stages(result.apns_id) == ["accepted", "stored"]
        assert await http("DELETE", f"{world.faults_url}/{fault_id}") == (200, {"removed": fault_id})
        received = await app.next_notification(timeout=10)
        assert received.apns_id.lower() == result.apns_id.lower()
        await world.reach(result.apns_id, "acknowledged")
        await settle()


async def test_drop_acks_keeps_the_notification_in_flight(world: World, tmp_path: Path) -> None:
    async with Phone.open(world.sim.endpoints, state_dir=tmp_path / "phone") as phone:
        app = phone.install_app(BUNDLE)
        token = await app.register()
        (fault_id,) = await world.add({"kind": "drop_acks", "token": token, "count": 1})
        async with world.client() as client:
            result = await client.send(world.note(token=token))
        apns_id = result.apns_id
        assert apns_id is not None
        await app.next_notification(timeout=10)  # the phone got it and acked it...
        journey = await world.reach(apns_id, "fault")
        (dropped,) = [s for s in journey.stages if s["stage"] == "fault"]
        assert (dropped["fault"], dropped["kind"]) == (fault_id, "drop_acks")
        stages = world.stages(apns_id)
        assert "delivered" in stages and "acknowledged" not in stages  # ...but APNs never heard the ack
        await phone.go_offline()  # the connection drops: what was in flight is stored again
        await world.reach(apns_id, "stored")
        assert world.stages(apns_id).index("stored") > world.stages(apns_id).index("fault")
        await phone.go_online()
        await world.reach(apns_id, "acknowledged")  # redelivered from storage; the rule is spent
        redelivered = [s for s in (world.state.journeys.get(apns_id) or journey).stages if s["stage"] == "delivered"]
        assert [s["from_storage"] for s in redelivered] == [False, True]
        await settle()
