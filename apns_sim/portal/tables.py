"""The portal's ``list`` output as plain-text tables: what ``apns-sim portal app-id|cert|key list`` print.

Pure: a :class:`~apns_sim.portal.service.Listing` and the time in, text out. The columns are the ones the
other commands take (``cert revoke SERIAL``, ``key revoke KEY_ID``), so a learner copies from the table
(docs/cli.md, `apns-sim portal`). Plain text rather than rich's boxes: the output is often piped or pasted.
The hint for an empty listing and the count under a table follow the reader's language (docs/i18n.md); the
headers and cells stay as they are, since the columns are aligned by character count and a Chinese character
takes two columns on a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from apns_sim.model.records import AppIdRecord, AuthKeyRecord, CertificateRecord
from apns_sim.portal.service import Listing
from pushsim_i18n import N_, Domain

_ = Domain("apns_sim").gettext

_EMPTY = {
    "app_ids": N_("No App IDs yet: `apns-sim portal app-id create BUNDLE_ID --team-id TEAM` makes one."),
    "certificates": N_("No push certificates yet: `apns-sim portal cert issue` makes one from a CSR."),
    "auth_keys": N_("No auth keys yet: `apns-sim portal key create --team-id TEAM` makes one."),
}
_CERT_ENVIRONMENT = {"sandbox": "sandbox (development)", "production": "production",
                     "universal": "sandbox & production"}


def _day(value: datetime) -> str:
    return value.date().isoformat()


def _status(revoked_at: datetime | None, not_after: datetime | None, now: datetime) -> str:
    if revoked_at is not None:
        return f"revoked {_day(revoked_at)}"
    if not_after is not None and not_after < now:
        return "expired"
    return "active"


def _app_id_row(r: AppIdRecord) -> tuple[str, ...]:
    return (r.bundle_id, r.team_id, "wildcard" if r.wildcard else "explicit",
            "yes" if r.push_enabled else "no (wildcard)", _day(r.created_at))


def _certificate_row(r: CertificateRecord, now: datetime) -> tuple[str, ...]:
    return (str(r.serial), r.bundle_id, r.team_id, _CERT_ENVIRONMENT.get(r.environment, r.environment),
            _day(r.not_after), _status(r.revoked_at, r.not_after, now))


def _auth_key_row(r: AuthKeyRecord, now: datetime) -> tuple[str, ...]:
    return (r.key_id, r.team_id, r.environment or "sandbox & production", _day(r.created_at),
            _status(r.revoked_at, None, now))


_HEADERS = {
    "app_ids": ("BUNDLE ID", "TEAM", "KIND", "PUSH", "CREATED"),
    "certificates": ("SERIAL", "APP ID", "TEAM", "ENVIRONMENT", "VALID UNTIL", "STATUS"),
    "auth_keys": ("KEY ID", "TEAM", "ENVIRONMENT", "CREATED", "STATUS"),
}


def render(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart, a header line and a rule under it; no trailing spaces."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=False)]
    lines = [headers, ["-" * w for w in widths], *rows]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
                     for line in lines)


def listing_table(listing: Listing, now: datetime) -> str:
    """The table of ``listing`` followed by its one-line count, or a hint on how to make the first one."""
    if not listing.records:
        return _(_EMPTY[listing.kind])
    rows: list[tuple[str, ...]] = []
    for r in listing.records:
        if isinstance(r, AppIdRecord):
            rows.append(_app_id_row(r))
        elif isinstance(r, CertificateRecord):
            rows.append(_certificate_row(r, now))
        else:
            rows.append(_auth_key_row(r, now))
    return f"{render(_HEADERS[listing.kind], rows)}\n{listing.summary}"
