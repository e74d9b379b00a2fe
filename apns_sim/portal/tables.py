"""The portal's ``list`` output as plain-text tables: what ``apns-sim portal app-id|cert|key list`` print.

Pure: a :class:`~apns_sim.portal.service.Listing` and the time in, text out. The columns are the ones the
other commands take (``cert revoke SERIAL``, ``key revoke KEY_ID``), so a learner copies from the table
(docs/cli.md, `apns-sim portal`). Plain text rather than rich's boxes: the output is often piped or pasted.
Headers, human values (kind, environment, status), the hint for an empty listing and the count under a table
follow the reader's language (docs/i18n.md); ids, serials and dates do not. Columns are aligned by display
width, since a Chinese character takes two columns on a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from apns_sim.model.records import AppIdRecord, AuthKeyRecord, CertificateRecord
from apns_sim.portal.service import Listing
from pushsim_i18n import N_, Domain
from pushsim_i18n.wrap import display_width

_ = Domain("apns_sim").gettext

_EMPTY = {
    "app_ids": N_("No App IDs yet: `apns-sim portal app-id create BUNDLE_ID --team-id TEAM` makes one."),
    "certificates": N_("No push certificates yet: `apns-sim portal cert issue` makes one from a CSR."),
    "auth_keys": N_("No auth keys yet: `apns-sim portal key create --team-id TEAM` makes one."),
}
# Human words are marked here and translated when a table is drawn (docs/i18n.md, "Writing a message"); ids,
# serials, team ids and dates stay as they are, since the other commands take them.
_CERT_ENVIRONMENT = {"sandbox": N_("sandbox (development)"), "production": N_("production"),
                     "universal": N_("sandbox & production")}
_KEY_ENVIRONMENT = {"sandbox": N_("sandbox (development)"), "production": N_("production")}


def _day(value: datetime) -> str:
    return value.date().isoformat()


def _status(revoked_at: datetime | None, not_after: datetime | None, now: datetime) -> str:
    if revoked_at is not None:
        return _("revoked {day}").format(day=_day(revoked_at))
    if not_after is not None and not_after < now:
        return _("expired")
    return _("active")


def _app_id_row(r: AppIdRecord) -> tuple[str, ...]:
    return (r.bundle_id, r.team_id, _("wildcard") if r.wildcard else _("explicit"),
            _("yes") if r.push_enabled else _("no (wildcard)"), _day(r.created_at))


def _certificate_row(r: CertificateRecord, now: datetime) -> tuple[str, ...]:
    environment = _CERT_ENVIRONMENT.get(r.environment)
    return (str(r.serial), r.bundle_id, r.team_id, _(environment) if environment else r.environment,
            _day(r.not_after), _status(r.revoked_at, r.not_after, now))


def _auth_key_row(r: AuthKeyRecord, now: datetime) -> tuple[str, ...]:
    environment = _KEY_ENVIRONMENT.get(r.environment or "")
    shown = _(environment) if environment else r.environment or _("sandbox & production")
    return (r.key_id, r.team_id, shown, _day(r.created_at), _status(r.revoked_at, None, now))


_HEADERS = {
    "app_ids": (N_("BUNDLE ID"), N_("TEAM"), N_("KIND"), N_("PUSH"), N_("CREATED")),
    "certificates": (N_("SERIAL"), N_("APP ID"), N_("TEAM"), N_("ENVIRONMENT"), N_("VALID UNTIL"), N_("STATUS")),
    "auth_keys": (N_("KEY ID"), N_("TEAM"), N_("ENVIRONMENT"), N_("CREATED"), N_("STATUS")),
}


def _pad(cell: str, width: int) -> str:
    """``cell`` padded to ``width`` terminal columns: a Chinese character takes two, so ``str.ljust`` (which
    counts characters) would push every column after a Chinese cell out of line."""
    return cell + " " * (width - display_width(cell))


def render(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart, a header line and a rule under it; no trailing spaces. Widths are
    display columns (:func:`pushsim_i18n.wrap.display_width`), so Chinese headers and cells line up too."""
    widths = [max(display_width(cell) for cell in column) for column in zip(headers, *rows, strict=False)]
    lines = [headers, ["-" * w for w in widths], *rows]
    return "\n".join("  ".join(_pad(cell, w) for cell, w in zip(line, widths, strict=True)).rstrip()
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
    headers = [_(header) for header in _HEADERS[listing.kind]]
    return f"{render(headers, rows)}\n{listing.summary}"
