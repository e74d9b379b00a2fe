"""The simulator's certificate authority: pure certificate code, time passed in, files only when asked.

One root ("pushsim Simulated Root CA (NOT APPLE)") signs three things: a push CA in the role of Apple's
Worldwide Developer Relations CA (it signs provider push certificates, apns-protocol.md §6), a device CA
(it signs iPhone activation certificates, device-side.md §1.5) and the TLS server certificate of every
listener. Keeping push and device CAs apart lets each listener trust only the clients it should.
The push certificates copy Apple's layout: subject UID/CN/OU/O/C, the environment OIDs and the topic list
(apns-protocol.md §6); the Keychain Access steps (CSR, private key as .p12) are device-side.md §5.
ECDSA P-256 by default, like trustme: fast, and every modern TLS stack accepts it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeAlias

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from apns_sim.errors import SimError

ENV_SANDBOX_OID = "1.2.840.113635.100.6.3.1"  # development (sandbox) allowed
ENV_PRODUCTION_OID = "1.2.840.113635.100.6.3.2"  # production allowed
TOPICS_OID = "1.2.840.113635.100.6.3.6"  # SEQUENCE of UTF8String topic, SEQUENCE{UTF8String kind}
# Every name a client may use for a listener (apns-protocol.md §1, device-side.md §1.1): loopback, Apple's
# provider API hosts, and the courier hosts. A wildcard covers one label, so "*.push.apple.com" admits
# "api.push.apple.com" and "N-courier.push.apple.com", while "*.courier.push.apple.com" admits "N.courier...".
SERVER_NAMES = (
    "127.0.0.1", "localhost", "api.push.apple.com", "api.sandbox.push.apple.com",
    "api.development.push.apple.com", "courier.push.apple.com", "courier.sandbox.push.apple.com",
    "*.courier.push.apple.com", "*.courier.sandbox.push.apple.com",
    "*.push.apple.com", "*.sandbox.push.apple.com",
)
ROOT_NAME = "pushsim Simulated Root CA (NOT APPLE)"
PUSH_CA_NAME = "pushsim Simulated Apple Worldwide Developer Relations CA"
DEVICE_CA_NAME = "pushsim Simulated iPhone Device CA"
SIM_ORG = "pushsim (simulated, NOT APPLE)"
CA_DAYS, PUSH_CERT_DAYS, DEVICE_CERT_DAYS = 3650, 365, 3 * 365
_BACKDATE = timedelta(days=1)  # CA and server certificates tolerate a client clock a little behind
_PUSH_CN = {
    "sandbox": "Apple Development IOS Push Services: ",
    "production": "Apple Production IOS Push Services: ",
    "universal": "Apple Push Services: ",
}
_ENV_OIDS = {
    "sandbox": (ENV_SANDBOX_OID,), "production": (ENV_PRODUCTION_OID,),
    "universal": (ENV_SANDBOX_OID, ENV_PRODUCTION_OID),
}
_DER_NULL = b"\x05\x00"
_KEY_ID_ALPHABET = string.ascii_uppercase + string.digits

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class PkiError(SimError):
    """A certificate, key or request was refused; the message says what to do about it."""


# -- encoding helpers -------------------------------------------------------------------------------


def _utc(now: datetime) -> datetime:
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def cert_to_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def cert_to_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def key_to_pem(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM: what ``load_cert_chain`` and ``openssl pkey`` read."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def fingerprint_sha256(cert: x509.Certificate) -> str:
    """Lowercase hex, no separators (``openssl x509 -fingerprint -sha256`` without the colons)."""
    return cert.fingerprint(hashes.SHA256()).hex()


def load_certificate(data: bytes) -> x509.Certificate:
    """A certificate from PEM or DER (Apple's ``.cer`` download is DER)."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise PkiError("The file is not an X.509 certificate (expected PEM or DER, e.g. a .cer).") from exc


def load_private_key(data: bytes, password: str | None = None) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password.encode() if password else None)
    except (ValueError, TypeError) as exc:
        raise PkiError("The file is not a readable PEM private key (or its pass phrase is wrong).") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise PkiError("Only RSA and EC private keys are supported; make the key with RSA or P-256.")
    return key


def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _read_tlv(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """One DER element at ``pos``: (tag, content, position after it). Definite lengths only."""
    if pos + 2 > len(data):
        raise PkiError("Malformed DER: truncated element.")
    tag, first, pos = data[pos], data[pos + 1], pos + 2
    if first & 0x80:
        n = first & 0x7F
        if n == 0 or n > 4 or pos + n > len(data):
            raise PkiError("Malformed DER: bad length.")
        length, pos = int.from_bytes(data[pos : pos + n], "big"), pos + n
    else:
        length = first
    if pos + length > len(data):
        raise PkiError("Malformed DER: element longer than its container.")
    return tag, data[pos : pos + length], pos + length


def _elements(data: bytes) -> Iterator[tuple[int, bytes]]:
    pos = 0
    while pos < len(data):
        tag, content, pos = _read_tlv(data, pos)
        yield tag, content


def encode_topics(pairs: Iterable[tuple[str, str]]) -> bytes:
    """The TOPICS_OID value: SEQUENCE { UTF8String topic, SEQUENCE { UTF8String kind }, ... } (§6)."""
    body = b"".join(
        _tlv(0x0C, topic.encode()) + _tlv(0x30, _tlv(0x0C, kind.encode())) for topic, kind in pairs
    )
    return _tlv(0x30, body)


def decode_topics(value: bytes) -> tuple[tuple[str, str], ...]:
    """Inverse of :func:`encode_topics`: ((topic, kind), ...), e.g. ("com.x.voip", "voip")."""
    tag, body, end = _read_tlv(value, 0)
    if tag != 0x30 or end != len(value):
        raise PkiError("Malformed topic extension: expected one DER SEQUENCE.")
    pairs: list[tuple[str, str]] = []
    for tag, content in _elements(body):
        if tag == 0x0C:
            pairs.append((content.decode(), ""))
        elif tag == 0x30 and pairs:
            kinds = [c.decode() for t, c in _elements(content) if t == 0x0C]
            pairs[-1] = (pairs[-1][0], kinds[0] if kinds else "")
        else:
            raise PkiError(f"Malformed topic extension: unexpected DER tag 0x{tag:02x}.")
    return tuple(pairs)


# -- building certificates --------------------------------------------------------------------------


def _sim_name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, SIM_ORG),
    ])


def _sign(
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    issuer: x509.Certificate | None,
    issuer_key: PrivateKey,
    not_before: datetime,
    not_after: datetime,
    extensions: Iterable[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    """Sign ``public_key`` into a certificate; ``issuer`` None means self-signed. Adds SKI and AKI."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())


def _ca_extensions(path_length: int) -> list[tuple[x509.ExtensionType, bool]]:
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
    )
    return [(x509.BasicConstraints(ca=True, path_length=path_length), True), (usage, True)]


def _leaf_usage(key_encipherment: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=key_encipherment,
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )


def _san(names: Iterable[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class Authority:
    """Every CA certificate and key the simulator needs, plus the TLS identity of its listeners."""

    root_cert: x509.Certificate
    root_key: PrivateKey
    push_ca_cert: x509.Certificate
    push_ca_key: PrivateKey
    device_ca_cert: x509.Certificate
    device_ca_key: PrivateKey
    server_cert: x509.Certificate
    server_key: PrivateKey

    def ca_bundle_pem(self) -> bytes:
        """What a client trusts (DESIGN contract 1, ``ca.pem``): the root; servers send the rest."""
        return cert_to_pem(self.root_cert)

    def server_chain_pem(self) -> bytes:
        """The listeners' chain for ``load_cert_chain``: the leaf, signed directly by the root."""
        return cert_to_pem(self.server_cert)

    def server_key_pem(self) -> bytes:
        return key_to_pem(self.server_key)

    def client_verify_pem(self) -> bytes:
        """Trust for the provider API: push certificates only, not device certificates (§6)."""
        return cert_to_pem(self.root_cert) + cert_to_pem(self.push_ca_cert)

    def device_verify_pem(self) -> bytes:
        """Trust for the device gateway: activation certificates only (device-side.md §1.5)."""
        return cert_to_pem(self.root_cert) + cert_to_pem(self.device_ca_cert)


def create_authority(now: datetime) -> Authority:
    """A fresh root, push CA, device CA and server certificate, all valid ten years from ``now``."""
    start, end = _utc(now) - _BACKDATE, _utc(now) + timedelta(days=CA_DAYS)
    root_key, push_key, device_key, server_key = _new_key(), _new_key(), _new_key(), _new_key()
    root = _sign(_sim_name(ROOT_NAME), root_key.public_key(), None, root_key, start, end, _ca_extensions(1))
    push_ca = _sign(_sim_name(PUSH_CA_NAME), push_key.public_key(), root, root_key, start, end,
                    _ca_extensions(0))
    device_ca = _sign(_sim_name(DEVICE_CA_NAME), device_key.public_key(), root, root_key, start, end,
                      _ca_extensions(0))
    server = _sign(
        _sim_name("pushsim simulated APNs server"), server_key.public_key(), root, root_key, start, end,
        [(x509.BasicConstraints(ca=False, path_length=None), True), (_leaf_usage(), True),
         (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False), (_san(SERVER_NAMES), False)],
    )
    return Authority(root, root_key, push_ca, push_key, device_ca, device_key, server, server_key)


# -- files ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorityFiles:
    """Where :func:`save_authority` puts each PEM; adapters pass these paths to ``ssl`` directly."""

    ca: Path
    root_cert: Path
    root_key: Path
    push_ca_cert: Path
    push_ca_key: Path
    device_ca_cert: Path
    device_ca_key: Path
    server_chain: Path
    server_key: Path
    client_verify: Path
    device_verify: Path


def authority_files(directory: Path) -> AuthorityFiles:
    d = Path(directory)
    return AuthorityFiles(
        ca=d / "ca.pem", root_cert=d / "root-ca.pem", root_key=d / "root-ca-key.pem",
        push_ca_cert=d / "push-ca.pem", push_ca_key=d / "push-ca-key.pem",
        device_ca_cert=d / "device-ca.pem", device_ca_key=d / "device-ca-key.pem",
        server_chain=d / "server.pem", server_key=d / "server-key.pem",
        client_verify=d / "client-verify.pem", device_verify=d / "device-verify.pem",
    )


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask must not widen or narrow what we asked for
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_private(path: Path, data: bytes) -> None:
    """Write a secret (key, .p8, .p12) readable by its owner only (0600), replacing any old file whole."""
    _write_atomic(Path(path), data, 0o600)


def write_public(path: Path, data: bytes) -> None:
    _write_atomic(Path(path), data, 0o644)


def save_authority(authority: Authority, directory: Path) -> None:
    """Write every PEM; keys 0600. ``ca.pem`` goes last, so its presence means the set is complete."""
    f = authority_files(directory)
    Path(directory).mkdir(parents=True, exist_ok=True)
    for cert_path, key_path, cert, key in (
        (f.root_cert, f.root_key, authority.root_cert, authority.root_key),
        (f.push_ca_cert, f.push_ca_key, authority.push_ca_cert, authority.push_ca_key),
        (f.device_ca_cert, f.device_ca_key, authority.device_ca_cert, authority.device_ca_key),
    ):
        write_private(key_path, key_to_pem(key))
        write_public(cert_path, cert_to_pem(cert))
    write_private(f.server_key, authority.server_key_pem())
    write_public(f.server_chain, authority.server_chain_pem())
    write_public(f.client_verify, authority.client_verify_pem())
    write_public(f.device_verify, authority.device_verify_pem())
    write_public(f.ca, authority.ca_bundle_pem())


def load_authority(directory: Path) -> Authority:
    f = authority_files(directory)
    pairs = [(f.root_cert, f.root_key), (f.push_ca_cert, f.push_ca_key),
             (f.device_ca_cert, f.device_ca_key), (f.server_chain, f.server_key)]
    missing = [p.name for pair in pairs for p in pair if not p.exists()]
    if missing:
        raise PkiError(
            f"The certificate authority in {directory} is incomplete ({', '.join(missing)} missing). "
            "Restore those files, or delete ca.pem and the *-ca*.pem, server*.pem files to make a new "
            "authority (certificates issued by the old one will then stop working)."
        )
    loaded: list[x509.Certificate | PrivateKey] = []
    for cert_path, key_path in pairs:
        cert, key = load_certificate(cert_path.read_bytes()), load_private_key(key_path.read_bytes())
        if cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) != key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ):
            raise PkiError(f"{key_path} does not belong to {cert_path}; restore the matching pair.")
        loaded += [cert, key]
    return Authority(*loaded)  # type: ignore[arg-type]


def load_or_create_authority(directory: Path, now: datetime) -> Authority:
    """Load the CA in ``directory``, or create and save one. A lock file keeps two processes (the
    server and ``apns-sim portal``) from each minting a different CA into a fresh directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory / ".pki.lock"):
        if authority_files(directory).root_cert.exists():
            return load_authority(directory)
        authority = create_authority(now)
        save_authority(authority, directory)
        return authority


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no cross-process lock, best effort
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# -- push and device certificates -------------------------------------------------------------------


def load_csr(data: bytes) -> x509.CertificateSigningRequest:
    """A PKCS#10 request (PEM or DER) whose self-signature verifies: proof the uploader holds the key."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            csr = x509.load_pem_x509_csr(data)
        else:
            csr = x509.load_der_x509_csr(data)
    except ValueError as exc:
        raise PkiError(
            "The uploaded file is not a certificate signing request (PKCS#10, PEM or DER). Upload the "
            ".certSigningRequest that Keychain Access or `apns-sim portal csr` saved."
        ) from exc
    try:
        valid = csr.is_signature_valid
    except Exception as exc:  # an unsupported algorithm is just as unverifiable
        raise PkiError(f"The certificate signing request's signature cannot be checked ({exc}).") from exc
    if not valid:
        raise PkiError(
            "The certificate signing request's signature does not verify: it was altered or signed with a "
            "different key than the one it contains. Make a new request from the original key."
        )
    return csr


@dataclass(frozen=True)
class PushIdentity:
    """What a push certificate says: whose app, which team, which topics and environments (§6)."""

    bundle_id: str
    team_id: str
    topics: tuple[str, ...]
    environments: frozenset[str]
    serial: int
    not_before: datetime
    not_after: datetime
    fingerprint_sha256: str

    @property
    def environment(self) -> str:
        """"universal" when both environments are allowed, else the one environment."""
        return "universal" if len(self.environments) > 1 else next(iter(self.environments))


def issue_push_certificate(
    authority: Authority, csr_bytes: bytes, *, bundle_id: str, team_id: str, environment: str,
    now: datetime, organization: str = "pushsim Example Org",
) -> x509.Certificate:
    """Sign a provider's CSR into an Apple-style push certificate for one explicit bundle id (§6).

    Like Apple, only the CSR's public key is used; the subject is Apple's (UID, CN, OU=team, O, C=US).
    """
    if environment not in _PUSH_CN:
        raise PkiError(f"Unknown environment {environment!r}: choose sandbox, production or universal.")
    if not bundle_id or "*" in bundle_id:
        raise PkiError(f"{bundle_id!r} is not an explicit bundle id; push certificates name exactly one app.")
    csr = load_csr(csr_bytes)
    subject = x509.Name([
        x509.NameAttribute(NameOID.USER_ID, bundle_id),
        x509.NameAttribute(NameOID.COMMON_NAME, _PUSH_CN[environment] + bundle_id),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, team_id),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
    ])
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True), (_leaf_usage(), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
    ]
    extensions += [(x509.UnrecognizedExtension(ObjectIdentifier(oid), _DER_NULL), False)
                   for oid in _ENV_OIDS[environment]]
    if environment == "universal":
        topics = encode_topics([(bundle_id, "app"), (f"{bundle_id}.voip", "voip"),
                                (f"{bundle_id}.complication", "complication")])
        extensions.append((x509.UnrecognizedExtension(ObjectIdentifier(TOPICS_OID), topics), False))
    start = _utc(now)
    return _sign(subject, csr.public_key(), authority.push_ca_cert, authority.push_ca_key, start,
                 start + timedelta(days=PUSH_CERT_DAYS), extensions)


def _extension_value(cert: x509.Certificate, oid: str) -> bytes | None:
    try:
        ext = cert.extensions.get_extension_for_oid(ObjectIdentifier(oid))
    except x509.ExtensionNotFound:
        return None
    value = ext.value
    return value.value if isinstance(value, x509.UnrecognizedExtension) else b""


def push_identity(cert: x509.Certificate) -> PushIdentity:
    """Read a push certificate back; PkiError if it is not one (no UID, no environment)."""
    uids = cert.subject.get_attributes_for_oid(NameOID.USER_ID)
    if not uids:
        raise PkiError("This is not an APNs push certificate: its subject has no UID (bundle id). Use the "
                       "certificate the portal issued for your App ID.")
    bundle_id = str(uids[0].value)
    ous = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    envs = {name for name, oid in (("sandbox", ENV_SANDBOX_OID), ("production", ENV_PRODUCTION_OID))
            if _extension_value(cert, oid) is not None}
    if not envs:
        raise PkiError("This push certificate names no APNs environment (no 1.2.840.113635.100.6.3.1/.2 "
                       "extension); issue a new one with `apns-sim portal cert issue`.")
    topics_der = _extension_value(cert, TOPICS_OID)
    topics = tuple(t for t, _ in decode_topics(topics_der)) if topics_der else (bundle_id,)
    return PushIdentity(
        bundle_id=bundle_id, team_id=str(ous[0].value) if ous else "", topics=topics,
        environments=frozenset(envs), serial=cert.serial_number, not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc, fingerprint_sha256=fingerprint_sha256(cert),
    )


def issue_device_certificate(authority: Authority, csr_bytes: bytes, *, now: datetime) -> x509.Certificate:
    """Activation (device-side.md §1.5): the device CA signs the phone's CSR, subject copied, 3 years."""
    csr = load_csr(csr_bytes)
    start = _utc(now)
    is_rsa = isinstance(csr.public_key(), rsa.RSAPublicKey)
    return _sign(csr.subject, csr.public_key(), authority.device_ca_cert, authority.device_ca_key, start,
                 start + timedelta(days=DEVICE_CERT_DAYS),
                 [(x509.BasicConstraints(ca=False, path_length=None), True), (_leaf_usage(is_rsa), True),
                  (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)])


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or f"serial {cert.serial_number}"


def _check_validity(cert: x509.Certificate, now: datetime) -> None:
    if now < cert.not_valid_before_utc:
        raise PkiError(f"The certificate {_subject(cert)} is not valid until "
                       f"{cert.not_valid_before_utc.isoformat()}; check the clock.")
    if now > cert.not_valid_after_utc:
        raise PkiError(f"The certificate {_subject(cert)} expired on {cert.not_valid_after_utc.isoformat()}; "
                       "issue a new one.")


def verify_issued_by(cert: x509.Certificate, issuer: x509.Certificate, now: datetime) -> None:
    """Check one link: ``issuer`` is a CA, signed ``cert`` (RSA or EC), and both are valid at ``now``."""
    try:
        is_ca = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise PkiError(f"{_subject(issuer)} is not a certificate authority, so it cannot vouch for "
                       f"{_subject(cert)}.")
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, InvalidSignature) as exc:
        raise PkiError(f"The certificate {_subject(cert)} was not issued by {_subject(issuer)}; use a "
                       "certificate from this simulator's authority (activate or issue it again).") from exc
    except TypeError as exc:
        raise PkiError(f"The certificate {_subject(cert)} uses an unsupported signature ({exc}).") from exc
    _check_validity(cert, _utc(now))
    _check_validity(issuer, _utc(now))


# -- token keys and the Keychain Access steps -------------------------------------------------------


def create_auth_key() -> tuple[str, bytes, bytes]:
    """A token-signing key as Apple's portal makes it (§5): (10-char key id, .p8 PKCS#8 PEM, public PEM)."""
    key = _new_key()
    key_id = "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(10))
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key_id, key_to_pem(key), public


def _p12_encryption(password: str | None) -> serialization.KeySerializationEncryption:
    if not password:
        return serialization.NoEncryption()
    return (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(50_000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password.encode())
    )


def make_keychain_request(*, email: str, common_name: str, password: str) -> tuple[bytes, bytes]:
    """Keychain Access > Certificate Assistant > Request a Certificate (device-side.md §5 steps 1-2).

    A new RSA-2048 key; returns (CSR PEM, the private key exported as a password-protected .p12).
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([
        x509.NameAttribute(NameOID.EMAIL_ADDRESS, email),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
    ])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    p12 = pkcs12.serialize_key_and_certificates(
        f"{common_name} private key".encode(), key, None, None, _p12_encryption(password)
    )
    return csr.public_bytes(serialization.Encoding.PEM), p12


def export_p12(
    cert: x509.Certificate | None, key: PrivateKey, password: str | None, *, name: str | None = None
) -> bytes:
    """Certificate and key in one PKCS#12, as Keychain Access exports them for Java-style providers."""
    if name is None and cert is not None:
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        name = str(cns[0].value) if cns else None
    return pkcs12.serialize_key_and_certificates(
        name.encode() if name else None, key, cert, None, _p12_encryption(password)
    )


def load_p12(data: bytes, password: str | None) -> tuple[PrivateKey, x509.Certificate | None]:
    """The key (and certificate, if any) from a .p12; PkiError for a wrong password or a key-less file."""
    try:
        tag, body, _ = _read_tlv(data, 0)
        version_tag, version, _ = _read_tlv(body, 0)
        is_pfx = tag == 0x30 and version_tag == 0x02 and version == b"\x03"
    except PkiError:
        is_pfx = False
    if not is_pfx:
        raise PkiError("The file is not a PKCS#12 (.p12) file; export the key from Keychain Access as .p12.")
    attempts = [password.encode()] if password else [None, b""]
    for attempt in attempts:
        try:
            key, cert, _ = pkcs12.load_key_and_certificates(data, attempt)
            break
        except ValueError:
            continue
    else:
        raise PkiError("wrong password for the .p12 file; use the password chosen when it was exported.")
    if key is None:
        raise PkiError("The .p12 file holds no private key; export the key itself, not only a certificate.")
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise PkiError("The .p12 holds a key type APNs clients do not use; use an RSA or P-256 key.")
    return key, cert
