"""The provider service's HTTP API (docs/architecture.md contract 4, docs/provider-service.md), as an aiohttp
app factory.

- ``POST /v1/devices``: an app registers its token (what it does after
  ``didRegisterForRemoteNotificationsWithDeviceToken``); open to apps, except that moving a token to another
  user, app or environment needs the app's registration secret or the operator key (§4).
- ``POST /v1/apps``, ``GET /v1/devices[?bundle_id=&user_id=&environment=]``, ``DELETE /v1/devices/{token}``,
  ``POST /v1/notifications``: operator endpoints, ``Authorization: Bearer KEY`` when an API key is configured.

``POST /v1/notifications`` writes every notification, with its apns-id, to the outbox in one transaction
(with the ``Idempotency-Key`` if given) before anything is sent; then this process sends them itself
(``send=True``) or leaves them to ``apns-provider worker`` processes (``send=False``: 202). The process keeps
no state of its own: everything is in the store, so any number of them can serve one database.

``create_app`` has no side effects: the store, the APNs clients and the worker start in ``cleanup_ctx`` and
stop in reverse order (docs/style.md, aiohttp).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from provider.apns.notification import Notification
from provider.inputs import (
    SendRequest,
    bundle_id,
    fail,
    idempotency_key,
    json_object,
    parse_registration,
    parse_send_request,
    request_hash,
    token,
)
from provider.limits import MAX_BODY_BYTES
from provider.stores import ENVIRONMENTS, IdempotencyConflict, Store, TokenBound
from provider.worker import Sender, Worker, entry_outcome, outcome, worker_name

log = logging.getLogger("provider.web")

SenderFactory = Callable[[str], AbstractAsyncContextManager[Sender]]

__all__ = [
    "CONFIG",
    "RESEND_TASK",
    "STORE",
    "WORKER",
    "SendRequest",
    "Sender",
    "ServiceConfig",
    "create_app",
    "parse_send_request",
]


@dataclass(frozen=True, kw_only=True)
class ServiceConfig:
    """``db_path``: a SQLite file or a ``postgresql://`` URL. ``environments``: the APNs environments this
    service sends to (one client each). ``send=False``: accept and enqueue only; workers send.
    ``lease``/``retry``/``poll`` (seconds) tune the in-process worker (docs/provider-service.md §3)."""

    db_path: str
    api_key: str | None = None
    environments: tuple[str, ...] = ("sandbox",)
    concurrency: int = 100
    send: bool = True
    lease: float = 30.0
    retry: float = 1.0
    poll: float = 0.05


CONFIG = web.AppKey("config", ServiceConfig)
STORE = web.AppKey("store", Store)
WORKER = web.AppKey("worker", Worker)
RESEND_TASK: web.AppKey[asyncio.Task[int]] = web.AppKey("resend_task")


def create_app(
    config: ServiceConfig, sender_factory: SenderFactory, *, clock: Callable[[], float] = time.time
) -> web.Application:
    """The service app. ``sender_factory(environment)`` yields an async context manager of a ``Sender``."""
    for env in config.environments:
        if env not in ENVIRONMENTS:
            raise ValueError(f"unknown environment {env!r}")
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[CONFIG] = config

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        store = Store(config.db_path, clock=clock)
        app[STORE] = store
        try:
            async with AsyncExitStack() as stack:
                senders = {}
                if config.send:
                    senders = {env: await stack.enter_async_context(sender_factory(env))
                               for env in config.environments}
                worker = Worker(store, senders, name=worker_name("api"), concurrency=config.concurrency,
                                lease=config.lease, retry=config.retry, poll=config.poll)
                app[WORKER] = worker
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                # At start: send what a crashed run left (same apns-ids), then keep picking up what others drop.
                resend = loop.create_task(worker.drain() if config.send else _nothing())
                app[RESEND_TASK] = resend
                background = loop.create_task(_after(resend, worker.run(stop) if config.send else _nothing()))
                yield
                stop.set()
                resend.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await background
        finally:
            store.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post("/v1/devices", register_device)
    app.router.add_get("/v1/devices", list_devices)
    app.router.add_delete("/v1/devices/{token}", delete_device)
    app.router.add_post("/v1/apps", create_app_secret)
    app.router.add_post("/v1/notifications", send_notifications)
    return app


async def _nothing() -> int:
    return 0


async def _after(first: asyncio.Task[int], then: Any) -> None:
    """Run ``then`` once ``first`` (the start-up resend) ends, however it ends: a database error there must not
    leave the process answering requests while nothing picks up the rows others drop."""
    try:
        await first
    except asyncio.CancelledError:
        pass
    except Exception:
        log.exception("the start-up resend failed; the worker starts all the same")
    await then


# -- credentials ------------------------------------------------------------------------------------------


def _bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _is_operator(request: web.Request) -> bool:
    key, given = request.app[CONFIG].api_key, _bearer(request)
    return key is not None and given is not None and hmac.compare_digest(given.encode(), key.encode())


def _require_api_key(request: web.Request) -> None:
    if request.app[CONFIG].api_key is not None and not _is_operator(request):
        fail(401, "missing or wrong API key (Authorization: Bearer KEY)")


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _is_app(request: web.Request, bundle: str) -> bool:
    given, stored = _bearer(request), request.app[STORE].app_secret_hash(bundle)
    return given is not None and stored is not None and hmac.compare_digest(_secret_hash(given), stored)


# -- handlers ---------------------------------------------------------------------------------------------


async def register_device(request: web.Request) -> web.Response:
    reg = parse_registration(await json_object(request), request.app[CONFIG].environments[0])
    authorized = _is_operator(request) or _is_app(request, reg.bundle_id)
    try:
        device = request.app[STORE].register(reg.token, reg.bundle_id, reg.environment, reg.user_id,
                                             authorized=authorized)
    except TokenBound as exc:
        fail(403, f"{exc}: moving it needs the app's registration secret or the operator API key"
                  " (Authorization: Bearer ...)", "token")
    log.info("registered token %s… for %s (%s)", reg.token[:8], reg.bundle_id, reg.environment)
    return web.json_response(device.to_json(), status=201)


async def create_app_secret(request: web.Request) -> web.Response:
    """A new registration secret for an app (replacing any earlier one); shown once, stored hashed.

    Only an operator may mint one, so without an API key configured nobody can: otherwise anyone could mint a
    secret for any app and move its tokens (docs/provider-service.md §4)."""
    if request.app[CONFIG].api_key is None:
        fail(403, "app registration secrets need an operator: start the service with --api-key")
    _require_api_key(request)
    bundle = bundle_id(await json_object(request))
    secret = secrets.token_urlsafe(32)
    request.app[STORE].set_app_secret(bundle, _secret_hash(secret))
    return web.json_response({"bundle_id": bundle, "registration_secret": secret}, status=201)


async def list_devices(request: web.Request) -> web.Response:
    _require_api_key(request)
    q = request.query
    devices = request.app[STORE].devices(bundle_id=q.get("bundle_id"), user_id=q.get("user_id"),
                                         environment=q.get("environment"))
    return web.json_response({"devices": [d.to_json() for d in devices]})


async def delete_device(request: web.Request) -> web.Response:
    _require_api_key(request)
    q = request.query
    if not request.app[STORE].delete(token(request.match_info["token"]), bundle_id=q.get("bundle_id"),
                                     environment=q.get("environment")):
        fail(404, "no such device token", "token")
    return web.Response(status=204)


def _targets(request: web.Request, send: SendRequest) -> list[tuple[str, str]]:
    """(token, environment) pairs: explicit tokens (sent even if inactive: the operator asked), else the
    active devices of the app (of one user if given)."""
    store, config = request.app[STORE], request.app[CONFIG]
    if send.tokens is None:
        devices = store.devices(bundle_id=send.bundle_id, user_id=send.user_id, active_only=True)
        return [(d.token, d.environment) for d in devices]
    targets = []
    for t in send.tokens:
        device = store.get(t, bundle_id=send.bundle_id)
        targets.append((t, device.environment if device else config.environments[0]))
    return targets


async def send_notifications(request: web.Request) -> web.Response:
    _require_api_key(request)
    app = request.app
    store, config, worker = app[STORE], app[CONFIG], app[WORKER]
    key = idempotency_key(request)
    body = await json_object(request)
    send = parse_send_request(body)
    results: list[dict[str, Any]] = []
    notes: list[tuple[str, Notification]] = []
    for t, env in _targets(request, send):
        if env in config.environments:
            notes.append((env, send.template.for_token(t).with_apns_id()))
        else:
            results.append(outcome(t, None, error=f"this service does not send to the {env} environment"))
    try:
        first = store.enqueue_many(
            notes,
            idempotency=None if key is None else (key, request_hash(body)),
            claimed_by=worker.name if config.send else None,
            lease_ms=worker.lease_ms,
        )
    except IdempotencyConflict as exc:
        fail(409, str(exc), "Idempotency-Key")
    if first is not None:  # a replay: the first request's notifications, as the outbox knows them now
        rows = store.outbox_entries(first)
        replay = [entry_outcome(rows[i]) for i in first if i in rows]
        return web.json_response({"results": replay, "replayed": True})
    if config.send:
        gate = asyncio.Semaphore(config.concurrency)

        async def one(env: str, n: Notification) -> dict[str, Any]:
            async with gate:
                return await worker.send_claimed(env, n)

        results += await asyncio.gather(*(one(env, n) for env, n in notes))
        return web.json_response({"results": results})
    results += [outcome(n.token, n.apns_id) for _, n in notes]
    return web.json_response({"results": results}, status=202)
