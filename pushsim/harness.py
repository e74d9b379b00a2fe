"""A running simulator with the helpers a test of push code needs: what the ``apns_simulator`` fixture yields.

It wraps :class:`apns_sim.simulator.Simulator` (the same object ``apns-sim serve`` runs, on 127.0.0.1 and
port 0 everywhere) and adds the developer's chores as single calls: an App ID, a push certificate written
out in every format a provider library reads, a ``.p8`` auth key, and the read-back of each notification's
journey (docs/architecture.md contract 5), in process, without HTTP.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apns_sim import pki
from apns_sim.admin import readers
from apns_sim.admin.apns_file import build_apns_file
from apns_sim.model.clock import Clock
from apns_sim.model.records import AppIdRecord
from apns_sim.portal.service import Portal
from apns_sim.simulator import Simulator
from apns_sim.state import SimConfig, SimState

TEAM_ID = "ABCDE12345"
PASSWORD = "pushsim"  # the password of the .p12 files written here; a test secret, never a real one
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, kw_only=True)
class CertificateBundle:
    """A push certificate and its private key, as files, in the forms provider libraries ask for.

    ``cer`` is Apple's DER download; ``cert_pem`` and ``key_pem`` the PEM pair (curl ``--cert/--key``,
    ``load_pem_pair``); ``pem`` both in one file (aioapns ``client_cert``); ``p12`` both in a PKCS#12
    protected by ``password`` (what Keychain Access exports for pushy and node-apn).
    """

    bundle_id: str
    environment: str
    serial: int
    cer: Path
    cert_pem: Path
    key_pem: Path
    pem: Path
    p12: Path
    password: str


@dataclass(frozen=True, kw_only=True)
class AuthKey:
    """A token-signing key: ``p8_path`` is ``AuthKey_<key_id>.p8`` (mode 0600), signed for ``team_id``."""

    key_id: str
    team_id: str
    p8_path: Path
    environment: str | None = None  # None: valid for sandbox and production


class RunningSimulator:
    """One running simulator and its helpers. Use ``async with RunningSimulator.start(workdir) as sim``."""

    def __init__(self, simulator: Simulator, workdir: Path) -> None:
        self.simulator = simulator
        self.workdir = workdir
        self.credentials_dir = workdir / "credentials"

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, workdir: Path | str | None = None, *, config: SimConfig | None = None,
                    clock: Clock | None = None, admin_token: str | None = None) -> AsyncIterator[RunningSimulator]:
        """Start a simulator with its state in ``workdir/apns`` (a temporary directory when None); with
        ``admin_token``, its admin API asks for that bearer token (docs/admin-api.md §1.3)."""
        temp = tempfile.mkdtemp(prefix="pushsim-") if workdir is None else None
        root = Path(temp or workdir)  # type: ignore[arg-type]
        try:
            async with Simulator(root / "apns", config=config, clock=clock, admin_token=admin_token) as simulator:
                yield cls(simulator, root)
        finally:
            if temp is not None:
                shutil.rmtree(temp, ignore_errors=True)

    # -- where things are -------------------------------------------------------------------------------

    @property
    def state(self) -> SimState:
        """The simulator's shared state (registry, journeys, delivery, clock), for looking inside."""
        state = self.simulator.state
        assert state is not None, "the simulator is not running"
        return state

    @property
    def endpoints(self) -> dict[str, Any]:
        """docs/architecture.md contract 1: sandbox, production, gateway, admin and ca_file."""
        return self.simulator.endpoints

    @property
    def endpoints_file(self) -> Path:
        """``endpoints.json``, for programs that take ``--endpoints FILE`` (``device-sim``)."""
        return self.simulator.endpoints_file

    @property
    def data_dir(self) -> Path:
        return self.simulator.data_dir

    @property
    def ca_file(self) -> Path:
        """The one PEM a provider must trust (never turn verification off)."""
        return Path(self.endpoints["ca_file"])

    @property
    def sandbox_url(self) -> str:
        return str(self.endpoints["sandbox"])

    @property
    def production_url(self) -> str:
        return str(self.endpoints["production"])

    @property
    def gateway(self) -> str:
        return str(self.endpoints["gateway"])

    @property
    def admin_url(self) -> str:
        return str(self.endpoints["admin"])

    @property
    def admin_token(self) -> str | None:
        """The bearer token the admin API asks for, or None when it asks for none."""
        return self.simulator.admin_token

    @property
    def admin_headers(self) -> dict[str, str]:
        """Headers for a request to the admin API: ``Authorization: Bearer ...`` when there is a token."""
        token = self.admin_token
        return {} if token is None else {"Authorization": f"Bearer {token}"}

    def url(self, environment: str) -> str:
        """The provider API URL of ``"sandbox"`` or ``"production"``."""
        if environment not in ("sandbox", "production"):
            raise ValueError(f"environment must be sandbox or production, not {environment!r}")
        return str(self.endpoints[environment])

    @property
    def clock(self) -> Clock:
        """The virtual clock: ``freeze()``, ``advance(seconds)``, ``unfreeze()``, ``reset()``, ``time()``."""
        return self.state.clock

    @property
    def portal(self) -> Portal:
        """The developer portal in process (App IDs, certificates, keys, revocation)."""
        state = self.state
        return Portal(state.registry, state.authority, state.clock.now)

    # -- the developer's chores -------------------------------------------------------------------------

    def create_app_id(self, bundle_id: str, team_id: str = TEAM_ID) -> AppIdRecord:
        """An explicit App ID with Push Notifications enabled (``PortalError`` if it exists or is invalid)."""
        return self.portal.create_app_id(bundle_id, team_id).record

    def issue_certificate(self, bundle_id: str, environment: str = "sandbox", *, team_id: str = TEAM_ID,
                          password: str = PASSWORD) -> CertificateBundle:
        """A push certificate for ``bundle_id`` (``sandbox``, ``production`` or ``universal``), as files.

        Creates the App ID first (for ``team_id``) if there is none, then does what a developer does: a
        CSR from a new key pair, the portal's certificate, and the exports.
        """
        portal = self.portal
        if self.state.registry.get_app_id(bundle_id) is None:
            portal.create_app_id(bundle_id, team_id)
        request = portal.make_csr("developer@example.com", f"{bundle_id} push", password)
        issued = portal.issue_certificate(bundle_id, request.csr_pem, environment)
        key, _ = pki.load_p12(request.p12, password)
        cert = pki.load_certificate(issued.der)
        folder = self.credentials_dir / _UNSAFE.sub("_", f"{bundle_id}-{environment}-{issued.record.serial:x}"[:80])
        folder.mkdir(parents=True, exist_ok=True)
        cer, cert_pem, key_pem = folder / issued.filename, folder / "cert.pem", folder / "key.pem"
        pem, p12 = folder / "identity.pem", folder / "identity.p12"
        pki.write_public(cer, issued.der)
        pki.write_public(cert_pem, pki.cert_to_pem(cert))
        pki.write_private(key_pem, pki.key_to_pem(key))
        pki.write_private(pem, pki.cert_to_pem(cert) + pki.key_to_pem(key))
        pki.write_private(p12, pki.export_p12(cert, key, password))
        return CertificateBundle(bundle_id=bundle_id, environment=environment, serial=issued.record.serial,
                                 cer=cer, cert_pem=cert_pem, key_pem=key_pem, pem=pem, p12=p12, password=password)

    def create_auth_key(self, team_id: str = TEAM_ID, environment: str | None = None) -> AuthKey:
        """A ``.p8`` token-signing key for ``team_id`` (Apple allows two active keys per team)."""
        created = self.portal.create_auth_key(team_id, environment)
        self.credentials_dir.mkdir(parents=True, exist_ok=True)
        path = self.credentials_dir / created.filename
        pki.write_private(path, created.p8)
        return AuthKey(key_id=created.key_id, team_id=team_id, p8_path=path, environment=environment)

    # -- read-back ----------------------------------------------------------------------------------------

    def notifications(self, *, token: str | None = None, topic: str | None = None,
                      apns_id: str | None = None) -> list[dict[str, Any]]:
        """The notification log as ``GET /_sim/notifications`` answers it: newest last, filtered."""
        return [j.as_json() for j in self.state.journeys.list(token=token, topic=topic, apns_id=apns_id)]

    def notification(self, apns_id: str) -> dict[str, Any] | None:
        """One notification's record (any letter case of the apns-id), or None."""
        journey = readers.find(self.state.journeys, apns_id)
        return None if journey is None else journey.as_json()

    def stages(self, apns_id: str) -> list[str]:
        """The stage names one notification went through so far (``[]`` if it is not in the log)."""
        record = self.notification(apns_id)
        return [] if record is None else [s["stage"] for s in record["journey"]]

    async def wait_for_notification(self, *, token: str | None = None, topic: str | None = None,
                                    apns_id: str | None = None, stage: str | Sequence[str] | None = None,
                                    timeout: float = 10.0) -> dict[str, Any]:
        """The oldest matching notification once it reached ``stage`` (or any of several stages).

        Woken by the journey log itself, not by polling; raises ``TimeoutError`` after ``timeout`` seconds
        with what the log holds for those filters, so a failing test says how far the push got.
        """
        stages = (stage,) if isinstance(stage, str) else tuple(stage or ())
        journey = await readers.wait_for_journey(self.state.journeys, token=token, topic=topic, apns_id=apns_id,
                                               stages=stages, timeout=timeout)
        if journey is None:
            seen = [(j["apns_id"], [s["stage"] for s in j["journey"]])
                    for j in self.notifications(token=token, topic=topic, apns_id=apns_id)]
            wanted = " or ".join(stages) or "any stage"
            raise TimeoutError(f"no notification reached {wanted} within {timeout} s; matching ones: {seen}")
        return journey.as_json()

    def export_apns(self, apns_id: str) -> bytes:
        """The notification as an ``.apns`` file for the Xcode Simulator (``KeyError`` if unknown)."""
        journey = readers.find(self.state.journeys, apns_id)
        if journey is None:
            raise KeyError(f"no notification {apns_id} in the log")
        return build_apns_file(journey.payload, journey.topic)

    def reset(self) -> None:
        """What ``POST /_sim/reset`` does to the log and clock: clear one, return the other to real time."""
        self.state.journeys.clear()
        self.state.clock.reset()
