"""Fleet mode: thousands of simulated iPhones in one process (issue #5).

Each phone of a fleet is a phone as far as APNs can tell (docs/device-side.md §1.5-§1.8): its own activation
and device certificate, its own courier TLS connection with a Connect proof signed by its own key, a topic
filter naming the fleet's apps, one token per app from ScopedTokenRequest, keep-alives, and an
acknowledgement for every push. What a fleet shares is what a process can share: one event loop, one
``SSLContext`` trusting the simulator's CA, one HTTP session for activation. A fleet phone has no app
objects, presentation or badges (a :class:`~device_sim.phone.Phone` has them); it counts what it receives.

    async with Fleet.open("sim/endpoints.json", count=1000, app="com.example.app") as fleet:
        fleet.tokens            # one hex token per registered phone, for the first app
        fleet.received          # pushes acknowledged by the whole fleet

Connections are opened with bounded concurrency (``concurrency``), after all identities are ready, so the
two costs can be measured apart (``fleet.timings``).

It never imports :mod:`device_sim.phone` (the two are siblings): what both need, the courier client and its
TLS context, the bundle-id check and activation, lives below them in ``connection`` and ``identity``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from apns_sim import courier
from device_sim.connection.client import CourierClient, TokenRefused
from device_sim.connection.tls import courier_ssl_context
from device_sim.errors import DeviceSimError
from device_sim.fleet.identities import FleetStore, PhoneIdentity, activate, ca_fingerprint, new_identity, new_keys
from device_sim.identity.store import COURIER_SERVER_NAMES, Endpoints, Identity, check_bundle_id

log = logging.getLogger("device_sim.fleet")


@dataclass(frozen=True, slots=True)
class FleetProgress:
    """How far the fleet is: ``phase`` is "identities" (keys and activation) or "connecting"."""

    phase: str
    done: int
    total: int
    failed: int
    elapsed: float


ProgressCallback = Callable[[FleetProgress], None]
PushCallback = Callable[["FleetPhone", courier.Push], None]


class FleetPhone:
    """One phone of the fleet: its identity, connection, tokens and counters (the CourierHandler)."""

    __slots__ = ("_fleet", "_identity", "base_token", "client", "online", "reactivated", "received", "tokens")

    def __init__(self, fleet: Fleet, identity: PhoneIdentity) -> None:
        self._fleet = fleet
        self._identity = identity
        self.base_token: bytes | None = None
        self.tokens: dict[str, bytes] = {}  # bundle id -> token
        self.received = 0
        self.online = False
        self.reactivated = False
        self.client = CourierClient(
            environment=fleet.environment, host=fleet.endpoints.gateway_host, port=fleet.endpoints.gateway_port,
            ssl_context=fleet.ssl_context, identity=self.identity, base_token=self._base_token, handler=self,
            keepalive_interval=fleet.keepalive_interval)

    @property
    def device_id(self) -> str:
        return self._identity.device_id

    def identity(self) -> Identity:
        """Built on each Connect from the compact form, so an idle phone holds bytes, not key objects."""
        return self._identity.identity()

    def _base_token(self) -> bytes | None:
        return self.base_token

    # -- CourierHandler ------------------------------------------------------------------------------------

    def filter_topics(self, environment: str) -> Sequence[str]:
        return self._fleet.apps

    def push_status(self, environment: str, push: courier.Push) -> int:
        """Acknowledge a push for one of our tokens; refuse one for an app this phone does not have (§6)."""
        return courier.ACK_OK if push.token in self.tokens.values() else courier.ACK_APP_NOT_INSTALLED

    def push_acked(self, environment: str, push: courier.Push) -> None:
        self.received += 1
        self._fleet._pushed(self, push)

    def base_token_changed(self, token: bytes) -> None:
        self.base_token = token

    def connection_changed(self, environment: str, connected: bool, error: str | None) -> None:
        if connected != self.online:
            self.online = connected
            self._fleet.connected += 1 if connected else -1

    async def connect_refused(self, environment: str, reason: str) -> bool:
        """Re-activate once (a new certificate for the same key), as a Phone does (§1.5)."""
        if self.reactivated:
            return False
        self.reactivated = True
        log.info("APNs refused fleet phone %s (%s); activating it again", self.device_id, reason)
        try:
            self._identity = await self._fleet._activate(self._identity)
        except DeviceSimError as exc:
            log.warning("re-activation of %s failed: %s", self.device_id, exc)
            return False
        return True


class Fleet:
    """Many phones sharing a loop, a TLS context and an activation session; see :meth:`open`."""

    def __init__(self, endpoints: Endpoints, *, apps: Sequence[str], environment: str, concurrency: int,
                 keepalive_interval: float, name: str, progress: ProgressCallback | None,
                 on_push: PushCallback | None) -> None:
        if environment not in COURIER_SERVER_NAMES:
            raise ValueError(f"unknown environment {environment!r}: use sandbox or production")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.endpoints = endpoints
        self.apps: tuple[str, ...] = tuple(check_bundle_id(a) for a in apps)
        if not self.apps:
            raise ValueError("a fleet needs at least one app")
        self.environment = environment
        self.concurrency = concurrency
        self.keepalive_interval = keepalive_interval
        self.name = name
        self.ssl_context = courier_ssl_context(endpoints.ca_file)
        self.phones: list[FleetPhone] = []
        self.connected = 0
        self.received = 0
        self.failed = 0
        self.errors: list[str] = []  # the first few failures, to say why
        self.timings: dict[str, float] = {}
        self._progress = progress
        self._on_push = on_push
        self._by_token: dict[bytes, FleetPhone] = {}
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, endpoints: Endpoints | Mapping[str, Any] | str | Path, *, count: int,
                   app: str | Sequence[str], environment: str = "sandbox", state_dir: str | Path | None = None,
                   concurrency: int = 100, key_workers: int | None = None, keepalive_interval: float = 60.0,
                   connect_timeout: float = 60.0, name: str = "Fleet iPhone", progress: ProgressCallback | None = None,
                   on_push: PushCallback | None = None) -> AsyncIterator[Fleet]:
        """Activate (or load) ``count`` phones, connect them all, register ``app`` on each; close on exit.

        ``app`` is a bundle id or several. Phones that fail to connect within ``connect_timeout`` count in
        ``fleet.failed`` (their connections keep retrying with back-off, as a phone's do). New keys are made
        in ``key_workers`` processes (default: one per CPU; 0: in this process). With ``state_dir`` the
        identities are kept there and reused next time.
        """
        if count < 0:
            raise ValueError("count must not be negative")
        fleet = cls(Endpoints.load(endpoints), apps=[app] if isinstance(app, str) else list(app),
                    environment=environment, concurrency=concurrency, keepalive_interval=keepalive_interval,
                    name=name, progress=progress, on_push=on_push)
        store = None if state_dir is None else FleetStore(state_dir)
        if store is not None:
            store.lock()
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
                fleet._session = session
                try:
                    workers = key_workers if key_workers is not None else (os.cpu_count() or 1)  # 0: in this process
                    identities = await fleet._identities(count, store, workers)
                    fleet.phones = [FleetPhone(fleet, identity) for identity in identities]
                    await fleet._connect_all(connect_timeout)
                    yield fleet
                finally:
                    await fleet.close()
                    fleet._session = None
        finally:
            if store is not None:
                store.unlock()

    # -- what the fleet knows --------------------------------------------------------------------------------

    @property
    def tokens(self) -> list[str]:
        """The first app's token of every phone that has one, in phone order (hex)."""
        return self.tokens_for(self.apps[0])

    def tokens_for(self, bundle_id: str) -> list[str]:
        return [p.tokens[bundle_id].hex() for p in self.phones if bundle_id in p.tokens]

    def phone_for_token(self, token: str) -> FleetPhone | None:
        return self._by_token.get(bytes.fromhex(token))

    async def close(self) -> None:
        """Every connection closed; counters kept for the caller to read."""
        await asyncio.gather(*(p.client.stop() for p in self.phones))
        for phone in self.phones:
            phone.online = False
        self.connected = 0

    # -- internals -------------------------------------------------------------------------------------------

    def _report(self, phase: str, done: int, total: int, started: float) -> None:
        if self._progress is not None:
            self._progress(FleetProgress(phase=phase, done=done, total=total, failed=self.failed,
                                         elapsed=time.monotonic() - started))

    def _fail(self, why: str) -> None:
        self.failed += 1
        if len(self.errors) < 5:
            self.errors.append(why)

    def _pushed(self, phone: FleetPhone, push: courier.Push) -> None:
        self.received += 1
        if self._on_push is not None:
            self._on_push(phone, push)

    async def _activate(self, identity: PhoneIdentity) -> PhoneIdentity:
        assert self._session is not None
        return await activate(self._session, self.endpoints.admin, identity, self.name)

    async def _identities(self, count: int, store: FleetStore | None, key_workers: int) -> list[PhoneIdentity]:
        """Stored phones first; new keys are activated as they arrive from the workers (a pipeline)."""
        started = time.monotonic()
        ca = ca_fingerprint(self.endpoints.ca_file)
        stored = store.load(ca) if store is not None else []
        ready = [p for p in stored[:count] if p.cert_der is not None]
        queue: asyncio.Queue[PhoneIdentity | None] = asyncio.Queue()
        for phone in stored[:count]:
            if phone.cert_der is None:
                queue.put_nowait(phone)
        step = max(1, count // 20)

        async def activator() -> None:
            while (phone := await queue.get()) is not None:
                try:
                    ready.append(await self._activate(phone))
                except DeviceSimError as exc:
                    self._fail(str(exc))
                done = len(ready) + self.failed
                if done % step == 0:
                    self._report("identities", done, count, started)

        async def keys(batch: list[bytes]) -> None:
            for key_der in batch:
                queue.put_nowait(new_identity(key_der))

        workers = [asyncio.create_task(activator()) for _ in range(self.concurrency)]
        try:
            keys_started = time.monotonic()
            await new_keys(count - len(stored[:count]), key_workers, keys)
            self.timings["keys_s"] = time.monotonic() - keys_started
            for _ in workers:
                queue.put_nowait(None)
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
        self.timings["identities_s"] = time.monotonic() - started
        if store is not None:
            ids = {p.device_id for p in ready}
            store.save(ready + [p for p in stored[count:] if p.device_id not in ids], ca)
        self._report("identities", len(ready), count, started)
        if count and not ready:
            raise DeviceSimError(f"no phone could be activated: {self.errors[0] if self.errors else '?'}")
        return ready

    async def _connect_all(self, timeout: float) -> None:
        started = time.monotonic()
        total = len(self.phones)
        pending = iter(self.phones)
        step = max(1, total // 20)
        done = ok = 0

        async def connect(phone: FleetPhone) -> None:
            phone.client.start()
            await phone.client.wait_connected()
            for bundle_id in self.apps:
                token = await phone.client.request_token(bundle_id)
                phone.tokens[bundle_id] = token
                self._by_token[token] = phone

        async def worker() -> None:
            nonlocal done, ok
            for phone in pending:
                try:
                    await asyncio.wait_for(connect(phone), timeout)
                    ok += 1
                except (TimeoutError, TokenRefused) as exc:
                    why = phone.client.last_error or f"{type(exc).__name__}: {exc}"
                    self._fail(f"phone {phone.device_id}: {why}")
                done += 1
                if done % step == 0:
                    self._report("connecting", ok, total, started)

        await asyncio.gather(*(worker() for _ in range(min(self.concurrency, total))))
        self.timings["connect_s"] = time.monotonic() - started
        self._report("connecting", ok, total, started)


__all__ = ["Fleet", "FleetPhone", "FleetProgress"]
