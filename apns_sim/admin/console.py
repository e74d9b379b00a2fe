"""Send a test push from the dashboard, like Apple's Push Notifications Console.

Apple's console (CloudKit Console > Push Notifications) is signed in with the developer account, so it needs
no provider certificate or key; it lets the developer pick an environment, a device token, the app's bundle
ID as topic, the push type, priority, expiration, collapse ID and the payload (docs/apns-protocol.md
§4.1 mentions its Delivery Log). Here the request goes through the SAME rules as the provider API
(:func:`apns_sim.push.validation.check_route` and :func:`~apns_sim.push.validation.check_request`, §2-§4, §8) and, when
accepted, the same :meth:`apns_sim.delivery.store_and_forward.Delivery.submit`; a bad payload or token gets Apple's
reason.

The account's authority is modelled as a certificate for the topic's app with all its push-type topics: the
console may push to any of the team's apps, and a token of another app is answered with Apple's
``DeviceTokenNotForTopic`` (§4.3), so the topic must be the token's app's. Journeys begun here carry
``"source": "console"`` on their first stage. Not applied, on purpose: fault injection and the per-token
rate limit, which belong to the provider API's connections.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from apns_sim.admin.words import say
from apns_sim.errors import SimError
from apns_sim.model import journeys
from apns_sim.provider_api.intake import admit, policy_for, request_journey
from apns_sim.push.auth import CertificateIdentity
from apns_sim.push.request import Accepted, Outcome, PushRequest
from apns_sim.push.validation import TOPIC_SUFFIXES, check_request, check_route
from apns_sim.state import SimState
from pushsim_i18n import N_

SOURCE = "console"
ENVIRONMENTS = ("sandbox", "production")
KEYS = ("environment", "device_token", "topic", "push_type", "priority", "expiration", "collapse_id", "payload")
_SUFFIXES = sorted((s for s in TOPIC_SUFFIXES.values() if s), key=len, reverse=True)


class ConsoleError(SimError, ValueError):
    """The form itself is wrong (not JSON, unknown environment...): 400, not one of Apple's reasons.

    Carries its English msgid and values, so the page reads it in its own language (:meth:`in_language`);
    ``str()`` is the English."""

    def __init__(self, message: str, **values: Any) -> None:
        super().__init__(message.format(**values))
        self.message = message
        self.values = values

    def in_language(self, language: str) -> str:
        return say(language, self.message, **self.values)


@dataclass(frozen=True, kw_only=True)
class ConsolePush:
    """One console request: the headers it becomes, and the payload as bytes."""

    environment: str
    device_token: str
    topic: str | None
    push_type: str | None
    priority: str | None
    expiration: str | None
    collapse_id: str | None
    payload: bytes

    def to_request(self) -> PushRequest:
        """The HTTP/2 request a provider would have sent for the same push (§2.1)."""
        headers = {name: value for name, value in (
            ("apns-topic", self.topic), ("apns-push-type", self.push_type), ("apns-priority", self.priority),
            ("apns-expiration", self.expiration), ("apns-collapse-id", self.collapse_id)) if value is not None}
        path = f"/3/device/{self.device_token}"
        raw = ((b":method", b"POST"), (b":path", path.encode()),
               *((k.encode(), v.encode("utf-8", "surrogateescape")) for k, v in headers.items()))
        return PushRequest(method="POST", path=path, headers=headers, raw_headers=raw, duplicates=frozenset(),
                           body=self.payload, body_size=len(self.payload))


@dataclass(frozen=True, kw_only=True)
class ConsoleResult:
    apns_id: str
    status: int
    reason: str | None
    timestamp: int | None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"apns_id": self.apns_id, "status": self.status, "reason": self.reason}
        if self.timestamp is not None:
            out["timestamp"] = self.timestamp
        return out


def _header(body: dict[str, Any], key: str) -> str | None:
    """A header value from the form: strings as typed, integers as digits, empty or null = absent."""
    value = body.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConsoleError(N_('"{key}" must be a string or a whole number, got {value}'), key=key,
                           value=json.dumps(value, ensure_ascii=False))
    return str(value)


def parse_console_push(body: Any) -> ConsolePush:
    """Read the form. The payload may be a JSON object (sent compact) or a string (sent as typed)."""
    if not isinstance(body, dict):
        raise ConsoleError(N_("send a JSON object such as {example}"),
                           example='{"environment": "sandbox", "device_token": ..., "topic": ..., '
                                   '"payload": {"aps": {"alert": "Hello"}}}')
    try:  # JSON allows a lone surrogate ("\ud800"), which no header or UTF-8 payload can carry
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ConsoleError(N_("the form holds text that is not valid Unicode (a lone surrogate such as {example})"),
                           example="\\ud800") from None
    unknown = sorted(set(body) - set(KEYS))
    if unknown:
        raise ConsoleError(N_("unknown key(s) {unknown}: use {keys}"), unknown=", ".join(unknown), keys=", ".join(KEYS))
    environment = body.get("environment", "sandbox")
    if environment not in ENVIRONMENTS:
        raise ConsoleError(N_('"environment" must be "sandbox" or "production"'))
    token = body.get("device_token")
    if not isinstance(token, str):
        raise ConsoleError(N_('"device_token" must be the device token as a hex string'))
    payload = body.get("payload")
    if isinstance(payload, dict):
        raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    elif isinstance(payload, str):
        raw = payload.encode("utf-8")
    elif payload is None:
        raw = b""  # Apple's answer: PayloadEmpty
    else:
        raise ConsoleError(N_('"payload" must be a JSON object or a string'))
    return ConsolePush(environment=environment, device_token=token.strip(), topic=_header(body, "topic"),
                       push_type=_header(body, "push_type"), priority=_header(body, "priority"),
                       expiration=_header(body, "expiration"), collapse_id=_header(body, "collapse_id"),
                       payload=raw)


def account_identity(state: SimState, push: ConsolePush) -> CertificateIdentity:
    """The developer account's authority over the topic's app (module docstring): all its push topics."""
    topic = push.topic or ""
    record = state.registry.get_token(push.device_token.lower())
    if record is not None and topic in (record.bundle_id, *(record.bundle_id + s for s in _SUFFIXES)):
        bundle = record.bundle_id
    else:
        bundle = next((topic[: -len(s)] for s in _SUFFIXES if topic.endswith(s) and len(topic) > len(s)), topic)
    app = state.registry.get_app_id(bundle)
    topics = (bundle, *(bundle + s for s in _SUFFIXES))
    return CertificateIdentity(bundle_id=bundle, team_id=app.team_id if app else "", topics=topics, serial=0)


def send_console_push(state: SimState, push: ConsolePush) -> ConsoleResult:
    """Validate with Apple's rules, record the journey (source "console") and deliver when accepted."""
    now = state.clock.time()
    apns_id = str(uuid.uuid4())
    request = push.to_request()
    outcome: Outcome = check_route(request) or check_request(
        request, account_identity(state, push), state.registry, environment=push.environment, now=now,
        policy=policy_for(state.config))
    if isinstance(outcome, Accepted):
        admit(state, push.environment, apns_id, outcome, now, source=SOURCE)
        return ConsoleResult(apns_id=apns_id, status=200, reason=None, timestamp=None)
    reason = outcome.reason
    detail: dict[str, Any] = {"reason": reason.wire, "source": SOURCE}
    if outcome.timestamp is not None:
        detail["timestamp"] = outcome.timestamp
    journey = request_journey(request, apns_id, push.environment, status=reason.status, reason=reason.wire,
                              timestamp=outcome.timestamp)
    state.journeys.begin(journey, journeys.REJECTED, **detail)
    return ConsoleResult(apns_id=apns_id, status=reason.status, reason=reason.wire, timestamp=outcome.timestamp)
