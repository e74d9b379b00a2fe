"""Routing and store-and-forward: from an accepted request to the phone's courier connection.

Pure policy (no asyncio): the gateway attaches a ``send`` callable per online phone and environment, and
this module decides what to write, what to store and what to drop. Apple's rules (apns-protocol.md §11,
device-side.md §1.10): one stored notification per app per device (the latest replaces the earlier), kept
until ``apns-expiration`` or the storage limit; ``apns-expiration: 0`` is one attempt, never stored; a phone
that refuses a push for an app it no longer has makes its token answer 410 after a delay.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from apns_sim import events
from apns_sim.clock import Clock
from apns_sim.events import JourneyLog
from apns_sim.registry import Registry

DEFAULT_STORAGE_LIMIT = 30 * 24 * 3600  # Apple: "up to 30 days" (apns-protocol.md §11)


@dataclass(frozen=True, kw_only=True)
class PushMessage:
    """An accepted notification on its way to a phone."""

    apns_id: str
    token: str
    device_id: str
    bundle_id: str
    topic: str
    environment: str
    payload: bytes
    push_type: str
    priority: int
    expiration: int | None  # UNIX seconds; 0 = one attempt only; None = the storage limit
    collapse_id: str | None
    accepted_at: float

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["payload"] = self.payload.decode("utf-8", "replace")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PushMessage:
        values = dict(data)
        values["payload"] = str(values["payload"]).encode()
        return cls(**values)


Sender = Callable[[PushMessage], None]


@dataclass(frozen=True, kw_only=True)
class DeliveryConfig:
    storage_limit: float = DEFAULT_STORAGE_LIMIT
    # Apple delays the 410 on purpose (days are normal); 0 makes demos and CI immediate. A knob.
    unregister_delay: float = 0.0


class Delivery:
    """Decides, for each accepted notification, deliver now, store, or drop; tracks what is in flight."""

    def __init__(self, registry: Registry, journeys: JourneyLog, clock: Clock,
                 config: DeliveryConfig | None = None) -> None:
        self.registry = registry
        self.journeys = journeys
        self.clock = clock
        self.config = config or DeliveryConfig()
        self._online: dict[tuple[str, str], Sender] = {}
        # Written to a phone but not acknowledged yet; stored again if the connection drops (nothing lost).
        self._in_flight: dict[tuple[str, str], dict[str, PushMessage]] = {}

    # -- phones coming and going ---------------------------------------------------------------------

    def is_online(self, device_id: str, environment: str) -> bool:
        return (device_id, environment) in self._online

    def online(self) -> list[tuple[str, str]]:
        return list(self._online)

    def attach(self, device_id: str, environment: str, send: Sender) -> None:
        """A phone connected: flush what was stored for it, oldest first, then deliver live."""
        key = (device_id, environment)
        self._online[key] = send
        self._in_flight.setdefault(key, {})
        for data in self.registry.take_stored(device_id, environment):
            message = PushMessage.from_json(data)
            if self._expired(message):
                self.journeys.add(message.apns_id, events.EXPIRED, detail="expired while the phone was offline")
                continue
            self._write(key, message, from_storage=True)

    def detach(self, device_id: str, environment: str) -> None:
        """A phone went away: whatever it did not acknowledge goes back to storage."""
        key = (device_id, environment)
        self._online.pop(key, None)
        for message in self._in_flight.pop(key, {}).values():
            self._store(message, note="not acknowledged before the connection closed")

    # -- notifications -------------------------------------------------------------------------------

    def submit(self, message: PushMessage) -> str:
        """Route one accepted notification; returns "delivered", "stored" or "discarded"."""
        key = (message.device_id, message.environment)
        if key in self._online:
            self._write(key, message, from_storage=False)
            return events.DELIVERED
        if message.expiration == 0:
            self.journeys.add(message.apns_id, events.DISCARDED,
                              detail="apns-expiration 0 and the phone is offline: one attempt, never stored")
            return events.DISCARDED
        self._store(message, note="the phone is offline")
        return events.STORED

    def acknowledged(self, device_id: str, environment: str, apns_id: str, ok: bool) -> None:
        """The phone answered a push: 0 = taken; non-zero = no app for that topic (device-side §6 rule 13)."""
        message = self._in_flight.get((device_id, environment), {}).pop(apns_id, None)
        if ok:
            self.journeys.add(apns_id, events.ACKNOWLEDGED)
            return
        self.journeys.add(apns_id, events.REFUSED, detail="the app is not installed on the phone")
        if message is not None:
            now = self.clock.now()
            later = now + timedelta(seconds=self.config.unregister_delay)
            self.registry.mark_uninstalled(message.token, now, later)

    def report(self, apns_id: str, stage: str, detail: dict[str, Any]) -> None:
        """The phone's account of what its app did with a notification (handed over, presented or not)."""
        self.journeys.add(apns_id, stage, **detail)

    # -- internals -----------------------------------------------------------------------------------

    def _expired(self, message: PushMessage) -> bool:
        now = self.clock.time()
        if message.expiration:
            return message.expiration < now
        return now - message.accepted_at > self.config.storage_limit

    def _write(self, key: tuple[str, str], message: PushMessage, *, from_storage: bool) -> None:
        self._in_flight[key][message.apns_id] = message
        self.journeys.add(message.apns_id, events.DELIVERED, device_id=message.device_id,
                          from_storage=from_storage)
        self._online[key](message)

    def _store(self, message: PushMessage, *, note: str) -> None:
        if message.expiration == 0 or self._expired(message):
            self.journeys.add(message.apns_id, events.DISCARDED, detail=note)
            return
        replaced = self.registry.store(message.device_id, message.bundle_id, message.environment,
                                       message.apns_id, message.to_json(), self.clock.now())
        self.journeys.add(message.apns_id, events.STORED, detail=note)
        if replaced is not None and replaced != message.apns_id:
            self.journeys.add(replaced, events.REPLACED, by=message.apns_id,
                              detail="APNs keeps one notification per app for an offline phone")
