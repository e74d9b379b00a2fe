"""Pushes written to a phone but not acknowledged when its connection closes (docs/apns-protocol.md §11
"Written but not acknowledged"), without sockets: kept in full up to a bound, never "replaced" over what the phone
reported taking."""

from __future__ import annotations

import pytest

from apns_sim.delivery.store_and_forward import Delivery, DeliveryConfig
from apns_sim.limits import MAX_UNACKED_KEPT
from apns_sim.model import journeys as events
from apns_sim.model.clock import Clock
from apns_sim.model.journeys import JourneyLog
from apns_sim.model.registry import Registry
from tests.unit.apns_sim.delivery.test_registry_delivery import NOW, _log, _message, _stages


def _written(registry: Registry, clock: Clock, count: int, config: DeliveryConfig | None = None,
             ) -> tuple[Delivery, JourneyLog, list[str], list[str]]:
    journeys = JourneyLog(clock.time)
    delivery = Delivery(registry, journeys, clock, config)
    tok = registry.app_token("dev-1", "com.example.app", "sandbox", NOW).token
    sent: list[str] = []
    delivery.attach("dev-1", "sandbox", lambda m: sent.append(m.apns_id))
    ids = [f"id-{i:04d}" for i in range(count)]
    for i, apns_id in enumerate(ids):
        _log(journeys, apns_id, tok)
        delivery.submit(_message(tok, apns_id, accepted_at=NOW.timestamp() + i))
    return delivery, journeys, ids, sent


def test_unacknowledged_pushes_are_kept_in_full_and_all_come_back(registry: Registry, clock: Clock) -> None:
    """§11: APNs dequeues a push only on the phone's ack: 30 written, none acked, all 30 come back in order."""
    delivery, journeys, ids, sent = _written(registry, clock, 30)
    delivery.detach("dev-1", "sandbox")
    assert registry.count_stored() == 30
    assert all(_stages(journeys, i)[-1] == events.STORED for i in ids)
    assert all(journeys.get(i).stages[-1]["kept"] == "in_full" for i in ids)  # type: ignore[union-attr]
    sent.clear()
    delivery.attach("dev-1", "sandbox", lambda m: sent.append(m.apns_id))
    assert sent == ids and registry.count_stored() == 0


def test_past_the_bound_the_rest_share_the_one_per_app_slot(registry: Registry, clock: Clock) -> None:
    """docs/limits.md §4: MAX_UNACKED_KEPT kept in full, the newest of the rest in the app's slot, the others
    "replaced" (they were never shown)."""
    delivery, journeys, ids, _ = _written(registry, clock, MAX_UNACKED_KEPT + 3)
    delivery.detach("dev-1", "sandbox")
    assert registry.count_stored() == MAX_UNACKED_KEPT + 1
    assert [_stages(journeys, i)[-1] for i in ids[-3:]] == [events.REPLACED, events.REPLACED, events.STORED]


def test_past_the_bound_a_push_the_phone_reported_is_not_kept_never_replaced(registry: Registry,
                                                                            clock: Clock) -> None:
    """Issue 14 item 8: a push the phone presented whose ack was lost never ends as "replaced"."""
    delivery, journeys, ids, _ = _written(registry, clock, MAX_UNACKED_KEPT + 2)
    for apns_id in ids:
        delivery.report(apns_id, events.PRESENTED, {})
    delivery.detach("dev-1", "sandbox")
    assert [_stages(journeys, i)[-1] for i in ids[-2:]] == [events.NOT_KEPT, events.NOT_KEPT]
    assert not any(events.REPLACED in _stages(journeys, i) for i in ids)


def test_the_coalesce_knob_follows_the_one_per_app_rule(registry: Registry, clock: Clock) -> None:
    """docs/choices.md: ``unacked="coalesce"`` treats them like pushes for an offline phone (one per app)."""
    delivery, journeys, ids, _ = _written(registry, clock, 3, DeliveryConfig(unacked="coalesce"))
    delivery.detach("dev-1", "sandbox")
    assert registry.count_stored() == 1
    assert [_stages(journeys, i)[-1] for i in ids] == [events.REPLACED, events.REPLACED, events.STORED]
    assert journeys.get(ids[-1]).stages[-1]["kept"] == "one_per_app"  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="unacked"):
        DeliveryConfig(unacked="drop")


def test_a_replacing_connection_gets_what_the_old_one_did_not_acknowledge(registry: Registry,
                                                                          clock: Clock) -> None:
    """The gateway may see the new connection before the old one's close (no detach): written again at once."""
    delivery, journeys, ids, first = _written(registry, clock, 2)
    again: list[str] = []
    delivery.attach("dev-1", "sandbox", lambda m: again.append(m.apns_id))
    assert first == ids and again == ids
    assert journeys.get(ids[0]).stages[-1]["again"]  # type: ignore[union-attr]


def test_a_push_taken_once_is_never_replaced_after_a_second_unanswered_writing(registry: Registry,
                                                                                clock: Clock) -> None:
    """docs/device-side.md §1.10: the phone presented the push, its ack was lost, it was written again on a
    replacing connection that dropped before the phone reported the repeat; with the one-per-app rule (the
    coalesce knob) a newer push must still not mark it "replaced", since the phone took it the first time."""
    delivery, journeys, ids, _ = _written(registry, clock, 1, DeliveryConfig(unacked="coalesce"))
    delivery.report(ids[0], events.PRESENTED, {})
    delivery.attach("dev-1", "sandbox", lambda m: None)  # replaces the connection: written again, unanswered
    delivery.detach("dev-1", "sandbox")
    tok = registry.app_token("dev-1", "com.example.app", "sandbox", NOW).token
    _log(journeys, "id-newer", tok)
    delivery.submit(_message(tok, "id-newer", accepted_at=NOW.timestamp() + 10))
    assert events.REPLACED not in _stages(journeys, ids[0])
