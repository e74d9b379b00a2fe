"""The app on the simulated iPhone, driven without sockets: permission, states, willPresent, tap, background
pushes, the service extension (device-side.md §2.2-§2.6, §6 rules 10, 16-21, 23, 24, 27)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from apns_sim import courier
from device_sim.app.app import App, AppConfig, PhoneRules
from device_sim.app.notification import DEFAULT_ACTION, LAUNCH_OPTIONS_REMOTE_NOTIFICATION, NotificationResponse
from device_sim.identity.store import AppRecord
from device_sim.phone.app_status import StatusReporter, status_of
from device_sim.rules import background
from device_sim.rules.presentation import RegistrationError, Switches
from tests.unit.device_sim.fake_host import FakeHost

BUNDLE = "com.example.app"
ALERT = {"aps": {"alert": {"title": "Hi", "body": "there"}, "sound": "default", "badge": 3}}
SHOWN = {"alert": {"title": "Hi", "body": "there"}, "sound": "default", "badge": 3}
NOTHING = {"alert": None, "sound": None, "badge": None}
BACKGROUND = {"aps": {"content-available": 1}, "sync": 1}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """Every delegate method, recording its calls; ``options`` is what will_present returns."""

    def __init__(self, options: Any = ("banner", "sound", "badge")) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.options = options

    def did_register_for_remote_notifications(self, token: str) -> None:
        self.calls.append(("register", token))

    def did_fail_to_register_for_remote_notifications(self, error: RegistrationError) -> None:
        self.calls.append(("fail", error))

    def did_receive_remote_notification(self, payload: Any) -> None:
        self.calls.append(("receive", payload))

    def did_finish_launching(self, options: Any) -> None:
        self.calls.append(("launch", options))


class Modern(Recorder):
    def will_present(self, notification: Any) -> Any:
        self.calls.append(("will_present", notification.apns_id))
        return self.options

    def did_receive_notification_response(self, response: NotificationResponse) -> None:
        self.calls.append(("response", response))


class Fetcher(Recorder):
    def did_receive_remote_notification_fetch(self, payload: Any) -> str:
        self.calls.append(("fetch", payload))
        return "new_data"


def make_app(delegate: Any = None, *, clock: Clock | None = None, rules: PhoneRules | None = None,
             **config: Any) -> tuple[App, FakeHost]:
    host = FakeHost()
    rules = rules or PhoneRules(clock=clock or Clock(), background_budget=background.BackgroundBudget(per_hour=2))
    app = App(host, AppRecord(bundle_id=BUNDLE, environment="development"), delegate, config=AppConfig(**config),
              rules=rules)
    return app, host


def push(app: App, payload: Any = ALERT, push_type: str | None = None) -> str:
    apns_id = str(uuid.uuid4())
    app.receive(courier.Push(token=bytes(range(32)), topic=courier.topic_hash(BUNDLE),
                              payload=json.dumps(payload).encode(), message_id=1, apns_id=apns_id,
                              push_type=push_type))
    return apns_id


# -- permission ----------------------------------------------------------------------------------------------


async def test_request_authorization_prompts_once_with_the_preset_answer() -> None:
    """device-side.md §6 rule 24: the first request prompts (an event), later calls return the stored answer."""
    app, host = make_app(user_response="allow")
    assert app.authorization.status == "not_determined"
    assert await app.request_authorization(("alert", "badge")) is True
    assert await app.request_authorization() is True
    assert host.named("authorization_prompt") == [{"event": "authorization_prompt", "bundle_id": BUNDLE,
                                                   "options": ["alert", "badge"], "answer": "allow"}]
    assert app.authorization.options == ("alert", "badge")
    push(app)  # only the allowed types show
    assert (await app.next_notification(timeout=1)).presentation.as_json() == {**SHOWN, "sound": None}


async def test_denied_still_gets_a_token_and_pushes_arrive_silently() -> None:
    """device-side.md §6 rules 10, 24, §2.6: denial is not an error; token issued; nothing shown, and why."""
    delegate = Recorder()
    app, host = make_app(delegate, user_response="deny")
    assert await app.request_authorization() is False
    token = await app.register()
    assert delegate.calls == [("register", token)]
    apns_id = push(app)
    got = await app.next_notification(timeout=1)
    assert got.presentation.as_json() == NOTHING and app.badge == 0
    assert host.stages(apns_id)[-1] == ("not_presented", {"why": "permission denied: delivered silently"})
    assert delegate.calls == [("register", token)]  # suspended: no app code runs for it (rule 18)
    app.launch()
    push(app)
    await app.next_notification(timeout=1)
    assert delegate.calls[-1] == ("receive", ALERT)  # in the foreground the app still gets the payload (§2.6)


async def test_locked_phone_alert_on_the_lock_screen_kept_in_notification_center_launch_unlocks() -> None:
    """device-side.md §6 rule 16, §2.3: locked, the alert is on the Lock Screen (and in Notification Center),
    with sound and badge; opening the app unlocks the phone first."""
    app, host = make_app(Modern())
    await app.request_authorization()
    app._rules.switches.locked = True
    apns_id = push(app)
    got = await app.next_notification(timeout=1)
    assert got.presentation.as_json() == SHOWN and got.presentation.where == "lock_screen"
    assert host.stages(apns_id)[-1][1]["where"] == "lock_screen" and app.badge == 3
    assert [n.apns_id for n in app.delivered_notifications] == [apns_id]
    app.launch()
    assert not app._rules.switches.locked and host.named("unlocked") and app.state == "foreground"


class FakeClient:
    def __init__(self, connected: bool = True) -> None:
        self.sent: list[courier.AppStatus] = []
        self.connected = connected

    def send_app_status(self, status: courier.AppStatus) -> bool:
        if self.connected:
            self.sent.append(status)
        return self.connected


async def test_status_reports_only_changes_and_everything_again_after_a_reconnect() -> None:
    """[sim] AppStatus: the whole status when a part changes, nothing for a registration-less app, all again
    on each new connection (APNs keeps only the latest, in memory)."""
    app, _ = make_app(user_response="deny")
    reporter, client = StatusReporter(), FakeClient()
    assert status_of(app) is None  # never registered: no token to show it under
    await app.request_authorization()
    await app.register()
    reporter.changed(app, client)  # type: ignore[arg-type]
    reporter.changed(app, client)  # type: ignore[arg-type]  # unchanged: not sent twice
    app.launch()
    reporter.changed(app, client)  # type: ignore[arg-type]
    assert [(s.permission, s.options, s.badge, s.state, s.environment) for s in client.sent] == [
        ("denied", (), 0, "background", "sandbox"), ("denied", (), 0, "foreground", "sandbox")]
    offline = FakeClient(connected=False)
    app.move_to_background()
    reporter.changed(app, offline)  # type: ignore[arg-type]  # lost: the reconnect sends it
    reporter.connected("sandbox", [app], client)  # type: ignore[arg-type]
    assert client.sent[-1].state == "background" and len(client.sent) == 3
    reporter.connected("sandbox", [app], client)  # type: ignore[arg-type]
    assert len(client.sent) == 4  # a new connection: sent again even though unchanged


async def test_a_forgotten_app_reports_again_even_when_its_status_is_unchanged() -> None:
    """[sim] AppStatus: APNs drops the report of a deleted app, so a reinstall with the same status (an
    answer kept for a day, badge 0, background) must be sent, not suppressed as a repeat."""
    app, _ = make_app()
    reporter, client = StatusReporter(), FakeClient()
    await app.request_authorization()
    await app.register()
    reporter.changed(app, client)  # type: ignore[arg-type]
    reporter.forget("sandbox", app.bundle_id)
    reporter.changed(app, client)  # type: ignore[arg-type]
    assert len(client.sent) == 2 and client.sent[0] == client.sent[1]


async def test_legacy_register_implies_a_request_for_its_types() -> None:
    """device-side.md §2.1, §6 rule 24: registerForRemoteNotificationTypes: prompts once for those types."""
    app, host = make_app(user_response="deny")
    await app.register()
    await app.register()
    assert len(host.named("authorization_prompt")) == 1 and app.authorization.status == "denied"


async def test_provisional_is_quiet() -> None:
    """device-side.md §6 rule 24, §2.2: provisional: no prompt; Notification Center only, no sound or badge."""
    app, host = make_app(user_response="deny")
    assert await app.request_authorization(provisional=True) is True
    apns_id = push(app)
    got = await app.next_notification(timeout=1)
    assert got.presentation.where == "notification_center" and got.presentation.as_json() == {
        **NOTHING, "alert": SHOWN["alert"]}
    assert not host.named("authorization_prompt")
    assert host.stages(apns_id)[-1][1]["where"] == "notification_center"


async def test_legacy_simulator_fails_with_3010() -> None:
    """device-side.md §4, §6 rule 10: an old iOS Simulator fails registration with NSCocoaErrorDomain 3010."""
    delegate = Recorder()
    app, _ = make_app(delegate, rules=PhoneRules(legacy_simulator=True))
    with pytest.raises(RegistrationError) as info:
        await app.register()
    assert info.value.code == 3010 and delegate.calls == [("fail", info.value)]


# -- foreground and tap ----------------------------------------------------------------------------------------


async def test_foreground_will_present_decides() -> None:
    """device-side.md §6 rule 17, §2.2: in the foreground willPresent's options are all that shows."""
    delegate = Modern(options=["list"])
    app, host = make_app(delegate)
    await app.request_authorization()
    app.launch()
    apns_id = push(app)
    got = await app.next_notification(timeout=1)
    assert delegate.calls[0] == ("will_present", apns_id)
    assert got.presentation.where == "notification_center" and got.presentation.sound is None
    delegate.options = []
    apns_id = push(app)
    assert (await app.next_notification(timeout=1)).presentation.as_json() == NOTHING
    assert host.stages(apns_id)[-1] == ("not_presented", {"why": "app in foreground, willPresent returned none"})


async def test_async_will_present_and_a_delegate_without_it() -> None:
    """device-side.md §6 rule 17: an async willPresent works; a center delegate lacking it means none."""

    class Slow(Modern):
        async def will_present(self, notification: Any) -> Any:
            await asyncio.sleep(0)
            return ["banner"]

    app, _ = make_app(Slow())
    app.launch()
    push(app)
    assert (await app.next_notification(timeout=1)).presentation.as_json() == {**NOTHING, "alert": SHOWN["alert"]}

    class OnlyResponse:
        def did_receive_notification_response(self, response: Any) -> None:
            pass

    app, _ = make_app(OnlyResponse())
    app.launch()
    push(app)
    assert (await app.next_notification(timeout=1)).presentation.as_json() == NOTHING


async def test_foreground_without_center_delegate_modern_vs_legacy() -> None:
    """device-side.md §2.1-§2.2, §6 rule 17: no center delegate ⇒ the notification's own options (modern);
    the legacy API in the foreground shows nothing and calls didReceiveRemoteNotification."""
    modern, _ = make_app()
    await modern.request_authorization()
    modern.launch()
    push(modern)
    assert (await modern.next_notification(timeout=1)).presentation.as_json() == SHOWN
    delegate = Recorder()
    legacy, host = make_app(delegate)
    await legacy.register()
    legacy.launch()
    apns_id = push(legacy)
    assert (await legacy.next_notification(timeout=1)).presentation.as_json() == NOTHING
    assert ("receive", ALERT) in delegate.calls
    assert "legacy API" in host.stages(apns_id)[-1][1]["why"]


async def test_tap_calls_did_receive_response_and_brings_the_app_forward() -> None:
    """device-side.md §6 rule 19, §2.2: a tap foregrounds the app and calls didReceive with the default action."""
    delegate = Modern()
    app, host = make_app(delegate)
    await app.request_authorization()
    push(app)
    got = await app.next_notification(timeout=1)
    assert app.state == "background" and got.presentation.where == "banner"
    await got.tap()
    response = delegate.calls[-1][1]
    assert delegate.calls[-1][0] == "response" and response.action_identifier == DEFAULT_ACTION
    assert response.notification.apns_id == got.apns_id and app.state == "foreground"
    assert host.named("tapped")[0]["apns_id"] == got.apns_id


async def test_legacy_tap_launching_a_not_running_app_passes_launch_options() -> None:
    """device-side.md §2.1, §6 rule 19: tap on a not-running app: launchOptions carry the payload,
    didReceiveRemoteNotification is not called; tapping a silent notification is refused."""
    delegate = Recorder()
    app, _ = make_app(delegate, user_response="allow")
    app.force_quit()
    push(app)
    got = await app.next_notification(timeout=1)
    assert got.presentation.as_json() == SHOWN  # force-quit: alerts are still shown (rule 23)
    assert delegate.calls == []  # no app code ran
    await app.tap(got)
    assert delegate.calls == [("launch", {LAUNCH_OPTIONS_REMOTE_NOTIFICATION: ALERT})]
    push(app, {"aps": {"badge": 1}})
    with pytest.raises(ValueError, match="nothing to tap"):
        await (await app.next_notification(timeout=1)).tap()


async def test_legacy_app_in_background_runs_no_code_until_the_tap_then_gets_the_payload_once() -> None:
    """device-side.md §2.1, §2.3, §6 rules 18-19: a suspended legacy app's alert is shown by the system and
    didReceiveRemoteNotification: is not called; the user's tap brings the app forward and calls it, once."""
    delegate = Recorder()
    app, _ = make_app(delegate)
    token = await app.register()
    push(app)
    got = await app.next_notification(timeout=1)
    assert app.state == "background" and got.presentation.as_json() == SHOWN
    assert delegate.calls == [("register", token)]
    await got.tap()
    assert delegate.calls == [("register", token), ("receive", ALERT)] and app.state == "foreground"


async def test_tap_calls_the_fetch_variant_instead_of_the_legacy_method() -> None:
    """device-side.md §2.1: a delegate with both methods gets only the fetch variant, on a tap as well; an
    alert without content-available runs nothing in the background (§2.2)."""
    delegate = Fetcher()
    app, _ = make_app(delegate, background_mode=True)
    push(app)
    got = await app.next_notification(timeout=1)
    assert delegate.calls == []
    await got.tap()
    assert delegate.calls == [("fetch", ALERT)]


async def test_legacy_app_in_the_foreground_gets_the_payload_and_shows_nothing() -> None:
    """device-side.md §2.1, §6 rule 17: in the foreground the legacy method is called at once, nothing shows,
    and the app is still legacy when rebuilt from its saved record (a phone restart)."""
    delegate = Recorder()
    app, host = make_app(delegate)
    await app.register()  # the legacy prompt: permission determined, but no requestAuthorization
    assert app._record.modern_api is False
    rebuilt = App(host, app._record, delegate, config=app.config, rules=app._rules, authorization=app.authorization,
                  state="foreground")
    push(rebuilt)
    assert (await rebuilt.next_notification(timeout=1)).presentation.as_json() == NOTHING
    assert delegate.calls[-1] == ("receive", ALERT)


def test_record_from_before_modern_api_is_legacy_unless_provisional() -> None:
    """AppRecord.modern_api missing (an older device.json): legacy, unless the stored permission is provisional,
    which only requestAuthorization grants."""
    from device_sim.rules import authorization as auth

    def rebuilt(status: str) -> App:
        record = AppRecord.from_json({"bundle_id": BUNDLE, "environment": "development"})
        assert record.modern_api is None
        return App(FakeHost(), record, authorization=auth.Authorization(status=status, options=("alert",)))

    assert not rebuilt("authorized")._asked and not rebuilt("denied")._asked
    assert rebuilt("provisional")._asked


async def test_tap_gets_the_extension_content_while_arrival_gets_what_apns_sent() -> None:
    """device-side.md §2.2, §6 rules 19, 27: the extension changes the displayed content; the app delegate on
    arrival (foreground) gets the push as sent, and a tap, which acts on the displayed notification, gets the
    extension's content, in didReceiveRemoteNotification: and in the launch options alike."""
    changed = {**MUTABLE, "ct": "decrypted"}
    delegate = Recorder()
    app, _ = make_app(delegate, service_extension=lambda p: changed)
    await app.register()
    app.launch()
    push(app, MUTABLE)
    await app.wait_idle(timeout=1)
    arrived = await app.next_notification(timeout=1)
    assert delegate.calls[-1] == ("receive", MUTABLE) and arrived.payload == changed
    app.move_to_background()
    push(app, MUTABLE)
    await app.wait_idle(timeout=1)
    await (await app.next_notification(timeout=1)).tap()
    assert delegate.calls[-1] == ("receive", changed)
    app.force_quit()
    push(app, MUTABLE)
    await app.wait_idle(timeout=1)
    await (await app.next_notification(timeout=1)).tap()
    assert delegate.calls[-1] == ("launch", {LAUNCH_OPTIONS_REMOTE_NOTIFICATION: changed})


# -- background pushes ----------------------------------------------------------------------------------------


async def test_background_push_wakes_the_fetch_handler_then_is_throttled_newest_wins() -> None:
    """device-side.md §6 rules 20-21, §2.4: delivered within budget; over it, one held (newest wins),
    handed to the fetch handler at launch; the journey says why."""
    delegate, clock = Fetcher(), Clock()
    app, host = make_app(delegate, clock=clock, background_mode=True)
    first, second = push(app, BACKGROUND, "background"), push(app, BACKGROUND, "background")
    third = push(app, BACKGROUND, "background")
    clock.now += 60
    fourth = push(app, {**BACKGROUND, "sync": 4}, "background")
    assert delegate.calls == [("fetch", BACKGROUND), ("fetch", BACKGROUND)]
    assert [s for s, _ in host.stages(first)] == ["handed_to_app", "not_presented"]
    stage, detail = host.stages(third)[0]
    assert stage == "not_presented" and detail["held"] is True and detail["why"].startswith("throttled")
    assert "replacing" in host.stages(fourth)[0][1]["why"]
    notes = [await app.next_notification(timeout=1) for _ in range(4)]
    assert [n.held for n in notes] == [False, False, True, True] and not notes[3].handed_to_app
    assert app.held_background_push is not None and app.held_background_push.apns_id == fourth
    assert second in {n.apns_id for n in notes}
    app.launch()
    assert delegate.calls[-1] == ("fetch", {**BACKGROUND, "sync": 4}) and app.held_background_push is None


async def test_background_push_needs_the_mode_and_force_quit_blocks_it() -> None:
    """device-side.md §6 rules 20, 23: no background mode ⇒ not delivered; force-quit ⇒ discarded until launch."""
    delegate = Fetcher()
    app, host = make_app(delegate)
    apns_id = push(app, BACKGROUND)
    assert delegate.calls == [] and "background mode" in host.stages(apns_id)[0][1]["why"]
    app, host = make_app(delegate, background_mode=True)
    app.force_quit()
    apns_id = push(app, BACKGROUND)
    assert delegate.calls == [] and host.stages(apns_id) == [
        ("not_presented", {"why": "app was force-quit: background push discarded"})]
    app.launch()
    push(app, BACKGROUND)
    assert delegate.calls == [("fetch", BACKGROUND)]


async def test_not_running_app_is_launched_in_the_background_and_an_overrunning_fetch_is_killed() -> None:
    """device-side.md §2.2-§2.3, §6 rule 20: not running ⇒ launched into the background; the fetch
    handler has a wall-clock budget, after which the system terminates the app."""

    class Stuck:
        async def did_receive_remote_notification_fetch(self, payload: Any) -> str:
            await asyncio.sleep(10)
            return "new_data"

    app, host = make_app(Stuck(), background_mode=True, fetch_time_limit=0.01)
    app.force_quit()
    app.launch()
    app.move_to_background()
    app._set_state(background.NOT_RUNNING)
    push(app, BACKGROUND)
    assert app.state == "background"
    await app.wait_idle(timeout=2)
    assert app.state == "not_running" and host.named("app_terminated")[0]["why"] == "fetch handler overran 0.01 s"


# -- the service extension -----------------------------------------------------------------------------------


MUTABLE: dict[str, Any] = {"aps": {"alert": {"title": "New message", "body": "(encrypted)"}, "mutable-content": 1},
                           "ct": "hello"}


async def test_service_extension_changes_what_is_shown() -> None:
    """device-side.md §6 rule 27, §2.2: mutable-content + alert ⇒ the extension's content is shown."""

    async def decrypt(payload: dict[str, Any]) -> dict[str, Any]:
        payload["aps"]["alert"]["body"] = payload["ct"]
        return payload

    app, host = make_app(service_extension=decrypt)
    apns_id = push(app, MUTABLE)
    got = await app.next_notification(timeout=1)
    assert got.presentation.alert == {"title": "New message", "body": "hello"}
    assert got.modified_by_extension and got.original_payload == MUTABLE and got.extension_outcome == "completed"
    assert host.stages(apns_id)[-1][1]["service_extension"] == "completed"


async def test_service_extension_that_overruns_shows_its_best_attempt_or_the_original() -> None:
    """device-side.md §6 rule 27: on timeout serviceExtensionTimeWillExpire gets a last chance; a handler
    never called shows the original content."""

    class Slow:
        def __init__(self, best: Any) -> None:
            self.best = best
            self.expired = False

        async def did_receive(self, payload: dict[str, Any]) -> dict[str, Any]:
            await asyncio.sleep(10)
            return payload

        def service_extension_time_will_expire(self) -> Any:
            self.expired = True
            return self.best

    best = {"aps": {"alert": {"title": "New message", "body": "(could not decrypt)"}}}
    for extension, alert in ((Slow(best), best["aps"]["alert"]), (Slow(None), MUTABLE["aps"]["alert"])):
        app, _ = make_app(service_extension=extension, service_extension_time_limit=0.01)
        push(app, MUTABLE)
        got = await app.next_notification(timeout=2)
        assert extension.expired and got.presentation.alert == alert
    app, _ = make_app(service_extension=lambda payload: None)
    push(app, MUTABLE)
    got = await app.next_notification(timeout=1)
    assert got.presentation.alert == MUTABLE["aps"]["alert"] and not got.modified_by_extension


async def test_service_extension_does_not_run_when_alerts_are_denied() -> None:
    """device-side.md §6 rule 27: the extension runs only when the app may show alerts."""
    ran: list[Any] = []
    app, _ = make_app(service_extension=ran.append, user_response="deny")
    await app.request_authorization()
    push(app, MUTABLE)
    got = await app.next_notification(timeout=1)
    assert ran == [] and got.extension_outcome is None and not got.presentation.presented


async def test_focus_quiets_an_active_alert_but_not_a_time_sensitive_one() -> None:
    """device-side.md §6 rule 26, §2.5: the user's Focus switch, flipped at any time, against interruption levels."""
    switches = Switches()
    app, host = make_app(rules=PhoneRules(switches=switches))
    switches.focus = True
    quiet = push(app)
    loud = push(app, {"aps": {**ALERT["aps"], "interruption-level": "time-sensitive"}})
    assert [(await app.next_notification(timeout=1)).presentation.where for _ in range(2)] == [
        "notification_center", "banner"]
    assert "Focus is on: no sound" in host.stages(quiet)[-1][1]["partly_not_shown"]
    assert host.stages(loud)[-1][1]["sound"] == "default"


async def test_fetch_variant_runs_in_front_or_when_content_available_wakes_the_app() -> None:
    """device-side.md §2.2-§2.3: an alert does not wake a suspended app; content-available 1 with the
    background mode does; in the foreground the fetch variant always runs, with the payload APNs sent."""
    delegate = Fetcher()
    app, _ = make_app(delegate, background_mode=True, service_extension=lambda p: {**p, "changed": True})
    push(app)
    mixed = {"aps": {**ALERT["aps"], "content-available": 1}}
    push(app, mixed)
    assert delegate.calls == [("fetch", mixed)]
    app.launch()
    push(app, MUTABLE)
    await app.wait_idle(timeout=1)
    assert delegate.calls[-1] == ("fetch", MUTABLE)  # not the extension's version
