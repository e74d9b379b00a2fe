"""Priority batching as a pure policy (apns_sim.delivery.batching): no clock, no sockets, ``now`` passed in."""

from __future__ import annotations

import pytest

from apns_sim.delivery.batching import BatchPolicy

PHONE = ("dev-1", "sandbox")
OTHER = ("dev-2", "sandbox")


def test_off_by_default_every_priority_goes_at_once() -> None:
    """docs/apns-protocol.md §11: batching is Apple's option, not a rule; interval 0 sends 10, 5 and 1 at once."""
    policy: BatchPolicy[tuple[str, str], str] = BatchPolicy(0)
    assert not policy.enabled
    assert [policy.offer(PHONE, f"p{p}", p, 100.0) for p in (10, 5, 1)] == [["p10"], ["p5"], ["p1"]]
    assert policy.held() == 0 and policy.next_deadline() is None


def test_priority_10_is_never_held() -> None:
    """docs/apns-protocol.md §2.1: apns-priority 10 is sent immediately."""
    policy: BatchPolicy[tuple[str, str], str] = BatchPolicy(60)
    assert policy.offer(PHONE, "a", 10, 0.0) == ["a"]
    assert policy.held() == 0


def test_priority_5_waits_for_its_window_and_leaves_in_order() -> None:
    """docs/apns-protocol.md §11, docs/device-side.md §1.10: priority 5 may be grouped and delivered in bursts."""
    policy: BatchPolicy[tuple[str, str], str] = BatchPolicy(60)
    assert policy.offer(PHONE, "a", 5, 100.0) is None
    assert policy.offer(PHONE, "b", 5, 130.0) is None  # joins the open window, does not extend it
    assert policy.closes_at(PHONE) == 160.0 and policy.next_deadline() == 160.0
    assert policy.due(159.9) == []
    assert policy.due(160.0) == [(PHONE, ["a", "b"])]
    assert policy.held() == 0 and policy.next_deadline() is None
    assert policy.offer(PHONE, "c", 5, 200.0) is None and policy.closes_at(PHONE) == 260.0  # a new window


def test_priority_1_never_opens_a_window_but_rides_the_next_burst() -> None:
    """docs/device-side.md §6 rule 22: priority 1 never wakes the phone; it leaves with the next batch."""
    policy: BatchPolicy[tuple[str, str], str] = BatchPolicy(60)
    assert policy.offer(PHONE, "low", 1, 0.0) is None
    assert policy.closes_at(PHONE) is None and policy.next_deadline() is None
    assert policy.due(10_000.0) == []  # no time alone sends it
    assert policy.offer(PHONE, "mid", 5, 10.0) is None
    assert policy.due(70.0) == [(PHONE, ["low", "mid"])]


def test_priority_10_takes_what_waits_for_that_phone_only() -> None:
    """docs/device-side.md §6 rule 22: a priority 10 send is the burst opportunistic pushes wait for."""
    policy: BatchPolicy[tuple[str, str], str] = BatchPolicy(60)
    policy.offer(PHONE, "low", 1, 0.0)
    policy.offer(PHONE, "mid", 5, 1.0)
    policy.offer(OTHER, "theirs", 5, 2.0)
    assert policy.offer(PHONE, "now", 10, 3.0) == ["low", "mid", "now"]
    assert policy.held(PHONE) == 0 and policy.held(OTHER) == 1 and policy.next_deadline() == 62.0


def test_due_windows_leave_earliest_first() -> None:
    """docs/apns-protocol.md §11: bursts leave in order; the later phone's window comes second."""
    policy: BatchPolicy[tuple[str, str], str] = BatchPolicy(10)
    policy.offer(OTHER, "second", 5, 5.0)
    policy.offer(PHONE, "first", 5, 1.0)
    assert policy.due(100.0) == [(PHONE, ["first"]), (OTHER, ["second"])]


def test_take_hands_back_what_a_dropped_phone_was_waiting_for() -> None:
    """docs/apns-protocol.md §11: held notifications of a phone that leaves go to store-and-forward, not away."""
    policy: BatchPolicy[tuple[str, str], str] = BatchPolicy(60)
    policy.offer(PHONE, "a", 5, 0.0)
    policy.offer(PHONE, "b", 1, 1.0)
    assert policy.take(PHONE) == ["a", "b"] and policy.take(PHONE) == []
    assert policy.due(1000.0) == []


def test_a_negative_interval_is_refused() -> None:
    """docs/apns-protocol.md §11: the interval is a knob, 0 or positive seconds."""
    with pytest.raises(ValueError, match="batch interval"):
        BatchPolicy(-1)
