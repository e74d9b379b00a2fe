"""Many phones' push identities at once: RSA keys, activation, and one state file (docs/device-side.md §1.5).

Every phone of a fleet is activated like a real iPhone: its own RSA-1024 key pair, a CSR whose subject CN is
the device UUID it picked, and the device certificate the activation service signs, through the same
client and checks as a phone (:mod:`device_sim.identity.activation`). Only the plumbing is shared: keys are
generated in worker processes (RSA key generation, ~13 ms a key, is what limits a cold start), activations
go through one HTTP session with bounded concurrency, and a fleet's identities live in one file,
``phones.jsonl`` (mode 0600: it holds private keys), instead of one directory per phone.

Memory matters here (10,000 phones in one process): a phone keeps its key as PKCS#8 DER bytes (~630 bytes)
and its certificate as DER, not as parsed objects, and builds :class:`~device_sim.identity.store.Identity`
only when it connects.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import multiprocessing
import os
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from device_sim.errors import DeviceSimError
from device_sim.identity.activation import activate as activate_device
from device_sim.identity.store import KEY_SIZE, Identity, exclusive_lock, write_file

STATE_FILE = "phones.jsonl"
LOCK_FILE = "fleet.lock"
KEYS_PER_JOB = 25  # a worker's batch: big enough to amortise pickling, small enough to pipeline activation
ACTIVATION_TIMEOUT = 60.0


def generate_keys(count: int) -> list[bytes]:
    """``count`` RSA-1024 private keys as unencrypted PKCS#8 DER (runs in a worker process)."""
    return [rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        for _ in range(count)]


def load_key(key_der: bytes) -> rsa.RSAPrivateKey:
    """Load a key this module made. The RSA consistency check costs ~7 ms a key; these keys come from
    ``generate_keys`` (or the fleet's own 0600 state file), so it is skipped."""
    key = serialization.load_der_private_key(key_der, None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise DeviceSimError("a fleet phone's key is not an RSA key; delete the fleet state dir")
    return key


@dataclass(frozen=True, slots=True)
class PhoneIdentity:
    """One phone's identity in its compact form: what the state file stores and the fleet keeps."""

    device_id: str
    key_der: bytes
    cert_der: bytes | None = None  # None until activated (or after the simulator's CA changed)

    def identity(self) -> Identity:
        assert self.cert_der is not None
        return Identity(device_id=self.device_id, key=load_key(self.key_der),
                        certificate=x509.load_der_x509_certificate(self.cert_der))

    def to_json(self) -> str:
        data = {"device_id": self.device_id, "key": base64.b64encode(self.key_der).decode(),
                "cert": None if self.cert_der is None else base64.b64encode(self.cert_der).decode()}
        return json.dumps(data)

    @classmethod
    def from_json(cls, line: str) -> PhoneIdentity:
        data = json.loads(line)
        cert = data.get("cert")
        return cls(device_id=str(data["device_id"]), key_der=base64.b64decode(data["key"]),
                   cert_der=None if cert is None else base64.b64decode(cert))


def ca_fingerprint(ca_file: Path) -> str:
    """Identifies the simulator a certificate came from: another CA means the certificates are worthless."""
    return hashlib.sha256(ca_file.read_bytes()).hexdigest()


class FleetStore:
    """The optional state dir of a fleet: ``phones.jsonl`` (identities) and ``fleet.json`` (which CA)."""

    def __init__(self, state_dir: Path | str) -> None:
        self.dir = Path(state_dir).expanduser()
        self.phones_path = self.dir / STATE_FILE
        self.meta_path = self.dir / "fleet.json"
        self._lock_fd: int | None = None

    def lock(self) -> None:
        """One process per fleet, as one process per phone (two processes would be the same phones twice)."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock_fd = exclusive_lock(self.dir / LOCK_FILE, f"another process is running the fleet in {self.dir}; "
                                       "stop it first or pass a different --state-dir")

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def load(self, ca: str) -> list[PhoneIdentity]:
        """The stored phones; their certificates are dropped if they came from another simulator's CA."""
        if not self.phones_path.exists():
            return []
        try:
            phones = [PhoneIdentity.from_json(line) for line in
                      self.phones_path.read_text(encoding="utf-8").splitlines() if line.strip()]
            meta = json.loads(self.meta_path.read_text(encoding="utf-8")) if self.meta_path.exists() else {}
        except (ValueError, KeyError, TypeError) as exc:
            raise DeviceSimError(f"{self.phones_path} is damaged ({exc}); delete the fleet state dir") from exc
        if meta.get("ca_sha256") != ca:
            phones = [PhoneIdentity(p.device_id, p.key_der) for p in phones]  # keep the keys: they are the cost
        return phones

    def save(self, phones: Iterable[PhoneIdentity], ca: str) -> None:
        write_file(self.phones_path, "".join(p.to_json() + "\n" for p in phones).encode(), 0o600)
        write_file(self.meta_path, (json.dumps({"ca_sha256": ca}) + "\n").encode(), 0o600)


def _jobs(count: int) -> Iterator[int]:
    while count > 0:
        yield min(KEYS_PER_JOB, count)
        count -= KEYS_PER_JOB


async def new_keys(count: int, workers: int, on_keys: Callable[[list[bytes]], Awaitable[None]]) -> None:
    """Generate ``count`` keys in ``workers`` processes, handing each batch to ``on_keys`` as it comes.

    ``spawn``, not ``fork``: forking a process that runs an event loop and TLS connections is unsafe.
    """
    if count <= 0:
        return
    if workers <= 0 or count < 2 * KEYS_PER_JOB:  # starting worker processes costs more than it saves
        for n in _jobs(count):
            await on_keys(generate_keys(n))
            await asyncio.sleep(0)  # let the activations of this batch start
        return
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=context) as pool:
        futures = [loop.run_in_executor(pool, generate_keys, n) for n in _jobs(count)]
        try:
            for done in asyncio.as_completed(futures):
                await on_keys(await done)
        finally:
            for future in futures:
                future.cancel()
            # Cancelled (Ctrl-C) or failed: drop the queued jobs now. The asyncio futures' cancel reaches the
            # pool only in a later loop iteration, and leaving this block joins the pool synchronously, so
            # without this it would wait for every queued key (tens of seconds for thousands of phones).
            pool.shutdown(wait=False, cancel_futures=True)


def new_identity(key_der: bytes) -> PhoneIdentity:
    return PhoneIdentity(device_id=str(uuid.uuid4()).upper(), key_der=key_der)


async def activate(session: aiohttp.ClientSession, admin_url: str, phone: PhoneIdentity,
                   name: str) -> PhoneIdentity:
    """Activate the phone over the fleet's session; the same phone with its device certificate (checked as a
    phone checks it, key included)."""
    cert = await activate_device(admin_url, load_key(phone.key_der), phone.device_id, name, session=session,
                                 timeout=ACTIVATION_TIMEOUT)
    return PhoneIdentity(phone.device_id, phone.key_der, cert.public_bytes(serialization.Encoding.DER))
