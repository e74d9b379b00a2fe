"""``apns-sim``: run the simulated APNs (``serve``), act as Apple's developer portal (``portal``), and the
helpers of the drop-in mode (``hosts``, ``trust``, ``env``, ``wait``: docs/drop-in.md), one module each.

docs/architecture.md contracts 1 and 2. Errors a user can fix are one line on stderr and exit status 2, never a
traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from apns_sim import limits
from apns_sim.cli.datadir import TOKEN_ENV, DataDirError
from apns_sim.cli.env import add_env_parser, run_env
from apns_sim.cli.hosts import add_hosts_parser, run_hosts
from apns_sim.cli.portal import add_portal_parser, run_portal
from apns_sim.cli.trust import add_trust_parser, run_trust
from apns_sim.cli.usage import OneLineParser
from apns_sim.cli.wait import add_wait_parser, run_wait
from apns_sim.delivery.store_and_forward import DeliveryConfig
from apns_sim.errors import SimError
from apns_sim.limits import ACTIVATION_BURST, ACTIVATION_RATE, ADMIN_MIN_TOKEN
from apns_sim.state import REPLACED_TOKEN_REASONS, SimConfig
from pushsim_i18n import Domain
from pushsim_i18n.cli import add_lang_option, error_line, start

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
PROG = "apns-sim"
_ = Domain("apns_sim").gettext
if TYPE_CHECKING:
    from apns_sim.simulator import AppleHostsConfig


class UsageError(SimError):
    """Bad input from the user: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=PROG,
        description=_("A simulated Apple Push Notification service (not Apple): provider API, device gateway, "
                      "developer portal and admin API, all on 127.0.0.1."),
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help=_("run the provider API (sandbox and production), gateway and admin "
                                           "server"))
    serve.add_argument("--data-dir", type=Path, help=_("state directory (default: a fresh temporary directory)"))
    serve.add_argument("--host", default="127.0.0.1",
                       help=_("address to bind (default 127.0.0.1; anything else exposes the simulator)"))
    for name, what in (("sandbox", _("the sandbox provider API")), ("production", _("the production provider API")),
                       ("gateway", _("the device gateway")), ("admin", _("the admin server and dashboard"))):
        serve.add_argument(f"--{name}-port", type=int, default=0, metavar="P",
                           help=_("port of {what}; 0 = a free port").format(what=what))
    legacy = serve.add_argument_group(_("the retired binary interface and feedback service "
                                        "(docs/legacy-binary.md)"))
    for name, what in (("legacy-sandbox", _("the sandbox binary gateway (Apple's: 2195)")),
                       ("legacy-production", _("the production binary gateway (Apple's: 2195)")),
                       ("feedback-sandbox", _("the sandbox feedback service (Apple's: 2196)")),
                       ("feedback-production", _("the production feedback service (Apple's: 2196)"))):
        legacy.add_argument(f"--{name}-port", type=int, default=0, metavar="P",
                            help=_("port of {what}; 0 = a free port").format(what=what))
    legacy.add_argument("--legacy-payload-limit", type=int, choices=limits.LEGACY_PAYLOAD_LIMITS,
                        default=limits.LEGACY_DEFAULT_PAYLOAD_BYTES,
                        help=_("payload limit of the binary interface: 256 (before iOS 8) or 2048 (default)"))
    serve.add_argument("--max-concurrent-streams", type=int, default=1000,
                       help=_("HTTP/2 streams per authenticated provider connection (Apple has used 500 and "
                              "1000)"))
    serve.add_argument("--idle-timeout", type=float, default=3600.0,
                       help=_("seconds before an idle provider connection gets GOAWAY IdleTimeout"))
    serve.add_argument("--unregister-delay", type=float, default=0.0,
                       help=_("seconds between an app's uninstall and APNs answering 410 Unregistered "
                              "(Apple delays this on purpose, often by days)"))
    serve.add_argument("--storage-limit", type=float, default=30 * 24 * 3600.0,
                       help=_("seconds a notification for an offline phone is kept at most (Apple: 30 days)"))
    serve.add_argument("--token-rate-limit", type=float, default=0.0, metavar="N",
                       help=_("pushes per second to one device token before 429 TooManyRequests (default 0 = "
                              "off; Apple's threshold is unpublished)"))
    serve.add_argument("--replaced-token-reason", choices=REPLACED_TOKEN_REASONS, default="BadDeviceToken",
                       help=_("what a token replaced by a newer one answers: BadDeviceToken (400, default) or "
                              "ExpiredToken (410 with a timestamp)"))
    serve.add_argument("--batch-interval", type=float, default=0.0, metavar="SECONDS",
                       help=_("seconds a priority 5 push may wait to leave in a burst with others; priority 1 "
                              "rides along (default 0 = every push at once; Apple's observed figure is ~1200)"))
    serve.add_argument("--courier-idle-timeout", type=float, default=120.0, metavar="SECONDS",
                       help=_("drop a phone that sends no keep-alive for this long (default 120: two intervals)"))
    serve.add_argument("--activation-rate", type=float, default=ACTIVATION_RATE, metavar="N",
                       help=_("device activations per second per client address before 429 with Retry-After "
                              "(default {rate}; 0 = no limit)").format(rate=f"{ACTIVATION_RATE:g}"))
    serve.add_argument("--activation-burst", type=int, default=ACTIVATION_BURST, metavar="N",
                       help=_("activations one address may make at once before the rate applies "
                              "(default {burst})").format(burst=ACTIVATION_BURST))
    serve.add_argument("--admin-token", default=os.environ.get(TOKEN_ENV) or None, metavar="TOKEN",
                       help=_("require 'Authorization: Bearer TOKEN' on the admin API (at least {n} characters; "
                              "default ${env}, which keeps it out of the process list)").format(
                                  n=ADMIN_MIN_TOKEN, env=TOKEN_ENV))
    serve.add_argument("--apple-hosts", action="store_true",
                       help=_("also answer as Apple's hosts (api.push.apple.com, api.sandbox.push.apple.com, "
                              "api.development.push.apple.com) on ports 443 and 2197, the environment chosen by "
                              "the TLS server name (docs/drop-in.md); ports below 1024 need root or "
                              "CAP_NET_BIND_SERVICE"))
    serve.add_argument("--apple-hosts-port-offset", type=int, default=0, metavar="N",
                       help=_("with --apple-hosts: listen on 443+N and 2197+N instead (you map the ports "
                              "yourself)"))
    serve.add_argument("--log-level", default="WARNING", help=_("Python log level for stderr (default WARNING)"))
    add_portal_parser(sub)
    add_hosts_parser(sub)
    add_trust_parser(sub)
    add_env_parser(sub)
    add_wait_parser(sub)
    add_lang_option(parser)
    return parser


def _config(args: argparse.Namespace) -> SimConfig:
    try:
        return SimConfig(
            host=args.host,
            sandbox_port=args.sandbox_port,
            production_port=args.production_port,
            gateway_port=args.gateway_port,
            admin_port=args.admin_port,
            legacy_sandbox_port=args.legacy_sandbox_port,
            legacy_production_port=args.legacy_production_port,
            feedback_sandbox_port=args.feedback_sandbox_port,
            feedback_production_port=args.feedback_production_port,
            legacy_payload_limit=args.legacy_payload_limit,
            max_concurrent_streams=args.max_concurrent_streams,
            idle_timeout=args.idle_timeout,
            token_rate_limit=args.token_rate_limit,
            replaced_token_reason=args.replaced_token_reason,
            courier_idle_timeout=args.courier_idle_timeout,
            activation_rate=args.activation_rate,
            activation_burst=args.activation_burst,
            delivery=DeliveryConfig(storage_limit=args.storage_limit, unregister_delay=args.unregister_delay,
                                    batch_interval=args.batch_interval),
        )
    except ValueError as exc:  # the config's own checks: report them as usage errors, not tracebacks
        raise UsageError(str(exc)) from None


async def _serve(args: argparse.Namespace, config: SimConfig) -> int:
    from apns_sim.simulator import Simulator  # imported here so portal commands start fast

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Simulator(args.data_dir, config, apple_hosts=_apple_hosts(args), admin_token=args.admin_token) as sim:
        print(json.dumps(sim.endpoints, ensure_ascii=False), flush=True)  # a data dir may have a Chinese name
        _admin_notes(args, sim.endpoints["admin"])
        await stop.wait()
    return 0


def _admin_notes(args: argparse.Namespace, admin_url: str) -> None:
    """On stderr: how to open a token-protected dashboard (the token itself is never printed), or a warning."""
    if args.admin_token:
        print("apns-sim: " + _("the admin API asks for its token; open the dashboard at {url}/#token=<TOKEN> "
                               "(or type the token when the page asks)").format(url=admin_url),
              file=sys.stderr, flush=True)
    elif args.host not in LOOPBACK_HOSTS:
        print("apns-sim: " + _("warning: --host {host} exposes the admin API to the network without "
                               "--admin-token").format(host=args.host), file=sys.stderr, flush=True)


def _apple_hosts(args: argparse.Namespace) -> AppleHostsConfig | None:
    if not args.apple_hosts:
        if args.apple_hosts_port_offset:
            raise UsageError(_("--apple-hosts-port-offset needs --apple-hosts"))
        return None
    from apns_sim.simulator import AppleHostsConfig  # here, like Simulator below: portal commands start fast

    try:
        return AppleHostsConfig(port_offset=args.apple_hosts_port_offset)
    except ValueError as exc:
        raise UsageError(f"--apple-hosts-port-offset: {exc}") from None


def _check_ports(args: argparse.Namespace) -> None:
    for name in ("sandbox_port", "production_port", "gateway_port", "admin_port", "legacy_sandbox_port",
                 "legacy_production_port", "feedback_sandbox_port", "feedback_production_port"):
        value = getattr(args, name)
        if not 0 <= value <= 65535:
            raise UsageError(_("{option} must be between 0 and 65535, not {value}").format(
                option="--" + name.replace("_", "-"), value=value))
    if args.token_rate_limit < 0:
        raise UsageError(_("--token-rate-limit must be 0 (off) or more, not {value}").format(
            value=f"{args.token_rate_limit:g}"))
    if args.batch_interval < 0:
        raise UsageError(_("--batch-interval must be 0 (off) or more seconds, not {value}").format(
            value=f"{args.batch_interval:g}"))
    if args.admin_token is not None:
        from apns_sim.admin.guard import check_token  # here: the portal commands need not load aiohttp

        try:
            check_token(args.admin_token)
        except ValueError as exc:
            raise UsageError(f"--admin-token: {exc}") from None
    if args.courier_idle_timeout <= 0:
        raise UsageError(_("--courier-idle-timeout must be more than 0 seconds, not {value}").format(
            value=f"{args.courier_idle_timeout:g}"))
    if args.activation_rate < 0:
        raise UsageError(_("--activation-rate must be 0 (no limit) or more, not {value}").format(
            value=f"{args.activation_rate:g}"))
    if args.activation_burst < 1:
        raise UsageError(_("--activation-burst must be at least 1, not {value}").format(
            value=args.activation_burst))
    _apple_hosts(args)  # refuse a bad offset before the simulator starts


_HELPERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "hosts": run_hosts, "trust": run_trust, "env": run_env, "wait": run_wait,
}


def main(argv: Sequence[str] | None = None) -> int:
    start(PROG, argv)  # before the parser: argparse's own words are looked up as it is built
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "serve":
            import logging

            logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
            _check_ports(args)
            return asyncio.run(_serve(args, _config(args)))
        helper = _HELPERS.get(args.command)
        return helper(args) if helper is not None else run_portal(args)
    except (UsageError, DataDirError) as exc:  # named like argparse's errors: `apns-sim serve: error: ...`
        print(error_line(f"{PROG} {args.command}", str(exc)), file=sys.stderr)
        return 2
    except OSError as exc:
        print(error_line(f"{PROG} {args.command}",
                         f"{exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}".rstrip(": ")),
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


