"""The developer portal: App IDs, push certificates and auth keys, the way Apple's web portal hands them out.

Rules only (no files, no printing): the CLI (``apns-sim portal``, DESIGN contract 2) writes what these
functions return. Each result says, in ``summary``, what was done and where the same step lives in Apple's
portal or in Keychain Access, so the simulator teaches the real flow (docs/device-side.md §5,
docs/apns-protocol.md §5 keys and §6 certificates).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from apns_sim import pki
from apns_sim.errors import SimError
from apns_sim.model.records import (
    CERTIFICATE_ENVIRONMENTS,
    ENVIRONMENTS,
    AppIdRecord,
    AuthKeyRecord,
    CertificateRecord,
)

_BUNDLE_RE = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")
_WILDCARD_PREFIX_RE = re.compile(r"[A-Za-z0-9.-]*")
_TEAM_RE = re.compile(r"[A-Z0-9]{10}")
CSR_FILENAME = "Push.certSigningRequest"
P12_FILENAME = "Push.p12"
_CERT_KIND = {
    "sandbox": "Apple Push Notification service SSL (Sandbox)",
    "production": "production-only push (the legacy Apple Production IOS Push Services)",
    "universal": "Apple Push Notification service SSL (Sandbox & Production)",
}
_CERT_FILENAME = {"sandbox": "aps_development.cer", "production": "aps.cer", "universal": "aps.cer"}


class PortalError(SimError):
    """The portal refused a request; the message says what to do instead."""


class PortalStore(Protocol):
    """What the portal needs from storage (:class:`apns_sim.model.registry.Registry` provides it)."""

    def add_app_id(self, bundle_id: str, team_id: str, wildcard: bool, now: datetime) -> None: ...
    def get_app_id(self, bundle_id: str) -> AppIdRecord | None: ...
    def list_app_ids(self) -> list[AppIdRecord]: ...
    def add_certificate(self, rec: CertificateRecord) -> None: ...
    def get_certificate(self, serial: int) -> CertificateRecord | None: ...
    def list_certificates(self) -> list[CertificateRecord]: ...
    def revoke_certificate(self, serial: int, now: datetime) -> bool: ...
    def add_auth_key(self, rec: AuthKeyRecord) -> None: ...
    def get_auth_key(self, key_id: str) -> AuthKeyRecord | None: ...
    def list_auth_keys(self, team_id: str | None = None) -> list[AuthKeyRecord]: ...
    def revoke_auth_key(self, key_id: str, now: datetime) -> bool: ...


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def app_id_json(rec: AppIdRecord) -> dict[str, Any]:
    return {"bundle_id": rec.bundle_id, "team_id": rec.team_id, "wildcard": rec.wildcard,
            "push_enabled": rec.push_enabled, "created_at": _iso(rec.created_at)}


def certificate_json(rec: CertificateRecord) -> dict[str, Any]:
    """A certificate without its DER; the serial is a decimal string (160-bit ints break JavaScript)."""
    return {"serial": str(rec.serial), "bundle_id": rec.bundle_id, "team_id": rec.team_id,
            "environment": rec.environment, "topics": list(rec.topics), "not_before": _iso(rec.not_before),
            "not_after": _iso(rec.not_after), "fingerprint_sha256": rec.fingerprint_sha256,
            "revoked_at": _iso(rec.revoked_at)}


def auth_key_json(rec: AuthKeyRecord) -> dict[str, Any]:
    return {"key_id": rec.key_id, "team_id": rec.team_id, "environment": rec.environment,
            "created_at": _iso(rec.created_at), "revoked_at": _iso(rec.revoked_at)}


@dataclass(frozen=True, kw_only=True)
class AppIdCreated:
    record: AppIdRecord

    @property
    def summary(self) -> str:
        r = self.record
        if r.wildcard:
            return (f"Created wildcard App ID {r.bundle_id} for team {r.team_id} (Certificates, "
                    "Identifiers & Profiles > Identifiers); wildcard App IDs cannot use Push Notifications, "
                    "so create an explicit App ID for any app that receives pushes.")
        return (f"Created explicit App ID {r.bundle_id} for team {r.team_id} with Push Notifications enabled "
                "(Certificates, Identifiers & Profiles > Identifiers).")

    def as_json(self) -> dict[str, Any]:
        return {**app_id_json(self.record), "summary": self.summary}


@dataclass(frozen=True, kw_only=True)
class CertificateIssued:
    record: CertificateRecord
    der: bytes

    @property
    def filename(self) -> str:
        """The name Apple's portal gives the download."""
        return _CERT_FILENAME[self.record.environment]

    @property
    def summary(self) -> str:
        r = self.record
        return (f"Issued an {_CERT_KIND[r.environment]} certificate for {r.bundle_id} (team {r.team_id}), "
                f"serial {r.serial}, valid until {r.not_after.date().isoformat()}: the {self.filename} you "
                "download from Certificates, Identifiers & Profiles > Certificates after uploading your CSR. "
                "Pair it with the private key from your .p12 (`openssl x509 -inform der` turns it into PEM).")

    def as_json(self) -> dict[str, Any]:
        return {**certificate_json(self.record), "filename": self.filename, "summary": self.summary}


@dataclass(frozen=True, kw_only=True)
class AuthKeyCreated:
    record: AuthKeyRecord
    p8: bytes  # the private key: returned once, never stored, never put in as_json()

    @property
    def key_id(self) -> str:
        return self.record.key_id

    @property
    def filename(self) -> str:
        return f"AuthKey_{self.record.key_id}.p8"

    @property
    def summary(self) -> str:
        r = self.record
        scope = "sandbox and production" if r.environment is None else f"{r.environment} only"
        return (f"Created APNs auth key {r.key_id} for team {r.team_id} ({scope}) under Certificates, "
                f"Identifiers & Profiles > Keys. Keep {self.filename} safe: like Apple, the portal keeps "
                "only the public key and cannot give you the private key again.")

    def as_json(self) -> dict[str, Any]:
        return {**auth_key_json(self.record), "filename": self.filename, "summary": self.summary}


@dataclass(frozen=True, kw_only=True)
class CertificateRevoked:
    record: CertificateRecord  # as it stands after the call
    already_revoked: bool

    @property
    def summary(self) -> str:
        r = self.record
        if self.already_revoked:
            return f"Certificate {r.serial} for {r.bundle_id} was already revoked; nothing changed."
        return (f"Revoked push certificate {r.serial} for {r.bundle_id} (Certificates > Revoke); providers "
                "using it are now refused (403 BadCertificate) and must switch to a new certificate.")

    def as_json(self) -> dict[str, Any]:
        return {**certificate_json(self.record), "already_revoked": self.already_revoked,
                "summary": self.summary}


@dataclass(frozen=True, kw_only=True)
class AuthKeyRevoked:
    record: AuthKeyRecord
    already_revoked: bool

    @property
    def summary(self) -> str:
        r = self.record
        if self.already_revoked:
            return f"Auth key {r.key_id} was already revoked; nothing changed."
        return (f"Revoked auth key {r.key_id} of team {r.team_id} (Keys > Revoke); provider tokens signed "
                "with it are now refused, so sign with another key and reconnect.")

    def as_json(self) -> dict[str, Any]:
        return {**auth_key_json(self.record), "already_revoked": self.already_revoked,
                "summary": self.summary}


@dataclass(frozen=True, kw_only=True)
class KeychainRequest:
    """The two files Keychain Access leaves you with: the CSR to upload and the exported private key."""

    email: str
    common_name: str
    csr_pem: bytes
    p12: bytes  # password-protected; the password is not kept
    csr_filename: str = CSR_FILENAME
    p12_filename: str = P12_FILENAME

    @property
    def summary(self) -> str:
        return (f"Made a new RSA-2048 key pair and a certificate signing request for {self.common_name} "
                f"<{self.email}> ({self.csr_filename}), as Keychain Access > Certificate Assistant > Request "
                f"a Certificate From a Certificate Authority does, and exported the private key as "
                f"{self.p12_filename} protected by your password (Keychain Access > Keys > Export).")

    def as_json(self) -> dict[str, Any]:
        return {"email": self.email, "common_name": self.common_name, "csr_file": self.csr_filename,
                "p12_file": self.p12_filename, "summary": self.summary}


@dataclass(frozen=True, kw_only=True)
class Listing:
    """A listing of App IDs, certificates or keys; ``kind`` is also the JSON key."""

    kind: str  # "app_ids" | "certificates" | "auth_keys"
    records: Sequence[AppIdRecord | CertificateRecord | AuthKeyRecord]

    @property
    def summary(self) -> str:
        label = {"app_ids": "App ID", "certificates": "push certificate", "auth_keys": "auth key"}[self.kind]
        n = len(self.records)
        return f"{n} {label}{'' if n == 1 else 's'}."

    def as_json(self) -> dict[str, Any]:
        items: list[dict[str, Any]] = []
        for r in self.records:
            if isinstance(r, AppIdRecord):
                items.append(app_id_json(r))
            elif isinstance(r, CertificateRecord):
                items.append(certificate_json(r))
            else:
                items.append(auth_key_json(r))
        return {self.kind: items, "summary": self.summary}


def parse_bundle_id(bundle_id: str) -> bool:
    """Check an App ID's bundle id; True if it is a wildcard (``*``, ``com.example.*``, ``com.ex*``)."""
    if bundle_id.endswith("*"):
        prefix = bundle_id[:-1]
        if _WILDCARD_PREFIX_RE.fullmatch(prefix) and ".." not in prefix and not prefix.startswith("."):
            return True
    elif _BUNDLE_RE.fullmatch(bundle_id):
        return False
    raise PortalError(
        f"{bundle_id!r} is not a valid bundle id: use reverse-DNS letters, digits, '-' and '.' such as "
        "com.example.app (a trailing '*' such as com.example.* makes a wildcard App ID)."
    )


def check_team_id(team_id: str) -> None:
    if not _TEAM_RE.fullmatch(team_id):
        raise PortalError(
            f"{team_id!r} is not a Team ID: it is 10 capital letters and digits, e.g. ABCDE12345 "
            "(Apple shows yours under Membership details)."
        )


class Portal:
    """Apple's developer portal over a :class:`PortalStore`; time comes from ``clock``."""

    def __init__(
        self, store: PortalStore, authority: pki.Authority, clock: Callable[[], datetime], *,
        max_keys_per_team: int = 2,
    ) -> None:
        self.store = store
        self.authority = authority
        self.clock = clock
        self.max_keys_per_team = max_keys_per_team

    # -- App IDs ------------------------------------------------------------------------------------

    def create_app_id(self, bundle_id: str, team_id: str) -> AppIdCreated:
        """Register an App ID; explicit ones get push enabled, wildcard ones cannot (§6)."""
        wildcard = parse_bundle_id(bundle_id)
        check_team_id(team_id)
        existing = self.store.get_app_id(bundle_id)
        if existing is not None:
            raise PortalError(f"App ID {bundle_id} already exists (team {existing.team_id}); use it, or pick "
                              "another bundle id.")
        now = self.clock()
        self.store.add_app_id(bundle_id, team_id, wildcard, now)
        record = self.store.get_app_id(bundle_id)
        if record is None:  # a store that drops writes is a bug worth a loud message
            raise PortalError(f"App ID {bundle_id} was not saved; check the data directory is writable.")
        return AppIdCreated(record=record)

    def list_app_ids(self) -> Listing:
        return Listing(kind="app_ids", records=tuple(self.store.list_app_ids()))

    # -- certificates -------------------------------------------------------------------------------

    def issue_certificate(self, bundle_id: str, csr_bytes: bytes, environment: str) -> CertificateIssued:
        """Turn an uploaded CSR into a push certificate for an explicit, push-enabled App ID."""
        if environment not in CERTIFICATE_ENVIRONMENTS:
            raise PortalError(f"Unknown environment {environment!r}: choose sandbox, production or universal "
                              "(Sandbox & Production).")
        app = self.store.get_app_id(bundle_id)
        if app is None:
            raise PortalError(f"No App ID {bundle_id}: create it first with `apns-sim portal app-id create "
                              f"{bundle_id} --team-id TEAMID`.")
        if app.wildcard:
            raise PortalError(
                f"{bundle_id} is a wildcard App ID, and push certificates need an explicit App ID: APNs "
                "routes each notification by its topic, the exact bundle id the app registered with, and a "
                "wildcard names no single app. Create an explicit App ID such as "
                f"{bundle_id.rstrip('*').rstrip('.') or 'com.example'}.app and issue the certificate for it."
            )
        if not app.push_enabled:
            raise PortalError(f"Push Notifications is not enabled for App ID {bundle_id}; enable the "
                              "capability (Identifiers > your App ID > Push Notifications) first.")
        try:
            cert = pki.issue_push_certificate(
                self.authority, csr_bytes, bundle_id=bundle_id, team_id=app.team_id,
                environment=environment, now=self.clock(),
            )
        except pki.PkiError as exc:
            raise PortalError(str(exc)) from exc
        ident = pki.push_identity(cert)
        record = CertificateRecord(
            serial=ident.serial, bundle_id=bundle_id, team_id=app.team_id, environment=environment,
            topics=ident.topics, not_before=ident.not_before, not_after=ident.not_after,
            fingerprint_sha256=ident.fingerprint_sha256, der=pki.cert_to_der(cert), revoked_at=None,
        )
        self.store.add_certificate(record)
        return CertificateIssued(record=record, der=record.der)

    def list_certificates(self, bundle_id: str | None = None) -> Listing:
        records = [r for r in self.store.list_certificates() if bundle_id is None or r.bundle_id == bundle_id]
        return Listing(kind="certificates", records=tuple(records))

    def revoke_certificate(self, serial: int) -> CertificateRevoked:
        """Revoke a push certificate; providers presenting it are refused from now on (§6)."""
        if self.store.get_certificate(serial) is None:
            raise PortalError(f"No certificate with serial {serial}; list them with "
                              "`apns-sim portal cert list`.")
        changed = self.store.revoke_certificate(serial, self.clock())
        record = self.store.get_certificate(serial)
        assert record is not None
        return CertificateRevoked(record=record, already_revoked=not changed)

    # -- auth keys ----------------------------------------------------------------------------------

    def create_auth_key(self, team_id: str, environment: str | None = None) -> AuthKeyCreated:
        """Make a .p8 token-signing key (§5), within Apple's per-team limit of active keys.

        The limit counts the team's active keys that overlap the requested environment: a legacy key
        (``environment`` None) counts against both sandbox and production, as Apple's newer limit of
        two keys per environment reads (docs/apns-protocol.md §5, A-TOKEN).
        """
        check_team_id(team_id)
        if environment is not None and environment not in ENVIRONMENTS:
            raise PortalError(f"Unknown key environment {environment!r}: choose sandbox, production, or none "
                              "for a key valid in both.")
        active = [k for k in self.store.list_auth_keys(team_id) if k.revoked_at is None
                  and (environment is None or k.environment is None or k.environment == environment)]
        if len(active) >= self.max_keys_per_team:
            ids = ", ".join(k.key_id for k in active)
            raise PortalError(
                f"Team {team_id} already has {len(active)} active APNs auth keys ({ids}), Apple's limit is "
                f"{self.max_keys_per_team}. Revoke one with `apns-sim portal key revoke KEY_ID` first."
            )
        key_id, p8, public_pem = pki.create_auth_key()
        while self.store.get_auth_key(key_id) is not None:  # 36**10 ids; a clash is only theoretical
            key_id, p8, public_pem = pki.create_auth_key()
        record = AuthKeyRecord(key_id=key_id, team_id=team_id, public_key_pem=public_pem,
                               environment=environment, created_at=self.clock(), revoked_at=None)
        self.store.add_auth_key(record)
        return AuthKeyCreated(record=record, p8=p8)

    def list_auth_keys(self, team_id: str | None = None) -> Listing:
        return Listing(kind="auth_keys", records=tuple(self.store.list_auth_keys(team_id)))

    def revoke_auth_key(self, key_id: str) -> AuthKeyRevoked:
        if self.store.get_auth_key(key_id) is None:
            raise PortalError(f"No auth key {key_id!r}; list them with `apns-sim portal key list`.")
        changed = self.store.revoke_auth_key(key_id, self.clock())
        record = self.store.get_auth_key(key_id)
        assert record is not None
        return AuthKeyRevoked(record=record, already_revoked=not changed)

    # -- Keychain Access ----------------------------------------------------------------------------

    def make_csr(self, email: str, common_name: str, password: str) -> KeychainRequest:
        """What Keychain Access does before you visit the portal (docs/device-side.md §5 steps 1-2)."""
        if "@" not in email:
            raise PortalError(f"{email!r} is not an e-mail address; Keychain Access puts yours in the CSR.")
        if not common_name.strip():
            raise PortalError("Give a common name (Keychain Access suggests yours, e.g. 'Jane Appleseed').")
        if not password:
            raise PortalError("Choose a password for the exported .p12; the provider will need it to read "
                              "the key.")
        csr_pem, p12 = pki.make_keychain_request(email=email, common_name=common_name, password=password)
        return KeychainRequest(email=email, common_name=common_name, csr_pem=csr_pem, p12=p12)
