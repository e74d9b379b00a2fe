"""The admin HTTP server: the ``/_sim/`` read-back API (DESIGN.md contract 5), activation, the dashboard.

A reserved prefix is the back door tests use to look inside and reset (moto's ``/moto-api/``, LocalStack's
platform endpoints). This module is a thin aiohttp layer over ``SimState``; it decides nothing itself.
"""

from __future__ import annotations

import asyncio
import json
from importlib import resources
from typing import Any

from aiohttp import web

from apns_sim.activation import activation_routes
from apns_sim.state import SimState

STATE: web.AppKey[SimState] = web.AppKey("state", SimState)
MAX_WAIT = 60.0


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _dumps(data: Any) -> str:
    return json.dumps(data, default=str)


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status=status)


async def notifications(request: web.Request) -> web.Response:
    """``GET /_sim/notifications[?token=&topic=&apns_id=]``: the journey log, newest last."""
    state = request.app[STATE]
    query = request.rel_url.query
    items = state.journeys.list(token=query.get("token"), topic=query.get("topic"), apns_id=query.get("apns_id"))
    return _json([j.as_json() for j in items])


async def notification(request: web.Request) -> web.Response:
    state = request.app[STATE]
    journey = state.journeys.get(request.match_info["apns_id"])
    if journey is None:
        return _error(404, "no notification with that apns-id in the log")
    return _json(journey.as_json())


async def wait_notification(request: web.Request) -> web.Response:
    """``GET /_sim/notifications/wait?token=&topic=&apns_id=&stage=&timeout=``: long-poll, no loop needed.

    Answers the first matching notification that has reached ``stage`` (any stage when omitted), or 408
    after ``timeout`` seconds (default 10, at most 60).
    """
    state = request.app[STATE]
    query = request.rel_url.query
    try:
        timeout = min(float(query.get("timeout", "10")), MAX_WAIT)
    except ValueError:
        return _error(400, "timeout must be a number of seconds")
    stage = query.get("stage")
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        for journey in state.journeys.list(token=query.get("token"), topic=query.get("topic"),
                                           apns_id=query.get("apns_id")):
            if stage is None or any(s["stage"] == stage for s in journey.stages):
                return _json(journey.as_json())
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            return _error(408, "no matching notification arrived in time")
        await state.journeys.wait_changed(remaining)


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
        "token": t.token, "bundle_id": t.bundle_id, "environment": t.environment, "state": t.state,
        "issued_at": t.issued_at.isoformat(),
        "unregistered_at": None if t.unregistered_at is None else t.unregistered_at.isoformat(),
    }


async def tokens(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return _json({"tokens": [_token_json(t) for t in state.registry.list_tokens()]})


async def clear(request: web.Request) -> web.Response:
    """``POST /_sim/reset``: forget the notification log (state such as certificates stays)."""
    state = request.app[STATE]
    state.journeys.clear()
    return _json({"cleared": True})


async def health(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return _json({"ok": True, "now": state.clock.time(), "online_phones": len(state.delivery.online())})


async def dashboard(request: web.Request) -> web.Response:
    page = resources.files("apns_sim").joinpath("static/dashboard.html").read_text(encoding="utf-8")
    return web.Response(text=page, content_type="text/html")


def create_admin_app(state: SimState) -> web.Application:
    app = web.Application()
    app[STATE] = state
    app.router.add_get("/", dashboard)
    app.router.add_get("/_sim/health", health)
    app.router.add_get("/_sim/notifications", notifications)
    app.router.add_get("/_sim/notifications/wait", wait_notification)
    app.router.add_get("/_sim/notifications/{apns_id}", notification)
    app.router.add_get("/_sim/devices", devices)
    app.router.add_get("/_sim/tokens", tokens)
    app.router.add_post("/_sim/reset", clear)
    app.add_routes(activation_routes(state))
    return app
