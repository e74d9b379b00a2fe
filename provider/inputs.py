"""Checking what callers send to the provider service: every bad input is a 4xx with a JSON error that names
the field (docs/provider-service.md §5). No store, no I/O: the handlers in ``provider.web`` call these first.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, NoReturn

from aiohttp import web

from provider.apns.notification import PRIORITIES, PUSH_TYPES, Template, alert, infer_push_type, normalize_token
from provider.limits import MAX_EXPIRATION, MAX_ID_CHARS, MAX_JSON_DEPTH, MAX_TOKENS_PER_REQUEST
from provider.stores import ENVIRONMENTS

_BUNDLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-_]*")
_KEY = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: a header value a client can repeat exactly

_ERRORS = {
    400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden, 404: web.HTTPNotFound,
    409: web.HTTPConflict,
}


def fail(status: int, message: str, field: str | None = None) -> NoReturn:
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    raise _ERRORS[status](text=json.dumps(body, ensure_ascii=False), content_type="application/json", headers=headers)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _check_tree(value: Any, path: str, depth: int = 0) -> None:
    """Every string must be UTF-8 (no lone surrogates) and the nesting shallow, before anything else looks."""
    if depth > MAX_JSON_DEPTH:
        fail(400, f"JSON nested deeper than {MAX_JSON_DEPTH} levels", path or None)
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            fail(400, f'"{path}" contains a lone surrogate (\\ud800-\\udfff): not UTF-8 text', path)
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            _check_tree(key, where, depth + 1)
            _check_tree(item, where, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_tree(item, f"{path}[{index}]", depth + 1)


async def json_object(request: web.Request) -> dict[str, Any]:
    try:
        text = await request.text()
        body = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        fail(400, "body must be JSON")
    if not isinstance(body, dict):
        fail(400, "body must be a JSON object")
    _check_tree(body, "")
    return body


def request_hash(body: dict[str, Any]) -> str:
    """The same request, however its keys were ordered: what an Idempotency-Key is bound to."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _KEY.fullmatch(key) or len(key) > MAX_ID_CHARS:
        fail(400, f"Idempotency-Key must be 1-{MAX_ID_CHARS} printable ASCII characters", "Idempotency-Key")
    return key


def optional_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and (not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS):
        fail(400, f'"{key}" must be a non-empty string of at most {MAX_ID_CHARS} characters', key)
    return value


def bundle_id(body: dict[str, Any]) -> str:
    value = body.get("bundle_id")
    if not isinstance(value, str) or not _BUNDLE.fullmatch(value) or len(value) > MAX_ID_CHARS:
        fail(400, '"bundle_id" is required: the app\'s bundle id, e.g. com.example.app', "bundle_id")
    return value


def token(value: Any, field: str = "token") -> str:
    if not isinstance(value, str):
        fail(400, f'"{field}" must be a hex device token string', field)
    try:
        return normalize_token(value)
    except ValueError as exc:
        fail(400, f'"{field}": {exc}', field)


def environment(body: dict[str, Any], default: str) -> str:
    value = body.get("environment", default)
    if not isinstance(value, str) or value not in ENVIRONMENTS:
        fail(400, f'"environment" must be one of {list(ENVIRONMENTS)}', "environment")
    return value


@dataclass(frozen=True, kw_only=True)
class Registration:
    token: str
    bundle_id: str
    environment: str
    user_id: str | None


def parse_registration(body: dict[str, Any], default_environment: str) -> Registration:
    return Registration(
        token=token(body.get("token")),
        bundle_id=bundle_id(body),
        environment=environment(body, default_environment),
        user_id=optional_str(body, "user_id"),
    )


def _payload(body: dict[str, Any]) -> dict[str, Any]:
    has_alert, has_payload = "alert" in body, "payload" in body
    if has_alert == has_payload:
        fail(400, 'give exactly one of "alert" (text) or "payload" (object)', "alert")
    if has_alert:
        if not isinstance(body["alert"], str) or not body["alert"]:
            fail(400, '"alert" must be a non-empty string', "alert")
        try:
            return alert(body["alert"])
        except ValueError as exc:  # e.g. text too long for APNs' 4 KB
            fail(400, f'"alert": {exc}', "alert")
    if not isinstance(body["payload"], dict):
        fail(400, '"payload" must be a JSON object', "payload")
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


def _scalar(body: dict[str, Any], key: str, kind: type, rule: str, allowed: Any = None) -> Any:
    """Type-check a header-like field before it meets a set lookup or an SQL column."""
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kind) or (allowed is not None and value not in allowed):
        fail(400, f"{key} must be {rule}, got {json.dumps(value)[:80]}", key)
    return value


def parse_send_request(body: dict[str, Any]) -> SendRequest:
    """Check a send request without touching the store; a 400 names the first problem and its field.

    The push is checked here once, before the tokens are looked up, so a request that could never be sent is
    refused even when it would reach no device; each device's ``Notification`` is then made from the template.
    """
    app = bundle_id(body)
    payload = _payload(body)
    tokens, user_id = body.get("tokens"), optional_str(body, "user_id")
    if tokens is not None and user_id is not None:
        fail(400, 'give "tokens" or "user_id", not both', "tokens")
    if tokens is not None and (not isinstance(tokens, list) or not tokens):
        fail(400, '"tokens" must be a non-empty list of hex device tokens', "tokens")
    if tokens is not None and len(tokens) > MAX_TOKENS_PER_REQUEST:
        fail(400, f'"tokens" lists at most {MAX_TOKENS_PER_REQUEST} tokens per request', "tokens")
    normalized = None if tokens is None else tuple(token(raw, f"tokens[{i}]") for i, raw in enumerate(tokens))
    push_type = _scalar(body, "push_type", str, f"one of {sorted(PUSH_TYPES)}", PUSH_TYPES)
    priority = _scalar(body, "priority", int, "10, 5 or 1", PRIORITIES)
    expiration = _scalar(body, "expiration", int, f"a UNIX time in seconds, 0 to {MAX_EXPIRATION}")
    if expiration is not None and not 0 <= expiration <= MAX_EXPIRATION:
        fail(400, f"expiration must be a UNIX time in seconds, 0 to {MAX_EXPIRATION}", "expiration")
    collapse_id = _scalar(body, "collapse_id", str, "a non-empty string")
    try:
        push_type = push_type or infer_push_type(payload)
        if priority is None and push_type == "background":
            priority = 5  # Apple: background pushes must use priority 5 (§2.2)
        template = Template(topic=app, payload=payload, push_type=push_type, priority=priority,
                            expiration=expiration, collapse_id=collapse_id)
    except (ValueError, TypeError) as exc:
        message = str(exc)
        field = next((f for f in ("collapse_id", "payload", "alert") if f in message), "payload")
        fail(400, message, "alert" if "alert" in body and field == "payload" else field)
    return SendRequest(bundle_id=app, template=template, tokens=normalized, user_id=user_id)
