"""The provider service as a shared, exactly-once-as-far-as-APNs-lets-us service (docs/provider-service.md).

Real sockets and real TLS/HTTP/2 to a fake APNs; each test runs on SQLite and on a real PostgreSQL (§6).
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp.test_utils import TestClient, TestServer

from provider.apns import APNsClient, CertificateCredentials, Notification, load_pem
from provider.store import Store
from provider.web import RESEND_TASK, ServiceConfig, create_app
from provider.worker import Worker
from tests.integration.h2_fake_apns import Answer, FakeAPNs, Received
from tests.postgres_cluster import database, store_target

APP = "com.example.app"
KEY = "operator-secret"
AUTH = {"Authorization": f"Bearer {KEY}"}
T = ["a1" * 32, "b2" * 32, "c3" * 32]


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The store: a SQLite file, or a fresh database in the session's PostgreSQL; migrated."""
    with store_target(request.param, tmp_path) as target:
        yield target


@pytest.fixture
def creds(ca: trustme.CA, tmp_path: Path) -> CertificateCredentials:
    path = tmp_path / "client.pem"
    ca.issue_cert("push-client.example").private_key_and_cert_chain_pem.write_to_path(str(path))
    return load_pem(path)


@pytest.fixture
def client_for(ca_file: Path, creds: CertificateCredentials) -> Callable[[FakeAPNs, float], APNsClient]:
    async def no_sleep(_: float) -> None:
        return None

    def make(apns: FakeAPNs, timeout: float = 10.0) -> APNsClient:
        return APNsClient(creds, environment="sandbox", endpoint=apns.url, ca_file=ca_file, sleep=no_sleep,
                          request_timeout=timeout)

    return make


async def _serve(db: str, apns: FakeAPNs, client_for: Any, **config: Any) -> TestClient:
    timeout = config.pop("timeout", 10.0)
    config.setdefault("api_key", KEY)
    app = create_app(ServiceConfig(db_path=db, **config), lambda env: client_for(apns, timeout))
    client = TestClient(TestServer(app))
    await client.start_server()
    await client.app[RESEND_TASK]
    return client


@pytest.fixture
async def served(db: str, ca: trustme.CA, client_for: Any) -> AsyncIterator[tuple[TestClient, FakeAPNs]]:
    apns = FakeAPNs(ca)
    async with apns:
        client = await _serve(db, apns, client_for)
        try:
            yield client, apns
        finally:
            await client.close()


async def _register(client: TestClient, token: str, user: str | None = None, *, app: str = APP,
                    env: str = "sandbox", headers: dict[str, str] | None = None) -> Any:
    body: dict[str, Any] = {"token": token, "bundle_id": app, "environment": env}
    if user is not None:
        body["user_id"] = user
    return await client.post("/v1/devices", json=body, headers=headers)


# -- item 2: idempotency and apns-ids ---------------------------------------------------------------------


def test_one_idempotency_key_from_two_connections_at_once_gets_one_answer(db: str) -> None:
    """docs/provider-service.md §2: two requests with one key racing on two database connections (two API
    processes): one writes, the other replays its apns-ids; neither fails and nothing is written twice."""
    stores = [Store(db), Store(db)]
    try:
        for round_ in range(20):
            key = f"race-{round_}"
            barrier = threading.Barrier(2)
            results: list[Any] = [None, None]

            def enqueue(index: int, key: str = key, barrier: threading.Barrier = barrier,
                        results: list[Any] = results) -> None:
                note = Notification(token=T[0], topic=APP, payload={"aps": {"alert": "once"}},
                                    apns_id=str(uuid.uuid4()))
                barrier.wait()
                try:
                    results[index] = ("ok", stores[index].enqueue_many([("sandbox", note)],
                                                                       idempotency=(key, "same-body")), note.apns_id)
                except Exception as exc:  # the failure is what the test reports
                    results[index] = ("error", repr(exc), note.apns_id)

            threads = [threading.Thread(target=enqueue, args=(i,)) for i in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            assert [r[0] for r in results] == ["ok", "ok"], results
            wrote = [r for r in results if r[1] is None]
            replayed = [r for r in results if r[1] is not None]
            assert len(wrote) == 1 and replayed[0][1] == [wrote[0][2]], results
        assert stores[0].counts().get("pending", 0) == 20
    finally:
        for store in stores:
            store.close()


async def test_the_same_idempotency_key_returns_the_first_answer_and_sends_once(served) -> None:
    """docs/provider-service.md §2: same key + same body -> the first request's apns-ids, nothing sent again."""
    client, apns = served
    for t in T:
        assert (await _register(client, t)).status == 201
    body = {"bundle_id": APP, "alert": "once"}
    headers = {**AUTH, "Idempotency-Key": "batch-0001"}
    first = await client.post("/v1/notifications", json=body, headers=headers)
    assert first.status == 200
    results = (await first.json())["results"]
    ids = sorted(r["apns_id"] for r in results)
    assert len(set(ids)) == 3 and all(r["state"] == "done" and r["status"] == 200 for r in results)
    assert sorted(r.headers["apns-id"] for r in apns.received) == ids
    # the retry of a caller who never saw the answer: same key, same body (keys in another order)
    again = await client.post("/v1/notifications", json={"alert": "once", "bundle_id": APP}, headers=headers)
    replay = await again.json()
    assert again.status == 200 and replay["replayed"] is True
    assert sorted(r["apns_id"] for r in replay["results"]) == ids
    assert {(r["state"], r["status"]) for r in replay["results"]} == {("done", 200)}
    assert len(apns.received) == 3, "nothing was sent twice"


async def test_an_idempotency_key_with_another_body_is_409(served) -> None:
    """docs/provider-service.md §2: a key names one request; reusing it for another is the caller's bug."""
    client, apns = served
    await _register(client, T[0])
    headers = {**AUTH, "Idempotency-Key": "k-1"}
    assert (await client.post("/v1/notifications", json={"bundle_id": APP, "alert": "a"}, headers=headers)
            ).status == 200
    resp = await client.post("/v1/notifications", json={"bundle_id": APP, "alert": "b"}, headers=headers)
    assert resp.status == 409
    assert (await resp.json())["field"] == "Idempotency-Key"
    resp = await client.post("/v1/notifications", json={"bundle_id": APP, "alert": "c"},
                             headers={**AUTH, "Idempotency-Key": "has space"})
    assert resp.status == 400 and (await resp.json())["field"] == "Idempotency-Key"
    assert len(apns.received) == 1


async def test_no_answer_keeps_the_notification_and_the_service_resends_it_with_the_same_apns_id(
    db: str, ca: trustme.CA, client_for: Any
) -> None:
    """docs/provider-service.md §2: without an answer the row stays pending; the service owns the retry."""
    stalled = True  # APNs answers nothing in time (every attempt of the client's own retries) until cleared

    def handler(rec: Received) -> Answer:
        return Answer(delay=3.0 if stalled else 0.0)

    async with FakeAPNs(ca, handler=handler) as apns:
        client = await _serve(db, apns, client_for, timeout=0.5, retry=0.2, poll=0.05)
        try:
            await _register(client, T[0])
            resp = await client.post("/v1/notifications", json={"bundle_id": APP, "alert": "x"}, headers=AUTH)
            (result,) = (await resp.json())["results"]
            assert (result["state"], result["status"]) == ("pending", None)
            assert "no answer" in result["error"]
            tries = len(apns.received)
            stalled = False
            store = Store(db)
            try:
                for _ in range(100):
                    entry = store.outbox_entry(result["apns_id"])
                    if entry and entry["state"] == "done":
                        break
                    await asyncio.sleep(0.05)
                assert entry is not None and (entry["state"], entry["status"]) == ("done", 200)
            finally:
                store.close()
            assert tries >= 1
            assert {r.headers["apns-id"] for r in apns.received} == {result["apns_id"]}, "one identity"
            assert len(apns.received) > tries
        finally:
            await client.close()


async def test_an_api_that_does_not_send_answers_202_and_a_worker_sends(
    db: str, ca: trustme.CA, client_for: Any
) -> None:
    """docs/provider-service.md §3: ``serve --no-send`` + ``worker``: the API enqueues, a worker sends."""
    async with FakeAPNs(ca) as apns:
        client = await _serve(db, apns, client_for, send=False)
        try:
            await _register(client, T[0])
            await _register(client, T[1])
            resp = await client.post("/v1/notifications", json={"bundle_id": APP, "alert": "later"}, headers=AUTH)
            assert resp.status == 202
            results = (await resp.json())["results"]
            assert {r["state"] for r in results} == {"pending"} and apns.received == []
        finally:
            await client.close()
        store = Store(db)
        try:
            async with client_for(apns, 10.0) as sender:
                assert await Worker(store, {"sandbox": sender}).drain() == 2
            assert sorted(r.headers["apns-id"] for r in apns.received) == sorted(r["apns_id"] for r in results)
            assert store.counts() == {"done": 2}
        finally:
            store.close()


# -- item 3: tokens belong to their app -------------------------------------------------------------------


async def test_moving_a_token_to_another_user_or_app_needs_the_apps_secret_or_the_operator_key(served) -> None:
    """docs/provider-service.md §4: the attack of issue 18 (re-binding a token with a bare POST) is a 403."""
    client, apns = served
    assert (await _register(client, T[0], "alice")).status == 201
    assert (await _register(client, T[0], "alice")).status == 201  # the app's launch-time refresh stays open
    for attack in [
        dict(user="mallory"),
        dict(user="alice", app="com.evil.app"),
        dict(user="alice", env="production"),
        dict(user="mallory", headers={"Authorization": "Bearer guessed"}),
    ]:
        resp = await _register(client, T[0], **attack)  # type: ignore[arg-type]
        assert resp.status == 403, attack
        assert (await resp.json())["field"] == "token"
    # the real user's sends still reach the phone
    resp = await client.post("/v1/notifications", json={"bundle_id": APP, "user_id": "alice", "alert": "hi"},
                             headers=AUTH)
    assert [r["token"] for r in (await resp.json())["results"]] == [T[0]]
    assert [r.token for r in apns.received] == [T[0]]
    # the app, with its registration secret, may move it (a new user signs in on that phone)
    resp = await client.post("/v1/apps", json={"bundle_id": APP}, headers=AUTH)
    assert resp.status == 201
    secret = (await resp.json())["registration_secret"]
    assert (await _register(client, T[0], "bob", headers={"Authorization": f"Bearer {secret}"})).status == 201
    other = await client.post("/v1/apps", json={"bundle_id": "com.other.app"}, headers=AUTH)
    other_secret = (await other.json())["registration_secret"]
    resp = await _register(client, T[0], "carol", headers={"Authorization": f"Bearer {other_secret}"})
    assert resp.status == 403, "another app's secret is no credential for this app"
    assert (await _register(client, T[0], "carol", headers=AUTH)).status == 201  # the operator may
    devices = (await (await client.get("/v1/devices", headers=AUTH)).json())["devices"]
    assert [(d["token"], d["bundle_id"], d["user_id"]) for d in devices] == [(T[0], APP, "carol")]


async def test_without_an_api_key_nobody_can_mint_an_app_secret(db: str, ca: trustme.CA, client_for: Any) -> None:
    """docs/provider-service.md §4: with no operator there is no app secret to mint, so nobody can move a token
    by minting one for its app (anyone could, before)."""
    apns = FakeAPNs(ca)
    async with apns:
        client = await _serve(db, apns, client_for, api_key=None)
        try:
            assert (await _register(client, T[0], "alice")).status == 201
            minted = await client.post("/v1/apps", json={"bundle_id": APP})
            assert minted.status == 403 and "--api-key" in (await minted.json())["error"]
            assert (await _register(client, T[0], "mallory")).status == 403
        finally:
            await client.close()


async def test_tokens_are_kept_per_bundle_id_and_environment(served) -> None:
    """docs/provider-service.md §4: the operator may register one token for two apps; each keeps its own."""
    client, _ = served
    assert (await _register(client, T[0], "u", app=APP)).status == 201
    assert (await _register(client, T[0], "u", app="com.example.other", headers=AUTH)).status == 201
    devices = (await (await client.get("/v1/devices", headers=AUTH)).json())["devices"]
    assert sorted(d["bundle_id"] for d in devices) == [APP, "com.example.other"]
    assert (await client.delete(f"/v1/devices/{T[0]}", params={"bundle_id": APP}, headers=AUTH)).status == 204
    devices = (await (await client.get("/v1/devices", headers=AUTH)).json())["devices"]
    assert [d["bundle_id"] for d in devices] == ["com.example.other"]


# -- item 4: bad inputs of issue 18 -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"bundle_id": APP, "alert": "x" * 5000}, "alert"),
        ({"bundle_id": APP, "alert": "x", "push_type": ["alert"]}, "push_type"),
        ({"bundle_id": APP, "alert": "x", "priority": [10]}, "priority"),
        ({"bundle_id": APP, "alert": "x", "priority": {"a": 1}}, "priority"),
        ({"bundle_id": APP, "alert": "x", "expiration": 2**70}, "expiration"),
        ({"bundle_id": APP, "alert": "x", "expiration": 1.5}, "expiration"),
        ({"bundle_id": APP, "alert": "x", "collapse_id": 7}, "collapse_id"),
        ({"bundle_id": APP, "alert": "x", "tokens": [7]}, "tokens[0]"),
        ({"bundle_id": APP, "alert": "x", "user_id": "x" * 300}, "user_id"),
        ({"bundle_id": ["com.example.app"], "alert": "x"}, "bundle_id"),
    ],
)
async def test_the_inputs_that_answered_500_are_400s_naming_the_field(served, body: dict, field: str) -> None:
    """docs/provider-service.md §5."""
    client, apns = served
    await _register(client, T[0])
    resp = await client.post("/v1/notifications", json=body, headers=AUTH)
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["field"] == field
    assert apns.received == []


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ('{"bundle_id": "com.example.app", "alert": "\\ud800"}', "/v1/notifications"),
        ('{"bundle_id": "com.example.app", "alert": "x", "user_id": "\\udfff"}', "/v1/notifications"),
        ('{"token": "' + "a1" * 32 + '", "bundle_id": "com.example.app", "user_id": "\\ud83d"}', "/v1/devices"),
        ('{"bundle_id": "com.example.app", "payload": {"n": NaN}}', "/v1/notifications"),
        ('{"bundle_id": "com.example.app", "payload": ' + "[" * 5000 + "]" * 5000 + "}", "/v1/notifications"),
    ],
)
async def test_lone_surrogates_nan_and_deep_nesting_are_400(served, raw: str, path: str) -> None:
    """docs/provider-service.md §5: text that is not UTF-8, JSON that is not JSON, nesting past the limit."""
    client, _ = served
    resp = await client.post(path, data=raw.encode(), headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status == 400, await resp.text()
    assert "error" in await resp.json()


# -- migrations -------------------------------------------------------------------------------------------


def test_a_first_version_sqlite_file_is_migrated_at_open_and_keeps_its_data(tmp_path: Path) -> None:
    """docs/provider-service.md §1: SQLite migrates at start; a file of the single-process service upgrades."""
    import sqlite3

    from provider.stores.schema import MIGRATIONS

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        for statement in MIGRATIONS[0][2]:
            old.execute(statement)
        old.execute("INSERT INTO devices VALUES (?, ?, 'sandbox', 'u', 'active', NULL, 1, 1, NULL)", (T[0], APP))
    store = Store(path)
    try:
        assert store.schema_version() == 2
        (device,) = store.devices()
        assert (device.token, device.bundle_id, device.user_id) == (T[0], APP, "u")
        assert store.migrate() == []  # idempotent
    finally:
        store.close()


def test_postgres_refuses_to_start_on_an_unmigrated_database() -> None:
    """docs/provider-service.md §1: PostgreSQL is migrated by ``apns-provider migrate``, not by each process."""
    from provider.stores import SchemaOutOfDate

    with database() as url:
        with pytest.raises(SchemaOutOfDate, match="apns-provider migrate"):
            Store(url)
        store = Store(url, migrate=True)
        assert store.schema_version() == 2
        store.close()
        Store(url).close()




def test_migrate_from_the_command_line_and_a_process_refusing_an_old_schema(tmp_path: Path) -> None:
    """docs/provider-service.md §1; docs/cli.md: ``apns-provider worker`` on an unmigrated PostgreSQL exits 2
    with one line that says what to run; ``apns-provider migrate`` prints the version."""
    import subprocess

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.integration.test_provider_crash import PROVIDER

    p8 = tmp_path / "AuthKey_KEY1234567.p8"
    p8.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with database() as url:
        worker = subprocess.run([*PROVIDER, "worker", "--db", url, "--p8", str(p8), "--key-id", "KEY1234567",
                                 "--team-id", "TEAM123456"], capture_output=True, text=True, timeout=60)
        assert worker.returncode == 2, worker.stderr
        assert worker.stderr.count("\n") == 1 and "run apns-provider migrate" in worker.stderr
        assert url.split("@")[0].split(":")[-1] not in worker.stderr, "the password is never printed"
        done = subprocess.run([*PROVIDER, "migrate", "--db", url], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"schema_version": 2}


def test_the_database_may_come_from_the_environment(tmp_path: Path) -> None:
    """docs/cli.md: ``--db`` or env ``APNS_PROVIDER_DB`` (which keeps a PostgreSQL password out of ``ps``);
    with neither, one line and exit 2."""
    import os
    import subprocess

    from tests.integration.test_provider_crash import PROVIDER

    env = {**os.environ, "APNS_PROVIDER_DB": str(tmp_path / "from-env.sqlite3")}
    done = subprocess.run([*PROVIDER, "migrate"], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"schema_version": 2} and (tmp_path / "from-env.sqlite3").exists()
    env.pop("APNS_PROVIDER_DB")
    missing = subprocess.run([*PROVIDER, "migrate"], capture_output=True, text=True, timeout=60, env=env)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "APNS_PROVIDER_DB" in missing.stderr

