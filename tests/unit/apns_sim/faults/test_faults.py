"""Fault injection's pure core (matching, count, after, seeded probability, JSON), then its HTTP/2 acting-out
driven in memory by an ``h2`` client (STYLE habit 8: bytes before sockets). Sections: docs/apns-protocol.md §4, §7.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from apns_sim.faults.plan import FAULT_STAGE, FaultError, FaultPlan, FaultRule, parse_faults
from apns_sim.model.clock import Clock
from apns_sim.portal.service import Portal
from apns_sim.provider_api.connection import ProviderConnection
from apns_sim.provider_api.service import ProviderService
from apns_sim.state import SimState

TOKEN = "ab" * 32
OTHER = "cd" * 32


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def facts(token: str | None = TOKEN, topic: str | None = "com.example.app", apns_id: str | None = None,
          environment: str | None = "sandbox") -> dict[str, Any]:
    return {"token": token, "topic": topic, "apns_id": apns_id, "environment": environment}


# -- matching and selection -----------------------------------------------------------------------------


def test_an_empty_plan_is_disarmed_and_decides_nothing() -> None:
    plan = FaultPlan(FakeClock())
    assert (plan.provider_armed, plan.phone_armed) == (False, False)
    assert plan.decide(**facts()) is None


def test_matching_on_token_topic_apns_id_and_environment() -> None:
    plan = FaultPlan(FakeClock())
    by_token = plan.add(FaultRule(kind="reason", reason="BadDeviceToken", token=TOKEN.upper()))
    by_topic = plan.add(FaultRule(kind="hang", topic="com.example.other"))
    by_id = plan.add(FaultRule(kind="close", apns_id="AAAAAAAA-0000-4000-8000-000000000000"))
    by_env = plan.add(FaultRule(kind="rst_stream", environment="production"))
    assert plan.provider_armed and not plan.phone_armed
    rule = plan.decide(**facts())
    assert rule is not None and rule.id == by_token and rule.wire_reason is not None
    hit = plan.decide(**facts(token=OTHER, topic="com.example.other"))
    assert hit is not None and hit.id == by_topic
    hit = plan.decide(**facts(token=OTHER, apns_id="aaaaaaaa-0000-4000-8000-000000000000"))
    assert hit is not None and hit.id == by_id
    hit = plan.decide(**facts(token=OTHER, environment="production"))
    assert hit is not None and hit.id == by_env
    assert plan.decide(**facts(token=OTHER)) is None  # sandbox, other token, topic and id: nothing fits


def test_count_retires_a_rule_after_n_hits() -> None:
    plan = FaultPlan(FakeClock())
    rule_id = plan.add(FaultRule(kind="reason", status=503, count=2))
    assert [plan.decide(**facts()) is not None for _ in range(4)] == [True, True, False, False]
    (status,) = plan.list()
    assert (status.rule.id, status.hits, status.matches, status.retired) == (rule_id, 2, 2, True)
    assert status.rule.reason == "ServiceUnavailable"  # 503 alone picks Apple's reason for it
    assert not plan.provider_armed  # nothing live: back to the one-attribute fast path


def test_after_lets_the_first_matches_through() -> None:
    plan = FaultPlan(FakeClock())
    plan.add(FaultRule(kind="goaway", after=2, count=1))
    assert [plan.decide(**facts()) is not None for _ in range(4)] == [False, False, True, False]
    assert plan.list()[0].matches == 3


def test_the_first_rule_that_applies_wins_and_a_skipped_one_lets_the_next_try() -> None:
    plan = FaultPlan(FakeClock())
    plan.add(FaultRule(kind="reason", reason="TooManyRequests", after=1))
    second = plan.add(FaultRule(kind="delay", seconds=0.5))
    first_decision = plan.decide(**facts())
    assert first_decision is not None and first_decision.id == second
    decided = plan.decide(**facts())
    assert decided is not None and decided.kind == "reason"


def test_seeded_probability_is_reproducible_across_plans() -> None:
    def run(plan: FaultPlan) -> list[bool]:
        plan.add(FaultRule(kind="reason", status=500, probability=0.5))
        return [plan.decide(**facts()) is not None for _ in range(64)]

    first, second = run(FaultPlan(FakeClock(), seed=42)), run(FaultPlan(FakeClock(), seed=42))
    assert first == second
    assert 10 < sum(first) < 54  # a coin, not a constant
    assert run(FaultPlan(FakeClock(), seed=43)) != first
    plan = FaultPlan(FakeClock(), seed=1)
    plan.reseed(42)
    assert run(plan) == first


def test_probability_zero_never_applies() -> None:
    plan = FaultPlan(FakeClock())
    plan.add(FaultRule(kind="hang", probability=0))
    assert all(plan.decide(**facts()) is None for _ in range(20))
    assert plan.list()[0].matches == 20


def test_duration_follows_the_injected_clock() -> None:
    clock = FakeClock()
    plan = FaultPlan(clock)
    plan.add(FaultRule(kind="close", duration=30))
    assert plan.decide(**facts()) is not None
    clock.now += 31
    assert plan.list()[0].retired
    assert plan.decide(**facts()) is None
    assert not plan.provider_armed


def test_remove_clear_and_reset() -> None:
    plan = FaultPlan(FakeClock(), seed=9)
    a = plan.add(FaultRule(kind="hang"))
    b = plan.add(FaultRule(kind="drop_acks"))
    assert plan.remove(a) and not plan.remove(a)
    assert [s.rule.id for s in plan.list()] == [b] and plan.phone_armed and not plan.provider_armed
    assert plan.clear() == 1 and not plan.phone_armed
    plan.reseed(5)
    plan.reset()
    assert plan.seed == 9 and plan.list() == []
    assert plan.add(FaultRule(kind="hang")) == "f3"  # ids are never reused: journeys keep pointing right


def test_phone_side_matching() -> None:
    plan = FaultPlan(FakeClock())
    seen: list[str | None] = []
    plan.subscribe(lambda rule: seen.append(rule.id))
    by_topic = plan.add(FaultRule(kind="phone_offline", topic="com.example.app"))
    apps = [(TOKEN.upper(), "com.example.app")]
    rule = plan.offline(device_id="dev-1", environment="sandbox", apps=apps)
    assert rule is not None and rule.id == by_topic and seen == [by_topic]
    assert plan.offline(device_id="dev-2", environment="sandbox", apps=[(OTHER, "com.example.other")]) is None
    plan.clear()
    plan.add(FaultRule(kind="phone_offline", device_id="dev-2", environment="production"))
    assert plan.offline(device_id="dev-2", environment="production", apps=[]) is not None
    assert plan.offline(device_id="dev-2", environment="sandbox", apps=[]) is None
    plan.add(FaultRule(kind="drop_acks", token=TOKEN, count=1))
    assert plan.decide(**facts()) is None  # phone-side rules never touch provider requests
    ack = {"topic": None, "apns_id": "x", "environment": "sandbox", "device_id": "dev-1"}
    assert plan.decide_ack(token=TOKEN, **ack) is not None
    assert plan.decide_ack(token=TOKEN, **ack) is None


# -- JSON ---------------------------------------------------------------------------------------------------


def test_json_round_trip_and_defaults() -> None:
    plan = FaultPlan(FakeClock(), seed=3)
    ids = plan.load_json({"seed": 11, "faults": [
        {"kind": "goaway", "token": TOKEN, "count": 1},
        {"kind": "rst_stream", "error_code": "refused_stream"},
        {"kind": "reason", "reason": "Unregistered", "timestamp": 1_700_000_000_000},
    ]})
    assert ids == ["f1", "f2", "f3"] and plan.seed == 11
    data = json.loads(json.dumps(plan.to_json()))
    goaway, rst, gone = data["faults"]
    assert goaway == {"id": "f1", "kind": "goaway", "token": TOKEN, "reason": "Shutdown", "error_code": "NO_ERROR",
                      "last_stream": "previous", "count": 1, "matches": 0, "hits": 0, "retired": False,
                      "expires_at": None}
    assert rst["error_code"] == "REFUSED_STREAM" and gone["timestamp"] == 1_700_000_000_000
    again = FaultPlan(FakeClock())
    again.load_json(data)  # a GET answer posts back as is (read-only keys are ignored)
    assert [s.rule for s in again.list()] == [s.rule for s in plan.list()]


@pytest.mark.parametrize(("body", "message"), [
    ({"kind": "goway"}, "unknown kind 'goway'; kinds: reason, delay"),
    ({"token": TOKEN}, "needs 'kind'"),
    ({"kind": "reason"}, "needs 'reason'"),
    ({"kind": "reason", "reason": "NoSuchReason"}, "one of Apple's reasons"),
    ({"kind": "reason", "status": 404}, "overrides only 429, 500 or 503"),
    ({"kind": "reason", "reason": "BadDeviceToken", "timestamp": 5}, "only with a 410 reason"),
    ({"kind": "delay"}, "needs 'seconds'"),
    ({"kind": "delay", "seconds": -1}, "'seconds' must be at least 0"),
    ({"kind": "delay", "seconds": "2"}, "'seconds' must be a number"),
    ({"kind": "hang", "count": 0}, "'count' must be a positive integer"),
    ({"kind": "hang", "count": True}, "'count' must be an integer"),
    ({"kind": "hang", "probability": 1.5}, "'probability' must be at least 0 and at most 1"),
    ({"kind": "hang", "seconds": 2}, "'seconds' does not apply to kind 'hang' (it is for: delay)"),
    ({"kind": "hang", "tokn": TOKEN}, "unknown field 'tokn'"),
    ({"kind": "hang", "token": "xyz"}, "'token' must be a device token in hex"),
    ({"kind": "hang", "environment": "prod"}, "'sandbox' or 'production'"),
    ({"kind": "hang", "device_id": "dev-1"}, "phone-side kinds only"),
    ({"kind": "rst_stream", "error_code": "OOPS"}, "HTTP/2 error code name"),
    ({"kind": "goaway", "last_stream": "next"}, "'previous' or 'current'"),
    ({"kind": "max_streams"}, "needs 'streams'"),
    ({"kind": "phone_offline", "count": 1}, "lasts until removed or for 'duration'"),
    ({"kind": "phone_offline", "duration": 0}, "'duration' must be more than 0"),
    ([{"kind": "hang"}, {"kind": "delay"}], "faults[1]: kind 'delay' needs 'seconds'"),
    ({"seed": "x"}, "'seed' must be an integer"),
    ({"speed": 1}, "unknown key 'speed'"),
    ("hang", "a fault rule is a JSON object"),
])
def test_json_validation_says_what_to_fix(body: Any, message: str) -> None:
    with pytest.raises(FaultError) as caught:
        parse_faults(body)
    assert message in str(caught.value)


def test_an_invalid_list_adds_nothing() -> None:
    plan = FaultPlan(FakeClock())
    with pytest.raises(FaultError):
        plan.load_json([{"kind": "hang"}, {"kind": "nope"}])
    assert plan.list() == [] and not plan.provider_armed


# -- the HTTP/2 acting-out, in memory -----------------------------------------------------------------------

BUNDLE = "com.example.app"


class Wire:
    """A certificate connection to the sandbox core, pumped by hand with an h2 client."""

    def __init__(self, tmp_path: Path) -> None:
        clock = Clock()
        clock.freeze()
        self.state = SimState(tmp_path, clock=clock)
        portal = Portal(self.state.registry, self.state.authority, clock.now)
        portal.create_app_id(BUNDLE, "TEAM123456")
        now = clock.now()
        self.state.registry.activate_device("dev-1", "iPhone", now)
        self.token = self.state.registry.app_token("dev-1", BUNDLE, "sandbox", now).token
        key = ec.generate_private_key(ec.SECP256R1())
        csr = x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "provider")])).sign(key, hashes.SHA256())
        der = portal.issue_certificate(BUNDLE, csr.public_bytes(serialization.Encoding.PEM), "sandbox").der
        self.core: ProviderConnection = ProviderService(self.state, "sandbox").connect(der, "h2")
        self.client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.client.initiate_connection()
        self.events: list[h2.events.Event] = []
        self.pump()

    def pump(self) -> None:
        for _ in range(10):
            data = self.client.data_to_send()
            if data:
                self.core.receive_data(data)
            out = self.core.data_to_send()
            if not data and not out:
                return
            if out:
                self.events += self.client.receive_data(out)

    def send(self, apns_id: str | None = None) -> int:
        sid = self.client.get_next_available_stream_id()
        headers = [(":method", "POST"), (":scheme", "https"), (":path", f"/3/device/{self.token}"),
                   (":authority", "api.sandbox.push.apple.com"), ("apns-topic", BUNDLE)]
        if apns_id:
            headers.append(("apns-id", apns_id))
        self.client.send_headers(sid, headers)
        self.client.send_data(sid, b'{"aps":{"alert":"hi"}}', end_stream=True)
        return sid

    def answer(self, sid: int) -> tuple[str | None, bytes]:
        responses: list[Any] = [e.headers for e in self.events
                                if isinstance(e, h2.events.ResponseReceived) and e.stream_id == sid]
        status = dict(responses[0])[":status"] if responses else None  # header_encoding utf-8: str
        body = b"".join(e.data for e in self.events if isinstance(e, h2.events.DataReceived) and e.stream_id == sid)
        return status, body

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
def wire(tmp_path: Path) -> Any:
    w = Wire(tmp_path)
    yield w
    w.state.close()


def test_reason_with_a_status_override_and_the_journey(wire: Wire) -> None:
    rule_id = wire.state.faults.add(FaultRule(kind="reason", reason="ServiceUnavailable", status=500, count=1))
    apns_id = "11111111-2222-4333-8444-555555555555"
    sid = wire.send(apns_id)
    wire.pump()
    assert wire.answer(sid) == ("500", b'{"reason":"ServiceUnavailable"}')
    journey = wire.state.journeys.get(apns_id)
    assert journey is not None and (journey.status, journey.reason) == (500, "ServiceUnavailable")
    assert {k: journey.stages[0][k] for k in ("stage", "reason", "status", "fault")} == {
        "stage": "rejected", "reason": "ServiceUnavailable", "status": 500, "fault": rule_id}
    again = wire.send(apns_id)  # the retry: accepted, and the journey keeps the fault before it
    wire.pump()
    assert wire.answer(again)[0] == "200"
    latest = wire.state.journeys.get(apns_id)
    assert latest is not None and [s["stage"] for s in latest.stages][:2] == ["rejected", "accepted"]
    assert latest.status == 200


def test_goaway_previous_leaves_the_stream_unprocessed(wire: Wire) -> None:
    wire.state.faults.add(FaultRule(kind="goaway", after=1, count=1))
    first, second = wire.send(), wire.send("22222222-2222-4333-8444-555555555555")
    wire.pump()
    assert wire.answer(first)[0] == "200" and wire.answer(second) == (None, b"")
    (goaway,) = wire.of(h2.events.ConnectionTerminated)
    assert goaway.last_stream_id == first and goaway.error_code == h2.errors.ErrorCodes.NO_ERROR
    assert json.loads(goaway.additional_data) == {"reason": "Shutdown"}
    journey = wire.state.journeys.get("22222222-2222-4333-8444-555555555555")
    assert journey is not None and journey.status == 0 and journey.stages[0]["stage"] == FAULT_STAGE
    assert wire.core.finished  # nothing left open: the adapter closes the transport


def test_goaway_current_answers_then_goes_away(wire: Wire) -> None:
    wire.state.faults.add(FaultRule(kind="goaway", last_stream="current", reason="IdleTimeout",
                                    error_code="ENHANCE_YOUR_CALM"))
    sid = wire.send()
    wire.pump()
    assert wire.answer(sid)[0] == "200"
    (goaway,) = wire.of(h2.events.ConnectionTerminated)
    assert (goaway.last_stream_id, goaway.error_code) == (sid, h2.errors.ErrorCodes.ENHANCE_YOUR_CALM)
    assert json.loads(goaway.additional_data) == {"reason": "IdleTimeout"}


@pytest.mark.parametrize("code", ["INTERNAL_ERROR", "REFUSED_STREAM"])
def test_rst_stream(wire: Wire, code: str) -> None:
    wire.state.faults.add(FaultRule(kind="rst_stream", error_code=code))
    sid = wire.send()
    wire.pump()
    (reset,) = wire.of(h2.events.StreamReset)
    assert (reset.stream_id, reset.error_code) == (sid, h2.errors.ErrorCodes[code])


def test_hang_and_close(wire: Wire) -> None:
    wire.state.faults.add(FaultRule(kind="hang", count=1))
    sid = wire.send()
    wire.pump()
    assert wire.answer(sid) == (None, b"") and not wire.of(h2.events.StreamReset)
    wire.state.faults.add(FaultRule(kind="close"))
    wire.send()
    wire.pump()
    assert wire.core.aborted and wire.core.finished


def test_delay_holds_the_answer_until_the_timer_runs(wire: Wire) -> None:
    wire.state.faults.add(FaultRule(kind="delay", seconds=1.5))
    sid = wire.send()
    wire.pump()
    assert wire.answer(sid) == (None, b"")
    ((seconds, fire),) = wire.core.timers
    assert seconds == 1.5
    fire()
    wire.pump()
    assert wire.answer(sid)[0] == "200"


def test_max_streams_is_sent_as_settings_and_enforced(wire: Wire) -> None:
    wire.state.faults.add(FaultRule(kind="max_streams", streams=2, count=1))
    sid = wire.send()
    wire.pump()
    assert wire.answer(sid)[0] == "200" and wire.core.stream_limit == 2
    changed = [e for e in wire.of(h2.events.RemoteSettingsChanged)
               if h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS in e.changed_settings]
    assert changed[-1].changed_settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS].new_value == 2
