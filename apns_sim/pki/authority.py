"""The simulator's certificate authority: one root, the push CA, the device CA and the listeners' TLS identity.

Kept apart from what the CAs issue (``push_certificates``) because this is the part with state: the CA is
made once, saved as PEM files that ``ssl`` and ``openssl`` read directly, and loaded again by every process
that shares the directory (the server and ``apns-sim portal``), under a lock so that two of them never mint
two different CAs. The signing helpers here are the ones every certificate of ours goes through.
Trust per listener: docs/apns-protocol.md §6 (provider API), docs/device-side.md §1.5 (device gateway).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from apns_sim.pki.apple_hosts import host_names
from apns_sim.pki.encoding import (
    PkiError,
    PrivateKey,
    _utc,
    cert_to_pem,
    key_to_pem,
    load_certificate,
    load_private_key,
)

# Every name a client may use for a listener (docs/apns-protocol.md §1, docs/device-side.md §1.1): loopback,
# every Apple host of the drop-in table (apple_hosts.APPLE_HOSTS, docs/drop-in.md §1), and the courier hosts.
# A wildcard covers one label, so "*.push.apple.com" admits "api.push.apple.com" and "N-courier.push.apple.com",
# while "*.courier.push.apple.com" admits "N.courier...".
SERVER_NAMES = (
    "127.0.0.1", "localhost", *host_names(), "courier.push.apple.com", "courier.sandbox.push.apple.com",
    "*.courier.push.apple.com", "*.courier.sandbox.push.apple.com",
    "*.push.apple.com", "*.sandbox.push.apple.com",
)
ROOT_NAME = "pushsim Simulated Root CA (NOT APPLE)"
PUSH_CA_NAME = "pushsim Simulated Apple Worldwide Developer Relations CA"
DEVICE_CA_NAME = "pushsim Simulated iPhone Device CA"
SIM_ORG = "pushsim (simulated, NOT APPLE)"
CA_DAYS = 3650
_BACKDATE = timedelta(days=1)  # CA and server certificates tolerate a client clock a little behind


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
        """What a client trusts (docs/architecture.md contract 1, ``ca.pem``): the root; servers send the rest."""
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
        """Trust for the device gateway: activation certificates only (docs/device-side.md §1.5)."""
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
    server = _server_certificate("pushsim simulated APNs server", SERVER_NAMES, server_key, root, root_key,
                                 start, end)
    return Authority(root, root_key, push_ca, push_key, device_ca, device_key, server, server_key)


def _server_certificate(common_name: str, names: Iterable[str], key: ec.EllipticCurvePrivateKey,
                        root: x509.Certificate, root_key: PrivateKey, start: datetime,
                        end: datetime) -> x509.Certificate:
    return _sign(
        _sim_name(common_name), key.public_key(), root, root_key, start, end,
        [(x509.BasicConstraints(ca=False, path_length=None), True), (_leaf_usage(), True),
         (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False), (_san(names), False)],
    )


REFUSAL_NAME = "unknown-server-name.pushsim.invalid"  # RFC 6761 .invalid: no client ever asks for it


def issue_refusal_certificate(authority: Authority, now: datetime, explanation: str) -> tuple[bytes, bytes]:
    """A server certificate (chain PEM, key PEM) that matches no name a client dials, saying why in its CN.

    The drop-in listener shows it to a client whose TLS server name is no Apple host (docs/drop-in.md §3): the
    client's own hostname check then refuses the connection, as it would facing Apple's servers with a wrong
    name, and ``curl -v`` or ``openssl s_client`` print ``explanation``. Made in memory per start, never saved.
    """
    key = _new_key()
    start, end = _utc(now) - _BACKDATE, _utc(now) + timedelta(days=CA_DAYS)
    cert = _server_certificate(explanation[:64], [REFUSAL_NAME], key, authority.root_cert, authority.root_key,
                               start, end)
    return cert_to_pem(cert), key_to_pem(key)


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
