"""Who may drive the admin server: web pages of other origins may not, and with a token only its holders may.

The admin server listens on 127.0.0.1, but a browser on the same machine will send requests there on behalf of
any page it shows. Every request goes through :func:`guard_middleware`, in this order (docs/admin-api.md §1):

1. **Host** (every route, GETs and the event stream included): ``localhost``, a loopback address or the
   ``--host`` the user bound (any IP address when that is a wildcard: a DNS rebinding attack needs a name);
   else 421.
2. **Origin** and ``Sec-Fetch-Site``: a request a page of another origin made is 403, unless it is a plain
   navigation to the dashboard (a link from elsewhere may open it).
3. **Token** (when ``--admin-token`` is set): ``Authorization: Bearer TOKEN``, compared in constant time; else
   401 with ``WWW-Authenticate: Bearer``. The dashboard page and its assets carry no data and stay open, so a
   browser can load the page that asks for the token; device activation and erase are the phones' routes (erase
   is signed with the device's own key), not admin ones.
4. **Content-Type** on state-changing methods: a body must be ``application/json`` (or ``+json``); else 415. A
   cross-origin page can send ``text/plain`` without asking, never ``application/json``. Device activation
   and erase keep their own answers (400 for a body that is not JSON, 415 for JSON labelled otherwise).

Refusals are ``{"error": ...}`` with the status above. The token is never logged or echoed.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware

from apns_sim.admin.render import json_answer, too_deep, utf8_json
from apns_sim.admin.words import say
from apns_sim.limits import ADMIN_JSON_DEPTH, ADMIN_MAX_BODY, ADMIN_MIN_TOKEN
from pushsim_i18n import DEFAULT, N_

LOOPBACK_NAMES = frozenset({"localhost"})
WILDCARDS = frozenset({"", "0.0.0.0", "::"})
CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ACTIVATION = "/deviceservices/deviceActivation"  # the phones' route: its own body checks (400, 413, 415)
ERASE = "/deviceservices/deviceErase"  # the phones' too: signed by the device's key, never by an admin token
PHONE_PATHS = frozenset({ACTIVATION, ERASE})
FAVICON = "/favicon.ico"  # an asset by another name: no data, so open like /static/
# The page's language catalogs: no data either, and the page needs them to ask for the token in Chinese.
CATALOGS = frozenset({"/_sim/i18n/en.json", "/_sim/i18n/zh.json"})
OPEN_PATHS = frozenset({"/", FAVICON, *CATALOGS, *PHONE_PATHS})  # no token needed (module docstring, step 3)
OPEN_PREFIX = "/static/"
JSON = "application/json"
REALM = 'Bearer realm="pushsim admin"'
# What every answer carries: the page loads only its own files, may not be framed, and other origins may not
# embed or sniff the JSON (docs/dashboard.md §1).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def check_token(token: str) -> str:
    """The token as given, or ``ValueError`` saying what a usable one looks like (never quoting it)."""
    if len(token) < ADMIN_MIN_TOKEN:
        raise ValueError(f"the admin token must have at least {ADMIN_MIN_TOKEN} characters")
    if not token.isascii() or not token.isprintable() or " " in token:
        raise ValueError("the admin token must be printable ASCII without spaces (it travels in an HTTP header)")
    return token


def refusal(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return json_answer({"error": message}, status=status, headers=headers)


def _hostname(host: str) -> str:
    """The name in a Host header without its port; IPv6 literals lose their brackets."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


@dataclass(frozen=True)
class AdminGuard:
    """What the guard checks against: the address the server is bound to and the token, if any."""

    bind_host: str = "127.0.0.1"
    token: str | None = None

    def host_allowed(self, host: str) -> bool:
        name = _hostname(host.strip().lower())
        address = _ip(name)
        if name in LOOPBACK_NAMES or name.endswith(".localhost") or (address is not None and address.is_loopback):
            return True  # browsers resolve these to this machine without asking DNS
        if name == self.bind_host.lower():
            return True
        return address is not None and self.bind_host in WILDCARDS

    def token_ok(self, authorization: str) -> bool:
        assert self.token is not None
        scheme, _, given = authorization.partition(" ")
        # compare_digest: the time says at most whether the length was right, never how much of the token was.
        # surrogateescape: aiohttp keeps bytes that are not UTF-8 as surrogates, which plain encode() refuses.
        given_bytes = given.strip().encode("utf-8", "surrogateescape")
        return scheme.lower() == "bearer" and hmac.compare_digest(given_bytes, self.token.encode())


def _foreign(request: web.Request) -> str | None:
    """Why the request looks sent by a page of another origin, or None."""
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is not None and origin.lower() != f"{request.scheme}://{request.host}".lower():
        return f"requests from pages of another origin ({origin}) are refused"
    site = request.headers.get("Sec-Fetch-Site", "none")
    if site in ("cross-site", "same-site"):
        navigation = request.method == "GET" and request.headers.get("Sec-Fetch-Mode") == "navigate"
        if not (navigation and request.path == "/"):
            return f"requests a page of another origin made ({site}) are refused"
    return None


def _json_type(request: web.Request) -> bool:
    kind = request.content_type
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def _has_body(request: web.Request) -> bool:
    # An empty body is let through whatever its label (aiohttp's client labels an empty POST octet-stream): it
    # carries nothing to misread, and a browser page of another origin was already refused by its Origin.
    return bool(request.content_length) or "chunked" in request.headers.get(hdrs.TRANSFER_ENCODING, "").lower()


def guard_middleware(guard: AdminGuard) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get(hdrs.HOST)
        if not host or not guard.host_allowed(host):
            return refusal(421, "this admin server answers only to 127.0.0.1, localhost or the --host it was "
                                "started with (a page on another name may be a DNS rebinding attack)")
        foreign = _foreign(request)
        if foreign is not None:
            return refusal(403, foreign)
        open_path = request.path in OPEN_PATHS or request.path.startswith(OPEN_PREFIX)
        if guard.token is not None and not open_path and not guard.token_ok(
                request.headers.get(hdrs.AUTHORIZATION, "")):
            return refusal(401, "this admin server needs its token: send Authorization: Bearer <the "
                                "--admin-token>", headers={hdrs.WWW_AUTHENTICATE: REALM})
        if request.method in CHANGING and request.path not in PHONE_PATHS and _has_body(request) and not _json_type(
                request):
            return refusal(415, f"send the body as JSON with Content-Type: application/json, not "
                                f"{request.content_type!r}")
        return await handler(request)

    return middleware


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: every answer, errors and the event stream included, carries them."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


class BodyTooLarge(web.HTTPClientError):
    status_code = 413


def _json_text(message: str) -> str:
    return utf8_json({"error": message})


async def read_json(request: web.Request, invalid: str, *, language: str = DEFAULT) -> Any:
    """The request's JSON body. A body too big (413), too deep or not JSON (400, ``invalid``) raises an HTTP
    error with a JSON ``{"error"}``: an exception, so it works on routes mounted without the middleware too.
    The error reads in ``language`` (the reader's ``?lang=`` on the console; docs/admin-api.md §2), so ``invalid``
    is an English msgid marked with ``N_``."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BodyTooLarge(text=_json_text(say(language, N_("admin request bodies are at most {limit} bytes"),
                                               limit=ADMIN_MAX_BODY)), content_type=JSON) from None
    depth = too_deep(raw)
    if depth:
        raise web.HTTPBadRequest(text=_json_text(say(
            language, N_("the body nests {depth} levels deep; at most {limit} are read"), depth=depth,
            limit=ADMIN_JSON_DEPTH)), content_type=JSON)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise web.HTTPBadRequest(text=_json_text(say(language, invalid)), content_type=JSON) from None
