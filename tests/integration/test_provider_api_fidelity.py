"""End-to-end proof of the provider API's finer rules, over real TLS and HTTP/2 on 127.0.0.1 (port 0).

``tests/integration/test_provider_api.py`` shows that real clients (curl, aioapns) work; this file checks,
against a whole running ``Simulator``, the rules a client only notices when they are wrong: what exactly goes
on the wire (headers, one DATA frame, SETTINGS), per-environment behaviour, size and length limits, the
per-token rate knob, HTTP/2 without ALPN and HTTP/1.1 refused, and certificates APNs must refuse. A small
raw ``h2`` client is used where frames must be seen. Verification is never turned off (STYLE habit 7);
sections cited are those of docs/apns-protocol.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import ssl
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings
import jwt
import pytest
import trustme
from cryptography import x509

from apns_sim import pki
from apns_sim.model.clock import Clock
from apns_sim.model.registry import VOIP
from apns_sim.portal.service import Portal
from apns_sim.push.reasons import Reason
from apns_sim.simulator import Simulator
from apns_sim.state import SimConfig

BUNDLE = "com.example.app"
TEAM = "TEAM123456"
PAYLOAD = b'{"aps":{"alert":"hi"}}'
HOSTS = {"sandbox": "api.sandbox.push.apple.com", "production": "api.push.apple.com"}
UUID_ANY_CASE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
Header = tuple[str | bytes, str | bytes]


@dataclass
class World:
    """A running simulator with one App ID, a .p8 key, one device token per environment and certificates."""

    sim: Simulator
    portal: Portal
    tmp: Path
    token: str
    prod_token: str
    key_id: str
    p8: bytes
    sandbox_cert: Path  # certificate + key (PEM), sandbox only
    production_cert: Path
    sandbox_serial: int

    @property
    def state(self) -> Any:
        assert self.sim.state is not None
        return self.sim.state

    def port(self, environment: str = "sandbox") -> int:
        server = self.sim.sandbox if environment == "sandbox" else self.sim.production
        assert server is not None
        return server.port

    def bearer(self) -> bytes:
        token = jwt.encode({"iss": TEAM, "iat": int(self.state.clock.time())}, self.p8, algorithm="ES256",
                           headers={"kid": self.key_id})
        return f"bearer {token}".encode()

    def context(self, cert: Path | None = None, *, alpn: list[str] | None = None) -> ssl.SSLContext:
        """Trust exactly the simulator's CA (verification on); ALPN as given (None: offer none, like aioapns)."""
        ctx = ssl.create_default_context(cafile=str(self.state.ca_file))
        if cert is not None:
            ctx.load_cert_chain(str(cert))
        if alpn is not None:
            ctx.set_alpn_protocols(alpn)
        return ctx


def _issue(portal: Portal, tmp: Path, name: str, environment: str) -> tuple[Path, int]:
    request = portal.make_csr("dev@example.com", "Push Demo", "secret")  # what Keychain Access does
    cert = x509.load_der_x509_certificate(portal.issue_certificate(BUNDLE, request.csr_pem, environment).der)
    key, _ = pki.load_p12(request.p12, "secret")
    path = tmp / f"{name}.pem"
    pki.write_private(path, pki.cert_to_pem(cert) + pki.key_to_pem(key))
    return path, cert.serial_number


@contextlib.asynccontextmanager
async def running(tmp_path: Path, config: SimConfig | None = None, clock: Clock | None = None,
                  ) -> AsyncIterator[World]:
    async with Simulator(tmp_path / "sim", config, clock) as sim:
        assert sim.state is not None
        state = sim.state
        portal = Portal(state.registry, state.authority, state.clock.now)
        portal.create_app_id(BUNDLE, TEAM)
        created = portal.create_auth_key(TEAM)
        now = state.clock.now()
        state.registry.activate_device("dev-1", "iPhone", now)
        token = state.registry.app_token("dev-1", BUNDLE, "sandbox", now).token
        prod_token = state.registry.app_token("dev-1", BUNDLE, "production", now).token
        sandbox_cert, serial = _issue(portal, tmp_path, "sandbox", "sandbox")
        production_cert, _ = _issue(portal, tmp_path, "production", "production")
        yield World(sim, portal, tmp_path, token, prod_token, created.key_id, created.p8, sandbox_cert,
                    production_cert, serial)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with running(tmp_path) as w:
        yield w


@dataclass
class Answer:
    """One stream's answer as it came off the wire."""

    headers: dict[str, str] = field(default_factory=dict)
    data_frames: list[bytes] = field(default_factory=list)
    headers_ended_stream: bool = False
    ended: bool = False
    reset: int | None = None

    @property
    def status(self) -> str | None:
        return self.headers.get(":status")

    @property
    def json(self) -> Any:
        return json.loads(b"".join(self.data_frames))


class RawH2:
    """A bare ``h2`` client over real TLS: sends pushes, keeps every event, shows frames and SETTINGS."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.conn.initiate_connection()
        self.events: list[h2.events.Event] = []
        self.closed = False
        writer.write(self.conn.data_to_send())

    @classmethod
    async def open(cls, port: int, ctx: ssl.SSLContext, environment: str = "sandbox") -> RawH2:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                                       server_hostname=HOSTS[environment])
        return cls(reader, writer)

    @property
    def alpn(self) -> str | None:
        ssl_object = self.writer.get_extra_info("ssl_object")
        return ssl_object.selected_alpn_protocol() if ssl_object is not None else None

    def push(self, token: str, headers: Sequence[Header] = (), body: bytes = PAYLOAD, *,
             environment: str = "sandbox", method: str = "POST", path: str | None = None) -> int:
        sid = self.conn.get_next_available_stream_id()
        block = [(b":method", method.encode()), (b":scheme", b"https"),
                 (b":path", (path or f"/3/device/{token}").encode()), (b":authority", HOSTS[environment].encode())]
        block += [(_b(n), _b(v)) for n, v in headers]
        self.conn.send_headers(sid, block, end_stream=not body)
        if body:
            self.conn.send_data(sid, body, end_stream=True)
        self.writer.write(self.conn.data_to_send())
        return sid

    async def read_until(self, done: Callable[[], bool], timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while not done() and not self.closed:
                data = await self.reader.read(65536)
                if not data:
                    self.closed = True
                    break
                self.events += self.conn.receive_data(data)
                self.writer.write(self.conn.data_to_send())

    async def answers(self, *sids: int) -> list[Answer]:
        def finished() -> bool:
            over = {e.stream_id for e in self.events if isinstance(e, h2.events.StreamEnded | h2.events.StreamReset)}
            return set(sids) <= over
        await self.read_until(finished)
        return [self.answer(sid) for sid in sids]

    def answer(self, sid: int) -> Answer:
        answer = Answer()
        for event in self.events:
            if getattr(event, "stream_id", None) != sid:
                continue
            if isinstance(event, h2.events.ResponseReceived):
                answer.headers = {k.decode(): v.decode() for k, v in event.headers}
                answer.headers_ended_stream = event.stream_ended is not None
            elif isinstance(event, h2.events.DataReceived):
                answer.data_frames.append(event.data)
            elif isinstance(event, h2.events.StreamEnded):
                answer.ended = True
            elif isinstance(event, h2.events.StreamReset):
                answer.reset = event.error_code
        return answer

    def settings(self) -> list[dict[int, int]]:
        """Every SETTINGS frame the server sent, in order (changed values only)."""
        return [{int(k): v.new_value for k, v in e.changed_settings.items()} for e in self.events
                if isinstance(e, h2.events.RemoteSettingsChanged)]

    def goaway(self) -> h2.events.ConnectionTerminated | None:
        found = [e for e in self.events if isinstance(e, h2.events.ConnectionTerminated)]
        return found[0] if found else None

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


def _b(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


async def _one(world: World, token: str, headers: Sequence[Header], body: bytes = PAYLOAD, *,
               environment: str = "sandbox", cert: Path | None = None, bearer: bytes | None = None,
               method: str = "POST", path: str | None = None) -> Answer:
    """A single push on a new connection: by certificate when ``cert`` is given, else with a JWT (a fresh
    valid one unless ``bearer`` is given; ``b""`` sends no authorization header)."""
    client = await RawH2.open(world.port(environment), world.context(cert, alpn=["h2"]), environment)
    try:
        auth: list[Header] = []
        if cert is None and bearer != b"":
            auth = [("authorization", world.bearer() if bearer is None else bearer)]
        (answer,) = await client.answers(client.push(token, [*auth, *headers], body, environment=environment,
                                                     method=method, path=path))
        return answer
    finally:
        await client.close()


# -- responses (§4.1) ----------------------------------------------------------------------------------


async def test_apns_id_echoed_verbatim_or_generated(world: World) -> None:
    """§4.1, §2.1: the request's apns-id comes back exactly as sent (case kept), else APNs makes a UUID."""
    mine = "4a5f9c8e-1b2d-4e3f-8a9b-0c1d2E3F4A5B"  # mixed case on purpose: echoed, not normalised
    echoed = await _one(world, world.token, [("apns-topic", BUNDLE), ("apns-id", mine)])
    assert (echoed.status, echoed.headers["apns-id"]) == ("200", mine)
    generated = await _one(world, world.token, [("apns-topic", BUNDLE)])
    assert generated.status == "200" and UUID_ANY_CASE.fullmatch(generated.headers["apns-id"])
    assert generated.headers["apns-id"] != mine
    for apns_id in (mine, generated.headers["apns-id"]):
        journey = world.state.journeys.get(apns_id)
        assert journey is not None and journey.status == 200


async def test_unique_id_in_sandbox_only(world: World) -> None:
    """§4.1 (A-RESP): apns-unique-id is sent by the development environment only; both modes, both hosts."""
    sandbox = await _one(world, world.token, [("apns-topic", BUNDLE)])
    assert sandbox.status == "200" and uuid.UUID(sandbox.headers["apns-unique-id"])
    production = await _one(world, world.prod_token, [("apns-topic", BUNDLE)], environment="production")
    assert production.status == "200" and "apns-unique-id" not in production.headers
    by_cert = await _one(world, world.prod_token, [], environment="production", cert=world.production_cert)
    assert by_cert.status == "200" and "apns-unique-id" not in by_cert.headers
    assert sorted(by_cert.headers) == [":status", "apns-id"]


async def test_success_has_no_body_and_errors_are_one_json_data_frame(world: World) -> None:
    """§4.1: 200 ends the stream on HEADERS; an error is HEADERS (content-type json, apns-id) then exactly
    one DATA frame holding the whole {"reason": ...} (clients parse each DATA frame as a document)."""
    client = await RawH2.open(world.port(), world.context(world.sandbox_cert, alpn=["h2"]))
    try:
        success, error, other = await client.answers(
            client.push(world.token),
            client.push("00" * 32, [("apns-id", "11111111-2222-3333-4444-555555555555")]),
            client.push(world.token, [("apns-priority", "7")]),
        )
    finally:
        await client.close()
    assert success.status == "200" and success.headers_ended_stream and success.data_frames == []
    assert error.status == "400" and not error.headers_ended_stream and error.ended
    assert error.headers["content-type"] == "application/json"
    assert error.headers["apns-id"] == "11111111-2222-3333-4444-555555555555"
    assert error.data_frames == [b'{"reason":"BadDeviceToken"}']
    assert other.status == "400" and other.data_frames == [b'{"reason":"BadPriority"}']


async def test_unregistered_is_410_with_a_millisecond_timestamp(world: World) -> None:
    """§4.1, §8: after an uninstall, 410 Unregistered whose body carries "timestamp" in ms since the epoch."""
    now = world.state.clock.now()
    world.state.registry.mark_uninstalled(world.token, now, now)
    answer = await _one(world, world.token, [("apns-topic", BUNDLE)])
    assert answer.status == "410" and len(answer.data_frames) == 1
    assert answer.json == {"reason": "Unregistered", "timestamp": round(now.timestamp() * 1000)}


# -- every reason a request can trigger (§4.3) -----------------------------------------------------------

# Reasons no single request can produce, and where each is proven instead.
NOT_FROM_ONE_REQUEST = {
    "IdleTimeout": "GOAWAY on an idle connection (test_provider_api.py)",
    "Shutdown": "GOAWAY on a graceful close (test_provider_api.py)",
    "BadCertificate": "GOAWAY at connect (test_revoked_and_expired_certificates_get_goaway)",
    "BadCertificateEnvironment": "GOAWAY at connect (test_provider_api.py)",
    "TooManyRequests": "a burst to one token (test_too_many_requests_to_one_token)",
    "TooManyProviderTokenUpdates": "a second JWT on one connection (test_token_updates_and_team_binding)",
    "InternalServerError": "a handler exception (tests/unit/test_h2_connection.py)",
    "ServiceUnavailable": "fault injection only (not a request rule)",
    "ExpiredToken": "replaced tokens under validation.Policy (tests/unit/test_validation.py)",
    "Forbidden": "no documented trigger (Apple: 'action not allowed')",
    "UnrelatedKeyIdInToken": "needs topic-specific keys, which the portal does not model",
}


@dataclass
class Case:
    reason: str
    headers: list[Header] = field(default_factory=lambda: [("apns-topic", BUNDLE)])
    token: str | None = None  # None: the world's sandbox token
    body: bytes = PAYLOAD
    environment: str = "sandbox"
    method: str = "POST"
    path: str | None = None
    bearer: str | None = None  # "none": no authorization header; "old": iat 61 minutes ago; "sandbox-key"


CASES = [
    Case("MethodNotAllowed", method="GET"),                                               # §2.1
    Case("BadPath", path="/3/devices/" + "ab" * 32),                                      # §2.1
    Case("MissingDeviceToken", path="/3/device/"),                                        # §2.1
    Case("BadDeviceToken", token="zz" * 32),                                              # §8
    Case("MissingTopic", headers=[]),                                                     # §2.1 (token auth)
    Case("BadTopic", headers=[("apns-topic", "com.example app")]),                        # §2.1
    Case("TopicDisallowed", headers=[("apns-topic", "com.rival.app")]),                   # §5
    Case("InvalidPushType", headers=[("apns-topic", BUNDLE), ("apns-push-type", "sms")]),  # §2.1
    Case("BadPriority", headers=[("apns-topic", BUNDLE), ("apns-priority", "7")]),        # §2.1
    Case("BadMessageId", headers=[("apns-topic", BUNDLE), ("apns-id", "not-a-uuid")]),    # §2.1
    Case("BadExpirationDate", headers=[("apns-topic", BUNDLE), ("apns-expiration", "soon")]),  # §2.1
    Case("BadCollapseId", headers=[("apns-topic", BUNDLE), ("apns-collapse-id", "c" * 65)]),   # §2.1
    Case("DuplicateHeaders", headers=[("apns-topic", BUNDLE), ("apns-topic", BUNDLE)]),   # §2.1
    Case("PayloadEmpty", body=b""),                                                       # §3
    Case("PayloadTooLarge", body=b"{" + b" " * 4095 + b"}"),                              # §3
    Case("DeviceTokenNotForTopic", headers=[("apns-topic", "com.example.other")]),        # §2.1, A-REG
    Case("Unregistered", token="uninstalled"),                                            # §4.1
    Case("MissingProviderToken", bearer="none"),                                          # §2.1
    Case("InvalidProviderToken", bearer="bearer not.a.jwt"),                              # §5
    Case("ExpiredProviderToken", bearer="old"),                                           # §5
    Case("BadEnvironmentKeyIdInToken", bearer="sandbox-key", environment="production",
         token="production"),                                                             # §5
]


async def test_every_request_reason_over_the_wire(world: World) -> None:
    """§4.3: every reason a request can trigger comes back with Apple's spelling and status, as HEADERS plus
    one JSON DATA frame with the apns-id; the reasons no request can trigger are proven elsewhere."""
    state = world.state
    now = state.clock.now()
    world.portal.create_app_id("com.example.other", TEAM)
    world.portal.create_app_id("com.rival.app", "RIVAL12345")
    state.registry.activate_device("dev-3", "Gone iPhone", now)
    gone = state.registry.app_token("dev-3", BUNDLE, "sandbox", now).token
    state.registry.mark_uninstalled(gone, now, now)
    sandbox_key = world.portal.create_auth_key(TEAM, "sandbox")
    iat = {"old": int(state.clock.time()) - 3660, "sandbox-key": int(state.clock.time())}
    tokens = {None: world.token, "uninstalled": gone, "production": world.prod_token}
    seen = set()
    for case in CASES:
        if case.bearer == "none":
            bearer: bytes | None = b""
        elif case.bearer in iat:
            key = sandbox_key if case.bearer == "sandbox-key" else SimpleNamespace(key_id=world.key_id, p8=world.p8)
            bearer = ("bearer " + jwt.encode({"iss": TEAM, "iat": iat[case.bearer]}, key.p8, algorithm="ES256",
                                             headers={"kid": key.key_id})).encode()
        else:
            bearer = None if case.bearer is None else case.bearer.encode()
        answer = await _one(world, tokens.get(case.token, case.token or ""), case.headers, case.body,
                            environment=case.environment, bearer=bearer, method=case.method, path=case.path)
        reason = Reason.from_wire(case.reason)
        assert (answer.status, answer.json) == (str(reason.status), {"reason": case.reason} | (
            {"timestamp": round(now.timestamp() * 1000)} if case.reason == "Unregistered" else {})), case
        assert len(answer.data_frames) == 1 and answer.headers["content-type"] == "application/json", case
        if case.reason != "BadMessageId":  # see test_a_bad_apns_id_is_not_echoed
            assert UUID_ANY_CASE.fullmatch(answer.headers["apns-id"]), case
        seen.add(case.reason)
    assert seen | set(NOT_FROM_ONE_REQUEST) == {r.wire for r in Reason}
    assert not seen & set(NOT_FROM_ONE_REQUEST)


async def test_a_bad_apns_id_is_not_echoed(world: World) -> None:
    """§2.1, §4.1 (PUSHY-MSH): the answer to BadMessageId carries a new UUID, not the bad value: clients parse
    the response's apns-id as a UUID (pushy does), and the mock server Apple-compatible clients test against
    answers with a random one."""
    answer = await _one(world, world.token, [("apns-topic", BUNDLE), ("apns-id", "not-a-uuid")])
    assert answer.json == {"reason": "BadMessageId"}
    assert UUID_ANY_CASE.fullmatch(answer.headers["apns-id"])


async def test_token_updates_and_team_binding(world: World) -> None:
    """§5 (A-TOKEN, A-F675879, A-F687789) on one real connection: a new JWT within 20 minutes is 429
    TooManyProviderTokenUpdates; another team's key is InvalidProviderToken; an App ID created after the
    first push is InvalidProviderToken on this connection and fine on a new one."""
    other_team_key = world.portal.create_auth_key("OTHERTEAM1")
    client = await RawH2.open(world.port(), world.context(alpn=["h2"]))
    try:
        first = world.bearer()
        (ok,) = await client.answers(client.push(world.token, [("authorization", first), ("apns-topic", BUNDLE)]))
        world.state.clock.advance(60)
        (update,) = await client.answers(client.push(world.token, [("authorization", world.bearer()),
                                                                   ("apns-topic", BUNDLE)]))
        (same,) = await client.answers(client.push(world.token, [("authorization", first), ("apns-topic", BUNDLE)]))
        other = jwt.encode({"iss": "OTHERTEAM1", "iat": int(world.state.clock.time())}, other_team_key.p8,
                           algorithm="ES256", headers={"kid": other_team_key.key_id})
        (team,) = await client.answers(client.push(world.token, [("authorization", f"bearer {other}"),
                                                                 ("apns-topic", BUNDLE)]))
        now = world.state.clock.now()
        world.portal.create_app_id("com.example.later", TEAM)
        later_token = world.state.registry.app_token("dev-1", "com.example.later", "sandbox", now).token
        (late,) = await client.answers(client.push(later_token, [("authorization", first),
                                                                 ("apns-topic", "com.example.later")]))
    finally:
        await client.close()
    assert ok.status == "200" and same.status == "200"
    assert (update.status, update.json) == ("429", {"reason": "TooManyProviderTokenUpdates"})
    assert (team.status, team.json) == ("403", {"reason": "InvalidProviderToken"})
    assert (late.status, late.json) == ("403", {"reason": "InvalidProviderToken"})
    fresh = await _one(world, later_token, [("apns-topic", "com.example.later")])
    assert fresh.status == "200"


# -- device tokens (§8) ------------------------------------------------------------------------------


async def test_sandbox_and_production_tokens_are_disjoint(world: World) -> None:
    """§8 (A-RESP): a token from one environment is BadDeviceToken on the other host, in both directions."""
    on_prod = await _one(world, world.token, [("apns-topic", BUNDLE)], environment="production")
    on_sandbox = await _one(world, world.prod_token, [("apns-topic", BUNDLE)])
    assert (on_prod.status, on_prod.json) == ("400", {"reason": "BadDeviceToken"})
    assert (on_sandbox.status, on_sandbox.json) == ("400", {"reason": "BadDeviceToken"})
    home = await _one(world, world.prod_token, [("apns-topic", BUNDLE)], environment="production")
    assert home.status == "200"


async def test_tokens_of_up_to_100_bytes(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """§8: tokens are variable length, up to 100 bytes (200 hex digits, either case); longer is BadDeviceToken
    and an odd number of digits is not whole bytes."""
    state = world.state
    now = state.clock.now()
    state.registry.activate_device("dev-2", "Long iPhone", now)
    monkeypatch.setattr("apns_sim.model.registry.secrets", SimpleNamespace(token_hex=lambda n: "a1" * 100))
    long_token = state.registry.app_token("dev-2", BUNDLE, "sandbox", now).token
    monkeypatch.undo()
    assert len(long_token) == 200
    answers = [await _one(world, t, [("apns-topic", BUNDLE)])
               for t in (long_token, long_token.upper(), long_token + "a1", long_token[:-1])]
    assert [a.status for a in answers] == ["200", "200", "400", "400"]
    assert [a.json["reason"] for a in answers[2:]] == ["BadDeviceToken", "BadDeviceToken"]


# -- headers (§2.1, §2.2) and payload (§3) -------------------------------------------------------------


def _voip_token(world: World) -> str:
    """The app's PushKit token on dev-1: VoIP pushes need it (docs/device-side.md §2.7, rule 28)."""
    state = world.sim.state
    assert state is not None
    return state.registry.app_token("dev-1", BUNDLE, "sandbox", state.clock.now(), VOIP).token


async def test_push_type_must_match_the_topic_suffix(world: World) -> None:
    """§2.2 (I-topic): voip needs <bundle>.voip, liveactivity <bundle>.push-type.liveactivity; a mismatch is
    TopicDisallowed; an unknown push type is InvalidPushType."""
    voip = await _one(world, _voip_token(world), [("apns-topic", f"{BUNDLE}.voip"), ("apns-push-type", "voip")])
    assert voip.status == "200"
    cases = [
        ([("apns-topic", BUNDLE), ("apns-push-type", "voip")], "400", "TopicDisallowed"),
        ([("apns-topic", f"{BUNDLE}.push-type.liveactivity"), ("apns-push-type", "liveactivity")], "200", None),
        ([("apns-topic", BUNDLE), ("apns-push-type", "liveactivity")], "400", "TopicDisallowed"),
        ([("apns-topic", f"{BUNDLE}.voip-ptt"), ("apns-push-type", "pushtotalk")], "200", None),
        ([("apns-topic", BUNDLE), ("apns-push-type", "sms")], "400", "InvalidPushType"),
    ]
    for headers, status, reason in cases:
        answer = await _one(world, world.token, list(headers))
        assert answer.status == status, (headers, answer)
        assert (answer.json["reason"] if answer.data_frames else None) == reason


async def test_collapse_id_limit_counts_utf8_bytes(world: World) -> None:
    """§2.1 (PUSHY-VAL): apns-collapse-id is at most 64 bytes, counted in UTF-8: 32 x "é" fits, 33 do not."""
    fits = await _one(world, world.token, [("apns-topic", BUNDLE), ("apns-collapse-id", ("é" * 32).encode())])
    over = await _one(world, world.token, [("apns-topic", BUNDLE), ("apns-collapse-id", ("é" * 33).encode())])
    assert fits.status == "200"
    assert (over.status, over.json) == ("400", {"reason": "BadCollapseId"})


async def test_payload_limits_4096_and_5120_for_voip(world: World) -> None:
    """§3: 4096 bytes for alerts, 5120 for VoIP; one byte over is 413 PayloadTooLarge; empty is PayloadEmpty."""
    alert = [("apns-topic", BUNDLE), ("apns-push-type", "alert")]
    voip = [("apns-topic", f"{BUNDLE}.voip"), ("apns-push-type", "voip")]
    got = []
    for headers, size in ((alert, 4096), (alert, 4097), (voip, 5120), (voip, 5121)):
        body = b'{"aps":{},"x":"' + b"y" * (size - 17) + b'"}'
        assert len(body) == size
        answer = await _one(world, _voip_token(world) if headers is voip else world.token, list(headers), body)
        got.append((answer.status, answer.json["reason"] if answer.data_frames else None))
    assert got == [("200", None), ("413", "PayloadTooLarge"), ("200", None), ("413", "PayloadTooLarge")]
    empty = await _one(world, world.token, alert, b"")
    assert (empty.status, empty.json) == ("400", {"reason": "PayloadEmpty"})


# -- per-token rate (§4.3) -----------------------------------------------------------------------------


async def test_too_many_requests_to_one_token(tmp_path: Path) -> None:
    """§4.3: past SimConfig.token_rate_limit pushes per second to one token, 429 TooManyRequests (Apple's
    threshold is unconfirmed: a knob); other tokens are unaffected; the next second accepts again."""
    clock = Clock()
    clock.freeze()
    async with running(tmp_path, SimConfig(token_rate_limit=3), clock) as world:
        client = await RawH2.open(world.port(), world.context(world.sandbox_cert, alpn=["h2"]))
        try:
            burst = await client.answers(*[client.push(world.token) for _ in range(4)])
            now = world.state.clock.now()
            world.state.registry.activate_device("dev-2", "Other iPhone", now)
            other = world.state.registry.app_token("dev-2", BUNDLE, "sandbox", now).token
            (elsewhere,) = await client.answers(client.push(other))
            clock.advance(1)
            (next_second,) = await client.answers(client.push(world.token))
        finally:
            await client.close()
        assert [a.status for a in burst] == ["200", "200", "200", "429"]
        assert burst[3].json == {"reason": "TooManyRequests"}
        assert elsewhere.status == "200"  # the limit is per token
        assert next_second.status == "200"
        limited = world.state.journeys.get(burst[3].headers["apns-id"])
        assert limited is not None and (limited.status, limited.reason) == (429, "TooManyRequests")


# -- HTTP/2 and TLS (§1, §5, §7) --------------------------------------------------------------------------


async def test_http2_over_tls_without_alpn(world: World) -> None:
    """§1 (AIOAPNS, NODEAPN): a client that negotiates no ALPN and speaks HTTP/2 at once is served."""
    client = await RawH2.open(world.port(), world.context(world.sandbox_cert, alpn=None))
    try:
        assert client.alpn is None
        (answer,) = await client.answers(client.push(world.token, [("apns-topic", BUNDLE)]))
    finally:
        await client.close()
    assert answer.status == "200"


async def test_http1_is_refused(world: World) -> None:
    """§1: HTTP/1.1 gets no HTTP/1.1 answer: the server offers only h2 and closes on a non-HTTP/2 preface;
    nothing reaches the notification log, and the listener keeps serving HTTP/2."""
    request = (f"POST /3/device/{world.token} HTTP/1.1\r\nHost: {HOSTS['sandbox']}\r\napns-topic: {BUNDLE}\r\n"
               f"content-length: {len(PAYLOAD)}\r\n\r\n").encode() + PAYLOAD
    ctx = world.context(world.sandbox_cert, alpn=["http/1.1"])
    reader, writer = await asyncio.open_connection("127.0.0.1", world.port(), ssl=ctx,
                                                   server_hostname=HOSTS["sandbox"])
    assert writer.get_extra_info("ssl_object").selected_alpn_protocol() != "http/1.1"
    writer.write(request)
    received = b""
    async with asyncio.timeout(10):
        while chunk := await reader.read(65536):
            received += chunk
    writer.close()
    assert not received.startswith(b"HTTP/") and b"HTTP/1.1 200" not in received
    assert len(world.state.journeys) == 0
    assert (await _one(world, world.token, [("apns-topic", BUNDLE)])).status == "200"


async def test_token_connection_starts_at_one_stream(tmp_path: Path) -> None:
    """§5 "Stream gate", §7 (I-pushy356): a token connection is told MAX_CONCURRENT_STREAMS = 1, then the
    configured limit (SimConfig.max_concurrent_streams) once a request carried a valid JWT."""
    async with running(tmp_path, SimConfig(max_concurrent_streams=7)) as world:
        client = await RawH2.open(world.port(), world.context(alpn=["h2"]))
        try:
            await client.read_until(lambda: bool(client.settings()))
            first = client.settings()[0]
            (refused,) = await client.answers(client.push(world.token, [("apns-topic", BUNDLE),
                                                                        ("authorization", "bearer x.y.z")]))
            still = client.settings()
            (answer,) = await client.answers(client.push(world.token, [("apns-topic", BUNDLE),
                                                                       ("authorization", world.bearer())]))
            await client.read_until(lambda: client.conn.remote_settings.max_concurrent_streams == 7, timeout=5)
        finally:
            await client.close()
        assert first[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] == 1
        assert (refused.status, refused.json) == ("403", {"reason": "InvalidProviderToken"})
        assert len(still) == 1  # an invalid token changes nothing
        assert answer.status == "200"
        assert client.settings()[-1] == {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 7}


async def test_certificate_topics(world: World) -> None:
    """§6 (A-ARC-COMM, I-topic): a single-topic certificate supplies apns-topic; a universal certificate lists
    app, VoIP and complication topics, so it needs apns-topic (MissingTopic without) and may push VoIP; a
    topic outside the certificate is TopicDisallowed; authorization is ignored on certificate connections."""
    universal, _ = _issue(world.portal, world.tmp, "universal", "universal")
    single = await _one(world, world.token, [("authorization", "bearer garbage")], cert=world.sandbox_cert)
    missing = await _one(world, world.token, [], cert=universal)
    voip = await _one(world, _voip_token(world), [("apns-topic", f"{BUNDLE}.voip"), ("apns-push-type", "voip")],
                      cert=universal)
    foreign = await _one(world, world.token, [("apns-topic", "com.example.other")], cert=universal)
    on_production = await _one(world, world.prod_token, [("apns-topic", BUNDLE)], environment="production",
                               cert=universal)
    assert single.status == "200"
    assert (missing.status, missing.json) == ("400", {"reason": "MissingTopic"})
    assert voip.status == "200"
    assert (foreign.status, foreign.json) == ("400", {"reason": "TopicDisallowed"})
    assert on_production.status == "200"


async def test_certificate_from_another_ca_is_refused(world: World) -> None:
    """§6: only certificates from the simulator's push CA are accepted; another CA's fails the TLS handshake
    (no HTTP/2 answer at all) and the notification log stays empty."""
    stranger = trustme.CA().issue_cert("provider.example.com")
    path = world.tmp / "stranger.pem"
    stranger.private_key_and_cert_chain_pem.write_to_path(str(path))


    async def attempt(cert: Path) -> tuple[str | None, int]:
        """The push's :status (None: no answer) and how many HTTP/2 events the server produced."""
        client = None
        try:
            client = await RawH2.open(world.port(), world.context(cert, alpn=["h2"]))
            sid = client.push(world.token, [("apns-topic", BUNDLE)])
            await client.read_until(lambda: bool(client.answer(sid).headers), timeout=5)
            return client.answer(sid).status, len(client.events)
        except (ssl.SSLError, ConnectionResetError):  # TLS 1.3: the alert comes with the client's first read
            return None, 0 if client is None else len(client.events)
        finally:
            if client is not None:
                await client.close()

    assert await attempt(path) == (None, 0)  # not even the server's SETTINGS: TLS refused it
    assert len(world.state.journeys) == 0
    assert (await attempt(world.sandbox_cert))[0] == "200"  # the same client with our CA's certificate


async def test_revoked_and_expired_certificates_get_goaway(world: World) -> None:
    """§6, §4.3 (A-RESP): a revoked certificate, or one past its end date on the simulator clock, is refused
    for the whole connection: GOAWAY, last stream 0, {"reason": "BadCertificate"}; no push is answered."""
    world.portal.revoke_certificate(world.sandbox_serial)
    client = await RawH2.open(world.port(), world.context(world.sandbox_cert, alpn=["h2"]))
    try:
        sid = client.push(world.token, [("apns-topic", BUNDLE)])
        await client.read_until(lambda: client.goaway() is not None)
    finally:
        await client.close()
    goaway = client.goaway()
    assert goaway is not None and goaway.last_stream_id == 0
    assert json.loads(goaway.additional_data or b"") == {"reason": "BadCertificate"}
    assert client.answer(sid).headers == {}
    world.state.clock.advance(2 * 365 * 86400)  # the production certificate is valid for about a year
    late = await RawH2.open(world.port("production"), world.context(world.production_cert, alpn=["h2"]),
                            "production")
    try:
        await late.read_until(lambda: late.goaway() is not None)
    finally:
        await late.close()
    late_goaway = late.goaway()
    assert late_goaway is not None and json.loads(late_goaway.additional_data or b"") == {"reason": "BadCertificate"}
