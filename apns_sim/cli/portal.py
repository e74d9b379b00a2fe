"""``apns-sim portal ...``: the developer portal and Keychain steps from a shell (docs/architecture.md contract 2).

Works on the same data dir whether or not ``apns-sim serve`` runs; the server reads the same SQLite file,
so it sees a new App ID, certificate or revocation at once. Each command tells a learner, in a sentence or
two, what it did and what it corresponds to in Apple's portal or Keychain; the ``list`` commands print a
table (:mod:`apns_sim.portal.tables`); ``--json`` prints a JSON object. A data dir without a CA is refused
unless ``--create`` is given, so a mistyped path is an error rather than a second CA nobody serves.
``export`` alone needs no data dir: it converts credential files as the tutorials' openssl commands do
(:mod:`apns_sim.portal.formats`, docs/device-side.md §5 step 5).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from apns_sim import pki
from apns_sim.cli.datadir import note_credentials
from apns_sim.pki import authority_files
from apns_sim.portal import formats as export_mod
from apns_sim.portal.service import Listing, Portal, PortalError
from apns_sim.portal.tables import listing_table
from apns_sim.state import SimState
from pushsim_i18n import N_, Domain
from pushsim_i18n.cli import error_line

_ = Domain("apns_sim").gettext

ENV_CHOICES = ("sandbox", "production", "universal")


def add_portal_parser(sub: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    # Accept --data-dir and --json both before and after the sub-command, as people type them either way.
    common.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS,
                        help=_("the simulator's state directory (the same one `apns-sim serve` uses)"))
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help=_("print a machine-readable JSON object"))
    # Without it a mistyped --data-dir would silently make a second CA the server never sees.
    common.add_argument("--create", action="store_true", default=argparse.SUPPRESS,
                        help=_("start a new data dir (a new CA) if DIR holds none yet; `apns-sim serve` makes one "
                                "too"))
    portal = sub.add_parser("portal", parents=[common], help=_("developer portal: App IDs, certificates, keys, CSR"))
    things = portal.add_subparsers(dest="thing", required=True, metavar="{app-id,cert,key,csr,export}")

    app_id = things.add_parser("app-id", help=_("App IDs (Identifiers)")).add_subparsers(
        dest="action", required=True)
    create = app_id.add_parser("create", parents=[common], help=_("create an explicit or wildcard App ID"))
    create.add_argument("bundle_id", help=_("the bundle id, e.g. com.example.pushchat; ending in .* makes a "
                                             "wildcard App ID, which cannot use push"))
    create.add_argument("--team-id", required=True, help=_("the ten-character Team ID"))
    app_id.add_parser("list", parents=[common], help=_("list App IDs"))

    cert = things.add_parser("cert", help=_("push certificates")).add_subparsers(
        dest="action", required=True)
    issue = cert.add_parser("issue", parents=[common], help=_("turn a CSR into a push certificate (.cer, DER)"))
    issue.add_argument("--app-id", required=True, dest="bundle_id", help=_("the explicit App ID (bundle id)"))
    issue.add_argument("--csr", required=True, type=Path, help=_("the CSR file, e.g. Push.certSigningRequest"))
    issue.add_argument("--environment", required=True, choices=ENV_CHOICES,
                       help=_("which APNs the certificate opens: sandbox, production or both (universal)"))
    issue.add_argument("--out", required=True, type=Path, help=_("where to write the .cer"))
    cert_list = cert.add_parser("list", parents=[common], help=_("list push certificates"))
    cert_list.add_argument("--app-id", dest="bundle_id", help=_("only this App ID's certificates"))
    revoke = cert.add_parser("revoke", parents=[common], help=_("revoke a push certificate"))
    revoke.add_argument("serial", type=int, help=_("the serial number `cert list` shows"))

    key = things.add_parser("key", help=_("token signing keys (.p8)")).add_subparsers(
        dest="action", required=True)
    kcreate = key.add_parser("create", parents=[common], help=_("create an APNs auth key and write AuthKey_<ID>.p8"))
    kcreate.add_argument("--team-id", required=True, help=_("the ten-character Team ID"))
    kcreate.add_argument("--out-dir", required=True, type=Path, help=_("where to write AuthKey_<ID>.p8"))
    kcreate.add_argument("--environment", choices=("sandbox", "production"),
                         help=_("restrict the key to one environment (default: both, like legacy keys)"))
    klist = key.add_parser("list", parents=[common], help=_("list auth keys"))
    klist.add_argument("--team-id", help=_("only this team's keys"))
    krevoke = key.add_parser("revoke", parents=[common], help=_("revoke an auth key"))
    krevoke.add_argument("key_id", help=_("the Key ID `key list` shows"))

    csr = things.add_parser("csr", parents=[common],
                            help=_("what Keychain Access does: a key pair, Push.certSigningRequest and Push.p12"))
    csr.add_argument("--email", required=True, help=_("your e-mail address, as Keychain Access asks for it"))
    csr.add_argument("--common-name", required=True, help=_("a name for the key, e.g. \"Push Demo\""))
    csr.add_argument("--password", required=True, help=_("password protecting the exported Push.p12"))
    csr.add_argument("--out-dir", required=True, type=Path, help=_("where to write the two files"))

    export = things.add_parser(
        "export", parents=[common],
        help=_("convert .cer + Push.p12 (or a combined .p12) to PEM or one .p12, as the openssl commands do"))
    export.add_argument("--cer", type=Path, help=_("the portal's certificate (DER .cer, or PEM)"))
    export.add_argument("--p12", type=Path, help=_("Push.p12 from Keychain Access, or a .p12 with cert and key"))
    export.add_argument("--key", type=Path, help=_("a PEM private key instead of --p12"))
    export.add_argument("--password", help=_("password of the .p12 (or of an encrypted --key)"))
    export.add_argument("--format", required=True, choices=export_mod.FORMATS,
                        help=_("pem: cert.pem, key.pem and ck.pem; p12: one ck.p12 (needs --out-password)"))
    export.add_argument("--out-password", help=_("password protecting the new ck.p12 (--format p12)"))
    export.add_argument("--out-dir", required=True, type=Path, help=_("where to write the converted files"))


def _read(path: Path, what: str) -> bytes:
    """``what`` names the file for the reader: a message marked with N_, translated here."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PortalError(_("{what} {path} does not exist").format(what=_(what), path=path)) from None
    except IsADirectoryError:
        raise PortalError(_("{what} {path} is a directory, not a file").format(what=_(what), path=path)) from None


def _emit(args: argparse.Namespace, result: Any, extra: dict[str, Any] | None = None) -> None:
    if getattr(args, "json", False):
        print(json.dumps({**result.as_json(), **(extra or {})}, default=str, ensure_ascii=False))
    else:
        print(result.summary)


def _emit_listing(args: argparse.Namespace, listing: Listing, now: datetime) -> None:
    """``list``: a table a learner reads (and copies serials and key ids from), or ``--json``."""
    if getattr(args, "json", False):
        _emit(args, listing)
    else:
        print(listing_table(listing, now))


def _dispatch(args: argparse.Namespace, portal: Portal, now: datetime) -> None:
    """Each step also notes what it wrote in ``credentials.json`` for ``apns-sim env`` (docs/drop-in.md §5)."""
    thing, action = args.thing, getattr(args, "action", None)
    note = functools.partial(note_credentials, args.data_dir)
    if thing == "app-id" and action == "create":
        _emit(args, portal.create_app_id(args.bundle_id, args.team_id))
        note(topic=args.bundle_id, team_id=args.team_id)
    elif thing == "app-id":
        _emit_listing(args, portal.list_app_ids(), now)
    elif thing == "cert" and action == "issue":
        result = portal.issue_certificate(args.bundle_id, _read(args.csr, N_("CSR file")), args.environment)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        pki.write_public(args.out, result.der)
        _emit(args, result.saved(args.out.name), {"path": str(args.out)})  # names the tutorial's file, if used
        note(topic=args.bundle_id, cert=str(args.out.resolve()), cert_environment=args.environment)
    elif thing == "cert" and action == "list":
        _emit_listing(args, portal.list_certificates(args.bundle_id), now)
    elif thing == "cert":
        _emit(args, portal.revoke_certificate(args.serial))
    elif thing == "key" and action == "create":
        created = portal.create_auth_key(args.team_id, args.environment)
        args.out_dir.mkdir(parents=True, exist_ok=True)
        path = args.out_dir / created.filename
        pki.write_private(path, created.p8)
        note(key_id=created.key_id, team_id=args.team_id, p8=str(path.resolve()))
        # Contract 2: `key create` always prints {"key_id", "path"}; the lesson goes to stderr.
        print(json.dumps({"key_id": created.key_id, "path": str(path), "team_id": args.team_id}, ensure_ascii=False))
        if not getattr(args, "json", False):
            print(created.summary, file=sys.stderr)
    elif thing == "key" and action == "list":
        _emit_listing(args, portal.list_auth_keys(args.team_id), now)
    elif thing == "key":
        _emit(args, portal.revoke_auth_key(args.key_id))
    elif thing == "csr":
        request = portal.make_csr(args.email, args.common_name, args.password)
        args.out_dir.mkdir(parents=True, exist_ok=True)
        csr_path, p12_path = args.out_dir / request.csr_filename, args.out_dir / request.p12_filename
        pki.write_public(csr_path, request.csr_pem)
        pki.write_private(p12_path, request.p12)
        note(p12=str(p12_path.resolve()))
        _emit(args, request, {"csr_path": str(csr_path), "p12_path": str(p12_path)})


# export's file names -> the credentials.json keys `apns-sim env` reads
_EXPORTED = {export_mod.CERT_PEM: "cert_pem", export_mod.KEY_PEM: "key_pem", export_mod.COMBINED_PEM: "cert_key_pem",
             export_mod.COMBINED_P12: "cert_key_p12"}


def _export(args: argparse.Namespace) -> None:
    """``portal export``: files only, no portal state (docs/device-side.md §5 step 5)."""
    inputs = export_mod.Inputs(
        cer=_read(args.cer, N_("certificate file")) if args.cer else None,
        cer_name=args.cer.name if args.cer else "aps_development.cer",
        p12=_read(args.p12, N_(".p12 file")) if args.p12 else None,
        p12_name=args.p12.name if args.p12 else "Push.p12",
        key=_read(args.key, N_("key file")) if args.key else None,
        key_name=args.key.name if args.key else "key.pem",
        password=args.password,
    )
    result = export_mod.convert(inputs, args.format, out_password=args.out_password)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    for item in result.files:
        path = args.out_dir / item.name
        (pki.write_private if item.private else pki.write_public)(path, item.data)
        paths[item.name] = str(path)
    if getattr(args, "data_dir", None) is not None:  # export needs no data dir; with one, env names the files
        note_credentials(args.data_dir, **{key: str(Path(paths[name]).resolve()) for name, key in _EXPORTED.items()
                                           if name in paths})
    if getattr(args, "json", False):
        print(json.dumps(result.as_json(paths), ensure_ascii=False))
    else:
        print(result.summary)


def run_portal(args: argparse.Namespace) -> int:
    if args.thing == "export":  # a pure file conversion: needs no data dir, touches no state
        try:
            _export(args)
        except (export_mod.ExportError, PortalError) as exc:
            print(error_line("apns-sim portal export", str(exc)), file=sys.stderr)
            return 2
        return 0
    data_dir = getattr(args, "data_dir", None)
    if data_dir is None:
        print(error_line("apns-sim portal", _("--data-dir is required (the directory `apns-sim serve --data-dir` "
                                              "uses)")), file=sys.stderr)
        return 2
    if not authority_files(data_dir).ca.exists() and not getattr(args, "create", False):
        print(error_line("apns-sim portal", _("{path} is not a simulator data dir (no ca.pem): check the path, or "
                                              "add --create to start a new one").format(path=data_dir)),
              file=sys.stderr)
        return 2
    state = SimState(Path(data_dir))
    try:
        portal = Portal(state.registry, state.authority, state.clock.now)
        _dispatch(args, portal, state.clock.now())
    except (PortalError, pki.PkiError) as exc:
        print(error_line("apns-sim portal", str(exc)), file=sys.stderr)
        return 2
    finally:
        state.close()
    return 0
