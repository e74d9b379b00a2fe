"""Building blocks the stories share: a running simulator, portal steps, a provider service, phones.

Scenarios use only the public APIs of the three programs (DESIGN.md), and talk to them over the wire.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from apns_sim.portal import Portal
from apns_sim.simulator import Simulator
from provider.apns import APNsClient
from provider.apns.credentials import Credentials
from provider.web import ServiceConfig, create_app

TEAM_ID = "ABCDE12345"
PASSWORD = "pushchat"  # the tutorial's .p12 password; a demo secret, never a real one


@dataclass(frozen=True)
class CertificateFiles:
    cer: Path
    p12: Path
    password: str


def portal_of(sim: Simulator) -> Portal:
    """The developer portal of a running simulator, in process."""
    assert sim.state is not None
    state = sim.state
    return Portal(state.registry, state.authority, state.clock.now)


@contextlib.asynccontextmanager
async def provider_service(sim: Simulator, credentials: Credentials, workdir: Path,
                           environments: tuple[str, ...] = ("sandbox",)) -> AsyncIterator[str]:
    """Run the real provider service (``apns-provider serve``'s app) on 127.0.0.1:0; yields its URL."""
    endpoints = sim.endpoints

    def sender(env: str) -> APNsClient:
        return APNsClient(credentials, environment=env, endpoint=endpoints[env], ca_file=endpoints["ca_file"])

    config = ServiceConfig(db_path=str(workdir / "provider.sqlite3"), environments=environments)
    runner = web.AppRunner(create_app(config, sender), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def post_json(url: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status, await response.json()


async def get_json(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()
