"""Apple's rules for one push request, as ordered small checks: the first that fails gives the reason.

Pure: a :class:`~apns_sim.push.request.PushRequest`, the connection's identity (certificate or provider token,
from :mod:`apns_sim.push.auth`), a lookup for tokens and App IDs, the environment and ``now`` go in; an
``Accepted`` or a ``Rejection`` comes out (the pushy mock's handler, without its shortcuts; see
docs/apns-protocol.md §4.5 for what not to copy). Each rule cites the section it implements.

Two phases, because authentication sits between them: :data:`ROUTE_CHECKS` (method, path) run before the
credentials are looked at, :data:`REQUEST_CHECKS` after. Apple does not publish its order; this one reads
the request from the outside in (route, token syntax, topic, headers, body) and only then consults the
model (App ID, token state).

Choices where Apple is silent (documented in docs/choices.md when they become knobs):

- ``apns-push-type`` absent: inferred from the topic suffix (``.voip`` = voip, ...), else ``alert``, as
  APNs did before the header existed; a topic that is itself an app's bundle id stays ``alert``.
- A token in state "replaced" (a token-change event issued a newer one) answers ``BadDeviceToken``: Apple
  documents 410 only for an app that stopped wanting the topic (uninstall), and an old token after a
  restore/erase is simply not a valid token any more (§8, device-side §3). :class:`Policy` can make it
  410 ``ExpiredToken`` instead, the one other reading of Apple's table.
- An "uninstalled" token answers 200 until its ``unregistered_at`` (Apple's delay), then 410 with that
  moment as ``timestamp`` in ms (§4.1).
- The payload is not parsed as JSON here: Apple documents no reason for bad JSON (§3, unconfirmed).
- A VoIP push (``<bundle>.voip``) needs the app's PushKit token and the app's APNs token does not take one:
  either mix-up answers ``DeviceTokenNotForTopic``, Apple's reason for a token that belongs to another topic
  (§4.3; docs/device-side.md §2.7). A VoIP push to the bare bundle topic stays ``TopicDisallowed`` (observed, §2.2).
- ``background`` pushes with priority 10 are accepted: Apple calls it "an error" without a wire reason
  (§2.2, A-BG), and a real provider that sends them works against Apple.
- An App ID created after a token connection's first push answers 403 ``InvalidProviderToken`` on that
  connection (observed, A-F687789).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from apns_sim.model.records import AppIdRecord
from apns_sim.model.registry import REPLACED, UNINSTALLED, VOIP, TokenRecord
from apns_sim.push.auth import CertificateIdentity, Identity, TokenIdentity
from apns_sim.push.reasons import Reason
from apns_sim.push.request import Accepted, Outcome, PushRequest, Rejection

MAX_TOKEN_BYTES = 100  # §8: tokens are variable length, up to 100 bytes
MAX_COLLAPSE_ID_BYTES = 64  # §2.1
MAX_PAYLOAD = 4096  # §3
MAX_VOIP_PAYLOAD = 5120  # §3
DEFAULT_PRIORITY = 10  # §2.1
_BINDING_SLACK = 0.001  # seconds: App IDs created this close after a connection's first push count as older

# §2.2: the topic each push type must use, as a suffix of the bundle id ("" = the bundle id itself).
TOPIC_SUFFIXES: dict[str, str] = {
    "alert": "", "background": "", "mdm": "",
    "voip": ".voip", "complication": ".complication", "fileprovider": ".pushkit.fileprovider",
    "liveactivity": ".push-type.liveactivity", "location": ".location-query", "pushtotalk": ".voip-ptt",
    "widgets": ".push-type.widgets", "controls": ".push-type.controls",
}
_INFERRED = sorted(((s, t) for t, s in TOPIC_SUFFIXES.items() if s), key=lambda p: -len(p[0]))
_HEX = re.compile(r"[0-9a-fA-F]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TOPIC = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_DIGITS = re.compile(r"[0-9]{1,19}")


class Lookup(Protocol):
    """What validation reads from the model (``apns_sim.model.registry.Registry`` satisfies it)."""

    def get_token(self, token_hex: str) -> TokenRecord | None: ...

    def get_app_id(self, bundle_id: str) -> AppIdRecord | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """Answers Apple does not pin down, as values (the simulator's knobs reach validation through this).

    ``replaced_token``: what a token replaced by a newer one answers (a restore or erase issued the phone a
    new token). Apple documents 410 ``ExpiredToken`` ("the device token has expired") with no trigger, and
    400 ``BadDeviceToken`` for a token that is not valid; BadDeviceToken is the default (§4.3, §8).
    """

    replaced_token: Reason = Reason.BAD_DEVICE_TOKEN

    def __post_init__(self) -> None:
        if self.replaced_token not in (Reason.BAD_DEVICE_TOKEN, Reason.EXPIRED_TOKEN):
            raise ValueError("a replaced token answers BadDeviceToken or ExpiredToken")


DEFAULT_POLICY = Policy()


class Draft:
    """What the checks learn as they go (topic resolved, push type, token record...)."""

    __slots__ = ("bundle_id", "environment", "expiration", "identity", "lookup", "now", "policy", "priority",
                 "push_type", "record", "request", "topic")

    def __init__(self, request: PushRequest, identity: Identity | None, lookup: Lookup | None,
                 environment: str, now: float, policy: Policy = DEFAULT_POLICY) -> None:
        self.request = request
        self.identity = identity
        self.lookup = lookup
        self.environment = environment
        self.now = now
        self.policy = policy
        self.topic = ""
        self.bundle_id = ""
        self.push_type = "alert"
        self.priority = DEFAULT_PRIORITY
        self.expiration: int | None = None
        self.record: TokenRecord | None = None


Check = Callable[[Draft], Rejection | None]

# -- route (before authentication) ------------------------------------------------------------------


def check_method(d: Draft) -> Rejection | None:
    """§2.1: only POST; anything else is 405 MethodNotAllowed."""
    return None if d.request.method == "POST" else Rejection(Reason.METHOD_NOT_ALLOWED)


def check_path(d: Draft) -> Rejection | None:
    """§2.1: ``/3/device/<token>``; another path is 404 BadPath, an empty token 400 MissingDeviceToken."""
    token = d.request.device_token
    if token is None:
        return Rejection(Reason.BAD_PATH)
    return None if token else Rejection(Reason.MISSING_DEVICE_TOKEN)


# -- request (after authentication) -----------------------------------------------------------------


def check_token_syntax(d: Draft) -> Rejection | None:
    """§8: hex (either case), whole bytes, at most 100 bytes; else BadDeviceToken."""
    token = d.request.device_token or ""
    if len(token) % 2 or len(token) > 2 * MAX_TOKEN_BYTES or not _HEX.fullmatch(token):
        return Rejection(Reason.BAD_DEVICE_TOKEN)
    return None


def check_topic_present(d: Draft) -> Rejection | None:
    """§2.1, §6: a single-topic certificate supplies its bundle id; multi-topic certs and tokens need one."""
    topic = d.request.header("apns-topic") or ""
    if not topic and isinstance(d.identity, CertificateIdentity):
        topic = d.identity.default_topic or ""
    if not topic:
        return Rejection(Reason.MISSING_TOPIC)
    d.topic = topic
    return None


def check_topic_syntax(d: Draft) -> Rejection | None:
    """§2.1: a topic is a bundle id (plus a suffix): letters, digits, dots and hyphens; else BadTopic."""
    return None if _TOPIC.fullmatch(d.topic) else Rejection(Reason.BAD_TOPIC)


def check_topic_in_certificate(d: Draft) -> Rejection | None:
    """§6: a certificate may push only to its own topics; another topic is TopicDisallowed (I-topic)."""
    if isinstance(d.identity, CertificateIdentity) and d.topic not in d.identity.topics:
        return Rejection(Reason.TOPIC_DISALLOWED)
    return None


def check_push_type(d: Draft) -> Rejection | None:
    """§2.1: a known ``apns-push-type``, else InvalidPushType; absent: inferred from the topic suffix.

    A topic that is itself an app's bundle id (``com.example.voip`` may be an app) is an alert topic: the
    suffix is only a hint when nothing else tells.
    """
    value = d.request.header("apns-push-type")
    if value is None:
        d.push_type = "alert" if _names_an_app(d) else next(
            (t for suffix, t in _INFERRED if d.topic.endswith(suffix)), "alert")
        return None
    if value not in TOPIC_SUFFIXES:
        return Rejection(Reason.INVALID_PUSH_TYPE)
    d.push_type = value
    return None


def _names_an_app(d: Draft) -> bool:
    if isinstance(d.identity, CertificateIdentity):
        return d.topic == d.identity.bundle_id
    return d.lookup is not None and d.lookup.get_app_id(d.topic) is not None


def check_topic_suffix(d: Draft) -> Rejection | None:
    """§2.2: voip needs ``<bundle>.voip`` and so on; a topic without the push type's suffix is disallowed."""
    suffix = TOPIC_SUFFIXES[d.push_type]
    if suffix and (not d.topic.endswith(suffix) or len(d.topic) == len(suffix)):
        return Rejection(Reason.TOPIC_DISALLOWED)
    d.bundle_id = d.topic[: len(d.topic) - len(suffix)]
    return None


def check_app_id(d: Draft) -> Rejection | None:
    """§5, §6: a token pushes only to its team's explicit, push-enabled App IDs; else TopicDisallowed.

    APNs binds the team's bundle ids to a token connection at its first push (A-F687789): an App ID created
    after that is refused on this connection with InvalidProviderToken (as observed) until the provider
    reconnects. Certificate connections are bound to their certificate's topics instead (checked above).
    """
    identity = d.identity
    if not isinstance(identity, TokenIdentity) or d.lookup is None:
        return None
    app = d.lookup.get_app_id(d.bundle_id)
    if app is None or app.wildcard or not app.push_enabled or app.team_id != identity.team_id:
        return Rejection(Reason.TOPIC_DISALLOWED)
    # a millisecond of slack: a datetime made from the same clock reading can round up past the float
    if identity.bound_at is not None and app.created_at.timestamp() > identity.bound_at + _BINDING_SLACK:
        return Rejection(Reason.INVALID_PROVIDER_TOKEN)
    return None


def check_priority(d: Draft) -> Rejection | None:
    """§2.1: ``apns-priority`` is 10, 5 or 1 (default 10); else BadPriority."""
    value = d.request.header("apns-priority")
    if value is None:
        return None
    if value not in ("10", "5", "1"):
        return Rejection(Reason.BAD_PRIORITY)
    d.priority = int(value)
    return None


def check_apns_id(d: Draft) -> Rejection | None:
    """§2.1: ``apns-id`` is a canonical 8-4-4-4-12 hex UUID (any case); else BadMessageId."""
    value = d.request.header("apns-id")
    if value is None or _UUID.fullmatch(value):
        return None
    return Rejection(Reason.BAD_MESSAGE_ID)


def echo_apns_id(value: str | None) -> str | None:
    """The request's ``apns-id`` to echo in the response (§4.1), or None when APNs must make a new one.

    Only a canonical UUID is echoed, verbatim (case kept): a BadMessageId answer carrying the bad value
    would break clients that parse the response header as a UUID (pushy does; its mock server answers a
    random UUID there, PUSHY-MSH).
    """
    return value if value is not None and _UUID.fullmatch(value) else None


def check_expiration(d: Draft) -> Rejection | None:
    """§2.1: ``apns-expiration`` is an integer of UNIX seconds (0 = one attempt); else BadExpirationDate."""
    value = d.request.header("apns-expiration")
    if value is None:
        return None
    if not _DIGITS.fullmatch(value):
        return Rejection(Reason.BAD_EXPIRATION_DATE)
    d.expiration = int(value)
    return None


def check_collapse_id(d: Draft) -> Rejection | None:
    """§2.1: ``apns-collapse-id`` at most 64 bytes (UTF-8); else BadCollapseId."""
    value = d.request.header("apns-collapse-id")
    if value is not None and len(value.encode("utf-8", "surrogateescape")) > MAX_COLLAPSE_ID_BYTES:
        return Rejection(Reason.BAD_COLLAPSE_ID)
    return None


def check_duplicates(d: Draft) -> Rejection | None:
    """§2.1, §4.3: any header sent twice is DuplicateHeaders."""
    return Rejection(Reason.DUPLICATE_HEADERS) if d.request.duplicates else None


def check_payload_empty(d: Draft) -> Rejection | None:
    """§3: an empty body is PayloadEmpty."""
    return None if d.request.body_size else Rejection(Reason.PAYLOAD_EMPTY)


def check_payload_size(d: Draft) -> Rejection | None:
    """§3: 4096 bytes, 5120 for VoIP; over is 413 PayloadTooLarge."""
    limit = MAX_VOIP_PAYLOAD if d.push_type == "voip" else MAX_PAYLOAD
    return None if d.request.body_size <= limit else Rejection(Reason.PAYLOAD_TOO_LARGE)


def check_device_token(d: Draft) -> Rejection | None:
    """§8: an unknown token or one from the other environment is BadDeviceToken; a replaced one answers
    ``policy.replaced_token`` (BadDeviceToken, or 410 ExpiredToken)."""
    record = None if d.lookup is None else d.lookup.get_token((d.request.device_token or "").lower())
    if record is None or record.environment != d.environment:
        return Rejection(Reason.BAD_DEVICE_TOKEN)
    if record.state == REPLACED:
        reason = d.policy.replaced_token
        if reason.status == 410 and record.changed_at is not None:  # 410 bodies carry a timestamp (§4.1)
            return Rejection(reason, int(record.changed_at.timestamp() * 1000))
        return Rejection(reason)
    d.record = record
    return None


def check_token_topic(d: Draft) -> Rejection | None:
    """§2.1, A-REG: a token belongs to one app; another app's topic is DeviceTokenNotForTopic.

    docs/device-side.md §2.7, §6 rule 28: the app's PushKit token is a separate token for VoIP pushes to
    ``<bundle>.voip`` only, and its APNs token is not for them; a mix-up is the same token/topic mismatch.
    """
    record = d.record
    if record is not None and (record.bundle_id != d.bundle_id or (record.kind == VOIP) != (d.push_type == "voip")):
        return Rejection(Reason.DEVICE_TOKEN_NOT_FOR_TOPIC)
    return None


def check_unregistered(d: Draft) -> Rejection | None:
    """§4.1, §8: the app is gone; from ``unregistered_at`` on, 410 Unregistered with that time in ms."""
    record = d.record
    if record is None or record.state != UNINSTALLED:
        return None
    since_ms = round((record.unregistered_at or record.changed_at or record.issued_at).timestamp() * 1000)
    if since_ms > round(d.now * 1000):  # milliseconds, the unit of Apple's timestamp (datetimes round to µs)
        return None  # Apple's delay: still answered 200 until then
    return Rejection(Reason.UNREGISTERED, timestamp=since_ms)


ROUTE_CHECKS: tuple[Check, ...] = (check_method, check_path)
REQUEST_CHECKS: tuple[Check, ...] = (
    check_token_syntax, check_topic_present, check_topic_syntax, check_topic_in_certificate, check_push_type,
    check_topic_suffix, check_app_id, check_priority, check_apns_id, check_expiration, check_collapse_id,
    check_duplicates, check_payload_empty, check_payload_size, check_device_token, check_token_topic,
    check_unregistered,
)


def check_route(request: PushRequest) -> Rejection | None:
    """The checks that need no credentials: 405 and 404 come before any 403."""
    draft = Draft(request, None, None, "", 0.0)
    for check in ROUTE_CHECKS:
        rejection = check(draft)
        if rejection is not None:
            return rejection
    return None


def check_request(request: PushRequest, identity: Identity, lookup: Lookup, *, environment: str, now: float,
                  policy: Policy = DEFAULT_POLICY) -> Outcome:
    """Everything after authentication; assumes :func:`check_route` passed."""
    draft = Draft(request, identity, lookup, environment, now, policy)
    for check in REQUEST_CHECKS:
        rejection = check(draft)
        if rejection is not None:
            return rejection
    record = draft.record
    assert record is not None
    return Accepted(
        token=record.token, device_id=record.device_id, bundle_id=draft.bundle_id, topic=draft.topic,
        push_type=draft.push_type, priority=draft.priority, expiration=draft.expiration,
        collapse_id=request.header("apns-collapse-id"), payload=request.body,
    )


def validate(request: PushRequest, identity: Identity, lookup: Lookup, *, environment: str, now: float,
             policy: Policy = DEFAULT_POLICY) -> Outcome:
    """All rules in order, for a request whose credentials are already known."""
    return check_route(request) or check_request(request, identity, lookup, environment=environment, now=now,
                                                 policy=policy)
