"""``device-sim``: a simulated iPhone on the command line (docs/architecture.md, contract 3).

    device-sim register  --endpoints FILE --app BUNDLE --environment sandbox|production [--state-dir D]
                         [--fail-with 3000|3010]   (the app's didFail... callback instead of a token)
    device-sim run       --endpoints FILE --app B1[,B2] [--types alert,sound,badge] [--provider URL]
                         [--environment sandbox|production] [--state-dir D]
    device-sim uninstall --endpoints FILE --app BUNDLE [--state-dir D]
    device-sim restore   --endpoints FILE [--state-dir D]   (restore from backup: every app gets new tokens)
    device-sim erase     --endpoints FILE [--state-dir D] [--new-key]   (Erase All Content and Settings)
    device-sim fleet     --endpoints FILE --count N --app BUNDLE [--environment ...] [--state-dir D]
                         [--concurrency C] [--duration S]   (many phones in one process: fleet_cli.py)

Without ``--state-dir`` the phone lives in ``device-sim/`` next to the endpoints file, i.e. inside the
simulator's data dir: the phone's certificate comes from that simulator's CA, so the two belong together
(a fresh simulator gets a fresh phone; a persistent one keeps the same phone, apps and tokens).
Output is JSON lines on stdout; errors are one line on stderr (exit 2 for bad input, 3 when ``register``'s
registration failed through didFail..., 1 otherwise; docs/cli.md). ``--lang zh|en`` anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp

from apns_sim import courier
from device_sim.app.app import App, check_types
from device_sim.errors import DeviceSimError
from device_sim.fleet import cli as fleet_cli
from device_sim.identity.activation import erase_identity
from device_sim.identity.store import DeviceStore, Endpoints, InputError, check_bundle_id
from device_sim.phone.phone import Phone
from device_sim.rules import registration
from device_sim.rules.presentation import RegistrationError
from pushsim_i18n import N_, Domain
from pushsim_i18n.cli import OneLineParser, add_lang_option, error_line, start

ENTITLEMENT = {"sandbox": "development", "production": "production"}
DEFAULT_STATE_SUBDIR = "device-sim"
REGISTRATION_FAILED = 3  # `register`: the app's didFailToRegister... was called (docs/cli.md)
PROG = "device-sim"
_ = Domain("device_sim").gettext


class UsageError(DeviceSimError):
    """Bad input: exit 2."""


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description=_("A simulated iPhone for the pushsim APNs simulator (not "
                                                    "Apple)."))
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--endpoints", required=True, help=_("endpoints.json written by `apns-sim serve`"))
        p.add_argument("--state-dir", help=_("the phone's identity and apps (default: device-sim/ next to the "
                                             "endpoints file)"))
        p.add_argument("--name", default="iPhone", help=_("device name shown by the simulator"))

    reg = sub.add_parser("register", help=_("register an app, print {{\"token\": HEX}} and exit").format())
    common(reg)
    reg.add_argument("--app", required=True, help=_("bundle id"))
    reg.add_argument("--environment", required=True, choices=sorted(ENTITLEMENT), help=registration.environment_help())
    reg.add_argument("--types", default="alert,sound,badge", help=_("notification types the app registers for"))
    reg.add_argument("--timeout", type=float, default=30.0, help=_("seconds to wait for APNs (default 30)"))
    reg.add_argument("--fail-with", type=int, metavar="CODE", help=registration.fail_with_help())

    run = sub.add_parser("run", help=_("stay online and print one JSON line per event"))
    common(run)
    run.add_argument("--app", required=True, help=_("bundle id, or several separated by commas"))
    run.add_argument("--environment", default="sandbox", choices=sorted(ENTITLEMENT),
                     help=registration.environment_help(several=True))
    run.add_argument("--types", default="alert,sound,badge", help=_("notification types the apps register for"))
    run.add_argument("--provider", help=_("provider service URL: each app POSTs its token to <URL>/v1/devices"))
    run.add_argument("--keepalive", type=float, default=60.0, help=_("keep-alive interval in seconds"))

    uni = sub.add_parser("uninstall", help=_("delete an app from the phone (APNs then answers 410 for its token)"))
    common(uni)
    uni.add_argument("--app", required=True, help=_("bundle id"))
    uni.add_argument("--timeout", type=float, default=10.0, help=_("seconds to wait for APNs (default 10)"))

    for command, what in (("restore", _("restore the phone from its backup: apps stay, APNs retires every token "
                                        "(an app gets a new one at its next register)")),
                          ("erase", _("Erase All Content and Settings: every app removed, APNs retires every "
                                      "token"))):
        change = sub.add_parser(command, help=what)
        common(change)
        change.add_argument("--timeout", type=float, default=10.0, help=_("seconds to wait for APNs (default 10)"))
        if command == "erase":
            change.add_argument("--new-key", action="store_true",
                                help=_("erase the push identity too: the activation service revokes the device "
                                       "certificate (a request signed with the current key) and the phone "
                                       "activates the same device id with a new key"))

    fleet_cli.add_parser(sub)
    add_lang_option(parser)
    return parser


NOT_TOLD = N_("APNs could not be reached; the phone tells it on its next connection")
PRINT_DEPTH = 200  # deepest JSON nesting printed: readers' parsers stop near 1000, minus their own stack


def _print(event: dict[str, Any]) -> None:
    """One JSON line any reader can parse: a payload nested deeper than PRINT_DEPTH (the phone parsed it, a
    reader of this line might not) is printed as a note instead. Only a line with that many brackets is
    scanned; the usual one costs two counts."""
    try:
        line = json.dumps(event, default=str, ensure_ascii=False)
        too_deep = courier.deeper_than(line.encode(), PRINT_DEPTH) > 0
    except (ValueError, RecursionError):
        too_deep = True
    if too_deep:
        note = _("(nested deeper than {depth}: not printed)").format(depth=PRINT_DEPTH)
        line = json.dumps({**event, "payload": note}, default=str, ensure_ascii=False)
    print(line, flush=True)


def _state_dir(args: argparse.Namespace) -> Path:
    if args.state_dir:
        return Path(args.state_dir)
    return Path(args.endpoints).resolve().parent / DEFAULT_STATE_SUBDIR


def _types(raw: str) -> tuple[str, ...]:
    try:
        return check_types([t.strip() for t in raw.split(",") if t.strip()])
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


def _install(phone: Phone, bundle_id: str, environment: str, types: tuple[str, ...],
             fail_with: int | None = None) -> App:
    try:
        return phone.install_app(bundle_id, environment=ENTITLEMENT[environment], types=types,
                                 fail_registration_with=fail_with)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


async def _register(app: App, phone: Phone, timeout: float | None) -> str:
    try:
        return await app.register(timeout=timeout)
    except TimeoutError:
        env = app.courier_environment or "?"
        why = phone.last_error(env) or _("no connection")
        raise DeviceSimError(_("no token for {app} within {seconds} s: APNs ({env}) unreachable ({why})").format(
            app=app.bundle_id, seconds=f"{timeout:g}", env=env, why=why)) from None


def _bundles(raw: str) -> list[str]:
    bundles = [b.strip() for b in raw.split(",") if b.strip()]
    if not bundles:
        raise UsageError(_("--app needs at least one bundle id"))
    try:
        return [check_bundle_id(b) for b in bundles]
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


async def cmd_register(args: argparse.Namespace) -> int:
    types = _types(args.types)
    _bundles(args.app)
    if args.fail_with is not None:  # refused before the phone activates or connects
        try:
            registration.check_code(args.fail_with)
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    endpoints = Endpoints.load(args.endpoints)
    async with Phone.open(endpoints, _state_dir(args), name=args.name) as phone:
        app = _install(phone, args.app, args.environment, types, args.fail_with)
        try:
            token = await _register(app, phone, args.timeout)
        except RegistrationError as error:  # didFail... was called: say so to the script and to the person
            _print(registration.failure_json(error))
            print(error_line(f"{PROG} register", registration.failure_line(error)), file=sys.stderr)
            return REGISTRATION_FAILED
        _print({"token": token})
    return 0


async def _send_token(session: aiohttp.ClientSession, provider: str, app: App, token: str) -> None:
    body = {"token": token, "bundle_id": app.bundle_id, "environment": app.courier_environment}
    url = provider.rstrip("/") + "/v1/devices"
    try:
        async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=10)) as response:
            _print({"event": "token_sent", "bundle_id": app.bundle_id, "provider": url, "status": response.status})
    except (aiohttp.ClientError, TimeoutError) as exc:
        _print({"event": "token_send_failed", "bundle_id": app.bundle_id, "provider": url,
                "error": str(exc) or type(exc).__name__})


async def cmd_run(args: argparse.Namespace) -> int:
    types = _types(args.types)
    bundles = _bundles(args.app)
    endpoints = Endpoints.load(args.endpoints)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with Phone.open(endpoints, _state_dir(args), name=args.name,
                          keepalive_interval=args.keepalive) as phone, aiohttp.ClientSession() as session:
        phone.subscribe(_print)
        apps = [_install(phone, b, args.environment, types) for b in bundles]

        async def register(app: App) -> None:
            try:
                token = await app.register()
            except RegistrationError:
                return  # the phone already printed {"event": "registration_failed", ...}
            if args.provider:
                await _send_token(session, args.provider, app, token)

        tasks = [asyncio.create_task(register(app)) for app in apps]
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return 0


async def cmd_uninstall(args: argparse.Namespace) -> int:
    _bundles(args.app)
    endpoints = Endpoints.load(args.endpoints)
    async with Phone.open(endpoints, _state_dir(args), name=args.name) as phone:
        if args.app not in phone.apps:
            raise UsageError(_("{app} is not installed on this phone ({state_dir})").format(
                app=args.app, state_dir=phone.state_dir))
        told = await phone.uninstall(args.app, timeout=args.timeout)
        event: dict[str, Any] = {"event": "uninstalled", "bundle_id": args.app, "apns_notified": told}
        if not told:
            event["note"] = _(NOT_TOLD)
        _print(event)
    return 0


async def cmd_token_change(args: argparse.Namespace) -> int:
    """``restore`` / ``erase`` (device-side.md §3, rule 29): one JSON line saying which apps and whether APNs knows."""
    endpoints = Endpoints.load(args.endpoints)
    new_key = args.command == "erase" and args.new_key
    if new_key:  # before the phone opens: it then activates with a new key (docs/device-side.md §1.5 item 5)
        store = DeviceStore(_state_dir(args))
        store.lock()
        try:
            store.load(args.name)
            await erase_identity(store, endpoints.admin, timeout=args.timeout)
        finally:
            store.unlock()
    async with Phone.open(endpoints, _state_dir(args), name=args.name) as phone:
        apps = sorted(phone.apps)
        if args.command == "restore":
            told = await phone.restore_from_backup(timeout=args.timeout)
        else:
            told = await phone.erase(timeout=args.timeout)
        event: dict[str, Any] = {"event": "restored" if args.command == "restore" else "erased", "apps": apps,
                                 "apns_notified": told}
        if new_key:
            event["new_key"] = True
        if not told:
            event["note"] = _(NOT_TOLD)
        _print(event)
    return 0


async def cmd_fleet(args: argparse.Namespace) -> int:
    bundles = _bundles(args.app)
    try:
        return await fleet_cli.cmd_fleet(args, bundles)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc


COMMANDS = {"register": cmd_register, "run": cmd_run, "uninstall": cmd_uninstall, "restore": cmd_token_change,
            "erase": cmd_token_change, "fleet": cmd_fleet}


def main(argv: list[str] | None = None) -> int:
    start(PROG, argv)  # before the parser: argparse's own words are looked up as it is built
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="device-sim: %(levelname)s %(name)s: %(message)s")
    prog = f"{PROG} {args.command}"  # the sub-command named, as apns-sim's and apns-provider's errors do
    try:
        return asyncio.run(COMMANDS[args.command](args))
    except UsageError as exc:
        print(error_line(prog, str(exc)), file=sys.stderr)
        return 2
    except (DeviceSimError, RegistrationError) as exc:
        # A RegistrationError's text is iOS's own NSError description, quoted as iOS words it (in English).
        print(error_line(prog, str(exc)), file=sys.stderr)
        return 2 if isinstance(exc, InputError) else 1
    except OSError as exc:  # e.g. a state dir that cannot be written
        print(error_line(prog, str(exc)), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
