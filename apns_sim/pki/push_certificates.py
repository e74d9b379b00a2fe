"""What the authority issues and checks: Apple-style push certificates and iPhone activation certificates.

A push certificate copies Apple's layout so that real providers and real tools read it as they read Apple's:
subject UID (bundle id), CN, OU (team), O, C; the environment OIDs; for a universal certificate the topic
list (docs/apns-protocol.md §6). An activation certificate is the device CA's signature on the phone's own
request (docs/device-side.md §1.5). Both start from a certificate signing request whose signature must
verify, and both are checked link by link with :func:`verify_issued_by` when a client presents them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from apns_sim.pki.authority import Authority, _leaf_usage, _sign
from apns_sim.pki.encoding import PkiError, _utc, decode_topics, encode_topics, fingerprint_sha256

ENV_SANDBOX_OID = "1.2.840.113635.100.6.3.1"  # development (sandbox) allowed
ENV_PRODUCTION_OID = "1.2.840.113635.100.6.3.2"  # production allowed
TOPICS_OID = "1.2.840.113635.100.6.3.6"  # SEQUENCE of UTF8String topic, SEQUENCE{UTF8String kind}
PUSH_CERT_DAYS, DEVICE_CERT_DAYS = 365, 3 * 365
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
    """Activation (docs/device-side.md §1.5): the device CA signs the phone's CSR, subject copied, 3 years."""
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
