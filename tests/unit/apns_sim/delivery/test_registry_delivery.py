"""The simulator's model (registry) and store-and-forward policy (delivery), without sockets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from apns_sim.delivery.store_and_forward import BATCHED, RESTORED, Delivery, DeliveryConfig, PushMessage, loop_scheduler
from apns_sim.model import journeys as events
from apns_sim.model.clock import Clock
from apns_sim.model.journeys import Journey, JourneyLog
from apns_sim.model.registry import ACTIVE, REPLACED, UNINSTALLED, Registry
from tests.unit.apns_sim.delivery.conftest import NOW


def _message(token: str, apns_id: str, *, expiration: int | None = None, accepted_at: float | None = None,
             bundle: str = "com.example.app", priority: int = 10) -> PushMessage:
    return PushMessage(
        apns_id=apns_id, token=token, device_id="dev-1", bundle_id=bundle, topic=bundle,
        environment="sandbox", payload=b'{"aps":{"alert":"hi"}}', push_type="alert", priority=priority,
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
    """docs/device-side.md §3: repeated registration returns the same token; restore/erase issues a new one."""
    first = registry.app_token("dev-1", "com.example.app", "sandbox", NOW)
    again = registry.app_token("dev-1", "com.example.app", "sandbox", NOW + timedelta(days=1))
    assert again.token == first.token and len(bytes.fromhex(first.token)) == 32
    assert registry.replace_tokens("dev-1", NOW) == 1
    assert registry.get_token(first.token).state == REPLACED  # type: ignore[union-attr]
    fresh = registry.app_token("dev-1", "com.example.app", "sandbox", NOW)
    assert fresh.token != first.token and fresh.state == ACTIVE


def test_sandbox_and_production_tokens_are_disjoint(registry: Registry) -> None:
    """docs/apns-protocol.md §8: sandbox and production tokens differ for the same app on the same device."""
    sandbox = registry.app_token("dev-1", "com.example.app", "sandbox", NOW)
    production = registry.app_token("dev-1", "com.example.app", "production", NOW)
    assert sandbox.token != production.token
    assert registry.get_token(production.token).environment == "production"  # type: ignore[union-attr]


def test_uninstall_marks_the_token_with_its_410_time(registry: Registry) -> None:
    """docs/device-side.md §3: uninstall makes APNs answer 410 from a (delayed) timestamp on."""
    tok = registry.app_token("dev-1", "com.example.app", "sandbox", NOW)
    assert registry.mark_uninstalled(tok.token, NOW, NOW + timedelta(hours=1))
    rec = registry.get_token(tok.token.upper())
    assert rec is not None and rec.state == UNINSTALLED and rec.unregistered_at == NOW + timedelta(hours=1)
    assert not registry.mark_uninstalled(tok.token, NOW, NOW)  # only an active token can be uninstalled
    assert registry.app_token("dev-1", "com.example.app", "sandbox", NOW).token != tok.token


def test_offline_phone_keeps_only_the_latest_per_app(registry: Registry, clock: Clock) -> None:
    """docs/apns-protocol.md §11: one stored notification per app per device; the latest replaces the earlier."""
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
    """docs/apns-protocol.md §11: apns-expiration 0 means one attempt only, never stored."""
    journeys = JourneyLog(clock.time)
    delivery = Delivery(registry, journeys, clock)
    tok = registry.app_token("dev-1", "com.example.app", "sandbox", NOW).token
    _log(journeys, "z", tok)
    assert delivery.submit(_message(tok, "z", expiration=0)) == events.DISCARDED
    assert registry.count_stored() == 0


def test_stored_notification_expires(registry: Registry, clock: Clock) -> None:
    """docs/apns-protocol.md §11: storage lasts until apns-expiration; an expired one is not delivered."""
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
    """docs/device-side.md §6 rule 13 and §3: a refused push marks the token; 410 starts after the delay."""
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


def test_clock_tells_its_listeners_when_it_is_set() -> None:
    """STYLE habit 3: work due at a virtual time runs when the clock is moved, not after a sleep."""
    c = Clock()
    calls: list[float] = []
    unsubscribe = c.subscribe(lambda: calls.append(c.time()))
    c.freeze(10.0)
    c.advance(5)
    assert calls == [10.0, 15.0]
    unsubscribe()
    c.advance(1)
    assert len(calls) == 2


# -- priority batching (apns_sim.delivery.batching wired into delivery) ---------------------------------------------


def _batching(registry: Registry, clock: Clock, interval: float = 60) -> tuple[Delivery, JourneyLog, str]:
    journeys = JourneyLog(clock.time)
    delivery = Delivery(registry, journeys, clock, DeliveryConfig(batch_interval=interval))
    return delivery, journeys, registry.app_token("dev-1", "com.example.app", "sandbox", NOW).token


def test_priority_5_waits_for_the_burst_and_clock_advance_flushes_it(registry: Registry, clock: Clock) -> None:
    """docs/apns-protocol.md §11: priority 5 may be grouped and delivered in bursts; the window runs on the clock."""
    delivery, journeys, tok = _batching(registry, clock)
    sent: list[PushMessage] = []
    delivery.attach("dev-1", "sandbox", sent.append)
    for apns_id in ("p5a", "p5b"):
        _log(journeys, apns_id, tok)
        assert delivery.submit(_message(tok, apns_id, priority=5)) == BATCHED
    assert sent == [] and delivery.held() == 2
    batched = journeys.get("p5a").stages[-1]  # type: ignore[union-attr]
    assert batched["stage"] == BATCHED and batched["flush_at"] == NOW.timestamp() + 60
    clock.advance(59)
    assert sent == []
    clock.advance(1)
    assert [m.apns_id for m in sent] == ["p5a", "p5b"] and delivery.held() == 0
    assert _stages(journeys, "p5b") == [events.ACCEPTED, BATCHED, events.DELIVERED]
    assert journeys.get("p5b").stages[-1]["batched"] is True  # type: ignore[union-attr]


def test_priority_1_rides_with_the_next_priority_10(registry: Registry, clock: Clock) -> None:
    """docs/device-side.md §6 rule 22: priority 1 never wakes the phone; it goes with the next send to it."""
    delivery, journeys, tok = _batching(registry, clock)
    sent: list[PushMessage] = []
    delivery.attach("dev-1", "sandbox", sent.append)
    _log(journeys, "low", tok)
    assert delivery.submit(_message(tok, "low", priority=1)) == BATCHED
    clock.advance(24 * 3600)
    assert sent == []  # no time alone sends a priority 1
    _log(journeys, "urgent", tok)
    assert delivery.submit(_message(tok, "urgent", priority=10)) == events.DELIVERED
    assert [m.apns_id for m in sent] == ["low", "urgent"]


def test_priority_10_is_immediate_even_with_batching(registry: Registry, clock: Clock) -> None:
    """docs/apns-protocol.md §2.1: apns-priority 10 is sent immediately."""
    delivery, journeys, tok = _batching(registry, clock)
    sent: list[PushMessage] = []
    delivery.attach("dev-1", "sandbox", sent.append)
    _log(journeys, "now", tok)
    assert delivery.submit(_message(tok, "now")) == events.DELIVERED and len(sent) == 1


def test_batching_is_off_by_default(registry: Registry, clock: Clock) -> None:
    """docs/apns-protocol.md §11: batching is a knob (DeliveryConfig.batch_interval); off, priority 1 goes at once."""
    journeys = JourneyLog(clock.time)
    delivery = Delivery(registry, journeys, clock)
    tok = registry.app_token("dev-1", "com.example.app", "sandbox", NOW).token
    sent: list[PushMessage] = []
    delivery.attach("dev-1", "sandbox", sent.append)
    _log(journeys, "low", tok)
    assert delivery.submit(_message(tok, "low", priority=1)) == events.DELIVERED and len(sent) == 1


def test_a_dropped_phone_has_its_held_pushes_stored(registry: Registry, clock: Clock) -> None:
    """docs/apns-protocol.md §11: nothing lost; held for a burst, then the phone leaves: stored, latest per app."""
    delivery, journeys, tok = _batching(registry, clock)
    other = registry.app_token("dev-1", "com.example.other", "sandbox", NOW).token
    delivery.attach("dev-1", "sandbox", lambda m: None)
    _log(journeys, "old", tok)
    delivery.submit(_message(tok, "old", priority=5, accepted_at=NOW.timestamp()))
    _log(journeys, "new", tok)
    delivery.submit(_message(tok, "new", priority=1, accepted_at=NOW.timestamp() + 1))
    _log(journeys, "theirs", other)
    delivery.submit(_message(other, "theirs", priority=5, bundle="com.example.other"))
    delivery.detach("dev-1", "sandbox")
    assert delivery.held() == 0 and registry.count_stored() == 2
    assert _stages(journeys, "old")[-1] == events.REPLACED and _stages(journeys, "new")[-1] == events.STORED
    clock.advance(3600)  # no window fires for a phone that left
    sent: list[PushMessage] = []
    delivery.attach("dev-1", "sandbox", sent.append)
    assert sorted(m.apns_id for m in sent) == ["new", "theirs"]


def test_a_held_push_past_its_expiration_is_not_sent(registry: Registry, clock: Clock) -> None:
    """docs/apns-protocol.md §11: apns-expiration bounds delivery; a burst after that date drops it."""
    delivery, journeys, tok = _batching(registry, clock, interval=120)
    sent: list[PushMessage] = []
    delivery.attach("dev-1", "sandbox", sent.append)
    _log(journeys, "short", tok)
    delivery.submit(_message(tok, "short", priority=5, expiration=int(NOW.timestamp()) + 30))
    clock.advance(120)
    assert sent == [] and _stages(journeys, "short")[-1] == events.EXPIRED


def test_the_scheduler_wakes_delivery_when_the_running_clock_reaches_the_window(
        registry: Registry, clock: Clock) -> None:
    """docs/apns-protocol.md §11: bursts also leave in real time, through the adapter's timer (here a fake loop)."""
    timers: list[tuple[float, object]] = []

    class Handle:
        def __init__(self) -> None:
            self.cancelled = False

        def cancel(self) -> None:
            self.cancelled = True

    class Loop:
        def call_later(self, delay: float, callback: object) -> Handle:
            timers.append((delay, callback))
            return Handle()

    clock.unfreeze()
    delivery, journeys, tok = _batching(registry, clock, interval=30)
    delivery.scheduler = loop_scheduler(Loop())
    sent: list[PushMessage] = []
    delivery.attach("dev-1", "sandbox", sent.append)
    _log(journeys, "p5", tok)
    delivery.submit(_message(tok, "p5", priority=5, accepted_at=clock.time()))
    assert len(timers) == 1 and 29 < timers[0][0] <= 30
    clock.advance(30)  # the clock listener flushes first; the timer then finds nothing due
    assert [m.apns_id for m in sent] == ["p5"]
    delivery.close()


def test_advancing_a_running_clock_re_arms_the_burst_timer(registry: Registry, clock: Clock) -> None:
    """docs/apns-protocol.md §11: the window closes on the simulator's clock; when that clock jumps ahead while
    running, the real-time timer must shrink with it (it kept the old 30 s delay before)."""
    timers: list[float] = []

    class Loop:
        def call_later(self, delay: float, callback: object) -> object:
            timers.append(delay)
            return type("Handle", (), {"cancel": lambda self: None})()

    clock.unfreeze()
    delivery, journeys, tok = _batching(registry, clock, interval=30)
    delivery.scheduler = loop_scheduler(Loop())
    delivery.attach("dev-1", "sandbox", lambda message: None)
    _log(journeys, "p5", tok)
    delivery.submit(_message(tok, "p5", priority=5, accepted_at=clock.time()))
    clock.advance(20)
    assert len(timers) == 2 and 29 < timers[0] <= 30 and 9 < timers[1] <= 10
    delivery.close()


def test_a_phone_report_cannot_set_the_journeys_own_keys(registry: Registry, clock: Clock) -> None:
    """A SimReport's detail comes off the network: ``apns_id``, ``stage`` or ``at`` in it must neither
    raise (it closed the phone's connection as an internal error) nor overwrite the recorded values."""
    journeys = JourneyLog(clock.time)
    delivery = Delivery(registry, journeys, clock)
    tok = registry.app_token("dev-1", "com.example.app", "sandbox", NOW).token
    _log(journeys, "n1", tok)
    delivery.report("n1", events.PRESENTED, {"apns_id": "other", "stage": "x", "at": 1.0, "alert": "hi"})
    last = journeys.get("n1").stages[-1]  # type: ignore[union-attr]
    assert last == {"stage": events.PRESENTED, "at": clock.time(), "alert": "hi"}


def test_a_stored_push_keeps_its_journey_across_a_restart(tmp_path: Path, clock: Clock) -> None:
    """docs/apns-protocol.md §11 and DESIGN contract 1: a restart on the same data dir loses nothing, story included."""
    first = Registry(tmp_path / "db.sqlite3")
    first.activate_device("dev-1", "iPhone", NOW)
    tok = first.app_token("dev-1", "com.example.app", "sandbox", NOW).token
    journeys = JourneyLog(clock.time)
    Delivery(first, journeys, clock).submit(_message(tok, "kept"))
    _log(journeys, "kept", tok)  # begun after submit: the stored row was written without it
    first.close()

    second = Registry(tmp_path / "db.sqlite3")
    fresh = JourneyLog(clock.time)
    sent: list[PushMessage] = []
    Delivery(second, fresh, clock).attach("dev-1", "sandbox", sent.append)
    assert [m.apns_id for m in sent] == ["kept"]
    assert _stages(fresh, "kept") == [RESTORED, events.DELIVERED]  # nothing earlier was kept: nothing invented
    second.close()


def test_restored_journey_carries_the_stages_before_the_restart(tmp_path: Path, clock: Clock) -> None:
    """DESIGN "one notification, end to end": accepted and stored survive the restart with the notification."""
    first = Registry(tmp_path / "db.sqlite3")
    first.activate_device("dev-1", "iPhone", NOW)
    tok = first.app_token("dev-1", "com.example.app", "sandbox", NOW).token
    journeys = JourneyLog(clock.time)
    _log(journeys, "kept", tok)
    Delivery(first, journeys, clock).submit(_message(tok, "kept"))
    first.close()

    second = Registry(tmp_path / "db.sqlite3")
    fresh = JourneyLog(clock.time)
    Delivery(second, fresh, clock).attach("dev-1", "sandbox", lambda m: None)
    journey = fresh.get("kept")
    assert journey is not None and journey.token == tok and journey.status == 200
    assert [s["stage"] for s in journey.stages] == [events.ACCEPTED, events.STORED, RESTORED, events.DELIVERED]
    second.close()


def test_negative_knobs_are_refused() -> None:
    """docs/apns-protocol.md §11: interval, storage limit and 410 delay are seconds, never negative."""
    for bad in ({"batch_interval": -1}, {"storage_limit": -1}, {"unregister_delay": -1}):
        with pytest.raises(ValueError):
            DeliveryConfig(**bad)
