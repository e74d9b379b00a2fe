"""``apns-sim wait``: return once a simulator started in the background is ready, exit 1 with the reason if not.

Ready means what a test job needs: ``endpoints.json`` written (the simulator writes it only once every listener
accepts, and removes a stale one when it starts), the admin server answering ``GET /_sim/health``, and every
provider, gateway and drop-in port accepting a TCP connection. With ``--admin-token`` the health check sends
``$PUSHSIM_ADMIN_TOKEN`` when it is set, and counts a 401 as "the admin server answers". Polled, because the
simulator may still be making its CA. Reference: docs/drop-in.md §5.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from apns_sim.cli.datadir import TOKEN_ENV, DataDirError, read_endpoints
from pushsim_i18n import Domain

_ = Domain("apns_sim").gettext

POLL = 0.2  # seconds between attempts


def add_wait_parser(sub: Any) -> None:
    parser = sub.add_parser("wait", help=_("wait until `apns-sim serve` on this data dir is ready (exit 1 if not)"))
    parser.add_argument("--data-dir", type=Path, required=True, help=_("the data dir of `apns-sim serve`"))
    parser.add_argument("--timeout", type=float, default=60.0, metavar="S", help=_("give up after S seconds (60)"))


def _addresses(endpoints: dict[str, Any]) -> list[tuple[str, int]]:
    out = []
    for key in ("sandbox", "production"):
        parts = urlsplit(str(endpoints.get(key, "")))
        out.append((parts.hostname or "", parts.port or 0))
    host, _, port = str(endpoints.get("gateway", "")).rpartition(":")
    out.append((host, int(port) if port.isdigit() else 0))
    drop_in = endpoints.get("apple_hosts")
    if isinstance(drop_in, dict):
        ports = [*drop_in.get("ports", []), *drop_in.get("legacy_ports", [])]
        out += [(str(drop_in.get("address")), int(port)) for port in ports]
    return out


def check(data_dir: Path, timeout: float = 2.0) -> str | None:
    """None when ready, else why not (one sentence)."""
    try:
        endpoints = read_endpoints(data_dir)
    except DataDirError as exc:
        return str(exc)
    admin = str(endpoints.get("admin", ""))
    request = urllib.request.Request(f"{admin}/_sim/health")
    token = os.environ.get(TOKEN_ENV)
    if token:  # a simulator started with --admin-token asks for it on every data route (docs/admin-api.md §1.3)
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            json.loads(response.read())
    except urllib.error.HTTPError as exc:
        if exc.code != 401:
            return _("the admin server {admin} answers GET /_sim/health with HTTP {status}").format(admin=admin,
                                                                                                  status=exc.code)
        # it answers, but wants the token: up all the same; a test job that needs its data sets the variable
    except (OSError, ValueError) as exc:
        return _("the admin server {admin} does not answer GET /_sim/health ({error})").format(admin=admin, error=exc)
    for host, port in _addresses(endpoints):
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError as exc:
            return _("nothing accepts connections on {address} ({error})").format(address=f"{host}:{port}",
                                                                                 error=exc.strerror or exc)
    return None


def run_wait(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + max(args.timeout, 0.0)
    while True:
        reason = check(args.data_dir)
        if reason is None:
            print("apns-sim wait: " + _("the simulator on {path} is ready").format(path=args.data_dir))
            return 0
        if time.monotonic() >= deadline:
            print("apns-sim wait: " + _("not ready after {seconds} s: {reason}").format(seconds=f"{args.timeout:g}",
                                                                                       reason=reason), file=sys.stderr)
            return 1
        time.sleep(POLL)
