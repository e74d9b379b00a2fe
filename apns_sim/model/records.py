"""Plain values the developer portal keeps: App IDs, push certificates and token-signing keys.

They live apart from :mod:`apns_sim.model.registry` (the SQLite storage) and :mod:`apns_sim.portal.service` (the rules)
so both can speak the same frozen, keyword-only values without importing each other (STYLE habit 10).
What each field stands for in Apple's portal is in docs/apns-protocol.md §5 (keys) and §6
(certificates), and docs/device-side.md §5 (the classic App ID + certificate flow).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

ENVIRONMENTS = ("sandbox", "production")
CERTIFICATE_ENVIRONMENTS = (*ENVIRONMENTS, "universal")


@dataclass(frozen=True, kw_only=True)
class AppIdRecord:
    """An App ID (Certificates, Identifiers & Profiles > Identifiers).

    ``wildcard`` App IDs (``com.example.*``) exist in Apple's portal but cannot enable push, so
    ``push_enabled`` is False for them (docs/apns-protocol.md §6, docs/device-side.md §5 item 6).
    """

    bundle_id: str
    team_id: str
    wildcard: bool
    push_enabled: bool
    created_at: datetime


@dataclass(frozen=True, kw_only=True)
class CertificateRecord:
    """A push certificate the portal issued (Certificates > Apple Push Notification service SSL).

    ``environment`` is "sandbox", "production" or "universal" (both); ``topics`` are the topics the
    certificate may push to (its TOPICS_OID list, or just the bundle id); ``der`` is the downloadable
    ``.cer``. ``fingerprint_sha256`` is lowercase hex without separators.
    """

    serial: int
    bundle_id: str
    team_id: str
    environment: str
    topics: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    fingerprint_sha256: str
    der: bytes
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True, kw_only=True)
class AuthKeyRecord:
    """A token-signing key (Certificates, Identifiers & Profiles > Keys, the ``.p8`` download).

    Apple keeps only the public half; so do we. ``environment`` None is a legacy key valid for both
    sandbox and production; "sandbox" or "production" is a newer team-scoped key (docs/apns-protocol.md §5).
    """

    key_id: str
    team_id: str
    public_key_pem: bytes
    environment: str | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None
