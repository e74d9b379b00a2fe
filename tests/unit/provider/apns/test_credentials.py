"""Loading push credentials in every shape Apple's tools produce (docs/apns-protocol.md §5, §6).

Certificates are made here, at test time (docs/style.md habit 7): a push-style certificate (UID = bundle id)
signed by a throwaway CA, saved as PEM pair, combined PEM, DER .cer + key-only .p12 (the Keychain export that
goes with a CSR), and a .p12 holding both.
"""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

import provider.apns.credentials as credentials_module
from provider.apns.credentials import (
    CertificateCredentials,
    CredentialsError,
    client_ssl_context,
    load_cer_and_p12,
    load_certificate_credentials,
    load_p8,
    load_p12,
    load_pem,
    load_pem_pair,
)

BUNDLE = "com.example.app"
PEM = serialization.Encoding.PEM


def _push_cert(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> x509.Certificate:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test WWDR CA")])
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.USER_ID, BUNDLE),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Apple Push Services: {BUNDLE}"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "TEAM123456"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(ca_key, hashes.SHA256())
    )


def _key_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, password: bytes | None = None) -> bytes:
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, enc)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def cert(rsa_key: rsa.RSAPrivateKey) -> x509.Certificate:
    return _push_cert(rsa_key)


def _check(creds: CertificateCredentials, cert: x509.Certificate) -> None:
    assert creds.certificate == cert
    assert creds.bundle_id == BUNDLE
    ctx = creds.ssl_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_pem_pair(tmp_path: Path, rsa_key, cert) -> None:
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(PEM))
    (tmp_path / "key.pem").write_bytes(_key_pem(rsa_key))
    _check(load_pem_pair(tmp_path / "cert.pem", tmp_path / "key.pem"), cert)


def test_encrypted_pem_key_needs_its_password(tmp_path: Path, rsa_key, cert) -> None:
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(PEM))
    (tmp_path / "key.pem").write_bytes(_key_pem(rsa_key, b"secret"))
    _check(load_pem_pair(tmp_path / "cert.pem", tmp_path / "key.pem", "secret"), cert)
    with pytest.raises(CredentialsError, match="encrypted"):
        load_pem_pair(tmp_path / "cert.pem", tmp_path / "key.pem")
    with pytest.raises(CredentialsError, match="wrong password"):
        load_pem_pair(tmp_path / "cert.pem", tmp_path / "key.pem", "nope")


def test_combined_pem_in_either_order(tmp_path: Path, rsa_key, cert) -> None:
    (tmp_path / "a.pem").write_bytes(_key_pem(rsa_key) + cert.public_bytes(PEM))
    (tmp_path / "b.pem").write_bytes(cert.public_bytes(PEM) + _key_pem(rsa_key))
    _check(load_pem(tmp_path / "a.pem"), cert)
    _check(load_certificate_credentials(cert_file=tmp_path / "b.pem"), cert)


def test_der_cer_plus_key_only_p12_like_the_tutorial(tmp_path: Path, rsa_key, cert) -> None:
    (tmp_path / "aps_developer_identity.cer").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    modern = (  # what recent Keychain Access exports use
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(50_000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(b"pushchat")
    )
    p12 = pkcs12.serialize_key_and_certificates(b"Push", rsa_key, None, None, modern)
    (tmp_path / "Push.p12").write_bytes(p12)
    creds = load_cer_and_p12(tmp_path / "aps_developer_identity.cer", tmp_path / "Push.p12", "pushchat")
    _check(creds, cert)
    same = load_certificate_credentials(
        cert_file=tmp_path / "aps_developer_identity.cer", p12_file=tmp_path / "Push.p12", password="pushchat"
    )
    assert same.certificate == cert
    with pytest.raises(CredentialsError, match="holds only a private key"):
        load_p12(tmp_path / "Push.p12", "pushchat")


def test_p12_holding_certificate_and_key(tmp_path: Path, cert, rsa_key) -> None:
    p12 = pkcs12.serialize_key_and_certificates(
        b"Push", rsa_key, cert, None, serialization.BestAvailableEncryption(b"pw")
    )
    (tmp_path / "both.p12").write_bytes(p12)
    _check(load_p12(tmp_path / "both.p12", "pw"), cert)
    _check(load_certificate_credentials(p12_file=tmp_path / "both.p12", password="pw"), cert)


def test_wrong_or_missing_p12_password(tmp_path: Path, cert, rsa_key) -> None:
    p12 = pkcs12.serialize_key_and_certificates(
        b"Push", rsa_key, cert, None, serialization.BestAvailableEncryption(b"pw")
    )
    (tmp_path / "both.p12").write_bytes(p12)
    with pytest.raises(CredentialsError, match=r"cannot open .*both\.p12: wrong password"):
        load_p12(tmp_path / "both.p12", "wrong")
    with pytest.raises(CredentialsError, match="give --password"):
        load_p12(tmp_path / "both.p12", None)
    (tmp_path / "notes.p12").write_text("not pkcs12 at all")
    with pytest.raises(CredentialsError, match=r"is not a PKCS#12"):
        load_p12(tmp_path / "notes.p12", "pw")


def test_unprotected_p12_opens_without_a_password(tmp_path: Path, cert, rsa_key) -> None:
    p12 = pkcs12.serialize_key_and_certificates(b"Push", rsa_key, cert, None, serialization.NoEncryption())
    (tmp_path / "open.p12").write_bytes(p12)
    assert load_p12(tmp_path / "open.p12", None).certificate == cert


def test_key_that_does_not_match_the_certificate(tmp_path: Path, cert) -> None:
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(PEM))
    (tmp_path / "other.pem").write_bytes(_key_pem(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(CredentialsError, match="does not match"):
        load_pem_pair(tmp_path / "cert.pem", tmp_path / "other.pem")


def test_not_a_certificate_and_missing_files(tmp_path: Path, rsa_key, cert) -> None:
    (tmp_path / "junk.cer").write_bytes(b"\x30\x03junk")
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(PEM))
    (tmp_path / "key.pem").write_bytes(_key_pem(rsa_key))
    with pytest.raises(CredentialsError, match="is not a certificate"):
        load_pem_pair(tmp_path / "junk.cer", tmp_path / "key.pem")
    with pytest.raises(CredentialsError, match=r"file not found: .*missing\.pem"):
        load_pem_pair(tmp_path / "missing.pem", tmp_path / "key.pem")
    with pytest.raises(CredentialsError, match="no PEM private key"):
        load_pem_pair(tmp_path / "cert.pem", tmp_path / "junk.cer")
    with pytest.raises(CredentialsError, match="no certificate credentials"):
        load_certificate_credentials()


def test_key_and_certificate_pass_through_a_private_temp_file_that_is_deleted(
    tmp_path: Path, rsa_key, cert, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[tuple[str, int]] = []
    real = credentials_module.tempfile.mkstemp

    def spy(*args: object, **kw: object) -> tuple[int, str]:
        fd, name = real(*args, **kw)  # type: ignore[call-overload]
        made.append((name, Path(name).stat().st_mode & 0o777))
        return fd, name

    monkeypatch.setattr(credentials_module.tempfile, "mkstemp", spy)
    CertificateCredentials(cert, rsa_key).ssl_context()
    ((name, mode),) = made
    assert mode == 0o600 and not Path(name).exists()


def test_server_trust_from_a_ca_file_or_the_system(tmp_path: Path) -> None:
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    ctx = client_ssl_context(tmp_path / "ca.pem")
    assert ctx.verify_mode == ssl.CERT_REQUIRED and len(ctx.get_ca_certs()) == 1
    assert client_ssl_context().verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(CredentialsError, match="CA file not found"):
        client_ssl_context(tmp_path / "nope.pem")


def test_p8_token_credentials(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "AuthKey_ABC123DEFG.p8"
    path.write_bytes(_key_pem(key))
    creds = load_p8(path, "ABC123DEFG", "TEAM123456")
    assert creds.key_id == "ABC123DEFG" and creds.team_id == "TEAM123456"
    assert "PRIVATE" not in repr(creds)
    assert creds.ssl_context().verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(CredentialsError, match="team_id"):
        load_p8(path, "ABC123DEFG", "")


def test_p8_must_be_a_p256_key(tmp_path: Path) -> None:
    (tmp_path / "rsa.p8").write_bytes(
        _key_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    )
    with pytest.raises(CredentialsError, match="P-256"):
        load_p8(tmp_path / "rsa.p8", "K", "T")
    (tmp_path / "junk.p8").write_text("hello")
    with pytest.raises(CredentialsError, match="not an unencrypted PEM private key"):
        load_p8(tmp_path / "junk.p8", "K", "T")
