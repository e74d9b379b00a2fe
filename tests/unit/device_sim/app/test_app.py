"""The simulated iPhone's app rules without sockets: presentation, badge, registration errors (device-side §2, §4)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from apns_sim import courier
from device_sim.app.app import App, check_types
from device_sim.identity.store import AppRecord, Endpoints, InputError
from device_sim.rules.presentation import Presentation, RegistrationError, badge_after, entitlement_for, present
from tests.unit.device_sim.fake_host import FakeHost

ALL = ("alert", "sound", "badge")
FULL = {"aps": {"alert": {"title": "Hi", "body": "there"}, "sound": "default", "badge": 3}}


# -- presentation -------------------------------------------------------------------------------------


def test_everything_registered_is_presented() -> None:
    p = present(FULL, ALL)
    assert p == Presentation(alert={"title": "Hi", "body": "there"}, sound="default", badge=3)
    assert p.presented and p.as_json() == {"alert": {"title": "Hi", "body": "there"}, "sound": "default", "badge": 3}


@pytest.mark.parametrize(("types", "expected"), [
    (("alert",), {"alert": {"title": "Hi", "body": "there"}, "sound": None, "badge": None}),
    (("sound",), {"alert": None, "sound": "default", "badge": None}),
    (("badge",), {"alert": None, "sound": None, "badge": 3}),
    (("alert", "badge"), {"alert": {"title": "Hi", "body": "there"}, "sound": None, "badge": 3}),
])
def test_only_registered_types_are_presented(types: tuple[str, ...], expected: dict[str, Any]) -> None:
    p = present(FULL, types)
    assert p.as_json() == expected
    assert len(p.why_not) == 3 - len(types)


def test_nothing_registered_means_delivered_silently() -> None:
    """§2.6: a user who allows nothing still gets the push, silently; the token keeps working."""
    p = present(FULL, ())
    assert not p.presented
    assert set(p.why_not) == {"the app did not register for alerts", "the app did not register for sounds",
                              "the app did not register for badges"}


def test_alert_string_and_critical_sound() -> None:
    p = present({"aps": {"alert": "Hello", "sound": {"critical": 1, "name": "siren.caf", "volume": 1.0}}}, ALL)
    assert (p.alert, p.sound, p.badge) == ("Hello", "siren.caf", None)


def test_passive_interruption_level_plays_no_sound() -> None:
    p = present({"aps": {"alert": "x", "sound": "default", "interruption-level": "passive"}}, ALL)
    assert p.alert == "x" and p.sound is None


@pytest.mark.parametrize(("payload", "why"), [
    ({"aps": {"content-available": 1}}, "background notification"),
    ({"aps": {}}, "nothing to present"),
    ({"data": 1}, "no aps dictionary"),
    (None, "no aps dictionary"),
    ({"aps": {"badge": "3"}}, "badge must be a non-negative number"),
    ({"aps": {"badge": True}}, "badge must be a non-negative number"),
    ({"aps": {"badge": -1}}, "badge must be a non-negative number"),
])
def test_not_presented_says_why(payload: Any, why: str) -> None:
    p = present(payload, ALL)
    assert not p.presented
    assert any(why in reason for reason in p.why_not)


def test_voip_is_never_displayed() -> None:
    assert not present(FULL, ALL, push_type="voip").presented


@pytest.mark.parametrize(("current", "payload_badge", "after"), [
    (0, 5, 5),      # a number sets it
    (5, 2, 2),      # absolute, not an increment
    (5, 0, 0),      # 0 clears it
    (5, None, 5),   # absent: unchanged
])
def test_badge_rules(current: int, payload_badge: int | None, after: int) -> None:
    aps: dict[str, Any] = {"alert": "x"}
    if payload_badge is not None:
        aps["badge"] = payload_badge
    assert badge_after(current, present({"aps": aps}, ALL)) == after


def test_badge_not_authorized_leaves_the_icon_alone() -> None:
    assert badge_after(4, present({"aps": {"badge": 9}}, ("alert",))) == 4


# -- the app, with a fake phone --------------------------------------------------------------------------


class Delegate:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def did_register_for_remote_notifications(self, token: str) -> None:
        self.calls.append(("register", token))

    def did_fail_to_register_for_remote_notifications(self, error: RegistrationError) -> None:
        self.calls.append(("fail", error))

    def did_receive_remote_notification(self, payload: Any) -> None:
        self.calls.append(("receive", payload))


async def test_missing_entitlement_fails_with_cocoa_3000() -> None:
    """§4: no aps-environment entitlement → didFail… with NSCocoaErrorDomain 3000 and iOS's message."""
    delegate = Delegate()
    app = App(FakeHost(), AppRecord(bundle_id="com.example.app", environment=None), delegate)
    with pytest.raises(RegistrationError) as info:
        await app.register()
    error = info.value
    assert (error.domain, error.code) == ("NSCocoaErrorDomain", 3000)
    assert error.description == "no valid \u201caps-environment\u201d entitlement string found for application"
    assert delegate.calls == [("fail", error)]
    assert not app.registered


async def test_register_hands_the_token_to_the_delegate() -> None:
    host, delegate = FakeHost(), Delegate()
    app = App(host, AppRecord(bundle_id="com.example.app", environment="development"), delegate)
    token = await app.register()
    assert token == host.token.hex() and app.token == token and app.registered
    assert app.courier_environment == "sandbox"
    assert delegate.calls == [("register", token)]
    assert host.events[-1] == {"event": "registered", "bundle_id": "com.example.app", "token": token,
                               "environment": "sandbox"}


async def test_receiving_reports_handed_then_presented_and_sets_the_badge() -> None:
    host, delegate = FakeHost(), Delegate()
    app = App(host, AppRecord(bundle_id="com.example.app", environment="production", types=("alert", "badge")),
              delegate)
    apns_id = str(uuid.uuid4())
    push = courier.Push(token=host.token, topic=courier.topic_hash("com.example.app"),
                        payload=json.dumps(FULL).encode(), message_id=1, apns_id=apns_id)
    app.receive(push)
    got = await app.next_notification(timeout=1)
    assert got.apns_id == apns_id and got.payload == FULL
    assert got.presentation.as_json() == {"alert": {"title": "Hi", "body": "there"}, "sound": None, "badge": 3}
    assert app.badge == 3
    assert [r[1] for r in host.reports] == ["handed_to_app", "presented"]
    assert host.reports[1][2]["partly_not_shown"] == ["the app did not register for sounds"]
    assert delegate.calls == []  # suspended in the background: the system presents, no app code runs (rule 18)
    assert host.events[-1]["event"] == "notification"


async def test_unpresentable_push_reports_not_presented() -> None:
    host = FakeHost()
    app = App(host, AppRecord(bundle_id="com.example.app", environment="development"))
    push = courier.Push(token=host.token, topic=courier.topic_hash("com.example.app"), payload=b"not json",
                        message_id=1, apns_id=str(uuid.uuid4()))
    app.receive(push)
    assert [r[1] for r in host.reports] == ["handed_to_app", "not_presented"]
    assert host.reports[1][2] == {"why": "the payload has no aps dictionary"}


async def test_next_notification_times_out() -> None:
    app = App(FakeHost(), AppRecord(bundle_id="com.example.app", environment="development"))
    with pytest.raises(TimeoutError, match="no notification"):
        await app.next_notification(timeout=0.01)


# -- input checks -----------------------------------------------------------------------------------------


def test_entitlements_and_types() -> None:
    assert entitlement_for("development") == "development" and entitlement_for("sandbox") == "development"
    assert entitlement_for("production") == "production" and entitlement_for(None) is None
    with pytest.raises(ValueError, match="unknown environment"):
        entitlement_for("staging")
    assert check_types(["alert", "badge", "alert"]) == ("alert", "badge")
    with pytest.raises(ValueError, match="unknown notification type"):
        check_types(["alert", "vibrate"])


def test_endpoints_are_checked() -> None:
    ok = Endpoints.load({"gateway": "127.0.0.1:5223", "admin": "http://127.0.0.1:1/", "ca_file": "/x/ca.pem"})
    assert (ok.gateway_host, ok.gateway_port, ok.admin) == ("127.0.0.1", 5223, "http://127.0.0.1:1")
    with pytest.raises(InputError, match="lack gateway"):
        Endpoints.load({"admin": "http://x", "ca_file": "ca.pem"})
    with pytest.raises(InputError, match="HOST:PORT"):
        Endpoints.load({"gateway": "nowhere", "admin": "http://x", "ca_file": "ca.pem"})
