"""The provider service end to end: HTTP API -> outbox -> APNs client -> simulator -> phone, in one run.

Not a test: a script that prints a table and one final JSON line (docs/benchmarks.md, "Provider service").
For SQLite and for PostgreSQL, and for 1, 2 and 4 ``apns-provider worker`` processes, on 127.0.0.1 in a
temporary directory:

1. one simulator (``apns-sim serve``) with an App ID and a ``.p8`` key, and one phone kept online by
   ``device-sim run`` (its event lines go to a file: the count of notifications it received);
2. per configuration a fresh store (a SQLite file, or a new database in a throwaway PostgreSQL cluster started
   as in the tests), ``apns-provider migrate``, one ``apns-provider serve --no-send`` and N workers
   (``--concurrency 100`` each), the phone's token registered through ``POST /v1/devices``;
3. ``--count`` notifications (default 4,000) posted as requests of 100 tokens, 4 in flight, each with an
   ``Idempotency-Key``; the clock runs from the first POST until the phone has received the last one.

Prints per configuration: accepted/s (the API's answers), delivered/s (end to end, at the phone), and the
seconds each took. Check ``uptime`` first: the machine is shared, and figures are only comparable within one
run.

Usage::

    python benchmarks/service_bench.py [--count 4000] [--workers 1,2,4] [--stores sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # ``python benchmarks/service_bench.py`` from a checkout
    sys.path.insert(0, str(ROOT))
from benchmarks import server_bench  # noqa: E402  (after the path set-up above)
from benchmarks.server_bench import BUNDLE, TEAM  # noqa: E402

PER_REQUEST, PARALLEL = 100, 4


class Bench(server_bench.Bench):
    """server_bench's processes, simulator, portal and online phone; here with provider processes on top."""

    def __init__(self, work: Path) -> None:
        super().__init__(work, argparse.Namespace())
        self.provider = [sys.executable, "-m", "provider.cli"]

    def setup(self) -> None:
        self.endpoints = self.start_simulator()
        self.p8 = str(self.work / "keys" / f"AuthKey_{self.key_id}.p8")
        self.token = self.start_phone()

    def stop(self, procs: Sequence[subprocess.Popen[bytes]]) -> None:
        """SIGTERM to one configuration's processes (workers finish their sends), SIGKILL after 10 s."""
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def received(self) -> int:
        return self.notifications_received()

    def common(self) -> list[str]:
        return ["--endpoint", self.endpoints["sandbox"], "--ca", str(self.endpoints["ca_file"]), "--p8", self.p8,
                "--key-id", self.key_id, "--team-id", TEAM]

    @contextlib.contextmanager
    def store(self, kind: str, name: str) -> Iterator[str]:
        if kind == "sqlite":
            yield str(self.work / f"{name}.sqlite3")
            return
        from tests.postgres_cluster import database

        with database() as url:
            yield url

    async def measure(self, kind: str, workers: int, count: int) -> dict[str, Any]:
        import aiohttp

        with self.store(kind, f"{kind}-{workers}") as db:
            self.run([*self.provider, "migrate", "--db", db])
            api = self.spawn([*self.provider, "serve", "--db", db, "--no-send", *self.common()])
            url = self.first_json_line(api, "apns-provider serve")["url"]
            procs = [api]
            for _ in range(workers):
                proc = self.spawn([*self.provider, "worker", "--db", db, "--concurrency", "100", *self.common()])
                self.first_json_line(proc, "apns-provider worker")
                procs.append(proc)
            try:
                async with aiohttp.ClientSession() as http:
                    async with http.post(f"{url}/v1/devices", json={"token": self.token, "bundle_id": BUNDLE,
                                                                     "environment": "sandbox"}) as response:
                        assert response.status == 201, await response.text()
                    before = self.received()
                    gate = asyncio.Semaphore(PARALLEL)

                    async def one(i: int, n: int) -> None:
                        body = {"bundle_id": BUNDLE, "tokens": [self.token] * n, "alert": f"bench {i}"}
                        async with gate, http.post(f"{url}/v1/notifications", json=body,
                                                   headers={"Idempotency-Key": f"{kind}-{workers}-{i}"}) as r:
                            assert r.status == 202, await r.text()

                    sizes = [PER_REQUEST] * (count // PER_REQUEST) + ([count % PER_REQUEST] if count % PER_REQUEST
                                                                       else [])
                    t0 = time.perf_counter()
                    await asyncio.gather(*(one(i, n) for i, n in enumerate(sizes)))
                    accepted = time.perf_counter() - t0
                    deadline = time.monotonic() + 300
                    while self.received() - before < count and time.monotonic() < deadline:
                        await asyncio.sleep(0.05)
                    delivered_s = time.perf_counter() - t0
                    got = self.received() - before
            finally:
                self.stop(procs)
        return {"store": kind, "workers": workers, "notifications": count, "phone_received": got,
                "accept_s": round(accepted, 2), "accepted_per_s": round(count / accepted),
                "end_to_end_s": round(delivered_s, 2), "delivered_per_s": round(got / delivered_s)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the provider service end to end, SQLite vs PostgreSQL")
    parser.add_argument("--count", type=int, default=4000, help="notifications per configuration (default 4000)")
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts (default 1,2,4)")
    parser.add_argument("--stores", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    workers = [int(w) for w in args.workers.split(",") if w.strip()]
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if args.count < 1 or not workers or min(workers) < 1 or set(stores) - {"sqlite", "postgres"}:
        parser.error("--count and --workers must be positive; --stores takes sqlite and/or postgres")
    work = Path(tempfile.mkdtemp(prefix="pushsim-service-bench-"))
    bench = Bench(work)
    rows: list[dict[str, Any]] = []
    try:
        bench.setup()
        load = os.getloadavg()
        print(f"{platform.node()}: {os.cpu_count()} CPUs, load {load[0]:.2f}; python {platform.python_version()}; "
              f"{args.count} notifications per run, requests of {PER_REQUEST}, {PARALLEL} in flight",
              file=sys.stderr)
        for kind in stores:
            for n in workers:
                rows.append(asyncio.run(bench.measure(kind, n, args.count)))
                r = rows[-1]
                print(f"{r['store']:<9} {r['workers']:>2} worker(s): accepted {r['accepted_per_s']:>6}/s "
                      f"({r['accept_s']} s), delivered to the phone {r['delivered_per_s']:>5}/s "
                      f"({r['end_to_end_s']} s, {r['phone_received']}/{r['notifications']})", file=sys.stderr)
    finally:
        bench.stop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{'store':<9} {'workers':>7} {'accepted/s':>10} {'delivered/s':>11} {'end to end s':>12}")
    for r in rows:
        print(f"{r['store']:<9} {r['workers']:>7} {r['accepted_per_s']:>10} {r['delivered_per_s']:>11} "
              f"{r['end_to_end_s']:>12}")
    print(json.dumps({"count": args.count, "cpus": os.cpu_count(), "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
