"""The admin HTTP server: the ``/_sim/`` read-back API (docs/architecture.md contract 5), activation, the dashboard.

A reserved prefix is the back door tests use to look inside and reset (moto's ``/moto-api/``, LocalStack's
platform endpoints). This module is a thin aiohttp layer over ``SimState``; it decides nothing itself.

Reading without polling in a loop: ``GET /_sim/notifications/wait`` is a long-poll, and ``GET /_sim/events``
streams every journey stage as server-sent events (:mod:`apns_sim.admin.readers`). Both are woken when the server
shuts down, so stopping the simulator never waits for a reader.

The dashboard's own routes (phones and portal read models, reason advice, the test-push console, the page's
static assets) live in :mod:`apns_sim.admin.dashboard`.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

from aiohttp import web

from apns_sim.admin import faults_api
from apns_sim.admin.apns_file import ApnsFileError, apns_filename, build_apns_file
from apns_sim.admin.dashboard import dashboard_routes
from apns_sim.admin.guard import AdminGuard, guard_middleware, read_json, refusal, security_headers
from apns_sim.admin.readers import OVERFLOW_FRAME, Readers, StageStream, find, sse_frame, wait_for_journey
from apns_sim.admin.render import json_answer as _json
from apns_sim.admin.render import notification_json
from apns_sim.gateway.activation import activation_routes
from apns_sim.limits import ADMIN_MAX_BODY, ADMIN_MAX_EVENT_STREAMS, ADMIN_MAX_WAITERS
from apns_sim.model.clock import Clock
from apns_sim.portal.service import app_id_json, auth_key_json, certificate_json
from apns_sim.state import SimState

MAX_WAIT = 60.0
SSE_HEARTBEAT = 15.0  # seconds between keep-alive comments (they also notice a client that went away)
MAX_EPOCH = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second a datetime can hold
CLOCK_KEYS = ("freeze", "at", "advance", "reset")

STATE: web.AppKey[SimState] = web.AppKey("state", SimState)
READERS: web.AppKey[Readers] = web.AppKey("readers", Readers)
# Called by POST /_sim/reset after the log and the clock; fault injection adds its own clean-up here.
RESET_HOOKS: web.AppKey[list[Callable[[], None]]] = web.AppKey("reset_hooks", list)


def _error(status: int, message: str) -> web.Response:
    return refusal(status, message)


def _busy(message: str) -> web.Response:
    """503 for a reader over its limit (docs/limits.md §3): held connections are what one client could pile up."""
    return refusal(503, message, headers={"Retry-After": "1"})


def _filters(request: web.Request) -> dict[str, Any]:
    query = request.rel_url.query
    return {"token": query.get("token"), "topic": query.get("topic"), "apns_id": query.get("apns_id")}


def _stages(request: web.Request) -> tuple[str, ...]:
    value = request.rel_url.query.get("stage", "")
    return tuple(s.strip() for s in value.split(",") if s.strip())


# -- the notification log ---------------------------------------------------------------------------------


async def notifications(request: web.Request) -> web.Response:
    """``GET /_sim/notifications[?token=&topic=&apns_id=]``: the journey log, newest last."""
    items = request.app[STATE].journeys.list(**_filters(request))
    return _json([notification_json(j) for j in items])


async def clear_notifications(request: web.Request) -> web.Response:
    """``DELETE /_sim/notifications``: forget the notification log (nothing else)."""
    journeys = request.app[STATE].journeys
    count = len(journeys)
    journeys.clear()
    return _json({"cleared": count})


async def notification(request: web.Request) -> web.Response:
    journey = find(request.app[STATE].journeys, request.match_info["apns_id"])
    if journey is None:
        return _error(404, "no notification with that apns-id in the log")
    return _json(notification_json(journey))


async def export_apns(request: web.Request) -> web.Response:
    """``GET /_sim/notifications/{apns_id}/apns``: the push as an ``.apns`` file for the Xcode Simulator."""
    journey = find(request.app[STATE].journeys, request.match_info["apns_id"])
    if journey is None:
        return _error(404, "no notification with that apns-id in the log")
    try:
        body = build_apns_file(journey.payload, journey.topic)
    except (ApnsFileError, RecursionError) as exc:
        return _error(422, f"cannot export {journey.apns_id} as an .apns file: {exc}")
    filename = apns_filename(journey.topic, journey.apns_id)
    return web.Response(body=body, content_type="application/json", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})


async def wait_notification(request: web.Request) -> web.Response:
    """``GET /_sim/notifications/wait?token=&topic=&apns_id=&stage=&timeout=``: long-poll, no loop needed.

    Answers the first (oldest) matching notification that has reached ``stage`` (any stage when omitted;
    several stages separated by commas mean any of them), or 408 after ``timeout`` seconds (default 10,
    at most 60).
    """
    try:
        timeout = float(request.rel_url.query.get("timeout", "10"))
    except ValueError:
        timeout = math.nan
    if not math.isfinite(timeout) or timeout < 0:
        return _error(400, "timeout must be a number of seconds, 0 to 60")
    readers = request.app[READERS]
    if len(readers.wakers) >= ADMIN_MAX_WAITERS:
        return _busy(f"{ADMIN_MAX_WAITERS} long-polls are already waiting; try again shortly")
    waker = asyncio.Event()
    readers.wakers.add(waker)
    try:
        journey = await wait_for_journey(request.app[STATE].journeys, **_filters(request), stages=_stages(request),
                                         timeout=min(timeout, MAX_WAIT), waker=waker,
                                         cancelled=lambda: readers.closing)
    finally:
        readers.wakers.discard(waker)
    if journey is not None:
        return _json(notification_json(journey))
    if readers.closing:
        return _error(503, "the simulator is shutting down")
    return _error(408, "no matching notification arrived in time")


async def event_stream(request: web.Request) -> web.StreamResponse:
    """``GET /_sim/events[?token=&topic=&apns_id=]``: every journey stage, as it is recorded (SSE).

    First ``event: ready``; then one ``event: stage`` per stage with data ``{"apns_id", "stage", "at",
    ...details, "notification": {...}}``; a comment every 15 s keeps proxies (and us) aware of the client.
    A client that falls 1000 stages behind gets ``event: overflow`` and the stream ends (see readers.py).
    """
    state, readers = request.app[STATE], request.app[READERS]
    filters = _filters(request)
    if len(readers.streams) >= ADMIN_MAX_EVENT_STREAMS:
        return _busy(f"{ADMIN_MAX_EVENT_STREAMS} event streams are already open; close one (a dashboard tab)")
    response = web.StreamResponse(headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    response.content_type = "text/event-stream"
    response.charset = "utf-8"
    await response.prepare(request)
    if readers.closing:
        return response
    stream = StageStream(state.journeys, filters)
    readers.streams.add(stream)
    try:
        await response.write(sse_frame("ready", {"now": state.clock.time(),
                                                 "filters": {k: v for k, v in filters.items() if v}}))
        while True:
            try:
                frame = await asyncio.wait_for(stream.queue.get(), SSE_HEARTBEAT)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if frame is None:
                break
            await response.write(frame)
            if frame is OVERFLOW_FRAME:
                break
    except ConnectionError:
        pass  # the client went away: nothing to tell it
    finally:
        stream.close()
        readers.streams.discard(stream)
    return response


# -- the virtual clock ------------------------------------------------------------------------------------


def clock_json(clock: Clock) -> dict[str, Any]:
    return {"now": clock.time(), "frozen": clock.frozen, "iso": clock.now().isoformat()}


def _number(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f'"{key}" must be a number of seconds, got {json.dumps(value)}')
    return float(value)


def _flag(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise ValueError(f'"{key}" must be true or false, got {json.dumps(value)}')
    return value


def change_clock(clock: Clock, body: Any) -> None:
    """Apply ``{"reset", "at", "freeze", "advance"}`` in that order, after checking all of them.

    ``reset`` returns to real time; ``at`` jumps to an epoch time (frozen there if the clock is or
    ``freeze`` is true, running from there otherwise); ``freeze`` stops or restarts the clock; ``advance``
    moves it forward by that many seconds. ``ValueError`` says what is wrong; nothing changes then.
    """
    if not isinstance(body, dict):
        raise ValueError('send a JSON object such as {"freeze": true} or {"advance": 3600}')
    unknown = sorted(set(body) - set(CLOCK_KEYS))
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)}: use {', '.join(CLOCK_KEYS)}")
    if not any(body.get(k) is not None for k in CLOCK_KEYS):
        raise ValueError(f"nothing to do: give at least one of {', '.join(CLOCK_KEYS)}")
    reset, freeze = _flag(body, "reset"), _flag(body, "freeze")
    at, advance = _number(body, "at"), _number(body, "advance")
    if at is not None and not 0 <= at <= MAX_EPOCH:
        raise ValueError('"at" must be a UNIX time in seconds between 0 and the year 9999')
    if advance is not None and advance < 0:
        raise ValueError('"advance" must not be negative: the clock only moves forward (use "at" to jump)')
    start = at if at is not None else (time.time() if reset else clock.time())
    if advance is not None and start + advance > MAX_EPOCH:
        raise ValueError('"advance" would move the clock past the year 9999')
    if reset:
        clock.reset()
    frozen = clock.frozen if freeze is None else freeze
    if at is not None:
        clock.freeze(at)
    if frozen and not clock.frozen:
        clock.freeze()
    elif not frozen and clock.frozen:
        clock.unfreeze()
    if advance:
        clock.advance(advance)


async def get_clock(request: web.Request) -> web.Response:
    """``GET /_sim/clock``: ``{"now": epoch seconds, "frozen": bool, "iso": ...}``."""
    return _json(clock_json(request.app[STATE].clock))


async def post_clock(request: web.Request) -> web.Response:
    """``POST /_sim/clock {"freeze": bool, "at": epoch, "advance": seconds, "reset": bool}``."""
    clock = request.app[STATE].clock
    body = await read_json(request, 'the body must be JSON, such as {"advance": 3600}')
    try:
        change_clock(clock, body)
    except ValueError as exc:
        return _error(400, str(exc))
    return _json(clock_json(clock))


# -- model, reset, health ---------------------------------------------------------------------------------


async def devices(request: web.Request) -> web.Response:
    state = request.app[STATE]
    online = set(state.delivery.online())
    out = []
    for device in state.registry.list_devices():
        out.append({
            "device_id": device.device_id,
            "name": device.name,
            "activated_at": device.activated_at.isoformat(),
            "online": sorted(env for (dev, env) in online if dev == device.device_id),
            "tokens": [_token_json(t) for t in state.registry.list_tokens(device.device_id)],
        })
    return _json({"devices": out})


def _token_json(t: Any) -> dict[str, Any]:
    return {
        "token": t.token, "bundle_id": t.bundle_id, "kind": t.kind, "environment": t.environment, "state": t.state,
        "issued_at": t.issued_at.isoformat(),
        "unregistered_at": None if t.unregistered_at is None else t.unregistered_at.isoformat(),
    }


async def tokens(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return _json({"tokens": [_token_json(t) for t in state.registry.list_tokens()]})


async def apps(request: web.Request) -> web.Response:
    """``GET /_sim/apps``: App IDs, push certificates and auth keys (public facts only, no key material)."""
    registry = request.app[STATE].registry
    return _json({
        "app_ids": [app_id_json(r) for r in registry.list_app_ids()],
        "certificates": [certificate_json(r) for r in registry.list_certificates()],
        "auth_keys": [auth_key_json(r) for r in registry.list_auth_keys()],
    })


async def reset(request: web.Request) -> web.Response:
    """``POST /_sim/reset``: a clean slate between tests, keeping what is costly to set up.

    Clears the notification log, returns the clock to real time and runs the reset hooks (faults). Keeps
    the CA, App IDs, certificates, auth keys, devices, tokens, stored notifications and connected phones.
    """
    state = request.app[STATE]
    count = len(state.journeys)
    state.journeys.clear()
    state.clock.reset()
    for hook in request.app[RESET_HOOKS]:
        hook()
    return _json({"cleared": count, "clock": clock_json(state.clock)})


async def health(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return _json({"ok": True, "now": state.clock.time(), "online_phones": len(state.delivery.online()),
                  "event_streams": len(request.app[READERS].streams), "long_polls": len(request.app[READERS].wakers)})


async def dashboard(request: web.Request) -> web.Response:
    page = resources.files("apns_sim.admin").joinpath("static/dashboard.html").read_text(encoding="utf-8")
    return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-cache"})


async def _wake_readers(app: web.Application) -> None:
    app[READERS].close()


def create_admin_app(state: SimState, *, token: str | None = None) -> web.Application:
    """The admin server for ``state``; ``token`` (``--admin-token``) makes every data route ask for it."""
    guard = AdminGuard(bind_host=state.config.host, token=token)
    app = web.Application(middlewares=[guard_middleware(guard)], client_max_size=ADMIN_MAX_BODY)
    app.on_response_prepare.append(security_headers)
    app[STATE] = state
    app[READERS] = Readers()
    app[RESET_HOOKS] = []
    app.on_shutdown.append(_wake_readers)
    app.router.add_get("/", dashboard)
    app.router.add_get("/_sim/health", health)
    app.router.add_get("/_sim/notifications", notifications)
    app.router.add_delete("/_sim/notifications", clear_notifications)
    app.router.add_get("/_sim/notifications/wait", wait_notification)
    app.router.add_get("/_sim/notifications/{apns_id}", notification)
    app.router.add_get("/_sim/notifications/{apns_id}/apns", export_apns)
    app.router.add_get("/_sim/events", event_stream)
    app.router.add_get("/_sim/clock", get_clock)
    app.router.add_post("/_sim/clock", post_clock)
    app.router.add_get("/_sim/devices", devices)
    app.router.add_get("/_sim/tokens", tokens)
    app.router.add_get("/_sim/apps", apps)
    app.router.add_post("/_sim/reset", reset)
    app.add_routes(faults_api.fault_routes(state))  # /_sim/faults: fault injection
    app[RESET_HOOKS].append(state.faults.reset)
    app.add_routes(activation_routes(state))
    app.add_routes(dashboard_routes(state))  # /_sim/phones, /_sim/portal, /_sim/reasons, console, /static
    return app
