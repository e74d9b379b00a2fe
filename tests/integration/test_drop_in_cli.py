"""The drop-in mode's command line around the listeners: ports, offset, wait and hosts (docs/drop-in.md §2, §3, §5).

Real processes; ``apns-sim serve`` without the right to bind port 443 is made with ``setpriv`` (root without
CAP_NET_BIND_SERVICE), which CI has as root; without it the test fails with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_cli_contracts import APNS_SIM, read_json_line, run, stop

CURL = "/usr/bin/curl"


def test_serve_without_the_right_to_bind_443_says_what_to_do(tmp_path: Path) -> None:
    """docs/drop-in.md §2: exit status 2, one line naming root, CAP_NET_BIND_SERVICE and the offset knob."""
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.fail("this test drops CAP_NET_BIND_SERVICE with setpriv (util-linux) as root, as CI runs")
    proc = subprocess.run([setpriv, "--bounding-set", "-net_bind_service", "--", *APNS_SIM, "serve", "--data-dir",
                           str(tmp_path / "apns"), "--apple-hosts"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc
    assert "port 443" in proc.stderr and "CAP_NET_BIND_SERVICE" in proc.stderr
    assert "--apple-hosts-port-offset" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "apns" / "endpoints.json").exists()


def test_port_offset_moves_both_ports_and_endpoints_json_says_so(tmp_path: Path) -> None:
    """docs/drop-in.md §2: --apple-hosts-port-offset 20000 listens on 20443 and 22197 for Apple's names."""
    data = tmp_path / "apns"
    proc = subprocess.Popen([*APNS_SIM, "serve", "--data-dir", str(data), "--apple-hosts",
                             "--apple-hosts-port-offset", "20000"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        endpoints = read_json_line(proc.stdout, timeout=30)
        assert endpoints["apple_hosts"]["ports"] == [20443, 22197]
        assert endpoints["apple_hosts"]["sandbox"] == "https://api.sandbox.push.apple.com:20443"
        for port in (20443, 22197):
            name = "api.sandbox.push.apple.com"
            out = run([CURL, "-sS", "--http2", "--cacert", str(data / "ca.pem"), "--resolve",
                       f"{name}:{port}:127.0.0.1", "-w", " %{http_code}", "--data", "{}",
                       f"https://{name}:{port}/3/device/{'ab' * 32}"]).stdout
            assert out == '{"reason":"MissingProviderToken"} 403'
    finally:
        stop(proc)


def test_port_offset_alone_or_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    alone = run([*APNS_SIM, "serve", "--apple-hosts-port-offset", "5"], ok=False)
    assert alone.returncode == 2 and "needs --apple-hosts" in alone.stderr
    too_far = run([*APNS_SIM, "serve", "--apple-hosts", "--apple-hosts-port-offset", "65000"], ok=False)
    assert too_far.returncode == 2 and "between 0 and 63338" in too_far.stderr


def test_wait_exits_1_with_the_reason_when_nothing_is_running(tmp_path: Path) -> None:
    """docs/drop-in.md §5: no endpoints.json, then a stale one from a stopped simulator."""
    data = tmp_path / "apns"
    data.mkdir()
    missing = run([*APNS_SIM, "wait", "--data-dir", str(data), "--timeout", "0.3"], ok=False)
    assert missing.returncode == 1 and "endpoints.json does not exist" in missing.stderr
    proc = subprocess.Popen([*APNS_SIM, "serve", "--data-dir", str(data)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        read_json_line(proc.stdout, timeout=30)
        assert run([*APNS_SIM, "wait", "--data-dir", str(data), "--timeout", "10"]).stdout.endswith("is ready\n")
    finally:
        stop(proc)
    stale = run([*APNS_SIM, "wait", "--data-dir", str(data), "--timeout", "0.3"], ok=False)
    assert stale.returncode == 1 and "does not answer GET /_sim/health" in stale.stderr


def test_hosts_before_the_simulator_runs_prints_the_lines_and_a_note(tmp_path: Path) -> None:
    """docs/drop-in.md §3: the lines do not depend on a running simulator; the note says nothing answers yet."""
    proc = run([*APNS_SIM, "hosts", "--data-dir", str(tmp_path)])
    assert "127.0.0.1 api.sandbox.push.apple.com" in proc.stdout.splitlines()
    assert "no simulator with --apple-hosts" in proc.stderr


def test_env_and_trust_print_only_export_lines(tmp_path: Path) -> None:
    """docs/drop-in.md §4, §5: what `eval` reads; dotenv for $GITHUB_ENV."""
    data = tmp_path / "apns"
    run([*APNS_SIM, "portal", "--data-dir", str(data), "--create", "app-id", "create", "com.example.env",
         "--team-id", "ABCDE12345"])
    (data / "endpoints.json").write_text(json.dumps({"sandbox": "https://127.0.0.1:1", "admin": "http://x"}))
    env = run([*APNS_SIM, "env", "--data-dir", str(data)]).stdout.splitlines()
    assert all(line.startswith("export APNS_") for line in env) and "export APNS_TOPIC=com.example.env" in env
    dotenv = run([*APNS_SIM, "env", "--data-dir", str(data), "--format", "dotenv"]).stdout.splitlines()
    assert "APNS_TEAM_ID=ABCDE12345" in dotenv
    trust = run([*APNS_SIM, "trust", "--data-dir", str(data), "--format", "env"]).stdout.splitlines()
    assert [line.split("=")[0] for line in trust] == [
        "export SSL_CERT_FILE", "export REQUESTS_CA_BUNDLE", "export NODE_EXTRA_CA_CERTS", "export CURL_CA_BUNDLE",
        "export JAVA_TOOL_OPTIONS", "export PHP_INI_SCAN_DIR"]
    assert (data / "trust" / "bundle.pem").read_bytes().endswith((data / "ca.pem").read_bytes())
