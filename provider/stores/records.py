"""What the store hands out: devices, outbox entries, and the token hygiene rule (docs/apns-protocol.md §4.3,
§4.4, §8). No I/O here."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from provider.apns.notification import Notification
from provider.apns.reasons import TOKEN_GONE, Reason, lookup

ACTIVE = "active"
INACTIVE = "inactive"
ENVIRONMENTS = ("sandbox", "production")


class TokenBound(Exception):
    """The token is already bound to another user, app or environment and the caller proved no right to
    move it (docs/provider-service.md §4)."""


class IdempotencyConflict(Exception):
    """The ``Idempotency-Key`` was first used with another request body (docs/provider-service.md §2)."""


class SchemaOutOfDate(Exception):
    """The database is older than this code: run ``apns-provider migrate``."""


@dataclass(frozen=True, kw_only=True)
class Device:
    """One registered token of one app in one environment. Times are ms since the epoch, like APNs' 410
    ``timestamp``."""

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
