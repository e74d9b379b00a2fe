"""Trust material for clients that are not ours: one PEM bundle and one Java truststore, made from ``ca.pem``.

A client told to trust only the simulator's CA (``SSL_CERT_FILE=ca.pem``) can no longer reach anything else
over HTTPS, which breaks a CI job that also installs packages or calls other services. So the files here add the
simulator's root to the system's own CAs instead of replacing them. Java reads neither PEM nor the environment:
it needs a PKCS#12 truststore whose entries carry Java's "trusted certificate" attribute, which
``serialize_java_truststore`` writes. Reference: docs/drop-in.md §4.
"""

from __future__ import annotations

from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

# The JDK's own default truststore password; a truststore holds only public certificates, so it guards nothing.
JAVA_TRUSTSTORE_PASSWORD = "changeit"
SIM_ALIAS = "pushsim-simulated-root-not-apple"


def combined_bundle(ca_pem: bytes, system_pem: bytes | None) -> bytes:
    """The system's CAs (when known) followed by the simulator's root, as one PEM bundle."""
    system = (system_pem or b"").rstrip(b"\n")
    return (system + b"\n" if system else b"") + ca_pem


def _certificates(pem: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError:  # an empty or unreadable system bundle: the simulator's root alone still works
        return []


def java_truststore(ca_pem: bytes, system_pem: bytes | None) -> bytes:
    """A PKCS#12 truststore (password :data:`JAVA_TRUSTSTORE_PASSWORD`) with the simulator's root first."""
    entries = _entries(_certificates(ca_pem), SIM_ALIAS) + _entries(_certificates(system_pem or b""), "system")
    encryption = serialization.BestAvailableEncryption(JAVA_TRUSTSTORE_PASSWORD.encode())
    return pkcs12.serialize_java_truststore(entries, encryption)


def _entries(certs: Iterable[x509.Certificate], alias: str) -> list[pkcs12.PKCS12Certificate]:
    return [pkcs12.PKCS12Certificate(cert, f"{alias}-{index}".encode()) for index, cert in enumerate(certs)]
