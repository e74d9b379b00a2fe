"""The two databases behind one small interface: ``query`` outside a transaction, ``tx()`` for a transaction.

SQL is written once with ``?`` placeholders; the PostgreSQL backend turns them into ``%s``. Rows come back
as dicts. Calls are synchronous and short: the service makes them from its event loop (docs/choices.md,
"Provider store calls are synchronous").
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("provider.store")
Row = dict[str, Any]


class Tx(Protocol):
    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Row]: ...

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...


class Backend(Protocol):
    dialect: str
    # Appended to the claim's inner SELECT: PostgreSQL's row locks let many workers claim at once; SQLite
    # has one writer at a time anyway (BEGIN IMMEDIATE), so it needs nothing.
    skip_locked: str

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Row]: ...

    def tx(self) -> Any: ...

    def lock_for_migration(self, tx: Tx) -> None: ...

    def close(self) -> None: ...


class _SQLiteTx:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return [dict(r) for r in self._db.execute(sql, tuple(args))]

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        return self._db.execute(sql, tuple(args)).rowcount

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._db.executemany(sql, rows)


def _private_db(path: Path) -> None:
    """The store holds every user's device token: its directory is made 0700 when we create it, the file is
    created 0600 from its first byte (SQLite gives its -wal and -shm files the same mode), a symlink is refused
    (someone else could have planted it) and a file others can read is tightened with a warning."""
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


class SQLiteBackend:
    """One connection in autocommit mode; ``BEGIN IMMEDIATE`` takes the write lock at the start of a
    transaction so two processes on one file never deadlock upgrading a read lock."""

    dialect = "sqlite"
    skip_locked = ""

    def __init__(self, path: str) -> None:
        if path != ":memory:":
            _private_db(Path(path))
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._db.row_factory = sqlite3.Row
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._plain = _SQLiteTx(self._db)

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return self._plain.query(sql, args)

    @contextmanager
    def tx(self) -> Iterator[_SQLiteTx]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._plain
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def lock_for_migration(self, tx: Tx) -> None:
        return None  # BEGIN IMMEDIATE already excludes every other writer

    def close(self) -> None:
        self._db.close()
