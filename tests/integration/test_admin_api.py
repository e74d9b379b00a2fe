"""The admin API over real HTTP on 127.0.0.1 (docs/architecture.md contract 5): clock, read-back, events, export, reset.

A whole simulator runs per test (``pushsim.RunningSimulator``); pushes come from the real provider client
(``provider.apns.APNsClient``) over TLS with the simulator's CA, and phones are ``device_sim`` iPhones. The
clock tests cross the one-hour provider-token limit and an ``apns-expiration`` without sleeping (STYLE
habit 3).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from apns_sim.admin.apns_file import ApnsFileError, build_apns_file, target_bundle
from apns_sim.admin.readers import OVERFLOW_FRAME, Readers, StageStream
from apns_sim.model.journeys import Journey, JourneyLog
from apns_sim.push.reasons import Reason
from device_sim import App, Phone
from provider.apns import APNsClient, Notification, Result, alert, load_p8, load_pem_pair
from pushsim import IPhoneFactory, RunningSimulator

BUNDLE = "com.example.admin"
JOURNEY = ["accepted", "delivered", "acknowledged", "handed_to_app", "presented"]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


@pytest.fixture
async def phone_app(iphones: IPhoneFactory) -> tuple[Phone, App, str]:
    phone = await iphones(name="Admin iPhone")
    app = phone.install_app(BUNDLE)
    return phone, app, await app.register(timeout=5)


@pytest.fixture
async def cert_client(sim: RunningSimulator) -> AsyncIterator[APNsClient]:
    bundle = sim.issue_certificate(BUNDLE)
    credentials = load_pem_pair(bundle.cert_pem, bundle.key_pem)
    async with APNsClient(credentials, endpoint=sim.sandbox_url, ca_file=sim.ca_file) as client:
        yield client


async def clock(http: aiohttp.ClientSession, sim: RunningSimulator, body: Any = None) -> tuple[int, Any]:
    url = f"{sim.admin_url}/_sim/clock"
    request = http.get(url) if body is None else http.post(url, json=body)
    async with request as response:
        return response.status, await response.json()


async def push(client: APNsClient, token: str, **kw: Any) -> Result:
    kw.setdefault("payload", alert("Hello", title="Admin"))
    return await client.send(Notification(token=token, topic=kw.pop("topic", BUNDLE), **kw))


# -- the virtual clock ------------------------------------------------------------------------------------


async def test_clock_freeze_jump_advance_unfreeze_reset(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    status, body = await clock(http, sim)
    assert status == 200 and body["frozen"] is False and abs(body["now"] - time.time()) < 5
    status, body = await clock(http, sim, {"freeze": True, "at": 2_000_000_000})
    assert (status, body["now"], body["frozen"]) == (200, 2_000_000_000, True)
    assert body["iso"].startswith("2033-05-18T03:33:20")
    status, body = await clock(http, sim, {"advance": 3700})
    assert (body["now"], body["frozen"]) == (2_000_003_700, True)
    assert sim.clock.time() == 2_000_003_700  # the Python API sees the same clock
    status, body = await clock(http, sim, {"freeze": False})
    assert body["frozen"] is False and 2_000_003_700 <= body["now"] < 2_000_003_760
    status, body = await clock(http, sim, {"reset": True})
    assert body["frozen"] is False and abs(body["now"] - time.time()) < 5


@pytest.mark.parametrize(("body", "says"), [
    ({}, "nothing to do"),
    ([], "JSON object"),
    ({"bogus": 1}, "unknown key(s) bogus"),
    ({"advance": -1}, "must not be negative"),
    ({"advance": "10"}, '"advance" must be a number'),
    ({"advance": True}, '"advance" must be a number'),
    ({"freeze": "yes"}, '"freeze" must be true or false'),
    ({"at": -5}, '"at" must be a UNIX time'),
    ({"freeze": True, "advance": 1e300}, "past the year 9999"),
])
async def test_clock_refuses_bad_requests_and_changes_nothing(sim: RunningSimulator, http: aiohttp.ClientSession,
                                                               body: Any, says: str) -> None:
    status, answer = await clock(http, sim, body)
    assert status == 400 and says in answer["error"]
    assert sim.clock.frozen is False and abs(sim.clock.time() - time.time()) < 5


async def test_clock_refuses_a_body_that_is_not_json(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{sim.admin_url}/_sim/clock", data=b"advance=10",
                         headers={"Content-Type": "application/json"}) as response:
        assert response.status == 400 and "must be JSON" in (await response.json())["error"]
    async with http.post(f"{sim.admin_url}/_sim/clock", data=b"advance=10") as response:  # docs/admin-api.md §1.4
        assert response.status == 415 and "Content-Type: application/json" in (await response.json())["error"]


async def test_provider_token_crosses_the_one_hour_limit_without_sleeping(
        sim: RunningSimulator, http: aiohttp.ClientSession, phone_app: tuple[Phone, App, str]) -> None:
    """§5: a token older than an hour is refused; a client on the simulator's clock re-signs in time."""
    _, _, token = phone_app
    sim.create_app_id(BUNDLE)  # token auth may push to the team's App IDs
    key = sim.create_auth_key()
    credentials = load_p8(key.p8_path, key.key_id, key.team_id)
    endpoint: dict[str, Any] = {"endpoint": sim.sandbox_url, "ca_file": sim.ca_file}
    async with APNsClient(credentials, max_attempts=1, **endpoint) as wall_clock, \
            APNsClient(credentials, max_attempts=3, **endpoint) as retrying, \
            APNsClient(credentials, clock=sim.clock.time, **endpoint) as sim_clock:
        for client in (wall_clock, retrying, sim_clock):
            assert (await push(client, token)).status == 200
        await clock(http, sim, {"freeze": True})
        await clock(http, sim, {"advance": 1800})
        assert (await push(wall_clock, token)).status == 200  # half an hour: the same token still works

        status, body = await clock(http, sim, {"advance": 1900})
        assert status == 200 and body["frozen"] is True
        expired = await push(wall_clock, token)
        assert (expired.status, expired.reason) == (403, "ExpiredProviderToken")
        [logged] = sim.notifications(apns_id=expired.apns_id)
        assert logged["status"] == 403 and [s["stage"] for s in logged["journey"]] == ["rejected"]

        # A client whose clock disagrees with APNs re-signs after the 403, but its fresh token is, by the
        # simulator's clock, still 3700 s old: every attempt is refused (what clock skew does with Apple).
        skewed = await push(retrying, token)
        assert (skewed.status, skewed.reason) == (403, "ExpiredProviderToken")

        # A client that reads the simulator's clock renewed its token after 50 minutes, so it never expires.
        assert (await push(sim_clock, token)).status == 200


@pytest.mark.parametrize(("advance", "fate"), [(30, "delivered"), (120, "expired")])
async def test_expiration_crossed_by_advancing_the_clock(
        sim: RunningSimulator, http: aiohttp.ClientSession, phone_app: tuple[Phone, App, str],
        cert_client: APNsClient, advance: int, fate: str) -> None:
    """§11: a notification stored for an offline phone is dropped once its apns-expiration has passed."""
    phone, app, token = phone_app
    await phone.go_offline()
    for _ in range(500):  # the gateway notices the closed connection a moment later
        if not sim.state.delivery.is_online(phone.device_id, "sandbox"):
            break
        await asyncio.sleep(0.01)
    assert not sim.state.delivery.is_online(phone.device_id, "sandbox")
    await clock(http, sim, {"freeze": True})
    result = await push(cert_client, token, expiration=int(sim.clock.time()) + 60)
    assert result.status == 200 and sim.stages(result.apns_id or "") == ["accepted", "stored"]

    await clock(http, sim, {"advance": advance})
    await phone.go_online(timeout=5)
    journey = await sim.wait_for_notification(apns_id=result.apns_id, stage=fate, timeout=5)
    stages = [s["stage"] for s in journey["journey"]]
    if fate == "expired":
        assert stages == ["accepted", "stored", "expired"]
        with pytest.raises(TimeoutError):
            await app.next_notification(timeout=0.3)
    else:
        received = await app.next_notification(timeout=5)
        assert received.apns_id == (result.apns_id or "").lower() and received.from_storage
        assert "expired" not in stages


# -- read-back: log, long-poll, events --------------------------------------------------------------------


async def test_long_poll_answers_when_the_stage_is_reached(
        sim: RunningSimulator, http: aiohttp.ClientSession, phone_app: tuple[Phone, App, str],
        cert_client: APNsClient) -> None:
    _, _, token = phone_app
    url = f"{sim.admin_url}/_sim/notifications/wait"

    async def wait(**query: str) -> tuple[int, Any]:
        async with http.get(url, params=query) as response:
            return response.status, await response.json()

    waiting = asyncio.create_task(wait(token=token.upper(), stage="presented", timeout="10"))
    await asyncio.sleep(0.1)
    assert not waiting.done()  # nothing sent yet: the request is held open
    result = await push(cert_client, token)
    status, journey = await asyncio.wait_for(waiting, 10)
    assert status == 200 and journey["apns_id"] == result.apns_id
    assert [s["stage"] for s in journey["journey"]] == JOURNEY

    status, journey = await wait(apns_id=(result.apns_id or "").lower(), stage="not_presented,presented")
    assert status == 200 and journey["token"] == token
    started = time.monotonic()
    status, body = await wait(apns_id=str(uuid.uuid4()), timeout="0.2")
    assert status == 408 and "in time" in body["error"] and time.monotonic() - started < 5
    status, body = await wait(token=token, timeout="soon")
    assert status == 400 and "timeout" in body["error"]


async def sse(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Parse a text/event-stream: yields (event, data as JSON)."""
    event, data = "message", list[str]()
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)


async def test_event_stream_sends_each_stage_of_a_push(
        sim: RunningSimulator, http: aiohttp.ClientSession, iphones: IPhoneFactory,
        phone_app: tuple[Phone, App, str], cert_client: APNsClient) -> None:
    _, _, token = phone_app
    other = await (await iphones(name="Other iPhone")).install_app(BUNDLE).register(timeout=5)
    async with http.get(f"{sim.admin_url}/_sim/events", params={"token": token}) as response:
        assert response.status == 200 and response.content_type == "text/event-stream"
        events = sse(response)
        kind, ready = await asyncio.wait_for(anext(events), 5)
        assert kind == "ready" and ready["filters"] == {"token": token}
        ignored = await push(cert_client, other)  # another phone's token: filtered out
        result = await push(cert_client, token)
        assert ignored.status == result.status == 200
        received: list[dict[str, Any]] = []
        while not received or received[-1]["stage"] != "presented":
            kind, data = await asyncio.wait_for(anext(events), 10)
            assert kind == "stage"
            received.append(data)
    assert [d["stage"] for d in received] == JOURNEY
    assert {d["apns_id"] for d in received} == {result.apns_id}
    first = received[0]
    assert first["notification"]["topic"] == BUNDLE and first["notification"]["token"] == token
    assert first["notification"]["payload"]["aps"]["alert"]["body"] == "Hello"
    assert "journey" not in first["notification"] and isinstance(first["at"], float)


async def test_event_stream_forgets_a_client_that_left(
        sim: RunningSimulator, http: aiohttp.ClientSession, cert_client: APNsClient) -> None:
    async def streams() -> int:
        async with http.get(f"{sim.admin_url}/_sim/health") as response:
            return int((await response.json())["event_streams"])

    response = await http.get(f"{sim.admin_url}/_sim/events")
    kind, _ = await asyncio.wait_for(anext(sse(response)), 5)
    assert kind == "ready" and await streams() == 1
    response.close()  # the client goes away
    for _ in range(100):
        await push(cert_client, "ab" * 32)  # a rejected push still records a stage, which the stream writes
        if await streams() == 0:
            break
        await asyncio.sleep(0.05)
    assert await streams() == 0


async def test_stopping_the_simulator_does_not_wait_for_readers(tmp_path: Path) -> None:
    """An open event stream and a pending long-poll are ended at shutdown, not after their timeouts."""
    async with aiohttp.ClientSession() as http:
        started = time.monotonic()
        async with RunningSimulator.start(tmp_path) as sim:
            stream = await http.get(f"{sim.admin_url}/_sim/events")
            assert (await asyncio.wait_for(anext(sse(stream)), 5))[0] == "ready"
            poll = asyncio.create_task(http.get(f"{sim.admin_url}/_sim/notifications/wait",
                                                params={"apns_id": str(uuid.uuid4()), "timeout": "60"}))
            await asyncio.sleep(0.2)
        answer = await asyncio.wait_for(poll, 5)
        assert answer.status == 503 and "shutting down" in (await answer.json())["error"]
        assert await asyncio.wait_for(stream.content.read(), 5) == b""  # the stream ended cleanly
        assert time.monotonic() - started < 15


# -- export, model, clear and reset -----------------------------------------------------------------------


async def test_export_as_apns_file_for_the_xcode_simulator(
        sim: RunningSimulator, http: aiohttp.ClientSession, phone_app: tuple[Phone, App, str]) -> None:
    _, app, token = phone_app
    voip_token = await app.register_voip(timeout=5)  # VoIP pushes need the PushKit token (rule 28)
    sim.create_app_id(BUNDLE)
    key = sim.create_auth_key()
    payload = {"aps": {"alert": {"title": "Order", "body": "Shipped"}, "badge": 2}, "order": "A-1"}
    async with APNsClient(load_p8(key.p8_path, key.key_id, key.team_id), endpoint=sim.sandbox_url,
                          ca_file=sim.ca_file) as client:
        result = await push(client, token, payload=payload)
        voip = await push(client, voip_token, topic=f"{BUNDLE}.voip", push_type="voip",
                          payload={"aps": {}, "caller": "Alice"})
    assert result.status == voip.status == 200
    async with http.get(f"{sim.admin_url}/_sim/notifications/{(result.apns_id or '').lower()}/apns") as response:
        assert response.status == 200 and response.content_type == "application/json"
        disposition = response.headers["Content-Disposition"]
        document = json.loads(await response.read())
    assert disposition == f'attachment; filename="{BUNDLE}-{(result.apns_id or "").lower()}.apns"'
    assert document == {"Simulator Target Bundle": BUNDLE, **payload}
    assert next(iter(document)) == "Simulator Target Bundle"
    assert json.loads(sim.export_apns(voip.apns_id or ""))["Simulator Target Bundle"] == BUNDLE  # no .voip
    async with http.get(f"{sim.admin_url}/_sim/notifications/{uuid.uuid4()}/apns") as response:
        assert response.status == 404


def test_apns_file_builder_strips_push_type_suffixes_and_refuses_what_xcode_cannot_read() -> None:
    assert target_bundle("com.example.app.voip") == "com.example.app"
    assert target_bundle("com.example.app.voip-ptt") == "com.example.app"
    assert target_bundle("com.example.app.push-type.liveactivity") == "com.example.app"
    assert target_bundle("com.example.voipapp") == "com.example.voipapp"
    assert json.loads(build_apns_file({"aps": {"badge": 1}}, "com.example.app.complication")) == {
        "Simulator Target Bundle": "com.example.app", "aps": {"badge": 1}}
    for payload, topic, says in [("not json", "com.example.app", "not a JSON object"),
                                 ({"alert": "x"}, "com.example.app", '"aps"'),
                                 ({"aps": {}}, "", "no topic")]:
        with pytest.raises(ApnsFileError, match=says):
            build_apns_file(payload, topic)


async def test_apps_lists_app_ids_certificates_and_keys_without_key_material(
        sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    bundle = sim.issue_certificate(BUNDLE)  # creates the App ID too
    key = sim.create_auth_key()
    async with http.get(f"{sim.admin_url}/_sim/apps") as response:
        text = await response.text()
        body = json.loads(text)
    assert [a["bundle_id"] for a in body["app_ids"]] == [BUNDLE]
    assert [c["serial"] for c in body["certificates"]] == [str(bundle.serial)]
    assert body["certificates"][0]["environment"] == "sandbox"
    assert [k["key_id"] for k in body["auth_keys"]] == [key.key_id]
    assert "PRIVATE KEY" not in text and "BEGIN" not in text
    assert not {"der", "p8", "public_key_pem"} & {*body["certificates"][0], *body["auth_keys"][0]}


async def test_clear_and_reset_forget_the_log_but_keep_devices_and_tokens(
        sim: RunningSimulator, http: aiohttp.ClientSession, phone_app: tuple[Phone, App, str],
        cert_client: APNsClient) -> None:
    _, _, token = phone_app
    result = await push(cert_client, token)
    await sim.wait_for_notification(apns_id=result.apns_id, stage="presented")
    async with http.delete(f"{sim.admin_url}/_sim/notifications") as response:
        assert (response.status, await response.json()) == (200, {"cleared": 1})
    assert sim.notifications() == []

    await push(cert_client, token)
    await clock(http, sim, {"freeze": True, "advance": 600})
    async with http.post(f"{sim.admin_url}/_sim/reset") as response:
        body = await response.json()
    assert body["cleared"] == 1 and body["clock"]["frozen"] is False
    assert abs(body["clock"]["now"] - time.time()) < 5
    async with http.get(f"{sim.admin_url}/_sim/notifications") as response:
        assert await response.json() == []
    async with http.get(f"{sim.admin_url}/_sim/tokens") as response:
        assert [t["token"] for t in (await response.json())["tokens"]] == [token]
    assert (await push(cert_client, token)).status == 200  # credentials and the phone still work


async def test_a_stream_that_falls_behind_is_told_and_ended() -> None:
    """The queue is bounded: past it the reader gets ``event: overflow`` and nothing more, never a gap."""
    log = JourneyLog(time.time)
    stream = StageStream(log, {"token": "aa"}, maxsize=3)
    for n in range(5):
        log.begin(Journey(apns_id=f"id-{n}", token="AA" if n != 1 else "bb", topic=BUNDLE, environment="sandbox",
                          status=200), "accepted")
    frames = [stream.queue.get_nowait() or b"" for _ in range(stream.queue.qsize())]
    assert [f[:5] for f in frames] == [b"id: 1", b"id: 2", OVERFLOW_FRAME[:5]] and frames[-1] is OVERFLOW_FRAME
    assert b'"apns_id": "id-0"' in frames[0] and b'"apns_id": "id-2"' in frames[1]  # id-1: another token
    stream.close()
    log.begin(Journey(apns_id="late", token="aa", topic=BUNDLE, environment="sandbox", status=200), "accepted")
    assert stream.queue.empty()
    readers, other = Readers(), StageStream(log, {})
    readers.streams.add(other)
    readers.close()
    assert readers.closing and other.queue.get_nowait() is None
    other.close()


async def test_certificate_issued_on_an_advanced_clock_is_accepted(tmp_path: Path) -> None:
    """Issue 7: certificate validity follows the simulator's clock, also at the TLS layer.

    A certificate issued 400 days ahead of real time is not yet valid for OpenSSL's wall clock; the provider
    API must still accept it, because the simulator's clock says it is valid.
    """
    from apns_sim.portal.service import Portal
    from apns_sim.simulator import Simulator
    from provider.apns import APNsClient, Notification
    from provider.apns.credentials import load_cer_and_p12

    async with Simulator(tmp_path / "sim") as sim:
        assert sim.state is not None
        sim.state.clock.advance(400 * 86400)
        portal = Portal(sim.state.registry, sim.state.authority, sim.state.clock.now)
        keychain = portal.make_csr("dev@example.com", "Future", "pw")
        portal.create_app_id("com.example.future", "ABCDE12345")
        issued = portal.issue_certificate("com.example.future", keychain.csr_pem, "sandbox")
        (tmp_path / "c.cer").write_bytes(issued.der)
        (tmp_path / "k.p12").write_bytes(keychain.p12)
        creds = load_cer_and_p12(tmp_path / "c.cer", tmp_path / "k.p12", "pw")
        sim.state.registry.activate_device("dev-future", "iPhone", sim.state.clock.now())
        token = sim.state.registry.app_token("dev-future", "com.example.future", "sandbox", sim.state.clock.now())
        async with APNsClient(creds, environment="sandbox", endpoint=sim.endpoints["sandbox"],
                              ca_file=sim.endpoints["ca_file"]) as client:
            result = await client.send(Notification(token=token.token, topic="com.example.future",
                                                    payload={"aps": {"alert": "hi"}}))
        assert result.status == 200, result


# -- the dashboard's endpoints: console, phones, portal, reasons, assets ----------------------------------


async def console(http: aiohttp.ClientSession, sim: RunningSimulator, body: Any) -> tuple[int, Any]:
    async with http.post(f"{sim.admin_url}/_sim/console/push", json=body) as response:
        return response.status, await response.json()


async def test_console_push_goes_through_apples_rules_and_reaches_the_phone(
        sim: RunningSimulator, http: aiohttp.ClientSession, phone_app: tuple[Phone, App, str]) -> None:
    """§2-§4: the console's push is validated as a provider's and delivered; no provider credential needed."""
    _, app, token = phone_app
    payload = {"aps": {"alert": {"title": "Console", "body": "Hi"}, "badge": 2}}
    status, answer = await console(http, sim, {"environment": "sandbox", "device_token": token.upper(),
                                                "topic": BUNDLE, "push_type": "alert", "priority": 10,
                                                "collapse_id": "c-1", "payload": payload})
    assert status == 200 and answer["status"] == 200 and answer["reason"] is None
    received = await app.next_notification(timeout=5)
    assert received.apns_id == answer["apns_id"] and received.payload == payload
    journey = await sim.wait_for_notification(apns_id=answer["apns_id"], stage="presented", timeout=5)
    assert [s["stage"] for s in journey["journey"]] == JOURNEY
    assert journey["journey"][0]["source"] == "console" and journey["priority"] == 10


async def test_console_push_types_use_their_topic_suffix(
        sim: RunningSimulator, http: aiohttp.ClientSession, phone_app: tuple[Phone, App, str]) -> None:
    """§2.2: a VoIP push goes to ``<bundle>.voip`` and is accepted; the account may push every push type."""
    _, app, _ = phone_app
    token = await app.register_voip(timeout=5)  # VoIP pushes need the PushKit token (rule 28)
    status, answer = await console(http, sim, {"device_token": token, "topic": f"{BUNDLE}.voip", "push_type": "voip",
                                                "payload": {"aps": {}, "caller": "Alice"}})
    assert (status, answer["status"]) == (200, 200)
    journey = await sim.wait_for_notification(apns_id=answer["apns_id"], stage="delivered", timeout=5)
    assert (journey["topic"], journey["push_type"]) == (f"{BUNDLE}.voip", "voip")


@pytest.mark.parametrize(("change", "status", "reason"), [
    ({"payload": None}, 400, "PayloadEmpty"),
    ({"payload": {"aps": {"alert": "x" * 4100}}}, 413, "PayloadTooLarge"),
    ({"topic": "com.example.other"}, 400, "DeviceTokenNotForTopic"),
    ({"topic": BUNDLE + "x"}, 400, "DeviceTokenNotForTopic"),
    ({"environment": "production"}, 400, "BadDeviceToken"),
    ({"device_token": "zz"}, 400, "BadDeviceToken"),
    ({"device_token": ""}, 400, "MissingDeviceToken"),
    ({"priority": 7}, 400, "BadPriority"),
    ({"push_type": "voip"}, 400, "TopicDisallowed"),
    ({"push_type": "carrier-pigeon"}, 400, "InvalidPushType"),
    ({"expiration": "tomorrow"}, 400, "BadExpirationDate"),
    ({"collapse_id": "c" * 65}, 400, "BadCollapseId"),
    ({"topic": None}, 400, "MissingTopic"),
])
async def test_console_rejects_with_apples_reason(
        sim: RunningSimulator, http: aiohttp.ClientSession, phone_app: tuple[Phone, App, str],
        change: dict[str, Any], status: int, reason: str) -> None:
    """§4.3: a bad console push gets the reason a provider would get, and is logged as rejected."""
    _, app, token = phone_app
    body = {"environment": "sandbox", "device_token": token, "topic": BUNDLE,
            "payload": {"aps": {"alert": "Hi"}}, **change}
    code, answer = await console(http, sim, body)
    assert code == 200 and (answer["status"], answer["reason"]) == (status, reason)
    logged = sim.notification(answer["apns_id"])
    assert logged is not None and logged["status"] == status and logged["reason"] == reason
    assert logged["journey"][0] == {"stage": "rejected", "at": logged["journey"][0]["at"], "reason": reason,
                                    "source": "console"}
    with pytest.raises(TimeoutError):
        await app.next_notification(timeout=0.2)


async def test_console_answers_410_with_a_timestamp_after_uninstall(
        sim: RunningSimulator, http: aiohttp.ClientSession, phone_app: tuple[Phone, App, str]) -> None:
    """§4.1: Unregistered carries the time APNs learnt the token stopped being valid."""
    phone, _, token = phone_app
    assert await phone.uninstall(BUNDLE)
    _, answer = await console(http, sim, {"device_token": token, "topic": BUNDLE, "payload": {"aps": {}}})
    assert (answer["status"], answer["reason"]) == (410, "Unregistered")
    assert isinstance(answer["timestamp"], int) and abs(answer["timestamp"] / 1000 - time.time()) < 60


@pytest.mark.parametrize(("body", "says"), [
    ([], "JSON object"),
    ({"device_token": "ab", "bogus": 1}, "unknown key(s) bogus"),
    ({"device_token": "ab", "environment": "staging"}, '"environment"'),
    ({"topic": BUNDLE}, '"device_token"'),
    ({"device_token": "ab", "payload": 5}, '"payload"'),
    ({"device_token": "ab", "priority": 1.5}, '"priority"'),
])
async def test_console_refuses_a_malformed_form(sim: RunningSimulator, http: aiohttp.ClientSession,
                                                body: Any, says: str) -> None:
    status, answer = await console(http, sim, body)
    assert status == 400 and says in answer["error"]
    assert sim.notifications() == []
    async with http.post(f"{sim.admin_url}/_sim/console/push", data=b"device_token=ab") as response:
        assert response.status == 415 and "JSON" in (await response.json())["error"]  # docs/admin-api.md §1.4


async def test_phones_show_tokens_online_state_and_the_badge_and_permission_the_phone_reported(
        sim: RunningSimulator, http: aiohttp.ClientSession, phone_app: tuple[Phone, App, str],
        cert_client: APNsClient) -> None:
    """device-side §2 (badge is absolute), §3 (tokens); what APNs cannot know comes only from the phone's [sim]
    AppStatus, marked "reported" (its hints without one are in tests/unit/test_dashboard_views.py). The status
    leaves before the token request and the badge's before the push's report, on the same connection, so both
    are there by the time register() returns and the push is reported presented."""
    phone, _, token = phone_app

    async def phones() -> list[dict[str, Any]]:
        async with http.get(f"{sim.admin_url}/_sim/phones") as response:
            return list((await response.json())["phones"])

    [card] = await phones()
    assert card["name"] == "Admin iPhone" and card["device_id"] == phone.device_id
    assert card["online"] == {"sandbox": True, "production": False}
    [entry] = card["apps"]
    assert (entry["bundle_id"], entry["token"], entry["token_state"]) == (BUNDLE, token, "active")
    assert (entry["badge"], entry["badge_note"], entry["permission"], entry["reported"]) == (
        0, "reported by the phone", "authorized", True)  # a legacy app: register() prompted, the user allowed
    result = await push(cert_client, token, payload=alert("Badge", badge=5))
    await sim.wait_for_notification(apns_id=result.apns_id, stage="presented")
    [entry] = (await phones())[0]["apps"]
    assert entry["badge"] == 5 and entry["badge_note"] == "reported by the phone"
    assert entry["permission"] == "authorized" and entry["last_notification"]["stage"] == "presented"
    await phone.go_offline()
    for _ in range(500):
        if not (await phones())[0]["online"]["sandbox"]:
            break
        await asyncio.sleep(0.01)
    assert (await phones())[0]["online"] == {"sandbox": False, "production": False}


async def test_portal_view_has_statuses_on_the_simulator_clock_and_no_key_material(
        sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """§5, §6: certificates expire and are revoked on the simulator's clock; keys are listed without PEM."""
    bundle = sim.issue_certificate(BUNDLE)
    key = sim.create_auth_key()

    async def portal() -> tuple[str, dict[str, Any]]:
        async with http.get(f"{sim.admin_url}/_sim/portal") as response:
            text = await response.text()
        return text, json.loads(text)

    text, body = await portal()
    assert "BEGIN" not in text and "PRIVATE" not in text
    assert [(a["bundle_id"], a["certificates"]) for a in body["app_ids"]] == [(BUNDLE, 1)]
    [cert] = body["certificates"]
    assert (cert["serial"], cert["status"], cert["environment"]) == (str(bundle.serial), "valid", "sandbox")
    assert [(k["key_id"], k["status"], k["environment"]) for k in body["auth_keys"]] == [
        (key.key_id, "valid", "sandbox and production")]
    assert not {"der", "p8", "public_key_pem"} & {*cert, *body["auth_keys"][0]}
    sim.clock.advance(2 * 366 * 86400)
    assert (await portal())[1]["certificates"][0]["status"] == "expired"
    sim.clock.reset()
    sim.portal.revoke_certificate(bundle.serial)
    sim.portal.revoke_auth_key(key.key_id)
    _, body = await portal()
    assert body["certificates"][0]["status"] == "revoked" and body["auth_keys"][0]["status"] == "revoked"


async def test_reasons_and_static_assets(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """§4.3: every reason with its advice; the page's assets ship in the package (no CDN)."""
    async with http.get(f"{sim.admin_url}/_sim/reasons") as response:
        reasons = (await response.json())["reasons"]
    by_reason = {r["reason"]: r for r in reasons}
    assert by_reason["Unregistered"]["status"] == 410 and by_reason["Unregistered"]["retry"] == "do not retry"
    assert len(by_reason) == len(reasons) == len(Reason)
    async with http.get(f"{sim.admin_url}/") as response:
        page = await response.text()
    assert 'src="/static/dashboard.js"' in page and "http://" not in page and "https://" not in page
    for name, kind in [("dashboard.js", "text/javascript"), ("lanes.js", "text/javascript"),
                       ("dashboard.css", "text/css")]:
        async with http.get(f"{sim.admin_url}/static/{name}") as response:
            assert response.status == 200 and response.content_type == kind
            assert "https://" not in await response.text()
    for name in ("dashboard.html", "..%2Fadmin.py", "nothing.js"):
        async with http.get(f"{sim.admin_url}/static/{name}") as response:
            assert response.status == 404
