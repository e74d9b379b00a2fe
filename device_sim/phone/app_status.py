"""What the phone tells the simulator about each app ([sim] courier AppStatus, 0x32): permission, badge, state.

A real iPhone never tells APNs whether the user allowed notifications, what the badge shows or whether the app is
in front (docs/device-side.md §2.6); the simulator's dashboard wants them, so our phone reports them over its
courier connection, a documented simulator extension (see ``apns_sim.courier``). It sends an app's whole status
whenever one part changes and every app's status after each (re)connect, so APNs only ever keeps the latest
frame. An app that never registered (no token to show it under) and an app without the Push capability send
nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from apns_sim import courier
from device_sim.rules.presentation import MAX_BADGE

if TYPE_CHECKING:
    from device_sim.app.app import App
    from device_sim.connection.client import CourierClient

log = logging.getLogger("device_sim.phone")


def status_of(app: App) -> courier.AppStatus | None:
    """The frame describing ``app`` now, or None when it has nothing to report under (see the module doc)."""
    environment = app.courier_environment
    if environment is None or not app.installed or not (app.registered or app.voip_registered):
        return None
    authorization = app.authorization
    return courier.AppStatus(bundle_id=app.bundle_id, environment=environment, permission=authorization.status,
                             options=authorization.options, badge=min(max(app.badge, 0), MAX_BADGE),
                             state=app.state)


class StatusReporter:
    """Sends a status only when it differs from the last one sent on the current connection (a launch that
    leaves the app in front, or a saved setting that is not part of the status, sends nothing)."""

    __slots__ = ("_sent",)

    def __init__(self) -> None:
        self._sent: dict[tuple[str, str], courier.AppStatus] = {}  # (environment, bundle id) -> last sent

    def changed(self, app: App, client: CourierClient | None) -> None:
        status = status_of(app)
        if status is None or client is None:
            return
        key = (status.environment, status.bundle_id)
        if self._sent.get(key) == status:
            return
        try:
            sent = client.send_app_status(status)
        except (ValueError, OverflowError) as exc:  # a value the codec cannot carry: the dashboard only loses it
            log.warning("%s: app status not sent (%s)", status.bundle_id, exc)
            return
        if sent:
            self._sent[key] = status

    def forget(self, environment: str, bundle_id: str) -> None:
        """The app was deleted (APNs drops its report): a reinstall must report again even if its status is
        the same as the old app's (a permission answer kept for a day, badge 0, background)."""
        self._sent.pop((environment, bundle_id), None)

    def connected(self, environment: str, apps: Iterable[App], client: CourierClient) -> None:
        """A new connection (APNs may have restarted or forgotten the device): every app's status again."""
        for key in [k for k in self._sent if k[0] == environment]:
            del self._sent[key]
        for app in apps:
            if app.courier_environment == environment:
                self.changed(app, client)


__all__ = ["StatusReporter", "status_of"]
