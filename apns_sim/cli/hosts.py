"""``apns-sim hosts``: the hosts-file lines that send Apple's push host names to the simulator (docs/drop-in.md §3).

Every name of :data:`apns_sim.pki.apple_hosts.APPLE_HOSTS` gets one line, so a new interface's names appear here
as soon as it adds them to the table. ``--apply FILE`` keeps our lines between two marker comments: applying
twice changes nothing, applying with another address replaces the block, ``--remove`` takes it out. The file is
rewritten in place, not replaced: in a container ``/etc/hosts`` is a bind mount that cannot be renamed over.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from apns_sim.cli.datadir import DataDirError, read_endpoints
from apns_sim.pki import apple_hosts
from pushsim_i18n import Domain

_ = Domain("apns_sim").gettext

BEGIN = "# BEGIN pushsim: Apple's push hosts -> the simulator (NOT Apple); managed by `apns-sim hosts`"
END = "# END pushsim"
BACKUP_SUFFIX = ".pushsim.bak"


def add_hosts_parser(sub: Any) -> None:
    hosts = sub.add_parser("hosts", help=_("print (or --apply) hosts-file lines sending Apple's push hosts here"))
    hosts.add_argument("--data-dir", type=Path, required=True, help=_("the data dir of `apns-sim serve`"))
    hosts.add_argument("--address", help=_("address to map the names to (default: where the simulator listens)"))
    hosts.add_argument("--apply", type=Path, metavar="FILE",
                       help=_("write the lines into FILE (e.g. /etc/hosts) between marker comments, with a "
                              "backup"))
    hosts.add_argument("--remove", action="store_true", help=_("with --apply: take the lines out of FILE again"))


def block(address: str) -> str:
    lines = [BEGIN, *(f"{address} {name}" for name in apple_hosts.host_names()), END]
    return "\n".join(lines) + "\n"


def merged(text: str, new_block: str) -> str:
    """``text`` without any earlier block of ours, plus ``new_block`` at the end ("" removes it)."""
    kept: list[str] = []
    inside = False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped == BEGIN:
            inside = True
        elif inside and stripped == END:
            inside = False
        elif not inside:
            kept.append(line)
    body = "".join(kept)
    if body and not body.endswith("\n"):
        body += "\n"
    return body + new_block


def apply(path: Path, new_block: str) -> bool:
    """Rewrite ``path`` in place when its content changes; the first change leaves ``path.pushsim.bak``."""
    old = path.read_text() if path.exists() else ""
    new = merged(old, new_block)
    if new == old:
        return False
    backup = path.with_name(path.name + BACKUP_SUFFIX)
    if path.exists() and not backup.exists():  # the backup keeps the file as it was before pushsim
        shutil.copy2(path, backup)
    with open(path, "r+" if path.exists() else "w") as handle:
        handle.write(new)
        handle.truncate()
    return True


def run_hosts(args: argparse.Namespace) -> int:
    try:
        drop_in = read_endpoints(args.data_dir).get("apple_hosts")
    except DataDirError:
        drop_in = None  # the lines do not depend on a running simulator: write them before starting it
    if not isinstance(drop_in, dict):
        print("apns-sim hosts: " + _("note: no simulator with --apple-hosts runs on {path} yet; nothing answers "
                                     "for these names until one does").format(path=args.data_dir), file=sys.stderr)
        drop_in = {}
    address = args.address or drop_in.get("address") or "127.0.0.1"
    text = block(address)
    if args.apply is None:
        print(text, end="")
        return 0
    changed = apply(args.apply, "" if args.remove else text)
    said = {(True, True): _("Apple's push hosts removed from {file}"),
            (True, False): _("Apple's push hosts removed from {file} already; nothing changed"),
            (False, True): _("Apple's push hosts in {file}"),
            (False, False): _("Apple's push hosts in {file} already; nothing changed")}
    print(said[(bool(args.remove), changed)].format(file=args.apply))
    return 0
