"""The provider service's HTTP API (docs/architecture.md contract 4), as an aiohttp app factory.

- ``POST /v1/devices``: an app registers its token (what it does after
  ``didRegisterForRemoteNotificationsWithDeviceToken``); open to apps, so never behind the API key.
- ``GET /v1/devices[?bundle_id=&user_id=]``, ``DELETE /v1/devices/{token}``, ``POST /v1/notifications``:
  operator endpoints, protected by ``Authorization: Bearer KEY`` when an API key is configured.

``create_app`` has no side effects: the store and the APNs clients are opened in ``cleanup_ctx`` and closed
in reverse order (docs/style.md, aiohttp). At start the outbox's pending notifications are resent in the
background with their original apns-id (``RESEND_TASK``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from aiohttp import web

from provider.apns.errors import TransportError
from provider.apns.notification import Notification, Template, alert, infer_push_type, normalize_token
from provider.apns.protocol import Result
from provider.store import ENVIRONMENTS, Store

log = logging.getLogger("provider.web")
_BUNDLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-_]*")


class Sender(Protocol):
    """What the service needs from an APNs client (``APNsClient`` fits)."""

    async def send(self, notification: Notification) -> Result: ...


SenderFactory = Callable[[str], AbstractAsyncContextManager[Sender]]


@dataclass(frozen=True, kw_only=True)
class ServiceConfig:
    """``environments`` are the APNs environments this service can send to (one client each)."""

    db_path: str
    api_key: str | None = None
    environments: tuple[str, ...] = ("sandbox",)
    concurrency: int = 100


CONFIG = web.AppKey("config", ServiceConfig)
STORE = web.AppKey("store", Store)
SENDERS: web.AppKey[dict[str, Sender]] = web.AppKey("senders")
RESEND_TASK: web.AppKey[asyncio.Task[int]] = web.AppKey("resend_task")


def create_app(
    config: ServiceConfig, sender_factory: SenderFactory, *, clock: Callable[[], float] = time.time
) -> web.Application:
    """The service app. ``sender_factory(environment)`` yields an async context manager of a ``Sender``."""
    for env in config.environments:
        if env not in ENVIRONMENTS:
            raise ValueError(f"unknown environment {env!r}")
    app = web.Application()
    app[CONFIG] = config

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        store = Store(config.db_path, clock=clock)
        app[STORE] = store
        try:
            async with AsyncExitStack() as stack:
                app[SENDERS] = {
                    env: await stack.enter_async_context(sender_factory(env)) for env in config.environments
                }
                task = asyncio.get_running_loop().create_task(resend_pending(app))
                app[RESEND_TASK] = task
                yield
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        finally:
            store.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post("/v1/devices", register_device)
    app.router.add_get("/v1/devices", list_devices)
    app.router.add_delete("/v1/devices/{token}", delete_device)
    app.router.add_post("/v1/notifications", send_notifications)
    return app


# -- helpers ----------------------------------------------------------------------------------------------


def _fail(status: int, message: str) -> NoReturn:
    cls = {400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 404: web.HTTPNotFound}[status]
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    raise cls(text=json.dumps({"error": message}), content_type="application/json", headers=headers)


def _require_api_key(request: web.Request) -> None:
    key = request.app[CONFIG].api_key
    if key is None:
        return
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), key.encode()):
        _fail(401, "missing or wrong API key (Authorization: Bearer KEY)")


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json(loads=json.loads)
    except (ValueError, UnicodeDecodeError):
        _fail(400, "body must be JSON")
    if not isinstance(body, dict):
        _fail(400, "body must be a JSON object")
    return body


def _optional_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        _fail(400, f'"{key}" must be a non-empty string')
    return value


def _bundle_id(body: dict[str, Any]) -> str:
    value = body.get("bundle_id")
    if not isinstance(value, str) or not _BUNDLE.fullmatch(value):
        _fail(400, '"bundle_id" is required: the app\'s bundle id, e.g. com.example.app')
    return value


def _token(value: Any) -> str:
    try:
        return normalize_token(value)
    except ValueError as exc:
        _fail(400, f'"token": {exc}')


def _outcome(token: str, result: Result | None, error: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "token": token,
        "status": None if result is None else result.status,
        "apns_id": None if result is None else result.apns_id,
        "reason": None if result is None else result.reason,
        "timestamp": None if result is None else result.timestamp,
    }
    if error is not None:
        out["error"] = error
    return out


# -- handlers ---------------------------------------------------------------------------------------------


async def register_device(request: web.Request) -> web.Response:
    body = await _json_object(request)
    token = _token(body.get("token"))
    bundle_id = _bundle_id(body)
    environment = body.get("environment", request.app[CONFIG].environments[0])
    if environment not in ENVIRONMENTS:
        _fail(400, f'"environment" must be one of {list(ENVIRONMENTS)}')
    user_id = _optional_str(body, "user_id")
    device = request.app[STORE].register(token, bundle_id, environment, user_id)
    log.info("registered token %s… for %s (%s)", token[:8], bundle_id, environment)
    return web.json_response(device.to_json(), status=201)


async def list_devices(request: web.Request) -> web.Response:
    _require_api_key(request)
    q = request.query
    devices = request.app[STORE].devices(bundle_id=q.get("bundle_id"), user_id=q.get("user_id"))
    return web.json_response({"devices": [d.to_json() for d in devices]})


async def delete_device(request: web.Request) -> web.Response:
    _require_api_key(request)
    token = _token(request.match_info["token"])
    if not request.app[STORE].delete(token):
        _fail(404, "no such device token")
    return web.Response(status=204)


def _payload(body: dict[str, Any]) -> dict[str, Any]:
    has_alert, has_payload = "alert" in body, "payload" in body
    if has_alert == has_payload:
        _fail(400, 'give exactly one of "alert" (text) or "payload" (object)')
    if has_alert:
        if not isinstance(body["alert"], str) or not body["alert"]:
            _fail(400, '"alert" must be a non-empty string')
        return alert(body["alert"])
    if not isinstance(body["payload"], dict):
        _fail(400, '"payload" must be a JSON object')
    return body["payload"]


@dataclass(frozen=True, kw_only=True)
class SendRequest:
    """A checked ``POST /v1/notifications`` body: the push, and whom it is for.

    ``tokens`` are the explicit device tokens, normalised; ``None`` means the app's active devices (only those
    of ``user_id`` when it is given).
    """

    bundle_id: str
    template: Template
    tokens: tuple[str, ...] | None
    user_id: str | None


def parse_send_request(body: dict[str, Any]) -> SendRequest:
    """Check a send request without touching the store; a 400 (``HTTPBadRequest``) names the first problem.

    The push is checked here once, before the tokens are looked up, so a request that could never be sent is
    refused even when it would reach no device; each device's ``Notification`` is then made from the template.
    """
    bundle_id = _bundle_id(body)
    payload = _payload(body)
    tokens, user_id = body.get("tokens"), _optional_str(body, "user_id")
    if tokens is not None and user_id is not None:
        _fail(400, 'give "tokens" or "user_id", not both')
    if tokens is not None and (not isinstance(tokens, list) or not tokens):
        _fail(400, '"tokens" must be a non-empty list of hex device tokens')
    normalized = None if tokens is None else tuple(_token(raw) for raw in tokens)
    push_type = body.get("push_type") or infer_push_type(payload)
    priority = body.get("priority")
    if priority is None and push_type == "background":
        priority = 5  # Apple: background pushes must use priority 5 (§2.2)
    try:
        template = Template(
            topic=bundle_id,
            payload=payload,
            push_type=push_type,
            priority=priority,
            expiration=body.get("expiration"),
            collapse_id=body.get("collapse_id"),
        )
    except ValueError as exc:
        _fail(400, str(exc))
    return SendRequest(bundle_id=bundle_id, template=template, tokens=normalized, user_id=user_id)


async def send_notifications(request: web.Request) -> web.Response:
    _require_api_key(request)
    app = request.app
    store, config = app[STORE], app[CONFIG]
    send = parse_send_request(await _json_object(request))

    # Targets: explicit tokens (sent even if inactive: the operator asked), else active devices of the app.
    targets: list[tuple[str, str]] = []  # (token, environment)
    if send.tokens is not None:
        for token in send.tokens:
            device = store.get(token)
            targets.append((token, device.environment if device else config.environments[0]))
    else:
        devices = store.devices(bundle_id=send.bundle_id, user_id=send.user_id, active_only=True)
        targets = [(d.token, d.environment) for d in devices]
    notes = [(env, send.template.for_token(token).with_apns_id()) for token, env in targets]

    gate = asyncio.Semaphore(config.concurrency)

    async def one(env: str, n: Notification) -> dict[str, Any]:
        async with gate:
            return await deliver(app, env, n)

    results = await asyncio.gather(*(one(env, n) for env, n in notes))
    return web.json_response({"results": list(results)})


async def deliver(
    app: web.Application, environment: str, n: Notification, *, resend: bool = False
) -> dict[str, Any]:
    """Outbox write, send, hygiene, outbox done: the life of one notification inside the service.

    Without an answer from APNs a live request is marked done (its caller is told and owns the retry); a
    resent one stays pending for the next start, so the outbox never loses what it accepted.
    """
    store = app[STORE]
    sender = app[SENDERS].get(environment)
    if sender is None:
        return _outcome(n.token, None, f"this service does not send to the {environment} environment")
    if not resend:
        store.enqueue(environment, n)
    try:
        result = await sender.send(n)
    except TransportError as exc:
        if not resend:
            store.mark_done(n.apns_id or "", None, None)
        log.warning("no answer from APNs for %s: %s", n.apns_id, exc)
        return _outcome(n.token, None, f"no answer from APNs: {exc}")
    store.mark_done(n.apns_id or "", result.status, result.reason)
    if store.apply_result(n.token, result.status, result.reason, result.timestamp):
        log.info("deactivated token %s… (%s)", n.token[:8], result.reason)
    log.info("sent %s to %s…: %s %s", n.apns_id, n.token[:8], result.status, result.reason or "")
    return _outcome(n.token, result)


async def resend_pending(app: web.Application) -> int:
    """Resend what a previous run accepted but never got answered, with the same apns-id; count them."""
    count = 0
    for entry in app[STORE].pending():
        if entry.environment not in app[SENDERS]:
            continue  # stays pending until a run that serves its environment
        await deliver(app, entry.environment, entry.notification, resend=True)
        count += 1
    if count:
        log.info("resent %d pending notification(s) from the outbox", count)
    return count
