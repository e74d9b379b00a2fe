"""What the helper commands (hosts, trust, env, wait) read from a simulator's data directory.

``endpoints.json`` is docs/architecture.md contract 1; ``credentials.json`` is where ``apns-sim portal`` notes the
files it wrote (docs/drop-in.md §5), so ``apns-sim env`` can name them without the user repeating paths.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from apns_sim import pki
from apns_sim.errors import SimError
from pushsim_i18n import Domain

_ = Domain("apns_sim").gettext

ENDPOINTS_FILE = "endpoints.json"  # the same name the simulator writes (apns_sim.simulator.ENDPOINTS_FILE)
CREDENTIALS_FILE = "credentials.json"
TOKEN_ENV = "PUSHSIM_ADMIN_TOKEN"  # the admin token of `serve --admin-token`, read by serve and wait


class DataDirError(SimError):
    """The data directory lacks what a helper command needs: one line on stderr, exit status 2."""


def read_endpoints(data_dir: Path) -> dict[str, Any]:
    path = Path(data_dir) / ENDPOINTS_FILE
    try:
        endpoints = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataDirError(_("{path} does not exist: start `apns-sim serve --data-dir {data_dir}` first "
                             "(`apns-sim wait` waits for it)").format(path=path, data_dir=data_dir)) from None
    except (OSError, ValueError) as exc:
        raise DataDirError(_("cannot read {path}: {error}").format(path=path, error=exc)) from None
    if not isinstance(endpoints, dict):
        raise DataDirError(_("{path} is not a JSON object").format(path=path))
    return endpoints


def read_credentials(data_dir: Path) -> dict[str, Any]:
    """What the portal noted; empty when it has written nothing yet (or the file is unreadable)."""
    try:
        value = json.loads((Path(data_dir) / CREDENTIALS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def note_credentials(data_dir: Path, **entries: Any) -> None:
    """Merge ``entries`` into ``credentials.json`` (paths and public names only, never a password)."""
    merged = {**read_credentials(data_dir), **{k: v for k, v in entries.items() if v is not None}}
    pki.write_public(Path(data_dir) / CREDENTIALS_FILE, (json.dumps(merged, indent=2) + "\n").encode())
