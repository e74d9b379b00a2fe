"""The simulated developer portal: App IDs, push certificates from CSRs, .p8 keys, and the credential file
conversions a developer does with openssl. Core: no I/O beyond the files it is asked to write.

The face keeps ``from apns_sim.portal import Portal, PortalError`` working."""

from __future__ import annotations

from apns_sim.portal.service import Portal, PortalError

__all__ = ["Portal", "PortalError"]
