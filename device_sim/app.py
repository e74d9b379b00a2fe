"""An app on the simulated iPhone: registration, delegate callbacks and presentation (device-side.md §2, §4).

The delegate is any object with some of these methods (sync or async), named after UIApplicationDelegate:

- ``did_register_for_remote_notifications(token_hex)``
- ``did_fail_to_register_for_remote_notifications(error)``   (a :class:`RegistrationError`)
- ``did_receive_remote_notification(payload)``

Registration follows §6 rules 8-10: no ``aps-environment`` entitlement fails with NSCocoaErrorDomain 3000;
otherwise the phone asks APNs for the app's token over the shared connection (the same token every time
until a token-change event); with no connection the cached token is handed over at once, and a first
registration waits until the phone is online (TN2265: no callback is not an error).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from apns_sim import courier
from device_sim.device import AppRecord
from device_sim.presentation import (
    ENTITLEMENTS,
    NOTIFICATION_TYPES,
    Presentation,
    RegistrationError,
    badge_after,
    missing_entitlement_error,
    present,
)

log = logging.getLogger("device_sim.app")
HISTORY = 100  # notifications kept per app (memory stays bounded for fleets)


@dataclass(frozen=True, kw_only=True)
class Notification:
    """One push as the app received it, with what the system presented."""

    apns_id: str  # lowercase canonical UUID ("" if the push carried none)
    bundle_id: str
    payload: Any  # the decoded JSON, or None if the payload was not JSON
    raw: bytes
    push_type: str | None
    priority: int | None
    from_storage: bool
    presentation: Presentation
    received_at: float

    def as_event(self) -> dict[str, Any]:
        return {"event": "notification", "bundle_id": self.bundle_id, "apns_id": self.apns_id,
                "payload": self.payload, "presented": self.presentation.as_json()}


class AppHost(Protocol):
    """The phone, as an app sees it."""

    async def _request_token(self, app: App) -> bytes | None: ...

    def _app_changed(self, app: App, *, filter_changed: bool) -> None: ...

    def _report(self, app: App, apns_id: str, stage: str, detail: dict[str, Any]) -> None: ...

    def _emit(self, event: dict[str, Any]) -> None: ...


class App:
    """An installed app. Create it with ``phone.install_app(...)``."""

    def __init__(self, host: AppHost, record: AppRecord, delegate: Any = None) -> None:
        self._host = host
        self._record = record
        self.delegate = delegate
        self.installed = True
        self._inbox: deque[Notification] = deque(maxlen=HISTORY)
        self.history: deque[Notification] = deque(maxlen=HISTORY)
        self._waiter: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def __repr__(self) -> str:
        return f"<App {self.bundle_id} {self.environment or 'no entitlement'} token={self.token and self.token[:12]}>"

    # -- what the app is -----------------------------------------------------------------------------

    @property
    def bundle_id(self) -> str:
        return self._record.bundle_id

    @property
    def environment(self) -> str | None:
        """The aps-environment entitlement: "development", "production" or None (push not enabled)."""
        return self._record.environment

    @property
    def courier_environment(self) -> str | None:
        """"sandbox" or "production": the APNs environment its tokens belong to."""
        return None if self._record.environment is None else ENTITLEMENTS[self._record.environment]

    @property
    def types(self) -> tuple[str, ...]:
        return self._record.types

    @property
    def token(self) -> str | None:
        return self._record.token

    @property
    def badge(self) -> int:
        """The number on the app icon (0 = no badge)."""
        return self._record.badge

    @property
    def registered(self) -> bool:
        return self._record.registered

    # -- registration --------------------------------------------------------------------------------

    async def register(self, timeout: float | None = None) -> str:
        """``registerForRemoteNotifications()``: the token as hex, also handed to the delegate.

        Raises RegistrationError (after ``did_fail...``) when the entitlement is missing, and TimeoutError
        if ``timeout`` passes with no connection to APNs.
        """
        if not self.installed:
            raise RuntimeError(f"{self.bundle_id} was uninstalled; install it again")
        if self.courier_environment is None:
            self._fail(missing_entitlement_error())
        first = not self._record.registered
        self._record.registered = True
        self._host._app_changed(self, filter_changed=first)
        try:
            token = await asyncio.wait_for(self._host._request_token(self), timeout)
        except RegistrationError as error:
            self._fail(error)
        if token is None:  # offline: the cached token, at once (§4)
            assert self._record.token is not None
            token_hex = self._record.token
        else:
            token_hex = token.hex()
            if token_hex != self._record.token:
                self._record.token = token_hex
                self._host._app_changed(self, filter_changed=False)
        self._call("did_register_for_remote_notifications", token_hex)
        self._host._emit({"event": "registered", "bundle_id": self.bundle_id, "token": token_hex,
                          "environment": self.courier_environment})
        return token_hex

    def _fail(self, error: RegistrationError) -> NoReturn:
        self._call("did_fail_to_register_for_remote_notifications", error)
        self._host._emit({"event": "registration_failed", "bundle_id": self.bundle_id, "error": error.as_json()})
        raise error

    # -- notifications -------------------------------------------------------------------------------

    async def next_notification(self, timeout: float | None = 10.0) -> Notification:
        """The oldest notification not yet taken; waits up to ``timeout`` seconds (TimeoutError)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not self._inbox:
            self._waiter = loop.create_future()
            remaining = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                await asyncio.wait_for(self._waiter, remaining)
            except TimeoutError:
                raise TimeoutError(f"no notification for {self.bundle_id} within {timeout} s") from None
            finally:
                self._waiter = None
        return self._inbox.popleft()

    def _receive(self, push: courier.Push) -> Notification:
        """The system hands the push to the app and presents it (the phone already acked it)."""
        try:
            payload: Any = json.loads(push.payload)
        except ValueError:
            payload = None
        presentation = present(payload, self.types, push_type=push.push_type)
        notification = Notification(
            apns_id=push.apns_id or "", bundle_id=self.bundle_id, payload=payload, raw=push.payload,
            push_type=push.push_type, priority=push.priority, from_storage=push.from_storage,
            presentation=presentation, received_at=time.time(),
        )
        if push.apns_id:
            self._host._report(self, push.apns_id, "handed_to_app", {"bundle_id": self.bundle_id})
        self._call("did_receive_remote_notification", payload)
        new_badge = badge_after(self._record.badge, presentation)
        if new_badge != self._record.badge:
            self._record.badge = new_badge
            self._host._app_changed(self, filter_changed=False)
        if push.apns_id:
            if presentation.presented:
                detail: dict[str, Any] = presentation.as_json()
                if presentation.why_not:
                    detail["partly_not_shown"] = list(presentation.why_not)
                self._host._report(self, push.apns_id, "presented", detail)
            else:
                self._host._report(self, push.apns_id, "not_presented", {"why": "; ".join(presentation.why_not)})
        self._inbox.append(notification)
        self.history.append(notification)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        self._host._emit(notification.as_event())
        return notification

    # -- delegate ------------------------------------------------------------------------------------

    def _call(self, method: str, *args: Any) -> None:
        callback = getattr(self.delegate, method, None)
        if callback is None:
            return
        try:
            result = callback(*args)
        except Exception:
            log.exception("%s: delegate %s raised", self.bundle_id, method)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


def check_types(types: Sequence[str]) -> tuple[str, ...]:
    """The registered notification types, checked and de-duplicated."""
    bad = [t for t in types if t not in NOTIFICATION_TYPES]
    if bad:
        raise ValueError(f"unknown notification type(s) {', '.join(bad)}: choose from alert, sound, badge")
    return tuple(dict.fromkeys(types))


__all__ = ["App", "Notification", "RegistrationError", "check_types"]
