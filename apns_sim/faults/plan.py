"""Fault injection: scripted failures of the simulated APNs, seeded so CI runs are reproducible.

Pure policy (no asyncio, no sockets): a :class:`FaultPlan` holds :class:`FaultRule` values (defined and
validated in :mod:`apns_sim.faults.rules`, re-exported here) and answers
"does a fault take this request (or this phone, or this ack) over?". The provider API
(:mod:`apns_sim.provider_api.service`, :mod:`apns_sim.provider_api.connection`) acts out the provider-side kinds at
the HTTP/2 level;
the device gateway (:mod:`apns_sim.gateway.listener`) the phone-side kinds. Reference: docs/apns-protocol.md §4
(reasons and
statuses), §7 (GOAWAY with a JSON reason, RST_STREAM, MAX_CONCURRENT_STREAMS).

A rule as JSON (``POST /_sim/faults`` takes one, a list, or ``{"seed": N, "faults": [...]}``):

==================  =============================================================================================
field               meaning
==================  =============================================================================================
``kind``            required. Provider side: ``reason``, ``delay``, ``goaway``, ``rst_stream``, ``hang``,
                    ``close``, ``max_streams``. Phone side: ``phone_offline``, ``drop_acks``.
``token``           match only this device token (hex, any case). Absent: any token.
``topic``           match only this ``apns-topic`` (a certificate's default topic when the header is absent);
                    for phone-side kinds, an app's bundle id on the phone.
``apns_id``         match only this ``apns-id`` (any case). Not for ``phone_offline``.
``environment``     ``sandbox`` or ``production``.
``device_id``       phone-side kinds only: match this simulated iPhone.
``reason``          ``reason``: any Apple reason (§4.3); the status comes with it. ``goaway``: the reason in
                    the GOAWAY debug data ``{"reason": ...}`` (default ``Shutdown``).
``status``          ``reason`` only: 429, 500 or 503, overriding the reason's status; alone it picks
                    ``TooManyRequests`` / ``InternalServerError`` / ``ServiceUnavailable``.
``timestamp``       ``reason`` with a 410 reason: ms since the epoch in the body (``Unregistered`` defaults to
                    the simulator clock's now).
``seconds``         ``delay``: hold the normal answer this long (event-loop time: a frozen clock must not
                    stall the wire). At most 3600.
``error_code``      ``goaway`` (default ``NO_ERROR``) or ``rst_stream`` (default ``INTERNAL_ERROR``; use
                    ``REFUSED_STREAM`` for "not processed, retry"): an HTTP/2 error code name (RFC 9113 §7).
``last_stream``     ``goaway``: ``previous`` (default: last_stream_id is the stream before this one, which is
                    not processed) or ``current`` (this stream is processed and answered, then GOAWAY).
``streams``         ``max_streams``: the new MAX_CONCURRENT_STREAMS (>= 1) for the matching connection,
                    sent as SETTINGS; the matching request is answered normally.
``duration``        seconds (simulator clock) the rule stays active; absent: until removed (or ``count``).
``count``           apply to the next N matches, then retire. Absent: no limit. Not for ``phone_offline``.
``after``           skip the first K matches (default 0). Not for ``phone_offline``.
``probability``     0..1: apply to each eligible match with this probability, drawn from the plan's
                    ``random.Random(seed)`` (reseed with ``{"seed": N}``). Not for ``phone_offline``.
==================  =============================================================================================

``hang`` leaves the stream unanswered (the client's timeout fires); ``close`` aborts the TCP connection;
``rst_stream``, ``hang``, ``close`` and ``goaway`` with ``previous`` do not process the request. A
``phone_offline`` rule drops the matching phones' courier connections when added and refuses their
reconnects (the connection closes without a ConnectAck, like a network outage) until it expires or is
removed. ``drop_acks`` ignores the phone's acks: the notification stays in flight and is stored again when
the connection drops. Every fault applied is recorded in the notification's journey (``"fault": id``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from apns_sim.faults.rules import (
    CLOSE,
    DELAY,
    DROP_ACKS,
    FAULT_STAGE,
    GOAWAY,
    HANG,
    KINDS,
    MAX_STREAMS,
    PHONE_KINDS,
    PHONE_OFFLINE,
    PROVIDER_KINDS,
    REASON,
    RST_STREAM,
    FaultError,
    FaultRule,
    check_int,
    parse_faults,
)
from apns_sim.push.request import Outcome

__all__ = [
    "CLOSE", "DELAY", "DROP_ACKS", "FAULT_STAGE", "GOAWAY", "HANG", "KINDS", "MAX_STREAMS", "PHONE_KINDS",
    "PHONE_OFFLINE", "PROVIDER_KINDS", "REASON", "RST_STREAM", "FaultError", "FaultPlan", "FaultRule",
    "FaultStatus", "Injected", "parse_faults",
]


@dataclass(frozen=True, slots=True)
class Injected:
    """A request a fault took over: what the HTTP/2 layer does instead of (or besides) answering.

    ``outcome`` is the normal answer for rules that still process the request (``delay``, ``max_streams``,
    ``goaway`` with ``current``), the rejection to send for ``reason``, None when nothing is answered.
    """

    rule: FaultRule
    outcome: Outcome | None = None


@dataclass(frozen=True, kw_only=True)
class FaultStatus:
    """A rule as the plan holds it: how many requests it matched and how many it took over."""

    rule: FaultRule
    matches: int
    hits: int
    retired: bool
    expires_at: float | None

    def as_json(self) -> dict[str, Any]:
        return {**self.rule.to_json(), "matches": self.matches, "hits": self.hits, "retired": self.retired,
                "expires_at": self.expires_at}


class _Entry:
    __slots__ = ("expires_at", "hits", "matches", "retired", "rule")

    def __init__(self, rule: FaultRule, expires_at: float | None) -> None:
        self.rule = rule
        self.expires_at = expires_at
        self.matches = self.hits = 0
        self.retired = False


Listener = Callable[[FaultRule], None]


class FaultPlan:
    """The active rules, in the order added (the first that applies wins), and one seeded random source.

    ``provider_armed`` / ``phone_armed`` are plain attributes, true while a live rule of that side exists:
    the per-request cost of an empty plan is reading one of them.
    """

    def __init__(self, clock: Callable[[], float], seed: int = 0) -> None:
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._next_id = 1
        self._listeners: list[Listener] = []
        self.seed = self._initial_seed = check_int("seed", seed)
        self._random = random.Random(seed)
        self.provider_armed = False
        self.phone_armed = False
        self.applied = 0  # faults applied since the last reset: retries may carry a faulted journey on

    # -- managing rules ------------------------------------------------------------------------------------

    def reseed(self, seed: int) -> None:
        """Restart the random source: the same seed and the same requests give the same decisions."""
        self.seed = check_int("seed", seed)
        self._random = random.Random(seed)

    def add(self, rule: FaultRule) -> str:
        rule_id = f"f{self._next_id}"
        self._next_id += 1
        rule = replace(rule, id=rule_id)
        expires = None if rule.duration is None else self._clock() + rule.duration
        self._entries[rule_id] = _Entry(rule, expires)
        self._rearm()
        for listener in list(self._listeners):
            listener(rule)
        return rule_id

    def load_json(self, data: Any) -> list[str]:
        """Apply a ``POST /_sim/faults`` body: reseed if it says so, then add every rule (all or none)."""
        seed, rules = parse_faults(data)
        if seed is not None:
            self.reseed(seed)
        return [self.add(rule) for rule in rules]

    def remove(self, rule_id: str) -> bool:
        found = self._entries.pop(rule_id, None) is not None
        self._rearm()
        return found

    def clear(self) -> int:
        count = len(self._entries)
        self._entries.clear()
        self._rearm()
        return count

    def reset(self) -> None:
        """What ``POST /_sim/reset`` does: no rules, the first seed again."""
        self.clear()
        self.applied = 0
        self.reseed(self._initial_seed)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(rule)`` after each rule is added (the gateway drops phones for phone_offline)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def list(self) -> list[FaultStatus]:
        now = self._clock()
        return [FaultStatus(rule=e.rule, matches=e.matches, hits=e.hits, expires_at=e.expires_at,
                            retired=e.retired or (e.expires_at is not None and now >= e.expires_at))
                for e in self._entries.values()]

    def get(self, rule_id: str) -> FaultStatus | None:
        return next((s for s in self.list() if s.rule.id == rule_id), None)

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "faults": [s.as_json() for s in self.list()]}

    # -- decisions (each counts matches and hits) -----------------------------------------------------------

    def decide(self, *, token: str | None, topic: str | None, apns_id: str | None,
               environment: str | None) -> FaultRule | None:
        """The provider-side fault for one request (token lowercase), or None."""
        return self._pick(PROVIDER_KINDS, lambda r: r.matches(token, topic, apns_id, environment))

    def decide_ack(self, *, token: str | None, topic: str | None, apns_id: str | None, environment: str | None,
                   device_id: str | None) -> FaultRule | None:
        """The ``drop_acks`` rule for one ack from a phone, or None."""
        return self._pick((DROP_ACKS,), lambda r: r.matches(token, topic, apns_id, environment, device_id))

    def offline(self, *, device_id: str, environment: str, apps: Iterable[tuple[str, str]]) -> FaultRule | None:
        """The ``phone_offline`` rule for a phone (its ``(token, bundle_id)`` pairs there), or None."""
        pairs = [(token.lower(), bundle) for token, bundle in apps]

        def fits(rule: FaultRule) -> bool:
            if rule.environment not in (None, environment) or rule.device_id not in (None, device_id):
                return False
            return (rule.token is None and rule.topic is None) or any(
                rule.token in (None, token) and rule.topic in (None, bundle) for token, bundle in pairs)

        return self._pick((PHONE_OFFLINE,), fits)

    def _pick(self, kinds: tuple[str, ...], fits: Callable[[FaultRule], bool]) -> FaultRule | None:
        now: float | None = None
        for entry in list(self._entries.values()):
            rule = entry.rule
            if entry.retired or rule.kind not in kinds:
                continue
            if entry.expires_at is not None:
                now = self._clock() if now is None else now
                if now >= entry.expires_at:
                    self._retire(entry)
                    continue
            if not fits(rule):
                continue
            entry.matches += 1
            if entry.matches <= rule.after:
                continue
            if rule.probability is not None and rule.probability < 1 and self._random.random() >= rule.probability:
                continue
            entry.hits += 1
            self.applied += 1
            if rule.count is not None and entry.hits >= rule.count:
                self._retire(entry)
            return rule
        return None

    def _retire(self, entry: _Entry) -> None:
        entry.retired = True
        self._rearm()

    def _rearm(self) -> None:
        live = [e.rule.kind for e in self._entries.values() if not e.retired]
        self.provider_armed = any(k in PROVIDER_KINDS for k in live)
        self.phone_armed = any(k in PHONE_KINDS for k in live)
