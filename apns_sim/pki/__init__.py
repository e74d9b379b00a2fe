"""The simulator's certificate authority: pure certificate code, time passed in, files only when asked.

One root ("pushsim Simulated Root CA (NOT APPLE)") signs three things: a push CA in the role of Apple's
Worldwide Developer Relations CA (it signs provider push certificates, docs/apns-protocol.md §6), a device CA
(it signs iPhone activation certificates, docs/device-side.md §1.5) and the TLS server certificate of every
listener. Keeping push and device CAs apart lets each listener trust only the clients it should.
The push certificates copy Apple's layout: subject UID/CN/OU/O/C, the environment OIDs and the topic list
(docs/apns-protocol.md §6); the Keychain Access steps (CSR, private key as .p12) are docs/device-side.md §5.
ECDSA P-256 by default, like trustme: fast, and every modern TLS stack accepts it.

This package is a face; the code lives in one module per concept:

- ``encoding``: PEM/DER in and out, fingerprints, ``PkiError``, the DER helpers and the topic list's encoding;
- ``authority``: the root and the two CAs, the listeners' TLS identity, and their files;
- ``push_certificates``: the CSR check, push and activation certificates, and verifying an issued one;
- ``keychain``: token keys (``.p8``), Keychain Access's request, and ``.p12`` files.

Callers import from here (``from apns_sim import pki``, then ``pki.issue_push_certificate``), so the split is
invisible outside the package.
"""

from __future__ import annotations

from apns_sim.pki.authority import (
    CA_DAYS,
    DEVICE_CA_NAME,
    PUSH_CA_NAME,
    REFUSAL_NAME,
    ROOT_NAME,
    SERVER_NAMES,
    SIM_ORG,
    Authority,
    AuthorityFiles,
    authority_files,
    create_authority,
    issue_refusal_certificate,
    load_authority,
    load_or_create_authority,
    save_authority,
    write_private,
    write_public,
)
from apns_sim.pki.encoding import (
    PkiError,
    PrivateKey,
    cert_to_der,
    cert_to_pem,
    decode_topics,
    encode_topics,
    fingerprint_sha256,
    key_to_pem,
    load_certificate,
    load_private_key,
    private_pem_file,
    public_key_sha256,
)
from apns_sim.pki.keychain import create_auth_key, export_p12, load_p12, make_keychain_request
from apns_sim.pki.push_certificates import (
    DEVICE_CERT_DAYS,
    ENV_PRODUCTION_OID,
    ENV_SANDBOX_OID,
    PUSH_CERT_DAYS,
    TOPICS_OID,
    PushIdentity,
    issue_device_certificate,
    issue_push_certificate,
    load_csr,
    push_identity,
    verify_issued_by,
)

__all__ = [
    "CA_DAYS",
    "DEVICE_CA_NAME",
    "DEVICE_CERT_DAYS",
    "ENV_PRODUCTION_OID",
    "ENV_SANDBOX_OID",
    "PUSH_CA_NAME",
    "PUSH_CERT_DAYS",
    "REFUSAL_NAME",
    "ROOT_NAME",
    "SERVER_NAMES",
    "SIM_ORG",
    "TOPICS_OID",
    "Authority",
    "AuthorityFiles",
    "PkiError",
    "PrivateKey",
    "PushIdentity",
    "authority_files",
    "cert_to_der",
    "cert_to_pem",
    "create_auth_key",
    "create_authority",
    "decode_topics",
    "encode_topics",
    "export_p12",
    "fingerprint_sha256",
    "issue_device_certificate",
    "issue_push_certificate",
    "issue_refusal_certificate",
    "key_to_pem",
    "load_authority",
    "load_certificate",
    "load_csr",
    "load_or_create_authority",
    "load_p12",
    "load_private_key",
    "make_keychain_request",
    "private_pem_file",
    "public_key_sha256",
    "push_identity",
    "save_authority",
    "verify_issued_by",
    "write_private",
    "write_public",
]
