"""Hostile clients against the provider API: what a well-behaved client and the server's memory go through.

Not a test: a script that prints a table and one final JSON line (issue 14; docs/limits.md §1, figures in
docs/benchmarks.md). Each attack runs against ``apns-sim serve`` in its own process, on 127.0.0.1 over real
TLS, while a well-behaved provider on another connection pushes every 20 ms and times each push:

- ``zero-window N``: one connection without credentials sets SETTINGS_INITIAL_WINDOW_SIZE 0, sends N bodiless
  requests to a bad path (each answered with a JSON error body that needs window) and never reads;
- ``ping-flood MB``: one connection without credentials writes MB of PING frames and never reads the ACKs.

For each: the worst latency the good client saw, the server's RSS at the start, at its peak and after the
attacker has gone. ``--before REF`` runs the same attacks against the code of a git ref too (checked out with
``git worktree add`` into a temporary directory, server started from there) and prints before | after side by
side. Usage::

    python benchmarks/abuse_bench.py [--before REF] [--sizes 2000,10000,20000] [--ping-mb 50]

Targets (issue 14): worst latency under 100 ms at 20,000 requests; RSS back within 5 MB of the start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import hpack

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.integration.provider_abuse_kit import (  # noqa: E402 (the repository root first)
    PREFACE,
    GoodClient,
    SimProcess,
    Watch,
    error_requests,
    pings,
    raw_connection,
    settings,
    settle_rss,
    write_all,
)

MB = 1024 * 1024


async def _attack(sim: SimProcess, payload: bytes, stall: float) -> dict[str, Any]:
    async with GoodClient(sim) as good:
        for _ in range(20):  # warm up: code paths, caches, the token's verification
            await good.push()
        start = await settle_rss(sim, 1.0)
        watch = Watch(sim, good)
        began = time.perf_counter()
        async with watch.running():
            _reader, writer = await raw_connection(sim.host, sim.port, sim.context())
            sent = await write_all(writer, payload, stall=stall)
            await asyncio.sleep(1.0)  # the server works through what it took
            peak = max(watch.peak_rss, sim.rss())
            writer.transport.abort()
        seconds = time.perf_counter() - began
        after = await settle_rss(sim, 3.0)
        peak = max(peak, watch.peak_rss, after)  # an unfixed server may still be growing when the attacker goes
        status, _ = await good.push()
    return {"sent": sent, "worst_ms": round(watch.worst * 1000, 1), "pushes": len(watch.latencies),
            "not_200": sum(1 for s in watch.statuses if s != 200) + (status != 200),
            "rss_start_mb": round(start / MB, 1), "rss_peak_mb": round(peak / MB, 1),
            "rss_after_mb": round(after / MB, 1), "seconds": round(seconds, 1), "alive": sim.alive}


def _zero_window(n: int) -> bytes:
    return PREFACE + settings(initial_window_size=0) + error_requests(hpack.Encoder(), 1, n)


def _ping_flood(megabytes: int) -> bytes:
    return PREFACE + settings() + pings(megabytes * MB // 17)


async def run_all(root: Path, attacks: list[tuple[str, bytes]]) -> dict[str, dict[str, Any]]:
    results = {}
    for name, payload in attacks:
        # a flood keeps writing through the server's pauses (an unfixed server is slow, not stopped)
        stall = 5.0 if name.startswith("ping") else 2.0
        with tempfile.TemporaryDirectory(prefix="abuse-bench-") as work:
            async with SimProcess(Path(work), root) as sim:
                results[name] = await _attack(sim, payload, stall)
        print(f"  {root.name:>12} {name:<18} {results[name]}", file=sys.stderr, flush=True)
    return results


def _row(name: str, r: dict[str, Any] | None) -> str:
    if r is None:
        return f"{'':>10} {'':>8} {'':>24}"
    return (f"{r['worst_ms']:>8.1f}ms {r['not_200']:>3} "
            f"{r['rss_start_mb']:>6.1f}/{r['rss_peak_mb']:>6.1f}/{r['rss_after_mb']:>6.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="also run against this git ref (e.g. main, a commit)")
    parser.add_argument("--sizes", default="2000,10000,20000", help="zero-window request counts")
    parser.add_argument("--ping-mb", type=int, default=50, help="megabytes of PING frames")
    args = parser.parse_args()
    attacks = [(f"zero-window {n}", _zero_window(int(n))) for n in args.sizes.split(",")]
    attacks.append((f"ping-flood {args.ping_mb}MB", _ping_flood(args.ping_mb)))
    before: dict[str, dict[str, Any]] = {}
    if args.before:
        with tempfile.TemporaryDirectory(prefix="abuse-before-") as tmp:
            tree = Path(tmp) / "tree"
            subprocess.run(["git", "worktree", "add", "--detach", str(tree), args.before], cwd=ROOT, check=True,
                           capture_output=True)
            try:
                before = asyncio.run(run_all(tree, attacks))
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False,
                               capture_output=True)
    after = asyncio.run(run_all(ROOT, attacks))
    head = "worst  non200 RSS MB start/peak/after"
    print(f"{'attack':<20} | {'before ' + (args.before or '-'):<38} | after (this tree)")
    print(f"{'':<20} | {head:<38} | {head}")
    for name, _ in attacks:
        print(f"{name:<20} | {_row(name, before.get(name)):<38} | {_row(name, after[name])}")
    print(json.dumps({"before_ref": args.before, "before": before, "after": after}))


if __name__ == "__main__":
    main()
