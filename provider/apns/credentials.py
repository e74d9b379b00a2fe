"""Load the provider's credentials and turn them into a client ``ssl.SSLContext``.

Two kinds (docs/apns-protocol.md §5, §6):

- certificate credentials: the push certificate (``.cer`` DER from the portal, or PEM) and its private key,
  which lives in a ``.p12`` exported from Keychain Access (key only, or key and certificate), in a PEM file,
  or in the same PEM as the certificate. The TLS handshake presents them (mTLS).
- token credentials: the ``.p8`` key (PKCS#8 PEM, EC P-256), its Key ID and the Team ID; requests carry a JWT.

Either way the server is verified: against ``ca_file`` when given (the simulator's one PEM) or the system
store (Apple). Verification is never disabled. Errors are ``CredentialsError`` with a message a person can
act on.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from provider.apns.errors import ProviderError
from provider.apns.tokens import DEFAULT_REFRESH, TokenIssuer
from pushsim_i18n import Domain

_ = Domain("provider").gettext

PathLike = str | os.PathLike[str]


class CredentialsError(ProviderError):
    """Credentials could not be loaded or do not fit together; the message says which file and why."""


def client_ssl_context(ca_file: PathLike | None = None) -> ssl.SSLContext:
    """A client context as APNs needs it: TLS 1.2+, ALPN ``h2``, server verified (§1).

    ``ca_file`` replaces the system trust store (for the simulator); ``None`` trusts the system store (Apple).
    """
    if ca_file is not None and not Path(ca_file).is_file():
        raise CredentialsError(_("CA file not found: {path}").format(path=ca_file))
    try:
        ctx = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=None if ca_file is None else str(ca_file)
        )
    except ssl.SSLError as exc:
        raise CredentialsError(_("CA file {path} holds no usable PEM certificate: {error}").format(
            path=ca_file, error=exc)) from exc
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["h2"])
    return ctx


@dataclass(frozen=True)
class CertificateCredentials:
    """A push certificate and its private key (mTLS, §6)."""

    certificate: x509.Certificate
    private_key: PrivateKeyTypes = field(repr=False)
    chain: tuple[x509.Certificate, ...] = ()

    def __post_init__(self) -> None:
        if _public_bytes(self.certificate.public_key()) != _public_bytes(self.private_key.public_key()):
            raise CredentialsError(_(
                "the private key does not match the certificate (was the .p12 exported from "
                "the same Keychain entry that made the CSR?)"
            ))

    @property
    def bundle_id(self) -> str | None:
        """The App ID the certificate is for: the subject's UID (§6), else ``None``."""
        attrs = self.certificate.subject.get_attributes_for_oid(NameOID.USER_ID)
        return str(attrs[0].value) if attrs else None

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    def ssl_context(self, ca_file: PathLike | None = None) -> ssl.SSLContext:
        """A client context presenting this certificate.

        ``load_cert_chain`` only reads files, so key and certificate go to a private temporary file (created
        0600 by ``mkstemp``), which is deleted as soon as OpenSSL has read it.
        """
        ctx = client_ssl_context(ca_file)
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ) + b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (self.certificate, *self.chain))
        fd, name = tempfile.mkstemp(prefix="apns-provider-", suffix=".pem")
        try:
            os.chmod(name, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            ctx.load_cert_chain(name)
        except ssl.SSLError as exc:
            raise CredentialsError(_("OpenSSL refused the certificate/key pair: {error}").format(error=exc)) from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
        return ctx


@dataclass(frozen=True)
class TokenCredentials:
    """A ``.p8`` signing key with its Key ID and Team ID (JWT, §5)."""

    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    key_id: str
    team_id: str

    def ssl_context(self, ca_file: PathLike | None = None) -> ssl.SSLContext:
        """Token connections present no client certificate (§1)."""
        return client_ssl_context(ca_file)

    def issuer(
        self, *, refresh_after: float = DEFAULT_REFRESH, clock: Callable[[], float] = time.time
    ) -> TokenIssuer:
        try:
            return TokenIssuer(
                self.private_key,
                key_id=self.key_id,
                team_id=self.team_id,
                refresh_after=refresh_after,
                clock=clock,
            )
        except ValueError as exc:
            raise CredentialsError(str(exc)) from exc


Credentials = CertificateCredentials | TokenCredentials


def load_pem_pair(
    cert_file: PathLike, key_file: PathLike, password: str | None = None
) -> CertificateCredentials:
    """A PEM (or DER) certificate plus a PEM private key (optionally encrypted with ``password``)."""
    certs = _read_certificates(cert_file)
    key = _read_pem_key(key_file, password)
    return _pair(certs, key, cert_file, key_file)


def load_pem(path: PathLike, password: str | None = None) -> CertificateCredentials:
    """One PEM file holding the private key and the certificate (and perhaps its chain)."""
    certs = _read_certificates(path)
    key = _read_pem_key(path, password)
    return _pair(certs, key, path, path)


def load_cer_and_p12(cert_file: PathLike, p12_file: PathLike, password: str | None) -> CertificateCredentials:
    """The portal's certificate (DER ``.cer`` or PEM) plus the ``.p12`` that holds the CSR's private key.

    This is the tutorial's ``aps_developer_identity.cer`` + ``Push.p12`` pair (docs/architecture.md contract 2).
    """
    certs = _read_certificates(cert_file)
    key, _cert, _extra = _read_p12(p12_file, password)
    if key is None:
        raise CredentialsError(_("{path} holds no private key").format(path=p12_file))
    return _pair(certs, key, cert_file, p12_file)


def load_p12(p12_file: PathLike, password: str | None) -> CertificateCredentials:
    """A ``.p12`` holding both the certificate and its private key."""
    key, cert, extra = _read_p12(p12_file, password)
    if key is None:
        raise CredentialsError(_("{path} holds no private key").format(path=p12_file))
    if cert is None:
        raise CredentialsError(
            _("{path} holds only a private key; give the certificate too (--cert FILE.cer)").format(path=p12_file)
        )
    return _pair([cert, *extra], key, p12_file, p12_file)


def load_certificate_credentials(
    *,
    cert_file: PathLike | None = None,
    key_file: PathLike | None = None,
    p12_file: PathLike | None = None,
    password: str | None = None,
) -> CertificateCredentials:
    """Pick the right loader for the files given (the CLI's ``--cert/--key/--p12/--password``)."""
    if cert_file is not None and key_file is not None:
        return load_pem_pair(cert_file, key_file, password)
    if cert_file is not None and p12_file is not None:
        return load_cer_and_p12(cert_file, p12_file, password)
    if p12_file is not None:
        return load_p12(p12_file, password)
    if cert_file is not None:
        return load_pem(cert_file, password)
    raise CredentialsError(_("no certificate credentials given: use --cert with --key or --p12, or --p12 "
                                 "alone"))


def load_p8(p8_file: PathLike, key_id: str, team_id: str) -> TokenCredentials:
    """Token credentials from ``AuthKey_<KEYID>.p8`` (PKCS#8 PEM, EC P-256), its Key ID and the Team ID."""
    data = _read(p8_file)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise CredentialsError(_("{path} is not an unencrypted PEM private key (.p8): {error}").format(
            path=p8_file, error=exc)) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise CredentialsError(_("{path} is not an EC P-256 key; APNs signs provider tokens with ES256").format(
            path=p8_file))
    creds = TokenCredentials(private_key=key, key_id=key_id, team_id=team_id)
    creds.issuer()  # validates key_id and team_id now, not at the first send
    return creds


# -- helpers ----------------------------------------------------------------------------------------------


def _read(path: PathLike) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise CredentialsError(_("file not found: {path}").format(path=path)) from None
    except OSError as exc:
        raise CredentialsError(_("cannot read {path}: {error}").format(path=path, error=exc.strerror)) from None


def _read_certificates(path: PathLike) -> list[x509.Certificate]:
    data = _read(path)
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise CredentialsError(_("{path} is not a certificate (expected PEM or DER .cer)").format(path=path)) from None


def _read_pem_key(path: PathLike, password: str | None) -> PrivateKeyTypes:
    data = _read(path)
    if b"PRIVATE KEY-----" not in data:
        raise CredentialsError(_("{path} holds no PEM private key").format(path=path))
    try:
        return serialization.load_pem_private_key(data, password=password.encode() if password else None)
    except TypeError:
        raise CredentialsError(_("{path}: the private key is encrypted; give its password").format(path=path)) from None
    except ValueError:
        raise CredentialsError(_("{path}: cannot decrypt or parse the private key (wrong password?)").format(
            path=path)) from None


def _read_p12(
    path: PathLike, password: str | None
) -> tuple[PrivateKeyTypes | None, x509.Certificate | None, list[x509.Certificate]]:
    """Open a PKCS#12; without a password try none and the empty one (exporters differ)."""
    data = _read(path)
    if not _looks_like_pfx(data):
        raise CredentialsError(_("{path} is not a PKCS#12 (.p12) file").format(path=path))
    for attempt in [password.encode()] if password else [None, b""]:
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, attempt)
        except ValueError:
            continue
        return key, cert, list(extra)
    if password:
        raise CredentialsError(_("cannot open {path}: wrong password for this .p12").format(path=path))
    raise CredentialsError(_("cannot open {path}: it is password-protected; give --password").format(path=path))


def _looks_like_pfx(data: bytes) -> bool:
    """PFX is ``SEQUENCE { INTEGER 3, ... }`` (RFC 7292): enough to tell a .p12 from some other file."""
    if len(data) < 8 or data[0] != 0x30:
        return False
    i = 2 if data[1] < 0x80 else 2 + (data[1] & 0x7F)
    return data[i : i + 3] == b"\x02\x01\x03"


def _pair(
    certs: list[x509.Certificate], key: PrivateKeyTypes, cert_src: PathLike, key_src: PathLike
) -> CertificateCredentials:
    """The certificate among ``certs`` that matches ``key`` becomes the leaf; the others, the chain."""
    wanted = _public_bytes(key.public_key())
    for i, cert in enumerate(certs):
        if _public_bytes(cert.public_key()) == wanted:
            return CertificateCredentials(cert, key, tuple(certs[:i] + certs[i + 1 :]))
    raise CredentialsError(_("the private key in {key} does not match the certificate in {cert}").format(
        key=key_src, cert=cert_src))


def _public_bytes(public_key: object) -> bytes:
    return public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
