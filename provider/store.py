"""The provider's memory: a SQLite token registry and an outbox (docs/architecture.md contract 4).

Token hygiene follows Apple (docs/apns-protocol.md §4.3, §4.4, §8):

- ``BadDeviceToken``: the token is not valid (or belongs to the other environment): deactivate it.
- 410 ``Unregistered`` / ``ExpiredToken`` carry ``timestamp``, the moment (ms) APNs learnt the token stopped
  being valid. Deactivate only if the token was registered *before* that moment: a device that re-registered
  the same token afterwards is alive again, and its newer registration wins (§4.1).

The outbox makes "accepted by the service" durable: a notification is written with its ``apns_id`` before it
is sent and marked done after Apple answered, so a crash between the two is repaired at the next start by
resending the pending ones with the same ``apns-id`` (docs/architecture.md, "One notification, end to end").

SQLite runs in WAL mode so readers (``GET /v1/devices``) do not block the writer. Calls are synchronous and
short; the web layer calls them from the event loop. Time comes from an injected ``clock`` (seconds).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from provider.apns.notification import Notification, normalize_token
from provider.apns.reasons import TOKEN_GONE, Reason, lookup

log = logging.getLogger("provider.store")

ACTIVE = "active"
INACTIVE = "inactive"
ENVIRONMENTS = ("sandbox", "production")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    token TEXT PRIMARY KEY,
    bundle_id TEXT NOT NULL,
    environment TEXT NOT NULL,
    user_id TEXT,
    status TEXT NOT NULL,
    reason TEXT,
    registered_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    invalidated_at INTEGER
);
CREATE INDEX IF NOT EXISTS devices_app ON devices (bundle_id, status);
CREATE INDEX IF NOT EXISTS devices_user ON devices (user_id);
CREATE TABLE IF NOT EXISTS outbox (
    apns_id TEXT PRIMARY KEY,
    environment TEXT NOT NULL,
    token TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    push_type TEXT,
    priority INTEGER,
    expiration INTEGER,
    collapse_id TEXT,
    state TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    done_at INTEGER,
    status INTEGER,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox (state, created_at);
"""


@dataclass(frozen=True, kw_only=True)
class Device:
    """One registered token. Times are ms since the epoch, like APNs' 410 ``timestamp``."""

    token: str
    bundle_id: str
    environment: str
    user_id: str | None
    status: str
    reason: str | None
    registered_at: int
    updated_at: int
    invalidated_at: int | None

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class PendingNotification:
    """An outbox entry not yet answered, with the environment it was meant for."""

    environment: str
    notification: Notification


def should_deactivate(registered_at: int, status: int, reason: str | None, timestamp: int | None) -> bool:
    """Apple's answer says to stop using a token registered at ``registered_at`` (ms)? (§4.3, §4.4)

    ``BadDeviceToken`` always; a 410 only when the token was registered before APNs' ``timestamp`` (a 410
    without one counts as "now"). Everything else leaves the token alone.
    """
    known = lookup(reason)
    if known is Reason.BAD_DEVICE_TOKEN:
        return True
    if status == 410 or known in TOKEN_GONE:
        return timestamp is None or registered_at < timestamp
    return False


def _private_db(path: Path) -> None:
    """The store holds every user's device token: its directory is made 0700 when we create it, the file is
    created 0600 (SQLite gives its -wal and -shm files the same mode), a symlink is refused and a file others
    can read is tightened with a warning."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        if path.is_symlink():
            raise OSError(f"{path} is a symlink; refusing to open it as the token store") from exc
        raise
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o077:
            log.warning("%s was mode %o; now 0600", path, mode)
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


class Store:
    """SQLite registry + outbox. ``Store(path)`` creates the schema; ``close()`` when done."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        self._clock = clock
        if self.path != ":memory:":
            _private_db(Path(self.path))
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def _now(self) -> int:
        return int(self._clock() * 1000)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- devices ------------------------------------------------------------------------------------------

    def register(self, token: str, bundle_id: str, environment: str, user_id: str | None = None) -> Device:
        """Register (or re-register) a token: it becomes active with a fresh ``registered_at``.

        An app sends its token at every launch (§8); each registration is new evidence that the token is
        alive, so it wins over any earlier 410.
        """
        token = normalize_token(token)
        if environment not in ENVIRONMENTS:
            raise ValueError(f"environment must be one of {ENVIRONMENTS}, got {environment!r}")
        now = self._now()
        with self._tx() as db:
            db.execute(
                """INSERT INTO devices VALUES (?, ?, ?, ?, ?, NULL, ?, ?, NULL)
                   ON CONFLICT(token) DO UPDATE SET bundle_id=excluded.bundle_id,
                     environment=excluded.environment, user_id=excluded.user_id, status=excluded.status,
                     reason=NULL, registered_at=excluded.registered_at, updated_at=excluded.updated_at,
                     invalidated_at=NULL""",
                (token, bundle_id, environment, user_id, ACTIVE, now, now),
            )
        device = self.get(token)
        assert device is not None
        return device

    def get(self, token: str) -> Device | None:
        row = self._db.execute("SELECT * FROM devices WHERE token = ?", (token.lower(),)).fetchone()
        return None if row is None else Device(**dict(row))

    def devices(
        self,
        *,
        bundle_id: str | None = None,
        user_id: str | None = None,
        environment: str | None = None,
        active_only: bool = False,
    ) -> list[Device]:
        """Devices matching every filter given, oldest registration first."""
        clauses, args = [], []
        for column, value in (("bundle_id", bundle_id), ("user_id", user_id), ("environment", environment)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if active_only:
            clauses.append("status = ?")
            args.append(ACTIVE)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.execute(f"SELECT * FROM devices {where} ORDER BY registered_at, token", args)
        return [Device(**dict(r)) for r in rows]

    def delete(self, token: str) -> bool:
        with self._tx() as db:
            cur = db.execute("DELETE FROM devices WHERE token = ?", (token.lower(),))
        return cur.rowcount > 0

    def apply_result(self, token: str, status: int, reason: str | None, timestamp: int | None) -> bool:
        """Apply token hygiene for Apple's answer; ``True`` if the token was deactivated now."""
        now = self._now()
        with self._tx() as db:
            row = db.execute(
                "SELECT registered_at, status FROM devices WHERE token = ?", (token.lower(),)
            ).fetchone()
            if row is None or row["status"] != ACTIVE:
                return False
            if not should_deactivate(row["registered_at"], status, reason, timestamp):
                return False
            db.execute(
                "UPDATE devices SET status = ?, reason = ?, updated_at = ?, invalidated_at = ?"
                " WHERE token = ?",
                (INACTIVE, reason, now, timestamp if timestamp is not None else now, token.lower()),
            )
        return True

    # -- outbox -------------------------------------------------------------------------------------------

    def enqueue(self, environment: str, notification: Notification) -> None:
        """Write the notification (which must carry its ``apns_id``) before it is sent."""
        n = notification
        if n.apns_id is None:
            raise ValueError("outbox entries need an apns_id so a resend keeps the same identity")
        with self._tx() as db:
            db.execute(
                "INSERT INTO outbox VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, NULL, NULL, NULL)",
                (
                    n.apns_id,
                    environment,
                    n.token,
                    n.topic,
                    json.dumps(n.payload),
                    n.push_type,
                    n.priority,
                    n.expiration,
                    n.collapse_id,
                    self._now(),
                ),
            )

    def mark_done(self, apns_id: str, status: int | None, reason: str | None) -> None:
        """Apple answered (or the service gave up): the entry is no longer pending."""
        with self._tx() as db:
            db.execute(
                "UPDATE outbox SET state = 'done', done_at = ?, status = ?, reason = ? WHERE apns_id = ?",
                (self._now(), status, reason, apns_id),
            )

    def pending(self) -> list[PendingNotification]:
        """Notifications written but never answered, oldest first, to resend with the same apns-id."""
        rows = self._db.execute("SELECT * FROM outbox WHERE state = 'pending' ORDER BY created_at, rowid")
        return [
            PendingNotification(
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
            for r in rows
        ]

    def outbox_entry(self, apns_id: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT * FROM outbox WHERE apns_id = ?", (apns_id,)).fetchone()
        return None if row is None else dict(row)
