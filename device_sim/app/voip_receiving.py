"""PushKit for an app on the simulated iPhone: its VoIP token and what the system does with a VoIP push
(docs/device-side.md §2.7, §6 rule 28, §7). The rules are :mod:`device_sim.rules.voip`'s; this module
sequences them. Apart from ``receiving`` because a VoIP push never meets the presentation rules, and like
it, it sees the phone only as ``app.host.AppHost`` (no import of ``app.app``).

The delegate methods (sync or async), named after PKPushRegistryDelegate's:

- ``push_registry_did_update_push_credentials(token_hex)``: the VoIP token, after ``register_voip()``;
- ``push_registry_did_receive_incoming_push(payload, completion)``: a VoIP push; the app must call
  ``app.report_new_incoming_call(...)`` (CallKit) before it is done, else the system terminates it;
- ``push_registry_did_invalidate_push_token()``: after ``unregister_voip()``.

A VoIP push is never displayed: its journey reads ``handed_to_app`` then ``not_presented`` with why (the
call reported, or the app terminated for not reporting one), or only ``not_presented`` once the system has
stopped VoIP pushes to the app.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
from collections import deque
from dataclasses import replace
from typing import Any

from apns_sim import courier
from device_sim.app.notification import Notification
from device_sim.app.receiving import PushReceiver
from device_sim.rules import background
from device_sim.rules.presentation import Presentation, missing_entitlement_error
from device_sim.rules.voip import VOIP, IncomingCall

log = logging.getLogger("device_sim.app")
CALL_HISTORY = 100  # reported calls kept per app


class _PendingPush:
    """A VoIP push handed to the app whose CallKit report is not judged yet."""

    __slots__ = ("decided", "handled", "notification", "reported")

    def __init__(self, notification: Notification, handled: bool) -> None:
        self.notification = notification
        self.handled = handled  # the app has a PushKit delegate method to take it
        self.reported = False
        self.decided = False


class PushKitReceiver(PushReceiver):
    """The PushKit part of an app (the base of :class:`device_sim.app.App`, over :class:`PushReceiver`)."""

    installed: bool
    _voip_pending: list[_PendingPush]
    _calls: deque[IncomingCall]

    def _init_pushkit(self) -> None:
        self._voip_pending = []
        self._calls = deque(maxlen=CALL_HISTORY)

    @property
    def voip_token(self) -> str | None:
        """The PushKit (VoIP) token as hex: not the APNs token (rule 28)."""
        return self._record.voip_token

    @property
    def voip_registered(self) -> bool:
        """The app's PKPushRegistry wants VoIP pushes (``desiredPushTypes = [.voIP]``)."""
        return self._record.voip_registered

    @property
    def voip_failures(self) -> int:
        """How many VoIP pushes the app failed to report to CallKit (rule 28)."""
        return self._record.voip_failures

    @property
    def voip_stopped(self) -> bool:
        """The system no longer hands VoIP pushes to the app (too many failures)."""
        return not self._rules.voip.accepts(self._record.voip_failures)

    @property
    def calls(self) -> tuple[IncomingCall, ...]:
        """The calls the app reported to CallKit, oldest first."""
        return tuple(self._calls)

    # -- PKPushRegistry --------------------------------------------------------------------------------

    async def register_voip(self, timeout: float | None = None) -> str:
        """``PKPushRegistry.desiredPushTypes = [.voIP]``: the VoIP token as hex, also handed to
        ``push_registry_did_update_push_credentials``.

        The phone adds ``<bundle>.voip`` to its filter and asks APNs for a token for that topic. The same
        ``aps-environment`` entitlement governs PushKit (§2.7): without it this raises RegistrationError
        (PushKit has no failure callback, so the delegate hears nothing). TimeoutError if ``timeout`` passes
        with no connection to APNs; offline with a token from before, that token at once.
        """
        if not self.installed:
            raise RuntimeError(f"{self.bundle_id} was uninstalled; install it again")
        if self._record.environment is None:
            raise missing_entitlement_error()
        first = not self._record.voip_registered
        self._record.voip_registered = True
        self._host._app_changed(self, filter_changed=first)
        token = await asyncio.wait_for(self._host._request_token(self, voip=True), timeout)
        if token is None:  # offline: the cached token, at once
            assert self._record.voip_token is not None
            token_hex = self._record.voip_token
        else:
            token_hex = token.hex()
            if token_hex != self._record.voip_token:
                self._record.voip_token = token_hex
                self._host._app_changed(self, filter_changed=False)
        self._runner.call(self.delegate, "push_registry_did_update_push_credentials", token_hex)
        self._host._emit({"event": "voip_registered", "bundle_id": self.bundle_id, "token": token_hex,
                          "environment": self._record.environment})
        return token_hex

    def unregister_voip(self) -> None:
        """``desiredPushTypes = []``: the VoIP topic leaves the filter (APNs then retires the token, as for an
        uninstall) and the delegate hears ``push_registry_did_invalidate_push_token``."""
        if not self._record.voip_registered:
            return
        self._record.voip_registered = False
        self._record.voip_token = None  # registering again yields a new token: APNs retired this one
        self._host._app_changed(self, filter_changed=True)
        self._runner.call(self.delegate, "push_registry_did_invalidate_push_token")
        self._host._emit({"event": "voip_unregistered", "bundle_id": self.bundle_id})

    # -- CallKit -----------------------------------------------------------------------------------------

    def report_new_incoming_call(self, call_uuid: str | None = None, handle: str = "Unknown",
                                 has_video: bool = False) -> IncomingCall:
        """``CXProvider.reportNewIncomingCall``: the system shows the incoming call. It answers the oldest
        VoIP push still waiting for a report, which is what keeps the app from being terminated."""
        pending = next((p for p in self._voip_pending if not p.reported and not p.decided), None)
        if pending is not None:
            pending.reported = True
        call = IncomingCall(uuid=call_uuid or str(uuid.uuid4()).upper(), handle=handle, has_video=has_video,
                            apns_id=None if pending is None else pending.notification.apns_id,
                            reported_at=self._rules.clock())
        self._calls.append(call)
        self._host._emit({"event": "incoming_call", "bundle_id": self.bundle_id, "uuid": call.uuid,
                          "handle": handle, "has_video": has_video, "apns_id": call.apns_id})
        return call

    # -- a VoIP push arrives -----------------------------------------------------------------------------

    def receive_voip(self, push: courier.Push) -> Notification | None:
        """The system takes a VoIP push for the app (rule 28): straight to the app, launched if need be. The
        phone calls this for a push naming the app's VoIP token (``receive`` for its APNs token)."""
        notification = self._arrived(push, push.push_type or VOIP)
        if self.voip_stopped:
            why = self._rules.voip.stopped_why(self._record.voip_failures)
            if notification.apns_id:
                self._host._report(self, notification.apns_id, "not_presented", {"why": why, "push_type": VOIP})
            return self._deliver(replace(notification, presentation=Presentation(why_not=(why,)),
                                         handed_to_app=False))
        launched = self._state not in background.RUNNING  # not running, or force-quit: launched all the same (§7)
        if launched:
            self._set_state(background.BACKGROUND)
        if notification.apns_id:
            self._host._report(self, notification.apns_id, "handed_to_app",
                               {"bundle_id": self.bundle_id, "push_type": VOIP, "launched": launched})
        method = getattr(self.delegate, "push_registry_did_receive_incoming_push", None)
        pending = _PendingPush(notification, handled=method is not None)
        self._voip_pending.append(pending)
        if method is None:
            return self._voip_done(pending)

        def completion() -> None:  # the handler's completion: calling it says the app is done with the push
            self._voip_done(pending)

        result = self._runner.guard(method, notification.payload, completion)
        if inspect.isawaitable(result):
            self._runner.spawn(self._voip_within_limit(pending, result))
            return None
        return self._voip_done(pending)

    async def _voip_within_limit(self, pending: _PendingPush, handler: Any) -> None:
        limit = self._rules.voip.report_time_limit
        try:
            await asyncio.wait_for(handler, limit)
        except TimeoutError:
            log.info("%s: PushKit handler still running after %s s", self.bundle_id, limit)
        except Exception:
            log.exception("%s: PushKit handler raised", self.bundle_id)
        self._voip_done(pending)

    def _voip_done(self, pending: _PendingPush) -> Notification | None:
        """The handler is done: judge the CallKit report once, terminate the app if there was none."""
        if pending.decided:
            return None
        pending.decided = True
        self._voip_pending.remove(pending)
        outcome = self._rules.voip.decide(self._record.voip_failures, reported=pending.reported,
                                          handled=pending.handled)
        if outcome.failures != self._record.voip_failures:
            self._record.voip_failures = outcome.failures
            self._host._app_changed(self, filter_changed=False)
        if outcome.terminated:
            self._host._emit({"event": "app_terminated", "bundle_id": self.bundle_id, "why": outcome.why})
            self._set_state(background.NOT_RUNNING)
        if outcome.stopped:
            self._host._emit({"event": "voip_pushes_stopped", "bundle_id": self.bundle_id,
                              "failures": outcome.failures})
        notification = pending.notification
        if notification.apns_id:
            detail: dict[str, Any] = {"why": outcome.why, "push_type": VOIP, "call_reported": pending.reported}
            if outcome.terminated:
                detail["terminated"] = True
            self._host._report(self, notification.apns_id, "not_presented", detail)
        return self._deliver(replace(notification, presentation=Presentation(why_not=(outcome.why,))))


__all__ = ["PushKitReceiver"]
