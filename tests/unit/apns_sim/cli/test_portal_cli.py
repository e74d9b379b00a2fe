"""``apns-sim portal`` from the shell (docs/cli.md, `apns-sim portal`): list tables and ``--json``, a data dir
that must exist unless ``--create`` says to start one, and usage errors on one line like the other tools."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from apns_sim import cli

TEAM = "ABCDE12345"
BUNDLE = "com.example.tables"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert cli.main(list(argv)) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def test_list_commands_print_tables_that_name_what_revoke_takes(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`cert revoke`'s error says to find serials with `cert list`: the table shows them, then the revocation."""
    d, keys = ["--data-dir", str(tmp_path / "sim")], tmp_path / "keys"
    _run(capsys, "portal", *d, "--create", "app-id", "create", BUNDLE, "--team-id", TEAM)
    _run(capsys, "portal", *d, "csr", "--email", "t@example.com", "--common-name", "T", "--password", "pw",
         "--out-dir", str(keys))
    issued = json.loads(_run(capsys, "portal", *d, "--json", "cert", "issue", "--app-id", BUNDLE, "--csr",
                             str(keys / "Push.certSigningRequest"), "--environment", "sandbox", "--out",
                             str(keys / "aps_development.cer")))
    key_id = json.loads(_run(capsys, "portal", *d, "key", "create", "--team-id", TEAM, "--out-dir",
                             str(keys)).splitlines()[0])["key_id"]

    apps = _run(capsys, "portal", *d, "app-id", "list").splitlines()
    assert apps[0].split() == ["BUNDLE", "ID", "TEAM", "KIND", "PUSH", "CREATED"]
    assert apps[2].split()[:4] == [BUNDLE, TEAM, "explicit", "yes"] and apps[-1] == "1 App ID."
    certs = _run(capsys, "portal", *d, "cert", "list").splitlines()
    assert certs[2].split()[0] == issued["serial"] and certs[2].endswith("active")
    _run(capsys, "portal", *d, "cert", "revoke", issued["serial"])
    assert _run(capsys, "portal", *d, "cert", "list").splitlines()[2].split()[-2] == "revoked"
    key_rows = _run(capsys, "portal", *d, "key", "list").splitlines()
    assert key_rows[2].split()[:2] == [key_id, TEAM] and key_rows[-1] == "1 auth key."

    as_json = json.loads(_run(capsys, "portal", *d, "cert", "list", "--json"))
    assert [c["serial"] for c in as_json["certificates"]] == [issued["serial"]]
    assert as_json["certificates"][0]["revoked_at"] is not None
    assert json.loads(_run(capsys, "portal", *d, "key", "list", "--json"))["auth_keys"][0]["key_id"] == key_id
    assert json.loads(_run(capsys, "portal", "--json", *d, "app-id", "list"))["app_ids"][0]["bundle_id"] == BUNDLE


@pytest.mark.parametrize("exists", [False, True])
def test_an_unknown_data_dir_is_refused_unless_create(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      exists: bool) -> None:
    """A mistyped --data-dir once made a second CA in silence; now one line says so and nothing is written."""
    data = tmp_path / "typo"
    if exists:
        data.mkdir()
    assert cli.main(["portal", "--data-dir", str(data), "app-id", "create", BUNDLE, "--team-id", TEAM]) == 2
    err = capsys.readouterr().err
    assert err == (f"apns-sim portal: error: {data} is not a simulator data dir (no ca.pem): check the path, or add "
                   "--create to start a new one\n")
    assert not (data / "ca.pem").exists() and (list(data.iterdir()) == [] if exists else not data.exists())
    _run(capsys, "portal", "--data-dir", str(data), "app-id", "create", BUNDLE, "--team-id", TEAM, "--create")
    assert (data / "ca.pem").exists()
    assert BUNDLE in _run(capsys, "portal", "--data-dir", str(data), "app-id", "list")  # no --create needed now


@pytest.mark.parametrize(("argv", "line"), [
    (["portal", "--data-dir", "x", "cert", "issue", "--app-id", BUNDLE],
     "apns-sim portal cert issue: error: the following arguments are required: --csr, --environment, --out "
     "(see `apns-sim portal cert issue --help`)"),
    (["portal", "key"], "apns-sim portal key: error: the following arguments are required: "
                        "{create,list,revoke} (see `apns-sim portal key --help`)"),
    (["portal"], "apns-sim portal: error: the following arguments are required: {app-id,cert,key,csr,export} "
                 "(see `apns-sim portal --help`)"),
    ([], "apns-sim: error: the following arguments are required: {serve,portal,hosts,trust,env,wait} "
         "(see `apns-sim --help`)"),
    (["bogus"], "apns-sim: error: unknown sub-command: bogus (choose from serve, portal, hosts, trust, env, wait) "
                "(see `apns-sim --help`)"),
    (["serve", "--sandbox-port", "abc"], "apns-sim serve: error: argument --sandbox-port: not an integer: 'abc' "
                                         "(see `apns-sim serve --help`)"),
])
def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], line: str) -> None:
    """The other tools' style (device-sim, apns-provider): no usage block, exit status 2."""
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2
    assert capsys.readouterr().err == line + "\n"
