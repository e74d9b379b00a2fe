"""The simulated iPhone as a Python API: what scenarios, tests and the CLI script (docs/architecture.md, contract 3).

    async with Phone.open(endpoints, state_dir=..., name="Demo iPhone") as phone:
        app = phone.install_app("com.example.app", environment="development", delegate=delegate)
        token = await app.register()
        notification = await app.next_notification(timeout=10)

The phone owns one device identity (activated on first use, docs/device-side.md §6 rule 1), keeps one
courier connection per environment its apps use (opened when an app first registers, rule 2), routes each
push to the app whose token it names, and refuses pushes for apps it no longer has (ack status 2, rule 13).

This module is the phone's face and its apps' host (``device_sim.app.host.AppHost``); what it decides for
its courier connections is in ``courier_side``, restore and erase in ``token_change``, the dashboard
reports in ``app_status``: one concept a module, so none passes 400 lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import ssl
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from device_sim.app.app import App, AppConfig, PhoneRules, check_types
from device_sim.app.service_extension import DEFAULT_TIME_LIMIT
from device_sim.connection.client import CourierClient, TokenRefused
from device_sim.connection.tls import courier_ssl_context
from device_sim.identity.activation import phone_identity
from device_sim.identity.store import AppRecord, DeviceStore, Endpoints, Identity, check_bundle_id, check_ca_file
from device_sim.phone.app_status import StatusReporter
from device_sim.phone.courier_side import CourierSide
from device_sim.phone.presented import PresentedLog
from device_sim.phone.token_change import TokenChangeEvents
from device_sim.rules import authorization as auth
from device_sim.rules import background
from device_sim.rules.presentation import ENTITLEMENTS, RegistrationError, Switches, entitlement_for, offline_error
from device_sim.rules.voip import VOIP, VoipPolicy, voip_topic

log = logging.getLogger("device_sim.phone")
Listener = Callable[[dict[str, Any]], None]
TOKEN_ERROR_DOMAIN = "pushsim.courier"  # not an iOS domain: the simulated APNs refused the token request
OFFLINE_MODES = ("wait", "fail")  # first registration with no connection (§4, §7): TN2265 vs current docs


class Phone(TokenChangeEvents, CourierSide):
    """One simulated iPhone. Use ``async with Phone.open(...)``; ``restore_from_backup()`` and ``erase()``
    (token-change events, rule 29) are in :mod:`device_sim.phone.token_change`, what it decides for its
    courier connections in :mod:`device_sim.phone.courier_side`."""

    def __init__(self, endpoints: Endpoints, store: DeviceStore, *, keepalive_interval: float = 60.0,
                 reactivate: bool = True, rules: PhoneRules | None = None, offline_first_registration: str = "wait",
                 offline_grace: float = 5.0) -> None:
        if offline_first_registration not in OFFLINE_MODES:
            raise ValueError(f"offline_first_registration must be one of {OFFLINE_MODES}")
        self.rules = rules or PhoneRules()
        self.offline_first_registration = offline_first_registration
        self.offline_grace = offline_grace
        self.endpoints = endpoints
        self._store = store
        self._identity: Identity | None = None
        self._keepalive_interval = keepalive_interval
        self._reactivate = reactivate
        self._reactivated = False
        self._clients: dict[str, CourierClient] = {}
        self._apps: dict[str, App] = {}
        self._listeners: list[Listener] = []
        self._online = True
        self._ssl: ssl.SSLContext | None = None
        self._statuses = StatusReporter()  # [sim] permission, badge, state for the dashboard (app_status)
        self._presented: PresentedLog | None = None  # apns-ids taken: none is shown twice (presented)
        self._held_pushes = None  # not holding: pushes go straight to the apps (the teacher's hold, courier_side)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, endpoints: Endpoints | Mapping[str, Any] | str | Path, state_dir: str | Path | None = None,
                   name: str = "iPhone", *, keepalive_interval: float = 60.0, reactivate: bool = True,
                   clock: Callable[[], float] = time.time, offline_first_registration: str = "wait",
                   offline_grace: float = 5.0, legacy_simulator: bool = False,
                   background_budget: background.BackgroundBudget | None = None, under_xcode: bool = False,
                   voip_policy: VoipPolicy | None = None) -> AsyncIterator[Phone]:
        """Activate (first time only) and bring the phone up; ``state_dir`` None = a throw-away phone.

        Knobs (device-side.md §7): ``clock`` (seconds; background budgets and the reinstall-within-a-day
        rule read it), ``offline_first_registration`` "wait" (no callback until connected, TN2265) or "fail"
        (``did_fail...`` when offline, or not connected within ``offline_grace`` s), ``legacy_simulator``
        (registration fails with 3010), ``background_budget`` and ``under_xcode`` (no throttling),
        ``voip_policy`` (PushKit: failures to report a call before VoIP pushes stop, time to report, rule 28).
        """
        temp = tempfile.mkdtemp(prefix="device-sim-") if state_dir is None else None
        store = DeviceStore(temp or state_dir)  # type: ignore[arg-type]
        rules = PhoneRules(clock=clock, legacy_simulator=legacy_simulator, under_xcode=under_xcode,
                           background_budget=background_budget or background.BackgroundBudget(),
                           voip=voip_policy or VoipPolicy())
        phone = cls(Endpoints.load(endpoints), store, keepalive_interval=keepalive_interval, reactivate=reactivate,
                    rules=rules, offline_first_registration=offline_first_registration, offline_grace=offline_grace)
        try:
            await phone._start(name)
            yield phone
        finally:
            await phone.close()
            if temp is not None:
                shutil.rmtree(temp, ignore_errors=True)

    async def _start(self, name: str) -> None:
        self._store.lock()
        state = self._store.load(name)
        self._presented = PresentedLog(self._store.dir)
        self._ssl = courier_ssl_context(check_ca_file(self.endpoints.ca_file))
        self._identity = await phone_identity(self._store, self.endpoints.admin)
        for record in state.apps.values():
            memory = self._memory(record.bundle_id)
            config = AppConfig(user_response=memory.get("user_response", "allow"),
                               background_mode=bool(memory.get("background_mode", False)))
            authorization = auth.Authorization.from_json(memory.get("authorization", {}))
            self._apps[record.bundle_id] = App(self, record, config=config, rules=self.rules,
                                               authorization=authorization)
        for env in {a.courier_environment for a in self._apps.values() if a.registered or a.voip_registered}:
            if env is not None:
                self._client(env)
        self._resume_token_change()

    async def close(self) -> None:
        for client in list(self._clients.values()):
            await client.stop()
        self._clients.clear()
        if self._presented is not None:
            self._presented.close()
        self._store.unlock()

    # -- facts -------------------------------------------------------------------------------------------

    @property
    def device_id(self) -> str:
        assert self._store.state is not None
        return self._store.state.device_id

    @property
    def name(self) -> str:
        assert self._store.state is not None
        return self._store.state.name

    @property
    def base_token(self) -> str | None:
        """The device-wide base token APNs assigned (hex), cached across connections."""
        return self._state.base_token

    @property
    def state_dir(self) -> Path:
        return self._store.dir

    @property
    def switches(self) -> Switches:
        """The user's Focus and mute switches: ``phone.switches.focus = True`` (rule 26)."""
        return self.rules.switches

    @property
    def online(self) -> bool:
        return self._online

    @property
    def locked(self) -> bool:
        return self.rules.switches.locked

    @property
    def apps(self) -> dict[str, App]:
        return dict(self._apps)

    def app(self, bundle_id: str) -> App:
        try:
            return self._apps[bundle_id]
        except KeyError:
            raise KeyError(f"{bundle_id} is not installed on {self.name}") from None

    def is_connected(self, environment: str) -> bool:
        client = self._clients.get(environment)
        return client is not None and client.connected

    def last_error(self, environment: str) -> str | None:
        client = self._clients.get(environment)
        return None if client is None else client.last_error

    async def wait_connected(self, environment: str, timeout: float | None = 10.0) -> None:
        await self._client(environment).wait_connected(timeout)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(event)`` for every event (registered, notification, connected, ...)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # -- the user's actions ------------------------------------------------------------------------------

    def install_app(self, bundle_id: str, environment: str | None = "development",
                    types: Sequence[str] = ("alert", "sound", "badge"), delegate: Any = None, *,
                    user_response: str = "allow", background_mode: bool = False, state: str | None = None,
                    service_extension: Any = None, service_extension_time_limit: float = DEFAULT_TIME_LIMIT,
                    fetch_time_limit: float = 30.0, center_delegate: Any = None, critical_alerts: bool = False,
                    time_sensitive: bool = True, fail_registration_with: int | None = None) -> App:
        """Install (or update) an app. ``environment`` is its aps-environment entitlement: "development"
        (sandbox tokens), "production", or None for an app without the Push capability.

        ``types`` are what a legacy app registers for; ``user_response`` ("allow"/"deny") is what the user
        will answer at the permission prompt (rule 24); ``background_mode`` is the remote-notification
        background mode (rule 20); ``state`` the app's state (default "background": launched once, then
        suspended); ``service_extension`` a Notification Service Extension (rule 27); ``critical_alerts`` and
        ``time_sensitive`` the interruption-level entitlements (rule 26); ``fail_registration_with`` an NSError
        code (3000, 3010) every registration then fails with, ``did_fail...`` called (§4); ``center_delegate``
        the UNUserNotificationCenter delegate (default: ``delegate`` if it has ``will_present`` or
        ``did_receive_notification_response``).
        """
        check_bundle_id(bundle_id)
        entitlement = entitlement_for(environment)
        kinds = check_types(types)
        config = AppConfig(user_response=user_response, background_mode=background_mode,
                           service_extension=service_extension,
                           service_extension_time_limit=service_extension_time_limit, fetch_time_limit=fetch_time_limit,
                           critical_alerts=critical_alerts, time_sensitive=time_sensitive,
                           fail_registration_with=fail_registration_with)
        if state is not None:
            background.check_state(state)
        device = self._state
        record = device.apps.get(bundle_id)
        if record is not None and record.environment != entitlement:
            record = None  # a different build (other profile): its token belongs to another environment
        memory = self._memory(bundle_id)
        if record is None:
            record = AppRecord(bundle_id=bundle_id, environment=entitlement, types=kinds)
            device.apps[bundle_id] = record
            # a new build of an installed app keeps the answer; a reinstall keeps it for a day (§2.6)
            kept = "uninstalled_at" not in memory or auth.kept_after_reinstall(memory["uninstalled_at"],
                                                                                 self.rules.clock())
            authorization = auth.Authorization.from_json(memory.get("authorization", {})) if kept else None
            self._apps[bundle_id] = App(self, record, delegate, config=config, rules=self.rules,
                                        authorization=authorization, state=state or background.BACKGROUND,
                                        center_delegate=center_delegate)
        else:
            record.types = kinds
            app = self._apps[bundle_id]
            app.config = config
            if delegate is not None:
                app.delegate = delegate
            if center_delegate is not None:
                app.center_delegate = center_delegate
            if state is not None:
                app._set_state(state)
        memory.pop("uninstalled_at", None)
        self._remember(self._apps[bundle_id])
        self._store.save()
        return self._apps[bundle_id]

    async def uninstall(self, bundle_id: str, timeout: float = 10.0) -> bool:
        """Delete the app: its token and badge are forgotten and its topic leaves the filter.

        Returns True once APNs has seen the new filter; False if the phone could not reach APNs in
        ``timeout`` seconds (it will tell APNs on its next connection).
        """
        app = self.app(bundle_id)
        env = app.courier_environment
        app.installed = False
        del self._apps[bundle_id]
        del self._state.apps[bundle_id]
        self._memory(bundle_id)["uninstalled_at"] = self.rules.clock()  # the permission answer lasts a day
        if env is not None:
            self._statuses.forget(env, bundle_id)
        self._store.save()
        self._emit({"event": "uninstalled", "bundle_id": bundle_id})
        if env is None or not self._online:
            return False
        client = self._client(env)
        try:
            await client.wait_connected(timeout)
            client.send_filter()
            await client.sync(timeout)
        except (TimeoutError, ConnectionError):
            return False
        return True

    def lock(self) -> None:
        """The user presses the side button (rule 16, §2.3): an app in front moves to the background, as iOS
        does, and alerts appear on the Lock Screen (Notification Center still keeps them; sound and badge as
        usual). Launching or tapping into an app unlocks the phone, as Face ID would."""
        self.rules.switches.locked = True
        for app in self._apps.values():
            app._set_state(background.state_after_lock(app.state))
        self._emit({"event": "locked"})

    def unlock(self) -> None:
        """The user unlocks the phone: alerts are banners again; the apps stay in the background."""
        self.rules.switches.locked = False
        self._emit({"event": "unlocked"})

    async def go_offline(self) -> None:
        """Airplane mode: drop every courier connection and stop reconnecting."""
        self._online = False
        for client in self._clients.values():
            await client.stop()
        self._emit({"event": "offline"})

    async def go_online(self, timeout: float | None = 10.0) -> None:
        """Back online: reconnect every environment in use (and wait for it, up to ``timeout``)."""
        self._online = True
        self._resume_token_change()
        for client in self._clients.values():
            client.start()
        self._emit({"event": "online"})
        if timeout is not None:
            await asyncio.gather(*(c.wait_connected(timeout) for c in self._clients.values()))

    # -- internals used by apps ----------------------------------------------------------------------------

    @property
    def _state(self) -> Any:
        assert self._store.state is not None
        return self._store.state

    def _memory(self, bundle_id: str) -> dict[str, Any]:
        """What the phone remembers about an app beyond its AppRecord (permission, build knobs), kept in the
        state file's ``settings`` so a restarted phone is the same phone; it outlives an uninstall (§2.6)."""
        apps: dict[str, Any] = self._state.settings.setdefault("apps", {})
        memory: dict[str, Any] = apps.setdefault(bundle_id, {})
        return memory

    def _remember(self, app: App) -> None:
        self._memory(app.bundle_id).update(authorization=app.authorization.as_json(),
                                           user_response=app.config.user_response,
                                           background_mode=app.config.background_mode)

    def _client(self, environment: str) -> CourierClient:
        client = self._clients.get(environment)
        if client is None:
            assert self._ssl is not None
            client = CourierClient(
                environment=environment, host=self.endpoints.gateway_host, port=self.endpoints.gateway_port,
                ssl_context=self._ssl, identity=self._get_identity, base_token=self._base_token, handler=self,
                keepalive_interval=self._keepalive_interval, retired_base_token=self._retired_base_token)
            self._clients[environment] = client
        if self._online:
            client.start()
        return client

    def _get_identity(self) -> Identity:
        assert self._identity is not None
        return self._identity

    def _base_token(self) -> bytes | None:
        token = self._state.base_token
        return None if token is None else bytes.fromhex(token)

    async def _request_token(self, app: App, *, voip: bool = False) -> bytes | None:
        """The app's APNs token, or with ``voip`` its PushKit token for ``<bundle>.voip`` (rule 28)."""
        env = app.courier_environment
        assert env is not None
        client = self._client(env)
        if not client.connected and (app.voip_token if voip else app.token) is not None:
            return None  # offline with a cached token: hand it over at once
        if not client.connected and self.offline_first_registration == "fail":
            if not self._online:
                raise offline_error()
            try:
                await client.wait_connected(self.offline_grace)
            except (TimeoutError, ConnectionError):
                raise offline_error() from None
        topic = voip_topic(app.bundle_id) if voip else app.bundle_id
        try:
            return await client.request_token(topic, VOIP if voip else None)
        except TokenRefused as exc:
            raise RegistrationError(TOKEN_ERROR_DOMAIN, 2, f"APNs refused a token for {topic}: {exc}") from exc

    def _app_changed(self, app: App, *, filter_changed: bool) -> None:
        if app.installed:
            self._remember(app)
        self._store.save()
        env = app.courier_environment
        if filter_changed and env is not None:
            self._client(env).send_filter()
        self._status_changed(app)

    def _status_changed(self, app: App) -> None:
        env = app.courier_environment
        self._statuses.changed(app, None if env is None else self._clients.get(env))

    def _report(self, app: App, apns_id: str, stage: str, detail: dict[str, Any]) -> None:
        env = app.courier_environment
        client = None if env is None else self._clients.get(env)
        if client is not None:
            client.report(apns_id, stage, detail)

    def _emit(self, event: dict[str, Any]) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed on %s", event.get("event"))


# courier_ssl_context, check_bundle_id (the fleet needs them too) and entitlement_for now live below phone/;
# they stay importable from here for code written against the old place.
__all__ = ["ENTITLEMENTS", "Phone", "check_bundle_id", "courier_ssl_context", "entitlement_for"]
