"""The developer portal's rules, over an in-memory store: App IDs, certificates, keys, revocation, CSRs."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from apns_sim import pki
from apns_sim.model.records import AppIdRecord, AuthKeyRecord, CertificateRecord
from apns_sim.portal.service import Portal, PortalError, PortalStore

TEAM = "ABCDE12345"
START = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


class MemoryStore:
    """The smallest PortalStore: dicts, with the registry's semantics (revoke returns whether it changed)."""

    def __init__(self) -> None:
        self.app_ids: dict[str, AppIdRecord] = {}
        self.certs: dict[int, CertificateRecord] = {}
        self.keys: dict[str, AuthKeyRecord] = {}

    def add_app_id(self, bundle_id: str, team_id: str, wildcard: bool, now: datetime) -> None:
        assert bundle_id not in self.app_ids
        self.app_ids[bundle_id] = AppIdRecord(bundle_id=bundle_id, team_id=team_id, wildcard=wildcard,
                                              push_enabled=not wildcard, created_at=now)

    def get_app_id(self, bundle_id: str) -> AppIdRecord | None:
        return self.app_ids.get(bundle_id)

    def list_app_ids(self) -> list[AppIdRecord]:
        return sorted(self.app_ids.values(), key=lambda r: r.bundle_id)

    def add_certificate(self, rec: CertificateRecord) -> None:
        self.certs[rec.serial] = rec

    def get_certificate(self, serial: int) -> CertificateRecord | None:
        return self.certs.get(serial)

    def list_certificates(self) -> list[CertificateRecord]:
        return list(self.certs.values())

    def revoke_certificate(self, serial: int, now: datetime) -> bool:
        rec = self.certs.get(serial)
        if rec is None or rec.revoked_at is not None:
            return False
        self.certs[serial] = dataclasses.replace(rec, revoked_at=now)
        return True

    def add_auth_key(self, rec: AuthKeyRecord) -> None:
        self.keys[rec.key_id] = rec

    def get_auth_key(self, key_id: str) -> AuthKeyRecord | None:
        return self.keys.get(key_id)

    def list_auth_keys(self, team_id: str | None = None) -> list[AuthKeyRecord]:
        return [k for k in self.keys.values() if team_id is None or k.team_id == team_id]

    def revoke_auth_key(self, key_id: str, now: datetime) -> bool:
        rec = self.keys.get(key_id)
        if rec is None or rec.revoked_at is not None:
            return False
        self.keys[key_id] = dataclasses.replace(rec, revoked_at=now)
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def authority() -> pki.Authority:
    return pki.create_authority(START - timedelta(days=30))


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture()
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture()
def portal(store: MemoryStore, authority: pki.Authority, clock: FakeClock) -> Portal:
    typed: PortalStore = store  # mypy checks MemoryStore against the Protocol here
    return Portal(typed, authority, clock)


def csr() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Jane Appleseed")])
    return x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256()).public_bytes(
        serialization.Encoding.PEM
    )


# -- App IDs ------------------------------------------------------------------------------------------


def test_create_explicit_app_id(portal: Portal, store: MemoryStore, clock: FakeClock) -> None:
    result = portal.create_app_id("com.example.app", TEAM)
    assert result.record == store.app_ids["com.example.app"]
    assert result.record.push_enabled and not result.record.wildcard
    assert result.record.created_at == clock.now
    assert "explicit App ID com.example.app" in result.summary and TEAM in result.summary
    assert "Identifiers" in result.summary
    data = json.loads(json.dumps(result.as_json()))
    assert data["bundle_id"] == "com.example.app" and data["push_enabled"] is True


@pytest.mark.parametrize("bundle_id", ["com.example.*", "*", "com.example*"])
def test_wildcard_app_id_is_created_without_push(portal: Portal, bundle_id: str) -> None:
    result = portal.create_app_id(bundle_id, TEAM)
    assert result.record.wildcard and not result.record.push_enabled
    assert "wildcard" in result.summary and "gets no Push Notifications capability" in result.summary


@pytest.mark.parametrize(
    "bundle_id",
    ["", "com..example", ".com.example", "com.example.", "com.ex ample", "com.*.app", "com.é.app",
     "com.example.**", "com..*"],
)
def test_invalid_bundle_ids(portal: Portal, bundle_id: str) -> None:
    with pytest.raises(PortalError, match="not a valid bundle id"):
        portal.create_app_id(bundle_id, TEAM)


@pytest.mark.parametrize("team_id", ["abcde12345", "ABCDE1234", "ABCDE123456", "ABCDE-1234"])
def test_invalid_team_ids(portal: Portal, team_id: str) -> None:
    with pytest.raises(PortalError, match="not a Team ID"):
        portal.create_app_id("com.example.app", team_id)


def test_duplicate_app_id(portal: Portal) -> None:
    portal.create_app_id("com.example.app", TEAM)
    with pytest.raises(PortalError, match="already exists"):
        portal.create_app_id("com.example.app", "ZZZZZ99999")


def test_list_app_ids(portal: Portal) -> None:
    assert portal.list_app_ids().summary == "0 App IDs."
    portal.create_app_id("com.example.b", TEAM)
    portal.create_app_id("com.example.a", TEAM)
    listing = portal.list_app_ids()
    assert [r["bundle_id"] for r in listing.as_json()["app_ids"]] == ["com.example.a", "com.example.b"]
    assert listing.summary == "2 App IDs."


# -- certificates -------------------------------------------------------------------------------------


def test_issue_certificate(portal: Portal, store: MemoryStore, authority: pki.Authority) -> None:
    portal.create_app_id("com.example.app", TEAM)
    result = portal.issue_certificate("com.example.app", csr(), "sandbox")
    cert = x509.load_der_x509_certificate(result.der)
    ident = pki.push_identity(cert)
    assert (ident.bundle_id, ident.team_id, ident.environments) == ("com.example.app", TEAM,
                                                                    frozenset({"sandbox"}))
    assert store.certs[cert.serial_number] == result.record
    assert result.record.environment == "sandbox" and result.record.topics == ("com.example.app",)
    assert result.record.not_before == START and result.record.revoked_at is None
    assert result.record.fingerprint_sha256 == pki.fingerprint_sha256(cert)
    assert result.filename == "aps_development.cer"
    assert "Sandbox" in result.summary and "com.example.app" in result.summary
    pki.verify_issued_by(cert, authority.push_ca_cert, START)
    data = json.loads(json.dumps(result.as_json()))
    assert data["serial"] == str(cert.serial_number) and "der" not in data


def test_issue_universal_certificate_lists_topics(portal: Portal) -> None:
    portal.create_app_id("com.example.app", TEAM)
    result = portal.issue_certificate("com.example.app", csr(), "universal")
    assert result.record.topics == ("com.example.app", "com.example.app.voip", "com.example.app.complication")
    assert result.filename == "aps.cer" and "Sandbox & Production" in result.summary


def test_certificate_needs_an_app_id(portal: Portal) -> None:
    with pytest.raises(PortalError, match="create it first with `apns-sim portal app-id create"):
        portal.issue_certificate("com.example.app", csr(), "sandbox")


def test_wildcard_app_id_cannot_get_a_push_certificate(portal: Portal, store: MemoryStore) -> None:
    portal.create_app_id("com.example.*", TEAM)
    with pytest.raises(PortalError, match="explicit App ID") as info:
        portal.issue_certificate("com.example.*", csr(), "sandbox")
    assert "topic" in str(info.value) and "exact bundle id" in str(info.value)
    assert store.certs == {}


def test_certificate_refuses_bad_requests(portal: Portal, store: MemoryStore) -> None:
    portal.create_app_id("com.example.app", TEAM)
    with pytest.raises(PortalError, match="sandbox, production or universal"):
        portal.issue_certificate("com.example.app", csr(), "development")
    with pytest.raises(PortalError, match="is not a certificate signing request"):
        portal.issue_certificate("com.example.app", b"not a csr", "sandbox")
    der = x509.load_pem_x509_csr(csr()).public_bytes(serialization.Encoding.DER)
    tampered = der.replace(b"Jane", b"Joan")
    with pytest.raises(PortalError, match="does not verify"):
        portal.issue_certificate("com.example.app", tampered, "sandbox")
    assert store.certs == {}


def test_revoke_certificate(portal: Portal, store: MemoryStore, clock: FakeClock) -> None:
    portal.create_app_id("com.example.app", TEAM)
    issued = portal.issue_certificate("com.example.app", csr(), "production")
    clock.now = START + timedelta(days=3)
    result = portal.revoke_certificate(issued.record.serial)
    assert not result.already_revoked and result.record.revoked_at == clock.now
    assert store.certs[issued.record.serial].revoked_at == clock.now
    assert "Revoked" in result.summary
    again = portal.revoke_certificate(issued.record.serial)
    assert again.already_revoked and "already revoked" in again.summary
    assert again.record.revoked_at == clock.now
    with pytest.raises(PortalError, match="No certificate with serial 12345"):
        portal.revoke_certificate(12345)


def test_list_certificates_filters_by_bundle(portal: Portal) -> None:
    portal.create_app_id("com.example.a", TEAM)
    portal.create_app_id("com.example.b", TEAM)
    portal.issue_certificate("com.example.a", csr(), "sandbox")
    portal.issue_certificate("com.example.b", csr(), "sandbox")
    assert len(portal.list_certificates().records) == 2
    only_a = portal.list_certificates("com.example.a")
    assert [r["bundle_id"] for r in only_a.as_json()["certificates"]] == ["com.example.a"]
    assert only_a.summary == "1 push certificate."


# -- auth keys ----------------------------------------------------------------------------------------


def test_create_auth_key(portal: Portal, store: MemoryStore) -> None:
    result = portal.create_auth_key(TEAM)
    assert result.key_id == result.record.key_id and len(result.key_id) == 10
    assert store.keys[result.key_id] == result.record
    key = serialization.load_pem_private_key(result.p8, None)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    assert result.record.public_key_pem == public
    assert result.record.environment is None and result.record.created_at == START
    assert result.filename == f"AuthKey_{result.key_id}.p8"
    assert "Keys" in result.summary and result.key_id in result.summary
    dumped = json.dumps(result.as_json())
    assert "PRIVATE KEY" not in dumped and result.p8.decode() not in dumped


def test_auth_key_limit_per_team(portal: Portal, clock: FakeClock) -> None:
    first = portal.create_auth_key(TEAM)
    portal.create_auth_key(TEAM)
    with pytest.raises(PortalError, match="limit is 2") as info:
        portal.create_auth_key(TEAM)
    assert first.key_id in str(info.value) and "revoke" in str(info.value)
    portal.create_auth_key("ZZZZZ99999")  # another team has its own allowance
    portal.revoke_auth_key(first.key_id)
    portal.create_auth_key(TEAM)  # a revoked key frees its slot


def test_auth_key_limit_counts_per_environment(portal: Portal) -> None:
    portal.create_auth_key(TEAM, "sandbox")
    portal.create_auth_key(TEAM, "sandbox")
    with pytest.raises(PortalError, match="limit"):
        portal.create_auth_key(TEAM, "sandbox")
    portal.create_auth_key(TEAM, "production")
    portal.create_auth_key(TEAM, "production")
    with pytest.raises(PortalError, match="limit"):
        portal.create_auth_key(TEAM)  # a legacy key would cover both environments


def test_auth_key_limit_is_configurable(
    store: MemoryStore, authority: pki.Authority, clock: FakeClock
) -> None:
    portal = Portal(store, authority, clock, max_keys_per_team=1)
    portal.create_auth_key(TEAM)
    with pytest.raises(PortalError, match="limit is 1"):
        portal.create_auth_key(TEAM)


def test_auth_key_refuses_bad_arguments(portal: Portal) -> None:
    with pytest.raises(PortalError, match="not a Team ID"):
        portal.create_auth_key("team")
    with pytest.raises(PortalError, match="Unknown key environment"):
        portal.create_auth_key(TEAM, "development")


def test_revoke_auth_key(portal: Portal, store: MemoryStore, clock: FakeClock) -> None:
    key = portal.create_auth_key(TEAM, "production")
    clock.now = START + timedelta(hours=1)
    result = portal.revoke_auth_key(key.key_id)
    assert not result.already_revoked and store.keys[key.key_id].revoked_at == clock.now
    assert portal.revoke_auth_key(key.key_id).already_revoked
    with pytest.raises(PortalError, match="No auth key"):
        portal.revoke_auth_key("NOPE000000")
    listing = portal.list_auth_keys(TEAM).as_json()
    assert listing["auth_keys"][0]["revoked_at"] == clock.now.isoformat()
    assert portal.list_auth_keys("ZZZZZ99999").records == ()


# -- Keychain Access ----------------------------------------------------------------------------------


def test_make_csr(portal: Portal, authority: pki.Authority) -> None:
    request = portal.make_csr("dev@example.com", "Jane Appleseed", "hunter2")
    assert (request.csr_filename, request.p12_filename) == ("Push.certSigningRequest", "Push.p12")
    key, cert = pki.load_p12(request.p12, "hunter2")
    assert cert is None
    assert x509.load_pem_x509_csr(request.csr_pem).public_key() == key.public_key()
    assert "Keychain Access" in request.summary
    dumped = json.dumps(request.as_json()) + request.summary
    assert "hunter2" not in dumped
    # The request is what the certificate step takes.
    portal.create_app_id("com.example.app", TEAM)
    issued = portal.issue_certificate("com.example.app", request.csr_pem, "sandbox")
    assert x509.load_der_x509_certificate(issued.der).public_key() == key.public_key()


@pytest.mark.parametrize(
    ("email", "name", "password", "message"),
    [("nobody", "Jane", "pw", "e-mail"), ("a@b.c", " ", "pw", "common name"),
     ("a@b.c", "Jane", "", "password")],
)
def test_make_csr_refuses_bad_input(
    portal: Portal, email: str, name: str, password: str, message: str
) -> None:
    with pytest.raises(PortalError, match=message):
        portal.make_csr(email, name, password)


# -- the real registry satisfies the same protocol -----------------------------------------------------


def test_portal_over_sqlite_registry(authority: pki.Authority, clock: FakeClock) -> None:
    registry_module = pytest.importorskip("apns_sim.model.registry")
    registry = registry_module.Registry(None)
    try:
        portal = Portal(registry, authority, clock)
        portal.create_app_id("com.example.app", TEAM)
        portal.create_app_id("com.example.*", TEAM)
        assert registry.get_app_id("com.example.*").push_enabled is False
        issued = portal.issue_certificate("com.example.app", csr(), "universal")
        assert registry.get_certificate(issued.record.serial) == issued.record
        key = portal.create_auth_key(TEAM)
        assert portal.revoke_auth_key(key.key_id).record.revoked_at == clock.now
        assert portal.revoke_certificate(issued.record.serial).record.revoked_at == clock.now
    finally:
        registry.close()
