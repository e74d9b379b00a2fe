"""Token registry hygiene and the outbox (docs/apns-protocol.md §4.1, §4.4; docs/architecture.md contract 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from provider.apns.notification import Notification, alert
from provider.store import ACTIVE, INACTIVE, IdempotencyConflict, Store, should_deactivate

T1 = "aa" * 32
T2 = "bb" * 32


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Store:
    s = Store(tmp_path / "provider.db", clock=clock)
    yield s
    s.close()


def test_the_hygiene_rule_table() -> None:
    assert should_deactivate(1000, 400, "BadDeviceToken", None)
    assert should_deactivate(1000, 410, "Unregistered", 2000)  # registered before APNs saw it gone
    assert not should_deactivate(3000, 410, "Unregistered", 2000)  # re-registered afterwards: wins
    assert not should_deactivate(2000, 410, "Unregistered", 2000)  # same ms: not *before*
    assert should_deactivate(1000, 410, "ExpiredToken", None)  # no timestamp: counts as now
    for status, reason in [
        (200, None),
        (400, "DeviceTokenNotForTopic"),
        (503, "ServiceUnavailable"),
        (413, "PayloadTooLarge"),
        (403, "InvalidProviderToken"),
    ]:
        assert not should_deactivate(1000, status, reason, None)


def test_register_list_and_filter(store: Store, clock: Clock) -> None:
    d = store.register(T1.upper(), "com.example.app", "sandbox", "alice")
    assert (d.token, d.status, d.registered_at, d.reason) == (T1, ACTIVE, 1_700_000_000_000, None)
    clock.now += 1
    store.register(T2, "com.example.other", "production")
    assert [x.token for x in store.devices()] == [T1, T2]
    assert [x.token for x in store.devices(bundle_id="com.example.app")] == [T1]
    assert [x.token for x in store.devices(user_id="alice")] == [T1]
    assert store.devices(user_id="bob") == []
    assert d.to_json()["environment"] == "sandbox"


def test_register_validates(store: Store) -> None:
    with pytest.raises(ValueError, match="hex"):
        store.register("xyz", "com.example.app", "sandbox")
    with pytest.raises(ValueError, match="environment"):
        store.register(T1, "com.example.app", "staging")


def test_bad_device_token_deactivates(store: Store, clock: Clock) -> None:
    store.register(T1, "com.example.app", "sandbox")
    clock.now += 5
    assert store.apply_result(T1, 400, "BadDeviceToken", None)
    d = store.get(T1)
    assert d is not None and (d.status, d.reason, d.invalidated_at) == (
        INACTIVE,
        "BadDeviceToken",
        1_700_000_005_000,
    )
    assert store.devices(active_only=True) == []
    assert not store.apply_result(T1, 400, "BadDeviceToken", None)  # already inactive


def test_410_deactivates_only_tokens_registered_before_its_timestamp(store: Store, clock: Clock) -> None:
    store.register(T1, "com.example.app", "sandbox")  # registered at ...000_000
    assert not store.apply_result(T1, 410, "Unregistered", 1_699_999_999_000)  # APNs' news is older
    assert store.get(T1).status == ACTIVE  # type: ignore[union-attr]
    assert store.apply_result(T1, 410, "Unregistered", 1_700_000_000_500)
    d = store.get(T1)
    assert d is not None and d.status == INACTIVE and d.invalidated_at == 1_700_000_000_500


def test_reregistration_wins_over_an_earlier_410(store: Store, clock: Clock) -> None:
    store.register(T1, "com.example.app", "sandbox", "alice")
    store.apply_result(T1, 410, "Unregistered", 1_700_000_000_500)
    clock.now += 10
    d = store.register(T1, "com.example.app", "sandbox", "alice")
    assert (d.status, d.reason, d.invalidated_at, d.registered_at) == (ACTIVE, None, None, 1_700_000_010_000)
    # a late 410 stamped before the new registration is ignored
    assert not store.apply_result(T1, 410, "Unregistered", 1_700_000_001_000)
    assert store.get(T1).status == ACTIVE  # type: ignore[union-attr]


def test_other_answers_leave_the_token_alone(store: Store) -> None:
    store.register(T1, "com.example.app", "sandbox")
    for status, reason in [(200, None), (503, "ServiceUnavailable"), (400, "DeviceTokenNotForTopic")]:
        assert not store.apply_result(T1, status, reason, None)
    assert store.get(T1).status == ACTIVE  # type: ignore[union-attr]
    assert not store.apply_result("cc" * 32, 400, "BadDeviceToken", None)  # unknown token


def test_delete(store: Store) -> None:
    store.register(T1, "com.example.app", "sandbox")
    assert store.delete(T1.upper())
    assert not store.delete(T1)
    assert store.get(T1) is None


def test_outbox_keeps_pending_notifications_across_reopen(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "p.db"
    n1 = Notification(
        token=T1, topic="com.example.app", payload=alert("one"), priority=5, collapse_id="c", expiration=0
    ).with_apns_id()
    n2 = Notification(token=T2, topic="com.example.app", payload=alert("two")).with_apns_id()
    s = Store(path, clock=clock)
    s.enqueue("sandbox", n1)
    s.enqueue("production", n2)
    s.mark_done(n2.apns_id or "", 200, None)
    s.close()
    s = Store(path, clock=clock)
    (entry,) = s.pending()
    assert entry.environment == "sandbox" and entry.notification == n1
    assert s.outbox_entry(n2.apns_id or "")["status"] == 200  # type: ignore[index]
    s.close()


def test_outbox_needs_an_apns_id(store: Store) -> None:
    with pytest.raises(ValueError, match="apns_id"):
        store.enqueue("sandbox", Notification(token=T1, topic="com.example.app", payload=alert("x")))


def test_wal_mode(store: Store) -> None:
    assert store._db.query("PRAGMA journal_mode")[0]["journal_mode"] == "wal"


def test_leases_give_a_dead_workers_rows_to_another_and_keys_expire(store: Store, clock: Clock) -> None:
    """docs/provider-service.md §2, §3; docs/limits.md §6 (IDEMPOTENCY_KEY_TTL)."""
    notes = [("sandbox", Notification(token=T1, topic="com.example.app", payload=alert(str(i))).with_apns_id())
             for i in range(3)]
    assert store.enqueue_many(notes, idempotency=("k", "h1")) is None
    ids = [n.apns_id for _, n in notes]
    assert store.enqueue_many(notes[:1], idempotency=("k", "h1")) == ids  # a replay writes nothing
    with pytest.raises(IdempotencyConflict):
        store.enqueue_many(notes[:1], idempotency=("k", "other body"))
    first = store.claim("w1", 2, lease_ms=1000)
    second = store.claim("w2", 5, lease_ms=1000)
    assert {p.notification.apns_id for p in first}.isdisjoint(p.notification.apns_id for p in second)
    assert len(first) + len(second) == 3 and store.claim("w3", 5, lease_ms=1000) == []
    clock.now += 0.5
    store.renew("w1", [p.notification.apns_id or "" for p in first], lease_ms=1000)  # w1 is alive
    clock.now += 0.6
    assert [p.notification.apns_id for p in store.claim("w3", 5, lease_ms=1000)] == [
        p.notification.apns_id for p in second], "w2 died: its rows, and only those, are claimable"
    clock.now += 24 * 3600
    assert store.forget_idempotency_keys() == 1
    assert store.enqueue_many([], idempotency=("k", "other body")) is None  # a new request now


def test_a_worker_claims_only_the_environments_it_sends_to(store: Store) -> None:
    """docs/provider-service.md §3: a sandbox-only worker leaves production rows to a worker that has them."""
    sandbox = Notification(token=T1, topic="com.example.app", payload=alert("s")).with_apns_id()
    production = Notification(token=T2, topic="com.example.app", payload=alert("p")).with_apns_id()
    store.enqueue_many([("sandbox", sandbox), ("production", production)])
    assert [p.notification for p in store.claim("w1", 10, 1000, ("sandbox",))] == [sandbox]
    assert [p.notification for p in store.claim("w2", 10, 1000, ("sandbox",))] == []
    assert [p.notification for p in store.claim("w3", 10, 1000)] == [production]


def test_a_new_sqlite_store_is_private(tmp_path: Path) -> None:
    """docs/provider-service.md §1: a new SQLite file is 0600; its -wal and -shm files follow its mode."""
    s = Store(tmp_path / "private.db")
    try:
        s.register(T1, "com.example.app", "sandbox")
        for name in ("private.db", "private.db-wal", "private.db-shm"):
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o600, name
    finally:
        s.close()
