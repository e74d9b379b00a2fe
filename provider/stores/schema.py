"""Versioned schema migrations shared by SQLite and PostgreSQL (docs/provider-service.md §3).

Each migration is a list of statements written in the SQL both databases speak (``BIGINT`` times in ms,
``ON CONFLICT``, ``ALTER TABLE ... ADD COLUMN``). The applied versions are rows of ``schema_version``; a
migration and its row commit together, so a crash mid-migration leaves the previous version intact.
Version 1 is the schema of the first, single-process service: an existing SQLite file starts from there.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (
        1,
        "token registry and outbox",
        (
            """CREATE TABLE IF NOT EXISTS devices (
                token TEXT PRIMARY KEY, bundle_id TEXT NOT NULL, environment TEXT NOT NULL, user_id TEXT,
                status TEXT NOT NULL, reason TEXT, registered_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
                invalidated_at BIGINT)""",
            """CREATE TABLE IF NOT EXISTS outbox (
                apns_id TEXT PRIMARY KEY, environment TEXT NOT NULL, token TEXT NOT NULL, topic TEXT NOT NULL,
                payload TEXT NOT NULL, push_type TEXT, priority INTEGER, expiration BIGINT, collapse_id TEXT,
                state TEXT NOT NULL, created_at BIGINT NOT NULL, done_at BIGINT, status INTEGER, reason TEXT)""",
        ),
    ),
    (
        2,
        "tokens per (bundle id, environment); outbox leases; idempotency keys; app registration secrets",
        (
            """CREATE TABLE devices_v2 (
                bundle_id TEXT NOT NULL, environment TEXT NOT NULL, token TEXT NOT NULL, user_id TEXT,
                status TEXT NOT NULL, reason TEXT, registered_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
                invalidated_at BIGINT, PRIMARY KEY (bundle_id, environment, token))""",
            """INSERT INTO devices_v2 SELECT bundle_id, environment, token, user_id, status, reason,
                registered_at, updated_at, invalidated_at FROM devices""",
            "DROP TABLE devices",
            "ALTER TABLE devices_v2 RENAME TO devices",
            "CREATE INDEX devices_token ON devices (token)",
            "CREATE INDEX devices_user ON devices (user_id)",
            "ALTER TABLE outbox ADD COLUMN claimed_by TEXT",
            "ALTER TABLE outbox ADD COLUMN lease_until BIGINT",
            "ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE outbox ADD COLUMN timestamp BIGINT",
            "CREATE INDEX outbox_claim ON outbox (state, lease_until, created_at)",
            """CREATE TABLE apps (
                bundle_id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, created_at BIGINT NOT NULL)""",
            """CREATE TABLE idempotency (
                key TEXT PRIMARY KEY, request_hash TEXT NOT NULL, apns_ids TEXT NOT NULL,
                created_at BIGINT NOT NULL)""",
            "CREATE INDEX idempotency_age ON idempotency (created_at)",
        ),
    ),
)

LATEST = MIGRATIONS[-1][0]
VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)"
