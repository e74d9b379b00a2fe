"""The admin API against hostile callers, over real sockets on 127.0.0.1 (issue 14, items 3 and 5).

A page on a rebound DNS name, a page of another origin, a body labelled text/plain, a missing or wrong token,
bodies and readers past their limits: each is refused with a JSON error and leaves the simulator as it was.
The browser half of the same attacks is in test_admin_security_browser.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from apns_sim.cli import main as apns_sim_main
from apns_sim.limits import (
    ADMIN_JSON_DEPTH,
    ADMIN_MAX_BODY,
    ADMIN_MAX_EVENT_STREAMS,
    ADMIN_MAX_WAITERS,
    ADMIN_MIN_TOKEN,
)
from apns_sim.simulator import Simulator
from pushsim import RunningSimulator

TOKEN = "s3cret-admin-token-0123456789"
THIRTY_DAYS = {"advance": 30 * 24 * 3600}
FAIL_EVERY_PUSH = {"kind": "reason", "status": 500}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        yield session


@pytest.fixture
async def locked(tmp_path: Path) -> AsyncIterator[RunningSimulator]:
    """A simulator started with an admin token."""
    async with RunningSimulator.start(tmp_path / "locked", admin_token=TOKEN) as running:
        yield running


async def call(http: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> tuple[int, Any, Any]:
    async with http.request(method, url, **kw) as response:
        return response.status, await response.json(), response.headers


def untouched(sim: RunningSimulator) -> None:
    """The state the attacks aim at is as a fresh simulator has it."""
    assert not sim.clock.frozen and abs(sim.clock.time() - time.time()) < 60
    assert sim.state.faults.to_json()["faults"] == []
    assert sim.notifications() == []


async def test_a_rebound_host_name_is_refused_on_every_route(sim: RunningSimulator,
                                                             http: aiohttp.ClientSession) -> None:
    """docs/admin-api.md §1.1: DNS rebinding reads /_sim/tokens same-origin; the Host header gives it away."""
    port = sim.admin_url.rsplit(":", 1)[1]
    for method, path in (("GET", "/_sim/tokens"), ("GET", "/_sim/events"), ("GET", "/"),
                         ("GET", "/_sim/notifications/wait?timeout=5"), ("POST", "/_sim/clock")):
        status, body, _ = await call(http, method, sim.admin_url + path, headers={"Host": f"evil.example:{port}"},
                                     json=THIRTY_DAYS if method == "POST" else None)
        assert status == 421 and "DNS rebinding" in body["error"], (path, status, body)
    untouched(sim)
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", f"app.localhost:{port}"):
        status, body, _ = await call(http, "GET", sim.admin_url + "/_sim/tokens", headers={"Host": host})
        assert status == 200 and body == {"tokens": []}, host


async def test_the_bound_host_is_allowed_and_a_wildcard_bind_allows_ip_literals(tmp_path: Path,
                                                                               http: aiohttp.ClientSession) -> None:
    """docs/admin-api.md §1.1: the name given to --host is the user's; IP literals cannot be rebound."""
    from apns_sim.admin.guard import AdminGuard

    named, wildcard = AdminGuard(bind_host="sim.internal"), AdminGuard(bind_host="0.0.0.0")
    assert named.host_allowed("sim.internal:8080") and named.host_allowed("localhost")
    assert not named.host_allowed("10.1.2.3:8080") and not named.host_allowed("evil.example")
    assert wildcard.host_allowed("10.1.2.3:8080") and wildcard.host_allowed("[fe80::1]:80")
    assert not wildcard.host_allowed("evil.example:80") and not wildcard.host_allowed("localhost.evil.example")
    locked = AdminGuard(token=TOKEN)
    assert locked.token_ok(f"Bearer {TOKEN}") and locked.token_ok(f"bearer  {TOKEN} ")
    assert not locked.token_ok("Bearer \udcff") and not locked.token_ok("") and not locked.token_ok(TOKEN)


async def test_a_page_of_another_origin_cannot_change_anything(sim: RunningSimulator,
                                                             http: aiohttp.ClientSession) -> None:
    """docs/admin-api.md §1.2: what Chromium sends for a cross-origin fetch is refused, even as JSON."""
    foreign = [{"Origin": "http://127.0.0.1:1"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
               {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors"}]
    for headers in foreign:
        for path, body in (("/_sim/clock", THIRTY_DAYS), ("/_sim/faults", FAIL_EVERY_PUSH),
                           ("/_sim/reset", None)):
            status, answer, _ = await call(http, "POST", sim.admin_url + path, headers=headers, json=body)
            assert status == 403 and "another origin" in answer["error"], (headers, path)
    untouched(sim)
    status, _, _ = await call(http, "POST", sim.admin_url + "/_sim/clock", json={"freeze": True},
                              headers={"Origin": sim.admin_url, "Sec-Fetch-Site": "same-origin"})
    assert status == 200 and sim.clock.frozen  # the dashboard's own requests still work


async def test_a_text_plain_body_is_refused_with_415(sim: RunningSimulator, http: aiohttp.ClientSession) -> None:
    """docs/admin-api.md §1.4: the only bodies a page may send cross-origin without asking are not JSON-typed."""
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        for path, body in (("/_sim/clock", THIRTY_DAYS), ("/_sim/faults", FAIL_EVERY_PUSH),
                           ("/_sim/console/push", {"device_token": "ab" * 32, "topic": "com.example",
                                                   "payload": {"aps": {"alert": "forged"}}})):
            status, answer, _ = await call(http, "POST", sim.admin_url + path, data=json.dumps(body),
                                           headers={"Content-Type": kind})
            assert status == 415 and "application/json" in answer["error"], (kind, path)
    untouched(sim)


async def test_with_a_token_every_data_route_asks_for_it(locked: RunningSimulator,
                                                         http: aiohttp.ClientSession) -> None:
    """docs/admin-api.md §1.3: 401 with WWW-Authenticate: Bearer; compared in constant time; never echoed."""
    admin = locked.admin_url
    for headers in ({}, {"Authorization": "Bearer wrong-token-wrong-token"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": f"Bearer {TOKEN}x"}):
        for method, path in (("GET", "/_sim/tokens"), ("GET", "/_sim/events"), ("POST", "/_sim/clock"),
                             ("GET", "/_sim/health")):
            async with http.request(method, admin + path, headers=headers,
                                    json=THIRTY_DAYS if method == "POST" else None) as response:
                text = await response.text()
                assert response.status == 401, (headers, path)
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
                assert TOKEN not in text and "--admin-token" in json.loads(text)["error"]
    untouched(locked)
    assert locked.admin_headers == {"Authorization": f"Bearer {TOKEN}"}
    status, body, _ = await call(http, "POST", admin + "/_sim/clock", json={"freeze": True},
                                 headers=locked.admin_headers)
    assert status == 200 and body["frozen"] is True
    for path in ("/", "/static/dashboard.js", "/static/live.js"):  # the page that asks for the token is open
        async with http.get(admin + path) as response:
            assert response.status == 200, path
    status, body, _ = await call(http, "POST", admin + "/deviceservices/deviceActivation", json={})
    assert status == 400 and "csr" in body["error"]  # phones activate without the admin's token


def test_a_weak_token_is_refused_at_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """docs/admin-api.md §1.3 and docs/cli.md: a short token is a usage error, and the message never quotes it."""
    with pytest.raises(ValueError, match=str(ADMIN_MIN_TOKEN)):
        Simulator(tmp_path, admin_token="short")
    assert apns_sim_main(["serve", "--data-dir", str(tmp_path), "--admin-token", "tooshort"]) == 2
    err = capsys.readouterr().err
    assert "--admin-token" in err and "tooshort" not in err


async def test_security_headers_on_the_dashboard_and_every_answer(sim: RunningSimulator,
                                                                  http: aiohttp.ClientSession) -> None:
    """docs/dashboard.md §1: CSP with frame-ancestors 'none', nosniff, no framing, on errors as well."""
    for path in ("/", "/static/dashboard.js", "/_sim/clock", "/_sim/nothing-here"):
        async with http.get(sim.admin_url + path) as response:
            csp = response.headers.get("Content-Security-Policy", "")
            assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
            assert response.headers.get("X-Content-Type-Options") == "nosniff", path
            assert response.headers.get("X-Frame-Options") == "DENY", path
            assert response.headers.get("Cross-Origin-Resource-Policy") == "same-origin", path


async def test_bodies_past_their_limits_are_refused_with_json(sim: RunningSimulator,
                                                              http: aiohttp.ClientSession) -> None:
    """docs/limits.md §3: ADMIN_MAX_BODY (413) and ADMIN_JSON_DEPTH (400), never a 500."""
    big = json.dumps({"advance": 1, "pad": "x" * ADMIN_MAX_BODY})
    status, body, _ = await call(http, "POST", sim.admin_url + "/_sim/faults", data=big,
                                 headers={"Content-Type": "application/json"})
    assert status == 413 and str(ADMIN_MAX_BODY) in body["error"]
    for depth in (ADMIN_JSON_DEPTH + 1, 5000):  # 5000: Python's json would raise RecursionError (a 500 on main)
        deep = "[" * depth + "]" * depth
        for path in ("/_sim/clock", "/_sim/faults", "/_sim/console/push"):
            status, body, _ = await call(http, "POST", sim.admin_url + path, data=deep,
                                         headers={"Content-Type": "application/json"})
            assert status == 400 and "levels deep" in body["error"], (depth, path)
    untouched(sim)


async def test_event_streams_and_long_polls_are_bounded(sim: RunningSimulator,
                                                        http: aiohttp.ClientSession) -> None:
    """docs/limits.md §3: ADMIN_MAX_EVENT_STREAMS and ADMIN_MAX_WAITERS, then 503 with Retry-After."""
    streams = [await http.get(sim.admin_url + "/_sim/events") for _ in range(ADMIN_MAX_EVENT_STREAMS)]
    try:
        assert all(s.status == 200 for s in streams)
        status, body, headers = await call(http, "GET", sim.admin_url + "/_sim/events")
        assert status == 503 and headers["Retry-After"] == "1" and "event streams" in body["error"]
    finally:
        for stream in streams:
            stream.close()
    waits = [asyncio.create_task(call(http, "GET", sim.admin_url + "/_sim/notifications/wait?timeout=3"))
             for _ in range(ADMIN_MAX_WAITERS)]
    try:
        for _ in range(100):  # until every long-poll is in (health counts them)
            if (await call(http, "GET", sim.admin_url + "/_sim/health"))[1]["long_polls"] >= ADMIN_MAX_WAITERS:
                break
            await asyncio.sleep(0.05)
        status, body, _ = await call(http, "GET", sim.admin_url + "/_sim/notifications/wait?timeout=1")
        assert status == 503 and "long-polls" in body["error"]
    finally:
        answers = await asyncio.gather(*waits)
    assert {a[0] for a in answers} == {408}


PLUGIN_USER_TEST = '''
import aiohttp


async def test_the_admin_api_asks_for_the_token_the_plugin_holds(apns_simulator, apns_admin_token):
    assert apns_admin_token == apns_simulator.admin_token == "plugin-admin-token-0123456789"
    url = apns_simulator.admin_url + "/_sim/tokens"
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as response:
            assert response.status == 401
        async with http.get(url, headers=apns_simulator.admin_headers) as response:
            assert response.status == 200 and await response.json() == {"tokens": []}
'''


def test_the_pytest_plugin_reads_the_token_from_the_environment(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/pytest-plugin.md and docs/admin-api.md §1.3: $PUSHSIM_ADMIN_TOKEN reaches the simulator and the tests."""
    from tests.integration.test_pytest_plugin import run_user_pytest

    project = tmp_path / "token_user"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    (project / "test_token.py").write_text(PLUGIN_USER_TEST)
    monkeypatch.setenv("PUSHSIM_ADMIN_TOKEN", "plugin-admin-token-0123456789")
    _, suite = run_user_pytest(project, tmp_path / "report.xml")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("1", "0", "0")


def test_apns_sim_serve_takes_the_token_from_the_environment_and_never_prints_it(tmp_path: Path) -> None:
    """docs/cli.md (--admin-token) and docs/admin-api.md §1.3, as a user runs it: a process and plain HTTP."""
    import os
    import subprocess
    import urllib.error
    import urllib.request

    from tests.integration.test_cli_contracts import APNS_SIM, read_json_line, stop

    env = {**os.environ, "PUSHSIM_ADMIN_TOKEN": TOKEN}
    proc = subprocess.Popen([*APNS_SIM, "serve", "--data-dir", str(tmp_path / "apns")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        admin = read_json_line(proc.stdout)["admin"]
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(admin + "/_sim/tokens", timeout=10)  # plain HTTP on loopback
        assert refused.value.code == 401
        request = urllib.request.Request(admin + "/_sim/tokens", headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read()) == {"tokens": []}
    finally:
        stop(proc)
    out, err = proc.communicate()
    assert f"{admin}/#token=<TOKEN>" in err
    assert TOKEN not in out + err


async def test_with_a_token_phones_still_activate_and_erase_and_wait_says_ready(
        locked: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/admin-api.md §1.3: activation and erase are the phones' routes (erase is signed by the device's own
    key), so a phone, which never holds the admin token, can still use both; `apns-sim wait` counts the
    token-protected health check as an answer, and sends the token when it has one (docs/drop-in.md §5)."""
    from apns_sim.cli import wait
    from device_sim.identity import activation as client
    from tests.integration.test_gateway_abuse import certificate_for, new_key

    key, device_id = new_key(), "8D8AC610-566D-4EF0-9C22-186B2A5ED793"
    cert = await certificate_for(locked, key, device_id)
    assert await client.erase(locked.admin_url, key, cert) == device_id
    monkeypatch.delenv("PUSHSIM_ADMIN_TOKEN", raising=False)
    assert await asyncio.to_thread(wait.check, locked.data_dir) is None
    monkeypatch.setenv("PUSHSIM_ADMIN_TOKEN", TOKEN)
    assert await asyncio.to_thread(wait.check, locked.data_dir) is None
    monkeypatch.setenv("PUSHSIM_ADMIN_TOKEN", "x" * 20)  # a wrong token is a 401 too: still "answers"
    assert await asyncio.to_thread(wait.check, locked.data_dir) is None


async def test_the_favicon_is_served_open_under_the_guard_and_headers(locked: RunningSimulator,
                                                                      http: aiohttp.ClientSession) -> None:
    """docs/dashboard.md §1 "The tab icon": /favicon.ico was a 404 on every dashboard load; now the icon, open
    without the token like the other assets, still refused to a rebound Host, with the security headers."""
    icon = (Path(__file__).parents[2] / "apns_sim" / "admin" / "static" / "favicon.svg").read_text()
    for path in ("/favicon.ico", "/static/favicon.svg"):
        async with http.get(locked.admin_url + path) as response:
            assert response.status == 200, path
            assert response.content_type == "image/svg+xml", path
            assert await response.text() == icon and icon.startswith("<svg ")
            assert "img-src 'self' data:" in response.headers["Content-Security-Policy"]
            assert response.headers["X-Content-Type-Options"] == "nosniff"
    port = locked.admin_url.rsplit(":", 1)[1]
    status, body, _ = await call(http, "GET", locked.admin_url + "/favicon.ico",
                                 headers={"Host": f"evil.example:{port}"})
    assert status == 421 and "DNS rebinding" in body["error"]
    status, _, _ = await call(http, "GET", locked.admin_url + "/_sim/tokens")
    assert status == 401  # the favicon opened nothing else
