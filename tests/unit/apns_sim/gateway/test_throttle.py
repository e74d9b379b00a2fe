"""The activation service's per-address token bucket, on a fake clock (docs/limits.md §2, docs/style.md habit 3)."""

from __future__ import annotations

import pytest

from apns_sim.gateway.throttle import AddressThrottle


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_one_per_interval_with_the_wait_in_whole_seconds() -> None:
    """docs/limits.md §2: ``burst`` at once, then ``rate`` per second; the refusal says how long to wait."""
    clock = FakeClock()
    throttle = AddressThrottle(0.5, 3, max_addresses=10, now=clock)
    assert [throttle.check("a") for _ in range(3)] == [None, None, None]
    assert throttle.check("a") == 2  # one token takes 2 s at 0.5/s
    assert throttle.check("b") is None  # another address has its own bucket
    clock.now += 2.0
    assert throttle.check("a") is None
    assert throttle.check("a") == 2


def test_rate_zero_is_no_limit_and_nothing_is_remembered() -> None:
    throttle = AddressThrottle(0, 1, max_addresses=1, now=FakeClock())
    assert all(throttle.check("a") is None for _ in range(1000))
    assert throttle.tracked == 0


def test_only_max_addresses_buckets_are_kept_oldest_forgotten_first() -> None:
    """docs/limits.md §2: the table of addresses is bounded too."""
    clock = FakeClock()
    throttle = AddressThrottle(1, 1, max_addresses=2, now=clock)
    for address in ("a", "b", "c"):
        assert throttle.check(address) is None
    assert throttle.tracked == 2
    assert throttle.check("c") == 1  # still remembered: refused
    assert throttle.check("a") is None  # forgotten, so it starts again with a full bucket


@pytest.mark.parametrize(("rate", "burst", "addresses"), [(-1, 1, 1), (1, 0, 1), (1, 1, 0)])
def test_nonsense_settings_are_refused(rate: float, burst: int, addresses: int) -> None:
    with pytest.raises(ValueError):
        AddressThrottle(rate, burst, max_addresses=addresses, now=FakeClock())
