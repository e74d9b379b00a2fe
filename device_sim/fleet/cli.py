"""``device-sim fleet``: N phones in this process, JSON lines out, online until Ctrl-C or ``--duration``.

    device-sim fleet --endpoints FILE --count N --app BUNDLE[,BUNDLE] [--environment sandbox|production]
                     [--state-dir D] [--concurrency C] [--duration S] [--tokens-out FILE] [--keepalive S]

Lines: ``{"event": "progress", "phase": ..., "done": ..., "total": ..., ...}`` while identities are made and
phones connect; ``{"event": "online", "connected": ..., "connect_rate": ..., "memory_per_phone_kib": ...}``
once all are up; ``{"event": "notification", ...}`` per push received; ``{"event": "stopped", ...}`` at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import signal
import time
from pathlib import Path
from typing import Any

from apns_sim import courier
from device_sim.fleet.fleet import Fleet, FleetPhone, FleetProgress
from device_sim.rules import registration
from pushsim_i18n import Domain

_ = Domain("device_sim").gettext


def add_parser(sub: Any) -> None:
    fleet = sub.add_parser("fleet", help=_("many phones in one process: connect N, print progress and a summary"))
    fleet.add_argument("--endpoints", required=True, help=_("endpoints.json written by `apns-sim serve`"))
    fleet.add_argument("--count", type=int, required=True, help=_("how many phones"))
    fleet.add_argument("--app", required=True,
                       help=_("bundle id every phone registers, or several separated by commas"))
    fleet.add_argument("--environment", default="sandbox", choices=["production", "sandbox"],
                       help=registration.environment_help(several=True))
    fleet.add_argument("--state-dir",
                       help=_("keep the phones' identities here, so the next run is the same phones"))
    fleet.add_argument("--concurrency", type=int, default=100, help=_("connections (and activations) at once"))
    fleet.add_argument("--duration", type=float, help=_("stay online this many seconds (default: until Ctrl-C)"))
    fleet.add_argument("--tokens-out", help=_("write the first app's tokens here, one hex token a line"))
    fleet.add_argument("--keepalive", type=float, default=60.0, help=_("keep-alive interval in seconds"))


def rss_kib() -> int:
    """Resident memory of this process now (Linux /proc; elsewhere the peak, which is all there is)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _print(event: dict[str, Any]) -> None:
    print(json.dumps(event, ensure_ascii=False), flush=True)


def _progress(progress: FleetProgress) -> None:
    _print({"event": "progress", "phase": progress.phase, "done": progress.done, "total": progress.total,
            "failed": progress.failed, "elapsed": round(progress.elapsed, 3)})


def _pushed(phone: FleetPhone, push: courier.Push) -> None:
    _print({"event": "notification", "device_id": phone.device_id, "token": push.token.hex(),
            "apns_id": (push.apns_id or "").upper(), "bytes": len(push.payload)})


async def cmd_fleet(args: argparse.Namespace, bundles: list[str]) -> int:
    """Exit 0 when every phone connected; 1 when some failed (see ``failed`` and ``errors``); 130 when
    interrupted before the fleet was up (a cold start of 10,000 phones takes minutes: Ctrl-C must work)."""
    if args.count < 1 or args.concurrency < 1:
        raise ValueError(_("--count and --concurrency must be at least 1"))
    stop = asyncio.Event()
    setup: asyncio.Task[Any] | None = asyncio.current_task()

    def on_signal() -> None:
        if setup is not None:
            setup.cancel()  # still making identities or connecting: abandon them, closing what is open
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)
    before = rss_kib()
    try:
        async with Fleet.open(args.endpoints, count=args.count, app=bundles, environment=args.environment,
                              state_dir=args.state_dir, concurrency=args.concurrency,
                              keepalive_interval=args.keepalive, progress=_progress, on_push=_pushed) as fleet:
            setup = None
            online_at = time.monotonic()
            connected = fleet.connected
            connect_s = fleet.timings.get("connect_s", 0.0)
            rss = rss_kib()
            if args.tokens_out:
                Path(args.tokens_out).write_text("".join(t + "\n" for t in fleet.tokens), encoding="utf-8")
            _print({"event": "online", "count": args.count, "connected": connected, "failed": fleet.failed,
                    "errors": fleet.errors, "identities_s": round(fleet.timings.get("identities_s", 0.0), 3),
                    "connect_s": round(connect_s, 3),
                    "connect_rate": round(connected / connect_s, 1) if connect_s > 0 else 0.0,
                    "rss_kib": rss, "memory_per_phone_kib": round((rss - before) / max(1, connected), 2)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.duration)
            _print({"event": "stopped", "connected": fleet.connected, "received": fleet.received,
                    "uptime_s": round(time.monotonic() - online_at, 3)})
            return 1 if fleet.failed else 0
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if not stop.is_set() or task is None:
            raise
        task.uncancel()
        _print({"event": "interrupted", "phase": "setup"})
        return 130
