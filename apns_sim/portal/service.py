"""The developer portal: App IDs, push certificates and auth keys, the way Apple's web portal hands them out.

Rules only (no files, no printing): the CLI (``apns-sim portal``, DESIGN contract 2) writes what these
functions return. Each result says, in ``summary``, what was done and where the same step lives in Apple's
portal or in Keychain Access, so the simulator teaches the real flow (docs/device-side.md §5,
docs/apns-protocol.md §5 keys and §6 certificates).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
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
from pushsim_i18n import N_, Domain

_ = Domain("apns_sim").gettext

_BUNDLE_RE = re.compile(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")
_WILDCARD_PREFIX_RE = re.compile(r"[A-Za-z0-9.-]*")
_TEAM_RE = re.compile(r"[A-Z0-9]{10}")
CSR_FILENAME = "Push.certSigningRequest"
P12_FILENAME = "Push.p12"
# Apple's certificate type as the portal shows it: marked so a translation can put the reader's term beside
# Apple's name (docs/glossary.md "Certificates and keys"); translated at use.
_CERT_KIND = {
    "sandbox": N_("Apple Push Notification service SSL (Sandbox)"),
    # Apple's name first, so "Issued an {kind} certificate" reads right for every kind.
    "production": N_("Apple Production IOS Push Services (production only, the legacy type)"),
    "universal": N_("Apple Push Notification service SSL (Sandbox & Production)"),
}
_CERT_FILENAME = {"sandbox": "aps_development.cer", "production": "aps.cer", "universal": "aps.cer"}
# The classic tutorial downloads the development certificate as aps_developer_identity.cer (today's portal:
# aps_development.cer; docs/device-side.md §5 item 4). Same bytes, same certificate: the portal takes either.
TUTORIAL_CER_NAME = "aps_developer_identity.cer"
# Where the tutorial's portal had the step, said once beside today's page when the learner uses today's name
# (docs/glossary.md); with the tutorial's file name the summary speaks the tutorial's era instead.
_TUTORIAL_ROW = {
    "sandbox": N_("in the tutorial: the \"Development Push SSL Certificate\" row of the iOS Provisioning Portal"),
    "production": N_("in the tutorial: the \"Production Push SSL Certificate\" row of the iOS Provisioning "
                     "Portal"),
    "universal": N_("the tutorial's iOS Provisioning Portal had only separate development and production "
                    "certificates"),
}
_LISTING_COUNTS = {
    "app_ids": (N_("{n} App ID."), N_("{n} App IDs.")),
    "certificates": (N_("{n} push certificate."), N_("{n} push certificates.")),
    "auth_keys": (N_("{n} auth key."), N_("{n} auth keys.")),
}


def tutorial_name_note(filename: str) -> str:
    """The one sentence said when a file carries the tutorial's name for the development certificate ("" else)."""
    if filename != TUTORIAL_CER_NAME:
        return ""
    return _("{tutorial} is the tutorial's name for today's {today}: the same bytes, the same "
             "certificate.").format(tutorial=TUTORIAL_CER_NAME, today=_CERT_FILENAME["sandbox"])


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


def with_note(text: str, note: str) -> str:
    """``text`` followed by ``note`` (if any), spaced as the reader's language spaces two sentences."""
    return _("{text} {note}").format(text=text, note=note) if note else text


@dataclass(frozen=True, kw_only=True)
class AppIdCreated:
    record: AppIdRecord

    @property
    def summary(self) -> str:
        r = self.record
        if r.wildcard:
            return _("Created wildcard App ID {bundle_id} for team {team_id} (iOS Provisioning Portal > App IDs; "
                     "today: Certificates, Identifiers & Profiles > Identifiers). A wildcard App ID "
                     "gets no Push Notifications capability: an app that receives pushes needs an explicit App "
                     "ID.").format(bundle_id=r.bundle_id, team_id=r.team_id)
        return _("Created explicit App ID {bundle_id} for team {team_id} with Push Notifications enabled (iOS "
                 "Provisioning Portal > App IDs; today: Certificates, Identifiers & Profiles > "
                 "Identifiers).").format(bundle_id=r.bundle_id, team_id=r.team_id)

    def as_json(self) -> dict[str, Any]:
        return {**app_id_json(self.record), "summary": self.summary}


@dataclass(frozen=True, kw_only=True)
class CertificateIssued:
    record: CertificateRecord
    der: bytes
    saved_as: str | None = None  # the file name the learner chose (``--out``), if it is not Apple's

    @property
    def filename(self) -> str:
        """The name Apple's portal gives the download."""
        return _CERT_FILENAME[self.record.environment]

    def saved(self, name: str) -> CertificateIssued:
        """The same result, told with the file name it was saved under (``aps_developer_identity.cer``...)."""
        return replace(self, saved_as=name)

    @property
    def summary(self) -> str:
        r = self.record
        # Two eras, never mixed: the tutorial's file name goes with its portal row (and today's page beside it),
        # today's name with today's page (and the tutorial's row once, as the tutorial's).
        note = tutorial_name_note(self.saved_as or "") if r.environment == "sandbox" else ""
        facts = {"kind": _(_CERT_KIND[r.environment]), "bundle_id": r.bundle_id, "team_id": r.team_id,
                 "serial": r.serial, "not_after": r.not_after.date().isoformat()}
        if note:
            text = _("Issued an {kind} certificate for {bundle_id} (team {team_id}), serial {serial}, valid until "
                     "{not_after}: the {filename} you download from the \"Development Push SSL Certificate\" row "
                     "of the iOS Provisioning Portal after uploading your CSR (today: Certificates, Identifiers & "
                     "Profiles > Certificates). Pair it with the private key from your .p12 (`openssl x509 "
                     "-inform der` turns it into PEM).").format(filename=self.saved_as, **facts)
            return with_note(text, note)
        return _("Issued an {kind} certificate for {bundle_id} (team {team_id}), serial {serial}, valid until "
                 "{not_after}: the {filename} you download from Certificates, Identifiers & Profiles > "
                 "Certificates after uploading your CSR ({then}). Pair it with the private key from your .p12 "
                 "(`openssl x509 -inform der` turns it into PEM).").format(
            filename=self.filename, then=_(_TUTORIAL_ROW[r.environment]), **facts)

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
        scope = _("sandbox and production") if r.environment is None else _("{environment} only").format(
            environment=r.environment)
        return _("Created APNs auth key {key_id} for team {team_id} ({scope}) under Certificates, Identifiers & "
                 "Profiles > Keys. Keep {filename} safe: like Apple, the portal keeps only the public key and "
                 "cannot give you the private key again.").format(key_id=r.key_id, team_id=r.team_id, scope=scope,
                                                                 filename=self.filename)

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
            return _("Certificate {serial} for {bundle_id} was already revoked; nothing changed.").format(
                serial=r.serial, bundle_id=r.bundle_id)
        return _("Revoked push certificate {serial} for {bundle_id} (Certificates > Revoke); providers using it "
                 "are now refused (403 BadCertificate) and must switch to a new certificate.").format(
            serial=r.serial, bundle_id=r.bundle_id)

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
            return _("Auth key {key_id} was already revoked; nothing changed.").format(key_id=r.key_id)
        return _("Revoked auth key {key_id} of team {team_id} (Keys > Revoke); provider tokens signed with it are "
                 "now refused, so sign with another key and reconnect.").format(key_id=r.key_id, team_id=r.team_id)

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
        return _("Made a new RSA-2048 key pair and a certificate signing request for {common_name} <{email}> "
                 "({csr_file}), as Keychain Access > Certificate Assistant > Request a Certificate From a "
                 "Certificate Authority does, and exported the private key as {p12_file} protected by your "
                 "password (Keychain Access > Keys > Export).").format(
            common_name=self.common_name, email=self.email, csr_file=self.csr_filename, p12_file=self.p12_filename)

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
        n = len(self.records)
        # Two whole messages from a table marked at import (N_ marks one message; ngettext needs both forms at
        # the call): English needs both forms, Chinese says either the same way.
        one, many = _LISTING_COUNTS[self.kind]
        return _(one if n == 1 else many).format(n=n)

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
    raise PortalError(_(
        "{bundle_id!r} is not a valid bundle id: use reverse-DNS letters, digits, '-' and '.' such as "
        "com.example.app (a trailing '*' such as com.example.* makes a wildcard App ID).").format(bundle_id=bundle_id))


def check_team_id(team_id: str) -> None:
    if not _TEAM_RE.fullmatch(team_id):
        raise PortalError(_(
            "{team_id!r} is not a Team ID: it is 10 capital letters and digits, e.g. ABCDE12345 "
            "(Apple shows yours under Membership details).").format(team_id=team_id))


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
            raise PortalError(_("App ID {bundle_id} already exists (team {team_id}); use it, or pick another "
                                "bundle id.").format(bundle_id=bundle_id, team_id=existing.team_id))
        now = self.clock()
        self.store.add_app_id(bundle_id, team_id, wildcard, now)
        record = self.store.get_app_id(bundle_id)
        if record is None:  # a store that drops writes is a bug worth a loud message
            raise PortalError(_("App ID {bundle_id} was not saved; check the data directory is writable.").format(
                bundle_id=bundle_id))
        return AppIdCreated(record=record)

    def list_app_ids(self) -> Listing:
        return Listing(kind="app_ids", records=tuple(self.store.list_app_ids()))

    # -- certificates -------------------------------------------------------------------------------

    def issue_certificate(self, bundle_id: str, csr_bytes: bytes, environment: str) -> CertificateIssued:
        """Turn an uploaded CSR into a push certificate for an explicit, push-enabled App ID."""
        if environment not in CERTIFICATE_ENVIRONMENTS:
            raise PortalError(_("Unknown environment {environment!r}: choose sandbox, production or universal "
                                "(Sandbox & Production).").format(environment=environment))
        app = self.store.get_app_id(bundle_id)
        if app is None:
            raise PortalError(_("No App ID {bundle_id}: create it first with `apns-sim portal app-id create "
                                "{bundle_id} --team-id TEAMID`.").format(bundle_id=bundle_id))
        if app.wildcard:
            raise PortalError(_(
                "{bundle_id} is a wildcard App ID, and App IDs with a wildcard cannot use push: push certificates "
                "need an explicit App ID, because APNs routes each notification by its topic, the exact bundle id "
                "the app registered with, and a wildcard names no single app. Create an explicit App ID such as "
                "{example} and issue the certificate for it.").format(
                bundle_id=bundle_id, example=(bundle_id.rstrip("*").rstrip(".") or "com.example") + ".app"))
        if not app.push_enabled:
            raise PortalError(_("Push Notifications is not enabled for App ID {bundle_id}; enable the capability "
                                "(Identifiers > your App ID > Push Notifications) first.").format(bundle_id=bundle_id))
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
            raise PortalError(_("No certificate with serial {serial}; list them with `apns-sim portal cert "
                                "list`.").format(serial=serial))
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
            raise PortalError(_("Unknown key environment {environment!r}: choose sandbox, production, or none "
                                "for a key valid in both.").format(environment=environment))
        active = [k for k in self.store.list_auth_keys(team_id) if k.revoked_at is None
                  and (environment is None or k.environment is None or k.environment == environment)]
        if len(active) >= self.max_keys_per_team:
            ids = ", ".join(k.key_id for k in active)
            raise PortalError(_(
                "Team {team_id} already has {count} active APNs auth keys ({ids}), Apple's limit is {limit}. "
                "Revoke one with `apns-sim portal key revoke KEY_ID` first.").format(
                team_id=team_id, count=len(active), ids=ids, limit=self.max_keys_per_team))
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
            raise PortalError(_("No auth key {key_id!r}; list them with `apns-sim portal key list`.").format(
                key_id=key_id))
        changed = self.store.revoke_auth_key(key_id, self.clock())
        record = self.store.get_auth_key(key_id)
        assert record is not None
        return AuthKeyRevoked(record=record, already_revoked=not changed)

    # -- Keychain Access ----------------------------------------------------------------------------

    def make_csr(self, email: str, common_name: str, password: str) -> KeychainRequest:
        """What Keychain Access does before you visit the portal (docs/device-side.md §5 steps 1-2)."""
        if "@" not in email:
            raise PortalError(_("{email!r} is not an e-mail address; Keychain Access puts yours in the "
                                "CSR.").format(email=email))
        if not common_name.strip():
            raise PortalError(_("Give a common name (Keychain Access suggests yours, e.g. 'Jane Appleseed')."))
        if not password:
            raise PortalError(_("Choose a password for the exported .p12; the provider will need it to read the "
                                "key."))
        csr_pem, p12 = pki.make_keychain_request(email=email, common_name=common_name, password=password)
        return KeychainRequest(email=email, common_name=common_name, csr_pem=csr_pem, p12=p12)
