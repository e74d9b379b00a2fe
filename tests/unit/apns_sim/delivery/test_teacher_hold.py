"""The teacher's hold (docs/scenarios.md "Teacher mode"), without sockets: while it is on, pushes to a connected
phone wait at APNs, accepted and not delivered; released, they go out in the order they were accepted."""

from __future__ import annotations

from apns_sim.delivery.store_and_forward import HELD, Delivery
from apns_sim.model import journeys as events
from apns_sim.model.clock import Clock
from apns_sim.model.journeys import JourneyLog
from apns_sim.model.registry import Registry
from tests.unit.apns_sim.delivery.test_registry_delivery import NOW, _log, _message, _stages


def _connected(registry: Registry, clock: Clock) -> tuple[Delivery, JourneyLog, str, list[str]]:
    journeys = JourneyLog(clock.time)
    delivery = Delivery(registry, journeys, clock)
    token = registry.app_token("dev-1", "com.example.app", "sandbox", NOW).token
    sent: list[str] = []
    delivery.attach("dev-1", "sandbox", lambda m: sent.append(m.apns_id))
    return delivery, journeys, token, sent


def test_held_pushes_wait_then_leave_in_order_when_released(registry: Registry, clock: Clock) -> None:
    """docs/scenarios.md "Teacher mode": accepted, held (not delivered) until the presenter moves on."""
    delivery, journeys, token, sent = _connected(registry, clock)
    delivery.hold()
    assert delivery.holding
    for i, apns_id in enumerate(("a", "b")):
        _log(journeys, apns_id, token)
        assert delivery.submit(_message(token, apns_id, accepted_at=NOW.timestamp() + i)) == HELD
    assert sent == [] and _stages(journeys, "a") == [events.ACCEPTED, HELD]
    assert delivery.release() == 2 and not delivery.holding
    assert sent == ["a", "b"] and _stages(journeys, "b") == [events.ACCEPTED, HELD, events.DELIVERED]
    _log(journeys, "c", token)
    assert delivery.submit(_message(token, "c")) == events.DELIVERED and sent[-1] == "c"  # no hold: at once


def test_a_phone_that_leaves_during_the_hold_finds_its_push_stored(registry: Registry, clock: Clock) -> None:
    """docs/apns-protocol.md §11: nothing is lost; what waited for a phone that left is stored for it."""
    delivery, journeys, token, sent = _connected(registry, clock)
    delivery.hold()
    _log(journeys, "a", token)
    delivery.submit(_message(token, "a"))
    delivery.detach("dev-1", "sandbox")
    assert _stages(journeys, "a")[-1] == events.STORED and delivery.release() == 0
    delivery.attach("dev-1", "sandbox", lambda m: sent.append(m.apns_id))
    assert sent == ["a"]


def test_a_push_that_expires_while_held_is_expired_not_delivered(registry: Registry, clock: Clock) -> None:
    """docs/apns-protocol.md §3 (apns-expiration): APNs does not deliver after the expiration; a hold that
    outlasts it must not either."""
    delivery, journeys, token, sent = _connected(registry, clock)
    delivery.hold()
    _log(journeys, "a", token)
    delivery.submit(_message(token, "a", expiration=int(NOW.timestamp()) + 10))
    clock.freeze(NOW.timestamp() + 3600)
    assert delivery.release() == 1
    assert sent == [] and _stages(journeys, "a") == [events.ACCEPTED, HELD, events.EXPIRED]


def test_stored_pushes_of_a_phone_that_connects_during_the_hold_wait_too(registry: Registry, clock: Clock) -> None:
    """docs/scenarios.md "Teacher mode": the hold covers every push to an online phone, stored ones included,
    so the dashboard does not show stage 2 before the presenter reaches it."""
    journeys = JourneyLog(clock.time)
    delivery = Delivery(registry, journeys, clock)
    token = registry.app_token("dev-1", "com.example.app", "sandbox", NOW).token
    _log(journeys, "s", token)
    assert delivery.submit(_message(token, "s")) == events.STORED  # the phone is offline
    delivery.hold()
    sent: list[str] = []
    delivery.attach("dev-1", "sandbox", lambda m: sent.append(m.apns_id))
    assert sent == [] and _stages(journeys, "s")[-1] == HELD
    assert delivery.release() == 1 and sent == ["s"]
