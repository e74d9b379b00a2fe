"""The provider API over real TLS and HTTP/2 on 127.0.0.1, driven by third-party clients.

curl (Apple's own documented commands, certificate and token variants), aioapns 4.0 in both modes (pointed at
the simulator by patching only host, port and trust, as docs/architecture.md says a real client needs), and a small raw
``h2`` client where we need to see frames (GOAWAY). Certificates come from the simulator's portal and CA at
test time; verification is never turned off (STYLE habit 7). Sections cited are those of
docs/apns-protocol.md.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import jwt
import pytest
from aioapns import APNs, NotificationRequest
from aioapns.connection import APNsDevelopmentClientProtocol
from cryptography import x509

from apns_sim import pki
from apns_sim.portal.service import Portal
from apns_sim.provider_api.listener import ProviderApiServer
from apns_sim.state import SimConfig, SimState

BUNDLE = "com.example.app"
TEAM = "TEAM123456"
PAYLOAD = '{"aps":{"alert":"hi"}}'
CURL = "/usr/bin/curl"


@dataclass
class Setup:
    state: SimState
    sandbox: ProviderApiServer
    production: ProviderApiServer
    token: str
    cert_pem: Path  # sandbox push certificate (PEM)
    key_pem: Path  # its private key, from the Keychain-style .p12
    both_pem: Path  # certificate + key in one file (what aioapns loads)
    key_id: str
    p8: bytes

    @property
    def ca(self) -> Path:
        return self.state.ca_file

    def bearer(self) -> str:
        return jwt.encode({"iss": TEAM, "iat": int(self.state.clock.time())}, self.p8, algorithm="ES256",
                          headers={"kid": self.key_id})

    def client_context(self, cert: Path | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        if cert is not None:
            ctx.load_cert_chain(str(cert))
        return ctx


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    state = SimState(tmp_path / "sim")
    portal = Portal(state.registry, state.authority, state.clock.now)
    portal.create_app_id(BUNDLE, TEAM)
    request = portal.make_csr("dev@example.com", "Push Demo", "secret")  # what Keychain Access does
    cert = x509.load_der_x509_certificate(portal.issue_certificate(BUNDLE, request.csr_pem, "sandbox").der)
    key, _ = pki.load_p12(request.p12, "secret")
    cert_pem, key_pem, both = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "both.pem"
    cert_pem.write_bytes(pki.cert_to_pem(cert))
    pki.write_private(key_pem, pki.key_to_pem(key))
    pki.write_private(both, pki.cert_to_pem(cert) + pki.key_to_pem(key))
    created = portal.create_auth_key(TEAM)
    now = state.clock.now()
    state.registry.activate_device("dev-1", "iPhone", now)
    token = state.registry.app_token("dev-1", BUNDLE, "sandbox", now).token
    sandbox, production = ProviderApiServer(state, "sandbox"), ProviderApiServer(state, "production")
    await sandbox.start("127.0.0.1", 0)
    await production.start("127.0.0.1", 0)
    yield Setup(state, sandbox, production, token, cert_pem, key_pem, both, created.key_id, created.p8)
    await production.close()
    await sandbox.close()
    state.close()


async def _curl(*args: str) -> tuple[int, dict[str, str], str]:
    """Run curl; returns (exit code, response headers of the last response, body)."""
    proc = await asyncio.create_subprocess_exec(
        CURL, "-sS", "--max-time", "20", "-D", "-", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    text = out.decode("utf-8", "replace")
    head, _, body = text.partition("\r\n\r\n")
    headers: dict[str, str] = {}
    for line in head.splitlines():
        if line.startswith("HTTP/"):
            headers[":status"] = line.split()[1]
            headers["version"] = line.split()[0]
        elif ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    assert proc.returncode is not None
    return proc.returncode, headers, body + err.decode()


async def test_curl_with_certificate(setup: Setup) -> None:
    """§2 (A-SEND sample): curl --http2 --cert/--key, apns-topic, JSON body: 200 with an apns-id."""
    code, headers, body = await _curl(
        "--http2", "--cert", str(setup.cert_pem), "--key", str(setup.key_pem), "--cacert", str(setup.ca),
        "-H", f"apns-topic: {BUNDLE}", "-H", "apns-push-type: alert", "-d", PAYLOAD,
        f"{setup.sandbox.url}/3/device/{setup.token}")
    assert code == 0, body
    assert headers["version"] == "HTTP/2" and headers[":status"] == "200"
    apns_id = headers["apns-id"]
    assert uuid.UUID(apns_id) and "apns-unique-id" in headers
    journey = setup.state.journeys.get(apns_id)
    assert journey is not None and journey.token == setup.token and journey.payload == json.loads(PAYLOAD)
    assert [s["stage"] for s in journey.stages][:2] == ["accepted", "stored"]  # the phone is offline


async def test_curl_certificate_default_topic_and_errors(setup: Setup) -> None:
    """§6: a single-topic certificate needs no apns-topic; §4.1: errors are JSON with the echoed apns-id."""
    base = ["--http2", "--cert", str(setup.cert_pem), "--key", str(setup.key_pem), "--cacert", str(setup.ca)]
    code, headers, _ = await _curl(*base, "-d", PAYLOAD, f"{setup.sandbox.url}/3/device/{setup.token}")
    assert (code, headers[":status"]) == (0, "200")
    apns_id = str(uuid.uuid4())
    code, headers, body = await _curl(*base, "-H", f"apns-id: {apns_id}", "-d", PAYLOAD,
                                      f"{setup.sandbox.url}/3/device/{'00' * 32}")
    assert headers[":status"] == "400" and headers["apns-id"] == apns_id
    assert headers["content-type"] == "application/json" and json.loads(body) == {"reason": "BadDeviceToken"}
    journey = setup.state.journeys.get(apns_id)
    assert journey is not None and journey.reason == "BadDeviceToken" and journey.stages[0]["stage"] == "rejected"


async def test_curl_with_provider_token(setup: Setup) -> None:
    """§5 (A-TOKEN): Apple's token command: no client certificate, authorization: bearer <JWT>."""
    code, headers, body = await _curl(
        "--http2", "--cacert", str(setup.ca), "-H", f"apns-topic: {BUNDLE}", "-H", "apns-push-type: alert",
        "-H", f"authorization: bearer {setup.bearer()}", "-d", PAYLOAD,
        f"{setup.sandbox.url}/3/device/{setup.token}")
    assert code == 0, body
    assert headers[":status"] == "200"
    code, headers, body = await _curl(
        "--http2", "--cacert", str(setup.ca), "-H", f"apns-topic: {BUNDLE}", "-d", PAYLOAD,
        f"{setup.sandbox.url}/3/device/{setup.token}")
    assert headers[":status"] == "403" and json.loads(body) == {"reason": "MissingProviderToken"}


async def test_http1_is_refused(setup: Setup) -> None:
    """§1: HTTP/2 only; an HTTP/1.1 request gets no HTTP/1.1 answer."""
    code, headers, _ = await _curl("--http1.1", "--cacert", str(setup.ca), "-d", PAYLOAD,
                                   f"{setup.sandbox.url}/3/device/{setup.token}")
    assert code != 0 or headers.get(":status") != "200"


def _aioapns(setup: Setup, **credentials: Any) -> APNs:
    """aioapns aimed at the simulator: only host, port and trust differ from Apple (docs/architecture.md)."""

    class Local(APNsDevelopmentClientProtocol):
        APNS_SERVER = "127.0.0.1"
        APNS_PORT = setup.sandbox.port

    client = APNs(topic=BUNDLE, use_sandbox=True, ssl_context=setup.client_context(), **credentials)
    client.pool.protocol_class = Local
    return client


@pytest.mark.parametrize("mode", ["certificate", "token"])
async def test_aioapns(setup: Setup, mode: str) -> None:
    """§5, §6: a widely used third-party client, in certificate and token mode, gets 200s and Apple's errors."""
    if mode == "certificate":
        client = _aioapns(setup, client_cert=str(setup.both_pem))
    else:
        client = _aioapns(setup, key=setup.p8.decode(), key_id=setup.key_id, team_id=TEAM)
    try:
        first = NotificationRequest(device_token=setup.token, message={"aps": {"alert": "hi"}})
        result = await asyncio.wait_for(client.send_notification(first), 20)
        assert result.is_successful, (result.status, result.description)
        more = [NotificationRequest(device_token=setup.token, message={"aps": {"badge": i}}) for i in range(20)]
        results = await asyncio.wait_for(asyncio.gather(*(client.send_notification(r) for r in more)), 20)
        assert all(r.is_successful for r in results)
        bad = NotificationRequest(device_token="00" * 32, message={"aps": {"alert": "hi"}})
        result = await asyncio.wait_for(client.send_notification(bad), 20)
        assert (result.status, result.description) == ("400", "BadDeviceToken")
    finally:
        client.pool.close()
    journey = setup.state.journeys.get(first.notification_id)
    assert journey is not None and journey.status == 200


async def _h2_session(port: int, ctx: ssl.SSLContext, requests: list[list[tuple[str, str]]], *,
                      body: bytes = PAYLOAD.encode()) -> list[h2.events.Event]:
    """A raw h2 client: send the requests, collect events until all are answered or the server says GOAWAY."""
    ctx.set_alpn_protocols(["h2"])
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                                   server_hostname="api.sandbox.push.apple.com")
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    open_streams: set[int] = set()
    for headers in requests:
        sid = conn.get_next_available_stream_id()
        open_streams.add(sid)
        conn.send_headers(sid, [(":method", "POST"), (":scheme", "https"), (":authority", "api.sandbox.push.apple.com"),
                                *headers])
        conn.send_data(sid, body, end_stream=True)
    writer.write(conn.data_to_send())
    got: list[h2.events.Event] = []
    try:
        while True:
            data = await asyncio.wait_for(reader.read(65536), 10)
            if not data:
                break
            try:
                got += conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                break
            writer.write(conn.data_to_send())
            open_streams -= {e.stream_id for e in got if isinstance(e, h2.events.StreamEnded | h2.events.StreamReset)}
            if not open_streams or any(isinstance(e, h2.events.ConnectionTerminated) for e in got):
                break
    finally:
        writer.close()
    return got


async def test_wrong_environment_certificate_gets_goaway(setup: Setup) -> None:
    """§6 (I-apns2-93): a sandbox certificate on production gets GOAWAY, NO_ERROR, BadCertificateEnvironment."""
    got = await _h2_session(setup.production.port, setup.client_context(setup.both_pem),
                            [[(":path", f"/3/device/{setup.token}"), ("apns-topic", BUNDLE)]])
    (goaway,) = [e for e in got if isinstance(e, h2.events.ConnectionTerminated)]
    assert (goaway.error_code, goaway.last_stream_id) == (0, 0)
    assert json.loads(goaway.additional_data or b"") == {"reason": "BadCertificateEnvironment"}
    assert not [e for e in got if isinstance(e, h2.events.ResponseReceived)]


async def test_graceful_close_sends_shutdown(setup: Setup) -> None:
    """§4.3, §7: closing the server sends GOAWAY {"reason":"Shutdown"} to connected providers."""
    ctx = setup.client_context(setup.both_pem)
    ctx.set_alpn_protocols(["h2"])
    reader, writer = await asyncio.open_connection("127.0.0.1", setup.sandbox.port, ssl=ctx,
                                                   server_hostname="api.sandbox.push.apple.com")
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    writer.write(conn.data_to_send())
    got: list[h2.events.Event] = conn.receive_data(await asyncio.wait_for(reader.read(65536), 10))
    closing = asyncio.create_task(setup.sandbox.close())
    while not any(isinstance(e, h2.events.ConnectionTerminated) for e in got):
        data = await asyncio.wait_for(reader.read(65536), 10)
        assert data, "closed without GOAWAY"
        got += conn.receive_data(data)
    (goaway,) = [e for e in got if isinstance(e, h2.events.ConnectionTerminated)]
    assert json.loads(goaway.additional_data or b"") == {"reason": "Shutdown"}
    writer.close()
    await closing


async def test_broken_connection_does_not_disturb_others(setup: Setup) -> None:
    """§7: garbage on one connection ends that connection only; the server keeps answering."""
    ctx = setup.client_context()
    ctx.set_alpn_protocols(["h2"])
    reader, writer = await asyncio.open_connection("127.0.0.1", setup.sandbox.port, ssl=ctx,
                                                   server_hostname="localhost")
    # a SETTINGS frame one byte long: a connection error (FRAME_SIZE_ERROR), RFC 9113 §6.5
    writer.write(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x01\x04\x00\x00\x00\x00\x00\x00")
    await asyncio.wait_for(reader.read(), 10)  # the server answers (GOAWAY) and closes
    writer.close()
    got = await _h2_session(setup.sandbox.port, setup.client_context(setup.both_pem),
                            [[(":path", f"/3/device/{setup.token}"), ("apns-topic", BUNDLE)]])
    statuses = [v for e in got if isinstance(e, h2.events.ResponseReceived) for k, v in e.headers
                if str(k) == ":status"]
    assert statuses == ["200"]


async def test_idle_connection_gets_goaway_idle_timeout(tmp_path: Path) -> None:
    """§4.3, §7: an idle provider connection is closed with GOAWAY {"reason":"IdleTimeout"} (timeout: a knob)."""
    state = SimState(tmp_path, SimConfig(idle_timeout=0.3))
    server = ProviderApiServer(state, "sandbox")
    await server.start("127.0.0.1", 0)
    try:
        ctx = ssl.create_default_context(cafile=str(state.ca_file))
        ctx.set_alpn_protocols(["h2"])
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port, ssl=ctx,
                                                       server_hostname="api.sandbox.push.apple.com")
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        got: list[h2.events.Event] = []
        while not any(isinstance(e, h2.events.ConnectionTerminated) for e in got):
            data = await asyncio.wait_for(reader.read(65536), 10)
            assert data, "closed without GOAWAY"
            got += conn.receive_data(data)
            writer.write(conn.data_to_send())
        (goaway,) = [e for e in got if isinstance(e, h2.events.ConnectionTerminated)]
        assert json.loads(goaway.additional_data or b"") == {"reason": "IdleTimeout"}
        assert await asyncio.wait_for(reader.read(), 10) == b""  # and the server hangs up
        writer.close()
    finally:
        await server.close()
        state.close()
