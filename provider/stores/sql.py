"""Token registry, app secrets, idempotency keys and the outbox with leases, in SQL both databases run.

The outbox (docs/provider-service.md §2, §3): a notification is written with its ``apns_id`` before it is
sent. A sender *claims* rows by setting ``claimed_by`` and ``lease_until``; a row whose lease has run out is
anybody's again, so the claims of a crashed sender are picked up by another after at most one lease. On
PostgreSQL the claim's ``FOR UPDATE SKIP LOCKED`` lets any number of workers claim at once without waiting
on each other or taking the same row. A row leaves the outbox's pending set only when APNs answered.

Time comes from an injected ``clock`` (seconds); stored times are ms since the epoch.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from provider.apns.notification import Notification, normalize_token
from provider.limits import IDEMPOTENCY_KEY_TTL
from provider.stores.backend import Backend, Row, SQLiteBackend, Tx
from provider.stores.records import (
    ACTIVE,
    ENVIRONMENTS,
    INACTIVE,
    Device,
    IdempotencyConflict,
    PendingNotification,
    SchemaOutOfDate,
    TokenBound,
    should_deactivate,
)
from provider.stores.schema import LATEST, MIGRATIONS, VERSION_TABLE

_DEVICE_COLUMNS = (
    "token, bundle_id, environment, user_id, status, reason, registered_at, updated_at, invalidated_at"
)


def is_postgres_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def _open(target: str) -> Backend:
    if is_postgres_url(target):
        from provider.stores.postgres import PostgresBackend

        return PostgresBackend(target)
    return SQLiteBackend(target.removeprefix("sqlite://"))


def _notification(r: Row) -> PendingNotification:
    return PendingNotification(
        environment=r["environment"],
        notification=Notification(
            token=r["token"],
            topic=r["topic"],
            payload=json.loads(r["payload"]),
            push_type=r["push_type"],
            priority=r["priority"],
            expiration=r["expiration"],
            collapse_id=r["collapse_id"],
            apns_id=r["apns_id"],
        ),
    )


class Store:
    """Registry + outbox. ``Store(target)`` opens it; SQLite is migrated at open, PostgreSQL must already be
    (``apns-provider migrate``) unless ``migrate=True``. ``close()`` when done."""

    def __init__(
        self, target: str | Path, *, clock: Callable[[], float] = time.time, migrate: bool | None = None
    ) -> None:
        self.target = str(target)
        self.path = self.target  # the old name, kept for callers of the single-file store
        self._clock = clock
        self._db = _open(self.target)
        try:
            if migrate if migrate is not None else self._db.dialect == "sqlite":
                self.migrate()
            elif (version := self.schema_version()) != LATEST:
                raise SchemaOutOfDate(
                    f"database schema is version {version}, this code needs {LATEST}: run apns-provider migrate"
                )
        except BaseException:
            self._db.close()
            raise

    @property
    def dialect(self) -> str:
        return self._db.dialect

    def close(self) -> None:
        self._db.close()

    def now(self) -> int:
        return int(self._clock() * 1000)

    # -- schema -------------------------------------------------------------------------------------------

    def schema_version(self) -> int:
        with self._db.tx() as tx:
            tx.execute(VERSION_TABLE)
            rows = tx.query("SELECT MAX(version) AS v FROM schema_version")
        return int(rows[0]["v"] or 0)

    def migrate(self) -> list[int]:
        """Apply the migrations this database lacks, each in its own transaction; the versions applied."""
        applied = []
        for version, _title, statements in MIGRATIONS:
            with self._db.tx() as tx:
                self._db.lock_for_migration(tx)
                tx.execute(VERSION_TABLE)
                if tx.query("SELECT 1 FROM schema_version WHERE version = ?", (version,)):
                    continue
                for statement in statements:
                    tx.execute(statement)
                tx.execute("INSERT INTO schema_version VALUES (?, ?)", (version, self.now()))
                applied.append(version)
        return applied

    # -- apps ---------------------------------------------------------------------------------------------

    def set_app_secret(self, bundle_id: str, secret_hash: str) -> None:
        with self._db.tx() as tx:
            tx.execute(
                "INSERT INTO apps VALUES (?, ?, ?) ON CONFLICT (bundle_id) DO UPDATE SET"
                " secret_hash = excluded.secret_hash",
                (bundle_id, secret_hash, self.now()),
            )

    def app_secret_hash(self, bundle_id: str) -> str | None:
        rows = self._db.query("SELECT secret_hash FROM apps WHERE bundle_id = ?", (bundle_id,))
        return rows[0]["secret_hash"] if rows else None

    # -- devices ------------------------------------------------------------------------------------------

    def register(
        self,
        token: str,
        bundle_id: str,
        environment: str,
        user_id: str | None = None,
        *,
        authorized: bool = True,
    ) -> Device:
        """Register (or re-register) a token: it becomes active with a fresh ``registered_at``.

        An app sends its token at every launch (§8); each registration is new evidence that the token is
        alive, so it wins over any earlier 410. Moving a token to another user, or registering it for
        another app or environment than it already has, needs ``authorized`` (``TokenBound`` otherwise):
        docs/provider-service.md §4.
        """
        token = normalize_token(token)
        if environment not in ENVIRONMENTS:
            raise ValueError(f"environment must be one of {ENVIRONMENTS}, got {environment!r}")
        now = self.now()
        with self._db.tx() as tx:
            if not authorized:
                for row in tx.query("SELECT bundle_id, environment, user_id FROM devices WHERE token = ?",
                                    (token,)):
                    if (row["bundle_id"], row["environment"]) != (bundle_id, environment):
                        raise TokenBound("this token is registered for another app or environment")
                    if row["user_id"] is not None and row["user_id"] != user_id:
                        raise TokenBound("this token is registered to another user")
            tx.execute(
                f"""INSERT INTO devices ({_DEVICE_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, NULL)
                   ON CONFLICT (bundle_id, environment, token) DO UPDATE SET user_id=excluded.user_id,
                     status=excluded.status, reason=NULL, registered_at=excluded.registered_at,
                     updated_at=excluded.updated_at, invalidated_at=NULL""",
                (token, bundle_id, environment, user_id, ACTIVE, now, now),
            )
        device = self.get(token, bundle_id=bundle_id, environment=environment)
        assert device is not None
        return device

    def get(self, token: str, *, bundle_id: str | None = None, environment: str | None = None) -> Device | None:
        """The token's registration (the latest one if it has several and no filter picks one)."""
        found = self._devices(token=token.lower(), bundle_id=bundle_id, environment=environment)
        return found[-1] if found else None

    def devices(
        self,
        *,
        bundle_id: str | None = None,
        user_id: str | None = None,
        environment: str | None = None,
        active_only: bool = False,
    ) -> list[Device]:
        """Devices matching every filter given, oldest registration first."""
        return self._devices(bundle_id=bundle_id, user_id=user_id, environment=environment,
                             status=ACTIVE if active_only else None)

    def _devices(self, **filters: str | None) -> list[Device]:
        given = [(column, value) for column, value in filters.items() if value is not None]
        where = " AND ".join(f"{column} = ?" for column, _ in given)
        rows = self._db.query(
            f"SELECT {_DEVICE_COLUMNS} FROM devices {'WHERE ' + where if where else ''}"
            " ORDER BY registered_at, token, bundle_id, environment",
            [value for _, value in given],
        )
        return [Device(**r) for r in rows]

    def delete(self, token: str, *, bundle_id: str | None = None, environment: str | None = None) -> bool:
        args: list[Any] = [token.lower()]
        where = "token = ?"
        for column, value in (("bundle_id", bundle_id), ("environment", environment)):
            if value is not None:
                where += f" AND {column} = ?"
                args.append(value)
        with self._db.tx() as tx:
            return tx.execute(f"DELETE FROM devices WHERE {where}", args) > 0

    def apply_result(
        self,
        token: str,
        status: int,
        reason: str | None,
        timestamp: int | None,
        *,
        bundle_id: str | None = None,
        environment: str | None = None,
    ) -> bool:
        """Apply token hygiene for Apple's answer; ``True`` if a registration was deactivated now."""
        now = self.now()
        changed = False
        with self._db.tx() as tx:
            for row in tx.query(
                "SELECT bundle_id, environment, registered_at, status FROM devices WHERE token = ?",
                (token.lower(),),
            ):
                if bundle_id is not None and row["bundle_id"] != bundle_id:
                    continue
                if environment is not None and row["environment"] != environment:
                    continue
                if row["status"] != ACTIVE or not should_deactivate(row["registered_at"], status, reason,
                                                                    timestamp):
                    continue
                tx.execute(
                    "UPDATE devices SET status = ?, reason = ?, updated_at = ?, invalidated_at = ?"
                    " WHERE token = ? AND bundle_id = ? AND environment = ?",
                    (INACTIVE, reason, now, timestamp if timestamp is not None else now, token.lower(),
                     row["bundle_id"], row["environment"]),
                )
                changed = True
        return changed

    # -- outbox -------------------------------------------------------------------------------------------

    def enqueue(self, environment: str, notification: Notification) -> None:
        """Write one notification (which must carry its ``apns_id``), unclaimed, before it is sent."""
        self.enqueue_many([(environment, notification)])

    def enqueue_many(
        self,
        entries: Sequence[tuple[str, Notification]],
        *,
        idempotency: tuple[str, str] | None = None,
        claimed_by: str | None = None,
        lease_ms: int = 0,
    ) -> list[str] | None:
        """Write ``entries`` in one transaction, optionally claimed by ``claimed_by`` for ``lease_ms``.

        With ``idempotency=(key, request_hash)`` the key is recorded in the same transaction. If the key was
        used before, nothing is written and the first request's apns-ids are returned (``None`` means the
        entries were written now); another ``request_hash`` raises ``IdempotencyConflict``.
        """
        for _, n in entries:
            if n.apns_id is None:
                raise ValueError("outbox entries need an apns_id so a resend keeps the same identity")
        now = self.now()
        lease_until = now + lease_ms if claimed_by is not None else None
        with self._db.tx() as tx:
            if idempotency is not None:
                key, request_hash = idempotency
                tx.execute("DELETE FROM idempotency WHERE key = ? AND created_at < ?",
                           (key, now - IDEMPOTENCY_KEY_TTL * 1000))  # an expired key starts afresh
                first = _first_answer(tx, key, request_hash)
                if first is not None:
                    return first
                # Two requests with one key at once: on PostgreSQL the second INSERT waits for the first
                # transaction, then does nothing, and the second request replays the first's answer.
                if not tx.execute(
                    "INSERT INTO idempotency VALUES (?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                    (key, request_hash, json.dumps([n.apns_id for _, n in entries]), now),
                ):
                    first = _first_answer(tx, key, request_hash)
                    if first is not None:
                        return first
            tx.executemany(
                "INSERT INTO outbox (apns_id, environment, token, topic, payload, push_type, priority,"
                " expiration, collapse_id, state, created_at, claimed_by, lease_until)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
                [(n.apns_id, environment, n.token, n.topic, n.body.decode(), n.push_type, n.priority,
                  n.expiration, n.collapse_id, now, claimed_by, lease_until) for environment, n in entries],
            )
        return None

    def forget_idempotency_keys(self) -> int:
        """Drop the keys older than ``IDEMPOTENCY_KEY_TTL`` (docs/limits.md §6); how many."""
        with self._db.tx() as tx:
            return tx.execute("DELETE FROM idempotency WHERE created_at < ?",
                              (self.now() - IDEMPOTENCY_KEY_TTL * 1000,))

    def claim(self, worker: str, limit: int, lease_ms: int,
              environments: Sequence[str] = ENVIRONMENTS) -> list[PendingNotification]:
        """Take up to ``limit`` pending rows for ``environments`` that nobody holds (or whose lease ran out),
        oldest first. A worker names the environments it can send to, so it never holds another's rows."""
        now = self.now()
        marks = ", ".join("?" * len(environments))
        with self._db.tx() as tx:
            rows = tx.query(
                "UPDATE outbox SET claimed_by = ?, lease_until = ? WHERE apns_id IN ("
                " SELECT apns_id FROM outbox WHERE state = 'pending' AND (lease_until IS NULL OR lease_until <= ?)"
                f" AND environment IN ({marks}) ORDER BY created_at LIMIT ?{self._db.skip_locked}) RETURNING *",
                (worker, now + lease_ms, now, *environments, limit),
            )
        rows.sort(key=lambda r: (r["created_at"], r["apns_id"]))
        return [_notification(r) for r in rows]

    def renew(self, worker: str, apns_ids: Iterable[str], lease_ms: int) -> None:
        """Extend the leases ``worker`` still holds (a long send must not look like a dead worker)."""
        ids = list(apns_ids)
        if not ids:
            return
        marks = ", ".join("?" * len(ids))
        with self._db.tx() as tx:
            tx.execute(
                f"UPDATE outbox SET lease_until = ? WHERE claimed_by = ? AND state = 'pending'"
                f" AND apns_id IN ({marks})",
                [self.now() + lease_ms, worker, *ids],
            )

    def release(self, apns_id: str, retry_in_ms: int) -> None:
        """No answer from APNs: the row stays pending and may be claimed again after ``retry_in_ms``."""
        with self._db.tx() as tx:
            tx.execute(
                "UPDATE outbox SET claimed_by = NULL, lease_until = ?, attempts = attempts + 1"
                " WHERE apns_id = ? AND state = 'pending'",
                (self.now() + retry_in_ms, apns_id),
            )

    def mark_done(self, apns_id: str, status: int | None, reason: str | None,
                  timestamp: int | None = None) -> None:
        """Apple answered (or the service gave up): the entry is no longer pending."""
        self.mark_done_many([(apns_id, status, reason, timestamp)])

    def mark_done_many(self, answers: Sequence[tuple[str, int | None, str | None, int | None]]) -> None:
        """Several answers (apns_id, status, reason, timestamp) in one transaction."""
        now = self.now()
        with self._db.tx() as tx:
            tx.executemany(
                "UPDATE outbox SET state = 'done', done_at = ?, status = ?, reason = ?, timestamp = ?,"
                " claimed_by = NULL, lease_until = NULL WHERE apns_id = ?",
                [(now, status, reason, timestamp, apns_id) for apns_id, status, reason, timestamp in answers],
            )

    def pending(self) -> list[PendingNotification]:
        """Notifications written but never answered, oldest first, to resend with the same apns-id."""
        rows = self._db.query("SELECT * FROM outbox WHERE state = 'pending' ORDER BY created_at, apns_id")
        return [_notification(r) for r in rows]

    def outbox_entry(self, apns_id: str) -> dict[str, Any] | None:
        rows = self.outbox_entries([apns_id])
        return rows.get(apns_id)

    def outbox_entries(self, apns_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not apns_ids:
            return {}
        marks = ", ".join("?" * len(apns_ids))
        rows = self._db.query(f"SELECT * FROM outbox WHERE apns_id IN ({marks})", list(apns_ids))
        return {r["apns_id"]: r for r in rows}

    def counts(self) -> dict[str, int]:
        """Outbox rows per state (for operators and benchmarks)."""
        rows = self._db.query("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
        return {r["state"]: int(r["n"]) for r in rows}


def _first_answer(tx: Tx, key: str, request_hash: str) -> list[str] | None:
    """The apns-ids the first request with ``key`` got, if there was one; another body is a conflict."""
    first = tx.query("SELECT request_hash, apns_ids FROM idempotency WHERE key = ?", (key,))
    if not first:
        return None
    if first[0]["request_hash"] != request_hash:
        raise IdempotencyConflict("this Idempotency-Key was used with another request body")
    return list(json.loads(first[0]["apns_ids"]))
