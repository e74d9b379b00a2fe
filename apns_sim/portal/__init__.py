"""The simulated developer portal: App IDs, push certificates from CSRs, .p8 keys, and the credential file
conversions a developer does with openssl. Core: no I/O beyond the files it is asked to write.

The face keeps ``from apns_sim.portal import Portal, PortalError`` (and the old module's other names) working."""

from __future__ import annotations

from apns_sim.portal.service import (
    CSR_FILENAME,
                                     P12_FILENAME,
    AppIdCreated,
    AuthKeyCreated,
    AuthKeyRevoked,
    CertificateIssued,
    CertificateRevoked,
    KeychainRequest,
    Listing,
    Portal,
    PortalError,
    PortalStore,
    app_id_json,
    auth_key_json,
    certificate_json,
    check_team_id,
    parse_bundle_id,
)

__all__ = ["CSR_FILENAME", "P12_FILENAME", "AppIdCreated", "AuthKeyCreated", "AuthKeyRevoked", "CertificateIssued",
           "CertificateRevoked", "KeychainRequest", "Listing", "Portal", "PortalError", "PortalStore", "app_id_json",
           "auth_key_json", "certificate_json", "check_team_id", "parse_bundle_id"]
