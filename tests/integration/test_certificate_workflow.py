"""The tutorial's certificate workflow from a shell, against a running simulator, checked with openssl and curl.

The files are made by the real commands (``apns-sim portal csr``, ``app-id create``, ``cert issue``, ``export``),
read back with openssl, and used by curl exactly as Apple documents certificate pushes (``curl --http2 --cert
--key --cacert -H apns-topic ...``) over mutual TLS; a simulated iPhone receives what is sent. The refusals
are the ones docs/apns-protocol.md §6 and docs/device-side.md §5 describe. Verification is never turned off
(STYLE habit 7): every client trusts only the simulator's ``ca.pem``.

What the provider API does with a bad client certificate (asserted below, documented in
``apns_sim.provider_api.service.ProviderService.connect`` and ``apns_sim.push.auth.certificate_identity``):

- from another CA: the TLS handshake fails (the server verifies the chain against its push CA), so no HTTP/2
  connection exists; curl reports a TLS alert, the provider client a transport error.
- revoked (portal) or expired (on the simulator's clock): the handshake succeeds (OpenSSL checks validity
  against real time, and knows nothing of revocation), then the server refuses the connection at once with
  GOAWAY, last stream 0, NO_ERROR, debug data ``{"reason":"BadCertificate"}`` (docs/apns-protocol.md §6: "expired /
  revoked cert: BadCertificate (403) or TLS failure"); no stream gets a response. The provider client turns
  that GOAWAY into ``Result(403, "BadCertificate")``; curl fails without a status line.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from apns_sim import pki
from apns_sim.simulator import Simulator
from device_sim import App, Phone
from provider.apns import (
    APNsClient,
    CredentialsError,
    Notification,
    TransportError,
    load_cer_and_p12,
    load_p12,
    load_pem_pair,
)

BUNDLE, TEAM, PW = "com.example.tutorial", "ABCDE12345", "pushchat"
APNS_SIM = [sys.executable, "-m", "apns_sim.cli"]
CURL = shutil.which("curl") or "curl"
pytestmark = pytest.mark.skipif(not (shutil.which("openssl") and shutil.which("curl")),
                                reason="needs the openssl and curl command-line tools")


def openssl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], capture_output=True, check=False, timeout=60)


def portal(data: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*APNS_SIM, "portal", "--data-dir", str(data), *args], capture_output=True, text=True,
                          timeout=60, check=False)
    if ok:
        assert proc.returncode == 0, f"{args}: {proc.stderr}"
    return proc


async def aportal(data: Path, *args: str) -> tuple[int, str, str]:
    """The portal CLI while the simulator runs in this event loop (so the loop keeps serving meanwhile)."""
    proc = await asyncio.create_subprocess_exec(*APNS_SIM, "portal", "--data-dir", str(data), *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@dataclass(frozen=True)
class Files:
    data: Path
    csr: Path
    p12: Path
    cer: Path
    cert_pem: Path
    key_pem: Path
    ck_pem: Path
    serial: int


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tutorial's steps, by the real commands: Keychain CSR + Push.p12, App ID, .cer, PEM export.

    Made once per module (a dozen CLI runs and an RSA key cost seconds); each test gets its own copy.
    """
    base = tmp_path_factory.mktemp("tutorial")
    data, keys, pem = base / "apns", base / "keys", base / "pem"
    portal(data, "--create", "csr", "--email", "dev@example.com", "--common-name", "Tutorial Dev", "--password",
           PW, "--out-dir", str(keys))
    portal(data, "app-id", "create", BUNDLE, "--team-id", TEAM)
    issued = json.loads(portal(data, "cert", "issue", "--app-id", BUNDLE, "--csr",
                               str(keys / "Push.certSigningRequest"), "--environment", "sandbox",
                               "--out", str(keys / "aps_development.cer"), "--json").stdout)
    portal(data, "export", "--cer", str(keys / "aps_development.cer"), "--p12", str(keys / "Push.p12"),
           "--password", PW, "--format", "pem", "--out-dir", str(pem))
    (base / "serial").write_text(issued["serial"])
    return base


@pytest.fixture
def files(template: Path, tmp_path: Path) -> Files:
    """This test's own copy of the tutorial's files and data dir (copies keep modes: keys stay 0600)."""
    for name in ("apns", "keys", "pem"):
        shutil.copytree(template / name, tmp_path / name)
    data, keys, pem = tmp_path / "apns", tmp_path / "keys", tmp_path / "pem"
    return Files(data, keys / "Push.certSigningRequest", keys / "Push.p12", keys / "aps_development.cer",
                 pem / "cert.pem", pem / "key.pem", pem / "ck.pem", int((template / "serial").read_text()))


@dataclass
class World:
    files: Files
    sim: Simulator
    app: App
    token: str

    @property
    def endpoints(self) -> dict[str, Any]:
        return self.sim.endpoints

    @property
    def port(self) -> int:
        return int(self.endpoints["sandbox"].rsplit(":", 1)[1])


@pytest.fixture
async def world(files: Files, tmp_path: Path) -> AsyncIterator[World]:
    """A running simulator on the files' data dir and an iPhone whose app registered for alert/sound/badge."""
    async with Simulator(files.data) as sim, Phone.open(sim.endpoints, state_dir=tmp_path / "iphone",
                                                        name="Test iPhone") as phone:
        app = phone.install_app(BUNDLE, environment="development", types=("alert", "sound", "badge"))
        token = await app.register()
        yield World(files, sim, app, token)


async def curl_push(world: World, *cert_args: str, alert: str = "hi",
                    url: str | None = None, extra: tuple[str, ...] = ()) -> tuple[int, dict[str, str], str]:
    """Apple's documented certificate command (A-SEND): (curl exit code, response headers, body + stderr)."""
    url = url or f"{world.endpoints['sandbox']}/3/device/{world.token}"
    proc = await asyncio.create_subprocess_exec(
        CURL, "-sS", "--max-time", "20", "-D", "-", "--http2", *cert_args, "--cacert", world.endpoints["ca_file"],
        "-H", f"apns-topic: {BUNDLE}", "-H", "apns-push-type: alert",
        "--data", json.dumps({"aps": {"alert": alert, "sound": "default", "badge": 2}}), *extra, url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    head, _, body = out.decode("utf-8", "replace").partition("\r\n\r\n")
    headers: dict[str, str] = {}
    for line in head.splitlines():
        if line.startswith("HTTP/"):
            headers[":status"], headers["version"] = line.split()[1], line.split()[0]
        elif ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    assert proc.returncode is not None
    return proc.returncode, headers, body + err.decode()


async def h2_first_frames(world: World, cert: Path, key: Path) -> list[h2.events.Event]:
    """Open one new mutual-TLS connection, send one push, and collect what the server answers (raw HTTP/2)."""
    ctx = ssl.create_default_context(cafile=world.endpoints["ca_file"])
    ctx.load_cert_chain(str(cert), str(key))
    ctx.set_alpn_protocols(["h2"])
    reader, writer = await asyncio.open_connection("127.0.0.1", world.port, ssl=ctx,
                                                   server_hostname="api.sandbox.push.apple.com")
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    conn.send_headers(1, [(":method", "POST"), (":scheme", "https"), (":authority", "api.sandbox.push.apple.com"),
                          (":path", f"/3/device/{world.token}"), ("apns-topic", BUNDLE)])
    conn.send_data(1, b'{"aps":{"alert":"refused?"}}', end_stream=True)
    writer.write(conn.data_to_send())
    got: list[h2.events.Event] = []
    try:
        while not any(isinstance(e, h2.events.ConnectionTerminated) for e in got):
            data = await asyncio.wait_for(reader.read(65536), 10)
            if not data:
                break
            try:
                got += conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                break
    finally:
        writer.close()
    return got


async def send(world: World, credentials: Any, alert: str) -> Any:
    async with APNsClient(credentials, environment="sandbox", endpoint=world.endpoints["sandbox"],
                          ca_file=world.endpoints["ca_file"], max_attempts=1) as client:
        return await client.send(Notification(token=world.token, topic=BUNDLE, payload={"aps": {"alert": alert}}))


def assert_bad_certificate_goaway(got: list[h2.events.Event]) -> None:
    (goaway,) = [e for e in got if isinstance(e, h2.events.ConnectionTerminated)]
    assert (goaway.error_code, goaway.last_stream_id) == (0, 0)
    assert json.loads(goaway.additional_data or b"") == {"reason": "BadCertificate"}
    assert not [e for e in got if isinstance(e, h2.events.ResponseReceived)]


# -- the files, read by openssl ----------------------------------------------------------------------------


def test_openssl_reads_every_file_of_the_workflow(files: Files) -> None:
    """docs/device-side.md §5 steps 1-5; docs/apns-protocol.md §6 (subject, environment OID, issuer chain)."""
    req = openssl("req", "-in", str(files.csr), "-verify", "-noout", "-subject")
    assert req.returncode == 0 and b"verify OK" in req.stderr, req.stderr
    assert b"CN = Tutorial Dev" in req.stdout
    p12 = openssl("pkcs12", "-info", "-in", str(files.p12), "-passin", f"pass:{PW}", "-nodes")
    assert p12.returncode == 0, p12.stderr
    assert b"BEGIN PRIVATE KEY" in p12.stdout and b"BEGIN CERTIFICATE" not in p12.stdout  # key only
    cer = openssl("x509", "-inform", "DER", "-in", str(files.cer), "-noout", "-text")
    assert cer.returncode == 0, cer.stderr
    assert f"UID = {BUNDLE}, CN = Apple Development IOS Push Services: {BUNDLE}, OU = {TEAM}".encode() in cer.stdout
    assert b"1.2.840.113635.100.6.3.1:" in cer.stdout and b"1.2.840.113635.100.6.3.2:" not in cer.stdout
    assert b"TLS Web Client Authentication" in cer.stdout
    pem = openssl("x509", "-in", str(files.cert_pem), "-noout", "-fingerprint", "-sha256")
    der = openssl("x509", "-inform", "DER", "-in", str(files.cer), "-noout", "-fingerprint", "-sha256")
    assert pem.returncode == 0 and pem.stdout == der.stdout  # cert.pem is the .cer, re-encoded
    key = openssl("pkey", "-in", str(files.key_pem), "-noout", "-text")
    assert key.returncode == 0 and b"Private-Key: (2048 bit" in key.stdout
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in (files.p12, files.key_pem, files.ck_pem))
    chain = openssl("verify", "-purpose", "sslclient", "-CAfile", str(files.data / "ca.pem"),
                    "-untrusted", str(files.data / "push-ca.pem"), str(files.cert_pem))
    assert chain.returncode == 0, chain.stdout + chain.stderr  # the simulated WWDR CA under the one root


def test_combined_p12_export_read_by_openssl(files: Files, tmp_path: Path) -> None:
    """§5 step 5 (``openssl pkcs12 -export``): one .p12 for Java-style providers; its password opens it."""
    out = tmp_path / "p12"
    result = json.loads(portal(files.data, "export", "--cer", str(files.cer), "--p12", str(files.p12), "--password",
                               PW, "--format", "p12", "--out-password", "java-pw", "--out-dir", str(out),
                               "--json").stdout)
    combined = Path(result["files"]["combined"])
    info = openssl("pkcs12", "-in", str(combined), "-passin", "pass:java-pw", "-nodes")
    assert info.returncode == 0, info.stderr
    assert b"BEGIN CERTIFICATE" in info.stdout and b"BEGIN PRIVATE KEY" in info.stdout
    assert f"Apple Development IOS Push Services: {BUNDLE}".encode() in info.stdout
    assert load_p12(combined, "java-pw").certificate == x509.load_der_x509_certificate(files.cer.read_bytes())


# -- pushes over mutual TLS ----------------------------------------------------------------------------------


async def test_curl_pushes_with_the_exported_pem(world: World) -> None:
    """A-SEND's certificate curl command with the exported cert.pem/key.pem: 200, and the phone gets it (§2, §6)."""
    f = world.files
    code, headers, body = await curl_push(world, "--cert", str(f.cert_pem), "--key", str(f.key_pem),
                                          alert="curl with cert.pem + key.pem")
    assert code == 0, body
    assert (headers["version"], headers[":status"]) == ("HTTP/2", "200")
    received = await world.app.next_notification(timeout=10)
    assert received.apns_id == headers["apns-id"].lower()
    assert received.payload["aps"]["alert"] == "curl with cert.pem + key.pem"
    assert received.presentation.badge == 2 and received.presentation.sound == "default"


async def test_curl_with_ck_pem_by_apple_host_name(world: World) -> None:
    """ck.pem alone (cert + key), aimed at api.sandbox.push.apple.com resolved to the simulator (§1 host names)."""
    host = f"api.sandbox.push.apple.com:{world.port}"
    code, headers, body = await curl_push(
        world, "--cert", str(world.files.ck_pem), alert="ck.pem by name",
        url=f"https://{host}/3/device/{world.token}", extra=("--resolve", f"{host}:127.0.0.1"))
    assert code == 0 and headers[":status"] == "200", body
    assert (await world.app.next_notification(timeout=10)).payload["aps"]["alert"] == "ck.pem by name"


async def test_provider_pushes_with_the_tutorial_pair_and_the_pem(world: World) -> None:
    """The provider accepts .cer + Push.p12 and the converted PEM alike (DESIGN contract 4, §6)."""
    f = world.files
    for credentials in (load_cer_and_p12(f.cer, f.p12, PW), load_pem_pair(f.cert_pem, f.key_pem)):
        result = await send(world, credentials, "from the provider")
        assert (result.status, result.reason) == (200, None)
        assert (await world.app.next_notification(timeout=10)).apns_id == result.apns_id


# -- refusals ------------------------------------------------------------------------------------------------


def test_wildcard_app_id_cannot_get_a_push_certificate(files: Files) -> None:
    """docs/apns-protocol.md §6, docs/device-side.md §5 item 6: a wildcard App ID exists, but push needs an explicit
    one."""
    created = portal(files.data, "app-id", "create", "com.example.*", "--team-id", TEAM)
    assert "gets no Push Notifications capability" in created.stdout
    refused = portal(files.data, "cert", "issue", "--app-id", "com.example.*", "--csr", str(files.csr),
                     "--environment", "sandbox", "--out", str(files.data / "wild.cer"), ok=False)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "wildcard App ID" in refused.stderr and "explicit App ID" in refused.stderr
    assert "topic" in refused.stderr  # the reason: APNs routes by the exact bundle id
    assert not (files.data / "wild.cer").exists()


def test_wrong_p12_password_is_refused_everywhere(files: Files, tmp_path: Path) -> None:
    """docs/device-side.md §5 step 2: the .p12's password; openssl, the portal export and the provider all refuse."""
    assert openssl("pkcs12", "-in", str(files.p12), "-passin", "pass:wrong", "-nodes").returncode != 0
    proc = portal(files.data, "export", "--cer", str(files.cer), "--p12", str(files.p12), "--password", "wrong",
                  "--format", "pem", "--out-dir", str(tmp_path / "never"), ok=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "apns-sim portal export: error: Push.p12: wrong password for the .p12 file; use the password chosen when it "
        "was exported."]
    assert not (tmp_path / "never").exists()
    with pytest.raises(CredentialsError, match="wrong password"):
        load_cer_and_p12(files.cer, files.p12, "wrong")


def test_csr_signed_by_a_different_key_is_refused(files: Files, tmp_path: Path) -> None:
    """Issue 4 / §6: the portal verifies the CSR's self-signature, as ``openssl req -verify`` does."""
    mine, signer = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tutorial Dev")])
    signed = x509.CertificateSigningRequestBuilder().subject_name(name).sign(signer, hashes.SHA256())

    def spki(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)

    # The request names my key, but another key signed it (P-256 public keys have one length: same DER size).
    forged = tmp_path / "forged.certSigningRequest"
    forged.write_bytes(signed.public_bytes(serialization.Encoding.DER).replace(spki(signer), spki(mine)))
    assert x509.load_der_x509_csr(forged.read_bytes()).public_key() == mine.public_key()
    check = openssl("req", "-inform", "DER", "-in", str(forged), "-verify", "-noout")
    # openssl agrees it is forged (OpenSSL 3.0 still exits 0 here, so read what it says)
    assert b"verify failure" in check.stderr and b"verify OK" not in check.stderr, check.stderr
    proc = portal(files.data, "cert", "issue", "--app-id", BUNDLE, "--csr", str(forged), "--environment", "sandbox",
                  "--out", str(tmp_path / "x.cer"), ok=False)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "signature does not verify" in proc.stderr
    assert not (tmp_path / "x.cer").exists()


async def test_revoked_certificate_is_refused_on_new_connections(world: World) -> None:
    """§6 "Expired/revoked cert: BadCertificate (403) or TLS failure": revoked in the portal while the simulator
    runs (DESIGN contract 2: a running server sees changes at once); the next connection gets GOAWAY
    BadCertificate, the provider client reports 403 BadCertificate, curl gets no response."""
    f = world.files
    before = await send(world, load_pem_pair(f.cert_pem, f.key_pem), "before revocation")
    assert before.status == 200
    code, out, err = await aportal(f.data, "cert", "revoke", str(f.serial))
    assert code == 0, err
    assert "Revoked push certificate" in out and "BadCertificate" in out
    assert_bad_certificate_goaway(await h2_first_frames(world, f.cert_pem, f.key_pem))
    after = await send(world, load_pem_pair(f.cert_pem, f.key_pem), "after revocation")
    assert (after.status, after.reason) == (403, "BadCertificate")
    curl_code, headers, body = await curl_push(world, "--cert", str(f.cert_pem), "--key", str(f.key_pem))
    assert curl_code != 0 and ":status" not in headers, body
    assert world.sim.state is not None
    journeys = world.sim.state.journeys.list(token=world.token)
    assert [j.status for j in journeys] == [200]  # only the push before revocation reached a stream


async def test_expired_certificate_is_refused(world: World) -> None:
    """§6: a certificate past not_after (one year, measured on the simulator clock) is BadCertificate."""
    f = world.files
    assert world.sim.state is not None
    assert (await send(world, load_pem_pair(f.cert_pem, f.key_pem), "still valid")).status == 200
    world.sim.state.clock.advance_by(timedelta(days=366))
    assert_bad_certificate_goaway(await h2_first_frames(world, f.cert_pem, f.key_pem))
    result = await send(world, load_pem_pair(f.cert_pem, f.key_pem), "a year later")
    assert (result.status, result.reason) == (403, "BadCertificate")
    curl_code, headers, body = await curl_push(world, "--cert", str(f.cert_pem), "--key", str(f.key_pem))
    assert curl_code != 0 and ":status" not in headers, body


async def test_certificate_from_another_ca_is_refused_at_tls(world: World, tmp_path: Path) -> None:
    """§6 and pki: the provider API trusts only its own push CA, so an Apple-shaped certificate from another
    authority (here: another simulator's) fails the TLS handshake; no HTTP/2 connection, no journey."""
    assert world.sim.state is not None
    other = pki.create_authority(world.sim.state.clock.now())
    rogue = pki.issue_push_certificate(other, world.files.csr.read_bytes(), bundle_id=BUNDLE, team_id=TEAM,
                                       environment="sandbox", now=world.sim.state.clock.now())
    rogue_pem = tmp_path / "rogue.pem"
    rogue_pem.write_bytes(pki.cert_to_pem(rogue))
    # Control: the same command without a client certificate gets through TLS (a token client) and an answer.
    curl_code, headers, body = await curl_push(world)
    assert (curl_code, headers.get(":status")) == (0, "403") and "MissingProviderToken" in body, body
    seen = len(world.sim.state.journeys.list(token=world.token))
    creds = ("--cert", str(rogue_pem), "--key", str(world.files.key_pem))
    # TLS 1.2: the handshake itself fails (curl exit 35, SSL connect error).
    curl_code, headers, body = await curl_push(world, *creds, extra=("--tls-max", "1.2"))
    assert curl_code == 35 and ":status" not in headers, (curl_code, body)
    # TLS 1.3 checks the client certificate after the client's Finished, so curl may already have written
    # its request when the server drops the connection: the exit code varies (18, 55, 56...), never an answer.
    curl_code, headers, body = await curl_push(world, *creds)
    assert curl_code != 0 and ":status" not in headers, (curl_code, body)
    with pytest.raises(TransportError):
        await send(world, load_pem_pair(rogue_pem, world.files.key_pem), "from a stranger")
    with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
        got = await h2_first_frames(world, rogue_pem, world.files.key_pem)
        if not got:
            raise ConnectionError("closed without a frame")  # TLS 1.3: the alert may surface as a plain close
    assert len(world.sim.state.journeys.list(token=world.token)) == seen  # no request ever reached a stream
