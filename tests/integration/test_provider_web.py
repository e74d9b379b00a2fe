"""The provider service end to end: HTTP API -> store -> APNsClient -> real TLS/HTTP/2 fake APNs.

docs/architecture.md contract 4; token hygiene per docs/apns-protocol.md §4.1 and §4.4. Every test runs
twice, on SQLite and on a real PostgreSQL (docs/provider-service.md §6).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import trustme
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from provider.apns import APNsClient, CertificateCredentials, Notification, alert, load_pem
from provider.store import Store
from provider.web import RESEND_TASK, ServiceConfig, create_app
from tests.integration.h2_fake_apns import Answer, FakeAPNs, Received
from tests.postgres_cluster import store_target

APP = "com.example.app"
KEY = "operator-secret"
AUTH = {"Authorization": f"Bearer {KEY}"}
T = ["a1" * 32, "b2" * 32, "c3" * 32]


@pytest.fixture
def creds(ca: trustme.CA, tmp_path: Path) -> CertificateCredentials:
    path = tmp_path / "client.pem"
    ca.issue_cert("push-client.example").private_key_and_cert_chain_pem.write_to_path(str(path))
    return load_pem(path)


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The store: a SQLite file, or a fresh database in the session's PostgreSQL; migrated."""
    with store_target(request.param, tmp_path) as target:
        yield target


@pytest.fixture
def make_app(db: str, ca_file: Path, creds: CertificateCredentials) -> Callable[[FakeAPNs], web.Application]:
    def make(apns: FakeAPNs) -> web.Application:
        def factory(env: str) -> APNsClient:
            return APNsClient(creds, environment=env, endpoint=apns.url, ca_file=ca_file, sleep=_no_sleep)

        return create_app(ServiceConfig(db_path=db, api_key=KEY), factory)

    return make


@pytest.fixture
async def served(ca: trustme.CA, make_app) -> AsyncIterator[tuple[TestClient, FakeAPNs]]:
    answers: dict[str, Answer] = {}
    apns = FakeAPNs(ca, handler=lambda rec: answers.get(rec.token, Answer()))
    apns.answers = answers  # type: ignore[attr-defined]
    async with apns, TestClient(TestServer(make_app(apns))) as client:
        await client.app[RESEND_TASK]
        yield client, apns


async def _register(client: TestClient, token: str, user: str | None = None, app: str = APP) -> None:
    body = {"token": token, "bundle_id": app, "environment": "sandbox"}
    if user:
        body["user_id"] = user
    resp = await client.post("/v1/devices", json=body)
    assert resp.status == 201, await resp.text()


async def test_register_and_list_devices(served) -> None:
    client, _ = served
    await _register(client, T[0].upper(), "alice")
    await _register(client, T[1], "bob")
    await _register(client, T[2], app="com.example.other")
    resp = await client.get("/v1/devices", headers=AUTH)
    devices = (await resp.json())["devices"]
    assert [d["token"] for d in devices] == T
    assert devices[0]["status"] == "active" and devices[0]["user_id"] == "alice"
    assert {"registered_at", "reason", "environment", "bundle_id"} <= set(devices[0])
    resp = await client.get("/v1/devices", params={"bundle_id": APP, "user_id": "bob"}, headers=AUTH)
    assert [d["token"] for d in (await resp.json())["devices"]] == [T[1]]


async def test_operator_endpoints_need_the_api_key(served) -> None:
    client, _ = served
    await _register(client, T[0])  # apps register without the key
    for method, path in [
        ("GET", "/v1/devices"),
        ("DELETE", f"/v1/devices/{T[0]}"),
        ("POST", "/v1/notifications"),
    ]:
        resp = await client.request(method, path, json={})
        assert resp.status == 401 and "API key" in (await resp.json())["error"]
        resp = await client.request(method, path, json={}, headers={"Authorization": "Bearer wrong"})
        assert resp.status == 401


async def test_send_to_a_user_reaches_apns(served) -> None:
    client, apns = served
    await _register(client, T[0], "alice")
    await _register(client, T[1], "bob")
    resp = await client.post(
        "/v1/notifications",
        json={
            "bundle_id": APP,
            "user_id": "alice",
            "alert": "Hi Alice",
            "priority": 5,
            "collapse_id": "greet",
        },
        headers=AUTH,
    )
    assert resp.status == 200
    (result,) = (await resp.json())["results"]
    (rec,) = apns.received
    assert result == {
        "token": T[0],
        "status": 200,
        "apns_id": rec.headers["apns-id"],
        "reason": None,
        "timestamp": None,
        "state": "done",
    }
    assert rec.token == T[0] and rec.headers["apns-topic"] == APP
    assert rec.headers["apns-priority"] == "5" and rec.headers["apns-collapse-id"] == "greet"
    assert rec.json == {"aps": {"alert": "Hi Alice"}}


async def test_broadcast_to_the_app_and_token_hygiene(served) -> None:
    client, apns = served
    for token in T:
        await _register(client, token)
    await _register(client, "d4" * 32, app="com.example.other")
    apns.answers[T[1]] = Answer(400, "BadDeviceToken")
    apns.answers[T[2]] = Answer(410, "Unregistered", timestamp=4_102_444_800_000)  # after registration
    payload = {"aps": {"alert": {"title": "T", "body": "B"}, "badge": 1}, "order": 7}
    resp = await client.post("/v1/notifications", json={"bundle_id": APP, "payload": payload}, headers=AUTH)
    results = {r["token"]: r for r in (await resp.json())["results"]}
    assert set(results) == set(T)  # not the other app's token
    assert results[T[0]]["status"] == 200
    assert (results[T[1]]["status"], results[T[1]]["reason"]) == (400, "BadDeviceToken")
    assert (results[T[2]]["status"], results[T[2]]["timestamp"]) == (410, 4_102_444_800_000)
    assert all(r.json == payload for r in apns.received)
    devices = {
        d["token"]: d for d in (await (await client.get("/v1/devices", headers=AUTH)).json())["devices"]
    }
    assert devices[T[0]]["status"] == "active"
    assert (devices[T[1]]["status"], devices[T[1]]["reason"]) == ("inactive", "BadDeviceToken")
    assert (devices[T[2]]["status"], devices[T[2]]["reason"]) == ("inactive", "Unregistered")
    # the next broadcast goes to the live token only; re-registering revives a token
    apns.received.clear()
    await client.post("/v1/notifications", json={"bundle_id": APP, "alert": "again"}, headers=AUTH)
    assert [r.token for r in apns.received] == [T[0]]
    await _register(client, T[1])
    apns.answers.clear()
    resp = await client.post("/v1/notifications", json={"bundle_id": APP, "alert": "x"}, headers=AUTH)
    assert {r["token"] for r in (await resp.json())["results"]} == {T[0], T[1]}


async def test_explicit_tokens_and_background_defaults(served) -> None:
    client, apns = served
    body = {"bundle_id": APP, "tokens": [T[0].upper()], "payload": {"aps": {"content-available": 1}}}
    resp = await client.post("/v1/notifications", json=body, headers=AUTH)
    assert (await resp.json())["results"][0]["status"] == 200
    (rec,) = apns.received
    assert rec.token == T[0]
    assert (rec.headers["apns-push-type"], rec.headers["apns-priority"]) == ("background", "5")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"alert": "x"}, "bundle_id"),
        ({"bundle_id": APP}, "exactly one"),
        ({"bundle_id": APP, "alert": "x", "payload": {}}, "exactly one"),
        ({"bundle_id": APP, "payload": []}, "JSON object"),
        ({"bundle_id": APP, "alert": "x", "tokens": ["zz"]}, "hexadecimal"),
        ({"bundle_id": APP, "alert": "x", "tokens": []}, "non-empty list"),
        ({"bundle_id": APP, "alert": "x", "tokens": [T[0]], "user_id": "u"}, "not both"),
        ({"bundle_id": APP, "alert": "x", "priority": 7}, "priority"),
        ({"bundle_id": APP, "alert": "x", "push_type": "banner"}, "push_type"),
        ({"bundle_id": APP, "payload": {"aps": {"badge": -1}}}, "badge"),
        ({"bundle_id": APP, "payload": {"big": "x" * 5000}}, "4096"),
    ],
)
async def test_bad_notification_requests_are_400_with_a_reason(served, body: dict, message: str) -> None:
    client, apns = served
    await _register(client, T[0])
    resp = await client.post("/v1/notifications", json=body, headers=AUTH)
    assert resp.status == 400
    assert message in (await resp.json())["error"]
    assert apns.received == []


async def test_bad_registrations_and_delete(served) -> None:
    client, _ = served
    for body, message in [
        ({"token": "xyz", "bundle_id": APP}, "hexadecimal"),
        ({"token": T[0]}, "bundle_id"),
        ({"token": T[0], "bundle_id": APP, "environment": "staging"}, "environment"),
        ({"token": T[0], "bundle_id": APP, "user_id": 5}, "user_id"),
    ]:
        resp = await client.post("/v1/devices", json=body)
        assert resp.status == 400 and message in (await resp.json())["error"]
    resp = await client.post("/v1/devices", data=b"not json")
    assert resp.status == 400
    await _register(client, T[0])
    assert (await client.delete(f"/v1/devices/{T[0]}", headers=AUTH)).status == 204
    resp = await client.delete(f"/v1/devices/{T[0]}", headers=AUTH)
    assert resp.status == 404


async def test_outbox_resends_pending_notifications_after_a_restart(ca: trustme.CA, make_app, db: str) -> None:
    """A previous run wrote the notification and died before Apple answered: the next start resends it."""
    pending = Notification(token=T[0], topic=APP, payload=alert("survived"), collapse_id="c").with_apns_id()
    store = Store(db)
    store.register(T[0], APP, "sandbox")
    store.enqueue("sandbox", pending)
    store.close()

    seen: list[Received] = []
    apns = FakeAPNs(ca, handler=lambda rec: seen.append(rec) or Answer())
    async with apns, TestClient(TestServer(make_app(apns))) as client:
        assert await client.app[RESEND_TASK] == 1
        (rec,) = seen
        assert rec.headers["apns-id"] == pending.apns_id
        assert rec.json == {"aps": {"alert": "survived"}} and rec.headers["apns-collapse-id"] == "c"
    store = Store(db)
    assert store.pending() == []
    assert store.outbox_entry(pending.apns_id or "")["status"] == 200  # type: ignore[index]
    store.close()

    # and a third start has nothing left to send
    apns = FakeAPNs(ca)
    async with apns, TestClient(TestServer(make_app(apns))) as client:
        assert await client.app[RESEND_TASK] == 0
    assert apns.received == []
