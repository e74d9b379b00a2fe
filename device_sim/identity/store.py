"""The phone's identity and memory on disk: key, certificate, base token, installed apps (docs/device-side.md
§1.5, §6 rules 1 and 29).

Everything lives in one state directory, so running ``device-sim`` again is the same iPhone
(docs/architecture.md, contract 3):

- ``device-key.pem``  RSA-1024 private key (what pypush generates at activation), mode 0600;
- ``device.csr``      the certificate signing request sent at activation (subject CN = the device UUID);
- ``device-cert.pem`` the device certificate the activation service returned (``DeviceCertificate``);
- ``device.json``     device id, name, cached base token (and one given up at a restore or erase, until APNs
  has heard of it), installed apps with their tokens and badges;
- ``phone.lock``      held while a process uses the phone: one iPhone cannot run twice at once.

A sans-IO core (docs/style.md habit 4): plain files, no event loop and no HTTP. Talking to the activation
service is :mod:`device_sim.identity.activation`'s, which the phone and the fleet share. ``make_csr`` is
here because the CSR is one of these files (and the phone's whole identity stays importable without
aiohttp); the activation module re-exports it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from device_sim.errors import DeviceSimError
from pushsim_i18n import Domain

KEY_SIZE = 1024  # pypush's activation key size (§1.5); it only signs the Connect nonce
COURIER_SERVER_NAMES = {"sandbox": "courier.sandbox.push.apple.com", "production": "courier.push.apple.com"}
_BUNDLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]*$")
# A saved count above this is not a value the phone ever writes (device_sim.rules.presentation.MAX_BADGE):
# it is repaired to 0 on load, so a hand-edited or older device.json cannot wedge the phone (issue 14 item 2).
MAX_SAVED_COUNT = 2**31 - 1
log = logging.getLogger("device_sim.identity")
_ = Domain("device_sim").gettext


def exclusive_lock(path: Path, busy: str) -> int:
    """Hold ``path`` locked (flock) for this process; ``busy`` is the error when another process holds it.
    Returns the descriptor: closing it releases the lock, and the kernel releases it if the process dies."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise DeviceSimError(busy) from exc
    return fd


class InputError(DeviceSimError):
    """The user's input is wrong (endpoints file, CA file, bundle id): the CLI exits 2."""


def check_bundle_id(bundle_id: str) -> str:
    """An explicit bundle id (a topic names exactly one app; wildcards cannot receive pushes).

    Shared by the phone's apps and the fleet's, and by the CLI before either starts."""
    if not _BUNDLE_ID.match(bundle_id):
        raise ValueError(_("{bundle_id} is not a bundle id (letters, digits, dots and hyphens)").format(
            bundle_id=repr(bundle_id)))
    return bundle_id


@dataclass(frozen=True)
class Endpoints:
    """Where the simulator listens (docs/architecture.md, contract 1); the phone needs the gateway, admin and CA."""

    gateway_host: str
    gateway_port: int
    admin: str
    ca_file: Path
    source: Path | None = None

    @classmethod
    def load(cls, source: Endpoints | Mapping[str, Any] | str | Path) -> Endpoints:
        if isinstance(source, Endpoints):
            return source
        path: Path | None = None
        if isinstance(source, Mapping):
            data: Any = dict(source)
        else:
            path = Path(source)
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise InputError(_("cannot read the endpoints file {path}: {error}").format(
                    path=path, error=exc.strerror or exc)) from exc
            except ValueError as exc:
                raise InputError(_("the endpoints file {path} is not JSON ({error})").format(
                    path=path, error=exc)) from exc
        if not isinstance(data, dict):
            raise InputError(_("the endpoints must be a JSON object as written by `apns-sim serve`"))
        missing = [k for k in ("gateway", "admin", "ca_file") if not isinstance(data.get(k), str)]
        if missing:
            raise InputError(_("the endpoints lack {keys} (use the endpoints.json of `apns-sim serve`)").format(
                keys=", ".join(missing)))
        host, sep, port = str(data["gateway"]).rpartition(":")
        if not sep or not host or not port.isdigit():
            raise InputError(_("the endpoints' gateway must be HOST:PORT, got {value}").format(
                value=repr(data["gateway"])))
        ca_file = Path(data["ca_file"])
        if not ca_file.is_absolute() and path is not None:
            ca_file = path.parent / ca_file
        return cls(gateway_host=host.strip("[]"), gateway_port=int(port), admin=str(data["admin"]).rstrip("/"),
                   ca_file=ca_file, source=path)


@dataclass
class AppRecord:
    """What the phone remembers about one installed app."""

    bundle_id: str
    environment: str | None  # the app's aps-environment entitlement: "development", "production" or None
    types: tuple[str, ...] = ("alert", "sound", "badge")
    registered: bool = False  # called registerForRemoteNotifications: its topic is in the filter
    token: str | None = None
    badge: int = 0
    # PushKit (device-side.md §2.7, rule 28): registered for VoIP pushes (its <bundle>.voip topic is in the
    # filter), the separate VoIP token, and how often the app failed to report a call. The count lives here
    # so it outlasts a phone restart and ends with the install ([sim]: Apple does not say what resets it).
    voip_registered: bool = False
    voip_token: str | None = None
    voip_failures: int = 0
    # The app called requestAuthorization, i.e. it uses the UNUserNotificationCenter API (iOS 10+), which
    # decides what a foreground push shows (rules 17, 24); otherwise it is a legacy app whose permission came
    # from the prompt of its first register() (§2.1). None: a device.json from before this field; the app is
    # then taken as legacy unless its stored permission is provisional, which only requestAuthorization grants
    # (App resolves it and the next save writes the answer).
    modern_api: bool | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AppRecord:
        return cls(bundle_id=str(data["bundle_id"]), environment=data.get("environment"),
                   types=tuple(data.get("types", ())), registered=bool(data.get("registered")),
                   token=data.get("token"), badge=_saved_count(data, "badge"),
                   voip_registered=bool(data.get("voip_registered")), voip_token=data.get("voip_token"),
                   voip_failures=_saved_count(data, "voip_failures"),
                   modern_api=None if data.get("modern_api") is None else bool(data["modern_api"]))


def _saved_count(data: Mapping[str, Any], key: str) -> int:
    """A count from device.json (badge, VoIP failures): a non-negative integer the phone can encode, else 0
    with a warning. Repaired rather than refused: one bad number must not keep the phone offline for good."""
    value = data.get(key, 0)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SAVED_COUNT:
        return value
    log.warning("device.json: %s of %s is %.40r, not a count from 0 to %d; using 0", key, data.get("bundle_id"),
                value, MAX_SAVED_COUNT)
    return 0


@dataclass
class DeviceState:
    device_id: str
    name: str
    base_token: str | None = None
    apps: dict[str, AppRecord] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    # The base token given up at a restore or erase until APNs has answered a Connect naming it (rule 29,
    # device_sim.phone.token_change): a phone stopped before that tells APNs when it next runs.
    retired_base_token: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["apps"] = {k: asdict(v) for k, v in self.apps.items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeviceState:
        apps = {k: AppRecord.from_json(v) for k, v in dict(data.get("apps", {})).items()}
        return cls(device_id=str(data["device_id"]), name=str(data.get("name", "iPhone")),
                   base_token=data.get("base_token"), apps=apps, settings=dict(data.get("settings", {})),
                   retired_base_token=data.get("retired_base_token"))


@dataclass(frozen=True)
class Identity:
    """The push identity: device UUID, RSA key and the device certificate (DER for Connect item 12)."""

    device_id: str
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def certificate_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)


def read_private(path: Path) -> bytes:
    """Read a file of the state dir without following a symlink: a link planted there (another phone's key, a
    device.json elsewhere) is refused, not used (issue 14, Low). FileNotFoundError when it is missing."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        if path.is_symlink():
            raise DeviceSimError(_("{path} is a symlink; refusing to read it (remove it or use another "
                                   "--state-dir)").format(path=path)) from exc
        raise
    with os.fdopen(fd, "rb") as f:
        return f.read()


def check_ca_file(path: Path) -> Path:
    """The CA the phone will trust: refused when another user could have planted or changed it (owned by
    someone other than this user or root, or writable by group or others)."""
    try:
        info = path.stat()
    except OSError:
        return path  # courier_ssl_context says it cannot be read, with the reason
    if info.st_uid not in (os.getuid(), 0):
        raise InputError(_("the CA file {path} belongs to uid {uid}, not to this user; refusing to trust "
                           "it").format(path=path, uid=info.st_uid))
    if info.st_mode & 0o022:
        raise InputError(_("the CA file {path} is writable by others (mode {mode}); refusing to trust it").format(
            path=path, mode=f"{info.st_mode & 0o777:o}"))
    return path


def write_file(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` atomically (a temporary file renamed over it) with ``mode`` from the first byte: a
    crash never leaves half a key or state file, and a private key is never briefly world-readable."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def make_csr(key: rsa.RSAPrivateKey, device_id: str) -> bytes:
    """The activation CSR: C=US, ST=CA, L=Cupertino, O=Apple Inc., OU=iPhone, CN=<device UUID> (§1.5)."""
    subject = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "CA"),
        x509.NameAttribute(NameOID.LOCALITY_NAME, "Cupertino"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Apple Inc."),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "iPhone"),
        x509.NameAttribute(NameOID.COMMON_NAME, device_id),
    ])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


class DeviceStore:
    """The state directory of one phone."""

    def __init__(self, state_dir: Path | str) -> None:
        self.dir = Path(state_dir).expanduser()
        self.key_path = self.dir / "device-key.pem"
        self.csr_path = self.dir / "device.csr"
        self.cert_path = self.dir / "device-cert.pem"
        self.state_path = self.dir / "device.json"
        self._lock_fd: int | None = None
        self.state: DeviceState | None = None

    # -- the lock: one process per phone -----------------------------------------------------------------

    def lock(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            mode = self.dir.stat().st_mode & 0o777
            if mode & 0o077:  # the phone's private key is here (issue 14, Low)
                log.warning("%s was mode %o: others could read the phone's key; now 0700", self.dir, mode)
                self.dir.chmod(0o700)
        except OSError as exc:
            raise DeviceSimError(_("cannot create the state dir {path}: {error}").format(
                path=self.dir, error=exc.strerror or exc)) from exc
        self._lock_fd = exclusive_lock(self.dir / "phone.lock", _(
            "another device-sim process is using the phone in {path}; stop it first or pass a different "
            "--state-dir").format(path=self.dir))

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    # -- state ---------------------------------------------------------------------------------------------

    def load(self, name: str) -> DeviceState:
        if self.state_path.exists() or self.state_path.is_symlink():
            try:
                self.state = DeviceState.from_json(json.loads(read_private(self.state_path).decode("utf-8")))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise DeviceSimError(_("{path} is damaged ({error}); delete the state dir to start a new "
                                       "phone").format(path=self.state_path, error=exc)) from exc
        else:
            self.state = DeviceState(device_id=str(uuid.uuid4()).upper(), name=name)
            self.save()
        return self.state

    def save(self) -> None:
        assert self.state is not None
        write_file(self.state_path, (json.dumps(self.state.to_json(), indent=2) + "\n").encode(), 0o600)

    # -- identity ------------------------------------------------------------------------------------------

    def key(self) -> rsa.RSAPrivateKey:
        if self.key_path.exists() or self.key_path.is_symlink():
            key = serialization.load_pem_private_key(read_private(self.key_path), None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise DeviceSimError(_("{path} is not an RSA key; delete the state dir to start a new phone").format(
                    path=self.key_path))
            return key
        key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
        write_file(self.key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()), 0o600)
        return key

    def certificate(self) -> x509.Certificate | None:
        if not (self.cert_path.exists() or self.cert_path.is_symlink()):
            return None
        return x509.load_pem_x509_certificate(read_private(self.cert_path))

    def keep_csr(self, csr: bytes) -> None:
        """The CSR about to be sent at activation, kept beside the key (``device.csr``)."""
        write_file(self.csr_path, csr, 0o644)

    def forget_identity(self) -> None:
        """Erase the push identity (key, CSR, certificate) after the activation service released it: the next
        activation makes a new key for the same device id (docs/device-side.md §1.5 item 5)."""
        for path in (self.key_path, self.csr_path, self.cert_path):
            path.unlink(missing_ok=True)

    def keep_certificate(self, cert: x509.Certificate) -> None:
        """The device certificate the activation service answered (checked by the caller)."""
        write_file(self.cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
