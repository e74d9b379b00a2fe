"""PushKit (VoIP pushes) end to end: a running simulator, the real provider client over TLS (HTTP/2, a
universal certificate listing ``<bundle>.voip``, or a .p8 key), the phone over the courier TLS connection,
and the journey log (docs/device-side.md §2.7, §6 rule 28, §7; docs/apns-protocol.md §2.2, §4.3)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from apns_sim.model.registry import UNINSTALLED, VOIP
from device_sim import App, Phone, VoipPolicy
from provider.apns import APNsClient, load_p8, load_pem_pair
from provider.apns.notification import Notification as Push
from pushsim import RunningSimulator

BUNDLE = "com.example.voipcalls"
VOIP_TOPIC = f"{BUNDLE}.voip"
CALL = {"aps": {}, "caller": "Alice", "call_id": "c-1"}
ALERT = {"aps": {"alert": "Missed call"}}


class Caller:
    """A VoIP app's PushKit delegate; it reports each push to CallKit unless told not to."""

    def __init__(self, report: bool = True) -> None:
        self.report = report
        self.app: App | None = None
        self.credentials: list[str] = []
        self.pushes: list[Any] = []
        self.remote: list[Any] = []

    def push_registry_did_update_push_credentials(self, token: str) -> None:
        self.credentials.append(token)

    def push_registry_did_receive_incoming_push(self, payload: Any, completion: Any) -> None:
        self.pushes.append(payload)
        if self.report and self.app is not None:
            self.app.report_new_incoming_call(handle=payload["caller"])
        completion()

    def did_receive_remote_notification(self, payload: Any) -> None:
        self.remote.append(payload)


@pytest.fixture
async def client(sim: RunningSimulator) -> AsyncIterator[APNsClient]:
    """Certificate auth with a universal certificate: its topics are the app, ``.voip`` and ``.complication``."""
    bundle = sim.issue_certificate(BUNDLE, "universal")
    async with APNsClient(load_pem_pair(bundle.cert_pem, bundle.key_pem), endpoint=sim.sandbox_url,
                          ca_file=sim.ca_file) as apns:
        yield apns


async def install(phone: Phone, caller: Caller, **knobs: Any) -> tuple[App, str]:
    app = phone.install_app(BUNDLE, delegate=caller, **knobs)
    caller.app = app
    return app, await app.register_voip(timeout=10)


async def send_voip(client: APNsClient, token: str, payload: dict[str, Any] = CALL) -> str:
    result = await client.send(Push(token=token, topic=VOIP_TOPIC, push_type="voip", payload=payload, expiration=0))
    assert result.status == 200 and result.apns_id is not None, result
    return result.apns_id


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for the simulator to have handled what the phone sent (the filter travels asynchronously)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def journey(sim: RunningSimulator, apns_id: str) -> list[dict[str, Any]]:
    record = await sim.wait_for_notification(apns_id=apns_id, stage="not_presented", timeout=10)
    return list(record["journey"])


async def test_voip_token_is_separate_and_its_push_reaches_the_delegate_never_displayed(
        sim: RunningSimulator, client: APNsClient) -> None:
    """Rule 28: a separate VoIP token for ``<bundle>.voip``; the push goes straight to the PushKit delegate,
    the call is reported, nothing is displayed; the journey says so after handed_to_app."""
    caller = Caller()
    async with Phone.open(sim.endpoints) as phone:
        app, voip_token = await install(phone, caller)
        apns_token = await app.register(timeout=10)
        assert voip_token != apns_token and caller.credentials == [voip_token]
        record = sim.state.registry.get_token(voip_token)
        assert record is not None and (record.kind, record.bundle_id, record.topic) == (VOIP, BUNDLE, VOIP_TOPIC)
        apns_id = await send_voip(client, voip_token)
        got = await app.next_notification(timeout=10)
        assert got.apns_id == apns_id and got.payload == CALL and not got.presentation.presented
        assert caller.pushes == [CALL] and caller.remote == []  # PushKit, not the remote-notification path
        assert [c.handle for c in app.calls] == ["Alice"] and app.delivered_notifications == ()
        stages = await journey(sim, apns_id)
        names = [s["stage"] for s in stages]
        assert names[-2:] == ["handed_to_app", "not_presented"] and "presented" not in names
        assert stages[-1]["why"].startswith("VoIP push: handed to the app, never displayed")
        assert stages[-1]["call_reported"] is True
        entry = await sim.wait_for_notification(apns_id=apns_id, timeout=1)
        assert (entry["topic"], entry["push_type"]) == (VOIP_TOPIC, "voip")
        # the regular token still takes alerts, displayed as usual
        alert = await client.send(Push(token=apns_token, topic=BUNDLE, payload=ALERT))
        assert alert.status == 200
        assert (await app.next_notification(timeout=10)).presentation.alert == "Missed call"


async def test_cross_use_of_the_two_tokens_is_device_token_not_for_topic(sim: RunningSimulator,
                                                                         client: APNsClient) -> None:
    """§4.3, rule 28: the APNs token with the .voip topic, or the VoIP token with the bundle topic, is
    400 DeviceTokenNotForTopic, by certificate and by token (.p8) auth alike."""
    async with Phone.open(sim.endpoints) as phone:
        app, voip_token = await install(phone, Caller())
        apns_token = await app.register(timeout=10)
        key = sim.create_auth_key()
        async with APNsClient(load_p8(key.p8_path, key.key_id, key.team_id), endpoint=sim.sandbox_url,
                              ca_file=sim.ca_file) as jwt_client:
            for apns in (client, jwt_client):
                answers = [
                    await apns.send(Push(token=apns_token, topic=VOIP_TOPIC, push_type="voip", payload=CALL)),
                    await apns.send(Push(token=voip_token, topic=BUNDLE, payload=ALERT)),
                ]
                assert [(a.status, a.reason) for a in answers] == [(400, "DeviceTokenNotForTopic")] * 2
                ok = await apns.send(Push(token=voip_token, topic=VOIP_TOPIC, push_type="voip", payload=CALL))
                assert ok.status == 200


async def test_no_call_reported_terminates_the_app_and_repeated_failures_stop_voip(
        sim: RunningSimulator, client: APNsClient) -> None:
    """Rule 28: no CallKit report ⇒ the app is terminated (launched again by the next VoIP push); after the
    knob's N failures the phone still acks but no longer hands VoIP pushes to the app."""
    caller = Caller(report=False)
    events: list[dict[str, Any]] = []
    async with Phone.open(sim.endpoints, voip_policy=VoipPolicy(max_failures=2)) as phone:
        phone.subscribe(events.append)
        app, voip_token = await install(phone, caller)
        first = await send_voip(client, voip_token)
        stages = await journey(sim, first)
        assert stages[-1]["terminated"] is True and "failure 1 of 2" in stages[-1]["why"]
        assert app.state == "not_running" and app.voip_failures == 1
        second = await send_voip(client, voip_token)
        launched = [s for s in await journey(sim, second) if s["stage"] == "handed_to_app"]
        assert launched[0]["launched"] is True  # the system launched the terminated app for it
        assert app.voip_stopped
        third = await send_voip(client, voip_token)
        stages = await journey(sim, third)
        names = [s["stage"] for s in stages]
        assert "acknowledged" in names and "handed_to_app" not in names
        assert stages[-1]["why"].startswith("VoIP pushes to this app stopped")
        assert len(caller.pushes) == 2 and app.state == "not_running"
        assert [e["bundle_id"] for e in events if e["event"] == "voip_pushes_stopped"] == [BUNDLE]


async def test_force_quit_app_is_still_launched_for_a_voip_push(sim: RunningSimulator, client: APNsClient) -> None:
    """§7 (assumed): force-quit does not block VoIP pushes; the system launches the app in the background."""
    caller = Caller()
    async with Phone.open(sim.endpoints) as phone:
        app, voip_token = await install(phone, caller)
        app.force_quit()
        apns_id = await send_voip(client, voip_token)
        stages = await journey(sim, apns_id)
        handed = next(s for s in stages if s["stage"] == "handed_to_app")
        assert handed["launched"] is True and stages[-1]["call_reported"] is True
        assert app.state == "background" and caller.pushes == [CALL]


async def test_uninstall_drops_the_voip_topic_and_the_voip_token_answers_410(sim: RunningSimulator,
                                                                             client: APNsClient) -> None:
    """Rules 28, 30: deleting the app drops ``<bundle>.voip`` from the filter too; its VoIP token then answers
    410 Unregistered with a timestamp, like its APNs token; a reinstall registers a new VoIP token."""
    async with Phone.open(sim.endpoints) as phone:
        app, voip_token = await install(phone, Caller())
        apns_token = await app.register(timeout=10)
        assert await phone.uninstall(BUNDLE)
        for token in (voip_token, apns_token):
            record = sim.state.registry.get_token(token)
            assert record is not None and record.state == UNINSTALLED
        gone = await client.send(Push(token=voip_token, topic=VOIP_TOPIC, push_type="voip", payload=CALL))
        assert (gone.status, gone.reason) == (410, "Unregistered") and gone.timestamp is not None
        _, new_token = await install(phone, Caller())
        assert new_token != voip_token


async def test_unregister_voip_retires_only_the_voip_token(sim: RunningSimulator, client: APNsClient) -> None:
    """Rule 28: ``desiredPushTypes = []`` takes ``<bundle>.voip`` out of the filter; APNs retires that token
    (410 after the delay) while the app's APNs token keeps working."""
    async with Phone.open(sim.endpoints) as phone:
        app, voip_token = await install(phone, Caller())
        apns_token = await app.register(timeout=10)
        app.unregister_voip()
        await until(lambda: getattr(sim.state.registry.get_token(voip_token), "state", None) == UNINSTALLED)
        gone = await client.send(Push(token=voip_token, topic=VOIP_TOPIC, push_type="voip", payload=CALL))
        assert (gone.status, gone.reason) == (410, "Unregistered")
        alive = await client.send(Push(token=apns_token, topic=BUNDLE, payload=ALERT))
        assert alive.status == 200
