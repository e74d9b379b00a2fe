"""APNsClient over real TLS and HTTP/2 against an in-test fake APNs (docs/apns-protocol.md §4, §5, §7).

Each test starts from a valid notification and changes one thing about the server's behaviour.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import jwt
import pytest
import trustme
from cryptography.hazmat.primitives.asymmetric import ec

from provider.apns import (
    APNsClient,
    CertificateCredentials,
    ConnectFailed,
    Notification,
    RequestTimeout,
    TokenCredentials,
    alert,
    load_pem,
)
from tests.integration.h2_fake_apns import Answer, FakeAPNs, Received

TOKEN = "ab" * 32
TOPIC = "com.example.app"


@pytest.fixture
def cert_creds(ca: trustme.CA, tmp_path: Path) -> CertificateCredentials:
    path = tmp_path / "client.pem"
    ca.issue_cert("push-client.example").private_key_and_cert_chain_pem.write_to_path(str(path))
    return load_pem(path)


class Sleeps:
    """A fake ``sleep`` that records back-off delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def note(**kw: object) -> Notification:
    base: dict[str, object] = {"token": TOKEN, "topic": TOPIC, "payload": alert("Hello")}
    base.update(kw)
    return Notification(**base)  # type: ignore[arg-type]


async def test_send_answers_200_with_apns_id_over_mtls(ca: trustme.CA, ca_file: Path, cert_creds) -> None:
    async with FakeAPNs(ca) as apns, APNsClient(cert_creds, endpoint=apns.url, ca_file=ca_file) as client:
        result = await client.send(note(priority=10, collapse_id="c1", expiration=0))
    assert result.accepted and result.status == 200 and result.reason is None
    (rec,) = apns.received
    assert result.apns_id == rec.headers["apns-id"]
    assert rec.headers[":path"] == f"/3/device/{TOKEN}"
    assert rec.headers[":method"] == "POST"
    assert rec.headers["apns-topic"] == TOPIC
    assert rec.headers["apns-push-type"] == "alert"
    assert rec.headers["apns-priority"] == "10"
    assert rec.headers["apns-expiration"] == "0"
    assert rec.headers["apns-collapse-id"] == "c1"
    assert "authorization" not in rec.headers
    assert rec.json == {"aps": {"alert": "Hello"}}
    assert rec.peer_subject is not None  # the client certificate was presented


async def test_reason_and_410_timestamp_pass_through(ca, ca_file, cert_creds) -> None:
    def gone(_: Received) -> Answer:
        return Answer(410, "Unregistered", timestamp=1_700_000_000_123, unique_id="u-1")

    async with (
        FakeAPNs(ca, handler=gone) as apns,
        APNsClient(cert_creds, endpoint=apns.url, ca_file=ca_file) as c,
    ):
        result = await c.send(note(apns_id="123E4567-E89B-12D3-A456-426614174000"))
    assert (result.status, result.reason, result.timestamp) == (410, "Unregistered", 1_700_000_000_123)
    assert result.apns_id == "123e4567-e89b-12d3-a456-426614174000"
    assert result.unique_id == "u-1" and not result.accepted
    assert len(apns.received) == 1  # Unregistered is never retried (§4.4)


async def test_503_is_retried_with_the_same_apns_id(ca, ca_file, cert_creds) -> None:
    answers = iter([Answer(503, "ServiceUnavailable"), Answer(500, "InternalServerError"), Answer()])
    sleeps = Sleeps()
    async with (
        FakeAPNs(ca, handler=lambda _: next(answers)) as apns,
        APNsClient(cert_creds, endpoint=apns.url, ca_file=ca_file, sleep=sleeps, max_attempts=3) as client,
    ):
        result = await client.send(note())
    assert result.status == 200
    ids = {r.headers["apns-id"] for r in apns.received}
    assert len(apns.received) == 3 and ids == {result.apns_id}
    assert len(sleeps.delays) == 2 and sleeps.delays[1] > sleeps.delays[0] / 2  # exponential, jittered


async def test_retryable_answer_is_returned_after_the_last_attempt(ca, ca_file, cert_creds) -> None:
    sleeps = Sleeps()
    async with (
        FakeAPNs(ca, handler=lambda _: Answer(429, "TooManyRequests")) as apns,
        APNsClient(cert_creds, endpoint=apns.url, ca_file=ca_file, sleep=sleeps, max_attempts=2) as client,
    ):
        result = await client.send(note())
    assert (result.status, result.reason) == (429, "TooManyRequests")
    assert len(apns.received) == 2


@pytest.mark.parametrize("reason", ["BadDeviceToken", "DeviceTokenNotForTopic", "PayloadTooLarge"])
async def test_request_faults_are_not_retried(ca, ca_file, cert_creds, reason: str) -> None:
    sleeps = Sleeps()
    async with (
        FakeAPNs(ca, handler=lambda _: Answer(400, reason)) as apns,
        APNsClient(cert_creds, endpoint=apns.url, ca_file=ca_file, sleep=sleeps) as client,
    ):
        result = await client.send(note())
    assert (result.status, result.reason) == (400, reason)
    assert len(apns.received) == 1 and sleeps.delays == []


async def test_unknown_reason_is_passed_through(ca, ca_file, cert_creds) -> None:
    async with (
        FakeAPNs(ca, handler=lambda _: Answer(400, "SomethingNew")) as apns,
        APNsClient(cert_creds, endpoint=apns.url, ca_file=ca_file) as client,
    ):
        result = await client.send(note())
    assert result.reason == "SomethingNew" and result.known_reason is None


async def test_token_auth_honours_the_stream_gate(ca, ca_file) -> None:
    """APNs allows 1 stream until a valid JWT, then more (§5); the client never exceeds what is advertised."""
    key = ec.generate_private_key(ec.SECP256R1())
    creds = TokenCredentials(private_key=key, key_id="ABC123DEFG", team_id="TEAM123456")
    order: list[int] = []

    async def slow(rec: Received) -> Answer:
        order.append(apns.connections[0].open_streams)
        return Answer(delay=0.05)

    apns = FakeAPNs(ca, handler=slow, gate=True, max_streams=4, jwt_key=key.public_key())
    async with apns, APNsClient(creds, endpoint=apns.url, ca_file=ca_file) as client:
        results = await client.send_many([note() for _ in range(12)], concurrency=12)
    assert all(not isinstance(r, Exception) and r.status == 200 for r in results)
    assert apns.violations == []
    assert order[0] == 1  # the first request went alone through the gate
    assert apns.max_open == 4  # then the client used the raised limit, and no more
    assert len(apns.connections) == 1
    header = jwt.get_unverified_header(apns.received[0].headers["authorization"][len("bearer ") :])
    assert header["kid"] == "ABC123DEFG" and header["alg"] == "ES256"


async def test_lowered_settings_are_honoured(ca, ca_file, cert_creds) -> None:
    async with (
        FakeAPNs(ca, handler=lambda _: Answer(delay=0.02), max_streams=10) as apns,
        APNsClient(cert_creds, endpoint=apns.url, ca_file=ca_file) as client,
    ):
        await client.send(note())
        apns.set_max_streams(2)
        await asyncio.sleep(0.05)
        apns.max_open = 0
        results = await client.send_many([note() for _ in range(8)])
    assert all(getattr(r, "status", None) == 200 for r in results)
    assert apns.max_open == 2 and apns.violations == []


async def test_goaway_with_a_final_reason_becomes_a_result(ca, ca_file, cert_creds) -> None:
    """Wrong-environment certificates get GOAWAY {"reason": "BadCertificateEnvironment"} (§6)."""

    async def refuse(_: Received) -> Answer:
        apns.goaway(last_stream_id=0, reason="BadCertificateEnvironment")
        return Answer()

    apns = FakeAPNs(ca, handler=refuse)
    async with apns, APNsClient(cert_creds, endpoint=apns.url, ca_file=ca_file, sleep=Sleeps()) as client:
        result = await client.send(note())
    assert (result.status, result.reason) == (403, "BadCertificateEnvironment")


async def test_goaway_shutdown_is_resent_on_a_new_connection(ca, ca_file, cert_creds) -> None:
    seen: list[int] = []

    async def first_shuts_down(rec: Received) -> Answer:
        seen.append(rec.connection)
        if len(seen) == 1:
            apns.goaway(last_stream_id=0, reason="Shutdown")
        return Answer()

    apns = FakeAPNs(ca, handler=first_shuts_down)
    async with apns, APNsClient(cert_creds, endpoint=apns.url, ca_file=ca_file, sleep=Sleeps()) as client:
        result = await client.send(note())
    assert result.status == 200
    assert seen == [1, 2]
    assert len({r.headers["apns-id"] for r in apns.received}) == 1


async def test_connection_refused_raises_after_retries(ca_file, cert_creds) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = Sleeps()
    async with APNsClient(
        cert_creds, endpoint=f"https://127.0.0.1:{port}", ca_file=ca_file, sleep=sleeps, max_attempts=3
    ) as client:
        with pytest.raises(ConnectFailed):
            await client.send(note())
    assert len(sleeps.delays) == 2


async def test_untrusted_server_is_refused_without_retry(ca, cert_creds, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    sleeps = Sleeps()
    async with (
        FakeAPNs(ca) as apns,
        APNsClient(cert_creds, endpoint=apns.url, ca_file=other, sleep=sleeps) as c,
    ):
        with pytest.raises(ConnectFailed, match="not trusted"):
            await c.send(note())
    assert sleeps.delays == [] and apns.received == []


async def test_request_timeout(ca, ca_file, cert_creds) -> None:
    async with (
        FakeAPNs(ca, handler=lambda _: Answer(delay=2)) as apns,
        APNsClient(
            cert_creds, endpoint=apns.url, ca_file=ca_file, request_timeout=0.2, max_attempts=1
        ) as client,
    ):
        with pytest.raises(RequestTimeout):
            await client.send(note())


async def test_idle_connection_is_pinged_and_reused(ca, ca_file, cert_creds) -> None:
    async with (
        FakeAPNs(ca) as apns,
        APNsClient(cert_creds, endpoint=apns.url, ca_file=ca_file, ping_after=0) as c,
    ):
        for _ in range(3):
            assert (await c.send(note())).status == 200
        rtt = await c.pool.connections[0].ping()
    assert rtt >= 0 and len(apns.connections) == 1


async def test_expired_provider_token_signs_anew_on_a_new_connection(ca, ca_file) -> None:
    """§5: after ExpiredProviderToken the connection is dropped and a new one signs a fresh token."""
    key = ec.generate_private_key(ec.SECP256R1())
    creds = TokenCredentials(private_key=key, key_id="ABC123DEFG", team_id="TEAM123456")
    now = [1_000_000.0]

    def answer(_: Received) -> Answer:
        now[0] += 1  # the retry's token is signed a second later
        return next(answers)

    answers = iter([Answer(403, "ExpiredProviderToken"), Answer()])
    apns = FakeAPNs(ca, handler=answer, jwt_key=key.public_key())
    async with apns, APNsClient(creds, endpoint=apns.url, ca_file=ca_file, clock=lambda: now[0]) as client:
        result = await client.send(note())
        (conn,) = client.pool.connections
        issuer = client.token_issuer(conn)
    assert result.status == 200
    tokens = [r.headers["authorization"][len("bearer ") :] for r in apns.received]
    iats = [jwt.decode(t, options={"verify_signature": False})["iat"] for t in tokens]
    assert iats == [1_000_000, 1_000_001] and issuer is not None and issuer.issued_at == 1_000_001
    assert [r.connection for r in apns.received] == [1, 2]


async def test_each_token_connection_signs_its_own_token(ca, ca_file) -> None:
    """§5: token updates are limited per connection, so each connection has its own token and schedule."""
    key = ec.generate_private_key(ec.SECP256R1())
    creds = TokenCredentials(private_key=key, key_id="ABC123DEFG", team_id="TEAM123456")
    now = [1_000_000.0]
    apns = FakeAPNs(ca, jwt_key=key.public_key())
    async with apns, APNsClient(creds, endpoint=apns.url, ca_file=ca_file, clock=lambda: now[0]) as client:
        assert (await client.send(note())).accepted
        (first,) = client.pool.connections
        now[0] += 45 * 60
        await client.pool.discard(first)
        assert (await client.send(note())).accepted
        (second,) = client.pool.connections
        issuer = client.token_issuer(second)
        now[0] += 10 * 60  # 55 minutes after the first token, 10 after the second
        assert (await client.send(note())).accepted
    assert issuer is not None and issuer.issued_at == 1_000_000 + 45 * 60
    tokens = [r.headers["authorization"] for r in apns.received]
    assert tokens[1] != tokens[0] and tokens[2] == tokens[1]
