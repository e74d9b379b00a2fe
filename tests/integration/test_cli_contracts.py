"""docs/architecture.md contracts 1-4 driven from a shell, exactly as written there, as outside checks drive them.

Real processes, real TLS, real HTTP/2, 127.0.0.1 and port 0 everywhere.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

BIN = Path(sys.executable).parent
BUNDLE = "com.example.cli"
TEAM = "ABCDE12345"
PASSWORD = "s3cret"


def command(name: str, module: str) -> list[str]:
    """The console script when installed (as users run it), else the same entry point via ``-m``."""
    script = BIN / name
    return [str(script)] if script.exists() else [sys.executable, "-m", module]


APNS_SIM = command("apns-sim", "apns_sim.cli")
DEVICE_SIM = command("device-sim", "device_sim.cli")
PROVIDER = command("apns-provider", "provider.cli")


def run(args: list[str], *, ok: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if ok:
        assert proc.returncode == 0, f"{args} failed ({proc.returncode}): {proc.stderr}"
    return proc


def read_json_line(stream: IO[str], timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if line.strip():
            return json.loads(line)
    raise AssertionError("no JSON line in time")


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    data = tmp_path / "apns"
    proc = subprocess.Popen([*APNS_SIM, "serve", "--data-dir", str(data)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        endpoints = read_json_line(proc.stdout)
        yield data, endpoints
    finally:
        stop(proc)


def test_contracts_1_to_4_from_a_shell(sim: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """Contract 1 (serve + endpoints.json), 2 (portal), 3 (device-sim), 4 (apns-provider send)."""
    data, endpoints = sim
    assert set(endpoints) == {"sandbox", "production", "gateway", "admin", "ca_file", "legacy_sandbox",
                              "legacy_production", "feedback_sandbox", "feedback_production"}
    assert endpoints["sandbox"].startswith("https://127.0.0.1:") and endpoints["gateway"].startswith("127.0.0.1:")
    assert json.loads((data / "endpoints.json").read_text()) == endpoints
    assert Path(endpoints["ca_file"]) == data / "ca.pem"

    keys = tmp_path / "keys"
    portal = [*APNS_SIM, "portal", "--data-dir", str(data)]
    run([*portal, "app-id", "create", BUNDLE, "--team-id", TEAM])
    run([*portal, "csr", "--email", "dev@example.com", "--common-name", "CLI Dev", "--password", PASSWORD,
         "--out-dir", str(keys)])
    assert (keys / "Push.certSigningRequest").exists() and (keys / "Push.p12").stat().st_mode & 0o777 == 0o600
    cer = keys / "aps_development.cer"
    run([*portal, "cert", "issue", "--app-id", BUNDLE, "--csr", str(keys / "Push.certSigningRequest"),
         "--environment", "sandbox", "--out", str(cer)])
    assert cer.read_bytes()[:1] == b"\x30"  # DER, like Apple's download
    key = json.loads(run([*portal, "key", "create", "--team-id", TEAM, "--out-dir", str(keys)]).stdout)
    assert Path(key["path"]).name == f"AuthKey_{key['key_id']}.p8" and len(key["key_id"]) == 10

    endpoints_file = str(data / "endpoints.json")
    phone = str(tmp_path / "phone")
    reg = run([*DEVICE_SIM, "register", "--endpoints", endpoints_file, "--app", BUNDLE,
               "--environment", "sandbox", "--state-dir", phone])
    token = json.loads(reg.stdout.strip().splitlines()[-1])["token"]
    assert len(token) == 64 and int(token, 16) >= 0
    again = run([*DEVICE_SIM, "register", "--endpoints", endpoints_file, "--app", BUNDLE,
                 "--environment", "sandbox", "--state-dir", phone])
    assert json.loads(again.stdout.strip().splitlines()[-1])["token"] == token, "same iPhone, same token"

    cert_creds = ["--cert", str(cer), "--p12", str(keys / "Push.p12"), "--password", PASSWORD]
    send = [*PROVIDER, "send", "--endpoint", endpoints["sandbox"], "--ca", endpoints["ca_file"],
            "--topic", BUNDLE, "--token", token]
    # The phone is offline now: APNs accepts and stores the notification.
    stored = json.loads(run([*send, "--alert", "while you were away", *cert_creds]).stdout)
    assert stored["status"] == 200 and stored["apns_id"]

    runner = subprocess.Popen([*DEVICE_SIM, "run", "--endpoints", endpoints_file, "--app", BUNDLE,
                               "--types", "alert,sound,badge", "--environment", "sandbox", "--state-dir", phone],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert runner.stdout is not None
        events = [read_json_line(runner.stdout)]
        while not any(e.get("event") == "notification" for e in events):
            events.append(read_json_line(runner.stdout))
        registered = next(e for e in events if e["event"] == "registered")
        assert {k: registered[k] for k in ("event", "bundle_id", "token")} == {
            "event": "registered", "bundle_id": BUNDLE, "token": token}
        first = next(e for e in events if e["event"] == "notification")
        assert first["apns_id"].lower() == stored["apns_id"].lower()
        assert first["payload"]["aps"]["alert"] == "while you were away"

        p8 = ["--p8", key["path"], "--key-id", key["key_id"], "--team-id", TEAM]
        live = json.loads(run([*send, "--payload", json.dumps({"aps": {"alert": "live", "badge": 3}}), *p8]).stdout)
        assert live["status"] == 200
        note = read_json_line(runner.stdout)
        assert note["event"] == "notification" and note["apns_id"].lower() == live["apns_id"].lower()
        assert note["presented"]["alert"] == "live" and note["presented"]["badge"] == 3
    finally:
        stop(runner)

    # Contract 4: a sandbox token on the production endpoint is BadDeviceToken; exit code non-zero.
    wrong = run([*PROVIDER, "send", "--endpoint", endpoints["production"], "--ca", endpoints["ca_file"],
                 "--topic", BUNDLE, "--token", token, "--alert", "x", "--environment", "production",
                 "--p8", key["path"], "--key-id", key["key_id"], "--team-id", TEAM], ok=False)
    assert wrong.returncode != 0 and json.loads(wrong.stdout)["reason"] == "BadDeviceToken"

    # Contract 3: uninstall, then APNs answers 410 Unregistered with a millisecond timestamp.
    run([*DEVICE_SIM, "uninstall", "--endpoints", endpoints_file, "--app", BUNDLE, "--state-dir", phone])
    gone = run([*send, "--alert", "anyone there?", *cert_creds], ok=False)
    answer = json.loads(gone.stdout)
    assert gone.returncode != 0 and answer["status"] == 410 and answer["reason"] == "Unregistered"
    assert answer["timestamp"] > 1_600_000_000_000  # milliseconds, not seconds

    journeys = _http_json(endpoints["admin"] + "/_sim/notifications?token=" + token)
    assert [j["status"] for j in journeys][-1] == 410


def test_bad_input_gets_one_line_errors_not_tracebacks(tmp_path: Path) -> None:
    """Issue 2 'done means': a missing file, a wrong .p12 password, an unknown App ID, a CSR that is not one."""
    data = tmp_path / "apns"
    portal = [*APNS_SIM, "portal", "--data-dir", str(data)]
    keys = tmp_path / "keys"
    run([*portal, "--create", "csr", "--email", "a@example.com", "--common-name", "A", "--password", "pw",
         "--out-dir", str(keys)])
    cases = [
        [*portal, "cert", "issue", "--app-id", "com.unknown.app", "--csr", str(keys / "Push.certSigningRequest"),
         "--environment", "sandbox", "--out", str(tmp_path / "x.cer")],
        [*portal, "cert", "issue", "--app-id", "com.unknown.app", "--csr", str(tmp_path / "missing.csr"),
         "--environment", "sandbox", "--out", str(tmp_path / "x.cer")],
        [*PROVIDER, "send", "--endpoint", "https://127.0.0.1:9", "--ca", str(tmp_path / "nope.pem"), "--topic", "a.b",
         "--token", "ab" * 32, "--alert", "x", "--p12", str(keys / "Push.p12"), "--password", "wrong"],
    ]
    run([*portal, "app-id", "create", "com.known.app", "--team-id", TEAM])
    cases.append([*portal, "cert", "issue", "--app-id", "com.known.app", "--csr", str(keys / "Push.p12"),
                  "--environment", "sandbox", "--out", str(tmp_path / "x.cer")])
    for args in cases:
        proc = run(args, ok=False)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr



def test_three_programs_as_processes(sim: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    """The whole flow with three separate programs: ``device-sim run --provider`` registers its token with
    ``apns-provider serve``, an operator posts to ``/v1/notifications``, and the phone prints what it presented."""
    data, endpoints = sim
    keys = tmp_path / "keys"
    portal = [*APNS_SIM, "portal", "--data-dir", str(data)]
    run([*portal, "app-id", "create", BUNDLE, "--team-id", TEAM])
    key = json.loads(run([*portal, "key", "create", "--team-id", TEAM, "--out-dir", str(keys)]).stdout)

    service = subprocess.Popen(
        [*PROVIDER, "serve", "--db", str(tmp_path / "provider.sqlite3"), "--port", "0",
         "--endpoint", endpoints["sandbox"], "--ca", endpoints["ca_file"], "--environment", "sandbox",
         "--p8", key["path"], "--key-id", key["key_id"], "--team-id", TEAM],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    phone = None
    try:
        assert service.stdout is not None
        url = read_json_line(service.stdout)["url"]
        assert url.startswith("http://127.0.0.1:")
        phone = subprocess.Popen(
            [*DEVICE_SIM, "run", "--endpoints", str(data / "endpoints.json"), "--app", BUNDLE, "--provider", url,
             "--environment", "sandbox", "--state-dir", str(tmp_path / "phone")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert phone.stdout is not None
        event = read_json_line(phone.stdout)
        while event.get("event") != "token_sent":
            assert event.get("event") != "token_send_failed", event
            event = read_json_line(phone.stdout)
        devices = _http_json(url + "/v1/devices?bundle_id=" + BUNDLE)["devices"]
        assert [d["status"] for d in devices] == ["active"] and devices[0]["environment"] == "sandbox"
        token = devices[0]["token"]

        results = _http_json(url + "/v1/notifications", {"bundle_id": BUNDLE, "alert": "from the service"})
        assert [(r["token"], r["status"]) for r in results["results"]] == [(token, 200)]
        note = read_json_line(phone.stdout)
        while note.get("event") != "notification":
            note = read_json_line(phone.stdout)
        assert note["apns_id"].lower() == results["results"][0]["apns_id"].lower()
        assert note["presented"]["alert"] == "from the service"
    finally:
        if phone is not None:
            stop(phone)
        stop(service)


def _http_json(url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=20) as response:  # plain HTTP on loopback
        return json.loads(response.read())
