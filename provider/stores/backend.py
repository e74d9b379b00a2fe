"""The two databases behind one small interface: ``query`` outside a transaction, ``tx()`` for a transaction.

SQL is written once with ``?`` placeholders; the PostgreSQL backend turns them into ``%s``. Rows come back
as dicts. Calls are synchronous and short: the service makes them from its event loop (docs/choices.md,
"Provider store calls are synchronous").
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

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


class SQLiteBackend:
    """One connection in autocommit mode; ``BEGIN IMMEDIATE`` takes the write lock at the start of a
    transaction so two processes on one file never deadlock upgrading a read lock."""

    dialect = "sqlite"
    skip_locked = ""

    def __init__(self, path: str) -> None:
        if path != ":memory:" and not os.path.exists(path):
            # tokens and notifications are private: the file (and the -wal/-shm files SQLite makes with the
            # same mode) is 0600 from its first byte, not after a chmod
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
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
