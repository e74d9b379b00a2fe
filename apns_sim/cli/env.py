"""``apns-sim env``: ``export`` lines a CI job can ``eval``: endpoints, the CA, and the portal's credentials.

The names follow Apple's own command-line article where it has one (``APNS_HOST_NAME``, used by its curl
examples), and ``APNS_*`` for the credentials (docs/drop-in.md §5). With ``--apple-hosts`` running,
``APNS_HOST_NAME`` is Apple's sandbox host, so the user's code needs no change at all; without it, the
loopback address and port.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from apns_sim.cli.datadir import read_credentials, read_endpoints
from pushsim_i18n import Domain

_ = Domain("apns_sim").gettext


def add_env_parser(sub: Any) -> None:
    parser = sub.add_parser("env", help=_("print `export` lines for a test job: endpoints, CA, credentials"))
    parser.add_argument("--data-dir", type=Path, required=True, help=_("the data dir of `apns-sim serve`"))
    parser.add_argument("--format", choices=("export", "dotenv"), default="export",
                        help=_("export: `export NAME=value` lines to eval (default); dotenv: NAME=value lines, "
                               "as $GITHUB_ENV and GitLab's dotenv reports take them"))


def variables(data_dir: Path, endpoints: dict[str, Any], credentials: dict[str, Any]) -> list[tuple[str, str]]:
    """Name and value of every variable, endpoints first; a credential the portal never wrote is left out."""
    found: list[tuple[str, str | None]] = [
        ("APNS_SIM_DATA_DIR", str(data_dir)),
        ("APNS_SIM_ENDPOINTS", str(Path(data_dir) / "endpoints.json")),
        ("APNS_SIM_ADMIN", endpoints.get("admin")),
        ("APNS_SIM_SANDBOX", endpoints.get("sandbox")),
        ("APNS_SIM_PRODUCTION", endpoints.get("production")),
        ("APNS_SIM_GATEWAY", endpoints.get("gateway")),
        ("APNS_CA_FILE", endpoints.get("ca_file")),
    ]
    drop_in = endpoints.get("apple_hosts")
    if isinstance(drop_in, dict):
        found += [("APNS_HOST_NAME", urlsplit(drop_in.get("sandbox", "")).hostname),
                  ("APNS_PRODUCTION_HOST_NAME", urlsplit(drop_in.get("production", "")).hostname),
                  ("APNS_PORT", str(urlsplit(drop_in.get("sandbox", "")).port or 443))]
    else:
        sandbox = urlsplit(endpoints.get("sandbox", ""))
        found += [("APNS_HOST_NAME", sandbox.netloc or None)]
    found += [(name, credentials.get(key)) for name, key in (
        ("APNS_TOPIC", "topic"), ("APNS_TEAM_ID", "team_id"), ("APNS_KEY_ID", "key_id"), ("APNS_P8", "p8"),
        ("APNS_CERT", "cert"), ("APNS_CERT_ENVIRONMENT", "cert_environment"), ("APNS_P12", "p12"),
        ("APNS_CERT_PEM", "cert_pem"), ("APNS_KEY_PEM", "key_pem"), ("APNS_CERT_KEY_PEM", "cert_key_pem"),
    )]
    return [(name, str(value)) for name, value in found if value]


def run_env(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).resolve()
    pairs = variables(data_dir, read_endpoints(data_dir), read_credentials(data_dir))
    prefix = "export " if args.format == "export" else ""
    quote = shlex.quote if args.format == "export" else str  # dotenv files take values verbatim
    print("\n".join(f"{prefix}{name}={quote(value)}" for name, value in pairs))
    return 0
