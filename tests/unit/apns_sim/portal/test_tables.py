"""``apns-sim portal ... list`` tables (docs/cli.md): the columns the other commands take, a status per row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import pushsim_i18n
from apns_sim.model.records import AppIdRecord, AuthKeyRecord, CertificateRecord
from apns_sim.portal.service import Listing
from apns_sim.portal.tables import listing_table, render
from pushsim_i18n.wrap import display_width

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _cert(serial: int, *, revoked: datetime | None = None, not_after: datetime = NOW + timedelta(days=365),
          environment: str = "sandbox") -> CertificateRecord:
    return CertificateRecord(serial=serial, bundle_id="com.example.app", team_id="ABCDE12345",
                             environment=environment, topics=("com.example.app",), not_before=NOW - timedelta(days=1),
                             not_after=not_after, fingerprint_sha256="ab" * 32, der=b"0", revoked_at=revoked)


def test_render_aligns_columns_without_trailing_spaces() -> None:
    text = render(("A", "LONG HEADER"), [("wide cell", "x"), ("y", "")])
    assert text.splitlines() == ["A          LONG HEADER", "---------  -----------", "wide cell  x", "y"]


def test_certificates_show_the_full_serial_and_whether_each_still_works() -> None:
    """The serial `cert revoke` takes is printed whole (a 160-bit number); revoked and expired are told apart."""
    serial = 2**159 + 12345
    listing = Listing(kind="certificates", records=(
        _cert(serial), _cert(7, revoked=NOW - timedelta(hours=1), environment="universal"),
        _cert(8, not_after=NOW - timedelta(days=1))))
    lines = listing_table(listing, NOW).splitlines()
    assert lines[0].split() == ["SERIAL", "APP", "ID", "TEAM", "ENVIRONMENT", "VALID", "UNTIL", "STATUS"]
    assert lines[2].startswith(str(serial)) and lines[2].endswith("active")
    assert "sandbox & production" in lines[3] and lines[3].endswith("revoked 2026-12-04")
    assert lines[4].endswith("expired")
    assert lines[-1] == "3 push certificates."


def test_app_ids_say_a_wildcard_cannot_push_and_keys_say_their_environment() -> None:
    apps = Listing(kind="app_ids", records=(
        AppIdRecord(bundle_id="com.example.*", team_id="ABCDE12345", wildcard=True, push_enabled=False,
                    created_at=NOW),))
    assert "com.example.*  ABCDE12345  wildcard  no (wildcard)  2026-12-04" in listing_table(apps, NOW)
    keys = Listing(kind="auth_keys", records=(
        AuthKeyRecord(key_id="ABC123DEFG", team_id="ABCDE12345", public_key_pem=b"", environment=None,
                      created_at=NOW, revoked_at=None),
        AuthKeyRecord(key_id="ZZZ123DEFG", team_id="ABCDE12345", public_key_pem=b"", environment="production",
                      created_at=NOW, revoked_at=NOW)))
    lines = listing_table(keys, NOW).splitlines()
    assert lines[2].split()[:2] == ["ABC123DEFG", "ABCDE12345"] and "sandbox & production" in lines[2]
    assert "production" in lines[3] and lines[3].endswith("revoked 2026-12-04")


def test_an_empty_listing_says_how_to_make_the_first_one() -> None:
    assert listing_table(Listing(kind="auth_keys", records=()), NOW).startswith("No auth keys yet: ")


def test_tables_speak_chinese_and_line_up_by_display_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under zh the headers and human values are Chinese (docs/cli.md, "Language, errors and output"), ids and
    dates stay; every column starts at the same terminal column though a Chinese character takes two."""
    monkeypatch.setattr(pushsim_i18n, "_current", "zh")
    apps = Listing(kind="app_ids", records=(
        AppIdRecord(bundle_id="com.example.*", team_id="ABCDE12345", wildcard=True, push_enabled=False,
                    created_at=NOW),
        AppIdRecord(bundle_id="com.example.pushchat", team_id="ABCDE12345", wildcard=False, push_enabled=True,
                    created_at=NOW)))
    certs = Listing(kind="certificates", records=(
        _cert(5), _cert(7, revoked=NOW - timedelta(hours=1), environment="universal")))
    keys = Listing(kind="auth_keys", records=(
        AuthKeyRecord(key_id="ABC123DEFG", team_id="ABCDE12345", public_key_pem=b"", environment=None,
                      created_at=NOW, revoked_at=None),))
    english = ("BUNDLE ID", "TEAM", "KIND", "PUSH", "CREATED", "SERIAL", "ENVIRONMENT", "VALID UNTIL", "STATUS",
               "KEY ID", "wildcard", "explicit", "no (wildcard)", "active", "revoked", "sandbox (development)", "yes")
    for listing in (apps, certs, keys):
        table = listing_table(listing, NOW).splitlines()[:-1]  # the count under it is the service's
        assert not [word for word in english if any(word in line for line in table)], table
        rule = table[1]
        starts = [i for i in range(len(rule)) if rule[i] == "-" and (i == 0 or rule[i - 1] == " ")]
        for line in (table[0], *table[2:]):
            columns = [display_width(line[:i]) for i in range(len(line) + 1)]
            for start in starts[1:]:
                at = columns.index(start)  # some character starts exactly at the rule's column
                assert line[at - 2:at] == "  " and line[at] != " ", (line, start)
    assert "com.example.*" in listing_table(apps, NOW) and "2026-12-04" in listing_table(apps, NOW)
    assert "开发环境" in listing_table(certs, NOW).splitlines()[3] and "有效" in listing_table(keys, NOW)
