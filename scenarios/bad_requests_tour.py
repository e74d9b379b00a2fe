"""A tour of bad requests: start from a valid push, break one thing at a time, read Apple's reason.

Each row is a raw HTTP/2 request on the provider's connection (the provider's ``Notification`` refuses most of
these before they leave, so the tour builds the headers itself). Statuses and reasons are Apple's table,
docs/apns-protocol.md §4.2-§4.3; the header rules §2.1, payload limits §3, tokens §5. The tour starts from
a valid request and breaks one thing each, as pushy's mock-server tests do (docs/style.md).
"""

from __future__ import annotations

import json
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from device_sim import Phone
from provider.apns import TransportError
from provider.apns.connection import Connection
from provider.apns.credentials import CertificateCredentials
from pushsim_i18n import N_, Domain
from scenarios.kit import push_certificate, world
from scenarios.runner import Scenario
from scenarios.story import Story

_ = Domain("scenarios").gettext

BUNDLE_ID = "com.example.tour"
Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class Request:
    headers: Headers
    body: bytes


@dataclass(frozen=True)
class Case:
    broken: str  # what this request gets wrong (marked N_, translated where it is shown)
    change: Callable[[Request], Request]
    status: int  # Apple's answer (§4.3)
    reason: str | None
    certificate: bool = True  # False: a TLS connection without a client certificate (token-auth style)


def _set(name: str, value: str | None) -> Callable[[Request], Request]:
    """Replace the header in place (pseudo-headers must stay first, RFC 9113 §8.3), or add it."""
    def change(r: Request) -> Request:
        if not any(k == name for k, _ in r.headers):
            return Request(r.headers if value is None else [*r.headers, (name, value)], r.body)
        if value is None:
            return Request([(k, v) for k, v in r.headers if k != name], r.body)
        return Request([(k, value if k == name else v) for k, v in r.headers], r.body)
    return change


def _add(name: str, value: str) -> Callable[[Request], Request]:
    return lambda r: Request([*r.headers, (name, value)], r.body)


def _body(body: bytes) -> Callable[[Request], Request]:
    return lambda r: Request(r.headers, body)


CASES: list[Case] = [
    Case(N_("nothing: the valid request"), lambda r: r, 200, None),
    Case(N_(":method GET instead of POST"), lambda r: _body(b"")(_set(":method", "GET")(r)), 405,
         "MethodNotAllowed"),
    Case(N_(":path /3/push/… (not /3/device/)"),
         lambda r: _set(":path", r.headers[3][1].replace("device", "push"))(r), 404, "BadPath"),
    Case(N_(":path without a device token"), _set(":path", "/3/device/"), 400, "MissingDeviceToken"),
    Case(N_("device token is not hex"), _set(":path", "/3/device/not-a-token"), 400, "BadDeviceToken"),
    Case(N_("device token no phone ever had"), _set(":path", "/3/device/" + "ab" * 32), 400, "BadDeviceToken"),
    Case(N_("apns-topic of an app the certificate is not for"), _set("apns-topic", "com.example.other"), 400,
         "TopicDisallowed"),
    Case(N_("apns-push-type fax"), _set("apns-push-type", "fax"), 400, "InvalidPushType"),
    Case(N_("apns-priority 7"), _set("apns-priority", "7"), 400, "BadPriority"),
    Case(N_("apns-id not a UUID"), _set("apns-id", "not-a-uuid"), 400, "BadMessageId"),
    Case(N_("apns-expiration tomorrow"), _set("apns-expiration", "tomorrow"), 400, "BadExpirationDate"),
    Case(N_("apns-collapse-id of 65 bytes"), _set("apns-collapse-id", "x" * 65), 400, "BadCollapseId"),
    Case(N_("apns-topic twice"), _add("apns-topic", BUNDLE_ID), 400, "DuplicateHeaders"),
    Case(N_("empty payload"), _body(b""), 400, "PayloadEmpty"),
    Case(N_("payload of 4097 bytes (limit 4096)"),
         _body(json.dumps({"aps": {"alert": "x" * 4075}}).encode()), 413, "PayloadTooLarge"),
    Case(N_("no client certificate and no JWT"), lambda r: r, 403, "MissingProviderToken", certificate=False),
    Case(N_("a JWT that is not one"), _add("authorization", "bearer not.a.jwt"), 403, "InvalidProviderToken",
         certificate=False),
]


def _plain_tls(ca_file: str) -> ssl.SSLContext:
    """TLS trusting the simulator, with no client certificate: how a token-auth provider connects (§5)."""
    context = ssl.create_default_context(cafile=ca_file)
    context.set_alpn_protocols(["h2"])
    return context


async def run(story: Story) -> None:
    async with world(story) as w:
        await story.stage(_("A valid push to start from"), "provider", number=1)
        credentials = push_certificate(w.portal, w.work, BUNDLE_ID)
        assert isinstance(credentials, CertificateCredentials)
        host, port = w.endpoints["sandbox"].removeprefix("https://").rsplit(":", 1)
        async with Phone.open(w.endpoints, state_dir=w.work / "iphone", name="Tour iPhone") as phone:
            token = await phone.install_app(BUNDLE_ID).register()
            story.step(_("{bundle} on an iPhone, token {token}…").format(bundle=BUNDLE_ID, token=token[:16]),
                       actor="app")
            valid = Request([(":method", "POST"), (":scheme", "https"), (":authority", f"{host}:{port}"),
                             (":path", f"/3/device/{token}"), ("apns-topic", BUNDLE_ID), ("apns-push-type", "alert"),
                             ("apns-priority", "10"), ("content-type", "application/json")],
                            json.dumps({"aps": {"alert": "Hello"}}).encode())
            story.step(_("{request}; one thing broken per request below").format(
                request="POST /3/device/<token>, apns-topic, apns-push-type alert, apns-priority 10, "
                        '{"aps":{"alert":"Hello"}}'))
            mtls = await Connection.open(host, int(port), credentials.ssl_context(w.endpoints["ca_file"]))
            bare = await Connection.open(host, int(port), _plain_tls(w.endpoints["ca_file"]))
            rows: list[tuple[str, str, str, str]] = []
            verdicts: list[tuple[bool, str]] = []
            await story.stage(_("The tour: one thing broken per request"), "apns", number=1)
            try:
                with story.progress(_("requests"), len(CASES)) as bar:
                    for case in CASES:
                        request = case.change(valid)
                        apns_id = str(uuid.uuid4())
                        headers = request.headers
                        if not any(k == "apns-id" for k, _ in headers):
                            headers = [*headers, ("apns-id", apns_id)]
                        conn = mtls if case.certificate else bare
                        try:
                            response = await conn.request(headers, request.body, timeout=10)
                            reason = json.loads(response.body).get("reason") if response.body else None
                            said = f"{response.status} {reason or ''}".strip()
                            ok = (response.status, reason) == (case.status, case.reason)
                        except TransportError as exc:  # no answer at all: a failed row, not a crash
                            said, ok = _("no answer: {error}").format(error=exc), False
                        expected = f"{case.status} {case.reason or ''}".strip()
                        broken = _(case.broken)
                        rows.append((broken, expected, said, "✓" if ok else "✗"))
                        claim = _("{broken}: {expected}") if ok else _("{broken}: {expected} expected, got {said}")
                        verdicts.append((ok, claim.format(broken=broken, expected=expected, said=said)))
                        bar.advance()
            finally:
                await mtls.close()
                await bare.close()
            # No section number in the title (issue 16): a reader has no use for the docs' numbering here.
            story.table(_("Bad requests and Apple's answers"), (_("broken"), _("Apple says"), _("simulator said"), ""),
                        rows)
            for ok, claim in verdicts:  # after the table, so a mismatch is seen among all the answers
                story.check(ok, claim)
            received = await phone.app(BUNDLE_ID).next_notification(timeout=10)
            story.check(received.payload == {"aps": {"alert": "Hello"}}, _("only the valid request reached the app"))


SCENARIO = Scenario("bad-requests-tour", N_("a table of requests, each broken one way (method, path, token, topic, "
                    "headers, payload, auth), with Apple's status and reason checked"), run)
