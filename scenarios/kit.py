"""Building blocks the stories share: a running simulator, portal steps, a provider service, phones.

Scenarios use only the public APIs of the three programs (docs/architecture.md), and talk to them over the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from apns_sim import pki
from apns_sim.portal.service import Portal
from apns_sim.simulator import Simulator
from apns_sim.state import SimConfig
from provider.apns import APNsClient, CertificateCredentials, Notification, load_cer_and_p12
from provider.apns.credentials import Credentials
from provider.web import ServiceConfig, create_app
from pushsim_i18n import Domain

_ = Domain("scenarios").gettext

TEAM_ID = "ABCDE12345"
PASSWORD = "pushchat"  # the tutorial's .p12 password; a demo secret, never a real one


def portal_of(sim: Simulator) -> Portal:
    """The developer portal of a running simulator, in process."""
    assert sim.state is not None
    state = sim.state
    return Portal(state.registry, state.authority, state.clock.now)


@contextlib.asynccontextmanager
async def provider_service(sim: Simulator, credentials: Credentials | None, workdir: Path,
                           environments: tuple[str, ...] = ("sandbox",)) -> AsyncIterator[str]:
    """Run the real provider service (``apns-provider serve``'s app) on 127.0.0.1:0; yields its URL. Without
    credentials it only keeps device tokens (``send=False``: it cannot talk to APNs yet); its database lives in
    ``workdir``, so a later run with credentials knows the same tokens."""
    endpoints = sim.endpoints

    def sender(env: str) -> APNsClient:
        assert credentials is not None  # send=False never asks for a sender
        return APNsClient(credentials, environment=env, endpoint=endpoints[env], ca_file=endpoints["ca_file"])

    config = ServiceConfig(db_path=str(workdir / "provider.sqlite3"), environments=environments,
                           send=credentials is not None)
    runner = web.AppRunner(create_app(config, sender), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def send_all(story: Any, client: APNsClient, notifications: list[Notification],
                   description: str) -> tuple[list[int], float]:
    """Send them all at once on ``client``, a progress bar advancing per answer; the statuses, in order, and
    the seconds the bar printed (one clock for every figure the story gives)."""
    with story.progress(description, len(notifications)) as bar:
        async def one(notification: Notification) -> int:
            result = await client.send(notification)
            bar.advance()
            return result.status
        statuses = list(await asyncio.gather(*(one(n) for n in notifications)))
    return statuses, float(bar.seconds)


def short_id(apns_id: str) -> str:
    """An apns-id's first group (``258f22ae…``), for a table: enough to tell its rows apart, and a whole UUID
    in a column wraps at 80 columns (issue 16). The steps carry the full apns-id."""
    return apns_id.split("-", 1)[0] + "…" if apns_id else ""


async def post_json(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status, await response.json()


async def get_json(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


def push_certificate(portal: Portal, workdir: Path, bundle_id: str, environment: str = "sandbox",
                     *, create_app_id: bool = True) -> CertificateCredentials:
    """Keychain CSR + portal certificate for ``bundle_id``, written to ``workdir`` (key 0600) and loaded back,
    as the certificate-workflow story does step by step."""
    if create_app_id:
        portal.create_app_id(bundle_id, TEAM_ID)
    request = portal.make_csr("developer@example.com", "Story Developer", PASSWORD)
    issued = portal.issue_certificate(bundle_id, request.csr_pem, environment)
    folder = workdir / f"cert-{bundle_id}-{environment}"
    folder.mkdir(parents=True, exist_ok=True)
    pki.write_public(folder / issued.filename, issued.der)
    pki.write_private(folder / request.p12_filename, request.p12)
    credentials = load_cer_and_p12(folder / issued.filename, folder / request.p12_filename, PASSWORD)
    assert isinstance(credentials, CertificateCredentials)
    return credentials


class Admin:
    """The simulator's admin API (``/_sim/...``, README "Admin API"), over HTTP like any test harness."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    async def _call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as session, session.request(method, self.url + path,
                                                                          json=body) as response:
            return response.status, await response.json()

    async def clock(self, **change: Any) -> float:
        """Change the simulator's clock (``freeze``, ``advance``, ``at``, ``reset``); returns its new now."""
        status, body = await self._call("POST", "/_sim/clock", change)
        if status != 200:
            raise RuntimeError(f"POST /_sim/clock {change}: {status} {body}")
        return float(body["now"])

    async def now(self) -> float:
        return float((await self._call("GET", "/_sim/clock"))[1]["now"])

    async def add_faults(self, *rules: dict[str, Any], seed: int | None = None) -> list[str]:
        body: Any = {"seed": seed, "faults": list(rules)} if seed is not None else list(rules)
        status, answer = await self._call("POST", "/_sim/faults", body)
        if status != 201:
            raise RuntimeError(f"POST /_sim/faults: {status} {answer}")
        return list(answer["ids"])

    async def faults(self) -> list[dict[str, Any]]:
        return list((await self._call("GET", "/_sim/faults"))[1]["faults"])

    async def clear_faults(self) -> int:
        return int((await self._call("DELETE", "/_sim/faults"))[1]["cleared"])

    async def notification(self, apns_id: str) -> dict[str, Any] | None:
        status, body = await self._call("GET", f"/_sim/notifications/{apns_id}")
        return body if status == 200 else None

    async def stages(self, apns_id: str) -> list[str]:
        """The journey of one notification, as stage names (empty if the simulator never saw it)."""
        found = await self.notification(apns_id)
        return [s["stage"] for s in found["journey"]] if found else []

    async def wait(self, apns_id: str, stage: str, timeout: float = 5.0) -> list[str]:
        """Long-poll until the notification reaches ``stage`` (``a,b``: either); its stages, or [] on timeout."""
        status, body = await self._call("GET", f"/_sim/notifications/wait?apns_id={apns_id}&stage={stage}"
                                               f"&timeout={timeout}")
        return [s["stage"] for s in body["journey"]] if status == 200 else []

    async def device(self, device_id: str) -> dict[str, Any] | None:
        devices = (await self._call("GET", "/_sim/devices"))[1]["devices"]
        return next((d for d in devices if d["device_id"] == device_id), None)

    async def wait_offline(self, device_id: str, timeout: float = 5.0) -> bool:
        """Until APNs has noticed the phone left (its courier connections are gone)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            device = await self.device(device_id)
            if device is not None and not device["online"]:
                return True
            await asyncio.sleep(0.02)
        return False


@dataclass(frozen=True)
class World:
    """What every story starts from: a running simulator, its portal and admin API, a scratch folder."""

    work: Path
    sim: Simulator
    endpoints: dict[str, Any]
    portal: Portal
    admin: Admin


@contextlib.asynccontextmanager
async def world(story: Any, config: SimConfig | None = None) -> AsyncIterator[World]:
    """Start the simulated Apple on port 0 in a temporary folder and narrate where it listens."""
    with tempfile.TemporaryDirectory(prefix=f"pushsim-{story.name}-") as tmp:
        work = Path(tmp)
        async with Simulator(work / "apns", config) as sim:
            endpoints = sim.endpoints
            await story.stage(_("Setup: the simulated Apple is running"))
            story.step(_("provider API: sandbox {sandbox}, production {production}; device gateway {gateway}; "
                         "admin {admin}").format(**endpoints), endpoints=endpoints)
            yield World(work, sim, endpoints, portal_of(sim), Admin(endpoints["admin"]))
            await story.linger(endpoints["admin"])  # --hold, or the end of --step: keep the dashboard up


def shown(alert: Any, sound: str | None, badge: int | None) -> str:
    """What the user saw, as a person tells it (issue 16: not Python's ``{'title': ...}``): the alert's title
    and text, the sound's name, the badge's number, or that there was none (not a sound named "none")."""
    body = alert.get("body", "") if isinstance(alert, dict) else str(alert or "")
    title = alert.get("title") if isinstance(alert, dict) else None
    if title:
        seen = _('an alert titled "{title}" saying "{body}"').format(title=title, body=body)
    elif body:
        seen = _('an alert saying "{body}"').format(body=body)
    else:
        seen = _("no alert")
    heard = _('the sound "{sound}"').format(sound=sound) if sound else _("no sound")
    number = _("the badge set to {badge}").format(badge=badge) if badge is not None else _("the badge unchanged")
    # A list of three things seen, not a sentence glued from fragments: each item is whole in either language.
    return _("shown: {alert}, {sound}, {badge}").format(alert=seen, sound=heard, badge=number)
