"""The simulated iPhone's app behaviours end to end: a running simulator, the real provider client over TLS
(HTTP/2, certificate auth), the phone over the courier TLS connection, and the journey log reading back what
the phone did and why (docs/device-side.md §2.2-§2.6, §4, §6 rules 9, 17-21, 23, 24, 27)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from device_sim import BackgroundBudget, Phone, RegistrationError
from provider.apns import APNsClient, load_pem_pair
from provider.apns.notification import Notification as Push
from pushsim import RunningSimulator

BUNDLE = "com.example.behaviours"
ALERT = {"aps": {"alert": {"title": "Order", "body": "Shipped"}, "sound": "default", "badge": 2}}
BACKGROUND = {"aps": {"content-available": 1}, "sync": 1}


class Clock:
    """The phone's clock: background budgets read it, so a test moves time without sleeping."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Delegate:
    def __init__(self, options: Any = ("banner", "sound")) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.options = options

    def did_register_for_remote_notifications(self, token: str) -> None:
        self.calls.append(("register", token))

    def did_fail_to_register_for_remote_notifications(self, error: RegistrationError) -> None:
        self.calls.append(("fail", error))

    def did_receive_remote_notification_fetch(self, payload: Any) -> str:
        self.calls.append(("fetch", payload))
        return "new_data"

    def will_present(self, notification: Any) -> Any:
        self.calls.append(("will_present", notification.apns_id))
        return self.options

    def did_receive_notification_response(self, response: Any) -> None:
        self.calls.append(("response", response.notification.apns_id))


@pytest.fixture
async def client(sim: RunningSimulator) -> AsyncIterator[APNsClient]:
    bundle = sim.issue_certificate(BUNDLE, "sandbox")
    async with APNsClient(load_pem_pair(bundle.cert_pem, bundle.key_pem), endpoint=sim.sandbox_url,
                          ca_file=sim.ca_file) as apns:
        yield apns


async def send(client: APNsClient, token: str, payload: dict[str, Any], **headers: Any) -> str:
    result = await client.send(Push(token=token, topic=BUNDLE, payload=payload, **headers))
    assert result.status == 200 and result.apns_id is not None, result
    return result.apns_id


async def final_stage(sim: RunningSimulator, apns_id: str) -> dict[str, Any]:
    journey = await sim.wait_for_notification(apns_id=apns_id, stage=("presented", "not_presented"), timeout=10)
    return dict(journey["journey"][-1])


async def test_permission_denied_still_gets_a_token_and_nothing_is_shown(sim: RunningSimulator,
                                                                         client: APNsClient) -> None:
    """docs/device-side.md §6 rule 24, §2.6: denied ⇒ token issued, push accepted (200), delivered silently."""
    delegate = Delegate()
    events: list[dict[str, Any]] = []
    async with Phone.open(sim.endpoints) as phone:
        phone.subscribe(events.append)
        app = phone.install_app(BUNDLE, delegate=delegate, user_response="deny")
        assert await app.request_authorization() is False
        token = await app.register(timeout=10)
        assert delegate.calls == [("register", token)]
        apns_id = await send(client, token, ALERT)
        got = await app.next_notification(timeout=10)
        assert got.apns_id == apns_id and got.presentation.as_json() == {"alert": None, "sound": None, "badge": None}
        assert app.badge == 0
        last = await final_stage(sim, apns_id)
        assert (last["stage"], last["why"]) == ("not_presented", "permission denied: delivered silently")
        prompts = [e for e in events if e["event"] == "authorization_prompt"]
        assert prompts == [{"event": "authorization_prompt", "bundle_id": BUNDLE,
                            "options": ["alert", "sound", "badge"], "answer": "deny"}]


async def test_only_the_authorized_types_are_presented(sim: RunningSimulator, client: APNsClient) -> None:
    """docs/device-side.md §6 rules 24-25, §2.5: the app asked for alerts only: no sound, badge left alone."""
    async with Phone.open(sim.endpoints) as phone:
        app = phone.install_app(BUNDLE)
        await app.request_authorization(("alert",))
        token = await app.register(timeout=10)
        apns_id = await send(client, token, ALERT)
        got = await app.next_notification(timeout=10)
        assert got.presentation.as_json() == {"alert": ALERT["aps"]["alert"], "sound": None, "badge": None}
        last = await final_stage(sim, apns_id)
        assert last["stage"] == "presented" and last["where"] == "banner"
        assert last["partly_not_shown"] == ["the app did not register for sounds",
                                            "the app did not register for badges"]


async def test_background_pushes_are_throttled_newest_held_until_launch(sim: RunningSimulator,
                                                                        client: APNsClient) -> None:
    """docs/device-side.md §6 rules 20-21, §2.4: within budget the fetch handler runs; over it one push is held
    (the newest wins) and handed over when the user launches the app; the journey says "throttled"."""
    delegate, clock = Delegate(), Clock()
    async with Phone.open(sim.endpoints, clock=clock, background_budget=BackgroundBudget(per_hour=1)) as phone:
        app = phone.install_app(BUNDLE, delegate=delegate, background_mode=True)
        token = await app.register(timeout=10)
        ids = []
        for n in (1, 2, 3):
            ids.append(await send(client, token, {**BACKGROUND, "sync": n}, push_type="background", priority=5))
            got = await app.next_notification(timeout=10)
            assert got.apns_id == ids[-1]
            clock.now += 60
        assert [c for c in delegate.calls if c[0] == "fetch"] == [("fetch", {**BACKGROUND, "sync": 1})]
        first, second, third = [await final_stage(sim, i) for i in ids]
        assert first["why"] == "background notification: handed to the app, nothing to show"
        assert second["held"] is True and second["why"].startswith("throttled: 1 background wakes in the last hour")
        assert "replacing an older held push" in third["why"]
        assert [s["stage"] for s in (await sim.wait_for_notification(apns_id=ids[0]))["journey"]][-2:] == [
            "handed_to_app", "not_presented"]
        app.launch()
        assert delegate.calls[-1] == ("fetch", {**BACKGROUND, "sync": 3})


async def test_force_quit_blocks_background_pushes_but_alerts_still_show(sim: RunningSimulator,
                                                                          client: APNsClient) -> None:
    """docs/device-side.md §6 rule 23, §2.3: after a force-quit, no background launch; alerts are still displayed."""
    delegate = Delegate()
    async with Phone.open(sim.endpoints, under_xcode=True) as phone:
        app = phone.install_app(BUNDLE, delegate=delegate, background_mode=True)
        token = await app.register(timeout=10)
        app.force_quit()
        silent = await send(client, token, BACKGROUND, push_type="background", priority=5)
        alert = await send(client, token, ALERT)
        assert (await app.next_notification(timeout=10)).apns_id == silent
        shown = await app.next_notification(timeout=10)
        assert shown.apns_id == alert and shown.presentation.as_json() == {
            "alert": ALERT["aps"]["alert"], "sound": "default", "badge": 2}
        assert (await final_stage(sim, silent))["why"] == "app was force-quit: background push discarded"
        assert (await final_stage(sim, alert))["stage"] == "presented"
        assert not [c for c in delegate.calls if c[0] == "fetch"]  # no app code ran for either


async def test_foreground_will_present_then_tap_calls_did_receive(sim: RunningSimulator, client: APNsClient) -> None:
    """docs/device-side.md §6 rules 17 and 19, §2.2: in front, willPresent's options decide; a tap on a shown
    notification calls didReceive with the default action."""
    delegate = Delegate(options=[])
    async with Phone.open(sim.endpoints) as phone:
        app = phone.install_app(BUNDLE, delegate=delegate)
        await app.request_authorization()
        token = await app.register(timeout=10)
        app.launch()
        hidden = await send(client, token, ALERT)
        got = await app.next_notification(timeout=10)
        assert ("will_present", hidden) in delegate.calls and not got.presentation.presented
        assert (await final_stage(sim, hidden))["why"] == "app in foreground, willPresent returned none"
        delegate.options = ["banner", "sound"]
        app.move_to_background()
        shown = await send(client, token, ALERT)
        got = await app.next_notification(timeout=10)
        assert got.presentation.as_json() == {"alert": ALERT["aps"]["alert"], "sound": "default", "badge": 2}
        await got.tap()
        assert delegate.calls[-1] == ("response", shown) and app.state == "foreground"


async def test_service_extension_changes_the_shown_content(sim: RunningSimulator, client: APNsClient) -> None:
    """docs/device-side.md §6 rule 27, §2.2: mutable-content 1 with an alert runs the extension; its content shows."""

    async def decrypt(payload: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        payload["aps"]["alert"]["body"] = payload.pop("secret")
        return payload

    async with Phone.open(sim.endpoints) as phone:
        app = phone.install_app(BUNDLE, service_extension=decrypt, service_extension_time_limit=5)
        token = await app.register(timeout=10)
        payload = {"aps": {"alert": {"title": "Chat", "body": "(encrypted)"}, "mutable-content": 1},
                   "secret": "see you at 6"}
        apns_id = await send(client, token, payload)
        got = await app.next_notification(timeout=10)
        assert got.presentation.alert == {"title": "Chat", "body": "see you at 6"}
        assert got.original_payload == payload and got.modified_by_extension
        last = await final_stage(sim, apns_id)
        assert last["alert"] == {"title": "Chat", "body": "see you at 6"} and last["service_extension"] == "completed"


async def test_offline_first_registration_waits_or_fails_as_configured(sim: RunningSimulator) -> None:
    """docs/device-side.md §4, §6 rule 9: first registration offline: no callback until connected ("wait", TN2265),
    or didFail with a no-network error ("fail")."""
    delegate = Delegate()
    async with Phone.open(sim.endpoints, offline_first_registration="fail") as phone:
        await phone.go_offline()
        app = phone.install_app(BUNDLE, delegate=delegate)
        with pytest.raises(RegistrationError) as info:
            await app.register(timeout=10)
        assert (info.value.domain, info.value.code) == ("NSURLErrorDomain", -1009)
        assert delegate.calls == [("fail", info.value)]
    waiting = Delegate()
    async with Phone.open(sim.endpoints) as phone:
        await phone.go_offline()
        app = phone.install_app(BUNDLE, delegate=waiting)
        registering = asyncio.ensure_future(app.register(timeout=10))
        done, _ = await asyncio.wait({registering}, timeout=0.3)
        assert not done and waiting.calls == []  # no callback at all while offline
        await phone.go_online(timeout=10)
        token = await registering
        assert waiting.calls == [("register", token)]


async def test_the_answer_survives_a_restart_and_a_quick_reinstall(sim: RunningSimulator, tmp_path: Path) -> None:
    """docs/device-side.md §6 rule 24, §2.6: the stored answer is the phone's (kept across restarts); a reinstall
    within a day keeps it, a later one asks again."""
    clock, state_dir = Clock(), tmp_path / "phone"
    async with Phone.open(sim.endpoints, state_dir=state_dir, clock=clock) as phone:
        app = phone.install_app(BUNDLE, user_response="deny")
        await app.register(timeout=10)
        assert app.authorization.status == "denied"
    events: list[dict[str, Any]] = []
    async with Phone.open(sim.endpoints, state_dir=state_dir, clock=clock) as phone:
        phone.subscribe(events.append)
        assert phone.app(BUNDLE).authorization.status == "denied"
        assert await phone.uninstall(BUNDLE)
        clock.now += 3600
        again = phone.install_app(BUNDLE, user_response="allow")
        assert await again.request_authorization() is False and not events_named(events, "authorization_prompt")
        assert await phone.uninstall(BUNDLE)
        clock.now += 2 * 86_400
        later = phone.install_app(BUNDLE, user_response="allow")
        assert later.authorization.status == "not_determined"
        assert await later.request_authorization() is True and len(events_named(events, "authorization_prompt")) == 1


class LegacyDelegate:
    """An iOS 3-9 style UIApplicationDelegate: registerForRemoteNotificationTypes: and didReceiveRemoteNotification:."""

    def __init__(self) -> None:
        self.payloads: list[Any] = []

    def did_receive_remote_notification(self, payload: Any) -> None:
        self.payloads.append(payload)


async def test_legacy_app_stays_legacy_across_a_restart_and_a_quick_reinstall(sim: RunningSimulator,
                                                                              client: APNsClient,
                                                                              tmp_path: Path) -> None:
    """docs/device-side.md §2.1, §6 rules 17 and 24: a legacy app (permission from register()'s prompt, never
    requestAuthorization) shows nothing in the foreground and gets didReceiveRemoteNotification:; a phone
    restart on the same state dir, or a reinstall within a day that keeps the answer, does not make it modern."""
    clock, state_dir = Clock(), tmp_path / "phone"
    nothing = {"alert": None, "sound": None, "badge": None}

    async def foreground_push(app: Any, delegate: LegacyDelegate) -> None:
        app.launch()
        apns_id = await send(client, app.token, ALERT)
        got = await app.next_notification(timeout=10)
        assert got.apns_id == apns_id and got.presentation.as_json() == nothing
        assert delegate.payloads[-1] == ALERT
        assert "legacy API" in (await final_stage(sim, apns_id))["why"]

    delegate = LegacyDelegate()
    async with Phone.open(sim.endpoints, state_dir=state_dir, clock=clock) as phone:
        app = phone.install_app(BUNDLE, delegate=delegate)
        await app.register(timeout=10)
        assert app.authorization.status == "authorized"
        await foreground_push(app, delegate)
    async with Phone.open(sim.endpoints, state_dir=state_dir, clock=clock) as phone:
        app = phone.install_app(BUNDLE, delegate=delegate)  # the same build, launched again: same App
        await app.register(timeout=10)
        await foreground_push(app, delegate)
        assert await phone.uninstall(BUNDLE)
        clock.now += 3600
        again = phone.install_app(BUNDLE, delegate=delegate)
        assert again.authorization.status == "authorized"  # kept for a day (§2.6)
        await again.register(timeout=10)
        await foreground_push(again, delegate)
    assert len(delegate.payloads) == 3


def events_named(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == name]


async def test_pushes_sharing_a_collapse_id_are_shown_as_one(sim: RunningSimulator, client: APNsClient) -> None:
    """docs/apns-protocol.md §11 (A-SEND): notifications sharing apns-collapse-id are shown as one on the device.
    The phone is online for all three: the collapse happens on the phone, not in APNs' storage."""
    async with Phone.open(sim.endpoints) as phone:
        app = phone.install_app(BUNDLE)
        await app.request_authorization()
        token = await app.register(timeout=10)
        first = await send(client, token, {"aps": {"alert": "Score 1-0"}}, collapse_id="match-42")
        other = await send(client, token, {"aps": {"alert": "Kick-off in Rome"}}, collapse_id="match-43")
        second = await send(client, token, {"aps": {"alert": "Score 2-0"}}, collapse_id="match-42")
        for _ in range(3):
            await app.next_notification(timeout=10)
        shown = [(n.apns_id, n.presentation.alert) for n in app.delivered_notifications]
        assert shown == [(other, "Kick-off in Rome"), (second, "Score 2-0")]
        last = await final_stage(sim, second)
        assert last["stage"] == "presented" and last["replaces"] == first
        assert "replaces" not in await final_stage(sim, other)
        # Tapping takes it out of Notification Center, as iOS does.
        await app.delivered_notifications[1].tap()
        assert [n.apns_id for n in app.delivered_notifications] == [other]
