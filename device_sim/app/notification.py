"""One push as an app on the simulated iPhone received it, and the user's response to it (docs/device-side.md
§2.2).

A :class:`Notification` is a value: what arrived, what the system showed (``presentation``) and what happened
to it on the phone (handed to the app, held by the background throttle, changed by the service extension).
``await notification.tap()`` is the user tapping it (rule 19).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from device_sim.rules.presentation import Presentation

DEFAULT_ACTION = "com.apple.UNNotificationDefaultActionIdentifier"  # UNNotificationDefaultActionIdentifier
DISMISS_ACTION = "com.apple.UNNotificationDismissActionIdentifier"
LAUNCH_OPTIONS_REMOTE_NOTIFICATION = "UIApplicationLaunchOptionsRemoteNotificationKey"


class _Tappable(Protocol):
    async def tap(self, notification: Notification) -> None: ...


@dataclass(frozen=True, kw_only=True)
class Notification:
    """One push as the app received it, with what the system presented.

    ``payload`` is what the user saw (after a service extension); ``original_payload`` is what APNs
    delivered when an extension changed it. ``handed_to_app`` is False when app code never saw it (a
    background push dropped or held); ``held`` marks a throttled background push waiting for launch.
    """

    apns_id: str  # lowercase canonical UUID ("" if the push carried none)
    bundle_id: str
    payload: Any  # the decoded JSON, or None if the payload was not JSON
    raw: bytes
    push_type: str | None
    priority: int | None
    collapse_id: str | None = None  # apns-collapse-id: shown as one with earlier pushes carrying it
    from_storage: bool
    presentation: Presentation
    received_at: float
    handed_to_app: bool = True
    held: bool = False
    original_payload: Any = None
    extension_outcome: str | None = None
    _app: _Tappable | None = field(default=None, repr=False, compare=False)

    @property
    def modified_by_extension(self) -> bool:
        return self.original_payload is not None and self.original_payload != self.payload

    @property
    def why_not(self) -> tuple[str, ...]:
        return self.presentation.why_not

    async def tap(self) -> None:
        """The user taps the notification: see :meth:`device_sim.app.App.tap`."""
        if self._app is None:
            raise RuntimeError("this notification is not attached to an app on a phone")
        await self._app.tap(self)

    def as_event(self) -> dict[str, Any]:
        return {"event": "notification", "bundle_id": self.bundle_id, "apns_id": self.apns_id,
                "payload": self.payload, "presented": self.presentation.as_json()}


@dataclass(frozen=True, kw_only=True)
class NotificationResponse:
    """``UNNotificationResponse``: which action the user took on which notification."""

    notification: Notification
    action_identifier: str = DEFAULT_ACTION


__all__ = ["DEFAULT_ACTION", "DISMISS_ACTION", "LAUNCH_OPTIONS_REMOTE_NOTIFICATION", "Notification",
           "NotificationResponse"]
