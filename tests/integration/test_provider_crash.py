"""Nothing lost: a notification the service accepted survives ``kill -9`` and is sent on restart, same apns-id.

Issue 6 ("Nothing lost"), docs/architecture.md contract 4 and "One notification, end to end". Real processes and real
TLS, verification on everywhere (docs/style.md habit 7):

1. the simulator runs (in process), with an App ID, a ``.p8`` key and an iPhone that is online;
2. ``apns-provider serve`` (a real process) is first pointed at a TLS listener that completes the handshake
   (ALPN ``h2``) and then never says a word of HTTP/2. A ``POST /v1/notifications`` is accepted by the service,
   written to the outbox, and its send hangs waiting for the server's SETTINGS: the honest window between
   "accepted" and "sent";
3. the test sees the pending row in the SQLite outbox (read from outside, as an operator would), checks the
   simulator never saw that apns-id, and kills the service with SIGKILL, which no handler can soften;
4. the same service, same database, is started against the real simulator; at start it resends the outbox;
5. the simulator's admin API and the phone both show the notification, once, with the apns-id the outbox
   recorded before the crash; the outbox row is done with status 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
import ssl
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme

from apns_sim.portal.service import Portal
from apns_sim.simulator import Simulator
from device_sim import Phone

BUNDLE = "com.example.crash"
TEAM = "CRASHTEAM1"
BIN = Path(sys.executable).parent
PROVIDER = [str(BIN / "apns-provider")] if (BIN / "apns-provider").exists() else [sys.executable, "-m", "provider.cli"]


@dataclass
class Stalled:
    """A TLS listener that agrees to ``h2`` and then stays silent: connections land, sends hang."""

    port: int
    ca_file: Path
    connections: int = 0


@contextlib.asynccontextmanager
async def stalled_apns(tmp_path: Path) -> AsyncIterator[Stalled]:
    ca = trustme.CA()
    ca_file = tmp_path / "stalled-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    context.set_alpn_protocols(["h2"])
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stalled.connections += 1
        held.append(writer)
        with contextlib.suppress(Exception):
            while await reader.read(65536):  # swallow the preface, SETTINGS and HEADERS; answer nothing
                pass

    server = await asyncio.start_server(accept, "127.0.0.1", 0, ssl=context)
    stalled = Stalled(port=server.sockets[0].getsockname()[1], ca_file=ca_file)
    try:
        yield stalled
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def provider_service(db: Path, endpoint: str, ca_file: str | Path, p8: Path, key_id: str
                           ) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """``apns-provider serve`` as a real process; yields it and its URL; SIGTERM (if still alive) on exit."""
    proc = await asyncio.create_subprocess_exec(
        *PROVIDER, "serve", "--db", str(db), "--endpoint", endpoint, "--ca", str(ca_file),
        "--p8", str(p8), "--key-id", key_id, "--team-id", TEAM, "--lease", "2",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line, f"apns-provider serve exited ({await proc.wait()}): {(await _stderr(proc))[-2000:]}"
        yield proc, json.loads(line)["url"]
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _stderr(proc: asyncio.subprocess.Process) -> str:
    assert proc.stderr is not None
    return (await proc.stderr.read()).decode(errors="replace")


def outbox(db: Path) -> list[dict[str, Any]]:
    """The outbox as another process sees it (read-only; WAL lets us read while the service writes)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute("SELECT * FROM outbox ORDER BY created_at")]
        except sqlite3.OperationalError:  # the service has not created its schema yet
            return []


async def wait_for(predicate: Any, what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def app_and_key(sim: Simulator, directory: Path, bundle_id: str = BUNDLE) -> tuple[Path, str]:
    """The App ID and a token signing key on the simulator's portal; the .p8 file (0600) and its Key ID."""
    assert sim.state is not None
    portal = Portal(sim.state.registry, sim.state.authority, sim.state.clock.now)
    portal.create_app_id(bundle_id, TEAM)
    key = portal.create_auth_key(TEAM)
    p8 = directory / f"AuthKey_{key.key_id}.p8"
    p8.write_bytes(key.p8)
    p8.chmod(0o600)
    return p8, key.key_id


async def test_accepted_notification_survives_kill_9_and_is_sent_on_restart_with_the_same_apns_id(
    tmp_path: Path,
) -> None:
    db = tmp_path / "provider.sqlite3"
    async with Simulator(tmp_path / "apns") as sim, stalled_apns(tmp_path) as stalled, aiohttp.ClientSession() as http:
        endpoints = sim.endpoints
        assert sim.state is not None
        p8, key_id = app_and_key(sim, tmp_path)

        async with Phone.open(endpoints, state_dir=tmp_path / "iphone", name="Crash iPhone") as phone:
            app = phone.install_app(BUNDLE, environment="development", types=("alert", "sound", "badge"))
            token = await app.register(timeout=10)

            # -- first life: accepted and written, then the send hangs; kill -9 -------------------------------
            async with provider_service(db, f"https://127.0.0.1:{stalled.port}", stalled.ca_file, p8,
                                        key_id) as (proc, url):
                async with http.post(f"{url}/v1/devices", json={"token": token, "bundle_id": BUNDLE,
                                                                 "environment": "sandbox"}) as response:
                    assert response.status in (200, 201), await response.text()
                payload = {"aps": {"alert": "survived a crash", "badge": 7}}
                send = asyncio.ensure_future(http.post(f"{url}/v1/notifications",
                                                       json={"bundle_id": BUNDLE, "tokens": [token],
                                                             "payload": payload}))
                try:
                    rows = await wait_for(lambda: [r for r in outbox(db) if r["state"] == "pending"],
                                          "the outbox row of the accepted notification")
                    await wait_for(lambda: stalled.connections > 0, "the service to try to send it")
                    assert not send.done(), "the service answered before its send went anywhere"
                    (row,) = rows
                    apns_id = row["apns_id"]
                    assert (row["token"], row["topic"], json.loads(row["payload"])) == (token, BUNDLE, payload)
                    assert sim.state.journeys.list(apns_id=apns_id) == [], "not sent before the crash"

                    proc.kill()  # SIGKILL: no handler, no clean-up, no goodbye
                    assert await asyncio.wait_for(proc.wait(), 10) == -signal.SIGKILL
                    with pytest.raises(aiohttp.ClientError):
                        await asyncio.wait_for(send, 10)  # the caller learns the service died mid-request
                finally:
                    send.cancel()
                    with contextlib.suppress(BaseException):
                        await send

            (row,) = outbox(db)
            assert (row["apns_id"], row["state"]) == (apns_id, "pending"), "the crash lost nothing"

            # -- second life: same database, the real simulator: resent at start, same apns-id --------------------
            async with provider_service(db, endpoints["sandbox"], endpoints["ca_file"], p8, key_id):
                received = await app.next_notification(timeout=15)
                assert received.apns_id.lower() == apns_id
                assert received.payload == payload
                async with http.get(f"{endpoints['admin']}/_sim/notifications/wait",
                                    params={"apns_id": apns_id, "timeout": "10"}) as response:
                    assert response.status == 200, await response.text()
                    journey = await response.json()
                assert (journey["apns_id"].lower(), journey["token"], journey["status"]) == (apns_id, token, 200)
                done = await wait_for(lambda: [r for r in outbox(db) if r["state"] == "done"],
                                      "the outbox to record Apple's answer")
                assert [(r["apns_id"], r["status"]) for r in done] == [(apns_id, 200)]

            async with http.get(f"{endpoints['admin']}/_sim/notifications", params={"token": token}) as response:
                log = await response.json()
            assert [j["apns_id"].lower() for j in log] == [apns_id], "sent exactly once, after the restart"
