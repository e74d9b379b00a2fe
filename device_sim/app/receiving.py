"""What the simulated iPhone does with a push for an app (docs/device-side.md §2.2-§2.6, §6 rules 17-21,
23-25, 27).

A push goes one of three ways: a background push (``content-available`` only) meets the background rules
(mode, force-quit, throttle) and may wake the fetch handler; a push the Notification Service Extension
applies to goes through it first; then the system decides what to show (permission, the foreground's
``willPresent``) and reports each stage to the simulator's journey, with the reason when nothing shows.
The decisions are pure code (``rules.authorization``, ``rules.background``, ``rules.presentation``,
``app.service_extension``); this module sequences them and picks which app code runs, which
``app.delegate`` then runs.

:class:`device_sim.app.App` builds on :class:`PushReceiver` (PushKit's part, ``voip_receiving``, in
between). The phone is seen only through ``app.host.AppHost``, so this module never imports ``app.app``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

from apns_sim import courier
from device_sim.app.delegate import DelegateRunner
from device_sim.app.host import AppHost, PhoneRules
from device_sim.app.notification import Notification
from device_sim.app.service_extension import DEFAULT_TIME_LIMIT, extension_applies, run_extension
from device_sim.identity.store import AppRecord
from device_sim.rules import authorization as auth
from device_sim.rules import background, registration
from device_sim.rules.presentation import (
    NOTIFICATION_TYPES,
    Presentation,
    badge_after,
    check_presentation_options,
    denied,
    in_foreground_legacy,
    on_lock_screen,
    present,
    provisional,
    under_switches,
    with_options,
)

log = logging.getLogger("device_sim.app")
_CENTER_METHODS = ("will_present", "did_receive_notification_response")
BACKGROUND_NOTHING_TO_SHOW = "background notification: handed to the app, nothing to show"
DELIVERED_LIMIT = 64  # [sim] alerts Notification Center keeps per app; iOS's own limit is unpublished


@dataclass(frozen=True, kw_only=True)
class AppConfig:
    """What an app is built with and what its user will answer (install-time knobs)."""

    user_response: str = "allow"  # the answer the user gives when the permission prompt appears (rule 24)
    background_mode: bool = False  # UIBackgroundModes has remote-notification (rule 20)
    service_extension: Any = None  # a Notification Service Extension (rule 27)
    service_extension_time_limit: float = DEFAULT_TIME_LIMIT
    fetch_time_limit: float = 30.0  # the fetch handler's wall-clock budget (§2.2)
    critical_alerts: bool = False  # the critical-alerts entitlement, and the user allowed them (rule 26)
    time_sensitive: bool = True  # the Time Sensitive Notifications capability (rule 26)
    # Make every registration fail with this NSError code (3000, 3010), as iOS would (docs/device-side.md §4).
    fail_registration_with: int | None = None

    def __post_init__(self) -> None:
        auth.check_user_response(self.user_response)
        if self.fail_registration_with is not None:
            registration.check_code(self.fail_registration_with)


class PushReceiver:
    """The part of an app the system drives when a push arrives (the base of :class:`device_sim.app.App`)."""

    _host: AppHost[Any]  # App narrows it to AppHost[App]; here the app passes itself
    _record: AppRecord
    delegate: Any
    _center_delegate: Any
    config: AppConfig
    _rules: PhoneRules
    _authorization: auth.Authorization
    _state: str
    _throttle: background.BackgroundThrottle[Notification]
    _inbox: deque[Notification]
    history: deque[Notification]
    _delivered: list[Notification]  # what Notification Center shows for this app, oldest first
    _waiter: asyncio.Future[None] | None
    _runner: DelegateRunner  # runs the app's code (device_sim.app.delegate)

    @property
    def bundle_id(self) -> str:
        return self._record.bundle_id

    @property
    def _asked(self) -> bool:
        """The app called requestAuthorization: it uses the modern API (kept in its record, so it survives a
        phone restart and a reinstall's kept permission does not make a legacy app modern)."""
        return bool(self._record.modern_api)

    @property
    def center_delegate(self) -> Any:
        """The UNUserNotificationCenter delegate: set explicitly, else ``delegate`` if it has its methods."""
        if self._center_delegate is not None:
            return self._center_delegate
        if any(hasattr(self.delegate, m) for m in _CENTER_METHODS):
            return self.delegate
        return None

    @center_delegate.setter
    def center_delegate(self, value: Any) -> None:
        self._center_delegate = value

    def _allowed_types(self) -> tuple[str, ...]:
        if self._authorization.status in (auth.AUTHORIZED, auth.PROVISIONAL):
            return self._authorization.options
        if self._authorization.status == auth.DENIED:
            return ()
        return self._record.types  # never asked (an app restored from an older state file): its registered types

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self._host._emit({"event": "app_state", "bundle_id": self.bundle_id, "state": state})
            self._host._status_changed(self)  # [sim] the dashboard shows the app's state

    async def tap(self, notification: Notification) -> None:
        """The user taps a shown notification: :meth:`device_sim.app.App.tap` (a notification keeps its app
        to tap it through)."""
        raise NotImplementedError

    async def wait_idle(self, timeout: float | None = 10.0) -> None:
        """Wait for work still running on the phone for this app (service extension, async delegate calls)."""
        await self._runner.wait_idle(timeout)

    # -- notifications -------------------------------------------------------------------------------

    async def next_notification(self, timeout: float | None = 10.0) -> Notification:
        """The oldest notification not yet taken; waits up to ``timeout`` seconds (TimeoutError).

        Every push the phone accepted for the app arrives here once, shown or not (``presentation.why_not``).
        """
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

    def _arrived(self, push: courier.Push, push_type: str | None) -> Notification:
        """The push as the app will see it, nothing presented yet (the payload decoded, None if not JSON)."""
        try:
            payload: Any = json.loads(push.payload)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes (issue 14)
            payload = None
        return Notification(
            apns_id=push.apns_id or "", bundle_id=self.bundle_id, payload=payload, raw=push.payload,
            push_type=push_type, priority=push.priority, collapse_id=push.collapse_id,
            from_storage=push.from_storage, presentation=Presentation(), received_at=self._rules.clock(),
            _app=self)

    def receive(self, push: courier.Push) -> Notification | None:
        """The system takes a push for the app (the phone already acked it; a VoIP push goes to
        ``receive_voip``). Returns the notification, or None while a service extension or an async
        ``will_present`` is still deciding."""
        notification = self._arrived(push, push.push_type)
        payload = notification.payload
        if background.is_background_push(payload, push.push_type):
            return self._background(notification)
        if self.config.service_extension is not None and extension_applies(
                payload, alerts_allowed="alert" in self._allowed_types()):
            self._runner.spawn(self._after_extension(notification))
            return None
        return self._present(notification)

    async def _after_extension(self, notification: Notification) -> None:
        result = await run_extension(self.config.service_extension, notification.payload,
                                     self.config.service_extension_time_limit)
        self._host._emit({"event": "service_extension", "bundle_id": self.bundle_id,
                          "apns_id": notification.apns_id, "outcome": result.outcome, "modified": result.modified})
        self._present(replace(notification, payload=result.payload, original_payload=notification.payload,
                              extension_outcome=result.outcome))

    def _present(self, notification: Notification) -> Notification | None:
        """What the system shows (§2.3): permission first, then the foreground rules (rule 17)."""
        shown = present(notification.payload, self._allowed_types(), push_type=notification.push_type)
        if self._authorization.status == auth.DENIED:
            shown = denied(shown)
        elif self._authorization.status == auth.PROVISIONAL:
            shown = provisional(shown)
        shown = under_switches(shown, self._rules.switches, critical_allowed=self.config.critical_alerts,
                               time_sensitive_allowed=self.config.time_sensitive)
        shown = on_lock_screen(shown, self._rules.switches)
        visible = present(notification.payload, NOTIFICATION_TYPES, push_type=notification.push_type).presented
        if self._state == background.FOREGROUND and visible:  # willPresent sees it even when not allowed (§2.3)
            center = self.center_delegate
            if center is not None:  # modern: willPresent decides; a delegate without it means "none"
                method = getattr(center, "will_present", None)
                options: Any = None if method is None else self._runner.guard(method, replace(notification,
                                                                                       presentation=shown))
                if inspect.isawaitable(options):
                    self._runner.spawn(self._after_will_present(notification, shown, options))
                    return None
                return self._finish(notification, self._apply(shown, options))
            if not self._asked:  # legacy API: the app is in front and shows its own UI (§2.1)
                shown = in_foreground_legacy(shown)
            # modern API with no center delegate at all: the notification's own options (§2.2)
        return self._finish(notification, shown)

    async def _after_will_present(self, notification: Notification, shown: Presentation, pending: Any) -> None:
        try:
            options = await pending
        except Exception:
            log.exception("%s: will_present raised", self.bundle_id)
            options = None
        self._finish(notification, self._apply(shown, options))

    def _apply(self, shown: Presentation, options: Any) -> Presentation:
        try:
            chosen = check_presentation_options(options)
        except (TypeError, ValueError) as exc:
            log.warning("%s: will_present returned %r (%s): showing nothing", self.bundle_id, options, exc)
            chosen = frozenset()
        return with_options(shown, chosen)

    def _finish(self, notification: Notification, shown: Presentation) -> Notification:
        notification = replace(notification, presentation=shown)
        if notification.apns_id:
            self._host._report(self, notification.apns_id, "handed_to_app", {"bundle_id": self.bundle_id})
        if self._state in background.RUNNING:  # app code runs only in a running app (§2.1-2.2)
            original = notification.payload if notification.original_payload is None else notification.original_payload
            self._call_receive(original)  # the app gets what APNs sent; the extension only changed the display
        new_badge = badge_after(self._record.badge, shown)
        if new_badge != self._record.badge:
            self._record.badge = new_badge
            self._host._app_changed(self, filter_changed=False)
        replaced = self._show(notification) if shown.alert is not None else None
        if notification.apns_id:
            if shown.presented:
                detail: dict[str, Any] = shown.as_json()
                detail["where"] = shown.where
                if replaced is not None:
                    detail["replaces"] = replaced.apns_id
                if shown.why_not:
                    detail["partly_not_shown"] = list(shown.why_not)
                if notification.extension_outcome is not None:
                    detail["service_extension"] = notification.extension_outcome
                self._host._report(self, notification.apns_id, "presented", detail)
            else:
                self._host._report(self, notification.apns_id, "not_presented", {"why": "; ".join(shown.why_not)})
        return self._deliver(notification)

    def _show(self, notification: Notification) -> Notification | None:
        """Put a shown alert in Notification Center; one sharing its collapse id is replaced, not added
        (apns-protocol.md §11: notifications sharing apns-collapse-id are shown as one). Returns the replaced one."""
        replaced = None
        if notification.collapse_id is not None:
            for i, earlier in enumerate(self._delivered):
                if earlier.collapse_id == notification.collapse_id:
                    replaced = self._delivered.pop(i)
                    break
        self._delivered.append(notification)
        if len(self._delivered) > DELIVERED_LIMIT:
            del self._delivered[0]
        return replaced

    def _background(self, notification: Notification) -> Notification:
        """A background push (rules 20, 21, 23): wake the app, hold it, or drop it."""
        decision = self._throttle.decide(notification, state=self._state, background_mode=self.config.background_mode,
                                         now=self._rules.clock())
        if decision.action == background.DELIVER:
            shown = Presentation(why_not=(BACKGROUND_NOTHING_TO_SHOW,))
            notification = replace(notification, presentation=shown)
            if notification.apns_id:
                self._host._report(self, notification.apns_id, "handed_to_app", {"bundle_id": self.bundle_id})
                self._host._report(self, notification.apns_id, "not_presented",
                                   {"why": BACKGROUND_NOTHING_TO_SHOW})
            if self._state not in background.RUNNING:  # launched into the background for it (§2.3)
                self._set_state(background.BACKGROUND)
            self._run_fetch(notification.payload)
            return self._deliver(notification)
        held = decision.action == background.HOLD
        notification = replace(notification, presentation=Presentation(why_not=(decision.why,)), handed_to_app=False,
                               held=held)
        if held:
            self._throttle.held = notification  # the value the app reads back (same push, with its reason)
        if notification.apns_id:
            detail: dict[str, Any] = {"why": decision.why}
            if held:
                detail["held"] = True
            self._host._report(self, notification.apns_id, "not_presented", detail)
        return self._deliver(notification)

    def _deliver(self, notification: Notification) -> Notification:
        self._inbox.append(notification)
        self.history.append(notification)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        self._host._emit(notification.as_event())
        return notification

    # -- the app's code for an arriving push ---------------------------------------------------------

    def _call_receive(self, payload: Any) -> None:
        """App code for a push that is not a pure background push, while the app runs (rules 17, 18).

        In the foreground: the fetch variant when the delegate has it (iOS then skips the legacy method), else
        ``did_receive_remote_notification`` (§2.1: called at once, the app shows its own UI). A suspended app
        runs no code for it (§2.3: the system presents it; the app hears of it when the user taps), unless
        ``content-available: 1`` with the background mode wakes the fetch variant (§2.2); the legacy method
        cannot be woken, it has no completion handler to end the background run.
        """
        fetch = hasattr(self.delegate, "did_receive_remote_notification_fetch")
        if self._state == background.FOREGROUND:
            if fetch:
                self._run_fetch(payload)
            else:
                self._runner.call(self.delegate, "did_receive_remote_notification", payload)
            return
        aps = payload.get("aps") if isinstance(payload, dict) else None
        if fetch and isinstance(aps, dict) and aps.get("content-available") == 1 and self.config.background_mode:
            self._run_fetch(payload)

    def _run_fetch(self, payload: Any) -> None:
        """The background fetch handler, with its wall-clock budget: overrun and the app is killed (§2.2)."""
        callback = getattr(self.delegate, "did_receive_remote_notification_fetch", None)
        if callback is None:
            self._runner.call(self.delegate, "did_receive_remote_notification", payload)
            return
        result = self._runner.guard(callback, payload)
        if inspect.isawaitable(result):
            self._runner.spawn(self._fetch_within_budget(result))

    async def _fetch_within_budget(self, pending: Any) -> None:
        try:
            await asyncio.wait_for(pending, self.config.fetch_time_limit)
        except TimeoutError:
            log.info("%s: fetch handler overran %s s; the system terminates the app", self.bundle_id,
                     self.config.fetch_time_limit)
            self._host._emit({"event": "app_terminated", "bundle_id": self.bundle_id,
                              "why": f"fetch handler overran {self.config.fetch_time_limit} s"})
            self._set_state(background.NOT_RUNNING)
        except Exception:
            log.exception("%s: fetch handler raised", self.bundle_id)


__all__ = ["AppConfig", "PushReceiver"]
