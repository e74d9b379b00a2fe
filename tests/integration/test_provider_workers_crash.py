"""kill -9 under load: a worker and the API process die mid-batch; nothing is lost, nothing is sent under a
second identity (docs/provider-service.md §2, §6).

Real processes, real TLS, real PostgreSQL (and SQLite shared by the same processes): the simulator and one
iPhone run in this process; ``apns-provider serve --no-send`` and 2 or 4 ``apns-provider worker`` processes
share one outbox. A caller sends 2,000 notifications (20 requests of 100, 4 in parallel), each request with
its own ``Idempotency-Key``, retrying a request that failed with a connection error under the same key.
Mid-batch the test SIGKILLs one worker, then the API process (and starts a new API on the same database).

Counted at the simulator (every ``accepted`` stage of its journey log, per apns-id) and at the phone (every
notification its app received and presented, per apns-id):
- lost: an apns-id the service handed out that the simulator never accepted or the phone never got: 0;
- a notification under a second apns-id (the duplicate of issue 18): 0, by construction and checked;
- the same apns-id accepted twice by the simulator: possible (sent, answered, the worker killed before it
  wrote the answer down) and counted; the phone, which remembers the apns-ids it presented, shows none twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from apns_sim.simulator import Simulator
from device_sim import Phone
from provider.store import Store
from tests.integration.test_provider_crash import BUNDLE, PROVIDER, TEAM, app_and_key
from tests.postgres_cluster import store_target

REQUESTS, PER_REQUEST, PARALLEL = 20, 100, 4


async def _start(*argv: str) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    proc = await asyncio.create_subprocess_exec(*PROVIDER, *argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    assert line, f"apns-provider {argv[0]} exited with {await proc.wait()}"
    return proc, json.loads(line)


@contextlib.asynccontextmanager
async def _processes() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    procs: list[asyncio.subprocess.Process] = []
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


@pytest.mark.parametrize("workers", [2, 4])
@pytest.mark.parametrize("kind", ["postgres", "sqlite"])
async def test_kill_9_of_a_worker_and_the_api_under_load_loses_nothing_and_never_changes_an_apns_id(
    tmp_path: Path, kind: str, workers: int
) -> None:
    """docs/provider-service.md §2 (the guarantee) and §6 (the crash tests)."""
    async with Simulator(tmp_path / "apns") as sim, _processes() as procs, aiohttp.ClientSession() as http:
        endpoints = sim.endpoints
        assert sim.state is not None
        accepted: Counter[str] = Counter()
        sim.state.journeys.subscribe(
            lambda journey, entry: accepted.update([journey.apns_id.lower()]) if entry["stage"] == "accepted"
            else None)
        p8, key_id = app_and_key(sim, tmp_path)
        common = ["--endpoint", endpoints["sandbox"], "--ca", str(endpoints["ca_file"]), "--p8", str(p8),
                  "--key-id", key_id, "--team-id", TEAM, "--lease", "2", "--retry", "0.2"]

        with store_target(kind, tmp_path) as db:
            async with Phone.open(endpoints, state_dir=tmp_path / "iphone", name="Load iPhone") as phone:
                app = phone.install_app(BUNDLE, environment="development", types=("alert", "sound", "badge"))
                token = await app.register(timeout=10)

                api, ready = await _start("serve", "--db", db, "--no-send", *common)
                procs.append(api)
                url = [ready["url"]]
                async with http.post(f"{url[0]}/v1/devices", json={"token": token, "bundle_id": BUNDLE,
                                                                      "environment": "sandbox"}) as response:
                    assert response.status == 201, await response.text()
                worker_procs = []
                for _ in range(workers):
                    proc, _ready = await _start("worker", "--db", db, "--concurrency", "50", *common)
                    procs.append(proc)
                    worker_procs.append(proc)

                # Every notification the phone hands to the app, as the phone's own event stream reports it (the
                # app's inbox keeps only the latest 100, too few for a burst).
                presented: Counter[str] = Counter()
                received: Counter[str] = Counter()

                def on_event(event: dict[str, Any]) -> None:
                    if event.get("event") == "notification" and event.get("bundle_id") == BUNDLE:
                        received.update([event["apns_id"].lower()])
                        if event["presented"].get("alert") is not None:  # shown as an alert
                            presented.update([event["apns_id"].lower()])

                phone.subscribe(on_event)
                issued: dict[int, list[str]] = {}
                connection_errors = 0

                async def one(i: int, gate: asyncio.Semaphore) -> None:
                    nonlocal connection_errors
                    body = {"bundle_id": BUNDLE, "tokens": [token] * PER_REQUEST,
                            "payload": {"aps": {"alert": f"batch {i}"}, "i": i}}
                    async with gate:
                        for _attempt in range(200):
                            try:
                                async with http.post(f"{url[0]}/v1/notifications", json=body,
                                                     headers={"Idempotency-Key": f"load-{i}"}) as response:
                                    if response.status in (200, 202):
                                        issued[i] = [r["apns_id"] for r in (await response.json())["results"]]
                                        await asyncio.sleep(0.2)  # paced: the batch is still coming at the kills
                                        return
                                    assert response.status >= 500, await response.text()
                            except (TimeoutError, aiohttp.ClientError):
                                connection_errors += 1
                            await asyncio.sleep(0.1)
                    raise AssertionError(f"request {i} never got an answer")

                killed_at: dict[str, int] = {}

                async def killer() -> None:
                    # a worker first, with sends in flight and most of the batch still to go ...
                    while sum(accepted.values()) < 300:
                        await asyncio.sleep(0.005)
                    worker_procs[0].send_signal(signal.SIGKILL)
                    killed_at["worker_accepted"] = sum(accepted.values())
                    # ... then the API, while requests are in flight (their callers see a connection error)
                    api.send_signal(signal.SIGKILL)
                    killed_at["api_answered"] = len(issued)
                    await api.wait()
                    new_api, again = await _start("serve", "--db", db, "--no-send", *common)
                    procs.append(new_api)
                    url[0] = again["url"]

                gate = asyncio.Semaphore(PARALLEL)
                await asyncio.gather(killer(), *(one(i, gate) for i in range(REQUESTS)))
                assert worker_procs[0].returncode == -signal.SIGKILL and api.returncode == -signal.SIGKILL

                ids = [apns_id for i in sorted(issued) for apns_id in issued[i]]
                assert len(ids) == len(set(ids)) == REQUESTS * PER_REQUEST, "one apns-id per notification"
                wanted = set(ids)
                store = Store(db)
                try:
                    for _ in range(600):
                        if not store.counts().get("pending") and wanted <= set(accepted):
                            break
                        await asyncio.sleep(0.05)
                    assert store.counts() == {"done": len(wanted)}
                finally:
                    store.close()

                for _ in range(600):  # the phone, the simulator and this test share one busy event loop
                    if set(received) >= wanted:
                        break
                    await asyncio.sleep(0.05)
                await asyncio.sleep(2)  # repeats still on their way

        sim_twice = sum(c - 1 for c in accepted.values() if c > 1)
        phone_twice = sum(c - 1 for c in presented.values() if c > 1)
        report = {
            "kind": kind, "workers": workers, "notifications": len(wanted),
            "caller_connection_errors": connection_errors,
            "lost_at_simulator": len(wanted - set(accepted)), "lost_at_phone": len(wanted - set(presented)),
            "unknown_apns_ids_at_simulator": len(set(accepted) - wanted),
            "same_apns_id_accepted_twice_at_simulator": sim_twice,
            "presented_twice_at_phone": phone_twice, "received_at_phone": sum(received.values()),
        }
        report.update(killed_at)
        print("crash-counts", json.dumps(report))
        assert connection_errors > 0 and killed_at["api_answered"] < REQUESTS, "the API died under load"
        assert killed_at["worker_accepted"] < len(wanted), "the worker died under load"
        assert report["lost_at_simulator"] == 0 and report["lost_at_phone"] == 0, report
        assert report["unknown_apns_ids_at_simulator"] == 0, report
        # the phone remembers presented apns-ids (docs/device-side.md §1.10): a repeat is acked, never shown again
        assert phone_twice == 0, report
