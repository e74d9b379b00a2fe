"""Fault rules: one scripted failure as a frozen value, validated where it is built, and its JSON.

:mod:`apns_sim.faults.plan` holds the rules in a plan and documents the JSON in a table; this module is the value
and its checks, so a mistake in a rule is a :class:`FaultError` naming the field to fix, whether the rule came
from ``POST /_sim/faults`` or from Python. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from apns_sim.errors import SimError
from apns_sim.push.reasons import Reason

FAULT_STAGE = "fault"  # the journey stage recording a fault that took a request or an ack over

REASON, DELAY, GOAWAY, RST_STREAM, HANG, CLOSE, MAX_STREAMS = (
    "reason", "delay", "goaway", "rst_stream", "hang", "close", "max_streams")
PHONE_OFFLINE, DROP_ACKS = "phone_offline", "drop_acks"
PROVIDER_KINDS = (REASON, DELAY, GOAWAY, RST_STREAM, HANG, CLOSE, MAX_STREAMS)
PHONE_KINDS = (PHONE_OFFLINE, DROP_ACKS)
KINDS = PROVIDER_KINDS + PHONE_KINDS

# RFC 9113 §7, by name (h2.errors.ErrorCodes has the same names).
H2_ERROR_CODES = ("NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
                  "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR",
                  "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED")
STATUS_REASONS = {429: Reason.TOO_MANY_REQUESTS, 500: Reason.INTERNAL_SERVER_ERROR, 503: Reason.SERVICE_UNAVAILABLE}
MAX_DELAY = 3600.0
LAST_STREAM = ("previous", "current")
_ENVIRONMENTS = ("sandbox", "production")
_MATCH = ("token", "topic", "apns_id", "environment", "device_id")
_SELECT = ("duration", "count", "after", "probability")
# Fields each kind may set besides matching and selection.
_OPTIONS: dict[str, tuple[str, ...]] = {
    REASON: ("reason", "status", "timestamp"), DELAY: ("seconds",), GOAWAY: ("reason", "error_code", "last_stream"),
    RST_STREAM: ("error_code",), HANG: (), CLOSE: (), MAX_STREAMS: ("streams",), PHONE_OFFLINE: (), DROP_ACKS: (),
}
_EFFECTS = {
    REASON: "answered with the fault's status and reason instead of processing the request",
    DELAY: "processed as usual; the answer was held back",
    "goaway_previous": "GOAWAY with last_stream_id below this stream: not processed, safe to resend",
    "goaway_current": "processed and answered, then GOAWAY",
    RST_STREAM: "RST_STREAM: not processed",
    HANG: "not processed and never answered",
    CLOSE: "the TCP connection was aborted: not processed",
    MAX_STREAMS: "processed as usual; the connection's MAX_CONCURRENT_STREAMS was lowered (SETTINGS)",
    PHONE_OFFLINE: "the phone's courier connection was dropped",
    DROP_ACKS: "the phone's ack was ignored: the notification stays in flight until the connection drops",
}
_READ_ONLY = frozenset({"id", "matches", "hits", "retired", "expires_at"})  # in GET answers; ignored on input


class FaultError(SimError, ValueError):
    """A fault rule or plan request the simulator cannot accept; the message says what to change."""


@dataclass(frozen=True, kw_only=True)
class FaultRule:
    """One scripted failure: what it matches, what it does, and how often (JSON table: apns_sim.faults.plan)."""

    kind: str
    token: str | None = None
    topic: str | None = None
    apns_id: str | None = None
    environment: str | None = None
    device_id: str | None = None
    reason: str | None = None
    status: int | None = None
    timestamp: int | None = None
    seconds: float | None = None
    error_code: str | None = None
    last_stream: str | None = None
    streams: int | None = None
    duration: float | None = None
    count: int | None = None
    after: int = 0
    probability: float | None = None
    id: str | None = None  # assigned by FaultPlan.add

    def __post_init__(self) -> None:
        kind = self.kind
        if kind not in KINDS:
            raise FaultError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
        allowed = set(_MATCH) | set(_SELECT) | set(_OPTIONS[kind]) | {"kind", "id"}
        if kind in PROVIDER_KINDS:
            allowed.discard("device_id")
        if kind == PHONE_OFFLINE:
            allowed -= {"apns_id", "count", "after", "probability"}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name not in allowed and value != f.default:
                raise FaultError(f"{f.name!r} does not apply to kind {kind!r}" + _hint(f.name, kind))
        for name in ("token", "topic", "apns_id", "device_id", "id"):
            _check_text(name, getattr(self, name))
        if self.token is not None:
            if not _is_hex(self.token):
                raise FaultError(f"'token' must be a device token in hex, got {self.token!r}")
            object.__setattr__(self, "token", self.token.lower())
        if self.apns_id is not None:
            object.__setattr__(self, "apns_id", self.apns_id.lower())
        if self.environment is not None and self.environment not in _ENVIRONMENTS:
            raise FaultError(f"'environment' must be 'sandbox' or 'production', got {self.environment!r}")
        self._check_selection()
        self._check_options()

    def _check_selection(self) -> None:
        if self.duration is not None:
            object.__setattr__(self, "duration", _number("duration", self.duration, low=0, open_low=True))
        if self.count is not None and (check_int("count", self.count) < 1):
            raise FaultError(f"'count' must be a positive integer (the next N matches), got {self.count}")
        if check_int("after", self.after) < 0:
            raise FaultError(f"'after' must be 0 or more (matches to let through first), got {self.after}")
        if self.probability is not None:
            object.__setattr__(self, "probability", _number("probability", self.probability, low=0, high=1))

    def _check_options(self) -> None:
        kind, set_ = self.kind, lambda name, value: object.__setattr__(self, name, value)
        if kind == REASON:
            if self.status is not None and (check_int("status", self.status) not in STATUS_REASONS):
                raise FaultError(f"'status' overrides only 429, 500 or 503, got {self.status}; for any other "
                                 "status name the reason: its status comes with it (docs/apns-protocol.md §4.3)")
            if self.reason is None:
                if self.status is None:
                    raise FaultError("kind 'reason' needs 'reason' (one of Apple's, e.g. 'ServiceUnavailable') "
                                     "or 'status' (429, 500 or 503)")
                set_("reason", STATUS_REASONS[self.status].wire)
            member = _reason(self.reason)
            if self.timestamp is not None:
                if check_int("timestamp", self.timestamp) < 0:
                    raise FaultError(f"'timestamp' is ms since the epoch, got {self.timestamp}")
                if (self.status or member.status) != 410:
                    raise FaultError(f"'timestamp' rides only with a 410 reason (Unregistered, ExpiredToken), "
                                     f"not {self.reason}")
        elif kind == DELAY:
            if self.seconds is None:
                raise FaultError("kind 'delay' needs 'seconds' (how long to hold the answer)")
            set_("seconds", _number("seconds", self.seconds, low=0, high=MAX_DELAY))
        elif kind == GOAWAY:
            _reason(self.reason if self.reason is not None else Reason.SHUTDOWN.wire)
            set_("reason", self.reason or Reason.SHUTDOWN.wire)
            set_("last_stream", self.last_stream or "previous")
            if self.last_stream not in LAST_STREAM:
                raise FaultError(f"'last_stream' must be 'previous' or 'current', got {self.last_stream!r}")
        elif kind == MAX_STREAMS and (self.streams is None or check_int("streams", self.streams) < 1):
            raise FaultError(f"kind 'max_streams' needs 'streams', an integer >= 1, got {self.streams!r}")
        if kind in (GOAWAY, RST_STREAM):
            default = "NO_ERROR" if kind == GOAWAY else "INTERNAL_ERROR"
            code = self.error_code if self.error_code is not None else default
            if not isinstance(code, str) or code.upper() not in H2_ERROR_CODES:
                raise FaultError(f"'error_code' must be an HTTP/2 error code name ({', '.join(H2_ERROR_CODES)}), "
                                 f"got {code!r}")
            set_("error_code", code.upper())

    # -- reading a rule ------------------------------------------------------------------------------------

    @property
    def processes(self) -> bool:
        """Whether the matching request is still handled (and answered) as usual, besides the fault."""
        return self.kind in (DELAY, MAX_STREAMS) or (self.kind == GOAWAY and self.last_stream == "current")

    @property
    def wire_reason(self) -> Reason | None:
        return None if self.reason is None else Reason.from_wire(self.reason)

    def matches(self, token: str | None, topic: str | None, apns_id: str | None, environment: str | None,
                device_id: str | None = None) -> bool:
        """Whether the facts fit every field this rule sets (``token`` lowercase, as the caller has it)."""
        return ((self.token is None or self.token == token)
                and (self.topic is None or self.topic == topic)
                and (self.apns_id is None or (apns_id is not None and self.apns_id == apns_id.lower()))
                and (self.environment is None or self.environment == environment)
                and (self.device_id is None or self.device_id == device_id))

    def detail(self) -> dict[str, Any]:
        """What the journey records for this fault: its id, kind, settings and what it did."""
        out: dict[str, Any] = {"fault": self.id, "kind": self.kind}
        for name in ("reason", "status", "seconds", "error_code", "last_stream", "streams"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        out["detail"] = _EFFECTS[self.kind] if self.kind != GOAWAY else _EFFECTS[f"goaway_{self.last_stream}"]
        return out

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id} if self.id is not None else {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "kind" or (f.name != "id" and value != f.default):
                out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: Any) -> FaultRule:
        """A rule from its JSON object; FaultError names the field to fix. Read-only keys are ignored."""
        if not isinstance(data, Mapping):
            raise FaultError(f"a fault rule is a JSON object with 'kind', got {type(data).__name__}")
        if "kind" not in data:
            raise FaultError(f"a fault rule needs 'kind' (one of: {', '.join(KINDS)})")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k not in _READ_ONLY}
        unknown = sorted(set(values) - known)
        if unknown:
            raise FaultError(f"unknown field {unknown[0]!r}; fields: {', '.join(sorted(known - {'id'}))}")
        return cls(**values)


def _hint(name: str, kind: str) -> str:
    if name == "device_id":
        return " (device_id matches phone-side kinds only: phone_offline, drop_acks)"
    if kind == PHONE_OFFLINE and name in ("count", "after", "probability"):
        return " (phone_offline lasts until removed or for 'duration' seconds)"
    users = [k for k, options in _OPTIONS.items() if name in options]
    return f" (it is for: {', '.join(users)})" if users else ""


def _check_text(name: str, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise FaultError(f"{name!r} must be a non-empty string, got {value!r}")


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def check_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FaultError(f"{name!r} must be an integer, got {value!r}")
    return value


def _number(name: str, value: Any, *, low: float, high: float | None = None, open_low: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise FaultError(f"{name!r} must be a number, got {value!r}")
    if value < low or (open_low and value == low) or (high is not None and value > high):
        bound = f"more than {low:g}" if open_low else f"at least {low:g}"
        raise FaultError(f"{name!r} must be {bound}" + (f" and at most {high:g}" if high is not None else "")
                         + f", got {value!r}")
    return float(value)


def _reason(wire: Any) -> Reason:
    try:
        return Reason.from_wire(wire)
    except ValueError:
        raise FaultError(f"'reason' must be one of Apple's reasons (docs/apns-protocol.md §4.3), e.g. "
                         f"ServiceUnavailable, BadDeviceToken, Unregistered; got {wire!r}") from None


def parse_faults(data: Any) -> tuple[int | None, list[FaultRule]]:
    """``(seed or None, rules)`` from a rule object, a list of them, or ``{"seed": N, "faults": [...]}``."""
    seed = None
    items: Any
    rule_keys = {f.name for f in fields(FaultRule)}
    single = isinstance(data, Mapping) and ("kind" in data or bool(set(data) & rule_keys))
    listed = not single
    if isinstance(data, Mapping) and not single:
        extra = sorted(set(data) - {"seed", "faults"})
        if extra or not data:
            raise FaultError('expected a fault rule (an object with "kind"), a list of rules, or '
                             '{"seed": N, "faults": [...]}' + (f"; unknown key {extra[0]!r}" if extra else ""))
        if "seed" in data:
            seed = check_int("seed", data["seed"])
        items = data.get("faults", [])
        if not isinstance(items, list):
            raise FaultError("'faults' must be a list of fault rules")
    else:
        items = data if isinstance(data, list) else [data]
    rules = []
    for i, item in enumerate(items):
        try:
            rules.append(FaultRule.from_json(item))
        except FaultError as exc:
            raise FaultError(f"faults[{i}]: {exc}" if listed else str(exc)) from None
    return seed, rules
