"""PushKit without sockets: the system's rules, the VoIP token in the registry and on the wire, and the app's
side driven by a fake phone (device-side.md §2.7, §6 rule 28, §7; apns-protocol.md §2.2)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from apns_sim import courier
from apns_sim.model.registry import ACTIVE, APP, VOIP, Registry
from device_sim.app.app import App, PhoneRules
from device_sim.identity.store import AppRecord
from device_sim.rules import background
from device_sim.rules.presentation import RegistrationError
from device_sim.rules.voip import NEVER_DISPLAYED, VoipPolicy, voip_topic
from tests.unit.device_sim.fake_host import FakeHost

BUNDLE = "com.example.calls"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CALL = {"aps": {}, "caller": "Alice"}


# -- the system's rules (pure) -----------------------------------------------------------------------


def test_policy_reported_call_keeps_the_app_running() -> None:
    """Rule 28: an app that reports the call to CallKit is not terminated and its count does not grow."""
    outcome = VoipPolicy().decide(1, reported=True)
    assert (outcome.failures, outcome.terminated, outcome.stopped) == (1, False, False)
    assert outcome.why.startswith(NEVER_DISPLAYED)


def test_policy_no_report_terminates_and_the_last_failure_stops_voip() -> None:
    """Rule 28 (§2.7): no call reported ⇒ terminated; after max_failures ([sim], default 3) VoIP pushes stop."""
    rules = VoipPolicy()
    first = rules.decide(0, reported=False)
    assert (first.failures, first.terminated, first.stopped) == (1, True, False)
    assert "failure 1 of 3" in first.why
    last = rules.decide(2, reported=False)
    assert (last.failures, last.terminated, last.stopped) == (3, True, True)
    assert [rules.accepts(n) for n in range(4)] == [True, True, True, False]
    assert "no PushKit delegate" in rules.decide(0, reported=False, handled=False).why
    assert VoipPolicy(max_failures=1).decide(0, reported=False).stopped


@pytest.mark.parametrize("knobs", [{"max_failures": 0}, {"report_time_limit": 0}])
def test_policy_knobs_are_checked(knobs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        VoipPolicy(**knobs)


def test_voip_topic() -> None:
    """apns-protocol.md §2.2: VoIP pushes use the topic ``<bundle>.voip``."""
    assert voip_topic(BUNDLE) == f"{BUNDLE}.voip"


# -- the VoIP token in the registry and on the wire ----------------------------------------------------


def test_registry_mints_a_separate_stable_voip_token() -> None:
    """Rule 28: a separate VoIP token, the same one on every request until a token-change event (§3)."""
    registry = Registry(None)
    app_token = registry.app_token("dev-1", BUNDLE, "sandbox", NOW)
    voip = registry.app_token("dev-1", BUNDLE, "sandbox", NOW, VOIP)
    assert voip.token != app_token.token
    assert (voip.kind, voip.topic, app_token.kind, app_token.topic) == (VOIP, f"{BUNDLE}.voip", APP, BUNDLE)
    assert registry.app_token("dev-1", BUNDLE, "sandbox", NOW, VOIP).token == voip.token
    assert registry.get_token(voip.token) == voip
    assert registry.replace_tokens("dev-1", NOW, BUNDLE) == 2  # a token-change event replaces both
    with pytest.raises(ValueError):
        registry.app_token("dev-1", BUNDLE, "sandbox", NOW, "complication")


def test_registry_migrates_a_data_dir_from_before_pushkit(tmp_path: Path) -> None:
    """An older data dir's tokens table has no kind column: it is added, and its tokens are APNs tokens."""
    path = tmp_path / "registry.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE tokens (token TEXT PRIMARY KEY, device_id TEXT NOT NULL, bundle_id TEXT NOT NULL, "
               "environment TEXT NOT NULL, issued_at REAL NOT NULL, state TEXT NOT NULL, changed_at REAL, "
               "unregistered_at REAL)")
    db.execute("INSERT INTO tokens VALUES (?, 'dev-1', ?, 'sandbox', ?, ?, NULL, NULL)",
               ("ab" * 32, BUNDLE, NOW.timestamp(), ACTIVE))
    db.commit()
    db.close()
    registry = Registry(path)
    old = registry.get_token("ab" * 32)
    assert old is not None and old.kind == APP
    assert registry.app_token("dev-1", BUNDLE, "sandbox", NOW).token == "ab" * 32
    assert registry.app_token("dev-1", BUNDLE, "sandbox", NOW, VOIP).token != "ab" * 32
    registry.close()
    Registry(path).close()  # opening a migrated data dir again changes nothing


def test_scoped_token_request_carries_the_voip_push_type() -> None:
    """[sim] item 0x1C names a PushKit token request; without it the request is for the APNs token."""
    topic = voip_topic(BUNDLE)
    voip = courier.ScopedTokenRequest(topic=courier.topic_hash(topic), bundle_id=topic, push_type=VOIP)
    plain = courier.ScopedTokenRequest(topic=courier.topic_hash(BUNDLE), bundle_id=BUNDLE)
    assert courier.Decoder().feed(voip.encode() + plain.encode()) == [voip, plain]


# -- the app's side, with a fake phone ------------------------------------------------------------------


class Caller:
    """A PushKit delegate; ``report`` says whether it reports each push to CallKit, as iOS 13+ requires."""

    def __init__(self, report: bool = True) -> None:
        self.report = report
        self.app: App | None = None
        self.calls: list[tuple[str, Any]] = []

    def push_registry_did_update_push_credentials(self, token: str) -> None:
        self.calls.append(("credentials", token))

    def push_registry_did_receive_incoming_push(self, payload: Any, completion: Any) -> None:
        self.calls.append(("push", payload))
        if self.report and self.app is not None:
            self.app.report_new_incoming_call(handle=payload.get("caller", "?"))
        completion()

    def push_registry_did_invalidate_push_token(self) -> None:
        self.calls.append(("invalidated", None))

    def did_receive_remote_notification(self, payload: Any) -> None:
        self.calls.append(("remote", payload))


def make_app(delegate: Any = None, *, state: str = background.BACKGROUND, voip: VoipPolicy | None = None,
             environment: str | None = "development") -> tuple[FakeHost, App]:
    host = FakeHost()
    rules = PhoneRules(voip=voip or VoipPolicy())
    app = App(host, AppRecord(bundle_id=BUNDLE, environment=environment), delegate, rules=rules, state=state)
    if isinstance(delegate, Caller):
        delegate.app = app
    return host, app


def voip_push(app: App, payload: Any = CALL) -> str:
    apns_id = str(uuid.uuid4())
    app.receive_voip(courier.Push(token=bytes([0xEE]) * 32, topic=courier.topic_hash(voip_topic(BUNDLE)),
                                   payload=json.dumps(payload).encode(), message_id=1, apns_id=apns_id,
                                   push_type="voip"))
    return apns_id


async def test_register_voip_hands_a_separate_token_to_the_delegate() -> None:
    """Rule 28: the VoIP token is not the APNs token; the topic joins the filter; didUpdate gets the token."""
    caller = Caller()
    host, app = make_app(caller)
    token = await app.register(timeout=1)
    voip = await app.register_voip(timeout=1)
    assert voip != token and app.voip_token == voip and app.voip_registered
    assert ("credentials", voip) in caller.calls
    assert host.filter_changes == 2  # once for each topic
    assert await app.register_voip(timeout=1) == voip and host.filter_changes == 2
    app.unregister_voip()
    assert (app.voip_registered, app.voip_token, host.filter_changes) == (False, None, 3)
    assert caller.calls[-1] == ("invalidated", None)


async def test_register_voip_needs_the_aps_environment_entitlement() -> None:
    """§2.7: the same aps-environment entitlement governs PushKit (NSCocoaErrorDomain 3000 without it)."""
    _, app = make_app(Caller(), environment=None)
    with pytest.raises(RegistrationError) as raised:
        await app.register_voip(timeout=1)
    assert raised.value.code == 3000 and not app.voip_registered


async def test_reported_call_is_never_displayed_and_the_app_keeps_running() -> None:
    """Rule 28: straight to the PushKit delegate (not the remote-notification one), never displayed."""
    caller = Caller()
    host, app = make_app(caller)
    apns_id = voip_push(app)
    got = await app.next_notification(timeout=1)
    assert got.apns_id == apns_id and not got.presentation.presented and got.handed_to_app
    assert caller.calls == [("push", CALL)]
    assert [s for s, _ in host.stages(apns_id)] == ["handed_to_app", "not_presented"]
    final = host.stages(apns_id)[-1][1]
    assert final["call_reported"] is True and final["why"].startswith(NEVER_DISPLAYED)
    assert app.state == background.BACKGROUND and app.voip_failures == 0
    assert [(c.handle, c.apns_id) for c in app.calls] == [("Alice", apns_id)]
    assert app.delivered_notifications == ()


@pytest.mark.parametrize("state", [background.NOT_RUNNING, background.FORCE_QUIT])
async def test_voip_push_launches_an_app_that_is_not_running(state: str) -> None:
    """§2.7: the system launches the app in the background; §7: force-quit does not block VoIP (assumed)."""
    caller = Caller()
    host, app = make_app(caller, state=state)
    apns_id = voip_push(app)
    assert app.state == background.BACKGROUND
    assert host.stages(apns_id)[0] == ("handed_to_app", {"bundle_id": BUNDLE, "push_type": "voip",
                                                          "launched": True})
    assert caller.calls == [("push", CALL)]


async def test_no_call_reported_terminates_and_repeated_failures_stop_voip_pushes() -> None:
    """Rule 28: no CallKit report ⇒ the system terminates the app; after N failures VoIP pushes stop."""
    caller = Caller(report=False)
    host, app = make_app(caller, voip=VoipPolicy(max_failures=2))
    first = voip_push(app)
    assert app.state == background.NOT_RUNNING and app.voip_failures == 1
    final = host.stages(first)[-1][1]
    assert final["terminated"] is True and final["call_reported"] is False and "failure 1 of 2" in final["why"]
    voip_push(app)  # launched again, fails again: the last failure allowed
    assert app.voip_failures == 2 and app.voip_stopped
    assert [e["failures"] for e in host.named("voip_pushes_stopped")] == [2]
    assert len(host.named("app_terminated")) == 2
    third = voip_push(app)
    assert [s for s, _ in host.stages(third)] == ["not_presented"]
    assert "stopped" in host.stages(third)[0][1]["why"]
    assert len(caller.calls) == 2 and app.state == background.NOT_RUNNING  # not launched for it
    notes = [await app.next_notification(timeout=1) for _ in range(3)]
    assert [n.handed_to_app for n in notes] == [True, True, False]


async def test_completion_before_the_report_is_a_failure() -> None:
    """[sim] the report is judged when the handler says it is done (its completion), so a late one counts not."""
    host, app = make_app()

    class Late:
        def push_registry_did_receive_incoming_push(self, payload: Any, completion: Any) -> None:
            completion()
            app.report_new_incoming_call(handle="too late")

    app.delegate = Late()
    apns_id = voip_push(app)
    assert app.voip_failures == 1 and host.stages(apns_id)[-1][1]["terminated"] is True
    assert app.calls[0].apns_id is None  # the call answered no waiting push


async def test_app_without_a_pushkit_delegate_is_terminated() -> None:
    """Rule 28: a VoIP push the app cannot take is a call it does not report."""
    host, app = make_app(object())
    apns_id = voip_push(app)
    assert app.voip_failures == 1 and "no PushKit delegate" in host.stages(apns_id)[-1][1]["why"]


async def test_async_handler_reports_in_time_or_is_judged_at_the_limit() -> None:
    """[sim] an async handler has ``report_time_limit`` seconds; reporting after an await is fine."""
    host, app = make_app(voip=VoipPolicy(report_time_limit=0.2))

    class Async:
        def __init__(self, delay: float) -> None:
            self.delay = delay

        async def push_registry_did_receive_incoming_push(self, payload: Any, completion: Any) -> None:
            await asyncio.sleep(self.delay)
            app.report_new_incoming_call(handle="Bob")
            completion()

    app.delegate = Async(0.01)
    in_time = voip_push(app)
    await app.wait_idle(timeout=2)
    assert host.stages(in_time)[-1][1]["call_reported"] is True and app.voip_failures == 0
    app.delegate = Async(5.0)
    too_slow = voip_push(app)
    await app.wait_idle(timeout=2)
    assert host.stages(too_slow)[-1][1]["terminated"] is True and app.voip_failures == 1
