"""Provider authentication: JWT rules (docs/apns-protocol.md §5) and certificate identity (§6).

Time is an argument: the one-hour expiry and the 20-minute refresh rule are crossed by moving ``now``,
never by sleeping (STYLE habit 3).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

from apns_sim import pki
from apns_sim.model.records import AuthKeyRecord, CertificateRecord
from apns_sim.push.auth import (
    CertificateIdentity,
    ConnectionAuth,
    TokenIdentity,
    certificate_identity,
    raw_signature,
    verify_provider_token,
)
from apns_sim.push.request import Rejection

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
T0 = NOW.timestamp()
TEAM = "TEAM123456"


@dataclass
class Key:
    key_id: str
    p8: bytes
    record: AuthKeyRecord


def _key(team: str = TEAM, environment: str | None = None) -> Key:
    key_id, p8, public = pki.create_auth_key()
    return Key(key_id, p8, AuthKeyRecord(key_id=key_id, team_id=team, public_key_pem=public,
                                         environment=environment, created_at=NOW, revoked_at=None))


@dataclass
class Keys:
    """A dict standing in for the registry; counts lookups to show a token is verified once."""

    records: dict[str, AuthKeyRecord] = field(default_factory=dict)
    lookups: int = 0

    def add(self, key: Key) -> Key:
        self.records[key.key_id] = key.record
        return key

    def get_auth_key(self, key_id: str) -> AuthKeyRecord | None:
        self.lookups += 1
        return self.records.get(key_id)


def _jwt(key: Key, *, iat: float = T0, iss: str | None = None, der: bool = False, alg: str = "ES256",
         extra_header: dict[str, Any] | None = None) -> str:
    token = jwt.encode({"iss": iss or key.record.team_id, "iat": int(iat)}, key.p8, algorithm=alg,
                       headers={"kid": key.key_id, **(extra_header or {})})
    if der:
        head, claims, sig = token.split(".")
        raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
        der_sig = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        token = f"{head}.{claims}.{base64.urlsafe_b64encode(der_sig).rstrip(b'=').decode()}"
    return f"bearer {token}"


@pytest.fixture(scope="module")
def key() -> Key:
    return _key()


@pytest.fixture
def keys(key: Key) -> Keys:
    k = Keys()
    k.add(key)
    return k


def _reason(outcome: object) -> str:
    assert isinstance(outcome, Rejection), outcome
    return outcome.reason.wire


# -- one token, from scratch (§5) --------------------------------------------------------------------


def test_valid_token(keys: Keys, key: Key) -> None:
    """§5: ES256, kid of a known key, iss = the key's team, iat within the hour."""
    assert verify_provider_token(_jwt(key), keys, "sandbox", T0 + 10) == TokenIdentity(
        team_id=TEAM, key_id=key.key_id, issued_at=T0)


def test_der_and_raw_signatures_are_both_accepted(keys: Keys, key: Key) -> None:
    """§5 (I-apnswift36, pushy): APNs accepts JOSE raw r||s and DER-encoded ECDSA signatures."""
    raw, der = _jwt(key), _jwt(key, der=True)
    assert raw != der
    for header in (raw, der):
        assert isinstance(verify_provider_token(header, keys, "sandbox", T0), TokenIdentity)


def test_raw_signature_conversion() -> None:
    """§5: DER (SEQUENCE of two INTEGERs) becomes 64 raw bytes; garbage is refused."""
    assert raw_signature(encode_dss_signature(1, 2)) == (1).to_bytes(32, "big") + (2).to_bytes(32, "big")
    assert raw_signature(b"\x00" * 64) == b"\x00" * 64
    assert raw_signature(b"not a signature") is None


def test_expired_after_one_hour(keys: Keys, key: Key) -> None:
    """§5: iat more than one hour old is 403 ExpiredProviderToken."""
    assert isinstance(verify_provider_token(_jwt(key), keys, "sandbox", T0 + 3600), TokenIdentity)
    assert _reason(verify_provider_token(_jwt(key), keys, "sandbox", T0 + 3601)) == "ExpiredProviderToken"


def test_wrong_issuer(keys: Keys, key: Key) -> None:
    """§5: iss must be the Team ID that owns the key."""
    assert _reason(verify_provider_token(_jwt(key, iss="OTHERTEAM1"), keys, "sandbox", T0)) == "InvalidProviderToken"


def test_unknown_key_id(key: Key) -> None:
    """§5: a kid the portal never issued is InvalidProviderToken."""
    assert _reason(verify_provider_token(_jwt(key), Keys(), "sandbox", T0)) == "InvalidProviderToken"


def test_revoked_key(key: Key) -> None:
    """§5: a revoked key signs nothing valid any more."""
    keys = Keys(records={key.key_id: AuthKeyRecord(**{**key.record.__dict__, "revoked_at": NOW})})
    assert _reason(verify_provider_token(_jwt(key), keys, "sandbox", T0)) == "InvalidProviderToken"


def test_key_restricted_to_the_other_environment(keys: Keys) -> None:
    """§5, §4.3: a sandbox-only key on production is BadEnvironmentKeyIdInToken; legacy keys work in both."""
    sandbox_key = keys.add(_key(environment="sandbox"))
    assert isinstance(verify_provider_token(_jwt(sandbox_key), keys, "sandbox", T0), TokenIdentity)
    assert _reason(verify_provider_token(_jwt(sandbox_key), keys, "production", T0)) == "BadEnvironmentKeyIdInToken"


def test_forged_tokens(keys: Keys, key: Key) -> None:
    """§5: only ES256; a signature from another key or a mangled token is InvalidProviderToken."""
    impostor = _key()
    impostor.key_id = key.key_id  # claims the real kid, signs with another key
    cases = [
        _jwt(impostor),
        _jwt(key)[:-4] + "AAAA",
        "bearer not.a.jwt",
        "bearer onlyonepart",
        "basic dXNlcjpwYXNz",
        "bearer " + jwt.encode({"iss": TEAM, "iat": int(T0)}, "secret" * 6, algorithm="HS256",
                               headers={"kid": key.key_id}),
    ]
    for header in cases:
        assert _reason(verify_provider_token(header, keys, "sandbox", T0)) == "InvalidProviderToken", header


def test_iat_far_in_the_future(keys: Keys, key: Key) -> None:
    """§5: iat must be within an hour of now (future side unconfirmed: InvalidProviderToken)."""
    assert _reason(verify_provider_token(_jwt(key, iat=T0 + 7200), keys, "sandbox", T0)) == "InvalidProviderToken"


# -- per-connection state (§5) -----------------------------------------------------------------------


def test_missing_token(keys: Keys) -> None:
    """§2.1, §4.3: no client certificate and no or empty authorization is MissingProviderToken."""
    auth = ConnectionAuth(keys, "sandbox")
    for header in (None, "", "   ", "bearer ", "bearer"):
        assert _reason(auth.authorize(header, T0)) == "MissingProviderToken"
    assert not auth.gate_open


def test_token_verified_once_per_connection(keys: Keys, key: Key) -> None:
    """docs/choices.md (one verification per connection and token; docs/benchmarks.md "CPU per request" says
    why): the same token on the same connection is not verified again."""
    auth = ConnectionAuth(keys, "sandbox")
    header = _jwt(key)
    first = auth.authorize(header, T0)
    assert isinstance(first, TokenIdentity) and auth.gate_open
    lookups = keys.lookups
    for i in range(10):
        assert auth.authorize(header, T0 + i) is first
    assert keys.lookups == lookups


def test_cached_token_still_expires(keys: Keys, key: Key) -> None:
    """§5: a token reused past one hour is ExpiredProviderToken even though it was verified earlier."""
    auth = ConnectionAuth(keys, "sandbox")
    header = _jwt(key)
    assert isinstance(auth.authorize(header, T0), TokenIdentity)
    assert _reason(auth.authorize(header, T0 + 3601)) == "ExpiredProviderToken"
    # a fresh token is welcome then (more than 20 minutes after the first)
    assert isinstance(auth.authorize(_jwt(key, iat=T0 + 3601), T0 + 3601), TokenIdentity)


def test_too_many_token_updates(keys: Keys, key: Key) -> None:
    """§5 (A-F675879): a new token on the same connection within 20 minutes is 429."""
    auth = ConnectionAuth(keys, "sandbox")
    first = _jwt(key)
    assert isinstance(auth.authorize(first, T0), TokenIdentity)
    second = _jwt(key, iat=T0 + 60)
    assert _reason(auth.authorize(second, T0 + 60)) == "TooManyProviderTokenUpdates"
    assert isinstance(auth.authorize(first, T0 + 61), TokenIdentity)  # the old token still works
    assert isinstance(auth.authorize(second, T0 + 20 * 60), TokenIdentity)
    # and the clock restarts from that update
    third = _jwt(key, iat=T0 + 21 * 60)
    assert _reason(auth.authorize(third, T0 + 21 * 60)) == "TooManyProviderTokenUpdates"


def test_binding_time_is_the_first_push(keys: Keys, key: Key) -> None:
    """§5 (A-F687789): the connection's team and its bundle ids are fixed at the first push; validation
    compares App ID creation with this moment. A later token update keeps the original binding time."""
    auth = ConnectionAuth(keys, "sandbox")
    first = auth.authorize(_jwt(key), T0 + 5)
    assert isinstance(first, TokenIdentity) and first.bound_at == T0 + 5
    later = T0 + 25 * 60
    updated = auth.authorize(_jwt(key, iat=later), later)
    assert isinstance(updated, TokenIdentity) and updated.issued_at == later and updated.bound_at == T0 + 5
    fresh = verify_provider_token(_jwt(key), keys, "sandbox", T0)
    assert isinstance(fresh, TokenIdentity) and fresh.bound_at is None  # no connection, no binding


def test_team_bound_at_first_push(keys: Keys, key: Key) -> None:
    """§5 (A-F687789): a connection speaks for one team; another team's token is InvalidProviderToken."""
    other = keys.add(_key(team="OTHERTEAM1"))
    auth = ConnectionAuth(keys, "sandbox")
    assert isinstance(auth.authorize(_jwt(key), T0), TokenIdentity)
    later = T0 + 30 * 60
    assert _reason(auth.authorize(_jwt(other, iat=later), later)) == "InvalidProviderToken"
    # a new connection may use it
    assert isinstance(ConnectionAuth(keys, "sandbox").authorize(_jwt(other, iat=later), later), TokenIdentity)


def test_invalid_new_token_keeps_the_gate_shut(keys: Keys, key: Key) -> None:
    """§5 "Stream gate": only a valid token lifts the one-stream limit."""
    auth = ConnectionAuth(keys, "sandbox")
    assert _reason(auth.authorize(_jwt(key, iss="WRONGTEAM1"), T0)) == "InvalidProviderToken"
    assert not auth.gate_open


def test_certificate_connection_ignores_authorization(keys: Keys) -> None:
    """§6: on a certificate connection the authorization header is ignored."""
    cert = CertificateIdentity(bundle_id="com.example.app", team_id=TEAM, topics=("com.example.app",), serial=7)
    auth = ConnectionAuth(keys, "sandbox", certificate=cert)
    assert auth.gate_open
    assert auth.authorize(None, T0) is cert
    assert auth.authorize("bearer garbage", T0) is cert


# -- certificates (§6) -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def authority() -> pki.Authority:
    return pki.create_authority(NOW - timedelta(days=1))


def _csr() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "provider")])).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def _cert(authority: pki.Authority, environment: str) -> bytes:
    cert = pki.issue_push_certificate(authority, _csr(), bundle_id="com.example.app", team_id=TEAM,
                                      environment=environment, now=NOW - timedelta(hours=1))
    return pki.cert_to_der(cert)


@dataclass
class Certs:
    revoked: set[int] = field(default_factory=set)

    def get_certificate(self, serial: int) -> CertificateRecord | None:
        if serial not in self.revoked:
            return None
        return CertificateRecord(serial=serial, bundle_id="com.example.app", team_id=TEAM, environment="sandbox",
                                 topics=("com.example.app",), not_before=NOW, not_after=NOW, fingerprint_sha256="",
                                 der=b"", revoked_at=NOW - timedelta(minutes=1))


def test_certificate_identity(authority: pki.Authority) -> None:
    """§6: UID = bundle id, OU = team; a sandbox certificate has the single topic of its app."""
    ident = certificate_identity(_cert(authority, "sandbox"), Certs(), "sandbox", T0)
    assert isinstance(ident, CertificateIdentity)
    assert (ident.bundle_id, ident.team_id, ident.topics, ident.default_topic) == (
        "com.example.app", TEAM, ("com.example.app",), "com.example.app")


def test_universal_certificate_has_several_topics(authority: pki.Authority) -> None:
    """§6: a universal certificate works in both environments and lists app, VoIP and complication topics."""
    der = _cert(authority, "universal")
    for env in ("sandbox", "production"):
        ident = certificate_identity(der, Certs(), env, T0)
        assert isinstance(ident, CertificateIdentity)
        assert ident.default_topic is None and "com.example.app.voip" in ident.topics


def test_certificate_for_the_other_environment(authority: pki.Authority) -> None:
    """§6 (I-apns2-93): a sandbox certificate on production is BadCertificateEnvironment."""
    assert _reason(certificate_identity(_cert(authority, "sandbox"), Certs(), "production", T0)) == (
        "BadCertificateEnvironment")
    assert _reason(certificate_identity(_cert(authority, "production"), Certs(), "sandbox", T0)) == (
        "BadCertificateEnvironment")


def test_revoked_or_expired_certificate(authority: pki.Authority) -> None:
    """§6: a revoked certificate, or one past not_after on the simulator clock, is BadCertificate."""
    der = _cert(authority, "sandbox")
    serial = x509.load_der_x509_certificate(der).serial_number
    assert _reason(certificate_identity(der, Certs(revoked={serial}), "sandbox", T0)) == "BadCertificate"
    two_years = T0 + 2 * 365 * 86400
    assert _reason(certificate_identity(der, Certs(), "sandbox", two_years)) == "BadCertificate"
    assert _reason(certificate_identity(b"not a certificate", Certs(), "sandbox", T0)) == "BadCertificate"
