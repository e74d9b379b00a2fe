"""Clients of the binary era, unmodified but for host, port and trust, against the simulator (docs/legacy-binary.md §6).

Each one pushes a notification that an online phone presents, gets an error response for a token APNs never
issued, and reads the feedback service after the app is uninstalled: PHP's tutorial snippets (Debian
``php-cli``), PyAPNs (the ``apns3`` port to Python 3) and node-apn 1.x (``tests/clients/apn1``). A missing tool
fails the test with the reason; ``scripts/test-setup`` installs all three.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from pushsim.harness import CertificateBundle, RunningSimulator
from pushsim.phones import IPhoneFactory

BUNDLE = "com.example.tutorial"
PASSPHRASE = "pushchat"  # the tutorial's passphrase for the private key inside ck.pem (a test secret)
CLIENTS = Path(__file__).resolve().parents[1] / "clients"
NEVER_ISSUED = "ab" * 32


def need(command: str) -> str:
    path = shutil.which(command)
    if path is None:
        pytest.fail(f"{command} is not installed: run scripts/test-setup (it installs the clients of the binary era)")
    return path


def make_ck_pem(bundle: CertificateBundle, folder: Path) -> Path:
    """The tutorial's last step: the certificate as PEM and the .p12's key (with a passphrase) in one ck.pem."""
    key = serialization.load_pem_private_key(bundle.key_pem.read_bytes(), None)
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.BestAvailableEncryption(PASSPHRASE.encode()))
    ck = folder / "ck.pem"
    ck.write_bytes(bundle.cert_pem.read_bytes() + encrypted)
    ck.chmod(0o600)
    return ck


def split(address: str) -> tuple[str, str]:
    host, _, port = address.rpartition(":")
    return host, port


async def run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 30) -> str:
    def call() -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True,
                              timeout=timeout, check=False)

    done = await asyncio.to_thread(call)
    assert done.returncode == 0, f"{args[0]} failed ({done.returncode}): {done.stderr[-2000:]}"
    return done.stdout


@pytest.fixture
def certificate(sim: RunningSimulator) -> CertificateBundle:
    return sim.issue_certificate(BUNDLE, "sandbox")


async def test_php_tutorial_snippets(sim: RunningSimulator, iphones: IPhoneFactory, certificate: CertificateBundle,
                                     tmp_path: Path) -> None:
    """docs/legacy-binary.md §2.1, §2.2, §3, §4, §6: the classic simplepush.php (command 0) delivers; the enhanced
    variant reads status 8 for a token APNs never issued; the feedback reader lists the uninstalled app's token."""
    php = need("php")
    make_ck_pem(certificate, tmp_path)
    phone = await iphones()
    app = phone.install_app(BUNDLE, types=("alert", "sound"))
    token = await app.register(timeout=10)
    host, port = split(sim.endpoints["legacy_sandbox"])
    common = {"APNS_HOST": host, "APNS_PORT": port, "CA_FILE": str(sim.ca_file), "PASSPHRASE": PASSPHRASE}

    out = await run([php, str(CLIENTS / "php" / "simplepush.php")], tmp_path,
                    {**common, "DEVICE_TOKEN": token, "MESSAGE": "My first push notification!"})
    assert "Connected to APNS" in out and "Message successfully delivered" in out
    received = await app.next_notification(timeout=10)
    assert received.payload["aps"] == {"alert": "My first push notification!", "sound": "default"}
    assert (received.presentation.alert, received.presentation.sound) == ("My first push notification!", "default")

    out = await run([php, str(CLIENTS / "php" / "simplepush.php")], tmp_path,
                    {**common, "DEVICE_TOKEN": NEVER_ISSUED, "MESSAGE": "to nobody"})
    assert "Message successfully delivered" in out  # the snippet cannot tell: command 0 gets only a close
    refused = await sim.wait_for_notification(token=NEVER_ISSUED, stage="rejected")
    assert refused["interface"] == "binary" and refused["journey"][0]["binary_status"] == 8

    out = await run([php, str(CLIENTS / "php" / "enhanced.php")], tmp_path,
                    {**common, "DEVICE_TOKEN": NEVER_ISSUED, "MESSAGE": "to nobody", "IDENTIFIER": "1234"})
    assert json.loads(out.splitlines()[-1]) == {"command": 8, "status_code": 8, "identifier": 1234}

    assert await phone.uninstall(BUNDLE)
    fb_host, fb_port = split(sim.endpoints["feedback_sandbox"])
    feedback = {**common, "APNS_HOST": fb_host, "APNS_PORT": fb_port}
    out = await run([php, str(CLIENTS / "php" / "feedback.php")], tmp_path, feedback)
    items = json.loads(out.splitlines()[-1])
    assert [item["token"] for item in items] == [token] and items[0]["time"] > 0
    out = await run([php, str(CLIENTS / "php" / "feedback.php")], tmp_path, feedback)
    assert json.loads(out.splitlines()[-1]) == []  # read once, then gone


PYAPNS = r"""
import json, sys, time
import apns3 as apns

mode, host, port, cert, key, token = sys.argv[1:7]
if mode == "feedback":
    conn = apns.FeedbackConnection(use_sandbox=True, cert_file=cert, key_file=key)
    conn.server, conn.port = host, int(port)
    print(json.dumps([[t.decode(), when.timestamp()] for t, when in conn.items()]))
elif mode == "simple":
    server = apns.APNs(use_sandbox=True, cert_file=cert, key_file=key)
    gateway = server.gateway_server
    gateway.server, gateway.port = host, int(port)
    gateway.send_notification(token, apns.Payload(alert="Hello from PyAPNs", sound="default", badge=1))
    print(json.dumps("sent"))
else:
    errors = []
    gateway = apns.GatewayConnection(use_sandbox=True, cert_file=cert, key_file=key, enhanced=True)
    gateway.server, gateway.port = host, int(port)
    gateway.register_response_listener(errors.append)
    gateway.send_notification(token, apns.Payload(alert="to nobody"), identifier=77, expiry=int(time.time()) + 60)
    for _ in range(50):
        if errors:
            break
        time.sleep(0.1)
    gateway.force_close()
    print(json.dumps(errors))
"""


async def test_pyapns(sim: RunningSimulator, iphones: IPhoneFactory, certificate: CertificateBundle,
                      tmp_path: Path) -> None:
    """docs/legacy-binary.md §3, §4, §6: PyAPNs (apns3) sends with its APNs/Payload classes, its enhanced
    connection's response listener gets status 8 with the identifier, and its FeedbackConnection reads the token."""
    try:
        import apns3  # noqa: F401
    except ImportError:
        pytest.fail("apns3 (PyAPNs for Python 3) is not installed: run scripts/test-setup (the test extra)")
    script = tmp_path / "pyapns_client.py"
    script.write_text(PYAPNS)
    phone = await iphones()
    app = phone.install_app(BUNDLE, types=("alert", "sound", "badge"))
    token = await app.register(timeout=10)
    host, port = split(sim.endpoints["legacy_sandbox"])
    files = [str(certificate.cert_pem), str(certificate.key_pem)]
    python = [sys.executable, "-W", "ignore", str(script)]

    await run([*python, "simple", host, port, *files, token], tmp_path, {})
    received = await app.next_notification(timeout=10)
    assert received.payload["aps"] == {"alert": "Hello from PyAPNs", "sound": "default", "badge": 1}
    assert (received.presentation.alert, received.presentation.badge) == ("Hello from PyAPNs", 1)

    out = await run([*python, "enhanced", host, port, *files, NEVER_ISSUED], tmp_path, {})
    errors = json.loads(out.splitlines()[-1])
    assert [(e["status"], e["identifier"]) for e in errors] == [(8, 77)]

    assert await phone.uninstall(BUNDLE)
    fb_host, fb_port = split(sim.endpoints["feedback_sandbox"])
    out = await run([*python, "feedback", fb_host, fb_port, *files, ""], tmp_path, {})
    assert [t for t, _ in json.loads(out.splitlines()[-1])] == [token]


def events(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


async def test_node_apn_1(sim: RunningSimulator, iphones: IPhoneFactory, certificate: CertificateBundle,
                          tmp_path: Path) -> None:
    """docs/legacy-binary.md §3, §4, §6: node-apn 1.x delivers, reports transmissionError 8 for a token APNs
    never issued (and resends what it wrote after it), and its Feedback reads the uninstalled app's token."""
    node = need("node")
    client = CLIENTS / "apn1"
    if not (client / "node_modules" / "apn").is_dir():
        pytest.fail("node-apn 1.x is not installed: run scripts/test-setup (npm ci in tests/clients/apn1)")
    phone = await iphones()
    app = phone.install_app(BUNDLE, types=("alert", "sound"))
    token = await app.register(timeout=10)
    host, port = split(sim.endpoints["legacy_sandbox"])
    common = {"APNS_HOST": host, "APNS_PORT": port, "CA_FILE": str(sim.ca_file), "CERT_FILE": str(certificate.cert_pem),
              "KEY_FILE": str(certificate.key_pem)}

    out = await run([node, "push.js"], client, {**common, "DEVICE_TOKENS": f"{token},{NEVER_ISSUED},{token}",
                                                "MESSAGE": "Hello from node-apn"})
    seen = events(out)
    assert {"event": "transmissionError", "code": 8, "token": NEVER_ISSUED} in seen, seen
    first = await app.next_notification(timeout=10)
    second = await app.next_notification(timeout=10)  # written after the bad one, lost, and resent by node-apn
    assert first.payload["aps"]["alert"] == second.payload["aps"]["alert"] == "Hello from node-apn"
    assert first.presentation.alert == "Hello from node-apn" and first.presentation.sound == "default"

    assert await phone.uninstall(BUNDLE)
    fb_host, fb_port = split(sim.endpoints["feedback_sandbox"])
    out = await run([node, "push.js", "feedback"], client, {**common, "APNS_HOST": fb_host, "APNS_PORT": fb_port})
    (feedback,) = [e for e in events(out) if e["event"] == "feedback"]
    assert [item["token"] for item in feedback["items"]] == [token]
