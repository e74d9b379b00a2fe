"""The dashboard's own routes on the admin server: read models, the test-push console and static assets.

- ``GET /_sim/phones``: phones with their apps, tokens, online state, badge, permission and app state
  (:mod:`apns_sim.admin.phone_view`; as our phones report them, [sim] ``"reported": true``, else "unknown" where
  APNs cannot know).
- ``GET /_sim/portal``: App IDs, certificates and keys with a status on the simulator's clock, no key material
  (:mod:`apns_sim.admin.portal_view`).
- ``GET /_sim/reasons``: every rejection reason with its status, meaning and plain-words advice
  (:mod:`apns_sim.admin.advice`).
- ``POST /_sim/console/push``: send a test push through Apple's rules (:mod:`apns_sim.admin.console`); answers
  ``{"apns_id", "status", "reason"}`` (plus ``"timestamp"`` on 410), or 400 ``{"error"}`` for a bad form.
- ``GET /_sim/i18n/{lang}.json``: the page's catalog, every translated message of the ``dashboard`` domain and
  the phone's reasons (``{"lang", "messages": {English: text}, "reasons": [template]}``; English has neither);
  open like the assets (docs/admin-api.md §2).
- ``?lang=zh|en`` on the routes above that carry sentences (phones, reasons, console): those sentences in the
  reader's language (:mod:`apns_sim.admin.words`); a language we do not have is 400.
- ``GET /static/{name}``: the page's CSS, JavaScript and icon, shipped in the package (no CDN: works offline);
  ``GET /favicon.ico`` answers with the same icon (``favicon.svg``) for whoever asks by the old name.

Thin aiohttp glue in the shape of :mod:`apns_sim.admin.faults_api`; it decides nothing itself.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from aiohttp import web

from apns_sim.admin.advice import advice_table
from apns_sim.admin.console import ConsoleError, parse_console_push, send_console_push
from apns_sim.admin.guard import read_json
from apns_sim.admin.phone_view import phones_view
from apns_sim.admin.portal_view import portal_view
from apns_sim.admin.render import json_answer as _json
from apns_sim.admin.render import utf8_json
from apns_sim.admin.words import DOMAIN, reader_language
from apns_sim.state import SimState
from pushsim_i18n import DEFAULT, N_, LanguageError, normalize, phone_reasons

_ASSET = re.compile(r"[a-z][a-z0-9_-]*\.(css|js|svg)")  # one flat folder: no path may climb out of it
_TYPES = {"css": "text/css", "js": "text/javascript", "svg": "image/svg+xml"}


@cache
def _catalog_json(language: str) -> str:
    """The page's catalog as JSON, built once per language: the compiled .mo does not change while we run."""
    return utf8_json(page_catalog(language))


def page_catalog(language: str) -> dict[str, object]:
    """The page's catalog: the ``dashboard`` domain's messages, the phone's reasons (the ``device_sim`` words the
    page matches a ``why`` against, :mod:`pushsim_i18n.phone_reasons`) and their templates."""
    if language == DEFAULT:  # every English text is its own msgid, and a reason reads as the phone wrote it
        return {"lang": language, "messages": {}}
    return {"lang": language, "messages": {**DOMAIN.messages(language), **phone_reasons.translations(language)},
            "reasons": list(phone_reasons.REASONS)}


def _language(request: web.Request) -> str:
    """The reader's ``?lang=``; a language we do not have is a 400 like any other bad query."""
    try:
        return reader_language(request.rel_url.query)
    except LanguageError as exc:
        raise web.HTTPBadRequest(text=utf8_json({"error": str(exc)}), content_type="application/json") from None


def dashboard_routes(state: SimState) -> web.RouteTableDef:
    """The routes for ``state``, to mount on the admin app with ``app.add_routes(...)``."""
    routes = web.RouteTableDef()

    @routes.get("/_sim/phones")
    async def phones(request: web.Request) -> web.Response:
        language = _language(request)
        return _json(phones_view(state.registry, state.delivery, state.journeys, state.app_reports, language))

    @routes.get("/_sim/portal")
    async def portal(request: web.Request) -> web.Response:
        return _json(portal_view(state.registry, state.clock.now()))

    @routes.get("/_sim/reasons")
    async def reasons(request: web.Request) -> web.Response:
        return _json({"reasons": advice_table(_language(request))})

    @routes.get("/_sim/i18n/{name}")
    async def catalog(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        language = normalize(name.removesuffix(".json")) if name.endswith(".json") else None
        if language is None or name != f"{language}.json":
            raise web.HTTPNotFound(text="no such catalog: ask for en.json or zh.json")
        return web.Response(text=_catalog_json(language), content_type="application/json",
                            headers={"Cache-Control": "no-cache"})

    @routes.post("/_sim/console/push")
    async def console_push(request: web.Request) -> web.Response:
        language = _language(request)
        body = await read_json(request, N_("the body must be JSON"), language=language)
        try:
            push = parse_console_push(body)
        except ConsoleError as exc:
            return _json({"error": exc.in_language(language)}, status=400)
        return _json(send_console_push(state, push).as_json())

    @routes.get("/favicon.ico")
    async def favicon(request: web.Request) -> web.Response:
        # The page names /static/favicon.svg, but browsers and tools still ask for /favicon.ico by habit;
        # the same SVG under its real type stops the 404 on every load (docs/dashboard.md §1).
        return _asset_response("favicon.svg")

    @routes.get("/static/{name}")
    async def asset(request: web.Request) -> web.Response:
        return _asset_response(request.match_info["name"])

    return routes


def _asset_response(name: str) -> web.Response:
    match = _ASSET.fullmatch(name)
    resource = resources.files("apns_sim.admin").joinpath("static", name)
    if match is None or not resource.is_file():
        raise web.HTTPNotFound(text="no such asset")
    return web.Response(text=resource.read_text(encoding="utf-8"), content_type=_TYPES[match.group(1)],
                        headers={"Cache-Control": "no-cache"})
