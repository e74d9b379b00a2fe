"""``apns-sim trust``: how each ecosystem trusts the simulator's CA without touching the system store.

Every recipe points a process at files in ``DIR/trust/`` (written here): ``bundle.pem`` is the system's CAs plus
the simulator's root, so the same job still reaches PyPI, npm or Maven; ``truststore.p12`` is that bundle for
Java; ``php/pushsim.ini`` points PHP's curl and openssl at the bundle. Reference: docs/drop-in.md §4.
"""

from __future__ import annotations

import argparse
import shlex
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apns_sim import pki
from apns_sim.cli.datadir import DataDirError
from apns_sim.pki import trust
from pushsim_i18n import Domain

_ = Domain("apns_sim").gettext

TRUST_DIR = "trust"


def add_trust_parser(sub: Any) -> None:
    parser = sub.add_parser("trust", help=_("print how Python, Node, Go, Java, curl, Ruby and PHP trust the CA"))
    parser.add_argument("--data-dir", type=Path, required=True, help=_("the data dir of `apns-sim serve`"))
    parser.add_argument("--format", choices=("text", "env"), default="text",
                        help=_("text: per ecosystem, with comments (default); env: only `export` lines to eval"))


@dataclass(frozen=True)
class TrustFiles:
    ca: Path
    bundle: Path
    truststore: Path
    php_dir: Path

    def java_flags(self) -> str:
        return (f"-Djavax.net.ssl.trustStore={self.truststore} -Djavax.net.ssl.trustStoreType=PKCS12 "
                f"-Djavax.net.ssl.trustStorePassword={trust.JAVA_TRUSTSTORE_PASSWORD}")


def _system_bundle() -> bytes | None:
    cafile = ssl.get_default_verify_paths().cafile
    try:
        return Path(cafile).read_bytes() if cafile else None
    except OSError:
        return None


def write_trust_files(data_dir: Path) -> TrustFiles:
    """(Re)write ``DIR/trust/*`` from ``DIR/ca.pem``; the CA exists once the simulator or the portal ran."""
    ca = Path(data_dir) / "ca.pem"
    try:
        ca_pem = ca.read_bytes()
    except FileNotFoundError:
        raise DataDirError(_("{path} does not exist: start `apns-sim serve --data-dir {data_dir}` first").format(
            path=ca, data_dir=data_dir)) from None
    directory = Path(data_dir) / TRUST_DIR
    files = TrustFiles(ca, directory / "bundle.pem", directory / "truststore.p12", directory / "php")
    files.php_dir.mkdir(parents=True, exist_ok=True)
    system = _system_bundle()
    pki.write_public(files.bundle, trust.combined_bundle(ca_pem, system))
    pki.write_public(files.truststore, trust.java_truststore(ca_pem, system))
    pki.write_public(files.php_dir / "pushsim.ini",
                     f"curl.cainfo={files.bundle}\nopenssl.cafile={files.bundle}\n".encode())
    return files


def exports(files: TrustFiles) -> list[tuple[str, str]]:
    """The variables, in the order ``--format env`` prints them."""
    return [
        ("SSL_CERT_FILE", str(files.bundle)),           # Python ssl, Go, Ruby, PHP's openssl, OpenSSL itself
        ("REQUESTS_CA_BUNDLE", str(files.bundle)),      # requests (and pip) ignore SSL_CERT_FILE
        ("NODE_EXTRA_CA_CERTS", str(files.ca)),         # Node adds it to its built-in roots
        ("CURL_CA_BUNDLE", str(files.bundle)),          # the curl command line tool
        ("JAVA_TOOL_OPTIONS", files.java_flags()),      # every JVM started in this shell
        ("PHP_INI_SCAN_DIR", f":{files.php_dir}"),      # leading ":" = PHP's own ini dirs, then ours
    ]


def _text(files: TrustFiles) -> str:
    """The recipe: commands and ecosystem names as they are; the sentences in the chosen language."""
    b, ca = shlex.quote(str(files.bundle)), shlex.quote(str(files.ca))
    head = _("Trust the simulator's CA ({ca}) in one process or job, not in the system store.").format(ca=files.ca)
    bundle = _("{bundle} = the system's CAs + the simulator's root (other HTTPS keeps working).").format(
        bundle=files.bundle)
    java = _("a PKCS#12 truststore was written to {path}").format(path=files.truststore)
    every_jvm = _("or, for every JVM of the job:")
    curl = _("Apple's documented commands unchanged")
    php = _("adds {path} to PHP's ini files").format(path=f"{files.php_dir}/pushsim.ini")
    return f"""\
# {head}
# {bundle}

# Python (ssl, aioapns, httpx, aiohttp; requests and pip read REQUESTS_CA_BUNDLE)
export SSL_CERT_FILE={b}
export REQUESTS_CA_BUNDLE={b}

# Node (node-apn / @parse/node-apn, http2)
export NODE_EXTRA_CA_CERTS={ca}

# Go (sideshow/apns2, net/http on Linux)
export SSL_CERT_FILE={b}

# Java (pushy, JDK HttpClient): {java}
java {files.java_flags()} ...
# {every_jvm}
export JAVA_TOOL_OPTIONS={shlex.quote(files.java_flags())}

# curl ({curl})
export CURL_CA_BUNDLE={b}          # or: curl --cacert {ca} ...

# Ruby (Net::HTTP, net-http2, apnotic)
export SSL_CERT_FILE={b}

# PHP (curl extension, openssl streams): {php}
export PHP_INI_SCAN_DIR={shlex.quote(':' + str(files.php_dir))}
"""


def run_trust(args: argparse.Namespace) -> int:
    files = write_trust_files(args.data_dir)
    if args.format == "env":
        print("\n".join(f"export {name}={shlex.quote(value)}" for name, value in exports(files)))
    else:
        print(_text(files), end="")
    return 0
