"""Random JSON against the send and registration APIs: never a 500 (docs/provider-service.md §5).

Hypothesis drives a real ``apns-provider`` service (aiohttp on 127.0.0.1, a fake APNs behind it over real
TLS/HTTP/2) from a plain HTTP client; the service runs in its own thread with its own event loop because
Hypothesis calls the test synchronously. Bodies mix the API's own field names with values of every JSON
type, huge integers, lone surrogates and deep nesting, so most reach the checks behind the first one.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provider.apns import APNsClient, load_pem
from provider.web import ServiceConfig, create_app
from tests.integration.h2_fake_apns import FakeAPNs
from tests.postgres_cluster import store_target

APP = "com.example.app"
TOKEN = "a1" * 32
KEY = "operator-secret"
FIELDS = ["bundle_id", "alert", "payload", "tokens", "user_id", "push_type", "priority", "expiration",
          "collapse_id", "token", "environment", "aps", "badge"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**60, max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(blacklist_categories=()), max_size=20),  # includes lone surrogates (category Cs)
    st.sampled_from([APP, TOKEN, "sandbox", "production", "alert", "background", "voip", "x" * 5000]),
    st.sampled_from([1, 5, 10, 0, -1]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), inner, max_size=5),
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), values, max_size=8),
    st.fixed_dictionaries({"bundle_id": st.just(APP)}, optional={f: values for f in FIELDS if f != "bundle_id"}),
    values,
)


class Service:
    """The service in a background thread; ``post`` is a blocking HTTP client call."""

    def __init__(self, db: str, ca: trustme.CA, tmp_path: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        pem = tmp_path / "client.pem"
        ca.issue_cert("push-client.example").private_key_and_cert_chain_pem.write_to_path(str(pem))
        self.apns = FakeAPNs(ca)

        def factory(env: str) -> APNsClient:
            return APNsClient(load_pem(pem), environment=env, endpoint=self.apns.url, ca_file=ca_file)

        self.app = create_app(ServiceConfig(db_path=db, api_key=KEY), factory)
        self.runner = web.AppRunner(self.app)
        self.port = self._run(self._start())

    def _run(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(60)

    async def _start(self) -> int:
        await self.apns.__aenter__()
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        return int(self.runner.addresses[0][1])

    async def _stop(self) -> None:
        await self.runner.cleanup()
        await self.apns.__aexit__(None, None, None)

    def close(self) -> None:
        self._run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def post(self, path: str, raw: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", path, body=raw, headers={"Content-Type": "application/json", **headers})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def service(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    with store_target(request.param, tmp) as db:
        svc = Service(db, trustme.CA(), tmp)
        try:
            status, _ = svc.post("/v1/devices", json.dumps({"token": TOKEN, "bundle_id": APP}).encode(), {})
            assert status == 201
            yield svc
        finally:
            svc.close()


def _check(service: Service, path: str, body: Any, headers: dict[str, str]) -> None:
    raw = json.dumps(body).encode()  # ensure_ascii: lone surrogates travel as \\udXXX escapes
    status, answer = service.post(path, raw, headers)
    assert status < 500, (status, body, answer[:500])
    if status >= 400:
        assert "error" in json.loads(answer), answer[:500]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(body=bodies, key=st.one_of(st.none(), st.text(max_size=12)))
def test_random_send_requests_never_answer_500(service: Service, body: Any, key: str | None) -> None:
    """docs/provider-service.md §5: every bad body is a 4xx with a JSON error."""
    headers = {"Authorization": f"Bearer {KEY}"}
    if key is not None and key.isascii() and key.isprintable():
        headers["Idempotency-Key"] = key
    _check(service, "/v1/notifications", body, headers)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(body=bodies)
def test_random_registrations_never_answer_500(service: Service, body: Any) -> None:
    """docs/provider-service.md §5."""
    _check(service, "/v1/devices", body, {})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_random_bytes_never_answer_500(service: Service, raw: bytes) -> None:
    """docs/provider-service.md §5: not even bytes that are not JSON or not UTF-8."""
    for path in ("/v1/notifications", "/v1/devices"):
        status, answer = service.post(path, raw, {"Authorization": f"Bearer {KEY}"})
        assert 400 <= status < 500 or status in (200, 201, 202), (status, raw, answer[:300])
