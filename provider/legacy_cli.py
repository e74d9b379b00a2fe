"""``apns-provider send --legacy`` and ``apns-provider feedback``: the old way, for teaching (docs/legacy-binary.md).

Both use the certificate credentials of ``send`` (the binary interface knew no ``.p8`` keys) and ``--endpoint
host:port`` (default: Apple's retired hosts). ``send --legacy`` prints ``{"interface": "binary", "written": 1,
"error": null, "closed": false}``, or the error-response (``{"status": 8, "description": "Invalid token",
"identifier": N}``) and ``"closed": true``, and exits 0 only on silence with the connection still open;
``feedback`` prints ``{"feedback": [{"timestamp": S, "token": HEX}, ...]}``.
"""

from __future__ import annotations

import argparse
import json
import sys

from provider import legacy
from provider.apns.credentials import CertificateCredentials, Credentials
from provider.apns.errors import ProviderError
from pushsim_i18n import Domain
from pushsim_i18n.cli import error_line

PROG = "apns-provider"
_ = Domain("provider").gettext


class LegacyUsageError(ProviderError):
    """Bad input for the binary interface: reported on one line, exit code 2."""


def add_send_options(send: argparse.ArgumentParser) -> None:
    g = send.add_argument_group(_("the retired binary interface (docs/legacy-binary.md; the old way, for "
                                  "teaching)"))
    g.add_argument("--legacy", action="store_true",
                   help=_("send over Apple's binary interface instead of HTTP/2 (--endpoint is then host:port)"))
    g.add_argument("--format", choices=sorted(legacy.FORMATS), default="frame",
                   help=_("simple (command 0), enhanced (1) or frame (2, default)"))
    g.add_argument("--identifier", type=int, default=1, help=_("the notification's identifier (enhanced, frame)"))
    g.add_argument("--wait", type=float, default=1.0,
                   help=_("seconds to listen for an error-response: silence is the only success"))


def add_feedback_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    feedback = sub.add_parser("feedback", help=_("read the retired feedback service once (the old way, for teaching)"))
    feedback.add_argument("--endpoint", help=_("host:port of the feedback service (default: Apple's retired host)"))
    feedback.add_argument("--ca", help=_("PEM file of the CA to trust for --endpoint (default: the system store)"))
    feedback.add_argument("--environment", choices=["sandbox", "production"], default="sandbox",
                          help=_("sandbox (development) or production"))
    feedback.add_argument("--timeout", type=float, default=10.0, help=_("seconds to wait for the service to close"))
    return feedback


def certificate_only(credentials: Credentials) -> CertificateCredentials:
    if not isinstance(credentials, CertificateCredentials):
        raise LegacyUsageError(_("the binary interface knew only push certificates: use --cert/--key/--p12, not "
                                 "--p8"))
    return credentials


def check(args: argparse.Namespace) -> tuple[str, int]:
    """The address, and whatever else can be wrong, before any I/O."""
    hosts = legacy.GATEWAY_HOSTS if args.command == "send" else legacy.FEEDBACK_HOSTS
    port = legacy.GATEWAY_PORT if args.command == "send" else legacy.FEEDBACK_PORT
    try:
        address = legacy.parse_address(args.endpoint, hosts[args.environment], port)
    except ValueError as exc:
        raise LegacyUsageError(str(exc)) from None
    if args.command == "send":
        if args.push_type or args.collapse_id or args.apns_id:
            raise LegacyUsageError(_("--push-type, --collapse-id and --apns-id are HTTP/2 headers; the binary "
                                     "interface has none of them"))
        if args.priority not in (None, 5, 10) or args.wait <= 0 or not 0 <= args.identifier < 2**32:
            raise LegacyUsageError(_("--priority must be 10 or 5, --wait positive, --identifier 0 to 2^32-1"))
    elif args.timeout <= 0:
        raise LegacyUsageError(_("--timeout must be positive"))
    return address


async def send(args: argparse.Namespace, credentials: CertificateCredentials, payload: bytes) -> int:
    host, port = check(args)
    note = legacy.LegacyNotification(token=args.token, payload=payload, identifier=args.identifier,
                                     expiry=args.expiration or 0, priority=args.priority or 10)
    try:
        report = await legacy.send(credentials, [note], host=host, port=port, ca_file=args.ca, fmt=args.format,
                                   wait=args.wait)
    except OSError as exc:
        print(error_line(f"{PROG} send", _("no connection to the binary gateway at {address}: {error}").format(
            address=f"{host}:{port}", error=exc)), file=sys.stderr)
        return 1
    print(json.dumps(report.to_json(), ensure_ascii=False), flush=True)
    return 0 if report.silent_success else 1


async def feedback(args: argparse.Namespace, credentials: CertificateCredentials) -> int:
    host, port = check(args)
    try:
        entries = await legacy.read_feedback(credentials, host=host, port=port, ca_file=args.ca,
                                             timeout=args.timeout)
    except (OSError, TimeoutError) as exc:
        print(error_line(f"{PROG} feedback", _("no answer from the feedback service at {address}: {error}").format(
            address=f"{host}:{port}", error=exc)), file=sys.stderr)
        return 1
    print(json.dumps({"feedback": [{"timestamp": e.timestamp, "token": e.token} for e in entries]}), flush=True)
    return 0
