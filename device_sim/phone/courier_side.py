"""The phone's side of its courier connections (``device_sim.connection.client.CourierHandler``): which
topics it wants, which app a push belongs to, what it acknowledges, and what it does when APNs hands it a
new base token or refuses its Connect. Part of :class:`device_sim.phone.Phone` (docs/device-side.md
§1.4-1.7, §6 rules 6, 7, 13, 14, 28), kept apart because it is the connection's view of the phone.

An accepted push goes to the app through its public ``receive`` / ``receive_voip``; a refused Connect
activates the phone once more through :func:`device_sim.identity.activation.phone_identity` (§1.5).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from apns_sim import courier
from device_sim.errors import DeviceSimError
from device_sim.identity.activation import phone_identity
from device_sim.identity.store import DeviceState, DeviceStore, Endpoints, Identity
from device_sim.phone.app_status import StatusReporter
from device_sim.phone.presented import PresentedLog
from device_sim.rules.voip import voip_topic

if TYPE_CHECKING:
    from device_sim.app.app import App
    from device_sim.connection.client import CourierClient

log = logging.getLogger("device_sim.phone")
DUPLICATE_WHY = "duplicate: the phone took this apns-id before and acknowledges it without showing it again"


class CourierSide:
    """What the phone decides for its connections, as part of :class:`device_sim.phone.Phone`."""

    endpoints: Endpoints
    _apps: dict[str, App]
    _clients: dict[str, CourierClient]
    _store: DeviceStore
    _statuses: StatusReporter
    _presented: PresentedLog | None
    _identity: Identity | None
    _reactivate: bool
    _reactivated: bool
    _held_pushes: list[tuple[App, bool, courier.Push]] | None

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def _state(self) -> DeviceState:
        raise NotImplementedError

    def _emit(self, event: dict[str, Any]) -> None:
        raise NotImplementedError

    def filter_topics(self, environment: str) -> Sequence[str]:
        """Each registered app's topic, and ``<bundle>.voip`` for each app registered with PushKit (rule 28)."""
        apps = [a for a in self._apps.values() if a.courier_environment == environment]
        return ([a.bundle_id for a in apps if a.registered]
                + [voip_topic(a.bundle_id) for a in apps if a.voip_registered])

    def _app_for(self, environment: str, push: courier.Push) -> tuple[App, bool] | None:
        """The app the push's token belongs to, and whether it is the app's VoIP token (rules 14, 28)."""
        token = push.token.hex()
        for app in self._apps.values():
            if app.courier_environment != environment:
                continue
            if app.token == token:
                return app, False
            if app.voip_token == token and app.voip_registered:
                return app, True
        return None

    def push_status(self, environment: str, push: courier.Push) -> int:
        """0 for an installed app's token; 2 when no app has it any more (the app was deleted, §6 rule 13)."""
        if self._app_for(environment, push) is None:
            log.info("push %s for token %s…: no such app on this phone, refusing", push.apns_id, push.token.hex()[:12])
            return courier.ACK_APP_NOT_INSTALLED
        return courier.ACK_OK

    def push_acked(self, environment: str, push: courier.Push) -> None:
        found = self._app_for(environment, push)
        if found is not None:
            if self._repeated(environment, push):
                return
            app, voip = found
            if self._held_pushes is not None:
                self._held_pushes.append((app, voip, push))  # acknowledged (delivered), not yet the app's
                return
            self._hand_over(app, voip, push)

    @staticmethod
    def _hand_over(app: App, voip: bool, push: courier.Push) -> None:
        if voip:
            app.receive_voip(push)
        else:
            app.receive(push)

    def hold_presentation(self) -> None:
        """The teacher's hold (docs/scenarios.md "Teacher mode"): the phone still receives and acknowledges
        each push (APNs records it delivered) but hands it to its app only on :meth:`release_presentation`,
        so a presenter can show stage 2 done and stage 3 not yet begun. Not something an iPhone does; what is
        still held when the phone closes goes with its apps (APNs has it as acknowledged)."""
        if self._held_pushes is None:
            self._held_pushes = []

    def release_presentation(self) -> int:
        """End the hold: the apps get what waited, in the order it arrived; returns how many."""
        waiting, self._held_pushes = self._held_pushes or [], None
        for app, voip, push in waiting:
            self._hand_over(app, voip, push)
        return len(waiting)

    def _repeated(self, environment: str, push: courier.Push) -> bool:
        """A push the phone took before (APNs missed its ack): acknowledged, reported, never shown again.

        The apns-id is noted on disk before the app sees the push and before the ack leaves the phone (the
        client writes its answers after this returns), so even ``kill -9`` cannot make one show twice
        (docs/device-side.md §1.10 "Written but not acknowledged")."""
        if push.apns_id is None or self._presented is None or self._presented.first_time(push.apns_id):
            return False
        log.info("push %s was taken before (its ack was lost): acknowledged again, not shown", push.apns_id)
        client = self._clients.get(environment)
        if client is not None:
            client.report(push.apns_id, "not_presented", {"why": DUPLICATE_WHY, "duplicate": True})
        self._emit({"event": "duplicate", "apns_id": push.apns_id, "environment": environment})
        return True

    def base_token_changed(self, token: bytes) -> None:
        self._state.base_token = token.hex()
        self._state.retired_base_token = None  # APNs answered a Connect naming it: the restore or erase is known
        self._store.save()

    def connection_changed(self, environment: str, connected: bool, error: str | None) -> None:
        event: dict[str, Any] = {"event": "connected" if connected else "disconnected", "environment": environment}
        if error:
            event["error"] = error
        if connected:
            self._statuses.connected(environment, list(self._apps.values()), self._clients[environment])
        self._emit(event)

    async def connect_refused(self, environment: str, reason: str) -> bool:
        """A refused Connect: re-activate once (a new certificate for the same key), as rustpush does (§1.5)."""
        if not self._reactivate or self._reactivated:
            return False
        self._reactivated = True
        log.info("APNs refused %s (%s); activating the phone again", self.name, reason)
        try:
            self._identity = await phone_identity(self._store, self.endpoints.admin, reactivate=True)
        except DeviceSimError as exc:
            log.warning("re-activation failed: %s", exc)
            return False
        return True


__all__ = ["CourierSide"]
