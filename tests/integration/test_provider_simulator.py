"""The provider (client and service) against the running simulator over real TLS and HTTP/2 (issue 6's proof).

The fake APNs of ``h2_fake_apns`` lets a test script one answer; the simulator instead decides as APNs does
(JWT age and per-connection update rate on its own clock, the token-connection stream gate, 410 timestamps,
BadDeviceToken for tokens it does not know), so these tests check the provider's rules against an
independent implementation of Apple's. Faults go in through ``/_sim/faults`` semantics (``state.faults``);
what happened is read back from the simulator's journeys, never from the provider's own view alone.
Verification is on everywhere (docs/style.md habit 7).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from provider.apns import (
    APNsClient,
    Credentials,
    Notification,
    TransportError,
    alert,
    load_cer_and_p12,
    load_certificate_credentials,
    load_p8,
    load_p12,
    load_pem,
    load_pem_pair,
)
from provider.web import RESEND_TASK, ServiceConfig, create_app
from pushsim.harness import RunningSimulator

BUNDLE = "com.example.provider"
TEAM = "PROVTEAM01"
MINUTE = 60.0


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[RunningSimulator]:
    async with RunningSimulator.start(tmp_path / "sim") as running:
        running.create_app_id(BUNDLE, TEAM)
        yield running


def new_token(sim: RunningSimulator, *, nbytes: int = 32, environment: str = "sandbox",
              monkeypatch: pytest.MonkeyPatch | None = None) -> str:
    """A token the simulator issued to a fresh (offline) device for ``BUNDLE``."""
    state = sim.state
    now = state.clock.now()
    device = f"dev-{uuid.uuid4().hex[:8]}"
    state.registry.activate_device(device, "iPhone", now)
    if nbytes != 32:
        assert monkeypatch is not None
        with monkeypatch.context() as m:  # the simulator issues 32 bytes; Apple may issue up to 100 (§8)
            m.setattr("apns_sim.model.registry.secrets", SimpleNamespace(token_hex=lambda n: "c3" * nbytes))
            return state.registry.app_token(device, BUNDLE, environment, now).token
    return state.registry.app_token(device, BUNDLE, environment, now).token


def token_client(sim: RunningSimulator, **options: Any) -> APNsClient:
    key = sim.create_auth_key(TEAM)
    creds = load_p8(key.p8_path, key.key_id, TEAM)
    return APNsClient(creds, endpoint=sim.sandbox_url, ca_file=sim.ca_file, **options)


def cert_client(sim: RunningSimulator, **options: Any) -> APNsClient:
    bundle = sim.issue_certificate(BUNDLE, team_id=TEAM)
    return APNsClient(load_p12(bundle.p12, bundle.password), endpoint=sim.sandbox_url, ca_file=sim.ca_file,
                      **options)


def note(token: str, **fields: Any) -> Notification:
    return Notification(token=token, topic=BUNDLE, payload=alert("hi"), **fields)


class Watch:
    """Every stage the simulator records, as it happens (a retry that succeeds later may start the journey
    of its apns-id afresh, so the final journey alone does not show every refusal)."""

    def __init__(self, sim: RunningSimulator) -> None:
        self.stages: list[tuple[str, str, Any, Any]] = []  # (apns_id, stage, reason, status)
        self.stop = sim.state.journeys.subscribe(
            lambda journey, entry: self.stages.append(
                (journey.apns_id, entry["stage"], entry.get("reason"), entry.get("status", journey.status))))

    def rejected(self, apns_id: str) -> list[tuple[Any, Any]]:
        """The simulator's refusals of one notification, in order: (reason, status)."""
        return [(r, s) for a, stage, r, s in self.stages if a == apns_id and stage == "rejected"]


class Sleeps:
    """Records back-off delays instead of waiting (docs/style.md habit 3)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


# -- credentials and tokens -------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["p8", "p12", "pem", "pem_pair", "cer_p12", "cer_key"])
async def test_every_credential_form_pushes(sim: RunningSimulator, form: str) -> None:
    """docs/apns-protocol.md §5 (.p8 JWT) and §6 (certificates: .p12, PEM, Apple's DER .cer with the key's .p12)."""
    token = new_token(sim)
    creds: Credentials
    if form == "p8":
        key = sim.create_auth_key(TEAM)
        creds = load_p8(key.p8_path, key.key_id, TEAM)
    else:
        b = sim.issue_certificate(BUNDLE, team_id=TEAM)
        creds = {
            "p12": lambda: load_p12(b.p12, b.password),
            "pem": lambda: load_pem(b.pem),
            "pem_pair": lambda: load_pem_pair(b.cert_pem, b.key_pem),
            "cer_p12": lambda: load_cer_and_p12(b.cer, b.p12, b.password),
            "cer_key": lambda: load_certificate_credentials(cert_file=b.cer, key_file=b.key_pem),
        }[form]()
    async with APNsClient(creds, endpoint=sim.sandbox_url, ca_file=sim.ca_file, max_attempts=1) as client:
        result = await client.send(note(token))
    assert result.accepted and result.apns_id is not None
    assert sim.stages(result.apns_id)[:2] == ["accepted", "stored"]


@pytest.mark.parametrize("nbytes", [8, 32, 100])
async def test_tokens_of_any_valid_length(sim: RunningSimulator, nbytes: int,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/apns-protocol.md §8: device tokens are variable length (32 bytes today, up to 100 announced)."""
    token = new_token(sim, nbytes=nbytes, monkeypatch=monkeypatch)
    assert len(token) == 2 * nbytes
    async with cert_client(sim, max_attempts=1) as client:
        result = await client.send(note(token.upper()))
    assert result.accepted and result.apns_id is not None
    assert sim.notification(result.apns_id)["token"] == token  # type: ignore[index]


# -- HTTP/2: the stream gate and PING ---------------------------------------------------------------------


async def test_token_connection_waits_at_the_one_stream_gate(sim: RunningSimulator) -> None:
    """docs/apns-protocol.md §5 "Stream gate", §7: a token connection allows one stream until a valid JWT arrives.

    The simulator refuses a stream above the advertised limit (REFUSED_STREAM); with one attempt per
    notification, any such stream would surface as an error. Forty at once all pass, on one connection.
    """
    tokens = [new_token(sim) for _ in range(4)]
    async with token_client(sim, max_attempts=1) as client:
        conn = await client.pool.acquire()
        assert conn.max_streams == 1  # what the simulator advertised before any JWT
        results = await client.send_many([note(tokens[i % 4]) for i in range(40)], concurrency=40)
        assert client.pool.connections == (conn,)
        assert conn.max_streams == sim.state.config.max_concurrent_streams  # raised after the first JWT
    assert all(not isinstance(r, TransportError) and r.accepted for r in results), results
    assert 1 < conn.max_streams_seen <= 40


async def test_an_idle_connection_is_pinged_then_reused(sim: RunningSimulator) -> None:
    """docs/apns-protocol.md §7: PING checks an idle connection's health instead of opening a new one."""
    token = new_token(sim)
    async with cert_client(sim, ping_after=0) as client:
        assert (await client.send(note(token))).accepted
        (conn,) = client.pool.connections
        assert await conn.ping() >= 0
        assert (await client.send(note(token))).accepted  # acquire() pinged first (idle for >= 0 s)
        assert client.pool.connections == (conn,)


# -- JWT timing on the simulator's clock -------------------------------------------------------------------


async def test_jwt_is_refreshed_every_50_minutes_per_connection_never_sooner(sim: RunningSimulator) -> None:
    """docs/apns-protocol.md §5: refresh no more often than every 20 min **on the same connection**, and before
    60 min (ExpiredProviderToken); a new token sooner is 429 TooManyProviderTokenUpdates.

    Two hours of simulated time, a push every 5 minutes, one attempt each (nothing masked by a retry). At
    minute 45 the network drops the connection and the client opens another: the new connection must get
    its own token then, not inherit one that the old connection's schedule renews five minutes later.
    """
    clock = sim.state.clock
    clock.freeze()
    start = clock.time()
    token = new_token(sim)
    seen: list[tuple[int, int, int]] = []  # (minute, connection number, iat minute)
    conns: list[object] = []
    async with token_client(sim, clock=clock.time, max_attempts=1) as client:
        for minute in range(0, 125, 5):
            clock.freeze(start + minute * MINUTE)
            if minute == 45:
                await client.pool.discard(client.pool.connections[0])  # the connection is lost
            result = await client.send(note(token))
            assert result.accepted, (minute, result)
            (conn,) = client.pool.connections
            if conn not in conns:
                conns.append(conn)
            issuer = client.token_issuer(conn)
            assert issuer is not None and issuer.issued_at is not None
            seen.append((minute, conns.index(conn) + 1, round((issuer.issued_at - start) / MINUTE)))
    assert [s for s in seen if s[0] in (0, 40, 45, 90, 95, 120)] == [
        (0, 1, 0), (40, 1, 0),  # the first connection's token, not yet 50 minutes old
        (45, 2, 45),  # the new connection signs its own
        (90, 2, 45), (95, 2, 95),  # and renews it 50 minutes later
        (120, 2, 95),
    ]


async def test_clock_skew_expired_provider_token_is_signed_anew_on_a_new_connection(
        sim: RunningSimulator) -> None:
    """docs/apns-protocol.md §5: iat older than an hour is 403 ExpiredProviderToken; pushy closes the connection
    and signs a new token. Here the provider's clock runs 16 minutes behind APNs'."""
    clock = sim.state.clock
    clock.freeze()
    start = clock.time()
    provider_now = [start]
    token = new_token(sim)
    watch = Watch(sim)
    async with token_client(sim, clock=lambda: provider_now[0], max_attempts=2) as client:
        assert (await client.send(note(token))).accepted
        (first,) = client.pool.connections
        clock.freeze(start + 61 * MINUTE)
        provider_now[0] = start + 45 * MINUTE  # its token looks 45 minutes old: no refresh due
        apns_id = str(uuid.uuid4())
        result = await client.send(note(token, apns_id=apns_id))
        (second,) = client.pool.connections
    assert result.accepted and first is not second
    assert watch.rejected(apns_id) == [("ExpiredProviderToken", 403)]


# -- retries under bursts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("reason", "status"), [("ServiceUnavailable", 503), ("TooManyRequests", 429)])
async def test_a_burst_of_retryable_answers_is_ridden_out_with_the_same_apns_ids(
        sim: RunningSimulator, reason: str, status: int) -> None:
    """docs/apns-protocol.md §4.4: 429 and 503 are retried with exponential back-off; each retry keeps the
    notification's apns-id, so the simulator's journey shows the refusals and then the acceptance."""
    sim.state.faults.load_json({"kind": "reason", "reason": reason, "count": 15})
    tokens = [new_token(sim) for _ in range(3)]
    notes = [note(tokens[i % 3], apns_id=str(uuid.uuid4())) for i in range(10)]
    sleeps = Sleeps()
    watch = Watch(sim)
    async with cert_client(sim, max_attempts=5, sleep=sleeps) as client:
        results = await client.send_many(notes, concurrency=10)
    assert all(not isinstance(r, TransportError) and r.accepted for r in results), results
    assert [r.apns_id for r in results if not isinstance(r, TransportError)] == [n.apns_id for n in notes]
    refused = {n.apns_id: watch.rejected(str(n.apns_id)) for n in notes}
    assert sum(len(v) for v in refused.values()) == 15  # every fault was one refused attempt
    assert all(set(v) <= {(reason, status)} for v in refused.values())
    assert len(sleeps.delays) == 15  # one back-off per refusal, none after the acceptance
    assert max(sleeps.delays) > min(sleeps.delays)  # grows with the attempt number (and jitter)


async def test_final_answers_are_never_retried(sim: RunningSimulator) -> None:
    """docs/apns-protocol.md §4.4: BadDeviceToken, DeviceTokenNotForTopic, Unregistered: one request each."""
    good = new_token(sim)
    gone = new_token(sim)
    now = sim.state.clock.now()
    sim.state.registry.mark_uninstalled(gone, now, now)
    sleeps = Sleeps()
    watch = Watch(sim)
    ids = [str(uuid.uuid4()) for _ in range(3)]
    async with cert_client(sim, max_attempts=5, sleep=sleeps) as client:
        bad = await client.send(note("ee" * 32, apns_id=ids[0]))
        other_topic = await client.send(Notification(token=good, topic="com.example.other", payload=alert("x"),
                                                     apns_id=ids[1]))
        unregistered = await client.send(note(gone, apns_id=ids[2]))
    assert (bad.status, bad.reason) == (400, "BadDeviceToken")
    assert other_topic.status == 400
    assert (unregistered.status, unregistered.reason) == (410, "Unregistered")
    assert unregistered.timestamp == round(now.timestamp() * 1000)
    assert sleeps.delays == [] and all(len(watch.rejected(i)) == 1 for i in ids)


# -- the service: token hygiene -----------------------------------------------------------------------------


async def test_service_token_hygiene_follows_the_simulators_answers(sim: RunningSimulator, tmp_path: Path) -> None:
    """docs/apns-protocol.md §4.1, §4.4, §8 via docs/architecture.md contract 4's API.

    - a token APNs does not know (BadDeviceToken) is deactivated;
    - 410 Unregistered deactivates a token registered *before* the 410's timestamp;
    - a token registered again *after* that timestamp (the app is back) stays active despite the 410;
    - the transitions are visible in ``GET /v1/devices``.
    """
    clock = sim.state.clock
    t0 = datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    clock.freeze(t0)
    provider_now = [t0]
    stale, revived, live = new_token(sim), new_token(sim), new_token(sim)
    unknown = "ee" * 32
    bundle = sim.issue_certificate(BUNDLE, team_id=TEAM)

    def factory(env: str) -> APNsClient:
        return APNsClient(load_p12(bundle.p12, bundle.password), environment=env, endpoint=sim.sandbox_url,
                          ca_file=sim.ca_file, max_attempts=1)

    app = create_app(ServiceConfig(db_path=str(tmp_path / "provider.db")), factory,
                     clock=lambda: provider_now[0])
    async with TestClient(TestServer(app)) as http:
        await http.app[RESEND_TASK]
        for token in (stale, revived, live, unknown):
            provider_now[0] = t0 + 1
            resp = await http.post("/v1/devices", json={"token": token, "bundle_id": BUNDLE,
                                                        "environment": "sandbox"})
            assert resp.status == 201
        # Both apps are uninstalled at t0 + 10 s: APNs dates its 410s then.
        uninstalled = datetime.fromtimestamp(t0 + 10, UTC)
        for token in (stale, revived):
            sim.state.registry.mark_uninstalled(token, uninstalled, uninstalled)
        provider_now[0] = t0 + 20  # one app registers its (same) token again afterwards
        assert (await http.post("/v1/devices", json={"token": revived, "bundle_id": BUNDLE,
                                                     "environment": "sandbox"})).status == 201
        clock.freeze(t0 + 30)
        provider_now[0] = t0 + 30
        resp = await http.post("/v1/notifications", json={"bundle_id": BUNDLE, "alert": "hello"})
        results = {r["token"]: r for r in (await resp.json())["results"]}
        devices = {d["token"]: d for d in (await (await http.get("/v1/devices")).json())["devices"]}
    assert (results[live]["status"], results[unknown]["reason"]) == (200, "BadDeviceToken")
    assert results[stale]["status"] == results[revived]["status"] == 410
    assert results[stale]["timestamp"] == results[revived]["timestamp"] == round((t0 + 10) * 1000)
    assert {t: (d["status"], d["reason"]) for t, d in devices.items()} == {
        live: ("active", None),
        unknown: ("inactive", "BadDeviceToken"),
        stale: ("inactive", "Unregistered"),  # registered at t0+1, before the 410's t0+10
        revived: ("active", None),  # registered again at t0+20, after it
    }
    assert devices[stale]["invalidated_at"] == round((t0 + 10) * 1000)
    assert all(sim.notification(r["apns_id"]) is not None for r in results.values())


async def test_a_production_certificate_on_sandbox_is_a_bad_certificate_environment_answer(
        sim: RunningSimulator) -> None:
    """docs/apns-protocol.md §6, §7: APNs refuses the connection with GOAWAY {"reason": "BadCertificateEnvironment"};
    the client reports it as Apple's answer (403), and does not retry a refusal that would repeat."""
    token = new_token(sim)
    bundle = sim.issue_certificate(BUNDLE, "production", team_id=TEAM)
    sleeps = Sleeps()
    async with APNsClient(load_p12(bundle.p12, bundle.password), endpoint=sim.sandbox_url, ca_file=sim.ca_file,
                          max_attempts=3, sleep=sleeps) as client:
        result = await client.send(note(token))
    assert (result.status, result.reason) == (403, "BadCertificateEnvironment")
    assert sleeps.delays == []


async def test_the_service_keeps_one_client_per_environment(sim: RunningSimulator, tmp_path: Path) -> None:
    """docs/architecture.md contract 4, docs/apns-protocol.md §1, §8: sandbox and production are separate services
    whose tokens are disjoint; the service sends each registered token to its own environment, over its own
    connections."""
    key = sim.create_auth_key(TEAM)
    creds = load_p8(key.p8_path, key.key_id, TEAM)
    sandbox, production = new_token(sim), new_token(sim, environment="production")
    clients: dict[str, APNsClient] = {}

    def factory(env: str) -> APNsClient:
        clients[env] = APNsClient(creds, environment=env, endpoint=sim.url(env), ca_file=sim.ca_file,
                                  max_attempts=1)
        return clients[env]

    app = create_app(ServiceConfig(db_path=str(tmp_path / "p.db"), environments=("sandbox", "production")),
                     factory)
    async with TestClient(TestServer(app)) as http:
        await http.app[RESEND_TASK]
        for token, env in ((sandbox, "sandbox"), (production, "production")):
            body = {"token": token, "bundle_id": BUNDLE, "environment": env}
            assert (await http.post("/v1/devices", json=body)).status == 201
        resp = await http.post("/v1/notifications", json={"bundle_id": BUNDLE, "alert": "both"})
        results = {r["token"]: r for r in (await resp.json())["results"]}
        pools = {env: len(c.pool.connections) for env, c in clients.items()}
    assert {t: r["status"] for t, r in results.items()} == {sandbox: 200, production: 200}
    assert pools == {"sandbox": 1, "production": 1}
    assert sim.notification(results[sandbox]["apns_id"])["environment"] == "sandbox"  # type: ignore[index]
    assert sim.notification(results[production]["apns_id"])["environment"] == "production"  # type: ignore[index]
