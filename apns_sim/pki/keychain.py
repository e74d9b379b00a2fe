"""The developer's side of the credentials: token keys as the portal makes them, and Keychain Access's steps.

A provider meets the simulator with the same files it would get from Apple: a ``.p8`` token-signing key and
its Key ID (docs/apns-protocol.md §5), a certificate signing request with its private key exported as a
password-protected ``.p12``, and a certificate plus key in one ``.p12`` for Java-style providers
(docs/device-side.md §5). Making and reading those files is this module; signing the request is
``push_certificates``.
"""

from __future__ import annotations

import secrets
import string

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from apns_sim.pki.authority import _new_key
from apns_sim.pki.encoding import PkiError, PrivateKey, _read_tlv, key_to_pem

_KEY_ID_ALPHABET = string.ascii_uppercase + string.digits


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
    """Keychain Access > Certificate Assistant > Request a Certificate (docs/device-side.md §5 steps 1-2).

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
