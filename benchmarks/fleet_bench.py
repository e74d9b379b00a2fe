"""Fleet mode at scale (issue #5): N connected phones in one process, memory per phone and connect rate.

Not a test: a script that prints a table and one final JSON line. Issue 5's target: 10,000 connected phones
in one process at <= 40 KiB each.

What it does, all on 127.0.0.1 in a temporary directory, in about five minutes for 10,000 phones:

1. starts ``apns-sim serve`` in its own process (reading the JSON line it prints when ready) and creates an
   App ID and a .p8 key with ``apns-sim portal``;
2. runs a :class:`device_sim.fleet.Fleet` of N phones in this process: RSA keys in worker processes and
   activation of each phone (phase 1), then N courier TLS connections with bounded concurrency, each with
   its Connect proof, filter and token request (phase 2);
3. reads this process's RSS (``/proc/self/status``) before the fleet, after phase 1 and after phase 2, and
   the simulator's RSS at the same points, and prints memory per connected phone on both sides and the
   connect rate;
4. sends a push to a random sample of tokens with the provider client (``provider.apns.APNsClient``, token
   auth) and checks each sampled phone received exactly its push;
5. opens a second, small fleet with ``tracemalloc`` on, for the Python-level bytes per phone and where they
   go (RSS minus that is OpenSSL's and the allocator's share).

Usage::

    python benchmarks/fleet_bench.py [--count 10000] [--concurrency 200] [--sample 500] [--trace-count 500]
                                     [--keys-dir D] [--keep]

``--keys-dir D`` keeps the phones' keys (and certificates) in D: a second run skips RSA key generation (the
simulator is new each run, so the phones are activated again). Results: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apns_sim import courier  # noqa: E402
from device_sim.connection.tls import courier_ssl_context  # noqa: E402
from device_sim.fleet.fleet import Fleet, FleetPhone, FleetProgress  # noqa: E402

BUNDLE = "com.example.fleetbench"
TEAM = "FLEETTEAM1"


def rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


class Simulator:
    """``apns-sim serve`` in its own process, plus the portal calls the provider needs."""

    def __init__(self, work: Path) -> None:
        self.data = work / "sim"
        # --activation-rate 0: this measures how fast the simulator can activate, not its per-address limit
        # (docs/limits.md §2), which would hold 10,000 phones from one address to 100 a second.
        self.proc = subprocess.Popen([sys.executable, "-m", "apns_sim.cli", "serve", "--data-dir", str(self.data),
                                      "--log-level", "WARNING", "--activation-rate", "0"], cwd=ROOT,
                                     stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("apns-sim serve did not start")
        self.endpoints: dict[str, Any] = json.loads(line)
        portal = [sys.executable, "-m", "apns_sim.cli", "portal", "--data-dir", str(self.data)]
        subprocess.run([*portal, "app-id", "create", BUNDLE, "--team-id", TEAM], cwd=ROOT, check=True,
                       capture_output=True)
        out = subprocess.run([*portal, "key", "create", "--team-id", TEAM, "--out-dir", str(work / "keys")],
                             cwd=ROOT, check=True, capture_output=True, text=True).stdout
        key = json.loads(out.splitlines()[0])
        self.key_id, self.p8 = str(key["key_id"]), Path(key["path"])

    @property
    def rss(self) -> int:
        return rss_kib(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _raise_fd_limit(count: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 1000:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        if hard < count + 1000:
            print(f"warning: ulimit -n is {hard}; {count} phones need about {count + 1000}", file=sys.stderr)


async def fan_out(sim: Simulator, fleet: Fleet, sample: int, got: dict[str, list[str]]) -> dict[str, Any]:
    """Push to ``sample`` random tokens with the real provider client; each must reach exactly its phone."""
    from provider.apns import APNsClient, Notification, Result, load_p8

    tokens = random.sample(fleet.tokens, min(sample, len(fleet.tokens)))
    before = fleet.received
    credentials = load_p8(sim.p8, sim.key_id, TEAM)
    client = APNsClient(credentials, environment="sandbox", endpoint=sim.endpoints["sandbox"],
                        ca_file=sim.endpoints["ca_file"])
    started = time.monotonic()
    async with client:
        notifications = (Notification(token=t, topic=BUNDLE, payload={"aps": {"alert": f"hello {i}"}})
                         for i, t in enumerate(tokens))
        results = await client.send_many(notifications, concurrency=100)
        accepted = {t: r.apns_id for t, r in zip(tokens, results, strict=True)
                    if isinstance(r, Result) and r.status == 200}
        deadline = time.monotonic() + 30
        while fleet.received - before < len(accepted) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    elapsed = time.monotonic() - started
    exact = sum(1 for t, apns_id in accepted.items() if got.get(t) == [str(apns_id).upper()])
    return {"sent": len(tokens), "accepted": len(accepted), "received": fleet.received - before,
            "exactly_once_to_the_right_phone": exact, "seconds": round(elapsed, 2)}


async def traced_fleet(endpoints: Path, count: int, top: int) -> dict[str, Any]:
    """A second fleet with tracemalloc on: Python-level bytes per phone, and the biggest allocation sites."""
    gc.collect()
    tracemalloc.start(1)
    marks: dict[str, int] = {"start": tracemalloc.get_traced_memory()[0]}
    snapshots: list[tracemalloc.Snapshot] = [tracemalloc.take_snapshot()]

    def progress(p: FleetProgress) -> None:
        if p.phase == "identities" and p.done + p.failed >= p.total:
            marks["identities"] = tracemalloc.get_traced_memory()[0]
            gc.collect()
            snapshots[1:] = [tracemalloc.take_snapshot()]

    try:
        async with Fleet.open(endpoints, count=count, app=BUNDLE, concurrency=100, key_workers=2,
                              progress=progress) as fleet:
            gc.collect()
            marks["connected"] = tracemalloc.get_traced_memory()[0]
            after = tracemalloc.take_snapshot()
            connected = fleet.connected
    finally:
        tracemalloc.stop()

    def sites(new: tracemalloc.Snapshot, old: tracemalloc.Snapshot, n: int) -> list[dict[str, Any]]:
        return [{"where": f"{Path(s.traceback[0].filename).name}:{s.traceback[0].lineno}",
                 "bytes_per_phone": round(s.size_diff / max(1, n)),
                 "blocks_per_phone": round(s.count_diff / max(1, n), 2)}
                for s in new.compare_to(old, "lineno")[:top]]

    return {
        "phones": connected,
        "identity_bytes_per_phone": round((marks["identities"] - marks["start"]) / max(1, count)),
        "connection_bytes_per_phone": round((marks["connected"] - marks["identities"]) / max(1, connected)),
        "identity_sites": sites(snapshots[-1], snapshots[0], count),
        "connection_sites": sites(after, snapshots[-1], connected),
    }


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    _raise_fd_limit(args.count + args.trace_count)
    sim = Simulator(work)
    endpoints = work / "sim" / "endpoints.json"
    try:
        courier_ssl_context(Path(sim.endpoints["ca_file"]))  # shared by every phone: part of the baseline
        got: dict[str, list[str]] = {}

        def on_push(phone: FleetPhone, push: courier.Push) -> None:
            got.setdefault(push.token.hex(), []).append((push.apns_id or "").upper())

        marks: dict[str, tuple[int, int]] = {}

        def progress(p: FleetProgress) -> None:
            print(f"  {p.phase:<10} {p.done:>6}/{p.total} failed {p.failed} at {p.elapsed:6.1f} s", flush=True)
            if p.phase == "identities" and p.done + p.failed >= p.total:
                gc.collect()
                marks["identities"] = (rss_kib(), sim.rss)

        gc.collect()
        marks["start"] = (rss_kib(), sim.rss)
        print(f"fleet of {args.count} phones (this process {marks['start'][0]} KiB, simulator "
              f"{marks['start'][1]} KiB)", flush=True)
        async with Fleet.open(endpoints, count=args.count, app=BUNDLE, concurrency=args.concurrency,
                              state_dir=args.keys_dir, progress=progress, on_push=on_push) as fleet:
            gc.collect()
            marks["connected"] = (rss_kib(), sim.rss)
            n = fleet.connected
            print(f"connected {n}; fan-out to {args.sample} tokens", flush=True)
            push = await fan_out(sim, fleet, args.sample, got)
            traced = await traced_fleet(endpoints, args.trace_count, args.top) if args.trace_count else None
            closing = time.monotonic()
        close_s = time.monotonic() - closing
        (f0, s0), (f1, s1), (f2, s2) = marks["start"], marks["identities"], marks["connected"]
        t = fleet.timings
        return {
            "phones": args.count, "connected": n, "failed": fleet.failed, "errors": fleet.errors,
            "keys_s": round(t.get("keys_s", 0.0), 1), "identities_s": round(t["identities_s"], 1),
            "activation_rate": round(args.count / t["identities_s"], 1),
            "connect_s": round(t["connect_s"], 1), "connect_rate": round(n / t["connect_s"], 1),
            "close_s": round(close_s, 1),
            "fleet_rss_kib": {"start": f0, "identities": f1, "connected": f2},
            "fleet_kib_per_phone": round((f2 - f0) / max(1, n), 2),
            "fleet_kib_per_phone_identity": round((f1 - f0) / max(1, n), 2),
            "fleet_kib_per_phone_connection": round((f2 - f1) / max(1, n), 2),
            "sim_rss_kib": {"start": s0, "identities": s1, "connected": s2},
            "sim_kib_per_connection": round((s2 - s1) / max(1, n), 2),
            "sim_kib_per_activated_device": round((s1 - s0) / max(1, n), 2),
            "fan_out": push, "tracemalloc": traced,
        }
    finally:
        sim.stop()


def _report(r: dict[str, Any]) -> None:
    print()
    print(f"phones connected        {r['connected']:>8} of {r['phones']} (failed {r['failed']})")
    print(f"identities (keys+act.)  {r['identities_s']:>8} s  ({r['activation_rate']} phones/s; keys {r['keys_s']} s)")
    print(f"connect                 {r['connect_s']:>8} s  ({r['connect_rate']} phones/s)")
    print(f"fleet RSS per phone     {r['fleet_kib_per_phone']:>8} KiB  (identity {r['fleet_kib_per_phone_identity']}"
          f" + connection {r['fleet_kib_per_phone_connection']}); target <= 40")
    print(f"simulator per phone     {r['sim_kib_per_connection']:>8} KiB per connection, "
          f"{r['sim_kib_per_activated_device']} KiB per activation")
    f = r["fan_out"]
    print(f"fan-out                 {f['accepted']}/{f['sent']} accepted, {f['received']} received, "
          f"{f['exactly_once_to_the_right_phone']} exactly once to the right phone, {f['seconds']} s")
    if r["tracemalloc"]:
        tm = r["tracemalloc"]
        print(f"tracemalloc ({tm['phones']} phones): identity {tm['identity_bytes_per_phone']} B/phone, "
              f"connection {tm['connection_bytes_per_phone']} B/phone (Python objects only)")
        for what in ("identity_sites", "connection_sites"):
            print(f"  {what.replace('_', ' ')} (per phone):")
            for site in tm[what]:
                print(f"    {site['bytes_per_phone']:>6} B  {site['blocks_per_phone']:>5} blocks  {site['where']}")
    print(json.dumps(r))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--sample", type=int, default=500, help="tokens to push to in the fan-out check")
    parser.add_argument("--trace-count", type=int, default=500, help="phones in the tracemalloc fleet (0: skip)")
    parser.add_argument("--top", type=int, default=12, help="allocation sites to list")
    parser.add_argument("--keys-dir", help="keep the phones' keys here across runs")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    started = time.monotonic()
    try:
        result = asyncio.run(run(args, work))
    finally:
        if not args.keep:
            import shutil

            with contextlib.suppress(OSError):
                shutil.rmtree(work)
    result["total_s"] = round(time.monotonic() - started, 1)
    _report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
