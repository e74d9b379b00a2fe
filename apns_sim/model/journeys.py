"""What happened to each notification: its journey through the three stages.

Every notification has one identity, its apns-id, from the provider's request to the app's callback
(docs/architecture.md "One notification, end to end"). The provider API, the gateway and the phone's reports all
append stages here; the admin API, the dashboard, scenarios and tests all read this one record.
Listeners observe and never decide (the pushy mock server's rule).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Stage names, in the order a notification usually meets them.
ACCEPTED = "accepted"
REJECTED = "rejected"
STORED = "stored"
REPLACED = "replaced"          # a newer notification for the same app took its storage slot
DISCARDED = "discarded"        # expiration 0 and the phone offline: one attempt only, never stored
EXPIRED = "expired"
DELIVERED = "delivered"        # written to the phone's courier connection
ACKNOWLEDGED = "acknowledged"  # the phone acked it (status 0)
REFUSED = "refused"            # the phone acked with an error: the app is not installed
HANDED_TO_APP = "handed_to_app"
PRESENTED = "presented"
NOT_PRESENTED = "not_presented"
# A push written to the phone, not acknowledged, which the phone reported taking, past the bound on what is
# kept in full for a phone (docs/limits.md §4): not stored again, so no slot says "replaced" over it.
NOT_KEPT = "not_kept"
# The stages in which the phone says it took a push (the [sim] reports of docs/device-side.md §1.10).
PHONE_TOOK = frozenset({HANDED_TO_APP, PRESENTED, NOT_PRESENTED})


_UNPARSED: Any = object()


def parse_payload(body: bytes | None) -> Any:
    """A payload as JSON, or as text when it is not JSON; None for no body."""
    if not body:
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes (issue 14)
        return body.decode("utf-8", "replace")


@dataclass(kw_only=True)
class Journey:
    """One notification's record. Mutable on purpose: stages are appended as they happen."""

    apns_id: str
    token: str
    topic: str
    environment: str
    status: int
    reason: str | None = None
    timestamp: int | None = None
    push_type: str | None = None
    priority: int | None = None
    body: bytes | None = field(default=None, repr=False)  # the request's payload, as sent
    # Which provider interface it came by: "http2" (today's provider API) or "binary" (the retired binary
    # interface, docs/legacy-binary.md); the rest of the journey is the same either way.
    interface: str = "http2"
    stages: list[dict[str, Any]] = field(default_factory=list)
    # ``payload`` is parsed from ``body`` on first read: most journeys are never read, and JSON parsing
    # every accepted push cost the provider API ~3% of its time.
    _payload: Any = field(default=_UNPARSED, init=False, repr=False, compare=False)

    @property
    def payload(self) -> Any:
        """The payload as JSON for the log and dashboard, text when it is not JSON, None when empty."""
        if self._payload is _UNPARSED:
            self._payload = parse_payload(self.body)
        return self._payload

    def as_json(self) -> dict[str, Any]:
        return {
            "apns_id": self.apns_id,
            "token": self.token,
            "topic": self.topic,
            "environment": self.environment,
            "status": self.status,
            "reason": self.reason,
            "timestamp": self.timestamp,
            "push_type": self.push_type,
            "priority": self.priority,
            "payload": self.payload,
            "interface": self.interface,
            "journey": list(self.stages),
        }


Listener = Callable[[Journey, dict[str, Any]], None]


class JourneyLog:
    """Bounded, insertion-ordered log of journeys (oldest evicted first), with listeners.

    Waiting for a stage is the readers' business (:mod:`apns_sim.admin.readers` subscribes here), so the model
    stays free of asyncio.

    Rejected requests that carry no apns-id get a generated one, like Apple's answer does, so that every
    entry is addressable.
    """

    def __init__(self, clock: Callable[[], float], limit: int = 10_000) -> None:
        self._clock = clock
        self._limit = limit
        self._entries: OrderedDict[str, Journey] = OrderedDict()
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def begin(self, journey: Journey, stage: str, **detail: Any) -> Journey:
        self._entries[journey.apns_id] = journey
        self._entries.move_to_end(journey.apns_id)
        while len(self._entries) > self._limit:
            self._entries.popitem(last=False)
        self.add(journey.apns_id, stage, **detail)
        return journey

    def add(self, apns_id: str, stage: str, **detail: Any) -> None:
        journey = self._entries.get(apns_id)
        if journey is None:
            return
        entry: dict[str, Any] = {"stage": stage, "at": round(self._clock(), 6), **detail}
        journey.stages.append(entry)
        for listener in list(self._listeners):
            listener(journey, entry)

    def get(self, apns_id: str) -> Journey | None:
        return self._entries.get(apns_id)

    def list(self, *, token: str | None = None, topic: str | None = None, apns_id: str | None = None,
             since: int = 0) -> list[Journey]:
        """Newest last; filter by token, topic or apns-id (case-insensitive for hex and UUIDs)."""
        out = []
        for journey in list(self._entries.values())[since:]:
            if token is not None and journey.token.lower() != token.lower():
                continue
            if topic is not None and journey.topic != topic:
                continue
            if apns_id is not None and journey.apns_id.lower() != apns_id.lower():
                continue
            out.append(journey)
        return out

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
