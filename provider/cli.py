"""``apns-provider``: send one notification, or run the provider service (docs/architecture.md contract 4).

``send`` prints exactly one JSON line with Apple's answer (``{"status": 200, "apns_id": ...}`` or
``{"status": 4xx, "reason": ..., "apns_id": ...}``, plus ``timestamp`` on 410) and exits 0 only on 200
(1 for a refusal or no answer). ``serve`` prints ``{"url": ...}`` once listening, then logs to stderr.
Bad input is one line on stderr and exit code 2, never a traceback. Secrets (passwords, keys, tokens, the
API key) are never printed or logged; ``--password`` and ``--api-key`` may come from the environment
(``APNS_PROVIDER_PASSWORD``, ``APNS_PROVIDER_API_KEY``) to keep them out of ``ps``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import Coroutine, Sequence
from typing import Any, NoReturn

from aiohttp import web

from provider import legacy_cli
from provider.apns.client import APNsClient, resolve_endpoint
from provider.apns.credentials import Credentials, CredentialsError, load_certificate_credentials, load_p8
from provider.apns.errors import ProviderError, TransportError
from provider.apns.notification import Notification, NotificationError, infer_push_type
from provider.stores import SchemaOutOfDate, Store
from provider.web import ServiceConfig, create_app
from provider.worker import Worker, worker_name
from pushsim_i18n import Domain, argparse_words
from pushsim_i18n.cli import OneLineParser, add_lang_option, error_line, start

PROG = "apns-provider"
COMMAND_NAMES = ("send", "feedback", "serve", "worker", "migrate")
_ = Domain("provider").gettext


class UsageError(ProviderError):
    """Bad input: reported on one line, exit code 2."""


class _Parser(OneLineParser):
    """Every usage error, argparse's or ours, leaves through main()'s one ``apns-provider: error:`` line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _add_credentials(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(_("credentials (certificate or token)"))
    g.add_argument("--cert", help=_("push certificate: PEM, DER .cer, or PEM holding the key too"))
    g.add_argument("--key", help=_("PEM private key for --cert"))
    g.add_argument("--p12", help=_(".p12 holding the private key (with --cert) or key and certificate"))
    g.add_argument(
        "--password",
        default=os.environ.get("APNS_PROVIDER_PASSWORD"),
        help=_("password of --p12 or of an encrypted --key (env APNS_PROVIDER_PASSWORD)"),
    )
    g.add_argument("--p8", help=_("token signing key AuthKey_KEYID.p8"))
    g.add_argument("--key-id", help=_("Key ID of --p8"))
    g.add_argument("--team-id", help=_("Team ID for --p8"))


def _add_target(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoint", help=_("https://host:port of APNs (default: Apple's host for --environment)"))
    p.add_argument("--ca", help=_("PEM file of the CA to trust for --endpoint (default: the system store)"))
    p.add_argument("--environment", choices=["sandbox", "production"], default="sandbox",
                   help=_("sandbox (development) or production"))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=_("A real APNs provider (HTTP/2, certificate or token auth)."))
    sub = parser.add_subparsers(dest="command", required=True)

    send = sub.add_parser("send", help=_("send one notification and print Apple's answer as JSON"))
    _add_target(send)
    send.add_argument("--topic", help=_("the app's bundle id (apns-topic; required except with --legacy)"))
    send.add_argument("--token", required=True, help=_("device token, hex"))
    body = send.add_mutually_exclusive_group(required=True)
    body.add_argument("--alert", help=_("alert text"))
    body.add_argument("--payload", help=_("the whole payload as a JSON object"))
    send.add_argument(
        "--push-type", help=_("apns-push-type (default: alert, or background for silent payloads)")
    )
    send.add_argument("--priority", type=int, help=_("apns-priority: 10, 5 or 1"))
    send.add_argument("--expiration", type=int, help=_("apns-expiration, UNIX seconds (0: deliver once)"))
    send.add_argument("--collapse-id", help=_("apns-collapse-id (notifications with the same id replace one another)"))
    send.add_argument("--apns-id", help=_("apns-id (default: a new UUID)"))
    send.add_argument("--timeout", type=float, default=10.0, help=_("seconds to wait for an answer"))
    _add_credentials(send)
    legacy_cli.add_send_options(send)
    _add_credentials(legacy_cli.add_feedback_parser(sub))

    serve = sub.add_parser("serve", help=_("run the provider service (token registry and send API)"))
    _add_db(serve)
    serve.add_argument("--host", default="127.0.0.1", help=_("address to bind (default 127.0.0.1)"))
    serve.add_argument("--port", type=int, default=0, help=_("0 picks a free port (printed when ready)"))
    serve.add_argument(
        "--api-key",
        default=os.environ.get("APNS_PROVIDER_API_KEY") or None,  # set but empty is no key, not an empty key
        help=_("protect operator endpoints with Authorization: Bearer KEY (env APNS_PROVIDER_API_KEY)"),
    )
    serve.add_argument(
        "--no-send", action="store_true",
        help=_("only accept and enqueue (answer 202); 'apns-provider worker' processes send"),
    )
    _add_sending(serve)
    _add_target(serve)
    _add_credentials(serve)

    worker = sub.add_parser("worker", help=_("send what the service enqueued (any number, on any machine)"))
    _add_db(worker)
    _add_sending(worker)
    _add_target(worker)
    _add_credentials(worker)

    migrate = sub.add_parser("migrate", help=_("create or upgrade the database schema, then exit"))
    _add_db(migrate)
    add_lang_option(parser)
    return parser


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",  # not required=True: argparse would then ignore the environment default (checked in _prepare)
        help=_("SQLite file (the default store) or postgresql://user:pw@host/db (shared by many processes); "
               "env APNS_PROVIDER_DB"), default=os.environ.get("APNS_PROVIDER_DB") or None,
    )


def _positive(text: str) -> float:
    """argparse prints an ArgumentTypeError's own words (a ValueError would read "invalid _positive value")."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(_("must be a positive number of seconds, got {value}").format(value=text))
    return value


def _add_sending(p: argparse.ArgumentParser) -> None:
    p.add_argument("--concurrency", type=int, default=100, help=_("sends in flight at once (default 100)"))
    p.add_argument("--lease", type=_positive, default=30.0,
                   help=_("seconds a claimed notification stays with this process before others may take it"))
    p.add_argument("--retry", type=_positive, default=1.0, help=_("seconds before resending after no answer"))


def load_credentials(args: argparse.Namespace) -> Credentials:
    """Token credentials from ``--p8`` or certificate credentials from the other flags."""
    if args.p8:
        if args.cert or args.key or args.p12:
            raise UsageError(_("use either --p8 (token) or --cert/--key/--p12 (certificate), not both"))
        if not args.key_id or not args.team_id:
            raise UsageError(_("--p8 needs --key-id and --team-id"))
        return load_p8(args.p8, args.key_id, args.team_id)
    if args.key_id or args.team_id:
        raise UsageError(_("--key-id and --team-id go with --p8"))
    if args.key and not args.cert:
        raise UsageError(_("--key needs --cert"))
    if args.key and args.p12:
        raise UsageError(_("give the private key once: --key or --p12"))
    if not (args.cert or args.p12):
        raise UsageError(_(
            "credentials required: --cert FILE [--key FILE | --p12 FILE --password PW], "
            "--p12 FILE --password PW, or --p8 FILE --key-id ID --team-id TEAM"
        ))
    return load_certificate_credentials(
        cert_file=args.cert, key_file=args.key, p12_file=args.p12, password=args.password
    )


def _payload(args: argparse.Namespace) -> Any:
    if args.alert is not None:
        # The shape alert() builds, but without its size check: that one knows no push type and said "at most
        # 4096 for push type None" even for --push-type voip. Notification checks the size for the real type.
        return {"aps": {"alert": args.alert}}
    try:
        payload = json.loads(args.payload)
    except ValueError as exc:
        raise UsageError(_("--payload is not JSON: {error}").format(error=exc)) from None
    if not isinstance(payload, dict):
        raise UsageError(_("--payload must be a JSON object"))
    return payload


def _notification(args: argparse.Namespace) -> Notification:
    if not args.topic:
        raise UsageError(argparse_words.word("the following arguments are required: %s") % "--topic")
    payload = _payload(args)
    push_type = args.push_type or infer_push_type(payload)
    priority = args.priority
    if priority is None and push_type == "background":
        priority = 5
    return Notification(
        token=args.token,
        topic=args.topic,
        payload=payload,
        push_type=push_type,
        priority=priority,
        expiration=args.expiration,
        collapse_id=args.collapse_id,
        apns_id=args.apns_id,
    )


async def _send(args: argparse.Namespace, credentials: Credentials, notification: Notification) -> int:
    client = APNsClient(
        credentials,
        environment=args.environment,
        endpoint=args.endpoint,
        ca_file=args.ca,
        request_timeout=args.timeout,
    )
    async with client:
        try:
            result = await client.send(notification)
        except TransportError as exc:
            print(error_line(f"{PROG} send", _("no answer from APNs at {address}: {error}").format(
                address=f"{client.host}:{client.port}", error=exc)), file=sys.stderr)
            return 1
    print(json.dumps(result.to_json(), ensure_ascii=False), flush=True)
    return 0 if result.accepted else 1


def _environments(args: argparse.Namespace) -> tuple[str, ...]:
    return (args.environment,) if args.endpoint else ("sandbox", "production")


def _client(args: argparse.Namespace, credentials: Credentials, env: str) -> APNsClient:
    return APNsClient(credentials, environment=env, endpoint=args.endpoint, ca_file=args.ca)


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def _worker(args: argparse.Namespace, credentials: Credentials) -> int:
    store = Store(args.db)
    try:
        async with contextlib.AsyncExitStack() as stack:
            senders = {env: await stack.enter_async_context(_client(args, credentials, env))
                       for env in _environments(args)}
            worker = Worker(store, senders, name=worker_name("worker"), concurrency=args.concurrency,
                            lease=args.lease, retry=args.retry)
            print(json.dumps({"worker": worker.name}), flush=True)
            logging.getLogger("provider").info("worker %s sending (%s)", worker.name, ", ".join(senders))
            await worker.run(_stop_event())
    finally:
        store.close()
    return 0


def _migrate(args: argparse.Namespace) -> int:
    store = Store(args.db, migrate=True)
    try:
        print(json.dumps({"schema_version": store.schema_version()}), flush=True)
    finally:
        store.close()
    return 0


async def _serve(args: argparse.Namespace, credentials: Credentials) -> int:
    environments = _environments(args)
    config = ServiceConfig(db_path=args.db, api_key=args.api_key, environments=environments,
                           send=not args.no_send, concurrency=args.concurrency, lease=args.lease,
                           retry=args.retry)

    def factory(env: str) -> APNsClient:
        return _client(args, credentials, env)

    app = create_app(config, factory)
    runner = web.AppRunner(app, access_log=logging.getLogger("provider.access"))
    await runner.setup()
    try:
        site = web.TCPSite(runner, args.host, args.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        print(json.dumps({"url": f"http://{host}:{port}"}), flush=True)
        logging.getLogger("provider").info(
            "serving on http://%s:%s (%s)", host, port, ", ".join(environments)
        )
        await _stop_event().wait()
    finally:
        await runner.cleanup()
    return 0


def _prepare(
    argv: Sequence[str] | None,
) -> tuple[argparse.Namespace, Credentials | None, Notification | None]:
    """Everything that can be wrong with the input, checked before any I/O."""
    args = build_parser().parse_args(argv)
    if args.command != "send" and args.db is None:
        raise UsageError(_("--db is required (or env APNS_PROVIDER_DB)"))
    if args.command == "migrate":
        return args, None, None
    if args.command != "send" and args.concurrency < 1:
        raise UsageError(_("--concurrency must be at least 1"))
    credentials = load_credentials(args)
    notification = _notification(args) if args.command == "send" else None
    resolve_endpoint(args.environment, args.endpoint)
    credentials.ssl_context(args.ca)  # a missing or bad CA file is a usage error too
    if args.command == "send" and args.timeout <= 0:
        raise UsageError(_("--timeout must be positive"))
    return args, credentials, notification


def _legacy(argv: Sequence[str] | None) -> Coroutine[Any, Any, int] | None:
    """``send --legacy`` and ``feedback`` (the binary interface), checked before any I/O; None for the rest."""
    args = build_parser().parse_args(argv)
    if args.command == "feedback":
        credentials = legacy_cli.certificate_only(load_credentials(args))
        legacy_cli.check(args)
        credentials.ssl_context(args.ca)
        return legacy_cli.feedback(args, credentials)
    if args.command == "send" and args.legacy:
        credentials = legacy_cli.certificate_only(load_credentials(args))
        legacy_cli.check(args)
        payload = json.dumps(_payload(args), ensure_ascii=False, separators=(",", ":")).encode()
        credentials.ssl_context(args.ca)
        return legacy_cli.send(args, credentials, payload)
    return None


def _db_errors() -> tuple[type[Exception], ...]:
    """The databases' errors: SQLite's, and PostgreSQL's when psycopg is installed (it is optional)."""
    try:
        import psycopg
        import psycopg_pool
    except ImportError:
        return (sqlite3.Error,)
    return (sqlite3.Error, psycopg.Error, psycopg_pool.PoolTimeout)


def _prog(argv: Sequence[str] | None) -> str:
    """``apns-provider send``: an error names the sub-command it is about, as apns-sim's and device-sim's do
    (docs/cli.md, "Language, errors and output"). The sub-command is the first word that is one: only ``--lang``
    and its value may come before it, and no language is called like a sub-command."""
    words = sys.argv[1:] if argv is None else argv
    command = next((word for word in words if word in COMMAND_NAMES), None)
    return f"{PROG} {command}" if command else PROG


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the exit code (0 ok, 1 refused or no answer, 2 bad input)."""
    start(PROG, argv)  # before the parser: argparse's own words are looked up as it is built
    prog = _prog(argv)
    try:
        old_way = _legacy(argv)
        if old_way is not None:
            return asyncio.run(old_way)
        args, credentials, notification = _prepare(argv)
    except NotificationError as exc:  # its str() is English for the HTTP API; a person reads their language
        print(error_line(prog, exc.translated()), file=sys.stderr)
        return 2
    except (UsageError, CredentialsError, legacy_cli.LegacyUsageError, ValueError) as exc:
        print(error_line(prog, str(exc)), file=sys.stderr)
        return 2
    expected: tuple[type[Exception], ...] = (OSError, SchemaOutOfDate, *_db_errors())
    try:
        if credentials is None:
            return _migrate(args)
        if notification is not None:
            return asyncio.run(_send(args, credentials, notification))
        logging.basicConfig(
            stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        if args.command == "worker":
            return asyncio.run(_worker(args, credentials))
        return asyncio.run(_serve(args, credentials))
    except KeyboardInterrupt:
        return 130
    except expected as exc:  # a taken port, no db directory, an unreachable or unmigrated database
        print(error_line(prog, str(exc)), file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: still one line, never a traceback with secrets in its locals
        print(f"{PROG}: " + _("internal error: {kind}: {error}").format(kind=type(exc).__name__, error=exc),
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
