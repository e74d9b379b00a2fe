"""Apple's request rules, table-driven: start from a valid push and break one thing each.

Each case names the section of docs/apns-protocol.md it checks (the pushy mock server's testing habit,
docs/style.md). No sockets, no SQLite: a dict lookup stands in for the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from apns_sim.model.records import AppIdRecord
from apns_sim.model.registry import ACTIVE, REPLACED, UNINSTALLED, VOIP, TokenRecord
from apns_sim.push.auth import CertificateIdentity, Identity, TokenIdentity
from apns_sim.push.reasons import Reason
from apns_sim.push.request import Accepted, PushRequest, Rejection, parse_request
from apns_sim.push.validation import Policy, check_route, echo_apns_id, validate

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TEAM = "TEAM123456"
BUNDLE = "com.example.app"
TOKEN = "ab" * 32
PROD_TOKEN = "cd" * 32
REPLACED_TOKEN = "ef" * 32
GONE_TOKEN = "01" * 32
LEAVING_TOKEN = "02" * 32
OTHER_APP_TOKEN = "03" * 32
LONG_TOKEN = "04" * 100  # 100 bytes: the longest Apple allows (§8)
VOIP_APP_TOKEN = "05" * 32  # a token of "com.example.voip", an app whose bundle id ends like a VoIP topic
NEW_APP_TOKEN = "06" * 32  # a token of an App ID created after the connection's first push
VOIP_TOKEN = "07" * 32  # the PushKit token of BUNDLE (docs/device-side.md §2.7, rule 28)
VOIP_APP = "com.example.voip"
NEW_APP = "com.example.new"

SINGLE = CertificateIdentity(bundle_id=BUNDLE, team_id=TEAM, topics=(BUNDLE,), serial=1)
UNIVERSAL = CertificateIdentity(bundle_id=BUNDLE, team_id=TEAM, topics=(BUNDLE, f"{BUNDLE}.voip",
                                f"{BUNDLE}.complication"), serial=2)
JWT = TokenIdentity(team_id=TEAM, key_id="KEY1234567", issued_at=NOW.timestamp())


def _token(token: str, *, bundle: str = BUNDLE, env: str = "sandbox", state: str = ACTIVE,
           unregistered_at: datetime | None = None, kind: str = "app") -> TokenRecord:
    return TokenRecord(token=token, device_id="dev-1", bundle_id=bundle, environment=env,
                       issued_at=NOW - timedelta(days=1), state=state, changed_at=None,
                       unregistered_at=unregistered_at, kind=kind)


def _app(bundle: str, team: str = TEAM, wildcard: bool = False, created_at: datetime = NOW - timedelta(days=30),
         ) -> AppIdRecord:
    return AppIdRecord(bundle_id=bundle, team_id=team, wildcard=wildcard, push_enabled=not wildcard,
                       created_at=created_at)


@dataclass
class FakeLookup:
    tokens: dict[str, TokenRecord] = field(default_factory=lambda: {t.token: t for t in [
        _token(TOKEN), _token(PROD_TOKEN, env="production"), _token(REPLACED_TOKEN, state=REPLACED),
        _token(GONE_TOKEN, state=UNINSTALLED, unregistered_at=NOW - timedelta(minutes=5)),
        _token(LEAVING_TOKEN, state=UNINSTALLED, unregistered_at=NOW + timedelta(minutes=5)),
        _token(OTHER_APP_TOKEN, bundle="com.example.other"), _token(LONG_TOKEN),
        _token(VOIP_APP_TOKEN, bundle=VOIP_APP), _token(NEW_APP_TOKEN, bundle=NEW_APP),
        _token(VOIP_TOKEN, kind=VOIP),
    ]})
    apps: dict[str, AppIdRecord] = field(default_factory=lambda: {a.bundle_id: a for a in [
        _app(BUNDLE), _app("com.example.other"), _app("com.rival.app", team="RIVAL12345"),
        _app("com.example.*", wildcard=True), _app(VOIP_APP), _app(NEW_APP, created_at=NOW),
    ]})

    def get_token(self, token_hex: str) -> TokenRecord | None:
        return self.tokens.get(token_hex.lower())

    def get_app_id(self, bundle_id: str) -> AppIdRecord | None:
        return self.apps.get(bundle_id)


@dataclass
class Req:
    """A valid push, as a mutable recipe; each case changes one field."""

    method: str = "POST"
    token: str = TOKEN
    path: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=lambda: [
        ("apns-topic", BUNDLE), ("apns-push-type", "alert"), ("apns-priority", "10"),
        ("apns-id", "4A5F9C8E-1B2D-4E3F-8A9B-0C1D2E3F4A5B"), ("apns-expiration", "0")])
    body: bytes = b'{"aps":{"alert":"hi"}}'

    def set(self, name: str, value: str | None) -> Req:
        self.headers = [(n, v) for n, v in self.headers if n != name]
        if value is not None:
            self.headers.append((name, value))
        return self

    def build(self) -> PushRequest:
        raw = [(b":method", self.method.encode()), (b":scheme", b"https"),
               (b":path", (self.path or f"/3/device/{self.token}").encode()), (b":authority", b"127.0.0.1")]
        raw += [(n.encode(), v.encode()) for n, v in self.headers]
        return parse_request(raw, self.body)


def _run(req: Req, identity: Identity = SINGLE, env: str = "sandbox", policy: Policy | None = None,
         ) -> Accepted | Rejection:
    if policy is None:
        return validate(req.build(), identity, FakeLookup(), environment=env, now=NOW.timestamp())
    return validate(req.build(), identity, FakeLookup(), environment=env, now=NOW.timestamp(), policy=policy)


def _reason(req: Req, identity: Identity = SINGLE) -> str:
    outcome = _run(req, identity)
    assert isinstance(outcome, Rejection), outcome
    return outcome.reason.wire


def _attr(r: Req, name: str, value: object) -> Req:
    setattr(r, name, value)
    return r


Case = tuple[str, Callable[[Req], object], Identity, Reason]

REJECTIONS: list[Case] = [
    # §2.1 :method
    ("method", lambda r: _attr(r, "method", "GET"), SINGLE, Reason.METHOD_NOT_ALLOWED),
    # §2.1 :path
    ("path", lambda r: _attr(r, "path", "/3/devices/" + TOKEN), SINGLE, Reason.BAD_PATH),
    ("path-v2", lambda r: _attr(r, "path", "/2/device/" + TOKEN), SINGLE, Reason.BAD_PATH),
    ("empty-token", lambda r: _attr(r, "token", ""), SINGLE, Reason.MISSING_DEVICE_TOKEN),
    # §8 token syntax
    ("token-not-hex", lambda r: _attr(r, "token", "zz" * 32), SINGLE, Reason.BAD_DEVICE_TOKEN),
    ("token-odd-length", lambda r: _attr(r, "token", TOKEN + "a"), SINGLE, Reason.BAD_DEVICE_TOKEN),
    ("token-over-100-bytes", lambda r: _attr(r, "token", LONG_TOKEN + "04"), SINGLE, Reason.BAD_DEVICE_TOKEN),
    # §2.1, §6 topic
    ("no-topic-token-auth", lambda r: r.set("apns-topic", None), JWT, Reason.MISSING_TOPIC),
    ("no-topic-multi-topic-cert", lambda r: r.set("apns-topic", None), UNIVERSAL, Reason.MISSING_TOPIC),
    ("empty-topic-token-auth", lambda r: r.set("apns-topic", ""), JWT, Reason.MISSING_TOPIC),
    ("bad-topic", lambda r: r.set("apns-topic", "com.example.*"), SINGLE, Reason.BAD_TOPIC),
    ("bad-topic-space", lambda r: r.set("apns-topic", "com.example app"), JWT, Reason.BAD_TOPIC),
    ("topic-not-in-cert", lambda r: r.set("apns-topic", "com.example.other"), SINGLE, Reason.TOPIC_DISALLOWED),
    # §2.1 push type, §2.2 suffixes
    ("unknown-push-type", lambda r: r.set("apns-push-type", "sms"), SINGLE, Reason.INVALID_PUSH_TYPE),
    ("voip-to-bundle-topic", lambda r: r.set("apns-push-type", "voip"), UNIVERSAL, Reason.TOPIC_DISALLOWED),
    ("liveactivity-to-bundle", lambda r: r.set("apns-push-type", "liveactivity"), JWT, Reason.TOPIC_DISALLOWED),
    ("voip-topic-single-cert", lambda r: r.set("apns-topic", f"{BUNDLE}.voip").set("apns-push-type", "voip"),
     SINGLE, Reason.TOPIC_DISALLOWED),
    # §5 token auth: the team's explicit App IDs only
    ("topic-of-other-team", lambda r: r.set("apns-topic", "com.rival.app"), JWT, Reason.TOPIC_DISALLOWED),
    ("topic-without-app-id", lambda r: r.set("apns-topic", "com.example.unknown"), JWT, Reason.TOPIC_DISALLOWED),
    # §2.1 headers
    ("priority", lambda r: r.set("apns-priority", "7"), SINGLE, Reason.BAD_PRIORITY),
    ("priority-text", lambda r: r.set("apns-priority", "high"), SINGLE, Reason.BAD_PRIORITY),
    ("apns-id", lambda r: r.set("apns-id", "not-a-uuid"), SINGLE, Reason.BAD_MESSAGE_ID),
    ("apns-id-no-dashes", lambda r: r.set("apns-id", "4a5f9c8e1b2d4e3f8a9b0c1d2e3f4a5b"), SINGLE,
     Reason.BAD_MESSAGE_ID),
    ("expiration", lambda r: r.set("apns-expiration", "tomorrow"), SINGLE, Reason.BAD_EXPIRATION_DATE),
    ("expiration-float", lambda r: r.set("apns-expiration", "1.5"), SINGLE, Reason.BAD_EXPIRATION_DATE),
    ("collapse-id-65-bytes", lambda r: r.set("apns-collapse-id", "x" * 65), SINGLE, Reason.BAD_COLLAPSE_ID),
    ("collapse-id-utf8-bytes", lambda r: r.set("apns-collapse-id", "é" * 33), SINGLE, Reason.BAD_COLLAPSE_ID),
    ("duplicate-header", lambda r: r.headers.append(("apns-priority", "10")), SINGLE, Reason.DUPLICATE_HEADERS),
    # §3 payload
    ("empty-payload", lambda r: _attr(r, "body", b""), SINGLE, Reason.PAYLOAD_EMPTY),
    ("payload-4097", lambda r: _attr(r, "body", b"x" * 4097), SINGLE, Reason.PAYLOAD_TOO_LARGE),
    ("voip-payload-5121", lambda r: (r.set("apns-topic", f"{BUNDLE}.voip").set("apns-push-type", "voip"),
                                     _attr(r, "body", b"x" * 5121)), UNIVERSAL, Reason.PAYLOAD_TOO_LARGE),
    # §8 token state and environment
    ("unknown-token", lambda r: _attr(r, "token", "99" * 32), SINGLE, Reason.BAD_DEVICE_TOKEN),
    ("token-of-other-env", lambda r: _attr(r, "token", PROD_TOKEN), SINGLE, Reason.BAD_DEVICE_TOKEN),
    ("replaced-token", lambda r: _attr(r, "token", REPLACED_TOKEN), SINGLE, Reason.BAD_DEVICE_TOKEN),
    ("token-of-other-app", lambda r: _attr(r, "token", OTHER_APP_TOKEN), JWT, Reason.DEVICE_TOKEN_NOT_FOR_TOPIC),
    ("token-not-for-cert-topic", lambda r: _attr(r, "token", OTHER_APP_TOKEN), SINGLE,
     Reason.DEVICE_TOKEN_NOT_FOR_TOPIC),
    ("uninstalled", lambda r: _attr(r, "token", GONE_TOKEN), SINGLE, Reason.UNREGISTERED),
    # docs/device-side.md §2.7, §6 rule 28: the PushKit token and the APNs token are not interchangeable
    ("app-token-to-voip-topic", lambda r: r.set("apns-topic", f"{BUNDLE}.voip").set("apns-push-type", "voip"),
     UNIVERSAL, Reason.DEVICE_TOKEN_NOT_FOR_TOPIC),
    ("app-token-to-voip-topic-jwt", lambda r: r.set("apns-topic", f"{BUNDLE}.voip").set("apns-push-type", "voip"),
     JWT, Reason.DEVICE_TOKEN_NOT_FOR_TOPIC),
    ("app-token-to-inferred-voip", lambda r: r.set("apns-topic", f"{BUNDLE}.voip").set("apns-push-type", None),
     UNIVERSAL, Reason.DEVICE_TOKEN_NOT_FOR_TOPIC),
    ("voip-token-to-bundle-topic", lambda r: _attr(r, "token", VOIP_TOKEN), SINGLE, Reason.DEVICE_TOKEN_NOT_FOR_TOPIC),
    ("voip-token-to-bundle-topic-jwt", lambda r: _attr(r, "token", VOIP_TOKEN), JWT,
     Reason.DEVICE_TOKEN_NOT_FOR_TOPIC),
    ("voip-token-background", lambda r: (_attr(r, "token", VOIP_TOKEN), r.set("apns-push-type", "background"),
                                         r.set("apns-priority", "5")), SINGLE, Reason.DEVICE_TOKEN_NOT_FOR_TOPIC),
    ("voip-token-complication", lambda r: (_attr(r, "token", VOIP_TOKEN), r.set("apns-push-type", "complication"),
                                           r.set("apns-topic", f"{BUNDLE}.complication")), UNIVERSAL,
     Reason.DEVICE_TOKEN_NOT_FOR_TOPIC),
    ("voip-token-voip-type-bare-topic", lambda r: (_attr(r, "token", VOIP_TOKEN), r.set("apns-push-type", "voip")),
     UNIVERSAL, Reason.TOPIC_DISALLOWED),  # §2.2 observed: the suffix rule answers first
    ("voip-token-of-other-app", lambda r: (_attr(r, "token", VOIP_TOKEN), r.set("apns-push-type", "voip"),
                                           r.set("apns-topic", "com.example.other.voip")), JWT,
     Reason.DEVICE_TOKEN_NOT_FOR_TOPIC),
]


@pytest.mark.parametrize(("mutate", "identity", "reason"), [c[1:] for c in REJECTIONS],
                         ids=[c[0] for c in REJECTIONS])
def test_one_broken_rule(mutate: Callable[[Req], object], identity: Identity, reason: Reason) -> None:
    """§2-§8: each case breaks exactly one rule of a valid push and gets Apple's reason and status."""
    req = Req()
    mutate(req)
    outcome = _run(req, identity)
    assert isinstance(outcome, Rejection), outcome
    assert outcome.reason is reason
    assert outcome.status == reason.status


def test_the_valid_push_is_accepted() -> None:
    """§2.1: the base request, with every optional header set, is accepted with its fields parsed."""
    outcome = _run(Req().set("apns-collapse-id", "x" * 64))
    assert outcome == Accepted(token=TOKEN, device_id="dev-1", bundle_id=BUNDLE, topic=BUNDLE, push_type="alert",
                               priority=10, expiration=0, collapse_id="x" * 64, payload=b'{"aps":{"alert":"hi"}}')


ACCEPTED: list[tuple[str, Callable[[Req], object], Identity]] = [
    # §6: a single-topic certificate supplies the topic
    ("default-topic", lambda r: r.set("apns-topic", None), SINGLE),
    # §5: a token may push to any explicit App ID of its team
    ("jwt-other-team-app", lambda r: (r.set("apns-topic", "com.example.other"), _attr(r, "token",
                                                                                       OTHER_APP_TOKEN)), JWT),
    # §8: upper-case hex, and the 100-byte maximum
    ("upper-case-token", lambda r: _attr(r, "token", TOKEN.upper()), SINGLE),
    ("100-byte-token", lambda r: _attr(r, "token", LONG_TOKEN), SINGLE),
    # §2.1: optional headers may be absent; the lowercase apns-id Apple documents
    ("no-optional-headers", lambda r: [r.set(h, None) for h in ("apns-push-type", "apns-priority", "apns-id",
                                                                 "apns-expiration")], SINGLE),
    ("lowercase-apns-id", lambda r: r.set("apns-id", "4a5f9c8e-1b2d-4e3f-8a9b-0c1d2e3f4a5b"), SINGLE),
    ("priority-5", lambda r: r.set("apns-priority", "5"), SINGLE),
    ("priority-1", lambda r: r.set("apns-priority", "1"), SINGLE),
    # §3: exactly at the limits
    ("payload-4096", lambda r: _attr(r, "body", b"x" * 4096), SINGLE),
    ("voip-payload-5120", lambda r: (r.set("apns-topic", f"{BUNDLE}.voip").set("apns-push-type", "voip"),
                                     _attr(r, "token", VOIP_TOKEN), _attr(r, "body", b"x" * 5120)), UNIVERSAL),
    # docs/device-side.md §2.7, rule 28: the PushKit token takes VoIP pushes, by certificate or token auth
    ("voip-token-cert", lambda r: (r.set("apns-topic", f"{BUNDLE}.voip").set("apns-push-type", "voip"),
                                   _attr(r, "token", VOIP_TOKEN)), UNIVERSAL),
    ("voip-token-jwt", lambda r: (r.set("apns-topic", f"{BUNDLE}.voip").set("apns-push-type", "voip"),
                                  _attr(r, "token", VOIP_TOKEN)), JWT),
    # §2.2 suffix rules for token connections
    ("liveactivity", lambda r: r.set("apns-topic", f"{BUNDLE}.push-type.liveactivity").set(
        "apns-push-type", "liveactivity"), JWT),
    ("location", lambda r: r.set("apns-topic", f"{BUNDLE}.location-query").set("apns-push-type", "location"), JWT),
    ("pushtotalk", lambda r: r.set("apns-topic", f"{BUNDLE}.voip-ptt").set("apns-push-type", "pushtotalk"), JWT),
    # §4.1: Apple's delay before 410
    ("uninstalled-before-410", lambda r: _attr(r, "token", LEAVING_TOKEN), SINGLE),
    # §2.1: other headers are ignored
    ("content-type-ignored", lambda r: r.headers.append(("content-type", "application/x-www-form-urlencoded")),
     SINGLE),
]


@pytest.mark.parametrize(("mutate", "identity"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_allowed_variations(mutate: Callable[[Req], object], identity: Identity) -> None:
    """§2-§8: variations Apple allows stay accepted."""
    req = Req()
    mutate(req)
    assert isinstance(_run(req, identity), Accepted)


def test_unregistered_carries_the_time_in_ms() -> None:
    """§4.1: 410 Unregistered carries "timestamp", ms since the epoch when the token stopped being valid."""
    outcome = _run(Req(token=GONE_TOKEN))
    assert outcome == Rejection(Reason.UNREGISTERED, int((NOW - timedelta(minutes=5)).timestamp() * 1000))


def test_push_type_inferred_from_topic_suffix() -> None:
    """§2.2: without apns-push-type, a .voip topic is a VoIP push (and gets the 5120-byte limit, §3)."""
    req = Req(token=VOIP_TOKEN, body=b"x" * 5000).set("apns-push-type", None).set("apns-topic", f"{BUNDLE}.voip")
    outcome = _run(req, UNIVERSAL)
    assert isinstance(outcome, Accepted)
    assert (outcome.push_type, outcome.bundle_id, outcome.topic) == ("voip", BUNDLE, f"{BUNDLE}.voip")


def test_production_token_on_production() -> None:
    """§8: each environment has its own tokens; the production token is valid on production."""
    outcome = _run(Req(token=PROD_TOKEN), env="production")
    assert isinstance(outcome, Accepted)
    assert _run(Req(token=TOKEN), env="production") == Rejection(Reason.BAD_DEVICE_TOKEN)


def test_first_broken_rule_wins() -> None:
    """§4.5 (our order): route before headers before model; the earliest failing rule gives the reason."""
    assert _reason(Req(method="PUT", token="zz")) == "MethodNotAllowed"
    assert _reason(Req(token="99" * 32).set("apns-priority", "3")) == "BadPriority"
    assert _reason(Req().set("apns-priority", "3").set("apns-id", "x")) == "BadPriority"


def test_route_checks_need_no_credentials() -> None:
    """§2.1: 405 and 404 are decided before authentication, so they come before any 403."""
    assert check_route(Req(method="GET").build()) == Rejection(Reason.METHOD_NOT_ALLOWED)
    assert check_route(Req(path="/").build()) == Rejection(Reason.BAD_PATH)
    assert check_route(Req().build()) is None


def test_topic_that_is_itself_a_bundle_id_is_not_inferred_as_voip() -> None:
    """§2.2: without apns-push-type the suffix is a hint only; an app whose bundle id ends in ".voip" gets alerts.

    Inferring VoIP from "com.example.voip" would strip the suffix and refuse the push (TopicDisallowed or
    DeviceTokenNotForTopic) although the topic names a real app, as it would on Apple's service.
    """
    jwt_push = Req(token=VOIP_APP_TOKEN).set("apns-push-type", None).set("apns-topic", VOIP_APP)
    outcome = _run(jwt_push, JWT)
    assert isinstance(outcome, Accepted), outcome
    assert (outcome.push_type, outcome.bundle_id, outcome.topic) == ("alert", VOIP_APP, VOIP_APP)
    cert = CertificateIdentity(bundle_id=VOIP_APP, team_id=TEAM, topics=(VOIP_APP,), serial=3)
    cert_push = Req(token=VOIP_APP_TOKEN).set("apns-push-type", None).set("apns-topic", None)
    outcome = _run(cert_push, cert)
    assert isinstance(outcome, Accepted), outcome
    assert (outcome.push_type, outcome.bundle_id) == ("alert", VOIP_APP)
    # a real VoIP topic of another app is still inferred as VoIP
    voip = _run(Req(token=VOIP_TOKEN, body=b"x" * 5000).set("apns-push-type", None).set("apns-topic",
                                                                                      f"{BUNDLE}.voip"), JWT)
    assert isinstance(voip, Accepted) and voip.push_type == "voip"


def test_replaced_token_reason_is_a_knob() -> None:
    """§4.3, §8: a token replaced by a newer one answers BadDeviceToken by default; Apple's 410 ExpiredToken
    has no documented trigger, so the simulator can be told to use it for replaced tokens instead."""
    assert _run(Req(token=REPLACED_TOKEN)) == Rejection(Reason.BAD_DEVICE_TOKEN)
    outcome = _run(Req(token=REPLACED_TOKEN), policy=Policy(replaced_token=Reason.EXPIRED_TOKEN))
    assert outcome == Rejection(Reason.EXPIRED_TOKEN)
    assert isinstance(outcome, Rejection) and outcome.status == 410 and outcome.timestamp is None
    with pytest.raises(ValueError):
        Policy(replaced_token=Reason.BAD_TOPIC)


def test_app_id_created_after_the_connection_bound_its_team() -> None:
    """§5 (A-TOKEN, A-F687789): APNs binds the team's bundle ids to a token connection at its first push; an
    App ID created later is refused on that connection (observed 403 InvalidProviderToken) until it reconnects."""
    req = Req(token=NEW_APP_TOKEN).set("apns-topic", NEW_APP)
    bound_before = TokenIdentity(team_id=TEAM, key_id="KEY1234567", issued_at=NOW.timestamp(),
                                 bound_at=(NOW - timedelta(minutes=1)).timestamp())
    assert _run(req, bound_before) == Rejection(Reason.INVALID_PROVIDER_TOKEN)
    assert isinstance(_run(Req().set("apns-topic", BUNDLE), bound_before), Accepted)  # older apps still work
    bound_after = TokenIdentity(team_id=TEAM, key_id="KEY1234567", issued_at=NOW.timestamp(),
                                bound_at=NOW.timestamp())
    assert isinstance(_run(Req(token=NEW_APP_TOKEN).set("apns-topic", NEW_APP), bound_after), Accepted)


def test_only_a_canonical_apns_id_is_echoed() -> None:
    """§4.1: a valid apns-id is echoed verbatim, case kept; a bad or missing one is not (APNs makes one)."""
    assert echo_apns_id("4A5F9C8E-1b2d-4E3F-8A9B-0C1D2E3F4A5B") == "4A5F9C8E-1b2d-4E3F-8A9B-0C1D2E3F4A5B"
    for value in (None, "", "not-a-uuid", "4a5f9c8e1b2d4e3f8a9b0c1d2e3f4a5b", "{4a5f9c8e-1b2d-4e3f-8a9b-0c1d2e3f4a5b}"):
        assert echo_apns_id(value) is None


def test_app_id_created_in_the_same_instant_as_the_binding_is_not_new() -> None:
    """§5: a datetime (microseconds) made from the same clock reading as the binding may round up past the
    float it came from; that must not make an existing App ID look newer (a millisecond of slack)."""
    t = NOW.timestamp() + 0.0000006
    created = datetime.fromtimestamp(t, UTC)
    assert created.timestamp() > t  # the rounding this test is about
    lookup = FakeLookup()
    lookup.apps[NEW_APP] = _app(NEW_APP, created_at=created)
    identity = TokenIdentity(team_id=TEAM, key_id="KEY1234567", issued_at=t, bound_at=t)
    outcome = validate(Req(token=NEW_APP_TOKEN).set("apns-topic", NEW_APP).build(), identity, lookup,
                       environment="sandbox", now=t)
    assert isinstance(outcome, Accepted), outcome
