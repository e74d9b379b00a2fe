"""One running simulator: two provider API listeners, the device gateway and the admin server.

``async with Simulator() as sim:`` binds port 0 everywhere on 127.0.0.1 and reports where it listens
(``sim.endpoints``, the same object ``apns-sim serve`` prints and writes to ``endpoints.json``).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from apns_sim.admin.app import create_admin_app
from apns_sim.admin.guard import check_token
from apns_sim.delivery.store_and_forward import loop_scheduler
from apns_sim.gateway.listener import DeviceGateway
from apns_sim.legacy.feedback import FeedbackLedger
from apns_sim.legacy.listener import AppleHostsLegacy, BinaryGateway, FeedbackListener, Listener
from apns_sim.model.clock import Clock
from apns_sim.pki import apple_hosts
from apns_sim.provider_api.apple_hosts import AppleHostsServer
from apns_sim.provider_api.listener import ProviderApiServer
from apns_sim.state import SimConfig, SimState

ENDPOINTS_FILE = "endpoints.json"


@dataclass(frozen=True, kw_only=True)
class AppleHostsConfig:
    """The drop-in mode (docs/drop-in.md): the provider API also answers as Apple's hosts on Apple's ports.

    ``port_offset`` moves every port (443 -> 443 + N, 2197 -> 2197 + N) for users who cannot bind ports below
    1024 and redirect them themselves.
    """

    port_offset: int = 0

    def __post_init__(self) -> None:
        highest = max(apple_hosts.ports_for(apple_hosts.PROVIDER_API))
        if not 0 <= self.port_offset <= 65535 - highest:
            raise ValueError(f"apple_hosts port_offset must be between 0 and {65535 - highest}, "
                             f"not {self.port_offset}")

    @property
    def ports(self) -> tuple[int, ...]:
        return apple_hosts.ports_for(apple_hosts.PROVIDER_API, self.port_offset)

    @property
    def legacy_ports(self) -> dict[str, int]:
        """The retired binary interface's two ports (2195, 2196) moved by the same offset."""
        return {interface: apple_hosts.ports_for(interface, self.port_offset)[0]
                for interface in (apple_hosts.LEGACY_GATEWAY, apple_hosts.FEEDBACK)}


class Simulator:
    """Async context manager wiring the whole fake Apple together."""

    def __init__(self, data_dir: Path | str | None = None, config: SimConfig | None = None,
                 clock: Clock | None = None, apple_hosts: AppleHostsConfig | None = None, *,
                 admin_token: str | None = None) -> None:
        # With a token, every admin data route asks for it (docs/admin-api.md §1.3); ValueError if weak.
        self.admin_token = None if admin_token is None else check_token(admin_token)
        self._temp: str | None = None
        if data_dir is None:
            self._temp = tempfile.mkdtemp(prefix="pushsim-")
            data_dir = self._temp
        # Absolute: endpoints.json names ca_file, which readers resolve against the file's own directory, so a
        # relative --data-dir made device-sim look for d/d/ca.pem (issue 14, Low).
        self.data_dir = Path(data_dir).absolute()
        self.config = config or SimConfig()
        self._clock = clock
        self.apple_hosts_config = apple_hosts
        self.apple_hosts: list[AppleHostsServer] = []  # the drop-in listeners, one per port
        self.legacy_apple_hosts: list[AppleHostsLegacy] = []  # the binary interface's drop-in ports
        self.state: SimState | None = None
        self.sandbox: ProviderApiServer | None = None
        self.production: ProviderApiServer | None = None
        self.gateway: DeviceGateway | None = None
        self._admin_runner: web.AppRunner | None = None
        self._admin_port = 0
        # The retired binary interface and its feedback service, per environment (docs/legacy-binary.md).
        self.legacy: dict[str, BinaryGateway] = {}
        self.feedback: dict[str, FeedbackListener] = {}

    async def start(self) -> None:
        cfg = self.config
        self.state = state = SimState(self.data_dir, cfg, self._clock)
        state.delivery.scheduler = loop_scheduler(asyncio.get_running_loop())  # batches due in real time
        # A file left by a stopped simulator would tell `apns-sim wait` and users that we are up already.
        self.endpoints_file.unlink(missing_ok=True)
        try:
            self.sandbox = ProviderApiServer(state, "sandbox")
            await self.sandbox.start(cfg.host, cfg.sandbox_port)
            self.production = ProviderApiServer(state, "production")
            await self.production.start(cfg.host, cfg.production_port)
            await self._start_apple_hosts(state)
            self.gateway = DeviceGateway(state)
            await self.gateway.start(cfg.host, cfg.gateway_port)
            await self._start_legacy(state, cfg)
            self._admin_runner = web.AppRunner(create_admin_app(state, token=self.admin_token), access_log=None)
            await self._admin_runner.setup()
            site = web.TCPSite(self._admin_runner, cfg.host, cfg.admin_port)
            await site.start()
            self._admin_port = int(self._admin_runner.addresses[0][1])
        except BaseException:
            await self.stop()
            raise
        (self.data_dir / ENDPOINTS_FILE).write_text(json.dumps(self.endpoints, indent=2) + "\n")

    async def _start_apple_hosts(self, state: SimState) -> None:
        """Drop-in listeners sharing the two environments' services (same rate limits, same token cache)."""
        if self.apple_hosts_config is None:
            return
        assert self.sandbox and self.production
        services = {"sandbox": self.sandbox.service, "production": self.production.service}
        for port in self.apple_hosts_config.ports:
            server = AppleHostsServer(state, services)
            self.apple_hosts.append(server)  # before start: stop() closes whatever was appended
            await server.start(self.config.host, port)

    async def _start_legacy(self, state: SimState, cfg: SimConfig) -> None:
        """The binary gateways and feedback services; each takes its host and port from the config."""
        ledger = FeedbackLedger(self.data_dir)  # one file: both environments' listeners share it
        ports = {"sandbox": (cfg.legacy_sandbox_port, cfg.feedback_sandbox_port),
                 "production": (cfg.legacy_production_port, cfg.feedback_production_port)}
        for environment, (gateway_port, feedback_port) in ports.items():
            gateway = self.legacy[environment] = BinaryGateway(state, environment)
            await gateway.start(cfg.host, gateway_port)
            feedback = self.feedback[environment] = FeedbackListener(state, environment, ledger)
            await feedback.start(cfg.host, feedback_port)
        if self.apple_hosts_config is None:
            return
        for interface, port in self.apple_hosts_config.legacy_ports.items():
            listeners: Mapping[str, Listener] = (
                self.legacy if interface == apple_hosts.LEGACY_GATEWAY else self.feedback)
            front = AppleHostsLegacy(state, interface, listeners)
            self.legacy_apple_hosts.append(front)  # before start: stop() closes whatever was appended
            await front.start(cfg.host, port)

    async def stop(self) -> None:
        if self._admin_runner is not None:
            await self._admin_runner.cleanup()
            self._admin_runner = None
        for front in self.legacy_apple_hosts:
            await front.close()
        self.legacy_apple_hosts = []
        for listener in (*self.legacy.values(), *self.feedback.values()):
            await listener.close()
        self.legacy.clear()
        self.feedback.clear()
        for server in (self.gateway, *reversed(self.apple_hosts), self.production, self.sandbox):
            if server is not None:
                await server.close()
        self.apple_hosts = []
        self.gateway = self.production = self.sandbox = None
        if self.state is not None:
            self.state.delivery.close()
            self.state.close()
            self.state = None
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    def hold_delivery(self, held: bool = True) -> int:
        """The teacher's hold (docs/scenarios.md "Teacher mode"): with ``held``, accepted pushes to connected
        phones wait at APNs until ``hold_delivery(False)``, which sends them on and returns how many."""
        assert self.state is not None, "the simulator is not running"
        if held:
            self.state.delivery.hold()
            return 0
        return self.state.delivery.release()

    @property
    def endpoints(self) -> dict[str, Any]:
        """Where everything listens: docs/architecture.md contract 1."""
        assert self.sandbox and self.production and self.gateway, "the simulator is not running"
        host = self.config.host
        endpoints: dict[str, Any] = {
            "sandbox": f"https://{host}:{self.sandbox.port}",
            "production": f"https://{host}:{self.production.port}",
            "gateway": f"{host}:{self.gateway.port}",
            "admin": f"http://{host}:{self._admin_port}",
            "ca_file": str(self.data_dir / "ca.pem"),
            **{f"legacy_{env}": server.address for env, server in self.legacy.items()},
            **{f"feedback_{env}": server.address for env, server in self.feedback.items()},
        }
        if self.apple_hosts:
            endpoints["apple_hosts"] = self.apple_hosts_endpoints()
        return endpoints

    def apple_hosts_endpoints(self) -> dict[str, Any]:
        """docs/drop-in.md §1: each Apple name by environment on the first port, plus where they must resolve."""
        ports = [server.port for server in self.apple_hosts]
        names: dict[str, Any] = {}
        for row in apple_hosts.hosts_for(apple_hosts.PROVIDER_API):
            # the first host of an environment is known by the environment, an alias by its own label
            key = row.environment if row.environment not in names else row.name.split(".")[1]
            names[key] = apple_hosts.url(row.name, ports[0])
        for front in self.legacy_apple_hosts:  # docs/drop-in.md §1: the retired binary interface's names
            prefix = "legacy" if front.interface == apple_hosts.LEGACY_GATEWAY else "feedback"
            for row in apple_hosts.hosts_for(front.interface):
                names[f"{prefix}_{row.environment}"] = f"{row.name}:{front.port}"
        if self.legacy_apple_hosts:
            names["legacy_ports"] = [front.port for front in self.legacy_apple_hosts]
        return {**names, "ports": ports, "address": self.config.host,
                "hosts": list(apple_hosts.host_names())}

    @property
    def endpoints_file(self) -> Path:
        return self.data_dir / ENDPOINTS_FILE
