"""The simulator's CA: Apple-shaped push and device certificates, keys, and files that real tools read.

Shelling out to ``openssl`` proves the bytes are real certificates, requests, keys and PKCS#12 files, not just
things our own parser agrees with. TLS checks run over memory BIOs (no sockets, docs/style.md habit 8).
"""

from __future__ import annotations

import os
import shutil
import ssl
import stat
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from apns_sim import pki

NOW = datetime.now(UTC).replace(microsecond=0)
BUNDLE, TEAM = "com.example.app", "ABCDE12345"
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")


@pytest.fixture(scope="module")
def authority() -> pki.Authority:
    return pki.create_authority(NOW)


@pytest.fixture(scope="module")
def keychain() -> tuple[bytes, bytes]:
    return pki.make_keychain_request(email="dev@example.com", common_name="Push Test", password="s3cret")


def openssl(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], input=input, capture_output=True, check=False, timeout=60)


def ec_csr(common_name: str = "anything", key: ec.EllipticCurvePrivateKey | None = None) -> bytes:
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.DER)


def der_children(data: bytes) -> list[bytes]:
    """The complete TLVs inside one outer DER SEQUENCE (test-side parser, independent of pki's)."""
    def header(buf: bytes, pos: int) -> tuple[int, int]:
        first = buf[pos + 1]
        if first < 0x80:
            return pos + 2, first
        n = first & 0x7F
        return pos + 2 + n, int.from_bytes(buf[pos + 2 : pos + 2 + n], "big")

    start, length = header(data, 0)
    children, pos = [], start
    while pos < start + length:
        body, size = header(data, pos)
        children.append(data[pos : body + size])
        pos = body + size
    return children


def wrap_sequence(content: bytes) -> bytes:
    n = len(content)
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\x30" + (bytes([n]) if n < 0x80 else bytes([0x80 | len(size)]) + size) + content


# -- the authority -----------------------------------------------------------------------------------


def test_authority_chain_names_and_constraints(authority: pki.Authority) -> None:
    a = authority
    assert a.root_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == pki.ROOT_NAME
    assert a.push_ca_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == pki.PUSH_CA_NAME
    pki.verify_issued_by(a.root_cert, a.root_cert, NOW)  # self-signed
    for child in (a.push_ca_cert, a.device_ca_cert, a.server_cert):
        pki.verify_issued_by(child, a.root_cert, NOW)
    for ca in (a.root_cert, a.push_ca_cert, a.device_ca_cert):
        bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
        assert bc.critical and bc.value.ca
        assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    assert a.root_cert.not_valid_after_utc - NOW >= timedelta(days=3649)
    assert a.ca_bundle_pem().count(b"BEGIN CERTIFICATE") == 1
    assert a.client_verify_pem() == pki.cert_to_pem(a.root_cert) + pki.cert_to_pem(a.push_ca_cert)
    assert a.device_verify_pem() == pki.cert_to_pem(a.root_cert) + pki.cert_to_pem(a.device_ca_cert)


def test_server_certificate_names(authority: pki.Authority) -> None:
    san = authority.server_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = san.get_values_for_type(x509.DNSName)
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    assert ips == ["127.0.0.1"]
    assert set(dns) == set(pki.SERVER_NAMES) - {"127.0.0.1"}
    # docs/apns-protocol.md §1 (API hosts), docs/device-side.md §1.1 (N-courier hosts): one-label wildcards
    # cover both.
    assert {"*.push.apple.com", "*.sandbox.push.apple.com", "api.push.apple.com",
            "api.sandbox.push.apple.com", "localhost"} <= set(dns)
    eku = authority.server_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku


def test_save_load_round_trip_and_key_modes(authority: pki.Authority, tmp_path: Path) -> None:
    old_umask = os.umask(0)  # the most permissive umask must still give 0600 keys
    try:
        pki.save_authority(authority, tmp_path)
    finally:
        os.umask(old_umask)
    files = pki.authority_files(tmp_path)
    for key_file in (files.root_key, files.push_ca_key, files.device_ca_key, files.server_key):
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600, key_file
    assert stat.S_IMODE(files.ca.stat().st_mode) == 0o644
    assert files.ca.read_bytes() == authority.ca_bundle_pem()
    loaded = pki.load_authority(tmp_path)
    assert loaded.root_cert == authority.root_cert
    assert loaded.server_cert == authority.server_cert
    assert pki.key_to_pem(loaded.push_ca_key) == pki.key_to_pem(authority.push_ca_key)
    assert not list(tmp_path.glob(".*.tmp")), "atomic writes left temporary files behind"


def test_load_refuses_incomplete_or_mismatched(authority: pki.Authority, tmp_path: Path) -> None:
    pki.save_authority(authority, tmp_path)
    files = pki.authority_files(tmp_path)
    files.push_ca_key.write_bytes(pki.key_to_pem(authority.device_ca_key))
    with pytest.raises(pki.PkiError, match="does not belong"):
        pki.load_authority(tmp_path)
    files.push_ca_key.unlink()
    with pytest.raises(pki.PkiError, match=r"push-ca-key\.pem missing"):
        pki.load_authority(tmp_path)


def test_load_or_create_makes_one_authority_even_when_racing(tmp_path: Path) -> None:
    target = tmp_path / "data"
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: pki.load_or_create_authority(target, NOW), range(4)))
    roots = {pki.fingerprint_sha256(r.root_cert) for r in results}
    assert len(roots) == 1
    again = pki.load_or_create_authority(target, NOW + timedelta(days=1))
    assert pki.fingerprint_sha256(again.root_cert) in roots


def test_write_private_replaces_with_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "AuthKey.p8"
    path.write_bytes(b"old")
    path.chmod(0o644)
    pki.write_private(path, b"new secret")
    assert path.read_bytes() == b"new secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# -- push certificates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "cn_prefix", "envs"),
    [
        ("sandbox", "Apple Development IOS Push Services: ", {"sandbox"}),
        ("production", "Apple Production IOS Push Services: ", {"production"}),
        ("universal", "Apple Push Services: ", {"sandbox", "production"}),
    ],
)
def test_push_certificate_layout(
    authority: pki.Authority, keychain: tuple[bytes, bytes], environment: str, cn_prefix: str, envs: set[str]
) -> None:
    cert = pki.issue_push_certificate(
        authority, keychain[0], bundle_id=BUNDLE, team_id=TEAM, environment=environment, now=NOW
    )
    assert [(a.oid, a.value) for a in cert.subject] == [
        (NameOID.USER_ID, BUNDLE), (NameOID.COMMON_NAME, cn_prefix + BUNDLE),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, TEAM), (NameOID.ORGANIZATION_NAME, "pushsim Example Org"),
        (NameOID.COUNTRY_NAME, "US"),
    ]
    assert cert.issuer == authority.push_ca_cert.subject
    assert cert.not_valid_before_utc == NOW
    assert cert.not_valid_after_utc == NOW + timedelta(days=365)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    present = set()
    for name, oid in (("sandbox", pki.ENV_SANDBOX_OID), ("production", pki.ENV_PRODUCTION_OID)):
        try:
            ext = cert.extensions.get_extension_for_oid(ObjectIdentifier(oid))
        except x509.ExtensionNotFound:
            continue
        present.add(name)
        assert not ext.critical
        assert isinstance(ext.value, x509.UnrecognizedExtension) and ext.value.value == b"\x05\x00"
    assert present == envs
    ident = pki.push_identity(cert)
    assert (ident.bundle_id, ident.team_id, ident.environments) == (BUNDLE, TEAM, frozenset(envs))
    assert ident.environment == environment
    assert ident.serial == cert.serial_number
    assert ident.fingerprint_sha256 == cert.fingerprint(hashes.SHA256()).hex()
    # Only the CSR's key is used; the CSR's own subject (e-mail, CN) is ignored, as at Apple.
    csr = x509.load_pem_x509_csr(keychain[0])
    assert cert.public_key() == csr.public_key()
    pki.verify_issued_by(cert, authority.push_ca_cert, NOW)


def test_universal_topics_extension(authority: pki.Authority, keychain: tuple[bytes, bytes]) -> None:
    cert = pki.issue_push_certificate(
        authority, keychain[0], bundle_id=BUNDLE, team_id=TEAM, environment="universal", now=NOW
    )
    ext = cert.extensions.get_extension_for_oid(ObjectIdentifier(pki.TOPICS_OID))
    assert isinstance(ext.value, x509.UnrecognizedExtension)
    assert pki.decode_topics(ext.value.value) == (
        (BUNDLE, "app"), (f"{BUNDLE}.voip", "voip"), (f"{BUNDLE}.complication", "complication"),
    )
    assert pki.push_identity(cert).topics == (BUNDLE, f"{BUNDLE}.voip", f"{BUNDLE}.complication")
    sandbox = pki.issue_push_certificate(
        authority, keychain[0], bundle_id=BUNDLE, team_id=TEAM, environment="sandbox", now=NOW
    )
    with pytest.raises(x509.ExtensionNotFound):
        sandbox.extensions.get_extension_for_oid(ObjectIdentifier(pki.TOPICS_OID))
    assert pki.push_identity(sandbox).topics == (BUNDLE,)


@needs_openssl
def test_topics_encoding_matches_openssl(tmp_path: Path) -> None:
    conf = tmp_path / "topics.cnf"
    conf.write_text(
        "asn1 = SEQUENCE:topics\n[topics]\n"
        "t0 = UTF8String:com.example.app\nt1 = SEQWRAP,UTF8String:app\n"
        "t2 = UTF8String:com.example.app.voip\nt3 = SEQWRAP,UTF8String:voip\n"
    )
    out = tmp_path / "topics.der"
    result = openssl("asn1parse", "-genconf", str(conf), "-out", str(out), "-noout")
    assert result.returncode == 0, result.stderr
    ours = pki.encode_topics([("com.example.app", "app"), ("com.example.app.voip", "voip")])
    assert ours == out.read_bytes()


@pytest.mark.parametrize("value", [b"", b"\x04\x00", b"\x30\x05\x0c\x01a", b"\x30\x02\x02\x00"])
def test_decode_topics_refuses_malformed(value: bytes) -> None:
    with pytest.raises(pki.PkiError):
        pki.decode_topics(value)


@needs_openssl
def test_openssl_reads_push_certificate(
    authority: pki.Authority, keychain: tuple[bytes, bytes], tmp_path: Path
) -> None:
    cert = pki.issue_push_certificate(
        authority, keychain[0], bundle_id=BUNDLE, team_id=TEAM, environment="universal", now=NOW
    )
    cer = tmp_path / "aps.cer"
    cer.write_bytes(pki.cert_to_der(cert))
    result = openssl("x509", "-inform", "DER", "-in", str(cer), "-noout", "-text")
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    assert (f"Subject: UID = {BUNDLE}, CN = Apple Push Services: {BUNDLE}, OU = {TEAM}, "
            "O = pushsim Example Org, C = US") in text
    assert pki.PUSH_CA_NAME in text.split("Issuer:")[1].splitlines()[0]
    assert "TLS Web Client Authentication" in text
    for oid in (pki.ENV_SANDBOX_OID, pki.ENV_PRODUCTION_OID, pki.TOPICS_OID):
        assert f"{oid}:" in text
    (tmp_path / "root.pem").write_bytes(pki.cert_to_pem(authority.root_cert))
    (tmp_path / "push-ca.pem").write_bytes(pki.cert_to_pem(authority.push_ca_cert))
    (tmp_path / "aps.pem").write_bytes(pki.cert_to_pem(cert))
    verify = openssl("verify", "-purpose", "sslclient", "-CAfile", str(tmp_path / "root.pem"),
                     "-untrusted", str(tmp_path / "push-ca.pem"), str(tmp_path / "aps.pem"))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # The device CA did not sign it, so a gateway trusting only root + device CA refuses it.
    (tmp_path / "device-ca.pem").write_bytes(pki.cert_to_pem(authority.device_ca_cert))
    wrong = openssl("verify", "-CAfile", str(tmp_path / "root.pem"), "-untrusted",
                    str(tmp_path / "device-ca.pem"), str(tmp_path / "aps.pem"))
    assert wrong.returncode != 0


def test_push_certificate_accepts_der_and_ec_csr(authority: pki.Authority) -> None:
    cert = pki.issue_push_certificate(
        authority, ec_csr(), bundle_id=BUNDLE, team_id=TEAM, environment="sandbox", now=NOW
    )
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)


@pytest.mark.parametrize("junk", [b"hello", b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END"])
def test_refuses_bytes_that_are_not_a_csr(authority: pki.Authority, junk: bytes) -> None:
    with pytest.raises(pki.PkiError, match="is not a certificate signing request"):
        pki.issue_push_certificate(authority, junk, bundle_id=BUNDLE, team_id=TEAM, environment="sandbox",
                                   now=NOW)


def test_refuses_a_certificate_passed_as_csr(authority: pki.Authority) -> None:
    with pytest.raises(pki.PkiError, match="is not a certificate signing request"):
        pki.issue_push_certificate(authority, pki.cert_to_pem(authority.server_cert), bundle_id=BUNDLE,
                                   team_id=TEAM, environment="sandbox", now=NOW)


def test_refuses_csr_signed_by_a_different_key(authority: pki.Authority) -> None:
    mine, other = ec_csr("same"), ec_csr("same")  # same subject, different keys
    info, alg, _sig = der_children(mine)
    _info, _alg, other_sig = der_children(other)
    spliced = wrap_sequence(info + alg + other_sig)  # my key and subject, someone else's signature
    assert x509.load_der_x509_csr(spliced).is_signature_valid is False
    with pytest.raises(pki.PkiError, match="does not verify"):
        pki.issue_push_certificate(authority, spliced, bundle_id=BUNDLE, team_id=TEAM,
                                   environment="sandbox", now=NOW)


def test_refuses_csr_altered_after_signing(authority: pki.Authority) -> None:
    csr = ec_csr("Jane Appleseed")
    tampered = csr.replace(b"Jane", b"John")
    assert tampered != csr
    with pytest.raises(pki.PkiError, match="does not verify"):
        pki.issue_device_certificate(authority, tampered, now=NOW)


def test_refuses_unknown_environment_and_wildcard(authority: pki.Authority) -> None:
    with pytest.raises(pki.PkiError, match="sandbox, production or universal"):
        pki.issue_push_certificate(authority, ec_csr(), bundle_id=BUNDLE, team_id=TEAM,
                                   environment="development", now=NOW)
    with pytest.raises(pki.PkiError, match="explicit bundle id"):
        pki.issue_push_certificate(authority, ec_csr(), bundle_id="com.example.*", team_id=TEAM,
                                   environment="sandbox", now=NOW)


def test_push_identity_refuses_non_push_certificates(authority: pki.Authority) -> None:
    with pytest.raises(pki.PkiError, match="no UID"):
        pki.push_identity(authority.server_cert)


# -- device certificates and verification -----------------------------------------------------------


def device_csr(key_size: int = 1024) -> tuple[rsa.RSAPrivateKey, bytes]:
    """A phone's activation request as pypush makes it: RSA-1024, Apple's iPhone subject (§1.5).

    OpenSSL's default security level refuses RSA-1024 in TLS, so the TLS tests use 2048 bits.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "CA"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "Cupertino"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Apple Inc."),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "iPhone"),
        x509.NameAttribute(NameOID.COMMON_NAME, "0F3E5A2C-1D4B-4C8E-9A7F-6B2D1E0C9F8A"),
    ])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return key, csr.public_bytes(serialization.Encoding.PEM)


def test_device_certificate_issue_and_verify(authority: pki.Authority) -> None:
    key, csr_pem = device_csr()
    cert = pki.issue_device_certificate(authority, csr_pem, now=NOW)
    assert cert.subject == x509.load_pem_x509_csr(csr_pem).subject
    assert cert.issuer == authority.device_ca_cert.subject
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(days=3 * 365)
    assert cert.public_key() == key.public_key()
    pki.verify_issued_by(cert, authority.device_ca_cert, NOW + timedelta(days=365))
    with pytest.raises(pki.PkiError, match="was not issued by"):
        pki.verify_issued_by(cert, authority.push_ca_cert, NOW)
    with pytest.raises(pki.PkiError, match="expired"):
        pki.verify_issued_by(cert, authority.device_ca_cert, NOW + timedelta(days=3 * 365 + 1))
    with pytest.raises(pki.PkiError, match="not valid until"):
        pki.verify_issued_by(cert, authority.device_ca_cert, NOW - timedelta(minutes=1))
    with pytest.raises(pki.PkiError, match="not a certificate authority"):
        pki.verify_issued_by(cert, authority.server_cert, NOW)


def test_device_certificate_from_foreign_ca_is_refused(authority: pki.Authority) -> None:
    foreign = pki.create_authority(NOW)  # same names, different keys: only the signature tells them apart
    assert foreign.device_ca_cert.subject == authority.device_ca_cert.subject
    cert = pki.issue_device_certificate(foreign, device_csr()[1], now=NOW)
    with pytest.raises(pki.PkiError, match="was not issued by"):
        pki.verify_issued_by(cert, authority.device_ca_cert, NOW)
    pki.verify_issued_by(cert, foreign.device_ca_cert, NOW)


def test_verify_handles_rsa_issuers() -> None:
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "RSA CA")])
    ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(NOW).not_valid_after(NOW + timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(name)
            .public_key(leaf_key.public_key()).serial_number(2).not_valid_before(NOW)
            .not_valid_after(NOW + timedelta(hours=1)).sign(ca_key, hashes.SHA256()))
    pki.verify_issued_by(leaf, ca, NOW)
    with pytest.raises(pki.PkiError, match="expired"):
        pki.verify_issued_by(leaf, ca, NOW + timedelta(hours=2))


# -- TLS with the real ssl module (memory BIOs, no sockets) ------------------------------------------


def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, hostname: str) -> ssl.SSLObject:
    bios = [ssl.MemoryBIO() for _ in range(4)]
    server = server_ctx.wrap_bio(bios[0], bios[1], server_side=True)
    client = client_ctx.wrap_bio(bios[2], bios[3], server_hostname=hostname)
    for _ in range(10):
        done = True
        for side in (client, server):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                done = False
        bios[0].write(bios[3].read())
        bios[2].write(bios[1].read())
        if done:
            return server
    raise AssertionError("handshake did not finish")


@pytest.fixture()
def tls_files(
    authority: pki.Authority, keychain: tuple[bytes, bytes], tmp_path: Path
) -> Iterator[dict[str, Path]]:
    pki.save_authority(authority, tmp_path)
    key, _ = pki.load_p12(keychain[1], "s3cret")
    push = pki.issue_push_certificate(authority, keychain[0], bundle_id=BUNDLE, team_id=TEAM,
                                      environment="sandbox", now=NOW)
    dkey, dcsr = device_csr(2048)
    device = pki.issue_device_certificate(authority, dcsr, now=NOW)
    paths = {"push": tmp_path / "push.pem", "push_key": tmp_path / "push-key.pem",
             "device": tmp_path / "device.pem", "device_key": tmp_path / "device-key.pem"}
    paths["push"].write_bytes(pki.cert_to_pem(push))
    pki.write_private(paths["push_key"], pki.key_to_pem(key))
    paths["device"].write_bytes(pki.cert_to_pem(device))
    pki.write_private(paths["device_key"], pki.key_to_pem(dkey))
    yield paths


def contexts(directory: Path, verify: bytes) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    files = pki.authority_files(directory)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files.server_chain, files.server_key)
    server.verify_mode = ssl.CERT_REQUIRED
    server.verify_flags |= ssl.VERIFY_X509_STRICT
    server.load_verify_locations(cadata=verify.decode())
    client = ssl.create_default_context(cafile=str(files.ca))
    client.verify_flags |= ssl.VERIFY_X509_STRICT
    return server, client


@pytest.mark.parametrize("hostname", ["127.0.0.1", "localhost", "api.sandbox.push.apple.com", "api.push.apple.com",
                                      "api.development.push.apple.com", "7.courier.sandbox.push.apple.com",
                                      "1-courier.push.apple.com", "10-courier.sandbox.push.apple.com",
                                      "api-manage-broadcast.sandbox.push.apple.com"])
def test_tls_provider_certificate_accepted(
    authority: pki.Authority, tls_files: dict[str, Path], hostname: str
) -> None:
    server, client = contexts(tls_files["push"].parent, authority.client_verify_pem())
    client.load_cert_chain(tls_files["push"], tls_files["push_key"])
    peer = handshake(server, client, hostname).getpeercert()
    assert peer is not None
    assert ((("userId", BUNDLE),) in peer["subject"])


@pytest.mark.parametrize("hostname", ["push.apple.com", "x.y.push.apple.com", "api.push.apple.org",
                                      "example.com", "127.0.0.2"])
def test_tls_server_name_outside_the_certificate_is_refused(
    authority: pki.Authority, tls_files: dict[str, Path], hostname: str
) -> None:
    """A wildcard covers exactly one label (RFC 6125): names beyond SERVER_NAMES fail hostname checks."""
    server, client = contexts(tls_files["push"].parent, authority.client_verify_pem())
    client.load_cert_chain(tls_files["push"], tls_files["push_key"])
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        handshake(server, client, hostname)


def test_tls_provider_api_refuses_device_certificate(
    authority: pki.Authority, tls_files: dict[str, Path]
) -> None:
    server, client = contexts(tls_files["push"].parent, authority.client_verify_pem())
    client.load_cert_chain(tls_files["device"], tls_files["device_key"])
    with pytest.raises(ssl.SSLError):
        handshake(server, client, "api.push.apple.com")


def test_tls_gateway_takes_device_and_refuses_push_certificate(
    authority: pki.Authority, tls_files: dict[str, Path]
) -> None:
    server, client = contexts(tls_files["push"].parent, authority.device_verify_pem())
    client.load_cert_chain(tls_files["device"], tls_files["device_key"])
    handshake(server, client, "courier.push.apple.com")
    server, client = contexts(tls_files["push"].parent, authority.device_verify_pem())
    client.load_cert_chain(tls_files["push"], tls_files["push_key"])
    with pytest.raises(ssl.SSLError):
        handshake(server, client, "courier.push.apple.com")


# -- auth keys, Keychain requests and PKCS#12 ---------------------------------------------------------


def test_create_auth_key() -> None:
    key_id, p8, public_pem = pki.create_auth_key()
    assert len(key_id) == 10 and key_id.isalnum() and key_id == key_id.upper()
    assert p8.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8, as Apple's .p8
    key = serialization.load_pem_private_key(p8, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    public = serialization.load_pem_public_key(public_pem)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    signature = key.sign(b"header.claims", ec.ECDSA(hashes.SHA256()))
    public.verify(signature, b"header.claims", ec.ECDSA(hashes.SHA256()))
    assert pki.create_auth_key()[0] != key_id


@needs_openssl
def test_openssl_reads_auth_key(tmp_path: Path) -> None:
    _, p8, _ = pki.create_auth_key()
    path = tmp_path / "AuthKey.p8"
    pki.write_private(path, p8)
    result = openssl("pkey", "-in", str(path), "-noout", "-text")
    assert result.returncode == 0, result.stderr
    assert b"prime256v1" in result.stdout


def test_keychain_request_contents(keychain: tuple[bytes, bytes]) -> None:
    csr_pem, p12 = keychain
    csr = x509.load_pem_x509_csr(csr_pem)
    assert csr.is_signature_valid
    assert [(a.oid, a.value) for a in csr.subject] == [
        (NameOID.EMAIL_ADDRESS, "dev@example.com"), (NameOID.COMMON_NAME, "Push Test"),
        (NameOID.COUNTRY_NAME, "US"),
    ]
    key, cert = pki.load_p12(p12, "s3cret")
    assert cert is None
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert key.public_key() == csr.public_key()


def test_load_p12_wrong_password_and_junk(keychain: tuple[bytes, bytes]) -> None:
    with pytest.raises(pki.PkiError, match="wrong password"):
        pki.load_p12(keychain[1], "not-it")
    with pytest.raises(pki.PkiError, match="wrong password"):
        pki.load_p12(keychain[1], None)
    with pytest.raises(pki.PkiError, match="not a PKCS#12"):
        pki.load_p12(b"-----BEGIN CERTIFICATE-----", "s3cret")


@needs_openssl
def test_openssl_reads_keychain_files(keychain: tuple[bytes, bytes], tmp_path: Path) -> None:
    csr_path, p12_path = tmp_path / "Push.certSigningRequest", tmp_path / "Push.p12"
    csr_path.write_bytes(keychain[0])
    p12_path.write_bytes(keychain[1])
    req = openssl("req", "-in", str(csr_path), "-verify", "-noout", "-subject")
    assert req.returncode == 0, req.stderr
    assert b"emailAddress = dev@example.com, CN = Push Test, C = US" in req.stdout
    info = openssl("pkcs12", "-info", "-in", str(p12_path), "-passin", "pass:s3cret", "-nodes")
    assert info.returncode == 0, info.stderr
    out = info.stdout + info.stderr
    assert b"friendlyName: Push Test private key" in out
    assert b"PBES2" in out and b"BEGIN PRIVATE KEY" in out
    wrong = openssl("pkcs12", "-info", "-in", str(p12_path), "-passin", "pass:nope", "-nodes")
    assert wrong.returncode != 0


@needs_openssl
@pytest.mark.parametrize("password", ["pw", None])
def test_export_p12_round_trip(
    authority: pki.Authority, keychain: tuple[bytes, bytes], tmp_path: Path, password: str | None
) -> None:
    key, _ = pki.load_p12(keychain[1], "s3cret")
    cert = pki.issue_push_certificate(authority, keychain[0], bundle_id=BUNDLE, team_id=TEAM,
                                      environment="production", now=NOW)
    blob = pki.export_p12(cert, key, password)
    loaded_key, loaded_cert = pki.load_p12(blob, password)
    assert loaded_cert == cert
    assert pki.key_to_pem(loaded_key) == pki.key_to_pem(key)
    path = tmp_path / "both.p12"
    path.write_bytes(blob)
    info = openssl("pkcs12", "-info", "-in", str(path), "-passin", f"pass:{password or ''}", "-nokeys")
    assert info.returncode == 0, info.stderr
    assert f"Apple Production IOS Push Services: {BUNDLE}".encode() in info.stdout
