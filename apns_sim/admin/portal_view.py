"""The developer portal as the dashboard shows it: App IDs, push certificates and keys, never key material.

Built on :mod:`apns_sim.portal.service`'s JSON shapes (the same as ``GET /_sim/apps``), plus a plain-words
``status`` judged on the simulator's clock, the clock the provider API uses to accept or refuse a
certificate or key (docs/apns-protocol.md §5, §6). Certificates carry no DER and keys no PEM: a
read model for people, not a download.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apns_sim.model.records import AuthKeyRecord, CertificateRecord
from apns_sim.model.registry import Registry
from apns_sim.portal.service import app_id_json, auth_key_json, certificate_json

VALID, EXPIRED, NOT_YET_VALID, REVOKED = "valid", "expired", "not yet valid", "revoked"


def certificate_status(rec: CertificateRecord, now: datetime) -> str:
    """§6: a revoked or out-of-date certificate is refused (BadCertificate); revocation wins."""
    if rec.revoked_at is not None and rec.revoked_at <= now:
        return REVOKED
    if now > rec.not_after:
        return EXPIRED
    if now < rec.not_before:
        return NOT_YET_VALID
    return VALID


def key_status(rec: AuthKeyRecord, now: datetime) -> str:
    """§5: a revoked key's tokens are refused (InvalidProviderToken); keys do not expire."""
    return REVOKED if rec.revoked_at is not None and rec.revoked_at <= now else VALID


def portal_view(registry: Registry, now: datetime) -> dict[str, Any]:
    """``GET /_sim/portal``: what Certificates, Identifiers & Profiles would list, with statuses."""
    certificates = registry.list_certificates()
    keys = registry.list_auth_keys()
    app_ids = []
    for rec in registry.list_app_ids():
        row = app_id_json(rec)
        row["certificates"] = sum(1 for c in certificates if c.bundle_id == rec.bundle_id)
        app_ids.append(row)
    return {
        "now": now.isoformat(),
        "app_ids": app_ids,
        "certificates": [{**certificate_json(c), "status": certificate_status(c, now)} for c in certificates],
        "auth_keys": [{**auth_key_json(k), "environment": k.environment or "sandbox and production",
                       "status": key_status(k, now)} for k in keys],
    }
