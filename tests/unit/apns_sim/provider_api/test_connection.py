"""The provider API's HTTP/2 core, driven by an in-memory ``h2`` client: bytes in, bytes out, no sockets.

STYLE habit 8 ("test bytes before sockets"). The server side is the real thing (ProviderService over a
SimState in a temporary directory); the client is a plain ``h2`` client connection pumped by hand.
Sections cited are those of docs/apns-protocol.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hyperframe.frame import Frame, GoAwayFrame, HeadersFrame, RstStreamFrame

from apns_sim.model.clock import Clock
from apns_sim.portal.service import Portal
from apns_sim.provider_api.connection import CONNECTION_WINDOW, ProviderConnection
from apns_sim.provider_api.service import ProviderService
from apns_sim.push.reasons import Reason
from apns_sim.push.request import Accepted, Outcome, PushRequest, Rejection
from apns_sim.state import SimConfig, SimState

BUNDLE = "com.example.app"
TEAM = "TEAM123456"
APNS_ID = "4a5f9c8e-1b2d-4e3f-8a9b-0c1d2e3f4a5b"
UUID_UPPER = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")
S = h2.settings.SettingCodes


class World:
    """A simulator state with one App ID, one auth key, one device token per environment and a cert."""

    def __init__(self, tmp_path: Path, config: SimConfig | None = None) -> None:
        clock = Clock()
        clock.freeze()
        self.state = SimState(tmp_path, config, clock=clock)
        portal = Portal(self.state.registry, self.state.authority, clock.now)
        portal.create_app_id(BUNDLE, TEAM)
        created = portal.create_auth_key(TEAM)
        self.key_id, self.p8 = created.key_id, created.p8
        reg, now = self.state.registry, clock.now()
        reg.activate_device("dev-1", "iPhone", now)
        self.token = reg.app_token("dev-1", BUNDLE, "sandbox", now).token
        self.prod_token = reg.app_token("dev-1", BUNDLE, "production", now).token
        key = ec.generate_private_key(ec.SECP256R1())
        csr = x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "provider")])).sign(key, hashes.SHA256())
        csr_pem = csr.public_bytes(serialization.Encoding.PEM)
        self.sandbox_cert = portal.issue_certificate(BUNDLE, csr_pem, "sandbox").der
        self.production_cert = portal.issue_certificate(BUNDLE, csr_pem, "production").der

    def bearer(self, iat: float | None = None) -> str:
        claims = {"iss": TEAM, "iat": int(self.state.clock.time() if iat is None else iat)}
        return "bearer " + jwt.encode(claims, self.p8, algorithm="ES256", headers={"kid": self.key_id})

    def connect(self, env: str = "sandbox", cert: bytes | None = None, *, pump: bool = True) -> Client:
        return Client(ProviderService(self.state, env).connect(cert, "h2"), pump=pump)


class Client:
    """An h2 client wired to the server core in memory."""

    def __init__(self, core: ProviderConnection, *, pump: bool = True) -> None:
        self.core = core
        config = h2.config.H2Configuration(client_side=True, header_encoding=None,
                                           validate_outbound_headers=False, normalize_outbound_headers=False)
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.initiate_connection()
        self.events: list[h2.events.Event] = []
        if pump:
            self.pump()

    def pump(self) -> None:
        for _ in range(10):
            data = self.conn.data_to_send()
            if data:
                self.core.receive_data(data)
            out = self.core.data_to_send()
            if not data and not out:
                return
            if out:
                self.events += self.conn.receive_data(out)

    def send(self, token: str, *, headers: list[tuple[str, str]] | None = None, body: bytes = b'{"aps":{}}',
             end: bool = True, raw: list[tuple[bytes, bytes]] | None = None) -> int:
        sid = self.conn.get_next_available_stream_id()
        block = raw if raw is not None else [
            (b":method", b"POST"), (b":scheme", b"https"), (b":path", f"/3/device/{token}".encode()),
            (b":authority", b"api.sandbox.push.apple.com")] + [(n.encode(), v.encode()) for n, v in headers or []]
        self.conn.send_headers(sid, block, end_stream=not body and end)
        if body:
            self.conn.send_data(sid, body, end_stream=end)
        return sid

    def of(self, sid: int, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind) and getattr(e, "stream_id", None) == sid]

    def response(self, sid: int) -> tuple[dict[str, str], list[bytes]]:
        (resp,) = self.of(sid, h2.events.ResponseReceived)
        headers = {k.decode(): v.decode() for k, v in resp.headers}
        return headers, [e.data for e in self.of(sid, h2.events.DataReceived)]

    def goaway(self) -> h2.events.ConnectionTerminated:
        (event,) = [e for e in self.events if isinstance(e, h2.events.ConnectionTerminated)]
        return event


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.state.close()


def test_settings_as_apple_advertises(world: World) -> None:
    """§7: HEADER_TABLE_SIZE 4096, MAX_HEADER_LIST_SIZE 8000, one stream on a token connection; big window."""
    client = world.connect()
    remote = client.conn.remote_settings
    assert (remote.header_table_size, remote.max_header_list_size, remote.max_concurrent_streams) == (4096, 8000, 1)
    assert client.conn.outbound_flow_control_window == CONNECTION_WINDOW


def test_certificate_connection_gets_the_full_limit_at_once(world: World) -> None:
    """§5, §7: only token connections start at one stream; certificate connections get the limit."""
    client = world.connect(cert=world.sandbox_cert)
    assert client.conn.remote_settings.max_concurrent_streams == 1000


def test_success_headers(world: World) -> None:
    """§4.1: 200 with the echoed apns-id and, in sandbox, apns-unique-id; END_STREAM on HEADERS, no body."""
    client = world.connect(cert=world.sandbox_cert)
    sid = client.send(world.token, headers=[("apns-id", APNS_ID)])
    client.pump()
    headers, data = client.response(sid)
    assert headers[":status"] == "200" and headers["apns-id"] == APNS_ID
    assert re.fullmatch(r"[0-9a-f-]{36}", headers["apns-unique-id"])
    assert data == [] and client.of(sid, h2.events.ResponseReceived)[0].stream_ended is not None
    journey = world.state.journeys.get(APNS_ID)
    assert journey is not None and journey.status == 200 and journey.stages[0]["stage"] == "accepted"


def test_no_unique_id_in_production(world: World) -> None:
    """§4.1 (A-RESP): apns-unique-id is a development-environment header only."""
    client = world.connect("production", cert=world.production_cert)
    sid = client.send(world.prod_token)
    client.pump()
    headers, _ = client.response(sid)
    assert headers[":status"] == "200" and "apns-unique-id" not in headers


def test_generated_apns_id_is_an_uppercase_uuid(world: World) -> None:
    """§2.1, §4.1: without apns-id, APNs answers with a new UUID (seen in upper case)."""
    client = world.connect(cert=world.sandbox_cert)
    sid = client.send(world.token)
    client.pump()
    headers, _ = client.response(sid)
    assert UUID_UPPER.fullmatch(headers["apns-id"])
    assert world.state.journeys.get(headers["apns-id"]) is not None


def test_error_body_in_one_data_frame(world: World) -> None:
    """§4.1: error = HEADERS (:status, content-type json, apns-id) then ONE DATA {"reason"} with END_STREAM."""
    client = world.connect(cert=world.sandbox_cert)
    sid = client.send("00" * 32, headers=[("apns-id", APNS_ID)])
    client.pump()
    headers, data = client.response(sid)
    assert headers == {":status": "400", "content-type": "application/json", "apns-id": APNS_ID}
    assert data == [b'{"reason":"BadDeviceToken"}']
    assert client.of(sid, h2.events.DataReceived)[0].stream_ended is not None
    journey = world.state.journeys.get(APNS_ID)
    assert journey is not None and (journey.status, journey.reason) == (400, "BadDeviceToken")


def test_unregistered_carries_a_timestamp(world: World) -> None:
    """§4.1: 410 Unregistered's body adds "timestamp" in ms."""
    now = world.state.clock.now()
    world.state.registry.mark_uninstalled(world.token, now, now)
    client = world.connect(cert=world.sandbox_cert)
    sid = client.send(world.token)
    client.pump()
    headers, data = client.response(sid)
    assert headers[":status"] == "410"
    assert json.loads(data[0]) == {"reason": "Unregistered", "timestamp": round(now.timestamp() * 1000)}


def test_gate_lifts_after_the_first_valid_token(world: World) -> None:
    """§5, §7 (I-pushy356): MAX_CONCURRENT_STREAMS 1 until a request carries a valid token, then raised."""
    client = world.connect()
    sid = client.send(world.token, headers=[("apns-topic", BUNDLE), ("authorization", "bearer nonsense")])
    client.pump()
    assert client.response(sid)[0][":status"] == "403"
    assert client.conn.remote_settings.max_concurrent_streams == 1
    sid = client.send(world.token, headers=[("apns-topic", BUNDLE), ("authorization", world.bearer())])
    client.pump()
    assert client.response(sid)[0][":status"] == "200"
    assert client.conn.remote_settings.max_concurrent_streams == 1000
    assert client.core.stream_limit == 1000


def test_missing_token_without_certificate(world: World) -> None:
    """§2.1: no client certificate and no authorization is 403 MissingProviderToken."""
    client = world.connect()
    sid = client.send(world.token, headers=[("apns-topic", BUNDLE)])
    client.pump()
    headers, data = client.response(sid)
    assert headers[":status"] == "403" and data == [b'{"reason":"MissingProviderToken"}']


def test_stream_beyond_the_limit_is_refused(world: World) -> None:
    """§7: a stream over MAX_CONCURRENT_STREAMS gets RST_STREAM REFUSED_STREAM; the open one is unharmed."""
    client = world.connect(pump=False)  # the client has not read SETTINGS yet, so it does not hold back
    first = client.send(world.token, headers=[("apns-topic", BUNDLE)], end=False)  # no token: the gate stays shut
    second = client.send(world.token, headers=[("apns-topic", BUNDLE), ("authorization", "bearer forged")])
    client.pump()
    (reset,) = client.of(second, h2.events.StreamReset)
    assert reset.error_code == h2.errors.ErrorCodes.REFUSED_STREAM
    client.conn.end_stream(first)
    client.pump()
    headers, data = client.response(first)
    assert headers[":status"] == "403" and data == [b'{"reason":"MissingProviderToken"}']


def test_valid_token_in_headers_opens_the_gate_at_once(world: World) -> None:
    """§5 "Stream gate": the first request's valid token lifts the limit before its body arrives, so
    requests a client sent before reading SETTINGS are served, not refused."""
    client = world.connect(pump=False)
    auth = [("apns-topic", BUNDLE), ("authorization", world.bearer())]
    first = client.send(world.token, headers=auth, end=False)
    others = [client.send(world.token, headers=auth) for _ in range(5)]
    client.conn.end_stream(first)
    client.pump()
    assert [client.response(sid)[0][":status"] for sid in [first, *others]] == ["200"] * 6
    assert client.conn.remote_settings.max_concurrent_streams == 1000


def test_malformed_request_does_not_kill_other_streams(world: World) -> None:
    """RFC 9113 §8.1.1: a malformed request is a stream error; the connection and other streams go on."""
    client = world.connect(cert=world.sandbox_cert)
    ok = client.send(world.token, end=False)
    bad = client.send(world.token, raw=[(b":method", b"POST"), (b":scheme", b"https"),
                                        (b":path", f"/3/device/{world.token}".encode()), (b"APNS-Topic", b"x")])
    no_path = client.send(world.token, raw=[(b":method", b"POST"), (b":scheme", b"https")])
    client.pump()
    for sid in (bad, no_path):
        (reset,) = client.of(sid, h2.events.StreamReset)
        assert reset.error_code == h2.errors.ErrorCodes.PROTOCOL_ERROR
    client.conn.end_stream(ok)
    later = client.send(world.token)
    client.pump()
    assert client.response(ok)[0][":status"] == "200"
    assert client.response(later)[0][":status"] == "200"
    assert not client.core.finished


class _Exploding:
    gate_open = True

    def unlock(self, authorization: str) -> bool:
        return True

    def handle(self, request: PushRequest, apns_id: str) -> Outcome:
        if request.header("x-explode"):
            raise RuntimeError("boom")
        if request.device_token == "00":
            return Rejection(Reason.BAD_DEVICE_TOKEN)
        return Accepted(token="aa", device_id="d", bundle_id=BUNDLE, topic=BUNDLE, push_type="alert", priority=10,
                        expiration=None, collapse_id=None, payload=request.body)


def test_full_limit_is_enforced_too() -> None:
    """§7: once lifted, the configured MAX_CONCURRENT_STREAMS still holds, stream by stream."""
    client = Client(ProviderConnection(_Exploding(), environment="sandbox", max_concurrent_streams=2), pump=False)
    open_ = [client.send("aa", end=False) for _ in range(3)]
    client.pump()
    assert [len(client.of(sid, h2.events.StreamReset)) for sid in open_] == [0, 0, 1]
    for sid in open_[:2]:
        client.conn.end_stream(sid)
    client.pump()
    assert [client.response(sid)[0][":status"] for sid in open_[:2]] == ["200", "200"]


def test_handler_exception_is_500_for_that_stream_only() -> None:
    """§4.3, STYLE habit 1: an unexpected exception is InternalServerError, never a dead connection."""
    client = Client(ProviderConnection(_Exploding(), environment="production"))
    boom = client.send("aa", headers=[("x-explode", "1")])
    fine = client.send("aa")
    client.pump()
    headers, data = client.response(boom)
    assert headers[":status"] == "500" and data == [b'{"reason":"InternalServerError"}']
    assert client.response(fine)[0][":status"] == "200"


def test_broken_framing_ends_this_connection() -> None:
    """§1, §7: bytes that are not HTTP/2 (an HTTP/1.1 request) end the connection with GOAWAY."""
    core = ProviderConnection(_Exploding(), environment="sandbox")
    core.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert core.finished
    client = Client(ProviderConnection(_Exploding(), environment="sandbox"))
    client.core.receive_data(b"\x00\x00\x04\x09\x00\x00\x00\x00\x01garbage-frames")
    client.events += client.conn.receive_data(client.core.data_to_send())
    assert client.goaway().error_code != h2.errors.ErrorCodes.NO_ERROR
    assert client.core.finished


def test_http1_alpn_is_refused() -> None:
    """§1: HTTP/1.1 is refused at connection time."""
    core = ProviderConnection(_Exploding(), environment="sandbox", alpn="http/1.1")
    assert core.finished and core.data_to_send() == b""


def test_wrong_environment_certificate_gets_goaway(world: World) -> None:
    """§6 (I-apns2-93): GOAWAY, last stream 0, NO_ERROR, debug {"reason":"BadCertificateEnvironment"}."""
    client = world.connect("production", cert=world.sandbox_cert)
    event = client.goaway()
    assert (event.error_code, event.last_stream_id) == (h2.errors.ErrorCodes.NO_ERROR, 0)
    assert json.loads(event.additional_data or b"") == {"reason": "BadCertificateEnvironment"}
    assert client.core.finished


def test_expired_certificate_gets_goaway(world: World) -> None:
    """§6: a certificate past not_after on the simulator clock is refused with BadCertificate."""
    world.state.clock.advance_by(timedelta(days=400))
    event = world.connect(cert=world.sandbox_cert).goaway()
    assert json.loads(event.additional_data or b"") == {"reason": "BadCertificate"}


def _frames(data: bytes) -> list[Frame]:
    frames = []
    while data:
        frame, length = Frame.parse_frame_header(memoryview(data[:9]))
        frame.parse_body(memoryview(data[9:9 + length]))
        frames.append(frame)
        data = data[9 + length:]
    return frames


def test_graceful_shutdown_finishes_open_streams(world: World) -> None:
    """§4.3, §7: GOAWAY {"reason":"Shutdown"}; a started stream is still answered, then the core is done.

    (h2's client stops sending after a GOAWAY, so the frames are read with hyperframe here.)
    """
    client = world.connect(cert=world.sandbox_cert)
    started = client.send(world.token, end=False)
    client.pump()
    client.core.close_gracefully()
    (goaway,) = _frames(client.core.data_to_send())
    assert isinstance(goaway, GoAwayFrame) and goaway.last_stream_id == started
    assert json.loads(goaway.additional_data or b"") == {"reason": "Shutdown"}
    assert not client.core.finished
    client.conn.end_stream(started)
    late = client.send(world.token)
    client.core.receive_data(client.conn.data_to_send())
    frames = _frames(client.core.data_to_send())
    answered = [f for f in frames if isinstance(f, HeadersFrame)]
    assert [(f.stream_id, "END_STREAM" in f.flags) for f in answered] == [(started, True)]
    refused = [f for f in frames if isinstance(f, RstStreamFrame)]
    assert [(f.stream_id, f.error_code) for f in refused] == [(late, h2.errors.ErrorCodes.REFUSED_STREAM)]
    assert client.core.finished


def test_error_body_waits_for_flow_control_then_goes_whole(world: World) -> None:
    """§4.1: the error body is never split; with no window it waits for WINDOW_UPDATE, then one frame."""
    client = world.connect(cert=world.sandbox_cert)
    client.conn.update_settings({S.INITIAL_WINDOW_SIZE: 0})
    client.pump()
    sid = client.send("00" * 32)
    client.pump()
    assert client.response(sid)[1] == []
    client.conn.increment_flow_control_window(10, sid)
    client.pump()
    assert client.response(sid)[1] == []
    client.conn.increment_flow_control_window(100, sid)
    client.pump()
    assert client.response(sid)[1] == [b'{"reason":"BadDeviceToken"}']


def test_ping_is_answered(world: World) -> None:
    """§7: PING checks health; the server acknowledges it."""
    client = world.connect()
    client.conn.ping(b"12345678")
    client.pump()
    assert any(isinstance(e, h2.events.PingAckReceived) for e in client.events)


def test_responses_follow_a_smaller_header_table(world: World) -> None:
    """RFC 7541 §4.2: when the client shrinks HEADER_TABLE_SIZE, the next header block signals it first."""
    client = world.connect(cert=world.sandbox_cert)
    client.conn.update_settings({S.HEADER_TABLE_SIZE: 0})
    client.pump()
    sids = [client.send(world.token, headers=[("apns-id", APNS_ID)]), client.send("00" * 32)]
    client.pump()
    assert [client.response(sid)[0][":status"] for sid in sids] == ["200", "400"]
    assert client.response(sids[0])[0]["apns-id"] == APNS_ID


def test_token_state_changes_are_seen_at_once(world: World) -> None:
    """§4.1, §8: token records may be cached, but an uninstall shows on the very next push."""
    client = world.connect(cert=world.sandbox_cert)
    first = client.send(world.token)
    client.pump()
    assert client.response(first)[0][":status"] == "200"
    now = world.state.clock.now()
    world.state.registry.mark_uninstalled(world.token, now, now)
    second = client.send(world.token)
    client.pump()
    assert client.response(second)[0][":status"] == "410"
    world.state.registry.app_token("dev-1", BUNDLE, "sandbox", now)  # the app comes back with a new token
    third = client.send(world.token)
    client.pump()
    assert client.response(third)[0][":status"] == "410"


def test_too_many_requests_to_one_token(tmp_path: Path) -> None:
    """§4.3: TooManyRequests past ``token_rate_limit`` pushes per second to one token (threshold: a knob)."""
    world = World(tmp_path, SimConfig(token_rate_limit=2))
    try:
        client = world.connect(cert=world.sandbox_cert)
        sids = [client.send(world.token) for _ in range(3)]
        client.pump()
        assert [client.response(sid)[0][":status"] for sid in sids] == ["200", "200", "429"]
        world.state.clock.advance(1)
        sid = client.send(world.token)
        client.pump()
        assert client.response(sid)[0][":status"] == "200"
    finally:
        world.state.close()


def test_unique_ids_are_distinct_version_4_uuids(world: World) -> None:
    """§4.1 (A-RESP): each sandbox response's apns-unique-id is a UUID of its own."""
    client = world.connect(cert=world.sandbox_cert)
    sids = [client.send(world.token) for _ in range(20)]
    client.pump()
    ids = [client.response(sid)[0]["apns-unique-id"] for sid in sids]
    assert len(set(ids)) == 20
    assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", i) for i in ids)
    other = world.connect(cert=world.sandbox_cert)
    sid = other.send(world.token)
    other.pump()
    assert other.response(sid)[0]["apns-unique-id"][:24] != ids[0][:24]  # another connection, another prefix


def test_rate_limit_counts_one_second_and_forgets_the_last(tmp_path: Path) -> None:
    """§4.3 TooManyRequests: over the per-token limit within one second; the count map holds one second only."""
    w = World(tmp_path, SimConfig(token_rate_limit=2))
    try:
        service = ProviderService(w.state, "sandbox")
        assert [service.rate_limited("a", 100.1) for _ in range(3)] == [False, False, True]
        assert service.rate_limited("b", 100.9) is False
        assert service.rate_limited("a", 101.0) is False  # a new second
        assert set(service._rate) == {"a"}  # "b" from the second before is gone
    finally:
        w.state.close()


def test_journey_payload_is_parsed_when_read(world: World) -> None:
    """docs/architecture.md "One notification, end to end": the journey keeps the payload; it is parsed on first
    read."""
    client = world.connect(cert=world.sandbox_cert)
    sid = client.send(world.token, body=b'{"aps":{"alert":"hi"}}')
    bad = client.send(world.token, body=b"not json")
    client.pump()
    accepted = world.state.journeys.get(client.response(sid)[0]["apns-id"])
    assert accepted is not None and accepted.body == b'{"aps":{"alert":"hi"}}'
    assert accepted.payload == {"aps": {"alert": "hi"}} and accepted.as_json()["payload"] == {"aps": {"alert": "hi"}}
    text = world.state.journeys.get(client.response(bad)[0]["apns-id"])
    assert text is not None and text.payload == "not json"  # kept as text: JSON is not checked (§3)
