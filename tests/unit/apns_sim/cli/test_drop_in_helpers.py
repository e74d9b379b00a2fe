"""apns-sim hosts and env as pure functions (docs/drop-in.md §3, §5)."""

from __future__ import annotations

from pathlib import Path

from apns_sim.cli import hosts
from apns_sim.cli.env import variables
from apns_sim.pki import apple_hosts

ORIGINAL = "127.0.0.1 localhost\n::1 localhost ip6-localhost\n"


def test_the_block_has_one_line_per_name_of_the_table_between_markers() -> None:
    """Every name of APPLE_HOSTS (a new interface's names too), to the given address."""
    lines = hosts.block("127.0.0.1").splitlines()
    assert lines[0] == hosts.BEGIN and lines[-1] == hosts.END
    assert lines[1:-1] == [f"127.0.0.1 {name}" for name in apple_hosts.host_names()]


def test_merging_is_idempotent_replaces_an_earlier_block_and_removes_it() -> None:
    once = hosts.merged(ORIGINAL, hosts.block("127.0.0.1"))
    assert once.startswith(ORIGINAL) and hosts.merged(once, hosts.block("127.0.0.1")) == once
    moved = hosts.merged(once, hosts.block("10.0.0.5"))
    assert "10.0.0.5 api.push.apple.com" in moved and "127.0.0.1 api.push.apple.com" not in moved
    assert hosts.merged(moved, "") == ORIGINAL
    assert hosts.merged("127.0.0.1 localhost", "x\n") == "127.0.0.1 localhost\nx\n"  # no final newline before


def test_apply_writes_in_place_once_keeps_the_first_backup_and_says_when_nothing_changed(tmp_path: Path) -> None:
    """--apply rewrites the same inode (a container's /etc/hosts is a bind mount) and backs up the original."""
    target = tmp_path / "hosts"
    target.write_text(ORIGINAL)
    inode = target.stat().st_ino
    assert hosts.apply(target, hosts.block("127.0.0.1")) is True
    assert hosts.apply(target, hosts.block("127.0.0.1")) is False
    assert hosts.apply(target, hosts.block("10.0.0.5")) is True
    assert target.stat().st_ino == inode
    assert (tmp_path / "hosts.pushsim.bak").read_text() == ORIGINAL
    assert hosts.apply(target, "") is True and target.read_text() == ORIGINAL


ENDPOINTS = {"sandbox": "https://127.0.0.1:4001", "production": "https://127.0.0.1:4002",
             "gateway": "127.0.0.1:4003", "admin": "http://127.0.0.1:4004", "ca_file": "/d/ca.pem"}


def test_env_names_the_explicit_endpoint_without_drop_in_and_apples_host_with_it() -> None:
    """docs/drop-in.md §5: APNS_HOST_NAME is what Apple's curl article calls the host."""
    plain = dict(variables(Path("/d"), ENDPOINTS, {}))
    assert plain["APNS_HOST_NAME"] == "127.0.0.1:4001" and plain["APNS_CA_FILE"] == "/d/ca.pem"
    assert "APNS_TOPIC" not in plain and "APNS_PORT" not in plain
    drop_in = {**ENDPOINTS, "apple_hosts": {"sandbox": "https://api.sandbox.push.apple.com:10443",
                                            "production": "https://api.push.apple.com:10443"}}
    values = dict(variables(Path("/d"), drop_in, {"topic": "com.example.app", "p8": "/k/AuthKey_X.p8"}))
    assert values["APNS_HOST_NAME"] == "api.sandbox.push.apple.com"
    assert values["APNS_PRODUCTION_HOST_NAME"] == "api.push.apple.com" and values["APNS_PORT"] == "10443"
    assert values["APNS_TOPIC"] == "com.example.app" and values["APNS_P8"] == "/k/AuthKey_X.p8"
