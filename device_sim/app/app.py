"""An app on the simulated iPhone: registration, permission, states, delegate callbacks (docs/device-side.md
§2, §4, §6).

The delegate is any object with some of these methods (sync or async), named after the iOS ones:

- ``did_register_for_remote_notifications(token_hex)``, ``did_fail_to_register_for_remote_notifications(error)``
- ``did_receive_remote_notification(payload)`` (legacy), or its fetch variant
  ``did_receive_remote_notification_fetch(payload) -> "new_data" | "no_data" | "failed"`` (called instead when
  defined, as iOS does, and the one background pushes wake)
- ``did_finish_launching(launch_options)`` (a tap launched the app)
- UNUserNotificationCenterDelegate: ``will_present(notification) -> options`` and
  ``did_receive_notification_response(response)``; the object that has them is the app's ``center_delegate``.

Registration follows docs/device-side.md §6 rules 8-10: no ``aps-environment`` entitlement fails with
NSCocoaErrorDomain 3000; otherwise the phone asks APNs for the app's token over the shared connection (the
same token every time until a token-change event); with no connection the cached token is handed over at
once, and a first registration waits until the phone is online (TN2265) or fails, as the phone's knob says.

What happens to an arriving push (permission, foreground, background throttling, the service extension) is
in ``device_sim.app.receiving``, this class's base; PushKit (the VoIP token, VoIP pushes, CallKit reports,
rule 28) is in ``device_sim.app.voip_receiving``, the base in between; running the app's code (sync or
async, guarded) is ``device_sim.app.delegate``'s. The phone calls ``receive`` / ``receive_voip`` for a push
it accepted. Those modules see the phone as ``AppHost`` (``device_sim.app.host``) and never this module,
so the chain has no import circle.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Any, NoReturn

from device_sim.app.delegate import DelegateRunner
from device_sim.app.host import AppHost, PhoneRules
from device_sim.app.notification import LAUNCH_OPTIONS_REMOTE_NOTIFICATION, Notification, NotificationResponse
from device_sim.app.receiving import AppConfig
from device_sim.app.voip_receiving import PushKitReceiver
from device_sim.identity.store import AppRecord
from device_sim.rules import authorization as auth
from device_sim.rules import background, registration
from device_sim.rules.presentation import (
    ENTITLEMENTS,
    NOTIFICATION_TYPES,
    RegistrationError,
    missing_entitlement_error,
    simulator_error,
)
from pushsim_i18n import Domain

_ = Domain("device_sim").gettext
HISTORY = 100  # notifications kept per app (memory stays bounded for fleets)


class App(PushKitReceiver):
    """An installed app. Create it with ``phone.install_app(...)``."""

    _host: AppHost[App]  # the phone; its callbacks take this app (the bases see AppHost[Any])

    def __init__(self, host: AppHost[App], record: AppRecord, delegate: Any = None, *, config: AppConfig | None = None,
                 rules: PhoneRules | None = None, authorization: auth.Authorization | None = None,
                 state: str = background.BACKGROUND, center_delegate: Any = None) -> None:
        self._host = host
        self._record = record
        self.delegate = delegate
        self._center_delegate = center_delegate
        self.config = config or AppConfig()
        self._rules = rules or PhoneRules()
        self._authorization = authorization or auth.Authorization()
        if record.modern_api is None:  # a device.json from before the field (see AppRecord.modern_api)
            record.modern_api = self._authorization.status == auth.PROVISIONAL
        self._state = background.check_state(state)
        self._throttle: background.BackgroundThrottle[Notification] = background.BackgroundThrottle(
            self._rules.background_budget, under_xcode=self._rules.under_xcode)
        self.installed = True
        self._inbox: deque[Notification] = deque(maxlen=HISTORY)
        self.history: deque[Notification] = deque(maxlen=HISTORY)
        self._delivered: list[Notification] = []
        self._waiter: asyncio.Future[None] | None = None
        self._runner = DelegateRunner(record.bundle_id)
        self._init_pushkit()

    def __repr__(self) -> str:
        return f"<App {self.bundle_id} {self.environment or 'no entitlement'} token={self.token and self.token[:12]}>"

    # -- what the app is -----------------------------------------------------------------------------

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
    def delivered_notifications(self) -> tuple[Notification, ...]:
        """What Notification Center shows for the app, oldest first (``getDeliveredNotifications``): a push
        sharing an earlier one's apns-collapse-id has replaced it; a tapped one is gone."""
        return tuple(self._delivered)

    def remove_all_delivered_notifications(self) -> None:
        """``removeAllDeliveredNotifications``: clear the app's notifications from Notification Center."""
        self._delivered.clear()

    @property
    def registered(self) -> bool:
        return self._record.registered

    @property
    def authorization(self) -> auth.Authorization:
        """The user's answer so far (``status`` "not_determined" until the first request)."""
        return self._authorization

    @property
    def state(self) -> str:
        """"not_running", "background", "foreground" or "force_quit" (rule 16)."""
        return self._state

    @property
    def held_background_push(self) -> Notification | None:
        """The background push the throttle is holding until launch (rule 21), if any."""
        return self._throttle.held

    # -- permission (rule 24) --------------------------------------------------------------------------

    async def request_authorization(self, options: Sequence[str] = ("alert", "sound", "badge"),
                                    provisional: bool = False) -> bool:
        """``requestAuthorization(options:)``: the first call prompts (the preset answer), later ones don't."""
        if not self._record.modern_api:
            self._record.modern_api = True  # saved: the app stays a modern one across restarts (rule 17)
            self._host._app_changed(self, filter_changed=False)
        return self._authorize(options, provisional=provisional)

    def _authorize(self, options: Sequence[str], *, provisional: bool) -> bool:
        decision = auth.request(self._authorization, options, provisional=provisional,
                                user_response=self.config.user_response)
        if decision.prompted:
            self._host._emit({"event": "authorization_prompt", "bundle_id": self.bundle_id,
                              "options": list(auth.check_options(options)), "answer": self.config.user_response})
        if decision.authorization != self._authorization:
            self._authorization = decision.authorization
            self._host._app_changed(self, filter_changed=False)
        self._host._emit({"event": "authorization", "bundle_id": self.bundle_id, "granted": decision.granted,
                          "prompted": decision.prompted, **self._authorization.as_json()})
        return decision.granted

    # -- registration --------------------------------------------------------------------------------

    async def register(self, timeout: float | None = None) -> str:
        """``registerForRemoteNotifications()``: the token as hex, also handed to the delegate.

        An app that never called ``request_authorization`` is a legacy app: registering also asks for its
        install-time ``types`` (one prompt, answered as preset). Raises RegistrationError (after
        ``did_fail...``) when the entitlement is missing or the phone's knobs say so, and TimeoutError if
        ``timeout`` passes with no connection to APNs.
        """
        if not self.installed:
            raise RuntimeError(f"{self.bundle_id} was uninstalled; install it again")
        if not self._asked and not self._authorization.determined:
            self._authorize(self.types, provisional=False)  # registerForRemoteNotificationTypes: (§2.1)
        if self.config.fail_registration_with is not None:  # the learner's knob: iOS's own error for the code
            self._fail(registration.failure(self.config.fail_registration_with))
        if self._rules.legacy_simulator:
            self._fail(simulator_error())
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
        self._runner.call(self.delegate, "did_register_for_remote_notifications", token_hex)
        self._host._emit({"event": "registered", "bundle_id": self.bundle_id, "token": token_hex,
                          "environment": self.courier_environment})
        return token_hex

    def _fail(self, error: RegistrationError) -> NoReturn:
        self._runner.call(self.delegate, "did_fail_to_register_for_remote_notifications", error)
        self._host._emit({"event": "registration_failed", "bundle_id": self.bundle_id, "error": error.as_json()})
        raise error

    # -- the user's actions on the app (rules 16, 19, 23) -----------------------------------------------------

    def launch(self) -> None:
        """The user opens the app: foreground; ends a force-quit; hands over a held background push (§2.4).
        On a locked phone the user unlocks it first (Face ID), as iOS asks before opening an app."""
        if self._rules.switches.locked:
            self._rules.switches.locked = False
            self._host._emit({"event": "unlocked"})
        self._set_state(background.FOREGROUND)
        held = self._throttle.take_held()
        if held is not None:
            self._host._emit({"event": "held_push_delivered", "bundle_id": self.bundle_id, "apns_id": held.apns_id})
            self._run_fetch(held.payload)

    def _restored(self) -> None:
        """The phone was restored from a backup (rule 29): the tokens belonged to the old push identity, so the
        app learns new ones only at its next registration; the phone restarted, so the app is not running and
        Notification Center and any held background push are gone. Settings and permission stay."""
        self._record.token = None
        self._record.voip_token = None
        self._delivered.clear()
        self._throttle.discard_held()
        self._set_state(background.NOT_RUNNING)

    def move_to_background(self) -> None:
        """The user leaves the app: it is suspended in the background."""
        if self._state == background.FOREGROUND:
            self._set_state(background.BACKGROUND)

    def force_quit(self) -> None:
        """The user swipes the app away: no background launches until the next ``launch()`` (rule 23)."""
        dropped = self._throttle.discard_held()
        if dropped is not None:
            self._host._emit({"event": "held_push_discarded", "bundle_id": self.bundle_id,
                              "apns_id": dropped.apns_id})
        self._set_state(background.FORCE_QUIT)

    async def tap(self, notification: Notification) -> None:
        """The user taps a shown notification (rule 19): the app comes to the foreground, then
        ``center_delegate.did_receive_notification_response`` (modern) or, legacy,
        ``did_receive_remote_notification`` or its fetch variant, once (app was running) /
        ``did_finish_launching`` with the payload under ``UIApplicationLaunchOptionsRemoteNotificationKey``
        (app was not running). They get the notification as shown (after a service extension): the tap acts
        on the delivered notification, whose content is the extension's; on arrival the app delegate gets
        the push as APNs sent it, since the extension only changes what is displayed (§2.2)."""
        if notification.bundle_id != self.bundle_id:
            raise ValueError(f"that notification belongs to {notification.bundle_id}, not {self.bundle_id}")
        if notification.presentation.alert is None:
            why = "; ".join(notification.presentation.why_not) or "no alert"
            raise ValueError(f"nothing to tap: no alert was shown ({why})")
        launched = self._state not in background.RUNNING
        # Tapping opens the app and takes the notification out of Notification Center, as iOS does.
        self._delivered[:] = [n for n in self._delivered if n.apns_id != notification.apns_id or not n.apns_id]
        self.launch()
        self._host._emit({"event": "tapped", "bundle_id": self.bundle_id, "apns_id": notification.apns_id})
        if launched:
            await self._runner.call_now(self.delegate, "did_finish_launching",
                                       {LAUNCH_OPTIONS_REMOTE_NOTIFICATION: notification.payload})
        center = self.center_delegate
        if center is not None and hasattr(center, "did_receive_notification_response"):
            await self._runner.call_now(center, "did_receive_notification_response",
                                        NotificationResponse(notification=notification))
        elif not launched:
            # A suspended app ran no code when the alert arrived (rule 18), so this is its one call for it; the
            # fetch variant, when the delegate has it, replaces the legacy method here too (§2.1).
            fetch = hasattr(self.delegate, "did_receive_remote_notification_fetch")
            method = "did_receive_remote_notification_fetch" if fetch else "did_receive_remote_notification"
            await self._runner.call_now(self.delegate, method, notification.payload)


def check_types(types: Sequence[str]) -> tuple[str, ...]:
    """The registered notification types, checked and de-duplicated."""
    bad = [t for t in types if t not in NOTIFICATION_TYPES]
    if bad:
        raise ValueError(_("unknown notification type(s) {types}: choose from alert, sound, badge").format(
            types=", ".join(bad)))
    return tuple(dict.fromkeys(types))


__all__ = ["App", "AppConfig", "Notification", "NotificationResponse", "PhoneRules", "RegistrationError",
           "check_types"]
