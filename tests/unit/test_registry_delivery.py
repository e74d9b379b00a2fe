"""The simulator's model (registry) and store-and-forward policy (delivery), without sockets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from apns_sim import events
from apns_sim.clock import Clock
from apns_sim.delivery import Delivery, DeliveryConfig, PushMessage
from apns_sim.events import Journey, JourneyLog
from apns_sim.registry import ACTIVE, REPLACED, UNINSTALLED, Registry

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    c = Clock()
    c.freeze(NOW.timestamp())
    return c


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    reg = Registry(tmp_path / "db.sqlite3")
    reg.activate_device("dev-1", "iPhone", NOW)
    yield reg
    reg.close()


def _message(token: str, apns_id: str, *, expiration: int | None = None, accepted_at: float | None = None,
             bundle: str = "com.example.app") -> PushMessage:
    return PushMessage(
        apns_id=apns_id, token=token, device_id="dev-1", bundle_id=bundle, topic=bundle,
        environment="sandbox", payload=b'{"aps":{"alert":"hi"}}', push_type="alert", priority=10,
        expiration=expiration, collapse_id=None, accepted_at=NOW.timestamp() if accepted_at is None else accepted_at,
    )


def _log(journeys: JourneyLog, apns_id: str, token: str) -> None:
    journeys.begin(Journey(apns_id=apns_id, token=token, topic="com.example.app", environment="sandbox",
                           status=200), events.ACCEPTED)


def _stages(journeys: JourneyLog, apns_id: str) -> list[str]:
    journey = journeys.get(apns_id)
    assert journey is not None
    return [s["stage"] for s in journey.stages]


def test_same_token_until_a_token_change_event(registry: Registry) -> None:
    """device-side.md §3: repeated registration returns the same token; restore/erase issues a new one."""
    first = registry.app_token("dev-1", "com.example.app", "sandbox", NOW)
    again = registry.app_token("dev-1", "com.example.app", "sandbox", NOW + timedelta(days=1))
    assert again.token == first.token and len(bytes.fromhex(first.token)) == 32
    assert registry.replace_tokens("dev-1", NOW) == 1
    assert registry.get_token(first.token).state == REPLACED  # type: ignore[union-attr]
    fresh = registry.app_token("dev-1", "com.example.app", "sandbox", NOW)
    assert fresh.token != first.token and fresh.state == ACTIVE


def test_sandbox_and_production_tokens_are_disjoint(registry: Registry) -> None:
    """apns-protocol.md §8: sandbox and production tokens differ for the same app on the same device."""
    sandbox = registry.app_token("dev-1", "com.example.app", "sandbox", NOW)
    production = registry.app_token("dev-1", "com.example.app", "production", NOW)
    assert sandbox.token != production.token
    assert registry.get_token(production.token).environment == "production"  # type: ignore[union-attr]


def test_uninstall_marks_the_token_with_its_410_time(registry: Registry) -> None:
    """device-side.md §3: uninstall makes APNs answer 410 from a (delayed) timestamp on."""
    tok = registry.app_token("dev-1", "com.example.app", "sandbox", NOW)
    assert registry.mark_uninstalled(tok.token, NOW, NOW + timedelta(hours=1))
    rec = registry.get_token(tok.token.upper())
    assert rec is not None and rec.state == UNINSTALLED and rec.unregistered_at == NOW + timedelta(hours=1)
    assert not registry.mark_uninstalled(tok.token, NOW, NOW)  # only an active token can be uninstalled
    assert registry.app_token("dev-1", "com.example.app", "sandbox", NOW).token != tok.token


def test_offline_phone_keeps_only_the_latest_per_app(registry: Registry, clock: Clock) -> None:
    """apns-protocol.md §11: one stored notification per app per device; the latest replaces the earlier."""
    journeys = JourneyLog(clock.time)
    delivery = Delivery(registry, journeys, clock)
    tok = registry.app_token("dev-1", "com.example.app", "sandbox", NOW).token
    for apns_id in ("a", "b"):
        _log(journeys, apns_id, tok)
        assert delivery.submit(_message(tok, apns_id)) == events.STORED
    assert _stages(journeys, "a") == [events.ACCEPTED, events.STORED, events.REPLACED]
    sent: list[PushMessage] = []
    delivery.attach("dev-1", "sandbox", sent.append)
    assert [m.apns_id for m in sent] == ["b"]
    assert _stages(journeys, "b")[-1] == events.DELIVERED
    assert registry.count_stored() == 0


def test_expiration_zero_is_never_stored(registry: Registry, clock: Clock) -> None:
    """apns-protocol.md §11: apns-expiration 0 means one attempt only, never stored."""
    journeys = JourneyLog(clock.time)
    delivery = Delivery(registry, journeys, clock)
    tok = registry.app_token("dev-1", "com.example.app", "sandbox", NOW).token
    _log(journeys, "z", tok)
    assert delivery.submit(_message(tok, "z", expiration=0)) == events.DISCARDED
    assert registry.count_stored() == 0


def test_stored_notification_expires(registry: Registry, clock: Clock) -> None:
    """apns-protocol.md §11: storage lasts until apns-expiration; an expired one is not delivered."""
    journeys = JourneyLog(clock.time)
    delivery = Delivery(registry, journeys, clock)
    tok = registry.app_token("dev-1", "com.example.app", "sandbox", NOW).token
    _log(journeys, "e", tok)
    delivery.submit(_message(tok, "e", expiration=int(NOW.timestamp()) + 60))
    clock.advance(61)
    sent: list[PushMessage] = []
    delivery.attach("dev-1", "sandbox", sent.append)
    assert sent == [] and _stages(journeys, "e")[-1] == events.EXPIRED


def test_unacknowledged_push_goes_back_to_storage(registry: Registry, clock: Clock) -> None:
    """Nothing lost: a push written to a phone that disconnects before acking is stored again."""
    journeys = JourneyLog(clock.time)
    delivery = Delivery(registry, journeys, clock)
    tok = registry.app_token("dev-1", "com.example.app", "sandbox", NOW).token
    delivery.attach("dev-1", "sandbox", lambda m: None)
    _log(journeys, "x", tok)
    assert delivery.submit(_message(tok, "x")) == events.DELIVERED
    delivery.detach("dev-1", "sandbox")
    assert registry.count_stored() == 1
    assert _stages(journeys, "x")[-1] == events.STORED


def test_refused_push_uninstalls_the_token_after_the_delay(registry: Registry, clock: Clock) -> None:
    """device-side.md §6 rule 13 and §3: a refused push marks the token; 410 starts after the delay."""
    journeys = JourneyLog(clock.time)
    delivery = Delivery(registry, journeys, clock, DeliveryConfig(unregister_delay=120))
    tok = registry.app_token("dev-1", "com.example.app", "sandbox", NOW).token
    delivery.attach("dev-1", "sandbox", lambda m: None)
    _log(journeys, "r", tok)
    delivery.submit(_message(tok, "r"))
    delivery.acknowledged("dev-1", "sandbox", "r", ok=False)
    rec = registry.get_token(tok)
    assert rec is not None and rec.state == UNINSTALLED
    assert rec.unregistered_at == NOW + timedelta(seconds=120)
    assert _stages(journeys, "r")[-1] == events.REFUSED


def test_clock_freeze_and_advance() -> None:
    """STYLE habit 3: time is controllable, never slept through."""
    c = Clock()
    c.freeze(1000.0)
    c.advance(3601)
    assert c.time() == 4601.0 and c.millis() == 4_601_000
    with pytest.raises(ValueError):
        c.advance(-1)
    c.unfreeze()
    assert c.time() >= 4601.0 and not c.frozen
