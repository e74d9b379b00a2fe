"""The drop-in mode (docs/drop-in.md): unmodified third-party clients reach the simulator under Apple's own names.

One ``apns-sim serve --apple-hosts`` process (ports 443 and 2197: CI runs as root) serves every test here. Each
client runs in a child process inside a private mount namespace (``unshare --mount``) in which a hosts file made
by ``apns-sim hosts --apply`` is bind-mounted over ``/etc/hosts``, so Apple's names resolve to 127.0.0.1 for that
child only; it trusts the CA through the variables ``apns-sim trust --format env`` prints. Nothing is patched:
aioapns keeps its hard-coded ``api.development.push.apple.com``, node-apn its ``api.sandbox.push.apple.com``, and
curl runs Apple's documented commands. A missing root or ``unshare`` fails the test with the reason.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h2.connection
import h2.events
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from provider import legacy
from provider.apns.credentials import load_certificate_credentials
from tests.integration.test_cli_contracts import APNS_SIM, DEVICE_SIM, read_json_line, run, stop

ROOT = Path(__file__).resolve().parents[2]
NODE_APN = ROOT / "tests" / "clients" / "parse-node-apn"
BUNDLE = "com.example.dropin"
TEAM = "DROPIN1234"
PASSWORD = "s3cret"
CURL = "/usr/bin/curl"


def _require_namespace_tools() -> None:
    """docs/drop-in.md §7: these tests need root and unshare; without them they fail, saying so."""
    if os.geteuid() != 0:
        pytest.fail("the drop-in tests need root (ports 443/2197, unshare --mount); CI runs them as root")
    if shutil.which("unshare") is None:
        pytest.fail("the drop-in tests need unshare (util-linux): scripts/test-setup installs it")


@dataclass
class DropIn:
    data: Path
    endpoints: dict[str, Any]
    hosts_file: Path
    env: dict[str, str]  # the trust variables and apns-sim env, as a CI job would eval them
    token: str
    production_token: str

    def in_namespace(self, argv: list[str], *, timeout: float = 60,
                     extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` with our hosts file bind-mounted over /etc/hosts, in a mount namespace of its own."""
        script = 'mount --bind "$1" /etc/hosts && shift && exec "$@"'
        return subprocess.run(["unshare", "--mount", "sh", "-c", script, "sh", str(self.hosts_file), *argv],
                              capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **self.env, **(extra_env or {})})

    def journey(self, apns_id: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.endpoints['admin']}/_sim/notifications/{apns_id}", timeout=10) as r:
            return dict(json.loads(r.read()))

    def bearer(self) -> str:
        return jwt.encode({"iss": TEAM, "iat": int(time.time())}, Path(self.env["APNS_P8"]).read_bytes(),
                          algorithm="ES256", headers={"kid": self.env["APNS_KEY_ID"]})


def _exports(text: str) -> dict[str, str]:
    """``export NAME=value`` lines, as a shell's ``eval`` would read them."""
    values = {}
    for line in text.splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            values[name] = shlex.split(value)[0] if value else ""
    return values


@pytest.fixture(scope="module")
def drop_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DropIn]:
    _require_namespace_tools()
    tmp = tmp_path_factory.mktemp("drop-in")
    data, keys = tmp / "apns", tmp / "keys"
    proc = subprocess.Popen([*APNS_SIM, "serve", "--data-dir", str(data), "--apple-hosts"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        endpoints = read_json_line(proc.stdout, timeout=30)
        run([*APNS_SIM, "wait", "--data-dir", str(data), "--timeout", "30"])
        portal = [*APNS_SIM, "portal", "--data-dir", str(data)]
        run([*portal, "app-id", "create", BUNDLE, "--team-id", TEAM])
        run([*portal, "csr", "--email", "ci@example.com", "--common-name", "Drop-in", "--password", PASSWORD,
             "--out-dir", str(keys)])
        run([*portal, "cert", "issue", "--app-id", BUNDLE, "--csr", str(keys / "Push.certSigningRequest"),
             "--environment", "sandbox", "--out", str(keys / "aps_development.cer")])
        run([*portal, "key", "create", "--team-id", TEAM, "--out-dir", str(keys)])
        run([*portal, "export", "--cer", str(keys / "aps_development.cer"), "--p12", str(keys / "Push.p12"),
             "--password", PASSWORD, "--format", "pem", "--out-dir", str(keys / "pem")])
        tokens = {}
        for environment in ("sandbox", "production"):
            out = run([*DEVICE_SIM, "register", "--endpoints", str(data / "endpoints.json"), "--app", BUNDLE,
                       "--environment", environment, "--state-dir", str(tmp / f"phone-{environment}")]).stdout
            tokens[environment] = json.loads(out.strip().splitlines()[-1])["token"]
        hosts_file = tmp / "hosts"
        shutil.copy("/etc/hosts", hosts_file)
        run([*APNS_SIM, "hosts", "--data-dir", str(data), "--apply", str(hosts_file)])
        env = _exports(run([*APNS_SIM, "trust", "--data-dir", str(data), "--format", "env"]).stdout)
        env.pop("JAVA_TOOL_OPTIONS")  # every JVM would announce it on stderr; the Java test sets it itself
        env |= _exports(run([*APNS_SIM, "env", "--data-dir", str(data)]).stdout)
        yield DropIn(data, endpoints, hosts_file, env, tokens["sandbox"], tokens["production"])
    finally:
        stop(proc)


def test_serve_reports_apples_hosts_in_endpoints_json(drop_in: DropIn) -> None:
    """docs/drop-in.md §1: endpoints.json gains apple_hosts, both environments on 443 and 2197."""
    hosts = drop_in.endpoints["apple_hosts"]
    assert hosts["production"] == "https://api.push.apple.com:443"
    assert hosts["sandbox"] == "https://api.sandbox.push.apple.com:443"
    assert hosts["development"] == "https://api.development.push.apple.com:443"
    assert hosts["ports"] == [443, 2197] and hosts["address"] == "127.0.0.1"
    assert hosts["legacy_sandbox"] == "gateway.sandbox.push.apple.com:2195"
    assert hosts["legacy_production"] == "gateway.push.apple.com:2195"
    assert hosts["feedback_sandbox"] == "feedback.sandbox.push.apple.com:2196"
    assert hosts["feedback_production"] == "feedback.push.apple.com:2196"
    assert hosts["legacy_ports"] == [2195, 2196]
    assert json.loads((drop_in.data / "endpoints.json").read_text()) == drop_in.endpoints
    assert drop_in.env["APNS_HOST_NAME"] == "api.sandbox.push.apple.com" and drop_in.env["APNS_TOPIC"] == BUNDLE


AIOAPNS_CLIENT = """
import asyncio, json, sys
from aioapns import APNs, NotificationRequest

async def main(mode, token, env):
    if mode == "cert":
        client = APNs(client_cert=env["APNS_CERT_KEY_PEM"], use_sandbox=True, topic=env["APNS_TOPIC"])
    else:
        client = APNs(key=open(env["APNS_P8"]).read(), key_id=env["APNS_KEY_ID"], team_id=env["APNS_TEAM_ID"],
                      topic=env["APNS_TOPIC"], use_sandbox=True)
    result = await client.send_notification(NotificationRequest(
        device_token=token, message={"aps": {"alert": "drop-in " + mode}}))
    print(json.dumps({"ok": result.is_successful, "apns_id": result.notification_id,
                      "status": result.status, "reason": result.description}))

import os
asyncio.run(main(sys.argv[1], sys.argv[2], os.environ))
"""


@pytest.mark.parametrize("mode", ["cert", "p8"])
def test_aioapns_unpatched_reaches_the_simulator(drop_in: DropIn, tmp_path: Path, mode: str) -> None:
    """docs/drop-in.md §7: aioapns 4.0 as shipped (sandbox = api.development.push.apple.com:443), trusting the CA
    through SSL_CERT_FILE only, with a push certificate and with a .p8 key."""
    script = tmp_path / "client.py"
    script.write_text(AIOAPNS_CLIENT)
    proc = drop_in.in_namespace([sys.executable, str(script), mode, drop_in.token])
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ok"], result
    journey = drop_in.journey(result["apns_id"])
    assert journey["environment"] == "sandbox" and journey["status"] == 200


NODE_CLIENT = """
const apn = require("@parse/node-apn");
const fs = require("fs");
const env = process.env;
const mode = process.argv[2];
const options = mode === "cert"
  ? {cert: fs.readFileSync(env.APNS_CERT_PEM), key: fs.readFileSync(env.APNS_KEY_PEM), production: false}
  : {token: {key: env.APNS_P8, keyId: env.APNS_KEY_ID, teamId: env.APNS_TEAM_ID}, production: false};
const provider = new apn.Provider(options);
const note = new apn.Notification({alert: "drop-in node " + mode, topic: env.APNS_TOPIC});
provider.send(note, process.argv[3]).then((result) => {
  console.log(JSON.stringify(result));
  provider.shutdown();
});
"""


@pytest.mark.parametrize("mode", ["cert", "p8"])
def test_node_apn_unpatched_reaches_the_simulator(drop_in: DropIn, tmp_path: Path, mode: str) -> None:
    """docs/drop-in.md §7: @parse/node-apn with production: false and no host option, trusting the CA through
    NODE_EXTRA_CA_CERTS."""
    if not (NODE_APN / "node_modules" / "@parse" / "node-apn").is_dir():
        pytest.fail(f"@parse/node-apn is not installed in {NODE_APN}: run scripts/test-setup (npm ci)")
    script = tmp_path / "push.js"
    script.write_text(NODE_CLIENT)
    proc = drop_in.in_namespace(["node", str(script), mode, drop_in.token],
                                extra_env={"NODE_PATH": str(NODE_APN / "node_modules")})
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["failed"] == [] and [s["device"] for s in result["sent"]] == [drop_in.token], result
    notes = json.loads(urllib.request.urlopen(f"{drop_in.endpoints['admin']}/_sim/notifications").read())
    assert any(n["token"] == drop_in.token and n["status"] == 200 and n["environment"] == "sandbox"
               for n in notes)


def _curl(drop_in: DropIn, url: str, *credentials: str, extra: tuple[str, ...] = ()) -> tuple[int, dict[str, str]]:
    """Apple's documented command ("Sending push notifications using command-line tools"), host name unchanged."""
    argv = [CURL, "-sS", "-o", "/dev/stderr", "-w", "%{http_code}", "--header", f"apns-topic: {BUNDLE}",
            "--header", "apns-push-type: alert", *credentials, *extra,
            "--data", '{"aps":{"alert":"drop-in curl"}}', "--http2", url]
    proc = drop_in.in_namespace(argv)
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stderr) if proc.stderr.strip() else {}
    return int(proc.stdout), body


def test_curl_with_apples_commands_on_both_ports(drop_in: DropIn) -> None:
    """docs/drop-in.md §1: Apple's curl commands (certificate and token) on 443 and on 2197, trusting the CA
    through CURL_CA_BUNDLE; the sandbox token is known only to the sandbox host."""
    cert = ("--cert", drop_in.env["APNS_CERT"], "--cert-type", "DER", "--key", drop_in.env["APNS_KEY_PEM"],
            "--key-type", "PEM")
    token = ("--header", f"authorization: bearer {drop_in.bearer()}")
    for port in ("", ":2197"):
        for credentials in (cert, token):
            status, body = _curl(drop_in, f"https://api.sandbox.push.apple.com{port}/3/device/{drop_in.token}",
                                 *credentials)
            assert (status, body) == (200, {}), (port, credentials[0])
    # The environment follows the server name: production does not know a sandbox token, and vice versa.
    assert _curl(drop_in, f"https://api.push.apple.com/3/device/{drop_in.token}", *token) == (
        400, {"reason": "BadDeviceToken"})
    assert _curl(drop_in, f"https://api.push.apple.com:2197/3/device/{drop_in.production_token}", *token)[0] == 200


def test_authority_naming_the_other_environment_is_refused(drop_in: DropIn) -> None:
    """docs/drop-in.md §3: TLS names the sandbox host, :authority the production host: 403 Forbidden, recorded."""
    token = ("--header", f"authorization: bearer {drop_in.bearer()}")
    status, body = _curl(drop_in, f"https://api.sandbox.push.apple.com/3/device/{drop_in.token}", *token,
                         extra=("--header", "host: api.push.apple.com"))
    assert (status, body) == (403, {"reason": "Forbidden"})
    same_env = _curl(drop_in, f"https://api.sandbox.push.apple.com/3/device/{drop_in.token}", *token,
                     extra=("--header", "host: api.development.push.apple.com:443"))
    assert same_env == (200, {})


@pytest.mark.parametrize("url", ["https://localhost/3/device/00", "https://127.0.0.1:2197/3/device/00"])
def test_a_server_name_that_is_no_apple_host_is_refused(drop_in: DropIn, url: str) -> None:
    """docs/drop-in.md §3: "localhost" (a name our usual certificate has, but no Apple host) and no server name
    at all (an IP address) get the refusal certificate, which names no host: the client's check refuses it."""
    proc = subprocess.run([CURL, "-sS", "-v", "--http2", "--cacert", str(drop_in.data / "ca.pem"), url],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 60, proc  # CURLE_PEER_FAILED_VERIFICATION
    assert "pushsim: not an Apple push host name" in proc.stderr


def test_a_client_that_accepts_the_refusal_certificate_gets_goaway_forbidden(drop_in: DropIn) -> None:
    """docs/drop-in.md §3: a client dialling the refusal certificate's own name verifies it and connects, and
    is then refused by HTTP/2 GOAWAY {"reason":"Forbidden"} before any request is answered."""
    name = "unknown-server-name.pushsim.invalid"
    proc = subprocess.run([CURL, "-sS", "-v", "--http2", "--cacert", str(drop_in.data / "ca.pem"), "--connect-to",
                           f"{name}:443:127.0.0.1:443", f"https://{name}/3/device/00", "--data", "{}"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0 and "SSL certificate verify ok" in proc.stderr, proc.stderr
    assert "HTTP/2 200" not in proc.stderr and "GOAWAY" in proc.stderr.upper(), proc.stderr


def test_java_trusts_the_simulator_through_the_truststore_flags(drop_in: DropIn, tmp_path: Path) -> None:
    """docs/drop-in.md §4: the PKCS#12 truststore `apns-sim trust` writes, read by keytool with the printed
    password, holds the simulator's root as a trusted certificate entry (and the system's CAs after it)."""
    keytool = shutil.which("keytool")
    if keytool is None:
        pytest.fail("keytool (a JDK) is needed for the Java trust check: scripts/test-setup installs it")
    store = drop_in.data / "trust" / "truststore.p12"
    proc = subprocess.run([keytool, "-list", "-keystore", str(store), "-storetype", "PKCS12", "-storepass",
                           "changeit"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "pushsim-simulated-root-not-apple-0, " in proc.stdout and "trustedCertEntry" in proc.stdout


def test_php_trusts_the_simulator_through_php_ini_scan_dir(drop_in: DropIn) -> None:
    """docs/drop-in.md §4: PHP's openssl streams verify the sandbox host through the ini `apns-sim trust` adds."""
    if shutil.which("php") is None:
        pytest.fail("php (php-cli) is needed for the PHP trust check: scripts/test-setup installs it")
    code = ('$c = stream_socket_client("ssl://api.sandbox.push.apple.com:443", $n, $e, 10); '
            'echo $c ? "verified" : "failed: $e";')
    proc = drop_in.in_namespace(["php", "-r", code])
    assert proc.stdout == "verified", (proc.stdout, proc.stderr)


def _binary_log(drop_in: DropIn, token: str, alert: str) -> list[dict[str, Any]]:
    """The log's binary-interface notifications to ``token`` whose alert is ``alert``."""
    url = f"{drop_in.endpoints['admin']}/_sim/notifications?token={token}"
    with urllib.request.urlopen(url, timeout=10) as response:
        log = json.loads(response.read())
    return [n for n in log if n.get("interface") == "binary" and isinstance(n.get("payload"), dict)
            and n["payload"].get("aps", {}).get("alert") == alert]


async def _binary_send(drop_in: DropIn, server_name: str, token: str, alert: str, cert: str | None = None) -> bytes:
    """One command 2 frame to 127.0.0.1:2195 naming ``server_name`` in TLS; what came back within a second."""
    credentials = load_certificate_credentials(cert_file=cert or drop_in.env["APNS_CERT_PEM"],
                                               key_file=drop_in.env["APNS_KEY_PEM"])
    ctx = legacy.ssl_context(credentials, drop_in.env["APNS_CA_FILE"])
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", 2195, ssl=ctx, server_hostname=server_name)
    except (ConnectionError, ssl.SSLError):
        return b""  # cut during the handshake
    try:
        payload = json.dumps({"aps": {"alert": alert}}).encode()
        writer.write(legacy.encode(legacy.LegacyNotification(token=token, payload=payload, identifier=9,
                                                             expiry=int(time.time()) + 60)))
        try:
            await writer.drain()
            return await asyncio.wait_for(reader.read(6), 1.0)
        except TimeoutError:
            return b"silence"
        except (ConnectionError, ssl.SSLError):
            return b""  # cut: a reset rather than a close, depending on timing
    finally:
        writer.close()


def test_the_binary_interface_answers_under_apples_legacy_names(drop_in: DropIn, tmp_path: Path) -> None:
    """docs/drop-in.md §1, docs/legacy-binary.md §1: port 2195 serves both environments, chosen by the TLS
    server name: the sandbox name delivers a sandbox token in silence, the production name refuses it with
    status 8 (no such token in production), and a name of another interface is cut at once."""
    alert = f"binary drop-in {time.time()}"
    assert asyncio.run(_binary_send(drop_in, "gateway.sandbox.push.apple.com", drop_in.token, alert)) == b"silence"
    sent = _binary_log(drop_in, drop_in.token, alert)
    assert len(sent) == 1 and sent[0]["environment"] == "sandbox" and sent[0]["status"] == 200
    production = tmp_path / "aps.cer"  # a production certificate for the same key, from the same CSR
    run([*APNS_SIM, "portal", "--data-dir", str(drop_in.data), "cert", "issue", "--app-id", BUNDLE, "--csr",
         str(Path(drop_in.env["APNS_P12"]).parent / "Push.certSigningRequest"), "--environment", "production",
         "--out", str(production)])
    answer = asyncio.run(_binary_send(drop_in, "gateway.push.apple.com", drop_in.token, alert, str(production)))
    assert answer == bytes([8, 8]) + (9).to_bytes(4, "big"), answer
    assert asyncio.run(_binary_send(drop_in, "api.sandbox.push.apple.com", drop_in.token, alert)) == b""


PYAPNS_UNPATCHED = r"""
import json, os
import apns3 as apns

server = apns.APNs(use_sandbox=True, cert_file=os.environ["APNS_CERT_PEM"], key_file=os.environ["APNS_KEY_PEM"])
server.gateway_server.send_notification(os.environ["TOKEN"], apns.Payload(alert=os.environ["ALERT"]))
feedback = apns.APNs(use_sandbox=True, cert_file=os.environ["APNS_CERT_PEM"], key_file=os.environ["APNS_KEY_PEM"])
print(json.dumps({"gateway": server.gateway_server.server, "feedback": [t for t, _ in feedback.feedback_server.items()],
                  "feedback_host": feedback.feedback_server.server}))
"""


def test_pyapns_unpatched_reaches_the_simulator_on_its_hard_coded_hosts(drop_in: DropIn, tmp_path: Path) -> None:
    """docs/drop-in.md §1: PyAPNs (apns3) dials its own gateway.sandbox.push.apple.com:2195 and
    feedback.sandbox.push.apple.com:2196, sending no TLS server name (served as sandbox), and nothing is patched."""
    script = tmp_path / "pyapns_unpatched.py"
    script.write_text(PYAPNS_UNPATCHED)
    alert = f"PyAPNs drop-in {time.time()}"
    out = drop_in.in_namespace([sys.executable, str(script)], extra_env={"TOKEN": drop_in.token, "ALERT": alert})
    assert out.returncode == 0, out.stdout + out.stderr
    said = json.loads(out.stdout.strip().splitlines()[-1])
    assert said["gateway"] == "gateway.sandbox.push.apple.com"
    assert said["feedback_host"] == "feedback.sandbox.push.apple.com" and said["feedback"] == []
    for _ in range(50):  # the binary interface answers success with silence: look at the log
        sent = _binary_log(drop_in, drop_in.token, alert)
        if sent:
            break
        time.sleep(0.1)
    assert len(sent) == 1 and sent[0]["status"] == 200 and sent[0]["environment"] == "sandbox"


async def _push_then_wait_for_goaway(drop_in: DropIn, cert_pem: Path, revoke: list[str]) -> dict[str, Any]:
    """Push once with ``cert_pem`` on api.sandbox.push.apple.com:443, run ``revoke``, then wait for GOAWAY."""
    ctx = ssl.create_default_context(cafile=drop_in.env["APNS_CA_FILE"])
    ctx.load_cert_chain(str(cert_pem), drop_in.env["APNS_KEY_PEM"])
    ctx.set_alpn_protocols(["h2"])
    reader, writer = await asyncio.open_connection("127.0.0.1", 443, ssl=ctx,
                                                   server_hostname="api.sandbox.push.apple.com")
    conn = h2.connection.H2Connection()
    conn.initiate_connection()
    conn.send_headers(1, [(":method", "POST"), (":scheme", "https"), (":path", f"/3/device/{drop_in.token}"),
                          (":authority", "api.sandbox.push.apple.com"), ("apns-topic", BUNDLE)])
    conn.send_data(1, b'{"aps":{"alert":"before revocation"}}', end_stream=True)
    writer.write(conn.data_to_send())
    status, goaway = None, None
    try:
        deadline = time.monotonic() + 15
        while goaway is None and time.monotonic() < deadline:
            data = await asyncio.wait_for(reader.read(65536), deadline - time.monotonic())
            if not data:
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    status = dict(event.headers)[b":status"]
                    run(revoke)  # in another process, as a user would
                elif isinstance(event, h2.events.ConnectionTerminated):
                    goaway = event
            writer.write(conn.data_to_send())
    finally:
        writer.close()
    assert status == b"200" and goaway is not None, (status, goaway)
    return {"error_code": goaway.error_code, "data": json.loads(goaway.additional_data or b"null")}


def test_revoking_a_certificate_closes_its_drop_in_connections(drop_in: DropIn, tmp_path: Path) -> None:
    """docs/apns-protocol.md §7 "Revocation", docs/limits.md §1.6: a connection on Apple's host name is closed
    when its certificate is revoked, as on the simulator's own ports (the drop-in wrapper hides nothing)."""
    der = tmp_path / "second.cer"  # a second sandbox certificate for the same key, revoked by this test alone
    run([*APNS_SIM, "portal", "--data-dir", str(drop_in.data), "cert", "issue", "--app-id", BUNDLE, "--csr",
         str(Path(drop_in.env["APNS_P12"]).parent / "Push.certSigningRequest"), "--environment", "sandbox",
         "--out", str(der)])
    raw = der.read_bytes()
    cert = (x509.load_pem_x509_certificate(raw) if raw.startswith(b"-----")
            else x509.load_der_x509_certificate(raw))
    pem = tmp_path / "second.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    revoke = [*APNS_SIM, "portal", "--data-dir", str(drop_in.data), "cert", "revoke", str(cert.serial_number)]
    said = asyncio.run(_push_then_wait_for_goaway(drop_in, pem, revoke))
    assert said == {"error_code": 0, "data": {"reason": "BadCertificate"}}
