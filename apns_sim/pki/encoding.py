"""Certificates and keys as bytes: PEM and DER in and out, fingerprints, and the small DER reader and writer.

Everything else in ``apns_sim.pki`` reads and writes through here, so every refusal of a malformed file is a
``PkiError`` that says what to do about it. The DER helpers exist because ``cryptography`` has no API for the
one Apple extension we must build and read ourselves, the push certificate's topic list
(docs/apns-protocol.md §6), and because a ``.p12`` is recognised by its first bytes before any password is
tried (``keychain.load_p12``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from apns_sim.errors import SimError

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class PkiError(SimError):
    """A certificate, key or request was refused; the message says what to do about it."""


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


def public_key_sha256(key: CertificatePublicKeyTypes) -> str:
    """SHA-256 of the key's SubjectPublicKeyInfo, lowercase hex: which key a device is bound to
    (docs/device-side.md §1.5), the same in its CSR and in every certificate issued for it."""
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


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


# -- DER ----------------------------------------------------------------------------------------------------


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


@contextlib.contextmanager
def private_pem_file(directory: Path | str, pem: bytes) -> Iterator[str]:
    """``pem`` as a file for as long as the block runs: OpenSSL's ``load_cert_chain`` reads keys from files
    only. The file is 0600 from its first byte (``mkstemp``), in ``directory`` (the data dir, itself 0700), and
    removed however the block ends."""
    fd, path = tempfile.mkstemp(prefix=".tls-", suffix=".pem", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        yield path
    finally:
        os.unlink(path)
