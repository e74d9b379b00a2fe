"""Routing and store-and-forward: from an accepted request to the phone's courier connection.

Pure policy (no asyncio): the gateway attaches a ``send`` callable per online phone and environment, and
this module decides what to write, what to store and what to drop. Apple's rules (docs/apns-protocol.md §11,
docs/device-side.md §1.10): one stored notification per app per device (the latest replaces the earlier), kept
until ``apns-expiration`` or the storage limit; ``apns-expiration: 0`` is one attempt, never stored; a phone
that refuses a push for an app it no longer has makes its token answer 410 after a delay. Priority 5 and 1
may be held for a burst (:mod:`apns_sim.delivery.batching`, off by default); a phone that leaves takes nothing with it:
what it did not acknowledge is kept in full for its next connection (APNs dequeues a push only on the phone's
ack, §11 "Written but not acknowledged"; bounded, ``DeliveryConfig.unacked``), and what was held for it is stored
again in the one-per-app slot.

Time is the injected :class:`~apns_sim.model.clock.Clock`. Batches fall due on that virtual clock: moving it (a test's
``clock.advance``, ``POST /_sim/clock``) flushes them at once; while it runs, an optional ``scheduler`` (an
asyncio adapter gives ``loop.call_later``) wakes delivery when the next batch is due.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from datetime import timedelta
from typing import Any, Protocol

from apns_sim.delivery.batching import BatchPolicy
from apns_sim.limits import MAX_UNACKED_KEPT
from apns_sim.model import journeys
from apns_sim.model.clock import Clock
from apns_sim.model.journeys import Journey, JourneyLog
from apns_sim.model.registry import Registry

DEFAULT_STORAGE_LIMIT = 30 * 24 * 3600  # Apple: "up to 30 days" (docs/apns-protocol.md §11)
# Journey stages this module adds to those of apns_sim.model.journeys.
_JOURNEY_KEYS = frozenset({"apns_id", "stage", "at"})  # set by the journey log, never by a phone's report
BATCHED = "batched"  # priority 5/1 held for a burst to an online phone (docs/apns-protocol.md §11)
HELD = "held"  # the teacher's hold: accepted, waiting for the presenter to move on (docs/scenarios.md "Teacher mode")
RESTORED = "restored"  # a stored notification read back from the data dir by a restarted simulator
UNACKED_MODES = ("keep", "coalesce")  # DeliveryConfig.unacked
_JOURNEY_KEY = "journey"  # the stages so far, kept with a stored notification so a restart keeps its story
_INTERFACE_KEY = "interface"  # which provider interface it came by (http2 or binary), kept for the same reason


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
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}  # a stored row also carries its journey
        values["payload"] = str(values["payload"]).encode()
        return cls(**values)


Sender = Callable[[PushMessage], None]
# ``scheduler(delay_seconds, callback)`` runs ``callback`` later and returns a cancel function.
Scheduler = Callable[[float, Callable[[], None]], Callable[[], None]]


class _TimerHandle(Protocol):
    def cancel(self) -> None: ...


class _Loop(Protocol):
    def call_later(self, delay: float, callback: Callable[[], None]) -> _TimerHandle: ...


def loop_scheduler(loop: _Loop) -> Scheduler:
    """A :data:`Scheduler` on an event loop's ``call_later`` (the adapter's side; this module stays sans-IO)."""
    def schedule(delay: float, callback: Callable[[], None]) -> Callable[[], None]:
        return loop.call_later(delay, callback).cancel
    return schedule


@dataclass(frozen=True, kw_only=True)
class DeliveryConfig:
    storage_limit: float = DEFAULT_STORAGE_LIMIT
    # Apple delays the 410 on purpose (days are normal); 0 makes demos and CI immediate. A knob.
    unregister_delay: float = 0.0
    # Seconds a priority 5 push to an online phone may wait to leave in a burst with others (priority 1 rides
    # along, never sending on its own). 0, the default, sends every priority at once: a demo's push should
    # arrive now. Apple's observed figure is ~1200 s (3 bursts an hour, docs/device-side.md §1.10).
    batch_interval: float = 0.0
    # What happens to pushes written to a phone and not acknowledged when its connection closes: "keep" each
    # in full for its next connection (APNs dequeues only on an ack, docs/apns-protocol.md §11), or
    # "coalesce" them into the one-per-app slot of an offline phone. A knob (docs/choices.md).
    unacked: str = "keep"

    def __post_init__(self) -> None:
        if self.unacked not in UNACKED_MODES:
            raise ValueError(f"unacked must be one of {UNACKED_MODES}")
        if self.batch_interval < 0:
            raise ValueError("batch_interval must be 0 (off) or a positive number of seconds")
        if self.storage_limit < 0 or self.unregister_delay < 0:
            raise ValueError("storage_limit and unregister_delay must not be negative")


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
        self._batches: BatchPolicy[tuple[str, str], PushMessage] = BatchPolicy(self.config.batch_interval)
        self._scheduler: Scheduler | None = None
        self._cancel_timer: Callable[[], None] | None = None
        self._timer_at: float | None = None
        self._unsubscribe_clock = clock.subscribe(self._clock_changed)
        # The teacher's hold (docs/scenarios.md "Teacher mode"): while on, pushes to online phones wait here, in
        # order, as if still queued at APNs, so a dashboard shows them accepted and not yet delivered.
        self._holding = False
        self._held_back: list[PushMessage] = []
        self._held_stored: set[str] = set()  # apns-ids in _held_back that came out of storage

    def close(self) -> None:
        """Stop listening to the clock and cancel the batch timer (the simulator is stopping)."""
        self._unsubscribe_clock()
        self._unsubscribe_clock = lambda: None
        self._scheduler = None
        self._set_timer(None)

    @property
    def scheduler(self) -> Scheduler | None:
        return self._scheduler

    @scheduler.setter
    def scheduler(self, scheduler: Scheduler | None) -> None:
        """How to be woken when a batch falls due while the clock runs (the asyncio adapter sets it)."""
        self._scheduler = scheduler
        self._reschedule()

    # -- phones coming and going ---------------------------------------------------------------------

    def is_online(self, device_id: str, environment: str) -> bool:
        return (device_id, environment) in self._online

    def online(self) -> list[tuple[str, str]]:
        return list(self._online)

    def attach(self, device_id: str, environment: str, send: Sender) -> None:
        """A phone connected: flush what was stored for it, oldest first, then deliver live."""
        key = (device_id, environment)
        self._online[key] = send
        # A new connection that replaced one the gateway had not closed yet (no detach): what the old one did
        # not acknowledge is written again, first, rather than waiting in flight for an ack that cannot come.
        left = sorted(self._in_flight.pop(key, {}).values(), key=lambda m: m.accepted_at)
        self._in_flight[key] = {}
        for message in left:
            self._write(key, message, from_storage=False, again=True)
        for data in self.registry.take_stored(device_id, environment):
            message = PushMessage.from_json(data)
            self._restore_journey(message, data.get(_JOURNEY_KEY), data.get(_INTERFACE_KEY))
            if self._expired(message):
                self.journeys.add(message.apns_id, journeys.EXPIRED, detail="expired while the phone was offline")
                continue
            if self._holding:  # the presenter has not reached stage 2: stored pushes wait like live ones
                self._hold_back(message, from_storage=True)
                continue
            self._write(key, message, from_storage=True)

    def detach(self, device_id: str, environment: str) -> None:
        """A phone went away: what it did not acknowledge, and what was held for it, goes back to storage.

        Stored oldest first, so that when two are for one app the later one keeps the slot (§11).
        """
        key = (device_id, environment)
        self._online.pop(key, None)
        unacked = list(self._in_flight.pop(key, {}).values())
        held = self._batches.take(key)
        paused = [m for m in self._held_back if (m.device_id, m.environment) == key]
        self._held_back = [m for m in self._held_back if (m.device_id, m.environment) != key]
        self._held_stored -= {m.apns_id for m in paused}
        self._reschedule()
        coalesced = self._keep_unacked(key, sorted(unacked, key=lambda m: m.accepted_at))
        leftovers = [(m, "not acknowledged before the connection closed") for m in coalesced]
        leftovers += [(m, "held for a burst when the connection closed") for m in held]
        leftovers += [(m, "held for the presenter when the connection closed") for m in paused]
        for message, note in sorted(leftovers, key=lambda pair: pair[0].accepted_at):
            self._store(message, note=note)

    def _keep_unacked(self, key: tuple[str, str], unacked: list[PushMessage]) -> list[PushMessage]:
        """Keep what the phone did not acknowledge, oldest first, for its next connection; return the rest.

        APNs dequeues a push only once the phone acknowledged it (docs/apns-protocol.md §11 "Written but not
        acknowledged"), so with ``unacked="keep"`` (the default) each is kept in full, beside the one-per-app
        slots, up to :data:`~apns_sim.limits.MAX_UNACKED_KEPT` per phone; the rest, or all with ``"coalesce"``,
        go to the one-per-app slot. One the phone reported taking (its ack was lost) is never put in a slot:
        it would say "replaced" over what the app had (the phone acknowledges a repeat without showing it).
        """
        if self.config.unacked == "keep":
            room = max(0, MAX_UNACKED_KEPT - self.registry.count_unacked(*key))
        else:
            room = 0
        rest = []
        for message in unacked:
            if message.expiration == 0 or self._expired(message):
                rest.append(message)  # _store says discarded or expired
            elif room > 0:
                room -= 1
                self.journeys.add(message.apns_id, journeys.STORED, kept="in_full",
                                  detail="not acknowledged before the connection closed: kept in full for the "
                                         "next connection")
                self.registry.keep_unacked(key[0], key[1], message.apns_id, self._record(message),
                                           self.clock.now())
            elif self._phone_took(message.apns_id):
                self.journeys.add(message.apns_id, journeys.NOT_KEPT,
                                  detail=f"not acknowledged, but the phone reported taking it; more than "
                                         f"{MAX_UNACKED_KEPT} unacknowledged pushes for this phone, so not "
                                         "stored again")
            else:
                rest.append(message)
        return rest

    def _phone_took(self, apns_id: str) -> bool:
        """The phone reported what it did with the push (its ack was lost), on this writing or an earlier one:
        a phone remembers the apns-ids it took and never takes one again (docs/device-side.md §1.10), so an
        earlier take is final even if a later writing of it went unanswered."""
        journey = self.journeys.get(apns_id)
        return journey is not None and any(stage["stage"] in journeys.PHONE_TOOK for stage in journey.stages)

    # -- notifications -------------------------------------------------------------------------------

    def submit(self, message: PushMessage) -> str:
        """Route one accepted notification; returns "delivered", "held", "batched", "stored" or "discarded"."""
        key = (message.device_id, message.environment)
        if key in self._online and self._holding:
            self._hold_back(message, from_storage=False)
            return HELD
        if key in self._online:
            if not self._batches.enabled:  # the default, and the provider API's hot path: nothing to decide
                self._write(key, message, from_storage=False)
                return journeys.DELIVERED
            ready = self._batches.offer(key, message, message.priority, self.clock.time())
            if ready is None:
                closes_at = self._batches.closes_at(key)
                self.journeys.add(message.apns_id, BATCHED, priority=message.priority, flush_at=closes_at,
                                  detail="held for the next burst" if message.priority > 1 else
                                  "priority 1: waits for the next burst or priority 10 push to this phone")
                self._reschedule()
                return BATCHED
            for item in ready[:-1]:
                self._write_from_batch(key, item)
            self._reschedule()
            self._write(key, message, from_storage=False)
            return journeys.DELIVERED
        if message.expiration == 0:
            self.journeys.add(message.apns_id, journeys.DISCARDED,
                              detail="apns-expiration 0 and the phone is offline: one attempt, never stored")
            return journeys.DISCARDED
        self._store(message, note="the phone is offline")
        return journeys.STORED

    @property
    def holding(self) -> bool:
        return self._holding

    def hold(self) -> None:
        """Hold every push to an online phone until :meth:`release` (a presenter's pause; not an Apple rule)."""
        self._holding = True

    def release(self) -> int:
        """End the hold: what waited goes out in the order it was accepted (what expired meanwhile does not:
        apns-expiration holds whatever the presenter does); returns how many waited."""
        self._holding = False
        waiting, self._held_back = self._held_back, []
        stored, self._held_stored = self._held_stored, set()
        for message in waiting:
            key = (message.device_id, message.environment)
            if self._expired(message):
                self.journeys.add(message.apns_id, journeys.EXPIRED, detail="expired while held for the presenter")
            elif message.apns_id in stored and key in self._online:
                self._write(key, message, from_storage=True)
            else:
                self.submit(message)
        return len(waiting)

    def _hold_back(self, message: PushMessage, *, from_storage: bool) -> None:
        self._held_back.append(message)
        if from_storage:
            self._held_stored.add(message.apns_id)
        self.journeys.add(message.apns_id, HELD, detail="held until the presenter moves on (teacher mode)")

    def acknowledged(self, device_id: str, environment: str, apns_id: str, ok: bool) -> None:
        """The phone answered a push: 0 = taken; non-zero = no app for that topic (device-side §6 rule 13)."""
        message = self._in_flight.get((device_id, environment), {}).pop(apns_id, None)
        if ok:
            self.journeys.add(apns_id, journeys.ACKNOWLEDGED)
            return
        self.journeys.add(apns_id, journeys.REFUSED, detail="the app is not installed on the phone")
        if message is not None:
            now = self.clock.now()
            later = now + timedelta(seconds=self.config.unregister_delay)
            self.registry.mark_uninstalled(message.token, now, later)

    def report(self, apns_id: str, stage: str, detail: dict[str, Any]) -> None:
        """The phone's account of what its app did with a notification (handed over, presented or not).

        ``detail`` comes off the network: keys the journey sets itself are dropped, so a phone cannot make
        the log fail (a duplicate ``apns_id`` keyword) or rewrite a stage's name or time.
        """
        self.journeys.add(apns_id, stage, **{k: v for k, v in detail.items() if k not in _JOURNEY_KEYS})

    def flush_due(self) -> int:
        """Send every batch whose window has closed on the clock; returns how many notifications left."""
        sent = 0
        for key, items in self._batches.due(self.clock.time()):
            for message in items:
                if key in self._online:  # detach() takes a phone's batch, so this holds; kept for safety
                    sent += self._write_from_batch(key, message)
        self._reschedule()
        return sent

    def held(self) -> int:
        """Notifications waiting for a burst to an online phone."""
        return self._batches.held()

    # -- internals -----------------------------------------------------------------------------------

    def _clock_changed(self) -> None:
        # The clock jumped or changed pace: the timer's real-time delay no longer matches the batch's
        # deadline on the simulated clock, even when the deadline itself is unchanged; re-arm it.
        self._set_timer(None)
        self.flush_due()

    def _reschedule(self) -> None:
        """Keep one timer for the earliest batch, in real seconds (none while the clock is frozen)."""
        deadline = self._batches.next_deadline()
        if deadline is None or self._scheduler is None or self.clock.frozen:
            self._set_timer(None)
            return
        if deadline != self._timer_at:
            self._set_timer(deadline)

    def _set_timer(self, deadline: float | None) -> None:
        if self._cancel_timer is not None:
            self._cancel_timer()
            self._cancel_timer = None
        self._timer_at = deadline
        if deadline is not None and self._scheduler is not None:
            self._cancel_timer = self._scheduler(max(0.0, deadline - self.clock.time()), self._timer_fired)

    def _timer_fired(self) -> None:
        self._cancel_timer = None
        self._timer_at = None
        self.flush_due()

    def _write_from_batch(self, key: tuple[str, str], message: PushMessage) -> int:
        if message.expiration and message.expiration < self.clock.time():
            self.journeys.add(message.apns_id, journeys.EXPIRED, detail="expired while held for a burst")
            return 0
        self._write(key, message, from_storage=False, batched=True)
        return 1

    def _restore_journey(self, message: PushMessage, stages: object, interface: object = None) -> None:
        """After a restart the in-memory log is empty: rebuild the journey from what the store kept."""
        if self.journeys.get(message.apns_id) is not None:
            return
        earlier = [dict(s) for s in stages if isinstance(s, dict)] if isinstance(stages, list) else []
        self.journeys.begin(Journey(
            apns_id=message.apns_id, token=message.token, topic=message.topic, environment=message.environment,
            status=200, push_type=message.push_type, priority=message.priority, body=message.payload,
            interface=interface if isinstance(interface, str) else "http2", stages=earlier),
            RESTORED, detail="read back from the data dir after a simulator restart")

    def _expired(self, message: PushMessage) -> bool:
        now = self.clock.time()
        if message.expiration:
            return message.expiration < now
        return now - message.accepted_at > self.config.storage_limit

    def _write(self, key: tuple[str, str], message: PushMessage, *, from_storage: bool,
               batched: bool = False, again: bool = False) -> None:
        self._in_flight[key][message.apns_id] = message
        detail: dict[str, Any] = {"device_id": message.device_id, "from_storage": from_storage}
        if batched:
            detail["batched"] = True
        if again:
            detail["again"] = "not acknowledged on the phone's previous connection"
        self.journeys.add(message.apns_id, journeys.DELIVERED, **detail)
        self._online[key](message)

    def _store(self, message: PushMessage, *, note: str) -> None:
        if message.expiration == 0 or self._expired(message):
            self.journeys.add(message.apns_id, journeys.DISCARDED, detail=note)
            return
        self.journeys.add(message.apns_id, journeys.STORED, kept="one_per_app", detail=note)
        replaced = self.registry.store(message.device_id, message.bundle_id, message.environment,
                                       message.apns_id, self._record(message), self.clock.now())
        if replaced is not None and replaced != message.apns_id:
            self.journeys.add(replaced, journeys.REPLACED, by=message.apns_id,
                              detail="APNs keeps one notification per app for an offline phone")

    def _record(self, message: PushMessage) -> dict[str, Any]:
        """The stored row: the message and its journey so far (a restarted simulator tells the whole story)."""
        record = message.to_json()
        journey = self.journeys.get(message.apns_id)
        if journey is not None:
            record[_JOURNEY_KEY] = journey.stages
            record[_INTERFACE_KEY] = journey.interface
        return record
