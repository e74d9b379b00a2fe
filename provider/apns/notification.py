"""What the provider sends: a validated ``Notification`` and a small payload builder.

Everything APNs would refuse for the shape of a request is refused here first, with a ``ValueError`` that says
what is wrong, so a provider learns about its own bug before spending a request (and an error count on its
connection, docs/apns-protocol.md §4.4). The rules come from §2.1 (headers), §2.2 (push types), §3
(payload and size) and §8 (tokens of variable length).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pushsim_i18n import N_, Domain

_ = Domain("provider").gettext

# §2.1: the push types Apple documents for apns-push-type.
PUSH_TYPES = frozenset(
    {
        "alert",
        "background",
        "complication",
        "controls",
        "fileprovider",
        "liveactivity",
        "location",
        "mdm",
        "pushtotalk",
        "voip",
        "widgets",
    }
)
PRIORITIES = frozenset({1, 5, 10})
MAX_PAYLOAD = 4096  # §2.1, §3
MAX_VOIP_PAYLOAD = 5120  # §3
MAX_COLLAPSE_ID_BYTES = 64  # §2.1
# §8: tokens are variable length; 32 bytes is common, up to 100 bytes has been announced.
MAX_TOKEN_HEX = 200
# Apple documents a badge number without a bound; the simulated phone shows at most a 32-bit signed integer
# and refuses a bigger one (docs/choices.md "Badge numbers"), so a provider learns of it before sending.
MAX_BADGE = 2**31 - 1

_HEX = re.compile(r"[0-9a-fA-F]+")
_FIELD_VALUE = re.compile(r"[^\x00-\x1f\x7f]*")  # an HTTP field value: no control characters (RFC 9110 §5.5)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TOPIC = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-_]*")
_ALERT_STRING_KEYS = {
    "title",
    "subtitle",
    "body",
    "launch-image",
    "title-loc-key",
    "subtitle-loc-key",
    "loc-key",
}
_ALERT_LIST_KEYS = {"title-loc-args", "subtitle-loc-args", "loc-args"}
_INTERRUPTION_LEVELS = {"passive", "active", "time-sensitive", "critical"}


class NotificationError(ValueError):
    """Something APNs would refuse, said in one sentence. ``str()`` is the English sentence: the provider
    service's HTTP answers quote it and :mod:`provider.inputs` reads the field it names from it (machine-facing,
    docs/provider-service.md §5). :meth:`translated` is the same sentence in the reader's language, for a person
    at the command line (docs/i18n.md)."""

    def __init__(self, message: str, **values: Any) -> None:
        super().__init__(message.format(**values))
        self.message = message
        self.values = values

    def translated(self) -> str:
        return _(self.message).format(**self.values)



def normalize_token(token: str) -> str:
    """Lower-case hex device token, or ``ValueError`` saying why it cannot be one (§8)."""
    if not isinstance(token, str) or not token:
        raise NotificationError(N_("device token must be a non-empty hex string"))
    if not _HEX.fullmatch(token):
        raise NotificationError(N_("device token must contain only hexadecimal digits"))
    if len(token) % 2:
        raise NotificationError(N_("device token must have an even number of hex digits, got {count}"),
                                count=len(token))
    if len(token) > MAX_TOKEN_HEX:
        raise NotificationError(N_("device token is {count} hex digits; at most {limit} are accepted"),
                                count=len(token), limit=MAX_TOKEN_HEX)
    return token.lower()


def new_apns_id() -> str:
    """A fresh canonical lower-case UUID for ``apns-id`` (§2.1): a version-4 UUID, as ``uuid.uuid4()``.

    Built from the random bytes directly: ``str(uuid.uuid4())`` goes through ``UUID``'s checks and integer
    formatting, several times the cost, once per push.
    """
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40  # version 4
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def encode_payload(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, the bytes whose length Apple limits (§3)."""
    try:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise NotificationError(N_("payload is not JSON-serializable: {error}"), error=exc) from exc


def validate_payload(payload: Mapping[str, Any], push_type: str | None = "alert") -> bytes:
    """Check the payload's shape and size for ``push_type``; return the bytes to send (§3)."""
    if not isinstance(payload, Mapping):
        raise NotificationError(N_("payload must be a JSON object"))
    if not all(isinstance(k, str) for k in payload):
        raise NotificationError(N_("payload keys must be strings"))
    aps = payload.get("aps")
    if aps is not None:
        _validate_aps(aps)
    body = encode_payload(payload)
    limit = MAX_VOIP_PAYLOAD if push_type == "voip" else MAX_PAYLOAD
    if len(body) > limit:
        # The push type bare, not Python's repr: "push type alert" reads as a sentence in both languages. A
        # payload checked before it has a push type (the builders) is named by the type it would be sent as.
        raise NotificationError(N_("payload is {size} bytes; APNs accepts at most {limit} for push type {push_type}"),
                                size=len(body), limit=limit, push_type=push_type or infer_push_type(payload))
    return body


def _validate_aps(aps: Any) -> None:
    if not isinstance(aps, Mapping):
        raise NotificationError(N_('"aps" must be a JSON object'))
    alert = aps.get("alert")
    if alert is not None and not isinstance(alert, str):
        if not isinstance(alert, Mapping):
            raise NotificationError(N_('"aps.alert" must be a string or an object'))
        for key, value in alert.items():
            if key in _ALERT_STRING_KEYS and not isinstance(value, str):
                raise NotificationError(N_('"aps.alert.{key}" must be a string'), key=key)
            if key in _ALERT_LIST_KEYS and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            ):
                raise NotificationError(N_('"aps.alert.{key}" must be a list of strings'), key=key)
    badge = aps.get("badge")
    if badge is not None and (isinstance(badge, bool) or not isinstance(badge, int) or not 0 <= badge <= MAX_BADGE):
        raise NotificationError(N_('"aps.badge" must be a non-negative integer (0 clears the badge) up to {limit}'),
                                limit=MAX_BADGE)
    sound = aps.get("sound")
    if sound is not None and not isinstance(sound, str | Mapping):
        raise NotificationError(N_('"aps.sound" must be a file name string or a critical-sound object'))
    for flag in ("content-available", "mutable-content"):
        if flag in aps and aps[flag] not in (0, 1):
            raise NotificationError(N_('"aps.{key}" must be 1 (or 0)'), key=flag)
    level = aps.get("interruption-level")
    if level is not None and level not in _INTERRUPTION_LEVELS:
        raise NotificationError(N_('"aps.interruption-level" must be one of {choices}'),
                                choices=sorted(_INTERRUPTION_LEVELS))
    for key in ("thread-id", "category", "target-content-id"):
        if key in aps and not isinstance(aps[key], str):
            raise NotificationError(N_('"aps.{key}" must be a string'), key=key)


AUTO_PUSH_TYPE = "auto"


def infer_push_type(payload: Mapping[str, Any]) -> str:
    """``background`` for a pure content-available payload, else ``alert`` (§2.2, §3)."""
    aps = payload.get("aps")
    if not isinstance(aps, Mapping):
        return "alert"
    if aps.get("content-available") == 1 and not any(k in aps for k in ("alert", "sound", "badge")):
        return "background"
    return "alert"


def _check_fields(n: Notification | Template) -> None:
    """The checks on everything but the token, apns-id and payload; resolves ``push_type="auto"`` and the
    priority of a background push. Shared by ``Notification`` and ``Template`` so the two cannot drift."""
    if n.push_type == AUTO_PUSH_TYPE:
        if not isinstance(n.payload, Mapping):
            raise NotificationError(N_("payload must be a JSON object"))
        object.__setattr__(n, "push_type", infer_push_type(n.payload))
    if n.push_type == "background" and n.priority is None:
        # Apple: background notifications must use priority 5; 10 "is an error" (§2.2).
        object.__setattr__(n, "priority", 5)
    if not isinstance(n.topic, str) or not _TOPIC.fullmatch(n.topic):
        raise NotificationError(N_("topic must be a bundle id such as com.example.app, got {topic!r}"), topic=n.topic)
    if n.push_type is not None and n.push_type not in PUSH_TYPES:
        raise NotificationError(N_("push_type must be one of {choices}, got {push_type!r}"),
                                choices=sorted(PUSH_TYPES), push_type=n.push_type)
    if n.priority is not None and (isinstance(n.priority, bool) or n.priority not in PRIORITIES):
        raise NotificationError(N_("priority must be 10, 5 or 1, got {priority!r}"), priority=n.priority)
    if n.expiration is not None and (
        isinstance(n.expiration, bool) or not isinstance(n.expiration, int) or n.expiration < 0
    ):
        raise NotificationError(N_("expiration must be a UNIX time in seconds (0 = deliver once, never store)"))
    if n.collapse_id is not None:
        if not isinstance(n.collapse_id, str) or not n.collapse_id:
            raise NotificationError(N_("collapse_id must be a non-empty string"))
        if len(n.collapse_id.encode()) > MAX_COLLAPSE_ID_BYTES:
            raise NotificationError(N_("collapse_id must be at most {limit} bytes"), limit=MAX_COLLAPSE_ID_BYTES)
        if not _FIELD_VALUE.fullmatch(n.collapse_id) or n.collapse_id != n.collapse_id.strip():
            raise NotificationError(N_("collapse_id must be a header value: no control characters, no outer spaces"))


@dataclass(frozen=True, kw_only=True)
class Notification:
    """One push request, valid by construction (``ValueError`` otherwise).

    ``token`` is normalised to lower-case hex; ``apns_id`` to a lower-case UUID. ``apns_id=None`` lets the
    client pick one before the first attempt so that every retry carries the same identity (docs/architecture.md,
    "One notification, end to end").
    """

    token: str
    topic: str
    payload: Mapping[str, Any] = field(hash=False)
    push_type: str | None = "auto"  # "auto": background for a content-available-only payload, else alert
    priority: int | None = None
    expiration: int | None = None
    collapse_id: str | None = None
    apns_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "token", normalize_token(self.token))
        _check_fields(self)
        if self.apns_id is not None:
            if not isinstance(self.apns_id, str) or not _UUID.fullmatch(self.apns_id):
                raise NotificationError(
                    N_("apns_id must be a UUID like 123e4567-e89b-12d3-a456-426614174000, got {apns_id!r}"),
                    apns_id=self.apns_id)
            object.__setattr__(self, "apns_id", self.apns_id.lower())
        # The bytes checked are the bytes sent: encoded once here, not again per attempt (not a field, so
        # equality, repr and hashing are unchanged).
        object.__setattr__(self, "_body", validate_payload(self.payload, self.push_type))

    @property
    def body(self) -> bytes:
        """The request body: compact JSON of ``payload``."""
        body: bytes = self.__dict__["_body"]
        return body

    def with_apns_id(self) -> Notification:
        """This notification with an ``apns_id`` (a new uuid4 if it has none).

        A copy with only ``apns_id`` set: everything else was validated when this one was made, and a fresh
        uuid4 is valid, so the checks and the payload encoding are not repeated for every send.
        """
        if self.apns_id is not None:
            return self
        twin = object.__new__(Notification)
        twin.__dict__.update(self.__dict__)
        twin.__dict__["apns_id"] = new_apns_id()
        return twin


@dataclass(frozen=True, kw_only=True)
class Template:
    """One push for many devices: a ``Notification`` without its token, valid by construction.

    A service that sends the same push to every device of an app or a user checks the request once, before it
    knows the tokens (a request that can never be sent is refused even when it targets no device), and then
    makes each device's notification with :meth:`for_token`. Same checks, same messages as ``Notification``.
    """

    topic: str
    payload: Mapping[str, Any] = field(hash=False)
    push_type: str | None = "auto"
    priority: int | None = None
    expiration: int | None = None
    collapse_id: str | None = None

    def __post_init__(self) -> None:
        _check_fields(self)
        validate_payload(self.payload, self.push_type)

    def for_token(self, token: str) -> Notification:
        """The notification for one device (``ValueError`` only if ``token`` is not a device token)."""
        return Notification(
            token=token,
            topic=self.topic,
            payload=self.payload,
            push_type=self.push_type,
            priority=self.priority,
            expiration=self.expiration,
            collapse_id=self.collapse_id,
        )


def alert(
    body: str | None = None,
    *,
    title: str | None = None,
    subtitle: str | None = None,
    badge: int | None = None,
    sound: str | Mapping[str, Any] | None = None,
    thread_id: str | None = None,
    category: str | None = None,
    mutable_content: bool = False,
    interruption_level: str | None = None,
    custom: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build an alert payload: ``{"aps": {...}, **custom}`` (§3).

    A plain ``body`` becomes the string form of ``aps.alert``; a title or subtitle switches to the
    dictionary form. Custom keys sit beside ``aps``, never inside it (Apple ignores them there).
    """
    aps: dict[str, Any] = {}
    if title is None and subtitle is None:
        if body is not None:
            aps["alert"] = body
    else:
        aps["alert"] = {
            k: v for k, v in (("title", title), ("subtitle", subtitle), ("body", body)) if v is not None
        }
    if badge is not None:
        aps["badge"] = badge
    if sound is not None:
        aps["sound"] = sound
    if thread_id is not None:
        aps["thread-id"] = thread_id
    if category is not None:
        aps["category"] = category
    if mutable_content:
        aps["mutable-content"] = 1
    if interruption_level is not None:
        aps["interruption-level"] = interruption_level
    if not aps:
        raise NotificationError(N_("an alert payload needs at least one of body, title, subtitle, badge or sound"))
    return _with_custom(aps, custom)


def background(custom: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A silent background payload: ``content-available`` only, no alert, sound or badge (§3, A-BG)."""
    return _with_custom({"content-available": 1}, custom)


def _with_custom(aps: dict[str, Any], custom: Mapping[str, Any] | None) -> dict[str, Any]:
    payload: dict[str, Any] = {"aps": aps}
    for key, value in (custom or {}).items():
        if key == "aps":
            raise NotificationError(N_('custom keys may not be named "aps"'))
        payload[key] = value
    validate_payload(payload, None)
    return payload
