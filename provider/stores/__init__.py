"""The provider's memory on SQLite (the embedded default) or PostgreSQL (shared by many processes).

``Store(target)`` opens ``target``: a file path or ``sqlite:///path`` for SQLite, ``postgresql://...`` for
PostgreSQL (docs/provider-service.md §1). Everything else is in :mod:`provider.stores.sql`.
"""

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
from provider.stores.sql import Store, is_postgres_url

__all__ = [
    "ACTIVE", "ENVIRONMENTS", "INACTIVE", "Device", "IdempotencyConflict", "PendingNotification",
    "SchemaOutOfDate", "Store", "TokenBound", "is_postgres_url", "should_deactivate",
]
