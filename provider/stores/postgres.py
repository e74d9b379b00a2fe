"""PostgreSQL backend on psycopg 3 and its connection pool (docs/provider-service.md §1).

psycopg is optional (the ``postgres`` extra): it is imported only when a ``postgresql://`` URL is opened.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from provider.stores.backend import Row, Tx

# Any constant: one advisory lock so that two ``apns-provider migrate`` runs never interleave.
_MIGRATION_LOCK = 0x70757368


def _sql(sql: str) -> str:
    return sql.replace("?", "%s")


class _PgTx:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        cur = self._conn.execute(_sql(sql), tuple(args))
        return list(cur.fetchall()) if cur.description else []

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        return int(self._conn.execute(_sql(sql), tuple(args)).rowcount)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._conn.cursor() as cur:  # psycopg pipelines the statements: one round trip, not one per row
            cur.executemany(_sql(sql), rows)


class PostgresBackend:
    dialect = "postgres"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str, *, max_connections: int = 4) -> None:
        try:
            from psycopg.rows import dict_row
            from psycopg_pool import ConnectionPool
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError("PostgreSQL needs psycopg: pip install 'pushsim[postgres]'") from exc
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            kwargs={"autocommit": True, "row_factory": dict_row},
            open=True,
            timeout=30,
        )
        self._pool.wait(timeout=30)

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        with self._pool.connection() as conn:
            return _PgTx(conn).query(sql, args)

    @contextmanager
    def tx(self) -> Iterator[_PgTx]:
        with self._pool.connection() as conn, conn.transaction():
            yield _PgTx(conn)

    def lock_for_migration(self, tx: Tx) -> None:
        tx.query("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))

    def close(self) -> None:
        self._pool.close()
